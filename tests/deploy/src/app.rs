//! What the checks need from `spin.toml`: the version, the variables, the
//! HTTP routes and each component's stores and variables.

use serde::Deserialize;
use std::collections::BTreeMap;

/// The parts of `spin.toml` that deployments depend on.
#[derive(Debug, Clone)]
pub struct SpinManifest {
    /// `[application] version`: the tag images are pushed with.
    pub version: String,
    /// `[variables]`: name to declaration.
    pub variables: BTreeMap<String, Variable>,
    /// `[[trigger.http]]`, in order.
    pub routes: Vec<Route>,
    /// `[component.<id>]`.
    pub components: BTreeMap<String, Component>,
}

/// A declared application variable.
#[derive(Debug, Clone, Deserialize)]
pub struct Variable {
    /// The default value, if any.
    pub default: Option<String>,
    /// Whether the value is a secret.
    #[serde(default)]
    pub secret: bool,
}

/// An HTTP route and the component behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The route as written (`/users/...` or `/feed`).
    pub route: String,
    /// The component it runs.
    pub component: String,
}

/// What a component uses.
#[derive(Debug, Clone, Default)]
pub struct Component {
    /// SQLite database labels.
    pub sqlite_databases: Vec<String>,
    /// Key-value store labels.
    pub key_value_stores: Vec<String>,
    /// The application variables its own variables refer to (`{{ name }}`).
    pub uses_variables: Vec<String>,
}

#[derive(Deserialize)]
struct Raw {
    application: RawApplication,
    #[serde(default)]
    variables: BTreeMap<String, Variable>,
    trigger: RawTrigger,
    component: BTreeMap<String, RawComponent>,
}

#[derive(Deserialize)]
struct RawApplication {
    version: String,
}

#[derive(Deserialize)]
struct RawTrigger {
    http: Vec<RawRoute>,
}

#[derive(Deserialize)]
struct RawRoute {
    route: String,
    component: String,
}

#[derive(Deserialize)]
struct RawComponent {
    #[serde(default)]
    sqlite_databases: Vec<String>,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
}

impl SpinManifest {
    /// Parses the text of a `spin.toml`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let raw: Raw = toml::from_str(text).map_err(|e| format!("spin.toml: {e}"))?;
        let components = raw
            .component
            .into_iter()
            .map(|(id, c)| {
                let mut uses_variables: Vec<String> = c
                    .variables
                    .values()
                    .flat_map(|v| template_names(v))
                    .collect();
                uses_variables.sort();
                uses_variables.dedup();
                let component = Component {
                    sqlite_databases: c.sqlite_databases,
                    key_value_stores: c.key_value_stores,
                    uses_variables,
                };
                (id, component)
            })
            .collect();
        let routes = raw
            .trigger
            .http
            .into_iter()
            .map(|r| Route {
                route: r.route,
                component: r.component,
            })
            .collect();
        Ok(SpinManifest {
            version: raw.application.version,
            variables: raw.variables,
            routes,
            components,
        })
    }

    /// The component ids, sorted.
    pub fn component_ids(&self) -> Vec<String> {
        self.components.keys().cloned().collect()
    }

    /// The component Spin runs for a request to `path`: an exact route
    /// first, then the longest wildcard (`/x/...` matches `/x` and below).
    pub fn component_for(&self, path: &str) -> Option<&str> {
        if let Some(exact) = self.routes.iter().find(|r| r.route == path) {
            return Some(&exact.component);
        }
        self.routes
            .iter()
            .filter_map(|r| {
                let base = r.route.strip_suffix("/...")?;
                let under =
                    path == base || path.starts_with(&format!("{base}/")) || base.is_empty();
                under.then_some((base.len(), r.component.as_str()))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, component)| component)
    }
}

impl Route {
    /// Request paths that this route answers: the route itself, and for a
    /// wildcard its base and a path below it.
    pub fn sample_paths(&self) -> Vec<String> {
        match self.route.strip_suffix("/...") {
            Some(base) => vec![
                if base.is_empty() {
                    "/".into()
                } else {
                    base.to_string()
                },
                format!("{base}/sample"),
            ],
            None => vec![self.route.clone()],
        }
    }
}

/// The names inside `{{ … }}` in a template.
fn template_names(template: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        names.push(after[..end].trim().to_string());
        rest = &after[end + 2..];
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINI: &str = r#"
spin_manifest_version = 2
[application]
name = "x"
version = "1.2.3"
[variables]
a_url = { default = "http://a.spin.internal" }
key = { default = "", secret = true }
[[trigger.http]]
route = "/a/..."
component = "a"
[[trigger.http]]
route = "/a/b"
component = "b"
[[trigger.http]]
route = "/a/b/c/..."
component = "c"
[component.a]
source = "a.wasm"
sqlite_databases = ["one"]
[component.a.variables]
url = "{{ a_url }}"
both = "{{key}}-{{ a_url }}"
[component.b]
source = "b.wasm"
[component.c]
source = "c.wasm"
"#;

    #[test]
    fn routes_resolve_like_spin_exact_first_then_the_longest_wildcard() {
        let app = SpinManifest::parse(MINI).unwrap();
        assert_eq!(app.component_for("/a"), Some("a"));
        assert_eq!(app.component_for("/a/x"), Some("a"));
        assert_eq!(app.component_for("/a/b"), Some("b"));
        assert_eq!(app.component_for("/a/b/c"), Some("c"));
        assert_eq!(app.component_for("/a/b/c/d"), Some("c"));
        assert_eq!(app.component_for("/ab"), None);
    }

    #[test]
    fn component_variables_name_the_application_variables_they_use() {
        let app = SpinManifest::parse(MINI).unwrap();
        assert_eq!(app.components["a"].uses_variables, ["a_url", "key"]);
        assert_eq!(app.components["a"].sqlite_databases, ["one"]);
        assert!(app.variables["key"].secret);
        assert_eq!(app.version, "1.2.3");
    }

    #[test]
    fn wildcard_routes_sample_their_base_and_a_path_below() {
        let route = Route {
            route: "/users/...".into(),
            component: "user".into(),
        };
        assert_eq!(route.sample_paths(), ["/users", "/users/sample"]);
    }
}
