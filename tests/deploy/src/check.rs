//! Reading manifests into [`Object`]s, and the checks across them and
//! `spin.toml` that catch what a schema cannot: names that point nowhere,
//! routes that reach the wrong app, stores that stay on one machine.

use crate::app::SpinManifest;
use crate::schema::{
    HorizontalPodAutoscaler, Ingress, PathType, RUNTIME_CONFIG_KEY, Secret, SpinApp,
};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// One manifest document, of a kind our schema knows.
#[derive(Debug, Clone)]
pub enum Object {
    /// A SpinApp (boxed: it is by far the largest).
    SpinApp(Box<SpinApp>),
    /// A Secret.
    Secret(Secret),
    /// An Ingress.
    Ingress(Ingress),
    /// A HorizontalPodAutoscaler.
    Hpa(HorizontalPodAutoscaler),
}

/// An object and where it was read: `file#n`, n counting documents from 1.
#[derive(Debug, Clone)]
pub struct Sourced {
    /// `file#n`.
    pub origin: String,
    /// The object.
    pub object: Object,
}

/// The Service port of every SpinApp (the operator's `DefaultHTTPPort`).
pub const SPINAPP_SERVICE_PORT: i32 = 80;

/// Networked key-value backends; the others keep data on one machine.
const NETWORKED_KEY_VALUE: [&str; 1] = ["redis"];

/// Parses every document of one file. Returns the objects that parsed and
/// one message per document that did not.
pub fn parse_file(file: &str, text: &str) -> (Vec<Sourced>, Vec<String>) {
    let mut objects = Vec::new();
    let mut errors = Vec::new();
    for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let origin = format!("{file}#{}", index + 1);
        let value = match serde_yaml_ng::Value::deserialize(document) {
            Ok(serde_yaml_ng::Value::Null) => continue,
            Ok(value) => value,
            Err(e) => {
                errors.push(format!("{origin}: not YAML: {e}"));
                continue;
            }
        };
        match parse_object(value) {
            Ok(object) => {
                for problem in problems(&object) {
                    errors.push(format!("{origin} ({}): {problem}", describe(&object)));
                }
                objects.push(Sourced { origin, object });
            }
            Err(e) => errors.push(format!("{origin}: {e}")),
        }
    }
    (objects, errors)
}

/// One document against the schema of its kind.
fn parse_object(value: serde_yaml_ng::Value) -> Result<Object, String> {
    let kind = value
        .get("kind")
        .and_then(serde_yaml_ng::Value::as_str)
        .ok_or("no kind")?
        .to_string();
    let invalid = |e: serde_yaml_ng::Error| format!("{kind} does not match our schema: {e}");
    Ok(match kind.as_str() {
        "SpinApp" => Object::SpinApp(serde_yaml_ng::from_value(value).map_err(invalid)?),
        "Secret" => Object::Secret(serde_yaml_ng::from_value(value).map_err(invalid)?),
        "Ingress" => Object::Ingress(serde_yaml_ng::from_value(value).map_err(invalid)?),
        "HorizontalPodAutoscaler" => {
            Object::Hpa(serde_yaml_ng::from_value(value).map_err(invalid)?)
        }
        other => {
            return Err(format!(
                "unknown kind {other:?}: our schema has SpinApp, Secret, Ingress and \
                 HorizontalPodAutoscaler"
            ));
        }
    })
}

fn problems(object: &Object) -> Vec<String> {
    match object {
        Object::SpinApp(o) => o.problems(),
        Object::Secret(o) => o.problems(),
        Object::Ingress(o) => o.problems(),
        Object::Hpa(o) => o.problems(),
    }
}

fn describe(object: &Object) -> String {
    let (kind, meta) = match object {
        Object::SpinApp(o) => ("SpinApp", &o.metadata),
        Object::Secret(o) => ("Secret", &o.metadata),
        Object::Ingress(o) => ("Ingress", &o.metadata),
        Object::Hpa(o) => ("HorizontalPodAutoscaler", &o.metadata),
    };
    format!("{kind} {}/{}", meta.namespace, meta.name)
}

