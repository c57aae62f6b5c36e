//! Loading an application and running its components: one shared engine,
//! components compiled once and pre-instantiated. A WASIp2 component gets a
//! fresh instance per request; a WASIp3 one's instances serve many requests,
//! several at a time, with Spin 4.0.2's limits (`wasip3`).

use crate::manifest::{Manifest, RouteDecl, RuntimeConfig, SourceDecl};
use crate::outbound::{AllowedHost, Destination, OutboundPolicy};
use crate::output::{Echo, GuestOutput};
use crate::routing::{Route, Router};
use crate::stores::{KeyValueStore, SqliteDatabase};
use crate::variables::{AppVariables, ComponentVariables};
use crate::{UpOptions, spin_interfaces};
use anyhow::{Context, Result, anyhow, bail};
use http_body_util::BodyExt;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;
use tokio::sync::watch;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::WasiHttpCtx;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::p2::types::{
    HostFutureIncomingResponse, IncomingResponse, OutgoingRequestConfig,
};
use wasmtime_wasi_http::p2::{HttpResult, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

/// The engine and linker every app in this process shares.
struct Shared {
    engine: Engine,
    linker: Linker<HostState>,
    /// Compiled components by source path, reused while the file is unchanged.
    compiled: Mutex<HashMap<PathBuf, (SystemTime, Component)>>,
}

fn shared(cache_dir: Option<&Path>) -> Result<&'static Shared> {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    if let Some(s) = SHARED.get() {
        return Ok(s);
    }
    let mut config = Config::new();
    config.wasm_component_model(true);
    // WASIp3 components (ADR 0033): async functions, streams and futures.
    config.wasm_component_model_async(true);
    // Spin 4.0.2's defaults (crates/core): 1000 component instances, and
    // twice as many tables, since a component's core modules bring their own.
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(1000)
        .total_core_instances(4000)
        .total_memories(1000)
        .total_tables(2000)
        .total_stacks(1000)
        .max_memory_size(1 << 30);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    let cache_dir = cache_dir
        .map(Path::to_path_buf)
        .unwrap_or_else(default_cache_dir);
    let mut cache = wasmtime::CacheConfig::new();
    cache.with_directory(&cache_dir);
    config.cache(Some(wasmtime::Cache::new(cache)?));
    let engine = Engine::new(&config)?;
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    spin_interfaces::add_to_linker(&mut linker)?;
    wasmtime_wasi::p3::add_to_linker(&mut linker)?;
    wasmtime_wasi_http::p3::add_to_linker(&mut linker)?;
    crate::spin3_interfaces::add_to_linker(&mut linker)?;
    let _ = SHARED.set(Shared {
        engine,
        linker,
        compiled: Mutex::default(),
    });
    Ok(SHARED.get().expect("just set"))
}

fn default_cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("spin-embedded-host")
}

impl Shared {
    fn component(&self, path: &Path) -> Result<Component> {
        let modified = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .with_context(|| format!("cannot read component {}", path.display()))?;
        let mut compiled = self.compiled.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((when, component)) = compiled.get(path)
            && *when == modified
        {
            return Ok(component.clone());
        }
        let component = Component::from_file(&self.engine, path)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("cannot load component {}", path.display()))?;
        compiled.insert(path.to_path_buf(), (modified, component.clone()));
        Ok(component)
    }
}

/// Everything one component needs at request time.
pub struct ComponentRuntime {
    /// The component id from `spin.toml`.
    pub id: String,
    entry: Entry,
    /// Key-value stores the component may open, by label.
    pub key_value_stores: HashMap<String, Arc<KeyValueStore>>,
    /// SQLite databases the component may open, by label.
    pub sqlite_databases: HashMap<String, Arc<SqliteDatabase>>,
    /// The component's resolved variables.
    pub variables: ComponentVariables,
    pub(crate) outbound: std::result::Result<OutboundPolicy, String>,
    environment: Vec<(String, String)>,
    /// Guest stdout.
    pub stdout: GuestOutput,
    /// Guest stderr.
    pub stderr: GuestOutput,
}

