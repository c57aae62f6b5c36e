//! `loadtest verify`: every post (seeded, and accepted during `run`) is in
//! its author's feed and in the feed of everyone who follows the author,
//! exactly once; and `loadtest health`.
//!
//! A feed keeps only its newest 800 entries: when a feed is full, a post
//! older than its oldest entry is not required (post ids sort by creation
//! time, so "older" is "smaller id").

use crate::api::{self, Accounts, FeedItem};
use crate::client::{Client, Endpoint};
use crate::parallel::{Job, run_parallel};
use crate::state::State;
use anyhow::{Result, bail};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Entries a home feed keeps.
pub const FEED_CAP: usize = 800;
/// Examples of each kind of problem printed.
const EXAMPLES: usize = 10;

/// The three services.
#[derive(Debug, Clone)]
pub struct Services {
    /// The user service.
    pub user: Endpoint,
    /// The post service.
    pub post: Endpoint,
    /// The feed service.
    pub feed: Endpoint,
}

/// How one feed compares with what it must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedCheck {
    /// Entries read.
    pub entries: usize,
    /// Required posts that are not there.
    pub missing: Vec<String>,
    /// Posts that are there more than once, and how often.
    pub duplicates: Vec<(String, usize)>,
    /// Posts by seeded users the feed's owner does not follow.
    pub strangers: Vec<String>,
    /// Expected posts not required because the feed is full and they are
    /// older than its oldest entry.
    pub not_required: usize,
}

impl FeedCheck {
    /// Whether anything is wrong.
    pub fn has_problems(&self) -> bool {
        !(self.missing.is_empty() && self.duplicates.is_empty() && self.strangers.is_empty())
    }
}

/// Compares a whole feed with the posts it must hold (`expected`): each
/// exactly once, unless the feed holds `cap` entries and the post is older
/// than the oldest. A post by a seeded user (`seeded_authors`) outside
/// `allowed_authors` (the owner and whom they follow) is a stranger.
pub fn check_feed(
    feed: &[FeedItem],
    expected: &[&str],
    allowed_authors: &HashSet<&str>,
    seeded_authors: &HashSet<&str>,
    cap: usize,
) -> FeedCheck {
    let mut counts: HashMap<&str, usize> = HashMap::with_capacity(feed.len());
    let mut strangers = Vec::new();
    for item in feed {
        *counts.entry(item.id.as_str()).or_default() += 1;
        let author = item.author.id.as_str();
        if seeded_authors.contains(author) && !allowed_authors.contains(author) {
            strangers.push(item.id.clone());
        }
    }
    let oldest = if feed.len() >= cap {
        feed.iter().map(|item| item.id.as_str()).min()
    } else {
        None
    };
    let mut missing = Vec::new();
    let mut not_required = 0;
    for &id in expected {
        if counts.contains_key(id) {
            continue;
        }
        match oldest {
            Some(oldest) if id < oldest => not_required += 1,
            _ => missing.push(id.to_string()),
        }
    }
    let mut duplicates: Vec<(String, usize)> = counts
        .into_iter()
        .filter(|&(_, n)| n > 1)
        .map(|(id, n)| (id.to_string(), n))
        .collect();
    duplicates.sort();
    strangers.sort();
    strangers.dedup();
    FeedCheck {
        entries: feed.len(),
        missing,
        duplicates,
        strangers,
        not_required,
    }
}

/// What every feed must hold.
struct Expectations {
    /// Post ids by author index.
    posts_by_author: Vec<Vec<String>>,
    following: Vec<Vec<u32>>,
    user_ids: Vec<String>,
}

impl Expectations {
    fn from_state(state: &State, only_run: bool) -> Self {
        let mut posts_by_author = vec![Vec::new(); state.users.len()];
        let seeded = if only_run { &[][..] } else { &state.posts[..] };
        for post in seeded.iter().chain(&state.accepted) {
            posts_by_author[post.author as usize].push(post.id.clone());
        }
        Self {
            posts_by_author,
            following: state.following.clone(),
            user_ids: state.users.iter().map(|u| u.id.clone()).collect(),
        }
    }

    fn check(&self, user: usize, feed: &[FeedItem]) -> FeedCheck {
        let authors: Vec<usize> = std::iter::once(user)
            .chain(self.following[user].iter().map(|&f| f as usize))
            .collect();
        let expected: Vec<&str> = authors
            .iter()
            .flat_map(|&a| self.posts_by_author[a].iter().map(String::as_str))
            .collect();
        let allowed: HashSet<&str> = authors.iter().map(|&a| self.user_ids[a].as_str()).collect();
        let seeded: HashSet<&str> = self.user_ids.iter().map(String::as_str).collect();
        check_feed(feed, &expected, &allowed, &seeded, FEED_CAP)
    }

