//! Every manifest under `deploy/spinkube/` against our schema and
//! `spin.toml`, and broken copies of them, to show that the checks bite.

use deploy::check::{self, Deployment, Object};
use deploy::schema::Executor;

fn deployments() -> Vec<Deployment> {
    check::read_deployments(&deploy::spinkube_dir()).expect("deploy/spinkube is readable")
}

fn deployment(name: &str) -> Deployment {
    deployments()
        .into_iter()
        .find(|d| d.name == name)
        .unwrap_or_else(|| panic!("no deploy/spinkube/{name}"))
}

fn objects(deployment: &Deployment) -> Vec<Object> {
    deployment
        .files
        .iter()
        .flat_map(|(name, text)| {
            let (objects, errors) = check::parse_file(name, text);
            assert!(errors.is_empty(), "{errors:#?}");
            objects.into_iter().map(|s| s.object)
        })
        .collect()
}

#[test]
fn deploy_spinkube_holds_the_one_app_and_the_three_app_deployments() {
    let names: Vec<String> = deployments().into_iter().map(|d| d.name).collect();
    assert_eq!(names, ["one-app", "three-apps"]);
}

#[test]
fn every_manifest_document_parses_against_the_schema_of_its_kind() {
    let mut kinds = std::collections::BTreeSet::new();
    let mut documents = 0;
    for deployment in deployments() {
        for (name, text) in &deployment.files {
            let (objects, errors) = check::parse_file(name, text);
            assert!(errors.is_empty(), "{errors:#?}");
            assert!(!objects.is_empty(), "{name} holds no manifest");
            documents += objects.len();
            for sourced in objects {
                kinds.insert(match sourced.object {
                    Object::SpinApp(_) => "SpinApp",
                    Object::Secret(_) => "Secret",
                    Object::Ingress(_) => "Ingress",
                    Object::Hpa(_) => "HorizontalPodAutoscaler",
                });
            }
        }
    }
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["HorizontalPodAutoscaler", "Ingress", "Secret", "SpinApp"]
    );
    // Two shared Secrets in each of two deployments, 2 + 9 of their own.
    assert_eq!(documents, 15);
}

#[test]
fn both_deployments_pass_every_check_against_spin_toml() {
    let app = deploy::spin_manifest().unwrap();
    for deployment in deployments() {
        let errors = check::validate(&app, &deployment.files);
        assert!(errors.is_empty(), "{}: {errors:#?}", deployment.name);
    }
}

#[test]
fn the_one_app_deployment_runs_every_component_in_one_spin_app() {
    let apps: Vec<_> = objects(&deployment("one-app"))
        .into_iter()
        .filter_map(|o| match o {
            Object::SpinApp(a) => Some(a),
            _ => None,
        })
        .collect();
    assert_eq!(apps.len(), 1);
    let app = &apps[0];
    assert_eq!(app.spec.components, None);
    assert_eq!(app.spec.executor, Executor::ContainerdShimSpin);
    assert!(app.spec.replicas.is_some_and(|n| n >= 1));
    // Service chaining: the URL variables keep their defaults.
    assert!(
        app.spec
            .variables
            .iter()
            .all(|v| !v.name.ends_with("_service_url"))
    );
}