impl ComponentRuntime {
    /// Records a host message about this component in its stderr, where
    /// tests show it on failure and `host up` prints it.
    pub fn log(&self, message: &str) {
        self.stderr
            .write(format!("[host] {}: {message}\n", self.id).as_bytes());
    }
}

/// A loaded application: its selected components and public routes.
pub struct AppRuntime {
    engine: Engine,
    /// Selected components by id.
    pub components: BTreeMap<String, Arc<ComponentRuntime>>,
    /// Public routes of the selected components.
    pub router: Router,
    /// The listener's address, for `http://self.alt` requests.
    pub self_addr: OnceLock<SocketAddr>,
    shutdown: watch::Receiver<bool>,
}

impl AppRuntime {
    /// Loads the app described by `opts`; `shutdown` ends guest work on stop.
    pub fn load(opts: &UpOptions, shutdown: watch::Receiver<bool>) -> Result<Self> {
        let manifest_path = if opts.from.is_dir() {
            opts.from.join("spin.toml")
        } else {
            opts.from.clone()
        };
        let app_dir = manifest_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let manifest = Manifest::load(&manifest_path)?;
        let runtime_config = match &opts.runtime_config_file {
            Some(path) => RuntimeConfig::load(path)?,
            None => RuntimeConfig::default(),
        };
        let state_dir = opts
            .state_dir
            .clone()
            .unwrap_or_else(|| app_dir.join(".spin"));
        let env: HashMap<String, String> = match &opts.env {
            Some(env) => env.clone(),
            None => std::env::vars().collect(),
        };
        let app_vars = AppVariables::resolve(&manifest, &opts.variables, &env)?;

        for id in &opts.component_ids {
            if !manifest.component.contains_key(id) {
                bail!("unknown component {id:?} in --component-id");
            }
        }
        let selected =
            |id: &str| opts.component_ids.is_empty() || opts.component_ids.iter().any(|c| c == id);
        check_selected_chaining(&manifest, &opts.component_ids)?;

        let shared = shared(opts.cache_dir.as_deref())?;
        let mut kv_stores: HashMap<String, Arc<KeyValueStore>> = HashMap::new();
        let mut databases: HashMap<String, Arc<SqliteDatabase>> = HashMap::new();
        let mut undefined_databases = Vec::new();
        let mut components = BTreeMap::new();
        for (id, decl) in manifest.component.iter().filter(|(id, _)| selected(id)) {
            let SourceDecl::Path(source) = &decl.source else {
                unreachable!("validated by the manifest")
            };
            let mut key_value_stores = HashMap::new();
            for label in &decl.key_value_stores {
                let path = match runtime_config.key_value_stores.get(label) {
                    Some(path) => path.clone(),
                    None if label == "default" => Some(state_dir.join("sqlite_key_value.db")),
                    None => bail!(
                        "failed to configure app: unknown key_value_stores label {label:?} for component {id:?}"
                    ),
                };
                let store = match kv_stores.get(label) {
                    Some(s) => s.clone(),
                    None => {
                        let s = KeyValueStore::open(label, path.as_deref())?;
                        kv_stores.insert(label.clone(), s.clone());
                        s
                    }
                };
                key_value_stores.insert(label.clone(), store);
            }
            let mut sqlite_databases = HashMap::new();
            for label in &decl.sqlite_databases {
                let path = match runtime_config.sqlite_databases.get(label) {
                    Some(path) => path.clone(),
                    None if label == "default" => Some(state_dir.join("sqlite_db.db")),
                    None => {
                        undefined_databases
                            .push(format!("- Component {id} uses database '{label}'"));
                        continue;
                    }
                };
                let db = match databases.get(label) {
                    Some(d) => d.clone(),
                    None => {
                        let d = SqliteDatabase::open(path.as_deref())?;
                        databases.insert(label.clone(), d.clone());
                        d
                    }
                };
                sqlite_databases.insert(label.clone(), db);
            }
            let variables = ComponentVariables::resolve(id, &decl.variables, &app_vars)
                .with_context(|| format!("component {id:?}"))?;
            // Like Spin, a bad allowed host does not stop the app: the
            // component's outbound requests are denied and the reason logged.
            let outbound = outbound_policy(id, &decl.allowed_outbound_hosts, &app_vars)?;
            let source_path = app_dir.join(source);
            let component = shared.component(&source_path)?;
            let instance_pre = shared
                .linker
                .instantiate_pre(&component)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("component {id:?} ({})", source_path.display()))?;
            let entry = match ProxyPre::new(instance_pre.clone()) {
                Ok(pre) => Entry::P2(pre),
                Err(_) => Entry::P3(crate::wasip3::Entry::new(instance_pre).with_context(|| {
                    format!(
                        "component {id:?} exports neither wasi:http/incoming-handler@0.2 nor wasi:http/handler@0.3.0-rc-2026-03-15"
                    )
                })?),
            };
            let (out_echo, err_echo) = if opts.echo_guest_output {
                (Echo::Stdout, Echo::Stderr)
            } else {
                (Echo::None, Echo::None)
            };
            components.insert(
                id.clone(),
                Arc::new(ComponentRuntime {
                    id: id.clone(),
                    entry,
                    key_value_stores,
                    sqlite_databases,
                    variables,
                    outbound,
                    environment: decl.environment.clone().into_iter().collect(),
                    stdout: GuestOutput::new(out_echo),
                    stderr: GuestOutput::new(err_echo),
                }),
            );
        }
        if !undefined_databases.is_empty() {
            bail!(
                "One or more components use SQLite databases which are not defined.\n{}",
                undefined_databases.join("\n")
            );
        }

