//! Liveness of the service and its store.

use crate::store;
use shared::ApiResult;
use spin_sdk::http::{Params, Request};

// GET /health/post
/// 200 when the store answers, with the number of undelivered events;
/// 503 `degraded` when it does not.
pub async fn health(_req: Request, _params: Params) -> ApiResult {
    Ok(shared::ops::health("post", store::open))
}
