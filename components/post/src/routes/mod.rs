//! One function per route, plus what the write routes share.

pub mod health;
pub mod internal;
pub mod likes;
pub mod posts;

use crate::domain::PostId;
use crate::store;
use shared::auth::AuthUser;
use shared::db::Db;
use shared::{ApiError, ApiResult};
use spin_sdk::http::Params;

/// 401 for an account deleted in the user service: its tokens stay valid
/// until they expire, but must not write again. Writes call this inside
/// their transaction, so a deletion applied meanwhile wins.
fn ensure_active(db: &Db, caller: &AuthUser) -> ApiResult<()> {
    if store::is_deleted_user(db, &caller.id)? {
        return Err(deleted_account());
    }
    Ok(())
}

/// The error for a caller whose account was deleted after its token was
/// issued.
fn deleted_account() -> ApiError {
    ApiError::Unauthorized("this account has been deleted".into())
}

/// The `{id}` of the path; anything that cannot be an id names no post.
fn path_post_id(params: &Params) -> ApiResult<PostId> {
    params
        .get("id")
        .and_then(PostId::parse)
        .ok_or_else(not_found)
}

fn not_found() -> ApiError {
    ApiError::NotFound("no such post".into())
}

/// The page's continuation key as a post id; anything else is a bad cursor.
fn cursor_post_id(after: Option<&str>) -> ApiResult<Option<PostId>> {
    after
        .map(|key| PostId::parse(key).ok_or_else(|| ApiError::BadRequest("invalid cursor".into())))
        .transpose()
}
