//! Events: the ones this service sends (follow created/deleted to the feed,
//! user deleted to post and feed) and the incoming ones, of which the user
//! service needs none today.

use serde::Deserialize;
use serde_json::Value;
use shared::events::{
    CredentialsChanged, Event, FollowCreated, FollowDeleted, Payload, UserDeleted, new_event,
};

/// `follower_id` started following `followee_id`.
pub fn follow_created(follower_id: &str, followee_id: &str) -> Event {
    new_event(Payload::FollowCreated(FollowCreated {
        follower_id: follower_id.to_string(),
        followee_id: followee_id.to_string(),
    }))
}

/// `follower_id` stopped following `followee_id`.
pub fn follow_deleted(follower_id: &str, followee_id: &str) -> Event {
    new_event(Payload::FollowDeleted(FollowDeleted {
        follower_id: follower_id.to_string(),
        followee_id: followee_id.to_string(),
    }))
}

/// The password of `user_id` changed: its tokens below `version` stop.
pub fn credentials_changed(user_id: &str, version: i64) -> Event {
    new_event(Payload::CredentialsChanged(CredentialsChanged {
        user_id: user_id.to_string(),
        version,
    }))
}

/// The account `user_id` was deleted.
pub fn user_deleted(user_id: &str) -> Event {
    new_event(Payload::UserDeleted(UserDeleted {
        user_id: user_id.to_string(),
    }))
}

/// The body of `POST /internal/user/events`: a `Batch` whose events are
/// decoded one by one, so a kind this version does not know is skipped
/// instead of failing the batch.
#[derive(Debug, Deserialize)]
pub struct IncomingBatch {
    /// The events, not yet decoded.
    pub events: Vec<Value>,
}

/// Applies a batch: no event kind changes user state today, so each is
/// read (to log what cannot be) and acknowledged without change. Returns
/// how many were readable.
pub fn apply_batch(batch: IncomingBatch) -> usize {
    batch
        .events
        .into_iter()
        .filter_map(|raw| match serde_json::from_value::<Event>(raw) {
            Ok(event) => Some(event),
            Err(e) => {
                eprintln!("user: ignoring an event it cannot read: {e}");
                None
            }
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follow_events_name_follower_and_followee() {
        assert_eq!(
            follow_created("A", "B").payload,
            Payload::FollowCreated(FollowCreated {
                follower_id: "A".into(),
                followee_id: "B".into()
            })
        );
        assert_eq!(
            follow_deleted("A", "B").payload,
            Payload::FollowDeleted(FollowDeleted {
                follower_id: "A".into(),
                followee_id: "B".into()
            })
        );
    }

    #[test]
    fn user_deleted_names_the_account_and_has_a_fresh_id() {
        let (a, b) = (user_deleted("U1"), user_deleted("U1"));
        assert_eq!(
            a.payload,
            Payload::UserDeleted(UserDeleted {
                user_id: "U1".into()
            })
        );
        assert_ne!(a.id, b.id);
        assert!(shared::ids::is_id(&a.id));
    }

    #[test]
    fn unreadable_events_are_skipped_and_readable_ones_accepted() {
        let good = serde_json::to_value(user_deleted("U1")).unwrap();
        let batch = IncomingBatch {
            events: vec![good, serde_json::json!({"id": "x", "kind": "future"})],
        };
        assert_eq!(apply_batch(batch), 1);
    }
}
