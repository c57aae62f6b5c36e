//! The SpinKube manifests in `deploy/spinkube/`, held to a schema of our own
//! and to `spin.toml`.
//!
//! [`schema`] has Rust types for the fields and types the manifests use of
//! each kind (SpinApp, Secret, Ingress, HorizontalPodAutoscaler), and refuses
//! anything else; the SpinApp types follow the spin-operator CRD at the commit
//! named there. [`check`] reads the manifests of each deployment and checks
//! them against each other and [`app::SpinManifest`]: components, variables,
//! Secrets, store labels, routes, autoscalers and probes. The tests in
//! `tests/` run both on every file under `deploy/spinkube/`.

pub mod app;
pub mod check;
pub mod schema;

use std::path::PathBuf;

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `deploy/spinkube/` in the repository.
pub fn spinkube_dir() -> PathBuf {
    repo_root().join("deploy/spinkube")
}

/// The repository's `spin.toml`, parsed.
pub fn spin_manifest() -> Result<app::SpinManifest, String> {
    let path = repo_root().join("spin.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    app::SpinManifest::parse(&text)
}
