//! The API through HTTP (in-process router), on SQLite and, when configured, PostgreSQL.
// The test bodies are plain `async fn`s that `both_backends!` wraps in `#[tokio::test]`s, which
// clippy's `allow-unwrap-in-tests` cannot see through.
#![expect(clippy::unwrap_used, reason = "a test fails loudly where a value must be there")]

mod hardening;
mod matrix;
mod rules;
mod support;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use pb_auth::{Claims, DevIssuer};
use serde_json::{Value, json};
use support::TestApp;

const GA_WID: &str = "62e90394-69f5-4237-9190-012177145e10";

async fn health_ready_metrics_and_docs(app: TestApp) {
    let r = app.request("GET", "/healthz", None, None, &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "ok");
    assert!(r.header("x-request-id").is_some(), "every response carries a request id");
    let r = app.request("GET", "/readyz", None, None, &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "ready");
    assert_eq!(r.body["backend"], app.backend().as_str());
    let r = app.request("GET", "/metrics", None, None, &[]).await;
    let text = String::from_utf8_lossy(&r.raw);
    assert!(text.contains("http_requests_total"), "{text}");
    assert!(text.contains("route=\"/readyz\""), "metrics are labelled by route template");
    let r = app.request("GET", "/openapi.json", None, None, &[]).await;
    assert_eq!(r.status, 200);
    assert!(r.body["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")));
    for p in ["/api/v1/me", "/api/v1/partner-account", "/api/v1/tenants", "/api/v1/partner-account/legal-profile", "/api/v1/audit-log"] {
        assert!(r.body["paths"].get(p).is_some(), "openapi lacks {p}");
    }
    let setup_params = r.body["paths"]["/api/v1/billing-link/setup"]["post"]["parameters"].to_string();
    assert!(setup_params.contains("Idempotency-Key"), "every POST documents Idempotency-Key: {setup_params}");
    let r = app.request("GET", "/docs/", None, None, &[]).await;
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.raw).contains("swagger"), "Swagger UI is served offline");
    let r = app.request("GET", "/.well-known/jwks.json", None, None, &[]).await;
    assert_eq!(r.body["keys"][0]["kid"], app.dev.kid());
}

async fn operator_provisions_a_tenant_that_then_works(app: TestApp) {
    let t = app.tenant("Contoso", "US", "active").await;
    let r = app.get("/api/v1/me", &t.ga).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["tenant"]["id"], t.id.as_str());
    assert_eq!(r.body["global_admin"], true);
    let r = app.get("/api/v1/me", &t.mcpp).await;
    assert_eq!(r.body["global_admin"], false);
    assert_eq!(r.body["partner_roles"], json!(["mcpp_admin"]));
    let r = app.get("/api/v1/partner-account", &t.plain).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["state"], "active");
    assert_eq!(r.body["billing_link"], Value::Null);
    assert_eq!(r.header("etag").as_deref(), Some("\"0\""));
    assert_eq!(r.body["legal_profile"]["sold_to"]["country"], "US");
    insta::assert_json_snapshot!("partner_account", r.body, {
        ".id" => "[id]", ".tenant_id" => "[id]", ".updated_at" => "[time]",
        ".legal_profile.primary_contact.email" => "[email]"
    });
}

async fn operator_and_user_endpoints_are_separate(app: TestApp) {
    let t = app.tenant("Sep", "US", "active").await;
    let op = app.operator_token();
    app.get("/api/v1/me", &op).await.problem(403, "forbidden");
    app.call("POST", "/api/v1/tenants", &t.ga, Some(json!({"name": "X", "domain": "x.example"}))).await.problem(403, "forbidden");
    let r = app.call("PATCH", &format!("/api/v1/tenants/{}/partner-account", t.id), &t.ga, Some(json!({"state": "closed"}))).await;
    r.problem(403, "forbidden");
    assert_eq!(app.get("/api/v1/partner-account", &t.ga).await.body["state"], "active", "nothing changed");
}

