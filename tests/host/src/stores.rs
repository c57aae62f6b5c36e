//! Key-value stores and SQLite databases, backed by SQLite files (or memory).
//!
//! Blocking SQLite work runs on tokio's blocking pool so that a request
//! waiting for a database lock never stalls the threads running other guests.

use anyhow::{Context, Result};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a connection waits for another writer before failing with
/// "database is locked": rusqlite's default, which is what Spin runs with.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a store's data lives.
#[derive(Debug, Clone)]
enum Location {
    File(PathBuf),
    /// A shared-cache in-memory database, alive while the app runs.
    Memory(String),
}

fn open(location: &Location) -> rusqlite::Result<Connection> {
    let conn = match location {
        Location::File(path) => Connection::open(path)?,
        Location::Memory(uri) => Connection::open_with_flags(
            uri,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?,
    };
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

fn location_for(path: Option<&Path>) -> Result<(Location, Option<Connection>)> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    match path {
        Some(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            Ok((Location::File(path.to_path_buf()), None))
        }
        None => {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let uri = format!(
                "file:host-mem-{}-{n}?mode=memory&cache=shared",
                std::process::id()
            );
            let location = Location::Memory(uri);
            // Keeps the shared in-memory database alive for the app's lifetime.
            let keep_alive = open(&location)?;
            Ok((location, Some(keep_alive)))
        }
    }
}

/// The keys `get_many` found, each with its value.
pub type Found = Vec<(String, Option<Vec<u8>>)>;

/// A key-value store: one SQLite table shaped like Spin's own.
pub struct KeyValueStore {
    label: String,
    conn: Mutex<Connection>,
}

impl KeyValueStore {
    /// Opens (creating on first use) the store for `label` at `path`, or in memory.
    pub fn open(label: &str, path: Option<&Path>) -> Result<Arc<Self>> {
        let (location, _) = location_for(path)?;
        let conn = open(&location)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS spin_key_value (
                 store TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
                 PRIMARY KEY (store, key));",
        )
        .with_context(|| format!("cannot open key-value store {label:?}"))?;
        Ok(Arc::new(Self {
            label: label.to_string(),
            conn: Mutex::new(conn),
        }))
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&Connection, &str) -> rusqlite::Result<T>,
    ) -> Result<T, String> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        f(&conn, &self.label).map_err(|e| e.to_string())
    }

    /// The value of `key`, if any.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        self.with(|c, store| {
            let mut stmt =
                c.prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")?;
            let mut rows = stmt.query((store, key))?;
            rows.next()?.map(|r| r.get(0)).transpose()
        })
    }

    /// Sets `key` to `value`.
    pub fn set(&self, key: &str, value: &[u8]) -> Result<(), String> {
        self.with(|c, store| {
            c.prepare_cached(
                "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
            )?
            .execute((store, key, value))
            .map(drop)
        })
    }

    /// Deletes `key`; deleting a missing key is not an error.
    pub fn delete(&self, key: &str) -> Result<(), String> {
        self.with(|c, store| {
            c.prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .execute((store, key))
                .map(drop)
        })
    }

    /// Whether `key` exists.
    pub fn exists(&self, key: &str) -> Result<bool, String> {
        self.with(|c, store| {
            c.prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM spin_key_value WHERE store = ?1 AND key = ?2)",
            )?
            .query_row((store, key), |r| r.get(0))
        })
    }

    /// The values of those `keys` that exist (as Spin's store answers
    /// `get-many`: missing keys are left out).
    pub fn get_many(&self, keys: &[String]) -> Result<Found, String> {
        self.with(|c, store| {
            let mut stmt =
                c.prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")?;
            let mut found = Vec::new();
            for key in keys {
                let mut rows = stmt.query((store, key))?;
                if let Some(row) = rows.next()? {
                    found.push((key.clone(), Some(row.get(0)?)));
                }
            }
            Ok(found)
        })
    }

    /// Sets every pair in one transaction, as Spin does.
    pub fn set_many(&self, pairs: &[(String, Vec<u8>)]) -> Result<(), String> {
        self.with(|c, store| {
            let tx = c.unchecked_transaction()?;
            for (key, value) in pairs {
                tx.prepare_cached(
                    "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
                )?
                .execute((store, key, value))?;
            }
            tx.commit()
        })
    }

    /// Deletes every key in one transaction (Spin uses one statement).
    pub fn delete_many(&self, keys: &[String]) -> Result<(), String> {
        self.with(|c, store| {
            let tx = c.unchecked_transaction()?;
            for key in keys {
                tx.prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                    .execute((store, key))?;
            }
            tx.commit()
        })
    }

    /// Adds `delta` to the number `key` holds (8 bytes, little-endian, as
    /// Spin stores it; a missing key is 0) and returns the sum.
    pub fn increment(&self, key: &str, delta: i64) -> Result<i64, String> {
        self.with(|c, store| {
            let tx = c.unchecked_transaction()?;
            let now: Option<Vec<u8>> = tx
                .prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .query_row((store, key), |r| r.get(0))
                .optional()?;
            let now = match now {
                None => 0,
                Some(bytes) => i64::from_le_bytes(bytes.try_into().map_err(|_| {
                    rusqlite::Error::InvalidColumnType(
                        0,
                        "value".into(),
                        rusqlite::types::Type::Blob,
                    )
                })?),
            };
            let sum = now + delta;
            tx.prepare_cached(
                "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
            )?
            .execute((store, key, sum.to_le_bytes()))?;
            tx.commit()?;
            Ok(sum)
        })
    }

    /// Sets `key` to `value` if it still holds `read`, as Spin's store does:
    /// when nothing was read, the value is stored whatever the key holds.
    /// Whether it stored.
    pub fn swap(&self, key: &str, read: Option<&[u8]>, value: &[u8]) -> Result<bool, String> {
        let Some(read) = read else {
            return self.set(key, value).map(|()| true);
        };
        self.with(|c, store| {
            c.prepare_cached(
                "UPDATE spin_key_value SET value = ?3 WHERE store = ?1 AND key = ?2 AND value = ?4",
            )?
            .execute((store, key, value, read))
            .map(|changed| changed == 1)
        })
    }

    /// All keys, in byte order.
    pub fn get_keys(&self) -> Result<Vec<String>, String> {
        self.with(|c, store| {
            c.prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1 ORDER BY key")?
                .query_map([store], |r| r.get(0))?
                .collect()
        })
    }
}

