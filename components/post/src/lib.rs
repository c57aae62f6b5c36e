//! The post service: posts, replies, likes and user timelines.
//!
//! Every change is one SQLite transaction that also queues the events the
//! feed needs (post-created, post-deleted); they are delivered after the
//! response. Posts carry exact like and reply counters, kept in the same
//! transactions, so every read is one indexed query.

pub mod domain;
pub mod events;
pub mod routes;
pub mod store;

use spin_sdk::http::Method;
#[cfg(target_arch = "wasm32")]
use spin_sdk::http::{IncomingRequest, ResponseOutparam, Router};

// Only for wasm: the export's `wasi:http/...` symbol name cannot be linked
// into the native library that unit tests build.
#[cfg(target_arch = "wasm32")]
#[spin_sdk::http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    use routes::{health, internal, likes, posts};
    let mut router = Router::new();
    router.post_async("/posts", posts::create);
    router.get_async("/posts", posts::by_author);
    router.get_async("/posts/:id", posts::get);
    router.delete_async("/posts/:id", posts::delete);
    router.get_async("/posts/:id/replies", posts::replies);
    router.put_async("/posts/:id/like", likes::like);
    router.delete_async("/posts/:id/like", likes::unlike);
    router.get_async("/health/post", health::health);
    router.post_async("/internal/post/events", internal::receive_events);
    router.post_async("/internal/post/outbox/flush", internal::flush_outbox);
    router.get_async("/internal/post/posts", internal::by_ids);
    shared::http::serve(req, out, &router, after_response).await;
}

/// After the response to a write: deliver the events it queued (and any
/// whose retry time has come). A cheap count skips the write lock when
/// nothing is queued.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
async fn after_response(method: Method) {
    if method == Method::Get {
        return;
    }
    let Ok(db) = store::open() else { return };
    if shared::outbox::pending(&db).is_ok_and(|n| n > 0)
        && let Err(e) = shared::outbox::deliver(&db, shared::outbox::Due::Now).await
    {
        eprintln!("post: outbox delivery failed: {e}");
    }
}
