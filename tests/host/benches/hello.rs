//! Load and start-up benchmark for the embedded host (not a test).
//!
//! `cargo bench -p host --bench hello` (release profile):
//!
//! 1. Starts the fixture app in-process with [`host::up`], sets the key-value
//!    key `greeting`, then drives `/hello` and `/kv-hello` in turn with 32
//!    kept-alive connections sending requests back to back: a short warm-up,
//!    then `BENCH_SECONDS` (default 10) of measured load per route. It prints
//!    requests/s, p50 and p99 latency and the error count (anything but a
//!    200 with the expected body) per route.
//! 2. Spawns the `host` binary (`host up ...`) once with an empty module
//!    cache to warm it, then several times more, timing spawn to the first
//!    200 on `/hello`, and prints the cold time and the warm min/median.
//!
//! Everything runs on loopback, for a bounded time; child processes are
//! killed when their guard drops, also on panic.

use anyhow::{Context, Result, bail, ensure};
use host::client::{self, Connection, Request};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// Kept-alive connections, each with one request in flight.
const CONCURRENCY: usize = 32;
/// Measured load per route unless `BENCH_SECONDS` says otherwise.
const DEFAULT_SECONDS: f64 = 10.0;
/// Upper bound on `BENCH_SECONDS`, so a typo cannot run for hours.
const MAX_SECONDS: f64 = 300.0;
/// Unmeasured load before each route's measurement.
const WARM_UP: Duration = Duration::from_secs(2);
/// Timed `host up` start-ups after the cache-warming one.
const STARTUP_RUNS: usize = 5;
/// How long one start-up may take before the benchmark gives up.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);
/// The pause between readiness polls.
const POLL_INTERVAL: Duration = Duration::from_millis(2);

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixture")
}

fn runtime_config() -> PathBuf {
    fixture_dir().join("runtime-config.toml")
}

fn bench_duration() -> Result<Duration> {
    let seconds = match std::env::var("BENCH_SECONDS") {
        Ok(s) => s
            .trim()
            .parse::<f64>()
            .with_context(|| format!("BENCH_SECONDS={s:?} is not a number of seconds"))?,
        Err(_) => DEFAULT_SECONDS,
    };
    ensure!(
        seconds > 0.0 && seconds <= MAX_SECONDS,
        "BENCH_SECONDS must be in (0, {MAX_SECONDS}]"
    );
    Ok(Duration::from_secs_f64(seconds))
}

/// What one route's load produced.
struct LoadResult {
    elapsed: Duration,
    latencies: Vec<Duration>,
    errors: u64,
    first_error: Option<String>,
}

impl LoadResult {
    fn requests(&self) -> u64 {
        self.latencies.len() as u64 + self.errors
    }

    /// Nearest-rank percentile of the successful requests' latencies.
    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }
}

/// One connection's share of the load.
#[derive(Default)]
struct WorkerResult {
    latencies: Vec<Duration>,
    errors: u64,
    first_error: Option<String>,
}

impl WorkerResult {
    fn error(&mut self, what: String) {
        self.errors += 1;
        self.first_error.get_or_insert(what);
    }
}