        let mut router = Router::default();
        for trigger in &manifest.trigger.http {
            if let RouteDecl::Path(route) = &trigger.route
                && selected(&trigger.component)
            {
                router.add(Route::parse(route), trigger.component.clone());
            }
        }
        for (route, first, second) in router.duplicates() {
            eprintln!(
                "host: ERROR component routes are duplicates and will never be used: {} ({first}, duplicate of {second})",
                route.raw()
            );
        }
        Ok(Self {
            engine: shared.engine.clone(),
            components,
            router,
            self_addr: OnceLock::new(),
            shutdown,
        })
    }

    /// Runs `component` on `req`: a WASIp2 component in a fresh instance, a
    /// WASIp3 one in a reused instance. The response is returned as soon as
    /// the guest sets it; the guest may keep running afterwards.
    pub async fn handle(
        self: &Arc<Self>,
        component: &Arc<ComponentRuntime>,
        req: hyper::Request<HyperOutgoingBody>,
    ) -> hyper::Response<HyperOutgoingBody> {
        let result = match &component.entry {
            Entry::P2(pre) => self.try_handle(component, pre, req).await,
            Entry::P3(entry) => entry.handle(self, component, req).await,
        };
        match result {
            Ok(resp) => resp,
            Err(e) => {
                component.log(&format!("error processing request: {e:#}"));
                empty_response(500)
            }
        }
    }

    async fn try_handle(
        self: &Arc<Self>,
        component: &Arc<ComponentRuntime>,
        pre: &ProxyPre<HostState>,
        req: hyper::Request<HyperOutgoingBody>,
    ) -> Result<hyper::Response<HyperOutgoingBody>> {
        let mut store = self.new_store(component);
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let req = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, req)?;
        let out = store.data_mut().http().new_response_outparam(sender)?;
        let pre = pre.clone();
        let mut shutdown = self.shutdown.clone();
        let guest = component.clone();
        let task = tokio::spawn(async move {
            let run = async {
                let proxy = pre.instantiate_async(&mut store).await?;
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, req, out)
                    .await
            };
            tokio::select! {
                result = run => result.map_err(anyhow::Error::from),
                _ = shutdown.wait_for(|stopped| *stopped) => Err(anyhow!("the host stopped")),
            }
        });
        match receiver.await {
            Ok(Ok(resp)) => {
                // The guest may go on after responding; its errors are logged.
                tokio::spawn(async move {
                    if let Ok(Err(e)) = task.await {
                        guest.log(&format!("component error after response started: {e:#}"));
                    }
                });
                Ok(resp)
            }
            Ok(Err(code)) => bail!("guest responded with error {code:?}"),
            Err(_) => match task.await {
                Ok(Ok(())) => bail!("guest failed to produce a response prior to returning"),
                Ok(Err(e)) => Err(e.context("guest invocation failed")),
                Err(e) => Err(anyhow!(e).context("guest task failed")),
            },
        }
    }

    /// A store for one instance of `component`.
    pub(crate) fn new_store(
        self: &Arc<Self>,
        component: &Arc<ComponentRuntime>,
    ) -> Store<HostState> {
        let mut wasi = WasiCtx::builder();
        wasi.stdout(component.stdout.clone())
            .stderr(component.stderr.clone())
            .envs(&component.environment);
        let state = HostState {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            component: component.clone(),
            hooks: OutboundHooks {
                app: self.clone(),
                component: component.clone(),
            },
        };
        Store::new(&self.engine, state)
    }

    /// Stops with the host: resolves once the host is stopping.
    pub(crate) async fn stopped(&self) {
        let mut shutdown = self.shutdown.clone();
        let _ = shutdown.wait_for(|stopped| *stopped).await;
    }
}

