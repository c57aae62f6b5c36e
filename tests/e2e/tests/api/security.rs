//! Secure by default: with the `service_credential` that `spin.toml` ships
//! with, no caller outside the application reaches an internal route, and
//! services running apart refuse to work until they have their own.

use crate::helpers::*;
use host::client::Response;
use http::Method;
use serde_json::json;

/// The credential `spin.toml` ships with; anyone can read it.
const DEFAULT_CREDENTIAL: &str = "dev-only-service-credential";

/// The attack: a forged "`user_id` was deleted" posted to `path` of `svc`
/// with the credential everyone can read.
async fn forge(app: &TestApp, svc: Svc, path: &str, user_id: &str) -> Response {
    let forged = json!({"events": [{"id": "forged-1", "occurred_at": "2026-01-01T00:00:00.000Z",
                                    "payload": {"UserDeleted": {"user_id": user_id}}}]});
    app.send(
        svc,
        Method::POST,
        path,
        Some(DEFAULT_CREDENTIAL),
        Some(forged),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fresh_app_lets_no_outside_caller_reach_its_internal_routes() {
    // Arrange: one application on the default credential; alice's post
    // reaches bob's feed by service chaining alone.
    let app =
        TestApp::spawn_with(Mode::OneApp, &[("service_credential", DEFAULT_CREDENTIAL)]).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    assert_eq!(app.follow(&bob.token, "alice").await.status, 204);
    let post = id_of(&app.post(&alice, "still here").await);
    eventually(|| async { app.feed_ids(&bob).await == vec![post.clone()] }).await;

    // Act: the attack, on every internal route, from outside.
    for svc in Svc::ALL {
        let id = svc.id();
        let events = format!("/internal/{id}/events");
        let r = forge(&app, svc, &events, &alice.id).await;
        assert_error(&r, 403, "forbidden");
        let flush = format!("/internal/{id}/outbox/flush");
        let r = app
            .send(svc, Method::POST, &flush, Some(DEFAULT_CREDENTIAL), None)
            .await;
        assert_error(&r, 403, "forbidden");
        // The path services of one application use has no public route.
        let chained = format!("/chained/{id}/events");
        let r = forge(&app, svc, &chained, &alice.id).await;
        assert_eq!(r.status, 404, "{chained}: {}", r.text());
    }
    // The post's relay (ADR 0034) opens only to the post's own secret.
    for relay in ["/internal/post/relay", "/internal/post/relay/flush"] {
        let r = app.send(Svc::Post, Method::POST, relay, None, None).await;
        assert_error(&r, 401, "unauthorized");
        let r = app
            .send(
                Svc::Post,
                Method::POST,
                relay,
                Some(DEFAULT_CREDENTIAL),
                None,
            )
            .await;
        assert_error(&r, 403, "forbidden");
    }

    // Assert: nothing changed, and the application still works inside.
    assert_eq!(app.get_post(&post).await.status, 200);
    assert_eq!(ok_json(&app.health(Svc::Post).await)["status"], "ok");
    let second = id_of(&app.post(&alice, "and more").await);
    eventually(|| async { app.feed_ids(&bob).await == vec![second.clone(), post.clone()] }).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn services_run_apart_on_the_default_credential_refuse_loudly() {
    // Arrange: three instances, reached by URL, on the default credential.
    let app = TestApp::spawn_with(
        Mode::ThreeInstances,
        &[("service_credential", DEFAULT_CREDENTIAL)],
    )
    .await;
    let alice = app.user("alice").await;
    let post = id_of(&app.post(&alice, "stored, not sent").await);

    // Act + Assert: every health check says why, every internal route
    // refuses, and nothing forged gets in.
    for svc in Svc::ALL {
        let r = app.health(svc).await;
        assert_eq!(r.status, 503, "{}", r.text());
        let body = r.json().unwrap();
        assert_eq!(body["status"], "misconfigured", "{body}");
        assert!(
            body["reason"]
                .as_str()
                .unwrap()
                .contains("service_credential"),
            "{body}"
        );
        let events = format!("/internal/{}/events", svc.id());
        let r = forge(&app, svc, &events, &alice.id).await;
        assert_error(&r, 403, "forbidden");
    }
    // Run apart, the post service sends its own events: it has no relay.
    let r = app
        .send(
            Svc::Post,
            Method::POST,
            "/internal/post/relay",
            Some(DEFAULT_CREDENTIAL),
            None,
        )
        .await;
    assert_error(&r, 404, "not_found");
    assert_eq!(app.get_post(&post).await.status, 200);
}
