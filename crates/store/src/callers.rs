//! Who is calling, resolved once per API request: the tenant a token names and its user with their
//! roles, read in one statement. Every API call pays this, so it is one round trip, not the two
//! transactions (tenant, then user and roles) it was; the write of a first sighting or of changed
//! directory roles happens only when the read shows it is needed.

use pb_domain::{DirectoryRole, PartnerRole, TenantId, UserId, UserRoles};

use crate::db::args;
use crate::error::corrupt;
use crate::model::User;
use crate::tenants::TenantRow;
use crate::users::role_names;
use crate::{Result, SeenUser, Store, StoreError, Tenant, Ts};

#[derive(sqlx::FromRow)]
struct CallerRow {
    t_id: String,
    t_name: String,
    t_domain: String,
    t_created_at: Ts,
    u_id: Option<String>,
    u_email: Option<String>,
    u_display_name: Option<String>,
    u_created_at: Option<Ts>,
    r_source: Option<String>,
    r_role: Option<String>,
}

/// One row per role of the user (at least one row when the tenant exists).
const CALLER_SQL: &str = "SELECT t.id AS t_id, t.name AS t_name, t.domain AS t_domain, t.created_at AS t_created_at, \
       u.id AS u_id, u.email AS u_email, u.display_name AS u_display_name, u.created_at AS u_created_at, \
       r.source AS r_source, r.role AS r_role \
     FROM tenants t \
     LEFT JOIN users u ON u.tenant_id = t.id AND u.id = $2 \
     LEFT JOIN ( \
       SELECT CAST('directory' AS TEXT) AS source, role FROM user_directory_roles WHERE tenant_id = $1 AND user_id = $2 \
       UNION ALL \
       SELECT CAST('partner' AS TEXT) AS source, role FROM user_partner_roles WHERE tenant_id = $1 AND user_id = $2 \
     ) r ON u.id IS NOT NULL \
     WHERE t.id = $1 \
     ORDER BY r_source, r_role";

impl Store {
    /// The tenant and its user as a valid token describes them: `NotFound("tenant")` for a tenant
    /// this service does not know, `NotFound("user")` for a user id of another tenant; a first
    /// sighting or changed directory roles are recorded (see [`Store::record_user_seen`]).
    pub async fn resolve_seen_user(&self, tenant_id: TenantId, seen: &SeenUser) -> Result<(Tenant, User)> {
        let Some((tenant, user)) = self.caller(tenant_id, seen.id).await? else { return Err(StoreError::NotFound("tenant")) };
        if let Some(user) = user
            && role_names(&user.roles.directory, DirectoryRole::as_str) == role_names(&seen.directory_roles, DirectoryRole::as_str)
        {
            return Ok((tenant, user));
        }
        let user = self.record_user_seen(tenant_id, seen).await?;
        Ok((tenant, user))
    }
}

impl Store {
    /// The tenant and its user (with their roles) of a web session, if both still exist: one read.
    pub async fn session_user(&self, tenant_id: TenantId, user_id: UserId) -> Result<Option<(Tenant, User)>> {
        Ok(self.caller(tenant_id, user_id).await?.and_then(|(t, u)| u.map(|u| (t, u))))
    }

    async fn caller(&self, tenant_id: TenantId, user_id: UserId) -> Result<Option<(Tenant, Option<User>)>> {
        let rows: Vec<CallerRow> = self.db.read_all(CALLER_SQL, args![tenant_id, user_id]).await?;
        let Some(first) = rows.first() else { return Ok(None) };
        let tenant = Tenant::try_from(TenantRow {
            id: first.t_id.clone(),
            name: first.t_name.clone(),
            domain: first.t_domain.clone(),
            created_at: first.t_created_at,
        })?;
        Ok(Some((tenant, user_of_rows(tenant_id, &rows)?)))
    }
}

fn user_of_rows(tenant_id: TenantId, rows: &[CallerRow]) -> Result<Option<User>> {
    let Some(first) = rows.first() else { return Ok(None) };
    let (Some(id), Some(email), Some(display_name), Some(created_at)) =
        (&first.u_id, &first.u_email, &first.u_display_name, first.u_created_at)
    else {
        return Ok(None);
    };
    let mut roles = UserRoles::default();
    for r in rows {
        match (r.r_source.as_deref(), r.r_role.as_deref()) {
            (Some("directory"), Some(role)) => {
                roles.directory.push(DirectoryRole::parse(role).ok_or_else(|| corrupt("directory role", role))?)
            }
            (Some(_), Some(role)) => roles.partner.push(PartnerRole::parse(role).ok_or_else(|| corrupt("partner role", role))?),
            _ => {}
        }
    }
    Ok(Some(User {
        id: UserId::parse(id).map_err(|e| corrupt("user id", e))?,
        tenant_id,
        email: email.clone(),
        display_name: display_name.clone(),
        roles,
        created_at: created_at.0,
    }))
}
