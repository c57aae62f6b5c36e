//! Logging in and publishing the key that verifies tokens.

use crate::domain::Username;
use crate::{keys, password, store};
use serde::{Deserialize, Serialize};
use shared::auth::{AuthUser, Jwk, JwkSet, sign};
use shared::http::{json, json_body};
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
    let found = match Username::lookup(&username) {
        Some(name) => store::credentials(&db, &name)?,
        None => None,
    };
    let Some((user, stored)) = found else {
        password::dummy_verify(raw_password.as_bytes(), iterations);
        return Err(ApiError::InvalidCredentials);
    };
    if !password::verify(raw_password.as_bytes(), &stored) {
        return Err(ApiError::InvalidCredentials);
    }
    let ttl = token_ttl();
    let token = sign(
        &keys::signing_key(&db)?,
        &AuthUser {
            id: user.id.clone(),
            username: user.username.clone(),
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