async fn operator_changes_state_and_refuses_bad_input(app: TestApp) {
    let t = app.tenant("State", "US", "active").await;
    let op = app.operator_token();
    let path = format!("/api/v1/tenants/{}/partner-account", t.id);
    let r = app.call("PATCH", &path, &op, Some(json!({"state": "suspended"}))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["state"], "suspended");
    let r = app.call("PATCH", &path, &op, Some(json!({"state": "deleted"}))).await;
    r.problem(422, "validation_failed");
    assert_eq!(r.body["errors"][0]["field"], "state");
    app.call("PATCH", "/api/v1/tenants/00000000-0000-7000-8000-000000000000/partner-account", &op, Some(json!({"state": "active"})))
        .await
        .problem(404, "not_found");
    app.call("PATCH", "/api/v1/tenants/not-an-id/partner-account", &op, Some(json!({"state": "active"}))).await.problem(404, "not_found");
    let r = app.call("POST", "/api/v1/tenants", &op, Some(json!({"name": "  ", "domain": "no dots"}))).await;
    r.problem(422, "validation_failed");
    let fields: Vec<&str> = r.body["errors"].as_array().into_iter().flatten().filter_map(|e| e["field"].as_str()).collect();
    assert_eq!(fields, vec!["name", "domain"]);
    let r = app.call("POST", "/api/v1/tenants", &op, Some(json!({"name": "Dup", "domain": t.domain}))).await;
    r.problem(409, "tenant_domain_taken");
    let r = app
        .call(
            "POST",
            &format!("/api/v1/tenants/{}/users", t.id),
            &op,
            Some(json!({"email": format!("ga@{}", t.domain), "display_name": "Again"})),
        )
        .await;
    r.problem(409, "user_email_taken");
    let r = app
        .call(
            "POST",
            &format!("/api/v1/tenants/{}/users", t.id),
            &op,
            Some(json!({"email": "x@y.example", "display_name": "X", "partner_roles": ["king"]})),
        )
        .await;
    r.problem(422, "validation_failed");
    assert_eq!(r.body["errors"][0]["field"], "partner_roles[0]");
}

