//! Token verification.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use sha2::{Digest, Sha256};
use tokio::sync::RwLock;

use crate::Claims;

/// Why a token was refused. The message is safe to show the client; it never echoes the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token")]
    Missing,
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's algorithm is not accepted (only asymmetric signatures are)")]
    AlgorithmRefused,
    #[error("the token names no key id or an unknown one")]
    UnknownKey,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token is for another audience")]
    WrongAudience,
    #[error("the token is from another issuer")]
    WrongIssuer,
    #[error("the token lacks required claims")]
    MissingClaims,
    #[error("the issuer's keys could not be loaded")]
    KeysUnavailable,
}

/// Where the verification keys come from.
#[derive(Debug, Clone)]
pub enum JwksSource {
    /// Fixed keys (the dev issuer's own, or tests).
    Static(JwkSet),
    /// A JWKS file on disk, read at start.
    File(PathBuf),
    /// A JWKS URL, fetched at start and again (at most once a minute) when a token names an unknown
    /// `kid`, which is how issuers roll keys. `https://` only (plain `http://` only to a loopback
    /// address): keys fetched in the clear could be swapped on the way.
    Url(String),
}

struct Cache {
    set: JwkSet,
    fetched: Option<Instant>,
}

/// Verifies bearer tokens for one issuer and audience.
#[derive(Clone)]
pub struct Verifier {
    issuer: String,
    audience: String,
    source: JwksSource,
    cache: Arc<RwLock<Cache>>,
    http: Option<reqwest::Client>,
    refresh_at_most_every: Duration,
    verified: Arc<Mutex<Verified>>,
}

/// Tokens already verified, by the SHA-256 of their text (never the token itself), each until its
/// `exp`: a client sends the same token with every request, and checking its signature again each
/// time was the largest CPU cost of a read (issue 11's profile). Bounded; a full cache is emptied.
#[derive(Default)]
struct Verified {
    claims: HashMap<[u8; 32], Claims>,
}

const VERIFIED_CAPACITY: usize = 10_000;

/// The SHA-256 of a token's text: how caches name a token without keeping it.
pub fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Verified {
    fn get(&mut self, key: &[u8; 32]) -> Option<Claims> {
        let now = unix_now();
        match self.claims.get(key) {
            Some(c) if now < c.exp && now >= c.nbf => Some(c.clone()),
            Some(_) => {
                self.claims.remove(key);
                None
            }
            None => None,
        }
    }

    fn put(&mut self, key: [u8; 32], claims: Claims) {
        if self.claims.len() >= VERIFIED_CAPACITY {
            let now = unix_now();
            self.claims.retain(|_, c| now < c.exp);
            if self.claims.len() >= VERIFIED_CAPACITY {
                self.claims.clear();
            }
        }
        self.claims.insert(key, claims);
    }
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").field("issuer", &self.issuer).field("audience", &self.audience).finish_non_exhaustive()
    }
}

const REFRESH_AT_MOST_EVERY: Duration = Duration::from_secs(60);

fn accepted(alg: Algorithm) -> bool {
    use Algorithm::*;
    matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512 | ES256 | ES384 | EdDSA)
}

impl Verifier {
    /// A verifier; for `File` and `Url` the keys are loaded now, and a failure is an error.
    pub async fn new(issuer: String, audience: String, source: JwksSource) -> Result<Verifier, String> {
        let (set, http) = match &source {
            JwksSource::Static(set) => (set.clone(), None),
            JwksSource::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read JWKS file {}: {e}", path.display()))?;
                let set: JwkSet = serde_json::from_str(&text).map_err(|e| format!("JWKS file {} is not a JWK set: {e}", path.display()))?;
                (set, None)
            }
            JwksSource::Url(url) => {
                if !jwks_url_is_safe(url) {
                    return Err(format!("the JWKS URL {url} must be https:// (plain http:// only to a loopback address)"));
                }
                let http = reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .map_err(|e| format!("cannot build HTTP client: {e}"))?;
                let set = fetch(&http, url).await.map_err(|e| format!("cannot fetch JWKS from {url}: {e}"))?;
                (set, Some(http))
            }
        };
        let fetched = http.as_ref().map(|_| Instant::now());
        let cache = Arc::new(RwLock::new(Cache { set, fetched }));
        Ok(Verifier {
            issuer,
            audience,
            source,
            cache,
            http,
            refresh_at_most_every: REFRESH_AT_MOST_EVERY,
            verified: Arc::new(Mutex::new(Verified::default())),
        })
    }

    /// The verifier re-fetching a URL's keys at most once per `every` (default a minute).
    pub fn with_refresh_at_most_every(self, every: Duration) -> Verifier {
        Verifier { refresh_at_most_every: every, ..self }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    async fn key_for(&self, kid: &str) -> Result<jsonwebtoken::jwk::Jwk, AuthError> {
        if let Some(k) = self.cache.read().await.set.find(kid) {
            return Ok(k.clone());
        }
        let (JwksSource::Url(url), Some(http)) = (&self.source, &self.http) else { return Err(AuthError::UnknownKey) };
        // Claim the refresh under the lock, fetch without it: a slow issuer must not stall every
        // request that only reads the cache. Marking `fetched` first keeps concurrent unknown `kid`s
        // to one fetch a minute.
        {
            let mut cache = self.cache.write().await;
            if cache.fetched.is_some_and(|t| t.elapsed() < self.refresh_at_most_every) {
                return cache.set.find(kid).cloned().ok_or(AuthError::UnknownKey);
            }
            cache.fetched = Some(Instant::now());
        }
        match fetch(http, url).await {
            Ok(set) => {
                let found = set.find(kid).cloned();
                self.cache.write().await.set = set;
                found.ok_or(AuthError::UnknownKey)
            }
            Err(e) => {
                tracing::warn!(error = %e, "JWKS refresh failed");
                Err(AuthError::KeysUnavailable)
            }
        }
    }

    /// Verifies `token` and returns its claims; a token verified before is answered from the cache
    /// until its `exp`.
    pub async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let key = token_digest(token);
        if let Some(claims) = self.verified.lock().ok().and_then(|mut v| v.get(&key)) {
            return Ok(claims);
        }
        let claims = self.verify_signature(token).await?;
        if let Ok(mut v) = self.verified.lock() {
            v.put(key, claims.clone());
        }
        Ok(claims)
    }

    async fn verify_signature(&self, token: &str) -> Result<Claims, AuthError> {
        // The header is read before any key: `none` and HMAC never reach a key lookup.
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        if !accepted(header.alg) {
            return Err(AuthError::AlgorithmRefused);
        }
        let kid = header.kid.as_deref().ok_or(AuthError::UnknownKey)?;
        let jwk = self.key_for(kid).await?;
        if let Some(jwk_alg) = jwk.common.key_algorithm
            && jwk_alg.to_string() != format!("{:?}", header.alg)
        {
            return Err(AuthError::AlgorithmRefused);
        }
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| AuthError::UnknownKey)?;
        let mut v = Validation::new(header.alg);
        v.algorithms = vec![header.alg];
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "nbf"]);
        v.validate_nbf = true;
        v.leeway = 30;
        // `aud` may be one string or an array (validated above to contain ours); the claims keep ours.
        jsonwebtoken::decode::<Claims>(token, &key, &v).map(|d| Claims { aud: self.audience.clone(), ..d.claims }).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            match e.kind() {
                K::ExpiredSignature => AuthError::Expired,
                K::ImmatureSignature => AuthError::NotYetValid,
                K::InvalidAudience => AuthError::WrongAudience,
                K::InvalidIssuer => AuthError::WrongIssuer,
                K::MissingRequiredClaim(_) => AuthError::MissingClaims,
                K::InvalidSignature => AuthError::BadSignature,
                K::InvalidAlgorithm => AuthError::AlgorithmRefused,
                K::Json(_) => AuthError::MissingClaims,
                _ => AuthError::Malformed,
            }
        })
    }
}

