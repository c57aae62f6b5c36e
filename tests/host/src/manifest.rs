//! `spin.toml` (manifest version 2) and `runtime-config.toml`, parsed strictly.
//!
//! Anything this host does not understand is a startup error rather than being
//! silently ignored, so a manifest that works here means the same thing to Spin.

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A parsed `spin.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Must be 2.
    pub spin_manifest_version: u32,
    /// Application metadata (name, version, ...): informational only.
    pub application: Application,
    /// Application variables, keyed by name.
    #[serde(default)]
    pub variables: BTreeMap<String, VariableDecl>,
    /// Triggers; only `http` is supported.
    #[serde(default)]
    pub trigger: Triggers,
    /// Components, keyed by id.
    #[serde(default)]
    pub component: BTreeMap<String, ComponentDecl>,
}

/// `[application]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    /// Application name.
    pub name: String,
    /// Application version.
    #[serde(default)]
    pub version: Option<String>,
    /// Human-readable description.
    #[serde(default)]
    pub description: Option<String>,
    /// Authors.
    #[serde(default)]
    pub authors: Vec<String>,
    /// `[application.trigger.http]` settings.
    #[serde(default)]
    pub trigger: Option<AppTrigger>,
}

/// `[application.trigger]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppTrigger {
    /// `[application.trigger.http]`.
    #[serde(default)]
    pub http: Option<AppHttpTrigger>,
}

/// `[application.trigger.http]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppHttpTrigger {
    /// Base path; only `/` is supported, as in Spin 2+.
    #[serde(default)]
    pub base: Option<String>,
}

/// `[variables.<name>]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableDecl {
    /// Value used when no provider supplies one.
    #[serde(default)]
    pub default: Option<String>,
    /// Startup fails when no value is provided.
    #[serde(default)]
    pub required: bool,
    /// The value is not printed; guests read it normally.
    #[serde(default)]
    pub secret: bool,
    /// Human-readable description.
    #[serde(default)]
    pub description: Option<String>,
}

/// `[trigger]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Triggers {
    /// `[[trigger.http]]` entries.
    #[serde(default)]
    pub http: Vec<HttpTrigger>,
}

/// One `[[trigger.http]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTrigger {
    /// Optional trigger id.
    #[serde(default)]
    pub id: Option<String>,
    /// A path route or `{ private = true }`.
    pub route: RouteDecl,
    /// The id of the component that handles the route.
    pub component: String,
    /// Only `spin`-style WASI HTTP is supported; `executor` must be absent or `{ type = "spin" }`.
    #[serde(default)]
    pub executor: Option<toml::Table>,
}

/// The `route` of an HTTP trigger.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RouteDecl {
    /// A path such as `/users/...`.
    Path(String),
    /// `{ private = true }`: reachable only by service chaining.
    Private {
        /// Must be true.
        private: bool,
    },
}

/// `[component.<id>]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentDecl {
    /// Path of the `.wasm`, relative to the application directory.
    pub source: SourceDecl,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Key-value store labels the component may open.
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    /// SQLite database labels the component may open.
    #[serde(default)]
    pub sqlite_databases: Vec<String>,
    /// Outbound destinations (may contain `{{ variable }}` templates).
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    /// Component variables: name to template.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// Environment variables for the guest.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// `[component.<id>.build]`: used by `spin build`, ignored when running.
    #[serde(default)]
    pub build: Option<toml::Table>,
}

/// A component `source`; only local files are supported.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum SourceDecl {
    /// A local path.
    Path(String),
    /// `{ url = ..., digest = ... }` or a registry reference: not supported here.
    Remote(toml::Table),
}

