//! Filling a cold cache in bulk (ADR 0030).
//!
//! The caches live in memory (`runtime-config.toml`), so a restart empties
//! them. Then every reader's first request opens SQLite and fills its own
//! page: several times the work of a cached read, for every reader at once,
//! and under a full load the machine is overloaded within a fraction of a
//! second. So the first request that misses a first page on a cold cache
//! takes the service's *warm turn*, lists the scopes to fill and splits them
//! into rounds. It and every reader that misses while the warm runs then
//! take rounds one at a time (an atomic increment hands them out), so the
//! rounds run in parallel, before those readers answer. In a round, one
//! call claims the pages, one statement reads them, and each is swapped in
//! for its claim as a reader's own fill does ([`Cache::fill`]): a change
//! committed meanwhile is never lost, and no lock is taken, so writers go
//! on. A reader's own fill costs an open, several statements and a dozen
//! host calls. Once every round is taken, readers wait for their page,
//! looking rarely, instead of all reading the database at once.

use crate::ApiResult;
use crate::cache::{Cache, CachedPage, TTL_MS, items_to_hold, page_in, page_key};
use crate::db::Db;
use crate::ids::now_millis;
use crate::paging::{DEFAULT_LIMIT, PageRequest};
use crate::post::Post;
use spin_sdk::wit::wasi::keyvalue::atomics;
use std::collections::HashMap;

/// The cache key of the warm's turn.
const TURN_KEY: &str = "warm";

/// Scopes per round: one call claims them, one statement reads them.
const ROUND: usize = 64;

/// How long a reader that misses waits for a warm in progress.
const WAIT_MS: i64 = 2_000;

/// How long a waiting reader first waits before it looks for its page; it
/// waits twice as long each time after, up to [`MAX_POLL_MS`]. Hundreds of
/// readers wait at once, and their looks must not slow the warm down.
const FIRST_POLL_MS: u64 = 25;

/// The longest wait between two looks.
const MAX_POLL_MS: u64 = 400;

/// A warm not done after this long is taken to have died; another may start.
const STALE_MS: i64 = 10_000;

/// How a service warms its cache: the scopes whose first pages to fill, and
/// how to read a round of them.
pub trait Warm {
    /// The service's name, for the log line.
    fn service(&self) -> &'static str;
    /// The scopes to fill, at most as many as the cache should hold.
    fn scopes(&self, db: &Db) -> ApiResult<Vec<String>>;
    /// The first `fetch` posts of those `scopes` that have any, newest
    /// first; the others' pages are empty.
    fn first_posts(
        &self,
        db: &Db,
        scopes: &[&str],
        fetch: i64,
    ) -> ApiResult<Vec<(String, Vec<Post>)>>;
    /// Anything else to fill for `scopes`.
    fn also(&self, _cache: &Cache, _db: &Db, _scopes: &[&str]) -> ApiResult<()> {
        Ok(())
    }
}

/// The state of the warm turn, as stored: `<started_ms> <done> <rounds>
/// <replaced>`, where `replaced` is when the turn it replaced started.
#[derive(Debug, PartialEq)]
enum Turn {
    /// Nobody holds it: never taken, expired, or its warm died.
    Free,
    /// A warm started then; `rounds` is 0 while it lists the scopes.
    Running { started_ms: i64, rounds: u64 },
    /// A warm finished; the cache is warm until the turn expires.
    Done,
}

impl Turn {
    fn read(value: Option<&[u8]>, now_ms: i64) -> Self {
        let parsed = value
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| {
                let mut fields = v.split(' ');
                let started_ms = fields.next()?.parse::<i64>().ok()?;
                let done = fields.next()? == "1";
                let rounds = fields.next()?.parse::<u64>().ok()?;
                Some((started_ms, done, rounds))
            });
        match parsed {
            Some((started_ms, true, _)) if now_ms - started_ms < TTL_MS => Turn::Done,
            Some((started_ms, false, rounds)) if now_ms - started_ms < STALE_MS => {
                Turn::Running { started_ms, rounds }
            }
            _ => Turn::Free,
        }
    }

    fn value(started_ms: i64, done: bool, rounds: u64, replaced: i64) -> Vec<u8> {
        format!("{started_ms} {} {rounds} {replaced}", done as u8).into_bytes()
    }

    /// When the turn that `value` replaced started.
    fn replaced(value: &[u8]) -> Option<i64> {
        std::str::from_utf8(value)
            .ok()?
            .split(' ')
            .nth(3)?
            .parse()
            .ok()
    }
}

