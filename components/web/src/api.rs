//! The API's routes and which service serves a path.
//!
//! The routes are read from the `spin.toml` this component was built with,
//! so that the web instance forwards exactly what the application routes,
//! and a route added to a service needs no change here. In one application
//! Spin sends these paths straight to their services, and the web component
//! never sees them; a web instance of its own (`spin up -c web`) gets every
//! path, and forwards these (see [`crate::forward`]).

/// The manifest the component was built with.
const MANIFEST: &str = include_str!("../../../spin.toml");

/// This component's id in `spin.toml`; its own catch-all is not an API route.
pub const OWN_COMPONENT: &str = "web";

/// One `[[trigger.http]]` of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiRoute {
    /// The route as written in `spin.toml`: `/users/...` or `/feed`.
    pub route: &'static str,
    /// The component that serves it: `user`, `post`, `feed`, or a part of
    /// a service named `<service>-<part>` (`post-relay`).
    pub component: &'static str,
}

impl ApiRoute {
    /// Whether Spin would send `path` to this route: an exact route takes
    /// itself and itself with one trailing slash; `/x/...` takes `/x`, `/x/`
    /// and everything below, by whole segments.
    fn matches(&self, path: &str) -> bool {
        match self.route.strip_suffix("/...") {
            Some(base) => {
                path == base || path.strip_prefix(base).is_some_and(|r| r.starts_with('/'))
            }
            None => path == self.route || path.strip_suffix('/') == Some(self.route),
        }
    }

    /// Whether the route is exact (Spin prefers those to any wildcard).
    fn is_exact(&self) -> bool {
        !self.route.ends_with("/...")
    }

    /// The service the route belongs to: its component's, or the service a
    /// `<service>-<part>` component is part of.
    pub fn service(&self) -> &'static str {
        self.component
            .split_once('-')
            .map_or(self.component, |(service, _)| service)
    }

    /// The name of the variable holding the service's base URL.
    pub fn url_variable(&self) -> String {
        format!("{}_service_url", self.service())
    }
}

/// The routes of every component but this one, in `spin.toml`'s order.
///
/// `spin.toml` writes each trigger as `route = "…"` then `component = "…"`
/// on lines of their own; a unit test checks this reading against a TOML
/// parser, so a manifest written differently fails the build's tests.
pub fn routes() -> Vec<ApiRoute> {
    let mut routes = Vec::new();
    let mut route: Option<&'static str> = None;
    for line in MANIFEST.lines().map(str::trim) {
        if line.starts_with('[') {
            route = None;
        } else if let Some(value) = quoted(line, "route") {
            route = Some(value);
        } else if let (Some(value), Some(r)) = (quoted(line, "component"), route.take())
            && value != OWN_COMPONENT
        {
            routes.push(ApiRoute {
                route: r,
                component: value,
            });
        }
    }
    routes
}

/// The value of `key = "value"` on `line`.
fn quoted(line: &'static str, key: &str) -> Option<&'static str> {
    line.strip_prefix(key)?
        .trim_start()
        .strip_prefix('=')?
        .trim()
        .strip_prefix('"')?
        .strip_suffix('"')
}

/// The API route Spin would pick for `path`, as it picks among routes: an
/// exact route first, then the longest wildcard.
pub fn route_for(path: &str) -> Option<ApiRoute> {
    let routes = routes();
    let matching = routes.iter().filter(|r| r.matches(path));
    let exact = matching.clone().find(|r| r.is_exact());
    exact
        .or_else(|| matching.max_by_key(|r| r.route.len()))
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_routes_read_from_spin_toml_are_those_a_toml_parser_reads_but_the_web_components_own() {
        let manifest: toml::Table = toml::from_str(MANIFEST).unwrap();
        let parsed: Vec<(String, String)> = manifest["trigger"]["http"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let field = |k: &str| t[k].as_str().unwrap().to_string();
                (field("route"), field("component"))
            })
            .filter(|(_, component)| component != OWN_COMPONENT)
            .collect();
        let read: Vec<(String, String)> = routes()
            .iter()
            .map(|r| (r.route.to_string(), r.component.to_string()))
            .collect();
        assert_eq!(read, parsed);
        assert!(read.len() >= 11, "{read:?}");
    }

    #[test]
    fn paths_go_to_the_service_spin_would_pick() {
        let component = |path: &str| route_for(path).map(|r| r.component);
        assert_eq!(component("/users"), Some("user"));
        assert_eq!(component("/users/alice/followers"), Some("user"));
        assert_eq!(component("/auth/login"), Some("user"));
        assert_eq!(component("/openapi.json"), Some("user"));
        assert_eq!(component("/posts"), Some("post"));
        assert_eq!(component("/posts/01J/like"), Some("post"));
        assert_eq!(component("/feed"), Some("feed"));
        assert_eq!(component("/feed/"), Some("feed"));
        assert_eq!(component("/health/feed"), Some("feed"));
        assert_eq!(component("/internal/post/events"), Some("post"));
        assert_eq!(component("/internal/post/relay"), Some("post-relay"));
    }

    #[test]
    fn the_client_pages_and_near_misses_are_no_api_route() {
        for path in [
            "/",
            "/@alice",
            "/p/01J",
            "/assets/app.js",
            "/feed/more",
            "/feeds",
            "/usersx",
            "/health/web",
            "/chained/feed/events",
        ] {
            assert_eq!(route_for(path), None, "{path}");
        }
    }

    #[test]
    fn each_service_url_is_named_after_its_service() {
        let feed = route_for("/feed").unwrap();
        assert_eq!(feed.url_variable(), "feed_service_url");
    }

    #[test]
    fn a_part_of_a_service_is_reached_at_the_services_url() {
        let relay = route_for("/internal/post/relay/flush").unwrap();
        assert_eq!(relay.service(), "post");
        assert_eq!(relay.url_variable(), "post_service_url");
    }
}
