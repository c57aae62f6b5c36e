//! How a service that takes requests as WASIp3 reaches the other services
//! of its own application (ADR 0034).
//!
//! Spin 4.0.2 neither chains a WASIp3 instance's outbound requests to
//! `*.spin.internal` nor sends them to `self`: they get a DNS error. So such
//! an instance reaches the public routes of the application's services
//! through its listener (`app_url`), and its events, which go over paths
//! only chaining reaches, leave through its relay: a WASIp2 component of the
//! same service, sharing its store, that runs the usual outbox deliverer.
//! The instance only tells the relay, over the listener, that events wait.
//!
//! The relay's route is public, so it admits only a caller presenting the
//! relay secret: a random value the service's migrations put in its own
//! store, which nothing outside the service reads.

use crate::db::Db;
use crate::ids::now_millis;
use crate::outbox::{Report, Service};
use crate::{ApiError, ApiResult};
use spin_sdk::http::{Method, Request, Response};
use std::sync::OnceLock;

/// The service this instance serves as WASIp3, once its entry says so.
static WASIP3: OnceLock<Service> = OnceLock::new();

/// The relay secret, read once per instance (it never changes).
static SECRET: OnceLock<String> = OnceLock::new();

/// The relay secret, made once by the migrations of the service whose
/// events the relay delivers.
pub const RELAY_MIGRATION: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS relay_secret (
        only INTEGER PRIMARY KEY CHECK (only = 1),
        secret TEXT NOT NULL
    )",
    "INSERT OR IGNORE INTO relay_secret (only, secret) VALUES (1, lower(hex(randomblob(32))))",
];

/// Notes that this instance serves `service` as WASIp3 (its entry calls it
/// on every request; the first call decides).
pub fn serving_as_wasip3(service: Service) {
    let _ = WASIP3.set(service);
}

/// Whether this instance takes requests as WASIp3.
fn wasip3_service() -> Option<Service> {
    WASIP3.get().copied()
}

/// Whether a request of this instance to `service` must go through the
/// listener: the instance is WASIp3 and `service` is in its application.
pub fn through_listener(service: Service) -> bool {
    wasip3_service().is_some() && service.is_chained()
}

/// Whether this instance's events leave through its relay: it is WASIp3 and
/// some service it sends to is in its application.
pub fn in_use() -> bool {
    [Service::User, Service::Post, Service::Feed]
        .into_iter()
        .any(through_listener)
}

/// Where the application's listener is reached from inside it (`app_url`).
pub fn app_url() -> anyhow::Result<String> {
    let url = spin_sdk::variables::get("app_url")?;
    Ok(url.trim_end_matches('/').to_string())
}

/// The relay secret, from the store.
fn secret(db: &Db) -> ApiResult<String> {
    if let Some(secret) = SECRET.get() {
        return Ok(secret.clone());
    }
    let row = db
        .row("SELECT secret FROM relay_secret WHERE only = 1", &[])?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no relay secret in the store")))?;
    Ok(SECRET.get_or_init(|| row.text(0)).clone())
}

/// The relay's URL for `action` (`""` to deliver, `"/flush"` to flush).
fn relay_url(action: &str) -> anyhow::Result<String> {
    let service = wasip3_service().ok_or_else(|| anyhow::anyhow!("not a WASIp3 instance"))?;
    Ok(format!(
        "{}/internal/{}/relay{action}",
        app_url()?,
        service.name()
    ))
}

/// Sends the relay `action` with the secret and returns its answer.
async fn call(db: &Db, action: &str) -> ApiResult<Response> {
    let url = relay_url(action).map_err(ApiError::Internal)?;
    let mut request = Request::builder();
    request
        .method(Method::Post)
        .uri(url.as_str())
        .header("authorization", format!("Bearer {}", secret(db)?));
    for (name, value) in crate::trace::outbound_headers() {
        request.header(name, value);
    }
    spin_sdk::http::send::<_, Response>(request.build())
        .await
        .map_err(|e| {
            log_unreachable(&url, &e);
            ApiError::Unavailable("the service's relay is not answering".into())
        })
}

/// Logs that `url`, on the listener, did not answer: most likely `app_url`
/// is not where the application listens.
pub fn log_unreachable(url: &str, e: &dyn std::fmt::Display) {
    eprintln!(
        "{url} unreachable ({e}); app_url must name where this application listens \
         (spin up --listen)"
    );
}

/// After a response that queued events for `queued`: tells the relay to
/// deliver, unless every one of them has a deliverer at work already (which
/// will send these too) or is waiting out a failure.
pub async fn kick(db: &Db, queued: &[Service]) {
    let now = now_millis();
    let idle = queued
        .iter()
        .any(|&to| !crate::outbox::busy(db, to, now, false).unwrap_or(false));
    if !idle {
        return;
    }
    match call(db, "").await {
        Ok(answer) if *answer.status() == 202 => {}
        Ok(answer) => eprintln!("relay: answered {} to a delivery", answer.status()),
        Err(_) => {}
    }
}

/// The flush route's work, done by the relay: delivers everything now.
pub async fn flush(db: &Db) -> ApiResult<Report> {
    let answer = call(db, "/flush").await?;
    crate::http::ok_json(&answer, "the service's relay")
}

/// Admits only the relay's own service: 401 without a bearer token, 403
/// with anything but the relay secret.
pub fn require_relay_caller(req: &Request, db: &Db) -> ApiResult<()> {
    let presented = crate::auth::bearer(req)
        .ok_or_else(|| ApiError::Unauthorized("relay secret required".into()))?;
    let expected = secret(db)?;
    if !crate::auth::constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
        return Err(ApiError::Forbidden(
            "not this service's relay caller".into(),
        ));
    }
    Ok(())
}

// Native only: the tests run the migration on native SQLite.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    fn secret_of(conn: &rusqlite::Connection) -> String {
        conn.query_row("SELECT secret FROM relay_secret", [], |r| r.get(0))
            .unwrap()
    }

    fn migrate(conn: &rusqlite::Connection) {
        for sql in RELAY_MIGRATION {
            conn.execute(sql, []).unwrap();
        }
    }

    #[test]
    fn the_migration_makes_one_random_secret_of_32_bytes_and_keeps_it() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        migrate(&conn);
        let secret = secret_of(&conn);
        assert_eq!(secret.len(), 64, "{secret}");
        assert!(secret.bytes().all(|b| b.is_ascii_hexdigit()), "{secret}");

        migrate(&conn);
        assert_eq!(secret_of(&conn), secret);
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM relay_secret", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1);
    }

    #[test]
    fn each_store_gets_a_secret_of_its_own() {
        let (a, b) = (
            rusqlite::Connection::open_in_memory().unwrap(),
            rusqlite::Connection::open_in_memory().unwrap(),
        );
        migrate(&a);
        migrate(&b);
        assert_ne!(secret_of(&a), secret_of(&b));
    }
}
