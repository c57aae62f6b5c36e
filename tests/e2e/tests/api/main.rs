//! End-to-end tests: every route and error, through the real `.wasm`, in both
//! deployment modes (one application; three instances on three ports), in the
//! embedded host or, with `SPIN=/path/to/spin`, under real Spin. Under Spin,
//! `STORES=libsql` puts the stores on libSQL servers and Redis, and
//! `REPLICAS=2` runs two instances of everything on them (see `stores` and
//! `helpers`).

mod helpers;
mod runtime;
mod stores;

mod bad_input;
mod contract;
mod feed;
mod post;
mod ratelimits;
mod replicas;
mod request_ids;
mod resilience;
mod scenario;
mod security;
mod tokens;
mod user;
mod web;