    fn expected_total(&self) -> usize {
        (0..self.following.len())
            .map(|u| {
                self.posts_by_author[u].len()
                    + self.following[u]
                        .iter()
                        .map(|&f| self.posts_by_author[f as usize].len())
                        .sum::<usize>()
            })
            .sum()
    }
}

struct FeedJob {
    accounts: Arc<Accounts>,
    feed: Endpoint,
    users: Vec<usize>,
    expectations: Arc<Expectations>,
}

impl Job for FeedJob {
    type Output = (usize, FeedCheck);
    async fn run(&self, client: &mut Client, index: usize) -> Result<(usize, FeedCheck)> {
        let user = self.users[index];
        let items = self.accounts.whole_feed(client, &self.feed, user).await?;
        Ok((user, self.expectations.check(user, &items)))
    }
}

/// The health documents of the three services, as `(service, document)`.
pub async fn health(
    services: &Services,
    timeout: Duration,
) -> Result<Vec<(String, serde_json::Value)>> {
    let mut client = Client::new(timeout);
    let mut out = Vec::new();
    for (name, endpoint) in [
        ("user", &services.user),
        ("post", &services.post),
        ("feed", &services.feed),
    ] {
        out.push((
            name.to_string(),
            api::health(&mut client, endpoint, name).await?,
        ));
    }
    Ok(out)
}

