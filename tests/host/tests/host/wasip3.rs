//! WASIp3 components: reused instances, Spin's 3.x interfaces through their
//! async functions, and outbound HTTP as Spin 4.0.2 gives it to a WASIp3
//! instance. Each expected text is what real Spin 4.0.2 returned to the same
//! fixture build.

use crate::helpers::TestApp;
use host::UpOptions;
use std::path::{Path, PathBuf};

fn fixture_p3_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixture-p3")
}

async fn fixture_p3() -> TestApp {
    TestApp::start(UpOptions::new(fixture_p3_dir())).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wasip3_component_answers() {
    let app = fixture_p3().await;
    assert_eq!(app.text("/hello").await, "hello");
    let missing = app.get("/nothing").await;
    assert_eq!(
        (missing.status, missing.text()),
        (404, "no route \"/nothing\"".to_string())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn one_instance_serves_the_requests_that_follow() {
    let app = fixture_p3().await;
    let served: Vec<String> = [
        app.text("/instance").await,
        app.text("/instance").await,
        app.text("/instance").await,
    ]
    .into();
    assert_eq!(served, ["served=1", "served=2", "served=3"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_kept_by_the_instance_serves_later_requests() {
    let app = fixture_p3().await;
    let created = app
        .post(
            "/sql?label=default",
            r#"[{"sql": "CREATE TABLE t (x)"}, {"sql": "INSERT INTO t VALUES (?)", "params": [5]}]"#,
        )
        .await;
    assert_eq!(
        created.text(),
        "Ok(columns=[] rows=[])\nOk(columns=[] rows=[])"
    );
    let read = app
        .post("/sql?label=default", r#"[{"sql": "SELECT x FROM t"}]"#)
        .await;
    assert_eq!(
        read.text(),
        r#"Ok(columns=["x"] rows=[[Value::Integer(5)]])"#
    );
    let denied = app
        .post("/sql?label=nope", r#"[{"sql": "SELECT 1"}]"#)
        .await;
    assert_eq!(denied.text(), "open: Err(Error::AccessDenied)");
}

#[tokio::test(flavor = "multi_thread")]
async fn key_value_calls_go_through_the_async_interface() {
    let app = fixture_p3().await;
    let cases = [
        ("get", "Ok(None)"),
        ("exists", "Ok(false)"),
        ("keys", "Ok([])"),
    ];
    for (op, expected) in cases {
        let path = format!("/kv?op={op}&label=default&key=a");
        assert_eq!(app.text(&path).await, expected, "{op} before set");
    }
    assert_eq!(
        app.post("/kv?op=set&label=default&key=a", "v1")
            .await
            .text(),
        "Ok(())"
    );
    let cases = [
        ("get", "Ok(Some(\"v1\"))"),
        ("exists", "Ok(true)"),
        ("keys", "Ok([\"a\"])"),
        ("delete", "Ok(())"),
        ("get", "Ok(None)"),
    ];
    for (op, expected) in cases {
        let path = format!("/kv?op={op}&label=default&key=a");
        assert_eq!(app.text(&path).await, expected, "{op} after set");
    }
    assert_eq!(
        app.text("/kv?op=get&label=other&key=a").await,
        "open: Err(Error::AccessDenied)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn variables_resolve_as_for_wasip2_components() {
    let app = fixture_p3().await;
    assert_eq!(app.text("/var?name=greeting").await, r#"Ok("hello")"#);
    assert_eq!(
        app.text("/var?name=nope").await,
        r#"Err(Error::Undefined("no variable for \"delta\".\"nope\""))"#
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn outbound_requests_are_neither_chained_nor_self_requests() {
    let app = fixture_p3().await;
    let listener = format!("{}/hello", app.app.base_url())
        .replace(':', "%3A")
        .replace('/', "%2F");
    assert_eq!(
        app.text(&format!("/outbound?url={listener}")).await,
        "Ok(200 hello)"
    );
    assert_eq!(
        app.text("/outbound?url=http%3A%2F%2Fexample.com%2F").await,
        "Err(ErrorCode::HttpRequestDenied)"
    );
    assert_eq!(
        app.text("/outbound?url=http%3A%2F%2Fself.alt%2Fhello")
            .await,
        "Err(ErrorCode::HttpRequestUriInvalid)"
    );
    let chained = app
        .text("/outbound?url=http%3A%2F%2Fdelta.spin.internal%2Fhello")
        .await;
    assert!(chained.starts_with("Err(ErrorCode::DnsError("), "{chained}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_instance_takes_more_requests_while_its_first_waits() {
    let app = fixture_p3().await;
    assert_eq!(app.text("/instance").await, "served=1");
    let waits: Vec<_> = (0..6)
        .map(|_| tokio::spawn(host::client::get(app.url("/wait?ms=400"))))
        .collect();
    let mut answers = Vec::new();
    for wait in waits {
        answers.push(wait.await.unwrap().expect("request failed").text());
    }
    let shared = answers.iter().any(|a| !a.starts_with("in_flight=1 "));
    assert!(
        shared,
        "every request had an instance to itself: {answers:?}"
    );
}
