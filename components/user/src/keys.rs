//! The token signing key: an Ed25519 seed from the secret variable
//! `jwt_signing_key`, or, when that is empty, one created on first use and
//! kept in this service's store.

use crate::store;
use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use jwt_simple::prelude::*;
use shared::db::Db;
use shared::{ApiError, ApiResult};

/// The length of an Ed25519 seed.
pub const SEED_BYTES: usize = 32;

/// PKCS#8 DER prefix of an Ed25519 private key; followed by the 32-byte
/// seed. jwt-simple derives the public key from it, so no other crate is
/// needed to turn a seed into a key pair.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// The key pair for `seed`, tagged with its key id.
pub fn key_pair_from_seed(seed: &[u8]) -> anyhow::Result<Ed25519KeyPair> {
    anyhow::ensure!(seed.len() == SEED_BYTES, "a signing seed is 32 bytes");
    let mut der = PKCS8_ED25519_PREFIX.to_vec();
    der.extend_from_slice(seed);
    let pair =
        Ed25519KeyPair::from_der(&der).map_err(|e| anyhow::anyhow!("invalid signing seed: {e}"))?;
    let kid = key_id(&pair.public_key());
    Ok(pair.with_key_id(&kid))
}

/// A short id that is stable for a public key: base64url of its first 12
/// bytes.
pub fn key_id(public: &Ed25519PublicKey) -> String {
    URL_SAFE_NO_PAD.encode(&public.to_bytes()[..12])
}

/// Decodes a base64url seed, with or without padding.
pub fn decode_seed(raw: &str) -> anyhow::Result<Vec<u8>> {
    let raw = raw.trim();
    let bytes = URL_SAFE_NO_PAD
        .decode(raw)
        .or_else(|_| URL_SAFE.decode(raw))
        .map_err(|_| anyhow::anyhow!("jwt_signing_key is not base64url"))?;
    anyhow::ensure!(
        bytes.len() == SEED_BYTES,
        "jwt_signing_key must be 32 bytes"
    );
    Ok(bytes)
}

/// The signing key: the variable when set, else the one in the store
/// (created by whichever request comes first; all requests agree on it).
pub fn signing_key(db: &Db) -> ApiResult<Ed25519KeyPair> {
    let configured = spin_sdk::variables::get("jwt_signing_key").unwrap_or_default();
    let seed = if configured.trim().is_empty() {
        let mut fresh = [0u8; SEED_BYTES];
        getrandom::fill(&mut fresh)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("no randomness: {e}")))?;
        let stored = store::signing_seed_or_insert(db, &URL_SAFE_NO_PAD.encode(fresh))?;
        decode_seed(&stored).map_err(ApiError::Internal)?
    } else {
        decode_seed(&configured).map_err(ApiError::Internal)?
    };
    key_pair_from_seed(&seed).map_err(ApiError::Internal)
}

/// The public half of the signing key, tagged with its key id.
pub fn verifying_key(db: &Db) -> ApiResult<Ed25519PublicKey> {
    let pair = signing_key(db)?;
    let kid = key_id(&pair.public_key());
    Ok(pair.public_key().with_key_id(&kid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::auth::{AuthUser, sign, token_key_id, verify};

    #[test]
    fn the_same_seed_always_gives_the_same_key_and_key_id() {
        let a = key_pair_from_seed(&[7u8; 32]).unwrap();
        let b = key_pair_from_seed(&[7u8; 32]).unwrap();
        assert_eq!(a.public_key().to_bytes(), b.public_key().to_bytes());
        assert_eq!(a.key_id(), b.key_id());
        let other = key_pair_from_seed(&[8u8; 32]).unwrap();
        assert_ne!(a.public_key().to_bytes(), other.public_key().to_bytes());
    }

    #[test]
    fn the_key_pair_matches_rfc_8032_test_vector_1() {
        let seed = [
            0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec,
            0x2c, 0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03,
            0x1c, 0xae, 0x7f, 0x60,
        ];
        let pair = key_pair_from_seed(&seed).unwrap();
        assert_eq!(pair.public_key().to_bytes()[..4], [0xd7, 0x5a, 0x98, 0x01]);
    }

    #[test]
    fn tokens_signed_with_the_key_verify_with_its_public_half() {
        let pair = key_pair_from_seed(&[1u8; 32]).unwrap();
        let user = AuthUser {
            id: "U1".into(),
            username: "alice".into(),
            version: 2,
        };
        let token = sign(&pair, &user, 60).unwrap();
        let kid = key_id(&pair.public_key());
        assert_eq!(token_key_id(&token).unwrap(), Some(kid.clone()));
        let public = pair.public_key().with_key_id(&kid);
        assert_eq!(verify(&token, &public).unwrap(), user);
    }

    #[test]
    fn an_expired_token_from_the_same_key_is_rejected() {
        let pair = key_pair_from_seed(&[1u8; 32]).unwrap();
        let mut claims = Claims::with_custom_claims(
            shared::auth::TokenClaims {
                username: "alice".into(),
                ver: 0,
            },
            Duration::from_secs(60),
        )
        .with_subject("U1");
        // Well past jwt-simple's default clock tolerance.
        claims.expires_at = Some(Clock::now_since_epoch() - Duration::from_hours(1));
        let token = pair.sign(claims).unwrap();
        let public = pair.public_key().with_key_id(&key_id(&pair.public_key()));
        assert_eq!(verify(&token, &public).unwrap_err().status(), 401);
    }

    #[test]
    fn seeds_decode_with_or_without_padding_and_must_be_32_bytes() {
        let seed = [3u8; 32];
        assert_eq!(decode_seed(&URL_SAFE_NO_PAD.encode(seed)).unwrap(), seed);
        assert_eq!(decode_seed(&URL_SAFE.encode(seed)).unwrap(), seed);
        assert!(decode_seed(&URL_SAFE_NO_PAD.encode([3u8; 31])).is_err());
        assert!(decode_seed("not base64 !").is_err());
        assert!(key_pair_from_seed(&[0u8; 31]).is_err());
    }
}
