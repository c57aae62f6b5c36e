//! What the web component answers itself: the page shell at every page's
//! path, the assets, and 404 for the rest.

use crate::assets::{self, Asset};
use shared::ApiError;
use spin_sdk::http::{Method, Response};

/// The `Content-Security-Policy` of every response: everything from this
/// origin only, so no inline script or style, no CDN, no external font.
pub const CSP: &str = "default-src 'self'; base-uri 'none'; form-action 'self'; \
                       frame-ancestors 'none'; object-src 'none'";

/// How long a browser keeps an asset named by its current version: a year,
/// without asking again (the name changes with the content).
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The parts of a request that decide a local answer.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    /// The method.
    pub method: &'a Method,
    /// The path, without the query.
    pub path: &'a str,
    /// The query, without `?`.
    pub query: &'a str,
    /// `Accept`, if sent.
    pub accept: Option<&'a str>,
    /// `If-None-Match`, if sent.
    pub if_none_match: Option<&'a str>,
}

/// What a path is to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A page: the shell, whose script renders it.
    Page,
    /// A file under `/assets/`.
    Asset(&'static Asset),
    /// Nothing here.
    Unknown,
}

/// The route pattern of a target, for the request's log line.
pub fn pattern(path: &str) -> Option<&'static str> {
    if path.starts_with("/assets/") {
        return Some("/assets/:name");
    }
    page_pattern(path)
}

/// The pages: `/`, `/login`, `/signup`, `/settings`, `/@username` (also
/// `/followers` and `/following` under it) and `/p/<post id>`. Anything else
/// is not a page, so a mistyped link gets a 404.
fn page_pattern(path: &str) -> Option<&'static str> {
    match path {
        "/" => return Some("/"),
        "/login" => return Some("/login"),
        "/signup" => return Some("/signup"),
        "/settings" => return Some("/settings"),
        _ => {}
    }
    if let Some(id) = path.strip_prefix("/p/") {
        return is_token(id, 64).then_some("/p/:id");
    }
    // `@` may arrive percent-encoded.
    let profile = path
        .strip_prefix("/@")
        .or_else(|| path.strip_prefix("/%40"))?;
    match profile.split_once('/') {
        None => is_token(profile, 30).then_some("/@:username"),
        Some((name, "followers")) if is_token(name, 30) => Some("/@:username/followers"),
        Some((name, "following")) if is_token(name, 30) => Some("/@:username/following"),
        _ => None,
    }
}

/// 1 to `max` ASCII letters, digits or `_`: the shape of usernames and ids.
fn is_token(s: &str, max: usize) -> bool {
    (1..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// What `path` is.
pub fn target(path: &str) -> Target {
    if let Some(name) = path.strip_prefix("/assets/") {
        return assets::asset(name).map_or(Target::Unknown, Target::Asset);
    }
    match page_pattern(path) {
        Some(_) => Target::Page,
        None => Target::Unknown,
    }
}

/// The answer to a request that is not for the API.
pub fn respond(ask: Ask) -> Response {
    let target = target(ask.path);
    if target != Target::Unknown && !matches!(ask.method, Method::Get | Method::Head) {
        let mut response = ApiError::MethodNotAllowed.to_response();
        response.set_header("allow", "GET, HEAD");
        return response;
    }
    let response = match target {
        Target::Page => page(200, ask.if_none_match),
        Target::Asset(asset) => serve_asset(asset, ask),
        // A person following a broken link gets the client's own "not
        // found" page; a program gets the API's JSON error.
        Target::Unknown if wants_html(ask.accept) => page(404, None),
        Target::Unknown => ApiError::NotFound("no such resource".into()).to_response(),
    };
    if matches!(ask.method, Method::Head) {
        return without_body(response);
    }
    response
}

/// Whether the client asked for HTML (a browser's navigation does).
fn wants_html(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',').any(|t| {
            t.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/html"))
        })
    })
}

/// The shell with `status`. Every page revalidates (`no-cache`), so a new
/// build reaches people at their next visit; the ETag makes that a 304.
fn page(status: u16, if_none_match: Option<&str>) -> Response {
    let html = assets::shell();
    let etag = format!("\"{:016x}\"", assets::fnv1a(html.as_bytes()));
    if status == 200 && matches_etag(if_none_match, &etag) {
        return not_modified(&etag, "no-cache");
    }
    with_security_headers(Response::builder())
        .status(status)
        .header("content-type", "text/html; charset=utf-8")
        .header("cache-control", "no-cache")
        .header("etag", etag)
        .body(html)
        .build()
}

/// An asset: kept for a year when asked for by its current version,
/// otherwise revalidated each time (an old or missing `?v=` is answered
/// with what this build has, under its ETag).
fn serve_asset(asset: &Asset, ask: Ask) -> Response {
    let etag = format!("\"{}\"", asset.version());
    let current = ask
        .query
        .split('&')
        .any(|pair| pair == format!("v={}", asset.version()));
    let cache = if current { IMMUTABLE } else { "no-cache" };
    if matches_etag(ask.if_none_match, &etag) {
        return not_modified(&etag, cache);
    }
    with_security_headers(Response::builder())
        .status(200)
        .header("content-type", asset.content_type)
        .header("cache-control", cache)
        .header("etag", etag)
        .body(asset.body.to_vec())
        .build()
}

