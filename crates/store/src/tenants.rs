//! Tenants and their users.

use pb_domain::{DirectoryRole, DisplayName, EmailAddress, PartnerRole, TenantId, UserId};
use serde_json::json;

use crate::audit::{NewAudit, write_audit};
use crate::db::on;
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
struct TenantRow {
    id: String,
    name: String,
    domain: String,
    created_at: Ts,
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub tenant_id: TenantId,
    pub email: String,
    pub display_name: String,
    pub directory_roles: Vec<DirectoryRole>,
    pub partner_roles: Vec<PartnerRole>,
    pub created_at: time::OffsetDateTime,
}

impl User {
    pub fn is_global_admin(&self) -> bool {
        self.directory_roles.contains(&DirectoryRole::GlobalAdmin)
    }
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    tenant_id: String,
    email: String,
    display_name: String,
    directory_roles: String,
    partner_roles: String,
    created_at: Ts,
}

const USER_COLUMNS: &str = "id, tenant_id, email, display_name, directory_roles, partner_roles, created_at";

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<Self> {
        let directory_roles = r
            .directory_roles
            .split_whitespace()
            .map(|s| DirectoryRole::parse(s).ok_or_else(|| corrupt("directory role", s)))
            .collect::<Result<_>>()?;
        let partner_roles = r
            .partner_roles
            .split_whitespace()
            .map(|s| PartnerRole::parse(s).ok_or_else(|| corrupt("partner role", s)))
            .collect::<Result<_>>()?;
        Ok(User {
            id: UserId::parse(&r.id).map_err(|e| corrupt("user id", e))?,
            tenant_id: TenantId::parse(&r.tenant_id).map_err(|e| corrupt("tenant id", e))?,
            email: r.email,
            display_name: r.display_name,
            directory_roles,
            partner_roles,
            created_at: r.created_at.0,
        })
    }
}

/// A user provisioned by an operator.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: EmailAddress,
    pub display_name: DisplayName,
    pub directory_roles: Vec<DirectoryRole>,
    pub partner_roles: Vec<PartnerRole>,
}

/// A user as an external issuer's token describes them, recorded on first sight.
#[derive(Debug, Clone)]
pub struct SeenUser {
    pub id: UserId,
    pub email: String,
    pub display_name: String,
}

fn join_roles<'a>(roles: impl Iterator<Item = &'a str>) -> String {
    let mut v: Vec<&str> = roles.collect();
    v.sort_unstable();
    v.dedup();
    v.join(" ")
}

impl Store {
    /// Creates a tenant; the domain must be new (409 `tenant_domain_taken` otherwise).
    pub async fn create_tenant(&self, ctx: &Ctx, name: &DisplayName, domain: &str) -> Result<Tenant> {
        let id = TenantId::new();
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let inserted = on!(&mut tx, |c| {
            sqlx::query("INSERT INTO tenants (id, name, domain, created_at) VALUES ($1, $2, $3, $4)")
                .bind(id.to_string())
                .bind(name.as_str())
                .bind(domain)
                .bind(now)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        });
        if let Err(e) = inserted {
            let e = StoreError::from(e);
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
        tx.commit().await?;
        Ok(tenant)
    }

    pub async fn get_tenant(&self, id: TenantId) -> Result<Tenant> {
        let mut tx = self.db.begin().await?;
        let row: Option<TenantRow> = on!(&mut tx, |c| {
            sqlx::query_as("SELECT id, name, domain, created_at FROM tenants WHERE id = $1").bind(id.to_string()).fetch_optional(c).await?
        });
        tx.commit().await?;
        row.ok_or(StoreError::NotFound("tenant"))?.try_into()
    }

    /// Finds a tenant by id or by domain.
    pub async fn find_tenant(&self, id_or_domain: &str) -> Result<Tenant> {
        if let Ok(id) = TenantId::parse(id_or_domain) {
            return self.get_tenant(id).await;
        }
        let mut tx = self.db.begin().await?;
        let row: Option<TenantRow> = on!(&mut tx, |c| {
            sqlx::query_as("SELECT id, name, domain, created_at FROM tenants WHERE domain = $1")
                .bind(id_or_domain.trim().to_ascii_lowercase())
                .fetch_optional(c)
                .await?
        });
        tx.commit().await?;
        row.ok_or(StoreError::NotFound("tenant"))?.try_into()
    }

    pub async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        let mut tx = self.db.begin().await?;
        let rows: Vec<TenantRow> =
            on!(&mut tx, |c| sqlx::query_as("SELECT id, name, domain, created_at FROM tenants ORDER BY name, id").fetch_all(c).await?);
        tx.commit().await?;
        rows.into_iter().map(Tenant::try_from).collect()
    }

