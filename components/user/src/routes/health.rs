//! Liveness of the service and its store.

use crate::store;
use serde_json::json;
use shared::ApiResult;
use shared::outbox::pending;
use spin_sdk::http::{Params, Request};

// GET /health/user
/// 200 when the store answers, with the number of undelivered events;
/// 503 `degraded` when it does not.
pub async fn health(_req: Request, _params: Params) -> ApiResult {
    let undelivered = store::open()
        .ok()
        .filter(|db| db.ping())
        .and_then(|db| pending(&db).ok());
    Ok(match undelivered {
        Some(n) => shared::http::json(
            200,
            &json!({"status": "ok", "service": "user", "store": "ok", "undelivered_events": n}),
        ),
        None => shared::http::json(
            503,
            &json!({"status": "degraded", "service": "user", "store": "error", "undelivered_events": null}),
        ),
    })
}
