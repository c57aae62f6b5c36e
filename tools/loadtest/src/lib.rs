//! A benchmark and consistency checker for the social network, for any
//! deployment reachable over `http://` (one Spin app, three instances, or a
//! cloud app behind a local TLS-terminating proxy).
//!
//! - `seed` creates a DeathStarBench-sized social graph through the public
//!   API (socfb-Reed98 from an edge list, or a generated graph of the same
//!   size and degree shape) and keeps what it made in a state file.
//! - `run` measures workloads (hello, feed, timeline, compose, mix)
//!   closed-loop and open-loop, with latencies in HdrHistograms; open-loop
//!   latency is measured from each request's intended send time, so a
//!   server that falls behind cannot hide its queueing (no coordinated
//!   omission).
//! - `verify` checks every post reached its author's and every follower's
//!   feed exactly once; `health` shows the services' undelivered events.
//! - `celebrity` compares posting as someone with many followers with
//!   posting as someone with none, and checks the fan-out.
//!
//! Why its own small client and not reqwest or goose: the load generator
//! shares a 2-core machine with the server under test, so it must cost as
//! little CPU per request as possible and leave nothing between the timer
//! and the socket. A hyper `client::conn::http1` connection per worker,
//! one request in flight, does exactly that, and the workspace already
//! builds hyper; reqwest would add its pool, TLS stack and a long build,
//! and goose a whole framework with its own scheduler and reports (its
//! closed-loop users also cannot express an open-loop schedule). The only
//! new dependency is `hdrhistogram`, the latency histogram wrk2 uses.
//!
//! Modules: [`graph`] (edge lists and the generator), [`client`] (HTTP/1.1
//! connections), [`api`] (the app's routes), [`state`] (the state file),
//! [`parallel`] (set-up calls with a fixed concurrency), [`seed`],
//! [`load`] (closed and open loops), [`run`], [`report`] (table and JSON),
//! [`verify`], [`celebrity`] and [`rng`] (a seeded generator).

pub mod api;
pub mod celebrity;
pub mod client;
pub mod graph;
pub mod load;
pub mod parallel;
pub mod report;
pub mod rng;
pub mod run;
pub mod seed;
pub mod state;
pub mod verify;
