//! The user service's own store: migrations and every SQL statement.
//!
//! Follower and following counts are exact `COUNT`s over the two indexes of
//! the follows table, so they never drift.

use crate::domain::{Bio, DisplayName, User, Username};
use serde::Serialize;
use shared::ApiResult;
use shared::db::{Db, Row, int, text};
use shared::outbox::{DELIVERY_MIGRATION, OUTBOX_MIGRATION};
use shared::ratelimit::{RATE_LIMIT_MIGRATION, RATE_LIMITS};
use shared::retention::Kept;

/// The SQLite database label (see `runtime-config.toml`).
pub const LABEL: &str = "users";

/// The user service's own tables.
const USER_TABLES: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS users (
        id TEXT PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        display_name TEXT NOT NULL,
        bio TEXT NOT NULL DEFAULT '',
        created_ms INTEGER NOT NULL
    ) WITHOUT ROWID",
    // `id` is a time-sortable id of the follow itself: pages of followers
    // and following (newest first) are range scans of the two indexes.
    "CREATE TABLE IF NOT EXISTS follows (
        follower_id TEXT NOT NULL,
        followee_id TEXT NOT NULL,
        id TEXT NOT NULL,
        PRIMARY KEY (follower_id, followee_id)
    ) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS follows_by_followee ON follows (followee_id, id)",
    "CREATE INDEX IF NOT EXISTS follows_by_follower ON follows (follower_id, id)",
    // Service settings, such as the generated signing key.
    "CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
];

/// Each account's credentials version: a password change raises it, and
/// tokens carry the version they were issued under, so older ones stop.
const CREDENTIALS_VERSION: &[&str] =
    &["ALTER TABLE users ADD COLUMN credentials_version INTEGER NOT NULL DEFAULT 0"];

/// Every migration, in order; `Db::open` applies the missing ones.
pub const MIGRATIONS: &[&[&str]] = &[
    OUTBOX_MIGRATION,
    USER_TABLES,
    DELIVERY_MIGRATION,
    CREDENTIALS_VERSION,
    RATE_LIMIT_MIGRATION,
];

/// What the user service forgets after the retention: ended rate-limit
/// windows.
pub const KEPT: &[Kept] = &[RATE_LIMITS];

/// Opens the user store, migrating it on first use.
pub fn open() -> ApiResult<Db> {
    Db::open(LABEL, MIGRATIONS)
}

/// The columns [`user_from_row`] reads, in order, for a `users u` alias.
const USER_COLUMNS: &str = "u.id, u.username, u.display_name, u.bio, u.created_ms,
    (SELECT count(*) FROM follows WHERE followee_id = u.id),
    (SELECT count(*) FROM follows WHERE follower_id = u.id)";

fn user_from_row(row: &Row) -> User {
    User {
        id: row.text(0),
        username: row.text(1),
        display_name: row.text(2),
        bio: row.text(3),
        created_at: shared::ids::rfc3339(row.int(4)),
        followers_count: row.int(5),
        following_count: row.int(6),
    }
}

/// A new account.
pub struct NewUser<'a> {
    /// Its id.
    pub id: &'a str,
    /// Its username.
    pub username: &'a Username,
    /// The encoded password hash.
    pub password_hash: &'a str,
    /// Its display name.
    pub display_name: &'a DisplayName,
    /// Its bio.
    pub bio: &'a Bio,
    /// Creation time.
    pub created_ms: i64,
}

/// Inserts an account; `false` when the username is taken.
pub fn insert_user(db: &Db, user: &NewUser) -> ApiResult<bool> {
    db.execute(
        "INSERT OR IGNORE INTO users (id, username, password_hash, display_name, bio, created_ms)
         VALUES (?, ?, ?, ?, ?, ?)",
        &[
            text(user.id),
            text(user.username.as_str()),
            text(user.password_hash),
            text(user.display_name.as_str()),
            text(user.bio.as_str()),
            int(user.created_ms),
        ],
    )?;
    Ok(db.changes()? == 1)
}

