//! The published contract.

use shared::ApiResult;
use spin_sdk::http::{Params, Request, Response};

/// The published contract of every service (`openapi.json` at the root of
/// the repository), served by the user service.
const OPENAPI: &str = include_str!("../../../../openapi.json");

// GET /openapi.json
/// The OpenAPI 3.1 document of the whole API.
pub async fn openapi(_req: Request, _params: Params) -> ApiResult {
    Ok(Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(OPENAPI)
        .build())
}
