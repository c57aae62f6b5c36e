//! The transactional outbox: events are written in the same transaction as
//! the change they describe, then delivered after the response by at most
//! one deliverer per destination, which sends everything pending in batches.
//! A failed destination is retried with backoff by later writes and by the
//! flush route. Receivers deduplicate by event id, so delivering twice is
//! harmless; losing one is impossible.

use crate::ApiResult;
use crate::auth::{CHAINED_PREFIX, credential_is_default, service_credential};
use crate::db::{Db, int, text};
use crate::events::{Batch, Event};
use crate::ids::now_millis;
use spin_sdk::http::{Method, Request, Response};

/// Another service that receives events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// The user service.
    User,
    /// The post service.
    Post,
    /// The feed service.
    Feed,
}

impl Service {
    /// The component id and path segment.
    pub fn name(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Post => "post",
            Self::Feed => "feed",
        }
    }

    /// The service's base URL, from the `<name>_service_url` variable.
    pub fn base_url(self) -> anyhow::Result<String> {
        let url = spin_sdk::variables::get(&format!("{}_service_url", self.name()))?;
        Ok(url.trim_end_matches('/').to_string())
    }

    /// Where this component reaches the service's public routes: its base
    /// URL, or the application's listener for a WASIp3 instance, which Spin
    /// does not chain (ADR 0034).
    pub fn public_base_url(self) -> anyhow::Result<String> {
        if crate::relay::through_listener(self) {
            return crate::relay::app_url();
        }
        self.base_url()
    }

    /// Whether this service is reached by service chaining (its URL is
    /// `http://<component>.spin.internal`): part of the same application.
    pub fn is_chained(self) -> bool {
        self.base_url().is_ok_and(|url| chained_url(&url))
    }

    /// Whether this component knows the service's URL and it is not part of
    /// the same application (a component knows only the services it calls).
    fn is_apart(self) -> bool {
        self.base_url().is_ok_and(|url| !chained_url(&url))
    }

    /// Where this service receives events: the chained path inside one
    /// application, the public `/internal/…` route across instances.
    pub fn events_url(self) -> anyhow::Result<String> {
        let base = self.base_url()?;
        let prefix = if chained_url(&base) {
            CHAINED_PREFIX.trim_end_matches('/')
        } else {
            "/internal"
        };
        Ok(format!("{base}{prefix}/{}/events", self.name()))
    }
}

/// Whether `url` names a component of this application.
fn chained_url(url: &str) -> bool {
    let authority = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host = authority
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default()
        .rsplit('@')
        .next()
        .unwrap_or_default();
    let host = host.split(':').next().unwrap_or_default();
    host.to_ascii_lowercase().ends_with(".spin.internal")
}

/// Why this deployment cannot deliver events safely, if it cannot: services
/// run as separate instances (reached by URL, so over the public
/// `/internal/…` routes) while `service_credential` still has the value
/// everyone can read. Health reports it, and nothing is sent until it is
/// fixed.
pub fn misconfiguration() -> Option<String> {
    let split = [Service::User, Service::Post, Service::Feed]
        .into_iter()
        .any(Service::is_apart);
    (split && credential_is_default()).then(|| {
        "services run as separate instances but service_credential has its default value; \
         set your own"
            .to_string()
    })
}

/// The outbox table; part of every sender's migrations.
pub const OUTBOX_MIGRATION: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        destination TEXT NOT NULL,
        event TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_ms INTEGER NOT NULL,
        created_ms INTEGER NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox (next_attempt_ms)",
];

/// Turns the outbox into one deliverer per destination: the `deliveries`
/// row for a destination is the lease its one deliverer holds, and its
/// retry time after a failed send. The old per-row retry columns go.
pub const DELIVERY_MIGRATION: &[&str] = &[
    "DROP INDEX IF EXISTS outbox_due",
    "ALTER TABLE outbox DROP COLUMN attempts",
    "ALTER TABLE outbox DROP COLUMN next_attempt_ms",
    "CREATE INDEX IF NOT EXISTS outbox_by_destination ON outbox (destination, seq)",
    "CREATE TABLE IF NOT EXISTS deliveries (
        destination TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        lease_until_ms INTEGER NOT NULL,
        retry_at_ms INTEGER NOT NULL DEFAULT 0,
        failures INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID",
];

