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
//! nothing. A writer that only adds items (new posts) can instead add them
//! to the pages in place, so that readers keep hitting under a stream of
//! posts: many pages at once under the database's write lock
//! ([`Cache::update`]), or one item to one page with the key-value store's
//! compare-and-swap ([`Cache::add`]).
//!
//! A reader that misses first *claims* the key ([`Cache::claim`]): it stores
//! a marker there, then reads the database, then swaps its value in for the
//! marker. A writer that commits after the read deletes the marker, so the
//! swap finds nothing and the reader stores nothing; a writer that adds
//! items adds them to the marker, and the reader stores them with its page.
//! So a fill is only lost to a change that removes something, never to
//! writes elsewhere in the database, however long the reader takes. Entries
//! also expire after [`TTL_MS`], in case a writer died between its commit
//! and its delete. The cache is best effort: any key-value error is a miss,
//! and the database stays the truth.

use crate::ApiResult;
use crate::db::Db;
use crate::ids::now_millis;
use crate::paging::{PageRequest, page_response_raw};
use spin_sdk::http::{Request, Response};
// spin-sdk 5.2 generates the `wasi:keyvalue` bindings but wraps only
// `fermyon:spin/key-value`, which has no batch calls; a batch is one host
// call, and in Spin's own store one transaction: one commit, not hundreds.
use spin_sdk::wit::wasi::keyvalue::{atomics, batch, store};
use std::collections::{BTreeSet, HashMap};

/// How long a cached page may be served at most. Writers keep pages
/// current, so this only bounds a writer that failed between its commit and
/// its delete; long enough that a lull of a few minutes leaves the caches
/// warm (ADR 0025).
pub const TTL_MS: i64 = 300_000;

/// Pages hold at most this many items, enough for any `?limit=`.
pub const PAGE_ITEMS: usize = crate::paging::MAX_LIMIT;

/// How many times [`Cache::add`] tries before it deletes the page instead.
const ADD_ATTEMPTS: usize = 4;

/// How much older than the moment an item was seen to exist a page must be
/// for [`Cache::add`] to know that it was filled before then (ADR 0031): room for
/// clocks that differ between instances, and for a claim stored a while
/// after its time was taken.
const FILLED_BEFORE_MARGIN_MS: i64 = 10_000;

/// Keys per batch call, so that no answer nears the host's size limit.
const BATCH_KEYS: usize = 64;

/// How many items to read and keep for `page`: its limit, and at least the
/// default page, so the common requests share one entry without a miss
/// rendering a hundred items.
pub fn items_to_hold(page: &PageRequest) -> usize {
    hold(page.limit)
}

fn hold(items: usize) -> usize {
    items.clamp(crate::paging::DEFAULT_LIMIT, PAGE_ITEMS)
}

