//! The web client's component over HTTP: the page shell at every page's
//! path, its assets and their cache headers, 404s, and the API beside it at
//! the same origin: in one application through Spin's routes, as three
//! instances through the web instance, which forwards to the services. The
//! pages themselves are tested in a browser (`tests/browser`).

use crate::helpers::*;
use host::client::{Request, Response};
use http::Method;
use serde_json::{Value, json};

/// `GET path` at the web's base URL with `headers`.
async fn get(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut req = Request::new(Method::GET, format!("{}{path}", app.base(Svc::Web)));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.expect("request failed")
}

/// A browser's `Accept` for a navigation.
const NAVIGATION: (&str, &str) = (
    "accept",
    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
);

/// The `/assets/…` URLs the shell names.
fn asset_urls(shell: &str) -> Vec<String> {
    shell
        .split('"')
        .filter(|s| s.starts_with("/assets/"))
        .map(str::to_string)
        .collect()
}

fn header(r: &Response, name: &str) -> String {
    r.header(name).unwrap_or_default().to_string()
}

async fn every_page_path_is_the_shell_under_a_strict_policy(app: &TestApp) {
    for path in [
        "/",
        "/@alice",
        "/@alice/following",
        "/p/01JD0000000000000000000000",
        "/login",
        "/settings",
    ] {
        let r = get(app, path, &[NAVIGATION]).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
        assert_eq!(header(&r, "cache-control"), "no-cache", "{path}");
        assert!(
            header(&r, "content-security-policy").starts_with("default-src 'self';"),
            "{path}: {:?}",
            r.headers
        );
        assert_eq!(header(&r, "x-content-type-options"), "nosniff");
        assert!(!header(&r, "x-request-id").is_empty());
        let shell = r.text();
        assert_eq!(asset_urls(&shell).len(), 3, "{shell}");
        assert!(
            !shell.contains("<script>") && !shell.contains("style="),
            "{shell}"
        );
    }
    // The page's request has a log line of the web's own.
    let log = app.stderr(Svc::Web);
    assert!(
        log.lines()
            .any(|l| l.contains("\"service\":\"web\"") && l.contains("\"route\":\"/@:username\"")),
        "{log}"
    );
}
crate::both_modes!(every_page_path_is_the_shell_under_a_strict_policy);

async fn assets_are_kept_by_version_and_revalidated_otherwise(app: &TestApp) {
    let shell = get(app, "/", &[NAVIGATION]).await.text();
    for url in asset_urls(&shell) {
        let r = get(app, &url, &[]).await;
        assert_eq!(r.status, 200, "{url}");
        assert_eq!(
            header(&r, "cache-control"),
            "public, max-age=31536000, immutable",
            "{url}"
        );
        let expected_type = match url.split('?').next().unwrap().rsplit('.').next() {
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("svg") => "image/svg+xml",
            other => panic!("unexpected asset {other:?}"),
        };
        assert_eq!(header(&r, "content-type"), expected_type);
        assert_eq!(header(&r, "x-content-type-options"), "nosniff");
        assert!(!r.body.is_empty());

        // Without its version, the same file, revalidated each time.
        let bare = url.split('?').next().unwrap();
        let r2 = get(app, bare, &[]).await;
        assert_eq!(r2.status, 200);
        assert_eq!(header(&r2, "cache-control"), "no-cache");
        assert_eq!(r2.body, r.body);
        let etag = header(&r2, "etag");
        let r3 = get(app, bare, &[("if-none-match", &etag)]).await;
        assert_eq!(r3.status, 304, "{bare}");
        assert!(r3.body.is_empty());
    }

    let missing = get(app, "/assets/nope.js", &[]).await;
    assert_error(&missing, 404, "not_found");
    // A person following a broken link gets a page; a program gets JSON.
    let page = get(app, "/no/such/page", &[NAVIGATION]).await;
    assert_eq!(page.status, 404);
    assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
    let program = get(app, "/no/such/page", &[("accept", "application/json")]).await;
    assert_error(&program, 404, "not_found");
    let post = Request::new(Method::POST, format!("{}/", app.base(Svc::Web)))
        .send()
        .await
        .unwrap();
    assert_error(&post, 405, "method_not_allowed");
    assert_eq!(header(&post, "allow"), "GET, HEAD");
}
crate::both_modes!(assets_are_kept_by_version_and_revalidated_otherwise);