/// Parses the files of one deployment (name, text) and, when every document
/// parses, checks them against each other and `app`. An empty result means
/// the deployment passes.
pub fn validate(app: &SpinManifest, files: &[(String, String)]) -> Vec<String> {
    let mut objects = Vec::new();
    let mut errors = Vec::new();
    for (name, text) in files {
        let (mut parsed, mut failed) = parse_file(name, text);
        objects.append(&mut parsed);
        errors.append(&mut failed);
    }
    if errors.is_empty() {
        errors = check(app, &objects);
    }
    errors
}

/// A deployment under `deploy/spinkube`: one subdirectory, plus the files
/// beside the subdirectories, which every deployment shares.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The subdirectory's name.
    pub name: String,
    /// (path relative to the root, text) of each YAML file.
    pub files: Vec<(String, String)>,
}

/// Reads the deployments under `root`.
pub fn read_deployments(root: &Path) -> std::io::Result<Vec<Deployment>> {
    let mut shared = Vec::new();
    let mut dirs = Vec::new();
    for entry in sorted_entries(root)? {
        if entry.is_dir() {
            dirs.push(entry);
        } else if is_yaml(&entry) {
            shared.push(read_relative(root, &entry)?);
        }
    }
    let mut deployments = Vec::new();
    for dir in dirs {
        let mut files = shared.clone();
        for entry in sorted_entries(&dir)? {
            if entry.is_dir() {
                return Err(std::io::Error::other(format!(
                    "{}: a deployment holds files only",
                    entry.display()
                )));
            }
            if is_yaml(&entry) {
                files.push(read_relative(root, &entry)?);
            }
        }
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        deployments.push(Deployment { name, files });
    }
    Ok(deployments)
}

fn sorted_entries(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut entries = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()?;
    entries.sort();
    Ok(entries)
}

fn is_yaml(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

fn read_relative(root: &Path, path: &Path) -> std::io::Result<(String, String)> {
    let name = path
        .strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned();
    Ok((name, std::fs::read_to_string(path)?))
}

/// The typed objects of a deployment, each with its origin.
struct Objects<'a> {
    apps: Vec<(&'a str, &'a SpinApp)>,
    secrets: Vec<(&'a str, &'a Secret)>,
    ingresses: Vec<(&'a str, &'a Ingress)>,
    hpas: Vec<(&'a str, &'a HorizontalPodAutoscaler)>,
}

impl<'a> Objects<'a> {
    fn new(objects: &'a [Sourced]) -> Self {
        let mut out = Objects {
            apps: Vec::new(),
            secrets: Vec::new(),
            ingresses: Vec::new(),
            hpas: Vec::new(),
        };
        for sourced in objects {
            let origin = sourced.origin.as_str();
            match &sourced.object {
                Object::SpinApp(o) => out.apps.push((origin, o)),
                Object::Secret(o) => out.secrets.push((origin, o)),
                Object::Ingress(o) => out.ingresses.push((origin, o)),
                Object::Hpa(o) => out.hpas.push((origin, o)),
            }
        }
        out
    }

    fn secret(&self, namespace: &str, name: &str) -> Option<&'a Secret> {
        self.secrets
            .iter()
            .map(|(_, s)| *s)
            .find(|s| s.metadata.namespace == namespace && s.metadata.name == name)
    }

    fn app(&self, namespace: &str, name: &str) -> Option<&'a SpinApp> {
        self.apps
            .iter()
            .map(|(_, a)| *a)
            .find(|a| a.metadata.namespace == namespace && a.metadata.name == name)
    }
}

/// Checks a deployment's objects against each other and `app`.
pub fn check(app: &SpinManifest, objects: &[Sourced]) -> Vec<String> {
    let all = Objects::new(objects);
    let mut errors = Vec::new();
    if all.apps.is_empty() {
        errors.push("no SpinApp: nothing would run".to_string());
    }
    if all.ingresses.is_empty() {
        errors.push("no Ingress: nothing would reach the app from outside".to_string());
    }
    unique_names(objects, &mut errors);
    components(app, &all, &mut errors);
    variables(app, &all, &mut errors);
    service_urls(app, &all, &mut errors);
    credential(app, &all, &mut errors);
    stores(app, &all, &mut errors);
    autoscaling(&all, &mut errors);
    ingress(app, &all, &mut errors);
    probes(app, &all, &mut errors);
    images(app, &all, &mut errors);
    errors
}

