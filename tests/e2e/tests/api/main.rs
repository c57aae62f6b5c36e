//! End-to-end tests: every route and error, through the real `.wasm`, in both
//! deployment modes (one application; three instances on three ports).

mod helpers;

mod feed;
mod post;
mod resilience;
mod scenario;
mod user;
