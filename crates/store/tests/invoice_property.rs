//! Rules B2, B4, B5, C4 as a property: over random histories of purchases (at random instants,
//! exact month edges included), link changes, retries with the same idempotency key, re-runs and
//! concurrent runs of the month close, every charge ends on exactly one line of the invoice of the
//! profile linked when it was bought, totals are sums of their lines, and invoice numbers are
//! contiguous per year.
#![expect(clippy::unwrap_used, reason = "a test fails loudly where a value must be there")]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use pb_domain::{
    AddressInput, BillingProfileId, ContactInput, Currency, DirectoryRole, DisplayName, EmailAddress, LegalProfileInput, Money, OfferId,
    OfferKind, PartnerAccountState, PartnerRole, PaymentInstrumentInput, Period, PurchaseId, TestClock,
};
use pb_store::testing::user_ctx;
use pb_store::{
    Backend, Completion, Ctx, IdempotencyClaim, LinkCommand, NewBillingAccount, NewPurchase, NewUser, PaymentChoice, PutOffer,
    PutPartnerAccount, Store, StoredResponse, UserCtx,
};
use proptest::prelude::*;
use time::OffsetDateTime;
use time::macros::datetime;

#[derive(Debug, Clone)]
enum Step {
    /// Move the clock forward by this many seconds.
    Wait(i64),
    /// Move the clock to a month edge near now: the last microsecond of the month, its end, or its
    /// end plus one microsecond.
    Edge(u8),
    /// Buy `quantity` of the designation, with idempotency key `key` (a reused key is a retry).
    Buy { quantity: i64, key: u8 },
    /// Link target `n` (of four profiles under two accounts).
    Link(usize),
    /// Close every ended month, twice at once.
    CloseTwice,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0i64..40 * 86_400).prop_map(Step::Wait),
        2 => (0u8..3).prop_map(Step::Edge),
        5 => (1i64..4, 0u8..12).prop_map(|(quantity, key)| Step::Buy { quantity, key }),
        2 => (0usize..4).prop_map(Step::Link),
        1 => Just(Step::CloseTwice),
    ]
}

fn name(s: &str) -> DisplayName {
    DisplayName::parse(s).unwrap()
}

struct World {
    store: Store,
    clock: Arc<TestClock>,
    ga: UserCtx,
    mcpp: UserCtx,
    targets: Vec<(pb_domain::BillingAccountId, BillingProfileId)>,
}

async fn world(store: Store, clock: Arc<TestClock>) -> World {
    let op = Ctx::operator("op", None);
    let t = store.create_tenant(&op, &name("Prop"), "prop.example").await.unwrap();
    for (email, dir, partner) in
        [("ga@prop.example", vec![DirectoryRole::GlobalAdmin], vec![]), ("mcpp@prop.example", vec![], vec![PartnerRole::McppAdmin])]
    {
        let new =
            NewUser { email: EmailAddress::parse(email).unwrap(), display_name: name("U"), directory_roles: dir, partner_roles: partner };
        store.create_user(&op, t.id, &new).await.unwrap();
    }
    let lp = LegalProfileInput {
        company_name: Some("Prop Ltd".into()),
        sold_to: Some(AddressInput { address_line1: Some("1 Main St".into()), country: Some("US".into()), ..Default::default() }),
        primary_contact: None,
    }
    .parse()
    .unwrap();
    let put = PutPartnerAccount { partner_id: "1".into(), name: name("Prop"), state: PartnerAccountState::Active, legal_profile: lp };
    store.put_partner_account(&op, t.id, &put).await.unwrap();
    let offer = PutOffer {
        name: name("Designation"),
        kind: OfferKind::Designation,
        term_months: 12,
        one_per_partner: false,
        active: true,
        prices: vec![Money::new(12_345, Currency::USD)],
    };
    store.put_offer(&op, &OfferId::parse("designation").unwrap(), &offer).await.unwrap();
    let ga = user_ctx(&store, t.id, "ga@prop.example").await;
    let contact = ContactInput { name: Some("Pat".into()), email: Some("pat@prop.example".into()), phone: None }.parse().ok();
    let instrument =
        PaymentInstrumentInput { kind: Some("card".into()), token: Some("tok".into()), display_hint: Some("Visa 4242".into()) }
            .parse()
            .unwrap();
    let mut targets = Vec::new();
    for a in 0..2 {
        let new = NewBillingAccount { display_name: Some(name(&format!("A{a}"))), primary_contact: contact.clone() };
        let account = store.create_billing_account(&ga, &new).await.unwrap();
        for p in 0..2 {
            let profile = store.create_billing_profile(&ga, account.id, &name(&format!("P{a}{p}")), pb_store::Flow::Direct).await.unwrap();
            store.add_payment_instrument(&ga, profile.id, &instrument).await.unwrap();
            targets.push((account.id, profile.id));
        }
    }
    World { mcpp: user_ctx(&store, t.id, "mcpp@prop.example").await, store, clock, ga, targets }
}

async fn link(w: &World, n: usize) {
    let (_, version) = w.store.current_link(&w.ga).await.unwrap();
    let (a, p) = w.targets[n];
    let cmd = LinkCommand {
        billing_account_id: a,
        billing_profile_id: p,
        accept_agreement: true,
        accept_secondary_acknowledgement: false,
        if_match: Some(version),
    };
    w.store.link_billing(&w.ga, &cmd).await.unwrap();
}

