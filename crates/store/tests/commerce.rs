//! Purchases and the monthly invoice run at the store level, on SQLite and PostgreSQL, with a test
//! clock so that month edges are exact.
#![expect(clippy::unwrap_used, reason = "a test fails loudly where a value must be there")]

use std::sync::Arc;

use pb_domain::{
    AddressInput, BillingRole, ContactInput, Currency, DirectoryRole, DisplayName, EmailAddress, LegalProfileInput, Money, OfferId,
    OfferKind, PartnerAccountState, PartnerRole, PaymentInstrumentInput, Period, TestClock,
};
use pb_store::testing::user_ctx;
use pb_store::{
    Backend, Ctx, LinkCommand, NewBillingAccount, NewPurchase, NewUser, PaymentChoice, PutOffer, PutPartnerAccount, Store, StoreError,
    UserCtx,
};
use time::macros::datetime;

struct World {
    store: Store,
    clock: Arc<TestClock>,
    ga: UserCtx,
    mcpp: UserCtx,
    plain: UserCtx,
}

fn name(s: &str) -> DisplayName {
    DisplayName::parse(s).unwrap()
}

async fn world(backend: Backend, test: &str) -> Option<World> {
    let clock = Arc::new(TestClock::new(datetime!(2026-01-15 12:00 UTC)));
    let store = pb_store::testing::store_with_clock(backend, test, clock.clone()).await?;
    let op = Ctx::operator("op", None);
    let t = store.create_tenant(&op, &name("Contoso"), "contoso.example").await.unwrap();
    for (email, dir, partner) in [
        ("ga@contoso.example", vec![DirectoryRole::GlobalAdmin], vec![]),
        ("mcpp@contoso.example", vec![], vec![PartnerRole::McppAdmin]),
        ("plain@contoso.example", vec![], vec![]),
    ] {
        let new =
            NewUser { email: EmailAddress::parse(email).unwrap(), display_name: name("U"), directory_roles: dir, partner_roles: partner };
        store.create_user(&op, t.id, &new).await.unwrap();
    }
    let lp = LegalProfileInput {
        company_name: Some("Contoso Ltd".into()),
        sold_to: Some(AddressInput { address_line1: Some("1 Main St".into()), country: Some("US".into()), ..Default::default() }),
        primary_contact: None,
    }
    .parse()
    .unwrap();
    let put = PutPartnerAccount { partner_id: "1".into(), name: name("Contoso"), state: PartnerAccountState::Active, legal_profile: lp };
    store.put_partner_account(&op, t.id, &put).await.unwrap();
    for (id, kind, one, usd, eur) in
        [("action-pack", OfferKind::ActionPack, true, 47_500, 44_000), ("security", OfferKind::Designation, false, 120_000, 110_000)]
    {
        let prices = vec![Money::new(usd, Currency::USD), Money::new(eur, Currency::EUR)];
        let put = PutOffer { name: name(id), kind, term_months: 12, one_per_partner: one, active: true, prices };
        store.put_offer(&op, &OfferId::parse(id).unwrap(), &put).await.unwrap();
    }
    Some(World {
        ga: user_ctx(&store, t.id, "ga@contoso.example").await,
        mcpp: user_ctx(&store, t.id, "mcpp@contoso.example").await,
        plain: user_ctx(&store, t.id, "plain@contoso.example").await,
        store,
        clock,
    })
}

fn contact() -> Option<pb_domain::Contact> {
    ContactInput { name: Some("Pat".into()), email: Some("pat@contoso.example".into()), phone: None }.parse().ok()
}

fn instrument() -> pb_domain::NewPaymentInstrument {
    PaymentInstrumentInput { kind: Some("card".into()), token: Some("tok".into()), display_hint: Some("Visa 4242".into()) }.parse().unwrap()
}

