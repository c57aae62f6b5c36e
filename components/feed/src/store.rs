//! The feed's own store: migrations and every SQL statement.
//!
//! Event handlers are written as plans (lists of [`Statement`]s) so that the
//! same SQL can be checked against a real SQLite in native unit tests and
//! then run inside one transaction by [`crate::events`].

use crate::domain::{PostId, UserId};
use shared::ApiResult;
use shared::auth::{
    ACCOUNT_DELETED, CUT_OFF_SQL, KEY_CACHE_MIGRATION, TOKEN_CACHE_MIGRATION,
    TOKEN_CUTOFF_MIGRATION, TOKEN_CUTOFFS,
};
use shared::cache::NewItem;
use shared::db::{Db, int, json_array, opt_text, text};
use shared::events::{INBOX_AGE_MIGRATION, INBOX_MIGRATION};
use shared::outbox::{DELIVERY_MIGRATION, OUTBOX_MIGRATION};
use shared::post::Post;
use shared::retention::{Kept, PROCESSED_EVENTS};
use spin_sdk::sqlite::Value;

/// The SQLite database label (see `runtime-config.toml`).
pub const LABEL: &str = "feed";

/// How many entries a home timeline keeps at least: the newest ones.
pub const TIMELINE_LEN: i64 = 800;

/// Posts of an author with at least this many followers are not copied into
/// each follower's timeline but read from the author's posts when a follower
/// reads the feed (the `feed_fanout_limit` variable sets it), so that an
/// author with 10,000 followers costs a write no more than one with none.
pub const DEFAULT_FANOUT_LIMIT: i64 = 1000;

/// The fan-out limit: the `feed_fanout_limit` variable, or the default.
pub fn fanout_limit() -> i64 {
    spin_sdk::variables::get("feed_fanout_limit")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|n| *n >= 1)
        .unwrap_or(DEFAULT_FANOUT_LIMIT)
}

/// Timelines are trimmed by about one post in this many. Finding where a
/// timeline's newest [`TIMELINE_LEN`] end walks that many index entries per
/// reader, which on every post was most of the fan-out's cost (at one post
/// in 128, still 14% of a batch's under compose); amortised, a timeline
/// holds some hundreds of entries more between trims.
pub const TRIM_EVERY: u32 = 512;

/// Whether publishing `post` trims its readers' timelines: a hash of the id,
/// so every delivery of the same event decides the same way. (FNV-1a, whose
/// low bits are then mixed with the high ones by MurmurHash3's finaliser:
/// ids a millisecond apart differ only in a character or two.)
fn trims(post: &PostId) -> bool {
    let mut hash = post.as_str().bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    hash ^= hash >> 16;
    hash = hash.wrapping_mul(0x85eb_ca6b);
    hash ^= hash >> 13;
    hash = hash.wrapping_mul(0xc2b2_ae35);
    hash ^= hash >> 16;
    hash % TRIM_EVERY == 0
}

/// The feed's own tables. Post ids sort by time, so `post_id` is the order.
const FEED_TABLES: &[&str] = &[
    // Who follows whom: the primary key serves "does A follow B", the index
    // the fan-out "who follows B".
    "CREATE TABLE IF NOT EXISTS follows (
        follower_id TEXT NOT NULL,
        followee_id TEXT NOT NULL,
        PRIMARY KEY (follower_id, followee_id)
    ) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS follows_by_followee ON follows (followee_id, follower_id)",
    // Every post by author, so that a new follow can backfill recent ones.
    "CREATE TABLE IF NOT EXISTS author_posts (
        author_id TEXT NOT NULL,
        post_id TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        PRIMARY KEY (author_id, post_id)
    ) WITHOUT ROWID",
    // The materialised home timelines; reading a page is one range scan of
    // the primary key.
    "CREATE TABLE IF NOT EXISTS timeline (
        user_id TEXT NOT NULL,
        post_id TEXT NOT NULL,
        author_id TEXT NOT NULL,
        PRIMARY KEY (user_id, post_id)
    ) WITHOUT ROWID",
    // Dropped again by NO_POST_INDEX.
    "CREATE INDEX IF NOT EXISTS timeline_by_post ON timeline (post_id)",
    // Tombstones: late or redelivered events must not resurrect these.
    "CREATE TABLE IF NOT EXISTS deleted_posts (post_id TEXT PRIMARY KEY) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS deleted_users (user_id TEXT PRIMARY KEY) WITHOUT ROWID",
    // The newest follow or unfollow event applied per pair (event ids sort
    // by time): one overtaken in delivery by a later one changes nothing.
    "CREATE TABLE IF NOT EXISTS follow_versions (
        follower_id TEXT NOT NULL,
        followee_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        PRIMARY KEY (follower_id, followee_id)
    ) WITHOUT ROWID",
];

/// The feed keeps its own copy of every post (from post-created, with the
/// counts kept current by post-counts-changed), so a feed page is one query
/// on its own store instead of a call to the post service.
const POST_COPIES: &[&str] = &[
    "ALTER TABLE author_posts ADD COLUMN author_username TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE author_posts ADD COLUMN body TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE author_posts ADD COLUMN reply_to TEXT",
    "ALTER TABLE author_posts ADD COLUMN like_count INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE author_posts ADD COLUMN reply_count INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE author_posts ADD COLUMN counts_version INTEGER NOT NULL DEFAULT 0",
    // Count changes name only the post.
    "CREATE INDEX IF NOT EXISTS author_posts_by_post ON author_posts (post_id)",
    // Posts of authors with many followers are pulled by readers instead of
    // fanned out (see FANOUT_LIMIT).
    "ALTER TABLE author_posts ADD COLUMN pulled INTEGER NOT NULL DEFAULT 0",
    "CREATE INDEX IF NOT EXISTS author_posts_pulled ON author_posts (author_id, post_id) WHERE pulled = 1",
    "CREATE TABLE IF NOT EXISTS pull_authors (author_id TEXT PRIMARY KEY) WITHOUT ROWID",
];

/// Tombstones carry their time, so that they are forgotten after the
/// retention (existing ones count from this migration).
const TOMBSTONE_AGES: &[&str] = &[
    "ALTER TABLE deleted_posts ADD COLUMN deleted_ms INTEGER NOT NULL DEFAULT 0",
    concat!(
        "UPDATE deleted_posts SET deleted_ms = ",
        shared::now_ms_sql!()
    ),
    "CREATE INDEX IF NOT EXISTS deleted_posts_by_age ON deleted_posts (deleted_ms)",
    "ALTER TABLE deleted_users ADD COLUMN deleted_ms INTEGER NOT NULL DEFAULT 0",
    concat!(
        "UPDATE deleted_users SET deleted_ms = ",
        shared::now_ms_sql!()
    ),
    "CREATE INDEX IF NOT EXISTS deleted_users_by_age ON deleted_users (deleted_ms)",
];

/// The timeline loses its post index (ADR 0027): every fanned-out entry
/// wrote it too, which made a batch's inserts, trims and commit about twice
/// as costly. An entry's reader is its author or one of the author's
/// followers, so statements find a post's entries through `follows`.
const NO_POST_INDEX: &[&str] = &["DROP INDEX IF EXISTS timeline_by_post"];

/// Every migration, in order; `Db::open` applies the missing ones.
pub const MIGRATIONS: &[&[&str]] = &[
    INBOX_MIGRATION,
    KEY_CACHE_MIGRATION,
    OUTBOX_MIGRATION,
    FEED_TABLES,
    DELIVERY_MIGRATION,
    TOKEN_CACHE_MIGRATION,
    POST_COPIES,
    INBOX_AGE_MIGRATION,
    TOMBSTONE_AGES,
    TOKEN_CUTOFF_MIGRATION,
    NO_POST_INDEX,
];

/// What the feed forgets after the retention: applied-event ids and
/// tombstones.
pub const KEPT: &[Kept] = &[
    PROCESSED_EVENTS,
    Kept {
        table: "deleted_posts",
        time_column: "deleted_ms",
    },
    Kept {
        table: "deleted_users",
        time_column: "deleted_ms",
    },
    TOKEN_CUTOFFS,
];

