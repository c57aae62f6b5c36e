use crate::helpers::{TWO_COMPONENTS, TestApp};
use host::client::Request;

#[tokio::test(flavor = "multi_thread")]
async fn exact_routes_beat_wildcards() {
    let app = TestApp::from_manifest(TWO_COMPONENTS, |o| o).await.unwrap();
    // The fixture names itself in its "no route" answer, with the path info it got.
    let cases = [
        ("/a/exact", r#"beta has no route """#),
        ("/a/exact/", r#"beta has no route """#),
        ("/a/exact/more", r#"alpha has no route "/exact/more""#),
        ("/a", r#"alpha has no route """#),
        ("/a/", r#"alpha has no route "/""#),
    ];
    for (path, expected) in cases {
        assert_eq!(app.get(path).await.text(), expected, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unmatched_paths_and_private_routes_get_an_empty_404() {
    let app = TestApp::from_manifest(TWO_COMPONENTS, |o| o).await.unwrap();
    for path in ["/ab", "/", "/whoami", "/gamma/whoami"] {
        let r = app.get(path).await;
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.header("content-length"), Some("0"), "{path}");
        assert!(r.body.is_empty(), "{path}");
    }
    assert!(app.app.routes().iter().all(|(_, c)| c != "gamma"));
    // The private component is still reachable by service chaining.
    assert_eq!(
        app.text("/a/outbound?url=http://gamma.spin.internal/whoami")
            .await,
        "Ok(200 gamma)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn guests_get_spins_headers_and_an_absolute_uri_without_host() {
    let app = TestApp::fixture().await;
    let r = Request::new(http::Method::GET, app.url("/beta/headers?x=1&y=%20z"))
        .header("host", "example.org")
        .header("spin-path-info", "forged")
        .header("spin-foo", "kept")
        .send()
        .await
        .unwrap();
    let seen = r.text();
    for line in [
        "uri=http://example.org/beta/headers?x=1&y=%20z",
        "spin-full-url: http://example.org/beta/headers?x=1&y=%20z",
        "spin-path-info: /headers",
        "spin-component-route: /beta",
        "spin-raw-component-route: /beta/...",
        "spin-matched-route: /beta/...",
        "spin-base-path: /",
        "spin-foo: kept",
    ] {
        assert!(seen.contains(line), "missing {line:?} in {seen}");
    }
    assert!(seen.contains("spin-client-addr: 127.0.0.1:"), "{seen}");
    assert!(
        !seen.contains("forged") && !seen.contains("\nhost:"),
        "{seen}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn path_parameters_become_headers() {
    let app = TestApp::from_manifest(
        r#"
spin_manifest_version = 2
[application]
name = "params"
[[trigger.http]]
route = "/p/:id/..."
component = "alpha"
[component.alpha]
source = "{fixture}"
"#,
        |o| o,
    )
    .await
    .unwrap();
    let seen = app.text("/p/42/headers").await;
    assert!(seen.contains("spin-path-match-id: 42"), "{seen}");
    assert!(seen.contains("spin-path-info: /headers"), "{seen}");
    assert_eq!(app.get("/p").await.status, 404);
}
