//! Page handlers: `x_page` (GET), `x_form`, `x_submit` (POST → 303). They ask the store's use cases
//! and render what comes back; refusals come from the same place as for the API.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use pb_api::AppState;
use pb_api::views::{account_warnings, details_url};
use pb_domain::billing::{AGREEMENT_VERSION, PaymentInstrumentKind, PurchaseBlocker, purchase_blockers};
use pb_domain::{AddressInput, BillingAccountId, BillingProfileId, ContactInput, DisplayName, LegalProfileInput, PartnerRole};
use pb_store::{BillingAccount, BillingProfile, LinkCommand, NewBillingAccount, StoreError};
use serde::Deserialize;

use crate::session::{SESSION_COOKIE, SESSION_TTL, SIGNIN_CSRF_COOKIE, WebUser, cookie, hash_token, random_token, same_token, set_cookie};
use crate::views::*;

const TIME: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");

fn when(t: time::OffsetDateTime) -> String {
    t.format(TIME).unwrap_or_default()
}

pub fn error_page(state: &AppState, chrome: Option<Chrome>, heading: &str, detail: &str) -> Response {
    let _ = state;
    let mut r = ErrorPage { chrome, heading: heading.into(), detail: detail.into() }.into_response();
    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    r
}

fn not_found(chrome: Chrome, what: &str) -> Response {
    let mut r = ErrorPage {
        chrome: Some(chrome),
        heading: format!("No such {what}"),
        detail: format!("This {what} does not exist in your tenant."),
    }
    .into_response();
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

fn forbidden_csrf() -> Response {
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<h1>The form expired</h1><p>Reload the page and try again.</p>",
    )
        .into_response()
}

async fn chrome(s: &AppState, u: &WebUser, nav: &'static str, title: &str) -> Chrome {
    let unread = s
        .store
        .list_notifications(u.who.tenant.id, u.who.user.id, None, Some(200))
        .await
        .map(|p| p.items.iter().filter(|n| n.read_at.is_none()).count())
        .unwrap_or(0);
    Chrome {
        tenant: u.who.tenant.name.clone(),
        tenant_domain: u.who.tenant.domain.clone(),
        user: u.who.user.display_name.clone(),
        email: u.who.user.email.clone(),
        global_admin: u.who.global_admin,
        unread,
        csrf: u.csrf.clone(),
        nav,
        title: title.to_owned(),
    }
}

fn one_line(a: &pb_domain::Address) -> String {
    let mut parts = vec![a.address_line1.clone()];
    parts.extend(a.address_line2.clone());
    parts.extend(a.city.clone());
    parts.extend(a.region.clone());
    parts.extend(a.postal_code.clone());
    parts.push(a.country.to_string());
    parts.join(", ")
}

fn contact_line(c: &Option<pb_domain::Contact>) -> Option<String> {
    c.as_ref().map(|c| format!("{} <{}>", c.name, c.email))
}

fn profile_summary(s: &AppState, p: &BillingProfile) -> ProfileSummary {
    ProfileSummary {
        id: p.id.to_string(),
        name: p.display_name.clone(),
        instrument: p.payment_instruments.first().map(|i| i.display_hint.clone()).unwrap_or_else(|| "None".into()),
        details_url: details_url(&s.config, &p.id),
        currency: p.currency.to_string(),
        sections: p.invoice_sections.iter().map(|x| x.display_name.clone()).collect(),
    }
}

fn account_summary(s: &AppState, a: &BillingAccount, profiles: &[BillingProfile], accepted: bool) -> AccountSummary {
    AccountSummary {
        id: a.id.to_string(),
        name: a.display_name.clone(),
        company: a.company_name.clone(),
        sold_to: one_line(&a.sold_to),
        country: a.sold_to.country.to_string(),
        contact: contact_line(&a.primary_contact),
        agreement_accepted: accepted,
        profiles: profiles.iter().map(|p| profile_summary(s, p)).collect(),
    }
}

/// Why this user cannot link now (rules A1, P2), in words with what to do; `None` when they can.
fn refusal_of(e: &StoreError, tenant: &str) -> Option<Refusal> {
    match e {
        StoreError::GlobalAdminRequired => Some(Refusal {
            title: "Only a Global administrator can link a billing account".into(),
            detail: format!(
                "Linking or changing the billing account and profile of {tenant} needs the Global administrator role of the tenant, which your account does not have."
            ),
            todo: "Ask a Global administrator of your tenant to do it, or sign in as one.".into(),
        }),
        StoreError::PartnerAccountNotActive(state) => Some(Refusal {
            title: format!("Your partner account is {}", state.describe()),
            detail: "Only an Active partner account can link a billing account and profile.".into(),
            todo: match state {
                pb_domain::PartnerAccountState::PendingVerification => {
                    "Your account is being verified. Once it is Active you can come back and select Start.".into()
                }
                _ => "Contact partner support to get your account back to Active, then come back here.".into(),
            },
        }),
        _ => None,
    }
}

