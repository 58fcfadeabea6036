//! Billing accounts, billing profiles, invoice sections and payment instruments.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use pb_app::{AppState, TenantUser};
use pb_domain::{BillingAccountId, BillingProfileId, ContactInput, DisplayName, FieldErrors, InvoiceSectionId, PaymentInstrumentInput};
use pb_store::{BillingAccount, BillingAccountPatch, BillingProfile, InvoiceSection, NewBillingAccount, PaymentInstrument};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::Problem;
use crate::extract::JsonBody;
use crate::extract::QueryParams;
use crate::idempotency::{Answer, Idem};
use crate::problem::{ApiError, ApiResult};
use crate::views::{BillingAccountView, BillingProfileView, InvoiceSectionView, ListView, PaymentInstrumentView};

pub fn routes(r: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    r.routes(routes!(list_billing_accounts, create_billing_account))
        .routes(routes!(get_billing_account, update_billing_account))
        .routes(routes!(list_billing_profiles, create_billing_profile))
        .routes(routes!(get_billing_profile))
        .routes(routes!(create_invoice_section))
        .routes(routes!(update_invoice_section, delete_invoice_section))
        .routes(routes!(create_payment_instrument))
}

/// Parses an id from the path; a malformed id names nothing, so it is 404 like an unknown one.
pub(crate) fn path_id<T>(raw: &str, what: &str, parse: impl Fn(&str) -> Result<T, pb_domain::ids::InvalidId>) -> ApiResult<T> {
    parse(raw).map_err(|_| ApiError::NotFound(what.to_owned()))
}

/// The body of a new billing account. `sold_to` and `company_name` come from the verified legal
/// profile; naming them here is refused (rule N3).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBillingAccountBody {
    pub display_name: Option<String>,
    pub primary_contact: Option<ContactInput>,
    #[schema(value_type = Option<Object>)]
    pub sold_to: Option<serde_json::Value>,
    #[schema(value_type = Option<String>)]
    pub company_name: Option<serde_json::Value>,
}

impl NewBillingAccountBody {
    /// Parses into a [`NewBillingAccount`]; field paths get `prefix`.
    pub fn parse(&self, prefix: &str) -> ApiResult<NewBillingAccount> {
        for (field, present) in [("sold_to", self.sold_to.is_some()), ("company_name", self.company_name.is_some())] {
            if present {
                return Err(ApiError::FieldNotEditable {
                    field: format!("{prefix}{field}"),
                    reason: "it comes from the verified legal profile; change it on the legal profile page (PUT /partner-account/legal-profile) and have it verified".into(),
                });
            }
        }
        let mut e = FieldErrors::new();
        let display_name = match &self.display_name {
            Some(n) => e.check(&format!("{prefix}display_name"), DisplayName::parse(n)).map(Some),
            None => Some(None),
        };
        let primary_contact = match &self.primary_contact {
            Some(c) => e.nested(&format!("{prefix}primary_contact"), c.parse()).map(Some),
            None => Some(None),
        };
        Ok(e.finish(|| Some(NewBillingAccount { display_name: display_name?, primary_contact: primary_contact? }))?)
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    #[serde(default, deserialize_with = "crate::extract::cursor")]
    cursor: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::page_limit")]
    limit: Option<u32>,
}

/// Billing accounts the caller may see: all of the tenant's for a global admin (rule A3), each with
/// its billing profiles and their "View details" links (rule E1).
#[utoipa::path(get, path = "/api/v1/billing-accounts", tag = "billing", security(("bearer" = [])), params(PageParams),
    responses((status = 200, body = ListView<BillingAccountView>)))]
pub async fn list_billing_accounts(
    State(s): State<AppState>,
    who: TenantUser,
    QueryParams(q): QueryParams<PageParams>,
) -> ApiResult<Json<ListView<BillingAccountView>>> {
    let page = s.store.list_billing_accounts(&who.cx, q.cursor.as_deref(), q.limit).await?;
    Ok(Json(ListView { items: page.items.iter().map(|a| BillingAccountView::of(a, &s.config)).collect(), next_cursor: page.next_cursor }))
}

/// Create a billing account prefilled from the verified legal profile (rule N3); the caller becomes
/// its owner (rule A3).
#[utoipa::path(post, path = "/api/v1/billing-accounts", tag = "billing", security(("bearer" = [])), request_body = NewBillingAccountBody,
    responses((status = 201, body = BillingAccountView), (status = 422, body = Problem)))]
