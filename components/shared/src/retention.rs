//! Bounded growth. A receiver keeps the ids of the events it applied, and
//! tombstones of what was deleted, only to recognise late or repeated
//! events. Such records older than the retention are forgotten, as part of
//! receiving events and of the flush route.
//!
//! An event is sent again only when its sender did not learn that it was
//! applied. It retries within seconds while the receiver is up, so a
//! retention of days covers every repeat except one after the receiver was
//! down for longer than that.

use crate::ApiResult;
use crate::db::{Db, int};
use crate::ids::now_millis;

/// The retention when `event_retention_seconds` is not set: seven days.
pub const DEFAULT_RETENTION_SECONDS: i64 = 7 * 86_400;

/// Now, in Unix milliseconds, as SQL. Tombstones are written inside
/// statements that take no time parameter, so they stamp themselves.
#[macro_export]
macro_rules! now_ms_sql {
    () => {
        "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
    };
}

/// A table whose rows are forgotten after the retention.
#[derive(Debug, Clone, Copy)]
pub struct Kept {
    /// The table.
    pub table: &'static str,
    /// Its column holding each row's time, Unix milliseconds (indexed).
    pub time_column: &'static str,
}

/// The ids of applied events, in every receiver.
pub const PROCESSED_EVENTS: Kept = Kept {
    table: "processed_events",
    time_column: "received_ms",
};

/// How long records are kept: the `event_retention_seconds` variable (at
/// least one second), or the default.
pub fn retention_ms() -> i64 {
    spin_sdk::variables::get("event_retention_seconds")
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|s| *s >= 1)
        .unwrap_or(DEFAULT_RETENTION_SECONDS)
        .saturating_mul(1000)
}

/// Forgets the rows of `kept` older than the retention; how many.
pub fn prune(db: &Db, kept: &[Kept]) -> ApiResult<i64> {
    db.tune_for_writes();
    let before = now_millis() - retention_ms();
    let mut pruned = 0;
    for k in kept {
        pruned += db
            .rows(
                &format!(
                    "DELETE FROM {} WHERE {} < ? RETURNING 1",
                    k.table, k.time_column
                ),
                &[int(before)],
            )?
            .len() as i64;
    }
    Ok(pruned)
}
