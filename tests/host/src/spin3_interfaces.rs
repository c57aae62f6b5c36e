//! Spin's `spin:key-value@3.0.0`, `spin:sqlite@3.1.0` and
//! `spin:variables@3.0.0`, which WASIp3 components (spin-sdk 6) import.

use crate::runtime::HostState;
use crate::spin_interfaces::blocking;
use crate::stores::{self, KeyValueStore, SqlValue};
use crate::variables::GetError;
use std::sync::{Arc, Mutex};
use wasmtime::component::{Accessor, FutureReader, HasSelf, Linker, Resource, StreamReader};

mod generated {
    include!(concat!(env!("OUT_DIR"), "/spin3_bindings.rs"));
}

use generated::spin::key_value::key_value as kv;
use generated::spin::sqlite::sqlite;
use generated::spin::variables::variables;

/// The host side of an open key-value store.
pub struct KeyValueHandle(Arc<KeyValueStore>);

/// The host side of an open SQLite connection. Like Spin's, requests that
/// share one connection queue for it.
pub struct SqliteHandle(Arc<Mutex<rusqlite::Connection>>);

/// Adds the three interfaces to `linker`.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    kv::add_to_linker::<_, HasSelf<HostState>>(linker, |s| s)?;
    sqlite::add_to_linker::<_, HasSelf<HostState>>(linker, |s| s)?;
    variables::add_to_linker::<_, HasSelf<HostState>>(linker, |s| s)?;
    Ok(())
}

type Access<T> = Accessor<T, HasSelf<HostState>>;

/// Runs `f` on the key-value store behind `this`, off the runtime threads.
async fn on_store<T: Send, R: Send + 'static>(
    accessor: &Access<T>,
    this: &Resource<KeyValueHandle>,
    f: impl FnOnce(&KeyValueStore) -> Result<R, String> + Send + 'static,
) -> wasmtime::Result<Result<R, kv::Error>> {
    let store = accessor.with(|mut a| a.get().table.get(this).map(|h| h.0.clone()))?;
    Ok(blocking(move || f(&store)).await?.map_err(kv::Error::Other))
}

impl kv::Host for HostState {}

