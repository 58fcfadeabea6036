//! The commerce pages in-process: the membership page's offers, buy form and refusals (rules A5,
//! B1–B3, M4), the invoice pages and downloads (rules B4, B5) and the spend chart, on SQLite and
//! PostgreSQL.

use std::sync::Arc;

use axum::http::{StatusCode, header};
use pb_app::AppConfig;
use pb_app::testing::{TestApp, TestTenant};
use pb_documents::{Party, invoice_csv, invoice_document};
use pb_domain::{AdjustableClock, ContactInput, Currency, DisplayName, Money, OfferId, OfferKind, Period};
use pb_store::testing::user_ctx;
use pb_store::{
    AccountChoice, BillingProfile, Ctx, NewBillingAccount, NewPurchase, PaymentChoice, ProfileChoice, PutOffer, SetupCommand, Store,
    UserCtx, both_backends,
};
use time::OffsetDateTime;

use super::{Page, Web, faces, main_text, value_after};

/// The pages over a store whose clock the test moves (as `serve --test-clock` does).
async fn web_with_clock(store: Store) -> (Web, Arc<AdjustableClock>) {
    let clock = Arc::new(AdjustableClock::default());
    let store = store.with_clock(clock.clone());
    let config = AppConfig { dev_sign_in: true, ..Default::default() };
    (Web { app: TestApp::with_config(store.clone(), config, faces).await, store }, clock)
}

async fn offer(store: &Store, id: &str, name: &str, one_per_partner: bool, prices: &[(i64, Currency)]) {
    let put = PutOffer {
        name: DisplayName::parse(name).unwrap(),
        kind: if one_per_partner { OfferKind::ActionPack } else { OfferKind::Designation },
        term_months: 12,
        one_per_partner,
        active: true,
        prices: prices.iter().map(|(minor, c)| Money::new(*minor, *c)).collect(),
    };
    store.put_offer(&Ctx::operator("op", None), &OfferId::parse(id).unwrap(), &put).await.unwrap();
}

async fn catalog(store: &Store) {
    offer(store, "security", "Solutions Partner for Security", false, &[(125_000, Currency::USD), (115_000, Currency::EUR)]).await;
    offer(store, "us-only", "US launch bundle", false, &[(9_900, Currency::USD)]).await;
    offer(store, "action-pack", "Action Pack", true, &[(47_500, Currency::USD), (44_000, Currency::EUR)]).await;
}

/// A tenant whose global admin created and linked an account (with a contact) and a profile.
pub(super) async fn linked_tenant(w: &Web, country: &str) -> (TestTenant, UserCtx, BillingProfile) {
    let t = w.app.tenant("Contoso", country, "active").await;
    let ga = user_ctx(&w.store, t.tenant_id(), &format!("ga@{}", t.domain)).await;
    let profile = link_new(w, &ga).await;
    (t, ga, profile)
}

/// The global admin `ga` creates an account (with a contact) and a profile and links them.
pub(super) async fn link_new(w: &Web, ga: &UserCtx) -> BillingProfile {
    let contact = ContactInput { name: Some("Pat".into()), email: Some("pat@contoso.example".into()), phone: None }.parse().unwrap();
    let cmd = SetupCommand {
        account: AccountChoice::New(NewBillingAccount {
            display_name: Some(DisplayName::parse("Contoso billing").unwrap()),
            primary_contact: Some(contact),
        }),
        profile: ProfileChoice::New(DisplayName::parse("Contoso profile").unwrap()),
        accept_agreement: true,
        accept_secondary_acknowledgement: false,
        if_match: None,
    };
    w.store.setup_link(ga, &cmd).await.unwrap().profile
}

/// A urlencoded form body.
pub(super) fn form(fields: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
            .collect::<String>()
    };
    fields.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

async fn buy(w: &Web, session: &str, fields: &[(&str, &str)]) -> Page {
    let page = w.send("GET", "/membership", Some(session), None).await;
    let csrf = value_after(&page.html, "name=\"csrf\" value=\"");
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    w.send("POST", "/membership/purchases", Some(session), Some(form(&all))).await
}

