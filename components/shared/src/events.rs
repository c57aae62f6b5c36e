//! The inter-service events, generated from `wit/events.wit`, and the
//! receiver's idempotency check.

use crate::ApiResult;
use crate::db::{Db, int, text};

#[allow(missing_docs)]
mod generated {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "social:events/events",
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
        generate_all,
        generate_unused_types: true,
    });
}

pub use generated::social::events::types::{
    Batch, CredentialsChanged, Event, FollowCreated, FollowDeleted, Payload, PostCountsChanged,
    PostCreated, PostDeleted, UserDeleted,
};

/// A new event with a fresh id, the current time and the id of the request
/// being served (the one that causes it).
pub fn new_event(payload: Payload) -> Event {
    Event {
        id: crate::ids::new_id(),
        occurred_at: crate::ids::now_rfc3339(),
        request_id: crate::trace::request_id(),
        payload,
    }
}

/// The migration every receiver needs: the ids of events already applied.
pub const INBOX_MIGRATION: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS processed_events (id TEXT PRIMARY KEY, received_ms INTEGER NOT NULL)",
];

/// Applied-event ids are forgotten by age (see [`crate::retention`]).
pub const INBOX_AGE_MIGRATION: &[&str] =
    &["CREATE INDEX IF NOT EXISTS processed_events_by_age ON processed_events (received_ms)"];

/// Records `event` as applied; false when it was applied before (a
/// redelivery), in which case the caller must skip it. Call inside the
/// transaction that applies the event.
pub fn first_delivery(db: &Db, event: &Event) -> ApiResult<bool> {
    Ok(db
        .row(
            "INSERT OR IGNORE INTO processed_events (id, received_ms) VALUES (?, ?) RETURNING 1",
            &[text(&event.id), int(crate::ids::now_millis())],
        )?
        .is_some())
}

/// Records the events `ids` as applied, all in one statement; returns those
/// not applied before, which the caller must apply (once each, even when a
/// batch repeats one). Call inside the transaction that applies them.
pub fn first_deliveries<'a>(
    db: &Db,
    ids: impl IntoIterator<Item = &'a str>,
) -> ApiResult<std::collections::HashSet<String>> {
    let ids = crate::db::json_array(ids);
    Ok(db
        .rows(
            "INSERT OR IGNORE INTO processed_events (id, received_ms)
             SELECT value, ?2 FROM json_each(?1) WHERE true RETURNING id",
            &[text(ids), int(crate::ids::now_millis())],
        )?
        .iter()
        .map(|row| row.text(0))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_as_json() {
        let event = Event {
            id: "01J0000000000000000000000A".into(),
            occurred_at: "2026-01-01T00:00:00.000Z".into(),
            request_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
            payload: Payload::FollowCreated(FollowCreated {
                follower_id: "a".into(),
                followee_id: "b".into(),
            }),
        };
        let json = serde_json::to_string(&Batch {
            events: vec![event.clone()],
        })
        .unwrap();
        let back: Batch = serde_json::from_str(&json).unwrap();
        assert_eq!(back.events, vec![event]);
    }

    #[test]
    fn events_from_before_request_ids_still_read() {
        let json = r#"{"id": "e1", "occurred_at": "2026-01-01T00:00:00.000Z",
            "payload": {"UserDeleted": {"user_id": "u1"}}}"#;
        let event: Event = serde_json::from_str(json).unwrap();
        assert_eq!(event.request_id, None);
    }

    #[test]
    fn a_new_event_records_the_request_that_causes_it() {
        let id = crate::trace::begin(None, Some("req-7"));
        let event = new_event(Payload::UserDeleted(UserDeleted {
            user_id: "u1".into(),
        }));
        assert_eq!(event.request_id, Some(id));
    }
}
