//! `loadtest run` (and `loadtest storm`): the workloads against a
//! deployment, closed-loop and/or open-loop, reported as a table and JSON.

use crate::api::{Accounts, now_unix};
use crate::client::{Client, Endpoint};
use crate::load::{LoadContext, Population, Targets, Timing, Workload, closed_loop, open_loop};
use crate::parallel::{Job, run_parallel};
use crate::report::{Report, Row, fill_hello_ratios, markdown};
use crate::state::State;
use crate::verify::Services;
use anyhow::{Result, bail};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Which loops to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Closed loop only.
    Closed,
    /// Open loop only.
    Open,
    /// Closed, then open.
    Both,
}

impl Mode {
    fn closed(self) -> bool {
        self != Mode::Open
    }

    fn open(self) -> bool {
        self != Mode::Closed
    }
}

/// The open loop's rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// Requests per second.
    Fixed(f64),
    /// This fraction of the closed-loop hello rate of the same run.
    OfHello(f64),
}

/// Options of `loadtest run`.
pub struct RunOptions {
    /// The services.
    pub services: Services,
    /// The hello URL.
    pub hello: Option<Endpoint>,
    /// Workloads, in run order.
    pub workloads: Vec<Workload>,
    /// Closed, open or both.
    pub mode: Mode,
    /// Closed-loop connections; open loop: connections opened ahead.
    pub connections: usize,
    /// Open loop: most connections.
    pub max_connections: usize,
    /// Open loop: the rate.
    pub rate: Option<Rate>,
    /// Warm-up, duration and timeout.
    pub timing: Timing,
    /// Seed of the random choices.
    pub seed: u64,
    /// Where to write the JSON report.
    pub json: Option<PathBuf>,
    /// The settings, for the report.
    pub settings: serde_json::Value,
    /// Calls in flight when logging in again.
    pub concurrency: usize,
}

struct RefreshJob {
    accounts: Arc<Accounts>,
    min_validity_s: u64,
}

impl Job for RefreshJob {
    type Output = ();
    async fn run(&self, client: &mut Client, index: usize) -> Result<()> {
        self.accounts
            .ensure_fresh(client, index, self.min_validity_s)
            .await
            .map(|_| ())
    }
}

/// Logs in again every account of `state` whose token expires within
/// `min_validity_s`, and saves the new tokens.
pub async fn refresh_tokens(
    state: &mut State,
    state_path: &Path,
    user: &Endpoint,
    min_validity_s: u64,
    concurrency: usize,
    timeout: Duration,
) -> Result<()> {
    let soon = now_unix() + min_validity_s;
    let stale = state
        .users
        .iter()
        .filter(|u| u.token_expires_at <= soon)
        .count();
    if stale == 0 {
        return Ok(());
    }
    eprintln!("logging {stale} accounts in again (tokens expire soon)");
    let accounts = Arc::new(state.accounts(user));
    let job = Arc::new(RefreshJob {
        accounts: accounts.clone(),
        min_validity_s,
    });
    run_parallel("logins", job, state.users.len(), concurrency, timeout).await?;
    state.keep_tokens(&accounts);
    state.save(state_path)
}

/// Whether the user service accepts the first account's token (it
/// refuses them all after its signing key changed).
async fn tokens_accepted(state: &State, user: &Endpoint, timeout: Duration) -> Result<bool> {
    let Some(first) = state.users.first() else {
        return Ok(true);
    };
    let mut client = Client::new(timeout);
    let response = client
        .send_retrying(user, || {
            user.request(http::Method::GET, "/users/me", Some(&first.token), None)
        })
        .await?;
    Ok(response.status != 401)
}

