//! The access matrix (issue 10): every route of the OpenAPI document, so a route added later is
//! walked by itself, called by every principal (no token, another tenant's global admin, an
//! operator, the tenant's global admin, and each billing role at each scope), each outcome checked
//! against [`expect::expect`]. On SQLite and PostgreSQL.

mod expect;

use expect::{Outcome, Who};
use pb_domain::{BillingScopeKind, DisplayName, EmailAddress};
use pb_store::{Ctx, NewUser};
use serde_json::{Value, json};

use crate::support::{TestApp, TestTenant};

/// The world every call is made against.
struct World {
    t: TestTenant,
    account: String,
    profile: String,
    section: String,
    purchase: String,
    outbox: String,
    /// A user with no role, granted and revoked by the role-assignment routes.
    spare_user: String,
    tokens: Vec<(Who, Option<String>)>,
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_owned()
}

async fn ok(app: &TestApp, method: &str, path: &str, token: &str, body: Option<Value>) -> Value {
    let r = app.call(method, path, token, body).await;
    assert!(r.status.is_success(), "{method} {path}: {} {}", r.status, r.body);
    r.body
}

async fn world(app: &TestApp) -> World {
    let t = app.tenant("Matrix", "US", "active").await;
    let other = app.tenant("MatrixOther", "US", "active").await;
    let op = app.operator_token();
    let owner = &t.account_admin;
    let contact = json!({"name": "Pat", "email": "pat@example.com"});
    let account =
        id_of(&ok(app, "POST", "/api/v1/billing-accounts", owner, Some(json!({"display_name": "M", "primary_contact": contact}))).await);
    let p =
        ok(app, "POST", &format!("/api/v1/billing-accounts/{account}/billing-profiles"), owner, Some(json!({"display_name": "M"}))).await;
    let (profile, section) = (id_of(&p), id_of(&p["invoice_sections"][0]));
    let card = json!({"kind": "card", "token": "tok_matrix", "display_hint": "Visa 4242"});
    ok(app, "POST", &format!("/api/v1/billing-profiles/{profile}/payment-instruments"), owner, Some(card)).await;
    let offer = json!({"name": "Matrix", "kind": "designation", "term_months": 12, "prices": [{"amount_minor": 100, "currency": "USD"}]});
    ok(app, "PUT", "/api/v1/offers/matrix-offer", &op, Some(offer)).await;
    let setup = json!({"billing_account": {"id": account}, "billing_profile": {"id": profile}, "accept_agreement": true});
    ok(app, "POST", "/api/v1/billing-link/setup", &t.ga, Some(setup)).await;
    let purchase = id_of(&ok(app, "POST", "/api/v1/purchases", &t.ga, Some(json!({"offer_id": "matrix-offer", "quantity": 1}))).await);
    let outbox = id_of(&ok(app, "GET", "/api/v1/outbox", &op, None).await["items"][0]);
    let spare_user = ok(app, "GET", "/api/v1/me", &t.plain, None).await["user"]["id"].as_str().unwrap_or_default().to_owned();
    let mut tokens = vec![(Who::Nobody, None), (Who::Operator, Some(op.clone())), (Who::OtherTenant, Some(other.ga.clone()))];
    tokens.push((Who::GlobalAdmin, Some(t.ga.clone())));
    for who in expect::principals() {
        let Who::Role(scope, role) = who else { continue };
        let email = format!("{}-{}@{}", scope.as_str().replace('_', "-"), role.as_str().replace('_', "-"), t.domain);
        let new = NewUser {
            email: EmailAddress::parse(&email).unwrap_or_else(|e| panic!("{email}: {e}")),
            display_name: DisplayName::parse("Matrix user").unwrap_or_else(|e| panic!("{e}")),
            directory_roles: vec![],
            partner_roles: vec![],
        };
        let user = app.store.create_user(&Ctx::operator("matrix", None), t.tenant_id(), &new).await.unwrap_or_else(|e| panic!("{e}"));
        let scope_path = match scope {
            BillingScopeKind::BillingAccount => format!("billing-accounts/{account}"),
            BillingScopeKind::BillingProfile => format!("billing-profiles/{profile}"),
            BillingScopeKind::InvoiceSection => format!("invoice-sections/{section}"),
        };
        let grant = json!({"user_id": user.id.to_string(), "role": role.as_str()});
        ok(app, "POST", &format!("/api/v1/{scope_path}/role-assignments"), owner, Some(grant)).await;
        tokens.push((who, Some(app.token(&t.id, &email).await)));
    }
    World { t, account, profile, section, purchase, outbox, spare_user, tokens }
}

