//! `loadtest celebrity`: does a post by someone with many followers cost
//! its author more than one by someone with none?
//!
//! Registers a "star" with `--followers N` followers and a "solo" author
//! with none, measures `POST /posts` closed-loop for each (solo first, so
//! that the star's fan-out does not slow the baseline), prints both and
//! the ratio of their p99s, then checks that the star's newest post reached
//! every follower's feed, and how long after the last post that took.
//! Accounts are `{prefix}_star`, `{prefix}_solo` and `{prefix}_f0…`; a
//! repeated run logs into the existing ones.

use crate::api::{Accounts, IdOnly, Page, now_unix};
use crate::client::Client;
use crate::load::{LoadContext, Population, Targets, Timing, Workload, closed_loop};
use crate::parallel::{Job, run_parallel};
use crate::report::{Report, Row, markdown};
use crate::verify::{Services, health, undelivered};
use anyhow::{Context, Result, bail, ensure};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options of `loadtest celebrity`.
pub struct CelebrityOptions {
    /// The services.
    pub services: Services,
    /// Followers of the star.
    pub followers: usize,
    /// Username prefix.
    pub prefix: String,
    /// Calls in flight while registering and checking.
    pub concurrency: usize,
    /// Closed-loop connections while posting.
    pub connections: usize,
    /// Warm-up, duration, timeout of each measurement.
    pub timing: Timing,
    /// How long to wait for the newest post to reach every follower.
    pub wait: Duration,
    /// Seed of the post texts.
    pub seed: u64,
    /// Where to write the JSON report.
    pub json: Option<PathBuf>,
    /// The settings, for the report.
    pub settings: serde_json::Value,
}

/// The password of a celebrity-scenario account.
fn password(username: &str) -> String {
    format!("loadtest-{username}-secret")
}

struct AccountJob(Arc<Accounts>);

impl Job for AccountJob {
    type Output = ();
    async fn run(&self, client: &mut Client, index: usize) -> Result<()> {
        self.0.log_in(client, index, true).await.map(|_| ())
    }
}

/// Follower `index` (account `2 + index`) follows the star (account 0).
struct FollowJob(Arc<Accounts>);

impl Job for FollowJob {
    type Output = ();
    async fn run(&self, client: &mut Client, index: usize) -> Result<()> {
        let star = self.0.username(0).to_string();
        let response = self.0.follow_as(client, 2 + index, &star).await?;
        if !response.is_success() {
            return Err(response.error(&format!("{} following {star}", self.0.username(2 + index))));
        }
        Ok(())
    }
}

/// For the `index`th pending follower: whether their feed shows `newest`.
struct DeliveredJob {
    accounts: Arc<Accounts>,
    services: Services,
    pending: Vec<usize>,
    newest: String,
}

impl Job for DeliveredJob {
    type Output = (usize, bool);
    async fn run(&self, client: &mut Client, index: usize) -> Result<(usize, bool)> {
        let follower = self.pending[index];
        let delivered = delivered_to(
            &self.accounts,
            client,
            &self.services,
            follower,
            &self.newest,
        )
        .await?;
        Ok((follower, delivered))
    }
}

/// Whether follower `follower`'s newest feed entry is `newest` or newer
/// (post ids sort by time; the followers follow only the star).
async fn delivered_to(
    accounts: &Accounts,
    client: &mut Client,
    services: &Services,
    follower: usize,
    newest: &str,
) -> Result<bool> {
    let response = accounts
        .feed_page_as(client, &services.feed, 2 + follower, 1, None)
        .await?;
    if response.status != 200 {
        return Err(response.error("reading a follower's feed"));
    }
    let page: Page<IdOnly> = response.json()?;
    Ok(page
        .items
        .first()
        .is_some_and(|top| top.id.as_str() >= newest))
}

async fn measure(
    services: &Services,
    accounts: &Accounts,
    index: usize,
    options: &CelebrityOptions,
) -> Result<(Row, Option<String>)> {
    let login = accounts.login_of(index).context("not logged in")?;
    let population = Population::new([(accounts.username(index).to_string(), login.token)])?;
    let ctx = Arc::new(LoadContext {
        targets: Targets {
            hello: None,
            post: services.post.clone(),
            feed: services.feed.clone(),
        },
        population: Arc::new(population),
        timing: options.timing,
        seed: options.seed ^ index as u64,
    });
    let result = closed_loop(&ctx, Workload::Compose, options.connections).await?;
    let newest = result.stats.accepted.iter().map(|p| p.id.clone()).max();
    let mut row = Row::from_result(&result);
    row.workload = format!("compose as {}", accounts.username(index));
    Ok((row, newest))
}