/// Events sent in one request, and applied by the receiver in one transaction.
const BATCH: i64 = 1024;
/// How long a deliverer waits for more events after sending a batch that
/// was not full, unless flushing. Sending costs about as much again per
/// batch as per event, and without the wait a steady trickle of writes goes
/// out one event at a time: the deliverer takes each as it is queued.
const LINGER_MS: u64 = 50;
/// Delivered events are deleted this many at a time.
const DELETE_SLICE: usize = 128;
/// How long a lease lasts unless renewed; each batch sent renews it, so only
/// a deliverer that died leaves one to expire.
const LEASE_MS: i64 = 15_000;
/// The longest wait before retrying a destination that failed.
const MAX_BACKOFF_MS: i64 = 30_000;
/// How long the flush route waits for another deliverer to finish.
const FLUSH_WAIT_MS: i64 = 3_000;

/// The destinations this request queued events for and must deliver to
/// after its response (a component instance serves one request, so this is
/// per request).
static QUEUED: std::sync::Mutex<Vec<Service>> = std::sync::Mutex::new(Vec::new());

/// Queues `event` for `to`. Call inside the transaction that makes the change.
pub fn enqueue(db: &Db, to: Service, event: &Event) -> ApiResult<()> {
    db.execute(
        "INSERT INTO outbox (destination, event, created_ms) VALUES (?, ?, ?)",
        &[
            text(to.name()),
            text(to_deliver(to, event)?),
            int(now_millis()),
        ],
    )?;
    Ok(())
}

/// `event` as the outbox stores it, for a statement that writes the outbox
/// row itself (a trigger, in the statement that makes the change), and
/// notes that this request must deliver to `to` after its response.
///
/// Whether a deliverer already holds the lease is asked after the
/// response, not by a statement of its own inside the writer's transaction:
/// every statement there holds the write lock that all writers wait for. A
/// writer may ask it within its writing statement instead
/// ([`deliverer_busy_sql`]).
pub fn to_deliver(to: Service, event: &Event) -> ApiResult<String> {
    let json = serde_json::to_string(event).map_err(anyhow::Error::from)?;
    deliver_after_response(to);
    Ok(json)
}

/// An SQL expression for the statement that queues an event for the
/// destination `destination` (a parameter or a literal): whether, at `now`,
/// that destination's deliverer holds its lease or its retry time has not
/// come, as [`deliver_after`] would ask after the response. Then the writer
/// leaves its event to that deliverer ([`leave_to_deliverer`]) and spares the
/// question a statement of its own. Asked inside the writing statement, the
/// answer is as safe as after the commit: a deliverer releases its lease
/// with a write, so after this commit, and then looks again for events
/// ([`deliver_to`]).
pub fn deliverer_busy_sql(destination: &str, now: &str) -> String {
    busy_sql(destination, now, "0")
}

/// Has this request leave what it queued for `to` to the deliverer at work
/// (see [`deliverer_busy_sql`]): nothing to deliver after its response.
pub fn leave_to_deliverer(to: Service) {
    QUEUED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|queued| *queued != to);
}

/// Notes that this request must deliver to `to` after its response.
fn deliver_after_response(to: Service) {
    let mut queued = QUEUED.lock().unwrap_or_else(|e| e.into_inner());
    if !queued.contains(&to) {
        queued.push(to);
    }
}

/// An expression for the events waiting in the outbox: its seq only grows
/// and the oldest are deleted first, so this is two probes of the primary
/// key. (Separate subqueries: SQLite answers a lone `min` or `max` from the
/// index, but scans the whole table for both in one query.)
pub const BACKLOG: &str =
    "SELECT coalesce((SELECT max(seq) FROM outbox) - (SELECT min(seq) FROM outbox) + 1, 0)";

/// The backlog from which writers are slowed down, in proportion to it:
/// two batches, so that a short burst is absorbed at full speed.
pub const PACING_MARK: i64 = 2 * BATCH;
/// The backlog at which writers are held back.
pub const HIGH_WATER: i64 = 4 * BATCH;
/// A writer's pause just under [`HIGH_WATER`].
const MAX_PACE_MS: i64 = 50;
/// The longest a writer is held back.
const HOLD_BACK_MS: i64 = 2_000;
/// How often a held-back writer looks at the backlog again.
const HOLD_BACK_PAUSE_MS: u64 = 50;