/// Opens the feed store, migrating it on first use.
pub fn open() -> ApiResult<Db> {
    Db::open(LABEL, MIGRATIONS)
}

/// Opens the feed store to apply a batch of events, which touches a page or
/// two of every reader's timeline. The page cache is made large enough to
/// hold them all (SQLite's default of 2 MiB would spill pages in the middle
/// of the transaction). The commit does not checkpoint before 80 MiB of log:
/// the route has the batch's log copied back after its response
/// ([`shared::db::Db::checkpoint_before_close`]), so neither the page update
/// nor the deliverer waits for the copy. Both pragmas last only as long as
/// this connection; a store that refuses them still works.
pub fn open_for_batch() -> ApiResult<Db> {
    let db = open()?;
    let _ = db.execute("PRAGMA cache_size = -65536", &[]);
    let _ = db.execute("PRAGMA wal_autocheckpoint = 20000", &[]);
    Ok(db)
}

/// One SQL statement and its parameters.
#[derive(Debug, Clone)]
pub struct Statement {
    /// The SQL, with `?N` parameters.
    pub sql: &'static str,
    /// The parameters, in `?N` order.
    pub params: Vec<Value>,
}

impl Statement {
    fn new(sql: &'static str, params: Vec<Value>) -> Self {
        Self { sql, params }
    }
}

/// Runs a plan (call inside a transaction).
pub fn run(db: &Db, plan: &[Statement]) -> ApiResult<()> {
    for statement in plan {
        db.execute(statement.sql, &statement.params)?;
    }
    Ok(())
}

/// A published post, as the feed keeps it.
#[derive(Debug, Clone)]
pub struct NewPost {
    /// Its id.
    pub id: PostId,
    /// Its author.
    pub author: UserId,
    /// The author's username.
    pub author_username: String,
    /// The text.
    pub body: String,
    /// Creation time, Unix milliseconds.
    pub created_ms: i64,
    /// The post it answers, if any.
    pub reply_to: Option<PostId>,
}

/// The posts of a batch as one parameter: the JSON array that
/// [`with_new_posts!`] reads back as the table `posted`. A batch of posts is
/// then a handful of set-based statements, not a handful per post: under
/// load every statement waits its turn on the host's blocking pool, so the
/// fan-out's cost is counted in statements.
fn posts_param(posts: &[NewPost]) -> Value {
    let rows: Vec<serde_json::Value> = posts
        .iter()
        .map(|p| {
            serde_json::json!({
                "a": p.author.as_str(),
                "p": p.id.as_str(),
                "c": p.created_ms,
                "u": p.author_username,
                "b": p.body,
                "r": p.reply_to.as_ref().map(PostId::as_str),
            })
        })
        .collect();
    text(serde_json::Value::Array(rows).to_string())
}

/// The columns of a post copy `p`, as [`Post::from_columns`] reads them (a macro,
/// so that statements can be built with `concat!`).
macro_rules! post_columns {
    () => {
        "p.post_id, p.author_id, p.author_username, p.body, p.created_ms,
         p.reply_to, p.like_count, p.reply_count"
    };
}

/// Prefixes a statement with the table `posted` (author, post, created_ms,
/// username, body, reply_to) read from the JSON array in `?1`.
macro_rules! with_new_posts {
    ($sql:literal) => {
        concat!(
            "WITH posted AS (SELECT value ->> 'a' AS author, value ->> 'p' AS post,
                value ->> 'c' AS created_ms, value ->> 'u' AS username,
                value ->> 'b' AS body, value ->> 'r' AS reply_to FROM json_each(?1)) ",
            $sql
        )
    };
}

/// Posts were published: keep a copy of each, then put each into its
/// author's own timeline and every follower's, trimming those timelines now
/// and then. The same statements serve one post or a batch of them.
pub fn posts_created(posts: &[NewPost], fanout_limit: i64) -> Vec<Statement> {
    let (new, limit) = (posts_param(posts), int(fanout_limit.max(1)));
    let mut plan = vec![
        // The tombstone checks live here; the fan-out below only runs for
        // posts that made it into author_posts. Counting stops at the limit.
        Statement::new(
            with_new_posts!(
                "INSERT OR IGNORE INTO author_posts
                     (author_id, post_id, created_ms, author_username, body, reply_to, pulled)
                 SELECT n.author, n.post, n.created_ms, n.username, n.body, n.reply_to,
                     (SELECT count(*) FROM (SELECT 1 FROM follows WHERE followee_id = n.author
                         LIMIT ?2)) >= ?2
                 FROM posted AS n
                 WHERE NOT EXISTS (SELECT 1 FROM deleted_posts WHERE post_id = n.post)
                   AND NOT EXISTS (SELECT 1 FROM deleted_users WHERE user_id = n.author)"
            ),
            vec![new.clone(), limit],
        ),
        Statement::new(
            with_new_posts!(
                "INSERT OR IGNORE INTO pull_authors (author_id)
                 SELECT DISTINCT n.author FROM posted AS n CROSS JOIN author_posts AS p
                     ON p.author_id = n.author AND p.post_id = n.post
                 WHERE p.pulled = 1"
            ),
            vec![new.clone()],
        ),
        // The author always; the followers unless the post is pulled. In
        // the timeline's order, so that consecutive rows land in the same
        // pages (natively a fifth faster for a batch of 1,024 posts).
        Statement::new(
            with_new_posts!(
                "INSERT OR IGNORE INTO timeline (user_id, post_id, author_id)
                 SELECT n.author, n.post, n.author FROM posted AS n CROSS JOIN author_posts AS p
                     ON p.author_id = n.author AND p.post_id = n.post"
            ),
            vec![new.clone()],
        ),
        Statement::new(
            with_new_posts!(
                "INSERT OR IGNORE INTO timeline (user_id, post_id, author_id)
                 SELECT f.follower_id, n.post, n.author FROM posted AS n
                     CROSS JOIN author_posts AS p
                         ON p.author_id = n.author AND p.post_id = n.post AND p.pulled = 0
                     CROSS JOIN follows AS f ON f.followee_id = n.author
                 ORDER BY f.follower_id, n.post"
            ),
            vec![new],
        ),
    ];
    for post in posts.iter().filter(|p| trims(&p.id)) {
        // Per reader: find the entry just past the newest TIMELINE_LEN (one
        // bounded index walk) and delete it and anything older.
        plan.push(Statement::new(
            "DELETE FROM timeline WHERE (user_id, post_id) IN (
                SELECT t.user_id, t.post_id
                FROM (SELECT ?1 AS reader UNION SELECT follower_id FROM follows
                    WHERE followee_id = ?1 AND NOT EXISTS
                        (SELECT 1 FROM author_posts WHERE author_id = ?1 AND post_id = ?2 AND pulled = 1)) AS r
                JOIN timeline AS t ON t.user_id = r.reader
                WHERE t.post_id <= (
                    SELECT c.post_id FROM timeline AS c WHERE c.user_id = r.reader
                    ORDER BY c.post_id DESC LIMIT 1 OFFSET ?3))",
            vec![
                text(post.author.as_str()),
                text(post.id.as_str()),
                int(TIMELINE_LEN),
            ],
        ));
    }
    plan
}

/// Selects `user` alone (the readers a follow or unfollow changes).
pub fn just(user: &UserId) -> Statement {
    Statement::new("SELECT ?1", vec![text(user.as_str())])
}

/// The followers of the authors these posts are about to make pulled: their
/// cached pages predate it, and a reader of pulled posts has none. Run
/// before [`posts_created`], which marks the same authors.
pub fn readers_of_newly_pulled(posts: &[NewPost], fanout_limit: i64) -> Statement {
    Statement::new(
        with_new_posts!(
            ", authors AS (SELECT DISTINCT author FROM posted)
             SELECT f.follower_id FROM authors AS a
                 CROSS JOIN follows AS f ON f.followee_id = a.author
             WHERE NOT EXISTS (SELECT 1 FROM pull_authors WHERE author_id = a.author)
               AND (SELECT count(*) FROM (SELECT 1 FROM follows WHERE followee_id = a.author
                       LIMIT ?2)) >= ?2"
        ),
        vec![posts_param(posts), int(fanout_limit.max(1))],
    )
}

