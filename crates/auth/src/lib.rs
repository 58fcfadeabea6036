//! Identity: the local dev issuer (signs tokens with a key kept in the data folder and publishes its
//! JWKS) and token verification against the dev issuer or an external OIDC issuer's JWKS.
//!
//! Tokens are shaped like Microsoft Entra ID access tokens (`tid`, `oid`, `wids`, ...). Only
//! asymmetric algorithms are accepted, each key is found by `kid`, and `iss`, `aud`, `exp`, `nbf`
//! and the signature are all checked. `alg: none` and HMAC are refused before any key is looked at.

mod dev;
mod oidc;
mod verify;

pub use dev::{DEV_AUDIENCE, DEV_ISSUER, DevIssuer};
pub use oidc::{LoginStart, OidcClient, OidcError, OidcSettings, pkce_challenge};
pub use verify::{AuthError, JwksSource, Verifier, token_digest};

use serde::{Deserialize, Serialize};

/// The app role that marks a platform operator (rule A6).
pub const OPERATOR_ROLE: &str = "Platform.Operator";

/// The `tid` of the dev issuer's operator tokens: the platform's own directory, which is never a
/// customer tenant of this service (those get fresh random ids).
pub const DEV_OPERATOR_TENANT: &str = "00000000-0000-0000-0000-0000000000a6";

/// The claims this service reads. Unknown claims are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// One audience; a token may carry an array, which verification checks for ours.
    #[serde(deserialize_with = "one_or_many")]
    pub aud: String,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// An ID token's binding to its sign-in (OIDC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

impl Claims {
    /// Rule A6: an operator is a token of the platform's own directory (`operator_tenant`) that
    /// carries the operator app role. The same role in a customer's directory, where that customer's
    /// admins can assign app roles to themselves, makes nobody an operator; with no operator
    /// directory configured nobody is one.
    pub fn is_operator_of(&self, operator_tenant: Option<&str>) -> bool {
        let from_platform = match (operator_tenant, self.tid.as_deref()) {
            (Some(ours), Some(tid)) => ours.trim().eq_ignore_ascii_case(tid.trim()),
            _ => false,
        };
        from_platform && self.roles.iter().any(|r| r == OPERATOR_ROLE)
    }
}

/// `aud` as a string or an array of strings (RFC 7519 allows both); an array reads as its first
/// element, and verification then records the audience it matched.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Aud {
        One(String),
        Many(Vec<String>),
    }
    match Aud::deserialize(d)? {
        Aud::One(s) => Ok(s),
        Aud::Many(v) => v.into_iter().next().ok_or_else(|| serde::de::Error::custom("empty aud")),
    }
}