/// How a component is entered.
enum Entry {
    /// `wasi:http/incoming-handler@0.2`: a fresh instance per request.
    P2(ProxyPre<HostState>),
    /// `wasi:http/handler@0.3.0-rc-2026-03-15`: reused instances.
    P3(crate::wasip3::Entry),
}

/// A component's outbound policy. As in Spin, a malformed entry stops
/// startup, while a template naming an unknown variable only denies the
/// component's requests (the reason is logged on each).
fn outbound_policy(
    id: &str,
    entries: &[String],
    app_vars: &AppVariables,
) -> Result<std::result::Result<OutboundPolicy, String>> {
    let mut allowed = Vec::new();
    for entry in entries {
        let expanded = match app_vars.expand(entry) {
            Ok(expanded) => expanded,
            Err(e) => return Ok(Err(format!("{e:#}"))),
        };
        allowed.push(
            AllowedHost::parse(&expanded).with_context(|| {
                format!("component {id:?}: invalid allowed_outbound_hosts entry")
            })?,
        );
    }
    Ok(Ok(OutboundPolicy { allowed }))
}

/// Refuses, as Spin does, to start a selection whose components name an
/// unselected component in `allowed_outbound_hosts` (templated entries are
/// only known at request time and are not checked).
fn check_selected_chaining(manifest: &Manifest, selected: &[String]) -> Result<()> {
    if selected.is_empty() {
        return Ok(());
    }
    for id in selected {
        for entry in &manifest.component[id].allowed_outbound_hosts {
            if entry.contains("{{") {
                continue;
            }
            match AllowedHost::parse(entry)
                .ok()
                .and_then(|h| h.service_chaining_target())
            {
                Some(Some(target)) if !selected.contains(&target) => bail!(
                    "Selected component '{id}' cannot use service chaining to unselected component: allowed_outbound_hosts = [\"{entry}\"]"
                ),
                Some(None) => bail!(
                    "Selected component '{id}' cannot use wildcard service chaining: allowed_outbound_hosts = [\"{entry}\"]"
                ),
                _ => {}
            }
        }
    }
    Ok(())
}

/// An empty response with `content-length: 0`, as Spin sends for 404 and 500.
pub fn empty_response(status: u16) -> hyper::Response<HyperOutgoingBody> {
    let body = http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed_unsync();
    hyper::Response::builder()
        .status(status)
        .header(http::header::CONTENT_LENGTH, "0")
        .body(body)
        .expect("static response")
}

