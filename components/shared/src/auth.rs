//! Bearer tokens and the service credential.
//!
//! Tokens are Ed25519 JWTs (`sub` = user id, `username`, `exp`). Only the user
//! service holds the signing key; post and feed verify with the public keys
//! from `GET /auth/jwks`, cached in their own stores.

use crate::db::{Db, int, text};
use crate::outbox::Service;
use crate::{ApiError, ApiResult};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_simple::prelude::*;
use serde::{Deserialize, Serialize};
use spin_sdk::http::{Request, Response};
use std::collections::{BTreeSet, HashMap};

/// Claims beyond the registered ones.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenClaims {
    /// The user's username, so services need not look it up.
    pub username: String,
    /// The account's credentials version when the token was issued. A
    /// password change raises it, and tokens below it stop working
    /// (absent in tokens from before versions existed: 0).
    #[serde(default)]
    pub ver: i64,
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthUser {
    /// User id (the token's `sub`).
    pub id: String,
    /// Username at the time the token was issued (usernames never change).
    pub username: String,
    /// The account's credentials version the token was issued under.
    pub version: i64,
}

/// A JSON Web Key for an Ed25519 public key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Jwk {
    /// Always `OKP`.
    pub kty: String,
    /// Always `Ed25519`.
    pub crv: String,
    /// Always `EdDSA`.
    pub alg: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub use_: String,
    /// The key id tokens carry in their header.
    pub kid: String,
    /// The public key, base64url without padding.
    pub x: String,
}

/// `GET /auth/jwks`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JwkSet {
    /// The keys that may have signed live tokens.
    pub keys: Vec<Jwk>,
}

impl Jwk {
    /// The JWK for `key` under `kid`.
    pub fn from_public_key(kid: &str, key: &Ed25519PublicKey) -> Self {
        Self {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            alg: "EdDSA".into(),
            use_: "sig".into(),
            kid: kid.into(),
            x: URL_SAFE_NO_PAD.encode(key.to_bytes()),
        }
    }

    /// The public key, if this is a well-formed Ed25519 JWK.
    pub fn public_key(&self) -> Option<Ed25519PublicKey> {
        if self.kty != "OKP" || self.crv != "Ed25519" {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(&self.x).ok()?;
        Ed25519PublicKey::from_bytes(&bytes)
            .ok()
            .map(|k| k.with_key_id(&self.kid))
    }
}

/// The bearer token of `req`, if any.
pub fn bearer(req: &Request) -> Option<String> {
    let value = req.header("authorization")?.as_str()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
        .filter(|t| !t.is_empty())
}

fn unauthorized(why: &str) -> ApiError {
    ApiError::Unauthorized(why.into())
}

/// The `kid` in a token's header.
pub fn token_key_id(token: &str) -> ApiResult<Option<String>> {
    let metadata = Token::decode_metadata(token).map_err(|_| unauthorized("malformed token"))?;
    if metadata.algorithm() != "EdDSA" {
        return Err(unauthorized("unsupported token algorithm"));
    }
    Ok(metadata.key_id().map(str::to_string))
}

/// Verifies `token` with `key`: signature, algorithm and expiry.
pub fn verify(token: &str, key: &Ed25519PublicKey) -> ApiResult<AuthUser> {
    verify_until(token, key).map(|(user, _)| user)
}

/// Like [`verify`], also returning when the token expires (Unix ms).
fn verify_until(token: &str, key: &Ed25519PublicKey) -> ApiResult<(AuthUser, i64)> {
    let claims = key
        .verify_token::<TokenClaims>(token, None)
        .map_err(|_| unauthorized("invalid or expired token"))?;
    let expires_ms = claims
        .expires_at
        .map(|t| t.as_millis() as i64)
        .ok_or_else(|| unauthorized("token has no expiry"))?;
    let id = claims
        .subject
        .ok_or_else(|| unauthorized("token has no subject"))?;
    let user = AuthUser {
        id,
        username: claims.custom.username,
        version: claims.custom.ver,
    };
    Ok((user, expires_ms))
}

/// Signs a token for `user` valid for `ttl_secs`.
pub fn sign(key: &Ed25519KeyPair, user: &AuthUser, ttl_secs: u64) -> ApiResult<String> {
    let claims = Claims::with_custom_claims(
        TokenClaims {
            username: user.username.clone(),
            ver: user.version,
        },
        Duration::from_secs(ttl_secs),
    )
    .with_subject(&user.id);
    key.sign(claims)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("signing failed: {e}")))
}