impl kv::HostStore for HostState {
    async fn drop(&mut self, this: Resource<KeyValueHandle>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

impl kv::HostStoreWithStore for HasSelf<HostState> {
    async fn open<T: Send>(
        accessor: &Access<T>,
        label: String,
    ) -> wasmtime::Result<Result<Resource<KeyValueHandle>, kv::Error>> {
        accessor.with(|mut a| {
            let state = a.get();
            let Some(store) = state.component.key_value_stores.get(&label).cloned() else {
                return Ok(Err(kv::Error::AccessDenied));
            };
            Ok(Ok(state.table.push(KeyValueHandle(store))?))
        })
    }

    async fn get<T: Send>(
        accessor: &Access<T>,
        this: Resource<KeyValueHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, kv::Error>> {
        on_store(accessor, &this, move |s| s.get(&key)).await
    }

    async fn set<T: Send>(
        accessor: &Access<T>,
        this: Resource<KeyValueHandle>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), kv::Error>> {
        on_store(accessor, &this, move |s| s.set(&key, &value)).await
    }

    async fn delete<T: Send>(
        accessor: &Access<T>,
        this: Resource<KeyValueHandle>,
        key: String,
    ) -> wasmtime::Result<Result<(), kv::Error>> {
        on_store(accessor, &this, move |s| s.delete(&key)).await
    }

    async fn exists<T: Send>(
        accessor: &Access<T>,
        this: Resource<KeyValueHandle>,
        key: String,
    ) -> wasmtime::Result<Result<bool, kv::Error>> {
        on_store(accessor, &this, move |s| s.exists(&key)).await
    }

    /// Every key at once through the stream, then the outcome, as Spin's
    /// store answers.
    async fn get_keys<T: Send>(
        accessor: &Access<T>,
        this: Resource<KeyValueHandle>,
    ) -> wasmtime::Result<(StreamReader<String>, FutureReader<Result<(), kv::Error>>)> {
        let (keys, outcome) = match on_store(accessor, &this, |s| s.get_keys()).await? {
            Ok(keys) => (keys, Ok(())),
            Err(e) => (Vec::new(), Err(e)),
        };
        accessor.with(|mut a| {
            let stream = StreamReader::new(&mut a, keys)?;
            let future = FutureReader::new(&mut a, async { wasmtime::error::Ok(outcome) })?;
            Ok((stream, future))
        })
    }
}

impl sqlite::Host for HostState {}

impl HostState {
    fn open_sqlite(&self, label: &str) -> Result<Arc<stores::SqliteDatabase>, sqlite::Error> {
        self.component
            .sqlite_databases
            .get(label)
            .cloned()
            .ok_or(sqlite::Error::AccessDenied)
    }

    fn sqlite_connection(
        &self,
        this: &Resource<SqliteHandle>,
    ) -> wasmtime::Result<Arc<Mutex<rusqlite::Connection>>> {
        Ok(self.table.get(this)?.0.clone())
    }
}

/// Opens a connection to `database` off the runtime threads.
async fn connect(
    database: Arc<stores::SqliteDatabase>,
) -> wasmtime::Result<Result<SqliteHandle, sqlite::Error>> {
    Ok(blocking(move || database.connect())
        .await?
        .map(|conn| SqliteHandle(Arc::new(Mutex::new(conn))))
        .map_err(sqlite::Error::Io))
}

/// Runs one statement on `conn` off the runtime threads, waiting for the
/// connection if another request holds it.
async fn run(
    conn: Arc<Mutex<rusqlite::Connection>>,
    statement: String,
    parameters: Vec<sqlite::Value>,
) -> wasmtime::Result<Result<stores::QueryResult, sqlite::Error>> {
    let params = parameters.into_iter().map(from_wit).collect();
    let result = blocking(move || {
        let conn = conn.lock().unwrap_or_else(|e| e.into_inner());
        stores::execute(&conn, &statement, params)
    })
    .await?;
    Ok(result.map_err(sqlite::Error::Io))
}

fn to_wit_rows(rows: Vec<Vec<SqlValue>>) -> Vec<sqlite::RowResult> {
    rows.into_iter()
        .map(|values| sqlite::RowResult {
            values: values.into_iter().map(to_wit).collect(),
        })
        .collect()
}

/// What a finished statement reports on the connection.
fn counter<R: Send + 'static>(
    conn: Arc<Mutex<rusqlite::Connection>>,
    f: impl FnOnce(&rusqlite::Connection) -> R + Send + 'static,
) -> impl Future<Output = wasmtime::Result<R>> {
    blocking(move || f(&conn.lock().unwrap_or_else(|e| e.into_inner())))
}

impl sqlite::HostConnection for HostState {
    async fn open(
        &mut self,
        label: String,
    ) -> wasmtime::Result<Result<Resource<SqliteHandle>, sqlite::Error>> {
        let database = match self.open_sqlite(&label) {
            Ok(database) => database,
            Err(e) => return Ok(Err(e)),
        };
        Ok(match connect(database).await? {
            Ok(handle) => Ok(self.table.push(handle)?),
            Err(e) => Err(e),
        })
    }

    async fn execute(
        &mut self,
        this: Resource<SqliteHandle>,
        statement: String,
        parameters: Vec<sqlite::Value>,
    ) -> wasmtime::Result<Result<sqlite::QueryResult, sqlite::Error>> {
        let conn = self.sqlite_connection(&this)?;
        Ok(run(conn, statement, parameters)
            .await?
            .map(|r| sqlite::QueryResult {
                columns: r.columns,
                rows: to_wit_rows(r.rows),
            }))
    }

    async fn last_insert_rowid(&mut self, this: Resource<SqliteHandle>) -> wasmtime::Result<i64> {
        counter(self.sqlite_connection(&this)?, |c| c.last_insert_rowid()).await
    }

    async fn changes(&mut self, this: Resource<SqliteHandle>) -> wasmtime::Result<u64> {
        counter(self.sqlite_connection(&this)?, |c| c.changes()).await
    }

    async fn drop(&mut self, this: Resource<SqliteHandle>) -> wasmtime::Result<()> {
        let handle = self.table.delete(this)?;
        // Closing rolls back an open transaction: file I/O, so off the runtime threads.
        blocking(move || drop(handle)).await?;
        Ok(())
    }
}

impl sqlite::HostConnectionWithStore for HasSelf<HostState> {
    async fn open_async<T: Send>(
        accessor: &Access<T>,
        database: String,
    ) -> wasmtime::Result<Result<Resource<SqliteHandle>, sqlite::Error>> {
        let database = match accessor.with(|mut a| a.get().open_sqlite(&database)) {
            Ok(database) => database,
            Err(e) => return Ok(Err(e)),
        };
        match connect(database).await? {
            Ok(handle) => accessor.with(|mut a| Ok(Ok(a.get().table.push(handle)?))),
            Err(e) => Ok(Err(e)),
        }
    }

    /// The rows are read in full before the stream is handed over, as
    /// Spin reads them under its byte limit.
    #[allow(clippy::type_complexity)]
    async fn execute_async<T: Send>(
        accessor: &Access<T>,
        this: Resource<SqliteHandle>,
        statement: String,
        parameters: Vec<sqlite::Value>,
    ) -> wasmtime::Result<
        Result<
            (
                Vec<String>,
                StreamReader<sqlite::RowResult>,
                FutureReader<Result<(), sqlite::Error>>,
            ),
            sqlite::Error,
        >,
    > {
        let conn = accessor.with(|mut a| a.get().sqlite_connection(&this))?;
        let result = match run(conn, statement, parameters).await? {
            Ok(result) => result,
            Err(e) => return Ok(Err(e)),
        };
        let (columns, rows) = (result.columns, to_wit_rows(result.rows));
        accessor.with(|mut a| {
            let stream = StreamReader::new(&mut a, rows)?;
            let done = FutureReader::new(&mut a, async { wasmtime::error::Ok(Ok(())) })?;
            Ok(Ok((columns, stream, done)))
        })
    }

    async fn last_insert_rowid_async<T: Send>(
        accessor: &Access<T>,
        this: Resource<SqliteHandle>,
    ) -> wasmtime::Result<i64> {
        let conn = accessor.with(|mut a| a.get().sqlite_connection(&this))?;
        counter(conn, |c| c.last_insert_rowid()).await
    }

    async fn changes_async<T: Send>(
        accessor: &Access<T>,
        this: Resource<SqliteHandle>,
    ) -> wasmtime::Result<u64> {
        let conn = accessor.with(|mut a| a.get().sqlite_connection(&this))?;
        counter(conn, |c| c.changes()).await
    }
}

crate::spin_interfaces::sql_value_conversions!(sqlite::Value);

impl variables::Host for HostState {}

impl variables::HostWithStore for HasSelf<HostState> {
    async fn get<T: Send>(
        accessor: &Access<T>,
        name: String,
    ) -> wasmtime::Result<Result<String, variables::Error>> {
        Ok(accessor.with(|mut a| {
            a.get().component.variables.get(&name).map_err(|e| match e {
                GetError::InvalidName(m) => variables::Error::InvalidName(m),
                GetError::Undefined(m) => variables::Error::Undefined(m),
            })
        }))
    }
}
