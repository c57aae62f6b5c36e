//! The published contract (`openapi.json`): every route of every router and
//! of `spin.toml` is documented, every documented route exists, and the app
//! serves the document.

use crate::helpers::*;
use serde_json::Value;
use std::collections::BTreeSet;

const DOCUMENT: &str = include_str!("../../../../openapi.json");
const MANIFEST: &str = include_str!("../../../../spin.toml");
const ROUTERS: [&str; 4] = [
    include_str!("../../../../components/user/src/lib.rs"),
    include_str!("../../../../components/post/src/lib.rs"),
    include_str!("../../../../components/post-relay/src/lib.rs"),
    include_str!("../../../../components/feed/src/lib.rs"),
];

/// Every `METHOD /path` the document describes.
fn documented() -> BTreeSet<String> {
    let doc: Value = serde_json::from_str(DOCUMENT).expect("openapi.json is JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            ops.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    ops
}

/// Every `METHOD /path` the components' routers register, with `:param`
/// written `{param}`; the chained paths (no public route) are left out.
fn routed() -> BTreeSet<String> {
    let mut ops = BTreeSet::new();
    for source in ROUTERS {
        for (at, _) in source.match_indices("router.") {
            let rest = &source[at + "router.".len()..];
            let Some((method, rest)) = rest.split_once("_async(") else {
                continue;
            };
            let path = rest.split('"').nth(1).expect("a route literal");
            if path.starts_with("/chained/") {
                continue;
            }
            let path: Vec<String> = path
                .split('/')
                .map(|s| match s.strip_prefix(':') {
                    Some(param) => format!("{{{param}}}"),
                    None => s.to_string(),
                })
                .collect();
            ops.insert(format!("{} {}", method.to_uppercase(), path.join("/")));
        }
    }
    ops
}

/// The component that serves the web client. Its pages (`/`, `/@alice`,
/// `/p/<id>`) and assets are HTML, CSS and JavaScript for browsers, not API
/// operations, so its catch-all route is left out of the contract (its HTTP
/// behaviour is tested in `web.rs`).
const WEB_COMPONENT: &str = "web";

/// The `route`s of `spin.toml`'s HTTP triggers, each with its component.
fn manifest_routes() -> Vec<(String, String)> {
    let mut routes = Vec::new();
    let mut route = None;
    for line in MANIFEST.lines().map(str::trim) {
        if let Some(r) = line.strip_prefix("route = \"") {
            route = Some(r.trim_end_matches('"').to_string());
        } else if let Some(c) = line.strip_prefix("component = \"")
            && let Some(r) = route.take()
        {
            routes.push((r, c.trim_end_matches('"').to_string()));
        }
    }
    routes
}

/// Whether a `spin.toml` route serves `path`: `/x/...` serves `/x` and
/// everything under it, as in Spin.
fn serves(route: &str, path: &str) -> bool {
    match route.strip_suffix("/...") {
        Some(base) => path == base || path.starts_with(&format!("{base}/")),
        None => route == path,
    }
}

#[test]
fn every_route_is_documented_and_every_documented_route_exists() {
    let (documented, routed) = (documented(), routed());
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let missing: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "routed but not in openapi.json: {undocumented:?}"
    );
    assert!(
        missing.is_empty(),
        "in openapi.json but no router serves it: {missing:?}"
    );

    let routes: Vec<String> = manifest_routes()
        .into_iter()
        .filter(|(_, component)| component != WEB_COMPONENT)
        .map(|(route, _)| route)
        .collect();
    for op in &documented {
        let path = op.split_once(' ').unwrap().1;
        assert!(
            routes.iter().any(|r| serves(r, path)),
            "no spin.toml route serves {op}"
        );
    }
    for route in &routes {
        assert!(
            documented
                .iter()
                .any(|op| serves(route, op.split_once(' ').unwrap().1)),
            "spin.toml routes {route}, which no documented path uses"
        );
    }
}

async fn the_app_serves_its_contract(app: &TestApp) {
    let served = ok_json(
        &app.send(Svc::User, http::Method::GET, "/openapi.json", None, None)
            .await,
    );
    assert_eq!(served, serde_json::from_str::<Value>(DOCUMENT).unwrap());
}
crate::both_modes!(the_app_serves_its_contract);
