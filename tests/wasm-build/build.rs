//! Builds every Spin component of the workspace for `wasm32-wasip2` (release),
//! exactly where `spin.toml` expects them, so `cargo test` needs no other step.

use std::path::PathBuf;
use std::process::Command;

/// The component packages, built in one cargo invocation.
const PACKAGES: &[&str] = &["fixture", "user", "post", "feed"];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest_dir.join("../..").canonicalize().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&workspace)
        .args([
            "build",
            "--profile",
            "component",
            "--target",
            "wasm32-wasip2",
        ])
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
    for dir in ["components", "tests/fixture/src", "wit", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", workspace.join(dir).display());
    }
    println!(
        "cargo:rustc-env=WASM_DIR={}",
        workspace.join("target/wasm32-wasip2/component").display()
    );
}