/// Closes every month from `first` up to the last one ended, twice at once.
async fn close_ended(w: &World, first: Period) {
    let now = w.store.clock().now();
    let mut p = first;
    while p.has_ended(now) {
        let (ctx, (mut pa, mut pb)) = (Ctx::system(), ((), ()));
        let (a, b) = tokio::join!(w.store.run_invoices(&ctx, p, &mut pa), w.store.run_invoices(&ctx, p, &mut pb));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.profiles, b.profiles);
        p = p.next();
    }
}

/// What the test expects of each purchase it made: the profile linked then, and its instant.
struct Expected {
    profile: BillingProfileId,
    at: OffsetDateTime,
    amount: i64,
}

async fn history(w: &World, steps: &[Step]) -> BTreeMap<PurchaseId, Expected> {
    let first = Period::containing(w.store.clock().now());
    link(w, 0).await;
    let mut linked = 0;
    let mut made: BTreeMap<PurchaseId, Expected> = BTreeMap::new();
    let mut by_key: HashMap<u8, PurchaseId> = HashMap::new();
    let scope = w.mcpp.tenant().to_string();
    for s in steps {
        match s {
            Step::Wait(secs) => w.clock.advance(time::Duration::seconds(*secs)),
            Step::Edge(k) => {
                let end = Period::containing(w.store.clock().now()).end();
                w.clock.set(end + time::Duration::microseconds(i64::from(*k) - 1));
            }
            Step::Link(n) => {
                link(w, *n).await;
                linked = *n;
            }
            Step::CloseTwice => close_ended(w, first).await,
            Step::Buy { quantity, key } => {
                let key_text = format!("k{key}-{quantity}");
                let claim = w.store.claim_idempotency_key(&scope, &key_text, &key_text, "POST", "/api/v1/purchases").await.unwrap();
                match claim {
                    IdempotencyClaim::New => {
                        let done = Arc::new(AtomicBool::new(false));
                        let c = Completion::new(scope.clone(), key_text, done, |p: &pb_store::Purchase| StoredResponse {
                            status: 201,
                            body: p.id.to_string(),
                            headers: vec![],
                        });
                        let new = NewPurchase {
                            offer_id: OfferId::parse("designation").unwrap(),
                            quantity: *quantity,
                            invoice_section_id: None,
                            payment: PaymentChoice::Default,
                        };
                        let p = w.store.create_purchase(&w.mcpp.clone().completing(Some(c)), &new).await.unwrap();
                        made.insert(p.id, Expected { profile: w.targets[linked].1, at: p.purchased_at, amount: p.amount.amount_minor });
                        by_key.insert(*key, p.id);
                    }
                    IdempotencyClaim::Replay(r) => {
                        // A retry: the original answer, and no second purchase.
                        assert_eq!(r.status, 201);
                        assert!(made.contains_key(&PurchaseId::parse(&r.body).unwrap()));
                    }
                    other => panic!("unexpected claim {other:?}"),
                }
            }
        }
    }
    // Close the last month too.
    let end = Period::containing(w.store.clock().now()).end();
    w.clock.set(end + time::Duration::seconds(1));
    close_ended(w, first).await;
    made
}

async fn check(w: &World, made: &BTreeMap<PurchaseId, Expected>) {
    let mut seen: BTreeSet<PurchaseId> = BTreeSet::new();
    let mut numbers: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for (_, profile) in &w.targets {
        let invoices = w.store.list_invoices(&w.ga, *profile, None, Some(200)).await.unwrap().items;
        let periods: BTreeSet<Period> = invoices.iter().map(|i| i.period).collect();
        assert_eq!(periods.len(), invoices.len(), "one invoice per profile and month");
        for summary in invoices {
            let inv = w.store.get_invoice(&w.ga, summary.id).await.unwrap();
            let year: i32 = inv.summary.number[3..7].parse().unwrap();
            numbers.entry(year).or_default().push(inv.summary.number[8..].parse().unwrap());
            let mut total = 0;
            for s in &inv.sections {
                let sub: i64 = s.lines.iter().map(|l| l.amount.amount_minor).sum();
                assert_eq!(s.subtotal.amount_minor, sub, "a subtotal is the sum of its lines");
                total += sub;
                for l in &s.lines {
                    assert!(seen.insert(l.purchase_id), "{} is on two lines", l.purchase_id);
                    let e = &made[&l.purchase_id];
                    assert_eq!(e.profile, *profile, "billed to the profile linked when it was bought");
                    assert!(summary.period.contains(e.at), "on the invoice of its own month");
                    assert_eq!(e.amount, l.amount.amount_minor);
                }
            }
            assert_eq!(inv.summary.total.amount_minor, total, "the total is the sum of the lines");
        }
    }
    assert_eq!(seen.len(), made.len(), "every charge is on a line");
    for (year, mut n) in numbers {
        n.sort_unstable();
        let expected: Vec<i64> = (1..=i64::try_from(n.len()).unwrap()).collect();
        assert_eq!(n, expected, "numbers of {year} are contiguous from 1");
    }
}

fn property(backend: Backend, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    rt.block_on(async move {
        let clock = Arc::new(TestClock::new(datetime!(2026-01-30 22:00 UTC)));
        let Some(store) = pb_store::testing::store_with_clock(backend, "rule_b4_property_every_charge_once", clock.clone()).await else {
            return Ok(());
        };
        let w = world(store, clock).await;
        let made = history(&w, &steps).await;
        check(&w, &made).await;
        w.store.close().await;
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn rule_b4_property_every_charge_on_exactly_one_line_sqlite(steps in proptest::collection::vec(step(), 1..30)) {
        property(Backend::Sqlite, steps)?;
    }

    #[test]
    fn rule_b4_property_every_charge_on_exactly_one_line_postgres(steps in proptest::collection::vec(step(), 1..30)) {
        property(Backend::Postgres, steps)?;
    }
}
