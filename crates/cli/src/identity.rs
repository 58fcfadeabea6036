//! Who is who: the token issuer (the dev issuer or an external one), the platform's operator
//! directory, and OpenID Connect sign-in for the pages.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use pb_auth::{DEV_AUDIENCE, DEV_ISSUER, DEV_OPERATOR_TENANT, DevIssuer, JwksSource, Verifier};

use crate::ServeArgs;

#[derive(Args, Debug, Clone)]
pub struct AuthArgs {
    /// External token issuer (`iss`); unset means the local dev issuer.
    #[arg(long, env = "PB_AUTH_ISSUER")]
    pub auth_issuer: Option<String>,
    /// Expected `aud` of external tokens.
    #[arg(long, env = "PB_AUTH_AUDIENCE")]
    pub auth_audience: Option<String>,
    /// The external issuer's JWKS: an https:// URL or a file path.
    #[arg(long, env = "PB_AUTH_JWKS")]
    pub auth_jwks: Option<String>,
    /// The platform's own directory (`tid`): only its tokens with the `Platform.Operator` role are
    /// operators. Defaults to the dev issuer's operator directory; with an external issuer, unset
    /// means no operators.
    #[arg(long, env = "PB_OPERATOR_TENANT")]
    pub operator_tenant: Option<String>,
}

/// OpenID Connect sign-in for the pages (with an external issuer and a public URL).
#[derive(Args, Debug, Clone)]
pub struct OidcArgs {
    /// This service's client id at the provider; setting it turns OIDC sign-in on.
    #[arg(long, env = "PB_OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,
    /// The client secret, for a confidential client (PKCE is used either way).
    #[arg(long, env = "PB_OIDC_CLIENT_SECRET", hide_env_values = true)]
    pub oidc_client_secret: Option<String>,
    /// The provider's authorization endpoint.
    #[arg(long, env = "PB_OIDC_AUTHORIZE_URL")]
    pub oidc_authorize_url: Option<String>,
    /// The provider's token endpoint.
    #[arg(long, env = "PB_OIDC_TOKEN_URL")]
    pub oidc_token_url: Option<String>,
}

impl AuthArgs {
    pub fn operator_tenant(&self) -> Option<String> {
        match (&self.operator_tenant, &self.auth_issuer) {
            (Some(t), _) => Some(t.trim().to_owned()),
            (None, None) => Some(DEV_OPERATOR_TENANT.to_owned()),
            (None, Some(_)) => None,
        }
    }
}

fn jwks_source(jwks: String) -> JwksSource {
    if jwks.starts_with("https://") || jwks.starts_with("http://") { JwksSource::Url(jwks) } else { JwksSource::File(jwks.into()) }
}

/// The OIDC client of the pages, when `--oidc-client-id` is set.
pub async fn oidc_client(a: &ServeArgs) -> Result<Option<pb_auth::OidcClient>> {
    let Some(client_id) = a.oidc.oidc_client_id.clone() else { return Ok(None) };
    let need = |v: &Option<String>, what: &str| v.clone().with_context(|| format!("{what} is required with PB_OIDC_CLIENT_ID"));
    let issuer = need(&a.auth.auth_issuer, "PB_AUTH_ISSUER")?;
    let jwks = need(&a.auth.auth_jwks, "PB_AUTH_JWKS")?;
    let public = need(&a.public_url, "PB_PUBLIC_URL")?;
    let settings = pb_auth::OidcSettings {
        issuer,
        authorize_url: need(&a.oidc.oidc_authorize_url, "PB_OIDC_AUTHORIZE_URL")?,
        token_url: need(&a.oidc.oidc_token_url, "PB_OIDC_TOKEN_URL")?,
        client_id,
        client_secret: a.oidc.oidc_client_secret.clone(),
        redirect_uri: format!("{}/signin/callback", public.trim_end_matches('/')),
    };
    pb_auth::OidcClient::new(settings, jwks_source(jwks)).await.map(Some).map_err(anyhow::Error::msg)
}

pub async fn verifier(auth: &AuthArgs, data_dir: &Path) -> Result<(Verifier, Option<Arc<DevIssuer>>)> {
    match &auth.auth_issuer {
        Some(issuer) => {
            let audience = auth.auth_audience.clone().context("PB_AUTH_AUDIENCE is required with PB_AUTH_ISSUER")?;
            let jwks = auth.auth_jwks.clone().context("PB_AUTH_JWKS (URL or file) is required with PB_AUTH_ISSUER")?;
            let v = Verifier::new(issuer.clone(), audience, jwks_source(jwks)).await.map_err(anyhow::Error::msg)?;
            Ok((v, None))
        }
        None => {
            let dev = DevIssuer::load_or_create(data_dir)?;
            let set = serde_json::from_value(dev.jwks()).context("dev JWKS")?;
            let v =
                Verifier::new(DEV_ISSUER.to_owned(), DEV_AUDIENCE.to_owned(), JwksSource::Static(set)).await.map_err(anyhow::Error::msg)?;
            Ok((v, Some(Arc::new(dev))))
        }
    }
}
