//! A billing profile's monthly invoices (rules B4, B5, C4): the list, one invoice as a page, and its
//! CSV and PDF downloads, all from the same document as the API's, so the figures agree. Whoever may
//! read the profile reads its invoices (rule A2); for anyone else an invoice does not exist.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use pb_app::AppState;
use pb_documents::{InvoiceDocument, Party, format_money, invoice_csv, invoice_document, invoice_pdf};
use pb_domain::{BillingProfileId, InvoiceId};
use pb_store::{BillingProfile, InvoiceSummary, StoreError};

use super::billing_profile::render_error;
use crate::commerce_views::{InvoiceListPage, InvoicePage, InvoiceRowView, LineView, PartyView, ProfileLinkView, SectionView};
use crate::render::{chrome, error_page, not_found};
use crate::session::WebUser;

const DATE: &[time::format_description::FormatItem<'static>] = time::macros::format_description!("[year]-[month]-[day]");

pub fn date(d: time::Date) -> String {
    d.format(DATE).unwrap_or_default()
}

/// The seller printed on invoices, from the configuration (as the API prints it).
pub fn seller(s: &AppState) -> Party {
    let mut parts = s.config.invoice_seller.iter().cloned();
    Party { name: parts.next().unwrap_or_default(), lines: parts.collect() }
}

pub fn invoice_row(i: &InvoiceSummary) -> InvoiceRowView {
    InvoiceRowView {
        id: i.id.to_string(),
        number: i.number.clone(),
        period: i.period.to_string(),
        issue_date: date(i.issue_date),
        due_date: date(i.due_date),
        total: format_money(i.total),
    }
}

/// A store answer about an invoice or a profile the user may not read, or that is not theirs: the
/// not-found page, never a hint that it exists.
async fn unreadable(s: &AppState, u: &WebUser, e: StoreError, what: &str) -> Response {
    match e {
        StoreError::NotFound(_) | StoreError::Forbidden(_) => not_found(chrome(s, u, "invoices", "Not found").await, what),
        e => render_error(s, u, e).await,
    }
}

/// The profiles of the link history other than `current` that this user may read (rule C4: their
/// invoices stay where they were).
async fn earlier_profiles(s: &AppState, u: &WebUser, current: Option<BillingProfileId>) -> Vec<ProfileLinkView> {
    let history = s.store.link_history(&u.who.cx, None).await.unwrap_or_default();
    let mut out: Vec<ProfileLinkView> = Vec::new();
    for l in history.iter().rev() {
        let id = l.billing_profile_id;
        if Some(id) == current || out.iter().any(|o| o.id == id.to_string()) {
            continue;
        }
        if let Ok(p) = s.store.get_billing_profile(&u.who.cx, id).await {
            out.push(ProfileLinkView { id: p.id.to_string(), name: p.display_name });
        }
    }
    out
}

async fn list_page(s: &AppState, u: &WebUser, p: &BillingProfile) -> Response {
    let c = chrome(s, u, "invoices", "Invoices").await;
    let page = match s.store.list_invoices(&u.who.cx, p.id, None, Some(50)).await {
        Ok(page) => page,
        Err(e) => return unreadable(s, u, e, "billing profile").await,
    };
    InvoiceListPage {
        chrome: c,
        profile: Some((p.id.to_string(), p.display_name.clone(), p.currency.to_string())),
        invoices: page.items.iter().map(invoice_row).collect(),
        note: None,
        others: earlier_profiles(s, u, Some(p.id)).await,
    }
    .into_response()
}

/// `/billing/profiles/{id}/invoices`: a profile's invoices, newest first.
pub async fn profile_invoices_page(State(s): State<AppState>, u: WebUser, Path(id): Path<String>) -> Response {
    let Ok(id) = BillingProfileId::parse(&id) else { return not_found(chrome(&s, &u, "invoices", "Not found").await, "billing profile") };
    match s.store.get_billing_profile(&u.who.cx, id).await {
        Ok(p) => list_page(&s, &u, &p).await,
        Err(e) => unreadable(&s, &u, e, "billing profile").await,
    }
}

/// `/billing/invoices` (the navigation's "Invoices"): the linked profile's invoices, or why there
/// are none to show.
pub async fn invoices_index(State(s): State<AppState>, u: WebUser) -> Response {
    let link = match s.store.current_link(&u.who.cx).await {
        Ok((link, _)) => link,
        Err(e) => return render_error(&s, &u, e).await,
    };
    let note = match link {
        Some(l) => match s.store.get_billing_profile(&u.who.cx, l.billing_profile_id).await {
            Ok(p) => return list_page(&s, &u, &p).await,
            Err(StoreError::Forbidden(_)) => {
                "Your account has no billing role on the linked billing profile, so its invoices are not shown. \
                 Ask the billing account's owner for the Reader or Invoice manager role."
                    .to_owned()
            }
            Err(e) => return render_error(&s, &u, e).await,
        },
        None => "No billing account and profile are linked yet, so there are no invoices. A Global administrator links them on the \
                 Billing profile page."
            .to_owned(),
    };
    let others = earlier_profiles(&s, &u, None).await;
    InvoiceListPage { chrome: chrome(&s, &u, "invoices", "Invoices").await, profile: None, invoices: Vec::new(), note: Some(note), others }
        .into_response()
}

fn party(p: &Party) -> PartyView {
    PartyView { name: p.name.clone(), lines: p.lines.clone() }
}

fn invoice_page(c: crate::views::Chrome, id: &str, doc: &InvoiceDocument) -> InvoicePage {
    InvoicePage {
        chrome: c,
        id: id.to_owned(),
        number: doc.number.clone(),
        period: doc.period.clone(),
        issue_date: date(doc.issue_date),
        due_date: date(doc.due_date),
        currency: doc.currency.to_string(),
        seller: party(&doc.seller),
        bill_to: party(&doc.bill_to),
        billing_account_id: doc.billing_account_id.clone(),
        billing_profile_id: doc.billing_profile_id.clone(),
        sections: doc
            .sections
            .iter()
            .map(|sec| SectionView {
                name: sec.name.clone(),
                lines: sec
                    .lines
                    .iter()
                    .map(|l| LineView {
                        description: l.description.clone(),
                        quantity: l.quantity.to_string(),
                        unit_price: format_money(l.unit_price),
                        amount: format_money(l.amount),
                    })
                    .collect(),
                subtotal: format_money(sec.subtotal),
            })
            .collect(),
        total: format_money(doc.total),
    }
}

fn download(body: Vec<u8>, ctype: &'static str, filename: &str) -> Response {
    let mut r = body.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

/// `/billing/invoices/{id}`, `{id}.csv` and `{id}.pdf`: one invoice as a page or a download.
pub async fn invoice_page_or_download(State(s): State<AppState>, u: WebUser, Path(raw): Path<String>) -> Response {
    let (id, format) = match raw.rsplit_once('.') {
        Some((id, "csv")) => (id, "csv"),
        Some((id, "pdf")) => (id, "pdf"),
        _ => (raw.as_str(), "html"),
    };
    let Ok(id) = InvoiceId::parse(id) else { return not_found(chrome(&s, &u, "invoices", "Not found").await, "invoice") };
    let inv = match s.store.get_invoice(&u.who.cx, id).await {
        Ok(inv) => inv,
        Err(e) => return unreadable(&s, &u, e, "invoice").await,
    };
    let doc = invoice_document(&inv, &seller(&s));
    match format {
        "csv" => download(invoice_csv(&doc).into_bytes(), "text/csv; charset=utf-8", &format!("{}.csv", doc.number)),
        "pdf" => match invoice_pdf(&doc) {
            Ok(pdf) => download(pdf, "application/pdf", &format!("{}.pdf", doc.number)),
            Err(e) => {
                tracing::error!(error = %e, invoice = %id, "invoice PDF");
                let c = chrome(&s, &u, "invoices", "Error").await;
                error_page(Some(c), "The PDF could not be made", "Please try again in a moment, or download the CSV.")
            }
        },
        _ => {
            let c = chrome(&s, &u, "invoices", &format!("Invoice {}", doc.number)).await;
            invoice_page(c, &id.to_string(), &doc).into_response()
        }
    }
}
