//! The user service's rate limits (Mastodon-like defaults; see
//! `shared::ratelimit`). Each variable raises its limit, and 0 switches it
//! off.

use shared::ratelimit::Limit;

/// Accounts created from one client address: 5 per 30 minutes.
pub const SIGNUPS: Limit = Limit {
    what: "sign-ups from this address",
    variable: "rate_limit_signups",
    default_max: 5,
    window_secs: 30 * 60,
    grows: false,
};

/// Failed logins for one username: 5 per 15 minutes, then the wait doubles
/// with every further failure.
pub const FAILED_LOGINS_PER_USER: Limit = Limit {
    what: "failed logins for this account",
    variable: "rate_limit_failed_logins_per_user",
    default_max: 5,
    window_secs: 15 * 60,
    grows: true,
};

/// Failed logins from one client address: 25 per 5 minutes, then the wait
/// doubles with every further failure.
pub const FAILED_LOGINS_PER_ADDRESS: Limit = Limit {
    what: "failed logins from this address",
    variable: "rate_limit_failed_logins_per_address",
    default_max: 25,
    window_secs: 5 * 60,
    grows: true,
};

/// Follows by one user: 400 per day.
pub const FOLLOWS: Limit = Limit {
    what: "follows",
    variable: "rate_limit_follows",
    default_max: 400,
    window_secs: 24 * 3600,
    grows: false,
};
