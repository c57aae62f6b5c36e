//! SQLite helpers over Spin's `sqlite` interface: typed rows, transactions
//! that retry while another writer holds the lock, and versioned migrations.
//!
//! Spin opens a new connection for every `open` and sets no pragmas, so the
//! app sets what it needs itself: WAL once per database (it is stored in the
//! file), and `synchronous = NORMAL` on each connection that writes (it is
//! not), so a commit appends to the log without waiting for the disk.
//!
//! A connection is a new file handle and a fresh parse of the schema, which
//! costs more than most statements. So a [`Db`] that is dropped outside a
//! transaction leaves its connection to the next [`Db::open`] of the same
//! database in this instance: a request and the delivery after its response
//! share one connection. Each request has its own instance, so nothing is
//! shared between requests.

use crate::{ApiError, ApiResult};
use spin_sdk::sqlite::{Connection, QueryResult, Value};
use std::cell::{Cell, RefCell};

/// The migrations of a database: lists of single statements, in order.
pub type Migrations = &'static [&'static [&'static str]];

/// An open database.
///
/// Migrations are applied lazily, so that a read costs no more than its own
/// statements: before the first write transaction, and when a statement
/// fails because a table or column it names does not exist yet. A read that
/// works on the schema it finds reads what that schema holds.
pub struct Db {
    /// Replaced when a networked store has dropped its session (see
    /// [`is_lost_session`]); taken only by `drop`.
    conn: RefCell<Option<Connection>>,
    label: String,
    migrations: Migrations,
    /// Whether a transaction is open on `conn`.
    in_transaction: Cell<bool>,
    /// Whether the store dropped the session of the open transaction.
    session_lost: Cell<bool>,
    /// Whether the migrations were checked on this connection.
    migrated: Cell<bool>,
    /// Whether this connection's write pragmas are set.
    tuned: Cell<bool>,
    /// Whether to checkpoint before the connection closes (see
    /// [`Db::checkpoint_before_close`]).
    checkpoint: Cell<bool>,
}

/// Why a statement failed: already an API error, or SQLite's own.
enum Failure {
    Api(ApiError),
    Sql(spin_sdk::sqlite::Error),
}

/// A statement listing up to `?1` distinct values of `column`, the first
/// column of an index of `table`, in order: one index seek per value (a
/// skip scan), not a walk of every row.
pub fn distinct_values_sql(table: &str, column: &str) -> String {
    format!(
        "WITH RECURSIVE v(value) AS (
            SELECT min({column}) FROM {table}
            UNION ALL
            SELECT (SELECT t.{column} FROM {table} AS t WHERE t.{column} > v.value
                    ORDER BY t.{column} LIMIT 1)
            FROM v WHERE v.value IS NOT NULL
        )
        SELECT value FROM v WHERE value IS NOT NULL LIMIT ?1"
    )
}

/// `items` as a JSON array of strings: one parameter for `json_each(?)`,
/// however many items a statement reads.
pub fn json_array<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    let items = items
        .into_iter()
        .map(|item| serde_json::Value::from(item.as_ref()))
        .collect();
    serde_json::Value::Array(items).to_string()
}

/// Rows grouped by their first column, in order, each made an item by
/// `item`: for reading many scopes' lists in one statement.
pub fn grouped<T>(rows: Vec<Row>, item: impl Fn(&Row) -> T) -> Vec<(String, Vec<T>)> {
    let mut groups: Vec<(String, Vec<T>)> = Vec::new();
    for row in rows {
        let key = row.text(0);
        let value = item(&row);
        match groups.last_mut() {
            Some((last, items)) if *last == key => items.push(value),
            _ => groups.push((key, vec![value])),
        }
    }
    groups
}

/// One result row.
pub struct Row(Vec<Value>);

impl Row {
    /// Text column `i` (empty for NULL).
    pub fn text(&self, i: usize) -> String {
        self.opt_text(i).unwrap_or_default()
    }

    /// Text column `i`, `None` for NULL.
    pub fn opt_text(&self, i: usize) -> Option<String> {
        match self.0.get(i) {
            Some(Value::Text(s)) => Some(s.clone()),
            Some(Value::Integer(n)) => Some(n.to_string()),
            _ => None,
        }
    }

    /// Integer column `i` (0 for NULL).
    pub fn int(&self, i: usize) -> i64 {
        match self.0.get(i) {
            Some(Value::Integer(n)) => *n,
            Some(Value::Real(f)) => *f as i64,
            _ => 0,
        }
    }
}