async fn billing_page(s: &AppState, u: &WebUser, success: bool) -> Result<BillingPage, StoreError> {
    let tenant = u.who.tenant.id;
    let partner = s.store.get_partner_account(tenant).await?;
    // The preconditions Finish applies, asked of the store up front to explain them.
    let refusal = match s.store.check_may_link(&u.who.ctx, tenant).await {
        Ok(()) => None,
        Err(e) => match refusal_of(&e, &u.who.tenant.name) {
            Some(r) => Some(r),
            None => return Err(e),
        },
    };
    let (current, _) = s.store.current_link(tenant).await?;
    let history_links = s.store.link_history(tenant, None).await?;
    let users = s.store.list_users(tenant).await.unwrap_or_default();
    let name_of = |id: &str| users.iter().find(|x| x.id.to_string() == id).map(|x| x.display_name.clone()).unwrap_or_else(|| id.to_owned());
    // Each account of the history is read once, and the linked one is among them.
    let mut accounts = std::collections::HashMap::new();
    for l in &history_links {
        if !accounts.contains_key(&l.billing_account_id)
            && let Ok(a) = s.store.get_billing_account(&u.who.ctx, tenant, l.billing_account_id).await
        {
            accounts.insert(l.billing_account_id, a);
        }
    }
    let mut names = std::collections::HashMap::new();
    for a in accounts.values() {
        names.insert(a.account.id.to_string(), a.account.display_name.clone());
        for p in &a.profiles {
            names.insert(p.id.to_string(), p.display_name.clone());
        }
    }
    let label = |id: String| names.get(&id).cloned().unwrap_or(id);
    let history = history_links
        .iter()
        .rev()
        .map(|l| HistoryRow {
            account: label(l.billing_account_id.to_string()),
            profile: label(l.billing_profile_id.to_string()),
            from: when(l.linked_at),
            to: l.unlinked_at.map(when).unwrap_or_else(|| "now".into()),
            by: name_of(&l.linked_by),
        })
        .collect();
    let linked = current.and_then(|l| {
        let a = accounts.get(&l.billing_account_id)?;
        let profile = a.profiles.iter().find(|p| p.id == l.billing_profile_id).map(|p| profile_summary(s, p))?;
        Some(Linked {
            account: account_summary(s, &a.account, &[], a.agreement_accepted),
            profile,
            linked_at: when(l.linked_at),
            linked_by: name_of(&l.linked_by),
        })
    });
    Ok(BillingPage { partner_state: partner.state, refusal, linked, history, success })
}

async fn render(s: &AppState, u: &WebUser, flyout: Flyout, success: bool) -> Response {
    let c = chrome(s, u, "billing-profile", "Billing profile").await;
    match billing_page(s, u, success).await {
        Ok(page) => BillingProfilePage { chrome: c, page, flyout }.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "billing profile page");
            error_page(s, Some(c), "Something went wrong", "The billing profile page could not be shown. Please try again.")
        }
    }
}

/// Renders a store refusal of the link flow as a flyout; other errors as an error page.
async fn render_error(s: &AppState, u: &WebUser, e: StoreError) -> Response {
    if let Some(r) = refusal_of(&e, &u.who.tenant.name) {
        return render(s, u, Flyout::Refused(r), false).await;
    }
    match e {
        StoreError::NotFound(what) => not_found(chrome(s, u, "billing-profile", "Not found").await, what),
        StoreError::Forbidden(m) => {
            let r = Refusal {
                title: "You cannot do this".into(),
                detail: m,
                todo: "Ask the owner of the billing account, or a Global administrator.".into(),
            };
            render(s, u, Flyout::Refused(r), false).await
        }
        other => {
            tracing::error!(error = %other, "page action failed");
            error_page(s, Some(chrome(s, u, "billing-profile", "Error").await), "Something went wrong", "Please try again in a moment.")
        }
    }
}

/// The flow's steps are for global admins of active partner accounts; others see why not.
async fn gate(s: &AppState, u: &WebUser) -> Option<Response> {
    match s.store.check_may_link(&u.who.ctx, u.who.tenant.id).await {
        Ok(()) => None,
        Err(e) => Some(render_error(s, u, e).await),
    }
}

pub async fn home() -> Response {
    see_other("/account/billing-profile")
}

