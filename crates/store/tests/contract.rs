//! The store contract: every test runs on SQLite, and on PostgreSQL when `PB_TEST_DATABASE_URL` is set.
// Helpers and the plain `async fn` test bodies that `both_backends!` wraps are not `#[test]`s, so
// clippy's `allow-unwrap-in-tests` cannot see that they are test code.
#![expect(clippy::unwrap_used, reason = "a test fails loudly where a value must be there")]

use std::sync::Arc;

use pb_domain::{
    AddressInput, ContactInput, DirectoryRole, DisplayName, EmailAddress, LegalProfileInput, PartnerAccountState, PartnerRole, SystemClock,
    TenantId, UserId,
};
use pb_store::testing::{audit_trail, user_ctx};
use pb_store::{
    AuditQuery, Backend, ConnectOptions, Ctx, NewUser, Pool, PutPartnerAccount, SeenUser, Store, StoreError, UserCtx, both_backends,
};

fn op() -> Ctx {
    Ctx::operator("op-1", Some("req-1".into()))
}

fn name(s: &str) -> DisplayName {
    DisplayName::parse(s).unwrap()
}

fn new_user(email: &str, ga: bool) -> NewUser {
    NewUser {
        email: EmailAddress::parse(email).unwrap(),
        display_name: name("Pat"),
        directory_roles: if ga { vec![DirectoryRole::GlobalAdmin] } else { vec![] },
        partner_roles: vec![PartnerRole::McppAdmin],
    }
}

fn put(country: &str, state: PartnerAccountState) -> PutPartnerAccount {
    let lp = LegalProfileInput {
        company_name: Some("Contoso Ltd".into()),
        sold_to: Some(AddressInput { address_line1: Some("1 Main St".into()), country: Some(country.into()), ..Default::default() }),
        primary_contact: Some(ContactInput { name: Some("Pat".into()), email: Some("pat@contoso.com".into()), phone: None }),
    }
    .parse()
    .unwrap();
    PutPartnerAccount { partner_id: "123".into(), name: name("Contoso"), state, legal_profile: lp }
}

async fn tenant(s: &Store, domain: &str) -> TenantId {
    s.create_tenant(&op(), &name("T"), domain).await.unwrap().id
}

async fn audit_actions(s: &Store, t: TenantId) -> Vec<String> {
    audit_trail(s, t).await.into_iter().map(|r| r.action).collect()
}

async fn tenant_create_and_find(s: Store) {
    let t = s.create_tenant(&op(), &name("Contoso"), "contoso.example").await.unwrap();
    assert_eq!(s.find_tenant("contoso.example").await.map(|x| x.id).ok(), Some(t.id));
    assert_eq!(s.find_tenant(&t.id.to_string()).await.map(|x| x.name).ok(), Some("Contoso".to_owned()));
    assert!(matches!(s.find_tenant("other.example").await, Err(StoreError::NotFound(_))));
    assert_eq!(s.get_tenant(t.id).await.map(|x| x.created_at).ok(), Some(t.created_at), "times round-trip exactly");
}

async fn tenant_domain_is_unique_and_failure_writes_nothing(s: Store) {
    let t = tenant(&s, "dup.example").await;
    let e = s.create_tenant(&op(), &name("Again"), "dup.example").await;
    assert!(matches!(e, Err(StoreError::Conflict { code: "tenant_domain_taken", .. })), "{e:?}");
    assert_eq!(s.list_tenants().await.map(|v| v.len()).ok(), Some(1));
    assert_eq!(audit_actions(&s, t).await, vec!["tenant.create"]);
}