/// The readers whose timelines may hold any of `posts` (their authors and
/// the authors' followers): whose cached pages the posts may go into.
pub fn timeline_readers(db: &Db, posts: &[PostId]) -> ApiResult<Vec<String>> {
    let rows = db.rows(TIMELINE_READERS, &[text(ids_json(posts))])?;
    Ok(rows.iter().map(|row| row.text(0)).collect())
}

/// The timeline entries of `posts` that `readers` have, as they stand,
/// rendered for the readers' cached pages: a post deleted, or a reader who
/// unfollowed, since it was published is not there to add back. Each post
/// is read and rendered once, however many readers it has.
pub fn timeline_items(db: &Db, posts: &[PostId], readers: &[String]) -> ApiResult<Vec<NewItem>> {
    let ids = ids_json(posts);
    let Some(params) = entries_params(posts, &ids, readers) else {
        return Ok(Vec::new());
    };
    let mut rendered = std::collections::HashMap::new();
    for row in db.rows(POSTS_BY_ID, &[text(&ids)])? {
        let post = Post::from_columns(&row, 0);
        let json = serde_json::to_string(&post).map_err(anyhow::Error::from)?;
        rendered.insert(post.id, json);
    }
    let entries = db.rows(TIMELINE_ENTRIES, &params)?;
    Ok(entries
        .iter()
        .filter_map(|row| {
            let key = row.text(1);
            let json = rendered.get(&key)?.clone();
            Some(NewItem {
                scope: row.text(0),
                key,
                json,
            })
        })
        .collect())
}

/// The parameters of [`TIMELINE_ENTRIES`], `ids` being [`ids_json`] of
/// `posts`; `None` for no posts.
fn entries_params(posts: &[PostId], ids: &str, readers: &[String]) -> Option<Vec<Value>> {
    let (Some(oldest), Some(newest)) = (posts.iter().min(), posts.iter().max()) else {
        return None;
    };
    Some(vec![
        text(ids),
        text(json_array(readers)),
        text(oldest.as_str()),
        text(newest.as_str()),
    ])
}

/// The ids of `posts`, for `json_each(?)`.
fn ids_json(posts: &[PostId]) -> String {
    json_array(posts.iter().map(PostId::as_str))
}

/// Prefixes a statement with the table `holders` (reader, post_id): who may
/// hold an entry of the posts in `?1` (a JSON array of ids). The timeline
/// has no post index (ADR 0027), but an entry's reader is always the post's
/// author or, unless the post is pulled, one of the author's followers:
/// fan-out and backfill write only those, and an unfollow deletes what it
/// would leave behind. Posts are found by the copies' post index.
macro_rules! with_holders {
    ($($sql:tt)+) => {
        concat!(
            "WITH p AS (SELECT a.author_id, a.post_id, a.pulled FROM json_each(?1) AS n
                CROSS JOIN author_posts AS a ON a.post_id = n.value),
            holders AS (SELECT p.author_id AS reader, p.post_id FROM p
                UNION ALL SELECT f.follower_id, p.post_id FROM p
                    CROSS JOIN follows AS f ON f.followee_id = p.author_id WHERE p.pulled = 0) ",
            $($sql)+
        )
    };
}

/// The readers who may hold the posts in `?1` (a JSON array of ids). An
/// entry trimmed since only makes a reader's page be read for nothing.
const TIMELINE_READERS: &str = with_holders!("SELECT DISTINCT reader FROM holders");

/// The (reader, post) timeline entries of the posts in `?1` that the readers
/// in `?2` (both JSON arrays) have; `?3` and `?4` are the oldest and newest
/// of the posts. Each reader's timeline is read from `?3` to `?4`, one range
/// of the primary key: a batch's posts are about its newest entries, so the
/// range holds little else, and reading it in order is half the cost of
/// looking each (reader, post) pair up. (The `+` keeps SQLite from seeking
/// each post in each reader's range instead: a million seeks per batch.)
const TIMELINE_ENTRIES: &str = "SELECT t.user_id, t.post_id FROM json_each(?2) AS r
    CROSS JOIN timeline AS t ON t.user_id = r.value AND t.post_id BETWEEN ?3 AND ?4
    WHERE +t.post_id IN (SELECT value FROM json_each(?1))";

/// The copies of the posts in `?1` (a JSON array of ids), by the post index.
const POSTS_BY_ID: &str = concat!(
    "SELECT ",
    post_columns!(),
    " FROM json_each(?1) AS n CROSS JOIN author_posts AS p ON p.post_id = n.value"
);

/// The readers whose timelines hold `post`, and its author if given.
pub fn readers_of_post(author: Option<&UserId>, post: &PostId) -> Statement {
    Statement::new(
        with_holders!(
            "SELECT ?2 WHERE ?2 IS NOT NULL
             UNION SELECT h.reader FROM holders AS h WHERE EXISTS
                 (SELECT 1 FROM timeline AS t WHERE t.user_id = h.reader AND t.post_id = h.post_id)"
        ),
        vec![
            text(serde_json::json!([post.as_str()]).to_string()),
            opt_text(author.map(UserId::as_str)),
        ],
    )
}

/// `author` and the readers who may hold any of their posts: their
/// followers.
pub fn readers_of_author(author: &UserId) -> Statement {
    Statement::new(
        "SELECT ?1 UNION SELECT follower_id FROM follows WHERE followee_id = ?1",
        vec![text(author.as_str())],
    )
}

/// The authors with pulled posts that `?1` follows. Pull authors are few,
/// so they drive the join (`CROSS JOIN` fixes the order).
const PULL_AUTHORS_FOLLOWED: &str = "SELECT b.author_id FROM pull_authors AS b
    CROSS JOIN follows AS f ON f.follower_id = ?1 AND f.followee_id = b.author_id";

/// The authors with pulled posts that `reader` follows.
pub fn pull_authors_followed(db: &Db, reader: &UserId) -> ApiResult<Vec<String>> {
    Ok(db
        .rows(PULL_AUTHORS_FOLLOWED, &[text(reader.as_str())])?
        .iter()
        .map(|r| r.text(0))
        .collect())
}

/// Up to `limit` readers whose first pages a warm fills ([`crate::warm`]):
/// those with a timeline, in id order.
pub fn readers_to_warm(db: &Db, limit: i64) -> ApiResult<Vec<UserId>> {
    Ok(db
        .rows(&readers_to_warm_sql(), &[int(limit)])?
        .iter()
        .filter_map(|r| UserId::parse(&r.text(0)).ok())
        .collect())
}

/// The first pages of the readers in the JSON array `?1`, `?2` posts each,
/// as [`TIMELINE_PAGE`] reads them one by one: per reader, the `?2`-th newest
/// entry that has its copy bounds one range of the timeline.
const FIRST_PAGES: &str = concat!(
    "SELECT r.value, ",
    post_columns!(),
    " FROM json_each(?1) AS r
    CROSS JOIN timeline AS t ON t.user_id = r.value AND t.post_id >= coalesce((
        SELECT t2.post_id FROM timeline AS t2
        CROSS JOIN author_posts AS p2 ON p2.author_id = t2.author_id AND p2.post_id = t2.post_id
        WHERE t2.user_id = r.value ORDER BY t2.post_id DESC LIMIT 1 OFFSET ?2 - 1), '')
    CROSS JOIN author_posts AS p ON p.author_id = t.author_id AND p.post_id = t.post_id
    ORDER BY r.key, t.post_id DESC"
);

fn readers_to_warm_sql() -> String {
    shared::db::distinct_values_sql("timeline", "user_id")
}

/// The first `fetch` posts of each reader's timeline, newest first, in one
/// statement: (reader, posts) for each reader with any. Pulled posts are not
/// read: see [`readers_pulling`].
pub fn first_pages(db: &Db, readers: &[&str], fetch: i64) -> ApiResult<Vec<(String, Vec<Post>)>> {
    let rows = db.rows(FIRST_PAGES, &[text(json_array(readers)), int(fetch)])?;
    Ok(shared::db::grouped(rows, |row| Post::from_columns(row, 1)))
}

