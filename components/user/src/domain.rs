//! The user service's domain types: values that are known to be valid,
//! because their only constructors check them ("parse, don't validate").

use serde::Serialize;
use shared::ApiError;

/// The shortest username, in characters.
pub const MIN_USERNAME: usize = 3;
/// The longest username, in characters.
pub const MAX_USERNAME: usize = 30;
/// The shortest password, in Unicode characters.
pub const MIN_PASSWORD: usize = 8;
/// The longest password, in Unicode characters.
pub const MAX_PASSWORD: usize = 128;
/// The longest display name, in Unicode characters.
pub const MAX_DISPLAY_NAME: usize = 50;
/// The longest bio, in Unicode characters.
pub const MAX_BIO: usize = 160;

/// Usernames that would collide with routes (`/users/me`).
const RESERVED: &[&str] = &["me"];

/// A username: 3–30 of `[a-z0-9_]`, starting with a letter, lower case,
/// not reserved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// Normalises to lower case and checks the shape.
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let name = raw.to_lowercase();
        let len = name.chars().count();
        if !(MIN_USERNAME..=MAX_USERNAME).contains(&len) {
            return Err(ApiError::validation(
                "username",
                format!("must be {MIN_USERNAME} to {MAX_USERNAME} characters"),
            ));
        }
        if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(ApiError::validation("username", "must start with a letter"));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(ApiError::validation(
                "username",
                "may contain only letters, digits and underscores",
            ));
        }
        if RESERVED.contains(&name.as_str()) {
            return Err(ApiError::validation("username", "is reserved"));
        }
        Ok(Self(name))
    }

    /// A username from a path or a login: normalised, `None` when it cannot
    /// name an account (so the caller answers 404 or 401, not 422).
    pub fn lookup(raw: &str) -> Option<Self> {
        Self::parse(raw).ok()
    }

    /// The normalised username.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password as typed: 8–128 Unicode characters. Never logged or returned,
/// so it has no `Debug` that shows it.
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

impl Password {
    /// Checks the length in Unicode characters.
    pub fn parse(raw: String) -> Result<Self, ApiError> {
        Self::parse_field(raw, "password")
    }

    /// [`Password::parse`] for a body field of another name.
    pub fn parse_field(raw: String, field: &'static str) -> Result<Self, ApiError> {
        let len = raw.chars().count();
        if !(MIN_PASSWORD..=MAX_PASSWORD).contains(&len) {
            return Err(ApiError::validation(
                field,
                format!("must be {MIN_PASSWORD} to {MAX_PASSWORD} characters"),
            ));
        }
        Ok(Self(raw))
    }

    /// The password's bytes, for hashing.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// A display name: 1–50 Unicode characters, not only whitespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// Checks a display name as sent; it is kept exactly as sent.
    pub fn parse(raw: String) -> Result<Self, ApiError> {
        if raw.trim().is_empty() {
            return Err(ApiError::validation("display_name", "must not be blank"));
        }
        if raw.chars().count() > MAX_DISPLAY_NAME {
            return Err(ApiError::validation(
                "display_name",
                format!("must be at most {MAX_DISPLAY_NAME} characters"),
            ));
        }
        shared::text::no_control_characters("display_name", &raw)?;
        Ok(Self(raw))
    }

    /// The default: the username itself.
    pub fn from_username(username: &Username) -> Self {
        Self(username.as_str().to_string())
    }

    /// The display name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A bio: at most 160 Unicode characters (may be empty).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bio(String);

impl Bio {
    /// Checks a bio as sent.
    pub fn parse(raw: String) -> Result<Self, ApiError> {
        if raw.chars().count() > MAX_BIO {
            return Err(ApiError::validation(
                "bio",
                format!("must be at most {MAX_BIO} characters"),
            ));
        }
        shared::text::no_control_characters("bio", &raw)?;
        Ok(Self(raw))
    }

    /// The bio as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A user as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct User {
    /// Opaque, time-sortable id.
    pub id: String,
    /// Lower-case username.
    pub username: String,
    /// Display name (defaults to the username).
    pub display_name: String,
    /// Bio (defaults to "").
    pub bio: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// Exact number of followers.
    pub followers_count: i64,
    /// Exact number of accounts followed.
    pub following_count: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(err: ApiError) -> &'static str {
        match err {
            ApiError::Validation { field, .. } => field,
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn valid_usernames_are_accepted_and_lower_cased() {
        for (raw, want) in [
            ("alice", "alice"),
            ("Alice_99", "alice_99"),
            ("abc", "abc"),
            (
                "a23456789012345678901234567890",
                "a23456789012345678901234567890",
            ),
            ("mE_too", "me_too"),
        ] {
            assert_eq!(Username::parse(raw).unwrap().as_str(), want, "{raw}");
        }
    }

    #[test]
    fn invalid_usernames_are_rejected_naming_the_field() {
        for raw in [
            "",
            "ab",
            "a234567890123456789012345678901",
            "1abc",
            "_abc",
            "al ice",
            "al-ice",
            "alïce",
            "me",
            "ME",
        ] {
            let err = Username::parse(raw).unwrap_err();
            assert_eq!(err.status(), 422, "{raw}");
            assert_eq!(field_of(err), "username", "{raw}");
        }
    }

    #[test]
    fn lookups_of_impossible_usernames_name_nobody() {
        assert!(Username::lookup("me").is_none());
        assert!(Username::lookup("x").is_none());
        assert_eq!(Username::lookup("BOB").unwrap().as_str(), "bob");
    }

    #[test]
    fn passwords_are_counted_in_unicode_characters() {
        assert!(Password::parse("12345678".into()).is_ok());
        assert!(Password::parse("ééééééé".into()).is_err());
        assert!(Password::parse("éééééééé".into()).is_ok());
        assert!(Password::parse("x".repeat(128)).is_ok());
        for raw in ["".to_string(), "1234567".into(), "x".repeat(129)] {
            assert_eq!(field_of(Password::parse(raw).unwrap_err()), "password");
        }
    }

    #[test]
    fn a_password_never_shows_in_debug_output() {
        let p = Password::parse("hunter2hunter2".into()).unwrap();
        assert!(!format!("{p:?}").contains("hunter2"));
    }

    #[test]
    fn display_names_are_at_most_fifty_characters_and_not_blank() {
        assert!(DisplayName::parse("Alice".into()).is_ok());
        assert!(DisplayName::parse("é".repeat(50)).is_ok());
        for raw in ["".to_string(), "   ".into(), "é".repeat(51)] {
            assert_eq!(
                field_of(DisplayName::parse(raw).unwrap_err()),
                "display_name"
            );
        }
    }

    #[test]
    fn bios_may_be_empty_and_are_at_most_160_characters() {
        assert!(Bio::parse(String::new()).is_ok());
        assert!(Bio::parse("é".repeat(160)).is_ok());
        assert_eq!(field_of(Bio::parse("é".repeat(161)).unwrap_err()), "bio");
    }

    #[test]
    fn the_default_display_name_is_the_username() {
        let name = Username::parse("Bob").unwrap();
        assert_eq!(DisplayName::from_username(&name).as_str(), "bob");
    }
}
