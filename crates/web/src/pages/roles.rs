//! The "Roles" section of the billing account and billing profile pages (rule A2): who holds which
//! role there (and, on a profile, on its account above it), and, for owners, forms to grant a role
//! to a user of the tenant (picked by name and email) and to revoke one. The store decides every
//! permission, the last-owner rule included; this module only puts its answers into words.

use axum::extract::{Path, State};
use axum::response::Response;
use pb_app::AppState;
use pb_domain::{BillingAccountId, BillingProfileId, BillingRole, BillingScopeKind, RoleAssignmentId, UserId};
use pb_store::{BillingProfile, BillingScope, StoreError};
use serde::Deserialize;

use super::billing_profile::render_error;
use crate::extract::{CsrfForm, CsrfProtected};
use crate::render::see_other;
use crate::session::WebUser;

/// One assignment as the page shows it.
#[derive(Debug, Clone)]
pub struct RoleRow {
    pub id: String,
    pub user: String,
    pub role: String,
    pub scope: String,
}

/// A user of the tenant to pick in the grant form.
#[derive(Debug, Clone)]
pub struct UserChoice {
    pub id: String,
    pub label: String,
}

/// The section's data.
#[derive(Debug, Clone, Default)]
pub struct RolesSection {
    pub rows: Vec<RoleRow>,
    /// Empty when the caller may not grant or revoke.
    pub users: Vec<UserChoice>,
    /// `(value, words)` of the scopes the caller may grant on, and the roles of each.
    pub scopes: Vec<(String, String)>,
    pub roles: Vec<(String, String)>,
    pub message: Option<String>,
    /// Where the grant form posts.
    pub grant_action: String,
    /// The page the forms come back to.
    pub back: String,
}

fn role_words(r: BillingRole) -> &'static str {
    match r {
        BillingRole::Owner => "Owner",
        BillingRole::Contributor => "Contributor",
        BillingRole::Reader => "Reader",
        BillingRole::InvoiceManager => "Invoice manager",
        BillingRole::SubscriptionCreator => "Subscription creator",
    }
}

/// The section for a profile; `None` when the caller may not read its role assignments.
pub async fn section(s: &AppState, u: &WebUser, p: &BillingProfile, message: Option<String>) -> Option<RolesSection> {
    let back = format!("/billing/profiles/{}", p.id);
    section_of(s, u, BillingScope::Profile(p.id), Some(p.billing_account_id), back, message).await
}

/// The section for an account.
pub async fn account_section(s: &AppState, u: &WebUser, account: BillingAccountId, message: Option<String>) -> Option<RolesSection> {
    section_of(s, u, BillingScope::Account(account), None, format!("/billing/accounts/{account}"), message).await
}

async fn section_of(
    s: &AppState,
    u: &WebUser,
    scope: BillingScope,
    account_above: Option<BillingAccountId>,
    back: String,
    message: Option<String>,
) -> Option<RolesSection> {
    let cx = &u.who.cx;
    let list = s.store.list_role_assignments(cx, scope).await.ok()?;
    let users = s.store.list_users(u.who.tenant.id).await.unwrap_or_default();
    let name_of =
        |id: UserId| users.iter().find(|x| x.id == id).map_or_else(|| id.to_string(), |x| format!("{} ({})", x.display_name, x.email));
    let rows = list
        .iter()
        .map(|a| RoleRow {
            id: a.id.to_string(),
            user: name_of(a.user_id),
            role: role_words(a.role).to_owned(),
            scope: match (a.scope_kind, account_above) {
                (BillingScopeKind::BillingAccount, Some(_)) => "Billing account".into(),
                (BillingScopeKind::BillingAccount, None) => "This billing account".into(),
                _ => "This billing profile".into(),
            },
        })
        .collect();
    let mut scopes = Vec::new();
    if s.store.may_manage_roles(cx, scope).await.unwrap_or(false) {
        let here = if account_above.is_some() { "This billing profile" } else { "This billing account" };
        scopes.push((if account_above.is_some() { "profile" } else { "account" }.to_owned(), here.to_owned()));
    }
    if let Some(account) = account_above
        && s.store.may_manage_roles(cx, BillingScope::Account(account)).await.unwrap_or(false)
    {
        scopes.push(("account".to_owned(), "Its billing account".to_owned()));
    }
    let (users, roles) = if scopes.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        let choices =
            users.iter().map(|x| UserChoice { id: x.id.to_string(), label: format!("{} ({})", x.display_name, x.email) }).collect();
        let roles = [BillingRole::Owner, BillingRole::Contributor, BillingRole::Reader, BillingRole::InvoiceManager]
            .into_iter()
            .filter(|r| account_above.is_some() || r.allowed_at(BillingScopeKind::BillingAccount))
            .map(|r| (r.as_str().to_owned(), role_words(r).to_owned()))
            .collect();
        (choices, roles)
    };
    Some(RolesSection { rows, users, scopes, roles, message, grant_action: format!("{back}/roles"), back })
}

