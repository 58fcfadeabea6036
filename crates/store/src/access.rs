//! Who may do what on billing scopes (rules A2–A4): the roles a user holds on a scope and its
//! ancestors, asked of the domain's one permission table; and granting a role.

use pb_domain::billing::{BillingAction, any_role_permits};
use std::collections::HashMap;

use pb_domain::{BillingAccountId, BillingProfileId, BillingRole, BillingScopeKind, InvoiceSectionId, RoleAssignmentId, TenantId, UserId};
use serde_json::json;

use crate::audit::{Authority, NewAudit, write_audit};
use crate::db::{Tx, args};
use crate::error::corrupt;
use crate::model::{BillingAccountWithProfiles, BillingProfile};
use crate::{Result, StoreError, Ts, UserCtx};

/// The billing roles a user holds, by scope: one query per use case, however many scopes it asks
/// about (rule A2).
pub(crate) struct Grants {
    global_admin: bool,
    by_scope: HashMap<(BillingScopeKind, String), Vec<BillingRole>>,
}

impl Grants {
    pub(crate) async fn load(tx: &mut Tx, cx: &UserCtx) -> Result<Grants> {
        let rows: Vec<(String, String, String)> = tx
            .fetch_all(
                "SELECT role, scope_kind, scope_id FROM role_assignments WHERE tenant_id = $1 AND user_id = $2",
                args![cx.tenant(), cx.user_id()],
            )
            .await?;
        let mut by_scope: HashMap<(BillingScopeKind, String), Vec<BillingRole>> = HashMap::new();
        for (role, kind, id) in rows {
            let role = BillingRole::parse(&role).ok_or_else(|| corrupt("billing role", &role))?;
            let kind = BillingScopeKind::parse(&kind).ok_or_else(|| corrupt("billing scope", &kind))?;
            by_scope.entry((kind, id)).or_default().push(role);
        }
        Ok(Grants { global_admin: cx.is_global_admin(), by_scope })
    }

    fn at(&self, kind: BillingScopeKind, id: &str) -> &[BillingRole] {
        self.by_scope.get(&(kind, id.to_owned())).map_or(&[], Vec::as_slice)
    }

    /// The roles that apply on a scope: those held on it and on every scope above it (rule A2).
    pub(crate) fn on(&self, chain: &ScopeChain) -> Vec<BillingRole> {
        let mut roles = self.at(BillingScopeKind::BillingAccount, &chain.account.to_string()).to_vec();
        if let Some(p) = chain.profile {
            roles.extend_from_slice(self.at(BillingScopeKind::BillingProfile, &p.to_string()));
        }
        if let Some(s) = chain.section {
            roles.extend_from_slice(self.at(BillingScopeKind::InvoiceSection, &s.to_string()));
        }
        roles
    }

    /// Whether the caller reads the whole of a profile: a role on it or its account, or a global admin
    /// (rule A3).
    fn reads_profile(&self, p: &BillingProfile) -> bool {
        self.global_admin || !self.on(&ScopeChain::profile(p)).is_empty()
    }

    /// A profile as the caller may see it: whole, or with only the sections they hold a role on;
    /// `None` when they may see nothing of it ("a reader of one profile does not see its siblings").
    pub(crate) fn trim_profile(&self, mut p: BillingProfile) -> Option<BillingProfile> {
        if self.reads_profile(&p) {
            return Some(p);
        }
        p.invoice_sections.retain(|s| !self.at(BillingScopeKind::InvoiceSection, &s.id.to_string()).is_empty());
        (!p.invoice_sections.is_empty()).then_some(p)
    }

    /// An account as the caller may see it: whole for a global admin or a role holder on it; else
    /// with the profiles (and sections) they hold a role on; `None` when nothing of it is theirs.
    pub(crate) fn trim_account(&self, mut a: BillingAccountWithProfiles) -> Option<BillingAccountWithProfiles> {
        if self.global_admin || !self.at(BillingScopeKind::BillingAccount, &a.account.id.to_string()).is_empty() {
            return Some(a);
        }
        a.profiles = std::mem::take(&mut a.profiles).into_iter().filter_map(|p| self.trim_profile(p)).collect();
        (!a.profiles.is_empty()).then_some(a)
    }
}

/// A billing scope and the scopes above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ScopeChain {
    pub account: BillingAccountId,
    pub profile: Option<BillingProfileId>,
    pub section: Option<InvoiceSectionId>,
}

impl ScopeChain {
    pub(crate) fn account(account: BillingAccountId) -> ScopeChain {
        ScopeChain { account, profile: None, section: None }
    }

    pub(crate) fn profile(p: &BillingProfile) -> ScopeChain {
        ScopeChain { account: p.billing_account_id, profile: Some(p.id), section: None }
    }

