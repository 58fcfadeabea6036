//! Every error is `application/problem+json` (RFC 9457) with a stable `code`. Errors of the lower
//! layers are mapped here, once.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pb_app::{AuthFailure, Problem};
use pb_domain::billing::AgreementRefusal;
use pb_domain::{FieldError, FieldErrors, PartnerAccountState};
use pb_store::StoreError;

/// Errors of the HTTP layer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    Auth(#[from] AuthFailure),
    #[error("this needs the Global administrator directory role of the tenant")]
    GlobalAdminRequired,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("invalid fields: {0}")]
    Validation(FieldErrors),
    #[error("{field} cannot be changed here: {reason}")]
    FieldNotEditable { field: String, reason: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("the partner account is {}; only an active partner account can link a billing account and profile", .0.describe())]
    PartnerAccountNotActive(PartnerAccountState),
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("{0}")]
    Precondition(String),
    #[error("{0}")]
    PreconditionRequired(String),
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyKeyReused,
    #[error("a request with this Idempotency-Key is still running; retry shortly")]
    IdempotencyKeyInUse,
    #[error("internal error")]
    Internal(String),
    /// The database cannot serve just now (503 with Retry-After).
    #[error("{0}")]
    Unavailable(String),
    /// A store refusal that carries its own problem (rules C3, M1, M2, ...).
    #[error("{}", .0.detail)]
    Refused(Box<Problem>),
}

impl ApiError {
    pub fn validation(field: &str, code: &str, message: &str) -> Self {
        let mut e = FieldErrors::new();
        e.push(field, code, message);
        ApiError::Validation(e)
    }

    pub fn to_problem(&self) -> Problem {
        use ApiError::*;
        let detail = self.to_string();
        match self {
            InvalidRequest(_) => Problem::new(StatusCode::BAD_REQUEST, "invalid_request", detail),
            Auth(a) => a.to_problem(),
            GlobalAdminRequired => {
                let mut p = Problem::new(StatusCode::FORBIDDEN, "global_admin_required", detail);
                p.extra.insert("required_role".into(), "global_admin".into());
                p.extra.insert("required_role_template_id".into(), pb_domain::GLOBAL_ADMIN_TEMPLATE_ID.into());
                p
            }
            Forbidden(_) => Problem::new(StatusCode::FORBIDDEN, "forbidden", detail),
            NotFound(_) => Problem::new(StatusCode::NOT_FOUND, "not_found", detail),
            Validation(errs) => {
                let mut p = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", "some fields are invalid; see errors");
                p.errors = errs.0.clone();
                p
            }
            FieldNotEditable { field, .. } => {
                let mut p = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "field_not_editable", detail);
                p.errors = vec![FieldError::new(field.clone(), "field_not_editable", self.to_string())];
                p
            }
            Conflict { code, .. } => Problem::new(StatusCode::CONFLICT, code, detail),
            PartnerAccountNotActive(state) => {
                let mut p = Problem::new(StatusCode::CONFLICT, "partner_account_not_active", detail);
                p.extra.insert("state".into(), state.as_str().into());
                p
            }
            PayloadTooLarge(_) => Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", detail),
            Precondition(_) => Problem::new(StatusCode::PRECONDITION_FAILED, "precondition_failed", detail),
            PreconditionRequired(_) => Problem::new(StatusCode::PRECONDITION_REQUIRED, "precondition_required", detail),
            IdempotencyKeyReused => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused", detail),
            IdempotencyKeyInUse => Problem::new(StatusCode::CONFLICT, "idempotency_key_in_use", detail),
            Refused(p) => (**p).clone(),
            Unavailable(_) => pb_app::problem::unavailable(),
            Internal(_) => Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "something went wrong on our side; quote the request id when reporting it",
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            // The client gets an opaque problem; the cause goes to the log, inside the request span.
            ApiError::Internal(msg) => tracing::error!(error = %msg, "internal error"),
            ApiError::Unavailable(msg) => tracing::warn!(error = %msg, "database unavailable"),
            ApiError::Auth(AuthFailure::Store(e)) if e.is_unavailable() => tracing::warn!(error = %e, "cannot resolve the caller"),
            ApiError::Auth(AuthFailure::Store(e)) => tracing::error!(error = %e, "cannot resolve the caller"),
            _ => {}
        }
        self.to_problem().into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::NotFound(what.to_owned()),
            StoreError::Conflict { code, message } => ApiError::Conflict { code, message },
            StoreError::PartnerAccountNotActive(s) => ApiError::PartnerAccountNotActive(s),
            StoreError::GlobalAdminRequired => ApiError::GlobalAdminRequired,
            StoreError::Forbidden(m) => ApiError::Forbidden(m),
            e @ StoreError::UnfundedProfileExists { reuse } => {
                let mut p = Problem::new(StatusCode::CONFLICT, "unfunded_profile_exists", e.to_string());
                p.extra.insert("reuse_billing_profile_id".into(), reuse.to_string().into());
                ApiError::Refused(Box::new(p))
            }
            e @ StoreError::PreconditionFailed { .. } => ApiError::Precondition(e.to_string()),
            e @ StoreError::PreconditionRequired => ApiError::PreconditionRequired(e.to_string()),
            StoreError::Agreement(a) => {
                let code = match a {
                    AgreementRefusal::NotAccepted => "agreement_not_accepted",
                    AgreementRefusal::SecondaryAcknowledgementRequired => "secondary_acknowledgement_required",
                };
                let mut p = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, code, a.to_string());
                let field = match a {
                    AgreementRefusal::NotAccepted => "accept_agreement",
                    AgreementRefusal::SecondaryAcknowledgementRequired => "accept_secondary_acknowledgement",
                };
                p.errors = vec![FieldError::new(field, code, a.to_string())];
                ApiError::Refused(Box::new(p))
            }
            StoreError::Fields(e) => ApiError::Validation(e),
            StoreError::Unprocessable { code, message } => {
                ApiError::Refused(Box::new(Problem::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)))
            }
            StoreError::Invalid { field, code, message } => {
                let mut e = FieldErrors::new();
                e.push(field, code, message);
                ApiError::Validation(e)
            }
            e @ StoreError::Unavailable(_) => ApiError::Unavailable(e.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<FieldErrors> for ApiError {
    fn from(e: FieldErrors) -> Self {
        ApiError::Validation(e)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
