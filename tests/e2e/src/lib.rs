//! End-to-end tests of the social network live in `tests/api`: they run the
//! real user, post and feed components as one application and as three
//! instances on three ports, in the embedded host or, when the `SPIN`
//! environment variable names a Spin binary, in real `spin up` processes.