async fn rule_b2_membership_page_prices_offers_in_the_linked_profiles_currency(store: Store) {
    catalog(&store).await;
    let w = super::web(store, None).await;
    let (t, _, _) = linked_tenant(&w, "DE").await;
    let session = w.sign_in(&format!("ga@{}", t.domain)).await;
    let p = w.send("GET", "/membership", Some(&session), None).await;
    assert_eq!(p.status, StatusCode::OK);
    let text = main_text(&p.html);
    assert!(text.contains("Prices in EUR"), "{text}");
    assert!(text.contains("Solutions Partner for Security") && text.contains("1,150.00 EUR"), "{text}");
    assert!(text.contains("Not sold in EUR"), "an offer without a EUR price says so: {text}");
    assert!(p.html.contains("id=\"buy-security\"") && !p.html.contains("id=\"buy-us-only\""), "no buy form for an unsold offer");
    assert!(p.html.contains("data-testid=\"purchase-ready\""));
    assert!(p.html.contains("(default)</option>"), "the default section is offered");
}

async fn rule_a5_a_purchase_through_the_form_is_made_and_a_forged_token_refused(store: Store) {
    catalog(&store).await;
    let w = super::web(store, None).await;
    let (t, ga, profile) = linked_tenant(&w, "US").await;
    let section = profile.invoice_sections[0].id.to_string();
    let session = w.sign_in(&format!("ga@{}", t.domain)).await;
    let fields = [
        ("offer_id", "security"),
        ("quantity", "2"),
        ("invoice_section_id", section.as_str()),
        ("payment", "new"),
        ("kind", "card"),
        ("token", "tok_visa"),
        ("display_hint", "Visa 4242"),
    ];
    // A forged token changes nothing.
    let forged = w.send("POST", "/membership/purchases", Some(&session), Some(form(&[("csrf", "forged"), ("offer_id", "security")]))).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(w.store.list_purchases(&ga, None, None, None).await.unwrap().items.is_empty(), "nothing was bought");
    let r = buy(&w, &session, &fields).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", main_text(&r.html));
    let to = r.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let bought = w.store.list_purchases(&ga, Some(profile.id), None, Some(50)).await.unwrap().items;
    assert_eq!(bought.len(), 1);
    assert_eq!((bought[0].quantity, bought[0].amount), (2, Money::new(250_000, Currency::USD)));
    assert_eq!(bought[0].invoice_section_id.map(|s| s.to_string()), Some(section));
    assert_eq!(to, format!("/membership?bought={}", bought[0].id));
    let p = w.send("GET", &to, Some(&session), None).await;
    let text = main_text(&p.html);
    assert!(
        text.contains("You bought 2 × Solutions Partner for Security for 2,500.00 USD, billed to billing profile Contoso profile"),
        "{text}"
    );
    assert!(p.html.contains("data-testid=\"purchases\"") && text.contains("Not yet invoiced"), "{text}");
}

