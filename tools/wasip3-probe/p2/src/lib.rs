//! The WASIp2 side of the probe: what the app's components are today. Spin
//! makes a new instance per request, so every request opens its connection.

use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;
use spin_sdk::sqlite::{Connection, Value};

/// The author page query of `GET /posts?author=`.
const READ: &str = "SELECT id, author_id, author_username, body, created_ms, reply_to
    FROM posts WHERE author_username = ? ORDER BY id DESC LIMIT 10";
/// One row into the probe's own table (see README).
const INSERT: &str = "INSERT INTO probe (author, body, created) VALUES (?, ?, ?) RETURNING id";

// GET /p2/hello: no store. GET /p2/read: open, read. GET /p2/insert: open, insert.
#[http_component]
fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
    let path = req.path().to_string();
    if path == "/p2/hello" {
        return Ok(Response::new(200, "hello\n"));
    }
    let db = Connection::open("posts")?;
    let rows = match path.as_str() {
        "/p2/read" => db.execute(READ, &[Value::Text("user0".into())])?.rows.len(),
        "/p2/insert" => {
            db.execute("PRAGMA busy_timeout = 5000", &[])?;
            let body = Value::Text("hello there, a post".into());
            db.execute(INSERT, &[Value::Integer(7), body, Value::Integer(1)])?
                .rows
                .len()
        }
        _ => return Ok(Response::new(404, "no such probe\n")),
    };
    Ok(Response::new(200, format!("{rows}\n")))
}
