//! End-to-end tests: every route and error, through the real `.wasm`, in both
//! deployment modes (one application; three instances on three ports), in the
//! embedded host or, with `SPIN=/path/to/spin`, under real Spin.

mod helpers;
mod runtime;

mod bad_input;
mod contract;
mod feed;
mod post;
mod ratelimits;
mod resilience;
mod scenario;
mod security;
mod tokens;
mod user;