fn unique_names(objects: &[Sourced], errors: &mut Vec<String>) {
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for sourced in objects {
        let key = describe(&sourced.object);
        if let Some(first) = seen.insert(key.clone(), &sourced.origin) {
            errors.push(format!(
                "{}: {key} is defined twice (also at {first})",
                sourced.origin
            ));
        }
    }
}

/// Every component named exists, and each runs in exactly one SpinApp.
fn components(app: &SpinManifest, all: &Objects, errors: &mut Vec<String>) {
    let ids = app.component_ids();
    let mut runners: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (origin, spin_app) in &all.apps {
        for component in spin_app.spec.components.iter().flatten() {
            if !app.components.contains_key(component) {
                errors.push(format!(
                    "{origin}: component `{component}` is not in spin.toml (it has {})",
                    ids.join(", ")
                ));
            }
        }
        for component in spin_app.runs(&ids) {
            runners
                .entry(component)
                .or_default()
                .push(&spin_app.metadata.name);
        }
    }
    for id in &ids {
        match runners.get(id.as_str()).map(Vec::as_slice) {
            None | Some([]) => errors.push(format!(
                "component `{id}` runs in no SpinApp: its routes would answer nothing"
            )),
            Some([_]) => {}
            Some(many) => errors.push(format!(
                "component `{id}` runs in several SpinApps ({}): one must serve it",
                many.join(", ")
            )),
        }
    }
}

/// The SpinApp that runs `component`, if exactly one does.
fn runner<'a>(app: &SpinManifest, all: &Objects<'a>, component: &str) -> Option<&'a SpinApp> {
    let ids = app.component_ids();
    let mut found = all
        .apps
        .iter()
        .map(|(_, a)| *a)
        .filter(|a| a.runs(&ids).contains(&component));
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

/// Variables exist in spin.toml, secret ones come from Secrets, and every
/// Secret key referred to exists in the app's namespace.
fn variables(app: &SpinManifest, all: &Objects, errors: &mut Vec<String>) {
    for (origin, spin_app) in &all.apps {
        let namespace = &spin_app.metadata.namespace;
        for var in &spin_app.spec.variables {
            let Some(declared) = app.variables.get(&var.name) else {
                errors.push(format!(
                    "{origin}: variable `{}` is not in spin.toml's [variables]",
                    var.name
                ));
                continue;
            };
            if declared.secret && var.value.is_some() {
                errors.push(format!(
                    "{origin}: variable `{}` is secret in spin.toml: take it from a Secret \
                     (valueFrom.secretKeyRef), not a value in the manifest",
                    var.name
                ));
            }
            if let Some(source) = &var.value_from {
                let selector = &source.secret_key_ref;
                match all.secret(namespace, &selector.name) {
                    None => errors.push(format!(
                        "{origin}: variable `{}` reads Secret `{}`, which is not defined in \
                         namespace `{namespace}`",
                        var.name, selector.name
                    )),
                    Some(secret) if !secret.has_key(&selector.key) => errors.push(format!(
                        "{origin}: variable `{}` reads key `{}` of Secret `{}`, which has no \
                         such key",
                        var.name, selector.key, selector.name
                    )),
                    Some(_) => {}
                }
            }
        }
    }
}

