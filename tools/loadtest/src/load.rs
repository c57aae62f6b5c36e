//! Load generation: closed-loop and open-loop request loops and their
//! latency histograms.
//!
//! Closed loop: `N` kept-alive connections, each with one request in
//! flight, the next sent as soon as the previous answer is read. It finds
//! the throughput a deployment sustains, but its latencies are those of a
//! client that slows down with the server: while a request is stuck, that
//! connection sends nothing, so a stall is recorded once instead of for
//! every request that would have been waiting ("coordinated omission").
//!
//! Open loop: request `k` has an intended send time `start + k / rate`,
//! fixed before the run, and its latency is measured from that time, not
//! from when it was actually sent. If the server (or the client) falls
//! behind, the requests waiting for their turn accrue that wait, as real
//! users arriving on their own schedule would. A timer thread releases the
//! tickets at their times; workers, each with its own connection, take the
//! next ticket when they are free. When tickets wait for a free worker, more
//! workers (connections) are opened, up to a cap; a ticket that is still
//! unclaimed when its timeout has passed counts as a timeout.

use crate::api::IdOnly;
use crate::client::{Conn, Endpoint, HttpRequest, Response};
use crate::rng::{Rng, post_body};
use crate::state::PostRecord;
use anyhow::{Result, bail, ensure};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http::Method;
use http::header::HeaderValue;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Largest latency the histograms hold (one hour, in µs); longer ones are
/// recorded as this.
const MAX_LATENCY_US: u64 = 3_600_000_000;
/// Error messages kept per workload, as examples.
const ERROR_SAMPLES: usize = 5;

/// A workload: which requests are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Workload {
    /// `GET {hello-url}`: the runtime's floor.
    Hello,
    /// `GET /feed?limit=10` as a random seeded user.
    Feed,
    /// `GET /posts?author={random user}&limit=10`.
    Timeline,
    /// `POST /posts {"body"}` as a random seeded user.
    Compose,
    /// 60% feed, 30% timeline, 10% compose.
    Mix,
}

impl Workload {
    /// Every workload, in the order they run.
    pub const ALL: [Workload; 5] = [
        Workload::Hello,
        Workload::Feed,
        Workload::Timeline,
        Workload::Compose,
        Workload::Mix,
    ];

    /// The workload's name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Hello => "hello",
            Workload::Feed => "feed",
            Workload::Timeline => "timeline",
            Workload::Compose => "compose",
            Workload::Mix => "mix",
        }
    }

    /// Parses a comma-separated list (`hello,feed`, or `all`), in run order.
    pub fn parse_list(list: &str) -> Result<Vec<Workload>> {
        let mut chosen = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if name == "all" {
                chosen.extend(Self::ALL);
                continue;
            }
            match Self::ALL.into_iter().find(|w| w.name() == name) {
                Some(w) => chosen.push(w),
                None => {
                    bail!("unknown workload {name:?} (hello, feed, timeline, compose, mix, all)")
                }
            }
        }
        ensure!(!chosen.is_empty(), "no workload chosen");
        let mut ordered: Vec<Workload> = Self::ALL
            .into_iter()
            .filter(|w| chosen.contains(w))
            .collect();
        ordered.dedup();
        Ok(ordered)
    }

    /// Whether it needs seeded users.
    pub fn needs_users(self) -> bool {
        self != Workload::Hello
    }

    /// The kind of the next request.
    pub fn pick(self, rng: &mut Rng) -> Kind {
        match self {
            Workload::Hello => Kind::Hello,
            Workload::Feed => Kind::Feed,
            Workload::Timeline => Kind::Timeline,
            Workload::Compose => Kind::Compose,
            Workload::Mix => match rng.below(100) {
                0..60 => Kind::Feed,
                60..90 => Kind::Timeline,
                _ => Kind::Compose,
            },
        }
    }
}

/// One kind of request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `GET {hello-url}`.
    Hello,
    /// `GET /feed?limit=10`.
    Feed,
    /// `GET /posts?author=…&limit=10`.
    Timeline,
    /// `POST /posts`.
    Compose,
}