    /// Provisions a user in a tenant; an email already used in that tenant is 409 `user_email_taken`.
    pub async fn create_user(&self, ctx: &Ctx, tenant_id: TenantId, new: &NewUser) -> Result<User> {
        let id = UserId::new();
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let (tenant_exists, email_taken): (bool, bool) = on!(&mut tx, |c| {
            let t: Option<String> =
                sqlx::query_scalar("SELECT id FROM tenants WHERE id = $1").bind(tenant_id.to_string()).fetch_optional(&mut *c).await?;
            let u: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE tenant_id = $1 AND lower(email) = lower($2)")
                .bind(tenant_id.to_string())
                .bind(new.email.as_str())
                .fetch_optional(&mut *c)
                .await?;
            (t.is_some(), u.is_some())
        });
        if !tenant_exists {
            return Err(StoreError::NotFound("tenant"));
        }
        if email_taken {
            return Err(StoreError::conflict("user_email_taken", format!("a user with email {} already exists in this tenant", new.email)));
        }
        let directory_roles = join_roles(new.directory_roles.iter().map(DirectoryRole::as_str));
        let partner_roles = join_roles(new.partner_roles.iter().map(PartnerRole::as_str));
        on!(&mut tx, |c| {
            sqlx::query(
                "INSERT INTO users (id, tenant_id, email, display_name, directory_roles, partner_roles, source, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'provisioned', $7)",
            )
            .bind(id.to_string())
            .bind(tenant_id.to_string())
            .bind(new.email.as_str())
            .bind(new.display_name.as_str())
            .bind(&directory_roles)
            .bind(&partner_roles)
            .bind(now)
            .execute(c)
            .await?
            .rows_affected()
        });
        write_audit(
            &mut tx,
            ctx,
            now,
            NewAudit {
                tenant_id: Some(tenant_id),
                action: "user.create",
                target_kind: "user",
                target_id: id.to_string(),
                before: None,
                after: Some(json!({
                    "email": new.email, "display_name": new.display_name,
                    "directory_roles": directory_roles, "partner_roles": partner_roles,
                })),
            },
        )
        .await?;
        tx.commit().await?;
        let mut directory_roles = new.directory_roles.clone();
        directory_roles.dedup();
        let mut partner_roles = new.partner_roles.clone();
        partner_roles.dedup();
        Ok(User {
            id,
            tenant_id,
            email: new.email.to_string(),
            display_name: new.display_name.to_string(),
            directory_roles,
            partner_roles,
            created_at: now.0,
        })
    }

    pub async fn get_user(&self, tenant_id: TenantId, id: UserId) -> Result<User> {
        let mut tx = self.db.begin().await?;
        let row: Option<UserRow> = on!(&mut tx, |c| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2")))
                .bind(tenant_id.to_string())
                .bind(id.to_string())
                .fetch_optional(c)
                .await?
        });
        tx.commit().await?;
        row.ok_or(StoreError::NotFound("user"))?.try_into()
    }

    /// Finds a user of the tenant by id or email.
    pub async fn find_user(&self, tenant_id: TenantId, id_or_email: &str) -> Result<User> {
        if let Ok(id) = UserId::parse(id_or_email) {
            return self.get_user(tenant_id, id).await;
        }
        let mut tx = self.db.begin().await?;
        let row: Option<UserRow> = on!(&mut tx, |c| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND lower(email) = lower($2) ORDER BY created_at, id LIMIT 1"
            )))
            .bind(tenant_id.to_string())
            .bind(id_or_email.trim())
            .fetch_optional(c)
            .await?
        });
        tx.commit().await?;
        row.ok_or(StoreError::NotFound("user"))?.try_into()
    }

    pub async fn list_users(&self, tenant_id: TenantId) -> Result<Vec<User>> {
        let mut tx = self.db.begin().await?;
        let rows: Vec<UserRow> = on!(&mut tx, |c| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 ORDER BY created_at, id")))
                .bind(tenant_id.to_string())
                .fetch_all(c)
                .await?
        });
        tx.commit().await?;
        rows.into_iter().map(User::try_from).collect()
    }

    /// The user a valid token names: found, or recorded now on first sight (with an audit record).
    /// Racing first sights of the same user both end with the one row.
    pub async fn record_user_seen(&self, tenant_id: TenantId, seen: &SeenUser) -> Result<User> {
        if let Ok(u) = self.get_user(tenant_id, seen.id).await {
            return Ok(u);
        }
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let inserted = on!(&mut tx, |c| {
            sqlx::query(
                "INSERT INTO users (id, tenant_id, email, display_name, source, created_at, last_seen_at) \
                 VALUES ($1, $2, $3, $4, 'token', $5, $5) ON CONFLICT (id) DO NOTHING",
            )
            .bind(seen.id.to_string())
            .bind(tenant_id.to_string())
            .bind(&seen.email)
            .bind(&seen.display_name)
            .bind(now)
            .execute(c)
            .await?
            .rows_affected()
        });
        if inserted == 1 {
            let ctx = Ctx { actor: crate::Actor::User { user_id: seen.id, global_admin: false }, request_id: None };
            write_audit(
                &mut tx,
                &ctx,
                now,
                NewAudit {
                    tenant_id: Some(tenant_id),
                    action: "user.first_seen",
                    target_kind: "user",
                    target_id: seen.id.to_string(),
                    before: None,
                    after: Some(json!({"email": seen.email, "display_name": seen.display_name})),
                },
            )
            .await?;
        }
        tx.commit().await?;
        // A user id of another tenant is never adopted into this one.
        self.get_user(tenant_id, seen.id).await
    }
}
