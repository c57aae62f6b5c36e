//! The WASIp3 side of the probe. Spin 4.0.2 sends up to 128 requests to one
//! instance of a WASIp3 component, up to 16 at a time, so what a request
//! leaves in the instance (here: open connections) can serve the next.

use spin_sdk::http::{IntoResponse, Request, StatusCode};
use spin_sdk::http_service;
use spin_sdk::sqlite::{Connection, Error, Value};
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// The author page query of `GET /posts?author=`.
const READ: &str = "SELECT id, author_id, author_username, body, created_ms, reply_to
    FROM posts WHERE author_username = ? ORDER BY id DESC LIMIT 10";
/// One row into the probe's own table (see README).
const INSERT: &str = "INSERT INTO probe (author, body, created) VALUES (?, ?, ?) RETURNING id";

thread_local! {
    /// One connection shared by every request of this instance.
    static SHARED: RefCell<Option<Rc<Connection>>> = const { RefCell::new(None) };
    /// Idle connections of this instance: a request takes one and gives it back.
    static IDLE: RefCell<Vec<Connection>> = const { RefCell::new(Vec::new()) };
    /// Idle connections for `compose`, which never waits inside SQLite.
    static COMPOSE_IDLE: RefCell<Vec<Connection>> = const { RefCell::new(Vec::new()) };
    /// Idle WASIp2-interface connections for `compose_sync`.
    static SYNC_IDLE: RefCell<Vec<spin2::sqlite::Connection>> = const { RefCell::new(Vec::new()) };
    /// Requests this instance has served, to show that it is reused.
    static SERVED: Cell<u64> = const { Cell::new(0) };
}

async fn open() -> Result<Connection, Error> {
    let db = Connection::open("posts").await?;
    run(&db, "PRAGMA busy_timeout = 5000", vec![]).await?;
    Ok(db)
}

async fn run(db: &Connection, sql: &str, params: Vec<Value>) -> Result<usize, Error> {
    Ok(db.execute(sql, params).await?.collect().await?.len())
}

async fn insert(db: &Connection) -> Result<usize, Error> {
    let body = Value::Text("hello there, a post".into());
    run(db, INSERT, vec![Value::Integer(7), body, Value::Integer(1)]).await
}

async fn shared() -> Result<Rc<Connection>, Error> {
    if let Some(db) = SHARED.with(|s| s.borrow().clone()) {
        return Ok(db);
    }
    let db = Rc::new(open().await?);
    SHARED.with(|s| *s.borrow_mut() = Some(db.clone()));
    Ok(db)
}

/// `BEGIN IMMEDIATE` that never lets SQLite wait for the lock inside the host:
/// busy now means a pause in the guest and another try.
async fn begin_without_waiting(db: &Connection) -> Result<(), Error> {
    run(db, "PRAGMA busy_timeout = 0", vec![]).await?;
    let mut pause_ms = 1;
    let begun = loop {
        match run(db, "BEGIN IMMEDIATE", vec![]).await {
            Err(Error::Io(e)) if e.contains("locked") || e.contains("busy") => {
                spin_sdk::wasip3::clocks::monotonic_clock::wait_for(pause_ms * 1_000_000).await;
                pause_ms = (pause_ms * 2).min(8);
            }
            other => break other,
        }
    };
    run(db, "PRAGMA busy_timeout = 5000", vec![]).await?;
    begun.map(|_| ())
}

/// Runs `work` on an idle connection of this instance, or a new one, and
/// keeps the connection for the next request unless the work failed.
async fn pooled(tx: Tx) -> Result<usize, Error> {
    let db = match IDLE.with(|i| i.borrow_mut().pop()) {
        Some(db) => db,
        None => open().await?,
    };
    let rows = if tx != Tx::None {
        if tx == Tx::Retried {
            begin_without_waiting(&db).await?;
        } else {
            run(&db, "BEGIN IMMEDIATE", vec![]).await?;
        }
        let rows = insert(&db).await?;
        run(&db, "SELECT max(id) FROM probe WHERE author = 7", vec![]).await?;
        run(&db, "COMMIT", vec![]).await?;
        rows
    } else {
        insert(&db).await?
    };
    IDLE.with(|i| i.borrow_mut().push(db));
    Ok(rows)
}

include!("../../common.rs");

/// `POST /posts`'s store work on a pooled connection (its write pragmas
/// set once, when it was opened): the token lookup, the insert, then the
/// author's page read and written. Waits for the lock in the guest.
async fn compose() -> Result<usize, Error> {
    let db = match COMPOSE_IDLE.with(|i| i.borrow_mut().pop()) {
        Some(db) => db,
        None => {
            let db = Connection::open("posts").await?;
            run(&db, "PRAGMA busy_timeout = 0", vec![]).await?;
            run(&db, "PRAGMA synchronous = NORMAL", vec![]).await?;
            db
        }
    };
    run(
        &db,
        TOKEN,
        vec![Value::Text(HASH.into()), Value::Integer(0)],
    )
    .await?;
    let id = new_id();
    let params = post_params!(Value, id).to_vec();
    let mut pause = 1;
    let rows = loop {
        match run(&db, POST, params.clone()).await {
            Err(Error::Io(e)) if e.contains("locked") && pause < 200 => {
                spin_sdk::wasip3::clocks::monotonic_clock::wait_for(pause * 1_000_000).await;
                pause += 1;
            }
            other => break other?,
        }
    };
    COMPOSE_IDLE.with(|i| i.borrow_mut().push(db));
    let store = spin_sdk::key_value::Store::open_default()
        .await
        .map_err(|e| Error::Io(format!("{e:?}")))?;
    let _ = store.get("page:user362").await;
    let _ = store.set("page:user362", page()).await;
    Ok(rows)
}

