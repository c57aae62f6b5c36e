//! The post service's relay (ADR 0034).
//!
//! The post service takes requests as WASIp3, and Spin 4.0.2 does not chain
//! a WASIp3 instance's requests, so inside one application the post cannot
//! send its events itself. Its relay, a WASIp2 component with the post's
//! store, can: told over the listener that events wait, it runs the outbox
//! deliverer on that store, chaining to the feed and the user service.

#[cfg(target_arch = "wasm32")]
mod routes {
    use shared::ApiResult;
    use shared::db::Db;
    use shared::{http, outbox, relay};
    use spin_sdk::http::{Params, Request, Response};

    /// The post service's SQLite database (see `runtime-config.toml`).
    const LABEL: &str = "posts";

    /// The post's store as the post left it: its migrations made the outbox
    /// and the relay secret before it called.
    pub fn open() -> ApiResult<Db> {
        Db::open(LABEL, &[])
    }

    /// Opens the store and admits only the post service.
    fn admit(req: &Request) -> ApiResult<Db> {
        let db = open()?;
        relay::require_relay_caller(req, &db)?;
        Ok(db)
    }

    // POST /internal/post/relay
    /// 202, then delivers every destination's pending events after the
    /// response, respecting the deliverers' leases and backoff.
    pub async fn deliver(req: Request, _params: Params) -> ApiResult {
        let db = admit(&req)?;
        outbox::deliver_pending_after_response(&db)?;
        Ok(Response::new(202, ()))
    }

    // POST /internal/post/relay/flush
    /// Delivers every destination's events now, ignoring backoff, and
    /// reports: the post's flush route, done here.
    pub async fn flush(req: Request, _params: Params) -> ApiResult {
        let db = admit(&req)?;
        let report = outbox::flush(&db).await?;
        Ok(http::json(200, &report))
    }
}

#[cfg(target_arch = "wasm32")]
#[spin_sdk::http_component]
async fn handle(req: spin_sdk::http::IncomingRequest, out: spin_sdk::http::ResponseOutparam) {
    let mut router = shared::http::Routes::new(shared::outbox::Service::Post);
    router.post_async("/internal/post/relay", routes::deliver);
    router.post_async("/internal/post/relay/flush", routes::flush);
    shared::http::serve(req, out, &router, || {
        shared::outbox::deliver_after(routes::open)
    })
    .await;
}
