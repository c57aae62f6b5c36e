//! The post service's own store: migrations and every SQL statement.
//!
//! Counters (`like_count`, `reply_count`) are kept on the post row and
//! changed in the same transaction as the like or reply they count, so a
//! Post is always one indexed row read.

use crate::domain::{Author, AuthorName, IdempotencyKey, Post, PostBody, PostId};
use shared::ApiResult;
use shared::auth::{
    KEY_CACHE_MIGRATION, TOKEN_CACHE_MIGRATION, TOKEN_CUTOFF_MIGRATION, TOKEN_CUTOFFS,
};
use shared::db::{Db, Row, int, json_array, opt_text, text};
use shared::events::{INBOX_AGE_MIGRATION, INBOX_MIGRATION};
use shared::outbox::{
    BACKLOG, DELIVERY_MIGRATION, OUTBOX_MIGRATION, Service, deliverer_busy_sql, leave_to_deliverer,
    placeholders, to_deliver,
};
use shared::ratelimit::{RATE_LIMIT_MIGRATION, RATE_LIMITS};
use shared::relay::RELAY_MIGRATION;
use shared::retention::{Kept, PROCESSED_EVENTS};

/// The SQLite database label (see `runtime-config.toml`).
pub const LABEL: &str = "posts";

/// The post service's own tables.
const POST_TABLES: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS posts (
        id TEXT PRIMARY KEY,
        author_id TEXT NOT NULL,
        author_username TEXT NOT NULL,
        body TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        reply_to TEXT,
        like_count INTEGER NOT NULL DEFAULT 0,
        reply_count INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID",
    // A user's timeline (newest first) is one range scan of this index.
    "CREATE INDEX IF NOT EXISTS posts_by_author ON posts (author_username, id)",
    // Replies (oldest first) are one range scan of this one.
    "CREATE INDEX IF NOT EXISTS posts_by_parent ON posts (reply_to, id)",
    // Deleting an account finds its posts by user id.
    "CREATE INDEX IF NOT EXISTS posts_by_author_id ON posts (author_id)",
    // One row per like: the primary key makes a second like a no-op.
    "CREATE TABLE IF NOT EXISTS likes (
        post_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        PRIMARY KEY (post_id, user_id)
    ) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS likes_by_user ON likes (user_id)",
    "CREATE TABLE IF NOT EXISTS idempotency_keys (
        user_id TEXT NOT NULL,
        key TEXT NOT NULL,
        post_id TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        PRIMARY KEY (user_id, key)
    ) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS idempotency_keys_by_age ON idempotency_keys (created_ms)",
    "CREATE INDEX IF NOT EXISTS idempotency_keys_by_post ON idempotency_keys (post_id)",
    // Accounts deleted in the user service: their unexpired tokens must not
    // write again.
    "CREATE TABLE IF NOT EXISTS deleted_users (user_id TEXT PRIMARY KEY) WITHOUT ROWID",
];

/// A version on each post that grows with every change to its counts, sent
/// with them, so the feed's copy keeps the newest whatever the order.
const COUNTS_VERSION: &[&str] =
    &["ALTER TABLE posts ADD COLUMN counts_version INTEGER NOT NULL DEFAULT 0"];

/// Publishing a post is one statement: an insert into this view, whose
/// trigger refuses a deleted author, stores the post and queues its event.
/// SQLite holds the write lock for the whole of a transaction, and under
/// Spin each statement of one is a round trip between guest and host, so
/// 32 writers queued for a lock held over five round trips; one statement
/// holds it only while SQLite runs it (ADR 0009).
const POST_WRITES: &[&str] = &[
    "CREATE VIEW IF NOT EXISTS post_writes AS
     SELECT id, author_id, author_username, body, created_ms, reply_to,
            NULL AS destination, NULL AS event
     FROM posts WHERE 0",
    "CREATE TRIGGER IF NOT EXISTS post_writes_insert INSTEAD OF INSERT ON post_writes
     BEGIN
        SELECT RAISE(ABORT, 'post author deleted')
        FROM deleted_users WHERE user_id = NEW.author_id;
        INSERT INTO posts (id, author_id, author_username, body, created_ms, reply_to)
        VALUES (NEW.id, NEW.author_id, NEW.author_username, NEW.body, NEW.created_ms,
                NEW.reply_to);
        INSERT INTO outbox (destination, event, created_ms)
        VALUES (NEW.destination, NEW.event, NEW.created_ms);
     END",
];

