//! An embedded Spin host for tests and machines without Spin.
//!
//! It loads a Spin application (`spin.toml` plus `runtime-config.toml`) and
//! serves it over HTTP the way `spin up` does, on wasmtime from crates.io.
//! Real Spin stays the reference: see this crate's README for the known
//! differences.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let app = host::up(host::UpOptions::new("tests/fixture")).await?;
//! println!("serving on {}", app.base_url());
//! app.stop().await;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

pub mod client;
pub mod manifest;
pub mod outbound;
pub mod output;
pub mod routing;
pub mod runtime;
mod server;
mod spin3_interfaces;
mod spin_interfaces;
pub mod stores;
pub mod variables;
mod wasip3;

use anyhow::{Context, Result};
use runtime::AppRuntime;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;

/// How to run an application: the `spin up` flags this host supports.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// `--from`: the application directory or its `spin.toml`.
    pub from: PathBuf,
    /// `--listen`: the address to serve on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// `--component-id`: run only these components (all when empty).
    pub component_ids: Vec<String>,
    /// `--runtime-config-file`.
    pub runtime_config_file: Option<PathBuf>,
    /// `--variable`: values that beat `SPIN_VARIABLE_*` and defaults.
    pub variables: BTreeMap<String, String>,
    /// The environment to read `SPIN_VARIABLE_*` from (`None`: this process's).
    pub env: Option<HashMap<String, String>>,
    /// `--state-dir`: where default stores live (default `<app>/.spin`).
    pub state_dir: Option<PathBuf>,
    /// Echo guest output to this process's stdout/stderr.
    pub echo_guest_output: bool,
    /// Where compiled components are cached between runs.
    pub cache_dir: Option<PathBuf>,
}

impl UpOptions {
    /// Options for the app at `from`, on a free loopback port, with no overrides.
    pub fn new(from: impl Into<PathBuf>) -> Self {
        Self {
            from: from.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            component_ids: Vec::new(),
            runtime_config_file: None,
            variables: BTreeMap::new(),
            env: None,
            state_dir: None,
            echo_guest_output: false,
            cache_dir: None,
        }
    }

    /// Sets `--listen`.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Adds a `--component-id`.
    pub fn component(mut self, id: impl Into<String>) -> Self {
        self.component_ids.push(id.into());
        self
    }

    /// Sets `--runtime-config-file`.
    pub fn runtime_config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.runtime_config_file = Some(path.into());
        self
    }

    /// Adds a `--variable name=value`.
    pub fn variable(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.variables.insert(name.into(), value.into());
        self
    }

    /// Replaces the environment `SPIN_VARIABLE_*` values are read from.
    pub fn env(mut self, env: HashMap<String, String>) -> Self {
        self.env = Some(env);
        self
    }

    /// Sets `--state-dir`.
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }
}

/// A running application.
pub struct RunningApp {
    addr: SocketAddr,
    app: Arc<AppRuntime>,
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
}

/// Loads the application and starts serving it.
pub async fn up(opts: UpOptions) -> Result<RunningApp> {
    let (stop, stopped) = watch::channel(false);
    let app = {
        let opts = opts.clone();
        let stopped = stopped.clone();
        // Compiling components is CPU-bound: keep it off the async workers.
        tokio::task::spawn_blocking(move || AppRuntime::load(&opts, stopped)).await??
    };
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("cannot listen on {}", opts.listen))?;
    let addr = listener.local_addr()?;
    let app = Arc::new(app);
    let _ = app.self_addr.set(addr);
    let server = tokio::spawn(server::serve(app.clone(), listener, stopped));
    Ok(RunningApp {
        addr,
        app,
        stop,
        server,
    })
}

impl RunningApp {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Public routes and their components, in declaration order.
    pub fn routes(&self) -> Vec<(String, String)> {
        self.app
            .router
            .entries()
            .map(|(r, c)| (r.matched_route(), c.to_string()))
            .collect()
    }

    /// Everything the components wrote to stdout and stderr, labelled.
    pub fn guest_output(&self) -> String {
        let mut out = String::new();
        for (id, c) in &self.app.components {
            for (stream, output) in [("stdout", &c.stdout), ("stderr", &c.stderr)] {
                let text = output.contents();
                if !text.is_empty() {
                    out.push_str(&format!("----- {id} {stream} -----\n{text}\n"));
                }
            }
        }
        out
    }

    /// One component's stdout.
    pub fn stdout(&self, component: &str) -> String {
        self.app
            .components
            .get(component)
            .map(|c| c.stdout.contents())
            .unwrap_or_default()
    }

    /// One component's stderr.
    pub fn stderr(&self, component: &str) -> String {
        self.app
            .components
            .get(component)
            .map(|c| c.stderr.contents())
            .unwrap_or_default()
    }

    /// Stops serving: the port is released and running guests are ended.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.server.await;
    }
}
