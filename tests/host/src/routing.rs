//! Spin's HTTP routing rules (see `shared/spin-behaviour.md` §1).
//!
//! Exact routes beat wildcards, more specific routes beat less specific ones,
//! and among equals the last-declared trigger wins.

use std::collections::BTreeMap;

/// One component's route.
#[derive(Debug, Clone)]
pub struct Route {
    /// The route as written in `spin.toml` (`/a/...`, `/t/`, `/p/:id/...`).
    raw: String,
    segments: Vec<Segment>,
    wildcard: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// The result of matching a path against a route.
#[derive(Debug, PartialEq)]
pub struct RouteMatch {
    /// `spin-path-info`: the part of the path after the route's prefix.
    pub path_info: String,
    /// `spin-path-match-<name>` values for `:name` segments.
    pub params: BTreeMap<String, String>,
}

impl Route {
    /// Parses a route as written in `spin.toml`.
    pub fn parse(raw: &str) -> Self {
        let (body, wildcard) = match raw.strip_suffix("/...") {
            Some(prefix) => (prefix, true),
            None => (raw.trim_end_matches('/'), false),
        };
        let segments = body
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| match s.strip_prefix(':') {
                Some(name) => Segment::Param(name.to_string()),
                None => Segment::Literal(s.to_string()),
            })
            .collect();
        Self {
            raw: raw.to_string(),
            segments,
            wildcard,
        }
    }

    /// The route as declared: `spin-raw-component-route`.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// `spin-component-route`: the declared route without a trailing `/...`.
    pub fn component_route(&self) -> &str {
        self.raw.strip_suffix("/...").unwrap_or(&self.raw)
    }

    /// `spin-matched-route`: the normalised route (`/t/` is listed as `/t`).
    pub fn matched_route(&self) -> String {
        let mut s = String::new();
        for seg in &self.segments {
            s.push('/');
            match seg {
                Segment::Literal(l) => s.push_str(l),
                Segment::Param(p) => {
                    s.push(':');
                    s.push_str(p);
                }
            }
        }
        if self.wildcard {
            s.push_str("/...");
        } else if s.is_empty() {
            s.push('/');
        }
        s
    }

    /// Matches `path` (percent-encoding kept, no query).
    pub fn matches(&self, path: &str) -> Option<RouteMatch> {
        let mut rest = path;
        let mut params = BTreeMap::new();
        for seg in &self.segments {
            let after_slash = rest.strip_prefix('/')?;
            let end = after_slash.find('/').unwrap_or(after_slash.len());
            let (part, tail) = after_slash.split_at(end);
            match seg {
                Segment::Literal(l) if l == part => {}
                Segment::Param(name) if !part.is_empty() => {
                    params.insert(name.clone(), part.to_string());
                }
                _ => return None,
            }
            rest = tail;
        }
        let path_info = if self.wildcard {
            if !(rest.is_empty() || rest.starts_with('/')) {
                return None;
            }
            rest.to_string()
        } else {
            if !(rest.is_empty() || rest == "/") {
                return None;
            }
            String::new()
        };
        Some(RouteMatch { path_info, params })
    }

    /// Higher ranks win: exact over wildcard, then more literal segments,
    /// then more segments overall.
    fn rank(&self) -> (bool, usize, usize) {
        let literals = self
            .segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count();
        (!self.wildcard, literals, self.segments.len())
    }
}

/// A routing table from routes to handler keys (component ids).
#[derive(Debug, Default)]
pub struct Router {
    entries: Vec<(Route, String)>,
}

impl Router {
    /// Adds a route in declaration order; later duplicates shadow earlier ones.
    pub fn add(&mut self, route: Route, component: String) {
        self.entries.push((route, component));
    }

    /// Routes that can never be used because a later trigger declares the same route.
    pub fn duplicates(&self) -> Vec<(&Route, &str, &str)> {
        let mut out = Vec::new();
        for (i, (route, first)) in self.entries.iter().enumerate() {
            if let Some((_, second)) = self.entries[i + 1..]
                .iter()
                .find(|(r, _)| r.matched_route() == route.matched_route())
            {
                out.push((route, first.as_str(), second.as_str()));
            }
        }
        out
    }

