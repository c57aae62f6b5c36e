use crate::helpers::{TestApp, fixture_options, single_component, startup_error};

#[tokio::test(flavor = "multi_thread")]
async fn key_value_operations_behave_like_spin() {
    // Arrange
    let app = TestApp::fixture().await;
    // Act / Assert: missing keys
    assert_eq!(
        app.text("/kv?op=get&label=default&key=nope").await,
        "Ok(None)"
    );
    assert_eq!(
        app.text("/kv?op=exists&label=default&key=nope").await,
        "Ok(false)"
    );
    assert_eq!(
        app.text("/kv?op=delete&label=default&key=nope").await,
        "Ok(())"
    );
    // set, get, exists, keys, delete
    for key in ["zeta", "alpha", "Beta", "10", "9", "_x", "aa", "a"] {
        assert_eq!(
            app.post(&format!("/kv?op=set&label=default&key={key}"), key)
                .await
                .text(),
            "Ok(())"
        );
    }
    assert_eq!(
        app.text("/kv?op=get&label=default&key=Beta").await,
        "Ok(Some(\"Beta\"))"
    );
    assert_eq!(
        app.text("/kv?op=exists&label=default&key=aa").await,
        "Ok(true)"
    );
    assert_eq!(
        app.text("/kv?op=keys&label=default").await,
        r#"Ok(["10", "9", "Beta", "_x", "a", "aa", "alpha", "zeta"])"#
    );
    assert_eq!(
        app.text("/kv?op=delete&label=default&key=aa").await,
        "Ok(())"
    );
    assert_eq!(
        app.text("/kv?op=exists&label=default&key=aa").await,
        "Ok(false)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn labels_not_granted_to_the_component_are_access_denied() {
    let app = TestApp::fixture().await;
    // "other" is defined, but only for alpha; beta is mounted at /beta.
    for label in ["nosuch", "", "Default"] {
        assert_eq!(
            app.text(&format!("/kv?op=open&label={label}")).await,
            "open: Err(Error::AccessDenied)",
            "label {label:?}"
        );
    }
    assert_eq!(
        app.text("/beta/kv?op=open&label=other").await,
        "open: Err(Error::AccessDenied)"
    );
    assert_eq!(app.text("/kv?op=open&label=other").await, "open: Ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_label_names_one_store_shared_by_components() {
    let app = TestApp::fixture().await;
    app.post("/kv?op=set&label=default&key=shared", "from alpha")
        .await;
    assert_eq!(
        app.text("/beta/kv?op=get&label=default&key=shared").await,
        "Ok(Some(\"from alpha\"))"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn large_values_and_long_keys_round_trip() {
    let app = TestApp::fixture().await;
    let key = "k".repeat(5000);
    let value = "v".repeat(1 << 20);
    assert_eq!(
        app.post(&format!("/kv?op=set&label=other&key={key}"), value.clone())
            .await
            .text(),
        "Ok(())"
    );
    assert_eq!(
        app.text(&format!("/kv?op=get&label=other&key={key}")).await,
        format!("Ok(Some({value:?}))")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn key_value_data_survives_a_restart() {
    let state = tempfile::TempDir::new().unwrap();
    let first = TestApp::start(fixture_options().state_dir(state.path())).await;
    first
        .post("/kv?op=set&label=default&key=durable", "yes")
        .await;
    drop(first);
    let second = TestApp::start(fixture_options().state_dir(state.path())).await;
    assert_eq!(
        second.text("/kv?op=get&label=default&key=durable").await,
        "Ok(Some(\"yes\"))"
    );
    assert!(state.path().join("sqlite_key_value.db").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_undefined_label_fails_startup() {
    let err = startup_error(&single_component("beta", r#"key_value_stores = ["feed"]"#)).await;
    assert!(
        err.contains("unknown key_value_stores label \"feed\" for component \"beta\""),
        "{err}"
    );
}
