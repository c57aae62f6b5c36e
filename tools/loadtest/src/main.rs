//! `loadtest`: seeds, loads and checks a deployment of the social network.
//! See `tools/loadtest/README.md` and the library docs.

use anyhow::{Context, Result, bail, ensure};
use clap::{Args, Parser, Subcommand, ValueEnum};
use loadtest::celebrity::{CelebrityOptions, celebrity_command};
use loadtest::client::Endpoint;
use loadtest::graph::{self, check_username_room};
use loadtest::load::{Timing, Workload};
use loadtest::run::{Mode, Rate, RunOptions, run_command};
use loadtest::seed::{SeedOptions, seed_command};
use loadtest::state::SeedPlan;
use loadtest::verify::{Services, VerifyOptions, health, health_lines, verify_command};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Benchmark and consistency checker for the social network.
#[derive(Debug, Parser)]
#[command(name = "loadtest", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Seed a social graph (socfb-Reed98-sized) through the public API.
    Seed(SeedArgs),
    /// Run workloads closed-loop and/or open-loop and report latencies.
    Run(RunArgs),
    /// A compose storm: `run --workload compose --connections 256 --duration 30s`.
    Storm(StormArgs),
    /// Check that every post is in every follower's feed exactly once.
    Verify(VerifyArgs),
    /// Show the services' health and undelivered events.
    Health(UrlArgs),
    /// Posting as an author with N followers versus one with none.
    Celebrity(CelebrityArgs),
}

/// Where the services are.
#[derive(Debug, Clone, Args)]
struct UrlArgs {
    /// Base URL of the app (every service unless given its own).
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    url: String,
    /// Base URL of the user service [default: --url].
    #[arg(long)]
    user_url: Option<String>,
    /// Base URL of the post service [default: --url].
    #[arg(long)]
    post_url: Option<String>,
    /// Base URL of the feed service [default: --url].
    #[arg(long)]
    feed_url: Option<String>,
    /// Per-request timeout (`5s`, `500ms`, or seconds).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    timeout: Duration,
}

impl UrlArgs {
    fn services(&self) -> Result<Services> {
        let pick = |own: &Option<String>| Endpoint::parse(own.as_deref().unwrap_or(&self.url));
        Ok(Services {
            user: pick(&self.user_url)?,
            post: pick(&self.post_url)?,
            feed: pick(&self.feed_url)?,
        })
    }

    fn settings(&self) -> serde_json::Value {
        json!({
            "url": self.url,
            "user_url": self.user_url.as_deref().unwrap_or(&self.url),
            "post_url": self.post_url.as_deref().unwrap_or(&self.url),
            "feed_url": self.feed_url.as_deref().unwrap_or(&self.url),
            "timeout_s": self.timeout.as_secs_f64(),
        })
    }
}

#[derive(Debug, Args)]
struct SeedArgs {
    #[command(flatten)]
    urls: UrlArgs,
    /// Edge list (`A B` per line, 0-based); a `.nodes` file beside it gives
    /// the number of people. Default: a generated socfb-Reed98-sized graph.
    #[arg(long)]
    edges: Option<PathBuf>,
    /// Seed of the generated graph, post counts and texts.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Each user writes 0..=this many posts (uniform).
    #[arg(long, default_value_t = 20)]
    max_posts: u32,
    /// Usernames are `{prefix}{index}`.
    #[arg(long, default_value = "user")]
    prefix: String,
    /// Requests in flight.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// The state file.
    #[arg(long, default_value = "loadtest-state.json")]
    state: PathBuf,
    /// Seed even if the state file matches (existing accounts are reused).
    #[arg(long)]
    reseed: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    Closed,
    Open,
    Both,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    urls: UrlArgs,
    /// A trivial route, the runtime's floor (e.g. the fixture app's /hello).
    #[arg(long)]
    hello_url: Option<String>,
    /// Comma-separated: hello, feed, timeline, compose, mix, or all.
    #[arg(long, default_value = "all")]
    workload: String,
    /// closed, open or both [default: closed, or both with --rate/--rate-of-hello].
    #[arg(long, value_enum)]
    mode: Option<ModeArg>,
    /// Closed loop: connections, one request in flight each. Open loop:
    /// connections opened ahead.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Open loop: most connections.
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
    /// Measured time of each loop.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Unmeasured time before it.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    warmup: Duration,
    /// Open loop: requests per second.
    #[arg(long, conflicts_with = "rate_of_hello")]
    rate: Option<f64>,
    /// Open loop: this fraction of the closed-loop hello req/s of this run.
    #[arg(long)]
    rate_of_hello: Option<f64>,
    /// Seed of the random choices (users, texts).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The state file `seed` wrote.
    #[arg(long, default_value = "loadtest-state.json")]
    state: PathBuf,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Requests in flight when logging in again.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
}

