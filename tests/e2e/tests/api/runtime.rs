//! What runs the app under test: the embedded host in this process (the
//! default), or real `spin up` processes when the `SPIN` environment variable
//! names a Spin binary (`SPIN=$(command -v spin) cargo test -p e2e`).

use anyhow::{Context, Result, bail};
use host::client::Request;
use host::{RunningApp, UpOptions};
use http::Method;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The environment variable that names the Spin binary to test against.
pub const SPIN_VAR: &str = "SPIN";

/// How long a `spin up` may take to serve its port.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a restart keeps retrying while its port is still taken.
const BIND_RETRY: Duration = Duration::from_secs(10);

/// What runs the app: chosen by [`SPIN_VAR`].
#[derive(Debug, Clone)]
pub enum Runtime {
    /// The embedded host (`tests/host`), in this process.
    Host,
    /// Real Spin, one `spin up` process per instance: the binary to run.
    Spin(PathBuf),
}

impl Runtime {
    /// Real Spin when `SPIN` is set and not empty, else the embedded host.
    pub fn from_env() -> Self {
        match std::env::var_os(SPIN_VAR) {
            Some(path) if !path.is_empty() => Runtime::Spin(PathBuf::from(path)),
            _ => Runtime::Host,
        }
    }

    /// Starts one instance as `launch` describes, ready to serve.
    pub async fn start(&self, launch: &Launch) -> Result<Instance> {
        match self {
            Runtime::Host => Ok(Instance::Host(host::up(launch.up_options()).await?)),
            Runtime::Spin(spin) => Ok(Instance::Spin(SpinProcess::start(spin, launch).await?)),
        }
    }

    /// What an instance (running or stopped) wrote, labelled, for a failure
    /// report. The host keeps guest output in memory, so a stopped host
    /// instance has none; Spin's files outlive its process.
    pub fn output(&self, launch: &Launch, instance: Option<&Instance>) -> String {
        match (self, instance) {
            (_, Some(Instance::Host(app))) => app.guest_output(),
            (Runtime::Spin(_), _) => spin_output(&launch.state_dir, false),
            (Runtime::Host, _) => String::new(),
        }
    }
}

impl Runtime {
    /// What one component of an instance (running or stopped) wrote to
    /// stderr so far: its log lines. As with [`Runtime::output`], a stopped
    /// host instance has none.
    pub fn component_stderr(
        &self,
        launch: &Launch,
        instance: Option<&Instance>,
        component: &str,
    ) -> String {
        match (self, instance) {
            (_, Some(Instance::Host(app))) => app.stderr(component),
            (Runtime::Spin(_), _) => std::fs::read(
                launch
                    .state_dir
                    .join("logs")
                    .join(format!("{component}_stderr.txt")),
            )
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default(),
            (Runtime::Host, _) => String::new(),
        }
    }
}

/// One instance to start: the `spin up` flags the suite uses.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The application directory (holding `spin.toml`).
    pub app_dir: PathBuf,
    /// `--listen`.
    pub listen: SocketAddr,
    /// `--component-id`s (empty: all components).
    pub components: Vec<String>,
    /// `--runtime-config-file`.
    pub runtime_config_file: PathBuf,
    /// `--state-dir`; Spin also runs in it and its own output is kept there.
    pub state_dir: PathBuf,
    /// `--variable name=value`s.
    pub variables: Vec<(String, String)>,
}

impl Launch {
    fn up_options(&self) -> UpOptions {
        let mut opts = UpOptions::new(&self.app_dir)
            .listen(self.listen)
            .runtime_config_file(&self.runtime_config_file)
            .state_dir(&self.state_dir)
            // `SPIN_VARIABLE_*` of the test process must not leak in.
            .env(Default::default());
        for (name, value) in &self.variables {
            opts = opts.variable(name, value);
        }
        for id in &self.components {
            opts = opts.component(id);
        }
        opts
    }