/// Whether `If-None-Match` names `etag` (or is `*`), weak or strong alike
/// (RFC 9110, 13.1.2: weak comparison).
fn matches_etag(if_none_match: Option<&str>, etag: &str) -> bool {
    if_none_match.is_some_and(|v| {
        v.split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == "*" || t == etag)
    })
}

fn not_modified(etag: &str, cache: &str) -> Response {
    with_security_headers(Response::builder())
        .status(304)
        .header("cache-control", cache)
        .header("etag", etag)
        .build()
}

/// The headers every page and asset carries (and `X-Content-Type-Options`,
/// which `shared::http::send` adds to every response).
fn with_security_headers(
    mut builder: spin_sdk::http::ResponseBuilder,
) -> spin_sdk::http::ResponseBuilder {
    builder
        .header("content-security-policy", CSP)
        .header("referrer-policy", "same-origin")
        .header("x-frame-options", "DENY")
        .header("cross-origin-opener-policy", "same-origin");
    builder
}

/// `response` without its body, for HEAD.
fn without_body(response: Response) -> Response {
    let mut builder = Response::builder();
    builder.status(*response.status());
    for (name, value) in response.headers() {
        builder.header(name, value.as_str().unwrap_or_default());
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(path: &'a str, query: &'a str) -> Ask<'a> {
        Ask {
            method: &Method::Get,
            path,
            query,
            accept: Some("text/html,application/xhtml+xml,*/*;q=0.8"),
            if_none_match: None,
        }
    }

    fn header(r: &Response, name: &str) -> String {
        r.header(name)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    }

    #[test]
    fn every_page_path_is_the_shell_and_other_paths_are_not() {
        for path in [
            "/",
            "/login",
            "/signup",
            "/settings",
            "/@alice",
            "/%40alice",
            "/@alice/followers",
            "/@alice/following",
            "/p/01JAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert_eq!(target(path), Target::Page, "{path}");
        }
        for path in [
            "/@",
            "/@alice/posts",
            "/@al.ice",
            "/p/",
            "/p/a/b",
            "/index.html",
            "/assets/nope.js",
            "/assets/",
        ] {
            assert_eq!(target(path), Target::Unknown, "{path}");
        }
    }

    #[test]
    fn a_page_is_html_that_revalidates_under_a_strict_policy() {
        let r = respond(get("/@alice", ""));
        assert_eq!(*r.status(), 200);
        assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
        assert_eq!(header(&r, "cache-control"), "no-cache");
        assert!(header(&r, "content-security-policy").starts_with("default-src 'self'"));
        let etag = header(&r, "etag");
        let again = respond(Ask {
            if_none_match: Some(&etag),
            ..get("/", "")
        });
        assert_eq!(*again.status(), 304);
        assert!(again.body().is_empty());
    }

    #[test]
    fn an_asset_named_by_its_version_is_immutable_and_otherwise_revalidates() {
        let js = assets::asset("app.js").unwrap();
        let v = format!("v={}", js.version());
        let current = respond(get("/assets/app.js", &v));
        assert_eq!(*current.status(), 200);
        assert_eq!(header(&current, "cache-control"), IMMUTABLE);
        assert_eq!(header(&current, "content-type"), js.content_type);
        assert_eq!(current.body(), js.body);
        let unversioned = respond(get("/assets/app.js", ""));
        assert_eq!(header(&unversioned, "cache-control"), "no-cache");
        let old = respond(get("/assets/app.js", "v=0000000000000000"));
        assert_eq!(header(&old, "cache-control"), "no-cache");
        let etag = header(&current, "etag");
        let weak = format!("W/{etag}");
        let revalidated = respond(Ask {
            if_none_match: Some(&weak),
            ..get("/assets/app.js", "")
        });
        assert_eq!(*revalidated.status(), 304);
    }

    #[test]
    fn unknown_paths_are_404_as_a_page_for_browsers_and_as_json_for_programs() {
        let page = respond(get("/nowhere", ""));
        assert_eq!(*page.status(), 404);
        assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
        let program = respond(Ask {
            accept: Some("application/json"),
            ..get("/nowhere", "")
        });
        assert_eq!(*program.status(), 404);
        let body: serde_json::Value = serde_json::from_slice(program.body()).unwrap();
        assert_eq!(body["error"]["code"], "not_found");
        let asset = respond(get("/assets/missing.js", ""));
        assert_eq!(*asset.status(), 404);
    }

    #[test]
    fn pages_take_only_get_and_head() {
        let post = respond(Ask {
            method: &Method::Post,
            ..get("/", "")
        });
        assert_eq!(*post.status(), 405);
        assert_eq!(header(&post, "allow"), "GET, HEAD");
        let head = respond(Ask {
            method: &Method::Head,
            ..get("/", "")
        });
        assert_eq!(*head.status(), 200);
        assert!(head.body().is_empty());
        assert_eq!(header(&head, "content-type"), "text/html; charset=utf-8");
    }
}
