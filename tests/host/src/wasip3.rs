//! WASIp3 components (`wasi:http/handler@0.3.0-rc-2026-03-15`, spin-sdk 6).
//!
//! Spin 4.0.2 sends up to 128 requests to one instance of a WASIp3
//! component, up to 16 at a time, and drops an instance after 1 s idle. It
//! uses wasmtime's `ProxyHandler` for that, and so does the host, with the
//! same limits. Spin gives a WASIp3 instance's outbound requests neither
//! service chaining nor self-requests; neither does the host.

use crate::outbound::Destination;
use crate::runtime::{AppRuntime, ComponentRuntime, HostState, OutboundHooks};
use anyhow::{Result, anyhow};
use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use std::pin::Pin;
use std::sync::{Arc, OnceLock, Weak};
use std::task::Poll;
use std::time::Duration;
use tokio::sync::oneshot;
use wasmtime::component::InstancePre;
use wasmtime_wasi_http::handler::{HandlerState, Proxy, ProxyHandler, ProxyPre, StoreBundle};
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode as P2ErrorCode;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::p3::bindings::ServicePre;
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::p3::{Request, RequestOptions, WasiHttpHooks};

/// Spin 4.0.2's defaults for WASIp3 components (`spin up --help`).
const MAX_REUSE: usize = 128;
const MAX_CONCURRENT: usize = 16;
const IDLE_TIMEOUT: Duration = Duration::from_secs(1);

/// How a WASIp3 component is entered: its pre-instance, and the pool of
/// instances made on its first request.
pub struct Entry {
    pre: ServicePre<HostState>,
    instances: OnceLock<ProxyHandler<Instances>>,
}

impl Entry {
    /// Checks that `pre` exports `wasi:http/handler@0.3.0-rc-2026-03-15`.
    pub fn new(pre: InstancePre<HostState>) -> Result<Self> {
        Ok(Self {
            pre: ServicePre::new(pre).map_err(anyhow::Error::from)?,
            instances: OnceLock::new(),
        })
    }

    /// Hands `req` to an instance; answers once the guest has responded.
    pub async fn handle(
        &self,
        app: &Arc<AppRuntime>,
        component: &Arc<ComponentRuntime>,
        req: hyper::Request<HyperOutgoingBody>,
    ) -> Result<hyper::Response<HyperOutgoingBody>> {
        let instances = self.instances.get_or_init(|| {
            let state = Instances {
                app: Arc::downgrade(app),
                component: Arc::downgrade(component),
            };
            ProxyHandler::new(state, ProxyPre::P3(self.pre.clone()))
        });
        let (respond, response) = oneshot::channel();
        let app = app.clone();
        instances.spawn(
            None,
            Box::new(move |accessor, proxy| {
                Box::pin(async move {
                    let Proxy::P3(service) = proxy else {
                        unreachable!("a WASIp3 entry makes WASIp3 instances")
                    };
                    let (parts, body) = req.into_parts();
                    let body = body.map_err(to_p3_error);
                    let (request, io) = Request::from_http(hyper::Request::from_parts(parts, body));
                    let answer = match service.handle(accessor, request).await {
                        Ok(Ok(response)) => {
                            accessor.with(|mut store| response.into_http(&mut store, io))
                        }
                        Ok(Err(code)) => {
                            Err(wasmtime::format_err!("guest responded with error {code:?}"))
                        }
                        Err(e) => Err(e.context("guest invocation failed")),
                    };
                    match answer {
                        Ok(response) => {
                            // The instance must live until the guest has
                            // written the whole body.
                            let (sent, body_done) = oneshot::channel();
                            let response = response.map(|body| Notify::new(body, sent));
                            let _ = respond.send(Ok(response));
                            tokio::select! {
                                _ = body_done => {}
                                _ = app.stopped() => {}
                            }
                        }
                        Err(e) => {
                            let _ = respond.send(Err(anyhow::Error::from(e)));
                        }
                    }
                })
            }),
        );
        let response = response
            .await
            .map_err(|_| anyhow!("guest failed to produce a response"))??;
        Ok(response.map(|body| body.map_err(to_p2_error).boxed_unsync()))
    }
}