/// Per-request store data.
pub struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    /// Resources handed to the guest.
    pub table: ResourceTable,
    /// The component being run.
    pub component: Arc<ComponentRuntime>,
    hooks: OutboundHooks,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl wasmtime_wasi_http::p3::WasiHttpView for HostState {
    fn http(&mut self) -> wasmtime_wasi_http::p3::WasiHttpCtxView<'_> {
        wasmtime_wasi_http::p3::WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl OutboundHooks {
    /// The component's outbound policy, or `None` (logged) if its
    /// `allowed_outbound_hosts` could not be resolved: then all is denied.
    pub(crate) fn policy(&self) -> Option<&OutboundPolicy> {
        match &self.component.outbound {
            Ok(policy) => Some(policy),
            Err(e) => {
                self.component
                    .log(&format!("Error parsing allowed outbound hosts err={e}"));
                None
            }
        }
    }

    /// Logs a denied request as Spin does.
    pub(crate) fn log_denied(&self, url: &http::Uri) {
        self.component.log(&format!(
            "ERROR Outbound network destination not allowed: {url} (add it to allowed_outbound_hosts)"
        ));
    }
}

/// Outbound HTTP: the component's policy, then in-process chaining for
/// `*.spin.internal` or the network for everything else. WASIp3 instances
/// get neither chaining nor self-requests, as in Spin 4.0.2 (`wasip3`).
pub(crate) struct OutboundHooks {
    pub(crate) app: Arc<AppRuntime>,
    pub(crate) component: Arc<ComponentRuntime>,
}

impl WasiHttpHooks for OutboundHooks {
    /// Checks the policy before anything is sent, as Spin does, so a denied
    /// request fails at `handle`; the sending itself runs as a task.
    fn send_request(
        &mut self,
        mut request: hyper::Request<HyperOutgoingBody>,
        config: OutgoingRequestConfig,
    ) -> HttpResult<HostFutureIncomingResponse> {
        let component = &self.component;
        let deny = |url: &http::Uri| {
            self.log_denied(url);
            ErrorCode::HttpRequestDenied
        };
        let Some(policy) = self.policy() else {
            return Err(deny(request.uri()).into());
        };
        let dest = Destination::from_uri(request.uri()).ok_or(ErrorCode::HttpRequestUriInvalid)?;
        let app = self.app.clone();
        if dest.host == "self.alt" {
            if !policy.allows_self() {
                return Err(deny(request.uri()).into());
            }
            let addr = app.self_addr.get().ok_or(ErrorCode::ConnectionRefused)?;
            let mut parts = request.uri().clone().into_parts();
            parts.authority = Some(
                addr.to_string()
                    .parse()
                    .map_err(|_| ErrorCode::HttpRequestUriInvalid)?,
            );
            *request.uri_mut() =
                http::Uri::from_parts(parts).map_err(|_| ErrorCode::HttpRequestUriInvalid)?;
        } else if !policy.allows(&dest) {
            return Err(deny(request.uri()).into());
        } else if let Some(target) = dest.host.strip_suffix(".spin.internal") {
            let Some(target) = app.components.get(target).cloned() else {
                component.log(&format!("unknown routing destination '{target}'"));
                return Err(ErrorCode::DestinationNotFound.into());
            };
            let request = crate::server::chained_request(request);
            let task = wasmtime_wasi::runtime::spawn(async move {
                let resp = app.handle(&target, request).await;
                Ok(Ok(IncomingResponse {
                    resp,
                    worker: None,
                    between_bytes_timeout: config.between_bytes_timeout,
                }))
            });
            return Ok(HostFutureIncomingResponse::pending(task));
        }
        request.headers_mut().remove(http::header::HOST);
        if let Some(host) = request.uri().authority().map(|a| a.as_str().to_string()) {
            request.headers_mut().insert(
                http::header::HOST,
                http::HeaderValue::from_str(&host).map_err(|_| ErrorCode::HttpRequestUriInvalid)?,
            );
        }
        Ok(wasmtime_wasi_http::p2::default_send_request(
            request, config,
        ))
    }
}