/// Where requests go.
#[derive(Debug, Clone)]
pub struct Targets {
    /// The hello URL, if any.
    pub hello: Option<Endpoint>,
    /// The post service.
    pub post: Endpoint,
    /// The feed service.
    pub feed: Endpoint,
}

/// Who requests are made as: prepared `Authorization` values and usernames,
/// by user index.
#[derive(Debug, Clone, Default)]
pub struct Population {
    /// `Bearer …` per user.
    pub auth: Vec<HeaderValue>,
    /// Username per user.
    pub usernames: Vec<String>,
    /// The user index each entry stands for in recorded posts (the state
    /// file's index); `None` means the position itself.
    pub indexes: Option<Vec<u32>>,
}

impl Population {
    /// A population from `(username, token)` pairs.
    pub fn new(users: impl IntoIterator<Item = (String, String)>) -> Result<Self> {
        let mut population = Self::default();
        for (username, token) in users {
            population
                .auth
                .push(HeaderValue::from_str(&format!("Bearer {token}"))?);
            population.usernames.push(username);
        }
        Ok(population)
    }

    fn index_of(&self, position: usize) -> u32 {
        self.indexes
            .as_ref()
            .map_or(position as u32, |indexes| indexes[position])
    }
}

/// Timing of a load run.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Unmeasured time first.
    pub warmup: Duration,
    /// Measured time.
    pub duration: Duration,
    /// A request not answered this long after it was sent (closed loop) or
    /// due (open loop) is a timeout.
    pub timeout: Duration,
}

/// What every loop needs.
#[derive(Debug, Clone)]
pub struct LoadContext {
    /// Where requests go.
    pub targets: Targets,
    /// Who sends them.
    pub population: Arc<Population>,
    /// How long.
    pub timing: Timing,
    /// Seed of the workers' random choices.
    pub seed: u64,
}

impl LoadContext {
    /// The endpoints `workload` sends to (to open connections ahead).
    fn endpoints(&self, workload: Workload) -> Result<Vec<Endpoint>> {
        let mut endpoints = match workload {
            Workload::Hello => vec![self.hello()?.clone()],
            Workload::Feed => vec![self.targets.feed.clone()],
            Workload::Timeline | Workload::Compose => vec![self.targets.post.clone()],
            Workload::Mix => vec![self.targets.feed.clone(), self.targets.post.clone()],
        };
        if workload.needs_users() {
            ensure!(
                !self.population.auth.is_empty(),
                "workload {} needs seeded users",
                workload.name()
            );
        }
        endpoints.dedup_by(|a, b| a.authority() == b.authority());
        Ok(endpoints)
    }

    fn hello(&self) -> Result<&Endpoint> {
        match &self.targets.hello {
            Some(hello) => Ok(hello),
            None => bail!("the hello workload needs --hello-url"),
        }
    }

    /// Builds one request of `kind`; for a post, also the author's index.
    fn build(&self, kind: Kind, rng: &mut Rng) -> (&Endpoint, HttpRequest, Option<u32>) {
        let users = &self.population;
        match kind {
            Kind::Hello => {
                let hello = self.targets.hello.as_ref().expect("checked before the run");
                (hello, hello.request(Method::GET, "", None, None), None)
            }
            Kind::Feed => {
                let user = rng.index(users.auth.len());
                let feed = &self.targets.feed;
                let request = feed.request_with_auth(
                    Method::GET,
                    "/feed?limit=10",
                    Some(&users.auth[user]),
                    None,
                );
                (feed, request, None)
            }
            Kind::Timeline => {
                let user = rng.index(users.usernames.len());
                let post = &self.targets.post;
                let path = format!("/posts?author={}&limit=10", users.usernames[user]);
                (post, post.request(Method::GET, &path, None, None), None)
            }
            Kind::Compose => {
                let user = rng.index(users.auth.len());
                let post = &self.targets.post;
                let body = serde_json::json!({"body": post_body(rng, 280)}).to_string();
                let request = post.request_with_auth(
                    Method::POST,
                    "/posts",
                    Some(&users.auth[user]),
                    Some(Bytes::from(body)),
                );
                (post, request, Some(users.index_of(user)))
            }
        }
    }
}

