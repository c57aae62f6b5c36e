//! Rules every free-text field shares.

use crate::ApiError;

/// The first control character in `s` other than a line feed, if any. Posts,
/// names and bios may break lines; NUL, escapes, carriage returns, tabs and
/// the like have no place in them, and some of them fool logs and terminals.
pub fn control_character(s: &str) -> Option<char> {
    s.chars().find(|c| c.is_control() && *c != '\n')
}

/// A 422 naming `field` when `raw` holds a control character other than a
/// line feed.
pub fn no_control_characters(field: &'static str, raw: &str) -> Result<(), ApiError> {
    match control_character(raw) {
        Some(_) => Err(ApiError::validation(
            field,
            "must not contain control characters other than line breaks",
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_line_feeds_are_allowed_among_control_characters() {
        assert_eq!(control_character("two\nlines, émoji 🎉"), None);
        for bad in [
            "nul\0",
            "tab\t",
            "cr\r",
            "esc\u{1b}[31m",
            "del\u{7f}",
            "c1\u{85}",
        ] {
            assert!(control_character(bad).is_some(), "{bad:?}");
        }
    }
}
