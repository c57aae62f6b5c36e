//! The host's own tests: the fixture component, built for wasm32-wasip2,
//! run through every host interface. One binary, so one engine and one
//! compilation of the fixture serve every test.

mod helpers;

mod cli;

mod key_value;
mod lifecycle;
mod outbound;
mod routing;
mod selective;
mod sqlite;
mod variables;
mod wasip3;