async fn rule_a5_a_plain_user_sees_the_offers_but_cannot_buy(store: Store) {
    catalog(&store).await;
    let w = super::web(store, None).await;
    let (t, ga, _) = linked_tenant(&w, "US").await;
    let session = w.sign_in(&format!("plain@{}", t.domain)).await;
    let p = w.send("GET", "/membership", Some(&session), None).await;
    assert!(p.html.contains("data-testid=\"purchase-role-needed\""));
    assert!(main_text(&p.html).contains("Solutions Partner for Security"));
    assert!(!p.html.contains("action=\"/membership/purchases\""), "no buy form");
    // A hand-made request with the session's token is refused by the store (rule A5).
    let r = buy(&w, &session, &[("offer_id", "security"), ("quantity", "1"), ("payment", "default")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(main_text(&r.html).contains("need the MCPP admin or Global administrator role"));
    assert!(w.store.list_purchases(&ga, None, None, None).await.unwrap().items.is_empty());
}

async fn rule_b3_m4_refusals_are_sentences_and_card_numbers_are_not_echoed(store: Store) {
    catalog(&store).await;
    let w = super::web(store, None).await;
    let (t, _, _) = linked_tenant(&w, "US").await;
    let session = w.sign_in(&format!("mcpp@{}", t.domain)).await;
    let p = w.send("GET", "/membership", Some(&session), None).await;
    // The MCPP admin holds no billing role on the linked profile, yet sees what it buys into (rule
    // A5): the profile's currency and its sections to choose from.
    assert!(!p.html.contains("data-testid=\"linked-unreadable\""), "{}", main_text(&p.html));
    assert!(p.html.contains("id=\"section-security\""), "{}", main_text(&p.html));
    let invoices = w.send("GET", "/billing/invoices", Some(&session), None).await;
    assert!(main_text(&invoices.html).contains("Your account has no billing role on the linked billing profile"));
    let r = buy(&w, &session, &[("offer_id", "security"), ("quantity", "1"), ("payment", "default")]).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(main_text(&r.html).contains("has no payment instrument"), "rule B3: {}", main_text(&r.html));
    let card = "4242 4242 4242 4242";
    let r = buy(
        &w,
        &session,
        &[("offer_id", "security"), ("quantity", "1"), ("payment", "new"), ("kind", "card"), ("token", card), ("display_hint", "Visa")],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.html.contains("data-testid=\"token-error\"") && !r.html.contains(card), "the card number is not echoed back");
    let r = buy(&w, &session, &[("offer_id", "security"), ("quantity", "0"), ("payment", "default")]).await;
    assert!(r.html.contains("Enter a quantity from 1 to 1000."));
    let new = [("payment", "new"), ("kind", "card"), ("token", "tok_mcpp"), ("display_hint", "Visa 1881")];
    let mut fields = vec![("offer_id", "action-pack"), ("quantity", "1")];
    fields.extend_from_slice(&new);
    assert_eq!(buy(&w, &session, &fields).await.status, StatusCode::SEE_OTHER);
    let again = buy(&w, &session, &[("offer_id", "action-pack"), ("quantity", "1"), ("payment", "default")]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(main_text(&again.html).contains("Action Pack is sold one per partner"), "{}", main_text(&again.html));
}

async fn rule_b1_m4_blockers_say_what_to_do_and_the_primary_contact_is_added_on_the_profile_page(store: Store) {
    catalog(&store).await;
    let w = super::web(store, None).await;
    let t = w.app.tenant("Contoso", "US", "active").await;
    let session = w.sign_in(&format!("ga@{}", t.domain)).await;
    // Rule B1: nothing linked yet; the page says where to link, and a purchase is refused so.
    let p = w.send("GET", "/membership", Some(&session), None).await;
    assert!(p.html.contains("data-testid=\"purchase-blocked\"") && p.html.contains("<a href=\"/account/billing-profile\">"));
    let r = buy(&w, &session, &[("offer_id", "security"), ("quantity", "1"), ("payment", "default")]).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(main_text(&r.html).contains("No billing account and profile are linked yet"), "{}", main_text(&r.html));
    let invoices = w.send("GET", "/billing/invoices", Some(&session), None).await;
    assert!(main_text(&invoices.html).contains("so there are no invoices"), "{}", main_text(&invoices.html));
    // Rule M4: an account without a primary contact; the page points to the profile's page.
    let ga = user_ctx(&w.store, t.tenant_id(), &format!("ga@{}", t.domain)).await;
    let cmd = SetupCommand {
        account: AccountChoice::New(NewBillingAccount {
            display_name: Some(DisplayName::parse("No contact").unwrap()),
            primary_contact: None,
        }),
        profile: ProfileChoice::New(DisplayName::parse("Profile").unwrap()),
        accept_agreement: true,
        accept_secondary_acknowledgement: false,
        if_match: None,
    };
    let linked = w.store.setup_link(&ga, &cmd).await.unwrap();
    let details = format!("/billing/profiles/{}", linked.profile.id);
    let p = w.send("GET", "/membership", Some(&session), None).await;
    assert!(main_text(&p.html).contains("The linked billing account has no primary contact"), "{}", main_text(&p.html));
    assert!(p.html.contains(&format!("<a href=\"{details}\">billing profile&#39;s details page</a>")));
    let r = buy(&w, &session, &[("offer_id", "security"), ("quantity", "1"), ("payment", "default")]).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(main_text(&r.html).contains("adds one on the billing profile"));
    let page = w.send("GET", &details, Some(&session), None).await;
    let csrf = value_after(&page.html, "name=\"csrf\" value=\"");
    let bad = form(&[("csrf", &csrf), ("contact_name", "Pat"), ("contact_email", "not-an-email")]);
    let r = w.send("POST", &format!("{details}/primary-contact"), Some(&session), Some(bad)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.html.contains("data-testid=\"contact_email-error\""));
    let good = form(&[("csrf", &csrf), ("contact_name", "Pat"), ("contact_email", "pat@contoso.example"), ("contact_phone", "")]);
    let r = w.send("POST", &format!("{details}/primary-contact"), Some(&session), Some(good)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", main_text(&r.html));
    let account = w.store.get_billing_account(&ga, linked.account.id).await.unwrap();
    assert_eq!(account.account.primary_contact.map(|c| c.email.to_string()), Some("pat@contoso.example".to_owned()));
    let p = w.send("GET", "/membership", Some(&session), None).await;
    assert!(p.html.contains("data-testid=\"purchase-ready\""), "{}", main_text(&p.html));
}

/// The first instant of the month after `t`'s.
fn next_month(t: OffsetDateTime) -> OffsetDateTime {
    Period::containing(t).end()
}

/// Two purchases in two sections of a month ahead, then that month closed: returns the profile and
/// the invoice's period.
async fn invoiced_month(w: &Web, clock: &AdjustableClock, ga: &UserCtx, profile: &BillingProfile) -> Period {
    let start = next_month(OffsetDateTime::now_utc()) + time::Duration::days(2);
    clock.set(start).unwrap();
    let lab = w.store.create_invoice_section(ga, profile.id, &DisplayName::parse("Lab").unwrap()).await.unwrap();
    let card =
        pb_domain::PaymentInstrumentInput { kind: Some("card".into()), token: Some("tok".into()), display_hint: Some("Visa 4242".into()) };
    for (offer, quantity, section) in [("security", 2, None), ("us-only", 1, Some(lab.id))] {
        let new = NewPurchase {
            offer_id: OfferId::parse(offer).unwrap(),
            quantity,
            invoice_section_id: section,
            payment: if section.is_none() { PaymentChoice::New(card.parse().unwrap()) } else { PaymentChoice::Default },
        };
        w.store.create_purchase(ga, &new).await.unwrap();
    }
    clock.set(next_month(start) + time::Duration::hours(1)).unwrap();
    let period = Period::containing(start);
    w.store.run_invoices(&Ctx::system(), period, &mut ()).await.unwrap();
    period
}

async fn rule_b4_an_issued_invoice_shows_on_its_pages_and_downloads_with_the_same_figures(store: Store) {
    catalog(&store).await;
    let (w, clock) = web_with_clock(store).await;
    let (t, ga, profile) = linked_tenant(&w, "US").await;
    let period = invoiced_month(&w, &clock, &ga, &profile).await;
    let inv_summary = w.store.list_invoices(&ga, profile.id, None, None).await.unwrap().items.remove(0);
    let inv = w.store.get_invoice(&ga, inv_summary.id).await.unwrap();
    // Signed in after the clock moved: sessions expire by the service's clock.
    let session = w.sign_in(&format!("ga@{}", t.domain)).await;
    let list = w.send("GET", &format!("/billing/profiles/{}/invoices", profile.id), Some(&session), None).await;
    let text = main_text(&list.html);
    assert_eq!(list.status, StatusCode::OK, "{text}");
    assert!(text.contains(&inv.summary.number) && text.contains(&period.to_string()) && text.contains("2,599.00 USD"), "{text}");
    assert!(list.html.contains(&format!("href=\"/billing/invoices/{}.pdf\"", inv.summary.id)));
    let detail = w.send("GET", &format!("/billing/invoices/{}", inv.summary.id), Some(&session), None).await;
    let text = main_text(&detail.html);
    for expected in ["Partner Program Billing", "Contoso Ltd", "Lab", "99.00 USD", "2,500.00 USD", "Total due 2,599.00 USD"] {
        assert!(text.contains(expected), "{expected} in {text}");
    }
    let seller = Party { name: "Partner Program Billing".into(), lines: Vec::new() };
    let csv = w.send("GET", &format!("/billing/invoices/{}.csv", inv.summary.id), Some(&session), None).await;
    assert_eq!(csv.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()), Some("text/csv; charset=utf-8"));
    let disposition = csv.headers.get(header::CONTENT_DISPOSITION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert_eq!(disposition, format!("attachment; filename=\"{}.csv\"", inv.summary.number));
    assert_eq!(csv.html, invoice_csv(&invoice_document(&inv, &seller)), "the same document as the API's");
    assert!(csv.html.contains(",Lab,US launch bundle,1,9900,9900,USD"), "{}", csv.html);
    let pdf = w.send("GET", &format!("/billing/invoices/{}.pdf", inv.summary.id), Some(&session), None).await;
    assert_eq!(pdf.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()), Some("application/pdf"));
    assert!(pdf.headers.get(header::CONTENT_DISPOSITION).and_then(|v| v.to_str().ok()).is_some_and(|d| d.starts_with("attachment;")));
    assert!(pdf.html.starts_with("%PDF-"));
    // The purchases now name their invoice on the membership page.
    let m = w.send("GET", "/membership", Some(&session), None).await;
    assert!(m.html.contains(&format!("<a href=\"/billing/invoices/{}\">{}</a>", inv.summary.id, inv.summary.number)));
    // Another tenant's user, or a user of this tenant without a billing role: no such invoice.
    let other = w.app.tenant("Fabrikam", "US", "active").await;
    for email in [format!("ga@{}", other.domain), format!("plain@{}", t.domain)] {
        let s = w.sign_in(&email).await;
        for path in [format!("/billing/invoices/{}", inv.summary.id), format!("/billing/invoices/{}.pdf", inv.summary.id)] {
            let r = w.send("GET", &path, Some(&s), None).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{email} {path}");
            assert!(main_text(&r.html).contains("No such invoice"));
        }
    }
}

async fn spend_chart_appears_on_the_profile_page_once_there_is_an_invoice(store: Store) {
    catalog(&store).await;
    let (w, clock) = web_with_clock(store).await;
    let (t, ga, profile) = linked_tenant(&w, "US").await;
    let path = format!("/billing/profiles/{}", profile.id);
    let session = w.sign_in(&format!("ga@{}", t.domain)).await;
    let before = w.send("GET", &path, Some(&session), None).await;
    assert!(before.html.contains("data-testid=\"no-spend\"") && !before.html.contains("<svg role=\"img\""));
    invoiced_month(&w, &clock, &ga, &profile).await;
    let session = w.sign_in(&format!("ga@{}", t.domain)).await;
    let after = w.send("GET", &path, Some(&session), None).await;
    assert!(after.html.contains("<svg role=\"img\" aria-label=\"Monthly spend by invoice section"), "{}", after.html);
    assert!(after.html.contains("<title id=\"spend-title\">"));
    assert_eq!(after.html.matches("<rect x=").count(), 2 + 2, "one segment per section, one legend swatch per section");
    let table = after.html.split("data-testid=\"spend-table\"").nth(1).unwrap_or_default();
    assert!(table.contains("Lab") && table.contains("99.00 USD") && table.contains("2,599.00 USD"), "{table}");
    assert!(after.html.contains(&format!("href=\"/billing/profiles/{}/invoices\"", profile.id)));
}

both_backends!(
    rule_b2_membership_page_prices_offers_in_the_linked_profiles_currency,
    rule_a5_a_purchase_through_the_form_is_made_and_a_forged_token_refused,
    rule_a5_a_plain_user_sees_the_offers_but_cannot_buy,
    rule_b3_m4_refusals_are_sentences_and_card_numbers_are_not_echoed,
    rule_b1_m4_blockers_say_what_to_do_and_the_primary_contact_is_added_on_the_profile_page,
    rule_b4_an_issued_invoice_shows_on_its_pages_and_downloads_with_the_same_figures,
    spend_chart_appears_on_the_profile_page_once_there_is_an_invoice,
);
