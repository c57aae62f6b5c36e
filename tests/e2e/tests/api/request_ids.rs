//! Request ids: taken from a client's `traceparent` or `x-request-id` (or
//! made), echoed in `x-request-id`, carried on the calls and events between
//! services, and written in each service's one JSON log line per request.

use crate::helpers::*;
use host::client::{Request, Response};
use http::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The trace id of the client's `traceparent` in the end-to-end test.
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
/// The trace of a second post, which the user service never sees.
const LATER_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

/// Sends a request with extra headers (and the bearer `token`, if any).
async fn send_with(
    app: &TestApp,
    svc: Svc,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    token: Option<&str>,
    body: Option<Value>,
) -> Response {
    let mut req = Request::new(method, format!("{}{path}", app.base(svc)));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.expect("request failed")
}

/// The request id a response names.
fn request_id(r: &Response) -> String {
    r.header("x-request-id")
        .unwrap_or_else(|| panic!("no x-request-id on a {}: {:?}", r.status, r.headers))
        .to_string()
}

/// Whether `id` has the shape of an id the services make: 32 lowercase hex
/// digits, not all zeros (a valid W3C trace id).
fn is_fresh_id(id: &str) -> bool {
    id.len() == 32
        && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && id.bytes().any(|b| b != b'0')
}

/// The JSON log lines `svc` has written so far (its other stderr lines,
/// such as internal errors, are text).
fn log_lines(app: &TestApp, svc: Svc) -> Vec<Value> {
    app.stderr(svc)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line.get("request_id").is_some())
        .collect()
}