/// The concrete path (with query) and body of a route's call; `None` body for no body. Some calls
/// need a thing of their own first (a section to delete, an assignment to revoke).
async fn concrete(app: &TestApp, w: &World, method: &str, path: &str) -> (String, Option<Value>, bool) {
    let owner = &w.t.account_admin;
    let mut names_world = path.contains('{') || (path.contains("/billing-link") && path != "/api/v1/billing-link/history");
    let id = match path {
        p if p.starts_with("/api/v1/billing-accounts/") => w.account.clone(),
        p if p.starts_with("/api/v1/billing-profiles/") => w.profile.clone(),
        "/api/v1/invoice-sections/{id}" if method == "DELETE" => {
            let path = format!("/api/v1/billing-profiles/{}/invoice-sections", w.profile);
            id_of(&ok(app, "POST", &path, owner, Some(json!({"display_name": "Doomed"}))).await)
        }
        p if p.starts_with("/api/v1/invoice-sections/") => w.section.clone(),
        "/api/v1/role-assignments/{id}" => {
            let grant = json!({"user_id": w.spare_user, "role": "reader"});
            let r = app.call("POST", &format!("/api/v1/invoice-sections/{}/role-assignments", w.section), owner, Some(grant)).await;
            if r.status == 201 {
                id_of(&r.body)
            } else {
                let list = ok(app, "GET", &format!("/api/v1/invoice-sections/{}/role-assignments", w.section), owner, None).await;
                let held = list["items"].as_array().and_then(|v| v.iter().find(|a| a["user_id"] == w.spare_user.as_str()).cloned());
                id_of(&held.unwrap_or_default())
            }
        }
        p if p.starts_with("/api/v1/purchases/") => w.purchase.clone(),
        p if p.starts_with("/api/v1/outbox/") => w.outbox.clone(),
        "/api/v1/offers/{id}" => "matrix-offer".to_owned(),
        _ => "nothing-here".to_owned(),
    };
    let mut url = path.replace("{id}", &id).replace("{tid}", &w.t.id);
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let body = match (method, path) {
        (_, "/api/v1/billing-link/review") => {
            url = format!("{url}?billing_account_id={}&billing_profile_id={}", w.account, w.profile);
            None
        }
        ("PUT", "/api/v1/billing-link") => {
            Some(json!({"billing_account_id": w.account, "billing_profile_id": w.profile, "accept_agreement": true}))
        }
        ("POST", "/api/v1/billing-link/setup") => {
            Some(json!({"billing_account": {"id": w.account}, "billing_profile": {"id": w.profile}, "accept_agreement": true}))
        }
        ("POST", p) if p.ends_with("/role-assignments") => Some(json!({"user_id": w.spare_user, "role": "reader"})),
        ("POST", p) if p.ends_with("/payment-instruments") => Some(json!({"kind": "card", "token": "tok_m", "display_hint": "Visa 4242"})),
        ("POST", "/api/v1/purchases") => Some(json!({"offer_id": "matrix-offer", "quantity": 1})),
        ("POST", "/api/v1/invoice-runs") => Some(json!({"period": "2020-01"})),
        ("PUT", "/api/v1/offers/{id}") => {
            Some(json!({"name": "Matrix", "kind": "designation", "term_months": 12, "prices": [{"amount_minor": 100, "currency": "USD"}]}))
        }
        ("PUT", "/api/v1/partner-account/legal-profile") => Some(json!({"company_name": "Matrix Holdings"})),
        ("POST", "/api/v1/tenants") => Some(json!({"name": "Made", "domain": format!("m-{unique}.example")})),
        ("POST", "/api/v1/tenants/{tid}/users") => Some(json!({"email": format!("u-{unique}@example.com"), "display_name": "Made"})),
        ("PATCH", "/api/v1/tenants/{tid}/partner-account") => Some(json!({"state": "active"})),
        ("PUT", "/api/v1/tenants/{tid}/partner-account") => Some(json!({"partner_id": "1", "name": "Matrix", "state": "active",
            "legal_profile": {"company_name": "Matrix Ltd", "sold_to": {"address_line1": "1 Main St", "city": "Redmond", "postal_code": "98052", "country": "US"},
            "primary_contact": {"name": "Pat", "email": "pat@example.com"}}})),
        (_, p) if p.ends_with("/read") || p.ends_with("/read-all") || p.ends_with("/retry") || p.ends_with("/verify") => None,
        ("POST" | "PATCH", _) => Some(json!({"display_name": "M"})),
        _ => None,
    };
    if path.starts_with("/api/v1/tenants") || path == "/api/v1/notifications/{id}/read" {
        names_world = false;
    }
    (url, body, names_world)
}

async fn access_matrix_follows_the_permission_table(app: TestApp) {
    let app = TestApp::with_config(
        app.store.clone(),
        pb_app::AppConfig { rate_limit_per_minute: u32::MAX, rate_limit_per_principal_per_minute: u32::MAX, ..Default::default() },
        crate::support::faces,
    )
    .await;
    let w = world(&app).await;
    let doc = app.request("GET", "/openapi.json", None, None, &[]).await.body;
    let mut routes: Vec<(String, String)> = Vec::new();
    for (path, ops) in doc["paths"].as_object().cloned().unwrap_or_default() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if ops.get(method).is_some() {
                routes.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    assert!(routes.len() > 40, "the document lists the routes: {}", routes.len());
    let mut wrong = Vec::new();
    let mut calls = 0;
    for (method, path) in &routes {
        let Some(rule) = expect::rule_of(method, path) else {
            wrong.push(format!("{method} {path}: no rule in matrix/expect.rs; decide who may call it"));
            continue;
        };
        for (who, token) in &w.tokens {
            let (url, body, names_world) = concrete(&app, &w, method, path).await;
            let bytes = body.map(|b| b.to_string().into_bytes());
            let r = app.request(method, &url, token.as_deref(), bytes, &[]).await;
            calls += 1;
            let want = expect::expect(rule, *who, names_world);
            let got = Outcome::of(r.status.as_u16());
            if got != want {
                wrong.push(format!("{method} {url} as {who:?}: want {want:?}, got {} {}", r.status, r.body));
            }
            if *who == Who::OtherTenant && [&w.account, &w.profile, &w.section, &w.purchase].iter().any(|id| r.text().contains(id.as_str()))
            {
                wrong.push(format!("{method} {url}: another tenant sees the world's ids: {}", r.body));
            }
        }
    }
    eprintln!("access matrix: {} routes x {} principals = {calls} calls", routes.len(), w.tokens.len());
    assert!(wrong.is_empty(), "{} of {calls} calls disagree with the permission table:\n{}", wrong.len(), wrong.join("\n"));
}

pb_store::both_backends!(with crate::support::app;
    access_matrix_follows_the_permission_table,
);
