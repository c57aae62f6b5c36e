//! Routes for the other services and the scheduler (service credential only).

use crate::{events, store};
use shared::ApiResult;
use shared::auth::require_service;
use shared::http::{json_body, no_content};
use spin_sdk::http::{Params, Request};

// POST /internal/user/events
/// Accepts a batch of events; none change user state today, so after
/// checking the credential and the body this acknowledges them.
pub async fn receive_events(req: Request, _params: Params) -> ApiResult {
    require_service(&req)?;
    let batch: events::IncomingBatch = json_body(&req)?;
    shared::trace::note_events(&batch.events);
    events::apply_batch(batch);
    Ok(no_content())
}

// POST /internal/user/outbox/flush
/// Delivers every queued event now, ignoring backoff, and reports.
pub async fn flush_outbox(req: Request, _params: Params) -> ApiResult {
    shared::ops::flush(&req, store::open, store::KEPT).await
}