/// A new funded profile under a new account, linked.
async fn link_new(w: &World, name_: &str) -> pb_store::BillingProfile {
    let a = w
        .store
        .create_billing_account(&w.ga, &NewBillingAccount { display_name: Some(name(name_)), primary_contact: contact() })
        .await
        .unwrap();
    let p = w.store.create_billing_profile(&w.ga, a.id, &name(name_), pb_store::Flow::Direct).await.unwrap();
    w.store.add_payment_instrument(&w.ga, p.id, &instrument()).await.unwrap();
    let (_, version) = w.store.current_link(&w.ga).await.unwrap();
    let cmd = LinkCommand {
        billing_account_id: a.id,
        billing_profile_id: p.id,
        accept_agreement: true,
        accept_secondary_acknowledgement: false,
        if_match: Some(version),
    };
    w.store.link_billing(&w.ga, &cmd).await.unwrap();
    w.store.get_billing_profile(&w.ga, p.id).await.unwrap()
}

fn buy(offer: &str, quantity: i64) -> NewPurchase {
    NewPurchase { offer_id: OfferId::parse(offer).unwrap(), quantity, invoice_section_id: None, payment: PaymentChoice::Default }
}

async fn purchases_are_billed_to_the_link_in_force_and_invoiced_once(backend: Backend) {
    let Some(w) = world(backend, "commerce_store").await else { return };
    let refused = w.store.create_purchase(&w.mcpp, &buy("security", 1)).await;
    assert!(matches!(refused, Err(StoreError::Conflict { code: "billing_link_required", .. })), "{refused:?}");
    assert!(matches!(w.store.create_purchase(&w.plain, &buy("security", 1)).await, Err(StoreError::Forbidden(_))));
    let first = link_new(&w, "First").await;
    w.clock.set(datetime!(2026-01-31 23:59:59.999 UTC));
    let before = w.store.create_purchase(&w.mcpp, &buy("security", 2)).await.unwrap();
    assert_eq!(before.billing_profile_id, Some(first.id));
    assert_eq!(before.amount, Money::new(240_000, Currency::USD));
    let second = link_new(&w, "Second").await;
    w.clock.set(datetime!(2026-02-01 0:00 UTC));
    let after = w.store.create_purchase(&w.ga, &buy("action-pack", 1)).await.unwrap();
    assert_eq!(after.billing_profile_id, Some(second.id));
    let owned = w.store.create_purchase(&w.ga, &buy("action-pack", 1)).await;
    assert!(matches!(owned, Err(StoreError::Conflict { code: "already_owned", .. })), "{owned:?}");
    // January is closed: only the first purchase, on the first profile.
    let jan = Period::parse("2026-01").unwrap();
    w.clock.set(datetime!(2026-02-02 0:00 UTC));
    let s = w.store.run_invoices(&Ctx::system(), jan, &mut ()).await.unwrap();
    assert_eq!((s.profiles, s.invoices_created, s.invoices_already_issued, s.charges), (1, 1, 0, 1));
    let again = w.store.run_invoices(&Ctx::system(), jan, &mut ()).await.unwrap();
    assert_eq!((again.invoices_created, again.invoices_already_issued), (0, 1), "running a month again makes nothing new");
    let list = w.store.list_invoices(&w.ga, first.id, None, None).await.unwrap();
    assert_eq!(list.items.len(), 1);
    let inv = w.store.get_invoice(&w.ga, list.items[0].id).await.unwrap();
    assert_eq!(inv.summary.number, "PB-2026-000001");
    assert_eq!(inv.summary.total, Money::new(240_000, Currency::USD));
    assert_eq!(inv.sections.len(), 1);
    assert_eq!(inv.sections[0].lines[0].purchase_id, before.id);
    assert_eq!(w.store.get_purchase(&w.ga, before.id).await.unwrap().invoice_id, Some(inv.summary.id));
    assert!(w.store.list_invoices(&w.ga, second.id, None, None).await.unwrap().items.is_empty(), "the February charge waits for February");
    // February, with a second section.
    let feb = Period::parse("2026-02").unwrap();
    assert!(matches!(
        w.store.run_invoices(&Ctx::system(), feb, &mut ()).await,
        Err(StoreError::Unprocessable { code: "period_not_ended", .. })
    ));
    w.clock.set(datetime!(2026-03-01 0:00 UTC));
    let s = w.store.run_invoices(&Ctx::system(), feb, &mut ()).await.unwrap();
    assert_eq!((s.profiles, s.invoices_created), (1, 1));
    let inv2 = w.store.list_invoices(&w.ga, second.id, None, None).await.unwrap().items.remove(0);
    assert_eq!(inv2.number, "PB-2026-000002", "one contiguous sequence");
    assert_eq!(inv2.total, Money::new(47_500, Currency::USD));
    assert!(w.store.invoice_run_finished(feb).await.unwrap());
}

