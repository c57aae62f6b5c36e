//! The post service's domain types: values that are known to be valid,
//! because their only constructors check them ("parse, don't validate").

use shared::ApiError;

/// The most Unicode characters a post body may have.
pub const MAX_BODY_CHARS: usize = 280;

/// The longest `Idempotency-Key` accepted, in bytes.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// How long an `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

/// The text of a post: 1 to 280 Unicode characters, not only whitespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostBody(String);

impl PostBody {
    /// Checks a body as the client sent it; it is kept exactly as sent.
    pub fn parse(raw: String) -> Result<Self, ApiError> {
        if raw.trim().is_empty() {
            return Err(ApiError::validation(
                "body",
                "must contain at least one non-whitespace character",
            ));
        }
        if raw.chars().count() > MAX_BODY_CHARS {
            return Err(ApiError::validation(
                "body",
                format!("must be at most {MAX_BODY_CHARS} characters"),
            ));
        }
        shared::text::no_control_characters("body", &raw)?;
        Ok(Self(raw))
    }

    /// The body as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A post id: a time-sortable id issued by this service, so ordering by id
/// is ordering by creation time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PostId(String);

impl PostId {
    /// A fresh id for a new post.
    pub fn generate() -> Self {
        Self(shared::ids::new_id())
    }

    /// Parses an id; `None` when `raw` cannot be one (so it names no post).
    pub fn parse(raw: &str) -> Option<Self> {
        shared::ids::is_id(raw).then(|| Self(raw.to_string()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A username to look posts up by: usernames are lower case everywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorName(String);

impl AuthorName {
    /// Normalises `?author=`; missing or blank is a 422 naming `author`.
    pub fn parse(raw: Option<String>) -> Result<Self, ApiError> {
        let name = raw.map(|s| s.trim().to_lowercase()).unwrap_or_default();
        if name.is_empty() {
            return Err(ApiError::validation("author", "is required"));
        }
        Ok(Self(name))
    }

    /// The normalised username.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The `Idempotency-Key` header: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Checks the header's value.
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let ok = (1..=MAX_IDEMPOTENCY_KEY_LEN).contains(&raw.len())
            && raw.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(Self(raw.to_string()))
        } else {
            Err(ApiError::validation(
                "Idempotency-Key",
                format!("must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters"),
            ))
        }
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub use shared::post::{Author, Post};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_bodies_are_accepted_exactly_as_sent() {
        let cases = [
            ("one character", "a".to_string()),
            ("surrounding whitespace", "  hello  ".to_string()),
            ("280 ASCII characters", "a".repeat(280)),
            ("280 multi-byte characters", "é".repeat(280)),
            ("280 emoji", "🦀".repeat(280)),
        ];
        for (why, raw) in cases {
            let body = PostBody::parse(raw.clone()).unwrap_or_else(|e| panic!("{why}: {e:?}"));
            assert_eq!(body.as_str(), raw, "{why}");
        }
    }

    #[test]
    fn invalid_bodies_are_rejected_naming_the_body_field() {
        let cases = [
            ("empty", String::new()),
            ("spaces only", "   ".to_string()),
            ("mixed whitespace only", " \t\n\u{3000} ".to_string()),
            ("281 characters", "a".repeat(281)),
            ("281 multi-byte characters", "é".repeat(281)),
        ];
        for (why, raw) in cases {
            let err = PostBody::parse(raw).unwrap_err();
            assert_eq!(err.status(), 422, "{why}");
            assert!(err.message().starts_with("body:"), "{why}");
        }
    }

    #[test]
    fn only_well_formed_ids_can_name_a_post() {
        let valid = shared::ids::id_from(1_000, [1; 10]);
        assert_eq!(PostId::parse(&valid).unwrap().as_str(), valid);
        for raw in ["", "42", "not-an-id", "x' OR 1=1 --", &valid.to_lowercase()] {
            assert!(PostId::parse(raw).is_none(), "{raw}");
        }
    }

    #[test]
    fn generated_ids_parse_and_sort_by_time() {
        let (a, b) = (PostId::generate(), PostId::generate());
        assert!(PostId::parse(a.as_str()).is_some());
        assert_ne!(a, b);
    }

    #[test]
    fn author_names_are_lower_cased_and_required() {
        assert_eq!(
            AuthorName::parse(Some("Alice".into())).unwrap().as_str(),
            "alice"
        );
        for raw in [None, Some(String::new()), Some("  ".into())] {
            let err = AuthorName::parse(raw.clone()).unwrap_err();
            assert_eq!(err.status(), 422, "{raw:?}");
            assert!(err.message().starts_with("author:"), "{raw:?}");
        }
    }

    #[test]
    fn idempotency_keys_are_short_visible_ascii() {
        for ok in ["k", "3f2b-11ee-be56", &"k".repeat(255)] {
            assert!(IdempotencyKey::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "has space", "tab\t", "é", &"k".repeat(256)] {
            assert_eq!(
                IdempotencyKey::parse(bad).unwrap_err().status(),
                422,
                "{bad}"
            );
        }
    }

    #[test]
    fn a_post_serialises_to_the_public_shape() {
        let post = Post {
            id: "p".into(),
            author: Author {
                id: "u".into(),
                username: "alice".into(),
            },
            body: "hi".into(),
            created_at: "2026-01-01T00:00:00.000Z".into(),
            reply_to: None,
            like_count: 2,
            reply_count: 1,
        };
        assert_eq!(
            serde_json::to_value(&post).unwrap(),
            serde_json::json!({"id": "p", "author": {"id": "u", "username": "alice"},
                "body": "hi", "created_at": "2026-01-01T00:00:00.000Z", "reply_to": null,
                "like_count": 2, "reply_count": 1})
        );
    }
}
