//! Ids and timestamps.
//!
//! Ids are 26-character Crockford base32 strings: 48 bits of Unix
//! milliseconds then 80 random bits, so they sort by creation time.

use chrono::{DateTime, SecondsFormat, Utc};

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A new time-sortable id.
pub fn new_id() -> String {
    let mut random = [0u8; 10];
    getrandom::fill(&mut random).expect("the host provides randomness");
    id_from(now_millis(), random)
}

/// The id for a given time and randomness (deterministic, for tests).
pub fn id_from(millis: i64, random: [u8; 10]) -> String {
    let mut value: u128 = (millis as u128 & 0xFFFF_FFFF_FFFF) << 80;
    for (i, b) in random.iter().enumerate() {
        value |= (*b as u128) << (72 - 8 * i);
    }
    (0..26)
        .rev()
        .map(|i| ALPHABET[((value >> (5 * i)) & 31) as usize] as char)
        .collect()
}

/// Whether `s` has the shape of an id.
pub fn is_id(s: &str) -> bool {
    s.len() == 26 && s.bytes().all(|b| ALPHABET.contains(&b))
}

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    Utc::now().timestamp_millis()
}

/// Now as RFC 3339 UTC with millisecond precision (`2026-11-25T22:00:00.000Z`).
pub fn now_rfc3339() -> String {
    rfc3339(now_millis())
}

/// A millisecond timestamp as RFC 3339 UTC.
pub fn rfc3339(millis: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(millis)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time() {
        let a = id_from(1_000, [255; 10]);
        let b = id_from(1_001, [0; 10]);
        assert!(a < b);
        assert!(is_id(&a) && is_id(&b));
    }

    #[test]
    fn random_ids_are_well_formed_and_distinct() {
        let (a, b) = (new_id(), new_id());
        assert!(is_id(&a));
        assert_ne!(a, b);
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn strings_that_are_not_ids_are_recognised() {
        for s in [
            "",
            "abc",
            "01ARZ3NDEKTSV4RRFFQ69G5FAI",
            "01arz3ndektsv4rrffq69g5fav",
        ] {
            assert!(!is_id(s), "{s}");
        }
    }
}