/// The readers who follow an author with pulled posts, from the few pulled
/// authors (`CROSS JOIN` keeps them driving the join).
const READERS_PULLING: &str = "SELECT DISTINCT f.follower_id FROM pull_authors AS b
    CROSS JOIN follows AS f ON f.followee_id = b.author_id";

/// The readers whose pages hold pulled posts, which are not cached.
pub fn readers_pulling(db: &Db) -> ApiResult<std::collections::HashSet<String>> {
    Ok(db
        .rows(READERS_PULLING, &[])?
        .iter()
        .map(|r| r.text(0))
        .collect())
}

/// The feed's cache (see `runtime-config.toml`).
pub const CACHE_LABEL: &str = "feed_cache";

/// The feed's page cache, if its store opens.
pub fn cache() -> Option<shared::cache::Cache> {
    shared::cache::Cache::open(CACHE_LABEL)
}

/// A post's counts changed: keep them unless newer ones were applied.
pub fn counts_changed(post: &PostId, likes: i64, replies: i64, version: i64) -> Vec<Statement> {
    vec![Statement::new(
        "UPDATE author_posts SET like_count = ?2, reply_count = ?3, counts_version = ?4
         WHERE post_id = ?1 AND counts_version < ?4",
        vec![text(post.as_str()), int(likes), int(replies), int(version)],
    )]
}

/// A post was deleted: tombstone it and remove it everywhere.
pub fn post_deleted(author: &UserId, post: &PostId) -> Vec<Statement> {
    let (a, p) = (text(author.as_str()), text(post.as_str()));
    vec![
        Statement::new(
            concat!(
                "INSERT OR IGNORE INTO deleted_posts (post_id, deleted_ms) VALUES (?1, ",
                shared::now_ms_sql!(),
                ")"
            ),
            vec![p.clone()],
        ),
        Statement::new(
            "DELETE FROM author_posts WHERE author_id = ?1 AND post_id = ?2",
            vec![a.clone(), p.clone()],
        ),
        // Its entries: the author's and the followers' (ADR 0027).
        Statement::new(
            "DELETE FROM timeline WHERE post_id = ?2 AND user_id IN
                 (SELECT ?1 UNION SELECT follower_id FROM follows WHERE followee_id = ?1)",
            vec![a, p],
        ),
    ]
}

/// Records `event` as the newest about this follow pair unless a newer one
/// was applied; the statements after it only act when it is the newest.
fn follow_version(f: &Value, e: &Value, event: &Value) -> Statement {
    Statement::new(
        "INSERT INTO follow_versions (follower_id, followee_id, event_id) VALUES (?1, ?2, ?3)
         ON CONFLICT (follower_id, followee_id) DO UPDATE SET event_id = excluded.event_id
         WHERE excluded.event_id > follow_versions.event_id",
        vec![f.clone(), e.clone(), event.clone()],
    )
}

/// `follower` followed `followee` (`event` is the event's id): record it and
/// backfill the follower's timeline with the followee's newest posts.
pub fn follow_created(follower: &UserId, followee: &UserId, event: &str) -> Vec<Statement> {
    let (f, e, v) = (
        text(follower.as_str()),
        text(followee.as_str()),
        text(event),
    );
    vec![
        follow_version(&f, &e, &v),
        Statement::new(
            "INSERT OR IGNORE INTO follows (follower_id, followee_id)
             SELECT ?1, ?2
             WHERE NOT EXISTS (SELECT 1 FROM deleted_users WHERE user_id IN (?1, ?2))
               AND EXISTS (SELECT 1 FROM follow_versions
                           WHERE follower_id = ?1 AND followee_id = ?2 AND event_id = ?3)",
            vec![f.clone(), e.clone(), v],
        ),
        Statement::new(
            "INSERT OR IGNORE INTO timeline (user_id, post_id, author_id)
             SELECT ?1, post_id, author_id FROM author_posts
             WHERE author_id = ?2 AND pulled = 0
               AND EXISTS (SELECT 1 FROM follows WHERE follower_id = ?1 AND followee_id = ?2)
             ORDER BY post_id DESC LIMIT ?3",
            vec![f, e, int(TIMELINE_LEN)],
        ),
        trim(follower),
    ]
}

/// `follower` unfollowed `followee` (`event` is the event's id): the
/// followee's posts leave the follower's timeline.
pub fn follow_deleted(follower: &UserId, followee: &UserId, event: &str) -> Vec<Statement> {
    let (f, e, v) = (
        text(follower.as_str()),
        text(followee.as_str()),
        text(event),
    );
    vec![
        follow_version(&f, &e, &v),
        Statement::new(
            "DELETE FROM follows WHERE follower_id = ?1 AND followee_id = ?2
               AND EXISTS (SELECT 1 FROM follow_versions
                           WHERE follower_id = ?1 AND followee_id = ?2 AND event_id = ?3)",
            vec![f.clone(), e.clone(), v],
        ),
        // Whatever the version: without a follow, none of theirs belongs here.
        Statement::new(
            "DELETE FROM timeline WHERE user_id = ?1 AND author_id = ?2
               AND NOT EXISTS (SELECT 1 FROM follows WHERE follower_id = ?1 AND followee_id = ?2)",
            vec![f, e],
        ),
    ]
}

/// An account's password changed: its tokens below `version` stop working.
pub fn credentials_changed(user: &UserId, version: i64) -> Vec<Statement> {
    vec![Statement::new(
        CUT_OFF_SQL,
        vec![text(user.as_str()), int(version)],
    )]
}

/// Selects no reader (for changes that show in no feed page).
pub fn nobody() -> Statement {
    Statement::new("SELECT NULL WHERE 0", Vec::new())
}

/// An account was deleted: tombstone it and stop its tokens; its follows,
/// timeline and posts go.
pub fn user_deleted(user: &UserId) -> Vec<Statement> {
    let u = text(user.as_str());
    vec![
        Statement::new(CUT_OFF_SQL, vec![u.clone(), int(ACCOUNT_DELETED)]),
        Statement::new(
            concat!(
                "INSERT OR IGNORE INTO deleted_users (user_id, deleted_ms) VALUES (?1, ",
                shared::now_ms_sql!(),
                ")"
            ),
            vec![u.clone()],
        ),
        // Its posts' entries in its followers' timelines (ADR 0027), by
        // primary key; its own timeline goes next. Before its follows go.
        Statement::new(
            "DELETE FROM timeline WHERE (user_id, post_id) IN (
                 SELECT f.follower_id, p.post_id FROM follows AS f
                     CROSS JOIN author_posts AS p ON p.author_id = f.followee_id
                 WHERE f.followee_id = ?1)",
            vec![u.clone()],
        ),
        Statement::new("DELETE FROM timeline WHERE user_id = ?1", vec![u.clone()]),
        Statement::new(
            "DELETE FROM author_posts WHERE author_id = ?1",
            vec![u.clone()],
        ),
        Statement::new(
            "DELETE FROM pull_authors WHERE author_id = ?1",
            vec![u.clone()],
        ),
        Statement::new(
            "DELETE FROM follows WHERE follower_id = ?1",
            vec![u.clone()],
        ),
        // Its follow_versions rows stay: the tombstone already makes them inert.
        Statement::new("DELETE FROM follows WHERE followee_id = ?1", vec![u]),
    ]
}

/// Keeps only the newest [`TIMELINE_LEN`] entries of `user`'s timeline.
pub fn trim(user: &UserId) -> Statement {
    Statement::new(
        "DELETE FROM timeline WHERE user_id = ?1 AND post_id <= (
            SELECT post_id FROM timeline WHERE user_id = ?1
            ORDER BY post_id DESC LIMIT 1 OFFSET ?2)",
        vec![text(user.as_str()), int(TIMELINE_LEN)],
    )
}

/// The columns of a feed page, as [`Post::from_columns`] reads them.
const POST_COLUMNS: &str = post_columns!();

/// A page of the reader's timeline (`?1`), each entry joined to its copy:
/// the range drives the lookups (`CROSS JOIN`: SQLite 3.49, which Spin 4
/// bundles, would otherwise scan every copy in post order). `{before}` is
/// empty for the first page, or `AND t.post_id < ?2`; `?3` rows.
const TIMELINE_PAGE: &str = "FROM timeline AS t
    CROSS JOIN author_posts AS p ON p.author_id = t.author_id AND p.post_id = t.post_id
    WHERE t.user_id = ?1 {before} ORDER BY t.post_id DESC LIMIT ?3";

