//! Likes: one per user and post; counts change in the same transaction.

use super::{ensure_active, not_found, path_post_id};
use crate::{events, store};
use shared::ApiResult;
use shared::auth::authenticate;
use shared::http::no_content;
use spin_sdk::http::{Params, Request};

// PUT /posts/{id}/like
/// Likes a post; liking again changes nothing. 404 for an unknown post.
pub async fn like(req: Request, params: Params) -> ApiResult {
    set_like(req, params, true).await
}

// DELETE /posts/{id}/like
/// Takes a like back; without one it changes nothing. 404 for an unknown post.
pub async fn unlike(req: Request, params: Params) -> ApiResult {
    set_like(req, params, false).await
}

/// Likes or unlikes, queues the new counts for the feed and forgets the
/// author's cached first page.
async fn set_like(req: Request, params: Params, liked: bool) -> ApiResult {
    let db = store::open()?;
    let caller = authenticate(&req, &db).await?;
    let id = path_post_id(&params)?;
    if liked {
        crate::limits::LIKES.hit(&db, &caller.id)?;
    }
    let counts = db.transaction(|db| {
        ensure_active(db, &caller)?;
        if !store::exists(db, &id)? {
            return Err(not_found());
        }
        let counts = store::set_like(db, &id, &caller.id, liked)?;
        events::queue_counts(db, counts.as_ref())?;
        Ok(counts)
    })?;
    store::forget_pages(counts.as_ref().map(|c| c.author_username.as_str()));
    Ok(no_content())
}
