//! The local dev issuer: an Ed25519 key created in the data folder on first use.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, spki::der::pem::LineEnding};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use sha2::{Digest, Sha256};

use crate::Claims;

/// `iss` of dev tokens.
pub const DEV_ISSUER: &str = "urn:partner-billing:dev-issuer";
/// `aud` of dev tokens.
pub const DEV_AUDIENCE: &str = "api://partner-billing";

const KEY_FILE: &str = "dev-issuer-ed25519.pem";

#[derive(Clone)]
pub struct DevIssuer {
    kid: String,
    encoding: EncodingKey,
    public: [u8; 32],
}

impl std::fmt::Debug for DevIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("DevIssuer").field("kid", &self.kid).finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DevKeyError {
    #[error("cannot read or write the dev issuer key {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("the dev issuer key {path} is not a valid Ed25519 PKCS#8 PEM key")]
    Invalid { path: PathBuf },
    #[error("no randomness available: {0}")]
    Random(String),
    #[error("cannot sign a token: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

impl DevIssuer {
    /// Loads the key from `data_dir`, creating the folder and the key (mode 0600) when missing.
    pub fn load_or_create(data_dir: &Path) -> Result<DevIssuer, DevKeyError> {
        let path = data_dir.join(KEY_FILE);
        let io = |source| DevKeyError::Io { path: path.clone(), source };
        let signing = match std::fs::read_to_string(&path) {
            Ok(pem) => SigningKey::from_pkcs8_pem(&pem).map_err(|_| DevKeyError::Invalid { path: path.clone() })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(data_dir).map_err(io)?;
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed).map_err(|e| DevKeyError::Random(e.to_string()))?;
                let key = SigningKey::from_bytes(&seed);
                let pem = key.to_pkcs8_pem(LineEnding::LF).map_err(|_| DevKeyError::Invalid { path: path.clone() })?;
                write_private(&path, pem.as_bytes()).map_err(io)?;
                key
            }
            Err(e) => return Err(io(e)),
        };
        Self::from_signing_key(&signing, &path)
    }

    fn from_signing_key(key: &SigningKey, path: &Path) -> Result<DevIssuer, DevKeyError> {
        let der = key.to_pkcs8_der().map_err(|_| DevKeyError::Invalid { path: path.to_path_buf() })?;
        let public = key.verifying_key().to_bytes();
        let digest = Sha256::digest(public);
        let kid = URL_SAFE_NO_PAD.encode(&digest[..12]);
        Ok(DevIssuer { kid, encoding: EncodingKey::from_ed_der(der.as_bytes()), public })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs `claims` (EdDSA, with this key's `kid`): [`Claims`], or any JSON object in tests.
    pub fn sign<C: serde::Serialize>(&self, claims: &C) -> Result<String, DevKeyError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        header.typ = Some("JWT".to_owned());
        Ok(jsonwebtoken::encode(&header, claims, &self.encoding)?)
    }

    /// The public key as a JWKS document, as served at `/.well-known/jwks.json`.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({
            "keys": [{
                "kty": "OKP",
                "crv": "Ed25519",
                "use": "sig",
                "alg": "EdDSA",
                "kid": self.kid,
                "x": URL_SAFE_NO_PAD.encode(self.public),
            }]
        })
    }

    pub fn decoding_key(&self) -> DecodingKey {
        DecodingKey::from_ed_der(&self.public)
    }

    /// The raw public key bytes (tests use them to forge HS256 tokens, which must be refused).
    pub fn public_key_bytes(&self) -> [u8; 32] {
        self.public
    }

    /// Claims for a token valid from now for `ttl`.
    pub fn claims(&self, sub: String, ttl: time::Duration) -> Claims {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        Claims {
            iss: DEV_ISSUER.to_owned(),
            aud: DEV_AUDIENCE.to_owned(),
            exp: now + ttl.whole_seconds(),
            nbf: now,
            iat: now,
            sub,
            tid: None,
            oid: None,
            preferred_username: None,
            name: None,
            wids: Vec::new(),
            roles: Vec::new(),
            nonce: None,
        }
    }

    /// Claims of a platform operator of `operator_tenant` (rule A6).
    pub fn operator_claims(&self, operator_tenant: &str, ttl: time::Duration) -> Claims {
        let mut c = self.claims("operator".to_owned(), ttl);
        c.tid = Some(operator_tenant.to_owned());
        c.name = Some("Platform operator".to_owned());
        c.roles = vec![crate::OPERATOR_ROLE.to_owned()];
        c
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_created_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("pb-auth-{}", uuid::Uuid::new_v4()));
        let a = DevIssuer::load_or_create(&dir).map(|i| i.kid().to_owned()).ok();
        let b = DevIssuer::load_or_create(&dir).map(|i| i.kid().to_owned()).ok();
        assert!(a.is_some());
        assert_eq!(a, b);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn debug_does_not_print_key_material() {
        let dir = std::env::temp_dir().join(format!("pb-auth-{}", uuid::Uuid::new_v4()));
        if let Ok(i) = DevIssuer::load_or_create(&dir) {
            let s = format!("{i:?}");
            assert!(s.contains("kid") && !s.contains("encoding"));
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
