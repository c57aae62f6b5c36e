//! End-to-end tests of the social network live in `tests/api`: they run the
//! real user, post and feed components in the embedded host, as one
//! application and as three instances on three ports.
