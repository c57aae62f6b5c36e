//! `host`: run a Spin application without Spin (`host up`, `host build --up`).

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(version, about = "Runs Spin applications on an embedded wasmtime host")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the application, like `spin up`.
    Up(UpArgs),
    /// Run each component's `[component.<id>.build]` command, like `spin build`.
    Build {
        /// Start the application after building.
        #[arg(long)]
        up: bool,
        #[command(flatten)]
        up_args: UpArgs,
    },
}

#[derive(Args, Clone)]
struct UpArgs {
    /// The application directory or manifest.
    #[arg(short = 'f', long = "from", default_value = "spin.toml")]
    from: PathBuf,
    /// IP address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Component ID to run; repeatable; the default is all.
    #[arg(short = 'c', long = "component-id")]
    component_id: Vec<String>,
    /// Runtime configuration file (key-value stores and SQLite databases).
    #[arg(long)]
    runtime_config_file: Option<PathBuf>,
    /// Set an application variable (name=value); beats SPIN_VARIABLE_*.
    #[arg(long = "variable", value_parser = parse_pair)]
    variables: Vec<(String, String)>,
    /// App state directory for default stores (default: .spin next to spin.toml).
    #[arg(long)]
    state_dir: Option<PathBuf>,
}

fn parse_pair(s: &str) -> Result<(String, String)> {
    let (k, v) = s.split_once('=').context("expected NAME=VALUE")?;
    Ok((k.to_string(), v.to_string()))
}

fn manifest_path(from: &std::path::Path) -> PathBuf {
    if from.is_dir() {
        from.join("spin.toml")
    } else {
        from.to_path_buf()
    }
}

fn build(from: &std::path::Path) -> Result<()> {
    let path = manifest_path(from);
    let manifest = host::manifest::Manifest::load(&path)?;
    // `spin.toml` alone has an empty parent: that is the current directory.
    let app_dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    for (id, component) in &manifest.component {
        let Some(build) = &component.build else {
            continue;
        };
        let command = build
            .get("command")
            .and_then(|c| c.as_str())
            .context("build.command must be a string")?;
        let workdir = build
            .get("workdir")
            .and_then(|w| w.as_str())
            .map(|w| app_dir.join(w))
            .unwrap_or_else(|| app_dir.clone());
        println!("Building component {id} with `{command}`");
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(&workdir)
            .status()?;
        if !status.success() {
            bail!("build command for component {id} failed with {status}");
        }
    }
    println!("Finished building all Spin components");
    Ok(())
}

async fn up(args: UpArgs) -> Result<()> {
    let mut opts = host::UpOptions::new(args.from).listen(args.listen);
    opts.component_ids = args.component_id;
    opts.runtime_config_file = args.runtime_config_file;
    opts.variables = args.variables.into_iter().collect();
    opts.state_dir = args.state_dir;
    opts.echo_guest_output = true;
    let app = host::up(opts).await?;
    println!("Serving {}", app.base_url());
    println!("Available Routes:");
    for (route, component) in app.routes() {
        println!("  {component}: {}{route}", app.base_url());
    }
    tokio::signal::ctrl_c().await?;
    app.stop().await;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Up(args) => up(args).await,
        Command::Build { up: start, up_args } => {
            build(&up_args.from)?;
            if start {
                up(up_args).await?;
            }
            Ok(())
        }
    }
}
