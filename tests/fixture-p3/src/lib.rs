//! A WASIp3 Spin component for the host's tests of WASIp3 support.
//!
//! Spin sends many requests to one instance of a WASIp3 component, several
//! at a time, so besides reporting what the SDK returned (formatted with
//! `{:?}`, as the WASIp2 fixture does) it reports which instance answered
//! and how many requests that instance has seen. SQL runs on a connection
//! the instance keeps between requests. It dispatches on `spin-path-info`.

use spin_sdk::http::body::IncomingBodyExt;
use spin_sdk::http::{Request, StatusCode};
use spin_sdk::sqlite::{Connection, Value};
use spin_sdk::{http_service, key_value, variables};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

thread_local! {
    /// Requests this instance has received.
    static SERVED: Cell<u64> = const { Cell::new(0) };
    /// Requests this instance is handling right now.
    static IN_FLIGHT: Cell<u64> = const { Cell::new(0) };
    /// Connections this instance keeps between requests, by label.
    static KEPT: RefCell<HashMap<String, Vec<Connection>>> = RefCell::new(HashMap::new());
}

// Every route answers 200 with text; see each arm.
#[http_service]
async fn handle(req: Request) -> (StatusCode, String) {
    SERVED.set(SERVED.get() + 1);
    IN_FLIGHT.set(IN_FLIGHT.get() + 1);
    let answer = route(req).await;
    IN_FLIGHT.set(IN_FLIGHT.get() - 1);
    answer
}

async fn route(req: Request) -> (StatusCode, String) {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let path = header("spin-path-info");
    let query = req.uri().query().unwrap_or_default().to_string();
    let param = |name: &str| {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.replace("%2F", "/").replace("%3A", ":"))
            .unwrap_or_default()
    };
    let (label, op, key, name, url, ms) = (
        param("label"),
        param("op"),
        param("key"),
        param("name"),
        param("url"),
        param("ms"),
    );
    let body = req.into_body().bytes().await.unwrap_or_default().to_vec();
    let text = match path.as_str() {
        // GET /hello
        "/hello" => "hello".to_string(),
        // GET /instance: how many requests this instance has received.
        "/instance" => format!("served={}", SERVED.get()),
        // GET /wait?ms=: pauses, then says how many requests were in flight.
        "/wait" => {
            let in_flight = IN_FLIGHT.get();
            let ms: u64 = ms.parse().unwrap_or(0);
            spin_sdk::wasip3::clocks::monotonic_clock::wait_for(ms * 1_000_000).await;
            format!(
                "in_flight={in_flight} max={}",
                in_flight.max(IN_FLIGHT.get())
            )
        }
        // GET /kv?op=&label=&key= (PUT body for set)
        "/kv" => key_value_op(&op, &label, &key, body).await,
        // POST /sql?label= with [{"sql": "...", "params": [...]}, ...]
        "/sql" => sqlite_batch(&label, &body).await,
        // GET /var?name=
        "/var" => format!("{:?}", variables::get(&name).await),
        // GET /outbound?url=
        "/outbound" => match spin_sdk::http::get(&url).await {
            Ok(r) => {
                let status = r.status().as_u16();
                let body = r.into_body().bytes().await.unwrap_or_default();
                format!("Ok({status} {})", String::from_utf8_lossy(&body))
            }
            Err(e) => format!("Err({e:?})"),
        },
        _ => return (StatusCode::NOT_FOUND, format!("no route {path:?}")),
    };
    (StatusCode::OK, text)
}

async fn key_value_op(op: &str, label: &str, key: &str, body: Vec<u8>) -> String {
    let store = match key_value::Store::open(label).await {
        Ok(store) => store,
        Err(e) => return format!("open: {:?}", Err::<(), _>(e)),
    };
    match op {
        "get" => format!(
            "{:?}",
            store
                .get(key)
                .await
                .map(|v| v.map(|b| String::from_utf8_lossy(&b).into_owned()))
        ),
        "set" => format!("{:?}", store.set(key, &body).await),
        "delete" => format!("{:?}", store.delete(key).await),
        "exists" => format!("{:?}", store.exists(key).await),
        "keys" => format!("{:?}", store.get_keys().await.collect().await),
        other => format!("unknown op {other:?}"),
    }
}

/// Runs the statements on a connection this instance kept from an earlier
/// request, or a new one, and keeps it for the next.
async fn sqlite_batch(label: &str, body: &[u8]) -> String {
    let kept = KEPT.with(|k| k.borrow_mut().get_mut(label).and_then(Vec::pop));
    let conn = match kept {
        Some(conn) => conn,
        None => match Connection::open(label).await {
            Ok(conn) => conn,
            Err(e) => return format!("open: {:?}", Err::<(), _>(e)),
        },
    };
    let statements: Vec<serde_json::Value> = serde_json::from_slice(body).unwrap_or_default();
    let mut lines = Vec::new();
    for s in statements {
        let sql = s["sql"].as_str().unwrap_or_default();
        let params: Vec<Value> = s["params"]
            .as_array()
            .map(|ps| ps.iter().map(to_sql_value).collect())
            .unwrap_or_default();
        let result = match conn.execute(sql, params).await {
            Ok(r) => {
                let columns = r.columns().to_vec();
                r.collect().await.map(|rows| (columns, rows))
            }
            Err(e) => Err(e),
        };
        lines.push(match result {
            Ok((columns, rows)) => format!(
                "Ok(columns={columns:?} rows={:?})",
                rows.iter().map(|r| &r.values).collect::<Vec<_>>()
            ),
            Err(e) => format!("Err({e:?})"),
        });
    }
    KEPT.with(|k| {
        k.borrow_mut()
            .entry(label.to_string())
            .or_default()
            .push(conn)
    });
    lines.join("\n")
}

fn to_sql_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Number(n) if n.is_i64() => {
            Value::Integer(n.as_i64().unwrap_or_default())
        }
        serde_json::Value::Number(n) => Value::Real(n.as_f64().unwrap_or_default()),
        serde_json::Value::String(s) => Value::Text(s.clone()),
        other => Value::Text(other.to_string()),
    }
}
