//! `loadtest seed`: creates the social graph through the public API.
//!
//! Every step can be repeated: an account that exists is logged into (the
//! password is derived from the seed), follows are idempotent, and posts
//! carry an `Idempotency-Key`, so an interrupted or repeated seed finds the
//! same accounts and posts instead of failing or duplicating them (for 24 h,
//! how long the post service keeps idempotency keys).

use crate::api::{Accounts, IdOnly};
use crate::client::{Client, Endpoint};
use crate::graph::Graph;
use crate::parallel::{Job, run_parallel};
use crate::rng::{Rng, post_body};
use crate::state::{PostRecord, SeedPlan, SeededUser, State, VERSION};
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What to seed and how.
pub struct SeedOptions {
    /// The user service.
    pub user: Endpoint,
    /// The post service.
    pub post: Endpoint,
    /// The graph.
    pub graph: Graph,
    /// The plan recorded in the state file.
    pub plan: SeedPlan,
    /// Calls in flight.
    pub concurrency: usize,
    /// Per-call timeout.
    pub timeout: Duration,
}

/// The password of the `index`th seeded account: derived, so that a
/// repeated seed can log into accounts an earlier one created.
pub fn password_for(seed: u64, index: usize) -> String {
    format!("loadtest-{seed}-{index}-secret")
}

/// How many posts each of `nodes` people writes: uniform in
/// `0..=max_posts`, fixed by `seed`.
pub fn post_counts(nodes: usize, max_posts: u32, seed: u64) -> Vec<u32> {
    let mut rng = Rng::derive(seed, 0x706F_7374);
    (0..nodes)
        .map(|_| rng.inclusive(0, u64::from(max_posts)) as u32)
        .collect()
}

/// The posts to write as `(author, n)`, round-robin over authors (every
/// author's first post, then every second post, …) so that posts of
/// different people interleave in time as they would in a real network.
pub fn post_order(counts: &[u32]) -> Vec<(u32, u32)> {
    let most = counts.iter().copied().max().unwrap_or(0);
    (0..most)
        .flat_map(|n| {
            counts
                .iter()
                .enumerate()
                .filter(move |&(_, &c)| c > n)
                .map(move |(author, _)| (author as u32, n))
        })
        .collect()
}

struct AccountJob {
    accounts: Arc<Accounts>,
}

impl Job for AccountJob {
    type Output = ();
    async fn run(&self, client: &mut Client, index: usize) -> Result<()> {
        self.accounts.log_in(client, index, true).await.map(|_| ())
    }
}

struct FollowJob {
    accounts: Arc<Accounts>,
    follows: Vec<(u32, u32)>,
}

impl Job for FollowJob {
    type Output = ();
    async fn run(&self, client: &mut Client, index: usize) -> Result<()> {
        let (a, b) = self.follows[index];
        let followee = self.accounts.username(b as usize);
        let response = self
            .accounts
            .follow_as(client, a as usize, followee)
            .await?;
        if !response.is_success() {
            return Err(response.error(&format!(
                "{} following {followee}",
                self.accounts.username(a as usize)
            )));
        }
        Ok(())
    }
}

struct PostJob {
    accounts: Arc<Accounts>,
    post: Endpoint,
    order: Vec<(u32, u32)>,
    seed: u64,
    fingerprint: String,
}

impl Job for PostJob {
    type Output = PostRecord;
    async fn run(&self, client: &mut Client, index: usize) -> Result<PostRecord> {
        let (author, n) = self.order[index];
        let mut rng = Rng::derive(self.seed, (u64::from(author) << 32) | u64::from(n));
        let body = post_body(&mut rng, 280);
        let key = format!("loadtest-{}-{}-{author}-{n}", self.fingerprint, self.seed);
        let response = self
            .accounts
            .post_as(client, &self.post, author as usize, &body, Some(&key))
            .await?;
        if !response.is_success() {
            return Err(response.error(&format!(
                "post {n} of {}",
                self.accounts.username(author as usize)
            )));
        }
        let post: IdOnly = response.json()?;
        Ok(PostRecord {
            id: post.id,
            author,
        })
    }
}

