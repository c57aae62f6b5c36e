//! Spawning the fixture app and talking to it.

use host::client::{self, Response};
use host::{RunningApp, UpOptions};
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// The fixture component, built by the `wasm-build` crate.
pub fn fixture_wasm() -> PathBuf {
    Path::new(wasm_build::WASM_DIR).join("fixture.wasm")
}

/// `tests/fixture`, the checked-in application.
pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixture")
}

/// A running app whose guest output is printed if the test fails.
pub struct TestApp {
    /// The running host.
    pub app: RunningApp,
    /// The app's state directory (default stores).
    pub _state: TempDir,
    _app_dir: Option<TempDir>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "guest output of {}:\n{}",
                self.app.base_url(),
                self.app.guest_output()
            );
        }
    }
}

/// Options for the checked-in fixture app with its required variable set.
pub fn fixture_options() -> UpOptions {
    UpOptions::new(fixture_dir())
        .runtime_config_file(fixture_dir().join("runtime-config.toml"))
        .variable("required_thing", "supplied")
}

impl TestApp {
    /// The checked-in fixture app on a free port, with fresh state.
    pub async fn fixture() -> Self {
        Self::start(fixture_options()).await
    }

    /// Starts with `opts`, adding a fresh state dir unless one is set.
    pub async fn start(opts: UpOptions) -> Self {
        Self::try_start(opts).await.expect("app failed to start")
    }

    /// Starts with `opts`, returning the startup error.
    pub async fn try_start(mut opts: UpOptions) -> anyhow::Result<Self> {
        let state = TempDir::new()?;
        if opts.state_dir.is_none() {
            opts.state_dir = Some(state.path().to_path_buf());
        }
        let app = host::up(opts).await?;
        Ok(Self {
            app,
            _state: state,
            _app_dir: None,
        })
    }

    /// Starts an app from manifest text; `{fixture}` stands for the fixture's path.
    pub async fn from_manifest(
        manifest: &str,
        customize: impl FnOnce(UpOptions) -> UpOptions,
    ) -> anyhow::Result<Self> {
        let dir = TempDir::new()?;
        let text = manifest.replace("{fixture}", &fixture_wasm().display().to_string());
        std::fs::write(dir.path().join("spin.toml"), text)?;
        let mut app = Self::try_start(customize(UpOptions::new(dir.path()))).await?;
        app._app_dir = Some(dir);
        Ok(app)
    }

    /// An absolute URL for `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.app.base_url())
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Response {
        client::get(self.url(path)).await.expect("request failed")
    }

    /// `POST path` with `body`.
    pub async fn post(&self, path: &str, body: impl Into<Vec<u8>>) -> Response {
        client::post(self.url(path), body)
            .await
            .expect("request failed")
    }

    /// `GET path`, asserting 200, returning the body text.
    pub async fn text(&self, path: &str) -> String {
        let r = self.get(path).await;
        assert_eq!(r.status, 200, "GET {path}: {}", r.text());
        r.text()
    }
}

/// A manifest with one public and one private component, for routing cases.
pub const TWO_COMPONENTS: &str = r#"
spin_manifest_version = 2
[application]
name = "routing"
[[trigger.http]]
route = "/a/..."
component = "alpha"
[[trigger.http]]
route = "/a/exact"
component = "beta"
[[trigger.http]]
route = { private = true }
component = "gamma"
[component.alpha]
source = "{fixture}"
allowed_outbound_hosts = ["http://*.spin.internal"]
variables = { who = "alpha" }
[component.beta]
source = "{fixture}"
variables = { who = "beta" }
[component.gamma]
source = "{fixture}"
variables = { who = "gamma" }
"#;

/// A manifest whose only component, `id`, serves `/...` with the fixture;
/// `extra` adds lines to the component's table.
pub fn single_component(id: &str, extra: &str) -> String {
    format!(
        "spin_manifest_version = 2\n[application]\nname = \"single\"\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"{id}\"\n\
         [component.{id}]\nsource = \"{{fixture}}\"\n{extra}\n"
    )
}

/// The error that stops `manifest` from starting, with its causes.
pub async fn startup_error(manifest: &str) -> String {
    match TestApp::from_manifest(manifest, |o| o).await {
        Ok(_) => panic!("startup should fail"),
        Err(e) => format!("{e:#}"),
    }
}