/// A text parameter.
pub fn text(s: impl Into<String>) -> Value {
    Value::Text(s.into())
}

/// An integer parameter.
pub fn int(n: i64) -> Value {
    Value::Integer(n)
}

/// An optional text parameter (NULL for `None`).
pub fn opt_text(s: Option<impl Into<String>>) -> Value {
    s.map(|s| Value::Text(s.into())).unwrap_or(Value::Null)
}

/// How long a statement waits for another writer's lock in all.
pub const LOCK_WAIT_MS: u64 = 5_000;
/// How long a writer waits for the lock inside SQLite before
/// [`Db::execute`] takes over (see [`Db::tune_for_writes`]).
pub const HOST_WAIT_MS: u64 = 20;
/// The first pause after finding the lock taken; later ones are shorter.
const FIRST_PAUSE_MS: u64 = 4;

/// A statement that names a table or column the schema lacks: the
/// migrations may not have run on this database yet. An insert naming a
/// column that a migration adds gets "table … has no column named …".
fn is_missing_schema(e: &spin_sdk::sqlite::Error) -> bool {
    matches!(e, spin_sdk::sqlite::Error::Io(m) if ["no such table", "no such column", "has no column named"]
        .iter()
        .any(|text| m.contains(text)))
}

/// A networked store (libSQL) gave up on this connection's session: sqld
/// expires a stream left idle for 10 s, and rolls back a transaction that
/// has held the write lock for 5 s while another writer waits (or
/// interrupts its statement). Whatever was not committed is gone, so the
/// request can only be tried again, by us outside a transaction, or else by
/// the client.
fn is_lost_session(e: &spin_sdk::sqlite::Error) -> bool {
    matches!(e, spin_sdk::sqlite::Error::Io(m) if ["STREAM_EXPIRED", "TRANSACTION_TIMEOUT", "SQLITE_INTERRUPT"]
        .iter()
        .any(|code| m.contains(code)))
}

/// How many times a transaction runs when the store keeps dropping its
/// session (see [`Db::transaction`]).
const SESSION_ATTEMPTS: u32 = 3;

/// What a request gets when the store dropped its session mid-transaction.
fn store_busy() -> ApiError {
    ApiError::Unavailable("the service is busy; try again shortly".into())
}

fn is_busy(e: &spin_sdk::sqlite::Error) -> bool {
    matches!(e, spin_sdk::sqlite::Error::Io(m) if m.contains("locked") || m.contains("busy"))
}

impl Db {
    /// Opens the database with this label, taking up again a connection
    /// this instance left idle; `migrations` are applied when first needed.
    pub fn open(label: &str, migrations: Migrations) -> ApiResult<Self> {
        let idle = IDLE.with_borrow_mut(|idle| {
            let at = idle.iter().position(|i| i.label == label)?;
            Some(idle.swap_remove(at))
        });
        let idle = match idle {
            Some(idle) => idle,
            None => Idle {
                label: label.to_string(),
                conn: Connection::open(label)?,
                migrated: false,
                tuned: false,
                checkpoint: false,
            },
        };
        Ok(Self {
            conn: RefCell::new(Some(idle.conn)),
            label: idle.label,
            migrations,
            in_transaction: Cell::new(false),
            session_lost: Cell::new(false),
            migrated: Cell::new(idle.migrated),
            tuned: Cell::new(idle.tuned),
            checkpoint: Cell::new(idle.checkpoint),
        })
    }

