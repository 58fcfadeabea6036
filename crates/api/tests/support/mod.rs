//! `TestApp`: the full router in-process over a fresh store, with the dev issuer in a temp folder.

#![allow(dead_code)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use pb_api::{ApiConfig, AppState, Authenticator, RateLimiter};
use pb_auth::{Claims, DEV_AUDIENCE, DEV_ISSUER, DevIssuer, JwksSource, OPERATOR_ROLE, Verifier};
use pb_store::{Backend, Store};
use serde_json::{Value, json};
use tower::ServiceExt;

pub struct Resp {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
    pub raw: Vec<u8>,
}

impl Resp {
    pub fn code(&self) -> Option<&str> {
        self.body.get("code").and_then(Value::as_str)
    }

    /// Asserts a problem response with this status and code.
    pub fn problem(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(self.code(), Some(code), "body: {}", self.body);
        let ct = self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(ct.starts_with("application/problem+json"), "content-type {ct}");
        assert_eq!(self.body["status"].as_u64(), Some(u64::from(status)));
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }
}

pub struct TestApp {
    pub store: Store,
    pub router: Router,
    pub dev: Arc<DevIssuer>,
    pub dir: std::path::PathBuf,
}

/// Users provisioned by [`TestApp::tenant`].
pub struct TestTenant {
    pub id: String,
    pub domain: String,
    pub ga: String,
    pub mcpp: String,
    pub account_admin: String,
    pub plain: String,
}

impl TestApp {
    pub async fn new(store: Store) -> TestApp {
        Self::with_config(store, ApiConfig::default()).await
    }

    pub async fn with_config(store: Store, config: ApiConfig) -> TestApp {
        let dir = std::env::temp_dir().join(format!("pb-api-test-{}", uuid::Uuid::new_v4().simple()));
        let dev = Arc::new(DevIssuer::load_or_create(&dir).unwrap_or_else(|e| panic!("{e}")));
        let set = serde_json::from_value(dev.jwks()).unwrap_or_else(|e| panic!("{e}"));
        let verifier =
            Verifier::new(DEV_ISSUER.into(), DEV_AUDIENCE.into(), JwksSource::Static(set)).await.unwrap_or_else(|e| panic!("{e}"));
        Self::build(store, verifier, Some(dev.clone()), dev, dir, config)
    }

    pub fn build(
        store: Store,
        verifier: Verifier,
        published: Option<Arc<DevIssuer>>,
        dev: Arc<DevIssuer>,
        dir: std::path::PathBuf,
        config: ApiConfig,
    ) -> TestApp {
        let state = AppState {
            store: store.clone(),
            auth: Authenticator::new(verifier),
            dev_issuer: published,
            config: Arc::new(config),
            metrics: pb_api::metrics_handle(),
            rate_limiter: RateLimiter::default(),
        };
        TestApp { store, router: pb_api::app(state, Router::new()), dev, dir }
    }

    pub fn backend(&self) -> Backend {
        self.store.backend()
    }

    pub fn operator_token(&self) -> String {
        let mut c = self.dev.claims("operator".into(), time::Duration::hours(1));
        c.roles = vec![OPERATOR_ROLE.into()];
        self.dev.sign(&c).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Claims for a user of a tenant, as the `token` command makes them.
    pub async fn user_claims(&self, tenant: &str, user: &str) -> Claims {
        let t = self.store.find_tenant(tenant).await.unwrap_or_else(|e| panic!("{e}"));
        let u = self.store.find_user(t.id, user).await.unwrap_or_else(|e| panic!("{e}"));
        let mut c = self.dev.claims(u.id.to_string(), time::Duration::hours(1));
        c.tid = Some(t.id.to_string());
        c.oid = Some(u.id.to_string());
        c.preferred_username = Some(u.email.clone());
        c.wids = u.directory_roles.iter().map(|r| r.template_id().to_owned()).collect();
        c
    }

    pub async fn token(&self, tenant: &str, user: &str) -> String {
        let c = self.user_claims(tenant, user).await;
        self.dev.sign(&c).unwrap_or_else(|e| panic!("{e}"))
    }

    pub async fn request(&self, method: &str, path: &str, token: Option<&str>, body: Option<Vec<u8>>, headers: &[(&str, &str)]) -> Resp {
        let mut b = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        if body.is_some() {
            b = b.header("content-type", "application/json");
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b.body(body.map(Body::from).unwrap_or_else(Body::empty)).unwrap_or_else(|e| panic!("{e}"));
        let resp = self.router.clone().oneshot(req).await.unwrap_or_else(|e| panic!("{e}"));
        let status = resp.status();
        let headers = resp.headers().clone();
        let raw = resp.into_body().collect().await.map(|b| b.to_bytes().to_vec()).unwrap_or_default();
        let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        Resp { status, headers, body, raw }
    }

    pub async fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Resp {
        self.request(method, path, Some(token), body.map(|b| b.to_string().into_bytes()), &[]).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call("GET", path, token, None).await
    }

    /// Provisions a tenant through the operator API, with a global admin, an MCPP admin, an account
    /// admin and a plain user, and a partner account in `state` with a sold-to in `country`.
    pub async fn tenant(&self, name: &str, country: &str, state: &str) -> TestTenant {
        let op = self.operator_token();
        let domain = format!("{}-{}.example", name.to_lowercase(), &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let r = self.call("POST", "/api/v1/tenants", &op, Some(json!({"name": name, "domain": domain}))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let id = r.body["id"].as_str().unwrap_or_default().to_owned();
        for (local, dir, partner) in [
            ("ga", vec!["global_admin"], vec![]),
            ("mcpp", vec![], vec!["mcpp_admin"]),
            ("aa", vec![], vec!["account_admin"]),
            ("plain", vec![], vec![]),
        ] {
            let r = self
                .call(
                    "POST",
                    &format!("/api/v1/tenants/{id}/users"),
                    &op,
                    Some(json!({"email": format!("{local}@{domain}"), "display_name": local, "directory_roles": dir, "partner_roles": partner})),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        }
        let r = self
            .call(
                "PUT",
                &format!("/api/v1/tenants/{id}/partner-account"),
                &op,
                Some(json!({
                    "partner_id": "1234567", "name": name, "state": state,
                    "legal_profile": {
                        "company_name": format!("{name} Ltd"),
                        "sold_to": {"address_line1": "1 Main St", "city": "Redmond", "postal_code": "98052", "country": country},
                        "primary_contact": {"name": "Pat Contact", "email": format!("pat@{domain}")}
                    }
                })),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        TestTenant {
            ga: self.token(&id, &format!("ga@{domain}")).await,
            mcpp: self.token(&id, &format!("mcpp@{domain}")).await,
            account_admin: self.token(&id, &format!("aa@{domain}")).await,
            plain: self.token(&id, &format!("plain@{domain}")).await,
            id,
            domain,
        }
    }
}

/// Generates a test per backend for each `async fn(TestApp)`.
#[macro_export]
macro_rules! api_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    if let Some(s) = pb_store::testing::store(pb_store::Backend::Sqlite, stringify!($name)).await {
                        super::$name($crate::support::TestApp::new(s).await).await
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    if let Some(s) = pb_store::testing::store(pb_store::Backend::Postgres, stringify!($name)).await {
                        super::$name($crate::support::TestApp::new(s).await).await
                    }
                }
            )*
        }
    };
}
