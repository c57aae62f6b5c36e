//! What a warm of the post service's cold cache fills ([`shared::warm`],
//! ADR 0030): the first pages of up to [`WARM_AUTHORS`] authors' posts.

use crate::store;
use shared::ApiResult;
use shared::cache::{CachedPage, items_to_hold};
use shared::db::Db;
use shared::paging::{DEFAULT_LIMIT, PageRequest};

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

    /// The pages a first-page read with the default limit would cache.
    fn pages(&self, db: &Db, authors: &[&str]) -> ApiResult<Vec<(String, CachedPage)>> {
        let held = items_to_hold(&PageRequest {
            limit: DEFAULT_LIMIT,
            after: None,
        });
        Ok(store::first_pages(db, authors, held as i64 + 1)?
            .into_iter()
            .map(|(author, posts)| {
                let page = CachedPage::from_rows(&posts, held, |p| p.id.clone());
                (author, page)
            })
            .collect())
    }
}
