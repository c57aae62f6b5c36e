//! Logging in, changing the password, and publishing the key that
//! verifies tokens.

use super::caller;
use crate::domain::{Password, User, Username};
use crate::limits::{FAILED_LOGINS_PER_ADDRESS, FAILED_LOGINS_PER_USER};
use crate::{events, keys, password, store};
use serde::{Deserialize, Serialize};
use shared::auth::{AuthUser, Jwk, JwkSet, sign};
use shared::db::Db;
use shared::http::{json, json_body};
use shared::outbox::{Service, enqueue};
use shared::ratelimit::client_address;
use shared::{ApiError, ApiResult};
use spin_sdk::http::{Params, Request};

/// The token lifetime when `token_ttl_seconds` is unset or unreadable.
const DEFAULT_TTL_SECS: u64 = 86_400;

/// The body of `POST /auth/login`.
#[derive(Debug, Deserialize)]
struct Login {
    username: Option<String>,
    password: Option<String>,
}

#[derive(Serialize)]
struct LoginResponse {
    token: String,
    token_type: &'static str,
    expires_in: u64,
    user: crate::domain::User,
}

fn token_ttl() -> u64 {
    spin_sdk::variables::get("token_ttl_seconds")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_TTL_SECS)
}

// POST /auth/login
/// Issues a token for a correct username and password. Unknown users and
/// wrong passwords get the same 401, after the same amount of hashing.
pub async fn login(req: Request, _params: Params) -> ApiResult {
    let input: Login = json_body(&req)?;
    let username = input
        .username
        .ok_or_else(|| ApiError::validation("username", "is required"))?;
    let raw_password = input
        .password
        .ok_or_else(|| ApiError::validation("password", "is required"))?;
    let iterations = password::configured_iterations();
    let db = store::open()?;
    // Guessing stops before any hashing once either limit is reached.
    let address = client_address(&req);
    let account = username.to_lowercase();
    FAILED_LOGINS_PER_USER.check_or_grow(&db, &account)?;
    FAILED_LOGINS_PER_ADDRESS.check_or_grow(&db, &address)?;
    let failed = |db: &Db| -> ApiResult {
        FAILED_LOGINS_PER_USER.hit(db, &account)?;
        FAILED_LOGINS_PER_ADDRESS.hit(db, &address)?;
        Err(ApiError::InvalidCredentials)
    };
    let found = match Username::lookup(&username) {
        Some(name) => store::credentials(&db, &name)?,
        None => None,
    };
    let Some((user, stored)) = found else {
        password::dummy_verify(raw_password.as_bytes(), iterations);
        return failed(&db);
    };
    if !password::verify(raw_password.as_bytes(), &stored.password_hash) {
        return failed(&db);
    }
    FAILED_LOGINS_PER_USER.forget(&db, &account);
    issue_token(&db, user, stored.version)
}

/// The body of `PUT /users/me/password`.
#[derive(Debug, Deserialize)]
struct ChangePassword {
    current_password: Option<String>,
    new_password: Option<String>,
}

// PUT /users/me/password
/// Changes the caller's password, given the current one. Every token issued
/// before stops working: here at once, in the post and feed services within
/// seconds (credentials-changed). Answers like a login, with a new token,
/// so the client that made the change stays signed in.
pub async fn change_password(req: Request, _params: Params) -> ApiResult {
    let db = store::open()?;
    let me = caller(&req, &db)?;
    let input: ChangePassword = json_body(&req)?;
    let current = input
        .current_password
        .ok_or_else(|| ApiError::validation("current_password", "is required"))?;
    let new = Password::parse_field(
        input
            .new_password
            .ok_or_else(|| ApiError::validation("new_password", "is required"))?,
        "new_password",
    )?;
    let stored = store::credentials_of(&db, &me.id)?.ok_or_else(gone)?;
    if !password::verify(current.as_bytes(), &stored.password_hash) {
        return Err(ApiError::validation("current_password", "is not correct"));
    }
    let hash =
        password::hash(&new, password::configured_iterations()).map_err(ApiError::Internal)?;
    let version = db.transaction(|db| {
        let version = store::change_password(db, &me.id, &hash)?.ok_or_else(gone)?;
        let event = events::credentials_changed(&me.id, version);
        enqueue(db, Service::Post, &event)?;
        enqueue(db, Service::Feed, &event)?;
        Ok(version)
    })?;
    let user = store::user_by_id(&db, &me.id)?.ok_or_else(gone)?;
    issue_token(&db, user, version)
}

fn gone() -> ApiError {
    ApiError::Unauthorized("this account no longer exists".into())
}

/// The login response: a token for `user` under credentials `version`.
fn issue_token(db: &Db, user: User, version: i64) -> ApiResult {
    let ttl = token_ttl();
    let token = sign(
        &keys::signing_key(db)?,
        &AuthUser {
            id: user.id.clone(),
            username: user.username.clone(),
            version,
        },
        ttl,
    )?;
    Ok(json(
        200,
        &LoginResponse {
            token,
            token_type: "Bearer",
            expires_in: ttl,
            user,
        },
    ))
}

// GET /auth/jwks
/// The public key set that verifies tokens (the current key).
pub async fn jwks(_req: Request, _params: Params) -> ApiResult {
    let db = store::open()?;
    let public = keys::signing_key(&db)?.public_key();
    let kid = keys::key_id(&public);
    Ok(json(
        200,
        &JwkSet {
            keys: vec![Jwk::from_public_key(&kid, &public)],
        },
    ))
}
