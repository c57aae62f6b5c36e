//! The transactional outbox: events are written in the same transaction as
//! the change they describe, then delivered after the response, retried with
//! backoff on later requests and by the flush route. Receivers deduplicate by
//! event id, so delivering twice is harmless; losing one is impossible.

use crate::ApiResult;
use crate::auth::service_credential;
use crate::db::{Db, Row, int, text};
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

    fn parse(s: &str) -> Option<Self> {
        [Self::User, Self::Post, Self::Feed]
            .into_iter()
            .find(|svc| svc.name() == s)
    }

    /// The service's base URL, from the `<name>_service_url` variable.
    pub fn base_url(self) -> anyhow::Result<String> {
        let url = spin_sdk::variables::get(&format!("{}_service_url", self.name()))?;
        Ok(url.trim_end_matches('/').to_string())
    }

    /// Where this service receives events.
    pub fn events_url(self) -> anyhow::Result<String> {
        Ok(format!(
            "{}/internal/{}/events",
            self.base_url()?,
            self.name()
        ))
    }
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

/// Events sent in one request.
const BATCH: i64 = 100;
/// Batches sent after one response at most, so one request's tail stays short.
const MAX_BATCHES: usize = 20;
/// How long a claimed row is left alone by other deliverers.
const LEASE_MS: i64 = 30_000;
/// The longest wait between retries.
const MAX_BACKOFF_MS: i64 = 300_000;

/// Queues `event` for `to`. Call inside the transaction that makes the change.
pub fn enqueue(db: &Db, to: Service, event: &Event) -> ApiResult<()> {
    let body = serde_json::to_string(event).map_err(anyhow::Error::from)?;
    let now = now_millis();
    db.execute(
        "INSERT INTO outbox (destination, event, next_attempt_ms, created_ms) VALUES (?, ?, ?, ?)",
        &[text(to.name()), text(body), int(now), int(now)],
    )?;
    Ok(())
}

/// Events not yet delivered.
pub fn pending(db: &Db) -> ApiResult<i64> {
    db.scalar("SELECT count(*) FROM outbox", &[])
}

/// After the response to a request: a write delivers the events it queued
/// and any whose retry time has come; reads deliver nothing. A cheap count
/// skips the write lock when nothing is queued.
pub async fn deliver_after(method: Method, open: impl FnOnce() -> ApiResult<Db>) {
    if matches!(method, Method::Get | Method::Head) {
        return;
    }
    let Ok(db) = open() else { return };
    if pending(&db).is_ok_and(|n| n > 0)
        && let Err(e) = deliver(&db, Due::Now).await
    {
        eprintln!("outbox delivery failed: {e}");
    }
}

/// Which events a delivery run takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Due {
    /// Those whose retry time has come (after a response).
    Now,
    /// All of them, ignoring backoff (the flush route).
    All,
}

/// What a delivery run did.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Report {
    /// Events the receiver accepted.
    pub delivered: usize,
    /// Events that failed and will be retried.
    pub failed: usize,
    /// Events still in the outbox afterwards.
    pub pending: i64,
}

/// Delivers queued events, oldest first, in batches per destination.
pub async fn deliver(db: &Db, due: Due) -> ApiResult<Report> {
    let mut report = Report::default();
    for _ in 0..MAX_BATCHES {
        let claimed = claim(db, due)?;
        if claimed.is_empty() {
            break;
        }
        let mut sent_any = false;
        for to in [Service::User, Service::Post, Service::Feed] {
            let rows: Vec<&Row> = claimed
                .iter()
                .filter(|r| Service::parse(&r.text(1)) == Some(to))
                .collect();
            if rows.is_empty() {
                continue;
            }
            let seqs: Vec<i64> = rows.iter().map(|r| r.int(0)).collect();
            let events: Vec<Event> = rows
                .iter()
                .filter_map(|r| serde_json::from_str(&r.text(2)).ok())
                .collect();
            if post_batch(to, events).await {
                sent_any = true;
                report.delivered += seqs.len();
                let params: Vec<_> = seqs.iter().map(|s| int(*s)).collect();
                db.execute(
                    &format!(
                        "DELETE FROM outbox WHERE seq IN ({})",
                        placeholders(seqs.len())
                    ),
                    &params,
                )?;
            } else {
                report.failed += seqs.len();
                for row in rows {
                    let backoff = (1000_i64 << row.int(3).clamp(0, 20)).min(MAX_BACKOFF_MS);
                    db.execute(
                        "UPDATE outbox SET attempts = attempts + 1, next_attempt_ms = ? WHERE seq = ?",
                        &[int(now_millis() + backoff), int(row.int(0))],
                    )?;
                }
            }
        }
        if !sent_any {
            break;
        }
    }
    report.pending = pending(db)?;
    Ok(report)
}

/// Takes a batch of due rows and leases them so concurrent deliverers skip them.
fn claim(db: &Db, due: Due) -> ApiResult<Vec<Row>> {
    let now = now_millis();
    let horizon = match due {
        Due::Now => now,
        Due::All => i64::MAX,
    };
    db.transaction(|db| {
        let rows = db.rows(
            "SELECT seq, destination, event, attempts FROM outbox WHERE next_attempt_ms <= ? ORDER BY seq LIMIT ?",
            &[int(horizon), int(BATCH)],
        )?;
        if !rows.is_empty() {
            let mut params = vec![int(now + LEASE_MS)];
            params.extend(rows.iter().map(|r| int(r.int(0))));
            db.execute(
                &format!("UPDATE outbox SET next_attempt_ms = ? WHERE seq IN ({})", placeholders(rows.len())),
                &params,
            )?;
        }
        Ok(rows)
    })
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
    let body = match serde_json::to_vec(&Batch { events }) {
        Ok(b) => b,
        Err(_) => return false,
    };
    let request = Request::builder()
        .method(Method::Post)
        .uri(url.as_str())
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {credential}"))
        .body(body)
        .build();
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
