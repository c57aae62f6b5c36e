//! Accounts and profiles, and the pages of followers and following.

use super::{caller, cursor_follow_id, not_found, path_username};
use crate::domain::{Bio, DisplayName, Password, Username};
use crate::store::{self, Direction, NewUser};
use crate::{events, limits, password};
use serde::Deserialize;
use shared::http::{json, json_body, no_content, request_url};
use shared::ids::{new_id, now_millis};
use shared::outbox::{Service, enqueue};
use shared::paging::{PageRequest, page};
use shared::ratelimit::client_address;
use shared::{ApiError, ApiResult};
use spin_sdk::http::{Params, Request};

/// The body of `POST /users`; fields are optional so a missing one is a
/// 422 naming it rather than a 400.
#[derive(Debug, Deserialize)]
struct Register {
    username: Option<String>,
    password: Option<String>,
    display_name: Option<String>,
    bio: Option<String>,
}

/// The body of `PATCH /users/me`.
#[derive(Debug, Deserialize)]
struct UpdateProfile {
    display_name: Option<String>,
    bio: Option<String>,
}

// POST /users
/// Creates an account: 201 with the User and its `Location`; 409 when the
/// username is taken (in any case).
pub async fn register(req: Request, _params: Params) -> ApiResult {
    let input: Register = json_body(&req)?;
    let username = Username::parse(
        &input
            .username
            .ok_or_else(|| ApiError::validation("username", "is required"))?,
    )?;
    let password = Password::parse(
        input
            .password
            .ok_or_else(|| ApiError::validation("password", "is required"))?,
    )?;
    let display_name = match input.display_name {
        Some(raw) => DisplayName::parse(raw)?,
        None => DisplayName::from_username(&username),
    };
    let bio = input.bio.map(Bio::parse).transpose()?.unwrap_or_default();
    let db = store::open()?;
    let address = client_address(&req);
    limits::SIGNUPS.check(&db, &address)?;
    // A cheap early answer for a taken name saves the expensive hash; the
    // insert below still decides under the write lock.
    if store::user_id(&db, &username)?.is_some() {
        return Err(ApiError::UsernameTaken);
    }
    let hash =
        password::hash(&password, password::configured_iterations()).map_err(ApiError::Internal)?;
    let id = new_id();
    let user = db.transaction(|db| {
        let inserted = store::insert_user(
            db,
            &NewUser {
                id: &id,
                username: &username,
                password_hash: &hash,
                display_name: &display_name,
                bio: &bio,
                created_ms: now_millis(),
            },
        )?;
        if !inserted {
            return Err(ApiError::UsernameTaken);
        }
        store::user_by_id(db, &id)?
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("inserted user not found")))
    })?;
    limits::SIGNUPS.hit(&db, &address)?;
    let location = format!("/users/{}", user.username);
    let location = request_url(&req)
        .and_then(|base| base.join(&location).ok())
        .map(String::from)
        .unwrap_or(location);
    let mut response = json(201, &user);
    response.set_header("location", location);
    Ok(response)
}

// GET /users/me
/// The caller's own User.
pub async fn me(req: Request, _params: Params) -> ApiResult {
    let db = store::open()?;
    let me = caller(&req, &db)?;
    let user = store::user_by_id(&db, &me.id)?
        .ok_or_else(|| ApiError::Unauthorized("this account no longer exists".into()))?;
    Ok(json(200, &user))
}

// PATCH /users/me
/// Changes the caller's display name and/or bio; 200 with the User.
pub async fn update_me(req: Request, _params: Params) -> ApiResult {
    let db = store::open()?;
    let me = caller(&req, &db)?;
    let input: UpdateProfile = json_body(&req)?;
    let display_name = input.display_name.map(DisplayName::parse).transpose()?;
    let bio = input.bio.map(Bio::parse).transpose()?;
    let user = db.transaction(|db| {
        store::update_profile(db, &me.id, display_name.as_ref(), bio.as_ref())?;
        store::user_by_id(db, &me.id)?
            .ok_or_else(|| ApiError::Unauthorized("this account no longer exists".into()))
    })?;
    Ok(json(200, &user))
}

// DELETE /users/me
/// Deletes the caller's account and its follows, and tells post and feed
/// (user-deleted) so they remove everything it owns.
pub async fn delete_me(req: Request, _params: Params) -> ApiResult {
    let db = store::open()?;
    let me = caller(&req, &db)?;
    db.transaction(|db| {
        if !store::delete_user(db, &me.id)? {
            return Err(ApiError::Unauthorized(
                "this account no longer exists".into(),
            ));
        }
        let event = events::user_deleted(&me.id);
        enqueue(db, Service::Post, &event)?;
        enqueue(db, Service::Feed, &event)
    })?;
    Ok(no_content())
}

// GET /users/{username}
/// A user's public profile; 404 when unknown.
pub async fn get(_req: Request, params: Params) -> ApiResult {
    let username = path_username(&params)?;
    let db = store::open()?;
    let user = store::user_by_username(&db, &username)?.ok_or_else(not_found)?;
    Ok(json(200, &user))
}

// GET /users/{username}/followers
/// A page of the user's followers, newest follow first.
pub async fn followers(req: Request, params: Params) -> ApiResult {
    follow_page(req, params, Direction::Followers)
}

// GET /users/{username}/following
/// A page of the accounts the user follows, newest follow first.
pub async fn following(req: Request, params: Params) -> ApiResult {
    follow_page(req, params, Direction::Following)
}

fn follow_page(req: Request, params: Params, direction: Direction) -> ApiResult {
    let username = path_username(&params)?;
    let page_req = PageRequest::from_request(&req)?;
    let before = cursor_follow_id(page_req.after.as_deref())?;
    let db = store::open()?;
    let id = store::user_id(&db, &username)?.ok_or_else(not_found)?;
    let rows = store::follow_page(&db, &id, direction, before.as_deref(), page_req.fetch())?;
    Ok(page(&req, &page_req, rows, |r| r.follow_id.clone()))
}
