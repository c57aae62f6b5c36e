//! The WASIp3 entry (ADR 0033): a request through
//! `wasi:http/handler@0.3.0-rc-2026-03-15`, served by the same routes and
//! checks as [`super::serve`]. Spin sends a WASIp3 instance many requests,
//! so the connections a request leaves stay open for the next one. The
//! routes run synchronously under spin-sdk's executor, so the instance runs
//! one request's handler at a time. It may take up another request while a
//! body arrives or before a delivery starts, so the request's trace (its
//! id, route) is set aside across those two awaits ([`trace::suspend`]).

use super::{Head, Routes, method_name, response_headers};
use crate::trace;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use spin_sdk::http::{Method, Request};
use wasip3::http::types::{ErrorCode, Request as WasiRequest, Response as WasiResponse};

/// Serves `request`: refuses or routes it, writes its log line, and runs
/// `after` (event delivery) in a task of the instance once the response is
/// on its way.
pub async fn serve<F, Fut>(
    request: WasiRequest,
    routes: &Routes,
    after: F,
) -> Result<WasiResponse, ErrorCode>
where
    F: FnOnce() -> Fut + 'static,
    Fut: Future<Output = ()>,
{
    let (parts, body) = wasip3::http_compat::http_from_wasi_request(request)?.into_parts();
    let header = |name: &str| {
        let mut values = parts.headers.get_all(name).iter();
        match (values.next(), values.next()) {
            (Some(value), None) => value.to_str().ok(),
            _ => None,
        }
    };
    crate::relay::serving_as_wasip3(routes.service);
    let request_id = trace::begin(header("traceparent"), header("x-request-id"));
    let method = to_spin_method(&parts.method);
    let head = Head {
        path: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default(),
        header_bytes: parts
            .headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum(),
        content_length: header("content-length").map(str::to_string),
        content_type: header("content-type").map(str::to_string),
    };
    let response = match head.refusal() {
        Some(refused) => refused.to_response(),
        None => {
            // The instance may serve other requests while this one's body
            // arrives; each keeps its own id and route.
            let waiting = trace::suspend();
            let read = body.collect().await.ok().map(|c| c.to_bytes().to_vec());
            trace::resume(waiting);
            let request = read.map(|body| {
                let mut builder = Request::builder();
                builder.method(method.clone()).uri(parts.uri.to_string());
                for (name, value) in &parts.headers {
                    if let Ok(value) = value.to_str() {
                        builder.header(name.as_str(), value);
                    }
                }
                builder.body(body).build()
            });
            spin_executor::run(head.route(request, routes))
        }
    };
    let status = *response.status();
    let mut out = http::Response::builder().status(status);
    for (name, value) in response_headers(&response, &request_id) {
        out = out.header(name, value);
    }
    let out = out
        .body(Full::new(Bytes::from(response.into_body())))
        .map_err(|e| ErrorCode::InternalError(Some(e.to_string())))?;
    trace::finish(routes.service.name(), method_name(&method), status);
    // Delivery runs as this request, whichever the instance serves by then.
    let delivering = trace::suspend();
    wasip3::spawn(async move {
        trace::resume(delivering);
        spin_executor::run(after());
        crate::db::keep_idle();
    });
    wasip3::http_compat::http_into_wasi_response(out)
}

/// The request's method as spin-sdk names it.
fn to_spin_method(method: &http::Method) -> Method {
    match method.as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "CONNECT" => Method::Connect,
        "OPTIONS" => Method::Options,
        "TRACE" => Method::Trace,
        "PATCH" => Method::Patch,
        other => Method::Other(other.to_string()),
    }
}