/// Where the split services reach each other: every `<component>_service_url`
/// that a SpinApp's components use for a component it does not run is set,
/// and each one set names the Service of the SpinApp that runs it.
fn service_urls(app: &SpinManifest, all: &Objects, errors: &mut Vec<String>) {
    let ids = app.component_ids();
    for (origin, spin_app) in &all.apps {
        let runs = spin_app.runs(&ids);
        let mut needed: Vec<&str> = runs
            .iter()
            .filter_map(|c| app.components.get(*c))
            .flat_map(|c| &c.uses_variables)
            .map(String::as_str)
            .collect();
        needed.sort();
        needed.dedup();
        for variable in needed {
            let Some(target) = url_target(app, variable) else {
                continue;
            };
            if !runs.contains(&target) && spin_app.variable(variable).is_none() {
                errors.push(format!(
                    "{origin}: `{variable}` is not set, and this SpinApp does not run \
                     `{target}`, so its default (service chaining) reaches nothing"
                ));
            }
        }
        for var in &spin_app.spec.variables {
            let Some(target) = url_target(app, &var.name) else {
                continue;
            };
            let Some(url) = &var.value else {
                errors.push(format!(
                    "{origin}: `{}` must be a value in the manifest (a Service URL is not a \
                     secret), so that it can be checked",
                    var.name
                ));
                continue;
            };
            let Some(serving) = runner(app, all, target) else {
                continue;
            };
            if let Err(why) = names_service(url, serving) {
                errors.push(format!(
                    "{origin}: `{}` = {url:?} does not reach SpinApp `{}`, which runs \
                     `{target}`: {why}",
                    var.name, serving.metadata.name
                ));
            }
        }
    }
}

/// The component a `<component>_service_url` variable points at.
fn url_target<'a>(app: &SpinManifest, variable: &'a str) -> Option<&'a str> {
    let target = variable.strip_suffix("_service_url")?;
    app.components.contains_key(target).then_some(target)
}

/// Whether `url` is `http://<name>[.<namespace>[.svc…]][:80]` for the
/// Service of `spin_app`.
fn names_service(url: &str, spin_app: &SpinApp) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("the operator's Services speak plain http")?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains('/') {
        return Err("a service URL has no path".into());
    }
    let host = match authority.split_once(':') {
        Some((host, port)) if port == SPINAPP_SERVICE_PORT.to_string() => host,
        Some((_, port)) => return Err(format!("the Service listens on port 80, not {port}")),
        None => authority,
    };
    let mut labels = host.split('.');
    let name = labels.next().unwrap_or_default();
    if name != spin_app.metadata.name {
        return Err(format!("it names Service `{name}`"));
    }
    if let Some(namespace) = labels.next()
        && namespace != spin_app.metadata.namespace
    {
        return Err(format!("it names namespace `{namespace}`"));
    }
    if let Some(next) = labels.next()
        && next != "svc"
    {
        return Err(format!("`{host}` is not a Service host name"));
    }
    Ok(())
}

/// Apps that run apart share one non-default credential from one Secret key.
fn credential(app: &SpinManifest, all: &Objects, errors: &mut Vec<String>) {
    const NAME: &str = "service_credential";
    let ids = app.component_ids();
    let default = app.variables.get(NAME).and_then(|v| v.default.clone());
    let mut sources = Vec::new();
    for (origin, spin_app) in &all.apps {
        // A SpinApp apart from the others whose components use the
        // credential (the web client does not).
        let runs = spin_app.runs(&ids);
        let uses = runs
            .iter()
            .filter_map(|c| app.components.get(*c))
            .any(|c| c.uses_variables.iter().any(|v| v == NAME));
        let split = uses && runs.len() < ids.len();
        match spin_app.variable(NAME).and_then(|v| v.value_from.as_ref()) {
            Some(source) => {
                let selector = &source.secret_key_ref;
                sources.push((selector.name.clone(), selector.key.clone()));
                let value = all
                    .secret(&spin_app.metadata.namespace, &selector.name)
                    .and_then(|s| s.value(&selector.key));
                if value.is_some() && value == default {
                    errors.push(format!(
                        "{origin}: `{NAME}` is spin.toml's default, which services that run \
                         apart refuse"
                    ));
                }
            }
            None if split => errors.push(format!(
                "{origin}: this SpinApp runs only some components, so the services reach each \
                 other over the network and need `{NAME}` from a Secret"
            )),
            None => {}
        }
    }
    sources.sort();
    sources.dedup();
    if sources.len() > 1 {
        errors.push(format!(
            "`{NAME}` comes from different Secret keys ({sources:?}): every service must hold \
             the same one"
        ));
    }
}

