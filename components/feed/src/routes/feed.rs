//! The home feed.

use crate::domain::{PostId, UserId};
use crate::{posts, store};
use shared::auth::authenticate;
use shared::paging::{PageRequest, page_response};
use shared::{ApiError, ApiResult};
use spin_sdk::http::{Params, Request};

// GET /feed
/// A page of the caller's home timeline, newest first: one indexed read of
/// the timeline, then one call to the post service for the Posts.
pub async fn home(req: Request, _params: Params) -> ApiResult {
    let db = store::open()?;
    let caller = authenticate(&req, &db).await?;
    let user = UserId::parse(&caller.id)
        .map_err(|_| ApiError::Unauthorized("token subject is not a user id".into()))?;
    let page = PageRequest::from_request(&req)?;
    let before = page
        .after
        .as_deref()
        .map(PostId::parse)
        .transpose()
        .map_err(|_| ApiError::BadRequest("invalid cursor".into()))?;
    let mut ids = store::timeline_page(&db, &user, before.as_ref(), page.fetch())?;
    let next = next_key(&mut ids, page.limit);
    let items = posts::hydrate(&ids).await?;
    Ok(page_response(&req, items, next.as_deref()))
}

/// Cuts the fetched `limit + 1` ids to `limit` and returns the key the next
/// page continues after. The key is the last timeline id read, not the last
/// Post returned, so ids the post service drops never end paging early.
fn next_key(ids: &mut Vec<String>, limit: usize) -> Option<String> {
    let more = ids.len() > limit;
    ids.truncate(limit);
    if more { ids.last().cloned() } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("id{i}")).collect()
    }

    #[test]
    fn a_full_page_plus_one_has_a_next_key_at_the_last_kept_id() {
        let mut fetched = ids(4);
        assert_eq!(next_key(&mut fetched, 3).as_deref(), Some("id2"));
        assert_eq!(fetched, ids(3));
    }

    #[test]
    fn the_last_page_has_no_next_key() {
        for n in [0, 2, 3] {
            let mut fetched = ids(n);
            assert_eq!(next_key(&mut fetched, 3), None, "{n} fetched");
            assert_eq!(fetched.len(), n);
        }
    }
}