/// The user with this id.
pub fn user_by_id(db: &Db, id: &str) -> ApiResult<Option<User>> {
    Ok(db
        .row(
            &format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = ?"),
            &[text(id)],
        )?
        .as_ref()
        .map(user_from_row))
}

/// The user with this username.
pub fn user_by_username(db: &Db, username: &Username) -> ApiResult<Option<User>> {
    Ok(db
        .row(
            &format!("SELECT {USER_COLUMNS} FROM users u WHERE u.username = ?"),
            &[text(username.as_str())],
        )?
        .as_ref()
        .map(user_from_row))
}

/// The id of the user with this username.
pub fn user_id(db: &Db, username: &Username) -> ApiResult<Option<String>> {
    Ok(db
        .row(
            "SELECT id FROM users WHERE username = ?",
            &[text(username.as_str())],
        )?
        .map(|r| r.text(0)))
}

/// Whether an account with this id exists.
pub fn user_exists(db: &Db, id: &str) -> ApiResult<bool> {
    Ok(db
        .row("SELECT 1 FROM users WHERE id = ?", &[text(id)])?
        .is_some())
}

/// An account's stored password hash and credentials version.
pub struct Credentials {
    /// The PBKDF2 hash, in its stored form.
    pub password_hash: String,
    /// Tokens issued under a lower version no longer work.
    pub version: i64,
}

/// The account with this username and its credentials, in one read, for
/// logins.
pub fn credentials(db: &Db, username: &Username) -> ApiResult<Option<(User, Credentials)>> {
    Ok(db
        .row(
            &format!(
                "SELECT {USER_COLUMNS}, u.password_hash, u.credentials_version
                 FROM users u WHERE u.username = ?"
            ),
            &[text(username.as_str())],
        )?
        .map(|r| (user_from_row(&r), credentials_from_row(&r, 7))))
}

/// The credentials of the account `id`, if it exists.
pub fn credentials_of(db: &Db, id: &str) -> ApiResult<Option<Credentials>> {
    Ok(db
        .row(
            "SELECT password_hash, credentials_version FROM users WHERE id = ?",
            &[text(id)],
        )?
        .map(|r| credentials_from_row(&r, 0)))
}

fn credentials_from_row(row: &Row, first: usize) -> Credentials {
    Credentials {
        password_hash: row.text(first),
        version: row.int(first + 1),
    }
}

/// Stores a new password hash and raises the credentials version; the new
/// version, or `None` when the account is gone.
pub fn change_password(db: &Db, id: &str, password_hash: &str) -> ApiResult<Option<i64>> {
    Ok(db
        .row(
            "UPDATE users SET password_hash = ?, credentials_version = credentials_version + 1
             WHERE id = ? RETURNING credentials_version",
            &[text(password_hash), text(id)],
        )?
        .map(|r| r.int(0)))
}

/// Changes the given profile fields.
pub fn update_profile(
    db: &Db,
    id: &str,
    display_name: Option<&DisplayName>,
    bio: Option<&Bio>,
) -> ApiResult<()> {
    if let Some(name) = display_name {
        db.execute(
            "UPDATE users SET display_name = ? WHERE id = ?",
            &[text(name.as_str()), text(id)],
        )?;
    }
    if let Some(bio) = bio {
        db.execute(
            "UPDATE users SET bio = ? WHERE id = ?",
            &[text(bio.as_str()), text(id)],
        )?;
    }
    Ok(())
}

/// Deleting an account: its follows both ways (each an index range), then
/// the account row last, so `changes()` tells whether it existed.
const DELETE_USER: [&str; 3] = [
    "DELETE FROM follows WHERE follower_id = ?",
    "DELETE FROM follows WHERE followee_id = ?",
    "DELETE FROM users WHERE id = ?",
];

/// Deletes an account and its follows in both directions; `false` when it
/// was already gone. Call inside a transaction.
pub fn delete_user(db: &Db, id: &str) -> ApiResult<bool> {
    for sql in DELETE_USER {
        db.execute(sql, &[text(id)])?;
    }
    Ok(db.changes()? == 1)
}