/// Rule T3: an invoice is announced to the profile's owners and invoice managers, in the product
/// and by email, and to nobody else.
async fn rule_t3_invoice_ready_reaches_owners_and_invoice_managers_only(backend: Backend) {
    let Some(w) = world(backend, "rule_t3_invoice_ready").await else { return };
    let profile = link_new(&w, "Main").await;
    pb_store::testing::mail::grant_profile_role(&w.store, w.ga.tenant(), w.plain.user_id(), BillingRole::InvoiceManager, profile.id)
        .await
        .unwrap();
    w.clock.set(datetime!(2026-01-20 12:00 UTC));
    w.store.create_purchase(&w.mcpp, &buy("security", 1)).await.unwrap();
    let before = w.store.pending_emails(w.ga.tenant()).await.unwrap().len();
    w.clock.set(datetime!(2026-02-02 0:00 UTC));
    w.store.run_invoices(&Ctx::system(), Period::parse("2026-01").unwrap(), &mut ()).await.unwrap();
    let ready = |cx: &UserCtx| {
        let cx = cx.clone();
        let store = w.store.clone();
        async move { store.list_notifications(&cx, None, None).await.unwrap().items.into_iter().filter(|n| n.kind == "invoice_ready").count() }
    };
    assert_eq!(ready(&w.ga).await, 1, "the owner (who created the account)");
    assert_eq!(ready(&w.plain).await, 1, "the invoice manager of the profile");
    assert_eq!(ready(&w.mcpp).await, 0, "the buyer holds no billing role on the profile");
    let emails = w.store.pending_emails(w.ga.tenant()).await.unwrap();
    let new: Vec<_> = emails.iter().skip(before).collect();
    let mut to: Vec<&str> = new.iter().map(|e| e.to_address.as_str()).collect();
    to.sort_unstable();
    assert_eq!(to, vec!["ga@contoso.example", "plain@contoso.example"], "one email each");
    assert!(new.iter().all(|e| e.subject.starts_with("Invoice PB-2026-")));
}

