//! Users of a tenant and their directory and partner roles. Roles are rows (`user_directory_roles`,
//! `user_partner_roles`) that queries join, and the one source of rule A1: directory roles are
//! refreshed from the identity provider's token (`wids`) whenever a user is seen; partner roles are
//! set by operators.

use std::collections::HashMap;

use pb_domain::{DirectoryRole, DisplayName, EmailAddress, PartnerRole, TenantId, UserId, UserRoles};
use serde_json::json;

use crate::audit::{NewAudit, write_audit};
use crate::db::{Tx, args};
use crate::error::corrupt;
use crate::model::User;
use crate::{Actor, Ctx, Result, Store, StoreError, Ts};

#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    tenant_id: String,
    email: String,
    display_name: String,
    created_at: Ts,
}

const USER_COLUMNS: &str = "id, tenant_id, email, display_name, created_at";

#[derive(sqlx::FromRow)]
struct RoleRow {
    user_id: String,
    source: String,
    role: String,
}

/// The roles of the tenant's users (or of one user): one query.
async fn roles_in_tx(tx: &mut Tx, tenant: TenantId, user: Option<UserId>) -> Result<HashMap<String, UserRoles>> {
    let rows: Vec<RoleRow> = tx
        .fetch_all(
            "SELECT user_id, CAST('directory' AS TEXT) AS source, role FROM user_directory_roles \
               WHERE tenant_id = $1 AND ($2 IS NULL OR user_id = $2) \
             UNION ALL \
             SELECT user_id, CAST('partner' AS TEXT) AS source, role FROM user_partner_roles \
               WHERE tenant_id = $1 AND ($2 IS NULL OR user_id = $2) \
             ORDER BY 1, 2, 3",
            args![tenant, user.map(|u| u.to_string())],
        )
        .await?;
    let mut out: HashMap<String, UserRoles> = HashMap::new();
    for r in rows {
        let roles = out.entry(r.user_id).or_default();
        match r.source.as_str() {
            "directory" => roles.directory.push(DirectoryRole::parse(&r.role).ok_or_else(|| corrupt("directory role", &r.role))?),
            _ => roles.partner.push(PartnerRole::parse(&r.role).ok_or_else(|| corrupt("partner role", &r.role))?),
        }
    }
    Ok(out)
}

fn user_of(r: UserRow, roles: &mut HashMap<String, UserRoles>) -> Result<User> {
    Ok(User {
        id: UserId::parse(&r.id).map_err(|e| corrupt("user id", e))?,
        tenant_id: TenantId::parse(&r.tenant_id).map_err(|e| corrupt("tenant id", e))?,
        roles: roles.remove(&r.id).unwrap_or_default(),
        email: r.email,
        display_name: r.display_name,
        created_at: r.created_at.0,
    })
}

async fn user_in_tx(tx: &mut Tx, tenant: TenantId, id: UserId) -> Result<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2");
    let Some(row) = tx.fetch_optional::<UserRow>(sqlx::AssertSqlSafe(sql), args![tenant, id]).await? else { return Ok(None) };
    let mut roles = roles_in_tx(tx, tenant, Some(id)).await?;
    user_of(row, &mut roles).map(Some)
}

pub(crate) fn role_names<T>(roles: &[T], name: impl Fn(&T) -> &'static str) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = roles.iter().map(name).collect();
    v.sort_unstable();
    v.dedup();
    v
}

async fn insert_roles(tx: &mut Tx, tenant: TenantId, user: UserId, table: &'static str, roles: &[&'static str]) -> Result<()> {
    let sql = match table {
        "directory" => "INSERT INTO user_directory_roles (user_id, tenant_id, role) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        _ => "INSERT INTO user_partner_roles (user_id, tenant_id, role) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    };
    for r in roles {
        tx.execute(sql, args![user, tenant, *r]).await?;
    }
    Ok(())
}

/// A user provisioned by an operator.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: EmailAddress,
    pub display_name: DisplayName,
    pub directory_roles: Vec<DirectoryRole>,
    pub partner_roles: Vec<PartnerRole>,
}

/// A user as a valid token describes them; recorded on first sight, directory roles refreshed.
#[derive(Debug, Clone)]
pub struct SeenUser {
    pub id: UserId,
    pub email: String,
    pub display_name: String,
    /// From the token's `wids` (rule A1).
    pub directory_roles: Vec<DirectoryRole>,
}