    fn spin_args(&self) -> Vec<String> {
        let mut args = vec![
            "up".to_string(),
            "--from".to_string(),
            self.app_dir.join("spin.toml").display().to_string(),
            "--listen".to_string(),
            self.listen.to_string(),
            "--runtime-config-file".to_string(),
            self.runtime_config_file.display().to_string(),
            "--state-dir".to_string(),
            self.state_dir.display().to_string(),
        ];
        for id in &self.components {
            args.extend(["-c".to_string(), id.clone()]);
        }
        for (name, value) in &self.variables {
            args.extend(["--variable".to_string(), format!("{name}={value}")]);
        }
        args
    }
}

/// A running instance.
pub enum Instance {
    /// The embedded host, serving from this process.
    Host(RunningApp),
    /// A `spin up` child process.
    Spin(SpinProcess),
}

impl Instance {
    /// Stops serving and releases the port.
    pub async fn stop(self) {
        match self {
            Instance::Host(app) => app.stop().await,
            Instance::Spin(process) => process.stop().await,
        }
    }

    /// Kills the instance with no chance to finish anything: SIGKILL for
    /// Spin. The host's stop already drops every connection and the guests
    /// serving them, mid-request or after the response alike.
    pub async fn kill(self) {
        match self {
            Instance::Host(app) => app.stop().await,
            Instance::Spin(process) => process.kill().await,
        }
    }
}

/// A `spin up` child process; dropping it stops the process.
pub struct SpinProcess {
    child: Child,
    /// Where this start's output begins in the (appended) output files.
    stdout_from: u64,
    stderr_from: u64,
}

/// Spin's own output, beside its state (`logs/` holds the guests').
const SPIN_STDOUT: &str = "spin-stdout.txt";
const SPIN_STDERR: &str = "spin-stderr.txt";

/// What `spin up` prints once it has bound its port.
const SERVING: &str = "Serving http://";

impl SpinProcess {
    /// Runs `spin up` and waits until it serves its port. While the port is
    /// still taken (a restart on the same port), it tries again.
    async fn start(spin: &Path, launch: &Launch) -> Result<Self> {
        std::fs::create_dir_all(&launch.state_dir)?;
        let first_try = Instant::now();
        loop {
            let mut process = Self::spawn(spin, launch)?;
            let failure = match process.wait_ready(launch).await {
                Ok(()) => return Ok(process),
                Err(failure) => failure,
            };
            let stderr = read_from(&launch.state_dir.join(SPIN_STDERR), process.stderr_from);
            drop(process);
            let port_taken =
                matches!(failure, NotReady::Exited(_)) && stderr.contains("already in use");
            if port_taken && first_try.elapsed() < BIND_RETRY {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            bail!(
                "`spin up` did not serve {}: {failure}\n{}",
                launch.listen,
                spin_output(&launch.state_dir, true)
            );
        }
    }

    fn spawn(spin: &Path, launch: &Launch) -> Result<Self> {
        let dir = &launch.state_dir;
        let args = launch.spin_args();
        let stdout = append(&dir.join(SPIN_STDOUT))?;
        let mut stderr = append(&dir.join(SPIN_STDERR))?;
        let stdout_from = stdout.metadata()?.len();
        let stderr_from = stderr.metadata()?.len();
        // Each start (restarts append) begins with its command line.
        writeln!(stderr, "===== {} {}", spin.display(), args.join(" "))?;
        let mut command = Command::new(spin);
        // Its own process group, so that a kill reaches the `spin trigger
        // http` process it runs as well.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        command
            .args(&args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        // As with the host: `SPIN_VARIABLE_*` of the test process must not leak in.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("SPIN_VARIABLE_") {
                command.env_remove(name);
            }
        }
        let child = command.spawn().with_context(|| {
            format!(
                "cannot run {SPIN_VAR}={} (give an absolute path; tests run in tests/e2e)",
                spin.display()
            )
        })?;
        Ok(Self {
            child,
            stdout_from,
            stderr_from,
        })
    }

