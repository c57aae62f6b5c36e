//! One function per route.

pub mod feed;
pub mod health;
pub mod internal;
