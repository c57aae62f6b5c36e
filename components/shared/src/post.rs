//! The public Post representation. The post service serves it, and the feed
//! serves it from its own copy, so both render exactly the same shape.

use serde::Serialize;

/// A post's author, as shown in a Post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Author {
    /// User id.
    pub id: String,
    /// Username.
    pub username: String,
}

/// The public Post representation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Post {
    /// Post id.
    pub id: String,
    /// Who wrote it.
    pub author: Author,
    /// The text.
    pub body: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// The post this replies to, if any.
    pub reply_to: Option<String>,
    /// Likes, exact.
    pub like_count: i64,
    /// Replies still present, exact.
    pub reply_count: i64,
}
