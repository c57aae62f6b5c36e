//! Applying incoming events to the timelines. The feed sends no events.

use crate::domain::{PostId, UserId, millis_from_rfc3339};
use crate::store::{self, Statement};
use serde::Deserialize;
use serde_json::Value;
use shared::ApiResult;
use shared::db::Db;
use shared::events::{Event, Payload, first_deliveries};
use std::collections::BTreeSet;

/// The longest post body the post service accepts, in characters.
const MAX_BODY_CHARS: usize = 280;
/// The longest username the user service accepts, in bytes (ASCII).
const MAX_USERNAME: usize = 30;

/// The body of `POST /internal/feed/events`: a `Batch` whose events are
/// decoded one by one, so that a kind this version does not know (sent by
/// a newer service) is skipped instead of failing, and blocking, the batch.
#[derive(Debug, Deserialize)]
pub struct IncomingBatch {
    /// The events, not yet decoded.
    pub events: Vec<Value>,
}

/// What applying one event takes.
#[derive(Debug, Clone)]
pub enum Step {
    /// A post to publish; consecutive ones are applied together.
    Publish(store::NewPost),
    /// Any other change.
    Change(Plan),
}

/// A change other than a new post.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Selects the readers whose feed page the event changes, run first.
    pub readers: Statement,
    /// The changes.
    pub statements: Vec<Statement>,
}

/// What a batch changed in the readers' cached pages.
#[derive(Debug, Default, PartialEq)]
pub struct Applied {
    /// The posts it published (their timeline entries are added to pages).
    pub posts: Vec<PostId>,
    /// The readers whose pages it changed otherwise (they are dropped).
    pub dropped: BTreeSet<String>,
    /// The users whose tokens it cut off (their cached cut-offs are dropped).
    pub cut_off: BTreeSet<String>,
}

/// Applies every event of `batch` in one transaction, in order; events seen
/// before are skipped, so redelivery changes nothing. One transaction per
/// batch keeps a busy sender to one commit per batch, not one per event,
/// and consecutive new posts are fanned out together, in a few statements.
/// Returns what changed in the readers' cached pages.
pub fn apply_batch(db: &Db, batch: IncomingBatch, fanout_limit: i64) -> ApiResult<Applied> {
    let steps: Vec<(Event, Step)> = batch
        .events
        .into_iter()
        .filter_map(decode)
        .filter_map(|event| {
            // A malformed event can never become valid: rejecting it would
            // make the sender retry it forever, so it is logged and dropped.
            step(&event)
                .map_err(|why| eprintln!("feed: ignoring event {}: {why}", event.id))
                .ok()
                .map(|step| (event, step))
        })
        .collect();
    if steps.is_empty() {
        return Ok(Applied::default());
    }
    db.transaction(|db| {
        let mut fresh = first_deliveries(db, steps.iter().map(|(event, _)| event.id.as_str()))?;
        let mut applied = Applied::default();
        let mut posts = Vec::new();
        for (event, step) in &steps {
            // A repeat, from an earlier batch or this one.
            if !fresh.remove(&event.id) {
                continue;
            }
            if let Payload::CredentialsChanged(shared::events::CredentialsChanged {
                user_id, ..
            })
            | Payload::UserDeleted(shared::events::UserDeleted { user_id, .. }) = &event.payload
            {
                applied.cut_off.insert(user_id.clone());
            }
            match step {
                Step::Publish(post) => posts.push(post.clone()),
                Step::Change(plan) => {
                    publish(db, &mut posts, fanout_limit, &mut applied)?;
                    add_readers(db, &plan.readers, &mut applied.dropped)?;
                    store::run(db, &plan.statements)?;
                }
            }
        }
        publish(db, &mut posts, fanout_limit, &mut applied)?;
        Ok(applied)
    })
}

