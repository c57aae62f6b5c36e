//! Routes for the other services and the scheduler (service credential only).

use crate::domain::{Post, PostId};
use crate::{events, store};
use serde::Serialize;
use shared::auth::require_service;
use shared::http::{json, json_body, no_content, query_param};
use shared::{ApiError, ApiResult};
use spin_sdk::http::{Params, Request};
use std::collections::HashMap;

/// The most ids `GET /internal/post/posts` takes.
pub const MAX_IDS: usize = 100;

// POST /internal/post/events
/// Applies a batch of events idempotently; 204 once all are applied.
pub async fn receive_events(req: Request, _params: Params) -> ApiResult {
    require_service(&req)?;
    let batch: events::IncomingBatch = json_body(&req)?;
    shared::trace::note_events(&batch.events);
    let db = store::open()?;
    let changed = events::apply_batch(&db, batch)?;
    shared::retention::prune(&db, store::KEPT)?;
    store::forget_pages(changed.iter().map(String::as_str));
    Ok(no_content())
}

// POST /internal/post/outbox/flush
/// Delivers every queued event now, ignoring backoff, and reports.
pub async fn flush_outbox(req: Request, _params: Params) -> ApiResult {
    shared::ops::flush(&req, store::open, store::KEPT).await
}

#[derive(Serialize)]
struct Items {
    items: Vec<Post>,
}

// GET /internal/post/posts?ids=ID1,ID2,...
/// The Posts for up to 100 ids in the order asked, without unknown or
/// deleted ones: the feed's hydration, one query.
pub async fn by_ids(req: Request, _params: Params) -> ApiResult {
    require_service(&req)?;
    let raw = query_param(&req, "ids").ok_or_else(|| ApiError::validation("ids", "is required"))?;
    let ids = parse_ids(&raw)?;
    let db = store::open()?;
    let found = store::by_ids(&db, &ids)?;
    Ok(json(
        200,
        &Items {
            items: in_requested_order(&ids, found),
        },
    ))
}

/// The distinct well-formed ids of a comma-separated list, in order; a
/// malformed one names no post and is left out. More than 100 is a 422.
pub fn parse_ids(raw: &str) -> ApiResult<Vec<PostId>> {
    let parts: Vec<&str> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if parts.len() > MAX_IDS {
        return Err(ApiError::validation(
            "ids",
            format!("at most {MAX_IDS} ids per request"),
        ));
    }
    let mut ids: Vec<PostId> = Vec::with_capacity(parts.len());
    for id in parts.into_iter().filter_map(PostId::parse) {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// `posts` in the order of `ids`.
fn in_requested_order(ids: &[PostId], posts: Vec<Post>) -> Vec<Post> {
    let mut by_id: HashMap<String, Post> = posts.into_iter().map(|p| (p.id.clone(), p)).collect();
    ids.iter()
        .filter_map(|id| by_id.remove(id.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Author;

    fn id(n: u8) -> String {
        shared::ids::id_from(1_000, [n; 10])
    }

    fn post(id: String) -> Post {
        Post {
            id,
            author: Author {
                id: "u".into(),
                username: "alice".into(),
            },
            body: "hi".into(),
            created_at: "2026-01-01T00:00:00.000Z".into(),
            reply_to: None,
            like_count: 0,
            reply_count: 0,
        }
    }

    #[test]
    fn ids_are_read_in_order_without_blanks_duplicates_or_garbage() {
        let raw = format!("{}, ,{},nope,{}", id(2), id(1), id(2));
        let ids: Vec<String> = parse_ids(&raw)
            .unwrap()
            .iter()
            .map(|p| p.as_str().to_string())
            .collect();
        assert_eq!(ids, vec![id(2), id(1)]);
        assert!(parse_ids("").unwrap().is_empty());
    }

    #[test]
    fn a_hundred_ids_are_allowed_and_more_are_refused() {
        let hundred: Vec<String> = (0..100).map(|n| id(n as u8)).collect();
        assert_eq!(parse_ids(&hundred.join(",")).unwrap().len(), 100);
        let more = format!("{},{}", hundred.join(","), id(200));
        assert_eq!(parse_ids(&more).unwrap_err().status(), 422);
    }

    #[test]
    fn posts_come_back_in_the_order_asked_and_missing_ones_are_left_out() {
        let ids: Vec<PostId> = [3, 1, 2]
            .iter()
            .map(|n| PostId::parse(&id(*n)).unwrap())
            .collect();
        let ordered = in_requested_order(&ids, vec![post(id(1)), post(id(3))]);
        let got: Vec<&str> = ordered.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(got, vec![id(3), id(1)]);
    }
}