/// What a refused insert into `post_writes` says.
const AUTHOR_DELETED: &str = "post author deleted";

/// Every migration, in order; `Db::open` applies the missing ones.
pub const MIGRATIONS: &[&[&str]] = &[
    INBOX_MIGRATION,
    KEY_CACHE_MIGRATION,
    OUTBOX_MIGRATION,
    POST_TABLES,
    DELIVERY_MIGRATION,
    TOKEN_CACHE_MIGRATION,
    COUNTS_VERSION,
    POST_WRITES,
    INBOX_AGE_MIGRATION,
    TOMBSTONE_AGES,
    TOKEN_CUTOFF_MIGRATION,
    RATE_LIMIT_MIGRATION,
    RELAY_MIGRATION,
];

/// Tombstones of deleted accounts carry their time, so that they are
/// forgotten after the retention, which is longer than any token lives
/// (existing ones count from this migration).
const TOMBSTONE_AGES: &[&str] = &[
    "ALTER TABLE deleted_users ADD COLUMN deleted_ms INTEGER NOT NULL DEFAULT 0",
    concat!(
        "UPDATE deleted_users SET deleted_ms = ",
        shared::now_ms_sql!()
    ),
    "CREATE INDEX IF NOT EXISTS deleted_users_by_age ON deleted_users (deleted_ms)",
];

/// What the post service forgets after the retention: applied-event ids
/// and tombstones of deleted accounts.
pub const KEPT: &[Kept] = &[
    PROCESSED_EVENTS,
    Kept {
        table: "deleted_users",
        time_column: "deleted_ms",
    },
    TOKEN_CUTOFFS,
    RATE_LIMITS,
];

/// A post's counts after a change, with the version of that change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts {
    /// The post.
    pub post_id: String,
    /// Likes, exact.
    pub like_count: i64,
    /// Replies, exact.
    pub reply_count: i64,
    /// Grows with every change to the counts.
    pub version: i64,
    /// Whose list of posts shows them.
    pub author_username: String,
}

/// `RETURNING` clause of every statement that changes counts.
const RETURNING_COUNTS: &str =
    "RETURNING id, like_count, reply_count, counts_version, author_username";

fn counts_from_row(row: &Row) -> Counts {
    Counts {
        post_id: row.text(0),
        like_count: row.int(1),
        reply_count: row.int(2),
        version: row.int(3),
        author_username: row.text(4),
    }
}

/// Changes `post`'s counts by `likes` and `replies` (never below zero) and
/// returns them; `None` when the post is gone.
fn add_counts(db: &Db, post: &str, likes: i64, replies: i64) -> ApiResult<Option<Counts>> {
    Ok(db
        .row(
            &format!(
                "UPDATE posts SET like_count = max(0, like_count + ?), reply_count = max(0, reply_count + ?),
                     counts_version = counts_version + 1
                 WHERE id = ? {RETURNING_COUNTS}"
            ),
            &[int(likes), int(replies), text(post)],
        )?
        .as_ref()
        .map(counts_from_row))
}

/// Opens the post store, migrating it on first use.
pub fn open() -> ApiResult<Db> {
    Db::open(LABEL, MIGRATIONS)
}

/// The columns [`post_from_row`] reads, in order.
const POST_COLUMNS: &str =
    "id, author_id, author_username, body, created_ms, reply_to, like_count, reply_count";

/// A Post from a row selected with [`POST_COLUMNS`].
fn post_from_row(row: &Row) -> Post {
    Post::from_columns(row, 0)
}

/// One post.
pub fn post(db: &Db, id: &PostId) -> ApiResult<Option<Post>> {
    Ok(db
        .row(
            &format!("SELECT {POST_COLUMNS} FROM posts WHERE id = ?"),
            &[text(id.as_str())],
        )?
        .as_ref()
        .map(post_from_row))
}

/// Whether the post exists.
pub fn exists(db: &Db, id: &PostId) -> ApiResult<bool> {
    Ok(db
        .row("SELECT 1 FROM posts WHERE id = ?", &[text(id.as_str())])?
        .is_some())
}