#[test]
fn the_three_app_deployment_runs_each_service_in_its_own_autoscaled_spin_app() {
    let objects = objects(&deployment("three-apps"));
    let mut split = Vec::new();
    let mut scaled = Vec::new();
    for object in &objects {
        match object {
            Object::SpinApp(a) => {
                assert!(a.spec.enable_autoscaling, "{}", a.metadata.name);
                assert_eq!(a.spec.executor, Executor::ContainerdShimSpin);
                split.push((
                    a.metadata.name.clone(),
                    a.spec.components.clone().unwrap_or_default(),
                ));
            }
            Object::Hpa(h) => scaled.push((
                h.spec.scale_target_ref.name.clone(),
                h.spec.min_replicas,
                h.spec.max_replicas,
            )),
            _ => {}
        }
    }
    split.sort();
    assert_eq!(
        split,
        [
            ("social-feed".to_string(), vec!["feed".to_string()]),
            (
                "social-post".to_string(),
                vec!["post".to_string(), "post-relay".to_string()]
            ),
            ("social-user".to_string(), vec!["user".to_string()]),
            ("social-web".to_string(), vec!["web".to_string()]),
        ]
    );
    scaled.sort();
    let targets: Vec<&str> = scaled.iter().map(|(t, _, _)| t.as_str()).collect();
    assert_eq!(
        targets,
        ["social-feed", "social-post", "social-user", "social-web"]
    );
    assert!(scaled.iter().all(|(_, min, max)| *min >= 2 && max > min));
}

/// A broken copy of a deployment: `from` replaced by `to` in `file`, and a
/// message that must be among the refusals.
struct Broken {
    what: &'static str,
    deployment: &'static str,
    file: &'static str,
    from: &'static str,
    to: &'static str,
    refusal: &'static str,
}