/// A SQLite database label.
///
/// As in Spin, every guest `open` gets a new connection with SQLite's
/// defaults (no WAL unless the file already has it, a 5 s busy timeout), so
/// an app cannot come to depend on pooling or pragmas only this host sets.
/// Closing the connection rolls back a transaction the guest left open.
pub struct SqliteDatabase {
    location: Location,
    _keep_alive: Option<Mutex<Connection>>,
}

/// A value crossing the guest boundary.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// 64-bit integer.
    Integer(i64),
    /// Double.
    Real(f64),
    /// UTF-8 text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
    /// NULL.
    Null,
}

/// Column names and rows of one statement.
#[derive(Debug, Default)]
pub struct QueryResult {
    /// Column names (the expression or alias).
    pub columns: Vec<String>,
    /// Rows, each with one value per column.
    pub rows: Vec<Vec<SqlValue>>,
}

impl SqliteDatabase {
    /// Prepares the database for `path` (created on first use), or in memory.
    pub fn open(path: Option<&Path>) -> Result<Arc<Self>> {
        let (location, keep_alive) = location_for(path)?;
        Ok(Arc::new(Self {
            location,
            _keep_alive: keep_alive.map(Mutex::new),
        }))
    }

    /// Opens a new connection for one guest `open`.
    pub fn connect(&self) -> Result<Connection, String> {
        open(&self.location).map_err(|e| e.to_string())
    }
}

/// Runs the first statement of `sql` (as Spin does) with `params`.
pub fn execute(conn: &Connection, sql: &str, params: Vec<SqlValue>) -> Result<QueryResult, String> {
    let mut stmt = match conn.prepare_cached(sql) {
        Ok(stmt) => stmt,
        Err(rusqlite::Error::MultipleStatement) => first_statement(conn, sql)?,
        Err(e) => return Err(e.to_string()),
    };
    run(&mut stmt, params).map_err(|e| e.to_string())
}

/// Prepares the shortest `;`-terminated prefix of `sql` that is a whole statement.
fn first_statement<'c>(
    conn: &'c Connection,
    sql: &str,
) -> Result<rusqlite::CachedStatement<'c>, String> {
    for (i, _) in sql.match_indices(';') {
        if let Ok(stmt) = conn.prepare_cached(&sql[..=i]) {
            return Ok(stmt);
        }
    }
    Err(rusqlite::Error::MultipleStatement.to_string())
}

