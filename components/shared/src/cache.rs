//! Hot first pages in the service's own key-value store.
//!
//! Under Spin every SQLite `open` is a new connection, which costs several
//! times a whole trivial request; a key-value store is one long-lived
//! connection. So the most read pages (a user's posts, a home feed) are kept
//! rendered in the key-value store and served with one `get`.
//!
//! Each cached page belongs to a *scope* (an author, a reader). A writer
//! deletes the pages of the scopes its change shows in after it commits
//! ([`Cache::forget`]); deleting a key that is not there costs next to
//! nothing. A reader that misses notes the database's `PRAGMA data_version`
//! *before* reading the page, stores the page, and reads the version again:
//! if another connection committed in between, it may have deleted before
//! the store, so the reader deletes what it stored. Under heavy writes some
//! fills are thrown away; none is ever stale for long. Entries also expire
//! after [`TTL_MS`], in case a writer died between its commit and its
//! delete. The cache is best effort: any key-value error is a miss, and the
//! database stays the truth.

use crate::ApiResult;
use crate::db::Db;
use crate::ids::now_millis;
use crate::paging::{PageRequest, page_response_raw};
use spin_sdk::http::{Request, Response};
use spin_sdk::key_value::Store;

/// How long a cached page may be served at most.
pub const TTL_MS: i64 = 60_000;

/// Pages hold at most this many items, enough for any `?limit=`.
pub const PAGE_ITEMS: usize = crate::paging::MAX_LIMIT;

/// How many items to read and keep for `page`: its limit, and at least the
/// default page, so the common requests share one entry without a miss
/// rendering a hundred items.
pub fn items_to_hold(page: &PageRequest) -> usize {
    page.limit.clamp(crate::paging::DEFAULT_LIMIT, PAGE_ITEMS)
}

/// A service's cache: its own key-value store.
pub struct Cache {
    store: Store,
}

/// The first items of a list, each already rendered as JSON.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CachedPage {
    /// Each item's continuation key (its id).
    pub keys: Vec<String>,
    /// Each item as JSON.
    pub items: Vec<String>,
    /// Whether items follow the last one held here.
    pub more: bool,
}

impl Cache {
    /// Opens the store with this label; `None` (logged) when it cannot be
    /// opened, which only makes every read a miss.
    pub fn open(label: &str) -> Option<Self> {
        Store::open(label)
            .map_err(|e| eprintln!("cache {label} unavailable: {e}"))
            .ok()
            .map(|store| Self { store })
    }

    /// A raw value; errors are misses.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.store.get(key).ok().flatten()
    }

    /// Stores a raw value, best effort.
    pub fn set(&self, key: &str, value: &[u8]) {
        if let Err(e) = self.store.set(key, value) {
            eprintln!("cache write failed: {e}");
        }
    }

    fn delete(&self, key: &str) {
        if let Err(e) = self.store.delete(key) {
            eprintln!("cache delete failed: {e}");
        }
    }

    /// The page cached for `scope`, if fresh.
    pub fn page(&self, scope: &str) -> Option<CachedPage> {
        decode(&self.get(&page_key(scope))?, now_millis())
    }

    /// Stores `page` for `scope`, read from `db` after `version` was taken
    /// there; deletes it again if another connection committed meanwhile.
    /// A page already known to be outdated is not stored at all: under a
    /// stream of writes that saves two key-value writes per read.
    pub fn fill(&self, db: &Db, scope: &str, version: i64, page: &CachedPage) {
        if !self::version(db).is_ok_and(|now| now == version) {
            return;
        }
        let key = page_key(scope);
        self.set(&key, &encode(page, now_millis()));
        if !self::version(db).is_ok_and(|now| now == version) {
            self.delete(&key);
        }
    }

    /// Forgets `scope`'s page: call after committing a change that shows in it.
    pub fn forget(&self, scope: &str) {
        self.delete(&page_key(scope));
    }
}

/// The database's version as this connection sees it: it changes when
/// another connection commits. Take it before reading a page to cache.
pub fn version(db: &Db) -> ApiResult<i64> {
    db.scalar("PRAGMA data_version", &[])
}

fn page_key(scope: &str) -> String {
    format!("page:{scope}")
}

impl CachedPage {
    /// The first `held` items of `rows` (fetched with one extra to tell
    /// whether more follow), rendered.
    pub fn from_rows<T: serde::Serialize>(
        rows: &[T],
        held: usize,
        key: impl Fn(&T) -> String,
    ) -> Self {
        let kept = &rows[..rows.len().min(held)];
        Self {
            keys: kept.iter().map(&key).collect(),
            items: kept
                .iter()
                .map(|r| serde_json::to_string(r).unwrap_or_default())
                .collect(),
            more: rows.len() > held,
        }
    }

