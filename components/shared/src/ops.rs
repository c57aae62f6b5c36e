//! The operations routes every service exposes the same way: health and the
//! outbox flush a scheduler calls.

use crate::db::Db;
use crate::outbox::pending;
use crate::retention::{Kept, prune};
use crate::{ApiResult, auth, http};
use serde_json::json;
use spin_sdk::http::{Request, Response};

/// `GET /health/<service>`: 200 when the store answers, with the number of
/// undelivered events, which it then sends after the response; 503
/// `degraded` when the store does not answer, and 503 `misconfigured` when
/// the services run apart on the default credential.
pub fn health(service: &str, open: impl FnOnce() -> ApiResult<Db>) -> Response {
    if let Some(reason) = crate::outbox::misconfiguration() {
        return http::json(
            503,
            &json!({"status": "misconfigured", "service": service, "reason": reason}),
        );
    }
    let db = open().ok().filter(Db::ping);
    let undelivered = db.as_ref().and_then(|db| pending(db).ok());
    if let Some(db) = db.as_ref().filter(|_| undelivered.is_some_and(|n| n > 0)) {
        // Nothing else delivers once writes stop; a probe or a scheduler
        // calling this route does.
        let _ = crate::outbox::deliver_pending_after_response(db);
    }
    match undelivered {
        Some(n) => http::json(
            200,
            &json!({"status": "ok", "service": service, "store": "ok", "undelivered_events": n}),
        ),
        None => http::json(
            503,
            &json!({"status": "degraded", "service": service, "store": "error", "undelivered_events": null}),
        ),
    }
}

/// `POST /internal/<service>/outbox/flush`: for service callers only,
/// delivers every queued event now, ignoring backoff, forgets the records
/// of `kept` older than the retention, and reports both.
pub async fn flush(
    req: &Request,
    open: impl FnOnce() -> ApiResult<Db>,
    kept: &[Kept],
) -> ApiResult {
    auth::require_service(req)?;
    let db = open()?;
    let report = crate::outbox::flush(&db).await?;
    let pruned = prune(&db, kept)?;
    let mut body = serde_json::to_value(report).map_err(anyhow::Error::from)?;
    body["pruned"] = json!(pruned);
    Ok(http::json(200, &body))
}
