//! Spin's key-value, SQLite and variables interfaces (`fermyon:spin@2.0.0`),
//! and the `wasi:keyvalue` store, batch and atomics interfaces Spin also
//! offers over the same stores, implemented over [`crate::stores`] with Spin's error
//! semantics.

use crate::runtime::HostState;
use crate::stores::{self, KeyValueStore, SqlValue};
use crate::variables::GetError;
use std::sync::Arc;
use wasmtime::component::{HasSelf, Linker, Resource};

mod generated {
    include!(concat!(env!("OUT_DIR"), "/spin_bindings.rs"));
}

use generated::fermyon::spin2_0_0::{key_value as kv, sqlite, variables};
use generated::wasi::keyvalue::{atomics as wasi_atomics, batch as wasi_batch, store as wasi_kv};

/// The host side of an open key-value store.
pub struct KeyValueHandle(Arc<KeyValueStore>);

/// The host side of an open `wasi:keyvalue` bucket: the same store as
/// [`KeyValueHandle`] under the same label.
pub struct BucketHandle(Arc<KeyValueStore>);

/// The host side of a compare-and-swap: like Spin's, it remembers the value
/// `current` read, and `swap` stores only if the key still holds it.
pub struct CasHandle {
    store: Arc<KeyValueStore>,
    key: String,
    read: Option<Vec<u8>>,
}

/// The host side of an open SQLite connection; the connection returns to its
/// pool when the guest drops the handle.
pub struct SqliteHandle {
    conn: Option<rusqlite::Connection>,
}

/// Adds the three interfaces to `linker`.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    kv::add_to_linker::<_, HasSelf<HostState>>(linker, |s| s)?;
    sqlite::add_to_linker::<_, HasSelf<HostState>>(linker, |s| s)?;
    variables::add_to_linker::<_, HasSelf<HostState>>(linker, |s| s)?;
    wasi_kv::add_to_linker::<_, HasSelf<HostState>>(linker, |s| s)?;
    wasi_batch::add_to_linker::<_, HasSelf<HostState>>(linker, |s| s)?;
    wasi_atomics::add_to_linker::<_, HasSelf<HostState>>(linker, |s| s)?;
    Ok(())
}

/// Runs blocking store work off the async worker threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> wasmtime::Result<T> {
    Ok(tokio::task::spawn_blocking(f).await?)
}

impl HostState {
    /// Runs `f` on the store behind `this` off the runtime threads, its
    /// failure as the interface's `other` error.
    async fn on_store<H: StoreHandle, T: Send + 'static, E>(
        &mut self,
        this: &Resource<H>,
        f: impl FnOnce(&KeyValueStore) -> Result<T, String> + Send + 'static,
        other: impl FnOnce(String) -> E,
    ) -> wasmtime::Result<Result<T, E>> {
        let store = self.table.get(this)?.store();
        Ok(blocking(move || f(&store)).await?.map_err(other))
    }
}

/// A guest's handle on a key-value store, through either interface.
trait StoreHandle: 'static {
    fn store(&self) -> Arc<KeyValueStore>;
}

impl StoreHandle for KeyValueHandle {
    fn store(&self) -> Arc<KeyValueStore> {
        self.0.clone()
    }
}

impl StoreHandle for BucketHandle {
    fn store(&self) -> Arc<KeyValueStore> {
        self.0.clone()
    }
}

impl kv::Host for HostState {}

impl kv::HostStore for HostState {
    async fn open(
        &mut self,
        label: String,
    ) -> wasmtime::Result<Result<Resource<KeyValueHandle>, kv::Error>> {
        let Some(store) = self.component.key_value_stores.get(&label) else {
            return Ok(Err(kv::Error::AccessDenied));
        };
        let handle = KeyValueHandle(store.clone());
        Ok(Ok(self.table.push(handle)?))
    }