pub async fn create_billing_account(
    State(s): State<AppState>,
    who: TenantUser,
    idem: Idem,
    JsonBody(b): JsonBody<NewBillingAccountBody>,
) -> ApiResult<Response> {
    let new = b.parse("")?;
    let config = s.config.clone();
    let answer = Answer::new(StatusCode::CREATED, move |a: &BillingAccount| BillingAccountView::new(a, &[], false, &config));
    let a = s.store.create_billing_account(&who.cx.completing(answer.completion(&idem)), &new).await?;
    Ok(answer.respond(&a))
}

#[utoipa::path(get, path = "/api/v1/billing-accounts/{id}", tag = "billing", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = BillingAccountView), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_billing_account(
    State(s): State<AppState>,
    who: TenantUser,
    Path(id): Path<String>,
) -> ApiResult<Json<BillingAccountView>> {
    let id = path_id(&id, "billing account", BillingAccountId::parse)?;
    let a = s.store.get_billing_account(&who.cx, id).await?;
    Ok(Json(BillingAccountView::of(&a, &s.config)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchBillingAccountBody {
    display_name: Option<String>,
    /// A contact, or `null` to clear it.
    #[schema(value_type = Option<ContactInput>)]
    #[serde(default, deserialize_with = "present")]
    primary_contact: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    sold_to: Option<serde_json::Value>,
    #[schema(value_type = Option<String>)]
    company_name: Option<serde_json::Value>,
}

/// Keeps an explicit `null` as `Some(Value::Null)`, so "clear" differs from "absent".
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

/// Change the display name or primary contact (owner or contributor). The sold-to is not editable.
#[utoipa::path(patch, path = "/api/v1/billing-accounts/{id}", tag = "billing", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = PatchBillingAccountBody, responses((status = 200, body = BillingAccountView), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn update_billing_account(
    State(s): State<AppState>,
    who: TenantUser,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<PatchBillingAccountBody>,
) -> ApiResult<Json<BillingAccountView>> {
    let id = path_id(&id, "billing account", BillingAccountId::parse)?;
    NewBillingAccountBody { sold_to: b.sold_to.clone(), company_name: b.company_name.clone(), ..Default::default() }.parse("")?;
    let mut e = FieldErrors::new();
    let display_name = match &b.display_name {
        Some(n) => e.check("display_name", DisplayName::parse(n)).map(Some),
        None => Some(None),
    };
    let primary_contact = match &b.primary_contact {
        None => Some(None),
        Some(serde_json::Value::Null) => Some(Some(None)),
        Some(v) => {
            let input: ContactInput =
                serde_json::from_value(v.clone()).map_err(|err| ApiError::InvalidRequest(format!("primary_contact: {err}")))?;
            e.nested("primary_contact", input.parse()).map(|c| Some(Some(c)))
        }
    };
    let patch = e.finish(|| Some(BillingAccountPatch { display_name: display_name?, primary_contact: primary_contact? }))?;
    s.store.update_billing_account(&who.cx, id, &patch).await?;
    let a = s.store.get_billing_account(&who.cx, id).await?;
    Ok(Json(BillingAccountView::of(&a, &s.config)))
}

#[utoipa::path(get, path = "/api/v1/billing-accounts/{id}/billing-profiles", tag = "billing", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ListView<BillingProfileView>), (status = 404, body = Problem)))]
pub async fn list_billing_profiles(
    State(s): State<AppState>,
    who: TenantUser,
    Path(id): Path<String>,
) -> ApiResult<Json<ListView<BillingProfileView>>> {
    let id = path_id(&id, "billing account", BillingAccountId::parse)?;
    let ps = s.store.list_billing_profiles(&who.cx, id).await?;
    Ok(Json(ListView { items: ps.iter().map(|p| BillingProfileView::new(p, &s.config)).collect(), next_cursor: None }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NameBody {
    pub display_name: Option<String>,
}

pub(crate) fn parse_name(field: &str, raw: Option<&str>) -> ApiResult<DisplayName> {
    match raw {
        Some(n) => {
            DisplayName::parse(n).map_err(|e| ApiError::validation(field, pb_domain::validation::ErrorCode::code(&e), &e.to_string()))
        }
        None => Err(ApiError::validation(field, "required", "is required")),
    }
}

/// Create a billing profile under the account: a name only, payment instrument "None" (rule N6), a
/// default invoice section (rule H2). Refused while the account has a profile with no payment
/// instrument (rule C3).
#[utoipa::path(post, path = "/api/v1/billing-accounts/{id}/billing-profiles", tag = "billing", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = NameBody, responses((status = 201, body = BillingProfileView), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_billing_profile(
    State(s): State<AppState>,
    who: TenantUser,
    idem: Idem,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<NameBody>,
) -> ApiResult<Response> {
    let id = path_id(&id, "billing account", BillingAccountId::parse)?;
    let name = parse_name("display_name", b.display_name.as_deref())?;
    let config = s.config.clone();
    let answer = Answer::new(StatusCode::CREATED, move |p: &BillingProfile| BillingProfileView::new(p, &config));
    let p = s.store.create_billing_profile(&who.cx.completing(answer.completion(&idem)), id, &name, pb_store::Flow::Direct).await?;
    Ok(answer.respond(&p))
}

#[utoipa::path(get, path = "/api/v1/billing-profiles/{id}", tag = "billing", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = BillingProfileView), (status = 404, body = Problem)))]
pub async fn get_billing_profile(
    State(s): State<AppState>,
    who: TenantUser,
    Path(id): Path<String>,
) -> ApiResult<Json<BillingProfileView>> {
    let id = path_id(&id, "billing profile", BillingProfileId::parse)?;
    let p = s.store.get_billing_profile(&who.cx, id).await?;
    Ok(Json(BillingProfileView::new(&p, &s.config)))
}

#[utoipa::path(post, path = "/api/v1/billing-profiles/{id}/invoice-sections", tag = "billing", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = NameBody, responses((status = 201, body = InvoiceSectionView), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn create_invoice_section(
    State(s): State<AppState>,
    who: TenantUser,
    idem: Idem,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<NameBody>,
) -> ApiResult<Response> {
    let id = path_id(&id, "billing profile", BillingProfileId::parse)?;
    let name = parse_name("display_name", b.display_name.as_deref())?;
    let answer = Answer::new(StatusCode::CREATED, |s: &InvoiceSection| InvoiceSectionView::from(s));
    let sec = s.store.create_invoice_section(&who.cx.completing(answer.completion(&idem)), id, &name).await?;
    Ok(answer.respond(&sec))
}

#[utoipa::path(patch, path = "/api/v1/invoice-sections/{id}", tag = "billing", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = NameBody, responses((status = 200, body = InvoiceSectionView), (status = 404, body = Problem)))]
pub async fn update_invoice_section(
    State(s): State<AppState>,
    who: TenantUser,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<NameBody>,
) -> ApiResult<Json<InvoiceSectionView>> {
    let id = path_id(&id, "invoice section", InvoiceSectionId::parse)?;
    let name = parse_name("display_name", b.display_name.as_deref())?;
    let sec = s.store.rename_invoice_section(&who.cx, id, &name).await?;
    Ok(Json(InvoiceSectionView::from(&sec)))
}

/// Remove an invoice section; the last one of a profile never goes (409 `last_invoice_section`).
#[utoipa::path(delete, path = "/api/v1/invoice-sections/{id}", tag = "billing", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn delete_invoice_section(State(s): State<AppState>, who: TenantUser, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let id = path_id(&id, "invoice section", InvoiceSectionId::parse)?;
    s.store.delete_invoice_section(&who.cx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Add a payment instrument: a processor token and a display hint only. Anything that looks like a
/// card number is refused (422 `card_number_refused`) and not stored.
#[utoipa::path(post, path = "/api/v1/billing-profiles/{id}/payment-instruments", tag = "billing", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = PaymentInstrumentInput, responses((status = 201, body = PaymentInstrumentView), (status = 422, body = Problem)))]
pub async fn create_payment_instrument(
    State(s): State<AppState>,
    who: TenantUser,
    idem: Idem,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<PaymentInstrumentInput>,
) -> ApiResult<Response> {
    let id = path_id(&id, "billing profile", BillingProfileId::parse)?;
    let new = b.parse()?;
    let answer = Answer::new(StatusCode::CREATED, |p: &PaymentInstrument| PaymentInstrumentView::from(p));
    let pi = s.store.add_payment_instrument(&who.cx.completing(answer.completion(&idem)), id, &new).await?;
    Ok(answer.respond(&pi))
}