#[derive(Debug, Args)]
struct StormArgs {
    #[command(flatten)]
    urls: UrlArgs,
    /// Connections, one request in flight each.
    #[arg(long, default_value_t = 256)]
    connections: usize,
    /// Measured time.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    duration: Duration,
    /// Unmeasured time before it.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    warmup: Duration,
    /// Seed of the random choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The state file `seed` wrote.
    #[arg(long, default_value = "loadtest-state.json")]
    state: PathBuf,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    #[command(flatten)]
    urls: UrlArgs,
    /// The state file.
    #[arg(long, default_value = "loadtest-state.json")]
    state: PathBuf,
    /// Keep re-checking feeds with problems this long (events are delivered
    /// asynchronously), e.g. `30s`.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    wait: Duration,
    /// Feeds read at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Check only posts accepted during `run`, not the seeded ones.
    #[arg(long)]
    only_run: bool,
}

#[derive(Debug, Args)]
struct CelebrityArgs {
    #[command(flatten)]
    urls: UrlArgs,
    /// Followers of the star.
    #[arg(long)]
    followers: usize,
    /// Usernames are `{prefix}_star`, `{prefix}_solo`, `{prefix}_f{i}`.
    #[arg(long, default_value = "celeb")]
    prefix: String,
    /// Requests in flight while registering and checking feeds.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Connections while posting (closed loop).
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Measured time per author.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Unmeasured time before it.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    warmup: Duration,
    /// How long to wait for the star's newest post to reach every feed.
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    wait: Duration,
    /// Seed of the post texts.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Parses `10`, `2.5`, `10s`, `500ms`, `2m` or `1h` into a duration.
fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{raw:?} is not a duration (like 10s, 500ms, 2m)"))?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1e3,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => return Err(format!("unknown unit {other:?} in {raw:?} (ms, s, m, h)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{raw:?}: {e}"))
}

/// Refuses a prefix that cannot start a username (`[a-z][a-z0-9_]*`).
fn check_prefix(prefix: &str) -> Result<()> {
    let mut chars = prefix.chars();
    ensure!(
        chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
        "--prefix {prefix:?} must start with a-z and hold only a-z, 0-9 and _"
    );
    Ok(())
}

async fn seed(args: SeedArgs) -> Result<()> {
    check_prefix(&args.prefix)?;
    let services = args.urls.services()?;
    let (graph, source) = graph::from_args(args.edges.as_deref(), args.seed)?;
    check_username_room(&graph, &args.prefix)?;
    let stats = graph.degree_stats();
    eprintln!(
        "graph ({source}): {} people, {} friendships ({} follows); degree min {} median {} mean {:.1} max {}",
        graph.nodes(),
        graph.friendships().len(),
        2 * graph.friendships().len(),
        stats.min,
        stats.median,
        stats.mean,
        stats.max
    );
    let plan = SeedPlan {
        user_url: services.user.url(""),
        graph_source: source,
        graph_fingerprint: graph.fingerprint(),
        nodes: graph.nodes(),
        friendships: graph.friendships().len(),
        seed: args.seed,
        prefix: args.prefix.clone(),
        max_posts: args.max_posts,
    };
    let options = SeedOptions {
        user: services.user,
        post: services.post,
        graph,
        plan,
        concurrency: args.concurrency.max(1),
        timeout: args.urls.timeout,
    };
    seed_command(options, &args.state, args.reseed).await
}