/// Every store label that a SpinApp's components use is defined in its
/// runtime config, on a networked backend, one database per SQLite label.
fn stores(app: &SpinManifest, all: &Objects, errors: &mut Vec<String>) {
    let ids = app.component_ids();
    for (origin, spin_app) in &all.apps {
        let runs = spin_app.runs(&ids);
        // A label that two components of one service use (the post and its
        // relay) is one store.
        let sqlite: BTreeSet<&String> = runs
            .iter()
            .filter_map(|c| app.components.get(*c))
            .flat_map(|c| &c.sqlite_databases)
            .collect();
        let key_value: BTreeSet<&String> = runs
            .iter()
            .filter_map(|c| app.components.get(*c))
            .flat_map(|c| &c.key_value_stores)
            .collect();
        if sqlite.is_empty() && key_value.is_empty() {
            continue;
        }
        let Some(config) = &spin_app.spec.runtime_config else {
            errors.push(format!(
                "{origin}: no runtimeConfig, so its stores would be files in each pod, which \
                 replicas do not share"
            ));
            continue;
        };
        let namespace = &spin_app.metadata.namespace;
        let Some(secret) = all.secret(namespace, &config.load_from_secret) else {
            errors.push(format!(
                "{origin}: runtimeConfig.loadFromSecret names Secret `{}`, which is not defined \
                 in namespace `{namespace}`",
                config.load_from_secret
            ));
            continue;
        };
        let Some(text) = secret.value(RUNTIME_CONFIG_KEY) else {
            errors.push(format!(
                "{origin}: Secret `{}` has no key `{RUNTIME_CONFIG_KEY}`",
                config.load_from_secret
            ));
            continue;
        };
        let runtime: toml::Table = match toml::from_str(&text) {
            Ok(table) => table,
            Err(e) => {
                errors.push(format!(
                    "{origin}: the runtime config in Secret `{}` is not TOML: {e}",
                    config.load_from_secret
                ));
                continue;
            }
        };
        let mut urls: BTreeMap<String, &str> = BTreeMap::new();
        for label in sqlite {
            match store(&runtime, "sqlite_database", label) {
                None => errors.push(format!(
                    "{origin}: the runtime config does not define SQLite label `{label}`"
                )),
                Some(entry) if field(entry, "type") != Some("libsql") => errors.push(format!(
                    "{origin}: SQLite label `{label}` must be networked (type = \"libsql\"), \
                     not {:?}",
                    field(entry, "type").unwrap_or("missing")
                )),
                Some(entry) => {
                    let url = field(entry, "url").unwrap_or_default();
                    if url.is_empty() || field(entry, "token").is_none() {
                        errors.push(format!(
                            "{origin}: SQLite label `{label}` needs a url and a token"
                        ));
                    } else if let Some(other) = urls.insert(url.to_string(), label) {
                        errors.push(format!(
                            "{origin}: SQLite labels `{other}` and `{label}` share database \
                             {url:?}: each service owns its own"
                        ));
                    }
                }
            }
        }
        for label in key_value {
            match store(&runtime, "key_value_store", label) {
                None => errors.push(format!(
                    "{origin}: the runtime config does not define key-value label `{label}`"
                )),
                Some(entry) => {
                    let kind = field(entry, "type").unwrap_or("missing");
                    let url = field(entry, "url").unwrap_or_default();
                    if !NETWORKED_KEY_VALUE.contains(&kind) {
                        errors.push(format!(
                            "{origin}: key-value label `{label}` must be networked (type = \
                             \"redis\"), not {kind:?}"
                        ));
                    } else if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                        errors.push(format!(
                            "{origin}: key-value label `{label}` needs a redis:// url"
                        ));
                    }
                }
            }
        }
    }
}

fn store<'a>(runtime: &'a toml::Table, section: &str, label: &str) -> Option<&'a toml::Table> {
    runtime.get(section)?.as_table()?.get(label)?.as_table()
}

fn field<'a>(entry: &'a toml::Table, name: &str) -> Option<&'a str> {
    entry.get(name)?.as_str()
}

