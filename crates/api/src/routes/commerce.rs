//! The offer catalog and membership purchases (rules A5, B1–B3, M4, C4).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use pb_app::{AppState, Operator, Principal, TenantUser};
use pb_domain::{
    BillingProfileId, Currency, DisplayName, FieldErrors, InvoiceSectionId, Money, OfferId, OfferKind, PaymentInstrumentId,
    PaymentInstrumentInput, PurchaseId,
};
use pb_store::{NewPurchase, Offer, PaymentChoice, Purchase, PutOffer};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::Problem;
use crate::commerce_views::{MoneyView, OfferView, PurchaseView};
use crate::extract::JsonBody;
use crate::extract::QueryParams;
use crate::idempotency::{Answer, Idem};
use crate::problem::{ApiError, ApiResult};
use crate::routes::billing::path_id;
use crate::views::ListView;

pub fn routes(r: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    r.routes(routes!(list_offers)).routes(routes!(put_offer)).routes(routes!(create_purchase, list_purchases)).routes(routes!(get_purchase))
}

/// The catalog: the active offers for tenant users, every offer for operators.
#[utoipa::path(get, path = "/api/v1/offers", tag = "commerce", security(("bearer" = [])),
    responses((status = 200, body = ListView<OfferView>), (status = 401, body = Problem)))]