/// The keys of the warm that started at `started_ms`: its rounds' scopes,
/// and its counters of rounds handed out, rounds done and pages filled.
fn round_key(started_ms: i64, round: u64) -> String {
    format!("warm:{started_ms}:{round}")
}

fn counter_key(started_ms: i64, counter: &str) -> String {
    format!("warm:{started_ms}:{counter}")
}

/// On a first-page miss of `scope`: warms the cache if nobody has lately,
/// or helps a warm in progress and then waits for it. The page the warm
/// stored for `scope`, if any; `None` means the caller reads and fills the
/// page itself.
pub fn on_miss(
    cache: &Cache,
    scope: &str,
    warm: &impl Warm,
    open: impl Fn() -> ApiResult<Db>,
) -> Option<CachedPage> {
    let now = now_millis();
    let started_ms = match Turn::read(cache.get(TURN_KEY).as_deref(), now) {
        Turn::Done => return None,
        Turn::Running { started_ms, .. } => started_ms,
        Turn::Free => {
            let replaced = take_turn(cache, now)?;
            if let Err(e) = plan(cache, warm, &open, now, replaced) {
                eprintln!("{}: warming the cache failed: {e}", warm.service());
                // Not retried before the turn expires; readers fill their
                // own pages meanwhile.
                cache.set(TURN_KEY, &Turn::value(now, true, 0, replaced));
                return None;
            }
            now
        }
    };
    help_and_wait(cache, scope, warm, open, started_ms)
}

/// Lists the scopes, stores them as rounds, and publishes how many.
fn plan(
    cache: &Cache,
    warm: &impl Warm,
    open: &impl Fn() -> ApiResult<Db>,
    started_ms: i64,
    replaced: i64,
) -> ApiResult<u64> {
    let scopes = warm.scopes(&open()?)?;
    let rounds: Vec<(String, Vec<u8>)> = scopes
        .chunks(ROUND)
        .enumerate()
        .map(|(i, round)| {
            (
                round_key(started_ms, i as u64),
                round.join("\n").into_bytes(),
            )
        })
        .collect();
    let count = rounds.len() as u64;
    cache.set_many(rounds);
    cache.set(
        TURN_KEY,
        &Turn::value(started_ms, count == 0, count, replaced),
    );
    Ok(count)
}

/// Takes rounds of the warm that started at `started_ms` until none is
/// left; whoever finishes the last marks the warm done.
fn work(cache: &Cache, db: &Db, warm: &impl Warm, started_ms: i64, rounds: u64) -> ApiResult<()> {
    let add = |counter: &str, n: i64| {
        atomics::increment(&cache.bucket, &counter_key(started_ms, counter), n).ok()
    };
    loop {
        let Some(taken) = add("next", 1) else {
            return Ok(());
        };
        let round = taken as u64 - 1;
        if round >= rounds {
            return Ok(());
        }
        let Some(list) = cache.get(&round_key(started_ms, round)) else {
            continue;
        };
        let list = String::from_utf8_lossy(&list).into_owned();
        let scopes: Vec<&str> = list.split('\n').collect();
        let filled = fill(cache, db, warm, &scopes)?;
        let pages = add("pages", filled as i64).unwrap_or_default();
        if add("done", 1) == Some(rounds as i64) {
            let replaced = cache.get(TURN_KEY).as_deref().and_then(Turn::replaced);
            cache.set(
                TURN_KEY,
                &Turn::value(started_ms, true, rounds, replaced.unwrap_or_default()),
            );
            eprintln!(
                "{}: warmed {pages} first pages in {} ms",
                warm.service(),
                now_millis() - started_ms
            );
            let mut keys: Vec<String> = (0..rounds).map(|i| round_key(started_ms, i)).collect();
            keys.extend(["next", "pages", "done"].map(|c| counter_key(started_ms, c)));
            // The take counter of the turn this one replaced: nobody can
            // see that turn free any more.
            keys.extend(replaced.map(|r| counter_key(r, "take")));
            cache.delete_keys(&keys);
        }
    }
}