    async fn get(
        &mut self,
        this: Resource<KeyValueHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, kv::Error>> {
        self.on_store(&this, move |s| s.get(&key), kv::Error::Other)
            .await
    }

    async fn set(
        &mut self,
        this: Resource<KeyValueHandle>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), kv::Error>> {
        self.on_store(&this, move |s| s.set(&key, &value), kv::Error::Other)
            .await
    }

    async fn delete(
        &mut self,
        this: Resource<KeyValueHandle>,
        key: String,
    ) -> wasmtime::Result<Result<(), kv::Error>> {
        self.on_store(&this, move |s| s.delete(&key), kv::Error::Other)
            .await
    }

    async fn exists(
        &mut self,
        this: Resource<KeyValueHandle>,
        key: String,
    ) -> wasmtime::Result<Result<bool, kv::Error>> {
        self.on_store(&this, move |s| s.exists(&key), kv::Error::Other)
            .await
    }

    async fn get_keys(
        &mut self,
        this: Resource<KeyValueHandle>,
    ) -> wasmtime::Result<Result<Vec<String>, kv::Error>> {
        self.on_store(&this, move |s| s.get_keys(), kv::Error::Other)
            .await
    }

    async fn drop(&mut self, this: Resource<KeyValueHandle>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

impl wasi_kv::Host for HostState {
    async fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<BucketHandle>, wasi_kv::Error>> {
        let Some(store) = self.component.key_value_stores.get(&identifier) else {
            return Ok(Err(wasi_kv::Error::AccessDenied));
        };
        let handle = BucketHandle(store.clone());
        Ok(Ok(self.table.push(handle)?))
    }
}

impl wasi_kv::HostBucket for HostState {
    async fn get(
        &mut self,
        this: Resource<BucketHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_kv::Error>> {
        self.on_store(&this, move |s| s.get(&key), wasi_kv::Error::Other)
            .await
    }

    async fn set(
        &mut self,
        this: Resource<BucketHandle>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        self.on_store(&this, move |s| s.set(&key, &value), wasi_kv::Error::Other)
            .await
    }

    async fn delete(
        &mut self,
        this: Resource<BucketHandle>,
        key: String,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        self.on_store(&this, move |s| s.delete(&key), wasi_kv::Error::Other)
            .await
    }

    async fn exists(
        &mut self,
        this: Resource<BucketHandle>,
        key: String,
    ) -> wasmtime::Result<Result<bool, wasi_kv::Error>> {
        self.on_store(&this, move |s| s.exists(&key), wasi_kv::Error::Other)
            .await
    }

    /// Every key in one response, without a cursor, as Spin's store answers.
    async fn list_keys(
        &mut self,
        this: Resource<BucketHandle>,
        _cursor: Option<String>,
    ) -> wasmtime::Result<Result<wasi_kv::KeyResponse, wasi_kv::Error>> {
        let keys = self
            .on_store(&this, |s| s.get_keys(), wasi_kv::Error::Other)
            .await?;
        Ok(keys.map(|keys| wasi_kv::KeyResponse { keys, cursor: None }))
    }

    async fn drop(&mut self, this: Resource<BucketHandle>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

impl wasi_batch::Host for HostState {
    async fn get_many(
        &mut self,
        bucket: Resource<BucketHandle>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<stores::Found, wasi_kv::Error>> {
        self.on_store(&bucket, move |s| s.get_many(&keys), wasi_kv::Error::Other)
            .await
    }

    async fn set_many(
        &mut self,
        bucket: Resource<BucketHandle>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        self.on_store(
            &bucket,
            move |s| s.set_many(&key_values),
            wasi_kv::Error::Other,
        )
        .await
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<BucketHandle>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        self.on_store(
            &bucket,
            move |s| s.delete_many(&keys),
            wasi_kv::Error::Other,
        )
        .await
    }
}

impl wasi_atomics::HostCas for HostState {
    async fn new(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<CasHandle>, wasi_kv::Error>> {
        let store = self.table.get(&bucket)?.store();
        let cas = CasHandle {
            store,
            key,
            read: None,
        };
        Ok(Ok(self.table.push(cas)?))
    }

    async fn current(
        &mut self,
        this: Resource<CasHandle>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_kv::Error>> {
        let cas = self.table.get(&this)?;
        let (store, key) = (cas.store.clone(), cas.key.clone());
        let value = blocking(move || store.get(&key)).await?;
        if let Ok(value) = &value {
            self.table.get_mut(&this)?.read = value.clone();
        }
        Ok(value.map_err(wasi_kv::Error::Other))
    }

    async fn drop(&mut self, this: Resource<CasHandle>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

impl wasi_atomics::Host for HostState {
    async fn increment(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, wasi_kv::Error>> {
        self.on_store(
            &bucket,
            move |s| s.increment(&key, delta),
            wasi_kv::Error::Other,
        )
        .await
    }

    async fn swap(
        &mut self,
        this: Resource<CasHandle>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), wasi_atomics::CasError>> {
        let CasHandle { store, key, read } = self.table.delete(this)?;
        let (again, stored) = (store.clone(), key.clone());
        match blocking(move || store.swap(&key, read.as_deref(), &value)).await? {
            Ok(true) => Ok(Ok(())),
            // A new handle for the retry, as the interface asks.
            Ok(false) => {
                let cas = CasHandle {
                    store: again,
                    key: stored,
                    read: None,
                };
                Ok(Err(wasi_atomics::CasError::CasFailed(
                    self.table.push(cas)?,
                )))
            }
            Err(e) => Ok(Err(wasi_atomics::CasError::StoreError(
                wasi_kv::Error::Other(e),
            ))),
        }
    }
}

impl sqlite::Host for HostState {}

impl sqlite::HostConnection for HostState {
    async fn open(
        &mut self,
        label: String,
    ) -> wasmtime::Result<Result<Resource<SqliteHandle>, sqlite::Error>> {
        let Some(database) = self.component.sqlite_databases.get(&label).cloned() else {
            return Ok(Err(sqlite::Error::AccessDenied));
        };
        let conn = match blocking(move || database.connect()).await? {
            Ok(conn) => conn,
            Err(e) => return Ok(Err(sqlite::Error::Io(e))),
        };
        let handle = SqliteHandle { conn: Some(conn) };
        Ok(Ok(self.table.push(handle)?))
    }

    async fn execute(
        &mut self,
        this: Resource<SqliteHandle>,
        statement: String,
        parameters: Vec<sqlite::Value>,
    ) -> wasmtime::Result<Result<sqlite::QueryResult, sqlite::Error>> {
        let handle = self.table.get_mut(&this)?;
        let Some(conn) = handle.conn.take() else {
            return Ok(Err(sqlite::Error::InvalidConnection));
        };
        let params = parameters.into_iter().map(from_wit).collect();
        let (conn, result) = blocking(move || {
            let result = stores::execute(&conn, &statement, params);
            (conn, result)
        })
        .await?;
        self.table.get_mut(&this)?.conn = Some(conn);
        Ok(result
            .map(|r| sqlite::QueryResult {
                columns: r.columns,
                rows: r
                    .rows
                    .into_iter()
                    .map(|values| sqlite::RowResult {
                        values: values.into_iter().map(to_wit).collect(),
                    })
                    .collect(),
            })
            .map_err(sqlite::Error::Io))
    }

    async fn drop(&mut self, this: Resource<SqliteHandle>) -> wasmtime::Result<()> {
        let handle = self.table.delete(this)?;
        if let Some(conn) = handle.conn {
            // Closing rolls back an open transaction: file I/O, so off the runtime threads.
            blocking(move || drop(conn)).await?;
        }
        Ok(())
    }
}

/// `from_wit` and `to_wit` between a `sqlite` interface's `Value` and the
/// host's [`SqlValue`]; the 2.0 and 3.1 interfaces have the same variants.
macro_rules! sql_value_conversions {
    ($wit:path) => {
        fn from_wit(v: $wit) -> SqlValue {
            use $wit as V;
            match v {
                V::Integer(i) => SqlValue::Integer(i),
                V::Real(f) => SqlValue::Real(f),
                V::Text(s) => SqlValue::Text(s),
                V::Blob(b) => SqlValue::Blob(b),
                V::Null => SqlValue::Null,
            }
        }

        fn to_wit(v: SqlValue) -> $wit {
            use $wit as V;
            match v {
                SqlValue::Integer(i) => V::Integer(i),
                SqlValue::Real(f) => V::Real(f),
                SqlValue::Text(s) => V::Text(s),
                SqlValue::Blob(b) => V::Blob(b),
                SqlValue::Null => V::Null,
            }
        }
    };
}
pub(crate) use sql_value_conversions;

sql_value_conversions!(sqlite::Value);

impl variables::Host for HostState {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, variables::Error>> {
        Ok(self.component.variables.get(&name).map_err(|e| match e {
            GetError::InvalidName(m) => variables::Error::InvalidName(m),
            GetError::Undefined(m) => variables::Error::Undefined(m),
        }))
    }
}
