use crate::helpers::{TestApp, fixture_options, single_component, startup_error};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn a_guest_panic_is_a_500_and_the_host_keeps_serving() {
    let app = TestApp::fixture().await;
    let r = app.get("/panic").await;
    assert_eq!(r.status, 500);
    assert!(r.body.is_empty());
    assert_eq!(r.header("content-length"), Some("0"));
    assert!(app.app.stderr("alpha").contains("fixture panic requested"));
    assert_eq!(app.text("/hello").await, "hello");
}

#[tokio::test(flavor = "multi_thread")]
async fn returning_without_a_response_is_a_500() {
    let app = TestApp::fixture().await;
    let r = app.get("/no-response").await;
    assert_eq!(r.status, 500);
    assert!(
        app.app
            .stderr("alpha")
            .contains("guest failed to produce a response prior to returning")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn work_after_the_response_completes() {
    let app = TestApp::fixture().await;
    let started = Instant::now();
    assert_eq!(app.text("/after?key=late").await, "responded");
    // The fixture sleeps 300 ms after responding; the client did not wait for it.
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "client waited for after-response work"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if app.text("/kv?op=get&label=default&key=late").await
            == "Ok(Some(\"written after response\"))"
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after-response write never happened"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        app.app
            .stdout("alpha")
            .contains("after-response work done for late")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_importing_an_unprovided_interface_fails_at_load_naming_it() {
    let dir = tempfile::TempDir::new().unwrap();
    std::fs::write(
        dir.path().join("llm.wat"),
        r#"(component
             (import "fermyon:spin/llm@2.0.0" (instance (export "infer" (func))))
           )"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("spin.toml"),
        r#"
spin_manifest_version = 2
[application]
name = "llm"
[[trigger.http]]
route = "/..."
component = "llm"
[component.llm]
source = "llm.wat"
"#,
    )
    .unwrap();
    let err = TestApp::try_start(host::UpOptions::new(dir.path()))
        .await
        .err()
        .expect("load should fail");
    assert!(
        format!("{err:#}").contains("fermyon:spin/llm@2.0.0"),
        "{err:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_data_survives_a_restart() {
    let state = tempfile::TempDir::new().unwrap();
    let first = TestApp::start(fixture_options().state_dir(state.path())).await;
    let body = r#"[{"sql":"CREATE TABLE d(x)"},{"sql":"INSERT INTO d VALUES ('kept')"}]"#;
    first.post("/sql?label=default", body).await;
    drop(first);
    let second = TestApp::start(fixture_options().state_dir(state.path())).await;
    let out = second
        .post("/sql?label=default", r#"[{"sql":"SELECT x FROM d"}]"#)
        .await
        .text();
    assert_eq!(out, "Ok(columns=[\"x\"] rows=[[Value::Text(\"kept\")]])");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_manifest_content_is_a_startup_error() {
    let err = startup_error(&single_component("alpha", r#"files = ["static/**"]"#)).await;
    assert!(err.contains("unknown field `files`"), "{err}");
}