const BROKEN: &[Broken] = &[
    Broken {
        what: "an unknown field",
        deployment: "three-apps",
        file: "three-apps/social-user.yaml",
        from: "  enableAutoscaling: true",
        to: "  enableAutoScaling: true",
        refusal: "unknown field `enableAutoScaling`",
    },
    Broken {
        what: "a wrong type",
        deployment: "one-app",
        file: "one-app/social.yaml",
        from: "replicas: 2",
        to: "replicas: two",
        refusal: "invalid type: string \"two\", expected i32",
    },
    Broken {
        what: "an unknown component",
        deployment: "three-apps",
        file: "three-apps/social-post.yaml",
        from: "    - post\n",
        to: "    - posts\n",
        refusal: "component `posts` is not in spin.toml",
    },
    Broken {
        what: "the API group before spin-operator 0.4",
        deployment: "one-app",
        file: "one-app/social.yaml",
        from: "apiVersion: core.spinkube.dev/v1alpha1",
        to: "apiVersion: core.spinoperator.dev/v1alpha1",
        refusal: "unknown variant `core.spinoperator.dev/v1alpha1`",
    },
    Broken {
        what: "a kind our schema does not have",
        deployment: "three-apps",
        file: "three-apps/social-feed.yaml",
        from: "kind: HorizontalPodAutoscaler",
        to: "kind: VerticalPodAutoscaler",
        refusal: "unknown kind \"VerticalPodAutoscaler\"",
    },
    Broken {
        what: "another executor",
        deployment: "one-app",
        file: "one-app/social.yaml",
        from: "executor: containerd-shim-spin",
        to: "executor: spintainer",
        refusal: "unknown variant `spintainer`",
    },
    Broken {
        what: "a quantity that is not one",
        deployment: "three-apps",
        file: "three-apps/social-feed.yaml",
        from: "cpu: 100m",
        to: "cpu: a little",
        refusal: "invalid quantity \"a little\"",
    },
    Broken {
        what: "a variable spin.toml does not declare",
        deployment: "three-apps",
        file: "three-apps/social-post.yaml",
        from: "name: feed_service_url",
        to: "name: feed_url",
        refusal: "variable `feed_url` is not in spin.toml's [variables]",
    },
    Broken {
        what: "a service URL left at its default in a split app",
        deployment: "three-apps",
        file: "three-apps/social-feed.yaml",
        from: "    - name: user_service_url\n      value: http://social-user.social.svc.cluster.local\n",
        to: "",
        refusal: "`user_service_url` is not set, and this SpinApp does not run `user`",
    },
    Broken {
        what: "a service URL naming the wrong SpinApp",
        deployment: "three-apps",
        file: "three-apps/social-user.yaml",
        from: "value: http://social-post.social.svc.cluster.local",
        to: "value: http://social-feed.social.svc.cluster.local",
        refusal: "does not reach SpinApp `social-post`",
    },
    Broken {
        what: "a Secret that is not defined",
        deployment: "three-apps",
        file: "three-apps/social-feed.yaml",
        from: "          name: social-variables",
        to: "          name: social-vars",
        refusal: "reads Secret `social-vars`, which is not defined in namespace `social`",
    },
    Broken {
        what: "a Secret in another namespace",
        deployment: "one-app",
        file: "secrets.example.yaml",
        from: "  name: social-variables\n  namespace: social",
        to: "  name: social-variables\n  namespace: default",
        refusal: "reads Secret `social-variables`, which is not defined in namespace `social`",
    },
    Broken {
        what: "a secret variable written into the manifest",
        deployment: "one-app",
        file: "one-app/social.yaml",
        from: "    - name: service_credential\n      valueFrom:\n        secretKeyRef:\n          name: social-variables\n          key: service_credential\n",
        to: "    - name: service_credential\n      value: hunter2\n",
        refusal: "variable `service_credential` is secret in spin.toml",
    },
    Broken {
        what: "the default service credential",
        deployment: "three-apps",
        file: "secrets.example.yaml",
        from: "service_credential: REPLACE-WITH-THE-OUTPUT-OF-openssl-rand-hex-32",
        to: "service_credential: dev-only-service-credential",
        refusal: "`service_credential` is spin.toml's default",
    },
    Broken {
        what: "a store on a file in the pod",
        deployment: "three-apps",
        file: "secrets.example.yaml",
        from: "[sqlite_database.posts]\n    type = \"libsql\"",
        to: "[sqlite_database.posts]\n    type = \"spin\"",
        refusal: "SQLite label `posts` must be networked",
    },
    Broken {
        what: "a cache on a file in the pod",
        deployment: "one-app",
        file: "secrets.example.yaml",
        from: "[key_value_store.feed_cache]\n    type = \"redis\"",
        to: "[key_value_store.feed_cache]\n    type = \"spin\"",
        refusal: "key-value label `feed_cache` must be networked",
    },
    Broken {
        what: "two services on one database",
        deployment: "one-app",
        file: "secrets.example.yaml",
        from: "https://REPLACE-social-feed.turso.io",
        to: "https://REPLACE-social-posts.turso.io",
        refusal: "share database",
    },
    Broken {
        what: "a runtime config without a label",
        deployment: "three-apps",
        file: "secrets.example.yaml",
        from: "[key_value_store.post_cache]",
        to: "[key_value_store.posts_cache]",
        refusal: "does not define key-value label `post_cache`",
    },
    Broken {
        what: "replicas beside enableAutoscaling",
        deployment: "three-apps",
        file: "three-apps/social-user.yaml",
        from: "  enableAutoscaling: true\n",
        to: "  enableAutoscaling: true\n  replicas: 3\n",
        refusal: "replicas cannot be set with enableAutoscaling",
    },
    Broken {
        what: "an autoscaler of a Deployment no SpinApp creates",
        deployment: "three-apps",
        file: "three-apps/social-post.yaml",
        from: "    name: social-post\n  # Posting",
        to: "    name: social-posts\n  # Posting",
        refusal: "targets Deployment `social-posts`, which no SpinApp",
    },
    Broken {
        what: "an Ingress path to the wrong SpinApp",
        deployment: "three-apps",
        file: "three-apps/ingress.yaml",
        from: "          - path: /posts\n            pathType: Prefix\n            backend:\n              service:\n                name: social-post",
        to: "          - path: /posts\n            pathType: Prefix\n            backend:\n              service:\n                name: social-feed",
        refusal: "route `/posts/...` (/posts) goes to SpinApp `social-feed`, which does not run `post`",
    },
    Broken {
        what: "the catch-all to a service instead of the web client",
        deployment: "three-apps",
        file: "three-apps/ingress.yaml",
        from: "          - path: /\n            pathType: Prefix\n            backend:\n              service:\n                name: social-web",
        to: "          - path: /\n            pathType: Prefix\n            backend:\n              service:\n                name: social-user",
        refusal: "route `/...` (/sample) goes to SpinApp `social-user`, which does not run `web`",
    },
    Broken {
        what: "a web client that does not know where the user service is",
        deployment: "three-apps",
        file: "three-apps/social-web.yaml",
        from: "    - name: user_service_url\n      value: http://social-user.social.svc.cluster.local\n",
        to: "",
        refusal: "route `/openapi.json` (/openapi.json) goes to SpinApp `social-web`, which does not run `user`",
    },
    Broken {
        what: "an Ingress path to a Service no SpinApp creates",
        deployment: "one-app",
        file: "one-app/social.yaml",
        from: "                name: social\n",
        to: "                name: social-api\n",
        refusal: "goes to Service `social-api`, which no SpinApp",
    },
    Broken {
        what: "a path ingress-nginx refuses",
        deployment: "three-apps",
        file: "three-apps/ingress.yaml",
        from: "          - path: /health/feed\n",
        to: "          - path: /health/feed.json\n",
        refusal: "path \"/health/feed.json\" may hold only",
    },
    Broken {
        what: "a probe of another service's route",
        deployment: "three-apps",
        file: "three-apps/social-post.yaml",
        from: "path: /health/post",
        to: "path: /health/user",
        refusal: "served by `user`, which this SpinApp does not run",
    },
    Broken {
        what: "an image that is not this version",
        deployment: "one-app",
        file: "one-app/social.yaml",
        from: "ghcr.io/social-network/social:0.1.0",
        to: "ghcr.io/social-network/social:0.0.9",
        refusal: "is not tagged with spin.toml's version 0.1.0",
    },
];