/// Each autoscaler targets the Deployment of an autoscaled SpinApp, whose
/// pods request what it scales on; each autoscaled SpinApp has one.
fn autoscaling(all: &Objects, errors: &mut Vec<String>) {
    let mut targeted: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for (origin, hpa) in &all.hpas {
        let namespace = hpa.metadata.namespace.as_str();
        let target = hpa.spec.scale_target_ref.name.as_str();
        let Some(spin_app) = all.app(namespace, target) else {
            errors.push(format!(
                "{origin}: targets Deployment `{target}`, which no SpinApp in namespace \
                 `{namespace}` creates"
            ));
            continue;
        };
        *targeted.entry((namespace, target)).or_default() += 1;
        if !spin_app.spec.enable_autoscaling {
            errors.push(format!(
                "{origin}: SpinApp `{target}` does not set enableAutoscaling, so the operator \
                 would undo every change of the replica count"
            ));
        }
        for metric in &hpa.spec.metrics {
            let resource = metric.resource.name;
            let requested = spin_app
                .spec
                .resources
                .as_ref()
                .is_some_and(|r| r.requests.contains_key(&resource));
            if !requested {
                errors.push(format!(
                    "{origin}: scales on {resource:?} utilization, but SpinApp `{target}` \
                     requests no {resource:?}, so there is nothing to measure it against"
                ));
            }
        }
    }
    for (origin, spin_app) in &all.apps {
        if !spin_app.spec.enable_autoscaling {
            continue;
        }
        let key = (
            spin_app.metadata.namespace.as_str(),
            spin_app.metadata.name.as_str(),
        );
        match targeted.get(&key) {
            None => errors.push(format!(
                "{origin}: enableAutoscaling is set, but no HorizontalPodAutoscaler targets \
                 Deployment `{}`",
                spin_app.metadata.name
            )),
            Some(1) => {}
            Some(n) => errors.push(format!(
                "{origin}: {n} HorizontalPodAutoscalers target Deployment `{}`",
                spin_app.metadata.name
            )),
        }
    }
}

/// The web client's component (components/web). Run apart from the
/// services, it forwards every other component's routes to that
/// component's `<component>_service_url`, so the browser needs one origin.
pub const FORWARDER: &str = "web";

/// Each Ingress backend is a SpinApp's Service, and each route of spin.toml
/// reaches the SpinApp that runs its component, or one that runs the
/// [`FORWARDER`] and sets where that component is (which [`service_urls`]
/// checks).
fn ingress(app: &SpinManifest, all: &Objects, errors: &mut Vec<String>) {
    let ids = app.component_ids();
    let mut rules: Vec<(&str, PathType, &SpinApp)> = Vec::new();
    for (origin, ingress) in &all.ingresses {
        let namespace = &ingress.metadata.namespace;
        for path in ingress.spec.rules.iter().flat_map(|r| &r.http.paths) {
            let service = &path.backend.service;
            let Some(spin_app) = all.app(namespace, &service.name) else {
                errors.push(format!(
                    "{origin}: path {:?} goes to Service `{}`, which no SpinApp in namespace \
                     `{namespace}` creates",
                    path.path, service.name
                ));
                continue;
            };
            if service.port.number != SPINAPP_SERVICE_PORT {
                errors.push(format!(
                    "{origin}: path {:?} goes to port {}, but a SpinApp's Service listens on \
                     {SPINAPP_SERVICE_PORT}",
                    path.path, service.port.number
                ));
            }
            rules.push((&path.path, path.path_type, spin_app));
        }
    }
    for route in &app.routes {
        for sample in route.sample_paths() {
            match best_rule(&rules, &sample) {
                None => errors.push(format!(
                    "route `{}` ({sample}) matches no Ingress path",
                    route.route
                )),
                Some(spin_app)
                    if !spin_app.runs(&ids).contains(&route.component.as_str())
                        && !forwards(spin_app, &ids, &route.component) =>
                {
                    errors.push(format!(
                        "route `{}` ({sample}) goes to SpinApp `{}`, which does not run \
                         `{}`",
                        route.route, spin_app.metadata.name, route.component
                    ))
                }
                Some(_) => {}
            }
        }
    }
}