/// A service's cache: its own key-value store.
pub struct Cache {
    pub(crate) bucket: store::Bucket,
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
        store::open(label)
            .map_err(|e| eprintln!("cache {label} unavailable: {e:?}"))
            .ok()
            .map(|bucket| Self { bucket })
    }

    /// A raw value; errors are misses.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.bucket.get(key).ok().flatten()
    }

    /// Stores a raw value, best effort.
    pub fn set(&self, key: &str, value: &[u8]) {
        if let Err(e) = self.bucket.set(key, value) {
            eprintln!("cache write failed: {e:?}");
        }
    }

    /// The values of those `keys` that exist, in one call per [`BATCH_KEYS`];
    /// errors are misses.
    pub fn get_many(&self, keys: &[String]) -> HashMap<String, Vec<u8>> {
        keys.chunks(BATCH_KEYS)
            .filter_map(|chunk| self.read_chunk(chunk).ok())
            .flatten()
            .collect()
    }

    /// Like [`Cache::get_many`], but failing if any read fails.
    fn read_many(&self, keys: &[String]) -> Result<Vec<(String, Vec<u8>)>, store::Error> {
        let chunks: Result<Vec<_>, _> = keys
            .chunks(BATCH_KEYS)
            .map(|chunk| self.read_chunk(chunk))
            .collect();
        Ok(chunks?.concat())
    }

    /// Spin 4.0.2's Redis store answers `get-many` with Redis's `KEYS`
    /// command: one key that exists panics the host (the request fails), and
    /// more keys are refused. So a single key is a plain `get`, and a chunk
    /// the store refuses is read key by key.
    fn read_chunk(&self, chunk: &[String]) -> Result<Vec<(String, Vec<u8>)>, store::Error> {
        if chunk.len() > 1
            && let Ok(found) = batch::get_many(&self.bucket, chunk)
        {
            return Ok(found
                .into_iter()
                .filter_map(|(key, value)| Some((key, value?)))
                .collect());
        }
        chunk
            .iter()
            .filter_map(|key| {
                let value = self.bucket.get(key).transpose()?;
                Some(value.map(|value| (key.clone(), value)))
            })
            .collect()
    }

    /// Deletes `keys`, best effort, in one call per [`BATCH_KEYS`].
    pub fn delete_keys(&self, keys: &[String]) {
        if let Err(e) = self.delete_many(keys) {
            eprintln!("cache delete failed: {e:?}");
        }
    }

    fn delete(&self, key: &str) {
        if let Err(e) = self.bucket.delete(key) {
            eprintln!("cache delete failed: {e:?}");
        }
    }

    fn delete_many(&self, keys: &[String]) -> Result<(), store::Error> {
        keys.chunks(BATCH_KEYS)
            .try_for_each(|chunk| batch::delete_many(&self.bucket, chunk))
    }

    /// The page cached for `scope`, if fresh.
    pub fn page(&self, scope: &str) -> Option<CachedPage> {
        page_in(&self.get(&page_key(scope))?)
    }

    /// Claims `key`, which the caller just missed, before it reads from the
    /// database what to store there ([`Cache::settle`]); `None` when the
    /// store fails, which only means the value is not cached.
    pub fn claim(&self, key: &str) -> Option<Claim> {
        let token = crate::ids::new_id();
        self.claim_with(key, format!("{CLAIM} {token}\n").into_bytes(), token)
    }

    /// Like [`Cache::claim`], for `scope`'s page ([`Cache::fill`]): writers
    /// that add items to pages add them to the claim too.
    pub fn claim_page(&self, scope: &str) -> Option<Claim> {
        let token = crate::ids::new_id();
        let entry = Entry::Claimed {
            token: token.clone(),
            taken_ms: now_millis(),
            added: CachedPage::default(),
        };
        self.claim_with(&page_key(scope), entry.encode(), token)
    }

    /// [`Cache::claim`] for many keys, in one call per [`BATCH_KEYS`]; none
    /// when the store fails.
    pub fn claim_many(&self, keys: &[String]) -> Vec<Claim> {
        self.claim_all(keys.iter().map(|key| {
            let token = crate::ids::new_id();
            let marker = format!("{CLAIM} {token}\n").into_bytes();
            (key.clone(), marker, token)
        }))
    }

    /// [`Cache::claim_page`] for many scopes, in one call per [`BATCH_KEYS`];
    /// none when the store fails.
    pub fn claim_pages(&self, scopes: &[&str]) -> Vec<Claim> {
        let now = now_millis();
        self.claim_all(scopes.iter().map(|scope| {
            let token = crate::ids::new_id();
            let entry = Entry::Claimed {
                token: token.clone(),
                taken_ms: now,
                added: CachedPage::default(),
            };
            (page_key(scope), entry.encode(), token)
        }))
    }

    fn claim_all(&self, claims: impl Iterator<Item = (String, Vec<u8>, String)>) -> Vec<Claim> {
        let claims: Vec<Claim> = claims
            .map(|(key, marker, token)| Claim { key, marker, token })
            .collect();
        let entries: Vec<(String, Vec<u8>)> = claims
            .iter()
            .map(|c| (c.key.clone(), c.marker.clone()))
            .collect();
        match self.set_all(&entries) {
            Ok(()) => claims,
            Err(e) => {
                eprintln!("cache write failed: {e:?}");
                Vec::new()
            }
        }
    }

    fn claim_with(&self, key: &str, marker: Vec<u8>, token: String) -> Option<Claim> {
        match self.bucket.set(key, &marker) {
            Ok(()) => Some(Claim {
                key: key.to_string(),
                marker,
                token,
            }),
            Err(e) => {
                eprintln!("cache write failed: {e:?}");
                None
            }
        }
    }

    /// Stores `value` under the key of `claim`, unless a writer deleted the
    /// claim meanwhile (its change may be missing from `value`) or another
    /// reader claimed the key since (its value will be newer).
    pub fn settle(&self, claim: Claim, value: &[u8]) {
        let marker = claim.marker.clone();
        self.settle_with(claim, |current| (current == marker).then(|| value.to_vec()));
    }

    /// Stores `page` for the scope of `claim`, together with the items
    /// writers added to the claim meanwhile, unless it was deleted or claimed
    /// again ([`Cache::settle`]). The page keeps the claim's age.
    pub fn fill(&self, claim: Claim, page: &CachedPage) {
        let token = claim.token.clone();
        self.settle_with(claim, |current| filled(current, &token, page, now_millis()));
    }

    /// Swaps the value `settled` makes of the claimed key's current one, as
    /// long as it makes one. A swap fails when a writer changed the value
    /// since it was read: then the value is read again. A store that reports
    /// a failed swap as done only costs this fill.
    fn settle_with(&self, claim: Claim, settled: impl Fn(&[u8]) -> Option<Vec<u8>>) {
        for _ in 0..ADD_ATTEMPTS {
            let Ok(cas) = atomics::Cas::new(&self.bucket, &claim.key) else {
                return;
            };
            let Ok(Some(current)) = cas.current() else {
                return;
            };
            let Some(value) = settled(&current) else {
                return;
            };
            if atomics::swap(cas, &value).is_ok() {
                return;
            }
        }
    }

    /// Stores raw values, best effort, in one call per [`BATCH_KEYS`].
    pub fn set_many(&self, entries: Vec<(String, Vec<u8>)>) {
        if let Err(e) = self.set_all(&entries) {
            eprintln!("cache write failed: {e:?}");
        }
    }

    fn set_all(&self, entries: &[(String, Vec<u8>)]) -> Result<(), store::Error> {
        entries
            .chunks(BATCH_KEYS)
            .try_for_each(|chunk| batch::set_many(&self.bucket, chunk))
    }

    /// Adds `item` (key, JSON) to `scope`'s page, if one is cached: call after
    /// committing an item that only adds to the list (a new post), so that
    /// the page's readers keep hitting. `still_there` tells whether the item
    /// still exists as it is added.
    ///
    /// No database lock is taken; the key-value store's compare-and-swap
    /// keeps two additions from losing one another. A change that removes
    /// the item deletes the page after its commit: before the swap, the swap
    /// fails and the next attempt finds no page; after it, the page is gone.
    /// `still_there`, when asked (see below), is asked after the page is
    /// read, so an item removed earlier is never added back. A reader's
    /// claim gets the item like a page, and its fill stores it
    /// ([`Cache::fill`]). After each swap the page is read again and must
    /// hold the item, because not every store reports a failed swap. When
    /// attempts run out, or anything fails, the page is deleted.
    ///
    /// `still_there` is only asked when the page may have been filled after
    /// the item was seen to exist: committed, or read, at a moment no earlier
    /// than `seen_after_ms` (ADR 0031). A page claimed well before then
    /// cannot have been refilled after the item was removed: the removal
    /// deletes the page after its own commit, and a fill claimed before that
    /// delete finds its claim gone.
    pub fn add(
        &self,
        scope: &str,
        item: (&str, &str),
        seen_after_ms: i64,
        still_there: impl Fn() -> ApiResult<bool>,
    ) {
        let key = page_key(scope);
        let (item_key, json) = item;
        let added = [(item_key.to_string(), json.to_string())];
        for _ in 0..ADD_ATTEMPTS {
            let Ok(cas) = atomics::Cas::new(&self.bucket, &key) else {
                break;
            };
            let page = match cas.current() {
                Ok(Some(page)) => page,
                // Nothing to keep warm: the next reader fills it.
                Ok(None) => return,
                Err(_) => break,
            };
            let Some(mut entry) = decode_entry(&page, now_millis()) else {
                break;
            };
            if !entry.filled_well_before(seen_after_ms) {
                match still_there() {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(_) => break,
                }
            }
            entry.add(&added);
            let swapped = entry.encode();
            if atomics::swap(cas, &swapped).is_err() {
                continue;
            }
            // Usually the page is still what was swapped in; only when a
            // writer changed it since is it decoded to look for the item.
            match self.bucket.get(&key) {
                Ok(None) => return,
                Ok(Some(now))
                    if now == swapped
                        || decode_entry(&now, now_millis()).is_some_and(|e| e.holds(item_key)) =>
                {
                    return;
                }
                _ => {}
            }
        }
        self.delete(&key);
    }

    /// Forgets `scope`'s page: call after committing a change that shows in it.
    pub fn forget(&self, scope: &str) {
        self.delete(&page_key(scope));
    }

    /// Forgets the pages of `scopes`, in one call per [`BATCH_KEYS`].
    pub fn forget_all(&self, scopes: &BTreeSet<String>) {
        let keys: Vec<String> = scopes.iter().map(|s| page_key(s)).collect();
        self.delete_keys(&keys);
    }

    /// Drops the pages of `dropped` and adds new items to the pages that
    /// exist: call after committing a change. `scopes` reads, from `db`,
    /// whose pages the change adds to; `added` reads, for those of them that
    /// have a page, the items now to be in it (scope, item key, item JSON),
    /// so that an item removed by a later commit is not added back, and
    /// nothing is read or rendered for scopes without one.
    ///
    /// This runs while holding `db`'s write lock, so no commit falls between
    /// reading the items and storing the pages, and two writers' additions
    /// cannot cross (each page is read, added to and stored in turn). A
    /// reader's claim gets the items like a page, so a fill that read an
    /// older state stores them too ([`Cache::fill`]); adding an item a page
    /// already holds changes nothing. Added pages keep their age, so
    /// [`TTL_MS`] still bounds what a lost update could leave. Anything that
    /// fails leaves the pages deleted instead.
    pub fn update(
        &self,
        db: &Db,
        dropped: &BTreeSet<String>,
        scopes: impl Fn(&Db) -> ApiResult<Vec<String>>,
        added: impl Fn(&Db, &[String]) -> ApiResult<Vec<NewItem>>,
    ) {
        let keys: Vec<String> = dropped.iter().map(|s| page_key(s)).collect();
        // The pages being added to, for deleting them if storing fails.
        let touched = std::cell::RefCell::new(Vec::new());
        let outcome = db.transaction(|db| {
            let scope_of: HashMap<String, String> = scopes(db)?
                .into_iter()
                .filter(|scope| !dropped.contains(scope))
                .map(|scope| (page_key(&scope), scope))
                .collect();
            let wanted: Vec<String> = scope_of.keys().cloned().collect();
            touched.replace(wanted.clone());
            let entries = self.read_many(&wanted).map_err(kv_error)?;
            touched.replace(entries.iter().map(|(key, _)| key.clone()).collect());
            let with_pages: Vec<String> = entries
                .iter()
                .filter_map(|(key, _)| scope_of.get(key).cloned())
                .collect();
            let mut by_scope: HashMap<String, Vec<(String, String)>> = HashMap::new();
            if !with_pages.is_empty() {
                for item in added(db, &with_pages)? {
                    by_scope
                        .entry(page_key(&item.scope))
                        .or_default()
                        .push((item.key, item.json));
                }
            }
            // An expired or damaged entry is left as it is: it is a miss.
            let now = now_millis();
            let pages: Vec<(String, Vec<u8>)> = entries
                .into_iter()
                .filter_map(|(key, value)| {
                    let added = add_encoded(&value, now, by_scope.get(&key)?)?;
                    Some((key, added))
                })
                .collect();
            pages
                .chunks(BATCH_KEYS)
                .try_for_each(|chunk| batch::set_many(&self.bucket, chunk))
                .and_then(|()| self.delete_many(&keys))
                .map_err(kv_error)
        });
        if let Err(e) = outcome {
            eprintln!("cache update failed, forgetting instead: {e}");
            self.delete_keys(&[keys, touched.take()].concat());
        }
    }
}

