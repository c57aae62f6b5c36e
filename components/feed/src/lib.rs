//! The feed service: materialised home timelines.
//!
//! Timelines are built from the events the user and post services send
//! (`POST /internal/feed/events`) and read with `GET /feed` from the feed's
//! own store, which keeps a copy of every post it may show.

pub mod domain;
pub mod events;
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
    let mut router = shared::http::Routes::new(shared::outbox::Service::Feed);
    router.get_async("/feed", routes::feed::home);
    router.get_async("/health/feed", routes::health::health);
    router.post_async("/internal/feed/events", routes::internal::receive_events);
    // The same, from inside the application (no public route; see
    // `shared::auth::CHAINED_PREFIX`).
    router.post_async("/chained/feed/events", routes::internal::receive_events);
    router.post_async(
        "/internal/feed/outbox/flush",
        routes::internal::flush_outbox,
    );
    shared::http::serve(req, out, &router, || {
        shared::outbox::deliver_after(store::open)
    })
    .await;
}
