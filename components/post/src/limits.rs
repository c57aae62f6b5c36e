//! The post service's rate limits (Mastodon-like defaults; see
//! `shared::ratelimit`). Each variable raises its limit, and 0 switches it
//! off.

use shared::ratelimit::Limit;

/// Posts and replies by one user: 300 per 3 hours.
pub const POSTS: Limit = Limit {
    what: "posts",
    variable: "rate_limit_posts",
    default_max: 300,
    window_secs: 3 * 3600,
    grows: false,
};

/// Likes by one user: 300 per 3 hours.
pub const LIKES: Limit = Limit {
    what: "likes",
    variable: "rate_limit_likes",
    default_max: 300,
    window_secs: 3 * 3600,
    grows: false,
};
