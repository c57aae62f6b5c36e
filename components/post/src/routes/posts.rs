//! Posts and replies.

use super::{cursor_post_id, deleted_account, ensure_active, not_found, path_post_id};
use crate::domain::{AuthorName, IDEMPOTENCY_WINDOW_MS, IdempotencyKey, PostBody, PostId};
use crate::store::Counts;
use crate::{events, store};
use serde::Deserialize;
use shared::auth::authenticate;
use shared::cache::{CachedPage, items_to_hold};
use shared::db::Db;
use shared::http::{header, json, json_body, no_content, query_param, request_url};
use shared::ids::now_millis;
use shared::outbox::{Service, enqueue, hold_back};
use shared::paging::{PageRequest, page};
use shared::{ApiError, ApiResult};
use spin_sdk::http::{Params, Request};

/// The body of `POST /posts`; fields are optional so a missing one is a
/// 422 naming it rather than a 400.
#[derive(Debug, Deserialize)]
struct CreatePost {
    body: Option<String>,
    reply_to: Option<String>,
}

// POST /posts
/// Publishes a post (or a reply) and queues post-created for the feed in
/// the same transaction. With an `Idempotency-Key`, a repeat of the same key
/// by the same user within 24 h returns the first post and creates nothing.
pub async fn create(req: Request, _params: Params) -> ApiResult {
    let db = store::open()?;
    db.tune_for_writes();
    let caller = authenticate(&req, &db).await?;
    let input: CreatePost = json_body(&req)?;
    let body = PostBody::parse(
        input
            .body
            .ok_or_else(|| ApiError::validation("body", "is required"))?,
    )?;
    let reply_to = input
        .reply_to
        .map(|raw| {
            PostId::parse(&raw).ok_or_else(|| ApiError::validation("reply_to", "no such post"))
        })
        .transpose()?;
    let key = header(&req, "idempotency-key")
        .map(|raw| IdempotencyKey::parse(&raw))
        .transpose()?;
    let username = caller.username.to_lowercase();
    crate::limits::POSTS.hit(&db, &caller.id)?;
    let now = now_millis();
    let id = PostId::generate();
    let new = store::NewPost {
        id: &id,
        author_id: &caller.id,
        author_username: &username,
        body: &body,
        created_ms: now,
        reply_to: reply_to.as_ref(),
    };
    let insert = |db: &Db| store::insert(db, &new)?.ok_or_else(deleted_account);
    let (post, parent) = if key.is_none() && reply_to.is_none() {
        // One statement: no transaction to hold the write lock across.
        let inserted = insert(&db)?;
        hold_back(&db, inserted.backlog)?;
        (inserted.post, inserted.parent)
    } else {
        db.transaction(|db| {
            if let Some(key) = &key
                && let Some(first) =
                    store::post_for_key(db, &caller.id, key, now - IDEMPOTENCY_WINDOW_MS)?
            {
                return Ok((first, None));
            }
            if let Some(parent) = &reply_to
                && !store::exists(db, parent)?
            {
                return Err(ApiError::validation("reply_to", "no such post"));
            }
            let store::Inserted { post, parent, .. } = insert(db)?;
            if let Some(key) = &key {
                store::remember_key(db, &caller.id, key, &id, now, now - IDEMPOTENCY_WINDOW_MS)?;
            }
            events::queue_counts(db, parent.as_ref())?;
            Ok((post, parent))
        })?
    };
    // A reply changes its parent's counts: that page is forgotten. The new
    // post joins its author's page in place (none left to join when it was
    // the same page).
    store::forget_pages(parent.as_ref().map(|c| c.author_username.as_str()));
    store::show_new_post(&db, &post, now);
    let location = format!("/posts/{}", post.id);
    let location = request_url(&req)
        .and_then(|base| base.join(&location).ok())
        .map(String::from)
        .unwrap_or(location);
    let mut response = json(201, &post);
    response.set_header("location", location);
    Ok(response)
}