/// A new latency histogram: 1 µs to one hour, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

/// A duration in whole microseconds, at least 1 (the histogram's floor).
pub fn micros(d: Duration) -> u64 {
    (d.as_micros().min(u128::from(MAX_LATENCY_US)) as u64).max(1)
}

/// What happened to the measured requests of one loop.
#[derive(Clone)]
pub struct Stats {
    /// Latency of every response (any status), µs; in the open loop from
    /// the intended send time.
    pub latency: Histogram<u64>,
    /// Open loop only: from the actual send to the response, µs.
    pub service: Histogram<u64>,
    /// Responses, any status.
    pub responses: u64,
    /// Responses by non-2xx status.
    pub non_2xx: BTreeMap<u16, u64>,
    /// Connection or protocol errors.
    pub errors: u64,
    /// Requests not answered in time, or (open loop) not sent in time.
    pub timeouts: u64,
    /// Of the timeouts: tickets no worker could take before their timeout.
    pub unsent: u64,
    /// Example error messages, and the first body of each non-2xx status.
    pub error_samples: Vec<String>,
    /// Every post accepted (201), measured or not: `verify` checks them all.
    pub accepted: Vec<PostRecord>,
}

impl std::fmt::Debug for Stats {
    /// The counts, and the histograms summarised (their buckets are long).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let summary = |h: &Histogram<u64>| {
            format!(
                "{} samples, p50 {} µs, max {} µs",
                h.len(),
                h.value_at_quantile(0.5),
                h.max()
            )
        };
        f.debug_struct("Stats")
            .field("latency", &summary(&self.latency))
            .field("service", &summary(&self.service))
            .field("responses", &self.responses)
            .field("non_2xx", &self.non_2xx)
            .field("errors", &self.errors)
            .field("timeouts", &self.timeouts)
            .field("unsent", &self.unsent)
            .field("error_samples", &self.error_samples)
            .field("accepted", &self.accepted.len())
            .finish()
    }
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            latency: new_histogram(),
            service: new_histogram(),
            responses: 0,
            non_2xx: BTreeMap::new(),
            errors: 0,
            timeouts: 0,
            unsent: 0,
            error_samples: Vec::new(),
            accepted: Vec::new(),
        }
    }
}

impl Stats {
    /// Adds `other`'s counts into these.
    pub fn merge(&mut self, other: Stats) {
        self.latency
            .add(&other.latency)
            .expect("histograms of the same bounds");
        self.service
            .add(&other.service)
            .expect("histograms of the same bounds");
        self.responses += other.responses;
        for (status, n) in other.non_2xx {
            *self.non_2xx.entry(status).or_default() += n;
        }
        self.errors += other.errors;
        self.timeouts += other.timeouts;
        self.unsent += other.unsent;
        for sample in other.error_samples {
            self.note_error(sample);
        }
        self.accepted.extend(other.accepted);
    }

    fn note_error(&mut self, message: String) {
        if self.error_samples.len() < ERROR_SAMPLES && !self.error_samples.contains(&message) {
            self.error_samples.push(message);
        }
    }

    /// Records one request's outcome. `latency` and `service` are the
    /// times to the response from the intended and the actual send.
    fn record(
        &mut self,
        measured: bool,
        outcome: &Outcome,
        latency: Duration,
        service: Duration,
        author: Option<u32>,
    ) {
        if let (Outcome::Response(response), Some(author)) = (outcome, author)
            && response.status == 201
        {
            match response.json::<IdOnly>() {
                Ok(post) => self.accepted.push(PostRecord {
                    id: post.id,
                    author,
                }),
                Err(e) => self.note_error(format!("a 201 without a post id: {e:#}")),
            }
        }
        if !measured {
            return;
        }
        match outcome {
            Outcome::Response(response) => {
                self.responses += 1;
                self.latency.saturating_record(micros(latency));
                self.service.saturating_record(micros(service));
                if !response.is_success() {
                    let count = self.non_2xx.entry(response.status).or_default();
                    *count += 1;
                    if *count == 1 {
                        let body = &response.body[..response.body.len().min(200)];
                        self.note_error(format!(
                            "status {}: {}",
                            response.status,
                            String::from_utf8_lossy(body)
                        ));
                    }
                }
            }
            Outcome::Error(message) => {
                self.errors += 1;
                self.note_error(message.clone());
            }
            Outcome::Timeout => self.timeouts += 1,
        }
    }
}