/// Seeds the graph: accounts (register and log in), follows, then posts.
pub async fn seed(options: SeedOptions) -> Result<State> {
    let started = Instant::now();
    let SeedOptions {
        user,
        post,
        graph,
        plan,
        concurrency,
        timeout,
    } = options;
    let n = graph.nodes();
    let usernames: Vec<String> = (0..n).map(|i| format!("{}{i}", plan.prefix)).collect();
    let accounts = Arc::new(Accounts::new(
        user.clone(),
        usernames
            .iter()
            .enumerate()
            .map(|(i, name)| (name.clone(), password_for(plan.seed, i), None))
            .collect(),
    ));

    eprintln!("seeding {n} accounts on {}", user.url(""));
    run_parallel(
        "accounts",
        Arc::new(AccountJob {
            accounts: accounts.clone(),
        }),
        n,
        concurrency,
        timeout,
    )
    .await?;

    let follows: Vec<(u32, u32)> = graph.follows().collect();
    let follow_count = follows.len();
    eprintln!("seeding {follow_count} follows");
    run_parallel(
        "follows",
        Arc::new(FollowJob {
            accounts: accounts.clone(),
            follows,
        }),
        follow_count,
        concurrency,
        timeout,
    )
    .await?;

    let order = post_order(&post_counts(n, plan.max_posts, plan.seed));
    let post_count = order.len();
    eprintln!("seeding {post_count} posts");
    let posts = run_parallel(
        "posts",
        Arc::new(PostJob {
            accounts: accounts.clone(),
            post,
            order,
            seed: plan.seed,
            fingerprint: plan.graph_fingerprint.clone(),
        }),
        post_count,
        concurrency,
        timeout,
    )
    .await?;

    // The logins as they are now: a 401 on the way may have renewed some.
    let users = (0..n)
        .map(|i| {
            let login = accounts.login_of(i).context("an account without a login")?;
            Ok(SeededUser {
                username: usernames[i].clone(),
                password: password_for(plan.seed, i),
                id: login.user_id,
                token: login.token,
                token_expires_at: login.expires_at,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    eprintln!(
        "seeded {n} accounts, {follow_count} follows and {} posts in {:.1} s",
        posts.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(State {
        version: VERSION,
        plan,
        users,
        following: graph.following(),
        posts,
        accepted: Vec::new(),
    })
}

/// Whether the accounts of `state` exist on the user service: the first and
/// last are looked up by name and their ids compared.
pub async fn accounts_exist(state: &State, user: &Endpoint, timeout: Duration) -> Result<bool> {
    let mut client = Client::new(timeout);
    let probes = [state.users.first(), state.users.last()];
    for seeded in probes.into_iter().flatten() {
        let path = format!("/users/{}", seeded.username);
        let response = client
            .send_retrying(user, || user.request(http::Method::GET, &path, None, None))
            .await?;
        match response.status {
            200 => {
                let found: IdOnly = response.json()?;
                if found.id != seeded.id {
                    bail!(
                        "{} exists on {} with another id than in the state file: \
                         seed again with --reseed (and another --prefix if it is taken)",
                        seeded.username,
                        user.url("")
                    );
                }
            }
            404 => return Ok(false),
            _ => return Err(response.error(&format!("GET {}", user.url(&path)))),
        }
    }
    Ok(true)
}

/// `loadtest seed`: reuses the state file if it was seeded with the same
/// plan and its accounts exist, else seeds and writes it.
pub async fn seed_command(options: SeedOptions, state_path: &Path, reseed: bool) -> Result<()> {
    if state_path.exists() && !reseed {
        let existing = State::load(state_path)?;
        if existing.plan != options.plan {
            bail!(
                "{} was seeded with other parameters ({:?}); use --reseed to seed anew, \
                 or another --state",
                state_path.display(),
                existing.plan
            );
        }
        if accounts_exist(&existing, &options.user, options.timeout).await? {
            eprintln!(
                "{} matches and its accounts exist: nothing to seed (--reseed to seed anyway)",
                state_path.display()
            );
            return Ok(());
        }
        eprintln!(
            "the accounts of {} are not on {}: seeding",
            state_path.display(),
            options.user.url("")
        );
    }
    let state = seed(options).await?;
    state.save(state_path)?;
    eprintln!("state written to {}", state_path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_counts_are_0_to_max_and_fixed_by_the_seed() {
        let counts = post_counts(962, 20, 42);
        assert_eq!(counts, post_counts(962, 20, 42));
        assert_ne!(counts, post_counts(962, 20, 43));
        assert!(counts.iter().all(|&c| c <= 20));
        assert!(counts.contains(&0) && counts.contains(&20));
        let mean = counts.iter().sum::<u32>() as f64 / counts.len() as f64;
        assert!((9.0..11.0).contains(&mean), "{mean}");
    }

    #[test]
    fn posts_are_written_round_robin_over_authors() {
        assert_eq!(
            post_order(&[2, 0, 1, 2]),
            vec![(0, 0), (2, 0), (3, 0), (0, 1), (3, 1)]
        );
        assert!(post_order(&[]).is_empty());
    }

    #[test]
    fn passwords_are_valid_and_differ_per_account() {
        let (a, b) = (password_for(1, 0), password_for(1, 1));
        assert_ne!(a, b);
        assert!((8..=128).contains(&a.len()));
    }
}