    /// The connection; there is one until `drop`.
    fn conn(&self) -> std::cell::Ref<'_, Connection> {
        std::cell::Ref::map(self.conn.borrow(), |c| {
            c.as_ref().expect("a Db has its connection until dropped")
        })
    }

    /// Runs one statement.
    /// Waits and retries while another writer holds the lock (see
    /// [`Db::tune_for_writes`]); gives up with a 503 after [`LOCK_WAIT_MS`].
    pub fn execute(&self, sql: &str, params: &[Value]) -> ApiResult<QueryResult> {
        self.run(sql, params).map_err(|failure| match failure {
            Failure::Api(e) => e,
            Failure::Sql(e) => e.into(),
        })
    }

    /// Runs one statement like [`Db::rows`]; `Ok(None)` when a trigger
    /// refused it with `RAISE(ABORT, '<refusal>')`, which leaves nothing of
    /// the statement behind.
    pub fn rows_unless(
        &self,
        sql: &str,
        params: &[Value],
        refusal: &str,
    ) -> ApiResult<Option<Vec<Row>>> {
        match self.run(sql, params) {
            Ok(result) => Ok(Some(
                result.rows.into_iter().map(|r| Row(r.values)).collect(),
            )),
            Err(Failure::Sql(spin_sdk::sqlite::Error::Io(m))) if m.contains(refusal) => Ok(None),
            Err(Failure::Sql(e)) => Err(e.into()),
            Err(Failure::Api(e)) => Err(e),
        }
    }

    fn run(&self, sql: &str, params: &[Value]) -> Result<QueryResult, Failure> {
        let mut waited_ms = 0;
        let mut pause_ms = FIRST_PAUSE_MS;
        let mut reopened = false;
        loop {
            let outcome = self.conn().execute(sql, params);
            match outcome {
                Ok(result) => return Ok(result),
                // Outside a transaction the statement never ran on the lost
                // session: once more on a new connection.
                Err(e) if is_lost_session(&e) && !self.in_transaction.get() && !reopened => {
                    eprintln!("store session lost, reconnecting: {e}");
                    reopened = true;
                    self.reconnect().map_err(Failure::Api)?;
                }
                Err(e) if is_lost_session(&e) => {
                    eprintln!("store session lost: {e}");
                    self.session_lost.set(true);
                    return Err(Failure::Api(store_busy()));
                }
                Err(e) if is_missing_schema(&e) && !self.migrated.get() => {
                    self.ensure_migrated().map_err(Failure::Api)?;
                }
                Err(e) if is_busy(&e) && waited_ms < LOCK_WAIT_MS => {
                    std::thread::sleep(std::time::Duration::from_millis(pause_ms));
                    waited_ms += pause_ms;
                    // Waiting longer means trying more often, so a writer
                    // that has waited a while wins over newcomers.
                    pause_ms = pause_ms.saturating_sub(1).max(1);
                }
                Err(e) if is_busy(&e) => {
                    eprintln!("gave up waiting for the database lock: {e}");
                    return Err(Failure::Api(ApiError::Unavailable(
                        "the service is busy; try again shortly".into(),
                    )));
                }
                Err(e) => return Err(Failure::Sql(e)),
            }
        }
    }

    /// Runs one statement once, without waiting for a lock: for best-effort
    /// writes that must not hold up a read. Whether it ran.
    pub fn try_once(&self, sql: &str, params: &[Value]) -> bool {
        self.tune_for_writes();
        self.conn().execute(sql, params).is_ok()
    }

    /// Runs a query and returns its rows.
    pub fn rows(&self, sql: &str, params: &[Value]) -> ApiResult<Vec<Row>> {
        Ok(self
            .execute(sql, params)?
            .rows
            .into_iter()
            .map(|r| Row(r.values))
            .collect())
    }

    /// The first row, if any.
    pub fn row(&self, sql: &str, params: &[Value]) -> ApiResult<Option<Row>> {
        Ok(self.rows(sql, params)?.into_iter().next())
    }

    /// A single integer (e.g. `SELECT count(*)`).
    pub fn scalar(&self, sql: &str, params: &[Value]) -> ApiResult<i64> {
        Ok(self.row(sql, params)?.map(|r| r.int(0)).unwrap_or_default())
    }

    /// How many rows the last statement on this connection changed.
    pub fn changes(&self) -> ApiResult<i64> {
        self.scalar("SELECT changes()", &[])
    }

    /// Runs `f` in a write transaction (`BEGIN IMMEDIATE`), committing on
    /// success and rolling back on error. Waits while another writer holds
    /// the lock instead of failing. When a networked store drops the
    /// transaction's session (it rolls back a transaction that held the lock
    /// 5 s while others wait), nothing of it was committed, so it runs again
    /// on a new connection, up to [`SESSION_ATTEMPTS`] times in all.
    pub fn transaction<T>(&self, f: impl Fn(&Db) -> ApiResult<T>) -> ApiResult<T> {
        for attempt in 1.. {
            self.session_lost.set(false);
            let outcome = self.transaction_once(&f);
            if !self.session_lost.get() || attempt == SESSION_ATTEMPTS {
                return outcome.map_err(|e| {
                    if self.session_lost.get() {
                        store_busy()
                    } else {
                        e
                    }
                });
            }
            self.reconnect()?;
        }
        unreachable!("the last attempt returns")
    }

    fn transaction_once<T>(&self, f: &impl Fn(&Db) -> ApiResult<T>) -> ApiResult<T> {
        self.ensure_migrated()?;
        self.tune_for_writes();
        self.execute("BEGIN IMMEDIATE", &[])?;
        self.in_transaction.set(true);
        let outcome = f(self).and_then(|value| {
            let committed = self.conn().execute("COMMIT", &[]);
            match committed {
                Ok(_) => Ok(value),
                Err(e) if is_lost_session(&e) => {
                    eprintln!("store session lost at commit: {e}");
                    self.session_lost.set(true);
                    Err(store_busy())
                }
                Err(e) => Err(e.into()),
            }
        });
        if outcome.is_err() {
            // Also after a failed COMMIT: a networked store keeps an open
            // transaction (and the write lock) until its session expires.
            let _ = self.conn().execute("ROLLBACK", &[]);
        }
        self.in_transaction.set(false);
        outcome
    }

    /// Sets the per-connection pragmas a writer needs, once per connection.
    /// In WAL mode `NORMAL` is durable across crashes of the app; only a
    /// power loss can take back the last commits.
    ///
    /// A writer that finds the lock taken first waits inside SQLite, for at
    /// most [`HOST_WAIT_MS`]: its busy handler sleeps on the host's thread in
    /// steps of 1, 2, 5 and 10 ms, and those sleeps end on time. Only then
    /// does [`Db::execute`] wait in the guest, in pauses that start at
    /// [`FIRST_PAUSE_MS`] and shorten to 1 ms. Under load a guest's sleep
    /// ends late, because the instance waits for the runtime to poll it
    /// again: with 32 writers, the slowest 2 % of `POST /posts` asked for 9 ms
    /// of pauses and got 85 ms. SQLite's handler alone would be no better for
    /// long waits, since its pauses grow to 100 ms and a writer that has
    /// waited a while loses the lock to newcomers. Best effort: a store
    /// that refuses a pragma (a networked one) still works.
    pub fn tune_for_writes(&self) {
        if !self.tuned.replace(true) {
            let conn = self.conn();
            let _ = conn.execute("PRAGMA synchronous = NORMAL", &[]);
            let _ = conn.execute(&format!("PRAGMA busy_timeout = {HOST_WAIT_MS}"), &[]);
        }
    }

    /// Applies the migrations not yet applied (tracked in `PRAGMA
    /// user_version`), once per connection. A database that needs migrating
    /// is also switched to WAL, which lets readers go on while a writer
    /// commits (it cannot change inside a transaction, and it lasts, so it
    /// is done here, before).
    pub fn ensure_migrated(&self) -> ApiResult<()> {
        // Set first: the migration's own transaction comes back here.
        if self.migrated.replace(true) {
            return Ok(());
        }
        let applied = self.apply_migrations();
        if applied.is_err() {
            self.migrated.set(false);
        }
        applied
    }

    fn apply_migrations(&self) -> ApiResult<()> {
        let migrations = self.migrations;
        let target = migrations.len() as i64;
        if self.scalar("PRAGMA user_version", &[])? >= target {
            return Ok(());
        }
        let _ = self.conn().execute("PRAGMA journal_mode = WAL", &[]);
        self.transaction(|db| {
            let current = db.scalar("PRAGMA user_version", &[])?;
            for statements in migrations.iter().skip(current.max(0) as usize) {
                for sql in *statements {
                    db.execute(sql, &[]).map_err(|e| {
                        ApiError::Internal(anyhow::anyhow!("migration `{sql}` failed: {e}"))
                    })?;
                }
            }
            db.execute(&format!("PRAGMA user_version = {target}"), &[])?;
            Ok(())
        })
    }

    /// Has the log copied into the database by a statement, at the end of
    /// the request ([`close_idle`]), before the connection closes. Call after
    /// a write that fills the log with thousands of pages. Spin closes a
    /// connection when the instance ends, on the runtime's async thread, and
    /// the last connection to a database that closes copies the whole log
    /// back there: for a batch's log, tens of milliseconds in which that
    /// thread serves no other request. A statement runs on Spin's blocking
    /// pool instead, and leaves the close nothing to copy.
    pub fn checkpoint_before_close(&self) {
        self.checkpoint.set(true);
    }

    /// Whether the store answers (for health checks).
    pub fn ping(&self) -> bool {
        self.conn().execute("SELECT 1", &[]).is_ok()
    }

    /// Replaces the connection with a new one, whose per-connection pragmas
    /// are set again when it writes.
    fn reconnect(&self) -> ApiResult<()> {
        *self.conn.borrow_mut() = Some(Connection::open(&self.label)?);
        self.tuned.set(false);
        Ok(())
    }
}

