//! Spawns the social network, in the embedded host or under real Spin (see
//! [`crate::runtime`]), and offers one method per endpoint.

use crate::runtime::{Instance, Launch, Runtime, SPIN_VAR};
use crate::stores::{STORES_VAR, StoreKind, Stores};
use host::client::{Request, Response};
use http::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The shared secret tests configure for internal routes.
pub const CREDENTIAL: &str = "test-service-credential";

/// Every rate limit, switched off.
pub const NO_RATE_LIMITS: &[(&str, &str)] = &[
    ("rate_limit_signups", "0"),
    ("rate_limit_failed_logins_per_user", "0"),
    ("rate_limit_failed_logins_per_address", "0"),
    ("rate_limit_follows", "0"),
    ("rate_limit_posts", "0"),
    ("rate_limit_likes", "0"),
];

/// The environment variable that runs each instance `n` times (`REPLICAS=2`).
pub const REPLICAS_VAR: &str = "REPLICAS";

/// `REPLICAS`, or 1.
fn replicas_from_env() -> usize {
    match std::env::var(REPLICAS_VAR) {
        Ok(n) if !n.is_empty() => n
            .parse()
            .ok()
            .filter(|&n| n >= 1)
            .unwrap_or_else(|| panic!("{REPLICAS_VAR}={n:?}: expected a count of at least 1")),
        _ => 1,
    }
}

/// How the services are deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One application: services chain in-process via `*.spin.internal`.
    OneApp,
    /// Three instances on three ports, talking over real HTTP, and a fourth
    /// for the web client, which forwards the API to them.
    ThreeInstances,
}

/// One of the three services, or the web client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Svc {
    /// user
    User,
    /// post
    Post,
    /// feed
    Feed,
    /// web: the client's pages, and the API forwarded to the services.
    Web,
}

impl Svc {
    /// The component id.
    pub fn id(self) -> &'static str {
        match self {
            Svc::User => "user",
            Svc::Post => "post",
            Svc::Feed => "feed",
            Svc::Web => "web",
        }
    }

    /// Every service of the API (health routes, outboxes, URL variables).
    pub const ALL: [Svc; 3] = [Svc::User, Svc::Post, Svc::Feed];

    /// Every component: the instances of three-instance mode, which runs
    /// the web client as a fourth.
    pub const COMPONENTS: [Svc; 4] = [Svc::User, Svc::Post, Svc::Feed, Svc::Web];

    fn index(self) -> usize {
        Svc::COMPONENTS.iter().position(|x| *x == self).unwrap()
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Ports handed to this process's live `TestApp`s. Such a port is unbound
/// while its instance starts or is stopped, and the kernel could hand it to
/// another test running at the same time, so `free_port` skips them.
static PORTS: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

fn ports() -> MutexGuard<'static, BTreeSet<u16>> {
    PORTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A loopback port that is unbound now and not taken by another `TestApp`.
fn free_port() -> SocketAddr {
    loop {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap();
        if ports().insert(addr.port()) {
            return addr;
        }
    }
}

/// One instance: how it is started and, while it runs, its handle.
struct Slot {
    launch: Launch,
    /// The service it runs alone, or `None` for the whole application.
    serves: Option<Svc>,
    running: Option<Instance>,
}

/// A running social network with fresh stores.
pub struct TestApp {
    /// The deployment mode.
    pub mode: Mode,
    runtime: Runtime,
    /// One slot (OneApp) or one per component, in `Svc::COMPONENTS` order. Declared
    /// before `_state` so that instances stop before their files go.
    slots: Vec<Slot>,
    /// Which replica [`TestApp::base`] names next.
    next: AtomicUsize,
    /// The stores' servers (none for local files); they stop after the
    /// instances, which are declared before.
    stores: Stores,
    /// Stores, runtime config and state directories; removed on drop.
    _state: TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for slot in &self.slots {
                let output = self.runtime.output(&slot.launch, slot.running.as_ref());
                eprintln!("guest output of http://{}:\n{output}", slot.launch.listen);
            }
        }
        let mut ports = ports();
        for slot in &self.slots {
            ports.remove(&slot.launch.listen.port());
        }
        for addr in self.stores.addresses() {
            ports.remove(&addr.port());
        }
    }
}

/// A registered, logged-in user.
#[derive(Debug, Clone)]
pub struct TestUser {
    /// User id.
    pub id: String,
    /// Username.
    pub username: String,
    /// Password.
    pub password: String,
    /// Bearer token.
    pub token: String,
}

