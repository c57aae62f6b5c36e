//! Warming a cold page cache in bulk (ADR 0030).
//!
//! The feed's cache lives in memory (`runtime-config.toml`), so a restart
//! empties it. Then every reader's first request reads its page and its
//! cut-off from SQLite on a connection of its own: under a full load, that
//! is several times the work of a cached read for every reader at once, and
//! requests queue for seconds. So the first request that misses its page
//! while nobody holds the warm's turn takes it, and after its response fills
//! the first pages and cut-offs of up to [`WARM_READERS`] readers: a round
//! of readers costs a handful of host calls, where one reader's own fill
//! costs a dozen. Each round is read and stored under the database's write
//! lock, so no change commits in between and nothing it stores is stale.

use crate::domain::UserId;
use crate::store;
use shared::ApiResult;
use shared::cache::{Cache, CachedPage, TTL_MS, items_to_hold, page_key, turn_held};
use shared::paging::{DEFAULT_LIMIT, PageRequest};
use std::sync::atomic::{AtomicBool, Ordering};

/// The cache key of the warm's turn. It is held as long as the pages it
/// fills live, so a cache that stays warm is warmed once per [`TTL_MS`] at
/// most, and only when a read misses.
pub const TURN_KEY: &str = "warm";

/// The most readers one warm fills: a bound on the work and on the cache's
/// size, not a count any test graph reaches.
const WARM_READERS: i64 = 10_000;

/// Readers per round: one statement reads their pages and one call stores
/// them, while the round holds the write lock (a feed batch waits that long).
const ROUND: usize = 64;

/// Whether this request missed its page on a cold cache.
static ASKED: AtomicBool = AtomicBool::new(false);

/// Notes, for [`run_if_asked`], that a read missed its page. A cache someone
/// is warming, or warmed lately, is left alone. One key-value read, on a
/// miss only: hits pay nothing for the warm.
pub fn ask_unless_warming(cache: &Cache) {
    let now = shared::ids::now_millis();
    if !turn_held(cache.get(TURN_KEY).as_deref(), now) {
        ASKED.store(true, Ordering::Relaxed);
    }
}

/// After the response: warms the cache if a read asked for it and this
/// request takes the turn.
pub fn run_if_asked() {
    if !ASKED.swap(false, Ordering::Relaxed) {
        return;
    }
    let Some(cache) = store::cache() else { return };
    if !cache.take_turn(TURN_KEY, TTL_MS) {
        return;
    }
    let started = shared::ids::now_millis();
    match warm(&cache) {
        Ok(pages) => eprintln!(
            "feed: warmed {pages} first pages in {} ms",
            shared::ids::now_millis() - started
        ),
        Err(e) => eprintln!("feed: warming the page cache failed: {e}"),
    }
}

/// Fills the first pages and cut-offs the cache lacks; how many pages.
fn warm(cache: &Cache) -> ApiResult<usize> {
    let db = store::open()?;
    let readers = store::readers_to_warm(&db, WARM_READERS)?;
    // Their pages hold pulled posts, which no writer adds to a cached page.
    let pulling = store::readers_pulling(&db)?;
    let held = items_to_hold(&PageRequest {
        limit: DEFAULT_LIMIT,
        after: None,
    });
    let mut stored = 0;
    for round in readers.chunks(ROUND) {
        let ids: Vec<&str> = round.iter().map(UserId::as_str).collect();
        let cached = cache.get_many(&ids.iter().map(|id| page_key(id)).collect::<Vec<_>>());
        let cold: Vec<&str> = ids
            .iter()
            .copied()
            .filter(|id| !cached.contains_key(&page_key(id)) && !pulling.contains(*id))
            .collect();
        stored += db.transaction(|db| {
            shared::auth::store_cut_offs(cache, db, &ids)?;
            let pages: Vec<(String, CachedPage)> = store::first_pages(db, &cold, held as i64 + 1)?
                .into_iter()
                .map(|(reader, posts)| {
                    let page = CachedPage::from_rows(&posts, held, |p| p.id.clone());
                    (reader, page)
                })
                .collect();
            cache.store_pages(&pages);
            Ok(pages.len())
        })?;
    }
    Ok(stored)
}