/// One request's outcome.
#[derive(Debug)]
enum Outcome {
    Response(Response),
    Error(String),
    Timeout,
}

/// A worker's connections: one per authority, dropped after an error or a
/// timeout and reopened by the next request.
#[derive(Default)]
struct Conns {
    slots: Vec<(String, Option<Conn>)>,
}

impl Conns {
    fn slot(&mut self, authority: &str) -> &mut Option<Conn> {
        let at = match self.slots.iter().position(|(a, _)| a == authority) {
            Some(at) => at,
            None => {
                self.slots.push((authority.to_string(), None));
                self.slots.len() - 1
            }
        };
        &mut self.slots[at].1
    }

    /// Opens a connection to each endpoint that has none.
    async fn warm(&mut self, endpoints: &[Endpoint]) -> Result<()> {
        for endpoint in endpoints {
            let slot = self.slot(endpoint.authority());
            if slot.is_none() {
                *slot = Some(Conn::open(endpoint.authority()).await?);
            }
        }
        Ok(())
    }

    async fn send(
        &mut self,
        endpoint: &Endpoint,
        request: HttpRequest,
        deadline: Instant,
    ) -> Outcome {
        let slot = self.slot(endpoint.authority());
        let result = tokio::time::timeout_at(deadline, async {
            let mut conn = match slot.take() {
                Some(conn) if !conn.is_closed() => conn,
                _ => Conn::open(endpoint.authority()).await?,
            };
            let response = conn.send(request).await?;
            *slot = Some(conn);
            anyhow::Ok(response)
        })
        .await;
        match result {
            Ok(Ok(response)) => Outcome::Response(response),
            Ok(Err(e)) => Outcome::Error(format!("{e:#}")),
            Err(_) => Outcome::Timeout,
        }
    }
}

/// The result of one loop.
#[derive(Debug, Clone)]
pub struct LoopResult {
    /// The workload.
    pub workload: Workload,
    /// Open loop: the target rate (requests/s); closed loop: `None`.
    pub target_rate: Option<f64>,
    /// Connections: the closed loop's count, or the most the open loop used.
    pub connections: usize,
    /// Measured time.
    pub measured: Duration,
    /// What happened.
    pub stats: Stats,
}

async fn open_connections(count: usize, endpoints: &[Endpoint]) -> Result<Vec<Conns>> {
    let mut opening = tokio::task::JoinSet::new();
    for _ in 0..count {
        let endpoints = endpoints.to_vec();
        opening.spawn(async move {
            let mut conns = Conns::default();
            conns.warm(&endpoints).await.map(|()| conns)
        });
    }
    let mut opened = Vec::with_capacity(count);
    while let Some(joined) = opening.join_next().await {
        opened.push(joined??);
    }
    Ok(opened)
}

/// Runs `workload` closed-loop on `connections` connections: warm-up, then
/// the measured time; a request counts if it was sent in the measured time.
pub async fn closed_loop(
    ctx: &Arc<LoadContext>,
    workload: Workload,
    connections: usize,
) -> Result<LoopResult> {
    ensure!(connections > 0, "--connections must be at least 1");
    let endpoints = ctx.endpoints(workload)?;
    let opened = open_connections(connections, &endpoints).await?;
    let start = Instant::now();
    let measure_from = start + ctx.timing.warmup;
    let end = measure_from + ctx.timing.duration;
    let mut workers = Vec::with_capacity(connections);
    for (i, mut conns) in opened.into_iter().enumerate() {
        let ctx = ctx.clone();
        workers.push(tokio::spawn(async move {
            let mut rng = Rng::derive(ctx.seed, i as u64);
            let mut stats = Stats::default();
            loop {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let kind = workload.pick(&mut rng);
                let (endpoint, request, author) = ctx.build(kind, &mut rng);
                let outcome = conns
                    .send(endpoint, request, sent + ctx.timing.timeout)
                    .await;
                let took = sent.elapsed();
                stats.record(sent >= measure_from, &outcome, took, took, author);
            }
            stats
        }));
    }
    let mut stats = Stats::default();
    for worker in workers {
        stats.merge(worker.await?);
    }
    Ok(LoopResult {
        workload,
        target_rate: None,
        connections,
        measured: ctx.timing.duration,
        stats,
    })
}

