//! The post service's internal route, which turns timeline ids into Posts.

use serde::Deserialize;
use serde_json::Value;
use shared::auth::service_credential;
use shared::outbox::Service;
use shared::{ApiError, ApiResult};
use spin_sdk::http::{Request, Response};
use std::collections::HashMap;

/// The most ids `GET /internal/post/posts` takes in one call.
pub const MAX_IDS: usize = 100;

#[derive(Deserialize)]
struct Items {
    items: Vec<Value>,
}

/// The Posts for `ids`, in the same order, without those the post service
/// no longer knows. One call to `GET /internal/post/posts?ids=...`.
pub async fn hydrate(ids: &[String]) -> ApiResult<Vec<Value>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let base = Service::Post.base_url().map_err(ApiError::Internal)?;
    let credential = service_credential().map_err(ApiError::Internal)?;
    let request = Request::get(format!("{base}/internal/post/posts?ids={}", ids.join(",")))
        .header("authorization", format!("Bearer {credential}"))
        .build();
    let response: Response = spin_sdk::http::send(request).await.map_err(|e| {
        eprintln!("feed: post service unreachable: {e}");
        unavailable()
    })?;
    if *response.status() != 200 {
        eprintln!("feed: post service answered {}", response.status());
        return Err(unavailable());
    }
    let body: Items = serde_json::from_slice(response.body())
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("post service sent a bad page: {e}")))?;
    Ok(in_timeline_order(ids, body.items))
}

fn unavailable() -> ApiError {
    ApiError::Unavailable("the post service is unavailable; try again shortly".into())
}

/// Puts `posts` in the order of `ids`, dropping posts not asked for and
/// ids without a post.
pub fn in_timeline_order(ids: &[String], posts: Vec<Value>) -> Vec<Value> {
    let mut by_id: HashMap<String, Value> = posts
        .into_iter()
        .filter_map(|p| Some((p.get("id")?.as_str()?.to_string(), p)))
        .collect();
    ids.iter().filter_map(|id| by_id.remove(id)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn posts_come_back_in_timeline_order() {
        let posts = vec![json!({"id": "b"}), json!({"id": "c"}), json!({"id": "a"})];
        let ordered = in_timeline_order(&ids(&["c", "b", "a"]), posts);
        assert_eq!(
            ordered,
            vec![json!({"id": "c"}), json!({"id": "b"}), json!({"id": "a"})]
        );
    }

    #[test]
    fn ids_the_post_service_no_longer_knows_are_dropped() {
        let ordered = in_timeline_order(&ids(&["c", "b", "a"]), vec![json!({"id": "a"})]);
        assert_eq!(ordered, vec![json!({"id": "a"})]);
    }

    #[test]
    fn posts_not_asked_for_or_without_an_id_are_ignored() {
        let posts = vec![
            json!({"id": "x"}),
            json!({"body": "no id"}),
            json!({"id": "a"}),
        ];
        let ordered = in_timeline_order(&ids(&["a", "a"]), posts);
        assert_eq!(ordered, vec![json!({"id": "a"})]);
    }
}
