//! Role assignments on billing scopes (rule A2): listed with those inherited from above, granted and
//! revoked by owners of the scope or above; a billing account always keeps one owner.

use pb_domain::billing::BillingAction;
use pb_domain::{BillingAccountId, BillingProfileId, BillingRole, BillingScopeKind, InvoiceSectionId, RoleAssignmentId, UserId};
use serde_json::json;

use crate::access::{Grant, ScopeChain, grant_role, require_on};
use crate::audit::{NewAudit, write_audit};
use crate::db::{Tx, args};
use crate::error::corrupt;
use crate::read::{account_in_tx, profile_in_tx, section_in_tx};
use crate::{Result, Store, StoreError, Ts, UserCtx};

/// A billing scope named by its kind and id, as the API's paths name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillingScope {
    Account(BillingAccountId),
    Profile(BillingProfileId),
    Section(InvoiceSectionId),
}

/// A role held by a user on a billing scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleAssignment {
    pub id: RoleAssignmentId,
    pub user_id: UserId,
    pub role: BillingRole,
    pub scope_kind: BillingScopeKind,
    pub scope_id: String,
    pub created_at: time::OffsetDateTime,
    pub created_by: String,
}

#[derive(sqlx::FromRow)]
struct AssignmentRow {
    id: String,
    user_id: String,
    role: String,
    scope_kind: String,
    scope_id: String,
    created_at: Ts,
    created_by: String,
}

impl TryFrom<AssignmentRow> for RoleAssignment {
    type Error = StoreError;
    fn try_from(r: AssignmentRow) -> Result<Self> {
        Ok(RoleAssignment {
            id: RoleAssignmentId::parse(&r.id).map_err(|e| corrupt("role assignment id", e))?,
            user_id: UserId::parse(&r.user_id).map_err(|e| corrupt("user id", e))?,
            role: BillingRole::parse(&r.role).ok_or_else(|| corrupt("billing role", &r.role))?,
            scope_kind: BillingScopeKind::parse(&r.scope_kind).ok_or_else(|| corrupt("billing scope", &r.scope_kind))?,
            scope_id: r.scope_id,
            created_at: r.created_at.0,
            created_by: r.created_by,
        })
    }
}

const COLUMNS: &str = "id, user_id, role, scope_kind, scope_id, created_at, created_by";

/// The scope and those above it; another tenant's id is "not found" (rule H4).
async fn chain_of(tx: &mut Tx, cx: &UserCtx, scope: BillingScope) -> Result<ScopeChain> {
    Ok(match scope {
        BillingScope::Account(id) => ScopeChain::account(account_in_tx(tx, cx.tenant(), id, false).await?.id),
        BillingScope::Profile(id) => ScopeChain::profile(&profile_in_tx(tx, cx.tenant(), id).await?),
        BillingScope::Section(id) => {
            let s = section_in_tx(tx, cx.tenant(), id).await?;
            ScopeChain::section(&profile_in_tx(tx, cx.tenant(), s.billing_profile_id).await?, id)
        }
    })
}

fn scope_of(kind: BillingScopeKind, id: &str) -> Result<BillingScope> {
    let bad = |e| corrupt("role assignment scope", e);
    Ok(match kind {
        BillingScopeKind::BillingAccount => BillingScope::Account(BillingAccountId::parse(id).map_err(bad)?),
        BillingScopeKind::BillingProfile => BillingScope::Profile(BillingProfileId::parse(id).map_err(bad)?),
        BillingScopeKind::InvoiceSection => BillingScope::Section(InvoiceSectionId::parse(id).map_err(bad)?),
    })
}

async fn assignment_in_tx(tx: &mut Tx, cx: &UserCtx, id: RoleAssignmentId) -> Result<RoleAssignment> {
    let sql = format!("SELECT {COLUMNS} FROM role_assignments WHERE tenant_id = $1 AND id = $2");
    let row: Option<AssignmentRow> = tx.fetch_optional(sqlx::AssertSqlSafe(sql), args![cx.tenant(), id]).await?;
    row.ok_or(StoreError::NotFound("role assignment"))?.try_into()
}

