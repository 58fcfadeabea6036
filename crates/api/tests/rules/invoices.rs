//! Monthly invoices (B4, B5) through the API: the run, re-runs, month edges, the invoice as JSON,
//! CSV and PDF with the same figures, the invoice-ready notice (T3), and the test clock.

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::purchases::{buy, catalog};
use super::{etag, fund, linked, profile, put_link};
use crate::support::TestApp;

/// The first instant of the month after `t`'s.
fn next_month(t: OffsetDateTime) -> OffsetDateTime {
    pb_domain::Period::containing(t).end()
}

fn period_of(t: OffsetDateTime) -> String {
    pb_domain::Period::containing(t).to_string()
}

async fn set_clock(app: &TestApp, to: OffsetDateTime) {
    let body = json!({"now": to.format(&Rfc3339).unwrap()});
    let r = app.call("PUT", "/api/v1/test-clock", &app.operator_token(), Some(body)).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

async fn run(app: &TestApp, period: &str) -> Value {
    let r = app.call("POST", "/api/v1/invoice-runs", &app.operator_token(), Some(json!({"period": period}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

fn sum(v: &Value, path: &str) -> i64 {
    v.as_array().unwrap().iter().map(|x| x[path]["amount_minor"].as_i64().unwrap()).sum()
}

async fn rule_b4_one_invoice_per_profile_and_month_grouped_by_section(store: pb_store::Store) {
    let app = TestApp::with_test_clock(store, crate::support::faces).await;
    catalog(&app).await;
    let t = app.tenant("B4", "US", "active").await;
    // A fresh month a little ahead, so that the run can close it.
    let start = next_month(OffsetDateTime::now_utc()) + time::Duration::days(2);
    set_clock(&app, start).await;
    let (ba, bp) = linked(&app, &t).await;
    let lab =
        app.call("POST", &format!("/api/v1/billing-profiles/{bp}/invoice-sections"), &t.ga, Some(json!({"display_name": "Lab"}))).await;
    let lab = lab.body["id"].as_str().unwrap().to_owned();
    for (offer, q, section) in [("security", 2, None), ("action-pack", 1, None), ("security", 1, Some(lab.clone()))] {
        let mut body = json!({"offer_id": offer, "quantity": q});
        if let Some(s) = section {
            body["invoice_section_id"] = json!(s);
        }
        assert_eq!(buy(&app, &t.mcpp, body).await.status, 201);
    }
    let period = period_of(start);
    let r = app.call("POST", "/api/v1/invoice-runs", &app.operator_token(), Some(json!({"period": period}))).await;
    r.problem(422, "period_not_ended");
    set_clock(&app, next_month(start) + time::Duration::hours(1)).await;
    let s = run(&app, &period).await;
    assert_eq!((s["profiles"].as_i64(), s["invoices_created"].as_i64(), s["charges"].as_i64()), (Some(1), Some(1), Some(3)));
    let again = run(&app, &period).await;
    assert_eq!(
        (again["invoices_created"].as_i64(), again["invoices_already_issued"].as_i64()),
        (Some(0), Some(1)),
        "never a second invoice"
    );
    let list = app.get(&format!("/api/v1/billing-profiles/{bp}/invoices"), &t.ga).await;
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(1));
    let id = list.body["items"][0]["id"].as_str().unwrap().to_owned();
    let inv = app.get(&format!("/api/v1/invoices/{id}"), &t.ga).await.body;
    assert!(inv["number"].as_str().is_some_and(|n| n.len() == 14 && n.starts_with("PB-") && n.ends_with("-000001")), "{inv}");
    assert_eq!(inv["period"], period.as_str());
    assert_eq!(inv["billing_account_id"], ba.as_str());
    assert_eq!(inv["currency"], "USD");
    assert_eq!(inv["status"], "issued");
    assert_eq!(inv["bill_to"]["country"], "US");
    let issue = time::Date::parse(inv["issue_date"].as_str().unwrap(), time::macros::format_description!("[year]-[month]-[day]")).unwrap();
    let due = time::Date::parse(inv["due_date"].as_str().unwrap(), time::macros::format_description!("[year]-[month]-[day]")).unwrap();
    assert_eq!(due - issue, time::Duration::days(30));
    let sections = inv["sections"].as_array().unwrap();
    assert_eq!(sections.len(), 2, "grouped by invoice section");
    // Rule B5: subtotals are sums of their lines, the total the sum of the subtotals, in minor units.
    let mut total = 0;
    for s in sections {
        assert_eq!(s["subtotal"]["amount_minor"].as_i64(), Some(sum(&s["lines"], "amount")));
        total += s["subtotal"]["amount_minor"].as_i64().unwrap();
    }
    assert_eq!(inv["total"]["amount_minor"].as_i64(), Some(total));
    assert_eq!(total, 2 * 125_000 + 47_500 + 125_000);
    let lab_section = sections.iter().find(|s| s["invoice_section_id"] == lab.as_str()).unwrap();
    assert_eq!(lab_section["name"], "Lab");
    // The purchases now name their invoice; the owner was told (rule T3).
    let purchases = app.get("/api/v1/purchases", &t.ga).await.body["items"].clone();
    assert!(purchases.as_array().unwrap().iter().all(|p| p["invoice_id"] == id.as_str()));
    let notes = app.get("/api/v1/notifications", &t.ga).await.body["items"].clone();
    let ready: Vec<&Value> = notes.as_array().unwrap().iter().filter(|n| n["kind"] == "invoice_ready").collect();
    assert_eq!(ready.len(), 1);
    assert_eq!(ready[0]["action_url"], format!("/billing/invoices/{id}"));
    assert_eq!(
        app.get("/api/v1/notifications", &t.mcpp).await.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["kind"] == "invoice_ready")
            .count(),
        0
    );
}

/// The same figures in CSV and PDF as in JSON.
async fn rule_b5_the_invoice_as_json_csv_and_pdf_has_the_same_figures(store: pb_store::Store) {
    let app = TestApp::with_test_clock(store, crate::support::faces).await;
    catalog(&app).await;
    let t = app.tenant("B5", "DE", "active").await;
    let start = next_month(OffsetDateTime::now_utc()) + time::Duration::days(3);
    set_clock(&app, start).await;
    let (_, bp) = linked(&app, &t).await;
    assert_eq!(buy(&app, &t.mcpp, json!({"offer_id": "security", "quantity": 3})).await.status, 201);
    set_clock(&app, next_month(start)).await;
    run(&app, &period_of(start)).await;
    let id = app.get(&format!("/api/v1/billing-profiles/{bp}/invoices"), &t.ga).await.body["items"][0]["id"].as_str().unwrap().to_owned();
    let json = app.get(&format!("/api/v1/invoices/{id}"), &t.ga).await.body;
    assert_eq!(json["total"], json!({"amount_minor": 345_000, "currency": "EUR"}), "priced in the profile's currency");
    let auth = format!("Bearer {}", t.ga);
    let csv = app.send("GET", &format!("/api/v1/invoices/{id}"), &[("authorization", &auth), ("accept", "text/csv")], None).await;
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").is_some_and(|c| c.starts_with("text/csv")));
    let text = csv.text();
    let mut rows = text.lines();
    assert_eq!(rows.next(), Some("invoice_number,section,description,quantity,unit_price_minor,amount_minor,currency"));
    let line: Vec<&str> = rows.next().unwrap().split(',').collect();
    assert_eq!(line[0], json["number"].as_str().unwrap());
    assert_eq!(&line[3..], ["3", "115000", "345000", "EUR"]);
    assert!(rows.next().is_none(), "one row per line");
    let pdf = app.send("GET", &format!("/api/v1/invoices/{id}"), &[("authorization", &auth), ("accept", "application/pdf")], None).await;
    assert_eq!(pdf.status, 200);
    assert_eq!(pdf.header("content-type").as_deref(), Some("application/pdf"));
    assert!(pdf.raw.starts_with(b"%PDF-"));
    if let Some(text) = pdf_text(&pdf.raw) {
        assert!(text.contains(json["number"].as_str().unwrap()), "{text}");
        assert!(text.contains("3,450.00 EUR"), "{text}");
    }
    // Another tenant cannot read it, in any form.
    let other = app.tenant("B5other", "US", "active").await;
    app.get(&format!("/api/v1/invoices/{id}"), &other.ga).await.problem(404, "not_found");
}

/// The text of a PDF by Debian's `pdftotext`, when it is installed.
fn pdf_text(pdf: &[u8]) -> Option<String> {
    let path = std::env::temp_dir().join(format!("pb-invoice-{}.pdf", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, pdf).ok()?;
    let out = std::process::Command::new("pdftotext").args(["-layout", &path.display().to_string(), "-"]).output();
    let _ = std::fs::remove_file(&path);
    match out {
        Ok(o) if o.status.success() => Some(String::from_utf8_lossy(&o.stdout).into_owned()),
        _ => {
            eprintln!("SKIPPED: pdftotext is not installed (Debian poppler-utils); the PDF's text was not read back");
            None
        }
    }
}

/// A purchase in the last instant of a month and one in the first of the next land in different
/// periods; one just before a link change and one just after on different profiles' invoices.
async fn rule_b4_month_edges_and_link_changes_split_charges_exactly(store: pb_store::Store) {
    let app = TestApp::with_test_clock(store, crate::support::faces).await;
    catalog(&app).await;
    let t = app.tenant("Edges", "US", "active").await;
    let start = next_month(OffsetDateTime::now_utc()) + time::Duration::days(5);
    set_clock(&app, start).await;
    let (ba, bp1) = linked(&app, &t).await;
    let end = next_month(start);
    set_clock(&app, end - time::Duration::milliseconds(300)).await;
    assert_eq!(buy(&app, &t.mcpp, json!({"offer_id": "security", "quantity": 1})).await.status, 201);
    let bp2 = profile(&app, &t.ga, &ba, "Two").await;
    fund(&app, &t.ga, &bp2).await;
    set_clock(&app, end).await;
    let tag = etag(&app, &t.ga).await;
    assert_eq!(put_link(&app, &t.ga, &ba, &bp2, false, Some(&tag)).await.status, 200);
    assert_eq!(buy(&app, &t.mcpp, json!({"offer_id": "security", "quantity": 2})).await.status, 201);
    set_clock(&app, next_month(end)).await;
    let first = run(&app, &period_of(start)).await;
    let second = run(&app, &period_of(end)).await;
    assert_eq!((first["charges"].as_i64(), second["charges"].as_i64()), (Some(1), Some(1)));
    let invoices = |bp: String| {
        let app = &app;
        let token = t.ga.clone();
        async move { app.get(&format!("/api/v1/billing-profiles/{bp}/invoices"), &token).await.body["items"].clone() }
    };
    let on1 = invoices(bp1).await;
    let on2 = invoices(bp2).await;
    assert_eq!((on1[0]["period"].clone(), on1[0]["total"]["amount_minor"].clone()), (json!(period_of(start)), json!(125_000)));
    assert_eq!((on2[0]["period"].clone(), on2[0]["total"]["amount_minor"].clone()), (json!(period_of(end)), json!(250_000)));
    assert_ne!(on1[0]["number"], on2[0]["number"]);
}

async fn invoice_runs_are_for_operators_and_ended_months(app: TestApp) {
    let t = app.tenant("Runs", "US", "active").await;
    let r = app.call("POST", "/api/v1/invoice-runs", &t.ga, Some(json!({"period": "2025-01"}))).await;
    r.problem(403, "forbidden");
    let op = app.operator_token();
    app.call("POST", "/api/v1/invoice-runs", &op, Some(json!({"period": "2025-13"}))).await.problem(422, "validation_failed");
    app.call("POST", "/api/v1/invoice-runs", &op, Some(json!({"period": "2999-01"}))).await.problem(422, "period_not_ended");
    let done = app.call("POST", "/api/v1/invoice-runs", &op, Some(json!({"period": "2025-01"}))).await;
    assert_eq!(done.status, 200);
    assert_eq!(done.body["charges"], 0);
    let runs = app.get("/api/v1/invoice-runs", &op).await;
    assert_eq!(runs.body["items"][0]["period"], "2025-01");
    // Without --test-clock the clock's paths do not exist.
    app.get("/api/v1/test-clock", &op).await.problem(404, "not_found");
}

async fn the_test_clock_moves_forward_only_for_operators(store: pb_store::Store) {
    let app = TestApp::with_test_clock(store, crate::support::faces).await;
    let t = app.tenant("Clock", "US", "active").await;
    let now = app.get("/api/v1/test-clock", &t.ga).await;
    assert_eq!(now.status, 200);
    let later = OffsetDateTime::now_utc() + time::Duration::days(45);
    let body = json!({"now": later.format(&Rfc3339).unwrap()});
    app.call("PUT", "/api/v1/test-clock", &t.ga, Some(body.clone())).await.problem(403, "forbidden");
    set_clock(&app, later).await;
    let earlier = json!({"now": OffsetDateTime::now_utc().format(&Rfc3339).unwrap()});
    app.call("PUT", "/api/v1/test-clock", &app.operator_token(), Some(earlier)).await.problem(422, "validation_failed");
    let read =
        app.get("/api/v1/test-clock", &t.ga).await.body["now"].as_str().map(|s| OffsetDateTime::parse(s, &Rfc3339).unwrap()).unwrap();
    assert!(read >= later);
    // Purchases and links read the same clock.
    catalog(&app).await;
    linked(&app, &t).await;
    let p = buy(&app, &t.mcpp, json!({"offer_id": "security", "quantity": 1})).await;
    let at = OffsetDateTime::parse(p.body["purchased_at"].as_str().unwrap(), &Rfc3339).unwrap();
    assert!(at >= later);
}

pb_store::both_backends!(with crate::support::app;
    invoice_runs_are_for_operators_and_ended_months,
);

mod clocked {
    use super::{
        rule_b4_month_edges_and_link_changes_split_charges_exactly, rule_b4_one_invoice_per_profile_and_month_grouped_by_section,
        rule_b5_the_invoice_as_json_csv_and_pdf_has_the_same_figures, the_test_clock_moves_forward_only_for_operators,
    };

    pb_store::both_backends!(with pb_store::testing::ready;
        rule_b4_one_invoice_per_profile_and_month_grouped_by_section,
        rule_b5_the_invoice_as_json_csv_and_pdf_has_the_same_figures,
        rule_b4_month_edges_and_link_changes_split_charges_exactly,
        the_test_clock_moves_forward_only_for_operators,
    );
}
