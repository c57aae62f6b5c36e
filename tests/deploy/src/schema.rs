//! Our schema: the fields and types of each kind that the manifests use, and
//! nothing else. Unknown fields are refused (`deny_unknown_fields`), closed
//! sets are enums, and what serde cannot say (one field or the other, ranges,
//! formats) is checked by each kind's `problems`.
//!
//! `SpinApp` follows the SpinApp CRD of spinkube/spin-operator,
//! `config/crd/bases/core.spinkube.dev_spinapps.yaml` at commit
//! `1831bc6050b7c8b06da4fd2ae5e1ec79aadd60af` (group `core.spinkube.dev`,
//! version `v1alpha1`; `spec.executor` and `spec.image` required,
//! `components` at least one item, integers `int32`, probe fields with the
//! CRD's names). The operator at that commit names the Deployment and the
//! Service of an app after the SpinApp, and the Service listens on port 80.
//! `Secret`, `Ingress` and `HorizontalPodAutoscaler` follow the Kubernetes
//! APIs `v1`, `networking.k8s.io/v1` and `autoscaling/v2`.

use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;

/// The name, namespace and annotations of an object. The namespace is
/// required: references between objects hold only within one namespace.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectMeta {
    /// The object's name.
    pub name: String,
    /// The object's namespace.
    pub namespace: String,
    /// Labels, if any.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations, if any.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// `apiVersion` of a SpinApp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SpinAppVersion {
    /// The only version the CRD serves.
    #[serde(rename = "core.spinkube.dev/v1alpha1")]
    V1Alpha1,
}

/// `kind: SpinApp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SpinAppKind {
    /// The only value.
    SpinApp,
}

/// A Spin application run by the spin-operator.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SpinApp {
    /// `core.spinkube.dev/v1alpha1`.
    pub api_version: SpinAppVersion,
    /// `SpinApp`.
    pub kind: SpinAppKind,
    /// Name and namespace; also the names of the Deployment and Service.
    pub metadata: ObjectMeta,
    /// What to run, and how.
    pub spec: SpinAppSpec,
}

/// `SpinApp.spec`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SpinAppSpec {
    /// The OCI reference of the app (`spin registry push`).
    pub image: String,
    /// The SpinAppExecutor that runs it.
    pub executor: Executor,
    /// The replica count; not allowed together with `enableAutoscaling`.
    pub replicas: Option<i32>,
    /// Leaves the replica count to an autoscaler (the CRD's default: false).
    #[serde(default)]
    pub enable_autoscaling: bool,
    /// The components to run; all of them when absent.
    pub components: Option<Vec<String>>,
    /// Values of Spin application variables.
    #[serde(default)]
    pub variables: Vec<SpinVar>,
    /// Where the runtime config comes from.
    pub runtime_config: Option<RuntimeConfig>,
    /// Kubernetes probes of the app.
    pub checks: Option<Checks>,
    /// Resource requests and limits of each pod.
    pub resources: Option<Resources>,
}

/// The executors we deploy with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Executor {
    /// Spin's containerd shim, through the `wasmtime-spin-v2` RuntimeClass.
    #[serde(rename = "containerd-shim-spin")]
    ContainerdShimSpin,
}

/// One entry of `spec.variables`: a static value or a Secret's key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SpinVar {
    /// The Spin variable (a key of spin.toml's `[variables]`).
    pub name: String,
    /// A static value.
    pub value: Option<String>,
    /// A value read from a Secret.
    pub value_from: Option<VarSource>,
}

/// `valueFrom` of a variable. Of the CRD's sources we use only Secrets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VarSource {
    /// The Secret and key that hold the value.
    pub secret_key_ref: SecretKeySelector,
}

/// A key of a Secret in the app's namespace.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretKeySelector {
    /// The Secret's name.
    pub name: String,
    /// The key within it.
    pub key: String,
}