pub async fn signin_page(State(s): State<AppState>) -> Response {
    if !s.config.dev_sign_in {
        let mut r = ErrorPage {
            chrome: None,
            heading: "Sign-in is not configured".into(),
            detail: "This server runs without demo sign-in. Use the API with a bearer token from your identity provider.".into(),
        }
        .into_response();
        *r.status_mut() = StatusCode::NOT_FOUND;
        return r;
    }
    let mut tenants = Vec::new();
    for t in s.store.list_tenants().await.unwrap_or_default() {
        let state =
            s.store.get_partner_account(t.id).await.map(|p| p.state.describe().to_owned()).unwrap_or_else(|_| "no partner account".into());
        let users = s
            .store
            .list_users(t.id)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|u| {
                let mut roles: Vec<String> = Vec::new();
                if u.is_global_admin() {
                    roles.push("Global admin".into());
                }
                if u.partner_roles.contains(&PartnerRole::McppAdmin) {
                    roles.push("MCPP admin".into());
                }
                if u.partner_roles.contains(&PartnerRole::AccountAdmin) {
                    roles.push("Account admin".into());
                }
                SigninUser {
                    id: u.id.to_string(),
                    name: u.display_name,
                    email: u.email,
                    roles: if roles.is_empty() { "No admin role".into() } else { roles.join(", ") },
                }
            })
            .collect();
        tenants.push(SigninTenant { id: t.id.to_string(), name: t.name, domain: t.domain, state, users });
    }
    let csrf = random_token();
    let mut r = SigninPage { csrf: csrf.clone(), tenants }.into_response();
    if let Ok(v) = HeaderValue::from_str(&set_cookie(&s, SIGNIN_CSRF_COOKIE, &csrf, 3600)) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

#[derive(Deserialize)]
pub struct SigninForm {
    tenant_id: String,
    user_id: String,
    csrf: String,
}

