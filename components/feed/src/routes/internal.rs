//! Routes for the other services and the scheduler (service credential only).

use crate::{events, store};
use shared::ApiResult;
use shared::auth::require_service;
use shared::http::{json_body, no_content};
use spin_sdk::http::{Params, Request};

// POST /internal/feed/events
/// Applies a batch of events idempotently; 204 once all are applied.
pub async fn receive_events(req: Request, _params: Params) -> ApiResult {
    require_service(&req)?;
    let batch: events::IncomingBatch = json_body(&req)?;
    shared::trace::note_events(&batch.events);
    let db = store::open_for_batch()?;
    let applied = events::apply_batch(&db, batch, store::fanout_limit())?;
    db.checkpoint_before_close();
    shared::retention::prune(&db, store::KEPT)?;
    if let Some(cache) = store::cache() {
        shared::auth::forget_cut_offs(&cache, &applied.cut_off);
        if applied.posts.is_empty() {
            cache.forget_all(&applied.dropped);
        } else {
            // New posts go into the pages in place, so that readers keep
            // hitting under a stream of posts.
            cache.update(
                &db,
                &applied.dropped,
                |db| store::timeline_readers(db, &applied.posts),
                |db, readers| store::timeline_items(db, &applied.posts, readers),
            );
        }
    }
    Ok(no_content())
}

// POST /internal/feed/outbox/flush
/// Delivers every queued event now, ignoring backoff, and reports.
pub async fn flush_outbox(req: Request, _params: Params) -> ApiResult {
    shared::ops::flush(&req, store::open, store::KEPT).await
}