/// Up to `fetch` posts by `author` older than `before`, newest first.
pub fn by_author(
    db: &Db,
    author: &AuthorName,
    before: Option<&PostId>,
    fetch: i64,
) -> ApiResult<Vec<Post>> {
    let rows = match before {
        Some(before) => db.rows(
            &format!(
                "SELECT {POST_COLUMNS} FROM posts WHERE author_username = ? AND id < ?
                 ORDER BY id DESC LIMIT ?"
            ),
            &[text(author.as_str()), text(before.as_str()), int(fetch)],
        )?,
        None => db.rows(
            &format!(
                "SELECT {POST_COLUMNS} FROM posts WHERE author_username = ?
                 ORDER BY id DESC LIMIT ?"
            ),
            &[text(author.as_str()), int(fetch)],
        )?,
    };
    Ok(rows.iter().map(post_from_row).collect())
}

/// Up to `limit` authors whose first pages a warm fills ([`crate::warm`]):
/// those with posts, in username order.
pub fn authors_to_warm(db: &Db, limit: i64) -> ApiResult<Vec<String>> {
    Ok(db
        .rows(&authors_to_warm_sql(), &[int(limit)])?
        .iter()
        .map(|r| r.text(0))
        .collect())
}

fn authors_to_warm_sql() -> String {
    shared::db::distinct_values_sql("posts", "author_username")
}

/// The first pages of the authors in the JSON array `?1`, `?2` posts each,
/// as [`by_author`] reads them one by one: per author, the `?2`-th newest
/// post bounds one range of `posts_by_author`.
const FIRST_PAGES: &str = "SELECT a.value, p.id, p.author_id, p.author_username, p.body,
        p.created_ms, p.reply_to, p.like_count, p.reply_count
    FROM json_each(?1) AS a
    CROSS JOIN posts AS p ON p.author_username = a.value AND p.id >= coalesce((
        SELECT q.id FROM posts AS q WHERE q.author_username = a.value
        ORDER BY q.id DESC LIMIT 1 OFFSET ?2 - 1), '')
    ORDER BY a.key, p.id DESC";

/// The first `fetch` posts of each author, newest first, in one statement:
/// (author, posts) for each author with any.
pub fn first_pages(db: &Db, authors: &[&str], fetch: i64) -> ApiResult<Vec<(String, Vec<Post>)>> {
    let rows = db.rows(FIRST_PAGES, &[text(json_array(authors)), int(fetch)])?;
    Ok(shared::db::grouped(rows, |row| Post::from_columns(row, 1)))
}

/// Up to `fetch` replies to `parent` newer than `after`, oldest first.
pub fn replies(
    db: &Db,
    parent: &PostId,
    after: Option<&PostId>,
    fetch: i64,
) -> ApiResult<Vec<Post>> {
    let rows = match after {
        Some(after) => db.rows(
            &format!(
                "SELECT {POST_COLUMNS} FROM posts WHERE reply_to = ? AND id > ?
                 ORDER BY id ASC LIMIT ?"
            ),
            &[text(parent.as_str()), text(after.as_str()), int(fetch)],
        )?,
        None => db.rows(
            &format!(
                "SELECT {POST_COLUMNS} FROM posts WHERE reply_to = ?
                 ORDER BY id ASC LIMIT ?"
            ),
            &[text(parent.as_str()), int(fetch)],
        )?,
    };
    Ok(rows.iter().map(post_from_row).collect())
}

/// The posts among `ids` that exist, in no particular order; one query.
pub fn by_ids(db: &Db, ids: &[PostId]) -> ApiResult<Vec<Post>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let params: Vec<_> = ids.iter().map(|id| text(id.as_str())).collect();
    Ok(db
        .rows(
            &format!(
                "SELECT {POST_COLUMNS} FROM posts WHERE id IN ({})",
                placeholders(ids.len())
            ),
            &params,
        )?
        .iter()
        .map(post_from_row)
        .collect())
}