impl Store {
    /// Whether the caller may grant and revoke roles on a scope (the pages show the forms then).
    pub async fn may_manage_roles(&self, cx: &UserCtx, scope: BillingScope) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        let chain = chain_of(&mut tx, cx, scope).await?;
        let r = require_on(&mut tx, cx, &chain, BillingAction::ManageRoles).await;
        tx.commit().await?;
        match r {
            Ok(_) => Ok(true),
            Err(StoreError::Forbidden(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The assignments on a scope and those inherited from above it, top scope first, then oldest first;
    /// whoever reads the scope reads them.
    pub async fn list_role_assignments(&self, cx: &UserCtx, scope: BillingScope) -> Result<Vec<RoleAssignment>> {
        let mut tx = self.db.begin().await?;
        let chain = chain_of(&mut tx, cx, scope).await?;
        require_on(&mut tx, cx, &chain, BillingAction::Read).await?;
        let sql = format!(
            "SELECT {COLUMNS} FROM role_assignments WHERE tenant_id = $1 AND ((scope_kind = 'billing_account' AND scope_id = $2) \
             OR (scope_kind = 'billing_profile' AND scope_id = $3) OR (scope_kind = 'invoice_section' AND scope_id = $4)) \
             ORDER BY CASE scope_kind WHEN 'billing_account' THEN 0 WHEN 'billing_profile' THEN 1 ELSE 2 END, id"
        );
        let rows: Vec<AssignmentRow> = tx
            .fetch_all(
                sqlx::AssertSqlSafe(sql),
                args![cx.tenant(), chain.account, chain.profile.map(|p| p.to_string()), chain.section.map(|s| s.to_string())],
            )
            .await?;
        tx.commit().await?;
        rows.into_iter().map(RoleAssignment::try_from).collect()
    }

    /// Grants `role` on a scope to a user of the tenant (owners of the scope or above, rule A2).
    pub async fn grant_role_assignment(
        &self,
        cx: &UserCtx,
        scope: BillingScope,
        user: UserId,
        role: BillingRole,
    ) -> Result<RoleAssignment> {
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let chain = chain_of(&mut tx, cx, scope).await?;
        require_on(&mut tx, cx, &chain, BillingAction::ManageRoles).await?;
        let (kind, scope_id) = chain.target();
        if !role.allowed_at(kind) {
            return Err(StoreError::Invalid {
                field: "role",
                code: "role_not_at_scope",
                message: format!("{} is not a role of a {}", role.as_str(), kind.as_str().replace('_', " ")),
            });
        }
        let member: Option<String> =
            tx.scalar_optional("SELECT id FROM users WHERE tenant_id = $1 AND id = $2", args![cx.tenant(), user]).await?;
        if member.is_none() {
            return Err(StoreError::Invalid {
                field: "user_id",
                code: "unknown_user",
                message: "no user of this tenant has this id".into(),
            });
        }
        let held: Option<String> = tx
            .scalar_optional(
                "SELECT id FROM role_assignments WHERE user_id = $1 AND role = $2 AND scope_kind = $3 AND scope_id = $4",
                args![user, role.as_str(), kind.as_str(), scope_id.as_str()],
            )
            .await?;
        if held.is_some() {
            return Err(StoreError::conflict("role_already_assigned", "the user already holds this role on this scope"));
        }
        let id = grant_role(&mut tx, cx, cx.tenant(), &Grant { user, role, scope: kind, scope_id: &scope_id }, now).await?;
        let a = assignment_in_tx(&mut tx, cx, id).await?;
        self.commit(tx, cx.ctx(), &a).await?;
        Ok(a)
    }

    /// Revokes an assignment (owners of its scope or above). The last owner of a billing account
    /// stays (409 `last_owner`); the account row is locked first, so two owners removing each other
    /// at once cannot leave none.
    pub async fn revoke_role_assignment(&self, cx: &UserCtx, id: RoleAssignmentId) -> Result<()> {
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let a = assignment_in_tx(&mut tx, cx, id).await?;
        let chain = chain_of(&mut tx, cx, scope_of(a.scope_kind, &a.scope_id)?).await?;
        require_on(&mut tx, cx, &chain, BillingAction::ManageRoles).await?;
        if a.role == BillingRole::Owner && a.scope_kind == BillingScopeKind::BillingAccount {
            account_in_tx(&mut tx, cx.tenant(), chain.account, true).await?;
            let owners: i64 = tx
                .scalar(
                    "SELECT COUNT(*) FROM role_assignments WHERE scope_kind = 'billing_account' AND scope_id = $1 AND role = 'owner'",
                    args![chain.account],
                )
                .await?;
            if owners <= 1 {
                return Err(StoreError::conflict(
                    "last_owner",
                    "this is the billing account's last owner; grant the owner role to someone else first",
                ));
            }
        }
        tx.execute("DELETE FROM role_assignments WHERE id = $1", args![id]).await?;
        let audit = NewAudit {
            tenant_id: Some(cx.tenant()),
            action: "role.revoke",
            target_kind: a.scope_kind.as_str(),
            target_id: a.scope_id.clone(),
            before: Some(json!({"role_assignment_id": id.to_string(), "user_id": a.user_id.to_string(), "role": a.role.as_str()})),
            after: None,
        };
        write_audit(&mut tx, cx.ctx(), now, audit).await?;
        self.commit(tx, cx.ctx(), &()).await?;
        Ok(())
    }
}
