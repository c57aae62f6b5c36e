use crate::helpers::TestApp;

const TWO_SERVICES: &str = r#"
spin_manifest_version = 2
[application]
name = "selective"
[variables]
beta_url = { default = "http://beta.spin.internal" }
[[trigger.http]]
route = "/a/..."
component = "alpha"
[[trigger.http]]
route = "/b/..."
component = "beta"
[component.alpha]
source = "{fixture}"
allowed_outbound_hosts = ["{{ beta_url }}"]
variables = { who = "alpha" }
[component.beta]
source = "{fixture}"
variables = { who = "beta" }
"#;

#[tokio::test(flavor = "multi_thread")]
async fn components_run_as_separate_instances_on_two_ports() {
    // Arrange: beta alone, then alpha alone pointed at beta's port.
    let beta = TestApp::from_manifest(TWO_SERVICES, |o| o.component("beta"))
        .await
        .unwrap();
    let alpha = TestApp::from_manifest(TWO_SERVICES, |o| {
        o.component("alpha")
            .variable("beta_url", beta.app.base_url())
    })
    .await
    .unwrap();
    // Assert: each serves only its own routes.
    assert_eq!(alpha.text("/a/whoami").await, "alpha");
    assert_eq!(alpha.get("/b/whoami").await.status, 404);
    assert_eq!(beta.text("/b/whoami").await, "beta");
    assert_eq!(beta.get("/a/whoami").await.status, 404);
    // alpha reaches beta over real HTTP.
    let out = alpha
        .text(&format!("/a/outbound?url={}/b/whoami", beta.app.base_url()))
        .await;
    assert_eq!(out, "Ok(200 beta)");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_application_serves_both_and_chains_in_process() {
    let app = TestApp::from_manifest(TWO_SERVICES, |o| o).await.unwrap();
    assert_eq!(
        app.text("/a/outbound?url=http://beta.spin.internal/whoami")
            .await,
        "Ok(200 beta)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn chaining_to_an_unselected_component_refuses_to_start() {
    for (entry, expected) in [
        (
            "http://beta.spin.internal",
            "cannot use service chaining to unselected component",
        ),
        (
            "http://*.spin.internal",
            "cannot use wildcard service chaining",
        ),
    ] {
        let manifest = TWO_SERVICES.replace("[\"{{ beta_url }}\"]", &format!("[\"{entry}\"]"));
        let err = TestApp::from_manifest(&manifest, |o| o.component("alpha"))
            .await
            .err()
            .expect("should fail");
        assert!(format!("{err:#}").contains(expected), "{err:#}");
    }
}