/// `spec.runtimeConfig`. Of the CRD's fields we use only a whole
/// `runtime-config.toml` held in a Secret.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuntimeConfig {
    /// A Secret with the key `runtime-config.toml`.
    pub load_from_secret: String,
}

/// The key under which `loadFromSecret` finds the runtime config.
pub const RUNTIME_CONFIG_KEY: &str = "runtime-config.toml";

/// `spec.checks`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checks {
    /// Takes a pod out of its Service while failing.
    pub readiness: Option<Probe>,
    /// Restarts a pod that keeps failing.
    pub liveness: Option<Probe>,
}

/// A health probe (the CRD's `HealthProbe`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Probe {
    /// The GET request to send to the app's port.
    pub http_get: HttpGet,
    /// Seconds before the first probe.
    pub initial_delay_seconds: Option<i32>,
    /// Seconds between probes.
    pub period_seconds: Option<i32>,
    /// Seconds before a probe times out.
    pub timeout_seconds: Option<i32>,
    /// Consecutive failures that count as failed.
    pub failure_threshold: Option<i32>,
    /// Consecutive successes that count as succeeded.
    pub success_threshold: Option<i32>,
}

/// `httpGet` of a probe.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpGet {
    /// The request path.
    pub path: String,
}

/// `spec.resources`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// Guaranteed resources; what utilization targets are relative to.
    #[serde(default)]
    pub requests: BTreeMap<ResourceName, Quantity>,
    /// Upper bounds.
    #[serde(default)]
    pub limits: BTreeMap<ResourceName, Quantity>,
}

/// The resources we request, and autoscale on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourceName {
    /// CPU, in cores.
    Cpu,
    /// Memory, in bytes.
    Memory,
}

/// A Kubernetes quantity (`100m`, `128Mi`, `2`), as a string or an integer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quantity(pub String);

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Whole(u64),
        }
        let text = match Raw::deserialize(deserializer) {
            Ok(Raw::Text(text)) => text,
            Ok(Raw::Whole(n)) => n.to_string(),
            Err(_) => {
                return Err(serde::de::Error::custom(
                    "a quantity is a string such as \"100m\" or \"128Mi\", or a whole number",
                ));
            }
        };
        if is_quantity(&text) {
            Ok(Quantity(text))
        } else {
            Err(serde::de::Error::custom(format!(
                "invalid quantity {text:?} (expected e.g. \"100m\" or \"128Mi\")"
            )))
        }
    }
}

/// A decimal number with an optional Kubernetes suffix; the CRD's pattern
/// without signs or exponents, which we do not use.
fn is_quantity(text: &str) -> bool {
    const SUFFIXES: [&str; 12] = [
        "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "m", "k", "M", "G", "T", "P",
    ];
    let number = SUFFIXES
        .iter()
        .find_map(|suffix| text.strip_suffix(suffix))
        .unwrap_or(text);
    let mut parts = number.splitn(2, '.');
    let whole = parts.next().unwrap_or_default();
    let fraction = parts.next();
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    !number.is_empty()
        && digits(whole)
        && fraction.is_none_or(digits)
        && (!whole.is_empty() || fraction.is_some_and(|f| !f.is_empty()))
}

/// `apiVersion: v1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum CoreVersion {
    /// The only value.
    #[serde(rename = "v1")]
    V1,
}

/// `kind: Secret`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SecretKind {
    /// The only value.
    Secret,
}

/// The Secret types we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SecretType {
    /// Arbitrary keys and values.
    Opaque,
}

/// A Secret: variables or a runtime config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Secret {
    /// `v1`.
    pub api_version: CoreVersion,
    /// `Secret`.
    pub kind: SecretKind,
    /// Name and namespace.
    pub metadata: ObjectMeta,
    /// `Opaque` (also the default).
    #[serde(rename = "type")]
    pub secret_type: Option<SecretType>,
    /// Values, base64-encoded.
    #[serde(default)]
    pub data: BTreeMap<String, String>,
    /// Values as plain text.
    #[serde(default)]
    pub string_data: BTreeMap<String, String>,
}