pub async fn signin_submit(State(s): State<AppState>, headers: HeaderMap, Form(f): Form<SigninForm>) -> Response {
    if !s.config.dev_sign_in {
        return (StatusCode::NOT_FOUND, "sign-in is not configured").into_response();
    }
    if !cookie(&headers, SIGNIN_CSRF_COOKIE).is_some_and(|c| same_token(&c, &f.csrf)) {
        return forbidden_csrf();
    }
    let Ok(tenant) = s.store.find_tenant(&f.tenant_id).await else { return see_other("/signin") };
    let Ok(user) = s.store.find_user(tenant.id, &f.user_id).await else { return see_other("/signin") };
    let token = random_token();
    if token.is_empty() {
        return error_page(&s, None, "Something went wrong", "No randomness available for a session.");
    }
    if let Err(e) = s.store.create_web_session(&hash_token(&token), tenant.id, user.id, &random_token(), SESSION_TTL).await {
        tracing::error!(error = %e, "cannot create session");
        return error_page(&s, None, "Something went wrong", "Please try again.");
    }
    let mut r = see_other("/account/billing-profile");
    for c in [set_cookie(&s, SESSION_COOKIE, &token, SESSION_TTL.whole_seconds()), set_cookie(&s, SIGNIN_CSRF_COOKIE, "", 0)] {
        if let Ok(v) = HeaderValue::from_str(&c) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    r
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

pub async fn signout_submit(State(s): State<AppState>, u: WebUser, Form(f): Form<CsrfForm>) -> Response {
    if !u.check_csrf(&f.csrf) {
        return forbidden_csrf();
    }
    let _ = s.store.delete_web_session(&u.session_hash).await;
    let mut r = see_other("/signin");
    if let Ok(v) = HeaderValue::from_str(&set_cookie(&s, SESSION_COOKIE, "", 0)) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

#[derive(Deserialize)]
pub struct PageQuery {
    linked: Option<String>,
}

pub async fn billing_profile_page(State(s): State<AppState>, u: WebUser, Query(q): Query<PageQuery>) -> Response {
    render(&s, &u, Flyout::None, q.linked.is_some()).await
}

#[derive(Deserialize)]
pub struct SelectAccountQuery {
    selected: Option<String>,
    change: Option<String>,
}

pub async fn select_account_page(State(s): State<AppState>, u: WebUser, Query(q): Query<SelectAccountQuery>) -> Response {
    if let Some(r) = gate(&s, &u).await {
        return r;
    }
    let page = match s.store.list_billing_accounts(&u.who.ctx, u.who.tenant.id, None, Some(200)).await {
        Ok(p) => p,
        Err(e) => return render_error(&s, &u, e).await,
    };
    let accounts: Vec<AccountSummary> =
        page.items.iter().map(|a| account_summary(&s, &a.account, &a.profiles, a.agreement_accepted)).collect();
    let (current, _) = s.store.current_link(u.who.tenant.id).await.unwrap_or((None, 0));
    let selected = q
        .selected
        .or_else(|| current.map(|l| l.billing_account_id.to_string()))
        .or_else(|| accounts.first().map(|a| a.id.clone()))
        .unwrap_or_default();
    render(&s, &u, Flyout::SelectAccount(SelectAccount { accounts, selected, changing: q.change.is_some(), error: None }), false).await
}

async fn new_account_prefill(s: &AppState, u: &WebUser) -> Result<NewAccountForm, StoreError> {
    let p = s.store.get_partner_account(u.who.tenant.id).await?;
    let lp = &p.legal_profile;
    Ok(NewAccountForm {
        company: lp.company_name.clone(),
        sold_to: one_line(&lp.sold_to),
        display_name: lp.company_name.clone(),
        contact_name: lp.primary_contact.as_ref().map(|c| c.name.clone()).unwrap_or_default(),
        contact_email: lp.primary_contact.as_ref().map(|c| c.email.to_string()).unwrap_or_default(),
        contact_phone: lp.primary_contact.as_ref().and_then(|c| c.phone.as_ref().map(|p| p.as_str().to_owned())).unwrap_or_default(),
        errors: Vec::new(),
        pending_legal_change: p.pending_legal_profile.is_some(),
    })
}

pub async fn new_account_form(State(s): State<AppState>, u: WebUser) -> Response {
    if let Some(r) = gate(&s, &u).await {
        return r;
    }
    match new_account_prefill(&s, &u).await {
        Ok(f) => render(&s, &u, Flyout::NewAccount(f), false).await,
        Err(e) => render_error(&s, &u, e).await,
    }
}

#[derive(Deserialize)]
pub struct NewAccountSubmit {
    csrf: String,
    display_name: String,
    contact_name: String,
    contact_email: String,
    contact_phone: String,
}

pub async fn new_account_submit(State(s): State<AppState>, u: WebUser, Form(f): Form<NewAccountSubmit>) -> Response {
    if !u.check_csrf(&f.csrf) {
        return forbidden_csrf();
    }
    if let Some(r) = gate(&s, &u).await {
        return r;
    }
    let mut errors = Vec::new();
    let display_name = match DisplayName::parse(&f.display_name) {
        Ok(d) => Some(d),
        Err(e) => {
            errors.push(("display_name".to_owned(), e.to_string()));
            None
        }
    };
    let blank = |v: &str| v.trim().is_empty();
    let primary_contact = if blank(&f.contact_name) && blank(&f.contact_email) && blank(&f.contact_phone) {
        None
    } else {
        let input = ContactInput {
            name: Some(f.contact_name.clone()),
            email: Some(f.contact_email.clone()),
            phone: (!blank(&f.contact_phone)).then(|| f.contact_phone.clone()),
        };
        match input.parse() {
            Ok(c) => Some(c),
            Err(errs) => {
                errors.extend(errs.0.into_iter().map(|e| (format!("contact_{}", e.field), e.message)));
                None
            }
        }
    };
    if !errors.is_empty() {
        let mut form = match new_account_prefill(&s, &u).await {
            Ok(p) => p,
            Err(e) => return render_error(&s, &u, e).await,
        };
        form.display_name = f.display_name;
        form.contact_name = f.contact_name;
        form.contact_email = f.contact_email;
        form.contact_phone = f.contact_phone;
        form.errors = errors;
        let mut r = render(&s, &u, Flyout::NewAccount(form), false).await;
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        return r;
    }
    match s.store.create_billing_account(&u.who.ctx, u.who.tenant.id, &NewBillingAccount { display_name, primary_contact }).await {
        Ok(a) => see_other(&format!("/account/billing-profile/select-profile?account={}", a.id)),
        Err(e) => render_error(&s, &u, e).await,
    }
}

#[derive(Deserialize)]
pub struct SelectProfileQuery {
    account: Option<String>,
    selected: Option<String>,
}

async fn select_profile_flyout(
    s: &AppState,
    u: &WebUser,
    account: BillingAccountId,
    selected: Option<String>,
    error: Option<String>,
) -> Result<Flyout, StoreError> {
    let a = s.store.get_billing_account(&u.who.ctx, u.who.tenant.id, account).await?;
    let reuse_id = s.store.profile_to_reuse(&u.who.ctx, u.who.tenant.id, account).await?;
    let summary = account_summary(s, &a.account, &a.profiles, a.agreement_accepted);
    let reuse = reuse_id.and_then(|id| summary.profiles.iter().find(|p| p.id == id.to_string()).cloned());
    let (current, _) = s.store.current_link(u.who.tenant.id).await?;
    let selected = selected
        .or_else(|| reuse.as_ref().map(|p| p.id.clone()))
        .or_else(|| current.filter(|l| l.billing_account_id == account).map(|l| l.billing_profile_id.to_string()))
        .or_else(|| summary.profiles.first().map(|p| p.id.clone()))
        .unwrap_or_default();
    Ok(Flyout::SelectProfile(SelectProfile { account: summary, selected, reuse, error }))
}

pub async fn select_profile_page(State(s): State<AppState>, u: WebUser, Query(q): Query<SelectProfileQuery>) -> Response {
    if let Some(r) = gate(&s, &u).await {
        return r;
    }
    let Some(account) = q.account.as_deref().and_then(|a| BillingAccountId::parse(a).ok()) else {
        return see_other("/account/billing-profile/select-account");
    };
    match select_profile_flyout(&s, &u, account, q.selected, None).await {
        Ok(f) => render(&s, &u, f, false).await,
        Err(e) => render_error(&s, &u, e).await,
    }
}

#[derive(Deserialize)]
pub struct AccountQuery {
    account: Option<String>,
}

pub async fn new_profile_form(State(s): State<AppState>, u: WebUser, Query(q): Query<AccountQuery>) -> Response {
    if let Some(r) = gate(&s, &u).await {
        return r;
    }
    let Some(account) = q.account.as_deref().and_then(|a| BillingAccountId::parse(a).ok()) else {
        return see_other("/account/billing-profile/select-account");
    };
    match s.store.get_billing_account(&u.who.ctx, u.who.tenant.id, account).await {
        Ok(a) => {
            let summary = account_summary(&s, &a.account, &a.profiles, a.agreement_accepted);
            render(&s, &u, Flyout::NewProfile(NewProfileForm { account: summary, name: String::new(), error: None }), false).await
        }
        Err(e) => render_error(&s, &u, e).await,
    }
}

#[derive(Deserialize)]
pub struct NewProfileSubmit {
    csrf: String,
    account: String,
    display_name: String,
}

pub async fn new_profile_submit(State(s): State<AppState>, u: WebUser, Form(f): Form<NewProfileSubmit>) -> Response {
    if !u.check_csrf(&f.csrf) {
        return forbidden_csrf();
    }
    if let Some(r) = gate(&s, &u).await {
        return r;
    }
    let Ok(account) = BillingAccountId::parse(&f.account) else { return see_other("/account/billing-profile/select-account") };
    let name = match DisplayName::parse(&f.display_name) {
        Ok(n) => n,
        Err(e) => {
            return match s.store.get_billing_account(&u.who.ctx, u.who.tenant.id, account).await {
                Ok(a) => {
                    let summary = account_summary(&s, &a.account, &a.profiles, a.agreement_accepted);
                    let form = NewProfileForm { account: summary, name: f.display_name, error: Some(format!("Billing profile name {e}")) };
                    let mut r = render(&s, &u, Flyout::NewProfile(form), false).await;
                    *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
                    r
                }
                Err(e) => render_error(&s, &u, e).await,
            };
        }
    };
    match s.store.create_billing_profile(&u.who.ctx, u.who.tenant.id, account, &name).await {
        Ok(p) => see_other(&format!("/account/billing-profile/select-profile?account={account}&selected={}", p.id)),
        Err(e @ StoreError::UnfundedProfileExists { .. }) => {
            match select_profile_flyout(&s, &u, account, None, Some(e.to_string())).await {
                Ok(f) => render(&s, &u, f, false).await,
                Err(e) => render_error(&s, &u, e).await,
            }
        }
        Err(e) => render_error(&s, &u, e).await,
    }
}

#[derive(Deserialize)]
pub struct ReviewQuery {
    account: Option<String>,
    profile: Option<String>,
}

async fn review_flyout(s: &AppState, u: &WebUser, account: BillingAccountId, profile: BillingProfileId) -> Result<ReviewPanel, StoreError> {
    let r = s.store.review_link(&u.who.ctx, u.who.tenant.id, account, profile).await?;
    let mut warnings = Vec::new();
    if !account_warnings(&r.account).is_empty() {
        warnings.push("This billing account has no primary contact. It is not mandatory, but a purchase billed to it will be refused until one is added.".to_owned());
    }
    if r.profile.payment_instruments.is_empty() {
        warnings.push("Payment instrument: None. You can add one later, at the latest during a purchase.".to_owned());
    }
    let effects = if r.is_noop() {
        "This billing account and profile are already linked; Finish changes nothing.".to_owned()
    } else if r.current.is_some() {
        format!(
            "From Finish on, membership purchases are billed to billing profile {} of billing account {}. Earlier purchases and their invoices stay where they were.",
            r.profile.display_name, r.account.display_name
        )
    } else {
        format!(
            "Finish links billing account {} and billing profile {} to your partner account. Membership purchases are then billed to this profile.",
            r.account.display_name, r.profile.display_name
        )
    };
    Ok(ReviewPanel {
        account: account_summary(s, &r.account, &[], r.mca_already_accepted),
        profile: profile_summary(s, &r.profile),
        agreement_required: r.needs.mca_required,
        agreement_already: r.mca_already_accepted,
        agreement_version: AGREEMENT_VERSION.to_owned(),
        secondary_required: r.needs.secondary_required,
        warnings,
        effects,
        noop: r.is_noop(),
        version: r.link_version,
        agreement_error: None,
        secondary_error: None,
        error: None,
    })
}

pub async fn review_page(State(s): State<AppState>, u: WebUser, Query(q): Query<ReviewQuery>) -> Response {
    let account = q.account.as_deref().and_then(|a| BillingAccountId::parse(a).ok());
    let profile = q.profile.as_deref().and_then(|p| BillingProfileId::parse(p).ok());
    let (Some(account), Some(profile)) = (account, profile) else {
        return see_other("/account/billing-profile/select-account");
    };
    match review_flyout(&s, &u, account, profile).await {
        Ok(p) => render(&s, &u, Flyout::Review(Box::new(p)), false).await,
        Err(StoreError::Invalid { message, .. }) => match select_profile_flyout(&s, &u, account, None, Some(message)).await {
            Ok(f) => render(&s, &u, f, false).await,
            Err(e) => render_error(&s, &u, e).await,
        },
        Err(e) => render_error(&s, &u, e).await,
    }
}

#[derive(Deserialize)]
pub struct FinishSubmit {
    csrf: String,
    account: String,
    profile: String,
    version: i64,
    accept_agreement: Option<String>,
    accept_secondary_acknowledgement: Option<String>,
}

pub async fn finish_submit(State(s): State<AppState>, u: WebUser, Form(f): Form<FinishSubmit>) -> Response {
    if !u.check_csrf(&f.csrf) {
        return forbidden_csrf();
    }
    let (Ok(account), Ok(profile)) = (BillingAccountId::parse(&f.account), BillingProfileId::parse(&f.profile)) else {
        return see_other("/account/billing-profile/select-account");
    };
    let cmd = LinkCommand {
        billing_account_id: account,
        billing_profile_id: profile,
        accept_agreement: f.accept_agreement.is_some(),
        accept_secondary_acknowledgement: f.accept_secondary_acknowledgement.is_some(),
        if_match: Some(f.version),
    };
    match s.store.link_billing(&u.who.ctx, u.who.tenant.id, &cmd).await {
        Ok(_) => see_other("/account/billing-profile?linked=1"),
        Err(e @ (StoreError::Agreement(_) | StoreError::PreconditionFailed { .. })) => {
            let mut panel = match review_flyout(&s, &u, account, profile).await {
                Ok(p) => p,
                Err(e) => return render_error(&s, &u, e).await,
            };
            match &e {
                StoreError::Agreement(pb_domain::billing::AgreementRefusal::NotAccepted) => {
                    panel.agreement_error = Some("Tick the box to accept the Microsoft Customer Agreement.".into())
                }
                StoreError::Agreement(_) => {
                    panel.secondary_error = Some(
                        "Tick the second box: for a sold-to address in Italy the agreement needs this separate acknowledgement.".into(),
                    )
                }
                _ => {
                    panel.error = Some(
                        "The billing link was changed by someone else meanwhile. Check the details below and select Finish again.".into(),
                    )
                }
            }
            let mut r = render(&s, &u, Flyout::Review(Box::new(panel)), false).await;
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            r
        }
        Err(e) => render_error(&s, &u, e).await,
    }
}

#[derive(Deserialize)]
pub struct LegalQuery {
    submitted: Option<String>,
}

fn legal_form(lp: &pb_domain::LegalProfile) -> LegalForm {
    let a = &lp.sold_to;
    LegalForm {
        company_name: lp.company_name.clone(),
        address_line1: a.address_line1.clone(),
        address_line2: a.address_line2.clone().unwrap_or_default(),
        city: a.city.clone().unwrap_or_default(),
        region: a.region.clone().unwrap_or_default(),
        postal_code: a.postal_code.clone().unwrap_or_default(),
        country: a.country.to_string(),
        contact_name: lp.primary_contact.as_ref().map(|c| c.name.clone()).unwrap_or_default(),
        contact_email: lp.primary_contact.as_ref().map(|c| c.email.to_string()).unwrap_or_default(),
        contact_phone: lp.primary_contact.as_ref().and_then(|c| c.phone.as_ref()).map(|p| p.as_str().to_owned()).unwrap_or_default(),
    }
}

async fn legal_page(s: &AppState, u: &WebUser, submitted: bool, form: Option<LegalForm>, errors: Vec<(String, String)>) -> Response {
    let c = chrome(s, u, "legal-profile", "Legal profile").await;
    let p = match s.store.get_partner_account(u.who.tenant.id).await {
        Ok(p) => p,
        Err(_) => return not_found(c, "partner account"),
    };
    let pending = p.pending_legal_profile.as_ref().map(|x| {
        let mut parts = Vec::new();
        if let Some(n) = &x.change.company_name {
            parts.push(format!("Company name: {n}"));
        }
        if let Some(a) = &x.change.sold_to {
            parts.push(format!("Sold-to address: {}", one_line(a)));
        }
        if let Some(c) = &x.change.primary_contact {
            parts.push(format!("Primary contact: {} <{}>", c.name, c.email));
        }
        parts.join("; ")
    });
    let pending_since = p.pending_legal_profile.as_ref().map(|x| when(x.submitted_at)).unwrap_or_default();
    let mut r = LegalProfilePage {
        chrome: c,
        verified_company: p.legal_profile.company_name.clone(),
        verified_sold_to: one_line(&p.legal_profile.sold_to),
        verified_contact: contact_line(&p.legal_profile.primary_contact).unwrap_or_else(|| "None".into()),
        pending,
        pending_since,
        submitted,
        can_edit: u.who.global_admin || u.who.has_partner_role(PartnerRole::AccountAdmin),
        form: form.unwrap_or_else(|| legal_form(&p.legal_profile)),
        errors: errors.clone(),
    }
    .into_response();
    if !errors.is_empty() {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    r
}

pub async fn legal_profile_page(State(s): State<AppState>, u: WebUser, Query(q): Query<LegalQuery>) -> Response {
    legal_page(&s, &u, q.submitted.is_some(), None, Vec::new()).await
}

#[derive(Deserialize)]
pub struct LegalSubmit {
    csrf: String,
    company_name: String,
    address_line1: String,
    address_line2: String,
    city: String,
    region: String,
    postal_code: String,
    country: String,
    contact_name: String,
    contact_email: String,
    contact_phone: String,
}

pub async fn legal_profile_submit(State(s): State<AppState>, u: WebUser, Form(f): Form<LegalSubmit>) -> Response {
    if !u.check_csrf(&f.csrf) {
        return forbidden_csrf();
    }
    let form = LegalForm {
        company_name: f.company_name.clone(),
        address_line1: f.address_line1.clone(),
        address_line2: f.address_line2.clone(),
        city: f.city.clone(),
        region: f.region.clone(),
        postal_code: f.postal_code.clone(),
        country: f.country.clone(),
        contact_name: f.contact_name.clone(),
        contact_email: f.contact_email.clone(),
        contact_phone: f.contact_phone.clone(),
    };
    if !u.who.global_admin && !u.who.has_partner_role(PartnerRole::AccountAdmin) {
        return legal_page(
            &s,
            &u,
            false,
            Some(form),
            vec![("".into(), "Changing the legal profile needs the Global admin or Account admin role.".into())],
        )
        .await;
    }
    let Ok(p) = s.store.get_partner_account(u.who.tenant.id).await else { return see_other("/account/legal-profile") };
    let current = legal_form(&p.legal_profile);
    let opt = |v: &str| (!v.trim().is_empty()).then(|| v.to_owned());
    // Only what differs from the verified profile becomes the pending change.
    let address_changed = (&form.address_line1, &form.address_line2, &form.city, &form.region, &form.postal_code, &form.country)
        != (&current.address_line1, &current.address_line2, &current.city, &current.region, &current.postal_code, &current.country);
    let contact_changed = (&form.contact_name, &form.contact_email, &form.contact_phone)
        != (&current.contact_name, &current.contact_email, &current.contact_phone);
    let input = LegalProfileInput {
        company_name: (form.company_name != current.company_name).then(|| form.company_name.clone()),
        sold_to: address_changed.then(|| AddressInput {
            address_line1: Some(form.address_line1.clone()),
            address_line2: opt(&form.address_line2),
            city: opt(&form.city),
            region: opt(&form.region),
            postal_code: opt(&form.postal_code),
            country: Some(form.country.clone()),
            ..Default::default()
        }),
        primary_contact: contact_changed.then(|| ContactInput {
            name: Some(form.contact_name.clone()),
            email: Some(form.contact_email.clone()),
            phone: opt(&form.contact_phone),
        }),
    };
    let change = match input.parse_change() {
        Ok(c) => c,
        Err(errs) => {
            let errors = errs
                .0
                .into_iter()
                .map(|e| {
                    let field = e.field.replace("sold_to.", "").replace("primary_contact.", "contact_");
                    let message = if e.code == "empty_change" { "Nothing changed: edit a field first.".to_owned() } else { e.message };
                    (field, message)
                })
                .collect();
            return legal_page(&s, &u, false, Some(form), errors).await;
        }
    };
    match s.store.submit_legal_profile_change(&u.who.ctx, u.who.tenant.id, &change).await {
        Ok(_) => see_other("/account/legal-profile?submitted=1"),
        Err(e) => render_error(&s, &u, e).await,
    }
}

pub async fn membership_page(State(s): State<AppState>, u: WebUser) -> Response {
    let c = chrome(&s, &u, "membership", "Membership").await;
    let page = match billing_page(&s, &u, false).await {
        Ok(p) => p,
        Err(_) => return not_found(c, "partner account"),
    };
    let contact = page.linked.as_ref().map(|l| l.account.contact.is_some());
    let blockers: Vec<String> = purchase_blockers(page.partner_state, contact)
        .into_iter()
        .map(|b| match b {
            PurchaseBlocker::PartnerAccountNotActive(state) => {
                format!("The partner account is {}; purchases need an active account.", state.describe())
            }
            PurchaseBlocker::BillingLinkRequired => {
                "No billing account and profile are linked yet. A Global administrator links them on the Billing profile page.".into()
            }
            PurchaseBlocker::PrimaryContactRequired => {
                "The linked billing account has no primary contact; purchases billed to it will be refused until one is added.".into()
            }
        })
        .collect();
    MembershipPage { chrome: c, purchase_ready: blockers.is_empty(), linked: page.linked, blockers }.into_response()
}

pub async fn notifications_page(State(s): State<AppState>, u: WebUser) -> Response {
    let items = s.store.list_notifications(u.who.tenant.id, u.who.user.id, None, Some(50)).await.map(|p| p.items).unwrap_or_default();
    let rows = items
        .iter()
        .map(|n| NotificationRow {
            title: n.title.clone(),
            body: n.body.clone(),
            when: when(n.created_at),
            unread: n.read_at.is_none(),
            action_url: n.action_url.clone().unwrap_or_default(),
        })
        .collect();
    for n in items.iter().filter(|n| n.read_at.is_none()) {
        let _ = s.store.mark_notification_read(u.who.tenant.id, u.who.user.id, &n.id).await;
    }
    let c = chrome(&s, &u, "notifications", "Notifications").await;
    NotificationsPage { chrome: c, items: rows }.into_response()
}

#[derive(Deserialize)]
pub struct DetailsQuery {
    added: Option<String>,
}

pub async fn profile_details_page(
    State(s): State<AppState>,
    u: WebUser,
    Path(id): Path<String>,
    Query(q): Query<DetailsQuery>,
) -> Response {
    details(&s, &u, &id, q.added.is_some(), Vec::new(), (String::new(), String::new())).await
}

async fn details(s: &AppState, u: &WebUser, id: &str, added: bool, errors: Vec<(String, String)>, typed: (String, String)) -> Response {
    let c = chrome(s, u, "billing-profile", "Billing profile details").await;
    let Ok(id) = BillingProfileId::parse(id) else { return not_found(c, "billing profile") };
    let p = match s.store.get_billing_profile(&u.who.ctx, u.who.tenant.id, id).await {
        Ok(p) => p,
        Err(StoreError::NotFound(_)) => return not_found(c, "billing profile"),
        Err(e) => return render_error(s, u, e).await,
    };
    let a = match s.store.get_billing_account(&u.who.ctx, u.who.tenant.id, p.billing_account_id).await {
        Ok(a) => account_summary(s, &a.account, &[], a.agreement_accepted),
        Err(_) => AccountSummary {
            id: p.billing_account_id.to_string(),
            name: p.billing_account_id.to_string(),
            company: String::new(),
            sold_to: String::new(),
            country: String::new(),
            contact: None,
            agreement_accepted: false,
            profiles: Vec::new(),
        },
    };
    let instruments = p.payment_instruments.iter().map(|i| format!("{} ({})", i.display_hint, i.kind.as_str().replace('_', " "))).collect();
    let failed = !errors.is_empty();
    let mut r = ProfileDetailsPage {
        chrome: c,
        account: a,
        profile: profile_summary(s, &p),
        instruments,
        added,
        errors,
        token: typed.0,
        hint: typed.1,
    }
    .into_response();
    if failed {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    r
}

#[derive(Deserialize)]
pub struct InstrumentSubmit {
    csrf: String,
    kind: String,
    token: String,
    display_hint: String,
}

/// Adds a payment instrument: the processor's token and a hint (the store refuses card numbers).
pub async fn payment_instrument_submit(
    State(s): State<AppState>,
    u: WebUser,
    Path(id): Path<String>,
    Form(f): Form<InstrumentSubmit>,
) -> Response {
    if !u.check_csrf(&f.csrf) {
        return forbidden_csrf();
    }
    let Ok(profile) = BillingProfileId::parse(&id) else { return see_other("/account/billing-profile") };
    let mut errors = Vec::new();
    let kind = PaymentInstrumentKind::parse(&f.kind);
    if kind.is_none() {
        errors.push(("kind".to_owned(), "Choose card or bank transfer.".to_owned()));
    }
    for (field, value, max) in [("token", f.token.trim(), 200), ("display_hint", f.display_hint.trim(), 100)] {
        if value.is_empty() {
            errors.push((field.to_owned(), "This is required.".to_owned()));
        } else if value.chars().count() > max {
            errors.push((field.to_owned(), format!("At most {max} characters.")));
        }
    }
    let Some(kind) = kind.filter(|_| errors.is_empty()) else {
        return details(&s, &u, &id, false, errors, (f.token.clone(), f.display_hint.clone())).await;
    };
    match s.store.add_payment_instrument(&u.who.ctx, u.who.tenant.id, profile, kind, f.token.trim(), f.display_hint.trim()).await {
        Ok(_) => see_other(&format!("/billing/profiles/{profile}?added=1")),
        // A refused value (a card number) is not echoed back into the form.
        Err(StoreError::Invalid { field, message, .. }) => {
            details(&s, &u, &id, false, vec![(field.to_owned(), format!("This {message}."))], (String::new(), String::new())).await
        }
        Err(StoreError::Forbidden(m)) => details(&s, &u, &id, false, vec![(String::new(), m)], (String::new(), String::new())).await,
        Err(e) => render_error(&s, &u, e).await,
    }
}