impl TestApp {
    /// Starts the app in `mode` with fresh stores, in the runtime `SPIN`
    /// selects (see [`Runtime::from_env`]).
    pub async fn spawn(mode: Mode) -> Self {
        Self::spawn_with(mode, &[]).await
    }

    /// Like [`TestApp::spawn`], with extra `--variable name=value`s.
    ///
    /// `STORES=libsql` puts the stores on fresh libSQL servers and Redis
    /// instead of local files, and `REPLICAS=n` (which needs them) runs `n`
    /// instances of each: of the whole app, or of each service. Requests then
    /// go to the replicas in turn, and each replica calls the others' replica
    /// of its own number.
    pub async fn spawn_with(mode: Mode, variables: &[(&str, &str)]) -> Self {
        let state = TempDir::new().unwrap();
        let runtime = Runtime::from_env();
        let stores = StoreKind::from_env();
        let replicas = replicas_from_env();
        assert!(
            stores == StoreKind::Local || matches!(runtime, Runtime::Spin(_)),
            "{STORES_VAR}=libsql needs real Spin ({SPIN_VAR}=…): the embedded host has only Spin's local stores"
        );
        assert!(
            replicas == 1 || stores == StoreKind::Libsql,
            "{REPLICAS_VAR}={replicas} needs {STORES_VAR}=libsql: replicas must share their stores"
        );
        let stores = Stores::start(stores, state.path(), free_port)
            .await
            .expect("the stores did not start");
        let launch = |dir: String, listen: SocketAddr| Launch {
            app_dir: workspace(),
            listen,
            components: Vec::new(),
            runtime_config_file: stores.runtime_config.clone(),
            state_dir: state.path().join(dir),
            variables: [
                ("service_credential", CREDENTIAL),
                ("password_iterations", "1000"),
            ]
            .iter()
            // Every test signs up from one address and writes in bursts:
            // the limits are off unless a test switches one on.
            .chain(NO_RATE_LIMITS)
            .chain(variables)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        };
        let slots: Vec<Slot> = match mode {
            Mode::OneApp => (0..replicas)
                .map(|r| {
                    let mut l = launch(format!("app-{r}"), free_port());
                    // The WASIp3 post reaches its own application through
                    // the listener (ADR 0034).
                    l.variables
                        .push(("app_url".into(), format!("http://{}", l.listen)));
                    Slot {
                        launch: l,
                        serves: None,
                        running: None,
                    }
                })
                .collect(),
            Mode::ThreeInstances => {
                let addrs: Vec<[SocketAddr; 4]> = (0..replicas)
                    .map(|_| Svc::COMPONENTS.map(|_| free_port()))
                    .collect();
                let mut slots = Vec::new();
                for svc in Svc::COMPONENTS {
                    for (r, own) in addrs.iter().enumerate() {
                        let mut l = launch(format!("{}-{r}", svc.id()), own[svc.index()]);
                        l.components.push(svc.id().into());
                        for other in Svc::ALL {
                            l.variables.push((
                                format!("{}_service_url", other.id()),
                                format!("http://{}", own[other.index()]),
                            ));
                        }
                        slots.push(Slot {
                            launch: l,
                            serves: Some(svc),
                            running: None,
                        });
                    }
                }
                slots
            }
        };
        let mut app = Self {
            mode,
            runtime,
            slots,
            next: AtomicUsize::new(0),
            stores,
            _state: state,
        };
        for i in 0..app.slots.len() {
            app.start_slot(i).await;
        }
        app
    }