pub async fn list_offers(State(s): State<AppState>, who: Principal) -> ApiResult<Json<ListView<OfferView>>> {
    let active_only = matches!(who, Principal::User(_));
    let offers = s.store.list_offers(active_only).await?;
    Ok(Json(ListView { items: offers.iter().map(OfferView::from).collect(), next_cursor: None }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutOfferBody {
    name: Option<String>,
    /// `action_pack`, `designation` or `benefits_package`.
    kind: Option<String>,
    /// 1 to 120.
    #[serde(default, deserialize_with = "crate::extract::optional_integer")]
    term_months: Option<i64>,
    #[serde(default)]
    one_per_partner: bool,
    /// Whether tenant users see and may buy it (default true).
    active: Option<bool>,
    /// One price per currency, at least one.
    #[serde(default)]
    prices: Vec<MoneyView>,
}

fn parse_offer(b: &PutOfferBody) -> ApiResult<PutOffer> {
    let mut e = FieldErrors::new();
    let name = e.required("name", b.name.as_deref(), DisplayName::parse);
    let kind = match b.kind.as_deref().map(OfferKind::parse) {
        Some(Some(k)) => Some(k),
        Some(None) => {
            e.push("kind", "invalid_kind", "must be action_pack, designation or benefits_package");
            None
        }
        None => {
            e.push("kind", "required", "is required");
            None
        }
    };
    let term_months = match b.term_months {
        Some(t) if (1..=120).contains(&t) => Some(t),
        Some(_) => {
            e.push("term_months", "out_of_range", "must be between 1 and 120");
            None
        }
        None => {
            e.push("term_months", "required", "is required");
            None
        }
    };
    if b.prices.is_empty() {
        e.push("prices", "required", "give at least one price");
    }
    let mut prices = Vec::new();
    for (i, p) in b.prices.iter().enumerate() {
        let field = format!("prices[{i}]");
        match Currency::parse(&p.currency) {
            Ok(c) if p.amount_minor >= 0 => prices.push(Money::new(p.amount_minor, c)),
            Ok(_) => e.push(format!("{field}.amount_minor"), "negative", "must not be negative"),
            Err(err) => e.push(format!("{field}.currency"), "invalid_currency", err.to_string()),
        }
    }
    Ok(e.finish(|| {
        Some(PutOffer {
            name: name?,
            kind: kind?,
            term_months: term_months?,
            one_per_partner: b.one_per_partner,
            active: b.active.unwrap_or(true),
            prices,
        })
    })?)
}

/// Create or replace an offer (operators). `id` is the operator's choice, e.g. `action-pack`.
#[utoipa::path(put, path = "/api/v1/offers/{id}", tag = "commerce", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = PutOfferBody,
    responses((status = 200, body = OfferView), (status = 201, body = OfferView), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn put_offer(
    State(s): State<AppState>,
    op: Operator,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<PutOfferBody>,
) -> ApiResult<(StatusCode, Json<OfferView>)> {
    let id = OfferId::parse(&id).map_err(|e| ApiError::validation("id", "invalid_id", &e.to_string()))?;
    let put = parse_offer(&b)?;
    let (offer, created): (Offer, bool) = s.store.put_offer(&op.ctx, &id, &put).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(OfferView::from(&offer))))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PurchaseBody {
    offer_id: Option<String>,
    /// 1 to 1000; exactly 1 for an offer sold one per partner.
    #[serde(default, deserialize_with = "crate::extract::optional_integer")]
    quantity: Option<i64>,
    /// A section of the linked profile; its default section when absent (rule B2).
    invoice_section_id: Option<String>,
    /// One of the linked profile's instruments; its first when neither this nor
    /// `payment_instrument` is given (rule B3).
    payment_instrument_id: Option<String>,
    /// A new instrument for the linked profile, added in the purchase's own transaction.
    payment_instrument: Option<PaymentInstrumentInput>,
}

fn parse_purchase(b: &PurchaseBody) -> ApiResult<NewPurchase> {
    let mut e = FieldErrors::new();
    let offer_id = e.required("offer_id", b.offer_id.as_deref(), OfferId::parse);
    let quantity = match b.quantity {
        Some(q) => Some(q),
        None => {
            e.push("quantity", "required", "is required");
            None
        }
    };
    let section = match &b.invoice_section_id {
        Some(s) => e.check("invoice_section_id", InvoiceSectionId::parse(s)).map(Some),
        None => Some(None),
    };
    let payment = match (&b.payment_instrument_id, &b.payment_instrument) {
        (Some(_), Some(_)) => {
            e.push("payment_instrument", "conflict", "give payment_instrument_id or payment_instrument, not both");
            None
        }
        (Some(id), None) => e.check("payment_instrument_id", PaymentInstrumentId::parse(id)).map(PaymentChoice::Existing),
        (None, Some(input)) => e.nested("payment_instrument", input.parse()).map(PaymentChoice::New),
        (None, None) => Some(PaymentChoice::Default),
    };
    Ok(e.finish(|| Some(NewPurchase { offer_id: offer_id?, quantity: quantity?, invoice_section_id: section?, payment: payment? }))?)
}

/// Buy a membership offer (MCPP admins and global admins, rule A5). It is billed to the link in
/// force now, into the chosen or default section, in the profile's currency, and paid by one of its
/// instruments; send `Idempotency-Key` so that a retry can never buy twice.
#[utoipa::path(post, path = "/api/v1/purchases", tag = "commerce", security(("bearer" = [])), request_body = PurchaseBody,
    responses((status = 201, body = PurchaseView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
pub async fn create_purchase(
    State(s): State<AppState>,
    who: TenantUser,
    idem: Idem,
    JsonBody(b): JsonBody<PurchaseBody>,
) -> ApiResult<Response> {
    let new = parse_purchase(&b)?;
    let answer = Answer::new(StatusCode::CREATED, |p: &Purchase| PurchaseView::from(p));
    let p = s.store.create_purchase(&who.cx.completing(answer.completion(&idem)), &new).await?;
    Ok(answer.respond(&p))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PurchaseParams {
    billing_profile_id: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::cursor")]
    cursor: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::page_limit")]
    limit: Option<u32>,
}

/// The tenant's purchases the caller may see, newest first.
#[utoipa::path(get, path = "/api/v1/purchases", tag = "commerce", security(("bearer" = [])), params(PurchaseParams),
    responses((status = 200, body = ListView<PurchaseView>), (status = 422, body = Problem)))]
pub async fn list_purchases(
    State(s): State<AppState>,
    who: TenantUser,
    QueryParams(q): QueryParams<PurchaseParams>,
) -> ApiResult<Json<ListView<PurchaseView>>> {
    let profile = q
        .billing_profile_id
        .as_deref()
        .map(BillingProfileId::parse)
        .transpose()
        .map_err(|e| ApiError::validation("billing_profile_id", "invalid_id", &e.to_string()))?;
    let page = s.store.list_purchases(&who.cx, profile, q.cursor.as_deref(), q.limit).await?;
    Ok(Json(ListView { items: page.items.iter().map(PurchaseView::from).collect(), next_cursor: page.next_cursor }))
}

#[utoipa::path(get, path = "/api/v1/purchases/{id}", tag = "commerce", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = PurchaseView), (status = 404, body = Problem)))]
pub async fn get_purchase(State(s): State<AppState>, who: TenantUser, Path(id): Path<String>) -> ApiResult<Json<PurchaseView>> {
    let id = path_id(&id, "purchase", PurchaseId::parse)?;
    Ok(Json(PurchaseView::from(&s.store.get_purchase(&who.cx, id).await?)))
}