    /// Waits until this process has printed that it serves (so the port is
    /// its own, not another process's) and answers `GET /` (Spin's own 404).
    async fn wait_ready(&mut self, launch: &Launch) -> Result<(), NotReady> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let stdout = launch.state_dir.join(SPIN_STDOUT);
        let url = format!("http://{}/", launch.listen);
        let mut serving = false;
        loop {
            if let Some(status) = self.exited() {
                return Err(NotReady::Exited(status));
            }
            serving = serving || read_from(&stdout, self.stdout_from).contains(SERVING);
            if serving {
                let probe = Request::new(Method::GET, url.clone()).send();
                if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(2), probe).await {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(NotReady::Timeout);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Asks `spin up` to stop (SIGTERM, which it forwards to the `spin
    /// trigger http` process it runs) and waits until it has exited; after
    /// [`STOP_TIMEOUT`] it is killed. A SIGKILL alone would leave the trigger
    /// process serving the port.
    async fn stop(mut self) {
        if self.exited().is_none() {
            self.terminate();
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while self.exited().is_none() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Drop kills it if it is still running, and reaps it.
    }

    /// SIGKILLs `spin up` and the trigger process it runs (its process
    /// group), as a crash or an OOM kill would, and waits until it is gone.
    async fn kill(mut self) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: kill(2) only sends a signal; the group is the one this
        // child leads, and the child is not yet reaped (we hold its `Child`).
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while self.exited().is_none() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Sends SIGTERM; only call it after `exited()` returned `None`.
    fn terminate(&self) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: kill(2) only sends a signal; `pid` is our child, not yet
        // reaped (we hold its `Child`), so the pid cannot have been reused.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
}

/// How long `spin up` may take to exit after SIGTERM (it takes milliseconds).
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

impl Drop for SpinProcess {
    /// Stops a still-running `spin up`, even when a test panics, so that no
    /// Spin process outlives its test.
    fn drop(&mut self) {
        if self.exited().is_none() {
            self.terminate();
            let deadline = Instant::now() + STOP_TIMEOUT;
            while self.exited().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Why a `spin up` did not become ready.
#[derive(Debug)]
enum NotReady {
    Exited(ExitStatus),
    Timeout,
}

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotReady::Exited(status) => write!(f, "it exited ({status})"),
            NotReady::Timeout => write!(f, "no answer within {READY_TIMEOUT:?}"),
        }
    }
}

/// The text of `path` from byte `offset` on (empty if unreadable).
fn read_from(path: &Path, offset: u64) -> String {
    let mut text = String::new();
    if let Ok(mut file) = File::open(path)
        && file.seek(SeekFrom::Start(offset)).is_ok()
    {
        let mut bytes = Vec::new();
        let _ = file.read_to_end(&mut bytes);
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    text
}

fn append(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))
}

/// Spin's own stderr (its errors; it echoes guest output there too), its
/// stdout when `with_stdout` (the routes it serves), and every guest log
/// under `<state_dir>/logs`, each non-empty one labelled.
fn spin_output(state_dir: &Path, with_stdout: bool) -> String {
    let mut files = Vec::new();
    if with_stdout {
        files.push(state_dir.join(SPIN_STDOUT));
    }
    files.push(state_dir.join(SPIN_STDERR));
    if let Ok(logs) = std::fs::read_dir(state_dir.join("logs")) {
        let mut logs: Vec<PathBuf> = logs.flatten().map(|e| e.path()).collect();
        logs.sort();
        files.extend(logs);
    }
    let mut out = String::new();
    for file in files {
        let text = std::fs::read(&file)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        if !text.trim().is_empty() {
            out.push_str(&format!("----- {} -----\n{text}\n", file.display()));
        }
    }
    out
}
