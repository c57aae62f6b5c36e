//! What a warm of the feed's cold cache fills ([`shared::warm`], ADR 0030):
//! the first pages of up to [`WARM_READERS`] readers, and their cut-offs, so
//! that a reader's first request after a restart is one key-value read and
//! a signature check.

use crate::store;
use shared::ApiResult;
use shared::cache::Cache;
use shared::db::Db;
use shared::post::Post;

/// The most readers one warm fills: a bound on the work and on the cache's
/// size, not a count any test graph reaches.
const WARM_READERS: i64 = 10_000;

/// The feed's readers, for [`shared::warm::on_miss`].
pub struct Readers;

impl shared::warm::Warm for Readers {
    fn service(&self) -> &'static str {
        "feed"
    }

    /// Readers with a timeline, except those whose pages hold pulled posts,
    /// which no writer adds to a cached page (a read does not cache them).
    fn scopes(&self, db: &Db) -> ApiResult<Vec<String>> {
        let pulling = store::readers_pulling(db)?;
        Ok(store::readers_to_warm(db, WARM_READERS)?
            .into_iter()
            .map(|reader| reader.as_str().to_string())
            .filter(|reader| !pulling.contains(reader))
            .collect())
    }

    fn first_posts(
        &self,
        db: &Db,
        readers: &[&str],
        fetch: i64,
    ) -> ApiResult<Vec<(String, Vec<Post>)>> {
        store::first_pages(db, readers, fetch)
    }

    /// The readers' cut-offs, which a new token of theirs needs.
    fn also(&self, cache: &Cache, db: &Db, readers: &[&str]) -> ApiResult<()> {
        shared::auth::fill_cut_offs(cache, db, readers)
    }
}