/// Whether the account was deleted (its tokens may still be unexpired).
pub fn is_deleted_user(db: &Db, user_id: &str) -> ApiResult<bool> {
    Ok(db
        .row(
            "SELECT 1 FROM deleted_users WHERE user_id = ?",
            &[text(user_id)],
        )?
        .is_some())
}

/// The post `user` already created with `key` since `since_ms`, if it still
/// exists.
pub fn post_for_key(
    db: &Db,
    user_id: &str,
    key: &IdempotencyKey,
    since_ms: i64,
) -> ApiResult<Option<Post>> {
    Ok(db
        .row(
            "SELECT p.id, p.author_id, p.author_username, p.body, p.created_ms, p.reply_to,
                    p.like_count, p.reply_count
             FROM idempotency_keys AS k JOIN posts AS p ON p.id = k.post_id
             WHERE k.user_id = ? AND k.key = ? AND k.created_ms >= ?",
            &[text(user_id), text(key.as_str()), int(since_ms)],
        )?
        .as_ref()
        .map(post_from_row))
}

/// Remembers that `key` from `user` created `post`, replacing an expired
/// entry, and forgets entries older than `expired_before_ms`.
pub fn remember_key(
    db: &Db,
    user_id: &str,
    key: &IdempotencyKey,
    post: &PostId,
    now_ms: i64,
    expired_before_ms: i64,
) -> ApiResult<()> {
    db.execute(
        "DELETE FROM idempotency_keys WHERE created_ms < ?",
        &[int(expired_before_ms)],
    )?;
    db.execute(
        "INSERT INTO idempotency_keys (user_id, key, post_id, created_ms) VALUES (?, ?, ?, ?)
         ON CONFLICT (user_id, key) DO UPDATE SET post_id = excluded.post_id,
             created_ms = excluded.created_ms",
        &[
            text(user_id),
            text(key.as_str()),
            text(post.as_str()),
            int(now_ms),
        ],
    )?;
    Ok(())
}

/// A post about to be stored.
pub struct NewPost<'a> {
    /// Its new id.
    pub id: &'a PostId,
    /// The author's user id.
    pub author_id: &'a str,
    /// The author's username.
    pub author_username: &'a str,
    /// The text.
    pub body: &'a PostBody,
    /// Creation time, Unix milliseconds.
    pub created_ms: i64,
    /// The parent, which must exist.
    pub reply_to: Option<&'a PostId>,
}

/// A post just stored.
pub struct Inserted {
    /// The post.
    pub post: Post,
    /// Its parent's new counts, for a reply.
    pub parent: Option<Counts>,
    /// Events waiting in the outbox now, this post's included.
    pub backlog: i64,
}

/// Stores a post, queues post-created for the feed and counts the post in
/// its parent's `reply_count`; `None` when the author's account was
/// deleted. A reply is two statements, so call it inside a transaction
/// then; a post that replies to nothing is one statement and needs none.
pub fn insert(db: &Db, new: &NewPost) -> ApiResult<Option<Inserted>> {
    let post = Post {
        id: new.id.as_str().to_string(),
        author: Author {
            id: new.author_id.to_string(),
            username: new.author_username.to_string(),
        },
        body: new.body.as_str().to_string(),
        created_at: shared::ids::rfc3339(new.created_ms),
        reply_to: new.reply_to.map(|p| p.as_str().to_string()),
        like_count: 0,
        reply_count: 0,
    };
    let event = to_deliver(Service::Feed, &crate::events::post_created(&post))?;
    let Some(rows) = db.rows_unless(
        &format!(
            "INSERT INTO post_writes
                (id, author_id, author_username, body, created_ms, reply_to, destination, event)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             RETURNING ({BACKLOG}), {}",
            deliverer_busy_sql("?7", "?9")
        ),
        &[
            text(new.id.as_str()),
            text(new.author_id),
            text(new.author_username),
            text(new.body.as_str()),
            int(new.created_ms),
            opt_text(new.reply_to.map(PostId::as_str)),
            text(Service::Feed.name()),
            text(event),
            int(shared::ids::now_millis()),
        ],
        AUTHOR_DELETED,
    )?
    else {
        return Ok(None);
    };
    if rows.first().is_some_and(|r| r.int(1) != 0) {
        leave_to_deliverer(Service::Feed);
    }
    let parent = match new.reply_to {
        Some(parent) => add_counts(db, parent.as_str(), 0, 1)?,
        None => None,
    };
    Ok(Some(Inserted {
        post,
        parent,
        backlog: rows.first().map(|r| r.int(0)).unwrap_or_default(),
    }))
}

