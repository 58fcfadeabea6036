//! Bulk data for the link storm benchmark (W1 of issue 11): many tenants, each with an active
//! partner account and one global admin, ready for the create-new flow. Written straight into the
//! tables in large statements, because provisioning ten thousand tenants through the use cases
//! would take longer than the measurement itself.

use pb_domain::{PartnerAccountId, TenantId, UserId};

use crate::db::{Arg, args};
use crate::{Result, Store};

/// One tenant of the storm and the global admin who links it.
#[derive(Debug, Clone, Copy)]
pub struct LinkTenant {
    pub tenant: TenantId,
    pub admin: UserId,
}

const LEGAL_PROFILE: &str = r#"{"company_name":"Storm Ltd","sold_to":{"address_line1":"1 Main St","city":"Redmond","region":"WA","postal_code":"98052","country":"US"}}"#;

/// Rows per statement: well under either database's limit on parameters.
const CHUNK: usize = 500;

/// Seeds `n` tenants, each with an active partner account (legal profile in the US) and a global
/// admin (`admin@storm-{i}.example`), no billing account yet.
pub async fn seed_link_tenants(store: &Store, n: usize) -> Result<Vec<LinkTenant>> {
    let now = store.now();
    let tenants: Vec<LinkTenant> = (0..n).map(|_| LinkTenant { tenant: TenantId::new(), admin: UserId::new() }).collect();
    let mut tx = store.db.begin_write().await?;
    for (c, chunk) in tenants.chunks(CHUNK).enumerate() {
        let rows =
            |per: usize, shape: &dyn Fn(usize) -> String| (0..chunk.len()).map(|i| shape(2 + i * per)).collect::<Vec<_>>().join(", ");
        let index = |i: usize| c * CHUNK + i;

        let mut a: Vec<Arg> = args![now];
        for (i, t) in chunk.iter().enumerate() {
            a.extend(args![t.tenant, format!("Storm {}", index(i)), format!("storm-{}.example", index(i))]);
        }
        let sql = format!(
            "INSERT INTO tenants (id, name, domain, created_at) VALUES {}",
            rows(3, &|b| format!("(${b}, ${}, ${}, $1)", b + 1, b + 2))
        );
        tx.execute(sqlx::AssertSqlSafe(sql), a).await?;

        let mut a: Vec<Arg> = args![now];
        for (i, t) in chunk.iter().enumerate() {
            a.extend(args![PartnerAccountId::new(), t.tenant, format!("{}", 5_000_000 + index(i)), LEGAL_PROFILE]);
        }
        let sql = format!(
            "INSERT INTO partner_accounts (id, tenant_id, partner_id, name, state, legal_profile, link_version, created_at, updated_at) VALUES {}",
            rows(4, &|b| format!("(${b}, ${}, ${}, 'Storm', 'active', ${}, 0, $1, $1)", b + 1, b + 2, b + 3))
        );
        tx.execute(sqlx::AssertSqlSafe(sql), a).await?;

        let mut a: Vec<Arg> = args![now];
        for (i, t) in chunk.iter().enumerate() {
            a.extend(args![t.admin, t.tenant, format!("admin@storm-{}.example", index(i))]);
        }
        let sql = format!(
            "INSERT INTO users (id, tenant_id, email, display_name, source, created_at) VALUES {}",
            rows(3, &|b| format!("(${b}, ${}, ${}, 'Storm admin', 'provisioned', $1)", b + 1, b + 2))
        );
        tx.execute(sqlx::AssertSqlSafe(sql), a).await?;

        let mut a: Vec<Arg> = args![now];
        for t in chunk {
            a.extend(args![t.admin, t.tenant]);
        }
        let sql = format!(
            "INSERT INTO user_directory_roles (user_id, tenant_id, role) VALUES {}",
            rows(2, &|b| format!("(${b}, ${}, 'global_admin')", b + 1))
        );
        tx.execute(sqlx::AssertSqlSafe(sql), a).await?;
    }
    tx.commit().await?;
    let mut tx = store.db.begin_write().await?;
    for table in ["tenants", "partner_accounts", "users", "user_directory_roles"] {
        tx.execute(sqlx::AssertSqlSafe(format!("ANALYZE {table}")), args![]).await?;
    }
    tx.commit().await?;
    Ok(tenants)
}
