//! One function per route, plus what the authenticated routes share.

pub mod auth;
pub mod follows;
pub mod health;
pub mod internal;
pub mod openapi;
pub mod users;

use crate::domain::Username;
use crate::{keys, store};
use shared::auth::{AuthUser, bearer, token_key_id, verify};
use shared::db::Db;
use shared::{ApiError, ApiResult};
use spin_sdk::http::{Params, Request};

/// The caller of an authenticated route: the bearer token is checked with
/// this service's own public key (no fetch), the account must still exist
/// and the token must be issued under its current credentials, so the
/// tokens of a deleted account, or from before a password change, stop
/// working here at once.
fn caller(req: &Request, db: &Db) -> ApiResult<AuthUser> {
    let token = bearer(req).ok_or_else(|| ApiError::Unauthorized("missing bearer token".into()))?;
    // Rejects other algorithms and garbage before any signature work.
    token_key_id(&token)?;
    let user = verify(&token, &keys::verifying_key(db)?)?;
    match store::credentials_of(db, &user.id)? {
        None => Err(ApiError::Unauthorized(
            "this account no longer exists".into(),
        )),
        Some(c) if user.version < c.version => Err(ApiError::Unauthorized(
            "this token was revoked: the password changed".into(),
        )),
        Some(_) => Ok(user),
    }
}

/// The account named by the `{username}` path segment; 404 when there is
/// none (including names that cannot exist).
fn path_username(params: &Params) -> ApiResult<Username> {
    params
        .get("username")
        .and_then(Username::lookup)
        .ok_or_else(not_found)
}

fn not_found() -> ApiError {
    ApiError::NotFound("no such user".into())
}

/// The page key as a follow id; anything else is a bad cursor.
fn cursor_follow_id(after: Option<&str>) -> ApiResult<Option<String>> {
    after
        .map(|key| {
            shared::ids::is_id(key)
                .then(|| key.to_string())
                .ok_or_else(|| ApiError::BadRequest("invalid cursor".into()))
        })
        .transpose()
}