/// When ticket `k` of a schedule of `rate` requests/s is due, after the
/// schedule's start: `k / rate`, to the nearest nanosecond.
pub fn intended_offset(k: u64, rate: f64) -> Duration {
    Duration::from_nanos(offset_nanos(k, rate))
}

fn offset_nanos(k: u64, rate: f64) -> u64 {
    (k as f64 * 1e9 / rate).round() as u64
}

/// How many tickets are due `elapsed` after the start: those whose
/// [`intended_offset`] is at most `elapsed`.
pub fn tickets_due(elapsed: Duration, rate: f64) -> u64 {
    let elapsed = elapsed.as_nanos().min(u128::from(u64::MAX)) as u64;
    // The estimate can be off by one either way from rounding; step it to
    // the exact last ticket due.
    let mut last = (elapsed as f64 * rate / 1e9).floor() as u64;
    while offset_nanos(last + 1, rate) <= elapsed {
        last += 1;
    }
    while last > 0 && offset_nanos(last, rate) > elapsed {
        last -= 1;
    }
    last + 1
}

/// How many tickets a schedule `span` long has: offsets in `[0, span)`.
pub fn total_tickets(span: Duration, rate: f64) -> u64 {
    (span.as_secs_f64() * rate - 1e-9).ceil().max(0.0) as u64
}

/// Latency counted from the intended send time: includes the time the
/// request waited because the client or the server had fallen behind.
pub fn latency_from_intended(intended: Instant, done: Instant) -> Duration {
    done.saturating_duration_since(intended)
}

/// State shared by the open loop's timer thread and workers.
struct OpenShared {
    ctx: Arc<LoadContext>,
    workload: Workload,
    rate: f64,
    start: Instant,
    total: u64,
    tickets: Semaphore,
    next: AtomicU64,
    /// Workers started (the initial ones and those added).
    workers: AtomicUsize,
    /// Added workers still connecting.
    connecting: AtomicUsize,
    handles: Mutex<Vec<JoinHandle<Stats>>>,
}

async fn open_worker(shared: Arc<OpenShared>, conns: Option<Conns>, stream: u64) -> Stats {
    let ctx = &shared.ctx;
    let mut stats = Stats::default();
    let conns = match conns {
        Some(conns) => conns,
        None => {
            let mut conns = Conns::default();
            if let Ok(endpoints) = ctx.endpoints(shared.workload)
                && let Err(e) = conns.warm(&endpoints).await
            {
                // Each request will try again; this is only a note.
                stats.note_error(format!("{e:#}"));
            }
            shared.connecting.fetch_sub(1, Ordering::SeqCst);
            conns
        }
    };
    let mut conns = conns;
    let mut rng = Rng::derive(ctx.seed, stream);
    loop {
        match shared.tickets.acquire().await {
            Ok(permit) => permit.forget(),
            Err(_) => break,
        }
        let k = shared.next.fetch_add(1, Ordering::SeqCst);
        if k >= shared.total {
            break;
        }
        let offset = intended_offset(k, shared.rate);
        let intended = shared.start + offset;
        let measured = offset >= ctx.timing.warmup;
        let deadline = intended + ctx.timing.timeout;
        let sent = Instant::now();
        if sent >= deadline {
            if measured {
                stats.timeouts += 1;
                stats.unsent += 1;
            }
            continue;
        }
        let kind = shared.workload.pick(&mut rng);
        let (endpoint, request, author) = ctx.build(kind, &mut rng);
        let outcome = conns.send(endpoint, request, deadline).await;
        let done = Instant::now();
        stats.record(
            measured,
            &outcome,
            latency_from_intended(intended, done),
            done - sent,
            author,
        );
    }
    stats
}