/// Backpressure: slows a writer that found `backlog` events waiting (its
/// own included), while a deliverer is at work. Above [`PACING_MARK`] it
/// pauses in proportion to the backlog, up to [`MAX_PACE_MS`]; above
/// [`HIGH_WATER`] it waits until the deliverer brings the backlog under the
/// mark, for at most [`HOLD_BACK_MS`]. Writers that outrun delivery slow down
/// to its pace instead of piling up work, so the events written by the time a
/// burst ends are delivered within seconds of it; the proportional pause
/// lets a steady overload settle below the mark, where every writer waits a
/// little, instead of holding them all at once until a batch lands. A
/// destination that is down holds no one back.
pub fn hold_back(db: &Db, backlog: i64) -> ApiResult<()> {
    if backlog <= PACING_MARK || !delivering(db)? {
        return Ok(());
    }
    if backlog <= HIGH_WATER {
        std::thread::sleep(std::time::Duration::from_millis(pace_ms(backlog)));
        return Ok(());
    }
    let deadline = now_millis() + HOLD_BACK_MS;
    let still_held = still_held_sql();
    loop {
        std::thread::sleep(std::time::Duration::from_millis(HOLD_BACK_PAUSE_MS));
        let held = db.scalar(&still_held, &[int(now_millis()), int(HIGH_WATER)])? != 0;
        if !held || now_millis() >= deadline {
            return Ok(());
        }
    }
}

/// The pause of a writer that found `backlog` events waiting, between
/// [`PACING_MARK`] and [`HIGH_WATER`].
fn pace_ms(backlog: i64) -> u64 {
    let over = (backlog - PACING_MARK).clamp(0, HIGH_WATER - PACING_MARK);
    (over * MAX_PACE_MS / (HIGH_WATER - PACING_MARK)) as u64
}

/// Whether a deliverer holds a lease at `?1` (now) and is not failing.
const DELIVERING: &str =
    "EXISTS (SELECT 1 FROM deliveries WHERE lease_until_ms >= ?1 AND failures = 0)";

/// Whether a held writer must go on waiting, in one statement: the backlog
/// is over `?2` and a deliverer is at work at `?1` (now).
fn still_held_sql() -> String {
    format!("SELECT ({BACKLOG}) > ?2 AND {DELIVERING}")
}

/// Whether a deliverer holds a lease and is not failing.
fn delivering(db: &Db) -> ApiResult<bool> {
    Ok(db.scalar(&format!("SELECT {DELIVERING}"), &[int(now_millis())])? != 0)
}

/// Has this request deliver, after its response, whatever is pending for
/// each destination that has any (respecting its backoff and lease): how a
/// health check delivers what writes left behind once writes have stopped.
pub fn deliver_pending_after_response(db: &Db) -> ApiResult<()> {
    for to in [Service::User, Service::Post, Service::Feed] {
        if has_pending(db, to)? {
            deliver_after_response(to);
        }
    }
    Ok(())
}

/// Events not yet delivered.
pub fn pending(db: &Db) -> ApiResult<i64> {
    db.scalar("SELECT count(*) FROM outbox", &[])
}

/// After the response to a request that queued events: for each destination
/// it queued for, deliver everything pending unless another deliverer is at
/// it (which will then send these too). Requests that queued nothing do
/// nothing, so the work after responses is bounded by one deliverer per
/// destination whatever the request rate.
pub async fn deliver_after(open: impl FnOnce() -> ApiResult<Db>) {
    let queued = std::mem::take(&mut *QUEUED.lock().unwrap_or_else(|e| e.into_inner()));
    if queued.is_empty() {
        return;
    }
    let Ok(db) = open() else { return };
    if crate::relay::in_use() {
        crate::relay::kick(&db, &queued).await;
        return;
    }
    for to in queued {
        if let Err(e) = deliver_to(&db, to, false).await {
            eprintln!("outbox delivery to {} failed: {e}", to.name());
        }
    }
}

/// What a delivery run did.
#[derive(Debug, Default, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct Report {
    /// Events the receiver accepted.
    pub delivered: usize,
    /// Events that failed and will be retried.
    pub failed: usize,
    /// Events still in the outbox afterwards.
    pub pending: i64,
}

/// The flush route: delivers to every destination now, ignoring backoff,
/// waiting a little for a deliverer already at work, and reports.
pub async fn flush(db: &Db) -> ApiResult<Report> {
    if crate::relay::in_use() {
        return crate::relay::flush(db).await;
    }
    let mut report = Report::default();
    for to in [Service::User, Service::Post, Service::Feed] {
        let deadline = now_millis() + FLUSH_WAIT_MS;
        loop {
            match deliver_to(db, to, true).await? {
                Some(run) => {
                    report.delivered += run.delivered;
                    report.failed += run.failed;
                    break;
                }
                None if now_millis() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                None => break,
            }
        }
    }
    report.pending = pending(db)?;
    Ok(report)
}