/// Sends a request to the web's origin `web`, as the client does. (With
/// `REPLICAS`, a test keeps to one web instance, whose origin the URLs in
/// its answers must name.)
async fn at_web(
    web: &str,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Response {
    let mut req = Request::new(method, format!("{web}{path}"));
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.expect("request failed")
}

async fn the_whole_api_answers_at_the_web_origin(app: &TestApp) {
    let web = app.base(Svc::Web);
    let r = at_web(
        &web,
        Method::POST,
        "/users",
        None,
        Some(json!({"username": "alice", "password": "correct horse"})),
        &[],
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    // URLs the services make name the origin the client used.
    assert_eq!(header(&r, "location"), format!("{web}/users/alice"));
    let r = at_web(
        &web,
        Method::POST,
        "/auth/login",
        None,
        Some(json!({"username": "alice", "password": "correct horse"})),
        &[],
    )
    .await;
    let token = ok_json(&r)["token"].as_str().unwrap().to_string();

    let key = ("idempotency-key", "web-post-1");
    let mut ids = Vec::new();
    for _ in 0..2 {
        let r = at_web(
            &web,
            Method::POST,
            "/posts",
            Some(&token),
            Some(json!({"body": "through the web"})),
            &[key],
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text());
        ids.push(id_of(&r.json().unwrap()));
    }
    assert_eq!(ids[0], ids[1], "the idempotency key reached the service");
    let r = at_web(
        &web,
        Method::POST,
        "/posts",
        Some(&token),
        Some(json!({"body": "and a second"})),
        &[],
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    eventually(|| async {
        let r = at_web(&web, Method::GET, "/feed?limit=1", Some(&token), None, &[]).await;
        r.status == 200 && r.header("link").is_some()
    })
    .await;
    let r = at_web(
        &web,
        Method::GET,
        "/feed?limit=1",
        Some(&token),
        None,
        &[("x-request-id", "web-e2e-feed-1")],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(header(&r, "content-type"), "application/json");
    assert!(
        header(&r, "link").starts_with(&format!("<{web}/feed?")),
        "{:?}",
        r.headers
    );
    assert_eq!(header(&r, "x-request-id"), "web-e2e-feed-1");
    // The id reached the feed service, which logged it.
    eventually(|| async { app.stderr(Svc::Feed).contains("web-e2e-feed-1") }).await;

    // Errors come back as the service sent them.
    let r = at_web(&web, Method::GET, "/feed", None, None, &[]).await;
    assert_error(&r, 401, "unauthorized");
    assert_eq!(header(&r, "www-authenticate"), "Bearer");
    let r = at_web(&web, Method::DELETE, "/feed", Some(&token), None, &[]).await;
    assert_error(&r, 405, "method_not_allowed");
    assert_eq!(header(&r, "allow"), "GET");
    let long = "x".repeat(281);
    let r = at_web(
        &web,
        Method::POST,
        "/posts",
        Some(&token),
        Some(json!({ "body": long })),
        &[],
    )
    .await;
    assert_error(&r, 422, "validation_failed");
    let served: Value = ok_json(&at_web(&web, Method::GET, "/openapi.json", None, None, &[]).await);
    assert_eq!(served["openapi"], "3.1.0");
}
crate::both_modes!(the_whole_api_answers_at_the_web_origin);

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_feed_instance_is_a_503_in_the_apis_words_at_the_web_origin() {
    // Arrange
    let mut app = TestApp::spawn(Mode::ThreeInstances).await;
    let alice = app.user("alice").await;

    // Act
    let web = app.base(Svc::Web);
    app.stop(Svc::Feed).await;
    let r = at_web(&web, Method::GET, "/feed", Some(&alice.token), None, &[]).await;

    // Assert: the API's error shape, worth retrying; the rest still works.
    assert_error(&r, 503, "service_unavailable");
    assert_eq!(header(&r, "retry-after"), "1");
    assert!(
        r.json().unwrap()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("feed")
    );
    assert_eq!(get(&app, "/", &[NAVIGATION]).await.status, 200);
    let me = at_web(
        &web,
        Method::GET,
        "/users/me",
        Some(&alice.token),
        None,
        &[],
    )
    .await;
    assert_eq!(me.status, 200, "{}", me.text());
}