impl Store {
    /// Provisions a user in a tenant; an email already used in that tenant is 409 `user_email_taken`.
    pub async fn create_user(&self, ctx: &Ctx, tenant_id: TenantId, new: &NewUser) -> Result<User> {
        let id = UserId::new();
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        // The tenant's row lock orders user creation in it: the email check below and the insert
        // are then one step for two racing requests (there is no unique index on the email).
        let lock = format!("SELECT id FROM tenants WHERE id = $1{}", tx.for_update());
        let tenant_exists: Option<String> = tx.scalar_optional(sqlx::AssertSqlSafe(lock), args![tenant_id]).await?;
        if tenant_exists.is_none() {
            return Err(StoreError::NotFound("tenant"));
        }
        let taken: Option<String> = tx
            .scalar_optional("SELECT id FROM users WHERE tenant_id = $1 AND lower(email) = lower($2)", args![tenant_id, new.email.as_str()])
            .await?;
        if taken.is_some() {
            return Err(StoreError::conflict("user_email_taken", format!("a user with email {} already exists in this tenant", new.email)));
        }
        tx.execute(
            "INSERT INTO users (id, tenant_id, email, display_name, source, created_at) VALUES ($1, $2, $3, $4, 'provisioned', $5)",
            args![id, tenant_id, new.email.as_str(), new.display_name.as_str(), now],
        )
        .await?;
        let directory = role_names(&new.directory_roles, DirectoryRole::as_str);
        let partner = role_names(&new.partner_roles, PartnerRole::as_str);
        insert_roles(&mut tx, tenant_id, id, "directory", &directory).await?;
        insert_roles(&mut tx, tenant_id, id, "partner", &partner).await?;
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
                    "directory_roles": directory, "partner_roles": partner,
                })),
            },
        )
        .await?;
        let user = user_in_tx(&mut tx, tenant_id, id).await?.ok_or(StoreError::NotFound("user"))?;
        self.commit(tx, ctx, &user).await?;
        Ok(user)
    }

    pub async fn get_user(&self, tenant_id: TenantId, id: UserId) -> Result<User> {
        let mut tx = self.db.begin().await?;
        let user = user_in_tx(&mut tx, tenant_id, id).await?;
        tx.commit().await?;
        user.ok_or(StoreError::NotFound("user"))
    }

    /// Finds a user of the tenant by id or email.
    pub async fn find_user(&self, tenant_id: TenantId, id_or_email: &str) -> Result<User> {
        if let Ok(id) = UserId::parse(id_or_email) {
            return self.get_user(tenant_id, id).await;
        }
        let mut tx = self.db.begin().await?;
        let id: Option<String> = tx
            .scalar_optional(
                "SELECT id FROM users WHERE tenant_id = $1 AND lower(email) = lower($2) ORDER BY created_at, id LIMIT 1",
                args![tenant_id, id_or_email.trim()],
            )
            .await?;
        tx.commit().await?;
        let id = id.ok_or(StoreError::NotFound("user"))?;
        self.get_user(tenant_id, UserId::parse(&id).map_err(|e| corrupt("user id", e))?).await
    }

    pub async fn list_users(&self, tenant_id: TenantId) -> Result<Vec<User>> {
        let mut tx = self.db.begin().await?;
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 ORDER BY created_at, id");
        let rows: Vec<UserRow> = tx.fetch_all(sqlx::AssertSqlSafe(sql), args![tenant_id]).await?;
        let mut roles = roles_in_tx(&mut tx, tenant_id, None).await?;
        tx.commit().await?;
        rows.into_iter().map(|r| user_of(r, &mut roles)).collect()
    }

    /// The user a valid token names: recorded on first sight, and with the directory roles the token
    /// carries (rule A1's one source of truth is the stored rows; the identity provider is the
    /// authority on them). A user already known with the same roles costs one read, no write.
    /// Racing first sights of the same user both end with the one row.
    pub async fn record_user_seen(&self, tenant_id: TenantId, seen: &SeenUser) -> Result<User> {
        let wanted = role_names(&seen.directory_roles, DirectoryRole::as_str);
        let known = self.get_user(tenant_id, seen.id).await;
        if let Ok(u) = &known
            && role_names(&u.roles.directory, DirectoryRole::as_str) == wanted
        {
            return known;
        }
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let ctx = Ctx {
            actor: Actor::User { user_id: seen.id, global_admin: wanted.contains(&"global_admin") },
            request_id: None,
            completion: None,
        };
        let inserted = tx
            .execute(
                "INSERT INTO users (id, tenant_id, email, display_name, source, created_at, last_seen_at) \
                 VALUES ($1, $2, $3, $4, 'token', $5, $5) ON CONFLICT (id) DO NOTHING",
                args![seen.id, tenant_id, seen.email.as_str(), seen.display_name.as_str(), now],
            )
            .await?;
        if inserted == 1 {
            insert_roles(&mut tx, tenant_id, seen.id, "directory", &wanted).await?;
            let after = json!({"email": seen.email, "display_name": seen.display_name, "directory_roles": wanted});
            let audit = NewAudit {
                tenant_id: Some(tenant_id),
                action: "user.first_seen",
                target_kind: "user",
                target_id: seen.id.to_string(),
                before: None,
                after: Some(after),
            };
            write_audit(&mut tx, &ctx, now, audit).await?;
        } else {
            // A user id of another tenant is never adopted into this one.
            let before = user_in_tx(&mut tx, tenant_id, seen.id).await?.ok_or(StoreError::NotFound("user"))?;
            let had = role_names(&before.roles.directory, DirectoryRole::as_str);
            if had != wanted {
                tx.execute("DELETE FROM user_directory_roles WHERE user_id = $1", args![seen.id]).await?;
                insert_roles(&mut tx, tenant_id, seen.id, "directory", &wanted).await?;
                let audit = NewAudit {
                    tenant_id: Some(tenant_id),
                    action: "user.directory_roles_refresh",
                    target_kind: "user",
                    target_id: seen.id.to_string(),
                    before: Some(json!({"directory_roles": had})),
                    after: Some(json!({"directory_roles": wanted})),
                };
                write_audit(&mut tx, &ctx, now, audit).await?;
            }
        }
        let user = user_in_tx(&mut tx, tenant_id, seen.id).await?.ok_or(StoreError::NotFound("user"))?;
        tx.commit().await?;
        Ok(user)
    }
}
