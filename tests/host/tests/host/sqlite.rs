use crate::helpers::{TestApp, single_component, startup_error};
use serde_json::json;

async fn sql(app: &TestApp, label: &str, statements: serde_json::Value) -> Vec<String> {
    let r = app
        .post(&format!("/sql?label={label}"), statements.to_string())
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.text().lines().map(String::from).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn statements_return_typed_rows_and_named_columns() {
    let app = TestApp::fixture().await;
    let out = sql(
        &app,
        "data",
        json!([
            {"sql": "CREATE TABLE t(x)"},
            {"sql": "INSERT INTO t VALUES (?)", "params": [1]},
            {"sql": "SELECT x, 2.5, 'txt', x'00ff41', NULL, typeof(null), 1=1, 9223372036854775807, count(*) AS n FROM t"},
        ]),
    )
    .await;
    assert_eq!(out[0], "Ok(columns=[] rows=[])");
    assert_eq!(out[1], "Ok(columns=[] rows=[])");
    assert_eq!(
        out[2],
        "Ok(columns=[\"x\", \"2.5\", \"'txt'\", \"x'00ff41'\", \"NULL\", \"typeof(null)\", \"1=1\", \"9223372036854775807\", \"n\"] \
         rows=[[Value::Integer(1), Value::Real(2.5), Value::Text(\"txt\"), Value::Blob([0, 255, 65]), Value::Null, \
         Value::Text(\"null\"), Value::Integer(1), Value::Integer(9223372036854775807), Value::Integer(1)]])"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sql_errors_are_returned_not_trapped() {
    let app = TestApp::fixture().await;
    let out = sql(
        &app,
        "data",
        json!([
            {"sql": "SELEC 1"},
            {"sql": "SELECT * FROM nosuchtable"},
            {"sql": ""},
            {"sql": "SELECT ?"},
            {"sql": "COMMIT"},
        ]),
    )
    .await;
    assert_eq!(
        out[0],
        r#"Err(Error::Io("near \"SELEC\": syntax error in SELEC 1 at offset 0"))"#
    );
    assert_eq!(out[1], r#"Err(Error::Io("no such table: nosuchtable"))"#);
    assert_eq!(
        out[2],
        r#"Err(Error::Io("bad parameter or other API misuse"))"#
    );
    assert_eq!(
        out[3],
        r#"Err(Error::Io("Wrong number of parameters passed to query. Got 0, needed 1"))"#
    );
    assert_eq!(
        out[4],
        r#"Err(Error::Io("cannot commit - no transaction is active"))"#
    );
    // The component keeps working after errors.
    assert_eq!(app.text("/hello").await, "hello");
}

#[tokio::test(flavor = "multi_thread")]
async fn ungranted_or_unknown_databases_are_access_denied() {
    let app = TestApp::fixture().await;
    for label in ["nosuch", "", "users"] {
        let out = sql(&app, label, json!([])).await;
        assert_eq!(out, ["open: Err(Error::AccessDenied)"], "label {label:?}");
    }
    // beta is granted no database at all.
    let r = app.post("/beta/sql?label=data", "[]").await;
    assert_eq!(r.text(), "open: Err(Error::AccessDenied)");
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_first_of_several_statements_runs() {
    let app = TestApp::fixture().await;
    let out = sql(
        &app,
        "default",
        json!([
            {"sql": "CREATE TABLE m(x)"},
            {"sql": "INSERT INTO m VALUES (1); INSERT INTO m VALUES (2)"},
            {"sql": "SELECT 1; SELECT 2"},
            {"sql": "SELECT count(*) FROM m"},
        ]),
    )
    .await;
    assert_eq!(out[2], "Ok(columns=[\"1\"] rows=[[Value::Integer(1)]])");
    assert_eq!(
        out[3],
        "Ok(columns=[\"count(*)\"] rows=[[Value::Integer(1)]])"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn transactions_span_executes_and_are_rolled_back_when_left_open() {
    let app = TestApp::fixture().await;
    let count = json!({"sql": "SELECT count(*) FROM t"});
    sql(
        &app,
        "data",
        json!([{"sql": "CREATE TABLE t(x)"}, {"sql": "INSERT INTO t VALUES (1), (2)"}]),
    )
    .await;
    let out = sql(
        &app,
        "data",
        json!([{"sql": "BEGIN"}, {"sql": "INSERT INTO t VALUES (3)"}, count, {"sql": "ROLLBACK"}, count]),
    )
    .await;
    assert!(
        out[2].ends_with("rows=[[Value::Integer(3)]])"),
        "{}",
        out[2]
    );
    assert!(
        out[4].ends_with("rows=[[Value::Integer(2)]])"),
        "{}",
        out[4]
    );
    sql(&app, "data", json!([{"sql": "BEGIN TRANSACTION"}, {"sql": "INSERT INTO t VALUES (3)"}, {"sql": "COMMIT"}])).await;
    // A transaction left open at the end of a request is rolled back, with no lock left behind.
    sql(
        &app,
        "data",
        json!([{"sql": "BEGIN"}, {"sql": "INSERT INTO t VALUES (4)"}]),
    )
    .await;
    let out = sql(
        &app,
        "data",
        json!([count, {"sql": "INSERT INTO t VALUES (5)"}, count]),
    )
    .await;
    assert!(
        out[0].ends_with("rows=[[Value::Integer(3)]])"),
        "{}",
        out[0]
    );
    assert!(
        out[2].ends_with("rows=[[Value::Integer(4)]])"),
        "{}",
        out[2]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_undefined_database_fails_startup() {
    let msg = startup_error(&single_component("beta", r#"sqlite_databases = ["users"]"#)).await;
    assert!(
        msg.contains("One or more components use SQLite databases which are not defined."),
        "{msg}"
    );
    assert!(
        msg.contains("- Component beta uses database 'users'"),
        "{msg}"
    );
}