/// The open loop's timer: releases each ticket at its time (batching those
/// already due) and adds workers while tickets wait for one. Runs on a
/// blocking thread: `std::thread::sleep` is finer than tokio's 1 ms timer.
fn release_tickets(
    shared: &Arc<OpenShared>,
    runtime: &tokio::runtime::Handle,
    max_connections: usize,
) {
    let mut released = 0u64;
    while released < shared.total {
        let now = Instant::now();
        let due = if now < shared.start {
            0
        } else {
            tickets_due(now - shared.start, shared.rate).min(shared.total)
        };
        if due > released {
            shared.tickets.add_permits((due - released) as usize);
            released = due;
            let waiting = shared.tickets.available_permits();
            let connecting = shared.connecting.load(Ordering::SeqCst);
            let workers = shared.workers.load(Ordering::SeqCst);
            if waiting > connecting && workers < max_connections {
                for _ in 0..(waiting - connecting).min(max_connections - workers) {
                    shared.connecting.fetch_add(1, Ordering::SeqCst);
                    let stream = shared.workers.fetch_add(1, Ordering::SeqCst) as u64;
                    let handle = runtime.spawn(open_worker(shared.clone(), None, stream));
                    shared.handles.lock().expect("handles lock").push(handle);
                }
            }
            continue;
        }
        let next = shared.start + intended_offset(released, shared.rate);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    // One more permit per worker: each takes a ticket number past the end
    // and stops.
    shared
        .tickets
        .add_permits(shared.workers.load(Ordering::SeqCst));
}

/// Runs `workload` open-loop at `rate` requests/s: `connections` opened
/// ahead, more (up to `max_connections`) when tickets wait for a free one.
pub async fn open_loop(
    ctx: &Arc<LoadContext>,
    workload: Workload,
    rate: f64,
    connections: usize,
    max_connections: usize,
) -> Result<LoopResult> {
    ensure!(
        rate.is_finite() && rate > 0.0,
        "the rate must be above 0, not {rate}"
    );
    let initial = connections.clamp(1, max_connections.max(1));
    let endpoints = ctx.endpoints(workload)?;
    let opened = open_connections(initial, &endpoints).await?;
    let span = ctx.timing.warmup + ctx.timing.duration;
    let shared = Arc::new(OpenShared {
        ctx: ctx.clone(),
        workload,
        rate,
        // A moment for the workers to start waiting for tickets.
        start: Instant::now() + Duration::from_millis(20),
        total: total_tickets(span, rate),
        tickets: Semaphore::new(0),
        next: AtomicU64::new(0),
        workers: AtomicUsize::new(initial),
        connecting: AtomicUsize::new(0),
        handles: Mutex::new(Vec::new()),
    });
    {
        let mut handles = shared.handles.lock().expect("handles lock");
        for (i, conns) in opened.into_iter().enumerate() {
            handles.push(tokio::spawn(open_worker(
                shared.clone(),
                Some(conns),
                i as u64,
            )));
        }
    }
    let timer = {
        let (shared, runtime) = (shared.clone(), tokio::runtime::Handle::current());
        tokio::task::spawn_blocking(move || release_tickets(&shared, &runtime, max_connections))
    };
    timer.await?;
    let handles = std::mem::take(&mut *shared.handles.lock().expect("handles lock"));
    let mut stats = Stats::default();
    for handle in handles {
        stats.merge(handle.await?);
    }
    Ok(LoopResult {
        workload,
        target_rate: Some(rate),
        connections: shared.workers.load(Ordering::SeqCst),
        measured: ctx.timing.duration,
        stats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_are_evenly_spaced_at_one_over_the_rate() {
        assert_eq!(intended_offset(0, 1000.0), Duration::ZERO);
        assert_eq!(intended_offset(1, 1000.0), Duration::from_millis(1));
        assert_eq!(intended_offset(2500, 1000.0), Duration::from_millis(2500));
        assert_eq!(intended_offset(3, 4.0), Duration::from_millis(750));
    }

    #[test]
    fn the_tickets_due_after_a_time_are_those_at_or_before_it() {
        assert_eq!(tickets_due(Duration::ZERO, 1000.0), 1);
        assert_eq!(tickets_due(Duration::from_micros(999), 1000.0), 1);
        assert_eq!(tickets_due(Duration::from_millis(5), 1000.0), 6);
        assert_eq!(tickets_due(Duration::from_secs(2), 0.5), 2);
        for k in [1u64, 7, 999, 123_456] {
            let rate = 3_333.0;
            assert_eq!(tickets_due(intended_offset(k, rate), rate), k + 1, "{k}");
        }
    }

    #[test]
    fn a_schedule_has_rate_times_span_tickets() {
        assert_eq!(total_tickets(Duration::from_secs(12), 1000.0), 12_000);
        assert_eq!(total_tickets(Duration::from_millis(1500), 3.0), 5);
        assert_eq!(total_tickets(Duration::ZERO, 100.0), 0);
        let last = total_tickets(Duration::from_secs(10), 700.0) - 1;
        assert!(intended_offset(last, 700.0) < Duration::from_secs(10));
    }

    #[test]
    fn latency_counts_the_wait_of_a_request_sent_late() {
        let intended = Instant::now();
        let sent_late = intended + Duration::from_millis(40);
        let done = sent_late + Duration::from_millis(2);
        assert_eq!(
            latency_from_intended(intended, done),
            Duration::from_millis(42)
        );
        assert_eq!(latency_from_intended(done, intended), Duration::ZERO);
    }

    #[test]
    fn the_mix_is_60_percent_feed_30_timeline_10_compose() {
        let mut rng = Rng::new(1);
        let mut counts = [0u32; 3];
        for _ in 0..100_000 {
            match Workload::Mix.pick(&mut rng) {
                Kind::Feed => counts[0] += 1,
                Kind::Timeline => counts[1] += 1,
                Kind::Compose => counts[2] += 1,
                Kind::Hello => panic!("no hello in the mix"),
            }
        }
        let share = |n: u32| f64::from(n) / 1000.0;
        assert!((share(counts[0]) - 60.0).abs() < 1.0, "{counts:?}");
        assert!((share(counts[1]) - 30.0).abs() < 1.0, "{counts:?}");
        assert!((share(counts[2]) - 10.0).abs() < 1.0, "{counts:?}");
    }

    #[test]
    fn workload_lists_parse_in_run_order_and_all_means_every_one() {
        assert_eq!(
            Workload::parse_list("mix,hello").unwrap(),
            vec![Workload::Hello, Workload::Mix]
        );
        assert_eq!(Workload::parse_list("all").unwrap(), Workload::ALL.to_vec());
        assert!(Workload::parse_list("fed").is_err());
        assert!(Workload::parse_list("").is_err());
    }

    #[test]
    fn merged_stats_add_counts_and_histograms() {
        let mut a = Stats::default();
        let mut b = Stats::default();
        a.latency.record(100).unwrap();
        b.latency.record(300).unwrap();
        b.non_2xx.insert(503, 2);
        b.timeouts = 1;
        a.merge(b);
        assert_eq!(a.latency.len(), 2);
        assert_eq!(a.latency.max(), 300);
        assert_eq!(a.non_2xx[&503], 2);
        assert_eq!(a.timeouts, 1);
    }

    #[test]
    fn durations_become_whole_microseconds_of_at_least_one() {
        assert_eq!(micros(Duration::from_nanos(10)), 1);
        assert_eq!(micros(Duration::from_micros(1500)), 1500);
        assert_eq!(micros(Duration::from_secs(1_000_000)), MAX_LATENCY_US);
    }

    /// A local server answering every request with `hello` after `delay`.
    async fn hello_server(delay: Duration) -> Endpoint {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |_request| async move {
                        tokio::time::sleep(delay).await;
                        let body = http_body_util::Full::new(Bytes::from_static(b"hello"));
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(body))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Endpoint::parse(&format!("http://{addr}/hello")).unwrap()
    }

    fn hello_context(
        hello: Endpoint,
        warmup_ms: u64,
        duration_ms: u64,
        timeout_ms: u64,
    ) -> Arc<LoadContext> {
        Arc::new(LoadContext {
            targets: Targets {
                post: hello.clone(),
                feed: hello.clone(),
                hello: Some(hello),
            },
            population: Arc::new(Population::default()),
            timing: Timing {
                warmup: Duration::from_millis(warmup_ms),
                duration: Duration::from_millis(duration_ms),
                timeout: Duration::from_millis(timeout_ms),
            },
            seed: 1,
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_closed_loop_keeps_every_connection_busy_and_counts_responses() {
        let ctx = hello_context(hello_server(Duration::ZERO).await, 100, 300, 1000);
        let result = closed_loop(&ctx, Workload::Hello, 4).await.unwrap();
        let stats = &result.stats;
        assert!(stats.responses > 50, "{stats:?}");
        assert_eq!(
            (stats.errors, stats.timeouts),
            (0, 0),
            "{:?}",
            stats.error_samples
        );
        assert_eq!(stats.latency.len(), stats.responses);
        assert_eq!(result.connections, 4);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_open_loop_sends_rate_times_duration_requests() {
        let ctx = hello_context(hello_server(Duration::ZERO).await, 100, 500, 1000);
        let result = open_loop(&ctx, Workload::Hello, 200.0, 2, 16)
            .await
            .unwrap();
        // 600 ms at 200/s is 120 tickets, of which the last 100 are measured.
        assert_eq!(result.stats.responses, 100, "{:?}", result.stats);
        assert_eq!(result.stats.timeouts, 0);
        assert_eq!(result.target_rate, Some(200.0));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_open_loop_opens_connections_while_requests_wait_and_counts_the_wait() {
        // 50 ms per request at 200/s needs about 10 connections; 1 is open.
        let ctx = hello_context(hello_server(Duration::from_millis(50)).await, 0, 500, 2000);
        let result = open_loop(&ctx, Workload::Hello, 200.0, 1, 64)
            .await
            .unwrap();
        let stats = &result.stats;
        assert_eq!(stats.responses, 100, "{stats:?}");
        assert!(
            result.connections >= 8,
            "{} connections",
            result.connections
        );
        assert!(stats.latency.value_at_quantile(0.5) >= 50_000);
        assert!(stats.latency.max() >= stats.service.max());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_open_loop_at_its_connection_cap_counts_the_queue_and_times_out_the_rest() {
        // One connection, 100 ms per request, 100 requests/s, 1 s timeout:
        // requests queue behind each other until they pass their timeout.
        let ctx = hello_context(hello_server(Duration::from_millis(100)).await, 0, 500, 1000);
        let result = open_loop(&ctx, Workload::Hello, 100.0, 1, 1).await.unwrap();
        let stats = &result.stats;
        assert_eq!(result.connections, 1);
        assert!(stats.responses >= 5 && stats.timeouts >= 20, "{stats:?}");
        assert_eq!(
            stats.responses + stats.timeouts + stats.errors,
            50,
            "{stats:?}"
        );
        // The answered ones waited in the queue: that wait is latency, while
        // the service time stays that of one request.
        assert!(stats.latency.max() > 600_000, "{stats:?}");
        assert!(stats.service.max() < 400_000, "{stats:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_unanswered_in_time_is_a_timeout_not_a_latency_sample() {
        let ctx = hello_context(hello_server(Duration::from_millis(400)).await, 0, 200, 100);
        let result = closed_loop(&ctx, Workload::Hello, 2).await.unwrap();
        let stats = &result.stats;
        assert_eq!(stats.responses, 0);
        assert!(stats.timeouts >= 2, "{stats:?}");
        assert!(stats.latency.is_empty());
    }
}