/// An item to add to a scope's cached page.
#[derive(Debug, Clone, PartialEq)]
pub struct NewItem {
    /// Whose page.
    pub scope: String,
    /// The item's continuation key (its id); pages are newest (greatest) first.
    pub key: String,
    /// The item as JSON.
    pub json: String,
}

fn kv_error(e: store::Error) -> crate::ApiError {
    crate::ApiError::Internal(anyhow::anyhow!("cache: {e:?}"))
}

/// A reader's claim on a key it missed, taken before it reads what to store
/// there ([`Cache::claim`]): stored under the key, it tells writers that a
/// value is on its way. A writer's delete removes it, and the reader then
/// stores nothing; a writer that adds to pages adds to it.
pub struct Claim {
    /// The key claimed.
    pub key: String,
    /// What the claim stored, to tell it from anything written since.
    marker: Vec<u8>,
    token: String,
}

/// How a claim's value begins; no cached value begins so.
const CLAIM: &str = "claim";

/// What a page key holds.
#[derive(Debug, PartialEq)]
enum Entry {
    /// A page, and when it was filled.
    Page(i64, CachedPage),
    /// A reader's claim ([`Cache::claim_page`]): whose, when it was taken,
    /// and the items writers added since, newest first.
    Claimed {
        token: String,
        taken_ms: i64,
        added: CachedPage,
    },
}

