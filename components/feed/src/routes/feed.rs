//! The home feed.

use crate::domain::{PostId, UserId};
use crate::store;
use shared::auth::authenticate;
use shared::paging::{PageRequest, page};
use shared::{ApiError, ApiResult};
use spin_sdk::http::{Params, Request};

// GET /feed
/// A page of the caller's home timeline, newest first: one indexed read of
/// the timeline joined to the feed's own copies of the posts.
pub async fn home(req: Request, _params: Params) -> ApiResult {
    let db = store::open()?;
    let caller = authenticate(&req, &db).await?;
    let user = UserId::parse(&caller.id)
        .map_err(|_| ApiError::Unauthorized("token subject is not a user id".into()))?;
    let page_req = PageRequest::from_request(&req)?;
    let before = page_req
        .after
        .as_deref()
        .map(PostId::parse)
        .transpose()
        .map_err(|_| ApiError::BadRequest("invalid cursor".into()))?;
    let posts = store::timeline_page(&db, &user, before.as_ref(), page_req.fetch())?;
    Ok(page(&req, &page_req, posts, |p| p.id.clone()))
}
