//! A tenant whose life so far leaves rows in every table of the schema, made through the use cases
//! (for `db copy`'s tests): users with both kinds of roles, a pending legal profile change, offers
//! with prices, a link set up with both agreements and then changed, an instrument, a second
//! section, a granted role, purchases, a closed month's invoice, notifications read and unread,
//! emails sent, failed and claimed, a web session, idempotency keys finished and not, and a serve
//! instance. Times carry microseconds, so that a copy which rounds them shows.

use std::sync::Arc;

use pb_domain::{
    AddressInput, BillingRole, ContactInput, Currency, DirectoryRole, DisplayName, EmailAddress, LegalProfileInput, Money, OfferId,
    OfferKind, PartnerAccountState, PartnerRole, PaymentInstrumentInput, Period, RetryPolicy, TenantId, TestClock,
};
use time::macros::datetime;

use crate::copy::TABLES;
use crate::db::args;
use crate::{
    AccountChoice, BillingScope, Ctx, LinkCommand, NewBillingAccount, NewPurchase, NewUser, NewWebSession, PaymentChoice, ProfileChoice,
    PutOffer, PutPartnerAccount, Result, SeenUser, SetupCommand, SignInMethod, Store, StoreError, StoredResponse, UserCtx,
};

fn parse<T, E: std::fmt::Debug>(r: std::result::Result<T, E>) -> Result<T> {
    r.map_err(|e| StoreError::Corrupt(format!("{e:?}")))
}

fn name(s: &str) -> Result<DisplayName> {
    parse(DisplayName::parse(s))
}

/// What [`seed_every_table`] made, to read back.
#[derive(Debug, Clone)]
pub struct EveryTable {
    pub tenant: TenantId,
    pub domain: String,
    /// The global admin, who set the link up and owns the billing account.
    pub ga: UserCtx,
    pub ga_email: String,
    /// The billing profile invoiced for January 2026 (`PB-2026-000001`, unless the store had others).
    pub invoiced_profile: pb_domain::BillingProfileId,
    /// The profile linked last, in force.
    pub linked_profile: pb_domain::BillingProfileId,
    pub session_hash: String,
}