/// `loadtest celebrity`.
pub async fn celebrity_command(options: CelebrityOptions) -> Result<()> {
    let services = &options.services;
    let n = options.followers;
    ensure!(n > 0, "--followers must be at least 1");
    let star = format!("{}_star", options.prefix);
    let solo = format!("{}_solo", options.prefix);
    let last_fan = format!("{}_f{}", options.prefix, n - 1);
    ensure!(
        last_fan.len() <= 30 && star.len() <= 30,
        "usernames like {last_fan} are too long (30 at most): use a shorter --prefix"
    );
    let names: Vec<String> = [star.clone(), solo.clone()]
        .into_iter()
        .chain((0..n).map(|i| format!("{}_f{i}", options.prefix)))
        .collect();
    let accounts = Arc::new(Accounts::new(
        services.user.clone(),
        names
            .iter()
            .map(|name| (name.clone(), password(name), None))
            .collect(),
    ));
    let timeout = options.timing.timeout;
    eprintln!(
        "registering {} accounts ({star}, {solo} and {n} followers)",
        names.len()
    );
    run_parallel(
        "accounts",
        Arc::new(AccountJob(accounts.clone())),
        names.len(),
        options.concurrency,
        timeout,
    )
    .await?;
    eprintln!("{n} followers follow {star}");
    run_parallel(
        "follows",
        Arc::new(FollowJob(accounts.clone())),
        n,
        options.concurrency,
        timeout,
    )
    .await?;

    let settle_started = Instant::now();
    loop {
        let pending = undelivered(&health(services, timeout).await?);
        if pending == 0 {
            break;
        }
        if settle_started.elapsed() >= options.wait {
            eprintln!("{pending} events still undelivered; measuring anyway");
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let started_at = now_unix();
    // The author without followers first, so that the star's fan-out work
    // (which goes on after its responses) does not slow the baseline down.
    eprintln!(
        "POST /posts as {solo} (no followers), {} connections",
        options.connections
    );
    let (solo_row, _) = measure(services, &accounts, 1, &options).await?;
    eprintln!("POST /posts as {star} ({n} followers)");
    let (star_row, newest) = measure(services, &accounts, 0, &options).await?;
    let posted_at = Instant::now();
    let ratio = star_row.latency_us.p99 as f64 / solo_row.latency_us.p99.max(1) as f64;
    let rows = vec![solo_row, star_row];
    println!("{}", markdown(&rows));
    println!("p99 {star} / p99 {solo} = {ratio:.2}");

    let Some(newest) = newest else {
        bail!("{star} got no post accepted: nothing to check");
    };
    eprintln!("checking that {n} feeds show {star}'s newest post {newest}");
    let mut pending: Vec<usize> = (0..n).collect();
    let mut round = 1;
    let mut probe = Client::new(timeout);
    let mut last_note = Instant::now();
    loop {
        // One feed first: the fan-out reaches followers in batches, so while
        // one pending feed lacks the post, reading them all is wasted load.
        if !delivered_to(&accounts, &mut probe, services, pending[0], &newest).await?
            && posted_at.elapsed() < options.wait
        {
            if last_note.elapsed() >= Duration::from_secs(10) {
                last_note = Instant::now();
                eprintln!(
                    "  {} does not show it yet, {:.0} s after the last post; undelivered events: {}",
                    names[2 + pending[0]],
                    posted_at.elapsed().as_secs_f64(),
                    undelivered(&health(services, timeout).await?)
                );
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        let job = Arc::new(DeliveredJob {
            accounts: accounts.clone(),
            services: services.clone(),
            pending: pending.clone(),
            newest: newest.clone(),
        });
        let results = run_parallel(
            &format!("feeds (round {round})"),
            job,
            pending.len(),
            options.concurrency,
            timeout,
        )
        .await?;
        pending = results
            .into_iter()
            .filter(|&(_, delivered)| !delivered)
            .map(|(follower, _)| follower)
            .collect();
        if pending.is_empty() || posted_at.elapsed() >= options.wait {
            break;
        }
        eprintln!("  {} feeds do not show it yet", pending.len());
        tokio::time::sleep(Duration::from_secs(1)).await;
        round += 1;
    }
    let delivery_s = posted_at.elapsed().as_secs_f64();
    if let Some(path) = &options.json {
        let mut report = Report::new(started_at, options.settings.clone(), rows);
        report.extra.insert("followers".into(), n.into());
        report.extra.insert("p99_ratio".into(), ratio.into());
        report
            .extra
            .insert("newest_post".into(), newest.clone().into());
        report
            .extra
            .insert("feeds_missing_newest".into(), pending.len().into());
        report.extra.insert(
            "checked_within_s_of_last_star_post".into(),
            delivery_s.into(),
        );
        report.write(path)?;
        eprintln!("report written to {}", path.display());
    }
    if !pending.is_empty() {
        let examples: Vec<&str> = pending
            .iter()
            .take(5)
            .map(|&f| names[2 + f].as_str())
            .collect();
        bail!(
            "{} of {n} followers' feeds lack {newest} {delivery_s:.0} s after {star}'s last post, e.g. {examples:?}",
            pending.len()
        );
    }
    println!(
        "all {n} followers' feeds show {star}'s newest post (checked within {delivery_s:.1} s after the star's last post)"
    );
    Ok(())
}
