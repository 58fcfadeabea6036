//! Tenants: the directories this service knows (operators provision them).

use pb_domain::{DisplayName, TenantId};
use serde_json::json;

use crate::audit::{NewAudit, write_audit};
use crate::db::args;
use crate::error::corrupt;
use crate::{Ctx, Result, Store, StoreError, Ts};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub domain: String,
    pub created_at: time::OffsetDateTime,
}

#[derive(sqlx::FromRow)]
pub(crate) struct TenantRow {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) domain: String,
    pub(crate) created_at: Ts,
}

impl TryFrom<TenantRow> for Tenant {
    type Error = StoreError;
    fn try_from(r: TenantRow) -> Result<Self> {
        Ok(Tenant {
            id: TenantId::parse(&r.id).map_err(|e| corrupt("tenant id", e))?,
            name: r.name,
            domain: r.domain,
            created_at: r.created_at.0,
        })
    }
}

impl Store {
    /// Creates a tenant; the domain must be new (409 `tenant_domain_taken` otherwise).
    pub async fn create_tenant(&self, ctx: &Ctx, name: &DisplayName, domain: &str) -> Result<Tenant> {
        let id = TenantId::new();
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let inserted = tx
            .execute("INSERT INTO tenants (id, name, domain, created_at) VALUES ($1, $2, $3, $4)", args![id, name.as_str(), domain, now])
            .await;
        if let Err(e) = inserted {
            return Err(if e.is_unique_violation() {
                StoreError::conflict("tenant_domain_taken", format!("a tenant with domain {domain} already exists"))
            } else {
                e
            });
        }
        let tenant = Tenant { id, name: name.to_string(), domain: domain.to_owned(), created_at: now.0 };
        write_audit(
            &mut tx,
            ctx,
            now,
            NewAudit {
                tenant_id: Some(id),
                action: "tenant.create",
                target_kind: "tenant",
                target_id: id.to_string(),
                before: None,
                after: Some(json!({"name": tenant.name, "domain": tenant.domain})),
            },
        )
        .await?;
        self.commit(tx, ctx, &tenant).await?;
        Ok(tenant)
    }

    pub async fn get_tenant(&self, id: TenantId) -> Result<Tenant> {
        let mut tx = self.db.begin().await?;
        let row: Option<TenantRow> = tx.fetch_optional("SELECT id, name, domain, created_at FROM tenants WHERE id = $1", args![id]).await?;
        tx.commit().await?;
        row.ok_or(StoreError::NotFound("tenant"))?.try_into()
    }

    /// Finds a tenant by id or by domain.
    pub async fn find_tenant(&self, id_or_domain: &str) -> Result<Tenant> {
        if let Ok(id) = TenantId::parse(id_or_domain) {
            return self.get_tenant(id).await;
        }
        let mut tx = self.db.begin().await?;
        let row: Option<TenantRow> = tx
            .fetch_optional(
                "SELECT id, name, domain, created_at FROM tenants WHERE domain = $1",
                args![id_or_domain.trim().to_ascii_lowercase()],
            )
            .await?;
        tx.commit().await?;
        row.ok_or(StoreError::NotFound("tenant"))?.try_into()
    }

    pub async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        let mut tx = self.db.begin().await?;
        let rows: Vec<TenantRow> = tx.fetch_all("SELECT id, name, domain, created_at FROM tenants ORDER BY name, id", args![]).await?;
        tx.commit().await?;
        rows.into_iter().map(Tenant::try_from).collect()
    }
}