    /// All routes with their components, in declaration order.
    pub fn entries(&self) -> impl Iterator<Item = (&Route, &str)> {
        self.entries.iter().map(|(r, c)| (r, c.as_str()))
    }

    /// Finds the best route for `path`.
    pub fn route(&self, path: &str) -> Option<(&Route, &str, RouteMatch)> {
        let mut best: Option<(&Route, &str, RouteMatch)> = None;
        for (route, component) in &self.entries {
            if let Some(m) = route.matches(path)
                && best
                    .as_ref()
                    .is_none_or(|(b, _, _)| route.rank() >= b.rank())
            {
                best = Some((route, component, m));
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str)]) -> Router {
        let mut r = Router::default();
        for (route, c) in routes {
            r.add(Route::parse(route), c.to_string());
        }
        r
    }

    fn winner(r: &Router, path: &str) -> Option<String> {
        r.route(path).map(|(_, c, _)| c.to_string())
    }

    #[test]
    fn exact_routes_beat_wildcards_and_accept_one_trailing_slash() {
        let r = router(&[("/a/...", "alpha"), ("/a/exact", "beta")]);
        assert_eq!(winner(&r, "/a/exact").as_deref(), Some("beta"));
        assert_eq!(winner(&r, "/a/exact/").as_deref(), Some("beta"));
        assert_eq!(winner(&r, "/a/exact/more").as_deref(), Some("alpha"));
    }

    #[test]
    fn wildcards_match_per_segment() {
        let r = router(&[("/a/...", "alpha")]);
        for p in ["/a", "/a/", "/a/other/x"] {
            assert_eq!(winner(&r, p).as_deref(), Some("alpha"), "{p}");
        }
        assert_eq!(winner(&r, "/ab"), None);
    }

    #[test]
    fn the_longest_wildcard_prefix_wins() {
        let r = router(&[
            ("/...", "root"),
            ("/api/...", "api"),
            ("/api/v1/...", "v1"),
            ("/api/v1/exact", "exact"),
        ]);
        assert_eq!(winner(&r, "/api/v1/exact/more").as_deref(), Some("v1"));
        assert_eq!(winner(&r, "/api/v1x").as_deref(), Some("api"));
        assert_eq!(winner(&r, "/apix").as_deref(), Some("root"));
    }

    #[test]
    fn exact_routes_do_not_match_deeper_paths() {
        let r = router(&[("/x", "x"), ("/t/", "t")]);
        assert_eq!(winner(&r, "/x/").as_deref(), Some("x"));
        assert_eq!(winner(&r, "/x/y"), None);
        assert_eq!(winner(&r, "/t").as_deref(), Some("t"));
        assert_eq!(winner(&r, "/t/x"), None);
        let t = Route::parse("/t/");
        assert_eq!(t.component_route(), "/t/");
        assert_eq!(t.matched_route(), "/t");
    }

    #[test]
    fn path_info_is_what_follows_the_prefix() {
        let a = Route::parse("/a/...");
        assert_eq!(a.matches("/a").unwrap().path_info, "");
        assert_eq!(a.matches("/a/").unwrap().path_info, "/");
        assert_eq!(a.matches("/a//double").unwrap().path_info, "//double");
        assert_eq!(
            a.matches("/a/%7Efoo/b%20c").unwrap().path_info,
            "/%7Efoo/b%20c"
        );
        let root = Route::parse("/...");
        assert_eq!(root.matches("/x/y").unwrap().path_info, "/x/y");
        assert_eq!(root.component_route(), "");
    }

    #[test]
    fn parameters_are_captured() {
        let p = Route::parse("/p/:id/...");
        let m = p.matches("/p/42/w/z").unwrap();
        assert_eq!(m.params["id"], "42");
        assert_eq!(m.path_info, "/w/z");
        assert!(p.matches("/p").is_none());
    }

    #[test]
    fn the_last_declared_duplicate_wins_and_is_reported() {
        let r = router(&[("/a/...", "first"), ("/a/...", "second")]);
        assert_eq!(winner(&r, "/a/x").as_deref(), Some("second"));
        assert_eq!(r.duplicates().len(), 1);
    }
}
