use crate::helpers::{TWO_COMPONENTS, TestApp, fixture_options, single_component, startup_error};

#[tokio::test(flavor = "multi_thread")]
async fn an_allowed_host_is_reached_over_the_network() {
    // Arrange: a second app to call, named through the `target` variable.
    let target = TestApp::fixture().await;
    let app = TestApp::start(fixture_options().variable("target", target.app.base_url())).await;
    // Act
    let out = app
        .text(&format!("/outbound?url={}/whoami", target.app.base_url()))
        .await;
    // Assert
    assert_eq!(out, "Ok(200 alpha)");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_denied_host_is_an_error_the_guest_can_handle() {
    let app = TestApp::fixture().await;
    let own = app.app.base_url();
    // Literal own address: not covered by "http://self".
    assert_eq!(
        app.text(&format!("/outbound?url={own}/hello")).await,
        "Err(Http(ErrorCode::HttpRequestDenied))"
    );
    // beta has no allowed hosts at all.
    assert_eq!(
        app.text("/beta/outbound?url=http://gamma.spin.internal/hello")
            .await,
        "Err(Http(ErrorCode::HttpRequestDenied))"
    );
    assert!(
        app.app
            .stderr("beta")
            .contains("Outbound network destination not allowed")
    );
    // The guest handled the error; the app still serves.
    assert_eq!(app.text("/hello").await, "hello");
}

#[tokio::test(flavor = "multi_thread")]
async fn self_alt_goes_through_the_listener() {
    let app = TestApp::fixture().await;
    assert_eq!(
        app.text("/outbound?url=http://self.alt/beta/whoami").await,
        "Ok(200 beta)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn spin_internal_runs_the_component_in_process_as_spin_presents_it() {
    let app = TestApp::fixture().await;
    assert_eq!(
        app.text("/outbound?url=http://gamma.spin.internal/whoami")
            .await,
        "Ok(200 gamma)"
    );
    let seen = app
        .text("/outbound?url=http://gamma.spin.internal/headers%3Fq=1")
        .await;
    for line in [
        "uri=http://gamma.spin.internal/headers?q=1",
        "spin-full-url: http://localhost/headers?q=1",
        "spin-client-addr: 0.0.0.0:0",
        "spin-matched-route: /...",
        "spin-path-info: /headers",
    ] {
        assert!(seen.contains(line), "missing {line:?} in {seen}");
    }
    assert!(!seen.contains("host:"), "{seen}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_spin_internal_component_fails_the_call() {
    let app = TestApp::from_manifest(TWO_COMPONENTS, |o| o).await.unwrap();
    let out = app
        .text("/a/outbound?url=http://nosuch.spin.internal/")
        .await;
    assert_eq!(out, "Err(Http(ErrorCode::DestinationNotFound))");
    assert!(
        app.app
            .stderr("alpha")
            .contains("unknown routing destination 'nosuch'")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_undefined_variable_in_allowed_hosts_denies_requests_but_starts() {
    let manifest = single_component("alpha", r#"allowed_outbound_hosts = ["{{ nosuch }}"]"#);
    let app = TestApp::from_manifest(&manifest, |o| o).await.unwrap();
    assert_eq!(
        app.text("/outbound?url=http://127.0.0.1:9/").await,
        "Err(Http(ErrorCode::HttpRequestDenied))"
    );
    assert!(
        app.app
            .stderr("alpha")
            .contains("Error parsing allowed outbound hosts")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_entry_without_a_scheme_stops_startup() {
    let manifest = single_component("alpha", r#"allowed_outbound_hosts = ["127.0.0.1:3001"]"#);
    let err = startup_error(&manifest).await;
    assert!(err.contains("does not contain a scheme"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn allowing_everything_includes_self() {
    let manifest = single_component("alpha", r#"allowed_outbound_hosts = ["*://*:*"]"#);
    let app = TestApp::from_manifest(&manifest, |o| o).await.unwrap();
    assert_eq!(
        app.text("/outbound?url=http://self.alt/hello").await,
        "Ok(200 hello)"
    );
}
