//! The post service: posts, replies, likes and user timelines.
//!
//! Every change is one SQLite transaction that also queues the events the
//! feed needs (post-created, post-deleted); they are delivered after the
//! response. Posts carry exact like and reply counters, kept in the same
//! transactions, so every read is one indexed query.

pub mod domain;
pub mod events;
pub mod limits;
pub mod routes;
pub mod store;
pub mod warm;

#[cfg(target_arch = "wasm32")]
use spin_sdk::http::{IncomingRequest, ResponseOutparam};

// Only for wasm: the export's `wasi:http/...` symbol name cannot be linked
// into the native library that unit tests build.
#[cfg(target_arch = "wasm32")]
#[spin_sdk::http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    use routes::{health, internal, likes, posts};
    let mut router = shared::http::Routes::new(shared::outbox::Service::Post);
    router.post_async("/posts", posts::create);
    router.get_async("/posts", posts::by_author);
    router.get_async("/posts/:id", posts::get);
    router.delete_async("/posts/:id", posts::delete);
    router.get_async("/posts/:id/replies", posts::replies);
    router.put_async("/posts/:id/like", likes::like);
    router.delete_async("/posts/:id/like", likes::unlike);
    router.get_async("/health/post", health::health);
    router.post_async("/internal/post/events", internal::receive_events);
    // The same, from inside the application (no public route; see
    // `shared::auth::CHAINED_PREFIX`).
    router.post_async("/chained/post/events", internal::receive_events);
    router.post_async("/internal/post/outbox/flush", internal::flush_outbox);
    router.get_async("/internal/post/posts", internal::by_ids);
    shared::http::serve(req, out, &router, || {
        shared::outbox::deliver_after(store::open)
    })
    .await;
}