    /// Whether this entry holds the whole of `page` (a first page).
    pub fn serves(&self, page: &PageRequest) -> bool {
        page.limit <= self.items.len() || !self.more
    }

    /// The page response for `page` (a first page) from the cached items.
    pub fn respond(&self, req: &Request, page: &PageRequest) -> Response {
        let n = page.limit.min(self.items.len());
        let has_more = self.items.len() > n || self.more;
        let next = if has_more {
            self.keys.get(n.wrapping_sub(1)).map(String::as_str)
        } else {
            None
        };
        page_response_raw(req, &self.items[..n], next)
    }
}

/// `created_ms more count` then, per item, `key len` on its own line, then
/// the items' JSON back to back.
fn encode(page: &CachedPage, now_ms: i64) -> Vec<u8> {
    let mut out = format!("{now_ms} {} {}\n", page.more as u8, page.items.len());
    for (key, item) in page.keys.iter().zip(&page.items) {
        out.push_str(&format!("{key} {}\n", item.len()));
    }
    for item in &page.items {
        out.push_str(item);
    }
    out.into_bytes()
}

fn decode(bytes: &[u8], now_ms: i64) -> Option<CachedPage> {
    let text = std::str::from_utf8(bytes).ok()?;
    let (header, mut rest) = text.split_once('\n')?;
    let mut fields = header.split(' ');
    let created_ms: i64 = fields.next()?.parse().ok()?;
    let more = fields.next()? == "1";
    let count: usize = fields.next()?.parse().ok()?;
    if now_ms - created_ms > TTL_MS || count > PAGE_ITEMS {
        return None;
    }
    let mut keys = Vec::with_capacity(count);
    let mut lens = Vec::with_capacity(count);
    for _ in 0..count {
        let (line, tail) = rest.split_once('\n')?;
        let (key, len) = line.split_once(' ')?;
        keys.push(key.to_string());
        lens.push(len.parse::<usize>().ok()?);
        rest = tail;
    }
    let mut items = Vec::with_capacity(count);
    for len in lens {
        items.push(rest.get(..len)?.to_string());
        rest = &rest[len..];
    }
    rest.is_empty().then_some(CachedPage { keys, items, more })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(n: usize, more: bool) -> CachedPage {
        CachedPage {
            keys: (0..n).map(|i| format!("k{i}")).collect(),
            items: (0..n)
                .map(|i| format!("{{\"id\":\"k{i}\",\"body\":\"a\\nb é\"}}"))
                .collect(),
            more,
        }
    }

    #[test]
    fn a_page_round_trips_through_its_encoding() {
        for (n, more) in [(0, false), (1, true), (PAGE_ITEMS, true)] {
            let p = page(n, more);
            assert_eq!(decode(&encode(&p, 1_000), 1_000), Some(p));
        }
    }

    #[test]
    fn an_entry_serves_limits_up_to_what_it_holds_or_everything_when_complete() {
        let limit = |n: usize| PageRequest::parse(Some(&n.to_string()), None).unwrap();
        let partial = page(20, true);
        assert!(partial.serves(&limit(20)));
        assert!(!partial.serves(&limit(21)));
        assert!(page(3, false).serves(&limit(100)));
        assert_eq!(items_to_hold(&limit(10)), 20);
        assert_eq!(items_to_hold(&limit(50)), 50);
    }

    #[test]
    fn an_expired_or_damaged_entry_is_a_miss() {
        let bytes = encode(&page(2, false), 1_000);
        assert_eq!(decode(&bytes, 1_000 + TTL_MS + 1), None);
        assert_eq!(decode(&bytes[..bytes.len() - 1], 1_000), None);
        assert_eq!(decode(b"garbage", 1_000), None);
    }

    #[test]
    fn rows_beyond_the_page_only_mark_that_more_follow() {
        let rows: Vec<u32> = (0..PAGE_ITEMS as u32 + 1).collect();
        let p = CachedPage::from_rows(&rows, PAGE_ITEMS, |r| r.to_string());
        assert_eq!(p.items.len(), PAGE_ITEMS);
        assert!(p.more);
        let few = CachedPage::from_rows(&rows[..3], PAGE_ITEMS, |r| r.to_string());
        assert_eq!(
            (few.items, few.more),
            (vec!["0".into(), "1".into(), "2".into()], false)
        );
    }
}
