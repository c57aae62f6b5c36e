//! Following and unfollowing.

use super::{caller, not_found, path_username};
use crate::{events, store};
use shared::http::no_content;
use shared::ids::new_id;
use shared::outbox::{Service, enqueue};
use shared::{ApiError, ApiResult};
use spin_sdk::http::{Params, Request};

// PUT /users/me/following/{username}
/// Follows a user; following again changes nothing. follow-created goes to
/// the feed only when a follow was actually added. 404 for an unknown
/// user, 422 for the caller themself.
pub async fn follow(req: Request, params: Params) -> ApiResult {
    let db = store::open()?;
    let me = caller(&req, &db)?;
    let username = path_username(&params)?;
    crate::limits::FOLLOWS.hit(&db, &me.id)?;
    db.transaction(|db| {
        let target = store::user_id(db, &username)?.ok_or_else(not_found)?;
        if target == me.id {
            return Err(ApiError::validation(
                "username",
                "you cannot follow yourself",
            ));
        }
        if !store::user_exists(db, &me.id)? {
            return Err(ApiError::Unauthorized(
                "this account no longer exists".into(),
            ));
        }
        if store::follow(db, &me.id, &target, &new_id())? {
            enqueue(db, Service::Feed, &events::follow_created(&me.id, &target))?;
        }
        Ok(())
    })?;
    Ok(no_content())
}

// DELETE /users/me/following/{username}
/// Unfollows a user; without a follow it changes nothing. follow-deleted
/// goes to the feed only when a follow was removed. 404 for an unknown user.
pub async fn unfollow(req: Request, params: Params) -> ApiResult {
    let db = store::open()?;
    let me = caller(&req, &db)?;
    let username = path_username(&params)?;
    db.transaction(|db| {
        let target = store::user_id(db, &username)?.ok_or_else(not_found)?;
        if store::unfollow(db, &me.id, &target)? {
            enqueue(db, Service::Feed, &events::follow_deleted(&me.id, &target))?;
        }
        Ok(())
    })?;
    Ok(no_content())
}
