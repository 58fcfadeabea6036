//! Invoice sections of a profile: added, renamed, and removed while empty, never the last one
//! (rules H2, H3).

use pb_domain::billing::BillingAction;
use pb_domain::{BillingProfileId, DisplayName, InvoiceSectionId, TenantId};
use serde_json::json;

use crate::access::{ScopeChain, require_on, require_on_profile};
use crate::audit::{NewAudit, write_audit};
use crate::db::{Tx, args};
use crate::model::InvoiceSection;
use crate::read::{profile_in_tx, section_in_tx};
use crate::{Result, Store, StoreError, Ts, UserCtx};

pub(crate) async fn insert_section(tx: &mut Tx, tenant: TenantId, s: &InvoiceSection, now: Ts) -> Result<()> {
    tx.execute(
        "INSERT INTO invoice_sections (id, tenant_id, billing_profile_id, display_name, is_default, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
        args![s.id, tenant, s.billing_profile_id, s.display_name.as_str(), s.is_default, now],
    )
    .await?;
    Ok(())
}

impl Store {
    /// Adds an invoice section to a profile (rule H2).
    pub async fn create_invoice_section(&self, cx: &UserCtx, profile: BillingProfileId, name: &DisplayName) -> Result<InvoiceSection> {
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let p = profile_in_tx(&mut tx, cx.tenant(), profile).await?;
        require_on_profile(&mut tx, cx, &p, BillingAction::Manage).await?;
        let s = InvoiceSection {
            id: InvoiceSectionId::new(),
            billing_profile_id: profile,
            display_name: name.to_string(),
            is_default: false,
            created_at: now.0,
        };
        insert_section(&mut tx, cx.tenant(), &s, now).await?;
        let audit = NewAudit {
            tenant_id: Some(cx.tenant()),
            action: "invoice_section.create",
            target_kind: "invoice_section",
            target_id: s.id.to_string(),
            before: None,
            after: Some(json!({"billing_profile_id": profile.to_string(), "display_name": s.display_name})),
        };
        write_audit(&mut tx, cx.ctx(), now, audit).await?;
        self.commit(tx, cx.ctx(), &s).await?;
        Ok(s)
    }

    pub async fn rename_invoice_section(&self, cx: &UserCtx, id: InvoiceSectionId, name: &DisplayName) -> Result<InvoiceSection> {
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let before = section_in_tx(&mut tx, cx.tenant(), id).await?;
        let p = profile_in_tx(&mut tx, cx.tenant(), before.billing_profile_id).await?;
        // An owner or contributor of the section itself may rename it (rule A2).
        require_on(&mut tx, cx, &ScopeChain::section(&p, id), BillingAction::Manage).await?;
        tx.execute("UPDATE invoice_sections SET display_name = $2, updated_at = $3 WHERE id = $1", args![id, name.as_str(), now]).await?;
        let audit = NewAudit {
            tenant_id: Some(cx.tenant()),
            action: "invoice_section.rename",
            target_kind: "invoice_section",
            target_id: id.to_string(),
            before: Some(json!({"display_name": before.display_name})),
            after: Some(json!({"display_name": name})),
        };
        write_audit(&mut tx, cx.ctx(), now, audit).await?;
        let after = InvoiceSection { display_name: name.to_string(), ..before };
        self.commit(tx, cx.ctx(), &after).await?;
        Ok(after)
    }

    /// Removes an invoice section: never the last one of its profile (rule H2), never one holding
    /// charges (rule H3).
    pub async fn delete_invoice_section(&self, cx: &UserCtx, id: InvoiceSectionId) -> Result<()> {
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let s = section_in_tx(&mut tx, cx.tenant(), id).await?;
        // The profile row is locked before its sections are counted: two deletes of a profile's last
        // two sections queue here instead of both seeing two (rule H2).
        let lock = format!("SELECT id FROM billing_profiles WHERE id = $1{}", tx.for_update());
        let _: Option<String> = tx.scalar_optional(sqlx::AssertSqlSafe(lock), args![s.billing_profile_id]).await?;
        let p = profile_in_tx(&mut tx, cx.tenant(), s.billing_profile_id).await?;
        require_on_profile(&mut tx, cx, &p, BillingAction::Manage).await?;
        let holds: Option<String> = tx.scalar_optional("SELECT id FROM purchases WHERE invoice_section_id = $1 LIMIT 1", args![id]).await?;
        if holds.is_some() {
            return Err(StoreError::conflict(
                "invoice_section_not_empty",
                "this invoice section holds purchases; it stays so that their invoices keep their grouping",
            ));
        }
        if p.invoice_sections.len() <= 1 {
            return Err(StoreError::conflict(
                "last_invoice_section",
                "a billing profile keeps at least one invoice section; this is its last",
            ));
        }
        tx.execute("DELETE FROM invoice_sections WHERE id = $1", args![id]).await?;
        if s.is_default {
            // The oldest remaining section takes over as the default.
            tx.execute(
                "UPDATE invoice_sections SET is_default = TRUE WHERE id = (SELECT MIN(id) FROM invoice_sections WHERE billing_profile_id = $1)",
                args![p.id],
            )
            .await?;
        }
        let audit = NewAudit {
            tenant_id: Some(cx.tenant()),
            action: "invoice_section.delete",
            target_kind: "invoice_section",
            target_id: id.to_string(),
            before: Some(json!({"billing_profile_id": p.id.to_string(), "display_name": s.display_name, "is_default": s.is_default})),
            after: None,
        };
        write_audit(&mut tx, cx.ctx(), now, audit).await?;
        self.commit(tx, cx.ctx(), &()).await
    }
}