    /// The slots that serve `svc`: every one of them in one application.
    fn serving(&self, svc: Svc) -> impl Iterator<Item = usize> + '_ {
        (0..self.slots.len()).filter(move |&i| self.slots[i].serves.is_none_or(|s| s == svc))
    }

    /// Starts slot `i` (which must be stopped), panicking with the output if it fails.
    async fn start_slot(&mut self, i: usize) {
        let slot = &self.slots[i];
        assert!(slot.running.is_none(), "{} is running", slot.launch.listen);
        match self.runtime.start(&slot.launch).await {
            Ok(instance) => self.slots[i].running = Some(instance),
            Err(e) => panic!("{} failed to start: {e:#}", slot.launch.listen),
        }
    }

    /// The base URL where `svc` is served; with replicas, each call names
    /// the next one in turn, so a test's requests are spread across them.
    pub fn base(&self, svc: Svc) -> String {
        let serving: Vec<usize> = self.serving(svc).collect();
        let i = serving[self.next.fetch_add(1, Ordering::Relaxed) % serving.len()];
        format!("http://{}", self.slots[i].launch.listen)
    }

    /// The base URL of every instance serving `svc` (one unless `REPLICAS` is set).
    pub fn replicas(&self, svc: Svc) -> Vec<String> {
        self.serving(svc)
            .map(|i| format!("http://{}", self.slots[i].launch.listen))
            .collect()
    }

    /// Stops one service (three-instance mode only): its port refuses connections.
    pub async fn stop(&mut self, svc: Svc) {
        for instance in self.take_running(svc, "stopped") {
            instance.stop().await;
        }
    }

    /// Kills one service (three-instance mode only), as a crash would.
    pub async fn kill(&mut self, svc: Svc) {
        for instance in self.take_running(svc, "killed") {
            instance.kill().await;
        }
    }

    /// Starts a stopped service again on the same port.
    pub async fn start(&mut self, svc: Svc) {
        self.assert_apart(svc, "started");
        for i in self.serving(svc).collect::<Vec<_>>() {
            self.start_slot(i).await;
        }
    }

    /// Takes the running instances of `svc` (every replica) out of their
    /// slots, to be stopped or killed.
    fn take_running(&mut self, svc: Svc, what: &str) -> Vec<Instance> {
        self.assert_apart(svc, what);
        let serving: Vec<usize> = self.serving(svc).collect();
        serving
            .into_iter()
            .filter_map(|i| self.slots[i].running.take())
            .collect()
    }

    fn assert_apart(&self, svc: Svc, what: &str) {
        assert_eq!(
            self.mode,
            Mode::ThreeInstances,
            "only separate instances can be {what} alone ({svc:?})"
        );
    }

    /// Stops everything and starts it again on the same ports and stores.
    pub async fn restart_all(&mut self) {
        for slot in &mut self.slots {
            if let Some(instance) = slot.running.take() {
                instance.stop().await;
            }
        }
        for i in 0..self.slots.len() {
            self.start_slot(i).await;
        }
    }

    /// What `svc` has written to stderr so far (its log lines), from every
    /// instance that serves it.
    pub fn stderr(&self, svc: Svc) -> String {
        self.serving(svc)
            .map(|i| {
                let slot = &self.slots[i];
                self.runtime
                    .component_stderr(&slot.launch, slot.running.as_ref(), svc.id())
            })
            .collect()
    }

    /// Sends a request to `svc`.
    pub async fn send(
        &self,
        svc: Svc,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = Request::new(method, format!("{}{path}", self.base(svc)));
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.expect("request failed")
    }

    /// Sends raw bytes with a content type.
    pub async fn send_raw(
        &self,
        svc: Svc,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: &[u8],
    ) -> Response {
        let mut req = Request::new(method, format!("{}{path}", self.base(svc)))
            .header("content-type", "application/json");
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        req.body(body.to_vec())
            .send()
            .await
            .expect("request failed")
    }

    // ----- user service -----

    /// `POST /users`.
    pub async fn register(&self, body: Value) -> Response {
        self.send(Svc::User, Method::POST, "/users", None, Some(body))
            .await
    }

    /// `POST /auth/login`.
    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.send(
            Svc::User,
            Method::POST,
            "/auth/login",
            None,
            Some(json!({"username": username, "password": password})),
        )
        .await
    }

    /// Registers `username` and logs in.
    pub async fn user(&self, username: &str) -> TestUser {
        let password = format!("{username}-password");
        let r = self
            .register(json!({"username": username, "password": password}))
            .await;
        assert_eq!(r.status, 201, "register {username}: {}", r.text());
        let r = self.login(username, &password).await;
        assert_eq!(r.status, 200, "login {username}: {}", r.text());
        let body = r.json().unwrap();
        TestUser {
            id: body["user"]["id"].as_str().unwrap().to_string(),
            username: username.to_string(),
            password,
            token: body["token"].as_str().unwrap().to_string(),
        }
    }

    /// `GET /auth/jwks`.
    pub async fn jwks(&self) -> Response {
        self.send(Svc::User, Method::GET, "/auth/jwks", None, None)
            .await
    }

    /// `GET /users/me`.
    pub async fn me(&self, token: &str) -> Response {
        self.send(Svc::User, Method::GET, "/users/me", Some(token), None)
            .await
    }

    /// `PATCH /users/me`.
    pub async fn update_me(&self, token: &str, body: Value) -> Response {
        self.send(
            Svc::User,
            Method::PATCH,
            "/users/me",
            Some(token),
            Some(body),
        )
        .await
    }

    /// `PUT /users/me/password`.
    pub async fn change_password(&self, token: &str, body: Value) -> Response {
        self.send(
            Svc::User,
            Method::PUT,
            "/users/me/password",
            Some(token),
            Some(body),
        )
        .await
    }

    /// `DELETE /users/me`.
    pub async fn delete_me(&self, token: &str) -> Response {
        self.send(Svc::User, Method::DELETE, "/users/me", Some(token), None)
            .await
    }

    /// `GET /users/{username}`.
    pub async fn get_user(&self, username: &str) -> Response {
        self.send(
            Svc::User,
            Method::GET,
            &format!("/users/{username}"),
            None,
            None,
        )
        .await
    }

    /// `PUT /users/me/following/{username}`.
    pub async fn follow(&self, token: &str, username: &str) -> Response {
        self.send(
            Svc::User,
            Method::PUT,
            &format!("/users/me/following/{username}"),
            Some(token),
            None,
        )
        .await
    }

    /// `DELETE /users/me/following/{username}`.
    pub async fn unfollow(&self, token: &str, username: &str) -> Response {
        self.send(
            Svc::User,
            Method::DELETE,
            &format!("/users/me/following/{username}"),
            Some(token),
            None,
        )
        .await
    }

    /// `GET /users/{username}/followers` with a query string (may be empty).
    pub async fn followers(&self, username: &str, query: &str) -> Response {
        self.send(
            Svc::User,
            Method::GET,
            &format!("/users/{username}/followers{query}"),
            None,
            None,
        )
        .await
    }

    /// `GET /users/{username}/following` with a query string (may be empty).
    pub async fn following(&self, username: &str, query: &str) -> Response {
        self.send(
            Svc::User,
            Method::GET,
            &format!("/users/{username}/following{query}"),
            None,
            None,
        )
        .await
    }

    // ----- post service -----

    /// `POST /posts`.
    pub async fn create_post(&self, token: &str, body: Value) -> Response {
        self.send(Svc::Post, Method::POST, "/posts", Some(token), Some(body))
            .await
    }

    /// Posts `text` as `user`, asserting 201, returning the post.
    pub async fn post(&self, user: &TestUser, text: &str) -> Value {
        let r = self.create_post(&user.token, json!({"body": text})).await;
        assert_eq!(r.status, 201, "post: {}", r.text());
        r.json().unwrap()
    }

    /// `POST /posts` by `user`, built but not sent (for [`all_at_once`]).
    pub fn post_request(&self, user: &TestUser, text: &str) -> Request {
        Request::new(Method::POST, format!("{}/posts", self.base(Svc::Post)))
            .header("authorization", format!("Bearer {}", user.token))
            .json(&json!({ "body": text }))
    }

    /// `GET /posts/{id}`.
    pub async fn get_post(&self, id: &str) -> Response {
        self.send(Svc::Post, Method::GET, &format!("/posts/{id}"), None, None)
            .await
    }

    /// `DELETE /posts/{id}`.
    pub async fn delete_post(&self, token: &str, id: &str) -> Response {
        self.send(
            Svc::Post,
            Method::DELETE,
            &format!("/posts/{id}"),
            Some(token),
            None,
        )
        .await
    }

    /// `GET /posts?author=...` plus extra query (e.g. `&limit=2`).
    pub async fn posts_by(&self, author: &str, extra: &str) -> Response {
        self.send(
            Svc::Post,
            Method::GET,
            &format!("/posts?author={author}{extra}"),
            None,
            None,
        )
        .await
    }

    /// `GET /posts/{id}/replies` with a query string (may be empty).
    pub async fn replies(&self, id: &str, query: &str) -> Response {
        self.send(
            Svc::Post,
            Method::GET,
            &format!("/posts/{id}/replies{query}"),
            None,
            None,
        )
        .await
    }

    /// `PUT /posts/{id}/like`.
    pub async fn like(&self, token: &str, id: &str) -> Response {
        self.send(
            Svc::Post,
            Method::PUT,
            &format!("/posts/{id}/like"),
            Some(token),
            None,
        )
        .await
    }

    /// `DELETE /posts/{id}/like`.
    pub async fn unlike(&self, token: &str, id: &str) -> Response {
        self.send(
            Svc::Post,
            Method::DELETE,
            &format!("/posts/{id}/like"),
            Some(token),
            None,
        )
        .await
    }

    // ----- feed service -----

    /// `GET /feed` with a query string (may be empty).
    pub async fn feed(&self, token: &str, query: &str) -> Response {
        self.send(
            Svc::Feed,
            Method::GET,
            &format!("/feed{query}"),
            Some(token),
            None,
        )
        .await
    }

    /// The ids in `user`'s first feed page of up to 100.
    pub async fn feed_ids(&self, user: &TestUser) -> Vec<String> {
        let r = self.feed(&user.token, "?limit=100").await;
        assert_eq!(r.status, 200, "feed: {}", r.text());
        ids(&r.json().unwrap())
    }

    // ----- operations -----

    /// `GET /health/{svc}`.
    pub async fn health(&self, svc: Svc) -> Response {
        self.send(
            svc,
            Method::GET,
            &format!("/health/{}", svc.id()),
            None,
            None,
        )
        .await
    }

    /// `POST /internal/{svc}/outbox/flush` with the service credential.
    pub async fn flush(&self, svc: Svc) -> Response {
        self.send(
            svc,
            Method::POST,
            &format!("/internal/{}/outbox/flush", svc.id()),
            Some(CREDENTIAL),
            None,
        )
        .await
    }

    /// The SQLite file of the database `label` (`users`, `posts`, `feed`),
    /// or `None` when the stores are networked.
    pub fn database_file(&self, label: &str) -> Option<PathBuf> {
        self.stores.local_file(label)
    }

    /// Flushes every service's outbox until nothing is pending.
    pub async fn settle(&self) {
        eventually(|| async {
            let mut pending = 0;
            for svc in Svc::ALL {
                let r = self.flush(svc).await;
                assert_eq!(r.status, 200, "flush {svc:?}: {}", r.text());
                pending += r.json().unwrap()["pending"].as_i64().unwrap();
            }
            pending == 0
        })
        .await;
    }
}

