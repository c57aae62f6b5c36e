// The statements and values both components use for `POST /posts`'s store
// work, included by each (`include!`), so the two time the same thing.

/// `POST /posts`'s token lookup, as `shared::auth` runs it.
const TOKEN: &str =
    "SELECT v.user_id, v.username, v.expires_ms, v.version FROM verified_tokens AS v
    WHERE v.hash = ?1 AND v.expires_ms > ?2 AND NOT EXISTS
    (SELECT 1 FROM token_cutoffs AS c WHERE c.user_id = v.user_id AND c.min_version > v.version)";
/// `POST /posts`'s insert, as `post::store::insert` runs it: through the
/// `post_writes` view, returning the backlog and whether a deliverer is busy.
const POST: &str = "INSERT INTO post_writes
    (id, author_id, author_username, body, created_ms, reply_to, destination, event)
    VALUES (?1, ?2, ?3, ?4, ?5, NULL, 'feed', ?6)
    RETURNING (SELECT coalesce((SELECT max(seq) FROM outbox) - (SELECT min(seq) FROM outbox) + 1, 0)),
    EXISTS (SELECT 1 FROM deliveries WHERE destination = 'feed'
        AND (lease_until_ms >= ?5 OR (NOT 0 AND retry_at_ms > ?5)))";
/// The insert's parameters for a post `id`, as an array of the binding's
/// `$value` type (each component's SQLite binding has its own `Value`).
macro_rules! post_params {
    ($value:ident, $id:expr) => {
        [
            $value::Text($id.clone()),
            $value::Text("01M8FZYAXKEX8DE8CB9X2S9XNT".into()),
            $value::Text("user362".into()),
            $value::Text("a post of about the usual length, with a few words in it".into()),
            $value::Integer(1),
            $value::Text(event(&$id)),
        ]
    };
}

/// A token hash in the seeded store (`verified_tokens`); the probe asks
/// with an expiry of 0, so it is always found.
const HASH: &str = "0017f589d9df6426d6efdaa867c1984ee3f8f41b1888cb5d38e032c21ba9db8b";

/// A post id nobody else has: 26 characters, like a ULID.
fn new_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let a = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let b = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    format!("{a:016X}{b:010X}").chars().take(26).collect()
}

/// The event a post queues for the feed, about as long as the app's.
fn event(id: &str) -> String {
    format!(
        r#"{{"type":"post-created","post":{{"id":"{id}","author":{{"id":"01M8FZYAXKEX8DE8CB9X2S9XNT","username":"user362"}},"body":"a post of about the usual length, with a few words in it","created_at":"2026-11-28T16:00:00.000Z","reply_to":null,"like_count":0,"reply_count":0}}}}"#
    )
}

/// The author's page in the key-value store, about as long as the app's.
fn page() -> Vec<u8> {
    vec![b'x'; 2048]
}