/// Delivers everything queued for `to`, oldest first, in batches, while it
/// holds the destination's lease. `None` when another deliverer holds it or
/// (unless `force`) the destination's retry time has not come.
async fn deliver_to(db: &Db, to: Service, force: bool) -> ApiResult<Option<Report>> {
    let holder = crate::ids::new_id();
    if !acquire(db, to, &holder, force)? {
        return Ok(None);
    }
    let mut report = Report::default();
    loop {
        let rows = db.rows(
            "SELECT seq, event FROM outbox WHERE destination = ? ORDER BY seq LIMIT ?",
            &[text(to.name()), int(BATCH)],
        )?;
        let Some(last) = rows.last().map(|r| r.int(0)) else {
            release(db, to, &holder)?;
            // A writer that queued while the lease was held left its events
            // to this deliverer; they are visible now that it is released.
            if has_pending(db, to)? && acquire(db, to, &holder, force)? {
                continue;
            }
            return Ok(Some(report));
        };
        let events: Vec<Event> = rows
            .iter()
            .filter_map(|r| serde_json::from_str(&r.text(1)).ok())
            .collect();
        if !post_batch(to, events).await {
            report.failed += rows.len();
            back_off(db, to, &holder)?;
            return Ok(Some(report));
        }
        report.delivered += rows.len();
        // Only the lease holder deletes, and seq grows in commit order, so
        // everything up to `last` is what was just sent. In slices, so that
        // writers wait for the lock no longer than one slice takes.
        for slice in rows.chunks(DELETE_SLICE) {
            let through = slice.last().map_or(last, |r| r.int(0));
            db.execute(
                "DELETE FROM outbox WHERE destination = ? AND seq <= ?",
                &[text(to.name()), int(through)],
            )?;
        }
        if !renew(db, to, &holder)? {
            // The lease expired and another deliverer took over.
            return Ok(Some(report));
        }
        if !force && rows.len() < BATCH as usize {
            std::thread::sleep(std::time::Duration::from_millis(LINGER_MS));
        }
    }
}

fn has_pending(db: &Db, to: Service) -> ApiResult<bool> {
    Ok(db
        .row(
            "SELECT 1 FROM outbox WHERE destination = ? LIMIT 1",
            &[text(to.name())],
        )?
        .is_some())
}

/// Takes the lease for `to` if it is free (and, unless `force`, the retry
/// time has come). A plain read first, so that the common case, a lease
/// already held, costs no write lock.
fn acquire(db: &Db, to: Service, holder: &str, force: bool) -> ApiResult<bool> {
    let now = now_millis();
    if busy(db, to, now, force)? {
        return Ok(false);
    }
    db.tune_for_writes();
    Ok(db
        .row(
            "INSERT INTO deliveries (destination, holder, lease_until_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT (destination) DO UPDATE
               SET holder = excluded.holder, lease_until_ms = excluded.lease_until_ms
               WHERE deliveries.lease_until_ms < ?4 AND (?5 OR deliveries.retry_at_ms <= ?4)
             RETURNING 1",
            &[
                text(to.name()),
                text(holder),
                int(now + LEASE_MS),
                int(now),
                int(force as i64),
            ],
        )?
        .is_some())
}

/// Whether another deliverer holds `to`'s lease or (unless `force`) its
/// retry time has not come.
pub(crate) fn busy(db: &Db, to: Service, now: i64, force: bool) -> ApiResult<bool> {
    let busy = format!("SELECT {}", busy_sql("?1", "?2", "?3"));
    Ok(db.scalar(&busy, &[text(to.name()), int(now), int(force as i64)])? != 0)
}

/// [`busy`] as an SQL expression of its three arguments.
fn busy_sql(destination: &str, now: &str, force: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM deliveries WHERE destination = {destination}
           AND (lease_until_ms >= {now} OR (NOT {force} AND retry_at_ms > {now})))"
    )
}

/// Extends the lease after a successful batch and clears any backoff; false
/// when the lease is no longer this holder's.
fn renew(db: &Db, to: Service, holder: &str) -> ApiResult<bool> {
    Ok(db
        .row(
            "UPDATE deliveries SET lease_until_ms = ?, retry_at_ms = 0, failures = 0
             WHERE destination = ? AND holder = ? RETURNING 1",
            &[int(now_millis() + LEASE_MS), text(to.name()), text(holder)],
        )?
        .is_some())
}