async fn run(args: RunArgs) -> Result<()> {
    let services = args.urls.services()?;
    let hello = args.hello_url.as_deref().map(Endpoint::parse).transpose()?;
    let rate = match (args.rate, args.rate_of_hello) {
        (Some(r), _) => Some(Rate::Fixed(r)),
        (None, Some(f)) => Some(Rate::OfHello(f)),
        (None, None) => None,
    };
    let mode = match (args.mode, rate) {
        (Some(ModeArg::Closed), _) | (None, None) => Mode::Closed,
        (Some(ModeArg::Open), _) => Mode::Open,
        (Some(ModeArg::Both), _) | (None, Some(_)) => Mode::Both,
    };
    if args.max_connections == 0 {
        bail!("--max-connections must be at least 1");
    }
    let workloads = Workload::parse_list(&args.workload)?;
    let mut settings = args.urls.settings();
    settings["hello_url"] = json!(args.hello_url);
    settings["workloads"] = json!(workloads.iter().map(|w| w.name()).collect::<Vec<_>>());
    settings["mode"] = json!(format!("{mode:?}").to_lowercase());
    settings["connections"] = json!(args.connections);
    settings["max_connections"] = json!(args.max_connections);
    settings["duration_s"] = json!(args.duration.as_secs_f64());
    settings["warmup_s"] = json!(args.warmup.as_secs_f64());
    settings["rate"] = json!(args.rate);
    settings["rate_of_hello"] = json!(args.rate_of_hello);
    settings["seed"] = json!(args.seed);
    let options = RunOptions {
        services,
        hello,
        workloads,
        mode,
        connections: args.connections,
        max_connections: args.max_connections,
        rate,
        timing: Timing {
            warmup: args.warmup,
            duration: args.duration,
            timeout: args.urls.timeout,
        },
        seed: args.seed,
        json: args.json,
        settings,
        concurrency: args.concurrency.max(1),
    };
    run_command(options, &args.state).await
}

async fn storm(args: StormArgs) -> Result<()> {
    let mut settings = args.urls.settings();
    settings["workloads"] = json!(["compose"]);
    settings["mode"] = json!("closed");
    settings["connections"] = json!(args.connections);
    settings["duration_s"] = json!(args.duration.as_secs_f64());
    settings["warmup_s"] = json!(args.warmup.as_secs_f64());
    let options = RunOptions {
        services: args.urls.services()?,
        hello: None,
        workloads: vec![Workload::Compose],
        mode: Mode::Closed,
        connections: args.connections,
        max_connections: args.connections,
        rate: None,
        timing: Timing {
            warmup: args.warmup,
            duration: args.duration,
            timeout: args.urls.timeout,
        },
        seed: args.seed,
        json: args.json,
        settings,
        concurrency: 16,
    };
    run_command(options, &args.state).await
}

async fn verify(args: VerifyArgs) -> Result<()> {
    let options = VerifyOptions {
        services: args.urls.services()?,
        concurrency: args.concurrency.max(1),
        timeout: args.urls.timeout,
        wait: args.wait,
        only_run: args.only_run,
    };
    verify_command(options, &args.state).await
}

async fn celebrity(args: CelebrityArgs) -> Result<()> {
    check_prefix(&args.prefix)?;
    let mut settings = args.urls.settings();
    settings["followers"] = json!(args.followers);
    settings["connections"] = json!(args.connections);
    settings["duration_s"] = json!(args.duration.as_secs_f64());
    settings["warmup_s"] = json!(args.warmup.as_secs_f64());
    let options = CelebrityOptions {
        services: args.urls.services()?,
        followers: args.followers,
        prefix: args.prefix,
        concurrency: args.concurrency.max(1),
        connections: args.connections.max(1),
        timing: Timing {
            warmup: args.warmup,
            duration: args.duration,
            timeout: args.urls.timeout,
        },
        wait: args.wait,
        seed: args.seed,
        json: args.json,
        settings,
    };
    celebrity_command(options).await
}

async fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Seed(args) => seed(args).await,
        Command::Run(args) => run(args).await,
        Command::Storm(args) => storm(args).await,
        Command::Verify(args) => verify(args).await,
        Command::Health(args) => {
            let health = health(&args.services()?, args.timeout)
                .await
                .context("reading /health")?;
            println!("{}", health_lines(&health));
            Ok(())
        }
        Command::Celebrity(args) => celebrity(args).await,
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match dispatch(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn durations_parse_with_and_without_units() {
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2.5s"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn rate_and_rate_of_hello_exclude_each_other() {
        let both =
            Cli::try_parse_from(["loadtest", "run", "--rate", "10", "--rate-of-hello", "0.5"]);
        assert!(both.is_err());
        let storm = Cli::try_parse_from(["loadtest", "storm"]).unwrap();
        let Command::Storm(storm) = storm.command else {
            panic!("not storm")
        };
        assert_eq!(
            (storm.connections, storm.duration),
            (256, Duration::from_secs(30))
        );
    }

    #[test]
    fn prefixes_must_start_usernames() {
        assert!(check_prefix("user").is_ok());
        assert!(check_prefix("u_2").is_ok());
        for bad in ["", "2u", "User", "u-1"] {
            assert!(check_prefix(bad).is_err(), "{bad:?}");
        }
    }
}