/// A connection a dropped [`Db`] left for the next open in this instance.
struct Idle {
    label: String,
    conn: Connection,
    migrated: bool,
    tuned: bool,
    checkpoint: bool,
}

thread_local! {
    static IDLE: RefCell<Vec<Idle>> = const { RefCell::new(Vec::new()) };
}

impl Drop for Db {
    fn drop(&mut self) {
        // A connection is handed on only between transactions (a handler
        // that failed inside one has rolled it back already), and only while
        // its networked store still holds its session.
        if self.in_transaction.get() || self.session_lost.get() {
            return;
        }
        if let Some(conn) = self.conn.get_mut().take() {
            let idle = Idle {
                label: std::mem::take(&mut self.label),
                conn,
                migrated: self.migrated.get(),
                tuned: self.tuned.get(),
                checkpoint: self.checkpoint.get(),
            };
            IDLE.with_borrow_mut(|all| all.push(idle));
        }
    }
}

/// Closes the connections this instance left idle, first checkpointing
/// those that asked for it ([`Db::checkpoint_before_close`]): call when the
/// request's work is done, response sent. A store that refuses the pragma
/// (a networked one) is closed all the same.
pub fn close_idle() {
    for idle in IDLE.take() {
        if idle.checkpoint {
            let _ = idle.conn.execute("PRAGMA wal_checkpoint(PASSIVE)", &[]);
        }
    }
}

