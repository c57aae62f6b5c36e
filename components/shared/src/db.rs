//! SQLite helpers over Spin's `sqlite` interface: typed rows, transactions
//! that retry while another writer holds the lock, and versioned migrations.

use crate::{ApiError, ApiResult};
use spin_sdk::sqlite::{Connection, QueryResult, Value};

/// An open database.
pub struct Db {
    conn: Connection,
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

fn is_busy(e: &spin_sdk::sqlite::Error) -> bool {
    matches!(e, spin_sdk::sqlite::Error::Io(m) if m.contains("locked") || m.contains("busy"))
}

impl Db {
    /// Opens the database with this label and applies `migrations`.
    pub fn open(label: &str, migrations: &[&[&str]]) -> ApiResult<Self> {
        let conn = Connection::open(label)?;
        let db = Self { conn };
        db.migrate(migrations)?;
        Ok(db)
    }

    /// Runs one statement.
    pub fn execute(&self, sql: &str, params: &[Value]) -> ApiResult<QueryResult> {
        Ok(self.conn.execute(sql, params)?)
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
    /// the lock instead of failing.
    pub fn transaction<T>(&self, f: impl FnOnce(&Db) -> ApiResult<T>) -> ApiResult<T> {
        let mut attempt = 0;
        loop {
            match self.conn.execute("BEGIN IMMEDIATE", &[]) {
                Ok(_) => break,
                Err(e) if is_busy(&e) && attempt < 400 => {
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(e) => return Err(e.into()),
            }
        }
        match f(self) {
            Ok(value) => {
                self.conn.execute("COMMIT", &[])?;
                Ok(value)
            }
            Err(e) => {
                let _ = self.conn.execute("ROLLBACK", &[]);
                Err(e)
            }
        }
    }

    /// Applies the migrations not yet applied (tracked in `PRAGMA user_version`).
    /// Each migration is a list of single statements; re-running is a no-op.
    pub fn migrate(&self, migrations: &[&[&str]]) -> ApiResult<()> {
        let target = migrations.len() as i64;
        if self.scalar("PRAGMA user_version", &[])? >= target {
            return Ok(());
        }
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

    /// Whether the store answers (for health checks).
    pub fn ping(&self) -> bool {
        self.conn.execute("SELECT 1", &[]).is_ok()
    }
}