impl Secret {
    /// The value under `key`, decoded; `None` when the Secret lacks the key
    /// or its `data` is not base64 of UTF-8 text.
    pub fn value(&self, key: &str) -> Option<String> {
        use base64::Engine;
        if let Some(text) = self.string_data.get(key) {
            return Some(text.clone());
        }
        let encoded = self.data.get(key)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        String::from_utf8(bytes).ok()
    }

    /// Whether the Secret has `key`.
    pub fn has_key(&self, key: &str) -> bool {
        self.string_data.contains_key(key) || self.data.contains_key(key)
    }
}

/// `apiVersion: networking.k8s.io/v1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum NetworkingVersion {
    /// The only value.
    #[serde(rename = "networking.k8s.io/v1")]
    V1,
}

/// `kind: Ingress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum IngressKind {
    /// The only value.
    Ingress,
}

/// An Ingress: the public paths and the Services behind them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Ingress {
    /// `networking.k8s.io/v1`.
    pub api_version: NetworkingVersion,
    /// `Ingress`.
    pub kind: IngressKind,
    /// Name and namespace.
    pub metadata: ObjectMeta,
    /// The rules.
    pub spec: IngressSpec,
}

/// `Ingress.spec`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IngressSpec {
    /// The IngressClass, i.e. which controller serves it.
    pub ingress_class_name: Option<String>,
    /// Path rules, for any host.
    pub rules: Vec<IngressRule>,
}

/// One rule (we use no host names: each rule applies to every host).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngressRule {
    /// The HTTP paths.
    pub http: HttpRule,
}

/// `rules[].http`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpRule {
    /// The paths and their backends.
    pub paths: Vec<IngressPath>,
}

/// A path and the Service it goes to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IngressPath {
    /// The path, starting with `/`.
    pub path: String,
    /// How it matches.
    pub path_type: PathType,
    /// Where matching requests go.
    pub backend: IngressBackend,
}

/// The portable path types. (`ImplementationSpecific` means something
/// different to each controller, so we do not use it.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum PathType {
    /// The path itself only.
    Exact,
    /// The path and everything under it, by `/`-separated elements.
    Prefix,
}

/// `backend` of a path.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngressBackend {
    /// The Service.
    pub service: ServiceBackend,
}

/// A Service and port.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceBackend {
    /// The Service's name (in the Ingress's namespace).
    pub name: String,
    /// Its port.
    pub port: ServicePort,
}

/// A Service port by number (the operator's Service port has no name).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicePort {
    /// The port number.
    pub number: i32,
}

/// `apiVersion: autoscaling/v2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum AutoscalingVersion {
    /// The only value.
    #[serde(rename = "autoscaling/v2")]
    V2,
}

/// `kind: HorizontalPodAutoscaler`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum HpaKind {
    /// The only value.
    HorizontalPodAutoscaler,
}

/// An autoscaler of the Deployment behind a SpinApp.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HorizontalPodAutoscaler {
    /// `autoscaling/v2`.
    pub api_version: AutoscalingVersion,
    /// `HorizontalPodAutoscaler`.
    pub kind: HpaKind,
    /// Name and namespace.
    pub metadata: ObjectMeta,
    /// What to scale, between which bounds, on what.
    pub spec: HpaSpec,
}

/// `HorizontalPodAutoscaler.spec`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HpaSpec {
    /// The Deployment to scale.
    pub scale_target_ref: ScaleTarget,
    /// The fewest replicas (required here: Kubernetes' default is 1).
    pub min_replicas: i32,
    /// The most replicas.
    pub max_replicas: i32,
    /// What to scale on.
    pub metrics: Vec<Metric>,
}

/// `scaleTargetRef`: a Deployment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScaleTarget {
    /// `apps/v1`.
    pub api_version: AppsVersion,
    /// `Deployment`.
    pub kind: DeploymentKind,
    /// The Deployment's name: the SpinApp's.
    pub name: String,
}