/// One line per service: status and undelivered events.
pub fn health_lines(health: &[(String, serde_json::Value)]) -> String {
    health
        .iter()
        .map(|(name, doc)| {
            format!(
                "  {name}: HTTP {} status {} undelivered_events {}",
                doc["http_status"], doc["status"], doc["undelivered_events"]
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The sum of `undelivered_events` over the services.
pub fn undelivered(health: &[(String, serde_json::Value)]) -> u64 {
    health
        .iter()
        .map(|(_, doc)| doc["undelivered_events"].as_u64().unwrap_or(0))
        .sum()
}

/// Options of `loadtest verify`.
pub struct VerifyOptions {
    /// The services.
    pub services: Services,
    /// Feeds read at once.
    pub concurrency: usize,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Keep checking the feeds with problems this long.
    pub wait: Duration,
    /// Check only the posts `run` recorded, not the seeded ones.
    pub only_run: bool,
}

/// `loadtest verify`: checks every seeded user's feed; an error if any
/// problem remains after `wait`.
pub async fn verify_command(options: VerifyOptions, state_path: &Path) -> Result<()> {
    let mut state = State::load(state_path)?;
    let VerifyOptions {
        services,
        concurrency,
        timeout,
        wait,
        only_run,
    } = options;
    eprintln!(
        "health before:\n{}",
        health_lines(&health(&services, timeout).await?)
    );
    let expectations = Arc::new(Expectations::from_state(&state, only_run));
    let accounts = Arc::new(state.accounts(&services.user));
    let n = state.users.len();
    let started = Instant::now();
    let mut checks: Vec<FeedCheck> = vec![FeedCheck::default(); n];
    let mut pending: Vec<usize> = (0..n).collect();
    let mut round = 1;
    loop {
        let job = Arc::new(FeedJob {
            accounts: accounts.clone(),
            feed: services.feed.clone(),
            users: pending.clone(),
            expectations: expectations.clone(),
        });
        let results = run_parallel(
            &format!("feeds (round {round})"),
            job,
            pending.len(),
            concurrency,
            timeout,
        )
        .await?;
        for (user, check) in results {
            checks[user] = check;
        }
        pending = (0..n).filter(|&u| checks[u].has_problems()).collect();
        if pending.is_empty() || started.elapsed() >= wait {
            break;
        }
        eprintln!(
            "  {} feeds with problems; checking them again ({:.0} s of --wait {:.0} s gone)",
            pending.len(),
            started.elapsed().as_secs_f64(),
            wait.as_secs_f64()
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        round += 1;
    }
    state.keep_tokens(&accounts);
    state.save(state_path)?;

    let total = |f: fn(&FeedCheck) -> usize| checks.iter().map(f).sum::<usize>();
    let missing = total(|c| c.missing.len());
    let duplicates = total(|c| c.duplicates.len());
    let strangers = total(|c| c.strangers.len());
    let not_required = total(|c| c.not_required);
    let entries = total(|c| c.entries);
    let posts = if only_run { 0 } else { state.posts.len() } + state.accepted.len();
    println!(
        "verify: {n} feeds ({entries} entries read), {posts} posts ({} accepted during run), \
         {} required feed entries ({not_required} not required: older than a full feed's oldest), \
         {missing} missing, {duplicates} duplicated, {strangers} from people not followed, \
         in {:.1} s",
        state.accepted.len(),
        expectations.expected_total() - not_required,
        started.elapsed().as_secs_f64()
    );
    let name = |u: usize| state.users[u].username.as_str();
    let with_problems: Vec<usize> = (0..n).filter(|&u| checks[u].has_problems()).collect();
    for &u in with_problems.iter().take(EXAMPLES) {
        let check = &checks[u];
        println!(
            "  {}: missing {:?}, duplicated {:?}, strangers {:?}",
            name(u),
            &check.missing[..check.missing.len().min(5)],
            &check.duplicates[..check.duplicates.len().min(5)],
            &check.strangers[..check.strangers.len().min(5)],
        );
    }
    if with_problems.len() > EXAMPLES {
        println!("  … and {} more feeds", with_problems.len() - EXAMPLES);
    }
    eprintln!(
        "health after:\n{}",
        health_lines(&health(&services, timeout).await?)
    );
    if missing + duplicates + strangers > 0 {
        bail!(
            "verify failed: {missing} missing, {duplicates} duplicated, {strangers} from people not followed"
        );
    }
    println!("verify: OK");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Author;

    fn item(id: &str, author: &str) -> FeedItem {
        FeedItem {
            id: id.into(),
            author: Author {
                id: author.into(),
                username: String::new(),
            },
        }
    }

    fn set<'a>(items: &[&'a str]) -> HashSet<&'a str> {
        items.iter().copied().collect()
    }

    #[test]
    fn a_feed_with_every_expected_post_once_passes() {
        let feed = [item("p3", "a"), item("p2", "b"), item("p1", "a")];
        let check = check_feed(
            &feed,
            &["p1", "p2", "p3"],
            &set(&["a", "b"]),
            &set(&["a", "b", "c"]),
            800,
        );
        assert!(!check.has_problems(), "{check:?}");
        assert_eq!(check.entries, 3);
    }

    #[test]
    fn missing_and_duplicated_posts_are_reported() {
        let feed = [item("p3", "a"), item("p3", "a"), item("p1", "a")];
        let check = check_feed(&feed, &["p1", "p2", "p3"], &set(&["a"]), &set(&["a"]), 800);
        assert_eq!(check.missing, vec!["p2".to_string()]);
        assert_eq!(check.duplicates, vec![("p3".to_string(), 2)]);
    }

    #[test]
    fn a_full_feed_need_not_hold_posts_older_than_its_oldest_entry() {
        let feed = [item("p5", "a"), item("p4", "a"), item("p3", "a")];
        let expected = ["p1", "p2", "p3", "p4", "p5", "p6"];
        let full = check_feed(&feed, &expected, &set(&["a"]), &set(&["a"]), 3);
        assert_eq!(full.not_required, 2);
        assert_eq!(full.missing, vec!["p6".to_string()]);
        let not_full = check_feed(&feed, &expected, &set(&["a"]), &set(&["a"]), 4);
        assert_eq!(not_full.missing.len(), 3);
        assert_eq!(not_full.not_required, 0);
    }

    #[test]
    fn posts_by_seeded_people_not_followed_are_strangers_but_unknown_authors_are_not() {
        let feed = [item("p2", "c"), item("p1", "outsider")];
        let check = check_feed(&feed, &[], &set(&["a"]), &set(&["a", "c"]), 800);
        assert_eq!(check.strangers, vec!["p2".to_string()]);
    }

    #[test]
    fn expectations_cover_own_posts_and_followees_posts() {
        let mut state = crate::state::tests::sample();
        state.accepted.push(crate::state::PostRecord {
            id: "p9".into(),
            author: 2,
        });
        let all = Expectations::from_state(&state, false);
        // user0 follows user1; user1 follows user0; user2 follows nobody.
        assert_eq!(all.expected_total(), 3);
        let ok = all.check(1, &[item("p1", "id0")]);
        assert!(!ok.has_problems(), "{ok:?}");
        let only_run = Expectations::from_state(&state, true);
        assert_eq!(only_run.expected_total(), 1);
        let stranger = only_run.check(2, &[item("p9", "id2"), item("p1", "id0")]);
        assert_eq!(stranger.strangers, vec!["p1".to_string()]);
    }

    #[test]
    fn undelivered_events_add_up_over_services() {
        let health = vec![
            (
                "user".to_string(),
                serde_json::json!({"undelivered_events": 2}),
            ),
            (
                "feed".to_string(),
                serde_json::json!({"undelivered_events": 3}),
            ),
            ("post".to_string(), serde_json::json!({})),
        ];
        assert_eq!(undelivered(&health), 5);
    }
}