impl Entry {
    /// Adds `items` as [`CachedPage::add`] does; a claim keeps up to
    /// [`PAGE_ITEMS`] of them, and notes when it drops one (the reader's
    /// page might then lack it, so it is not stored).
    fn add(&mut self, items: &[(String, String)]) {
        match self {
            Entry::Page(_, page) => page.add(items),
            Entry::Claimed { added, .. } => added.add_holding(items, PAGE_ITEMS),
        }
    }

    /// Whether the page was claimed (or the claim taken) more than
    /// [`FILLED_BEFORE_MARGIN_MS`] before `ms`, by the clocks that stamped
    /// both: then what it was filled from was read before `ms`.
    fn filled_well_before(&self, ms: i64) -> bool {
        let (Entry::Page(since, _)
        | Entry::Claimed {
            taken_ms: since, ..
        }) = self;
        *since < ms - FILLED_BEFORE_MARGIN_MS
    }

    /// Whether the page, or the items added to the claim, hold `key`.
    fn holds(&self, key: &str) -> bool {
        let (Entry::Page(_, page) | Entry::Claimed { added: page, .. }) = self;
        page.keys.iter().any(|k| k == key)
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Entry::Page(created_ms, page) => encode(page, *created_ms),
            Entry::Claimed {
                token,
                taken_ms,
                added,
            } => [
                format!("{CLAIM} {token}\n").into_bytes(),
                encode(added, *taken_ms),
            ]
            .concat(),
        }
    }
}

