//! The flyouts of the link flow (rules N3–N8, E1–E3, C1–C3, M1, M2): select or create a billing
//! account, select or create a billing profile, review, Finish. Every rule is the store's; this
//! module asks and puts the answers into words.

use axum::extract::{FromRequestParts, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use pb_app::AppState;
use pb_domain::billing::{AGREEMENT_VERSION, AgreementRefusal};
use pb_domain::{BillingAccountId, BillingProfileId, BillingWarning, ContactInput, DisplayName, LinkEffect};
use pb_store::{LinkCommand, LinkReview, NewBillingAccount, StoreError};
use serde::Deserialize;

use super::billing_profile::{render, render_error};
use crate::extract::{CsrfForm, CsrfProtected};
use crate::render::{account_summary, one_line, profile_summary, see_other, with_status};
use crate::session::WebUser;
use crate::views::{Flyout, NewAccountForm, NewProfileForm, ReviewPanel, SelectAccount, SelectProfile};

const SELECT_ACCOUNT: &str = "/account/billing-profile/select-account";

/// A signed-in user who may take the link flow's steps now (rules A1, P2); anyone else gets the
/// page that says why, as the store decided it.
pub struct LinkFlowUser(pub WebUser);

impl AsRef<WebUser> for LinkFlowUser {
    fn as_ref(&self) -> &WebUser {
        &self.0
    }
}

impl FromRequestParts<AppState> for LinkFlowUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let u = WebUser::from_request_parts(parts, state).await?;
        match state.store.check_may_link(&u.who.cx).await {
            Ok(()) => Ok(LinkFlowUser(u)),
            Err(e) => Err(render_error(state, &u, e).await),
        }
    }
}

#[derive(Deserialize)]
pub struct SelectAccountQuery {
    selected: Option<String>,
    change: Option<String>,
}

pub async fn select_account_page(
    State(s): State<AppState>,
    LinkFlowUser(u): LinkFlowUser,
    Query(q): Query<SelectAccountQuery>,
) -> Response {
    let page = match s.store.list_billing_accounts(&u.who.cx, None, Some(200)).await {
        Ok(p) => p,
        Err(e) => return render_error(&s, &u, e).await,
    };
    let accounts: Vec<_> = page.items.iter().map(|a| account_summary(&s, &a.account, &a.profiles, a.agreement_accepted)).collect();
    let current = match s.store.current_link(&u.who.cx).await {
        Ok((current, _)) => current,
        Err(e) => return render_error(&s, &u, e).await,
    };
    let selected = q
        .selected
        .or_else(|| current.map(|l| l.billing_account_id.to_string()))
        .or_else(|| accounts.first().map(|a| a.id.clone()))
        .unwrap_or_default();
    render(&s, &u, Flyout::SelectAccount(SelectAccount { accounts, selected, changing: q.change.is_some(), error: None }), false).await
}

/// The new account form, prefilled from the verified legal profile (rule N3).
async fn new_account_prefill(s: &AppState, u: &WebUser) -> Result<NewAccountForm, StoreError> {
    let p = s.store.get_partner_account(u.who.cx.tenant()).await?;
    let lp = &p.legal_profile;
    let contact = lp.primary_contact.as_ref();
    Ok(NewAccountForm {
        company: lp.company_name.clone(),
        sold_to: one_line(&lp.sold_to),
        display_name: lp.company_name.clone(),
        contact_name: contact.map(|c| c.name.clone()).unwrap_or_default(),
        contact_email: contact.map(|c| c.email.to_string()).unwrap_or_default(),
        contact_phone: contact.and_then(|c| c.phone.as_ref().map(|p| p.as_str().to_owned())).unwrap_or_default(),
        errors: Vec::new(),
        pending_legal_change: p.pending_legal_profile.is_some(),
    })
}