/// The first log line of `svc` that `matches`, waiting up to 10 s for it:
/// a service writes its line once the response is on its way.
async fn logged(app: &TestApp, svc: Svc, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(line) = log_lines(app, svc).into_iter().find(|l| matches(l)) {
            return line;
        }
        assert!(
            Instant::now() < deadline,
            "{svc:?} logged no line {what} within 10 s; its stderr:\n{}",
            app.stderr(svc)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether a log line's `event_request_ids` include `id`.
fn carries(line: &Value, id: &str) -> bool {
    line["event_request_ids"]
        .as_array()
        .is_some_and(|ids| ids.iter().any(|x| x == id))
}

/// The route events reach `svc` on: chained inside one application, the
/// public internal route across instances.
fn events_route(app: &TestApp, svc: Svc) -> String {
    match app.mode {
        Mode::OneApp => format!("/chained/{}/events", svc.id()),
        Mode::ThreeInstances => format!("/internal/{}/events", svc.id()),
    }
}

async fn a_clients_traceparent_shows_up_in_the_log_lines_of_user_post_and_feed(app: &TestApp) {
    let alice = app.user("alice").await;
    let traceparent = format!("00-{TRACE}-00f067aa0ba902b7-01");
    let r = send_with(
        app,
        Svc::Post,
        Method::POST,
        "/posts",
        &[("traceparent", &traceparent)],
        Some(&alice.token),
        Some(json!({"body": "traced"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(request_id(&r), TRACE);

    let post = logged(app, Svc::Post, "for the traced POST /posts", |l| {
        l["request_id"] == TRACE && l["route"] == "/posts"
    })
    .await;
    assert_eq!(post["service"], "post");
    assert_eq!(post["method"], "POST");
    assert_eq!(post["status"], 201);
    assert!(post["duration_ms"].as_f64().is_some_and(|ms| ms >= 0.0));

    // The user service takes part in a POST /posts only through the post
    // service's key fetch: in this fresh app the traced post is the post
    // service's first authenticated request, so it fetches GET /auth/jwks,
    // carrying the request id. That is the only path (later posts use the
    // cached keys, as the end of this test shows).
    let user = logged(app, Svc::User, "for the key fetch", |l| {
        l["request_id"] == TRACE
    })
    .await;
    assert_eq!(
        (
            &user["service"],
            &user["method"],
            &user["route"],
            &user["status"]
        ),
        (
            &json!("user"),
            &json!("GET"),
            &json!("/auth/jwks"),
            &json!(200)
        )
    );

    // The feed receives the post-created event in a batch, which is a
    // request of whoever delivers it (the post's own request after its
    // response, or this flush) and names the request of each event.
    let flush = app.flush(Svc::Post).await;
    assert_eq!(flush.status, 200, "{}", flush.text());
    let deliverers = [TRACE.to_string(), request_id(&flush)];
    let route = events_route(app, Svc::Feed);
    let feed = logged(app, Svc::Feed, "for the batch with the post", |l| {
        l["route"] == route.as_str() && carries(l, TRACE)
    })
    .await;
    assert_eq!(feed["service"], "feed");
    assert_eq!(feed["status"], 204);
    assert!(feed["events"].as_u64().is_some_and(|n| n >= 1), "{feed}");
    assert!(
        deliverers.iter().any(|d| feed["request_id"] == d.as_str()),
        "{feed} was delivered by neither {deliverers:?}"
    );
    // The post the feed now shows is the traced one.
    assert_eq!(app.feed_ids(&alice).await.len(), 1);

    let r = send_with(
        app,
        Svc::Post,
        Method::POST,
        "/posts",
        &[(
            "traceparent",
            &format!("00-{LATER_TRACE}-b7ad6b7169203331-00"),
        )],
        Some(&alice.token),
        Some(json!({"body": "traced again"})),
    )
    .await;
    assert_eq!((r.status, request_id(&r)), (201, LATER_TRACE.to_string()));
    app.settle().await;
    logged(app, Svc::Feed, "for the batch with the second post", |l| {
        carries(l, LATER_TRACE)
    })
    .await;
    assert!(
        !app.stderr(Svc::User).contains(LATER_TRACE),
        "with the keys cached, the user service has no part in a post"
    );
}
crate::both_modes!(a_clients_traceparent_shows_up_in_the_log_lines_of_user_post_and_feed);

async fn a_sane_x_request_id_is_used_echoed_logged_and_carried_by_events(app: &TestApp) {
    let alice = app.user("alice").await;
    app.user("bob").await;
    let id = "follow-req_42.a:b";
    let r = send_with(
        app,
        Svc::User,
        Method::PUT,
        "/users/me/following/bob",
        &[("x-request-id", id)],
        Some(&alice.token),
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(request_id(&r), id);
    let line = logged(app, Svc::User, "for the follow", |l| l["request_id"] == id).await;
    assert_eq!(line["route"], "/users/me/following/:username");
    assert_eq!(line["status"], 204);

    // Not a trace id, so it travels as x-request-id alone, and in the event.
    app.settle().await;
    let route = events_route(app, Svc::Feed);
    logged(app, Svc::Feed, "for the batch with the follow", |l| {
        l["route"] == route.as_str() && carries(l, id)
    })
    .await;

    // A malformed traceparent gives way to the x-request-id.
    let upper = format!("00-{}-00f067aa0ba902b7-01", TRACE.to_uppercase());
    let r = send_with(
        app,
        Svc::Post,
        Method::GET,
        "/posts/nope",
        &[("traceparent", &upper), ("x-request-id", "fallback-1")],
        None,
        None,
    )
    .await;
    assert_eq!((r.status, request_id(&r)), (404, "fallback-1".to_string()));
    let line = logged(app, Svc::Post, "for the 404", |l| {
        l["request_id"] == "fallback-1"
    })
    .await;
    assert_eq!(
        (&line["route"], &line["status"]),
        (&json!("/posts/:id"), &json!(404))
    );
}
crate::both_modes!(a_sane_x_request_id_is_used_echoed_logged_and_carried_by_events);

async fn junk_ids_are_replaced_and_requests_without_one_get_a_fresh_one(app: &TestApp) {
    let too_long = "x".repeat(129);
    let mut seen = Vec::new();
    for junk in ["two words", "quote\"brace}", "<script>", too_long.as_str()] {
        let r = send_with(
            app,
            Svc::Feed,
            Method::GET,
            "/health/feed",
            &[("x-request-id", junk)],
            None,
            None,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let id = request_id(&r);
        assert!(is_fresh_id(&id), "{junk:?} gave {id:?}");
        seen.push(id);
    }
    for _ in 0..2 {
        let r = app.health(Svc::Feed).await;
        let id = request_id(&r);
        assert!(is_fresh_id(&id), "{id:?}");
        seen.push(id);
    }
    let mut distinct = seen.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), seen.len(), "ids repeat: {seen:?}");
    // The id in each response header is the one its log line names.
    for id in &seen {
        let line = logged(app, Svc::Feed, "for a health check", |l| {
            l["request_id"] == id.as_str()
        })
        .await;
        assert_eq!(
            (&line["method"], &line["route"], &line["status"]),
            (&json!("GET"), &json!("/health/feed"), &json!(200))
        );
    }
    let stderr = app.stderr(Svc::Feed);
    for junk in ["two words", "quote", "<script>", too_long.as_str()] {
        assert!(!stderr.contains(junk), "{junk:?} reached the log");
    }

    // Requests refused before routing, or matching no route, are logged
    // too, without a route.
    let long_url = format!("/posts?author={}", "a".repeat(9000));
    let r = send_with(app, Svc::Post, Method::GET, &long_url, &[], None, None).await;
    assert_eq!(r.status, 414);
    let id = request_id(&r);
    let line = logged(app, Svc::Post, "for the 414", |l| {
        l["request_id"] == id.as_str()
    })
    .await;
    assert_eq!(
        (&line["route"], &line["status"]),
        (&Value::Null, &json!(414))
    );
    let r = send_with(app, Svc::Post, Method::GET, "/posts/a/b/c", &[], None, None).await;
    assert_eq!(r.status, 404);
    let id = request_id(&r);
    let line = logged(app, Svc::Post, "for the 404", |l| {
        l["request_id"] == id.as_str()
    })
    .await;
    assert_eq!(
        (&line["route"], &line["status"]),
        (&Value::Null, &json!(404))
    );
}
crate::both_modes!(junk_ids_are_replaced_and_requests_without_one_get_a_fresh_one);

async fn log_lines_hold_no_passwords_tokens_or_bodies(app: &TestApp) {
    let alice = app.user("alice").await;
    app.post(&alice, "a body that stays out of the logs").await;
    let r = app.me(&alice.token).await;
    assert_eq!(r.status, 200);
    let id = request_id(&r);
    logged(app, Svc::User, "for GET /users/me", |l| {
        l["request_id"] == id.as_str()
    })
    .await;
    app.settle().await;
    for svc in Svc::ALL {
        let stderr = app.stderr(svc);
        assert!(!log_lines(app, svc).is_empty(), "{svc:?} logged nothing");
        for secret in [
            alice.password.as_str(),
            alice.token.as_str(),
            CREDENTIAL,
            "a body that stays out of the logs",
        ] {
            assert!(!stderr.contains(secret), "{svc:?} logged {secret:?}");
        }
    }
}
crate::both_modes!(log_lines_hold_no_passwords_tokens_or_bodies);
