//! Rate limits, counted in the limiting service's own store, so that every
//! instance of the service shares them. Each limit allows `max` events per
//! window for one subject (a user id, a username, a client address); its
//! variable raises it, and 0 switches it off. Over a limit the answer is 429
//! `rate_limited` with `Retry-After` and `RateLimit-*` headers.

use crate::db::{Db, int, text};
use crate::ids::now_millis;
use crate::{ApiError, ApiResult};
use spin_sdk::http::Request;

/// The counters: one row per limit and subject, until the window ends.
pub const RATE_LIMIT_MIGRATION: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS rate_limits (
        key TEXT PRIMARY KEY,
        until_ms INTEGER NOT NULL,
        count INTEGER NOT NULL
    ) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS rate_limits_by_end ON rate_limits (until_ms)",
];

/// The counters, for [`crate::retention::prune`]: a row is of no use once
/// its window has ended, and the retention is far longer than any window.
pub const RATE_LIMITS: crate::retention::Kept = crate::retention::Kept {
    table: "rate_limits",
    time_column: "until_ms",
};

/// The longest a growing back-off lasts.
const MAX_BACKOFF_MS: i64 = 24 * 3_600_000;

/// One limit.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// What it counts, plural, for the message ("posts").
    pub what: &'static str,
    /// The variable that sets `max` (0 switches the limit off).
    pub variable: &'static str,
    /// `max` when the variable is not set.
    pub default_max: i64,
    /// The window, in seconds.
    pub window_secs: i64,
    /// Whether each event over the limit doubles the wait (failed logins).
    pub grows: bool,
}

impl Limit {
    /// Events allowed per window; 0: no limit.
    pub fn max(&self) -> i64 {
        spin_sdk::variables::get(self.variable)
            .ok()
            .and_then(|v| v.trim().parse::<i64>().ok())
            .filter(|n| *n >= 0)
            .unwrap_or(self.default_max)
    }

    fn key(&self, subject: &str) -> String {
        format!("{}:{subject}", self.variable)
    }

    /// Counts one event for `subject`; 429 when it goes over the limit.
    pub fn hit(&self, db: &Db, subject: &str) -> ApiResult<()> {
        let max = self.max();
        if max == 0 {
            return Ok(());
        }
        db.tune_for_writes();
        let now = now_millis();
        let row = db
            .row(
                "INSERT INTO rate_limits (key, until_ms, count) VALUES (?1, ?2 + ?3, 1)
                 ON CONFLICT (key) DO UPDATE SET
                     count = CASE WHEN until_ms <= ?2 THEN 1 ELSE count + 1 END,
                     until_ms = CASE
                         WHEN until_ms <= ?2 THEN ?2 + ?3
                         WHEN ?4 AND count + 1 > ?5
                             THEN max(until_ms, ?2 + min(?6, ?3 << min(20, count - ?5)))
                         ELSE until_ms END
                 RETURNING count, until_ms",
                &[
                    text(self.key(subject)),
                    int(now),
                    int(self.window_secs * 1000),
                    int(self.grows as i64),
                    int(max),
                    int(MAX_BACKOFF_MS),
                ],
            )?
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("rate limit not counted")))?;
        self.judge(max, row.int(0), row.int(1), now)
    }

    /// 429 if `subject` is already over the limit, without counting.
    pub fn check(&self, db: &Db, subject: &str) -> ApiResult<()> {
        let max = self.max();
        if max == 0 {
            return Ok(());
        }
        let now = now_millis();
        match db.row(
            "SELECT count, until_ms FROM rate_limits WHERE key = ? AND until_ms > ?",
            &[text(self.key(subject)), int(now)],
        )? {
            Some(row) => self.judge(max, row.int(0) + 1, row.int(1), now),
            None => Ok(()),
        }
    }

    /// Like [`Limit::check`], but an attempt refused by a growing limit
    /// counts too, so a client that keeps trying while it is refused waits
    /// twice as long with every try.
    pub fn check_or_grow(&self, db: &Db, subject: &str) -> ApiResult<()> {
        match self.check(db, subject) {
            Err(refused) if self.grows => self.hit(db, subject).and(Err(refused)),
            other => other,
        }
    }

    /// Forgets `subject`'s count (after a successful login).
    pub fn forget(&self, db: &Db, subject: &str) {
        if self.max() > 0 {
            db.try_once(
                "DELETE FROM rate_limits WHERE key = ?",
                &[text(self.key(subject))],
            );
        }
    }

    fn judge(&self, max: i64, count: i64, until_ms: i64, now: i64) -> ApiResult<()> {
        if count <= max {
            return Ok(());
        }
        Err(ApiError::RateLimited {
            what: self.what,
            limit: max,
            retry_after_secs: (until_ms - now + 999).max(0) / 1000,
        })
    }
}

/// The client's address as Spin saw it: the last `spin-client-addr` value
/// (Spin appends its own after any a client sent), without the port.
pub fn client_address(req: &Request) -> String {
    let last = req
        .headers()
        .filter(|(name, _)| name.eq_ignore_ascii_case("spin-client-addr"))
        .filter_map(|(_, value)| value.as_str().map(str::to_string))
        .last()
        .unwrap_or_default();
    match last.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => {
            host.trim_matches(['[', ']']).to_string()
        }
        _ => last,
    }
}
