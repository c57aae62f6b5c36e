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

impl Post {
    /// The Post in a row's columns from `at` on: id, author id, author
    /// username, body, created (Unix ms), reply-to, like and reply counts,
    /// the order both services select them in.
    pub fn from_columns(row: &crate::db::Row, at: usize) -> Self {
        Post {
            id: row.text(at),
            author: Author {
                id: row.text(at + 1),
                username: row.text(at + 2),
            },
            body: row.text(at + 3),
            created_at: crate::ids::rfc3339(row.int(at + 4)),
            reply_to: row.opt_text(at + 5),
            like_count: row.int(at + 6),
            reply_count: row.int(at + 7),
        }
    }
}