/// `apps/v1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum AppsVersion {
    /// The only value.
    #[serde(rename = "apps/v1")]
    V1,
}

/// `Deployment`: what the operator creates for a SpinApp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum DeploymentKind {
    /// The only value.
    Deployment,
}

/// A metric to scale on; we scale on the pods' own resources.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    /// `Resource`.
    #[serde(rename = "type")]
    pub metric_type: MetricType,
    /// Which resource, and its target.
    pub resource: ResourceMetric,
}

/// The metric types we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum MetricType {
    /// A resource of the pods (CPU, memory).
    Resource,
}

/// `metrics[].resource`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceMetric {
    /// The resource.
    pub name: ResourceName,
    /// Its target.
    pub target: MetricTarget,
}

/// A utilization target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MetricTarget {
    /// `Utilization`.
    #[serde(rename = "type")]
    pub target_type: TargetType,
    /// Percent of the pods' request.
    pub average_utilization: i32,
}

/// The target types we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum TargetType {
    /// Percent of the requested amount, averaged over the pods.
    Utilization,
}

/// Whether `name` is a DNS-1035 label: what a Service name must be, and so
/// a SpinApp's.
pub fn is_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_lowercase()
        && bytes[bytes.len() - 1] != b'-'
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

impl SpinApp {
    /// What the CRD or the operator would refuse or misread, beyond types.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let spec = &self.spec;
        if !is_dns_label(&self.metadata.name) {
            out.push(format!(
                "name {:?} is not a DNS label, which the Service named after it needs",
                self.metadata.name
            ));
        }
        if image_tag(&spec.image).is_none() {
            out.push(format!(
                "image {:?} has no tag: name the version you pushed",
                spec.image
            ));
        }
        match (spec.enable_autoscaling, spec.replicas) {
            (true, Some(_)) => out.push(
                "replicas cannot be set with enableAutoscaling: the autoscaler owns the count"
                    .into(),
            ),
            (false, None) => out.push(
                "replicas is required without enableAutoscaling (the operator would run 0)".into(),
            ),
            (false, Some(n)) if n < 1 => out.push(format!("replicas {n} is below 1")),
            _ => {}
        }
        if spec.components.as_ref().is_some_and(Vec::is_empty) {
            out.push("components needs at least one item (omit it to run all)".into());
        }
        let mut seen = Vec::new();
        for var in &spec.variables {
            if seen.contains(&&var.name) {
                out.push(format!("variable `{}` is set twice", var.name));
            }
            seen.push(&var.name);
            if var.value.is_some() == var.value_from.is_some() {
                out.push(format!(
                    "variable `{}` needs exactly one of value and valueFrom",
                    var.name
                ));
            }
        }
        if let Some(config) = &spec.runtime_config
            && config.load_from_secret.is_empty()
        {
            out.push("runtimeConfig.loadFromSecret is empty".into());
        }
        if let Some(checks) = &spec.checks {
            for (which, probe) in [
                ("readiness", &checks.readiness),
                ("liveness", &checks.liveness),
            ] {
                let Some(probe) = probe else { continue };
                if !probe.http_get.path.starts_with('/') {
                    out.push(format!("{which} probe path must start with /"));
                }
                if probe.initial_delay_seconds.is_some_and(|v| v < 0) {
                    out.push(format!("{which} probe initialDelaySeconds is negative"));
                }
                for (field, value) in [
                    ("periodSeconds", probe.period_seconds),
                    ("timeoutSeconds", probe.timeout_seconds),
                    ("failureThreshold", probe.failure_threshold),
                    ("successThreshold", probe.success_threshold),
                ] {
                    if value.is_some_and(|v| v < 1) {
                        out.push(format!("{which} probe {field} is below 1"));
                    }
                }
                if which == "liveness" && probe.success_threshold.is_some_and(|v| v != 1) {
                    out.push("liveness probe successThreshold must be 1".into());
                }
            }
        }
        out
    }

    /// The components this app runs, given all of spin.toml's.
    pub fn runs<'a>(&'a self, all: &'a [String]) -> Vec<&'a str> {
        match &self.spec.components {
            Some(selected) => selected.iter().map(String::as_str).collect(),
            None => all.iter().map(String::as_str).collect(),
        }
    }

    /// The variable entry named `name`, if set.
    pub fn variable(&self, name: &str) -> Option<&SpinVar> {
        self.spec.variables.iter().find(|v| v.name == name)
    }
}