/// The response of an idempotent purchase is written by the purchase's own transaction: with no
/// completion afterwards (as if the process died right after the commit), a retry with the key is
/// answered with the original response and buys nothing.
async fn an_idempotent_purchase_stores_its_answer_with_its_work(backend: Backend) {
    use std::sync::atomic::AtomicBool;

    use pb_store::{Completion, IdempotencyClaim, StoredResponse};
    let Some(w) = world(backend, "commerce_idempotent").await else { return };
    link_new(&w, "Main").await;
    let (scope, key, hash) = (w.mcpp.tenant().to_string(), "buy-once", "h1");
    let claim = w.store.claim_idempotency_key(&scope, key, hash, "POST", "/api/v1/purchases").await.unwrap();
    assert_eq!(claim, IdempotencyClaim::New);
    let done = Arc::new(AtomicBool::new(false));
    let completion = Completion::new(scope.clone(), key.into(), done.clone(), |p: &pb_store::Purchase| StoredResponse {
        status: 201,
        body: p.id.to_string(),
        headers: vec![],
    });
    let p = w.store.create_purchase(&w.mcpp.clone().completing(Some(completion.clone())), &buy("security", 1)).await.unwrap();
    assert!(completion.completed());
    let retry = w.store.claim_idempotency_key(&scope, key, hash, "POST", "/api/v1/purchases").await.unwrap();
    assert_eq!(retry, IdempotencyClaim::Replay(StoredResponse { status: 201, body: p.id.to_string(), headers: vec![] }));
    assert_eq!(w.store.list_purchases(&w.ga, None, None, None).await.unwrap().items.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_rule_t3_invoice_ready_reaches_owners_and_invoice_managers_only() {
    rule_t3_invoice_ready_reaches_owners_and_invoice_managers_only(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_rule_t3_invoice_ready_reaches_owners_and_invoice_managers_only() {
    rule_t3_invoice_ready_reaches_owners_and_invoice_managers_only(Backend::Postgres).await;
}

/// Two runs of one key (a claim taken over from an instance that only looked gone, the first still
/// running): the first to finish is the answer, the other's purchase is rolled back with its
/// transaction, so one key never buys twice.
async fn crash_safety_a_second_run_of_one_key_buys_nothing(backend: Backend) {
    use std::sync::atomic::AtomicBool;

    use pb_store::{Completion, IdempotencyClaim, StoreError, StoredResponse};
    let Some(w) = world(backend, "commerce_second_run").await else { return };
    link_new(&w, "Main").await;
    let (scope, key, hash) = (w.mcpp.tenant().to_string(), "buy-once", "h1");
    let claim = w.store.claim_idempotency_key(&scope, key, hash, "POST", "/api/v1/purchases").await.unwrap();
    assert_eq!(claim, IdempotencyClaim::New);
    let run = || {
        Completion::new(scope.clone(), key.into(), Arc::new(AtomicBool::new(false)), |p: &pb_store::Purchase| StoredResponse {
            status: 201,
            body: p.id.to_string(),
            headers: vec![],
        })
    };
    let (first, second) = (run(), run());
    let p = w.store.create_purchase(&w.mcpp.clone().completing(Some(first)), &buy("security", 1)).await.unwrap();
    let again = w.store.create_purchase(&w.mcpp.clone().completing(Some(second.clone())), &buy("security", 1)).await;
    assert!(matches!(again, Err(StoreError::Conflict { code: "idempotency_key_in_use", .. })), "{again:?}");
    assert!(!second.completed());
    // The answer stands even if the loser's refusal is stored afterwards (as the API layer does).
    let refusal = StoredResponse { status: 409, body: "in use".into(), headers: vec![] };
    w.store.complete_idempotency_key(&scope, key, &refusal).await.unwrap();
    let retry = w.store.claim_idempotency_key(&scope, key, hash, "POST", "/api/v1/purchases").await.unwrap();
    assert_eq!(retry, IdempotencyClaim::Replay(StoredResponse { status: 201, body: p.id.to_string(), headers: vec![] }));
    assert_eq!(w.store.list_purchases(&w.ga, None, None, None).await.unwrap().items.len(), 1, "one key, one purchase");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_crash_safety_a_second_run_of_one_key_buys_nothing() {
    crash_safety_a_second_run_of_one_key_buys_nothing(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_crash_safety_a_second_run_of_one_key_buys_nothing() {
    crash_safety_a_second_run_of_one_key_buys_nothing(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_an_idempotent_purchase_stores_its_answer_with_its_work() {
    an_idempotent_purchase_stores_its_answer_with_its_work(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_an_idempotent_purchase_stores_its_answer_with_its_work() {
    an_idempotent_purchase_stores_its_answer_with_its_work(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_rule_b2_purchases_are_billed_to_the_link_in_force_and_invoiced_once() {
    purchases_are_billed_to_the_link_in_force_and_invoiced_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_rule_b2_purchases_are_billed_to_the_link_in_force_and_invoiced_once() {
    purchases_are_billed_to_the_link_in_force_and_invoiced_once(Backend::Postgres).await;
}
