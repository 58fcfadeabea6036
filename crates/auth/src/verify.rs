//! Token verification.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
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
    /// `kid`, which is how issuers roll keys.
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
                let http = reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .map_err(|e| format!("cannot build HTTP client: {e}"))?;
                let set = fetch(&http, url).await.map_err(|e| format!("cannot fetch JWKS from {url}: {e}"))?;
                (set, Some(http))
            }
        };
        let fetched = http.as_ref().map(|_| Instant::now());
        Ok(Verifier { issuer, audience, source, cache: Arc::new(RwLock::new(Cache { set, fetched })), http })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    async fn key_for(&self, kid: &str) -> Result<jsonwebtoken::jwk::Jwk, AuthError> {
        if let Some(k) = self.cache.read().await.set.find(kid) {
            return Ok(k.clone());
        }
        let (JwksSource::Url(url), Some(http)) = (&self.source, &self.http) else { return Err(AuthError::UnknownKey) };
        let mut cache = self.cache.write().await;
        if cache.fetched.is_some_and(|t| t.elapsed() < REFRESH_AT_MOST_EVERY) {
            return cache.set.find(kid).cloned().ok_or(AuthError::UnknownKey);
        }
        match fetch(http, url).await {
            Ok(set) => {
                cache.set = set;
                cache.fetched = Some(Instant::now());
            }
            Err(e) => {
                tracing::warn!(error = %e, "JWKS refresh failed");
                cache.fetched = Some(Instant::now());
                return Err(AuthError::KeysUnavailable);
            }
        }
        cache.set.find(kid).cloned().ok_or(AuthError::UnknownKey)
    }

    /// Verifies `token` and returns its claims.
    pub async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
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
        jsonwebtoken::decode::<Claims>(token, &key, &v).map(|d| d.claims).map_err(|e| {
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

async fn fetch(http: &reqwest::Client, url: &str) -> Result<JwkSet, String> {
    let resp = http.get(url).send().await.map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("status {}", resp.status()));
    }
    resp.json::<JwkSet>().await.map_err(|e| e.to_string())
}