#[test]
fn broken_copies_of_the_manifests_are_refused_with_the_reason() {
    let app = deploy::spin_manifest().unwrap();
    for case in BROKEN {
        let mut files = deployment(case.deployment).files;
        let (_, text) = files
            .iter_mut()
            .find(|(name, _)| name == case.file)
            .unwrap_or_else(|| panic!("{}: no {}", case.what, case.file));
        assert_eq!(
            text.matches(case.from).count(),
            1,
            "{}: {:?} must occur once in {}",
            case.what,
            case.from,
            case.file
        );
        *text = text.replacen(case.from, case.to, 1);
        let errors = check::validate(&app, &files);
        assert!(
            errors.iter().any(|e| e.contains(case.refusal)),
            "{}: expected a refusal containing {:?}, got {errors:#?}",
            case.what,
            case.refusal
        );
    }
}

#[test]
fn runtime_config_libsql_toml_passes_as_the_runtime_config_secret() {
    use base64::Engine;
    // As `kubectl create secret generic … --from-file=runtime-config.toml=…`
    // makes it: the file, base64-encoded under `data`.
    let path = deploy::repo_root().join("runtime-config-libsql.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let encoded = base64::engine::general_purpose::STANDARD.encode(text);
    let created = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: social-runtime-config\n  \
         namespace: social\ntype: Opaque\ndata:\n  runtime-config.toml: {encoded}\n"
    );
    let app = deploy::spin_manifest().unwrap();
    for mut deployment in deployments() {
        let (_, example) = deployment
            .files
            .iter_mut()
            .find(|(name, _)| name == "secrets.example.yaml")
            .unwrap();
        *example = example.replacen(
            "  name: social-runtime-config\n",
            "  name: example-runtime-config\n",
            1,
        );
        deployment
            .files
            .push(("created.yaml".to_string(), created.clone()));
        let errors = check::validate(&app, &deployment.files);
        assert!(errors.is_empty(), "{}: {errors:#?}", deployment.name);
    }
}
