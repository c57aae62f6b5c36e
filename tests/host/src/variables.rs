//! Application and component variables, resolved once at startup.
//!
//! Providers, strongest first: explicit overrides (`--variable`), then
//! `SPIN_VARIABLE_<NAME>` environment variables, then manifest defaults.

use crate::manifest::{Manifest, check_variable_name};
use anyhow::{Result, bail};
use std::collections::{BTreeMap, HashMap};

/// Resolved application variables.
#[derive(Debug, Clone, Default)]
pub struct AppVariables {
    values: HashMap<String, String>,
}

impl AppVariables {
    /// Resolves every application variable; a required one without a value fails startup.
    pub fn resolve(
        manifest: &Manifest,
        overrides: &BTreeMap<String, String>,
        env: &HashMap<String, String>,
    ) -> Result<Self> {
        let mut values = HashMap::new();
        let mut missing = Vec::new();
        for (name, decl) in &manifest.variables {
            let env_name = format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase());
            let value = overrides
                .get(name)
                .or_else(|| env.get(&env_name))
                .or(decl.default.as_ref());
            match value {
                Some(v) => {
                    values.insert(name.clone(), v.clone());
                }
                None => missing.push(format!("Key({name:?})")),
            }
        }
        if !missing.is_empty() {
            bail!(
                "provider error: no provider resolved required variable(s): [{}]",
                missing.join(", ")
            );
        }
        Ok(Self { values })
    }

    /// Expands `{{ name }}` templates against the application variables.
    pub fn expand(&self, template: &str) -> Result<String> {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                bail!("invalid variable template {template:?}: unclosed '{{{{'");
            };
            let name = after[..end].trim();
            match self.values.get(name) {
                Some(v) => out.push_str(v),
                None => bail!("invalid variable template: unknown variable {name:?}"),
            }
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// What a guest's `variables::get` can fail with.
#[derive(Debug, PartialEq)]
pub enum GetError {
    /// The name breaks Spin's naming rule.
    InvalidName(String),
    /// The component has no such variable.
    Undefined(String),
}

/// One component's variables, already expanded.
#[derive(Debug, Clone, Default)]
pub struct ComponentVariables {
    component: String,
    values: HashMap<String, String>,
}

impl ComponentVariables {
    /// Expands a component's variable templates; an unknown variable fails startup.
    pub fn resolve(
        component: &str,
        templates: &BTreeMap<String, String>,
        app: &AppVariables,
    ) -> Result<Self> {
        let values = templates
            .iter()
            .map(|(name, template)| Ok((name.clone(), app.expand(template)?)))
            .collect::<Result<_>>()?;
        Ok(Self {
            component: component.to_string(),
            values,
        })
    }

    /// Looks a variable up as the guest asked for it.
    pub fn get(&self, name: &str) -> Result<String, GetError> {
        check_variable_name(name).map_err(|e| GetError::InvalidName(e.to_string()))?;
        self.values.get(name).cloned().ok_or_else(|| {
            GetError::Undefined(format!("no variable for {:?}.{:?}", self.component, name))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(vars: &str) -> Manifest {
        Manifest::parse(&format!(
            "spin_manifest_version = 2\n[application]\nname = \"t\"\n[variables]\n{vars}\n"
        ))
        .unwrap()
    }

    #[test]
    fn overrides_beat_environment_which_beats_defaults() {
        let m =
            manifest("a = { default = \"d\" }\nb = { default = \"d\" }\nc = { default = \"d\" }");
        let overrides = BTreeMap::from([("a".to_string(), "o".to_string())]);
        let env = HashMap::from([
            ("SPIN_VARIABLE_A".to_string(), "e".to_string()),
            ("SPIN_VARIABLE_B".to_string(), "e".to_string()),
        ]);
        let v = AppVariables::resolve(&m, &overrides, &env).unwrap();
        assert_eq!(v.expand("{{a}}{{ b }}{{c}}").unwrap(), "oed");
    }

    #[test]
    fn a_missing_required_variable_fails_startup() {
        let m = manifest("bar = { required = true }");
        let err = AppVariables::resolve(&m, &BTreeMap::new(), &HashMap::new()).unwrap_err();
        assert!(
            err.to_string()
                .contains("no provider resolved required variable(s): [Key(\"bar\")]")
        );
    }

    #[test]
    fn templates_naming_unknown_variables_are_rejected() {
        let v = AppVariables::default();
        let err = v.expand("x-{{ nosuch }}").unwrap_err().to_string();
        assert!(err.contains("unknown variable \"nosuch\""), "{err}");
    }

    #[test]
    fn guests_see_only_their_own_variables() {
        let m = manifest("foo = { default = \"x\" }");
        let app = AppVariables::resolve(&m, &BTreeMap::new(), &HashMap::new()).unwrap();
        let templates = BTreeMap::from([("v".to_string(), "pre-{{ foo }}".to_string())]);
        let c = ComponentVariables::resolve("alpha", &templates, &app).unwrap();
        assert_eq!(c.get("v"), Ok("pre-x".to_string()));
        assert_eq!(
            c.get("foo"),
            Err(GetError::Undefined(
                "no variable for \"alpha\".\"foo\"".to_string()
            ))
        );
        assert!(matches!(c.get("Comp"), Err(GetError::InvalidName(_))));
    }
}
