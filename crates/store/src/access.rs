//! Who may do what on billing scopes (rules A2–A4): the roles a user holds on a scope and its
//! ancestors, asked of the domain's one permission table; and granting a role.

use pb_domain::billing::{BillingAction, any_role_permits};
use pb_domain::{BillingAccountId, BillingRole, BillingScopeKind, RoleAssignmentId, TenantId, UserId};
use serde_json::json;

use crate::audit::{Authority, NewAudit, write_audit};
use crate::db::{Tx, args};
use crate::error::corrupt;
use crate::model::BillingProfile;
use crate::{Result, StoreError, Ts, UserCtx};

/// The billing roles `user` holds on the given scopes (a scope and its ancestors, rule A2).
async fn roles_on(tx: &mut Tx, user: UserId, scopes: &[(BillingScopeKind, String)]) -> Result<Vec<BillingRole>> {
    let mut roles = Vec::new();
    for (kind, id) in scopes {
        let rows: Vec<String> = tx
            .scalars(
                "SELECT role FROM role_assignments WHERE user_id = $1 AND scope_kind = $2 AND scope_id = $3",
                args![user, kind.as_str(), id.as_str()],
            )
            .await?;
        for r in rows {
            roles.push(BillingRole::parse(&r).ok_or_else(|| corrupt("billing role", &r))?);
        }
    }
    Ok(roles)
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
    let roles = roles_on(tx, cx.user_id(), &[(BillingScopeKind::BillingAccount, account.to_string())]).await?;
    if any_role_permits(&roles, action) {
        return Ok(Authority::Role);
    }
    match (cx.is_global_admin(), action, flow) {
        (true, BillingAction::Read, _) => Ok(Authority::GlobalAdminReads),
        (true, _, Flow::LinkFlow) => Ok(Authority::GlobalAdminAsOwner),
        _ => Err(forbidden(action, "billing account")),
    }
}

/// Checks `action` on a profile, by roles on it or its account (rule A2); global admins read all (A3).
pub(crate) async fn require_on_profile(tx: &mut Tx, cx: &UserCtx, profile: &BillingProfile, action: BillingAction) -> Result<()> {
    if cx.is_global_admin() && action == BillingAction::Read {
        return Ok(());
    }
    let scopes = [
        (BillingScopeKind::BillingAccount, profile.billing_account_id.to_string()),
        (BillingScopeKind::BillingProfile, profile.id.to_string()),
    ];
    let roles = roles_on(tx, cx.user_id(), &scopes).await?;
    if any_role_permits(&roles, action) { Ok(()) } else { Err(forbidden(action, "billing profile")) }
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
pub(crate) async fn grant_role(tx: &mut Tx, cx: &UserCtx, tenant: TenantId, g: &Grant<'_>, at: Ts) -> Result<()> {
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
    .await
}
