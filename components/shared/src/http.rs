//! The request entry point and JSON in/out.

#[cfg(target_arch = "wasm32")]
pub mod wasip3;

use crate::outbox::Service;
use crate::{ApiError, ApiResult, trace};
use serde::Serialize;
use serde::de::DeserializeOwned;
use spin_sdk::http::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, Params, Request, Response,
    ResponseOutparam, Router, conversions::TryFromIncomingRequest,
};

/// The largest request body accepted on public routes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The largest body of an internal route: a batch of events. A batch holds
/// at most 1,024 events of at most about 2 KiB each (a 280-character body is
/// at most 1,120 bytes of UTF-8).
pub const MAX_INTERNAL_BODY_BYTES: usize = 4 * 1024 * 1024;

/// A service's routes. Each notes its pattern when it matches, so that the
/// request's log line names the route (`/posts/:id`), not the path.
pub struct Routes {
    service: Service,
    router: Router,
}

impl Routes {
    /// No routes yet, for `service`.
    pub fn new(service: Service) -> Self {
        Self {
            service,
            router: Router::new(),
        }
    }

    /// Routes `GET pattern` to `handler`.
    pub fn get_async<F, Fut>(&mut self, pattern: &'static str, handler: F)
    where
        F: Fn(Request, Params) -> Fut + 'static,
        Fut: Future<Output = ApiResult> + 'static,
    {
        self.add(Method::Get, pattern, handler);
    }

    /// Routes `POST pattern` to `handler`.
    pub fn post_async<F, Fut>(&mut self, pattern: &'static str, handler: F)
    where
        F: Fn(Request, Params) -> Fut + 'static,
        Fut: Future<Output = ApiResult> + 'static,
    {
        self.add(Method::Post, pattern, handler);
    }

    /// Routes `PUT pattern` to `handler`.
    pub fn put_async<F, Fut>(&mut self, pattern: &'static str, handler: F)
    where
        F: Fn(Request, Params) -> Fut + 'static,
        Fut: Future<Output = ApiResult> + 'static,
    {
        self.add(Method::Put, pattern, handler);
    }

    /// Routes `PATCH pattern` to `handler`.
    pub fn patch_async<F, Fut>(&mut self, pattern: &'static str, handler: F)
    where
        F: Fn(Request, Params) -> Fut + 'static,
        Fut: Future<Output = ApiResult> + 'static,
    {
        self.add(Method::Patch, pattern, handler);
    }

    /// Routes `DELETE pattern` to `handler`.
    pub fn delete_async<F, Fut>(&mut self, pattern: &'static str, handler: F)
    where
        F: Fn(Request, Params) -> Fut + 'static,
        Fut: Future<Output = ApiResult> + 'static,
    {
        self.add(Method::Delete, pattern, handler);
    }

    fn add<F, Fut>(&mut self, method: Method, pattern: &'static str, handler: F)
    where
        F: Fn(Request, Params) -> Fut + 'static,
        Fut: Future<Output = ApiResult> + 'static,
    {
        self.router
            .add_async(pattern, method, move |req: Request, params: Params| {
                trace::note_route(pattern);
                handler(req, params)
            });
    }
}

/// Serves one request: gives it its id, routes it, sends the response,
/// writes the request's log line, and only then runs `after` (event
/// delivery), so the client never waits for other services.
pub async fn serve<F, Fut>(req: IncomingRequest, out: ResponseOutparam, routes: &Routes, after: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    let headers = req.headers();
    let request_id = trace::begin(
        single_header(&headers, "traceparent").as_deref(),
        single_header(&headers, "x-request-id").as_deref(),
    );
    let method = method_name(&req.method());
    let head = Head {
        path: req.path_with_query().unwrap_or_default(),
        header_bytes: headers_size(&headers),
        content_length: header_str(&headers, "content-length"),
        content_type: header_str(&headers, "content-type"),
    };
    let response = match head.refusal() {
        Some(refused) => refused.to_response(),
        None => {
            let request = Request::try_from_incoming_request(req).await.ok();
            head.route(request, routes).await
        }
    };
    let status = *response.status();
    send(out, response, &request_id).await;
    trace::finish(routes.service.name(), method, status);
    after().await;
    crate::db::close_idle();
}

/// What is known of a request before its body is read.
pub(crate) struct Head {
    /// Path and query.
    pub(crate) path: String,
    /// Header names and values, in bytes.
    pub(crate) header_bytes: usize,
    /// The `content-length` header.
    pub(crate) content_length: Option<String>,
    /// The `content-type` header.
    pub(crate) content_type: Option<String>,
}

impl Head {
    /// The largest body this path takes.
    fn body_limit(&self) -> usize {
        if self.path.starts_with("/internal/") || self.path.starts_with(crate::auth::CHAINED_PREFIX)
        {
            MAX_INTERNAL_BODY_BYTES
        } else {
            MAX_BODY_BYTES
        }
    }

    /// Why the request is refused before its body is read, if it is.
    pub(crate) fn refusal(&self) -> Option<ApiError> {
        let too_large = self
            .content_length
            .as_deref()
            .and_then(|v| v.parse::<usize>().ok())
            .is_some_and(|n| n > self.body_limit());
        if self.path.len() > MAX_URL_BYTES {
            Some(ApiError::UriTooLong)
        } else if self.header_bytes > MAX_HEADER_BYTES {
            Some(ApiError::HeadersTooLarge)
        } else if too_large {
            Some(ApiError::PayloadTooLarge)
        } else {
            None
        }
    }

    /// Routes the request once read (`None`: it could not be), refusing a
    /// body too large or one declared as other than JSON.
    pub(crate) async fn route(&self, request: Option<Request>, routes: &Routes) -> Response {
        let declared_not_json = self.content_type.as_deref().is_some_and(|t| !is_json(t));
        match request {
            Some(request) if request.body().len() > self.body_limit() => {
                ApiError::PayloadTooLarge.to_response()
            }
            Some(request) if declared_not_json && !request.body().is_empty() => {
                ApiError::UnsupportedMediaType.to_response()
            }
            Some(request) => {
                let path = request.path().to_string();
                json_fallbacks(routes.router.handle_async(request).await, &path)
            }
            None => ApiError::BadRequest("unreadable request".into()).to_response(),
        }
    }
}

/// The method's name for the log line; one that is not standard is logged
/// as `OTHER`, since a client may make it up.
pub fn method_name(method: &Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Connect => "CONNECT",
        Method::Options => "OPTIONS",
        Method::Trace => "TRACE",
        Method::Patch => "PATCH",
        Method::Other(_) => "OTHER",
    }
}

/// The value of header `name` when it was sent exactly once, as text.
pub fn single_header(fields: &Fields, name: &str) -> Option<String> {
    match fields.get(name).as_slice() {
        [value] => String::from_utf8(value.clone()).ok(),
        _ => None,
    }
}

/// The longest path and query accepted.
pub const MAX_URL_BYTES: usize = 8 * 1024;
/// The most header bytes (names and values) accepted.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

fn headers_size(fields: &Fields) -> usize {
    fields
        .entries()
        .iter()
        .map(|(name, value)| name.len() + value.len())
        .sum()
}

/// Whether a `content-type` names JSON (`application/json`, with or without
/// parameters such as `charset=utf-8`). Every body this API reads is JSON;
/// a request without a body may carry any type, since nothing reads it.
fn is_json(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

fn header_str(fields: &Fields, name: &str) -> Option<String> {
    fields
        .get(name)
        .first()
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// The router's own 404 and 405 answers become JSON errors; a 405 says in
/// `Allow` which methods the path takes (RFC 9110).
fn json_fallbacks(response: Response, path: &str) -> Response {
    let is_json = response
        .header("content-type")
        .and_then(|v| v.as_str())
        .is_some_and(|v| v.starts_with("application/json"));
    match response.status() {
        404 if !is_json => ApiError::NotFound("no such resource".into()).to_response(),
        405 if !is_json => {
            let mut response = ApiError::MethodNotAllowed.to_response();
            if let Some(allow) = allowed_methods(path) {
                response.set_header("allow", allow);
            }
            response
        }
        _ => response,
    }
}

/// The published contract, whose paths and methods are exactly the
/// routers' (a test in `tests/e2e` checks it).
const CONTRACT: &str = include_str!("../../../openapi.json");

/// The methods `path` takes, as the contract lists them: `GET, PATCH`.
fn allowed_methods(path: &str) -> Option<String> {
    let contract: serde_json::Value = serde_json::from_str(CONTRACT).ok()?;
    let (_, item) = contract["paths"]
        .as_object()?
        .iter()
        .find(|(template, _)| path_matches(template, path))?;
    let methods: Vec<String> = item.as_object()?.keys().map(|m| m.to_uppercase()).collect();
    Some(methods.join(", "))
}

/// Whether `path` fits the contract's `template` (`/posts/{id}/like`).
fn path_matches(template: &str, path: &str) -> bool {
    let (mut t, mut p) = (template.split('/'), path.split('/'));
    loop {
        match (t.next(), p.next()) {
            (None, None) => return true,
            (Some(ts), Some(ps)) if ts.starts_with('{') => {
                if ps.is_empty() {
                    return false;
                }
            }
            (Some(ts), Some(ps)) if ts == ps => {}
            _ => return false,
        }
    }
}

/// The headers a response is sent with: its own, then its
/// `content-length`, `x-content-type-options: nosniff` and `x-request-id`.
/// Every response is JSON, empty, or one of the web client's files, each
/// with its type: browsers must not sniff it as anything else (HTML,
/// script) whatever a body echoes back. Every one names its request, so a
/// client can quote the id.
pub(crate) fn response_headers(response: &Response, request_id: &str) -> Vec<(String, Vec<u8>)> {
    response
        .headers()
        .filter(|(k, _)| {
            !k.eq_ignore_ascii_case("content-length")
                && !k.eq_ignore_ascii_case("x-content-type-options")
                && !k.eq_ignore_ascii_case("x-request-id")
        })
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .chain([
            (
                "content-length".to_string(),
                response.body().len().to_string().into_bytes(),
            ),
            ("x-content-type-options".to_string(), b"nosniff".to_vec()),
            ("x-request-id".to_string(), request_id.as_bytes().to_vec()),
        ])
        .collect()
}

/// Sends `response`, with its `content-length`, its body written before the
/// response is handed to the host. Handing over the head first made the host
/// write head and body as two TCP segments, the second held back (Nagle)
/// until the client acknowledged the first, which a client delays by up to
/// 40 ms: seen on most write requests on kept-alive connections. A body the
/// host will not buffer whole (never the case for this API's sizes) is
/// written after the hand-over instead.
pub async fn send(out: ResponseOutparam, response: Response, request_id: &str) {
    let status = *response.status();
    let bytes = response.body().to_vec();
    let headers = response_headers(&response, request_id);
    let fields = Fields::from_list(&headers).unwrap_or_else(|_| Fields::new());
    let outgoing = OutgoingResponse::new(fields);
    let _ = outgoing.set_status_code(status);
    let Ok(body) = outgoing.body() else {
        eprintln!("the response body was already taken");
        return;
    };
    let Ok(stream) = body.write() else {
        eprintln!("the response body is not writable");
        return;
    };
    let mut written = 0;
    while written < bytes.len() {
        match stream.check_write() {
            Ok(n) if n > 0 => {
                let end = bytes.len().min(written + n as usize);
                if stream.write(&bytes[written..end]).is_err() {
                    break;
                }
                written = end;
            }
            _ => break,
        }
    }
    if written == bytes.len() {
        drop(stream);
        let _ = OutgoingBody::finish(body, None);
        out.set(outgoing);
        return;
    }
    out.set(outgoing);
    for chunk in bytes[written..].chunks(4096) {
        if let Err(e) = stream.blocking_write_and_flush(chunk) {
            eprintln!("could not send the response body: {e:?}");
            return;
        }
    }
    drop(stream);
    let _ = OutgoingBody::finish(body, None);
}

/// Parses a JSON body: malformed JSON or wrong types are 400s; missing
/// fields are left to the DTO's `Option`s so validation can name them (422).
pub fn json_body<T: DeserializeOwned>(req: &Request) -> ApiResult<T> {
    if req.body().is_empty() {
        return Err(ApiError::BadRequest("a JSON body is required".into()));
    }
    serde_json::from_slice(req.body()).map_err(|e| {
        let what = if e.is_data() {
            "wrong JSON types"
        } else {
            "malformed JSON"
        };
        ApiError::BadRequest(format!("{what}: {e}"))
    })
}

/// The JSON body of another service's answer, which must be a 200: any
/// other status is that service being unavailable (503), and a body that is
/// not the `T` it promises is an internal error. `who` names the service.
pub fn ok_json<T: DeserializeOwned>(answer: &Response, who: &str) -> ApiResult<T> {
    if *answer.status() != 200 {
        return Err(ApiError::Unavailable(format!(
            "{who} answered {}",
            answer.status()
        )));
    }
    serde_json::from_slice(answer.body())
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("bad answer from {who}: {e}")))
}

/// A JSON response with `status`.
pub fn json<T: Serialize>(status: u16, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(body)
            .build(),
        Err(e) => ApiError::Internal(e.into()).to_response(),
    }
}

/// A 204.
pub fn no_content() -> Response {
    Response::builder().status(204).build()
}

/// The value of query parameter `name`, percent-decoded.
pub fn query_param(req: &Request, name: &str) -> Option<String> {
    url::form_urlencoded::parse(req.query().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The URL the client used (`spin-full-url`), for `Location` and `Link`.
pub fn request_url(req: &Request) -> Option<url::Url> {
    req.header("spin-full-url")
        .and_then(|v| v.as_str())
        .and_then(|s| url::Url::parse(s).ok())
}

/// A header's value as text.
pub fn header(req: &Request, name: &str) -> Option<String> {
    req.header(name)
        .and_then(|v| v.as_str())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_takes_the_methods_the_contract_lists_for_it() {
        assert_eq!(
            allowed_methods("/posts/01J0X/like").as_deref(),
            Some("DELETE, PUT")
        );
        assert_eq!(allowed_methods("/feed").as_deref(), Some("GET"));
        assert_eq!(allowed_methods("/posts").as_deref(), Some("GET, POST"));
        assert_eq!(allowed_methods("/posts//like"), None);
        assert_eq!(allowed_methods("/nowhere"), None);
    }

    #[test]
    fn json_bodies_are_recognised_with_or_without_parameters() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("application/jsonx"));
    }
}
