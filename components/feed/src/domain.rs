//! The feed's domain types: ids that are known to be well formed.

use std::fmt;

/// A user id: a time-sortable id as issued by the user service.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserId(String);

/// A post id: a time-sortable id as issued by the post service, so ordering
/// by post id is ordering by creation time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PostId(String);

/// Why a value is not an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidId {
    /// What was expected (`user id`, `post id`).
    pub what: &'static str,
    /// The rejected value.
    pub value: String,
}

impl fmt::Display for InvalidId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not a valid {}", self.value, self.what)
    }
}

fn parse_id(raw: &str, what: &'static str) -> Result<String, InvalidId> {
    if shared::ids::is_id(raw) {
        Ok(raw.to_string())
    } else {
        Err(InvalidId {
            what,
            value: raw.chars().take(40).collect(),
        })
    }
}

impl UserId {
    /// Parses a user id.
    pub fn parse(raw: &str) -> Result<Self, InvalidId> {
        parse_id(raw, "user id").map(Self)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl PostId {
    /// Parses a post id.
    pub fn parse(raw: &str) -> Result<Self, InvalidId> {
        parse_id(raw, "post id").map(Self)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Milliseconds since the Unix epoch of an RFC 3339 timestamp.
pub fn millis_from_rfc3339(raw: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(raw)
        .ok()
        .map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "01JDQ2Z3X4Y5Z6A7B8C9D0EFGH";

    #[test]
    fn well_formed_ids_are_accepted_for_users_and_posts() {
        assert_eq!(UserId::parse(VALID).unwrap().as_str(), VALID);
        assert_eq!(PostId::parse(VALID).unwrap().as_str(), VALID);
    }

    #[test]
    fn malformed_ids_are_rejected() {
        let cases = [
            ("empty", ""),
            ("too short", "01JDQ2Z3X4"),
            ("too long", "01JDQ2Z3X4Y5Z6A7B8C9D0EFGHJ"),
            ("lower case", "01jdq2z3x4y5z6a7b8c9d0efgh"),
            (
                "letter outside Crockford base32",
                "01JDQ2Z3X4Y5Z6A7B8C9D0EFGU",
            ),
            ("SQL", "x' OR 1=1 --"),
        ];
        for (why, raw) in cases {
            assert!(UserId::parse(raw).is_err(), "{why}");
            let err = PostId::parse(raw).unwrap_err();
            assert_eq!(err.what, "post id", "{why}");
        }
    }

    #[test]
    fn post_ids_order_by_creation_time() {
        let older = PostId::parse(&shared::ids::id_from(1_000, [255; 10])).unwrap();
        let newer = PostId::parse(&shared::ids::id_from(1_001, [0; 10])).unwrap();
        assert!(older < newer);
    }

    #[test]
    fn rfc3339_timestamps_become_milliseconds_and_garbage_does_not() {
        let cases = [
            ("1970-01-01T00:00:01.500Z", Some(1_500)),
            ("1970-01-01T01:00:00+01:00", Some(0)),
            ("yesterday", None),
            ("", None),
        ];
        for (raw, expected) in cases {
            assert_eq!(millis_from_rfc3339(raw), expected, "{raw}");
        }
    }
}