impl Manifest {
    /// Reads and validates `spin.toml`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read manifest {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("invalid manifest {}", path.display()))
    }

    /// Parses and validates manifest text.
    pub fn parse(text: &str) -> Result<Self> {
        let manifest: Manifest = toml::from_str(text)?;
        manifest.validate()?;
        Ok(manifest)
    }

    fn validate(&self) -> Result<()> {
        if self.spin_manifest_version != 2 {
            bail!(
                "spin_manifest_version {} is not supported (only 2)",
                self.spin_manifest_version
            );
        }
        if let Some(base) = self
            .application
            .trigger
            .as_ref()
            .and_then(|t| t.http.as_ref())
            .and_then(|h| h.base.as_deref())
            && base != "/"
        {
            bail!("application.trigger.http.base {base:?} is not supported (only \"/\")");
        }
        for (name, decl) in &self.variables {
            check_variable_name(name)?;
            if decl.required == decl.default.is_some() {
                bail!("variable {name:?}: must be `required` OR have a `default`");
            }
        }
        for (id, component) in &self.component {
            if let SourceDecl::Remote(_) = component.source {
                bail!("component {id:?}: only a local file `source` is supported");
            }
            for name in component.variables.keys() {
                check_variable_name(name)?;
            }
        }
        for trigger in &self.trigger.http {
            if !self.component.contains_key(&trigger.component) {
                bail!(
                    "trigger for route {:?} names unknown component {:?}",
                    trigger.route,
                    trigger.component
                );
            }
            if let Some(executor) = &trigger.executor
                && executor.get("type").and_then(|t| t.as_str()) != Some("spin")
            {
                bail!(
                    "component {:?}: executor {executor} is not supported",
                    trigger.component
                );
            }
            match &trigger.route {
                RouteDecl::Path(p) if !p.starts_with('/') => {
                    bail!("route {p:?} must start with '/'")
                }
                RouteDecl::Private { private: false } => {
                    bail!("route {{ private = false }} is not a route")
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Spin's rule for variable names: lower-case letters, digits and underscores,
/// starting with a letter.
pub fn check_variable_name(name: &str) -> Result<()> {
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        bail!(
            "{name:?}: invalid character {bad:?}. Variable names may contain only lower-case letters, numbers, and underscores."
        );
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        bail!("{name:?}: variable names must start with a lower-case letter");
    }
    if name.ends_with('_') || name.contains("__") {
        bail!("{name:?}: variable names may not end with '_' or contain '__'");
    }
    Ok(())
}

/// A parsed `runtime-config.toml`: where each store label lives.
#[derive(Debug, Default)]
pub struct RuntimeConfig {
    /// Key-value label to SQLite file (`None`: in memory).
    pub key_value_stores: BTreeMap<String, Option<PathBuf>>,
    /// SQLite label to database file (`None`: in memory).
    pub sqlite_databases: BTreeMap<String, Option<PathBuf>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuntimeConfigFile {
    #[serde(default)]
    key_value_store: BTreeMap<String, StoreDecl>,
    #[serde(default)]
    sqlite_database: BTreeMap<String, StoreDecl>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreDecl {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    path: Option<PathBuf>,
}

impl RuntimeConfig {
    /// Reads a runtime-config file. As in Spin, key-value paths are relative to
    /// the file's directory and SQLite paths to the process's working directory.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read runtime config {}", path.display()))?;
        let file: RuntimeConfigFile = toml::from_str(&text)
            .with_context(|| format!("invalid runtime config {}", path.display()))?;
        let rc_dir = path.parent().unwrap_or(Path::new("."));
        let cwd = std::env::current_dir()?;
        let resolve = |decls: BTreeMap<String, StoreDecl>, base: &Path, what: &str| {
            decls
                .into_iter()
                .map(|(label, decl)| {
                    if decl.kind != "spin" {
                        bail!(
                            "{what} {label:?}: type {:?} is not supported (only \"spin\")",
                            decl.kind
                        );
                    }
                    Ok((label, decl.path.map(|p| base.join(p))))
                })
                .collect::<Result<BTreeMap<_, _>>>()
        };
        Ok(Self {
            key_value_stores: resolve(file.key_value_store, rc_dir, "key_value_store")?,
            sqlite_databases: resolve(file.sqlite_database, &cwd, "sqlite_database")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
spin_manifest_version = 2
[application]
name = "t"
[[trigger.http]]
route = "/..."
component = "a"
[component.a]
source = "a.wasm"
"#;

    #[test]
    fn a_minimal_manifest_parses() {
        let m = Manifest::parse(MINIMAL).unwrap();
        assert_eq!(m.component.len(), 1);
    }

    #[test]
    fn unknown_manifest_keys_are_rejected() {
        let text = MINIMAL.replace("source = \"a.wasm\"", "source = \"a.wasm\"\nfiles = []");
        let err = format!("{:#}", Manifest::parse(&text).unwrap_err());
        assert!(err.contains("files"), "{err}");
    }

    #[test]
    fn a_variable_needs_required_or_default_but_not_both() {
        for decl in ["{}", "{ required = true, default = \"x\" }"] {
            let text = format!("{MINIMAL}\n[variables]\nv = {decl}\n");
            let err = format!("{:#}", Manifest::parse(&text).unwrap_err());
            assert!(
                err.contains("must be `required` OR have a `default`"),
                "{err}"
            );
        }
    }

    #[test]
    fn variable_names_follow_spins_rules() {
        assert!(check_variable_name("feed_url2").is_ok());
        assert!(check_variable_name("trailing_").is_err());
        assert!(check_variable_name("dou__ble").is_err());
        let err = check_variable_name("Comp").unwrap_err().to_string();
        assert!(err.contains("invalid character 'C'"), "{err}");
    }

    #[test]
    fn a_trigger_for_an_unknown_component_is_rejected() {
        let text = MINIMAL.replace("component = \"a\"", "component = \"b\"");
        assert!(Manifest::parse(&text).is_err());
    }
}