async fn racing_tenant_creates_make_exactly_one(s: Store) {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..20 {
        let s = s.clone();
        set.spawn(async move { s.create_tenant(&op(), &name(&format!("T{i}")), "race.example").await });
    }
    let mut ok = 0;
    while let Some(r) = set.join_next().await {
        match r.unwrap() {
            Ok(_) => ok += 1,
            Err(StoreError::Conflict { code: "tenant_domain_taken", .. }) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(s.list_tenants().await.map(|v| v.len()).ok(), Some(1));
}

async fn users_are_provisioned_per_tenant(s: Store) {
    let a = tenant(&s, "a.example").await;
    let b = tenant(&s, "b.example").await;
    let u = s.create_user(&op(), a, &new_user("Pat@A.example", true)).await.unwrap();
    assert!(u.is_global_admin());
    assert_eq!(u.roles.partner, vec![PartnerRole::McppAdmin]);
    assert_eq!(s.find_user(a, "pat@a.example").await.map(|x| x.id).ok(), Some(u.id), "email lookup ignores case");
    assert!(matches!(s.find_user(b, &u.id.to_string()).await, Err(StoreError::NotFound(_))), "tenant isolation (rule H4)");
    let dup = s.create_user(&op(), a, &new_user("pat@a.example", false)).await;
    assert!(matches!(dup, Err(StoreError::Conflict { code: "user_email_taken", .. })));
    let missing = s.create_user(&op(), TenantId::new(), &new_user("x@y.example", false)).await;
    assert!(matches!(missing, Err(StoreError::NotFound("tenant"))));
    assert_eq!(s.list_users(a).await.map(|v| v.len()).ok(), Some(1));
}

async fn user_is_recorded_on_first_sight_once(s: Store) {
    let a = tenant(&s, "a.example").await;
    let b = tenant(&s, "b.example").await;
    let seen = SeenUser { id: UserId::new(), email: "new@a.example".into(), display_name: "New".into(), directory_roles: vec![] };
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (s, seen) = (s.clone(), seen.clone());
        set.spawn(async move { s.record_user_seen(a, &seen).await.map(|u| u.id) });
    }
    while let Some(r) = set.join_next().await {
        assert_eq!(r.unwrap().ok(), Some(seen.id));
    }
    assert_eq!(s.list_users(a).await.map(|v| v.len()).ok(), Some(1));
    assert_eq!(audit_actions(&s, a).await.iter().filter(|a| *a == "user.first_seen").count(), 1);
    // The same oid presented with another tenant's tid is not adopted there.
    assert!(matches!(s.record_user_seen(b, &seen).await, Err(StoreError::NotFound(_))));
}

async fn partner_account_create_replace_and_state(s: Store) {
    let t = tenant(&s, "p.example").await;
    assert!(matches!(s.get_partner_account(t).await, Err(StoreError::NotFound(_))));
    let (p, created) = s.put_partner_account(&op(), t, &put("US", PartnerAccountState::PendingVerification)).await.unwrap();
    let p = p.partner;
    assert!(created);
    assert_eq!(p.state, PartnerAccountState::PendingVerification);
    let (p2, created) = s.put_partner_account(&op(), t, &put("IT", PartnerAccountState::Active)).await.unwrap();
    let p2 = p2.partner;
    assert!(!created);
    assert_eq!(p2.id, p.id, "replacing keeps the account");
    assert_eq!(p2.legal_profile.sold_to.country.as_str(), "IT");
    let p3 = s.set_partner_state(&op(), t, PartnerAccountState::Suspended).await.unwrap().partner;
    assert_eq!(p3.state, PartnerAccountState::Suspended);
    assert_eq!(s.get_partner_account(t).await.map(|p| p.state).ok(), Some(PartnerAccountState::Suspended));
    assert_eq!(
        audit_actions(&s, t).await,
        vec!["tenant.create", "partner_account.create", "partner_account.replace", "partner_account.state_change"]
    );
    assert!(matches!(
        s.put_partner_account(&op(), TenantId::new(), &put("US", PartnerAccountState::Active)).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn rule_n3_legal_profile_change_is_pending_until_verified(s: Store) {
    let t = tenant(&s, "lp.example").await;
    s.put_partner_account(&op(), t, &put("US", PartnerAccountState::Active)).await.unwrap();
    let no_pending = s.verify_legal_profile(&op(), t).await;
    assert!(matches!(no_pending, Err(StoreError::Conflict { code: "no_pending_change", .. })));
    let change = LegalProfileInput {
        sold_to: Some(AddressInput { address_line1: Some("Via Roma 1".into()), country: Some("IT".into()), ..Default::default() }),
        ..Default::default()
    };
    s.create_user(&op(), t, &new_user("plain@lp.example", false)).await.unwrap();
    let plain = user_ctx(&s, t, "plain@lp.example").await;
    let refused = s.submit_legal_profile_change(&plain, &change).await;
    assert!(matches!(refused, Err(StoreError::Forbidden(_))), "only a global admin or account admin submits: {refused:?}");
    s.create_user(&op(), t, &new_user("ga@lp.example", true)).await.unwrap();
    let user = user_ctx(&s, t, "ga@lp.example").await;
    let p = s.submit_legal_profile_change(&user, &change).await.unwrap().partner;
    assert_eq!(p.legal_profile.sold_to.country.as_str(), "US", "the verified profile is unchanged");
    let read = s.get_partner_account(t).await.unwrap();
    assert_eq!(read.legal_profile.sold_to.country.as_str(), "US");
    assert_eq!(read.pending_legal_profile.as_ref().and_then(|x| x.change.sold_to.as_ref()).map(|a| a.country.as_str()), Some("IT"));
    let v = s.verify_legal_profile(&op(), t).await.unwrap().partner;
    assert_eq!(v.legal_profile.sold_to.country.as_str(), "IT");
    assert_eq!(v.legal_profile.company_name, "Contoso Ltd", "fields not in the change are kept");
    let read = s.get_partner_account(t).await.unwrap();
    assert_eq!(read.legal_profile, v.legal_profile);
    assert!(read.pending_legal_profile.is_none());
}

async fn rule_u1_audit_records_carry_who_what_when_and_request_id(s: Store) {
    let t = tenant(&s, "au.example").await;
    let trail = audit_trail(&s, t).await;
    let r = &trail[0];
    assert_eq!((r.actor_kind.as_str(), r.actor_id.as_str()), ("operator", "op-1"));
    assert_eq!(r.action, "tenant.create");
    assert_eq!(r.request_id.as_deref(), Some("req-1"));
    assert_eq!(r.tenant_id, Some(t));
    assert!(r.before.is_none());
    assert_eq!(r.after.as_ref().and_then(|a| a.get("domain")).and_then(|d| d.as_str()), Some("au.example"));
}

async fn rule_u1_audit_records_cannot_be_updated_or_deleted(s: Store) {
    let _ = tenant(&s, "ro.example").await;
    let (upd, del) = match s.db().pool() {
        Pool::Sqlite(p) => (
            sqlx::query("UPDATE audit_records SET action = 'x'").execute(p).await.map(|_| ()),
            sqlx::query("DELETE FROM audit_records").execute(p).await.map(|_| ()),
        ),
        Pool::Postgres(p) => (
            sqlx::query("UPDATE audit_records SET action = 'x'").execute(p).await.map(|_| ()),
            sqlx::query("DELETE FROM audit_records").execute(p).await.map(|_| ()),
        ),
    };
    assert!(upd.is_err(), "UPDATE must be refused");
    assert!(del.is_err(), "DELETE must be refused");
}

async fn audit_pages_with_cursor(s: Store) {
    let t = tenant(&s, "pg.example").await;
    for i in 0..5 {
        s.create_user(&op(), t, &new_user(&format!("u{i}@pg.example"), i == 0)).await.unwrap();
    }
    let ga = user_ctx(&s, t, "u0@pg.example").await;
    let first = s.list_audit(&ga, &AuditQuery { limit: Some(4), ..Default::default() }).await.unwrap();
    assert_eq!(first.items.len(), 4);
    let cursor = first.next_cursor.clone();
    assert!(cursor.is_some());
    let second = s.list_audit(&ga, &AuditQuery { limit: Some(4), cursor, ..Default::default() }).await.unwrap();
    assert_eq!(second.items.len(), 2);
    assert!(second.next_cursor.is_none());
    let filtered = s.list_audit(&ga, &AuditQuery { action: Some("user.create".into()), ..Default::default() }).await.unwrap();
    assert_eq!(filtered.items.len(), 5);
    let plain = user_ctx(&s, t, "u1@pg.example").await;
    assert!(matches!(s.list_audit(&plain, &AuditQuery::default()).await, Err(StoreError::Forbidden(_))), "global admins only");
}

async fn rule_a1_directory_roles_are_rows_refreshed_from_the_token(s: Store) {
    let t = tenant(&s, "wids.example").await;
    let id = UserId::new();
    let seen =
        |roles: Vec<DirectoryRole>| SeenUser { id, email: "x@wids.example".into(), display_name: "X".into(), directory_roles: roles };
    let u = s.record_user_seen(t, &seen(vec![DirectoryRole::GlobalAdmin])).await.unwrap();
    assert!(u.is_global_admin(), "a global admin first seen through a token is stored as one");
    let statements = s.db().statements();
    let again = s.record_user_seen(t, &seen(vec![DirectoryRole::GlobalAdmin])).await.unwrap();
    assert!(again.is_global_admin());
    assert_eq!(s.db().statements() - statements, 2, "a user seen again with the same roles costs one read (user and roles), no write");
    let demoted = s.record_user_seen(t, &seen(vec![])).await.unwrap();
    assert!(!demoted.is_global_admin(), "the token is the authority on directory roles");
    assert!(!s.get_user(t, id).await.is_ok_and(|u| u.is_global_admin()));
    let refreshes: Vec<_> = audit_trail(&s, t).await.into_iter().filter(|r| r.action == "user.directory_roles_refresh").collect();
    assert_eq!(refreshes.len(), 1, "the change is audited once");
    assert_eq!(refreshes[0].before.as_ref().map(|b| b["directory_roles"].clone()), Some(serde_json::json!(["global_admin"])));
}

/// Every API request resolves its caller: a known tenant and user with unchanged roles cost exactly one
/// statement and no write; the same answers (unknown tenant, another tenant's user, changed roles) as
/// the longer path.
async fn rule_a1_a_known_caller_resolves_in_one_statement(s: Store) {
    let a = tenant(&s, "one-a.example").await;
    let b = tenant(&s, "one-b.example").await;
    let id = UserId::new();
    let seen =
        |roles: Vec<DirectoryRole>| SeenUser { id, email: "x@one-a.example".into(), display_name: "X".into(), directory_roles: roles };
    assert!(matches!(s.resolve_seen_user(TenantId::new(), &seen(vec![])).await, Err(StoreError::NotFound("tenant"))));
    let (t, u) = s.resolve_seen_user(a, &seen(vec![DirectoryRole::GlobalAdmin])).await.unwrap();
    assert_eq!((t.id, u.id, u.is_global_admin()), (a, id, true), "first sight records the user");
    let before = s.db().statements();
    let (t, u) = s.resolve_seen_user(a, &seen(vec![DirectoryRole::GlobalAdmin])).await.unwrap();
    assert_eq!(s.db().statements() - before, 1, "a known caller is one statement");
    assert_eq!((t.domain.as_str(), u.email.as_str(), u.is_global_admin()), ("one-a.example", "x@one-a.example", true));
    let (_, u) = s.resolve_seen_user(a, &seen(vec![])).await.unwrap();
    assert!(!u.is_global_admin(), "changed roles are still refreshed");
    assert!(matches!(s.resolve_seen_user(b, &seen(vec![])).await, Err(StoreError::NotFound("user"))), "never adopted by another tenant");
    assert_eq!(s.session_user(a, id).await.unwrap().map(|(t, u)| (t.id, u.id)), Some((a, id)));
    assert!(s.session_user(b, id).await.unwrap().is_none(), "a session names its tenant's user only");
}

/// Lists of billing accounts read a fixed number of statements, whatever the number of accounts and
/// profiles (one per level: accounts, profiles, sections, instruments, acceptances).
async fn list_billing_accounts_reads_one_query_per_level(s: Store) {
    let t = tenant(&s, "nplus1.example").await;
    s.put_partner_account(&op(), t, &put("US", PartnerAccountState::Active)).await.unwrap();
    s.create_user(&op(), t, &new_user("ga@nplus1.example", true)).await.unwrap();
    let ga = user_ctx(&s, t, "ga@nplus1.example").await;
    let count = |s: Store, ga: UserCtx| async move {
        let before = s.db().statements();
        let page = s.list_billing_accounts(&ga, None, None).await.unwrap();
        (s.db().statements() - before, page.items.len())
    };
    let create = |n: usize| {
        let (s, ga) = (s.clone(), ga.clone());
        async move {
            for i in 0..n {
                let a = s.create_billing_account(&ga, &pb_store::NewBillingAccount::default()).await.unwrap();
                for j in 0..3 {
                    let p = s.create_billing_profile(&ga, a.id, &name(&format!("P{i}{j}")), pb_store::Flow::Direct).await.unwrap();
                    let pi = pb_domain::PaymentInstrumentInput {
                        kind: Some("card".into()),
                        token: Some("tok".into()),
                        display_hint: Some("Visa 4242".into()),
                    };
                    s.add_payment_instrument(&ga, p.id, &pi.parse().unwrap()).await.unwrap();
                }
            }
        }
    };
    create(1).await;
    let (one, n) = count(s.clone(), ga.clone()).await;
    assert_eq!(n, 1);
    create(9).await;
    let (ten, n) = count(s.clone(), ga.clone()).await;
    assert_eq!(n, 10);
    assert_eq!(one, ten, "the statement count does not grow with the data");
    assert_eq!(ten, 6, "accounts, the caller's role rows, profiles, sections, instruments, acceptances");
}

async fn readiness_reports_current_migrations(s: Store) {
    let r = s.readiness().await;
    assert!(r.ready(), "{r:?}");
    assert_eq!(r.applied_version, Some(r.expected_version));
}

both_backends!(
    tenant_create_and_find,
    tenant_domain_is_unique_and_failure_writes_nothing,
    racing_tenant_creates_make_exactly_one,
    users_are_provisioned_per_tenant,
    user_is_recorded_on_first_sight_once,
    partner_account_create_replace_and_state,
    rule_n3_legal_profile_change_is_pending_until_verified,
    rule_u1_audit_records_carry_who_what_when_and_request_id,
    rule_u1_audit_records_cannot_be_updated_or_deleted,
    audit_pages_with_cursor,
    readiness_reports_current_migrations,
    rule_a1_directory_roles_are_rows_refreshed_from_the_token,
    rule_a1_a_known_caller_resolves_in_one_statement,
    list_billing_accounts_reads_one_query_per_level,
);

#[test]
fn migrations_have_the_same_names_on_both_backends() {
    let (sqlite, postgres) = pb_store::migration_names();
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, postgres);
}

#[tokio::test]
async fn migrations_create_the_same_tables_and_columns_on_both_backends() {
    let Some(pg) = pb_store::testing::store(Backend::Postgres, "schema_parity").await else { return };
    let Some(lite) = pb_store::testing::store(Backend::Sqlite, "schema_parity").await else { return };
    let mut lite_cols: Vec<(String, String)> = match lite.db().pool() {
        Pool::Sqlite(p) => sqlx::query_as(
            "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'",
        )
        .fetch_all(p)
        .await
        .unwrap(),
        Pool::Postgres(_) => unreachable!(),
    };
    let mut pg_cols: Vec<(String, String)> = match pg.db().pool() {
        Pool::Postgres(p) => sqlx::query_as(
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations'",
        )
        .fetch_all(p)
        .await
        .unwrap(),
        Pool::Sqlite(_) => unreachable!(),
    };
    lite_cols.sort();
    pg_cols.sort();
    assert_eq!(lite_cols, pg_cols);
}

#[tokio::test]
async fn unsupported_database_urls_are_refused() {
    let clock = Arc::new(SystemClock);
    for url in ["mysql://root@localhost/db", "partner-billing.db", "http://x"] {
        let r = Store::connect(url, &ConnectOptions::default(), clock.clone()).await;
        assert!(matches!(r, Err(StoreError::UnsupportedUrl(_))), "{url}");
    }
    let r = Store::connect("sqlite:///nonexistent-folder-pb/x.db", &ConnectOptions::default(), clock).await;
    assert!(matches!(r, Err(StoreError::UnsupportedUrl(m)) if m.contains("does not exist")));
}

#[tokio::test]
async fn sqlite_uses_wal_foreign_keys_and_busy_timeout() {
    let Some(s) = pb_store::testing::store(Backend::Sqlite, "pragmas").await else { return };
    let Pool::Sqlite(p) = s.db().pool() else { unreachable!() };
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(p).await.unwrap_or_default();
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys").fetch_one(p).await.unwrap_or_default();
    let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout").fetch_one(p).await.unwrap_or_default();
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(p).await.unwrap_or_default();
    assert_eq!(sync, 2, "synchronous=FULL");
    assert_eq!(mode, "wal");
    assert_eq!(fk, 1);
    assert!(busy >= 5000);
}

#[test]
fn urls_are_redacted_for_logs() {
    assert_eq!(pb_store::redact_url("postgres://u:secret@h/db"), "postgres://u:***@h/db");
    assert_eq!(pb_store::redact_url("sqlite://./data/x.db"), "sqlite://./data/x.db");
}

mod link_history_property {
    use std::sync::Arc;

    use pb_domain::{BillingAccountId, BillingProfileId, PartnerAccountState, PaymentInstrumentInput, TestClock};
    use pb_store::{Backend, LinkCommand, NewBillingAccount, Store, UserCtx};
    use proptest::prelude::*;

    async fn world(store: &Store) -> (UserCtx, Vec<(BillingAccountId, BillingProfileId)>) {
        let t = super::tenant(store, "prop.example").await;
        store.put_partner_account(&super::op(), t, &super::put("US", PartnerAccountState::Active)).await.unwrap();
        let ga = store.create_user(&super::op(), t, &super::new_user("ga@prop.example", true)).await.unwrap();
        let cx = UserCtx::new(&ga, None);
        let instrument =
            PaymentInstrumentInput { kind: Some("card".into()), token: Some("tok".into()), display_hint: Some("Visa 4242".into()) }
                .parse()
                .unwrap();
        let mut targets = Vec::new();
        for _ in 0..2 {
            let a = store.create_billing_account(&cx, &NewBillingAccount::default()).await.unwrap();
            for i in 0..2 {
                let p = store.create_billing_profile(&cx, a.id, &super::name(&format!("P{i}")), pb_store::Flow::Direct).await.unwrap();
                store.add_payment_instrument(&cx, p.id, &instrument).await.unwrap();
                targets.push((a.id, p.id));
            }
        }
        (cx, targets)
    }

    /// Any sequence of link changes leaves a history whose spans do not overlap and cover time from
    /// the first link onward, and `at` agrees with it (rules C4, C5).
    fn check(backend: Backend, steps: Vec<(usize, i64)>) -> Result<(), TestCaseError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        rt.block_on(async move {
            let clock = Arc::new(TestClock::new(time::macros::datetime!(2026-01-01 0:00 UTC)));
            let Some(store) = pb_store::testing::store_with_clock(backend, "rule_c4_property_link_history", clock.clone()).await else {
                return Ok(());
            };
            let (cx, targets) = world(&store).await;
            let mut expected_changes = 0;
            let mut last: Option<usize> = None;
            for (target, secs) in &steps {
                clock.advance(time::Duration::seconds(*secs));
                let (_, version) = store.current_link(&cx).await.map_err(|e| TestCaseError::fail(e.to_string()))?;
                let (a, p) = targets[*target];
                let cmd = LinkCommand {
                    billing_account_id: a,
                    billing_profile_id: p,
                    accept_agreement: true,
                    accept_secondary_acknowledgement: false,
                    if_match: Some(version),
                };
                let out = store.link_billing(&cx, &cmd).await.map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(out.changed(), last != Some(*target));
                if last != Some(*target) {
                    expected_changes += 1;
                }
                last = Some(*target);
            }
            let h = store.link_history(&cx, None).await.map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(h.len(), expected_changes);
            for w in h.windows(2) {
                prop_assert!(w[0].linked_at < w[1].linked_at);
                prop_assert_eq!(w[0].unlinked_at, Some(w[1].linked_at), "no gap, no overlap");
            }
            prop_assert!(h.last().is_some_and(|l| l.unlinked_at.is_none()));
            for l in &h {
                let at_start = store.link_history(&cx, Some(l.linked_at)).await.map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(at_start.first().map(|x| x.id), Some(l.id));
                if let Some(end) = l.unlinked_at {
                    let just_before = store
                        .link_history(&cx, Some(end - time::Duration::microseconds(1)))
                        .await
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(just_before.first().map(|x| x.id), Some(l.id));
                }
            }
            if let Some(first) = h.first() {
                let before = store
                    .link_history(&cx, Some(first.linked_at - time::Duration::seconds(1)))
                    .await
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(before.is_empty());
            }
            store.close().await;
            Ok(())
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        #[test]
        fn rule_c4_property_history_spans_tile_time_sqlite(steps in proptest::collection::vec((0usize..4, 0i64..100_000), 1..12)) {
            check(Backend::Sqlite, steps)?;
        }

        #[test]
        fn rule_c4_property_history_spans_tile_time_postgres(steps in proptest::collection::vec((0usize..4, 0i64..100_000), 1..12)) {
            check(Backend::Postgres, steps)?;
        }
    }
}
