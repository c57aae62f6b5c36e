//! The home feed.

use crate::domain::{PostId, UserId};
use crate::{store, warm};
use shared::auth::{Authenticated, authenticate_cached};
use shared::cache::{CachedPage, items_to_hold, page_in, page_key};
use shared::paging::{PageRequest, page};
use shared::{ApiError, ApiResult};
use spin_sdk::http::{Params, Request};

// GET /feed
/// A page of the caller's home timeline, newest first: one indexed read of
/// the timeline joined to the feed's own copies of the posts. First pages
/// are served from the key-value cache when they can be, read in the same
/// call as the token's entries, so a repeat read is one key-value read.
pub async fn home(req: Request, _params: Params) -> ApiResult {
    let cache = store::cache();
    let mut unconfirmed = authenticate_cached(&req, cache.as_ref(), store::open, |subject| {
        vec![page_key(subject)]
    })
    .await?;
    let user = UserId::parse(&unconfirmed.user().id)
        .map_err(|_| ApiError::Unauthorized("token subject is not a user id".into()))?;
    let page_req = PageRequest::from_request(&req)?;
    let before = page_req
        .after
        .as_deref()
        .map(PostId::parse)
        .transpose()
        .map_err(|_| ApiError::BadRequest("invalid cursor".into()))?;
    // First pages come from the cache. On a cold cache, every reader's is
    // filled at once, or is being filled (ADR 0030), with the readers'
    // cut-offs: so the token is confirmed after, not before.
    let first_page_cache = cache.as_ref().filter(|_| before.is_none());
    let ready = first_page_cache.and_then(|cache| {
        unconfirmed
            .take_found(&page_key(user.as_str()))
            .and_then(|value| page_in(&value))
            .filter(|cached| cached.serves(&page_req))
            .or_else(|| {
                shared::warm::on_miss(cache, user.as_str(), &warm::Readers, store::open)
                    .filter(|warmed| warmed.serves(&page_req))
            })
    });
    let Authenticated { db, .. } = unconfirmed.confirm(cache.as_ref(), store::open)?;
    if let Some(page) = ready {
        return Ok(page.respond(&req, &page_req));
    }
    let db = match db {
        Some(db) => db,
        None => store::open()?,
    };
    let Some(cache) = first_page_cache else {
        let pulled = store::pull_authors_followed(&db, &user)?;
        let posts = store::timeline_page(&db, &user, before.as_ref(), page_req.fetch(), &pulled)?;
        return Ok(page(&req, &page_req, posts, |p| p.id.clone()));
    };
    // Claimed before anything is read: a change committed later reaches the
    // claim, so what is stored is never older than the timeline.
    let claim = cache.claim_page(user.as_str());
    let pulled = store::pull_authors_followed(&db, &user)?;
    let held = items_to_hold(&page_req);
    let posts = store::timeline_page(&db, &user, None, held as i64 + 1, &pulled)?;
    let first = CachedPage::from_rows(&posts, held, |p| p.id.clone());
    // A pulled post reaches no reader's page, so a reader of pulled posts is
    // not cached (the claim left behind is only a miss, and expires).
    if let Some(claim) = claim.filter(|_| pulled.is_empty()) {
        cache.fill(claim, &first);
    }
    Ok(first.respond(&req, &page_req))
}