/// Keeps the connections this instance left idle for its next request (a
/// WASIp3 instance serves many, ADR 0033), first checkpointing those that
/// asked for it, as [`close_idle`] would before closing them.
pub fn keep_idle() {
    IDLE.with_borrow_mut(|all| {
        for idle in all.iter_mut().filter(|idle| idle.checkpoint) {
            let _ = idle.conn.execute("PRAGMA wal_checkpoint(PASSIVE)", &[]);
            idle.checkpoint = false;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use spin_sdk::sqlite::Error;

    #[test]
    fn a_json_array_holds_each_item_as_a_json_string() {
        assert_eq!(json_array(["a", "b\"c", "é"]), r#"["a","b\"c","é"]"#);
        assert_eq!(json_array(Vec::<String>::new()), "[]");
    }

    #[test]
    fn what_sqld_says_when_it_drops_a_session_is_a_lost_session() {
        // As Spin 4.0.2 reports sqld 0.24's answers (seen under load).
        for message in [
            r#"Hrana: `api error: `{"message":"The stream has expired due to inactivity","code":"STREAM_EXPIRED"}``"#,
            r#"Hrana: `api error: `{"message":"Transaction timed out","code":"TRANSACTION_TIMEOUT"}``"#,
            "Hrana: `cursor error: `error at step 0: (error code: SQLITE_INTERRUPT) `SQLite error: interrupted```",
        ] {
            assert!(is_lost_session(&Error::Io(message.into())), "{message}");
        }
    }

    #[test]
    fn statements_naming_what_the_schema_lacks_ask_for_the_migrations() {
        // SQLite's words, as rusqlite passes them through Spin.
        for message in [
            "no such table: posts",
            "no such column: counts_version",
            "table posts has no column named counts_version",
        ] {
            assert!(is_missing_schema(&Error::Io(message.into())), "{message}");
        }
        for e in [
            Error::Io("database is locked".into()),
            Error::Io("UNIQUE constraint failed: posts.id".into()),
            Error::NoSuchDatabase,
        ] {
            assert!(!is_missing_schema(&e), "{e:?}");
        }
    }

    #[test]
    fn other_store_errors_are_not_lost_sessions() {
        for e in [
            Error::Io("database is locked".into()),
            Error::Io("no such table: posts".into()),
            Error::Io("UNIQUE constraint failed: posts.id".into()),
            Error::InvalidConnection,
        ] {
            assert!(!is_lost_session(&e), "{e:?}");
        }
    }
}