/// What to store for a page read under the claim `token`, given what its
/// key holds now: the page with the items writers added to the claim, aged
/// from the claim. Nothing when the key holds anything else, or when the
/// claim had to drop an added item.
fn filled(current: &[u8], token: &str, page: &CachedPage, now_ms: i64) -> Option<Vec<u8>> {
    match decode_entry(current, now_ms)? {
        Entry::Claimed {
            token: holder,
            taken_ms,
            added,
        } if holder == token && !added.more => {
            let mut page = page.clone();
            page.add(&added.pairs());
            Some(encode(&page, taken_ms))
        }
        _ => None,
    }
}

/// The entry in `bytes`, unless expired or damaged.
fn decode_entry(bytes: &[u8], now_ms: i64) -> Option<Entry> {
    let (token, _, page) = split_claim(bytes)?;
    let (since, page) = decode_with_age(page, now_ms)?;
    Some(match token {
        None => Entry::Page(since, page),
        Some(token) => Entry::Claimed {
            token: token.to_string(),
            taken_ms: since,
            added: page,
        },
    })
}

/// A claim's token, if the entry is one, its whole first line (empty for a
/// page), and the page that follows; `None` when the claim line is damaged.
fn split_claim(bytes: &[u8]) -> Option<(Option<&str>, &[u8], &[u8])> {
    let Some(claim) = bytes.strip_prefix(format!("{CLAIM} ").as_bytes()) else {
        return Some((None, &bytes[..0], bytes));
    };
    let end = claim.iter().position(|&b| b == b'\n')?;
    let token = std::str::from_utf8(&claim[..end]).ok()?;
    let (line, page) = bytes.split_at(CLAIM.len() + 1 + end + 1);
    Some((Some(token), line, page))
}

/// The key of `scope`'s page, for [`Cache::get_many`].
pub fn page_key(scope: &str) -> String {
    format!("page:{scope}")
}