/// Sends `requests` all at once, asserting that each answered 2xx.
pub async fn all_at_once(requests: Vec<Request>) {
    let mut together = tokio::task::JoinSet::new();
    for request in requests {
        together.spawn(request.send());
    }
    for done in together.join_all().await {
        let r = done.expect("request failed");
        assert!((200..300).contains(&r.status), "{}: {}", r.status, r.text());
    }
}

/// Asserts that `cached` (a first page of 20) holds exactly the first 20
/// items of `fresh` (a larger page of the same list, read afresh).
pub fn assert_first_page_is_fresh(cached: &Value, fresh: &Value, context: &str) {
    assert_eq!(
        cached["items"].as_array().unwrap()[..],
        fresh["items"].as_array().unwrap()[..20],
        "{context}"
    );
}

/// The `id`s of a page body's items.
pub fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect()
}

/// The `id` of a post (or any resource).
pub fn id_of(post: &Value) -> String {
    post["id"].as_str().unwrap().to_string()
}

/// The body of a 200 response.
pub fn ok_json(r: &Response) -> Value {
    assert_eq!(r.status, 200, "{}", r.text());
    r.json().unwrap()
}

/// Polls `check` until it holds, for up to 10 seconds.
pub async fn eventually<F, Fut>(mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "condition not reached within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asserts `r` is an error with `status` and `code`.
pub fn assert_error(r: &Response, status: u16, code: &str) {
    assert_eq!(r.status, status, "body: {}", r.text());
    let body = r.json().unwrap();
    assert_eq!(body["error"]["code"], code, "body: {body}");
    assert!(body["error"]["message"].is_string(), "body: {body}");
}

/// Declares a test that runs `$case(&TestApp)` in both deployment modes,
/// optionally with extra `--variable`s.
#[macro_export]
macro_rules! both_modes {
    ($name:ident, $variables:expr) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread")]
            async fn as_one_application() {
                let app =
                    $crate::helpers::TestApp::spawn_with($crate::helpers::Mode::OneApp, $variables)
                        .await;
                super::$name(&app).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn as_three_instances() {
                let app = $crate::helpers::TestApp::spawn_with(
                    $crate::helpers::Mode::ThreeInstances,
                    $variables,
                )
                .await;
                super::$name(&app).await;
            }
        }
    };
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread")]
            async fn as_one_application() {
                let app = $crate::helpers::TestApp::spawn($crate::helpers::Mode::OneApp).await;
                super::$name(&app).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn as_three_instances() {
                let app =
                    $crate::helpers::TestApp::spawn($crate::helpers::Mode::ThreeInstances).await;
                super::$name(&app).await;
            }
        }
    };
}