/// The tag of an image reference, if it has one.
pub fn image_tag(image: &str) -> Option<&str> {
    let last = image.rsplit('/').next()?;
    let (_, tag) = last.split_once(':')?;
    (!tag.is_empty() && !image.contains('@')).then_some(tag)
}

impl Secret {
    /// What Kubernetes would refuse, beyond types.
    pub fn problems(&self) -> Vec<String> {
        use base64::Engine;
        let mut out = Vec::new();
        for key in self.data.keys().chain(self.string_data.keys()) {
            let valid = !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !valid {
                out.push(format!("key {key:?} is not a valid Secret key"));
            }
        }
        for (key, encoded) in &self.data {
            if base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .is_err()
            {
                out.push(format!("data `{key}` is not base64"));
            }
        }
        out
    }
}

impl Ingress {
    /// What Kubernetes or ingress-nginx would refuse, beyond types.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for path in self.spec.rules.iter().flat_map(|r| &r.http.paths) {
            // ingress-nginx (strict-validate-path-type, on by default since
            // 1.12) refuses any other character in Exact and Prefix paths.
            let strict = path.path.starts_with('/')
                && path
                    .path
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-'));
            if !strict {
                out.push(format!(
                    "path {:?} may hold only letters, digits, '/', '_' and '-' (ingress-nginx \
                     refuses others in {:?} paths)",
                    path.path, path.path_type
                ));
            }
            let port = path.backend.service.port.number;
            if !(1..=65535).contains(&port) {
                out.push(format!("port {port} is out of range"));
            }
        }
        out
    }
}

impl HorizontalPodAutoscaler {
    /// What Kubernetes would refuse, beyond types.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let spec = &self.spec;
        if spec.min_replicas < 1 {
            out.push(format!("minReplicas {} is below 1", spec.min_replicas));
        }
        if spec.max_replicas < spec.min_replicas {
            out.push(format!(
                "maxReplicas {} is below minReplicas {}",
                spec.max_replicas, spec.min_replicas
            ));
        }
        if spec.metrics.is_empty() {
            out.push("metrics is empty: name what to scale on".into());
        }
        for metric in &spec.metrics {
            if metric.resource.target.average_utilization < 1 {
                out.push("averageUtilization is below 1".into());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_take_the_kubernetes_suffixes_and_refuse_words() {
        for good in ["100m", "128Mi", "2", "0.5", "1Gi", ".5"] {
            assert!(is_quantity(good), "{good}");
        }
        for bad in ["", "m", "lots", "1.2.3", "12 Mi", "1mi", "."] {
            assert!(!is_quantity(bad), "{bad}");
        }
    }

    #[test]
    fn service_names_must_be_dns_labels() {
        assert!(is_dns_label("social-user"));
        for bad in ["Social", "1social", "social-", "social_user", ""] {
            assert!(!is_dns_label(bad), "{bad}");
        }
    }

    #[test]
    fn image_tags_are_read_after_the_last_slash() {
        assert_eq!(image_tag("ghcr.io/a/social:0.1.0"), Some("0.1.0"));
        assert_eq!(image_tag("localhost:5000/social:1"), Some("1"));
        assert_eq!(image_tag("localhost:5000/social"), None);
        assert_eq!(image_tag("ghcr.io/a/social@sha256:abc"), None);
    }
}
