//! Extractors for the openings every page handler would otherwise repeat: a form whose CSRF token
//! matches the session's, and a signed-in global admin whose partner account may link now.

use axum::Form;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use pb_app::AppState;
use serde::de::DeserializeOwned;

use crate::session::WebUser;

/// A form that carries the session's CSRF token in its `csrf` field.
pub trait CsrfProtected {
    fn csrf(&self) -> &str;
}

/// The refusal of a form whose CSRF token does not match (an old tab, or a forged request).
pub fn forbidden_csrf() -> Response {
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<h1>The form expired</h1><p>Reload the page and try again.</p>",
    )
        .into_response()
}

/// The refusal of a form posted from another site's page.
pub fn forbidden_origin() -> Response {
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<h1>Refused</h1><p>This form was sent from another site. Open the page here and send it again.</p>",
    )
        .into_response()
}

/// A submitted form `F` of the signed-in user `U` (a [`WebUser`], or one the page checks further),
/// with its
/// CSRF token checked against the session's.
pub struct CsrfForm<F, U = WebUser> {
    pub user: U,
    pub form: F,
}

impl<F, U> FromRequest<AppState> for CsrfForm<F, U>
where
    F: DeserializeOwned + CsrfProtected + Send,
    U: FromRequestParts<AppState, Rejection = Response> + AsRef<WebUser> + Send,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let user = U::from_request_parts(&mut parts, state).await?;
        let Form(form) = Form::<F>::from_request(Request::from_parts(parts, body), state).await.map_err(IntoResponse::into_response)?;
        if !user.as_ref().check_csrf(form.csrf()) {
            return Err(forbidden_csrf());
        }
        Ok(CsrfForm { user, form })
    }
}