    pub(crate) fn section(p: &BillingProfile, s: InvoiceSectionId) -> ScopeChain {
        ScopeChain { account: p.billing_account_id, profile: Some(p.id), section: Some(s) }
    }

    /// The scope itself: the lowest of the chain.
    pub(crate) fn target(&self) -> (BillingScopeKind, String) {
        match (self.profile, self.section) {
            (_, Some(s)) => (BillingScopeKind::InvoiceSection, s.to_string()),
            (Some(p), None) => (BillingScopeKind::BillingProfile, p.to_string()),
            (None, None) => (BillingScopeKind::BillingAccount, self.account.to_string()),
        }
    }
}

/// Checks `action` on a scope by the roles held on it and above (rule A2); global admins read every
/// scope of their tenant (rule A3).
pub(crate) async fn require_on(tx: &mut Tx, cx: &UserCtx, chain: &ScopeChain, action: BillingAction) -> Result<Authority> {
    let grants = Grants::load(tx, cx).await?;
    if any_role_permits(&grants.on(chain), action) {
        return Ok(Authority::Role);
    }
    if cx.is_global_admin() && action == BillingAction::Read {
        return Ok(Authority::GlobalAdminReads);
    }
    let what = match chain.target().0 {
        BillingScopeKind::BillingAccount => "billing account",
        BillingScopeKind::BillingProfile => "billing profile",
        BillingScopeKind::InvoiceSection => "invoice section",
    };
    Err(forbidden(action, what))
}

/// Whether a use case is a step of the link flow (rule A3: the only place a global admin acts as
/// owner of someone else's billing account).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    LinkFlow,
    Direct,
}

/// Checks `action` on an account: a role of the caller (rule A2); failing that, global admins read
/// every account of their tenant and act as owner inside the link flow (rule A3).
pub(crate) async fn require_on_account(
    tx: &mut Tx,
    cx: &UserCtx,
    account: BillingAccountId,
    action: BillingAction,
    flow: Flow,
) -> Result<Authority> {
    match require_on(tx, cx, &ScopeChain::account(account), action).await {
        Err(StoreError::Forbidden(_)) if cx.is_global_admin() && flow == Flow::LinkFlow => Ok(Authority::GlobalAdminAsOwner),
        other => other,
    }
}

/// Checks `action` on a profile, by roles on it or its account (rule A2); global admins read all (A3).
pub(crate) async fn require_on_profile(tx: &mut Tx, cx: &UserCtx, profile: &BillingProfile, action: BillingAction) -> Result<()> {
    require_on(tx, cx, &ScopeChain::profile(profile), action).await.map(|_| ())
}

fn forbidden(action: BillingAction, what: &str) -> StoreError {
    let need = match action {
        BillingAction::Read => "a billing role",
        BillingAction::Manage => "the owner or contributor role",
        BillingAction::ManageRoles | BillingAction::AcceptAgreement => "the owner role",
        BillingAction::PayInvoices => "the owner, contributor or invoice manager role",
        BillingAction::CreateSubscriptions => "the subscription creator role",
    };
    StoreError::Forbidden(format!("this needs {need} on the {what}"))
}

/// Rules A1/P1: only a global admin links or changes the link.
pub(crate) fn require_global_admin(cx: &UserCtx) -> Result<()> {
    if cx.is_global_admin() { Ok(()) } else { Err(StoreError::GlobalAdminRequired) }
}

/// A role to grant on a scope.
pub(crate) struct Grant<'a> {
    pub user: UserId,
    pub role: BillingRole,
    pub scope: BillingScopeKind,
    pub scope_id: &'a str,
}

/// Grants a role, with its audit record, in the caller's transaction.
pub(crate) async fn grant_role(tx: &mut Tx, cx: &UserCtx, tenant: TenantId, g: &Grant<'_>, at: Ts) -> Result<RoleAssignmentId> {
    let Grant { user, role, scope, scope_id } = *g;
    let id = RoleAssignmentId::new();
    tx.execute(
        "INSERT INTO role_assignments (id, tenant_id, user_id, role, scope_kind, scope_id, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        args![id, tenant, user, role.as_str(), scope.as_str(), scope_id, cx.ctx().actor.id(), at],
    )
    .await?;
    write_audit(
        tx,
        cx.ctx(),
        at,
        NewAudit {
            tenant_id: Some(tenant),
            action: "role.grant",
            target_kind: scope.as_str(),
            target_id: scope_id.to_owned(),
            before: None,
            after: Some(json!({"role_assignment_id": id.to_string(), "user_id": user.to_string(), "role": role.as_str()})),
        },
    )
    .await?;
    Ok(id)
}
