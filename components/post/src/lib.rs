//! The post service (being built).

use spin_sdk::http::{IncomingRequest, ResponseOutparam, Router};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    let router = Router::new();
    shared::http::serve(req, out, &router, |_| async {}).await;
}
