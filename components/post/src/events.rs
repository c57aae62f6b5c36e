//! Events: the ones this service sends (post created/deleted and changed
//! counts, to the feed) and applying the ones it receives (user deleted).

use crate::domain::Post;
use crate::store::{self, Counts};
use serde::Deserialize;
use serde_json::Value;
use shared::ApiResult;
use shared::auth::{ACCOUNT_DELETED, cut_off};
use shared::db::Db;
use shared::events::{
    Event, Payload, PostCountsChanged, PostCreated, PostDeleted, first_delivery, new_event,
};
use shared::outbox::{Service, enqueue};

/// The event telling the feed that `post` was published, with all of it.
pub fn post_created(post: &Post) -> Event {
    new_event(Payload::PostCreated(PostCreated {
        post_id: post.id.clone(),
        author_id: post.author.id.clone(),
        author_username: post.author.username.clone(),
        body: post.body.clone(),
        created_at: post.created_at.clone(),
        reply_to: post.reply_to.clone(),
    }))
}

/// The event telling the feed a post's new counts.
pub fn counts_changed(counts: &Counts) -> Event {
    new_event(Payload::PostCountsChanged(PostCountsChanged {
        post_id: counts.post_id.clone(),
        like_count: counts.like_count,
        reply_count: counts.reply_count,
        version: counts.version,
    }))
}

/// Queues [`counts_changed`] for the feed when `counts` changed (call inside
/// the transaction that changed them).
pub fn queue_counts(db: &Db, counts: Option<&Counts>) -> ApiResult<()> {
    match counts {
        Some(counts) => enqueue(db, Service::Feed, &counts_changed(counts)),
        None => Ok(()),
    }
}

/// The event telling the feed that a post was deleted.
pub fn post_deleted(post_id: &str, author_id: &str) -> Event {
    new_event(Payload::PostDeleted(PostDeleted {
        post_id: post_id.to_string(),
        author_id: author_id.to_string(),
    }))
}

/// The body of `POST /internal/post/events`: a `Batch` whose events are
/// decoded one by one, so a kind this version does not know (sent by a
/// newer service) is skipped instead of blocking the whole batch.
#[derive(Debug, Deserialize)]
pub struct IncomingBatch {
    /// The events, not yet decoded.
    pub events: Vec<Value>,
}

/// Applies every event of `batch` in one transaction; redelivered events
/// are skipped, so applying twice changes nothing. Returns the authors whose
/// lists of posts changed.
pub fn apply_batch(db: &Db, batch: IncomingBatch) -> ApiResult<Vec<String>> {
    let events: Vec<Event> = batch
        .events
        .into_iter()
        .filter_map(|raw| {
            serde_json::from_value::<Event>(raw)
                .map_err(|e| eprintln!("post: ignoring an event it cannot read: {e}"))
                .ok()
        })
        .filter(|event| concerns_posts(&event.payload))
        .collect();
    if events.is_empty() {
        return Ok(Vec::new());
    }
    db.transaction(|db| {
        let mut changed = Vec::new();
        for event in &events {
            changed.extend(apply(db, event)?);
        }
        Ok(changed)
    })
}

/// Whether this service acts on `payload`; the rest are accepted and ignored.
pub fn concerns_posts(payload: &Payload) -> bool {
    matches!(
        payload,
        Payload::UserDeleted(_) | Payload::CredentialsChanged(_)
    )
}

fn apply(db: &Db, event: &Event) -> ApiResult<Vec<String>> {
    let mut changed = Vec::new();
    if !first_delivery(db, event)? {
        return Ok(changed);
    }
    if let Payload::CredentialsChanged(c) = &event.payload {
        cut_off(db, &c.user_id, c.version)?;
    }
    if let Payload::UserDeleted(u) = &event.payload {
        cut_off(db, &u.user_id, ACCOUNT_DELETED)?;
        changed.extend(store::username_of(db, &u.user_id)?);
        // The feed receives user-deleted itself, so no post-deleted events
        // are sent for the posts removed here; only the counts of others'
        // posts the account liked or replied to.
        for counts in store::delete_user(db, &u.user_id)? {
            queue_counts(db, Some(&counts))?;
            changed.push(counts.author_username);
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Author;
    use shared::events::{FollowCreated, UserDeleted};

    fn post(reply_to: Option<&str>) -> Post {
        Post {
            id: "P1".into(),
            author: Author {
                id: "U1".into(),
                username: "alice".into(),
            },
            body: "hi".into(),
            created_at: "2026-01-01T00:00:00.000Z".into(),
            reply_to: reply_to.map(str::to_string),
            like_count: 0,
            reply_count: 0,
        }
    }

    #[test]
    fn post_created_carries_id_author_time_and_parent() {
        let event = post_created(&post(Some("P0")));
        assert_eq!(
            event.payload,
            Payload::PostCreated(PostCreated {
                post_id: "P1".into(),
                author_id: "U1".into(),
                author_username: "alice".into(),
                body: "hi".into(),
                created_at: "2026-01-01T00:00:00.000Z".into(),
                reply_to: Some("P0".into()),
            })
        );
        assert!(shared::ids::is_id(&event.id));
    }

    #[test]
    fn post_deleted_names_the_post_and_its_author() {
        let event = post_deleted("P1", "U1");
        assert_eq!(
            event.payload,
            Payload::PostDeleted(PostDeleted {
                post_id: "P1".into(),
                author_id: "U1".into(),
            })
        );
    }

    #[test]
    fn only_user_deletions_concern_the_post_service() {
        assert!(concerns_posts(&Payload::UserDeleted(UserDeleted {
            user_id: "U1".into()
        })));
        assert!(!concerns_posts(&Payload::FollowCreated(FollowCreated {
            follower_id: "U1".into(),
            followee_id: "U2".into(),
        })));
    }
}
