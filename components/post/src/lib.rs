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
fn routes() -> shared::http::Routes {
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
    router
}

/// The WASIp3 entry (ADR 0033): Spin reuses the instance, and with it the
/// connections a request leaves, for the requests that follow. Inside one
/// application its events leave through `post-relay` (ADR 0034).
#[cfg(target_arch = "wasm32")]
struct Entry;

#[cfg(target_arch = "wasm32")]
wasip3::http::service::export!(Entry);

#[cfg(target_arch = "wasm32")]
thread_local! {
    /// The routes, built once per instance, which serves many requests.
    static ROUTES: &'static shared::http::Routes = Box::leak(Box::new(routes()));
}

#[cfg(target_arch = "wasm32")]
impl wasip3::exports::http::handler::Guest for Entry {
    async fn handle(
        request: wasip3::http::types::Request,
    ) -> Result<wasip3::http::types::Response, wasip3::http::types::ErrorCode> {
        let routes = ROUTES.with(|routes| *routes);
        shared::http::wasip3::serve(request, routes, || {
            shared::outbox::deliver_after(store::open)
        })
        .await
    }
}