/// Fans out `posts` (and empties it), noting them and the readers whose
/// pages they invalidate.
fn publish(
    db: &Db,
    posts: &mut Vec<store::NewPost>,
    fanout_limit: i64,
    applied: &mut Applied,
) -> ApiResult<()> {
    if posts.is_empty() {
        return Ok(());
    }
    add_readers(
        db,
        &store::readers_of_newly_pulled(posts, fanout_limit),
        &mut applied.dropped,
    )?;
    store::run(db, &store::posts_created(posts, fanout_limit))?;
    applied.posts.extend(posts.drain(..).map(|p| p.id));
    Ok(())
}

fn add_readers(db: &Db, select: &Statement, readers: &mut BTreeSet<String>) -> ApiResult<()> {
    let rows = db.rows(select.sql, &select.params)?;
    readers.extend(rows.iter().map(|r| r.text(0)));
    Ok(())
}

/// The event in `raw`, or `None` (logged) for one this version cannot read.
fn decode(raw: Value) -> Option<Event> {
    serde_json::from_value(raw)
        .map_err(|e| eprintln!("feed: ignoring an event it cannot read: {e}"))
        .ok()
}

/// What applying `event` takes; an error names a malformed field.
pub fn step(event: &Event) -> Result<Step, String> {
    let err = |e: crate::domain::InvalidId| e.to_string();
    Ok(Step::Change(match &event.payload {
        Payload::PostCreated(p) => {
            let author = UserId::parse(&p.author_id).map_err(err)?;
            let post = PostId::parse(&p.post_id).map_err(err)?;
            let reply_to = p
                .reply_to
                .as_deref()
                .map(PostId::parse)
                .transpose()
                .map_err(err)?;
            let created_ms = millis_from_rfc3339(&p.created_at)
                .ok_or_else(|| format!("{:?} is not an RFC 3339 time", p.created_at))?;
            if p.body.chars().count() > MAX_BODY_CHARS || p.author_username.len() > MAX_USERNAME {
                return Err("the body or the username is too long".into());
            }
            return Ok(Step::Publish(store::NewPost {
                id: post,
                author,
                author_username: p.author_username.clone(),
                body: p.body.clone(),
                created_ms,
                reply_to,
            }));
        }
        Payload::PostCountsChanged(c) => {
            let post = PostId::parse(&c.post_id).map_err(err)?;
            if c.like_count < 0 || c.reply_count < 0 {
                return Err("counts cannot be negative".into());
            }
            Plan {
                readers: store::readers_of_post(None, &post),
                statements: store::counts_changed(&post, c.like_count, c.reply_count, c.version),
            }
        }
        Payload::PostDeleted(p) => {
            let author = UserId::parse(&p.author_id).map_err(err)?;
            let post = PostId::parse(&p.post_id).map_err(err)?;
            Plan {
                readers: store::readers_of_post(Some(&author), &post),
                statements: store::post_deleted(&author, &post),
            }
        }
        Payload::FollowCreated(f) => {
            let follower = UserId::parse(&f.follower_id).map_err(err)?;
            let followee = UserId::parse(&f.followee_id).map_err(err)?;
            if follower == followee {
                return Err("a user cannot follow themselves".into());
            }
            Plan {
                readers: store::just(&follower),
                statements: store::follow_created(&follower, &followee, &event.id),
            }
        }
        Payload::FollowDeleted(f) => {
            let follower = UserId::parse(&f.follower_id).map_err(err)?;
            let followee = UserId::parse(&f.followee_id).map_err(err)?;
            if follower == followee {
                // Unfollowing oneself would drop one's own posts.
                return Err("a user cannot unfollow themselves".into());
            }
            Plan {
                readers: store::just(&follower),
                statements: store::follow_deleted(&follower, &followee, &event.id),
            }
        }
        Payload::CredentialsChanged(c) => {
            let user = UserId::parse(&c.user_id).map_err(err)?;
            Plan {
                readers: store::nobody(),
                statements: store::credentials_changed(&user, c.version),
            }
        }
        Payload::UserDeleted(u) => {
            let user = UserId::parse(&u.user_id).map_err(err)?;
            Plan {
                readers: store::readers_of_author(&user),
                statements: store::user_deleted(&user),
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::events::{
        CredentialsChanged, FollowCreated, FollowDeleted, PostCountsChanged, PostCreated,
        PostDeleted, UserDeleted,
    };

    fn id(n: u8) -> String {
        shared::ids::id_from(1, [n; 10])
    }

    fn event(payload: Payload) -> Event {
        Event {
            id: "e1".into(),
            occurred_at: "2026-01-01T00:00:00.000Z".into(),
            request_id: None,
            payload,
        }
    }

    fn post_created(post_id: String, author_id: String, created_at: &str) -> Payload {
        Payload::PostCreated(PostCreated {
            post_id,
            author_id,
            author_username: "alice".into(),
            body: "hello".into(),
            created_at: created_at.into(),
            reply_to: None,
        })
    }

    #[test]
    fn events_are_decoded_and_unknown_kinds_skipped() {
        let known = serde_json::json!({"id": "e1", "occurred_at": "2026-01-01T00:00:00.000Z",
            "payload": {"UserDeleted": {"user_id": id(1)}}});
        assert_eq!(decode(known).unwrap().id, "e1");
        let unknown = serde_json::json!({"id": "e2", "occurred_at": "2026-01-01T00:00:00.000Z",
            "payload": {"PostLiked": {"post_id": id(1)}}});
        assert!(decode(unknown).is_none());
        assert!(decode(serde_json::json!(42)).is_none());
    }

    #[test]
    fn every_well_formed_event_changes_something() {
        let payloads = [
            post_created(id(1), id(2), "2026-01-01T00:00:00.000Z"),
            Payload::PostDeleted(PostDeleted {
                post_id: id(1),
                author_id: id(2),
            }),
            Payload::PostCountsChanged(PostCountsChanged {
                post_id: id(1),
                like_count: 1,
                reply_count: 0,
                version: 1,
            }),
            Payload::FollowCreated(FollowCreated {
                follower_id: id(2),
                followee_id: id(3),
            }),
            Payload::FollowDeleted(FollowDeleted {
                follower_id: id(2),
                followee_id: id(3),
            }),
            Payload::UserDeleted(UserDeleted { user_id: id(2) }),
            Payload::CredentialsChanged(CredentialsChanged {
                user_id: id(2),
                version: 1,
            }),
        ];
        for payload in payloads {
            let changes = match step(&event(payload.clone())).unwrap() {
                Step::Publish(_) => true,
                Step::Change(plan) => !plan.statements.is_empty(),
            };
            assert!(changes, "{payload:?}");
        }
    }

    #[test]
    fn malformed_events_are_refused_with_the_reason() {
        let cases = [
            ("bad post id", post_created("nope".into(), id(2), "")),
            ("bad author id", post_created(id(1), "".into(), "")),
            ("unreadable time", post_created(id(1), id(2), "not a time")),
            (
                "negative counts",
                Payload::PostCountsChanged(PostCountsChanged {
                    post_id: id(1),
                    like_count: -1,
                    reply_count: 0,
                    version: 1,
                }),
            ),
            (
                "self follow",
                Payload::FollowCreated(FollowCreated {
                    follower_id: id(2),
                    followee_id: id(2),
                }),
            ),
            (
                "self unfollow",
                Payload::FollowDeleted(FollowDeleted {
                    follower_id: id(2),
                    followee_id: id(2),
                }),
            ),
            (
                "bad user id",
                Payload::UserDeleted(UserDeleted {
                    user_id: "'; DROP TABLE timeline; --".into(),
                }),
            ),
        ];
        for (why, payload) in cases {
            assert!(step(&event(payload)).is_err(), "{why}");
        }
    }
}