/// The newest pulled posts of one author (`?1`), newest first, from the
/// pulled posts' index: `{before}` as above, `?3` rows.
const PULLED_PAGE: &str = "FROM author_posts AS p
    WHERE p.author_id = ?1 AND p.pulled = 1 {before} ORDER BY p.post_id DESC LIMIT ?3";

/// The feed read: up to `fetch` Posts of `user`'s timeline, newest first,
/// older than `before` when given, merged with the newest pulled posts of
/// each author in `pulled` (see [`pull_authors_followed`]). A pulled post is
/// in no follower's timeline, so the two never overlap. Each query is one
/// range scan of a primary key or index that stops at `fetch` rows.
pub fn timeline_page(
    db: &Db,
    user: &UserId,
    before: Option<&PostId>,
    fetch: i64,
    pulled: &[String],
) -> ApiResult<Vec<Post>> {
    let mut posts = Vec::new();
    for (sql, params) in page_queries(user, before, fetch, pulled) {
        posts.extend(
            db.rows(&sql, &params)?
                .iter()
                .map(|row| Post::from_columns(row, 0)),
        );
    }
    Ok(newest(posts, fetch, |p| p.id.clone()))
}

/// The queries of a feed page: the timeline's, then one per pulled author.
fn page_queries(
    user: &UserId,
    before: Option<&PostId>,
    fetch: i64,
    pulled: &[String],
) -> Vec<(String, Vec<Value>)> {
    let cursor = before.map(|c| text(c.as_str())).unwrap_or(Value::Null);
    let query = |template: &str, column: &str, scope: &str| {
        let before = match before {
            Some(_) => format!("AND {column} < ?2"),
            None => String::new(),
        };
        (
            format!(
                "SELECT {POST_COLUMNS} {}",
                template.replace("{before}", &before)
            ),
            vec![text(scope), cursor.clone(), int(fetch)],
        )
    };
    std::iter::once(query(TIMELINE_PAGE, "t.post_id", user.as_str()))
        .chain(pulled.iter().map(|a| query(PULLED_PAGE, "p.post_id", a)))
        .collect()
}

