//! The API at the web's origin: a request for an API path that reaches the
//! web component goes on to the service that serves it.
//!
//! That happens when the web runs as an instance of its own (`spin up -c
//! web`, the `social-web` SpinApp): it then gets every path, and the browser
//! needs no other origin, so no CORS. In one application Spin routes API
//! paths to the services directly and this is never used.

use crate::api::ApiRoute;
use shared::ApiError;
use spin_sdk::http::{Method, Request, Response};

/// The request headers a service reads, passed on as they came. The
/// request id goes on as the web's own id (see `shared::trace`).
pub const REQUEST_HEADERS: [&str; 4] =
    ["authorization", "content-type", "accept", "idempotency-key"];

/// The response headers the API sets, passed back. `x-request-id` and
/// `x-content-type-options` are set again by `shared::http::send`.
pub const RESPONSE_HEADERS: [&str; 9] = [
    "content-type",
    "location",
    "link",
    "retry-after",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "allow",
    "www-authenticate",
];

/// The largest body passed on: that of an internal route, the largest a
/// service takes. Each service applies its own, smaller limits.
const MAX_BODY_BYTES: usize = shared::http::MAX_INTERNAL_BODY_BYTES;

/// Sends `req` to the service of `route` and returns its answer, with URLs
/// in `Location` and `Link` pointing at the web's origin instead of the
/// service's. A service that does not answer is a 503 in the API's words.
pub async fn forward(req: Request, route: ApiRoute) -> Response {
    if req.body().len() > MAX_BODY_BYTES {
        return ApiError::PayloadTooLarge.to_response();
    }
    let base = match spin_sdk::variables::get(&route.url_variable()) {
        Ok(url) => url.trim_end_matches('/').to_string(),
        Err(e) => {
            return ApiError::Internal(anyhow::anyhow!("{}: {e}", route.url_variable()))
                .to_response();
        }
    };
    let path = req.path_and_query().unwrap_or("/");
    let mut outgoing = Request::builder();
    outgoing
        .method(req.method().clone())
        .uri(format!("{base}{path}"));
    for name in REQUEST_HEADERS {
        if let Some(value) = req.header(name).and_then(|v| v.as_str()) {
            outgoing.header(name, value);
        }
    }
    for (name, value) in shared::trace::outbound_headers() {
        outgoing.header(name, value);
    }
    if !matches!(req.method(), Method::Get | Method::Head) || !req.body().is_empty() {
        outgoing.body(req.body().to_vec());
    }
    let answer = match spin_sdk::http::send::<_, Response>(outgoing.build()).await {
        Ok(answer) => answer,
        Err(e) => {
            eprintln!("forward: {base}{} unreachable: {e}", req.path());
            return ApiError::Unavailable(format!(
                "the {} service is not answering; try again shortly",
                route.service()
            ))
            .to_response();
        }
    };
    let origin = own_origin(&req);
    let mut response = Response::builder();
    response.status(*answer.status());
    for (name, value) in answer.headers() {
        let name = name.to_ascii_lowercase();
        if !RESPONSE_HEADERS.contains(&name.as_str()) {
            continue;
        }
        let Some(value) = value.as_str() else {
            continue;
        };
        match (&origin, name.as_str()) {
            (Some(origin), "location" | "link") => {
                response.header(name.clone(), rebase(value, &base, origin))
            }
            _ => response.header(name.clone(), value),
        };
    }
    response.body(answer.into_body()).build()
}

/// The scheme and authority the client used (`http://127.0.0.1:3000`), from
/// `spin-full-url`, which is what the services build their own URLs from.
fn own_origin(req: &Request) -> Option<String> {
    let full = req.header("spin-full-url")?.as_str()?;
    let (scheme, rest) = full.split_once("://")?;
    let authority = rest.split(['/', '?']).next()?;
    Some(format!("{scheme}://{authority}"))
}

/// `value` with every URL that starts with the service's `base` moved to
/// `origin`. Only whole authorities are replaced: `base` must be followed by
/// a path, query, the end of a `Link` target, or the end of the value.
pub fn rebase(value: &str, base: &str, origin: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find(base) {
        let after = &rest[at + base.len()..];
        out.push_str(&rest[..at]);
        if after.is_empty() || after.starts_with(['/', '?', '>', '#']) {
            out.push_str(origin);
        } else {
            out.push_str(base);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_of_the_service_are_moved_to_the_web_origin() {
        let web = "http://127.0.0.1:3000";
        let feed = "http://127.0.0.1:3003";
        assert_eq!(
            rebase(
                "<http://127.0.0.1:3003/feed?cursor=X&limit=2>; rel=\"next\"",
                feed,
                web
            ),
            "<http://127.0.0.1:3000/feed?cursor=X&limit=2>; rel=\"next\""
        );
        assert_eq!(
            rebase("http://127.0.0.1:3003/users/alice", feed, web),
            "http://127.0.0.1:3000/users/alice"
        );
        // Another port that starts with the same digits is another origin.
        assert_eq!(
            rebase("http://127.0.0.1:30031/x", feed, web),
            "http://127.0.0.1:30031/x"
        );
        assert_eq!(rebase("/relative", feed, web), "/relative");
    }

    #[test]
    fn the_web_origin_is_read_from_spin_full_url() {
        let mut req = Request::new(Method::Get, "/feed");
        req.set_header("spin-full-url", "http://example.org:8080/feed?limit=2");
        assert_eq!(own_origin(&req).as_deref(), Some("http://example.org:8080"));
        assert_eq!(own_origin(&Request::new(Method::Get, "/feed")), None);
    }
}