/// Takes rounds of the warm that started at `started_ms` once they are
/// listed, then waits, looking rarely, for it to store `scope`'s page: the
/// page, or `None` once the warm is done without it or the wait is over.
fn help_and_wait(
    cache: &Cache,
    scope: &str,
    warm: &impl Warm,
    open: impl Fn() -> ApiResult<Db>,
    started_ms: i64,
) -> Option<CachedPage> {
    let deadline = now_millis() + WAIT_MS;
    let mut pause = FIRST_POLL_MS;
    let mut helped = false;
    let keys = [page_key(scope), TURN_KEY.to_string()];
    loop {
        let mut found = cache.get_many(&keys);
        if let Some(page) = found.remove(&keys[0]).and_then(|v| page_in(&v)) {
            return Some(page);
        }
        let now = now_millis();
        match Turn::read(found.remove(TURN_KEY).as_deref(), now) {
            Turn::Running {
                started_ms: s,
                rounds,
            } if s == started_ms => {
                if !helped && rounds > 0 {
                    helped = true;
                    if let Err(e) = open().and_then(|db| work(cache, &db, warm, s, rounds)) {
                        eprintln!("{}: a round of warming failed: {e}", warm.service());
                    }
                    continue;
                }
            }
            _ => return None,
        }
        if now >= deadline {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(pause));
        pause = (pause * 2).min(MAX_POLL_MS);
    }
}

/// Takes the turn if it is still free. Of all the requests that saw the
/// same free turn, the one whose increment of that turn's take counter
/// comes first wins: an increment is atomic in every store, whereas Spin
/// 4.0.2's compare-and-swap is not to be trusted (its Redis store reports a
/// swap that worked as failed, and its in-memory store lets a second swap of
/// a missing key overwrite the first).
fn take_turn(cache: &Cache, now: i64) -> Option<i64> {
    let current = cache.get(TURN_KEY);
    if Turn::read(current.as_deref(), now) != Turn::Free {
        return None;
    }
    // The turn being replaced: when it started (0 if there was none).
    let replaced = current
        .as_deref()
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.split(' ').next()?.parse::<i64>().ok())
        .unwrap_or(0);
    if atomics::increment(&cache.bucket, &counter_key(replaced, "take"), 1).ok() != Some(1) {
        return None;
    }
    cache.set(TURN_KEY, &Turn::value(now, false, 0, replaced));
    Some(replaced)
}

/// Fills the first pages of one round's `scopes` that the cache lacks; how
/// many it claimed and read.
fn fill(cache: &Cache, db: &Db, warm: &impl Warm, scopes: &[&str]) -> ApiResult<usize> {
    let keys: Vec<String> = scopes.iter().map(|s| page_key(s)).collect();
    let cached = cache.get_many(&keys);
    let cold: Vec<&str> = scopes
        .iter()
        .zip(&keys)
        .filter(|(_, key)| !cached.contains_key(*key))
        .map(|(scope, _)| *scope)
        .collect();
    warm.also(cache, db, scopes)?;
    // Claimed before they are read, like a reader's own fill.
    let claims = cache.claim_pages(&cold);
    if claims.is_empty() {
        return Ok(0);
    }
    // The pages a first-page read with the default limit would cache.
    let held = items_to_hold(&PageRequest {
        limit: DEFAULT_LIMIT,
        after: None,
    });
    let mut pages: HashMap<String, CachedPage> = warm
        .first_posts(db, &cold, held as i64 + 1)?
        .into_iter()
        .map(|(scope, posts)| {
            let page = CachedPage::from_rows(&posts, held, |p| p.id.clone());
            (scope, page)
        })
        .collect();
    let filled = claims.len();
    for (scope, claim) in cold.iter().zip(claims) {
        let page = pages.remove(*scope).unwrap_or_default();
        cache.fill(claim, &page);
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turn_is_running_then_done_and_free_once_stale_or_expired() {
        let read = |v: &str, now| Turn::read(Some(v.as_bytes()), now);
        assert_eq!(
            read("1000 0 3 holder", 1000 + STALE_MS - 1),
            Turn::Running {
                started_ms: 1000,
                rounds: 3
            }
        );
        assert_eq!(read("1000 0 3", 1000 + STALE_MS), Turn::Free);
        assert_eq!(read("1000 1 3", 1000 + TTL_MS - 1), Turn::Done);
        assert_eq!(read("1000 1 3", 1000 + TTL_MS), Turn::Free);
        for other in ["", "soon 1 3", "1000", "1000 1", "1000 0 many"] {
            assert_eq!(read(other, 1000), Turn::Free, "{other:?}");
        }
        assert_eq!(Turn::read(None, 0), Turn::Free);
        let value = Turn::value(5, false, 2, 1);
        assert_eq!(
            Turn::read(Some(&value), 5),
            Turn::Running {
                started_ms: 5,
                rounds: 2
            }
        );
        assert_eq!(Turn::replaced(&value), Some(1));
    }
}