fn release(db: &Db, to: Service, holder: &str) -> ApiResult<()> {
    db.execute(
        "UPDATE deliveries SET lease_until_ms = 0 WHERE destination = ? AND holder = ?",
        &[text(to.name()), text(holder)],
    )?;
    Ok(())
}

/// Releases the lease and waits longer after each failure in a row.
fn back_off(db: &Db, to: Service, holder: &str) -> ApiResult<()> {
    db.execute(
        "UPDATE deliveries SET lease_until_ms = 0, failures = failures + 1,
             retry_at_ms = ?1 + min(?2, 1000 << min(failures, 20))
         WHERE destination = ?3 AND holder = ?4",
        &[
            int(now_millis()),
            int(MAX_BACKOFF_MS),
            text(to.name()),
            text(holder),
        ],
    )?;
    Ok(())
}

/// `?, ?, ?` for `n` parameters.
pub fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}
async fn post_batch(to: Service, events: Vec<Event>) -> bool {
    let (Ok(url), Ok(credential)) = (to.events_url(), service_credential()) else {
        eprintln!("outbox: no URL or credential configured for {}", to.name());
        return false;
    };
    if !to.is_chained() && credential_is_default() {
        eprintln!(
            "outbox: refusing to send events to {url}: service_credential has its default \
             value, which anyone can read; set your own for a split deployment"
        );
        return false;
    }
    let body = match serde_json::to_vec(&Batch { events }) {
        Ok(b) => b,
        Err(_) => return false,
    };
    let mut request = Request::builder();
    request
        .method(Method::Post)
        .uri(url.as_str())
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {credential}"));
    // The batch is a request of the deliverer's (each event names its own).
    for (name, value) in crate::trace::outbound_headers() {
        request.header(name, value);
    }
    let request = request.body(body).build();
    match spin_sdk::http::send::<_, Response>(request).await {
        Ok(resp) if (200..300).contains(resp.status()) => true,
        Ok(resp) => {
            eprintln!("outbox: {url} answered {}", resp.status());
            false
        }
        Err(e) => {
            eprintln!("outbox: {url} unreachable: {e}");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn a_held_writer_waits_only_while_the_backlog_is_high_and_a_deliverer_works() {
        // Arrange: an outbox with a deliverer's lease until t = 1,000.
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for sql in OUTBOX_MIGRATION.iter().chain(DELIVERY_MIGRATION) {
            conn.execute(sql, []).unwrap();
        }
        conn.execute(
            "INSERT INTO deliveries (destination, holder, lease_until_ms) VALUES ('feed', 'a', 1000)",
            [],
        )
        .unwrap();
        let enqueue = |n: i64| {
            for _ in 0..n {
                conn.execute(
                    "INSERT INTO outbox (destination, event, created_ms) VALUES ('feed', '{}', 0)",
                    [],
                )
                .unwrap();
            }
        };
        let held = |now: i64, mark: i64| -> bool {
            conn.query_row(&still_held_sql(), [now, mark], |r| r.get(0))
                .unwrap()
        };

        // Act and assert
        enqueue(3);
        assert!(held(999, 2), "over the mark, with a deliverer at work");
        assert!(!held(999, 3), "at the mark");
        assert!(!held(1001, 2), "the lease has run out");
        conn.execute("UPDATE deliveries SET failures = 1", [])
            .unwrap();
        assert!(!held(999, 2), "the deliverer is failing");
    }

    #[test]
    fn writers_pause_in_proportion_to_the_backlog_between_the_marks() {
        assert_eq!(pace_ms(PACING_MARK), 0);
        assert_eq!(
            pace_ms((PACING_MARK + HIGH_WATER) / 2),
            MAX_PACE_MS as u64 / 2
        );
        assert_eq!(pace_ms(HIGH_WATER), MAX_PACE_MS as u64);
        assert!(pace_ms(PACING_MARK + 100) < pace_ms(PACING_MARK + 200));
    }

    #[test]
    fn only_spin_internal_hosts_are_part_of_the_application() {
        for url in [
            "http://feed.spin.internal",
            "http://FEED.spin.internal/",
            "https://post.spin.internal:443/x",
        ] {
            assert!(chained_url(url), "{url}");
        }
        for url in [
            "http://127.0.0.1:3003",
            "https://feed.example.com",
            "http://spin.internal.example.com",
            "http://feed.spin.internal@evil.example.com",
            "",
        ] {
            assert!(!chained_url(url), "{url}");
        }
    }
}