/// The cached JWKS table for services that verify but do not sign.
pub const KEY_CACHE_MIGRATION: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS jwks_cache (kid TEXT PRIMARY KEY, x TEXT NOT NULL, fetched_ms INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS jwks_fetches (id INTEGER PRIMARY KEY CHECK (id = 1), at_ms INTEGER NOT NULL)",
];

/// Tokens already verified, by SHA-256 of the whole token, until they
/// expire. An Ed25519 verification costs about half a millisecond in wasm,
/// more than the rest of a feed read; a lookup by hash costs one indexed
/// read on the connection the request opened anyway. Only a byte-identical
/// token can hit, so a forged one is always verified (and refused).
pub const TOKEN_CACHE_MIGRATION: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS verified_tokens (
        hash TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        username TEXT NOT NULL,
        expires_ms INTEGER NOT NULL
    ) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS verified_tokens_by_expiry ON verified_tokens (expires_ms)",
];

/// Token cut-offs, kept by every service that verifies tokens it did not
/// issue: the lowest credentials version of an account's tokens that still
/// work. A password change raises it (credentials-changed), and a deleted
/// account's is the highest there is (user-deleted). Cut-offs are forgotten
/// after the retention, which is longer than any token lives.
pub const TOKEN_CUTOFF_MIGRATION: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS token_cutoffs (
        user_id TEXT PRIMARY KEY,
        min_version INTEGER NOT NULL,
        recorded_ms INTEGER NOT NULL
    ) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS token_cutoffs_by_age ON token_cutoffs (recorded_ms)",
    "ALTER TABLE verified_tokens ADD COLUMN version INTEGER NOT NULL DEFAULT 0",
];

/// The cut-offs, for [`crate::retention::prune`].
pub const TOKEN_CUTOFFS: crate::retention::Kept = crate::retention::Kept {
    table: "token_cutoffs",
    time_column: "recorded_ms",
};

/// The cut-off of a deleted account: no token is that new.
pub const ACCOUNT_DELETED: i64 = i64::MAX;

/// Stops `user_id`'s tokens below `min_version` (call inside the
/// transaction that applies the event); a lower cut-off never undoes a
/// higher one, whatever order events arrive in.
pub fn cut_off(db: &Db, user_id: &str, min_version: i64) -> ApiResult<()> {
    db.execute(CUT_OFF_SQL, &[text(user_id), int(min_version)])?;
    Ok(())
}

/// The statement of [`cut_off`], for services that apply events as plans:
/// `?1` the user id, `?2` the lowest version that still works.
pub const CUT_OFF_SQL: &str = concat!(
    "INSERT INTO token_cutoffs (user_id, min_version, recorded_ms) VALUES (?1, ?2, ",
    crate::now_ms_sql!(),
    ") ON CONFLICT (user_id) DO UPDATE SET
         min_version = max(min_version, excluded.min_version),
         recorded_ms = excluded.recorded_ms"
);

/// How long a user's cut-off stays in a key-value cache. Applying a new
/// cut-off deletes it there at once ([`forget_cut_offs`]); this only bounds
/// how late one takes effect if that delete fails. As long as a page lives
/// ([`crate::cache::TTL_MS`]): a feed read that finds its page but not the
/// cut-off opens the database all the same.
const CUT_OFF_TTL_MS: i64 = crate::cache::TTL_MS;

/// Why a revoked token is refused.
const REVOKED: &str = "this token was revoked: the password changed or the account was deleted";

/// A refetch for an unknown `kid` happens at most this often, so forged
/// tokens cannot turn into a flood of requests to the user service.
const REFETCH_INTERVAL_MS: i64 = 10_000;