/// Seeds a new tenant (`copy-<random>.example`) through the use cases, moving `clock` from
/// 2026-01-15 to 2026-02-02 (the store must read time from it).
pub async fn seed_every_table(store: &Store, clock: &Arc<TestClock>) -> Result<EveryTable> {
    clock.set(datetime!(2026-01-15 09:30:00.123456 UTC));
    let op = Ctx::operator("copy-test", None);
    let domain = format!("copy-{}.example", uuid::Uuid::new_v4().simple());
    let tenant = store.create_tenant(&op, &name("Copy Srl")?, &domain).await?;
    let roles = [
        ("ga", vec![DirectoryRole::GlobalAdmin], vec![]),
        ("mcpp", vec![], vec![PartnerRole::McppAdmin, PartnerRole::AccountAdmin]),
        ("plain", vec![], vec![]),
    ];
    for (local, directory_roles, partner_roles) in roles {
        let email = parse(EmailAddress::parse(&format!("{local}@{domain}")))?;
        store.create_user(&op, tenant.id, &NewUser { email, display_name: name(local)?, directory_roles, partner_roles }).await?;
    }
    let ga_user = store.find_user(tenant.id, &format!("ga@{domain}")).await?;
    let seen = SeenUser {
        id: ga_user.id,
        email: ga_user.email.clone(),
        display_name: "Giulia \u{1F600} O'Brien".into(),
        directory_roles: vec![DirectoryRole::GlobalAdmin],
    };
    store.record_user_seen(tenant.id, &seen).await?;
    // Its audit records carry a request id.
    let ga = UserCtx::new(&store.find_user(tenant.id, &format!("ga@{domain}")).await?, Some("req-copy-1".into()));
    let mcpp = UserCtx::new(&store.find_user(tenant.id, &format!("mcpp@{domain}")).await?, None);
    let plain = store.find_user(tenant.id, &format!("plain@{domain}")).await?;

    // Italy: the agreement needs its second acknowledgement too (two acceptance rows).
    let address = AddressInput {
        address_line1: Some("Via Roma 1".into()),
        city: Some("Milano".into()),
        country: Some("IT".into()),
        ..Default::default()
    };
    let legal = LegalProfileInput { company_name: Some("Copy Srl".into()), sold_to: Some(address), primary_contact: None };
    let put = PutPartnerAccount {
        partner_id: "7007".into(),
        name: name("Copy")?,
        state: PartnerAccountState::Active,
        legal_profile: parse(legal.parse())?,
    };
    store.put_partner_account(&op, tenant.id, &put).await?;
    let change = LegalProfileInput { company_name: Some("Copy S.r.l. (nuova)".into()), ..Default::default() };
    store.submit_legal_profile_change(&ga, &change).await?;

    let offers = [("copy-designation", OfferKind::Designation, false, true), ("copy-pack", OfferKind::ActionPack, true, false)];
    for (id, kind, one_per_partner, active) in offers {
        let prices = vec![Money::new(125_000, Currency::USD), Money::new(115_000, Currency::EUR)];
        let put = PutOffer { name: name(id)?, kind, term_months: 12, one_per_partner, active, prices };
        store.put_offer(&op, &parse(OfferId::parse(id))?, &put).await?;
    }

    clock.set(datetime!(2026-01-16 10:00:00.000001 UTC));
    let contact = parse(ContactInput { name: Some("Giulia".into()), email: Some(format!("ga@{domain}")), phone: None }.parse())?;
    let setup = SetupCommand {
        account: AccountChoice::New(NewBillingAccount { display_name: Some(name("Copy billing")?), primary_contact: Some(contact) }),
        profile: ProfileChoice::New(name("Copy profile")?),
        accept_agreement: true,
        accept_secondary_acknowledgement: true,
        if_match: None,
    };
    let linked = store.setup_link(&ga, &setup).await?;
    let (account, first) = (linked.account.id, linked.link.billing_profile_id);
    let instrument =
        PaymentInstrumentInput { kind: Some("card".into()), token: Some("tok_copy".into()), display_hint: Some("Visa 4242".into()) };
    store.add_payment_instrument(&ga, first, &parse(instrument.parse())?).await?;
    let projects = store.create_invoice_section(&ga, first, &name("Projects")?).await?;
    store.grant_role_assignment(&ga, BillingScope::Profile(first), plain.id, BillingRole::Reader).await?;

    clock.set(datetime!(2026-01-20 11:22:33.654321 UTC));
    let designation = parse(OfferId::parse("copy-designation"))?;
    let buy = |section, quantity| NewPurchase {
        offer_id: designation.clone(),
        quantity,
        invoice_section_id: section,
        payment: PaymentChoice::Default,
    };
    store.create_purchase(&mcpp, &buy(None, 2)).await?;
    store.create_purchase(&mcpp, &buy(Some(projects.id), 1)).await?;

    // A second profile linked in place of the first: the first link now has its end.
    clock.set(datetime!(2026-01-25 08:00:00.5 UTC));
    let second = store.create_billing_profile(&ga, account, &name("Copy projects")?, crate::Flow::Direct).await?;
    let (_, version) = store.current_link(&ga).await?;
    let cmd = LinkCommand {
        billing_account_id: account,
        billing_profile_id: second.id,
        accept_agreement: false,
        accept_secondary_acknowledgement: false,
        if_match: Some(version),
    };
    store.link_billing(&ga, &cmd).await?;

    clock.set(datetime!(2026-02-02 00:00:00.25 UTC));
    store.run_invoices(&Ctx::system(), parse(Period::parse("2026-01"))?, &mut ()).await?;

    // Notifications: one read, the rest unread. Emails: one sent, one failed, one claimed.
    if let Some(n) = store.list_notifications(&ga, None, None).await?.items.first() {
        store.mark_notification_read(&ga, &n.id).await?;
    }
    let lease = time::Duration::seconds(90);
    let policy = RetryPolicy { max_attempts: 8, base: time::Duration::seconds(30), cap: time::Duration::hours(1) };
    for (i, m) in store.claim_outbox("node-copy", lease, 3).await?.into_iter().enumerate() {
        if i == 0 {
            store.mark_outbox_sent(&m.id).await?;
        } else if i == 1 {
            store.mark_outbox_failed(&m.id, "451 4.3.0 try later; \"quoted\"\nsecond line", &policy, 0.5).await?;
        }
    }

    let session_hash = format!("copy-session-{}", uuid::Uuid::new_v4().simple());
    let session = NewWebSession {
        token_hash: &session_hash,
        tenant: tenant.id,
        user: ga.user_id(),
        csrf: "csrf-copy",
        ttl: time::Duration::days(3650),
        method: SignInMethod::Oidc,
        replaces: None,
    };
    store.create_web_session(&session).await?;
    let scope = format!("{}:{}", tenant.id, ga.user_id());
    store.claim_idempotency_key(&scope, "done", "hash-1", "POST", "/api/v1/purchases").await?;
    let answer = StoredResponse {
        status: 201,
        body: "{\"id\":\"pu_1\"}".into(),
        headers: vec![("location".into(), "/api/v1/purchases/pu_1".into())],
    };
    store.complete_idempotency_key(&scope, "done", &answer).await?;
    store.claim_idempotency_key(&scope, "in-flight", "hash-2", "POST", "/api/v1/billing-accounts").await?;
    store.heartbeat().await?;

    Ok(EveryTable {
        tenant: tenant.id,
        domain: domain.clone(),
        ga,
        ga_email: format!("ga@{domain}"),
        invoiced_profile: first,
        linked_profile: second.id,
        session_hash,
    })
}

/// Rows per table of the copy's list, in its order, counted by the database.
pub async fn row_counts(store: &Store) -> Result<Vec<(&'static str, i64)>> {
    let mut tx = store.db.begin().await?;
    let mut out = Vec::with_capacity(TABLES.len());
    for t in TABLES {
        out.push((t.name, tx.scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {}", t.name)), args![]).await?));
    }
    tx.commit().await?;
    Ok(out)
}
