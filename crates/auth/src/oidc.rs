//! Sign-in to the pages with OpenID Connect: the authorization code flow with PKCE (S256), `state`
//! bound to the browser and `nonce` bound to the ID token. The ID token is verified like an API
//! token (signature by `kid`, `iss`, `exp`, `nbf`), with the client id as its audience.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::verify::jwks_url_is_safe;
use crate::{AuthError, Claims, JwksSource, Verifier};

/// Where the provider is and who this service is to it.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    pub issuer: String,
    pub authorize_url: String,
    pub token_url: String,
    pub client_id: String,
    /// For a confidential client; a public client relies on PKCE alone.
    pub client_secret: Option<String>,
    /// `<public URL>/signin/callback`, as registered with the provider.
    pub redirect_uri: String,
}

/// A sign-in under way: the browser keeps `state`, `nonce` and `verifier` (in an HttpOnly cookie)
/// and goes to `url`.
#[derive(Debug, Clone)]
pub struct LoginStart {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    pub url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the identity provider refused the code: {0}")]
    CodeRefused(String),
    #[error("the identity provider could not be reached: {0}")]
    Unreachable(String),
    #[error("the identity provider's answer has no ID token")]
    NoIdToken,
    #[error("the ID token was refused: {0}")]
    IdToken(#[from] AuthError),
    #[error("the ID token's nonce is not this sign-in's")]
    WrongNonce,
}

/// The relying party.
#[derive(Debug)]
pub struct OidcClient {
    settings: OidcSettings,
    id_tokens: Verifier,
    http: reqwest::Client,
}

fn random() -> String {
    let mut b = [0u8; 32];
    // Without randomness the values are empty and no callback can match them.
    if getrandom::fill(&mut b).is_err() {
        return String::new();
    }
    URL_SAFE_NO_PAD.encode(b)
}

/// The PKCE S256 challenge of a verifier (RFC 7636).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

impl OidcClient {
    pub async fn new(settings: OidcSettings, jwks: JwksSource) -> Result<OidcClient, String> {
        for url in [&settings.authorize_url, &settings.token_url] {
            if !jwks_url_is_safe(url) {
                return Err(format!("the OIDC endpoint {url} must be https:// (plain http:// only to a loopback address)"));
            }
        }
        let id_tokens = Verifier::new(settings.issuer.clone(), settings.client_id.clone(), jwks).await?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build HTTP client: {e}"))?;
        Ok(OidcClient { settings, id_tokens, http })
    }

    /// A new sign-in: fresh `state`, `nonce` and PKCE verifier, and the provider's URL to go to.
    pub fn start(&self) -> LoginStart {
        let (state, nonce, verifier) = (random(), random(), random());
        let mut url = reqwest::Url::parse(&self.settings.authorize_url).unwrap_or_else(|_| {
            // Checked in `new`; an unparsable URL cannot get here.
            reqwest::Url::parse("https://invalid.invalid/").unwrap_or_else(|_| unreachable!())
        });
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("redirect_uri", &self.settings.redirect_uri)
            .append_pair("scope", "openid profile email")
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &pkce_challenge(&verifier))
            .append_pair("code_challenge_method", "S256");
        LoginStart { state, nonce, verifier, url: url.to_string() }
    }

    /// Redeems `code` with the PKCE `verifier` and checks the ID token, `nonce` included.
    pub async fn finish(&self, code: &str, verifier: &str, nonce: &str) -> Result<Claims, OidcError> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.settings.redirect_uri.as_str()),
            ("client_id", self.settings.client_id.as_str()),
            ("code_verifier", verifier),
        ];
        if let Some(secret) = &self.settings.client_secret {
            form.push(("client_secret", secret.as_str()));
        }
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&form).finish();
        let resp = self
            .http
            .post(&self.settings.token_url)
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| OidcError::Unreachable(e.to_string()))?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.map_err(|e| OidcError::Unreachable(e.to_string()))?;
        if !status.is_success() {
            let why = body["error"].as_str().unwrap_or("error").chars().take(64).collect();
            return Err(OidcError::CodeRefused(why));
        }
        let token = body["id_token"].as_str().ok_or(OidcError::NoIdToken)?;
        let claims = self.id_tokens.verify(token).await?;
        let ok = claims.nonce.as_deref().is_some_and(|n| n.len() == nonce.len() && !nonce.is_empty() && n.as_bytes() == nonce.as_bytes());
        if !ok {
            return Err(OidcError::WrongNonce);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn pkce_challenge_matches_rfc_7636_appendix_b() {
        assert_eq!(super::pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }
}