/// The cache key of a token: its SHA-256, hex.
fn token_hash(token: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Authenticates `req` in the post or feed service: a token seen before is
/// found by its hash; a new one is verified with the key from the local
/// cache, or from the user service's JWKS when the `kid` is new, and then
/// remembered until it expires.
pub async fn authenticate(req: &Request, db: &Db) -> ApiResult<AuthUser> {
    let token = bearer(req).ok_or_else(|| unauthorized("missing bearer token"))?;
    authenticate_until(&token, db).await.map(|(user, _)| user)
}

/// [`authenticate`] for `token`, also returning when it expires (Unix ms).
async fn authenticate_until(token: &str, db: &Db) -> ApiResult<(AuthUser, i64)> {
    let hash = token_hash(token);
    let now = crate::ids::now_millis();
    if let Some(row) = db.row(
        "SELECT v.user_id, v.username, v.expires_ms, v.version FROM verified_tokens AS v
         WHERE v.hash = ?1 AND v.expires_ms > ?2 AND NOT EXISTS
             (SELECT 1 FROM token_cutoffs AS c WHERE c.user_id = v.user_id AND c.min_version > v.version)",
        &[text(&hash), int(now)],
    )? {
        let user = AuthUser {
            id: row.text(0),
            username: row.text(1),
            version: row.int(3),
        };
        return Ok((user, row.int(2)));
    }
    let (user, expires_ms, _) = verify_new(token, db).await?;
    if db
        .row(
            "SELECT 1 FROM token_cutoffs WHERE user_id = ? AND min_version > ?",
            &[text(&user.id), int(user.version)],
        )?
        .is_some()
    {
        return Err(unauthorized(REVOKED));
    }
    remember(db, &hash, &user, expires_ms, now);
    Ok((user, expires_ms))
}

/// A request authenticated by [`authenticate_cached`] and
/// [`Unconfirmed::confirm`].
pub struct Authenticated {
    /// The caller.
    pub user: AuthUser,
    /// The database, when it had to be opened.
    pub db: Option<Db>,
}

/// A token whose signature and expiry [`authenticate_cached`] checked, not
/// yet known not to be revoked when its user's cut-off was not cached: until
/// [`Unconfirmed::confirm`], its user names what to read, and nothing more.
#[must_use = "a token is authenticated only once confirmed"]
pub struct Unconfirmed {
    user: AuthUser,
    db: Option<Db>,
    found: HashMap<String, Vec<u8>>,
    /// The user's cut-off, when the cache had it.
    min_version: Option<i64>,
    /// When the token expires, when it was verified now (not cached).
    verified_until: Option<i64>,
    token_key: String,
}

/// Like [`authenticate`], first asking the service's key-value cache. A
/// token seen before (`tok:` its hash, kept until it expires), its user's
/// cut-off (`cut:` the user id, see [`CUT_OFF_TTL_MS`]) are read in one call,
/// together with the keys `also` names for the token's subject, so a repeat
/// request costs one key-value read and no database. A new token whose
/// signing key (`jwk:` the key id) is cached costs one more read and its
/// signature check, and no database either (ADR 0030). The subject is read
/// from the token unverified only to name the keys: the cached entry, made
/// from the verified token, must name the same user.
///
/// A cut-off the cache lacks is read by [`Unconfirmed::confirm`], so that
/// the caller can first have it filled in bulk, with its page, by a warm of
/// a cold cache (ADR 0030) instead of every reader reading its own.
pub async fn authenticate_cached(
    req: &Request,
    cache: Option<&crate::cache::Cache>,
    open: impl Fn() -> ApiResult<Db>,
    also: impl Fn(&str) -> Vec<String>,
) -> ApiResult<Unconfirmed> {
    let token = bearer(req).ok_or_else(|| unauthorized("missing bearer token"))?;
    let token_key = format!("tok:{}", token_hash(&token));
    let now = crate::ids::now_millis();
    let mut found = HashMap::new();
    // What the cache knew: the token's user, the user's cut-off, the key.
    let (mut known, mut min_version, mut known_key) = (None, None, None);
    // The token's key id, read from its header only when it is new.
    let kid = || token_key_id(&token).ok().flatten();
    if let (Some(cache), Some(subject)) = (cache, unverified_subject(&token)) {
        let cut_key = cut_off_key(&subject);
        let mut keys = vec![token_key.clone(), cut_key.clone()];
        keys.extend(also(&subject));
        found = cache.get_many(&keys);
        known = found
            .remove(&token_key)
            .and_then(|v| cached_user(&v, now))
            .filter(|user| user.id == subject);
        min_version = found.remove(&cut_key).and_then(|v| cached_cut_off(&v, now));
        // Only a new token needs its key: a second read, not a bigger first.
        if known.is_none() {
            known_key = kid().and_then(|kid| {
                let entry = cache.get(&key_key(&kid))?;
                cached_signing_key(&kid, &entry, now)
            });
        }
    }
    // Opened only for what the cache did not know.
    let mut db = None;
    let (user, verified_until) = match (known, known_key) {
        (Some(user), _) => (user, None),
        // With a cache, the token's entry there is its record: verifying
        // once per token and process costs less than the lookup and the two
        // writes of the database's record, which contend with the service's
        // writers for the lock.
        (None, Some(key)) if cache.is_some() => {
            let (user, expires_ms) = verify_until(&token, &key)?;
            (user, Some(expires_ms))
        }
        (None, _) => {
            let opened = db.insert(open()?);
            let (user, expires_ms) = match cache {
                Some(cache) => {
                    let (user, expires_ms, x) = verify_new(&token, opened).await?;
                    if let Some(kid) = kid() {
                        let entry = format!("{x} {}", now + CUT_OFF_TTL_MS);
                        cache.set(&key_key(&kid), entry.as_bytes());
                    }
                    (user, expires_ms)
                }
                // The database's record checked the cut-off already.
                None => {
                    let (user, expires_ms) = authenticate_until(&token, opened).await?;
                    min_version = Some(user.version);
                    (user, expires_ms)
                }
            };
            (user, Some(expires_ms))
        }
    };
    Ok(Unconfirmed {
        user,
        db,
        found,
        min_version,
        verified_until,
        token_key,
    })
}

impl Unconfirmed {
    /// The token's user: only to name what to read before
    /// [`Unconfirmed::confirm`].
    pub fn user(&self) -> &AuthUser {
        &self.user
    }

    /// Takes the value of a key the caller asked for besides, if it exists.
    pub fn take_found(&mut self, key: &str) -> Option<Vec<u8>> {
        self.found.remove(key)
    }

    /// Checks the token against its user's cut-off: the cached one, read
    /// again if it was missing, or else the database's, which is then
    /// cached. Refuses a revoked token.
    pub fn confirm(
        self,
        cache: Option<&crate::cache::Cache>,
        open: impl Fn() -> ApiResult<Db>,
    ) -> ApiResult<Authenticated> {
        let Self {
            user,
            mut db,
            min_version,
            verified_until,
            token_key,
            ..
        } = self;
        let now = crate::ids::now_millis();
        let cut_key = cut_off_key(&user.id);
        let cached = || {
            let value = cache?.get(&cut_key)?;
            cached_cut_off(&value, now)
        };
        let min_version = match min_version.or_else(cached) {
            Some(min_version) => min_version,
            None => {
                let db = match db {
                    Some(ref db) => db,
                    None => db.insert(open()?),
                };
                // Claimed before the cut-off is read: a change committed
                // after the read deletes the claim, and then the cut-off
                // read here is not stored.
                let claim = cache.and_then(|cache| cache.claim(&cut_key));
                let min_version = db.scalar(
                    "SELECT coalesce((SELECT min_version FROM token_cutoffs WHERE user_id = ?), 0)",
                    &[text(&user.id)],
                )?;
                if let (Some(cache), Some(claim)) = (cache, claim) {
                    let cut = format!("{min_version} {}", now + CUT_OFF_TTL_MS);
                    cache.settle(claim, cut.as_bytes());
                }
                min_version
            }
        };
        if let (Some(cache), Some(expires_ms)) = (cache, verified_until) {
            let entry = format!(
                "{} {} {} {expires_ms}",
                user.id, user.username, user.version
            );
            cache.set(&token_key, entry.as_bytes());
        }
        if user.version < min_version {
            return Err(unauthorized(REVOKED));
        }
        Ok(Authenticated { user, db })
    }
}

/// Reads from `db` the cut-offs of those `users` that `cache` lacks, and
/// stores them there, each under a claim taken before the read as a request
/// that misses one does ([`authenticate_cached`]): for filling a cold cache
/// in bulk (ADR 0030), a few calls per user.
pub fn fill_cut_offs(cache: &crate::cache::Cache, db: &Db, users: &[&str]) -> ApiResult<()> {
    let now = crate::ids::now_millis();
    let keys: Vec<String> = users.iter().map(|user| cut_off_key(user)).collect();
    let cached = cache.get_many(&keys);
    let missing: Vec<String> = keys
        .into_iter()
        .filter(|key| {
            cached
                .get(key)
                .and_then(|v| cached_cut_off(v, now))
                .is_none()
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let claims = cache.claim_many(&missing);
    let ids = crate::db::json_array(
        claims
            .iter()
            .filter_map(|c| c.key.strip_prefix(CUT_OFF_PREFIX)),
    );
    let cut_offs: HashMap<String, i64> = db
        .rows(
            "SELECT u.value, coalesce(c.min_version, 0) FROM json_each(?1) AS u
             LEFT JOIN token_cutoffs AS c ON c.user_id = u.value",
            &[text(&ids)],
        )?
        .iter()
        .map(|row| (cut_off_key(&row.text(0)), row.int(1)))
        .collect();
    let until = now + CUT_OFF_TTL_MS;
    for claim in claims {
        let min_version = cut_offs.get(&claim.key).copied().unwrap_or_default();
        cache.settle(claim, format!("{min_version} {until}").as_bytes());
    }
    Ok(())
}

/// Deletes the cached cut-offs of `users`: call after committing new ones.
pub fn forget_cut_offs(cache: &crate::cache::Cache, users: &BTreeSet<String>) {
    let keys: Vec<String> = users.iter().map(|u| cut_off_key(u)).collect();
    cache.delete_keys(&keys);
}

/// How a cut-off's key begins.
const CUT_OFF_PREFIX: &str = "cut:";

fn cut_off_key(user_id: &str) -> String {
    format!("{CUT_OFF_PREFIX}{user_id}")
}

/// The `sub` claim of `token`, read without verifying anything.
fn unverified_subject(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    #[derive(Deserialize)]
    struct Subject {
        sub: String,
    }
    serde_json::from_slice::<Subject>(&bytes)
        .ok()
        .map(|s| s.sub)
}

/// The lowest token version of a cached `min_version until` entry, if still good.
fn cached_cut_off(entry: &[u8], now: i64) -> Option<i64> {
    let (min_version, until) = std::str::from_utf8(entry).ok()?.split_once(' ')?;
    (until.parse::<i64>().ok()? > now).then_some(min_version.parse().ok()?)
}

/// The user of a cached `id username version until` entry, if still good.
fn cached_user(entry: &[u8], now: i64) -> Option<AuthUser> {
    let entry = std::str::from_utf8(entry).ok()?;
    let mut parts = entry.split(' ');
    let (id, username, version, until) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    (until.parse::<i64>().ok()? > now).then(|| AuthUser {
        id: id.to_string(),
        username: username.to_string(),
        version: version.parse().unwrap_or_default(),
    })
}

/// Remembers a verified token and forgets expired ones. Best effort and
/// without waiting for a lock: a read must not queue behind a writer, and a
/// token not remembered is simply verified again next time.
fn remember(db: &Db, hash: &str, user: &AuthUser, expires_ms: i64, now: i64) {
    db.try_once(
        "DELETE FROM verified_tokens WHERE expires_ms <= ?",
        &[int(now)],
    );
    db.try_once(
        "INSERT OR REPLACE INTO verified_tokens (hash, user_id, username, expires_ms, version)
         VALUES (?, ?, ?, ?, ?)",
        &[
            text(hash),
            text(&user.id),
            text(&user.username),
            int(expires_ms),
            int(user.version),
        ],
    );
}

/// Verifies a token not seen before: signature, algorithm and expiry.
///
/// A key this service does not have yet is fetched from the user service by
/// one request at a time: the first claims the fetch in the store, and the
/// others wait for the keys it stores (at most [`KEY_WAIT_MS`]) instead of
/// all fetching at once. After a fetch, an unknown key is refused at once,
/// and fetched again no sooner than [`REFETCH_INTERVAL_MS`] later.
async fn verify_new(token: &str, db: &Db) -> ApiResult<(AuthUser, i64, String)> {
    let kid = token_key_id(token)?.ok_or_else(|| unauthorized("token has no key id"))?;
    let verified = |(x, key): (String, Ed25519PublicKey)| {
        verify_until(token, &key).map(|(user, expires_ms)| (user, expires_ms, x))
    };
    loop {
        if let Some(key) = cached_key(db, &kid)? {
            return verified(key);
        }
        let now = crate::ids::now_millis();
        let fetch = KeyFetch::read(db)?;
        if fetch.in_flight(now) {
            std::thread::sleep(std::time::Duration::from_millis(KEY_POLL_MS));
            continue;
        }
        if !fetch.pending() && now - fetch.claimed_ms < REFETCH_INTERVAL_MS {
            // The fetch may have stored the keys since the lookup above (the
            // keys and their fetch time commit together): look once more.
            return match cached_key(db, &kid)? {
                Some(key) => verified(key),
                None => Err(unauthorized("unknown signing key")),
            };
        }
        // A claim lost to another request waits for its keys on the next turn.
        if fetch.claim(db, now)? {
            fetch_keys(db, now, fetch.claimed_ms).await?;
        }
    }
}

/// How long a request waits for the keys another request is fetching; a
/// claim older than this is taken over.
const KEY_WAIT_MS: i64 = 2_000;
/// How often a waiting request looks for the keys.
const KEY_POLL_MS: u64 = 20;

/// The state of this service's key fetches.
struct KeyFetch {
    /// When the latest fetch was claimed (0: never).
    claimed_ms: i64,
    /// The claim time of the latest fetch whose keys were stored.
    fetched_ms: i64,
}

impl KeyFetch {
    fn read(db: &Db) -> ApiResult<Self> {
        let row = db.row(
            "SELECT coalesce((SELECT at_ms FROM jwks_fetches WHERE id = 1), 0),
                    coalesce((SELECT max(fetched_ms) FROM jwks_cache), 0)",
            &[],
        )?;
        let (claimed_ms, fetched_ms) = row.map_or((0, 0), |r| (r.int(0), r.int(1)));
        Ok(Self {
            claimed_ms,
            fetched_ms,
        })
    }

    /// Whether the latest claim has not stored its keys (yet).
    fn pending(&self) -> bool {
        self.claimed_ms > self.fetched_ms
    }

    /// Whether another request is fetching the keys now.
    fn in_flight(&self, now: i64) -> bool {
        self.pending() && now - self.claimed_ms < KEY_WAIT_MS
    }

    /// Claims the next fetch, unless another request changed the claim since
    /// it was read.
    fn claim(&self, db: &Db, now: i64) -> ApiResult<bool> {
        db.tune_for_writes();
        Ok(db
            .row(
                "INSERT INTO jwks_fetches (id, at_ms) VALUES (1, ?1)
                 ON CONFLICT (id) DO UPDATE SET at_ms = excluded.at_ms
                 WHERE jwks_fetches.at_ms = ?2
                 RETURNING 1",
                &[int(now), int(self.claimed_ms)],
            )?
            .is_some())
    }
}

/// Fetches the user service's keys under the claim made at `claimed_ms`
/// and stores them; a failed fetch gives the claim back (to `previous_ms`),
/// so the next request tries again.
async fn fetch_keys(db: &Db, claimed_ms: i64, previous_ms: i64) -> ApiResult<()> {
    let stored = fetch_jwks().await.and_then(|set| {
        db.transaction(|db| {
            for jwk in set.keys.iter().filter(|k| k.public_key().is_some()) {
                db.execute(
                    "INSERT INTO jwks_cache (kid, x, fetched_ms) VALUES (?, ?, ?)
                     ON CONFLICT (kid) DO UPDATE SET x = excluded.x, fetched_ms = excluded.fetched_ms",
                    &[text(&jwk.kid), text(&jwk.x), int(claimed_ms)],
                )?;
            }
            Ok(())
        })
    });
    if stored.is_err() {
        db.execute(
            "UPDATE jwks_fetches SET at_ms = ?1 WHERE id = 1 AND at_ms = ?2",
            &[int(previous_ms), int(claimed_ms)],
        )?;
    }
    stored
}

/// The signing key `kid` from the store's copy of the JWKS, with its `x`.
fn cached_key(db: &Db, kid: &str) -> ApiResult<Option<(String, Ed25519PublicKey)>> {
    Ok(db
        .row("SELECT x FROM jwks_cache WHERE kid = ?", &[text(kid)])?
        .and_then(|row| {
            let x = row.text(0);
            signing_key(kid, &x).map(|key| (x, key))
        }))
}

/// The Ed25519 public key `kid` whose JWK `x` is `x`.
fn signing_key(kid: &str, x: &str) -> Option<Ed25519PublicKey> {
    Jwk {
        kty: "OKP".into(),
        crv: "Ed25519".into(),
        alg: "EdDSA".into(),
        use_: "sig".into(),
        kid: kid.into(),
        x: x.into(),
    }
    .public_key()
}

/// The key-value key of the signing key `kid`: its JWK `x` and until when
/// the entry may be used. A key id never changes its key, so the entry only
/// expires to bound how long a withdrawn key stays in use.
fn key_key(kid: &str) -> String {
    format!("jwk:{kid}")
}

/// The signing key `kid` of a cached `x until` entry, if still good.
fn cached_signing_key(kid: &str, entry: &[u8], now: i64) -> Option<Ed25519PublicKey> {
    let (x, until) = std::str::from_utf8(entry).ok()?.split_once(' ')?;
    (until.parse::<i64>().ok()? > now).then(|| signing_key(kid, x))?
}

async fn fetch_jwks() -> ApiResult<JwkSet> {
    let base = Service::User
        .public_base_url()
        .map_err(ApiError::Internal)?;
    let mut request = Request::get(format!("{base}/auth/jwks"));
    for (name, value) in crate::trace::outbound_headers() {
        request.header(name, value);
    }
    let request = request.build();
    let response: Response = spin_sdk::http::send(request).await.map_err(|e| {
        if crate::relay::through_listener(Service::User) {
            crate::relay::log_unreachable(&format!("{base}/auth/jwks"), &e);
        }
        ApiError::Unavailable(format!("user service unreachable: {e}"))
    })?;
    crate::http::ok_json(&response, "user service")
}

/// The shared secret internal callers present (`service_credential` variable).
pub fn service_credential() -> anyhow::Result<String> {
    Ok(spin_sdk::variables::get("service_credential")?)
}

/// The `service_credential` that `spin.toml` ships with. Everyone can read
/// it, so it is good only for calls that never leave the application.
pub const DEFAULT_SERVICE_CREDENTIAL: &str = "dev-only-service-credential";

/// Whether `service_credential` still has the value everyone can read.
pub fn credential_is_default() -> bool {
    service_credential().is_ok_and(|c| c == DEFAULT_SERVICE_CREDENTIAL)
}

/// Where services of one application send each other events: a path that
/// no route in `spin.toml` serves. Service chaining delivers any path to
/// the component, and a caller outside the application reaches none
/// without a route, so a request here came from inside.
pub const CHAINED_PREFIX: &str = "/chained/";

/// Admits only callers presenting the service credential: 401 without a
/// bearer token, 403 with the wrong one. On the public `/internal/…` routes
/// the credential `spin.toml` ships with is refused too (403): anyone can
/// read it, so a deployment that serves those routes must set its own.
pub fn require_service(req: &Request) -> ApiResult<()> {
    let presented = bearer(req).ok_or_else(|| unauthorized("service credential required"))?;
    let expected = service_credential().map_err(ApiError::Internal)?;
    if !constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
        return Err(ApiError::Forbidden("not a service caller".into()));
    }
    if expected == DEFAULT_SERVICE_CREDENTIAL && !req.path().starts_with(CHAINED_PREFIX) {
        eprintln!(
            "refused {} from outside the application: service_credential has its default \
             value; set your own to use the internal routes",
            req.path()
        );
        return Err(ApiError::Forbidden(
            "internal routes are closed while service_credential has its default value".into(),
        ));
    }
    Ok(())
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_credential_is_the_one_spin_toml_ships_with() {
        let manifest = include_str!("../../../spin.toml");
        let declared = format!(
            "service_credential = {{ default = \"{DEFAULT_SERVICE_CREDENTIAL}\", secret = true }}"
        );
        assert!(manifest.contains(&declared), "spin.toml: {declared}");
    }

    fn user() -> AuthUser {
        AuthUser {
            id: "01J0000000000000000000000A".into(),
            username: "alice".into(),
            version: 3,
        }
    }

    #[test]
    fn a_signed_token_verifies_with_the_published_key() {
        let key = Ed25519KeyPair::generate().with_key_id("k1");
        let token = sign(&key, &user(), 60).unwrap();
        assert_eq!(token_key_id(&token).unwrap().as_deref(), Some("k1"));
        let jwk = Jwk::from_public_key("k1", &key.public_key());
        assert_eq!(verify(&token, &jwk.public_key().unwrap()).unwrap(), user());
    }

    #[test]
    fn a_token_signed_by_another_key_is_rejected() {
        let key = Ed25519KeyPair::generate().with_key_id("k1");
        let other = Ed25519KeyPair::generate();
        let token = sign(&other.with_key_id("k1"), &user(), 60).unwrap();
        assert_eq!(verify(&token, &key.public_key()).unwrap_err().status(), 401);
    }

    #[test]
    fn other_algorithms_and_garbage_are_rejected() {
        let hs = HS256Key::generate().with_key_id("k1");
        let token = hs
            .authenticate(Claims::create(Duration::from_secs(60)))
            .unwrap();
        assert_eq!(token_key_id(&token).unwrap_err().status(), 401);
        assert_eq!(token_key_id("not.a.token").unwrap_err().status(), 401);
    }

    #[test]
    fn a_cached_token_entry_is_used_only_until_it_expires() {
        let entry = b"01J0000000000000000000000A alice 3 2000";
        assert_eq!(cached_user(entry, 1999), Some(user()));
        assert_eq!(cached_user(entry, 2000), None);
        assert_eq!(cached_user(b"garbage", 0), None);
    }

    #[test]
    fn a_tokens_subject_names_its_cache_keys_and_garbage_names_none() {
        let key = Ed25519KeyPair::generate().with_key_id("k1");
        let token = sign(&key, &user(), 60).unwrap();
        assert_eq!(unverified_subject(&token), Some(user().id));
        for junk in ["", "a.b.c", "x.eyJmb28iOjF9.y", "only-one-part"] {
            assert_eq!(unverified_subject(junk), None, "{junk}");
        }
    }

    #[test]
    fn a_cached_cut_off_is_used_only_until_it_expires() {
        assert_eq!(cached_cut_off(b"4 2000", 1999), Some(4));
        assert_eq!(cached_cut_off(b"0 2000", 1999), Some(0));
        assert_eq!(cached_cut_off(b"4 2000", 2000), None);
        assert_eq!(cached_cut_off(b"garbage", 0), None);
    }

    #[test]
    fn credentials_compare_in_constant_time_and_exactly() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