/// Sends `GET url` back to back on one kept-alive connection until `deadline`.
async fn worker(url: String, expected: &'static str, deadline: Instant) -> WorkerResult {
    let uri: http::Uri = url.parse().expect("valid URL");
    let mut result = WorkerResult::default();
    let mut conn: Option<Connection> = None;
    while Instant::now() < deadline {
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match Connection::open(&uri).await {
                Ok(c) => conn.insert(c),
                Err(e) => {
                    result.error(format!("connect: {e:#}"));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let start = Instant::now();
        match c.send(Request::new(http::Method::GET, url.as_str())).await {
            Ok(r) if r.status == 200 && r.body == expected.as_bytes() => {
                result.latencies.push(start.elapsed())
            }
            Ok(r) => result.error(format!("status {}: {:?}", r.status, r.text())),
            Err(e) => {
                result.error(format!("request: {e:#}"));
                conn = None;
            }
        }
    }
    result
}

/// Runs `CONCURRENCY` workers against `url` for `duration`.
async fn load(url: &str, expected: &'static str, duration: Duration) -> LoadResult {
    let start = Instant::now();
    let deadline = start + duration;
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| tokio::spawn(worker(url.to_string(), expected, deadline)))
        .collect();
    let mut total = LoadResult {
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
        errors: 0,
        first_error: None,
    };
    for w in workers {
        let r = w.await.expect("load worker panicked");
        total.latencies.extend(r.latencies);
        total.errors += r.errors;
        if total.first_error.is_none() {
            total.first_error = r.first_error;
        }
    }
    total.elapsed = start.elapsed();
    total.latencies.sort_unstable();
    total
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

async fn throughput(duration: Duration) -> Result<()> {
    let state = TempDir::new()?;
    let app = host::up(
        host::UpOptions::new(fixture_dir())
            .runtime_config_file(runtime_config())
            .variable("required_thing", "x")
            .state_dir(state.path()),
    )
    .await?;
    let base = app.base_url();
    let set = client::post(
        format!("{base}/kv?op=set&label=default&key=greeting"),
        "world",
    )
    .await?;
    ensure!(
        set.status == 200 && set.text() == "Ok(())",
        "setting greeting failed: {} {}",
        set.status,
        set.text()
    );

    println!(
        "load: {CONCURRENCY} kept-alive connections, {:.1} s warm-up + {:.1} s per route, in-process host at {base}",
        WARM_UP.as_secs_f64(),
        duration.as_secs_f64()
    );
    let mut rows = Vec::new();
    for (route, expected) in [("/hello", "hello"), ("/kv-hello", "hello world")] {
        let url = format!("{base}{route}");
        load(&url, expected, WARM_UP).await;
        rows.push((route, load(&url, expected, duration).await));
    }
    app.stop().await;

    println!(
        "{:<10} {:>9} {:>10} {:>10} {:>10} {:>7}",
        "route", "requests", "req/s", "p50", "p99", "errors"
    );
    for (route, r) in &rows {
        println!(
            "{:<10} {:>9} {:>10.0} {:>10} {:>10} {:>7}",
            route,
            r.requests(),
            r.requests() as f64 / r.elapsed.as_secs_f64(),
            ms(r.percentile(50.0)),
            ms(r.percentile(99.0)),
            r.errors
        );
    }
    for (route, r) in &rows {
        if let Some(e) = &r.first_error {
            println!("first error on {route}: {e}");
        }
    }
    Ok(())
}

/// A spawned `host up`, killed and reaped when dropped (also on panic).
struct HostProcess {
    child: Child,
    log: PathBuf,
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// Spawns `host up` for the fixture with `cache` as its XDG cache home and
/// returns the time from spawn to the first 200 on `/hello`.
async fn time_startup(cache: &Path) -> Result<Duration> {
    let state = TempDir::new()?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?));
    let log = state.path().join("host.log");
    let log_file = std::fs::File::create(&log)?;
    let start = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_host"))
        .arg("up")
        .arg("--from")
        .arg(fixture_dir())
        .arg("--listen")
        .arg(addr.to_string())
        .arg("--runtime-config-file")
        .arg(runtime_config())
        .args(["--variable", "required_thing=x"])
        .arg("--state-dir")
        .arg(state.path().join("state"))
        .env("XDG_CACHE_HOME", cache)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .context("cannot spawn the host binary")?;
    let mut process = HostProcess { child, log };
    let url = format!("http://{addr}/hello");
    loop {
        let poll = tokio::time::timeout(Duration::from_secs(1), client::get(url.as_str())).await;
        if let Ok(Ok(r)) = poll
            && r.status == 200
        {
            return Ok(start.elapsed());
        }
        if let Some(status) = process.child.try_wait()? {
            let log = std::fs::read_to_string(&process.log).unwrap_or_default();
            bail!("host exited with {status} before serving:\n{log}");
        }
        if start.elapsed() > STARTUP_TIMEOUT {
            bail!("host did not serve /hello within {STARTUP_TIMEOUT:?}");
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

async fn startup() -> Result<()> {
    let cache = TempDir::new()?;
    let cold = time_startup(cache.path()).await?;
    let mut warm = Vec::with_capacity(STARTUP_RUNS);
    for _ in 0..STARTUP_RUNS {
        warm.push(time_startup(cache.path()).await?);
    }
    warm.sort_unstable();
    println!(
        "start-up to first 200 on /hello (`host up`, release): cold cache {}, warm cache min {} median {} ({STARTUP_RUNS} runs)",
        ms(cold),
        ms(warm[0]),
        ms(warm[warm.len() / 2])
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let wasm = Path::new(wasm_build::WASM_DIR).join("fixture.wasm");
    ensure!(wasm.is_file(), "fixture not built: {}", wasm.display());
    let duration = bench_duration()?;
    throughput(duration).await?;
    startup().await
}
