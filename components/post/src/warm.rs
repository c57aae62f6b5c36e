//! What a warm of the post service's cold cache fills ([`shared::warm`],
//! ADR 0030): the first pages of up to [`WARM_AUTHORS`] authors' posts.

use crate::store;
use shared::ApiResult;
use shared::db::Db;
use shared::post::Post;

/// The most authors one warm fills: a bound on the work and on the cache's
/// size, not a count any test graph reaches.
const WARM_AUTHORS: i64 = 10_000;

/// The authors of posts, for [`shared::warm::on_miss`].
pub struct Authors;

impl shared::warm::Warm for Authors {
    fn service(&self) -> &'static str {
        "post"
    }

    fn scopes(&self, db: &Db) -> ApiResult<Vec<String>> {
        store::authors_to_warm(db, WARM_AUTHORS)
    }

    fn first_posts(
        &self,
        db: &Db,
        authors: &[&str],
        fetch: i64,
    ) -> ApiResult<Vec<(String, Vec<Post>)>> {
        store::first_pages(db, authors, fetch)
    }
}
