//! Where the app under test keeps its state: SQLite files beside it (the
//! default), or, with `STORES=libsql`, networked stores as on SpinKube: one
//! libSQL server (`sqld`) per service and one Redis for the key-value caches,
//! started fresh for each test. Any number of instances can share those,
//! which is what the replica mode (`REPLICAS=n`) needs.

use anyhow::{Context, Result, bail};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The environment variable that picks the stores: `local` (default) or `libsql`.
pub const STORES_VAR: &str = "STORES";
/// The environment variable naming the `sqld` binary (default: `sqld` on `PATH`).
pub const SQLD_VAR: &str = "SQLD";
/// The environment variable naming `redis-server` (default: on `PATH`).
pub const REDIS_VAR: &str = "REDIS_SERVER";

/// The app's SQLite labels, one database per service.
const DATABASES: [&str; 3] = ["users", "posts", "feed"];
/// The app's key-value labels, one Redis database number each.
const CACHES: [&str; 2] = ["post_cache", "feed_cache"];

/// How long a store server may take to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Which stores the suite runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// Spin's own: SQLite files on the local disk, the caches in memory.
    Local,
    /// libSQL servers and Redis, as the networked runtime config has them.
    Libsql,
}

impl StoreKind {
    /// `STORES=libsql` picks networked stores; unset, empty or `local` the files.
    pub fn from_env() -> Self {
        match std::env::var(STORES_VAR).as_deref() {
            Ok("libsql") => StoreKind::Libsql,
            Ok("") | Ok("local") | Err(_) => StoreKind::Local,
            Ok(other) => panic!("{STORES_VAR}={other:?}: expected `local` or `libsql`"),
        }
    }
}

/// The running stores of one test app; dropping them stops the servers.
pub struct Stores {
    /// The runtime config every instance is started with.
    pub runtime_config: PathBuf,
    /// The directory of the SQLite files, when the stores are local.
    files: Option<PathBuf>,
    servers: Vec<Server>,
}

impl Stores {
    /// Starts the stores of `kind` in `dir` and writes their runtime config
    /// there. `free_port` hands out loopback ports for the servers.
    pub async fn start(
        kind: StoreKind,
        dir: &Path,
        mut free_port: impl FnMut() -> SocketAddr,
    ) -> Result<Self> {
        let runtime_config = dir.join("runtime-config.toml");
        let mut config = String::new();
        let mut servers = Vec::new();
        match kind {
            StoreKind::Local => {
                let file = |name: &str| dir.join(format!("{name}.db")).display().to_string();
                for label in DATABASES {
                    config.push_str(&format!(
                        "[sqlite_database.{label}]\ntype = \"spin\"\npath = {:?}\n",
                        file(label)
                    ));
                }
                // In memory, as `runtime-config.toml` keeps them.
                for label in CACHES {
                    config.push_str(&format!("[key_value_store.{label}]\ntype = \"spin\"\n"));
                }
            }
            StoreKind::Libsql => {
                let sqld = binary(SQLD_VAR, "sqld");
                for label in DATABASES {
                    let addr = free_port();
                    let server = Server::spawn(
                        Command::new(&sqld)
                            .arg("--db-path")
                            .arg(dir.join(format!("{label}.sqld")))
                            .arg("--http-listen-addr")
                            .arg(addr.to_string()),
                        dir,
                        &format!("sqld-{label}"),
                        addr,
                    )?;
                    servers.push(server);
                    // sqld without --auth-jwt-key-file ignores the token;
                    // Spin requires one.
                    config.push_str(&format!(
                        "[sqlite_database.{label}]\ntype = \"libsql\"\nurl = \"http://{addr}\"\ntoken = \"unused\"\n"
                    ));
                }
                let addr = free_port();
                let redis = binary(REDIS_VAR, "redis-server");
                servers.push(Server::spawn(
                    Command::new(&redis)
                        .args(["--bind", "127.0.0.1", "--port"])
                        .arg(addr.port().to_string())
                        .args(["--save", "", "--appendonly", "no"]),
                    dir,
                    "redis",
                    addr,
                )?);
                for (db, label) in CACHES.iter().enumerate() {
                    config.push_str(&format!(
                        "[key_value_store.{label}]\ntype = \"redis\"\nurl = \"redis://{addr}/{db}\"\n"
                    ));
                }
            }
        }
        std::fs::write(&runtime_config, config)?;
        for server in &mut servers {
            server.wait_ready().await?;
        }
        Ok(Self {
            runtime_config,
            files: (kind == StoreKind::Local).then(|| dir.to_path_buf()),
            servers,
        })
    }

    /// The SQLite file of the database `label`, when the stores are local.
    pub fn local_file(&self, label: &str) -> Option<PathBuf> {
        self.files
            .as_ref()
            .map(|dir| dir.join(format!("{label}.db")))
    }

    /// The addresses the store servers listen on (none for local files).
    pub fn addresses(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.servers.iter().map(|s| s.addr)
    }
}

/// The binary an environment variable names, or `default` on `PATH`.
fn binary(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

/// A store server child process; dropping it kills it.
struct Server {
    name: String,
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Server {
    fn spawn(command: &mut Command, dir: &Path, name: &str, addr: SocketAddr) -> Result<Self> {
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log)?;
        let child = command
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| {
                format!(
                    "cannot run {:?} for {STORES_VAR}=libsql (set {SQLD_VAR} / {REDIS_VAR} to absolute paths)",
                    command.get_program()
                )
            })?;
        Ok(Self {
            name: name.to_string(),
            child,
            addr,
            log,
        })
    }

    /// Waits until the server accepts connections on its port.
    async fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited ({status}): {}",
                    self.name,
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            if tokio::net::TcpStream::connect(self.addr).await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{} did not listen on {} in time", self.name, self.addr);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
