//! Builds every Spin component of the workspace for `wasm32-wasip2` (release),
//! exactly where `spin.toml` expects them, so `cargo test` needs no other step.

use std::path::PathBuf;
use std::process::Command;

/// The target the components are built for.
const TARGET: &str = "wasm32-wasip2";

/// The component packages, built in one cargo invocation.
const PACKAGES: &[&str] = &[
    "fixture",
    "fixture-p3",
    "user",
    "post",
    "post-relay",
    "feed",
    "web",
];

fn main() {
    ensure_wasm_target();
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest_dir.join("../..").canonicalize().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&workspace)
        .args(["build", "--profile", "component", "--target", TARGET])
        .arg("--target-dir")
        .arg(workspace.join("target"));
    for p in PACKAGES {
        cmd.args(["-p", p]);
    }
    // The outer build's settings are for the host target, not for wasm.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .expect("cannot run cargo for the wasm components");
    assert!(status.success(), "building the wasm components failed");
    for dir in [
        "components",
        "tests/fixture/src",
        "tests/fixture-p3/src",
        "wit",
        "Cargo.lock",
        "spin.toml",
    ] {
        println!("cargo:rerun-if-changed={}", workspace.join(dir).display());
    }
    println!(
        "cargo:rustc-env=WASM_DIR={}",
        workspace.join("target/wasm32-wasip2/component").display()
    );
}

/// Adds the wasm target to the active toolchain when it lacks it.
///
/// rustup 1.29 installs the `targets` of `rust-toolchain.toml` only when it
/// installs the toolchain itself, so a machine whose toolchain was already
/// there fails with `can't find crate for core`. `RUSTUP_TOOLCHAIN` names the
/// toolchain cargo runs under; without rustup there is nothing to add.
fn ensure_wasm_target() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let installed = sysroot.is_some_and(|s| s.join("lib/rustlib").join(TARGET).exists());
    if installed {
        return;
    }
    let mut cmd = Command::new("rustup");
    cmd.args(["target", "add", TARGET]);
    if let Ok(toolchain) = std::env::var("RUSTUP_TOOLCHAIN") {
        cmd.args(["--toolchain", &toolchain]);
    }
    match cmd.status() {
        Ok(s) if s.success() => {}
        Ok(s) => println!("cargo:warning=`rustup target add {TARGET}` failed ({s})"),
        Err(e) => println!("cargo:warning=cannot run rustup to add {TARGET}: {e}"),
    }
}