/// The newest `fetch` of `items` by key, newest first.
fn newest<T>(mut items: Vec<T>, fetch: i64, key: impl Fn(&T) -> String) -> Vec<T> {
    items.sort_by_key(|item| std::cmp::Reverse(key(item)));
    items.truncate(fetch.max(0) as usize);
    items
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    //! The plans run against a real (native) SQLite, as the host runs them.

    use super::*;
    use rusqlite::Connection;

    struct Store(Connection);

    fn sql_value(v: &Value) -> rusqlite::types::Value {
        use rusqlite::types::Value as V;
        match v {
            Value::Integer(n) => V::Integer(*n),
            Value::Real(f) => V::Real(*f),
            Value::Text(s) => V::Text(s.clone()),
            Value::Blob(b) => V::Blob(b.clone()),
            Value::Null => V::Null,
        }
    }

    impl Store {
        fn new() -> Self {
            let conn = Connection::open_in_memory().unwrap();
            for migration in MIGRATIONS {
                for sql in *migration {
                    conn.execute(sql, []).unwrap();
                }
            }
            Self(conn)
        }

        fn run(&self, plan: Vec<Statement>) {
            for s in plan {
                let params = rusqlite::params_from_iter(s.params.iter().map(sql_value));
                self.0
                    .execute(s.sql, params)
                    .unwrap_or_else(|e| panic!("{}: {e}", s.sql));
            }
        }

        fn page(&self, user: &UserId, before: Option<&PostId>, fetch: i64) -> Vec<PostId> {
            let pulled: Vec<String> = self
                .0
                .prepare(PULL_AUTHORS_FOLLOWED)
                .unwrap()
                .query_map([user.as_str()], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let mut ids = Vec::new();
            for (sql, params) in page_queries(user, before, fetch, &pulled) {
                let mut stmt = self.0.prepare(&sql).unwrap();
                ids.extend(
                    stmt.query_map(
                        rusqlite::params_from_iter(params.iter().map(sql_value)),
                        |r| r.get::<_, String>(0),
                    )
                    .unwrap()
                    .map(|id| PostId::parse(&id.unwrap()).unwrap()),
                );
            }
            newest(ids, fetch, |id| id.as_str().to_string())
        }

        fn timeline(&self, user: &UserId) -> Vec<PostId> {
            self.page(user, None, 10_000)
        }

        fn count(&self, sql: &str) -> i64 {
            self.0.query_row(sql, [], |r| r.get(0)).unwrap()
        }
    }

    fn user(n: u8) -> UserId {
        UserId::parse(&shared::ids::id_from(1, [n; 10])).unwrap()
    }

    /// Post ids sort by `t`, as the post service's ids sort by time.
    fn post(t: i64) -> PostId {
        PostId::parse(&shared::ids::id_from(1_000 + t, [7; 10])).unwrap()
    }

    fn newest_first(ts: impl IntoIterator<Item = i64>) -> Vec<PostId> {
        let mut ids: Vec<PostId> = ts.into_iter().map(post).collect();
        ids.sort();
        ids.reverse();
        ids
    }

    /// A fresh event id, later than every one before it.
    fn event() -> String {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{n:020}")
    }

    fn follow(store: &Store, follower: &UserId, followee: &UserId) {
        store.run(follow_created(follower, followee, &event()));
    }

    fn unfollow(store: &Store, follower: &UserId, followee: &UserId) {
        store.run(follow_deleted(follower, followee, &event()));
    }

    fn publish(store: &Store, author: &UserId, t: i64) {
        publish_with_limit(store, author, t, DEFAULT_FANOUT_LIMIT);
    }

    #[test]
    fn every_timeline_entry_belongs_to_its_author_or_one_of_their_followers() {
        // ADR 0027 finds a post's entries through `follows`: this holds after
        // any sequence of events, in or out of order (a fixed pseudo-random
        // one here, some events delivered late with their original ids).
        let store = Store::new();
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut late: Vec<Vec<Statement>> = Vec::new();
        for t in 0..600 {
            let (a, b) = (user(next(6) as u8 + 1), user(next(6) as u8 + 1));
            let plan = match next(10) {
                0..=3 => {
                    publish_with_limit(&store, &a, t, 3);
                    continue;
                }
                4..=5 if a != b => follow_created(&a, &b, &event()),
                6..=7 if a != b => follow_deleted(&a, &b, &event()),
                8 => post_deleted(&a, &post(next(t.max(1) as u64) as i64)),
                9 if t % 7 == 0 => user_deleted(&a),
                _ => continue,
            };
            if next(4) == 0 {
                late.push(plan);
            } else {
                store.run(plan);
            }
            if next(8) == 0 {
                late.drain(..).for_each(|plan| store.run(plan));
            }
        }
        late.into_iter().for_each(|plan| store.run(plan));

        assert!(store.count("SELECT count(*) FROM timeline") > 0);
        assert_eq!(
            store.count(
                "SELECT count(*) FROM timeline AS t WHERE t.user_id != t.author_id
                 AND NOT EXISTS (SELECT 1 FROM follows
                     WHERE follower_id = t.user_id AND followee_id = t.author_id)"
            ),
            0
        );
    }

    #[test]
    fn the_readers_of_a_post_are_its_author_and_the_followers_who_hold_it() {
        // Arrange: bob and carol follow alice, who posts; carol unfollows
        // (her entry goes); dave follows only bob.
        let store = Store::new();
        let (alice, bob, carol, dave) = (user(1), user(2), user(3), user(4));
        follow(&store, &bob, &alice);
        follow(&store, &carol, &alice);
        follow(&store, &dave, &bob);
        publish(&store, &alice, 1);
        unfollow(&store, &carol, &alice);
        let names = |users: &[&UserId]| -> Vec<String> {
            let mut names: Vec<String> = users.iter().map(|u| u.as_str().to_string()).collect();
            names.sort();
            names
        };

        // Act
        let of_post = select(&store, readers_of_post(None, &post(1)));
        let with_deleter = select(&store, readers_of_post(Some(&dave), &post(1)));
        let of_author = select(&store, readers_of_author(&alice));

        // Assert
        assert_eq!(of_post, names(&[&alice, &bob]));
        assert_eq!(with_deleter, names(&[&alice, &bob, &dave]));
        assert_eq!(of_author, names(&[&alice, &bob]));
    }

    #[test]
    fn a_new_post_reaches_its_author_and_followers_but_no_one_else() {
        let store = Store::new();
        let (alice, bob, carol) = (user(1), user(2), user(3));
        follow(&store, &bob, &alice);
        publish(&store, &alice, 1);
        assert_eq!(store.timeline(&alice), vec![post(1)]);
        assert_eq!(store.timeline(&bob), vec![post(1)]);
        assert!(store.timeline(&carol).is_empty());
    }

    #[test]
    fn following_backfills_recent_posts_and_unfollowing_removes_only_theirs() {
        let store = Store::new();
        let (alice, bob) = (user(1), user(2));
        publish(&store, &alice, 1);
        publish(&store, &alice, 3);
        publish(&store, &bob, 2);
        follow(&store, &bob, &alice);
        assert_eq!(store.timeline(&bob), newest_first([1, 2, 3]));
        unfollow(&store, &bob, &alice);
        assert_eq!(store.timeline(&bob), vec![post(2)]);
        publish(&store, &alice, 4);
        assert_eq!(store.timeline(&bob), vec![post(2)]);
    }

    #[test]
    fn applying_the_same_plan_twice_duplicates_nothing() {
        let store = Store::new();
        let (alice, bob) = (user(1), user(2));
        let follow_event = event();
        for _ in 0..2 {
            store.run(follow_created(&bob, &alice, &follow_event));
            publish(&store, &alice, 1);
        }
        assert_eq!(store.timeline(&bob), vec![post(1)]);
        assert_eq!(store.count("SELECT count(*) FROM follows"), 1);
        assert_eq!(store.count("SELECT count(*) FROM author_posts"), 1);
    }

    #[test]
    fn a_follow_overtaken_by_its_unfollow_in_delivery_stays_undone() {
        let store = Store::new();
        let (alice, bob) = (user(1), user(2));
        publish(&store, &alice, 1);
        let (followed, unfollowed) = (event(), event());
        store.run(follow_deleted(&bob, &alice, &unfollowed));
        store.run(follow_created(&bob, &alice, &followed));
        assert!(store.timeline(&bob).is_empty());
        publish(&store, &alice, 2);
        assert!(store.timeline(&bob).is_empty());
        assert_eq!(store.count("SELECT count(*) FROM follows"), 0);
    }

    #[test]
    fn an_unfollow_overtaken_by_a_later_follow_changes_nothing() {
        let store = Store::new();
        let (alice, bob) = (user(1), user(2));
        publish(&store, &alice, 1);
        let (unfollowed, followed) = (event(), event());
        store.run(follow_created(&bob, &alice, &followed));
        store.run(follow_deleted(&bob, &alice, &unfollowed));
        assert_eq!(store.timeline(&bob), vec![post(1)]);
        assert_eq!(store.count("SELECT count(*) FROM follows"), 1);
    }

    #[test]
    fn a_deleted_post_leaves_every_timeline_and_never_comes_back() {
        let store = Store::new();
        let (alice, bob) = (user(1), user(2));
        follow(&store, &bob, &alice);
        publish(&store, &alice, 1);
        publish(&store, &alice, 2);
        store.run(post_deleted(&alice, &post(1)));
        assert_eq!(store.timeline(&bob), vec![post(2)]);
        assert_eq!(store.timeline(&alice), vec![post(2)]);
        // A late redelivery of its creation, and a new follower's backfill.
        publish(&store, &alice, 1);
        follow(&store, &user(3), &alice);
        assert_eq!(store.timeline(&bob), vec![post(2)]);
        assert_eq!(store.timeline(&user(3)), vec![post(2)]);
    }

    #[test]
    fn a_deletion_that_arrives_before_the_creation_still_wins() {
        let store = Store::new();
        let alice = user(1);
        store.run(post_deleted(&alice, &post(1)));
        publish(&store, &alice, 1);
        assert!(store.timeline(&alice).is_empty());
        assert_eq!(store.count("SELECT count(*) FROM author_posts"), 0);
    }

    #[test]
    fn a_deleted_account_vanishes_from_every_timeline_and_stays_gone() {
        let store = Store::new();
        let (alice, bob, carol) = (user(1), user(2), user(3));
        follow(&store, &bob, &alice);
        follow(&store, &alice, &carol);
        publish(&store, &alice, 1);
        publish(&store, &bob, 2);
        publish(&store, &carol, 3);
        store.run(user_deleted(&alice));
        assert_eq!(store.timeline(&bob), vec![post(2)]);
        assert!(store.timeline(&alice).is_empty());
        assert_eq!(store.count("SELECT count(*) FROM follows"), 0);
        // Late events about the account change nothing.
        publish(&store, &alice, 4);
        follow(&store, &bob, &alice);
        follow(&store, &alice, &carol);
        publish(&store, &carol, 5);
        assert_eq!(store.timeline(&bob), vec![post(2)]);
        assert!(store.timeline(&alice).is_empty());
        assert_eq!(store.count("SELECT count(*) FROM follows"), 0);
    }

    #[test]
    fn about_one_post_in_trim_every_trims() {
        // Ids a second apart, as the post service makes them: only the time
        // part differs, which a plain sum of the bytes spread badly.
        let n = 64 * TRIM_EVERY;
        let trimming = (0..n)
            .filter(|t| trims(&post(i64::from(*t) * 1000)))
            .count();
        let expected = (n / TRIM_EVERY) as usize;
        assert!(
            (expected / 2..expected * 2).contains(&trimming),
            "{trimming} of {n} posts trim, expected about {expected}"
        );
    }

    #[test]
    fn fan_out_keeps_the_newest_entries_of_each_timeline_and_trims_the_rest() {
        let store = Store::new();
        let (alice, bob, carol) = (user(1), user(2), user(3));
        follow(&store, &bob, &alice);
        publish(&store, &carol, 0);
        follow(&store, &bob, &carol);
        // Posts that do not trim, more than a timeline keeps; then one that
        // does.
        let quiet: Vec<i64> = (1..)
            .filter(|t| !trims(&post(*t)))
            .take(TIMELINE_LEN as usize + 100)
            .collect();
        for t in &quiet {
            publish(&store, &alice, *t);
        }
        assert_eq!(
            store.timeline(&bob).len(),
            quiet.len() + 1,
            "none trimmed yet"
        );
        let last = (quiet[quiet.len() - 1] + 1..)
            .find(|t| trims(&post(*t)))
            .unwrap();
        publish(&store, &alice, last);

        let mut kept: Vec<i64> = quiet[quiet.len() + 1 - TIMELINE_LEN as usize..].to_vec();
        kept.push(last);
        let newest = newest_first(kept);
        for reader in [&alice, &bob] {
            assert_eq!(store.timeline(reader), newest, "the newest are kept");
        }
        assert!(
            !store.timeline(&bob).contains(&post(0)),
            "carol's older post is trimmed too"
        );
        assert_eq!(store.timeline(&carol), vec![post(0)]);
        // All posts stay, for backfill.
        assert_eq!(
            store.count("SELECT count(*) FROM author_posts"),
            quiet.len() as i64 + 2
        );
    }

    #[test]
    fn backfill_brings_at_most_the_newest_entries_and_trims_the_timeline() {
        let store = Store::new();
        let (alice, bob) = (user(1), user(2));
        publish(&store, &bob, 0);
        for t in 1..=TIMELINE_LEN + 3 {
            publish(&store, &alice, t);
        }
        follow(&store, &bob, &alice);
        assert_eq!(store.timeline(&bob), newest_first(4..=TIMELINE_LEN + 3));
    }

    #[test]
    fn the_readers_to_warm_are_those_with_a_timeline_in_id_order_up_to_the_limit() {
        // Arrange: 2 follows 1; 1 and 4 post; 3 never shows up.
        let store = Store::new();
        follow(&store, &user(2), &user(1));
        publish(&store, &user(1), 1);
        publish(&store, &user(4), 2);

        // Act
        let readers = |limit: i64| -> Vec<String> {
            store
                .0
                .prepare(&readers_to_warm_sql())
                .unwrap()
                .query_map([limit], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };

        // Assert
        let all = [user(1), user(2), user(4)].map(|u| u.as_str().to_string());
        assert_eq!(readers(10), all.to_vec());
        assert_eq!(readers(2), all[..2].to_vec());
    }

    #[test]
    fn first_pages_read_together_are_each_readers_page_read_alone() {
        // Arrange: 2 follows 1 and 3; 3 follows 1; each posts in turn.
        let store = Store::new();
        for (follower, followee) in [(2, 1), (2, 3), (3, 1)] {
            follow(&store, &user(follower), &user(followee));
        }
        for t in 0..12 {
            publish(&store, &user([1, 2, 3][t as usize % 3]), t);
        }
        let readers = [user(3), user(1), user(9), user(2)];

        // Act: three posts each, and a reader with no timeline.
        let ids: Vec<&str> = readers.iter().map(UserId::as_str).collect();
        let json = serde_json::to_string(&ids).unwrap();
        let mut stmt = store.0.prepare(FIRST_PAGES).unwrap();
        let rows: Vec<(String, String)> = stmt
            .query_map(rusqlite::params![json, 3], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();

        // Assert: in the readers' order, each page as a reader's own read.
        let alone: Vec<(String, String)> = readers
            .iter()
            .flat_map(|reader| {
                store
                    .page(reader, None, 3)
                    .into_iter()
                    .map(|post| (reader.as_str().to_string(), post.as_str().to_string()))
            })
            .collect();
        assert_eq!(rows.len(), 9);
        assert_eq!(rows, alone);
    }

    #[test]
    fn the_readers_pulling_are_the_followers_of_authors_with_pulled_posts() {
        // Arrange: 2 and 3 follow 1, whose posts are pulled; 4 follows 3.
        let store = Store::new();
        for (follower, followee) in [(2, 1), (3, 1), (4, 3)] {
            follow(&store, &user(follower), &user(followee));
        }
        store
            .0
            .execute(
                "INSERT INTO pull_authors (author_id) VALUES (?1)",
                [user(1).as_str()],
            )
            .unwrap();

        // Act
        let mut pulling: Vec<String> = store
            .0
            .prepare(READERS_PULLING)
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        pulling.sort();

        // Assert
        assert_eq!(pulling, [user(2), user(3)].map(|u| u.as_str().to_string()));
    }

    #[test]
    fn pages_run_newest_first_and_continue_after_the_cursor() {
        let store = Store::new();
        let alice = user(1);
        for t in 1..=5 {
            publish(&store, &alice, t);
        }
        assert_eq!(store.page(&alice, None, 2), newest_first([5, 4]));
        assert_eq!(store.page(&alice, Some(&post(4)), 2), newest_first([3, 2]));
        assert_eq!(store.page(&alice, Some(&post(2)), 2), vec![post(1)]);
        assert!(store.page(&alice, Some(&post(1)), 2).is_empty());
    }

    #[test]
    fn a_page_carries_the_post_copy_and_keeps_the_newest_counts() {
        let store = Store::new();
        let alice = user(1);
        publish(&store, &alice, 1);
        store.run(counts_changed(&post(1), 3, 1, 2));
        // Older counts arriving late change nothing.
        store.run(counts_changed(&post(1), 1, 0, 1));
        let (sql, params) = page_queries(&alice, None, 10, &[]).remove(0);
        let row: (String, String, i64, i64) = store
            .0
            .query_row(
                &sql,
                rusqlite::params_from_iter(params.iter().map(sql_value)),
                |r| Ok((r.get(2)?, r.get(3)?, r.get(6)?, r.get(7)?)),
            )
            .unwrap();
        assert_eq!(row, ("alice".into(), "hello".into(), 3, 1));
    }

    fn new_post(author: &UserId, t: i64) -> NewPost {
        NewPost {
            id: post(t),
            author: author.clone(),
            author_username: "alice".into(),
            body: "hello".into(),
            created_ms: 1_000 + t,
            reply_to: None,
        }
    }

    fn publish_with_limit(store: &Store, author: &UserId, t: i64, fanout_limit: i64) {
        store.run(posts_created(&[new_post(author, t)], fanout_limit));
    }

    #[test]
    fn records_kept_for_the_retention_are_stamped_and_found_by_age() {
        // Arrange
        let store = Store::new();
        let (alice, bob) = (user(1), user(2));
        let now = shared::ids::now_millis();

        // Act
        store.run(post_deleted(&alice, &post(1)));
        store.run(user_deleted(&bob));

        // Assert: tombstones carry the time they were written, and every
        // kept table is pruned through an index on that time.
        for kept in KEPT.iter().skip(1) {
            let stamped = store.count(&format!(
                "SELECT min({}) FROM {}",
                kept.time_column, kept.table
            ));
            assert!(
                (stamped - now).abs() < 60_000,
                "{}: {stamped} vs {now}",
                kept.table
            );
        }
        for kept in KEPT {
            let plan: String = store
                .0
                .query_row(
                    &format!(
                        "EXPLAIN QUERY PLAN DELETE FROM {} WHERE {} < 0",
                        kept.table, kept.time_column
                    ),
                    [],
                    |r| r.get(3),
                )
                .unwrap();
            assert!(
                plan.contains("USING") && plan.contains("INDEX"),
                "{}: {plan}",
                kept.table
            );
        }
    }

    /// The (reader, post) pairs that [`super::timeline_items`] gives for
    /// `posts` when every reader has a page, sorted: the entries of the
    /// readers `TIMELINE_READERS` names, of the posts `POSTS_BY_ID` finds.
    fn timeline_items(store: &Store, posts: &[PostId]) -> Vec<(String, String)> {
        let ids = ids_json(posts);
        let column = |sql: &str| -> Vec<String> {
            let mut stmt = store.0.prepare(sql).unwrap();
            stmt.query_map([&ids], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        let readers = column(TIMELINE_READERS);
        let copies = column(POSTS_BY_ID);
        let mut pairs: Vec<(String, String)> = timeline_entries(store, posts, &readers)
            .into_iter()
            .filter(|(_, post)| copies.contains(post))
            .collect();
        pairs.sort();
        pairs
    }

    /// The (reader, post) pairs `TIMELINE_ENTRIES` gives.
    fn timeline_entries(
        store: &Store,
        posts: &[PostId],
        readers: &[String],
    ) -> Vec<(String, String)> {
        let params = entries_params(posts, &ids_json(posts), readers).unwrap();
        let mut stmt = store.0.prepare(TIMELINE_ENTRIES).unwrap();
        stmt.query_map(
            rusqlite::params_from_iter(params.iter().map(sql_value)),
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
        .map(Result::unwrap)
        .collect()
    }

    #[test]
    fn only_the_readers_named_get_items() {
        // Arrange: bob and carol follow alice, who posts.
        let store = Store::new();
        let (alice, bob, carol) = (user(1), user(2), user(3));
        follow(&store, &bob, &alice);
        follow(&store, &carol, &alice);
        publish(&store, &alice, 1);

        // Act: only bob has a page.
        let pairs = timeline_entries(&store, &[post(1)], &[bob.as_str().to_string()]);

        // Assert
        assert_eq!(
            pairs,
            [(bob.as_str().to_string(), post(1).as_str().to_string())]
        );
    }

    fn select(store: &Store, select: Statement) -> Vec<String> {
        let mut stmt = store.0.prepare(select.sql).unwrap();
        let params = rusqlite::params_from_iter(select.params.iter().map(sql_value));
        let mut rows: Vec<String> = stmt
            .query_map(params, |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        rows.sort();
        rows
    }

    #[test]
    fn a_batch_of_posts_by_several_authors_reaches_each_authors_own_readers() {
        // Arrange: bob follows alice and the star; carol follows the star;
        // with a limit of 2 the star's posts are pulled.
        let store = Store::new();
        let (alice, bob, carol, star, erin) = (user(1), user(2), user(3), user(4), user(5));
        follow(&store, &bob, &alice);
        follow(&store, &bob, &star);
        follow(&store, &carol, &star);
        let batch = [
            new_post(&alice, 1),
            new_post(&star, 2),
            new_post(&erin, 3),
            new_post(&alice, 4),
        ];

        // Act
        let newly_pulled = select(&store, readers_of_newly_pulled(&batch, 2));
        store.run(posts_created(&batch, 2));

        // Assert: each post reached its author and that author's followers;
        // the star's followers lose their cached pages, as readers of pulled
        // posts now, and the pages of everyone else gain the posts.
        let mut star_followers = vec![bob.as_str().to_string(), carol.as_str().to_string()];
        star_followers.sort();
        assert_eq!(newly_pulled, star_followers);
        assert!(
            select(&store, readers_of_newly_pulled(&batch, 2)).is_empty(),
            "only once"
        );
        let ids: Vec<PostId> = batch.iter().map(|p| p.id.clone()).collect();
        let mut expected: Vec<(String, String)> = [
            (&alice, 1),
            (&alice, 4),
            (&bob, 1),
            (&bob, 4),
            (&star, 2),
            (&erin, 3),
        ]
        .iter()
        .map(|(u, t)| (u.as_str().to_string(), post(*t).as_str().to_string()))
        .collect();
        expected.sort();
        assert_eq!(timeline_items(&store, &ids), expected);
        assert_eq!(store.timeline(&alice), newest_first([1, 4]));
        assert_eq!(store.timeline(&bob), newest_first([1, 2, 4]));
        assert_eq!(store.timeline(&carol), newest_first([2]));
        assert_eq!(store.timeline(&erin), newest_first([3]));
        assert_eq!(
            store.count("SELECT count(*) FROM timeline WHERE author_id = (SELECT author_id FROM pull_authors)"),
            1,
            "the pulled post is only in its author's own timeline"
        );
    }

    #[test]
    fn the_items_added_to_cached_pages_are_the_timeline_as_it_now_stands() {
        // Arrange: bob and carol follow alice, who posts twice.
        let store = Store::new();
        let (alice, bob, carol) = (user(1), user(2), user(3));
        follow(&store, &bob, &alice);
        follow(&store, &carol, &alice);
        publish(&store, &alice, 1);
        publish(&store, &alice, 2);

        // Act: after the posts were applied, carol leaves and one goes.
        unfollow(&store, &carol, &alice);
        store.run(post_deleted(&alice, &post(2)));

        // Assert: nothing is added back to carol's page, nor the deleted post.
        let items = timeline_items(&store, &[post(1), post(2)]);
        let readers: Vec<&str> = items.iter().map(|(r, _)| r.as_str()).collect();
        assert_eq!(readers.len(), 2);
        assert!(readers.contains(&alice.as_str()) && readers.contains(&bob.as_str()));
        assert!(items.iter().all(|(_, p)| p == post(1).as_str()));
    }

    #[test]
    fn posts_of_an_author_over_the_fanout_limit_are_pulled_into_followers_pages() {
        let store = Store::new();
        let (star, bob, carol, dave) = (user(1), user(2), user(3), user(4));
        follow(&store, &bob, &star);
        follow(&store, &carol, &star);
        publish_with_limit(&store, &star, 1, 3);
        publish(&store, &bob, 2);
        // Now over the limit: the next post goes into no follower's timeline.
        publish_with_limit(&store, &star, 3, 2);
        assert_eq!(
            store.count("SELECT count(*) FROM timeline WHERE post_id IN (SELECT post_id FROM author_posts WHERE pulled = 1)"),
            1,
            "only the author's own timeline holds the pulled post"
        );
        // Readers see both kinds, newest first, each once, and page through them.
        assert_eq!(store.timeline(&bob), newest_first([1, 2, 3]));
        assert_eq!(store.timeline(&carol), newest_first([1, 3]));
        assert_eq!(store.page(&bob, None, 2), newest_first([3, 2]));
        assert_eq!(store.page(&bob, Some(&post(2)), 2), vec![post(1)]);
        assert_eq!(store.timeline(&star), newest_first([1, 3]));
        // A new follower gets them at once; one who leaves stops seeing them.
        follow(&store, &dave, &star);
        assert_eq!(store.timeline(&dave), newest_first([1, 3]));
        unfollow(&store, &carol, &star);
        assert!(store.timeline(&carol).is_empty());
        // The author's deletion takes the pulled posts too.
        store.run(user_deleted(&star));
        assert_eq!(store.timeline(&bob), vec![post(2)]);
        assert_eq!(store.count("SELECT count(*) FROM pull_authors"), 0);
    }

    #[test]
    fn reading_a_page_walks_only_indexes_and_stops_at_the_page_size() {
        let store = Store::new();
        let star = vec![user(9).as_str().to_string()];
        for before in [None, Some(post(1))] {
            for (sql, params) in page_queries(&user(1), before.as_ref(), 21, &star) {
                let mut stmt = store
                    .0
                    .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                    .unwrap();
                let plan: Vec<String> = stmt
                    .query_map(
                        rusqlite::params_from_iter(params.iter().map(sql_value)),
                        |r| r.get::<_, String>(3),
                    )
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                // A range of the timeline's or the author's posts' primary
                // key, read in its order (no sort, so it stops at the page
                // size); copies are looked up by primary key.
                assert!(plan.iter().all(|p| p.starts_with("SEARCH")), "{plan:?}");
            }
        }
        // The readers of a batch's posts: the posts drive, found by the
        // copies' post index, and their readers by the follows index. No
        // table is scanned.
        let plan_of = |sql: &str, params: &[&dyn rusqlite::ToSql]| -> Vec<String> {
            let mut stmt = store
                .0
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap();
            stmt.query_map(params, |r| r.get::<_, String>(3))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        let empty: &dyn rusqlite::ToSql = &"[]";
        for (sql, params) in [
            (TIMELINE_READERS, vec![empty]),
            (readers_of_post(None, &post(1)).sql, vec![empty, empty]),
        ] {
            let plan = plan_of(sql, &params);
            let by = |index: &str| plan.iter().any(|p| p.contains(index));
            assert!(by("author_posts_by_post (post_id=?)"), "{plan:?}");
            assert!(by("follows_by_followee (followee_id=?)"), "{plan:?}");
            let lists = [
                "SCAN n ",
                "SCAN json_each ",
                "SCAN holders",
                "SCAN CONSTANT ROW",
            ];
            assert!(
                plan.iter()
                    .filter(|p| p.starts_with("SCAN"))
                    .all(|p| lists.iter().any(|list| p.starts_with(list))),
                "only the JSON lists, the CTE and a constant are scanned: {plan:?}"
            );
        }
        // The entries they get: one range of the timeline's primary key per
        // reader, the posts a list to check against.
        let plan = plan_of(TIMELINE_ENTRIES, &[empty, empty, empty, empty]);
        assert_eq!(
            plan[..2],
            [
                "SCAN r VIRTUAL TABLE INDEX 1:",
                "SEARCH t USING PRIMARY KEY (user_id=? AND post_id>? AND post_id<?)",
            ],
            "{plan:?}"
        );
        assert!(
            plan[2..]
                .iter()
                .all(|p| !p.starts_with("SEARCH") && p != "SCAN t"),
            "{plan:?}"
        );
        let plan = plan_of(POSTS_BY_ID, &[empty]);
        assert_eq!(plan.len(), 2, "{plan:?}");
        assert!(plan[0].starts_with("SCAN n"), "{plan:?}");
        assert!(plan[1].contains("author_posts_by_post"), "{plan:?}");
        let mut stmt = store
            .0
            .prepare(&format!("EXPLAIN QUERY PLAN {PULL_AUTHORS_FOLLOWED}"))
            .unwrap();
        let plan: Vec<String> = stmt
            .query_map(["u"], |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            plan,
            [
                "SCAN b",
                "SEARCH f USING PRIMARY KEY (follower_id=? AND followee_id=?)"
            ]
        );
    }
}