#[derive(Deserialize)]
pub struct GrantSubmit {
    csrf: String,
    user_id: String,
    role: String,
    scope: String,
}

impl CsrfProtected for GrantSubmit {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Where the page goes back to, with the outcome in words for the banner.
fn back_to(page: &str, outcome: &str) -> Response {
    see_other(&format!("{page}?roles={outcome}"))
}

/// The outcome codes the page turns into sentences.
pub fn outcome_words(code: &str) -> Option<&'static str> {
    Some(match code {
        "granted" => "The role was granted.",
        "revoked" => "The role was revoked.",
        "last_owner" => "Not revoked: this is the billing account's last owner. Grant the owner role to someone else first.",
        "already" => "That user already holds this role here.",
        "not_at_scope" => "Not granted: an invoice manager is a role of a billing profile, not of a billing account.",
        "forbidden" => "Not done: granting and revoking roles needs the owner role.",
        "invalid" => "Not granted: choose a user of your organisation and a role.",
        _ => return None,
    })
}

fn code_of(e: &StoreError) -> Option<&'static str> {
    match e {
        StoreError::Conflict { code: "last_owner", .. } => Some("last_owner"),
        StoreError::Conflict { code: "role_already_assigned", .. } => Some("already"),
        StoreError::Invalid { code: "role_not_at_scope", .. } => Some("not_at_scope"),
        StoreError::Invalid { .. } => Some("invalid"),
        StoreError::Forbidden(_) => Some("forbidden"),
        _ => None,
    }
}

/// Grants from the form on `page`, and goes back there with the outcome.
async fn grant(s: &AppState, u: &WebUser, f: &GrantSubmit, scope: BillingScope, page: &str) -> Response {
    let (Ok(user), Some(role)) = (UserId::parse(&f.user_id), BillingRole::parse(&f.role)) else { return back_to(page, "invalid") };
    match s.store.grant_role_assignment(&u.who.cx, scope, user, role).await {
        Ok(_) => back_to(page, "granted"),
        Err(e) => match code_of(&e) {
            Some(code) => back_to(page, code),
            None => render_error(s, u, e).await,
        },
    }
}

/// Grants on the profile page: on the profile, or on its account above it.
pub async fn grant_submit(
    State(s): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { user: u, form: f }: CsrfForm<GrantSubmit>,
) -> Response {
    let Ok(profile) = BillingProfileId::parse(&id) else { return see_other("/account/billing-profile") };
    let scope = match f.scope.as_str() {
        "account" => match s.store.get_billing_profile(&u.who.cx, profile).await {
            Ok(p) => BillingScope::Account(p.billing_account_id),
            Err(e) => return render_error(&s, &u, e).await,
        },
        _ => BillingScope::Profile(profile),
    };
    grant(&s, &u, &f, scope, &format!("/billing/profiles/{profile}")).await
}

/// Grants on the account page: the account's own roles only.
pub async fn account_grant_submit(
    State(s): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { user: u, form: f }: CsrfForm<GrantSubmit>,
) -> Response {
    let Ok(account) = BillingAccountId::parse(&id) else { return see_other("/account/billing-profile") };
    grant(&s, &u, &f, BillingScope::Account(account), &format!("/billing/accounts/{account}")).await
}

#[derive(Deserialize)]
pub struct RevokeSubmit {
    csrf: String,
    /// The page the form was on: a billing account's or a billing profile's.
    back: String,
}

impl CsrfProtected for RevokeSubmit {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn revoke_submit(
    State(s): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { user: u, form: f }: CsrfForm<RevokeSubmit>,
) -> Response {
    // Only our own pages: an id after a known prefix, never a URL of somewhere else.
    let page = match (f.back.strip_prefix("/billing/profiles/"), f.back.strip_prefix("/billing/accounts/")) {
        (Some(p), _) if BillingProfileId::parse(p).is_ok() => f.back.clone(),
        (_, Some(a)) if BillingAccountId::parse(a).is_ok() => f.back.clone(),
        _ => "/account/billing-profile".to_owned(),
    };
    let Ok(assignment) = RoleAssignmentId::parse(&id) else { return back_to(&page, "invalid") };
    match s.store.revoke_role_assignment(&u.who.cx, assignment).await {
        Ok(()) => back_to(&page, "revoked"),
        Err(e) => match code_of(&e) {
            Some(code) => back_to(&page, code),
            None => render_error(&s, &u, e).await,
        },
    }
}