/// `https://`, or `http://` to a loopback address (a local issuer in development and tests).
pub(crate) fn jwks_url_is_safe(url: &str) -> bool {
    let Ok(u) = reqwest::Url::parse(url) else { return false };
    match u.scheme() {
        "https" => true,
        "http" => match u.host() {
            Some(url::Host::Domain(d)) => d == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

async fn fetch(http: &reqwest::Client, url: &str) -> Result<JwkSet, String> {
    let resp = http.get(url).send().await.map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("status {}", resp.status()));
    }
    resp.json::<JwkSet>().await.map_err(|e| e.to_string())
}

#[cfg(test)]
mod url_tests {
    use super::jwks_url_is_safe;

    /// Found on the running binary: a JWKS URL over plain http was accepted.
    #[test]
    fn hardening_jwks_urls_must_be_https() {
        for ok in ["https://login.example.com/keys", "http://127.0.0.1:8080/keys", "http://[::1]/k", "http://localhost/k"] {
            assert!(jwks_url_is_safe(ok), "{ok}");
        }
        for bad in ["http://login.example.com/keys", "http://10.0.0.1/keys", "ftp://x/keys", "file:///etc/keys", "keys.json"] {
            assert!(!jwks_url_is_safe(bad), "{bad}");
        }
    }
}

#[cfg(test)]
mod cache_tests {
    use super::*;
    use crate::{DEV_AUDIENCE, DEV_ISSUER, DevIssuer};

    async fn verifier(issuer: &DevIssuer) -> Verifier {
        let set: JwkSet = serde_json::from_value(issuer.jwks()).expect("jwks");
        Verifier::new(DEV_ISSUER.into(), DEV_AUDIENCE.into(), JwksSource::Static(set)).await.expect("verifier")
    }

    /// The verified-token cache answers only for the exact token text it verified, and never beyond
    /// the token's `exp`: a token changed by one character is checked (and refused) again.
    #[tokio::test]
    async fn verified_tokens_are_cached_by_their_exact_text_until_exp() {
        let dir = std::env::temp_dir().join(format!("pb-auth-{}", uuid::Uuid::new_v4()));
        let issuer = DevIssuer::load_or_create(&dir).expect("issuer");
        let v = verifier(&issuer).await;
        let token = issuer.sign(&issuer.claims("someone".into(), time::Duration::minutes(5))).expect("sign");
        let first = v.verify(&token).await.expect("valid");
        assert_eq!(v.verify(&token).await.expect("cached"), first);
        assert_eq!(v.verified.lock().map(|c| c.claims.len()).unwrap_or(0), 1);

        let mut tampered = token.clone();
        tampered.pop();
        tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert!(v.verify(&tampered).await.is_err(), "a changed token is verified again and refused");

        // A cached entry past its exp is dropped and the token goes through full verification.
        let mut expired = issuer.claims("late".into(), time::Duration::minutes(5));
        expired.exp = unix_now() - 120;
        expired.nbf = expired.exp - 300;
        let key: [u8; 32] = Sha256::digest(b"late-token").into();
        v.verified.lock().expect("lock").put(key, expired);
        assert!(v.verified.lock().expect("lock").get(&key).is_none());
        let old = issuer.sign(&{
            let mut c = issuer.claims("old".into(), time::Duration::minutes(5));
            c.exp = unix_now() - 120;
            c
        });
        assert_eq!(v.verify(&old.expect("sign")).await, Err(AuthError::Expired));
        let _ = std::fs::remove_dir_all(dir);
    }
}
