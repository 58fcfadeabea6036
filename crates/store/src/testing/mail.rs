//! Emails in the outbox, made by the real use cases: a tenant with many global admins whose partner
//! account becomes active queues one link prompt (rule T1) per admin, in one transaction.

use pb_domain::{AddressInput, DirectoryRole, DisplayName, EmailAddress, LegalProfileInput, PartnerAccountState, TenantId};

use crate::{Ctx, NewUser, PutPartnerAccount, Result, Store, StoreError};

fn parse<T, E: std::fmt::Display>(r: std::result::Result<T, E>) -> Result<T> {
    r.map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A tenant with `admins` global admins (`admin-N@<domain>`), and no partner account yet.
pub async fn tenant_with_admins(store: &Store, admins: usize) -> Result<(TenantId, String)> {
    let op = Ctx::operator("mail-test", None);
    let domain = format!("mail-{}.example", uuid::Uuid::new_v4().simple());
    let tenant = store.create_tenant(&op, &parse(DisplayName::parse("Mail test"))?, &domain).await?;
    for i in 0..admins {
        let new = NewUser {
            email: parse(EmailAddress::parse(&format!("admin-{i}@{domain}")))?,
            display_name: parse(DisplayName::parse(&format!("Admin {i}")))?,
            directory_roles: vec![DirectoryRole::GlobalAdmin],
            partner_roles: vec![],
        };
        store.create_user(&op, tenant.id, &new).await?;
    }
    Ok((tenant.id, domain))
}

/// Makes the tenant's partner account active with nothing linked: every global admin is prompted
/// to link, one email each, all committed together.
pub async fn activate_partner(store: &Store, tenant: TenantId) -> Result<()> {
    put_partner(store, tenant, PartnerAccountState::Active).await
}

/// Creates or replaces the tenant's partner account in `state`.
pub async fn put_partner(store: &Store, tenant: TenantId, state: PartnerAccountState) -> Result<()> {
    let lp = LegalProfileInput {
        company_name: Some("Mail test Ltd".into()),
        sold_to: Some(AddressInput { address_line1: Some("1 Main St".into()), country: Some("US".into()), ..Default::default() }),
        primary_contact: None,
    };
    let put = PutPartnerAccount {
        partner_id: "1".into(),
        name: parse(DisplayName::parse("Mail test"))?,
        state,
        legal_profile: lp.parse().map_err(|e| StoreError::Corrupt(format!("{e:?}")))?,
    };
    store.put_partner_account(&Ctx::operator("mail-test", None), tenant, &put).await?;
    Ok(())
}

/// Queues `n` emails: a tenant of `n` global admins whose partner account becomes active.
pub async fn queue_link_prompts(store: &Store, n: usize) -> Result<TenantId> {
    let (tenant, _) = tenant_with_admins(store, n).await?;
    activate_partner(store, tenant).await?;
    Ok(tenant)
}

/// Grants `user` a billing role on a profile straight in the table (no use case grants roles to
/// others yet), so tests can see who hears of what.
pub async fn grant_profile_role(
    store: &Store,
    tenant: TenantId,
    user: pb_domain::UserId,
    role: pb_domain::BillingRole,
    profile: pb_domain::BillingProfileId,
) -> Result<()> {
    let mut tx = store.db.begin_write().await?;
    tx.execute(
        "INSERT INTO role_assignments (id, tenant_id, user_id, role, scope_kind, scope_id, created_by, created_at) \
         VALUES ($1, $2, $3, $4, 'billing_profile', $5, 'test', $6)",
        crate::db::args![pb_domain::RoleAssignmentId::new(), tenant, user, role.as_str(), profile, store.now()],
    )
    .await?;
    tx.commit().await
}