/// Who wrote a post and what it replies to, if it exists.
pub fn author_and_parent(db: &Db, id: &PostId) -> ApiResult<Option<(String, Option<String>)>> {
    Ok(db
        .row(
            "SELECT author_id, reply_to FROM posts WHERE id = ?",
            &[text(id.as_str())],
        )?
        .map(|r| (r.text(0), r.opt_text(1))))
}

/// Deletes a post, its likes and its idempotency keys, and uncounts it from
/// its parent (call inside a transaction); returns the parent's new counts.
/// Its replies stay, still naming it.
pub fn delete(db: &Db, id: &PostId, parent: Option<&str>) -> ApiResult<Option<Counts>> {
    let p = [text(id.as_str())];
    db.execute("DELETE FROM likes WHERE post_id = ?", &p)?;
    // A replayed key must not point at a post that is gone.
    db.execute("DELETE FROM idempotency_keys WHERE post_id = ?", &p)?;
    db.execute("DELETE FROM posts WHERE id = ?", &p)?;
    match parent {
        Some(parent) => add_counts(db, parent, 0, -1),
        None => Ok(None),
    }
}

/// Records (`liked`) or removes the caller's like and counts the change,
/// once per user (call inside a transaction); returns the new counts when
/// they changed.
pub fn set_like(db: &Db, post: &PostId, user_id: &str, liked: bool) -> ApiResult<Option<Counts>> {
    let (sql, delta) = if liked {
        (
            "INSERT OR IGNORE INTO likes (post_id, user_id) VALUES (?, ?) RETURNING 1",
            1,
        )
    } else {
        (
            "DELETE FROM likes WHERE post_id = ? AND user_id = ? RETURNING 1",
            -1,
        )
    };
    let changed = db
        .row(sql, &[text(post.as_str()), text(user_id)])?
        .is_some();
    if !changed {
        return Ok(None);
    }
    add_counts(db, post.as_str(), delta, 0)
}

/// The statements that remove an account: its likes (uncounted), the likes
/// on its posts, its posts and replies (uncounted from the parents they
/// reply to), its idempotency keys, and a tombstone. Each is one statement
/// with the user id as `?1`; run them in order inside one transaction.
pub const DELETE_USER: &[&str] = &[
    "UPDATE posts SET like_count = like_count - 1
     WHERE id IN (SELECT post_id FROM likes WHERE user_id = ?1)",
    "DELETE FROM likes WHERE user_id = ?1",
    "DELETE FROM likes WHERE post_id IN (SELECT id FROM posts WHERE author_id = ?1)",
    "UPDATE posts SET reply_count = reply_count - (
         SELECT count(*) FROM posts AS c WHERE c.reply_to = posts.id AND c.author_id = ?1)
     WHERE id IN (SELECT reply_to FROM posts WHERE author_id = ?1 AND reply_to IS NOT NULL)",
    "DELETE FROM posts WHERE author_id = ?1",
    "DELETE FROM idempotency_keys WHERE user_id = ?1",
    concat!(
        "INSERT OR IGNORE INTO deleted_users (user_id, deleted_ms) VALUES (?1, ",
        shared::now_ms_sql!(),
        ")"
    ),
];

/// The other posts whose counts deleting `?1` changes: those it liked and
/// those its replies answer.
const COUNTED_BY_USER: &str = "SELECT post_id FROM likes WHERE user_id = ?1
     UNION SELECT reply_to FROM posts WHERE author_id = ?1 AND reply_to IS NOT NULL";

/// The username of an author who has posts.
pub fn username_of(db: &Db, user_id: &str) -> ApiResult<Option<String>> {
    Ok(db
        .row(
            "SELECT author_username FROM posts WHERE author_id = ? LIMIT 1",
            &[text(user_id)],
        )?
        .map(|r| r.text(0)))
}

/// The post service's cache (see `runtime-config.toml`).
pub const CACHE_LABEL: &str = "post_cache";