/// The page in a value read under [`page_key`], if fresh.
pub fn page_in(value: &[u8]) -> Option<CachedPage> {
    decode(value, now_millis())
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

    /// Adds `items` (key, JSON) in key order, newest (greatest) first, as
    /// the list would now read: one it already holds, or one older than its
    /// last while more follow (it belongs further on), changes nothing. The
    /// page keeps what it held, at least the default page, and notes that
    /// more follow when it has to drop its oldest.
    pub fn add(&mut self, items: &[(String, String)]) {
        self.add_holding(items, hold(self.items.len()));
    }

    fn add_holding(&mut self, items: &[(String, String)], held: usize) {
        let added = items.iter().map(|(key, json)| (key.clone(), json.clone()));
        merge(&mut self.keys, &mut self.items, &mut self.more, added, held);
    }

    /// The items as (key, JSON) pairs, for [`CachedPage::add`].
    fn pairs(&self) -> Vec<(String, String)> {
        self.keys
            .iter()
            .cloned()
            .zip(self.items.iter().cloned())
            .collect()
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

/// Adds `added` (key, item) to the list `keys`/`items`, newest (greatest
/// key) first, keeping at most `held` and noting when more follow, as
/// [`CachedPage::add`] describes. For owned and for borrowed items alike.
fn merge<K: AsRef<str>, T>(
    keys: &mut Vec<K>,
    items: &mut Vec<T>,
    more: &mut bool,
    added: impl IntoIterator<Item = (K, T)>,
    held: usize,
) {
    for (key, item) in added {
        let key_str = key.as_ref();
        let at = keys.partition_point(|k| k.as_ref() > key_str);
        let holds = keys.get(at).is_some_and(|k| k.as_ref() == key_str);
        if holds || (at == keys.len() && *more) {
            continue;
        }
        keys.insert(at, key);
        items.insert(at, item);
    }
    if items.len() > held {
        keys.truncate(held);
        items.truncate(held);
        *more = true;
    }
}

/// `created_ms more count` then, per item, `key len` on its own line, then
/// the items' JSON back to back.
fn encode(page: &CachedPage, now_ms: i64) -> Vec<u8> {
    encode_parts(now_ms, page.more, &page.keys, &page.items)
}

fn encode_parts(
    created_ms: i64,
    more: bool,
    keys: &[impl AsRef<str>],
    items: &[impl AsRef<str>],
) -> Vec<u8> {
    use std::io::Write;
    let lines: usize = keys.iter().map(|k| k.as_ref().len() + 8).sum();
    let bodies: usize = items.iter().map(|i| i.as_ref().len()).sum();
    let mut out = Vec::with_capacity(32 + lines + bodies);
    // Writing to a Vec cannot fail.
    let _ = writeln!(out, "{created_ms} {} {}", more as u8, items.len());
    for (key, item) in keys.iter().zip(items) {
        let _ = writeln!(out, "{} {}", key.as_ref(), item.as_ref().len());
    }
    for item in items {
        out.extend_from_slice(item.as_ref().as_bytes());
    }
    out
}

/// A page as stored, its keys and items borrowed from the stored bytes.
struct Parts<'a> {
    created_ms: i64,
    more: bool,
    keys: Vec<&'a str>,
    items: Vec<&'a str>,
}

/// The parts of the page in `bytes`, unless expired or damaged.
fn parts(bytes: &[u8], now_ms: i64) -> Option<Parts<'_>> {
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
        keys.push(key);
        lens.push(len.parse::<usize>().ok()?);
        rest = tail;
    }
    let mut items = Vec::with_capacity(count);
    for len in lens {
        items.push(rest.get(..len)?);
        rest = &rest[len..];
    }
    rest.is_empty().then_some(Parts {
        created_ms,
        more,
        keys,
        items,
    })
}

/// The entry in `bytes` (a page, or a claim) with `added` added as
/// [`Entry::add`] adds them, re-encoded; unless expired or damaged. Works on
/// the stored bytes, borrowing every item it keeps: a batch of posts adds to
/// hundreds of pages, and decoding each into owned items first cost more
/// than reading and writing them.
fn add_encoded(bytes: &[u8], now_ms: i64, added: &[(String, String)]) -> Option<Vec<u8>> {
    let (_, claim_line, page) = split_claim(bytes)?;
    let Parts {
        created_ms,
        mut more,
        mut keys,
        mut items,
    } = parts(page, now_ms)?;
    // As `Entry::add`: a claim holds a full page of added items.
    let held = if claim_line.is_empty() {
        hold(items.len())
    } else {
        PAGE_ITEMS
    };
    let added = added
        .iter()
        .map(|(key, json)| (key.as_str(), json.as_str()));
    merge(&mut keys, &mut items, &mut more, added, held);
    Some([claim_line, &encode_parts(created_ms, more, &keys, &items)].concat())
}

fn decode(bytes: &[u8], now_ms: i64) -> Option<CachedPage> {
    decode_with_age(bytes, now_ms).map(|(_, page)| page)
}