/// Makes stores for a WASIp3 component's instances, with Spin's limits.
struct Instances {
    app: Weak<AppRuntime>,
    component: Weak<ComponentRuntime>,
}

impl HandlerState for Instances {
    type StoreData = HostState;

    fn new_store(&self, _req_id: Option<u64>) -> wasmtime::Result<StoreBundle<HostState>> {
        let (Some(app), Some(component)) = (self.app.upgrade(), self.component.upgrade()) else {
            return Err(wasmtime::format_err!("the app has stopped"));
        };
        Ok(StoreBundle {
            store: app.new_store(&component),
            write_profile: Box::new(|_| {}),
        })
    }

    /// Spin sets none unless `--request-timeout` is given.
    fn request_timeout(&self) -> Duration {
        Duration::MAX
    }

    fn idle_instance_timeout(&self) -> Duration {
        IDLE_TIMEOUT
    }

    fn max_instance_reuse_count(&self) -> usize {
        MAX_REUSE
    }

    fn max_instance_concurrent_reuse_count(&self) -> usize {
        MAX_CONCURRENT
    }

    fn handle_worker_error(&self, error: wasmtime::Error) {
        if let Some(component) = self.component.upgrade() {
            component.log(&format!("instance ended with an error: {error:?}"));
        }
    }
}

/// A response body that says when it is finished with, so the task that
/// made it can end.
struct Notify {
    body: UnsyncBoxBody<Bytes, ErrorCode>,
    _sent: oneshot::Sender<()>,
}

impl Notify {
    fn new(body: UnsyncBoxBody<Bytes, ErrorCode>, sent: oneshot::Sender<()>) -> Self {
        Self { body, _sent: sent }
    }
}

impl hyper::body::Body for Notify {
    type Data = Bytes;
    type Error = ErrorCode;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, ErrorCode>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// The request body's errors as the guest's interface names them.
fn to_p3_error(e: P2ErrorCode) -> ErrorCode {
    ErrorCode::InternalError(Some(format!("{e:?}")))
}

/// The guest's body errors as the server's body type names them.
fn to_p2_error(e: ErrorCode) -> P2ErrorCode {
    P2ErrorCode::InternalError(Some(format!("{e:?}")))
}

type SendResult = Result<
    (
        hyper::Response<UnsyncBoxBody<Bytes, ErrorCode>>,
        Box<dyn Future<Output = Result<(), ErrorCode>> + Send>,
    ),
    wasmtime_wasi::TrappableError<ErrorCode>,
>;

impl WasiHttpHooks for OutboundHooks {
    /// The component's policy, then the network. Like Spin 4.0.2 for a
    /// WASIp3 instance: `*.spin.internal` is not chained (it goes to DNS),
    /// and a self-request fails for want of an origin.
    fn send_request(
        &mut self,
        mut request: hyper::Request<UnsyncBoxBody<Bytes, ErrorCode>>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), ErrorCode>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        let checked = self.check(request.uri());
        Box::new(async move {
            checked?;
            request.headers_mut().remove(http::header::HOST);
            let (response, io) =
                wasmtime_wasi_http::p3::default_send_request(request, options).await?;
            let io: Box<dyn Future<Output = Result<(), ErrorCode>> + Send> = Box::new(io);
            Ok((response.map(BodyExt::boxed_unsync), io))
        })
    }
}

impl OutboundHooks {
    /// Whether a WASIp3 instance of the component may send to `uri`.
    fn check(&self, uri: &http::Uri) -> Result<(), ErrorCode> {
        let deny = || {
            self.log_denied(uri);
            ErrorCode::HttpRequestDenied
        };
        let Some(policy) = self.policy() else {
            return Err(deny());
        };
        let is_self = uri.host().is_none_or(|h| h.is_empty() || h == "self.alt");
        if is_self {
            if !policy.allows_self() {
                return Err(deny());
            }
            self.component
                .log("Couldn't handle outbound HTTP request to relative URI; no origin set");
            return Err(ErrorCode::HttpRequestUriInvalid);
        }
        let dest = Destination::from_uri(uri).ok_or(ErrorCode::HttpRequestUriInvalid)?;
        if !policy.allows(&dest) {
            return Err(deny());
        }
        Ok(())
    }
}