/// The cache of first pages of each author's posts, if its store opens.
pub fn cache() -> Option<shared::cache::Cache> {
    shared::cache::Cache::open(CACHE_LABEL)
}

/// Adds `post` to its author's cached first page, so that a stream of posts
/// does not keep the author's readers missing (see
/// [`shared::cache::Cache::add`]). The post was committed, or found by an
/// idempotent repeat, by a request that began at `begun_ms`.
pub fn show_new_post(db: &Db, post: &Post, begun_ms: i64) {
    let Some(cache) = cache() else { return };
    let author = &post.author.username;
    let (Some(id), Ok(json)) = (PostId::parse(&post.id), serde_json::to_string(post)) else {
        return cache.forget(author);
    };
    cache.add(author, (&post.id, &json), begun_ms, || exists(db, &id));
}

/// Forgets the cached first pages of these authors' posts (call after the
/// change that shows in them is committed). With no author, the cache is
/// not even opened: opening a key-value store costs Spin more than a read.
pub fn forget_pages<'a>(authors: impl IntoIterator<Item = &'a str>) {
    let mut authors = authors.into_iter().peekable();
    if authors.peek().is_none() {
        return;
    }
    if let Some(cache) = cache() {
        for author in authors {
            cache.forget(author);
        }
    }
}