/// The page in `bytes` and when it was filled, unless expired or damaged.
fn decode_with_age(bytes: &[u8], now_ms: i64) -> Option<(i64, CachedPage)> {
    let parts = parts(bytes, now_ms)?;
    let owned = |all: Vec<&str>| all.into_iter().map(str::to_string).collect();
    let page = CachedPage {
        keys: owned(parts.keys),
        items: owned(parts.items),
        more: parts.more,
    };
    Some((parts.created_ms, page))
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

    fn item(key: &str) -> (String, String) {
        (key.to_string(), format!("{{\"id\":\"{key}\"}}"))
    }

    fn keys(page: &CachedPage) -> Vec<&str> {
        page.keys.iter().map(String::as_str).collect()
    }

    #[test]
    fn added_items_take_their_place_newest_first_and_repeats_change_nothing() {
        let mut page = CachedPage::default();
        page.add(&[item("k3"), item("k1")]);
        page.add(&[item("k2"), item("k4"), item("k3")]);
        assert_eq!(keys(&page), ["k4", "k3", "k2", "k1"]);
        assert_eq!(page.items[0], item("k4").1);
        assert!(!page.more);
    }

    #[test]
    fn a_full_page_drops_its_oldest_and_ignores_items_that_belong_further_on() {
        let limit = crate::paging::DEFAULT_LIMIT;
        let mut page = CachedPage::from_rows(
            &(10..10 + limit)
                .rev()
                .map(|i| format!("k{i}"))
                .collect::<Vec<_>>(),
            limit,
            |k| k.clone(),
        );
        page.more = true;
        // Older than the oldest held while more follow: not this page's.
        page.add(&[item("k05")]);
        assert_eq!(page.items.len(), limit);
        assert!(!page.keys.contains(&"k05".to_string()));
        // A newer one pushes the oldest out.
        page.add(&[item("k99")]);
        assert_eq!(page.keys.first().map(String::as_str), Some("k99"));
        assert_eq!(page.items.len(), limit);
        assert!(page.more);
        assert!(!page.keys.contains(&"k10".to_string()));
    }

    #[test]
    fn a_short_complete_page_grows_to_the_default_then_notes_that_more_follow() {
        let limit = crate::paging::DEFAULT_LIMIT;
        let mut page = CachedPage::default();
        let all: Vec<(String, String)> =
            (0..limit + 2).map(|i| item(&format!("k{i:03}"))).collect();
        page.add(&all[..limit]);
        assert_eq!((page.items.len(), page.more), (limit, false));
        page.add(&all[limit..]);
        assert_eq!((page.items.len(), page.more), (limit, true));
        assert_eq!(page.keys[0], format!("k{:03}", limit + 1));
    }

    #[test]
    fn an_expired_or_damaged_entry_is_a_miss() {
        let bytes = encode(&page(2, false), 1_000);
        assert_eq!(decode(&bytes, 1_000 + TTL_MS + 1), None);
        assert_eq!(decode(&bytes[..bytes.len() - 1], 1_000), None);
        assert_eq!(decode(b"garbage", 1_000), None);
    }

    fn claim(token: &str, taken_ms: i64, added: CachedPage) -> Entry {
        Entry::Claimed {
            token: token.into(),
            taken_ms,
            added,
        }
    }

    #[test]
    fn a_claim_round_trips_and_is_never_served_as_a_page() {
        let entry = claim("T1", 1_000, page(2, false));
        let bytes = entry.encode();
        assert_eq!(decode_entry(&bytes, 1_000), Some(entry));
        assert_eq!(page_in(&bytes), None);
        assert_eq!(decode(&bytes, 1_000), None);
        let entry = Entry::Page(1_000, page(1, true));
        assert_eq!(decode_entry(&entry.encode(), 1_000), Some(entry));
    }

    #[test]
    fn a_claim_keeps_a_full_page_of_added_items_then_notes_it_lost_one() {
        let mut entry = claim("T1", 1_000, CachedPage::default());
        let all: Vec<(String, String)> = (0..=PAGE_ITEMS)
            .map(|i| item(&format!("k{i:03}")))
            .collect();
        entry.add(&all[..PAGE_ITEMS]);
        assert!(
            entry.holds("k000") && !matches!(&entry, Entry::Claimed { added, .. } if added.more)
        );
        entry.add(&all[PAGE_ITEMS..]);
        assert!(matches!(&entry, Entry::Claimed { added, .. } if added.more));
    }

    #[test]
    fn a_fill_stores_its_page_with_what_writers_added_to_its_own_claim() {
        // Arrange: a page read under claim T1, and a post added to the claim
        // by a writer meanwhile (newer than anything the read saw).
        let read = CachedPage {
            keys: vec!["k2".into(), "k1".into()],
            items: vec![item("k2").1, item("k1").1],
            more: false,
        };
        let mut current = claim("T1", 1_000, CachedPage::default());
        current.add(&[item("k3"), item("k2")]);

        // Act
        let stored = filled(&current.encode(), "T1", &read, 2_000).expect("stored");

        // Assert: both, newest first, aged from the claim.
        let (created_ms, page) = decode_with_age(&stored, 2_000).unwrap();
        assert_eq!((created_ms, keys(&page)), (1_000, vec!["k3", "k2", "k1"]));
    }

    #[test]
    fn a_fill_stores_nothing_over_anything_but_its_own_intact_claim() {
        let read = page(2, false);
        let mut lossy = claim("T1", 1_000, CachedPage::default());
        let many: Vec<(String, String)> = (0..=PAGE_ITEMS)
            .map(|i| item(&format!("k{i:03}")))
            .collect();
        lossy.add(&many);
        for current in [
            claim("T2", 1_000, CachedPage::default()).encode(),
            Entry::Page(1_000, page(1, false)).encode(),
            lossy.encode(),
            claim("T1", 1_000, CachedPage::default()).encode()[..10].to_vec(),
        ] {
            assert_eq!(filled(&current, "T1", &read, 2_000), None);
        }
        // An expired claim too.
        let old = claim("T1", 1_000, CachedPage::default()).encode();
        assert_eq!(filled(&old, "T1", &read, 1_000 + TTL_MS + 1), None);
    }

    #[test]
    fn adding_to_the_stored_bytes_stores_what_adding_to_the_decoded_entry_does() {
        let newer: Vec<(String, String)> = ["k99", "k98"].into_iter().map(item).collect();
        let mixed: Vec<(String, String)> =
            ["k01", "k50", "k00", "k07"].into_iter().map(item).collect();
        let many: Vec<(String, String)> = (0..=PAGE_ITEMS)
            .map(|i| item(&format!("x{i:03}")))
            .collect();
        // Newest (greatest key) first, as pages are.
        let listed = |n: usize, more: bool| {
            let mut page = CachedPage::default();
            page.add_holding(
                &(0..n)
                    .map(|i| item(&format!("k{:02}", i * 2)))
                    .collect::<Vec<_>>(),
                PAGE_ITEMS,
            );
            page.more = more;
            page
        };
        let entries = [
            Entry::Page(1_000, CachedPage::default()),
            Entry::Page(1_000, listed(3, false)),
            Entry::Page(1_000, listed(20, true)),
            Entry::Page(1_000, listed(PAGE_ITEMS, true)),
            claim("T1", 1_000, CachedPage::default()),
            claim("T1", 1_000, listed(5, false)),
        ];
        for entry in entries {
            for added in [&newer[..], &mixed[..], &many[..], &[]] {
                let bytes = entry.encode();
                let mut decoded = decode_entry(&bytes, 2_000).expect("fresh");
                decoded.add(added);
                assert_eq!(
                    add_encoded(&bytes, 2_000, added),
                    Some(decoded.encode()),
                    "{entry:?} + {} items",
                    added.len()
                );
            }
        }
    }

    #[test]
    fn only_an_entry_stamped_well_before_a_commit_counts_as_filled_before_it() {
        let commit = 100_000;
        let margin = FILLED_BEFORE_MARGIN_MS;
        for (since, before) in [
            (commit - margin - 1, true),
            (commit - margin, false),
            (commit - 1, false),
            (commit + 5_000, false),
        ] {
            let page = Entry::Page(since, page(1, false));
            let claim = claim("T1", since, CachedPage::default());
            assert_eq!(page.filled_well_before(commit), before, "page at {since}");
            assert_eq!(claim.filled_well_before(commit), before, "claim at {since}");
        }
    }

    #[test]
    fn adding_to_an_expired_or_damaged_entry_stores_nothing() {
        let bytes = Entry::Page(1_000, page(2, false)).encode();
        let added = [item("k99")];
        assert_eq!(add_encoded(&bytes, 1_000 + TTL_MS + 1, &added), None);
        assert_eq!(add_encoded(&bytes[..bytes.len() - 1], 1_000, &added), None);
        assert_eq!(add_encoded(b"claim T1", 1_000, &added), None);
        let damaged_token = [b"claim \xff\n".as_slice(), &bytes].concat();
        assert_eq!(decode_entry(&damaged_token, 1_000), None);
        assert_eq!(add_encoded(&damaged_token, 1_000, &added), None);
        assert_eq!(add_encoded(b"garbage", 1_000, &added), None);
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