pub async fn new_account_form(State(s): State<AppState>, LinkFlowUser(u): LinkFlowUser) -> Response {
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

impl CsrfProtected for NewAccountSubmit {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Parses the form's fields; the errors are keyed by the form's field names.
fn parse_new_account(f: &NewAccountSubmit) -> Result<NewBillingAccount, Vec<(String, String)>> {
    let mut errors = Vec::new();
    let display_name = DisplayName::parse(&f.display_name).map_err(|e| errors.push(("display_name".to_owned(), e.to_string()))).ok();
    let blank = |v: &str| v.trim().is_empty();
    // Rule N4: the contact is optional; a half-filled one is an error, an empty one a warning.
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
    match display_name {
        Some(display_name) if errors.is_empty() => Ok(NewBillingAccount { display_name: Some(display_name), primary_contact }),
        _ => Err(errors),
    }
}

pub async fn new_account_submit(
    State(s): State<AppState>,
    CsrfForm { user, form: f }: CsrfForm<NewAccountSubmit, LinkFlowUser>,
) -> Response {
    let u = user.0;
    let new = match parse_new_account(&f) {
        Ok(new) => new,
        Err(errors) => {
            let mut form = match new_account_prefill(&s, &u).await {
                Ok(p) => p,
                Err(e) => return render_error(&s, &u, e).await,
            };
            form.display_name = f.display_name;
            form.contact_name = f.contact_name;
            form.contact_email = f.contact_email;
            form.contact_phone = f.contact_phone;
            form.errors = errors;
            return with_status(render(&s, &u, Flyout::NewAccount(form), false).await, StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    match s.store.create_billing_account(&u.who.cx, &new).await {
        Ok(a) => see_other(&format!("/account/billing-profile/select-profile?account={}", a.id)),
        Err(e) => render_error(&s, &u, e).await,
    }
}

#[derive(Deserialize)]
pub struct SelectProfileQuery {
    account: Option<String>,
    selected: Option<String>,
}

/// The profiles of an account, with rule C3 asked ahead: the one to reuse hides "Create new".
async fn select_profile_flyout(
    s: &AppState,
    u: &WebUser,
    account: BillingAccountId,
    selected: Option<String>,
    error: Option<String>,
) -> Result<Flyout, StoreError> {
    let cx = &u.who.cx;
    let a = s.store.get_billing_account(cx, account).await?;
    let reuse_id = s.store.profile_to_reuse(cx, account).await?;
    let summary = account_summary(s, &a.account, &a.profiles, a.agreement_accepted);
    let reuse = reuse_id.and_then(|id| summary.profiles.iter().find(|p| p.id == id.to_string()).cloned());
    let (current, _) = s.store.current_link(cx).await?;
    let selected = selected
        .or_else(|| reuse.as_ref().map(|p| p.id.clone()))
        .or_else(|| current.filter(|l| l.billing_account_id == account).map(|l| l.billing_profile_id.to_string()))
        .or_else(|| summary.profiles.first().map(|p| p.id.clone()))
        .unwrap_or_default();
    Ok(Flyout::SelectProfile(SelectProfile { account: summary, selected, reuse, error }))
}

async fn show_select_profile(
    s: &AppState,
    u: &WebUser,
    account: BillingAccountId,
    selected: Option<String>,
    error: Option<String>,
) -> Response {
    match select_profile_flyout(s, u, account, selected, error).await {
        Ok(f) => render(s, u, f, false).await,
        Err(e) => render_error(s, u, e).await,
    }
}

fn account_id(raw: Option<&str>) -> Option<BillingAccountId> {
    raw.and_then(|a| BillingAccountId::parse(a).ok())
}

pub async fn select_profile_page(
    State(s): State<AppState>,
    LinkFlowUser(u): LinkFlowUser,
    Query(q): Query<SelectProfileQuery>,
) -> Response {
    let Some(account) = account_id(q.account.as_deref()) else { return see_other(SELECT_ACCOUNT) };
    show_select_profile(&s, &u, account, q.selected, None).await
}

#[derive(Deserialize)]
pub struct AccountQuery {
    account: Option<String>,
}

async fn show_new_profile(s: &AppState, u: &WebUser, account: BillingAccountId, name: String, error: Option<String>) -> Response {
    match s.store.get_billing_account(&u.who.cx, account).await {
        Ok(a) => {
            let failed = error.is_some();
            let summary = account_summary(s, &a.account, &a.profiles, a.agreement_accepted);
            let r = render(s, u, Flyout::NewProfile(NewProfileForm { account: summary, name, error }), false).await;
            if failed { with_status(r, StatusCode::UNPROCESSABLE_ENTITY) } else { r }
        }
        Err(e) => render_error(s, u, e).await,
    }
}

pub async fn new_profile_form(State(s): State<AppState>, LinkFlowUser(u): LinkFlowUser, Query(q): Query<AccountQuery>) -> Response {
    let Some(account) = account_id(q.account.as_deref()) else { return see_other(SELECT_ACCOUNT) };
    show_new_profile(&s, &u, account, String::new(), None).await
}

#[derive(Deserialize)]
pub struct NewProfileSubmit {
    csrf: String,
    account: String,
    display_name: String,
}

impl CsrfProtected for NewProfileSubmit {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn new_profile_submit(
    State(s): State<AppState>,
    CsrfForm { user, form: f }: CsrfForm<NewProfileSubmit, LinkFlowUser>,
) -> Response {
    let u = user.0;
    let Some(account) = account_id(Some(&f.account)) else { return see_other(SELECT_ACCOUNT) };
    let name = match DisplayName::parse(&f.display_name) {
        Ok(n) => n,
        Err(e) => return show_new_profile(&s, &u, account, f.display_name, Some(format!("Billing profile name {e}"))).await,
    };
    match s.store.create_billing_profile(&u.who.cx, account, &name, pb_store::Flow::LinkFlow).await {
        Ok(p) => see_other(&format!("/account/billing-profile/select-profile?account={account}&selected={}", p.id)),
        // Rule C3: the store names the profile to reuse; the flyout offers only that.
        Err(e @ StoreError::UnfundedProfileExists { .. }) => show_select_profile(&s, &u, account, None, Some(e.to_string())).await,
        Err(e) => render_error(&s, &u, e).await,
    }
}

#[derive(Deserialize)]
pub struct ReviewQuery {
    account: Option<String>,
    profile: Option<String>,
}

/// Rules N4, N6 in words.
fn warning_sentence(w: BillingWarning) -> String {
    match w {
        BillingWarning::PrimaryContactMissing => {
            "This billing account has no primary contact. It is not mandatory, but a purchase billed to it will be refused until one is added."
                .to_owned()
        }
        BillingWarning::PaymentInstrumentMissing => "Payment instrument: None. You can add one later, at the latest during a purchase.".to_owned(),
    }
}

/// Rules C4, C5 in words.
fn effects_sentence(r: &LinkReview) -> String {
    let (account, profile) = (&r.account.display_name, &r.profile.display_name);
    match r.effects.effect {
        LinkEffect::Unchanged => "This billing account and profile are already linked; Finish changes nothing.".to_owned(),
        LinkEffect::Move { .. } => format!(
            "From Finish on, membership purchases are billed to billing profile {profile} of billing account {account}. Earlier purchases and their invoices stay where they were."
        ),
        LinkEffect::FirstLink => format!(
            "Finish links billing account {account} and billing profile {profile} to your partner account. Membership purchases are then billed to this profile."
        ),
    }
}

async fn review_flyout(s: &AppState, u: &WebUser, account: BillingAccountId, profile: BillingProfileId) -> Result<ReviewPanel, StoreError> {
    let r = s.store.review_link(&u.who.cx, account, profile).await?;
    Ok(ReviewPanel {
        account: account_summary(s, &r.account, &[], r.mca_already_accepted),
        profile: profile_summary(s, &r.profile),
        agreement_required: r.needs.mca_required,
        agreement_already: r.mca_already_accepted,
        agreement_version: AGREEMENT_VERSION.to_owned(),
        secondary_required: r.needs.secondary_required,
        warnings: r.warnings.iter().copied().map(warning_sentence).collect(),
        effects: effects_sentence(&r),
        noop: !r.effects.changes_link(),
        version: r.link_version,
        agreement_error: None,
        secondary_error: None,
        error: None,
    })
}

pub async fn review_page(State(s): State<AppState>, u: WebUser, Query(q): Query<ReviewQuery>) -> Response {
    let account = account_id(q.account.as_deref());
    let profile = q.profile.as_deref().and_then(|p| BillingProfileId::parse(p).ok());
    let (Some(account), Some(profile)) = (account, profile) else { return see_other(SELECT_ACCOUNT) };
    match review_flyout(&s, &u, account, profile).await {
        Ok(p) => render(&s, &u, Flyout::Review(Box::new(p)), false).await,
        Err(StoreError::Invalid { message, .. }) => show_select_profile(&s, &u, account, None, Some(message)).await,
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

impl CsrfProtected for FinishSubmit {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn finish_submit(State(s): State<AppState>, CsrfForm { user: u, form: f }: CsrfForm<FinishSubmit>) -> Response {
    let (Ok(account), Ok(profile)) = (BillingAccountId::parse(&f.account), BillingProfileId::parse(&f.profile)) else {
        return see_other(SELECT_ACCOUNT);
    };
    let cmd = LinkCommand {
        billing_account_id: account,
        billing_profile_id: profile,
        accept_agreement: f.accept_agreement.is_some(),
        accept_secondary_acknowledgement: f.accept_secondary_acknowledgement.is_some(),
        if_match: Some(f.version),
    };
    let refused = match s.store.link_billing(&u.who.cx, &cmd).await {
        Ok(_) => return see_other("/account/billing-profile?linked=1"),
        Err(e @ (StoreError::Agreement(_) | StoreError::PreconditionFailed { .. })) => e,
        Err(e) => return render_error(&s, &u, e).await,
    };
    // The review again, saying what to fix.
    let mut panel = match review_flyout(&s, &u, account, profile).await {
        Ok(p) => p,
        Err(e) => return render_error(&s, &u, e).await,
    };
    match refused {
        StoreError::Agreement(AgreementRefusal::NotAccepted) => {
            panel.agreement_error = Some("Tick the box to accept the Microsoft Customer Agreement.".into())
        }
        StoreError::Agreement(AgreementRefusal::SecondaryAcknowledgementRequired) => {
            panel.secondary_error =
                Some("Tick the second box: for a sold-to address in Italy the agreement needs this separate acknowledgement.".into())
        }
        _ => {
            panel.error =
                Some("The billing link was changed by someone else meanwhile. Check the details below and select Finish again.".into())
        }
    }
    with_status(render(&s, &u, Flyout::Review(Box::new(panel)), false).await, StatusCode::UNPROCESSABLE_ENTITY)
}
