//! The user service: accounts, authentication, profiles and the follow graph.
//!
//! It alone holds the token signing key; post and feed verify tokens with
//! the public key it publishes at `/auth/jwks`. Follows and account
//! deletions are written with their events (to the feed, and to post for
//! deletions) in one SQLite transaction and delivered after the response.

pub mod domain;
pub mod events;
pub mod keys;
pub mod limits;
pub mod password;
pub mod routes;
pub mod store;

#[cfg(target_arch = "wasm32")]
use spin_sdk::http::{IncomingRequest, ResponseOutparam};

// Only for wasm: the export's `wasi:http/...` symbol name cannot be linked
// into the native library that unit tests build.
#[cfg(target_arch = "wasm32")]
#[spin_sdk::http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    use routes::{auth, follows, health, internal, openapi, users};
    let mut router = shared::http::Routes::new(shared::outbox::Service::User);
    router.post_async("/users", users::register);
    router.post_async("/auth/login", auth::login);
    router.get_async("/auth/jwks", auth::jwks);
    router.get_async("/users/me", users::me);
    router.patch_async("/users/me", users::update_me);
    router.delete_async("/users/me", users::delete_me);
    router.put_async("/users/me/password", auth::change_password);
    router.get_async("/users/:username", users::get);
    router.put_async("/users/me/following/:username", follows::follow);
    router.delete_async("/users/me/following/:username", follows::unfollow);
    router.get_async("/users/:username/followers", users::followers);
    router.get_async("/users/:username/following", users::following);
    router.get_async("/health/user", health::health);
    router.get_async("/openapi.json", openapi::openapi);
    router.post_async("/internal/user/events", internal::receive_events);
    // The same, from inside the application (no public route; see
    // `shared::auth::CHAINED_PREFIX`).
    router.post_async("/chained/user/events", internal::receive_events);
    router.post_async("/internal/user/outbox/flush", internal::flush_outbox);
    shared::http::serve(req, out, &router, || {
        shared::outbox::deliver_after(store::open)
    })
    .await;
}
