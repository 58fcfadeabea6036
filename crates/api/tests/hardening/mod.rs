//! Findings of the review of the running binary (issue 10), one test named after each, on SQLite
//! and PostgreSQL.

use serde_json::json;

use crate::support::TestApp;

/// Found on the running binary: a token whose `aud` is an array (RFC 7519 allows it; Entra ID and
/// others issue them) was refused even when the array named this service.
async fn hardening_an_audience_array_naming_us_is_accepted(app: TestApp) {
    let t = app.tenant("AudArray", "US", "active").await;
    let good = app.user_claims(&t.id, &format!("plain@{}", t.domain)).await;
    let mut c = serde_json::to_value(&good).unwrap();
    c["aud"] = json!(["api://someone-else", good.aud]);
    let r = app.get("/api/v1/me", &app.dev.sign(&c).unwrap()).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Found on the running binary: `name` and `preferred_username` were stored as the token gave them
/// (5 000 characters, HTML, RTL overrides) and shown on pages and in emails.
async fn hardening_identity_claims_are_clamped_and_cleaned(app: TestApp) {
    let t = app.tenant("Claims", "US", "active").await;
    let mut c = app.user_claims(&t.id, &format!("plain@{}", t.domain)).await;
    let oid = pb_domain::UserId::new().to_string();
    c.sub = oid.clone();
    c.oid = Some(oid);
    c.name = Some(format!("<b>Mallory</b>\u{202E}\u{200B} {}", "x".repeat(5000)));
    c.preferred_username = Some(format!("<img src=x>{}@evil.test", "y".repeat(300)));
    let r = app.get("/api/v1/me", &app.dev.sign(&c).unwrap()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let name = r.body["user"]["display_name"].as_str().unwrap_or_default().to_owned();
    assert!(name.starts_with("bMallory/b xxx"), "{name}");
    assert_eq!(name.chars().count(), 100);
    assert!(!name.chars().any(|ch| ch == '<' || pb_domain::is_format_char(ch)), "{name}");
    assert_eq!(r.body["user"]["email"], "", "an unusable preferred_username is not stored as an email");
}

/// Found on the running binary: 2 000 characters of HTML sent as `X-Request-Id` were echoed,
/// logged and stored in the audit trail verbatim.
async fn hardening_request_id_is_kept_only_when_short_and_token_like(app: TestApp) {
    let t = app.tenant("Rid", "US", "active").await;
    let long = format!("<b>{}</b>", "x".repeat(2000));
    for bad in [long.as_str(), "<script>alert(1)</script>", "a b", ""] {
        let r = app
            .request(
                "PUT",
                "/api/v1/partner-account/legal-profile",
                Some(&t.ga),
                Some(json!({"company_name": "Rid Holdings"}).to_string().into_bytes()),
                &[("x-request-id", bad)],
            )
            .await;
        assert_eq!(r.status, 202, "{}", r.body);
        let echoed = r.header("x-request-id").unwrap_or_default();
        assert!(echoed != bad && (1..=64).contains(&echoed.len()), "a fresh id instead of {bad:?}: {echoed:?}");
        let log = app.get("/api/v1/audit-log?limit=1", &t.ga).await;
        assert_eq!(log.body["items"][0]["request_id"], echoed.as_str(), "the audit record names the fresh id");
    }
    let ok = app.request("GET", "/api/v1/me", Some(&t.ga), None, &[("x-request-id", "req_2026-11-29:a.b")]).await;
    assert_eq!(ok.header("x-request-id").as_deref(), Some("req_2026-11-29:a.b"), "a token-like id is kept");
}

/// Found on the running binary: any token of the issuer with `roles: ["Platform.Operator"]` was an
/// operator whatever its `tid`, so a customer admin who assigns app roles in their own directory
/// could make themselves one (rule A6).
async fn hardening_the_operator_role_counts_only_from_the_operator_directory(app: TestApp) {
    let t = app.tenant("OpRole", "US", "active").await;
    let mut c = app.user_claims(&t.id, &format!("ga@{}", t.domain)).await;
    c.roles = vec![pb_auth::OPERATOR_ROLE.into()];
    let customer = app.dev.sign(&c).unwrap();
    let r = app.call("POST", "/api/v1/tenants", &customer, Some(json!({"name": "Mine", "domain": "mine.example"}))).await;
    r.problem(403, "forbidden");
    app.call("POST", "/api/v1/invoice-runs", &customer, Some(json!({"period": "2020-01"}))).await.problem(403, "forbidden");
    // Still an ordinary user of their own tenant.
    assert_eq!(app.get("/api/v1/me", &customer).await.status, 200);
    // A token with the role and no tenant, or another directory's, is no operator either.
    let mut stray = app.dev.operator_claims("11111111-2222-3333-4444-555555555555", time::Duration::hours(1));
    app.call("POST", "/api/v1/tenants", &app.dev.sign(&stray).unwrap(), Some(json!({"name": "X", "domain": "x.example"})))
        .await
        .problem(401, "unauthenticated");
    stray.tid = None;
    app.call("POST", "/api/v1/tenants", &app.dev.sign(&stray).unwrap(), Some(json!({"name": "X", "domain": "x.example"})))
        .await
        .problem(401, "unauthenticated");
    let op = app.operator_token();
    assert_eq!(app.call("POST", "/api/v1/tenants", &op, Some(json!({"name": "Ok", "domain": "ok.example"}))).await.status, 201);
}

/// Found on the running binary: deleting an invoice section read its profile without a lock, so two
/// concurrent deletes could remove a profile's last two sections on PostgreSQL (rule H2).
async fn hardening_concurrent_section_deletes_keep_the_last_section(app: TestApp) {
    let t = app.tenant("Race", "US", "active").await;
    let owner = &t.account_admin;
    let r = app.call("POST", "/api/v1/billing-accounts", owner, Some(json!({}))).await;
    let ba = r.body["id"].as_str().unwrap().to_owned();
    for round in 0..8 {
        let p =
            app.call("POST", &format!("/api/v1/billing-accounts/{ba}/billing-profiles"), owner, Some(json!({"display_name": "P"}))).await;
        let bp = p.body["id"].as_str().unwrap().to_owned();
        let first = p.body["invoice_sections"][0]["id"].as_str().unwrap().to_owned();
        let extra =
            app.call("POST", &format!("/api/v1/billing-profiles/{bp}/invoice-sections"), owner, Some(json!({"display_name": "S"}))).await;
        let second = extra.body["id"].as_str().unwrap().to_owned();
        let (path_a, path_b) = (format!("/api/v1/invoice-sections/{first}"), format!("/api/v1/invoice-sections/{second}"));
        let (a, b) = tokio::join!(app.call("DELETE", &path_a, owner, None), app.call("DELETE", &path_b, owner, None));
        let mut statuses = [a.status.as_u16(), b.status.as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [204, 409], "round {round}: {} / {}", a.body, b.body);
        let left = app.get(&format!("/api/v1/billing-profiles/{bp}"), owner).await;
        assert_eq!(left.body["invoice_sections"].as_array().map(Vec::len), Some(1), "round {round}");
        assert_eq!(left.body["invoice_sections"][0]["is_default"], true);
        // The next round needs this profile funded (rule C3).
        let fund = json!({"kind": "card", "token": "tok_race", "display_hint": "Visa 4242"});
        app.call("POST", &format!("/api/v1/billing-profiles/{bp}/payment-instruments"), owner, Some(fund)).await;
    }
}

/// Issue 12 (failover): while the database cannot serve (here its pool is closed, as when no host
/// takes writes), every request that needs it is 503 `database_unavailable` with `Retry-After`
/// (never a 500, never a wait), a POST with an Idempotency-Key included.
async fn failover_an_unavailable_database_is_503_with_retry_after(app: TestApp) {
    let t = app.tenant("Down", "US", "active").await;
    assert_eq!(app.get("/api/v1/partner-account", &t.ga).await.status, 200);
    // A caller never seen before: the token's own lookup needs the database too.
    let plain = app.token(&t.id, &format!("plain@{}", t.domain)).await;
    app.store.close().await;
    let read = app.get("/api/v1/partner-account", &t.ga).await;
    let write = app
        .request(
            "POST",
            "/api/v1/billing-accounts",
            Some(&t.ga),
            Some(br#"{"display_name":"X"}"#.to_vec()),
            &[("idempotency-key", "k-down")],
        )
        .await;
    let fresh = app.get("/api/v1/me", &plain).await;
    for r in [read, write, fresh] {
        r.problem(503, "database_unavailable");
        assert_eq!(r.header("retry-after").as_deref(), Some("2"), "{}", r.body);
    }
}

pb_store::both_backends!(with crate::support::app;
    failover_an_unavailable_database_is_503_with_retry_after,
    hardening_an_audience_array_naming_us_is_accepted,
    hardening_identity_claims_are_clamped_and_cleaned,
    hardening_the_operator_role_counts_only_from_the_operator_directory,
    hardening_concurrent_section_deletes_keep_the_last_section,
    hardening_request_id_is_kept_only_when_short_and_token_like,
);

/// `GET /api/v1/me` from `peer` (as the server's accept loop records it), with extra headers.
async fn from_peer(app: &TestApp, peer: &str, token: &str, headers: &[(&str, &str)]) -> u16 {
    let auth = format!("Bearer {token}");
    let mut all = vec![("authorization", auth.as_str())];
    all.extend_from_slice(headers);
    let addr: std::net::SocketAddr = format!("{peer}:40000").parse().unwrap();
    app.send_from(Some(addr), "GET", "/api/v1/me", &all, None).await.status.as_u16()
}

/// Found on the running binary: the only limit was per address, so one user spreading requests
/// over many addresses was never held back; and `X-Forwarded-For` was either ignored (everyone
/// behind a proxy shared one budget) or, had it been read, anyone could have invented it.
#[tokio::test]
async fn hardening_rate_limits_per_principal_and_only_trusted_proxies_name_the_client() {
    let Some(store) = pb_store::testing::store(pb_store::Backend::Sqlite, "rate_limit_principal").await else { return };
    let config = pb_app::AppConfig {
        rate_limit_per_minute: 3,
        rate_limit_per_principal_per_minute: 4,
        trusted_proxies: vec![pb_app::TrustedProxy::parse("10.0.0.0/8").unwrap()],
        ..Default::default()
    };
    let app = TestApp::with_config(store, config, crate::support::faces).await;
    let t = app.tenant("Limits", "US", "active").await;
    // Behind the trusted proxy each forwarded client has its own address budget...
    for client in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        assert_eq!(from_peer(&app, "10.0.0.1", &t.plain, &[("x-forwarded-for", client)]).await, 200);
    }
    // ...but the same principal over many addresses runs out of its own budget.
    let r = from_peer(&app, "10.0.0.1", &t.plain, &[("x-forwarded-for", "203.0.113.4")]).await;
    assert_eq!(r, 200);
    assert_eq!(from_peer(&app, "10.0.0.1", &t.plain, &[("x-forwarded-for", "203.0.113.5")]).await, 429);
    // Another principal still gets in.
    assert_eq!(from_peer(&app, "10.0.0.1", &t.ga, &[("x-forwarded-for", "203.0.113.6")]).await, 200);
    // An untrusted peer cannot pick its address with the header: its three requests share one budget.
    for (i, fake) in ["198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"].into_iter().enumerate() {
        let expect = if i < 3 { 200 } else { 429 };
        assert_eq!(from_peer(&app, "192.0.2.50", &t.mcpp, &[("x-forwarded-for", fake)]).await, expect, "request {i}");
    }
    let auth = format!("Bearer {}", t.ga);
    let r = app.send_from(Some("10.0.0.1:1".parse().unwrap()), "GET", "/api/v1/me", &[("authorization", &auth)], None).await;
    assert_eq!(r.status, 200);
}