/// Removes everything `user_id` owns (call inside a transaction) and returns
/// the new counts of the other posts that changed.
pub fn delete_user(db: &Db, user_id: &str) -> ApiResult<Vec<Counts>> {
    let touched: Vec<String> = db
        .rows(COUNTED_BY_USER, &[text(user_id)])?
        .iter()
        .map(|r| r.text(0))
        .collect();
    for sql in DELETE_USER {
        db.execute(sql, &[text(user_id)])?;
    }
    let mut changed = Vec::with_capacity(touched.len());
    for chunk in touched.chunks(500) {
        let params: Vec<_> = chunk.iter().map(text).collect();
        let rows = db.rows(
            &format!(
                "UPDATE posts SET counts_version = counts_version + 1 WHERE id IN ({}) {RETURNING_COUNTS}",
                placeholders(chunk.len())
            ),
            &params,
        )?;
        changed.extend(rows.iter().map(counts_from_row));
    }
    Ok(changed)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    //! The schema and the account-deletion statements run against a real
    //! (native) SQLite, as the host runs them.

    use super::*;
    use rusqlite::{Connection, params};

    fn store() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        for migration in MIGRATIONS {
            for sql in *migration {
                conn.execute(sql, []).unwrap();
            }
        }
        conn
    }

    fn add_post(conn: &Connection, id: &str, author: &str, reply_to: Option<&str>) {
        conn.execute(
            "INSERT INTO posts (id, author_id, author_username, body, created_ms, reply_to)
             VALUES (?1, ?2, ?2, 'x', 0, ?3)",
            params![id, author, reply_to],
        )
        .unwrap();
        if let Some(parent) = reply_to {
            conn.execute(
                "UPDATE posts SET reply_count = reply_count + 1 WHERE id = ?1",
                [parent],
            )
            .unwrap();
        }
    }

    #[test]
    fn first_pages_read_together_are_each_authors_page_read_alone() {
        // Arrange: three authors with 1, 4 and 2 posts, interleaved in time.
        let conn = store();
        for (i, author) in ["bo", "al", "al", "cy", "al", "cy", "al"]
            .iter()
            .enumerate()
        {
            add_post(&conn, &format!("p{i:02}"), author, None);
        }
        let alone = |author: &str| -> Vec<(String, String)> {
            conn.prepare(
                "SELECT author_username, id FROM posts WHERE author_username = ?1
                 ORDER BY id DESC LIMIT 3",
            )
            .unwrap()
            .query_map([author], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
        };

        // Act: three posts each, and an author with none.
        let rows: Vec<(String, String)> = conn
            .prepare(FIRST_PAGES)
            .unwrap()
            .query_map(params![r#"["cy","al","zed","bo"]"#, 3], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();

        // Assert: in the authors' order, each page as a read of its own.
        let expected: Vec<_> = ["cy", "al", "bo"].iter().flat_map(|a| alone(a)).collect();
        assert_eq!(rows.len(), 6);
        assert_eq!(rows, expected);
    }

    #[test]
    fn the_authors_to_warm_are_those_with_posts_in_name_order_up_to_the_limit() {
        // Arrange
        let conn = store();
        for (i, author) in ["cy", "al", "cy", "bo"].iter().enumerate() {
            add_post(&conn, &format!("p{i}"), author, None);
        }

        // Act
        let authors = |limit: i64| -> Vec<String> {
            conn.prepare(&authors_to_warm_sql())
                .unwrap()
                .query_map([limit], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };

        // Assert
        assert_eq!(authors(10), ["al", "bo", "cy"]);
        assert_eq!(authors(2), ["al", "bo"]);
    }

    fn add_like(conn: &Connection, post: &str, user: &str) {
        conn.execute(
            "INSERT INTO likes (post_id, user_id) VALUES (?1, ?2)",
            [post, user],
        )
        .unwrap();
        conn.execute(
            "UPDATE posts SET like_count = like_count + 1 WHERE id = ?1",
            [post],
        )
        .unwrap();
    }

    fn counts(conn: &Connection, post: &str) -> Option<(i64, i64)> {
        conn.query_row(
            "SELECT like_count, reply_count FROM posts WHERE id = ?1",
            [post],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ok()
    }

    fn count(conn: &Connection, sql: &str) -> i64 {
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn deleting_an_account_removes_what_it_owns_and_fixes_the_counts() {
        // Arrange: alice and bob post, like and reply to each other.
        let conn = store();
        add_post(&conn, "A1", "alice", None);
        add_post(&conn, "B1", "bob", None);
        add_post(&conn, "A2", "alice", Some("B1"));
        add_post(&conn, "A3", "alice", Some("B1"));
        add_post(&conn, "B2", "bob", Some("A1"));
        add_like(&conn, "B1", "alice");
        add_like(&conn, "B1", "bob");
        add_like(&conn, "A1", "bob");
        conn.execute(
            "INSERT INTO idempotency_keys (user_id, key, post_id, created_ms)
             VALUES ('alice', 'k', 'A1', 0)",
            [],
        )
        .unwrap();
        assert_eq!(counts(&conn, "B1"), Some((2, 2)));

        // Act
        for sql in DELETE_USER {
            conn.execute(sql, ["alice"]).unwrap();
        }

        // Assert: bob's post lost alice's like and replies; bob's reply to
        // her post stays; alice owns nothing and is tombstoned.
        assert_eq!(counts(&conn, "B1"), Some((1, 0)));
        assert_eq!(counts(&conn, "B2"), Some((0, 0)));
        for gone in ["A1", "A2", "A3"] {
            assert_eq!(counts(&conn, gone), None, "{gone}");
        }
        assert_eq!(count(&conn, "SELECT count(*) FROM likes"), 1);
        assert_eq!(count(&conn, "SELECT count(*) FROM idempotency_keys"), 0);
        assert_eq!(
            count(
                &conn,
                "SELECT count(*) FROM deleted_users WHERE user_id = 'alice'"
            ),
            1
        );

        // Applying it again changes nothing.
        for sql in DELETE_USER {
            conn.execute(sql, ["alice"]).unwrap();
        }
        assert_eq!(counts(&conn, "B1"), Some((1, 0)));
    }

    #[test]
    fn a_users_timeline_and_replies_are_read_from_indexes() {
        let conn = store();
        let plan = |sql: &str| -> String {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            stmt.query_map([], |r| r.get::<_, String>(3))
                .unwrap()
                .map(Result::unwrap)
                .collect::<Vec<_>>()
                .join("; ")
        };
        let by_author = plan(
            "SELECT id FROM posts WHERE author_username = 'a' AND id < 'z' ORDER BY id DESC LIMIT 21",
        );
        assert!(by_author.contains("posts_by_author"), "{by_author}");
        assert!(!by_author.contains("TEMP B-TREE"), "{by_author}");
        let replies =
            plan("SELECT id FROM posts WHERE reply_to = 'p' AND id > 'a' ORDER BY id ASC LIMIT 21");
        assert!(replies.contains("posts_by_parent"), "{replies}");
        assert!(!replies.contains("TEMP B-TREE"), "{replies}");
    }
}