/// Adds a follow; `false` when it already existed.
pub fn follow(db: &Db, follower_id: &str, followee_id: &str, follow_id: &str) -> ApiResult<bool> {
    db.execute(
        "INSERT OR IGNORE INTO follows (follower_id, followee_id, id) VALUES (?, ?, ?)",
        &[text(follower_id), text(followee_id), text(follow_id)],
    )?;
    Ok(db.changes()? == 1)
}

/// Removes a follow; `false` when there was none.
pub fn unfollow(db: &Db, follower_id: &str, followee_id: &str) -> ApiResult<bool> {
    db.execute(
        "DELETE FROM follows WHERE follower_id = ? AND followee_id = ?",
        &[text(follower_id), text(followee_id)],
    )?;
    Ok(db.changes()? == 1)
}

/// Which side of the follow graph a page lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Those who follow the user.
    Followers,
    /// Those the user follows.
    Following,
}

/// A page row: the listed user, serialised as a plain User, and the id of
/// the follow, which is the page key.
#[derive(Debug, Serialize)]
pub struct FollowRow {
    /// The listed user.
    #[serde(flatten)]
    pub user: User,
    /// The follow's id, newest first.
    #[serde(skip)]
    pub follow_id: String,
}

/// The page query for one side of the follow graph: a range scan of the
/// matching index, newest follow first. Parameters: user id, the follow id
/// to continue before, the row limit.
fn follow_page_sql(direction: Direction) -> String {
    let (mine, theirs) = match direction {
        Direction::Followers => ("followee_id", "follower_id"),
        Direction::Following => ("follower_id", "followee_id"),
    };
    format!(
        "SELECT {USER_COLUMNS}, f.id FROM follows f JOIN users u ON u.id = f.{theirs}
         WHERE f.{mine} = ? AND f.id < ? ORDER BY f.id DESC LIMIT ?"
    )
}

/// Up to `fetch` users on one side of `user_id`'s follows, newest follow
/// first, older than the follow `before`.
pub fn follow_page(
    db: &Db,
    user_id: &str,
    direction: Direction,
    before: Option<&str>,
    fetch: i64,
) -> ApiResult<Vec<FollowRow>> {
    let sql = follow_page_sql(direction);
    // Ids use only the characters 0-9A-Z, all below '~'.
    let before = before.unwrap_or("~");
    let rows = db.rows(&sql, &[text(user_id), text(before), int(fetch)])?;
    Ok(rows
        .iter()
        .map(|row| FollowRow {
            user: user_from_row(row),
            follow_id: row.text(7),
        })
        .collect())
}

const SELECT_SEED: &str = "SELECT value FROM settings WHERE key = 'jwt_signing_seed'";
const INSERT_SEED: &str =
    "INSERT OR IGNORE INTO settings (key, value) VALUES ('jwt_signing_seed', ?)";

