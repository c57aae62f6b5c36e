//! The HTTP listener: Spin's routing and the `spin-*` headers it gives guests.

use crate::routing::{Route, RouteMatch};
use crate::runtime::{AppRuntime, empty_response};
use http::{HeaderMap, HeaderName, HeaderValue, Uri};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// Headers Spin sets for the guest; copies sent by clients are replaced.
const SPIN_HEADERS: [&str; 7] = [
    "spin-full-url",
    "spin-path-info",
    "spin-matched-route",
    "spin-component-route",
    "spin-raw-component-route",
    "spin-base-path",
    "spin-client-addr",
];

/// Accepts connections until `shutdown` turns true, then drops them all.
pub async fn serve(
    app: Arc<AppRuntime>,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, client)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let app = app.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let app = app.clone();
                        async move { Ok::<_, std::convert::Infallible>(dispatch(app, req, client).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = shutdown.wait_for(|stopped| *stopped) => break,
        }
    }
    connections.shutdown().await;
}

async fn dispatch(
    app: Arc<AppRuntime>,
    req: hyper::Request<Incoming>,
    client: SocketAddr,
) -> hyper::Response<HyperOutgoingBody> {
    let path = req.uri().path().to_string();
    let Some((route, component_id, matched)) = app.router.route(&path) else {
        return empty_response(404);
    };
    let component = app.components[component_id].clone();
    let (mut parts, body) = req.into_parts();
    let host = parts
        .headers
        .remove(http::header::HOST)
        .and_then(|h| h.to_str().ok().map(str::to_string))
        .or_else(|| app.self_addr.get().map(|a| a.to_string()))
        .unwrap_or_else(|| "localhost".into());
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let full_url = format!("http://{host}{path_and_query}");
    let Ok(uri) = full_url.parse::<Uri>() else {
        return empty_response(400);
    };
    parts.uri = uri;
    set_spin_headers(
        &mut parts.headers,
        &full_url,
        route,
        &matched,
        &client.to_string(),
    );
    let body = body
        .map_err(wasmtime_wasi_http::p2::hyper_request_error)
        .boxed_unsync();
    app.handle(&component, hyper::Request::from_parts(parts, body))
        .await
}

fn set_spin_headers(
    headers: &mut HeaderMap,
    full_url: &str,
    route: &Route,
    matched: &RouteMatch,
    client: &str,
) {
    for name in SPIN_HEADERS {
        headers.remove(name);
    }
    let mut set = |name: &str, value: &str| {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(n, v);
        }
    };
    set("spin-full-url", full_url);
    set("spin-path-info", &matched.path_info);
    set("spin-matched-route", &route.matched_route());
    set("spin-component-route", route.component_route());
    set("spin-raw-component-route", route.raw());
    set("spin-base-path", "/");
    set("spin-client-addr", client);
    for (name, value) in &matched.params {
        set(&format!("spin-path-match-{name}"), value);
    }
}

/// Prepares a `*.spin.internal` request as Spin presents it to the callee:
/// the whole path is the path info and the client address is `0.0.0.0:0`.
pub fn chained_request(
    request: hyper::Request<HyperOutgoingBody>,
) -> hyper::Request<HyperOutgoingBody> {
    let (mut parts, body) = request.into_parts();
    parts.headers.remove(http::header::HOST);
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_string();
    let route = Route::parse("/...");
    let matched = RouteMatch {
        path_info: parts.uri.path().to_string(),
        params: Default::default(),
    };
    set_spin_headers(
        &mut parts.headers,
        &format!("http://localhost{path_and_query}"),
        &route,
        &matched,
        "0.0.0.0:0",
    );
    hyper::Request::from_parts(parts, body)
}