/// Bindings for the WASIp2-era SQLite and key-value interfaces, whose calls
/// are synchronous (`wit/spin-2.wit`, from spin-sdk 5.2's WIT).
mod spin2 {
    spin_sdk::wit_bindgen::generate!({
        runtime_path: "spin_sdk::wit_bindgen::rt",
        path: "wit/spin-2.wit",
        world: "probe-p2-stores",
    });
    pub use fermyon::spin::{key_value, sqlite};
}

/// [`compose`] through the WASIp2-era interfaces (`fermyon:spin/sqlite@2.0.0`
/// and `key-value@2.0.0`, spin-sdk 5.2), whose calls are synchronous: the
/// instance does nothing else while one runs. Its connection is kept as in
/// [`compose`].
fn compose_sync() -> Result<usize, Error> {
    use spin2::sqlite::{Connection as Connection5, Error as Error5, Value as Value5};
    let io = |e: Error5| Error::Io(format!("{e:?}"));
    let db = match SYNC_IDLE.with(|i| i.borrow_mut().pop()) {
        Some(db) => db,
        None => {
            let db = Connection5::open("posts").map_err(io)?;
            db.execute("PRAGMA busy_timeout = 0", &[]).map_err(io)?;
            db.execute("PRAGMA synchronous = NORMAL", &[]).map_err(io)?;
            db
        }
    };
    db.execute(TOKEN, &[Value5::Text(HASH.into()), Value5::Integer(0)])
        .map_err(io)?;
    let id = new_id();
    let params = post_params!(Value5, id);
    let mut pause = 1;
    let rows = loop {
        match db.execute(POST, &params) {
            Err(Error5::Io(e)) if e.contains("locked") && pause < 200 => {
                std::thread::sleep(std::time::Duration::from_millis(pause));
                pause += 1;
            }
            other => break other.map_err(io)?.rows.len(),
        }
    };
    SYNC_IDLE.with(|i| i.borrow_mut().push(db));
    let store =
        spin2::key_value::Store::open("default").map_err(|e| Error::Io(format!("{e:?}")))?;
    let _ = store.get("page:user362");
    let _ = store.set("page:user362", &page());
    Ok(rows)
}

/// Whether and how `pooled` wraps its insert in a write transaction.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tx {
    /// No transaction: the insert commits itself.
    None,
    /// `BEGIN IMMEDIATE` waits for the lock inside SQLite (busy timeout 5 s).
    Waited,
    /// `BEGIN IMMEDIATE` is retried after pauses in the guest.
    Retried,
}

// GET /p3/hello: no store. GET /p3/served: requests this instance served.
// GET /p3/read: read on a pooled connection. GET /p3/fresh: open, insert.
// GET /p3/shared: insert on the instance's one connection. GET /p3/pool:
// insert on a pooled connection. GET /p3/tx: a write transaction on one,
// waiting for the lock in SQLite. GET /p3/txretry: the same, waiting in the guest.
// GET /p3/compose: what `POST /posts` does in its stores. GET /p3/compose-sync:
// the same through the synchronous WASIp2-era interfaces.
#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    SERVED.set(SERVED.get() + 1);
    let rows = match req.uri().path() {
        "/p3/hello" => return (StatusCode::OK, "hello\n".to_string()),
        "/p3/served" => return (StatusCode::OK, format!("{}\n", SERVED.get())),
        "/p3/read" => read().await,
        "/p3/fresh" => match open().await {
            Ok(db) => insert(&db).await,
            Err(e) => Err(e),
        },
        "/p3/shared" => match shared().await {
            Ok(db) => insert(&db).await,
            Err(e) => Err(e),
        },
        "/p3/compose" => compose().await,
        "/p3/compose-sync" => compose_sync(),
        "/p3/pool" => pooled(Tx::None).await,
        "/p3/tx" => pooled(Tx::Waited).await,
        "/p3/txretry" => pooled(Tx::Retried).await,
        _ => return (StatusCode::NOT_FOUND, "no such probe\n".to_string()),
    };
    match rows {
        Ok(rows) => (StatusCode::OK, format!("{rows}\n")),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e:?}\n")),
    }
}

async fn read() -> Result<usize, Error> {
    let db = match IDLE.with(|i| i.borrow_mut().pop()) {
        Some(db) => db,
        None => open().await?,
    };
    let rows = run(&db, READ, vec![Value::Text("user0".into())]).await?;
    IDLE.with(|i| i.borrow_mut().push(db));
    Ok(rows)
}