fn run(stmt: &mut rusqlite::Statement<'_>, params: Vec<SqlValue>) -> rusqlite::Result<QueryResult> {
    let columns: Vec<String> = stmt.column_names().into_iter().map(String::from).collect();
    let params = params.into_iter().map(|v| match v {
        SqlValue::Integer(i) => rusqlite::types::Value::Integer(i),
        SqlValue::Real(f) => rusqlite::types::Value::Real(f),
        SqlValue::Text(s) => rusqlite::types::Value::Text(s),
        SqlValue::Blob(b) => rusqlite::types::Value::Blob(b),
        SqlValue::Null => rusqlite::types::Value::Null,
    });
    let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let values = (0..columns.len())
            .map(|i| {
                Ok(match row.get_ref(i)? {
                    rusqlite::types::ValueRef::Null => SqlValue::Null,
                    rusqlite::types::ValueRef::Integer(i) => SqlValue::Integer(i),
                    rusqlite::types::ValueRef::Real(f) => SqlValue::Real(f),
                    rusqlite::types::ValueRef::Text(t) => {
                        SqlValue::Text(String::from_utf8_lossy(t).into_owned())
                    }
                    rusqlite::types::ValueRef::Blob(b) => SqlValue::Blob(b.to_vec()),
                })
            })
            .collect::<rusqlite::Result<_>>()?;
        out.push(values);
    }
    Ok(QueryResult { columns, rows: out })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_operations_round_trip_and_keys_come_in_byte_order() {
        let kv = KeyValueStore::open("t", None).unwrap();
        assert_eq!(kv.get("missing").unwrap(), None);
        assert!(!kv.exists("missing").unwrap());
        kv.delete("missing").unwrap();
        for k in ["zeta", "alpha", "Beta", "10", "9", "_x", "aa", "a"] {
            kv.set(k, k.as_bytes()).unwrap();
        }
        assert_eq!(
            kv.get_keys().unwrap(),
            ["10", "9", "Beta", "_x", "a", "aa", "alpha", "zeta"]
        );
        assert_eq!(kv.get("aa").unwrap().as_deref(), Some(&b"aa"[..]));
    }

    #[test]
    fn a_swap_stores_only_over_the_value_read_and_increments_add_up() {
        let kv = KeyValueStore::open("t", None).unwrap();
        kv.set("k", b"one").unwrap();
        assert!(!kv.swap("k", Some(b"stale"), b"two").unwrap());
        assert_eq!(kv.get("k").unwrap().as_deref(), Some(&b"one"[..]));
        assert!(kv.swap("k", Some(b"one"), b"two").unwrap());
        assert_eq!(kv.get("k").unwrap().as_deref(), Some(&b"two"[..]));
        kv.delete("k").unwrap();
        assert!(!kv.swap("k", Some(b"two"), b"three").unwrap());
        // Nothing read: stored whatever is there, as Spin's store does.
        assert!(kv.swap("k", None, b"four").unwrap());
        assert_eq!(kv.get("k").unwrap().as_deref(), Some(&b"four"[..]));
        assert_eq!(kv.increment("n", 5).unwrap(), 5);
        assert_eq!(kv.increment("n", -7).unwrap(), -2);
        assert_eq!(kv.get("n").unwrap(), Some((-2i64).to_le_bytes().to_vec()));
    }

    #[test]
    fn only_the_first_statement_runs() {
        let db = SqliteDatabase::open(None).unwrap();
        let conn = db.connect().unwrap();
        execute(&conn, "CREATE TABLE m(x)", vec![]).unwrap();
        execute(
            &conn,
            "INSERT INTO m VALUES (1); INSERT INTO m VALUES (2)",
            vec![],
        )
        .unwrap();
        let r = execute(&conn, "SELECT count(*) FROM m", vec![]).unwrap();
        assert_eq!(r.columns, ["count(*)"]);
        assert_eq!(r.rows, [[SqlValue::Integer(1)]]);
    }

    #[test]
    fn sql_errors_carry_sqlites_message() {
        let db = SqliteDatabase::open(None).unwrap();
        let conn = db.connect().unwrap();
        let err = execute(&conn, "SELECT ?", vec![]).unwrap_err();
        assert_eq!(
            err,
            "Wrong number of parameters passed to query. Got 0, needed 1"
        );
        let err = execute(&conn, "SELEC 1", vec![]).unwrap_err();
        assert!(err.contains("syntax error"), "{err}");
    }

    #[test]
    fn a_closed_connection_loses_its_open_transaction() {
        let db = SqliteDatabase::open(None).unwrap();
        let conn = db.connect().unwrap();
        execute(&conn, "CREATE TABLE m(x)", vec![]).unwrap();
        execute(&conn, "BEGIN", vec![]).unwrap();
        execute(&conn, "INSERT INTO m VALUES (1)", vec![]).unwrap();
        drop(conn);
        let conn = db.connect().unwrap();
        let r = execute(&conn, "SELECT count(*) FROM m", vec![]).unwrap();
        assert_eq!(r.rows, [[SqlValue::Integer(0)]]);
    }

    #[test]
    fn file_databases_keep_sqlites_defaults_and_each_open_is_a_new_connection() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDatabase::open(Some(&dir.path().join("d.db"))).unwrap();
        let a = db.connect().unwrap();
        let mode: String = a
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "delete");
        let timeout: i64 = a
            .query_row("PRAGMA busy_timeout", [], |r| r.get(0))
            .unwrap();
        assert_eq!(timeout, 5000);
        execute(&a, "PRAGMA synchronous = OFF", vec![]).unwrap();
        let b = db.connect().unwrap();
        let sync: i64 = b.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
        assert_eq!(sync, 2, "a per-connection pragma must not carry over");
    }
}
