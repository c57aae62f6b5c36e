//! The request entry point and JSON in/out.

use crate::{ApiError, ApiResult};
use serde::Serialize;
use serde::de::DeserializeOwned;
use spin_sdk::http::{
    Fields, IncomingRequest, OutgoingResponse, Request, Response, ResponseOutparam, Router,
    conversions::TryFromIncomingRequest,
};

/// The largest request body accepted on public routes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The largest body of an internal route: a batch of events. A batch holds
/// at most 256 events of at most about 2 KiB each (a 280-character body is
/// at most 1,120 bytes of UTF-8).
pub const MAX_INTERNAL_BODY_BYTES: usize = 1024 * 1024;

/// Serves one request: routes it, sends the response, and only then runs
/// `after` (event delivery), so the client never waits for other services.
pub async fn serve<F, Fut>(req: IncomingRequest, out: ResponseOutparam, router: &Router, after: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    let limit = match req.path_with_query() {
        Some(p) if p.starts_with("/internal/") => MAX_INTERNAL_BODY_BYTES,
        _ => MAX_BODY_BYTES,
    };
    let too_large = header_str(&req.headers(), "content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > limit);
    let response = if too_large {
        ApiError::PayloadTooLarge.to_response()
    } else {
        match Request::try_from_incoming_request(req).await {
            Ok(request) if request.body().len() > limit => ApiError::PayloadTooLarge.to_response(),
            Ok(request) => json_fallbacks(router.handle_async(request).await),
            Err(_) => ApiError::BadRequest("unreadable request".into()).to_response(),
        }
    };
    send(out, response).await;
    after().await;
}

fn header_str(fields: &Fields, name: &str) -> Option<String> {
    fields
        .get(name)
        .first()
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// The router's own 404 and 405 answers become JSON errors.
fn json_fallbacks(response: Response) -> Response {
    let is_json = response
        .header("content-type")
        .and_then(|v| v.as_str())
        .is_some_and(|v| v.starts_with("application/json"));
    match response.status() {
        404 if !is_json => ApiError::NotFound("no such resource".into()).to_response(),
        405 if !is_json => ApiError::MethodNotAllowed.to_response(),
        _ => response,
    }
}

async fn send(out: ResponseOutparam, response: Response) {
    let headers: Vec<(String, Vec<u8>)> = response
        .headers()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect();
    let fields = Fields::from_list(&headers).unwrap_or_else(|_| Fields::new());
    let outgoing = OutgoingResponse::new(fields);
    let _ = outgoing.set_status_code(*response.status());
    if let Err(e) = out.set_with_body(outgoing, response.into_body()).await {
        eprintln!("could not send the response body: {e:?}");
    }
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
