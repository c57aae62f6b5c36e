//! The post service: posts, replies, likes and user timelines.
//!
//! Every change is one SQLite transaction that also queues the events the
//! feed needs (post-created, post-deleted); they are delivered after the
//! response. Posts carry exact like and reply counters, kept in the same
//! transactions, so every read is one indexed query.

pub mod domain;
pub mod events;
pub mod limits;
pub mod routes;
pub mod store;
pub mod warm;

#[cfg(target_arch = "wasm32")]
fn routes() -> shared::http::Routes {
    use routes::{health, internal, likes, posts};
    let mut router = shared::http::Routes::new(shared::outbox::Service::Post);
    router.post_async("/posts", posts::create);
    router.get_async("/posts", posts::by_author);
    router.get_async("/posts/:id", posts::get);
    router.delete_async("/posts/:id", posts::delete);
    router.get_async("/posts/:id/replies", posts::replies);
    router.put_async("/posts/:id/like", likes::like);
    router.delete_async("/posts/:id/like", likes::unlike);
    router.get_async("/health/post", health::health);
    router.post_async("/internal/post/events", internal::receive_events);
    router.post_async("/chained/post/events", internal::receive_events);
    router.post_async("/internal/post/outbox/flush", internal::flush_outbox);
    router.get_async("/internal/post/posts", internal::by_ids);
    router
}

/// The WASIp3 entry (spike, ADR 0033).
#[cfg(target_arch = "wasm32")]
struct Entry;

#[cfg(target_arch = "wasm32")]
wasip3::http::service::export!(Entry);

#[cfg(target_arch = "wasm32")]
impl wasip3::exports::http::handler::Guest for Entry {
    async fn handle(
        request: wasip3::http::types::Request,
    ) -> Result<wasip3::http::types::Response, wasip3::http::types::ErrorCode> {
        use http_body_util::BodyExt;
        let request = wasip3::http_compat::http_from_wasi_request(request)?;
        let (parts, body) = request.into_parts();
        let body = body
            .collect()
            .await
            .map(|c| c.to_bytes().to_vec())
            .unwrap_or_default();
        let method = match parts.method.as_str() {
            "GET" => spin_sdk::http::Method::Get,
            "POST" => spin_sdk::http::Method::Post,
            "PUT" => spin_sdk::http::Method::Put,
            "DELETE" => spin_sdk::http::Method::Delete,
            "PATCH" => spin_sdk::http::Method::Patch,
            "HEAD" => spin_sdk::http::Method::Head,
            _ => spin_sdk::http::Method::Options,
        };
        let mut builder = spin_sdk::http::Request::builder();
        builder.method(method).uri(parts.uri.to_string());
        for (name, value) in &parts.headers {
            builder.header(name.as_str(), value.to_str().unwrap_or_default());
        }
        let request = builder.body(body).build();
        let (response, request_id) =
            spin_executor::run(async { shared::http::route(request, &routes()).await });
        let mut out = http::Response::builder().status(*response.status());
        for (name, value) in response.headers() {
            if let Some(v) = value.as_str() {
                out = out.header(name, v);
            }
        }
        out = out.header("x-request-id", request_id);
        let out = out
            .body(http_body_util::Full::new(bytes::Bytes::from(response.into_body())))
            .map_err(|_| wasip3::http::types::ErrorCode::InternalError(None))?;
        wasip3::spawn(async {
            spin_executor::run(shared::outbox::deliver_after(store::open));
        });
        wasip3::http_compat::http_into_wasi_response(out)
    }
}