/// Whether `spin_app` forwards the routes of `component`: it runs the
/// [`FORWARDER`] and sets `<component>_service_url`.
fn forwards(spin_app: &SpinApp, ids: &[String], component: &str) -> bool {
    spin_app.runs(ids).contains(&FORWARDER)
        && spin_app
            .variable(&format!("{component}_service_url"))
            .is_some()
}

/// The backend an Ingress picks for `path`: the longest matching path, an
/// Exact one before a Prefix one of the same length.
fn best_rule<'a>(rules: &[(&str, PathType, &'a SpinApp)], path: &str) -> Option<&'a SpinApp> {
    rules
        .iter()
        .filter(|(rule, kind, _)| ingress_matches(rule, *kind, path))
        .max_by_key(|(rule, kind, _)| (rule.trim_end_matches('/').len(), *kind == PathType::Exact))
        .map(|(_, _, spin_app)| *spin_app)
}

/// Kubernetes' path matching: Exact is equality; Prefix matches whole
/// `/`-separated elements, ignoring a trailing `/`.
pub fn ingress_matches(rule: &str, kind: PathType, path: &str) -> bool {
    match kind {
        PathType::Exact => rule == path,
        PathType::Prefix => {
            let base = rule.trim_end_matches('/');
            base.is_empty() || path == base || path.starts_with(&format!("{base}/"))
        }
    }
}

/// Probes reach a route of a component the SpinApp runs, and every SpinApp
/// has a readiness probe: besides readiness, it is what delivers pending
/// events when nobody writes.
fn probes(app: &SpinManifest, all: &Objects, errors: &mut Vec<String>) {
    let ids = app.component_ids();
    for (origin, spin_app) in &all.apps {
        let checks = spin_app.spec.checks.as_ref();
        if checks.and_then(|c| c.readiness.as_ref()).is_none() {
            errors.push(format!(
                "{origin}: no readiness probe: point one at a /health/<service> route, which \
                 also delivers pending events"
            ));
        }
        let probes = checks
            .into_iter()
            .flat_map(|c| [("readiness", &c.readiness), ("liveness", &c.liveness)]);
        for (which, probe) in probes {
            let Some(probe) = probe else { continue };
            let path = &probe.http_get.path;
            match app.component_for(path) {
                Some(component) if spin_app.runs(&ids).contains(&component) => {}
                Some(component) => errors.push(format!(
                    "{origin}: the {which} probe's {path} is served by `{component}`, which this \
                     SpinApp does not run"
                )),
                None => errors.push(format!(
                    "{origin}: the {which} probe's {path} is no route of spin.toml"
                )),
            }
        }
    }
}

/// One build everywhere, tagged with spin.toml's version.
fn images(app: &SpinManifest, all: &Objects, errors: &mut Vec<String>) {
    let mut images: Vec<&str> = all
        .apps
        .iter()
        .map(|(_, a)| a.spec.image.as_str())
        .collect();
    images.sort();
    images.dedup();
    if images.len() > 1 {
        errors.push(format!(
            "the SpinApps run different images ({}): deploy one build",
            images.join(", ")
        ));
    }
    for (origin, spin_app) in &all.apps {
        let tag = crate::schema::image_tag(&spin_app.spec.image);
        if tag.is_some_and(|t| t != app.version) {
            errors.push(format!(
                "{origin}: image {:?} is not tagged with spin.toml's version {}",
                spin_app.spec.image, app.version
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_paths_match_whole_elements_and_exact_paths_only_themselves() {
        assert!(ingress_matches("/users", PathType::Prefix, "/users"));
        assert!(ingress_matches("/users", PathType::Prefix, "/users/me"));
        assert!(ingress_matches("/users/", PathType::Prefix, "/users"));
        assert!(!ingress_matches("/users", PathType::Prefix, "/usersx"));
        assert!(ingress_matches("/", PathType::Prefix, "/anything"));
        assert!(ingress_matches("/feed", PathType::Exact, "/feed"));
        assert!(!ingress_matches("/feed", PathType::Exact, "/feed/x"));
    }
}
