//! Password hashing: PBKDF2-HMAC-SHA256 with a per-user random salt.
//!
//! Stored as `pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>`, so the
//! cost (variable `password_iterations`) can change without breaking the
//! hashes already stored.

use crate::domain::Password;
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use sha2::Sha256;

/// The OWASP recommendation, used when the variable is unset or unreadable.
pub const DEFAULT_ITERATIONS: u32 = 600_000;
const SCHEME: &str = "pbkdf2-sha256";
const SALT_BYTES: usize = 16;
const HASH_BYTES: usize = 32;

/// The configured iteration count (variable `password_iterations`).
pub fn configured_iterations() -> u32 {
    spin_sdk::variables::get("password_iterations")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_ITERATIONS)
}

fn derive(password: &[u8], salt: &[u8], iterations: u32) -> [u8; HASH_BYTES] {
    pbkdf2::pbkdf2_hmac_array::<Sha256, HASH_BYTES>(password, salt, iterations)
}

/// Hashes `password` with a fresh random salt.
pub fn hash(password: &Password, iterations: u32) -> anyhow::Result<String> {
    let mut salt = [0u8; SALT_BYTES];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(encode(password, &salt, iterations))
}

fn encode(password: &Password, salt: &[u8], iterations: u32) -> String {
    let hash = derive(password.as_bytes(), salt, iterations);
    format!(
        "{SCHEME}${iterations}${}${}",
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(hash)
    )
}

/// Whether `password` (as typed at login, unchecked) matches `stored`,
/// compared in constant time. A malformed stored hash matches nothing.
pub fn verify(password: &[u8], stored: &str) -> bool {
    let mut parts = stored.split('$');
    let (Some(SCHEME), Some(iterations), Some(salt), Some(expected), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    let (Ok(iterations), Ok(salt), Ok(expected)) = (
        iterations.parse::<u32>(),
        STANDARD_NO_PAD.decode(salt),
        STANDARD_NO_PAD.decode(expected),
    ) else {
        return false;
    };
    if iterations == 0 {
        return false;
    }
    let actual = derive(password, &salt, iterations);
    constant_time_eq(&actual, &expected)
}

/// Spends the same time as a real check, for logins of unknown users, so
/// timing does not tell whether an account exists.
pub fn dummy_verify(password: &[u8], iterations: u32) {
    let _ = derive(password, &[0u8; SALT_BYTES], iterations);
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(s: &str) -> Password {
        Password::parse(s.into()).unwrap()
    }

    #[test]
    fn a_hash_verifies_its_password_and_no_other() {
        let stored = hash(&pw("correct horse"), 1000).unwrap();
        assert!(stored.starts_with("pbkdf2-sha256$1000$"));
        assert!(verify(b"correct horse", &stored));
        assert!(!verify(b"correct horsf", &stored));
    }

    #[test]
    fn the_same_password_gets_a_different_salt_each_time() {
        assert_ne!(
            hash(&pw("password1"), 10).unwrap(),
            hash(&pw("password1"), 10).unwrap()
        );
    }

    #[test]
    fn hashes_made_with_another_cost_still_verify() {
        let stored = hash(&pw("password1"), 7).unwrap();
        assert!(verify(b"password1", &stored));
    }

    #[test]
    fn the_stored_format_matches_rfc_8018_test_vectors() {
        // PBKDF2-HMAC-SHA256("password", "salt", 1) from RFC 7914 §11 / common vectors.
        let stored = encode(&pw("password"), b"salt", 1);
        let hash = stored.rsplit('$').next().unwrap();
        let bytes = STANDARD_NO_PAD.decode(hash).unwrap();
        assert_eq!(bytes[..4], [0x12, 0x0f, 0xb6, 0xcf], "{stored}");
    }

    #[test]
    fn malformed_stored_hashes_match_nothing() {
        for stored in [
            "",
            "pbkdf2-sha256$x$c2FsdA$aGFzaA",
            "pbkdf2-sha256$0$c2FsdA$aGFzaA",
            "bcrypt$10$c2FsdA$aGFzaA",
            "pbkdf2-sha256$10$c2FsdA",
            "pbkdf2-sha256$10$!!$aGFzaA",
        ] {
            assert!(!verify(b"password", stored), "{stored}");
        }
    }
}
