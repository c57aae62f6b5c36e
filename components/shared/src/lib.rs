//! What the user, post and feed services truly share. The web client's
//! component uses its request ids ([`trace`]), response writer and errors.
//!
//! - [`events`]: the inter-service contract, generated from `wit/events.wit`.
//! - [`error`]: the public error shape and its status codes.
//! - [`http`]: JSON bodies, query strings, the request entry point.
//! - [`paging`]: `?limit=` / `?cursor=` and page bodies with `Link` headers.
//! - [`cache`]: hot first pages in the service's key-value store.
//! - [`warm`]: filling a cold cache's first pages in bulk, by the requests that miss.
//! - [`auth`]: bearer tokens (Ed25519 JWTs) and the service credential.
//! - [`db`]: SQLite helpers, transactions and versioned migrations.
//! - [`outbox`]: durable, retried, fire-and-forget event delivery.
//! - [`relay`]: how a WASIp3 instance reaches its own application (ADR 0034).
//! - [`ops`]: the health and outbox-flush routes every service exposes.
//! - [`retention`]: forgetting applied-event ids and tombstones after a while.
//! - [`ratelimit`]: limits per user and per client address, shared by instances.
//! - [`trace`]: request ids, carried between services, and one log line per request.
//! - [`ids`]: time-sortable ids and timestamps.
//! - [`post`]: the public Post, served by the post service and the feed.
//! - [`text`]: rules every free-text field shares.

pub mod auth;
pub mod cache;
pub mod db;
pub mod error;
pub mod events;
pub mod http;
pub mod ids;
pub mod ops;
pub mod outbox;
pub mod paging;
pub mod post;
pub mod ratelimit;
pub mod relay;
pub mod retention;
pub mod text;
pub mod trace;
pub mod warm;

pub use error::ApiError;

/// The result type of every handler.
pub type ApiResult<T = spin_sdk::http::Response> = Result<T, ApiError>;