async fn malformed_bodies_are_400_and_change_nothing(app: TestApp) {
    let op = app.operator_token();
    let before = app.get("/api/v1/tenants", &op).await.body["items"].as_array().map(Vec::len);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", b"{".to_vec()),
        ("not json", b"name=x".to_vec()),
        ("wrong type", br#"{"name": 5, "domain": "a.example"}"#.to_vec()),
        ("unknown field", br#"{"name": "A", "domain": "a.example", "admin": true}"#.to_vec()),
        ("array", b"[]".to_vec()),
        ("trailing", br#"{"name": "A", "domain": "a.example"} x"#.to_vec()),
        ("empty", Vec::new()),
    ];
    for (what, body) in cases {
        let r = app.request("POST", "/api/v1/tenants", Some(&op), Some(body), &[]).await;
        assert_eq!(r.status, 400, "{what}: {}", r.body);
        r.problem(400, "invalid_request");
    }
    let r = app.call("POST", "/api/v1/tenants", &op, Some(json!({}))).await;
    r.problem(422, "validation_failed");
    assert_eq!(r.body["errors"].as_array().map(Vec::len), Some(2), "missing fields are named: {}", r.body);
    let after = app.get("/api/v1/tenants", &op).await.body["items"].as_array().map(Vec::len);
    assert_eq!(before, after, "nothing was written");
}

async fn oversized_bodies_are_413(app: TestApp) {
    let op = app.operator_token();
    let big = format!(r#"{{"name": "A", "domain": "a.example", "x": "{}"}}"#, "a".repeat(1024 * 1024 + 10));
    let r = app.request("POST", "/api/v1/tenants", Some(&op), Some(big.into_bytes()), &[]).await;
    r.problem(413, "payload_too_large");
    assert_eq!(app.get("/api/v1/tenants", &op).await.body["items"].as_array().map(Vec::len), Some(0));
}

async fn unknown_routes_and_methods_are_problems(app: TestApp) {
    app.request("GET", "/api/v1/nothing-here", None, None, &[]).await.problem(404, "not_found");
    app.request("DELETE", "/api/v1/me", None, None, &[]).await.problem(405, "method_not_allowed");
}

/// Token attacks: each one is 401 `unauthenticated`, with a problem body and no side effect.
async fn token_attacks_are_refused(app: TestApp) {
    let t = app.tenant("Attack", "US", "active").await;
    let domain = t.domain.clone();
    let good = app.user_claims(&t.id, &format!("plain@{domain}")).await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let sign = |c: &Claims| app.dev.sign(c).unwrap_or_default();
    let header = |alg: &str| URL_SAFE_NO_PAD.encode(json!({"alg": alg, "typ": "JWT", "kid": app.dev.kid()}).to_string());
    let payload = |c: &Claims| URL_SAFE_NO_PAD.encode(serde_json::to_vec(c).unwrap_or_default());

    let mut cases: Vec<(&str, String)> = vec![
        ("expired", sign(&Claims { exp: now - 3600, nbf: now - 7200, iat: now - 7200, ..good.clone() })),
        ("not yet valid", sign(&Claims { nbf: now + 3600, exp: now + 7200, ..good.clone() })),
        ("wrong audience", sign(&Claims { aud: "api://someone-else".into(), ..good.clone() })),
        ("wrong issuer", sign(&Claims { iss: "https://evil.example".into(), ..good.clone() })),
    ];
    let other = DevIssuer::load_or_create(&app.dir.join("other")).unwrap();
    cases.push(("unknown kid", other.sign(&good).unwrap_or_default()));
    // Our kid, someone else's key.
    let forged_sig = other.sign(&good).unwrap_or_default();
    let sig = forged_sig.rsplit('.').next().unwrap_or_default();
    cases.push(("signed by another key", format!("{}.{}.{sig}", header("EdDSA"), payload(&good))));
    let valid = sign(&good);
    let parts: Vec<&str> = valid.split('.').collect();
    let promoted = Claims { wids: vec![GA_WID.into()], ..good.clone() };
    cases.push(("tampered payload", format!("{}.{}.{}", parts[0], payload(&promoted), parts[2])));
    cases.push(("alg none", format!("{}.{}.", header("none"), payload(&good))));
    cases.push(("alg none uppercase", format!("{}.{}.", header("NONE"), payload(&good))));
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some(app.dev.kid().to_owned());
    let x = app.dev.jwks()["keys"][0]["x"].as_str().unwrap_or_default().to_owned();
    cases.push((
        "HS256 with the public key bytes",
        jsonwebtoken::encode(&hs, &good, &EncodingKey::from_secret(&app.dev.public_key_bytes())).unwrap_or_default(),
    ));
    cases.push(("HS256 with the JWK x", jsonwebtoken::encode(&hs, &good, &EncodingKey::from_secret(x.as_bytes())).unwrap_or_default()));
    cases.push(("garbage", "not.a.token".into()));
    cases.push(("unknown tenant", sign(&Claims { tid: Some(uuid::Uuid::now_v7().to_string()), ..good.clone() })));
    cases.push(("no tid", sign(&Claims { tid: None, ..good.clone() })));
    let mut others = serde_json::to_value(&good).unwrap();
    others["aud"] = json!(["api://someone-else", "api://another"]);
    cases.push(("an audience array without ours", app.dev.sign(&others).unwrap_or_default()));

    for (what, token) in &cases {
        let r = app.get("/api/v1/me", token).await;
        assert_eq!(r.status, 401, "{what}: {}", r.body);
        r.problem(401, "unauthenticated");
        assert_eq!(r.header("www-authenticate").as_deref(), Some("Bearer"));
        assert!(!r.body.to_string().contains(token.as_str()), "{what}: the token is never echoed");
    }
    let r = app.get("/api/v1/me", &cases.iter().find(|c| c.0 == "unknown tenant").map(|c| c.1.clone()).unwrap_or_default()).await;
    assert!(r.body["detail"].as_str().is_some_and(|d| d.contains("not known")), "{}", r.body);
    app.request("GET", "/api/v1/me", None, None, &[]).await.problem(401, "unauthenticated");
    app.request("GET", "/api/v1/me", None, None, &[("authorization", "Basic abc")]).await.problem(401, "unauthenticated");
    // The valid one still works, and nobody was promoted.
    let r = app.get("/api/v1/me", &valid).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["global_admin"], false);
}

async fn rule_h4_tenants_see_only_their_own_data(app: TestApp) {
    let a = app.tenant("Alpha", "US", "active").await;
    let b = app.tenant("Beta", "US", "active").await;
    let ra = app.get("/api/v1/partner-account", &a.ga).await;
    let rb = app.get("/api/v1/partner-account", &b.ga).await;
    assert_ne!(ra.body["id"], rb.body["id"]);
    assert_eq!(rb.body["tenant_id"], b.id.as_str());
    // B's audit log holds nothing of A.
    let log = app.get("/api/v1/audit-log", &b.ga).await;
    assert_eq!(log.status, 200);
    assert!(log.body["items"].as_array().into_iter().flatten().all(|r| r["tenant_id"] == b.id.as_str()));
    assert!(!log.body.to_string().contains(&a.id));
}

async fn rule_n3_legal_profile_change_waits_for_verification(app: TestApp) {
    let t = app.tenant("Legal", "US", "active").await;
    let change = json!({"sold_to": {"address_line1": "Via Roma 1", "city": "Milano", "country": "IT"}});
    app.call("PUT", "/api/v1/partner-account/legal-profile", &t.plain, Some(change.clone())).await.problem(403, "forbidden");
    // Refused before its fields are looked at: a caller without the role learns nothing of them.
    let bad = json!({"sold_to": {"country": "XX"}});
    app.call("PUT", "/api/v1/partner-account/legal-profile", &t.plain, Some(bad)).await.problem(403, "forbidden");
    app.call("PUT", "/api/v1/partner-account/legal-profile", &t.ga, Some(json!({"sold_to": {"country": "XX"}})))
        .await
        .problem(422, "validation_failed");
    let r = app.call("PUT", "/api/v1/partner-account/legal-profile", &t.account_admin, Some(change)).await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body["pending_legal_profile"]["status"], "pending_verification");
    let r = app.get("/api/v1/partner-account", &t.ga).await;
    assert_eq!(r.body["legal_profile"]["sold_to"]["country"], "US", "only the verified profile is used");
    assert_eq!(r.body["pending_legal_profile"]["sold_to"]["country"], "IT");
    let op = app.operator_token();
    let verify = format!("/api/v1/tenants/{}/partner-account/legal-profile/verify", t.id);
    let r = app.call("POST", &verify, &op, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app.get("/api/v1/partner-account", &t.ga).await;
    assert_eq!(r.body["legal_profile"]["sold_to"]["country"], "IT");
    assert_eq!(r.body["legal_profile"]["company_name"], "Legal Ltd");
    assert_eq!(r.body["pending_legal_profile"], Value::Null);
    app.call("POST", &verify, &op, None).await.problem(409, "no_pending_change");
    let log = app.get("/api/v1/audit-log?action=legal_profile.verify", &t.ga).await;
    assert_eq!(log.body["items"].as_array().map(Vec::len), Some(1));
}

async fn rule_u1_audit_record_carries_the_request_id(app: TestApp) {
    let t = app.tenant("Audit", "US", "active").await;
    let r = app
        .request(
            "PUT",
            "/api/v1/partner-account/legal-profile",
            Some(&t.ga),
            Some(json!({"company_name": "Audit Holdings"}).to_string().into_bytes()),
            &[("x-request-id", "req-abc-123")],
        )
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(r.header("x-request-id").as_deref(), Some("req-abc-123"));
    let log = app.get("/api/v1/audit-log?limit=1", &t.ga).await;
    let rec = &log.body["items"][0];
    assert_eq!(rec["action"], "legal_profile.submit_change");
    assert_eq!(rec["request_id"], "req-abc-123");
    assert_eq!(rec["actor_kind"], "user");
    assert_eq!(rec["after"]["pending_legal_profile"]["company_name"], "Audit Holdings");
    app.get("/api/v1/audit-log", &t.plain).await.problem(403, "forbidden");
}

pb_store::both_backends!(with crate::support::app;
    health_ready_metrics_and_docs,
    operator_provisions_a_tenant_that_then_works,
    operator_and_user_endpoints_are_separate,
    operator_changes_state_and_refuses_bad_input,
    malformed_bodies_are_400_and_change_nothing,
    oversized_bodies_are_413,
    unknown_routes_and_methods_are_problems,
    token_attacks_are_refused,
    rule_h4_tenants_see_only_their_own_data,
    rule_n3_legal_profile_change_waits_for_verification,
    rule_u1_audit_record_carries_the_request_id,
);

mod external_issuer {
    use std::sync::Arc;

    use pb_app::AppConfig;
    use pb_auth::{DevIssuer, JwksSource, Verifier};
    use pb_store::Backend;

    use super::support::{TestApp, faces};

    const ISSUER: &str = "https://login.example.com/common/v2.0";
    const AUDIENCE: &str = "api://partner-billing-prod";

    async fn external_app(source: impl FnOnce(&DevIssuer, &std::path::Path) -> JwksSource) -> Option<(TestApp, Arc<DevIssuer>)> {
        let store = pb_store::testing::store(Backend::Sqlite, "external_issuer").await?;
        let dir = std::env::temp_dir().join(format!("pb-ext-{}", uuid::Uuid::new_v4().simple()));
        let idp = Arc::new(DevIssuer::load_or_create(&dir.join("idp")).unwrap());
        let src = source(&idp, &dir);
        let verifier = Verifier::new(ISSUER.into(), AUDIENCE.into(), src).await.unwrap();
        Some((TestApp::build(store, verifier, None, idp.clone(), dir, AppConfig::default(), faces), idp))
    }

    fn claims(idp: &DevIssuer, tid: Option<String>, oid: &str, wids: Vec<String>) -> pb_auth::Claims {
        let mut c = idp.claims(oid.into(), time::Duration::hours(1));
        c.iss = ISSUER.into();
        c.aud = AUDIENCE.into();
        c.tid = tid;
        c.oid = Some(oid.into());
        c.preferred_username = Some("newcomer@contoso.example".into());
        c.name = Some("New Comer".into());
        c.wids = wids;
        c
    }

    async fn first_sight(app: &TestApp, idp: &DevIssuer) {
        let op_claims = {
            let mut c = claims(idp, Some(pb_auth::DEV_OPERATOR_TENANT.into()), "op", vec![]);
            c.roles = vec![pb_auth::OPERATOR_ROLE.into()];
            c
        };
        let op = idp.sign(&op_claims).unwrap_or_default();
        let r = app.call("POST", "/api/v1/tenants", &op, Some(serde_json::json!({"name": "Ext", "domain": "ext.example"}))).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let tid = r.body["id"].as_str().unwrap_or_default().to_owned();
        let oid = uuid::Uuid::now_v7().to_string();
        let token = idp.sign(&claims(idp, Some(tid.clone()), &oid, vec![super::GA_WID.into()])).unwrap_or_default();
        let r = app.get("/api/v1/me", &token).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["user"]["id"], oid.as_str());
        assert_eq!(r.body["user"]["email"], "newcomer@contoso.example");
        assert_eq!(r.body["global_admin"], true, "global admin comes from the token's wids");
        let again = app.get("/api/v1/me", &token).await;
        assert_eq!(again.body["user"]["created_at"], r.body["user"]["created_at"], "recorded once");
        // The dev issuer's JWKS is not published when an external issuer is configured.
        app.request("GET", "/.well-known/jwks.json", None, None, &[]).await.problem(404, "not_found");
        // A token from the dev issuer of some other install is refused.
        let stranger = DevIssuer::load_or_create(&app.dir.join("stranger")).unwrap();
        let t = stranger.sign(&claims(&stranger, Some(tid), &oid, vec![])).unwrap_or_default();
        app.get("/api/v1/me", &t).await.problem(401, "unauthenticated");
    }

    #[tokio::test]
    async fn jwks_from_a_file() {
        let Some((app, idp)) = external_app(|idp, dir| {
            let path = dir.join("jwks.json");
            std::fs::write(&path, idp.jwks().to_string()).unwrap();
            JwksSource::File(path)
        })
        .await
        else {
            return;
        };
        first_sight(&app, &idp).await;
    }

    /// Found on the running binary: a JWKS refresh held the key cache's lock while it fetched, so a
    /// slow issuer stalled every request, even those whose key was already known.
    #[tokio::test]
    async fn hardening_a_slow_jwks_refresh_does_not_stall_known_keys() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let dir = std::env::temp_dir().join(format!("pb-ext-slow-{}", uuid::Uuid::new_v4().simple()));
        let idp = DevIssuer::load_or_create(&dir).unwrap();
        let jwks = idp.jwks();
        let calls = Arc::new(AtomicUsize::new(0));
        let served = calls.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = axum::Router::new().route(
            "/keys",
            axum::routing::get(move || {
                let (jwks, served) = (jwks.clone(), served.clone());
                async move {
                    // The first fetch (at start) is quick; every refresh takes 3 s.
                    if served.fetch_add(1, Ordering::SeqCst) > 0 {
                        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
                    }
                    axum::Json(jwks)
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, server).await });
        let v = Verifier::new(ISSUER.into(), AUDIENCE.into(), JwksSource::Url(format!("http://{addr}/keys")))
            .await
            .unwrap()
            .with_refresh_at_most_every(std::time::Duration::ZERO);
        let known = idp.sign(&claims(&idp, None, "op", vec![])).unwrap();
        let stranger = DevIssuer::load_or_create(&dir.join("stranger")).unwrap();
        let unknown = stranger.sign(&claims(&stranger, None, "op", vec![])).unwrap();
        let slow = {
            let v = v.clone();
            tokio::spawn(async move { v.verify(&unknown).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2, "the refresh is under way");
        let started = std::time::Instant::now();
        assert!(v.verify(&known).await.is_ok());
        assert!(started.elapsed() < std::time::Duration::from_secs(1), "a known key waits for no fetch: {:?}", started.elapsed());
        assert!(slow.await.unwrap().is_err(), "the stranger's key is still unknown");
    }

    #[tokio::test]
    async fn jwks_from_a_url() {
        let dir = std::env::temp_dir().join(format!("pb-ext-url-{}", uuid::Uuid::new_v4().simple()));
        let idp = DevIssuer::load_or_create(&dir).unwrap();
        let jwks = idp.jwks();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = axum::Router::new().route("/keys", axum::routing::get(move || async move { axum::Json(jwks) }));
        tokio::spawn(async move { axum::serve(listener, server).await });
        let url = format!("http://{addr}/keys");
        let Some((app, _)) = external_app(|_, _| JwksSource::Url(url)).await else { return };
        // external_app made its own idp; use the one the URL serves.
        let app = TestApp { dev: Arc::new(idp), ..app };
        let dev = app.dev.clone();
        first_sight(&app, &dev).await;
    }
}

#[tokio::test]
async fn rate_limit_gives_429_with_retry_after() {
    let Some(store) = pb_store::testing::store(pb_store::Backend::Sqlite, "rate_limit").await else { return };
    let app = TestApp::with_config(store, pb_app::AppConfig { rate_limit_per_minute: 5, ..Default::default() }, support::faces).await;
    let op = app.operator_token();
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(app.get("/api/v1/tenants", &op).await.status.as_u16());
    }
    assert_eq!(&statuses[..5], &[200; 5]);
    let r = app.get("/api/v1/tenants", &op).await;
    r.problem(429, "rate_limited");
    assert!(r.header("retry-after").is_some());
    // Health checks are never limited.
    assert_eq!(app.request("GET", "/healthz", None, None, &[]).await.status, 200);
}
