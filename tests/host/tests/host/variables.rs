use crate::helpers::{TestApp, fixture_options};
use std::collections::HashMap;

#[tokio::test(flavor = "multi_thread")]
async fn templates_expand_application_defaults() {
    let app = TestApp::fixture().await;
    assert_eq!(app.text("/var?name=message").await, "Ok(\"pre-hello\")");
    assert_eq!(app.text("/var?name=thing").await, "Ok(\"supplied\")");
}

#[tokio::test(flavor = "multi_thread")]
async fn environment_overrides_defaults_and_explicit_variables_beat_both() {
    let env = HashMap::from([
        ("SPIN_VARIABLE_GREETING".to_string(), "from-env".to_string()),
        (
            "SPIN_VARIABLE_REQUIRED_THING".to_string(),
            "env-thing".to_string(),
        ),
    ]);
    let app = TestApp::start(fixture_options().env(env)).await;
    assert_eq!(app.text("/var?name=message").await, "Ok(\"pre-from-env\")");
    // fixture_options() sets required_thing explicitly, like --variable.
    assert_eq!(app.text("/var?name=thing").await, "Ok(\"supplied\")");
}

#[tokio::test(flavor = "multi_thread")]
async fn guests_see_only_their_own_valid_variables() {
    let app = TestApp::fixture().await;
    assert_eq!(
        app.text("/var?name=greeting").await,
        r#"Err(Error::Undefined("no variable for \"alpha\".\"greeting\""))"#
    );
    assert!(
        app.text("/var?name=Comp")
            .await
            .starts_with("Err(Error::InvalidName(")
    );
    assert_eq!(app.text("/beta/var?name=who").await, "Ok(\"beta\")");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_required_variable_stops_startup() {
    let opts = host::UpOptions::new(crate::helpers::fixture_dir())
        .runtime_config_file(crate::helpers::fixture_dir().join("runtime-config.toml"))
        .env(HashMap::new());
    let err = TestApp::try_start(opts)
        .await
        .err()
        .expect("startup should fail");
    assert!(
        format!("{err:#}")
            .contains("no provider resolved required variable(s): [Key(\"required_thing\")]"),
        "{err:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn guest_environment_comes_from_the_manifest_only() {
    let app = TestApp::fixture().await;
    assert_eq!(app.text("/env").await, r#"[("FIXTURE_ENV", "set")]"#);
    assert_eq!(app.text("/beta/env").await, "[]");
}