/// `loadtest run`.
pub async fn run_command(options: RunOptions, state_path: &Path) -> Result<()> {
    let RunOptions {
        services,
        hello,
        mut workloads,
        mode,
        connections,
        max_connections,
        rate,
        timing,
        seed,
        json,
        settings,
        concurrency,
    } = options;
    if mode.open() && rate.is_none() {
        bail!("the open loop needs --rate or --rate-of-hello");
    }
    if hello.is_none() {
        if matches!(rate, Some(Rate::OfHello(_))) && mode.open() {
            bail!("--rate-of-hello needs --hello-url");
        }
        if workloads.contains(&Workload::Hello) {
            eprintln!("no --hello-url: skipping the hello workload");
            workloads.retain(|&w| w != Workload::Hello);
        }
    }
    if workloads.is_empty() {
        bail!("nothing to run");
    }
    let needs_users = workloads.iter().any(|w| w.needs_users());
    let mut state = if needs_users {
        Some(State::load(state_path)?)
    } else {
        None
    };
    let population = match &mut state {
        Some(state) => {
            let loops = workloads.len() as u64 * if mode == Mode::Both { 2 } else { 1 };
            let run_s = loops * (timing.warmup + timing.duration + timing.timeout).as_secs();
            refresh_tokens(
                state,
                state_path,
                &services.user,
                run_s + 600,
                concurrency,
                timing.timeout,
            )
            .await?;
            if !tokens_accepted(state, &services.user, timing.timeout).await? {
                eprintln!("the state's tokens are refused (401): logging every account in again");
                refresh_tokens(
                    state,
                    state_path,
                    &services.user,
                    u64::MAX / 2,
                    concurrency,
                    timing.timeout,
                )
                .await?;
            }
            Population::new(
                state
                    .users
                    .iter()
                    .map(|u| (u.username.clone(), u.token.clone())),
            )?
        }
        None => Population::default(),
    };
    let ctx = Arc::new(LoadContext {
        targets: Targets {
            hello,
            post: services.post.clone(),
            feed: services.feed.clone(),
        },
        population: Arc::new(population),
        timing,
        seed,
    });
    let started_at = now_unix();
    let mut results = Vec::new();
    let mut closed_runs: Vec<Workload> = if mode.closed() {
        workloads.clone()
    } else {
        Vec::new()
    };
    if matches!(rate, Some(Rate::OfHello(_)))
        && mode.open()
        && !closed_runs.contains(&Workload::Hello)
    {
        eprintln!("measuring the closed-loop hello rate first (for --rate-of-hello)");
        closed_runs.insert(0, Workload::Hello);
    }
    let describe = |t: &Timing| {
        format!(
            "{:.1} s warm-up + {:.1} s",
            t.warmup.as_secs_f64(),
            t.duration.as_secs_f64()
        )
    };
    for &workload in &closed_runs {
        eprintln!(
            "closed loop: {} on {connections} connections, {}",
            workload.name(),
            describe(&timing)
        );
        results.push(closed_loop(&ctx, workload, connections).await?);
    }
    if mode.open() {
        let hello_rps = results
            .iter()
            .find(|r| r.workload == Workload::Hello && r.target_rate.is_none())
            .map(|r| r.stats.responses as f64 / r.measured.as_secs_f64());
        let rate = match rate.expect("checked above") {
            Rate::Fixed(rate) => rate,
            Rate::OfHello(fraction) => fraction * hello_rps.unwrap_or(0.0),
        };
        for &workload in &workloads {
            eprintln!(
                "open loop: {} at {rate:.0}/s (connections {connections} up to {max_connections}), {}",
                workload.name(),
                describe(&timing)
            );
            results.push(open_loop(&ctx, workload, rate, connections, max_connections).await?);
        }
    }
    let mut rows: Vec<Row> = results.iter().map(Row::from_result).collect();
    fill_hello_ratios(&mut rows);
    println!("{}", markdown(&rows));
    for row in rows.iter().filter(|r| !r.error_samples.is_empty()) {
        eprintln!(
            "{} {} errors, e.g.: {:?}",
            row.workload, row.mode, row.error_samples
        );
    }
    if let Some(path) = &json {
        Report::new(started_at, settings, rows).write(path)?;
        eprintln!("report written to {}", path.display());
    }
    let accepted: Vec<_> = results.into_iter().flat_map(|r| r.stats.accepted).collect();
    if let Some(state) = &mut state
        && !accepted.is_empty()
    {
        eprintln!(
            "{} accepted posts recorded in {} (for verify)",
            accepted.len(),
            state_path.display()
        );
        state.accepted.extend(accepted);
        state.save(state_path)?;
    }
    Ok(())
}
