//! Monthly invoices (rules B4, B5): a profile's list, one invoice as JSON, CSV or PDF, the invoice
//! run (operators), and the test clock that lets a user try a month close in minutes.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pb_app::{AppState, Operator, Principal, TenantUser};
use pb_documents::{Party, invoice_csv, invoice_document, invoice_pdf};
use pb_domain::{BillingProfileId, InvoiceId, Period};
use pb_store::InvoiceRunSummary;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::Problem;
use crate::commerce_views::{InvoiceRunView, InvoiceSummaryView, InvoiceView};
use crate::extract::JsonBody;
use crate::extract::QueryParams;
use crate::idempotency::{Answer, Idem};
use crate::problem::{ApiError, ApiResult};
use crate::routes::billing::path_id;
use crate::views::ListView;

pub fn routes(r: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    r.routes(routes!(list_invoices)).routes(routes!(get_invoice)).routes(routes!(run_invoices, list_invoice_runs))
}

/// The test clock's paths exist only with `serve --test-clock`.
pub fn test_clock_routes(r: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    r.routes(routes!(get_test_clock, put_test_clock))
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

/// A billing profile's invoices, newest first.
#[utoipa::path(get, path = "/api/v1/billing-profiles/{id}/invoices", tag = "invoices", security(("bearer" = [])),
    params(("id" = String, Path), PageParams),
    responses((status = 200, body = ListView<InvoiceSummaryView>), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn list_invoices(
    State(s): State<AppState>,
    who: TenantUser,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<PageParams>,
) -> ApiResult<Json<ListView<InvoiceSummaryView>>> {
    let id = path_id(&id, "billing profile", BillingProfileId::parse)?;
    let page = s.store.list_invoices(&who.cx, id, q.cursor.as_deref(), q.limit).await?;
    Ok(Json(ListView { items: page.items.iter().map(InvoiceSummaryView::from).collect(), next_cursor: page.next_cursor }))
}

/// The seller printed on invoices, from the configuration.
pub fn seller(s: &AppState) -> Party {
    let mut parts = s.config.invoice_seller.iter().cloned();
    Party { name: parts.next().unwrap_or_default(), lines: parts.collect() }
}

/// Which representation the client asked for: the first of CSV or PDF named in `Accept`, else JSON.
fn wants(headers: &HeaderMap) -> &'static str {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let named = |m: &str| accept.split(',').any(|p| p.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case(m)));
    if named("text/csv") {
        "text/csv"
    } else if named("application/pdf") {
        "application/pdf"
    } else {
        "application/json"
    }
}

fn download(body: Vec<u8>, ctype: &'static str, filename: String) -> Response {
    let mut r = body.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

/// One invoice: JSON by default, CSV with `Accept: text/csv`, a PDF with `Accept: application/pdf`;
/// the same figures in all three.
#[utoipa::path(get, path = "/api/v1/invoices/{id}", tag = "invoices", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, content((InvoiceView = "application/json"), (String = "text/csv"), (Vec<u8> = "application/pdf"))),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_invoice(State(s): State<AppState>, who: TenantUser, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<Response> {
    let id = path_id(&id, "invoice", InvoiceId::parse)?;
    let inv = s.store.get_invoice(&who.cx, id).await?;
    Ok(match wants(&headers) {
        "text/csv" => {
            let doc = invoice_document(&inv, &seller(&s));
            download(invoice_csv(&doc).into_bytes(), "text/csv; charset=utf-8", format!("{}.csv", inv.summary.number))
        }
        "application/pdf" => {
            let doc = invoice_document(&inv, &seller(&s));
            let pdf = invoice_pdf(&doc).map_err(|e| ApiError::Internal(format!("invoice PDF: {e}")))?;
            download(pdf, "application/pdf", format!("{}.pdf", inv.summary.number))
        }
        _ => Json(InvoiceView::from(&inv)).into_response(),
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceRunBody {
    /// `YYYY-MM`; the month must have ended.
    period: Option<String>,
}

/// Run the monthly invoices of a period that has ended (operators). Safe to repeat and to run
/// concurrently: every charge ends on exactly one line of exactly one invoice.
#[utoipa::path(post, path = "/api/v1/invoice-runs", tag = "invoices", security(("bearer" = [])), request_body = InvoiceRunBody,
    responses((status = 200, body = InvoiceRunView), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn run_invoices(
    State(s): State<AppState>,
    op: Operator,
    idem: Idem,
    JsonBody(b): JsonBody<InvoiceRunBody>,
) -> ApiResult<Response> {
    let period = match b.period.as_deref() {
        Some(p) => Period::parse(p).map_err(|e| ApiError::validation("period", "invalid_period", &e.to_string()))?,
        None => return Err(ApiError::validation("period", "required", "is required")),
    };
    let answer = Answer::new(StatusCode::OK, |r: &InvoiceRunSummary| InvoiceRunView::from(r));
    let run = s.store.run_invoices(&op.ctx.completing(answer.completion(&idem)), period, &mut ()).await?;
    Ok(answer.respond(&run))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RunParams {
    #[serde(default, deserialize_with = "crate::extract::page_limit")]
    limit: Option<u32>,
}

/// The finished invoice runs, newest first (operators).
#[utoipa::path(get, path = "/api/v1/invoice-runs", tag = "invoices", security(("bearer" = [])), params(RunParams),
    responses((status = 200, body = ListView<InvoiceRunView>), (status = 403, body = Problem)))]
pub async fn list_invoice_runs(
    State(s): State<AppState>,
    _op: Operator,
    QueryParams(q): QueryParams<RunParams>,
) -> ApiResult<Json<ListView<InvoiceRunView>>> {
    let runs = s.store.list_invoice_runs(q.limit).await?;
    Ok(Json(ListView { items: runs.iter().map(InvoiceRunView::from).collect(), next_cursor: None }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestClockView {
    #[serde(with = "time::serde::rfc3339")]
    now: OffsetDateTime,
}

fn test_clock(s: &AppState) -> ApiResult<&std::sync::Arc<pb_domain::AdjustableClock>> {
    s.test_clock.as_ref().ok_or_else(|| ApiError::NotFound("resource".into()))
}

/// The service's clock (only with `serve --test-clock`; 404 otherwise).
#[utoipa::path(get, path = "/api/v1/test-clock", tag = "test clock", security(("bearer" = [])),
    responses((status = 200, body = TestClockView), (status = 404, body = Problem)))]
pub async fn get_test_clock(State(s): State<AppState>, _who: Principal) -> ApiResult<Json<TestClockView>> {
    test_clock(&s)?;
    Ok(Json(TestClockView { now: s.store.clock().now() }))
}

/// Move the service's clock forward (operators; only with `serve --test-clock`).
#[utoipa::path(put, path = "/api/v1/test-clock", tag = "test clock", security(("bearer" = [])), request_body = TestClockView,
    responses((status = 200, body = TestClockView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn put_test_clock(
    State(s): State<AppState>,
    _op: Operator,
    JsonBody(b): JsonBody<TestClockView>,
) -> ApiResult<Json<TestClockView>> {
    let clock = test_clock(&s)?;
    let now = clock.set(b.now).map_err(|e| ApiError::validation("now", "backwards", &e.to_string()))?;
    Ok(Json(TestClockView { now }))
}