/// The authors whose lists of posts a change shows in: the writer, and the
/// author of the post whose counts changed.
fn authors<'a>(writer: &'a str, counts: Option<&'a Counts>) -> impl Iterator<Item = &'a str> {
    std::iter::once(writer).chain(counts.map(|c| c.author_username.as_str()))
}

// GET /posts/{id}
/// One post; 404 when unknown (or not an id).
pub async fn get(_req: Request, params: Params) -> ApiResult {
    let id = path_post_id(&params)?;
    let db = store::open()?;
    let post = store::post(&db, &id)?.ok_or_else(not_found)?;
    Ok(json(200, &post))
}

// DELETE /posts/{id}
/// Deletes the caller's own post with its likes, uncounts it from its
/// parent and queues post-deleted for the feed; 403 for someone else's.
pub async fn delete(req: Request, params: Params) -> ApiResult {
    let db = store::open()?;
    let caller = authenticate(&req, &db).await?;
    let id = path_post_id(&params)?;
    let username = caller.username.to_lowercase();
    let parent = db.transaction(|db| {
        ensure_active(db, &caller)?;
        let (author, parent) = store::author_and_parent(db, &id)?.ok_or_else(not_found)?;
        if author != caller.id {
            return Err(ApiError::Forbidden(
                "only the author may delete a post".into(),
            ));
        }
        let parent = store::delete(db, &id, parent.as_deref())?;
        enqueue(
            db,
            Service::Feed,
            &events::post_deleted(id.as_str(), &author),
        )?;
        events::queue_counts(db, parent.as_ref())?;
        Ok(parent)
    })?;
    store::forget_pages(authors(&username, parent.as_ref()));
    Ok(no_content())
}

// GET /posts?author={username}
/// A page of a user's posts, newest first: one range scan of an index. First
/// pages are served from the key-value cache when they can be.
pub async fn by_author(req: Request, _params: Params) -> ApiResult {
    let author = AuthorName::parse(query_param(&req, "author"))?;
    let page_req = PageRequest::from_request(&req)?;
    let before = cursor_post_id(page_req.after.as_deref())?;
    // First pages come from the cache, or fill it.
    if let (None, Some(cache)) = (&before, store::cache()) {
        if let Some(cached) = cache.page(author.as_str())
            && cached.serves(&page_req)
        {
            return Ok(cached.respond(&req, &page_req));
        }
        // On a cold cache, every author's is filled at once, or is being
        // filled (ADR 0030).
        if let Some(warmed) =
            shared::warm::on_miss(&cache, author.as_str(), &crate::warm::Authors, store::open)
            && warmed.serves(&page_req)
        {
            return Ok(warmed.respond(&req, &page_req));
        }
        // Claimed before the posts are read: a post committed later reaches
        // the claim, so what is stored is never older than the store.
        let claim = cache.claim_page(author.as_str());
        let db = store::open()?;
        let held = items_to_hold(&page_req);
        let posts = store::by_author(&db, &author, None, held as i64 + 1)?;
        let first = CachedPage::from_rows(&posts, held, |p| p.id.clone());
        if let Some(claim) = claim {
            cache.fill(claim, &first);
        }
        return Ok(first.respond(&req, &page_req));
    }
    let db = store::open()?;
    let posts = store::by_author(&db, &author, before.as_ref(), page_req.fetch())?;
    Ok(page(&req, &page_req, posts, |p| p.id.clone()))
}

// GET /posts/{id}/replies
/// A page of replies to a post, oldest first; 404 for an unknown post.
pub async fn replies(req: Request, params: Params) -> ApiResult {
    let id = path_post_id(&params)?;
    let page_req = PageRequest::from_request(&req)?;
    let after = cursor_post_id(page_req.after.as_deref())?;
    let db = store::open()?;
    if !store::exists(&db, &id)? {
        return Err(not_found());
    }
    let posts = store::replies(&db, &id, after.as_ref(), page_req.fetch())?;
    Ok(page(&req, &page_req, posts, |p| p.id.clone()))
}