/// The stored signing seed, storing `candidate` first when there is none;
/// concurrent first requests all read back the one that won.
pub fn signing_seed_or_insert(db: &Db, candidate: &str) -> ApiResult<String> {
    if let Some(row) = db.row(SELECT_SEED, &[])? {
        return Ok(row.text(0));
    }
    db.execute(INSERT_SEED, &[text(candidate)])?;
    Ok(db
        .row(SELECT_SEED, &[])?
        .map(|r| r.text(0))
        .unwrap_or_else(|| candidate.to_string()))
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    //! The schema and statements run against a real (native) SQLite, as the
    //! host runs them.

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

    fn add_user(conn: &Connection, id: &str) {
        conn.execute(
            "INSERT INTO users (id, username, password_hash, display_name, created_ms)
             VALUES (?1, ?1, 'h', ?1, 0)",
            [id],
        )
        .unwrap();
    }

    fn add_follow(conn: &Connection, follower: &str, followee: &str, id: &str) -> usize {
        conn.execute(
            "INSERT OR IGNORE INTO follows (follower_id, followee_id, id) VALUES (?1, ?2, ?3)",
            [follower, followee, id],
        )
        .unwrap()
    }

    fn page(conn: &Connection, direction: Direction, user: &str, before: &str) -> Vec<String> {
        let mut stmt = conn.prepare(&follow_page_sql(direction)).unwrap();
        stmt.query_map(params![user, before, 10], |r| r.get::<_, String>(1))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    fn counts(conn: &Connection, user: &str) -> (i64, i64) {
        conn.query_row(
            &format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = ?1"),
            [user],
            |r| Ok((r.get(5)?, r.get(6)?)),
        )
        .unwrap()
    }

    #[test]
    fn a_second_follow_of_the_same_user_changes_nothing() {
        let conn = store();
        add_user(&conn, "alice");
        add_user(&conn, "bob");
        assert_eq!(add_follow(&conn, "bob", "alice", "F1"), 1);
        assert_eq!(add_follow(&conn, "bob", "alice", "F2"), 0);
        assert_eq!(counts(&conn, "alice"), (1, 0));
        assert_eq!(counts(&conn, "bob"), (0, 1));
    }

    #[test]
    fn pages_list_newest_follows_first_and_continue_before_the_cursor() {
        let conn = store();
        for user in ["star", "a", "b", "c"] {
            add_user(&conn, user);
        }
        add_follow(&conn, "a", "star", "F1");
        add_follow(&conn, "b", "star", "F2");
        add_follow(&conn, "c", "star", "F3");
        add_follow(&conn, "star", "b", "F4");
        assert_eq!(
            page(&conn, Direction::Followers, "star", "~"),
            ["c", "b", "a"]
        );
        assert_eq!(page(&conn, Direction::Followers, "star", "F3"), ["b", "a"]);
        assert_eq!(page(&conn, Direction::Following, "star", "~"), ["b"]);
        assert_eq!(page(&conn, Direction::Following, "a", "~"), ["star"]);
    }

    #[test]
    fn deleting_an_account_removes_its_follows_both_ways() {
        let conn = store();
        for user in ["alice", "bob", "carol"] {
            add_user(&conn, user);
        }
        add_follow(&conn, "alice", "bob", "F1");
        add_follow(&conn, "bob", "alice", "F2");
        add_follow(&conn, "carol", "bob", "F3");
        for sql in DELETE_USER {
            conn.execute(sql, ["alice"]).unwrap();
        }
        assert_eq!(counts(&conn, "bob"), (1, 0));
        let left: i64 = conn
            .query_row("SELECT count(*) FROM follows", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 1);
        let users: i64 = conn
            .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
            .unwrap();
        assert_eq!(users, 2);
    }

    #[test]
    fn the_first_stored_signing_seed_wins() {
        let conn = store();
        conn.execute(INSERT_SEED, ["first"]).unwrap();
        conn.execute(INSERT_SEED, ["second"]).unwrap();
        let seed: String = conn.query_row(SELECT_SEED, [], |r| r.get(0)).unwrap();
        assert_eq!(seed, "first");
    }

    fn stmt_params(conn: &Connection, sql: &str) -> usize {
        conn.prepare(sql).unwrap().parameter_count()
    }

    #[test]
    fn pages_counts_and_deletions_use_indexes_not_scans_or_sorts() {
        let conn = store();
        let mut statements = vec![
            follow_page_sql(Direction::Followers),
            follow_page_sql(Direction::Following),
        ];
        statements.extend(DELETE_USER.iter().map(|s| s.to_string()));
        for sql in statements {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let plan: Vec<String> = stmt
                .query_map(
                    rusqlite::params_from_iter(0..stmt_params(&conn, &sql)),
                    |r| r.get::<_, String>(3),
                )
                .unwrap()
                .map(Result::unwrap)
                .collect();
            for step in &plan {
                assert!(
                    !(step.starts_with("SCAN") || step.contains("TEMP B-TREE")),
                    "{sql}\n{plan:#?}"
                );
            }
        }
    }
}
