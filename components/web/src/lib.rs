//! The web client: a page for people, served at `/`.
//!
//! The client is plain HTML, CSS and JavaScript (`client/`), compiled into
//! the component and served from this origin only ([`assets`], [`site`]).
//! It calls the JSON API at the same origin. In one application Spin routes
//! the API's paths to the services, and this component's catch-all route
//! gets the rest; as an instance of its own it gets every path and forwards
//! the API's to the services ([`forward`]), so the browser still sees one
//! origin.

pub mod api;
pub mod assets;
pub mod forward;
pub mod site;

#[cfg(target_arch = "wasm32")]
use spin_sdk::http::{IncomingRequest, ResponseOutparam};

/// The service name in log lines.
pub const SERVICE: &str = "web";

// Only for wasm: the export's `wasi:http/...` symbol name cannot be linked
// into the native library that unit tests build.
#[cfg(target_arch = "wasm32")]
#[spin_sdk::http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    use shared::http::{method_name, send, single_header};
    use spin_sdk::http::{Request, conversions::TryFromIncomingRequest};

    let headers = req.headers();
    let request_id = shared::trace::begin(
        single_header(&headers, "traceparent").as_deref(),
        single_header(&headers, "x-request-id").as_deref(),
    );
    let method = method_name(&req.method());
    let response = match Request::try_from_incoming_request(req).await {
        Ok(request) => answer(request).await,
        Err(_) => shared::ApiError::BadRequest("unreadable request".into()).to_response(),
    };
    let status = *response.status();
    send(out, response, &request_id).await;
    shared::trace::finish(SERVICE, method, status);
}

/// The answer to one request: the API's, from its service, or the client's.
#[cfg(target_arch = "wasm32")]
async fn answer(request: spin_sdk::http::Request) -> spin_sdk::http::Response {
    let path = request.path().to_string();
    if let Some(route) = api::route_for(&path) {
        shared::trace::note_route(route.route);
        return forward::forward(request, route).await;
    }
    if let Some(pattern) = site::pattern(&path) {
        shared::trace::note_route(pattern);
    }
    let text = |name: &str| {
        request
            .header(name)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let (accept, if_none_match) = (text("accept"), text("if-none-match"));
    site::respond(site::Ask {
        method: request.method(),
        path: &path,
        query: request.query(),
        accept: accept.as_deref(),
        if_none_match: if_none_match.as_deref(),
    })
}
