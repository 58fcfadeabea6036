//! `TestApp`: a whole application in-process over a fresh store, with the dev issuer in a temporary
//! folder, driving whichever faces the test passes in. The API's, the pages' and the binary's tests
//! all build on it. Failing to set up fails the test, so this module panics on purpose.
#![expect(clippy::expect_used, reason = "test support fails the test loudly when it cannot set up")]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use pb_auth::{Claims, DEV_AUDIENCE, DEV_ISSUER, DEV_OPERATOR_TENANT, DevIssuer, JwksSource, Verifier};
use pb_domain::{
    AddressInput, ContactInput, DirectoryRole, DisplayName, EmailAddress, LegalProfileInput, PartnerAccountState, PartnerRole, TenantId,
};
use pb_store::{Backend, Ctx, NewUser, PutPartnerAccount, Store};
use serde_json::Value;
use tower::ServiceExt;

use crate::{AppConfig, AppState, Authenticator};

/// A response, with its body as JSON when it is JSON (else `Null`) and as bytes.
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
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

    /// Every `Set-Cookie` value.
    pub fn cookies(&self) -> Vec<String> {
        self.headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).map(str::to_owned).collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }
}

/// What a test serves: the faces' routes, made for the app's state (e.g. `pb_api::router`).
pub type Faces = fn(&AppState) -> Router<AppState>;

pub struct TestApp {
    pub store: Store,
    pub state: AppState,
    pub router: Router,
    /// The issuer whose tokens the app accepts.
    pub dev: Arc<DevIssuer>,
    pub dir: std::path::PathBuf,
}

/// A tenant made by [`TestApp::tenant`], with a token for each of its users.
pub struct TestTenant {
    pub id: String,
    pub domain: String,
    pub ga: String,
    pub mcpp: String,
    pub account_admin: String,
    pub plain: String,
}

impl TestTenant {
    pub fn tenant_id(&self) -> TenantId {
        TenantId::parse(&self.id).expect("tenant id")
    }
}

fn temp_dir(what: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("pb-{what}-{}", uuid::Uuid::new_v4().simple()))
}

impl TestApp {
    /// The app over `store` with the default configuration, serving the faces `faces` makes.
    pub async fn new(store: Store, faces: Faces) -> TestApp {
        Self::with_config(store, AppConfig::default(), faces).await
    }

    pub async fn with_config(store: Store, config: AppConfig, faces: Faces) -> TestApp {
        let dir = temp_dir("app");
        let dev = Arc::new(DevIssuer::load_or_create(&dir).expect("dev issuer"));
        let set = serde_json::from_value(dev.jwks()).expect("dev JWKS");
        let verifier = Verifier::new(DEV_ISSUER.into(), DEV_AUDIENCE.into(), JwksSource::Static(set)).await.expect("verifier");
        Self::build(store, verifier, Some(dev.clone()), dev, dir, config, faces)
    }

    /// The app over `store` with `serve --test-clock`'s adjustable clock, which the test (as an
    /// operator) moves forward through `PUT /api/v1/test-clock` or [`TestApp::clock`].
    pub async fn with_test_clock(store: Store, faces: Faces) -> TestApp {
        let clock = Arc::new(pb_domain::AdjustableClock::default());
        let store = store.with_clock(clock.clone());
        let mut app = Self::with_config(store, AppConfig::default(), |_| Router::new()).await;
        app.state = app.state.with_test_clock(clock);
        app.router = crate::compose(app.state.clone(), faces(&app.state));
        app
    }

    /// The adjustable clock of [`TestApp::with_test_clock`].
    pub fn clock(&self) -> &pb_domain::AdjustableClock {
        self.state.test_clock.as_deref().expect("TestApp::with_test_clock")
    }

    /// The app with any verifier: `published` is the dev issuer whose JWKS the app serves (if any),
    /// `dev` the issuer the test signs its tokens with.
    pub fn build(
        store: Store,
        verifier: Verifier,
        published: Option<Arc<DevIssuer>>,
        dev: Arc<DevIssuer>,
        dir: std::path::PathBuf,
        config: AppConfig,
        faces: Faces,
    ) -> TestApp {
        let state = AppState::new(store.clone(), Authenticator::new(verifier, Some(DEV_OPERATOR_TENANT.to_owned())), published, config);
        TestApp { store, router: crate::compose(state.clone(), faces(&state)), state, dev, dir }
    }

    pub fn backend(&self) -> Backend {
        self.store.backend()
    }

    pub fn operator_token(&self) -> String {
        let c = self.dev.operator_claims(DEV_OPERATOR_TENANT, time::Duration::hours(1));
        self.dev.sign(&c).expect("sign")
    }

    /// Claims for a user of a tenant, as the `token` command makes them (`wids` from the stored roles).
    pub async fn user_claims(&self, tenant: &str, user: &str) -> Claims {
        let t = self.store.find_tenant(tenant).await.expect("tenant");
        let u = self.store.find_user(t.id, user).await.expect("user");
        let mut c = self.dev.claims(u.id.to_string(), time::Duration::hours(1));
        c.tid = Some(t.id.to_string());
        c.oid = Some(u.id.to_string());
        c.preferred_username = Some(u.email.clone());
        c.wids = u.roles.directory.iter().map(|r| r.template_id().to_owned()).collect();
        c
    }

    pub async fn token(&self, tenant: &str, user: &str) -> String {
        let c = self.user_claims(tenant, user).await;
        self.dev.sign(&c).expect("sign")
    }

    /// Sends a request; `body` is `(content type, bytes)`.
    pub async fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<(&str, Vec<u8>)>) -> Resp {
        self.send_from(None, method, path, headers, body).await
    }

    /// [`TestApp::send`] as if the connection came from `peer` (what the server's accept loop records).
    pub async fn send_from(
        &self,
        peer: Option<std::net::SocketAddr>,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, Vec<u8>)>,
    ) -> Resp {
        let mut b = Request::builder().method(method).uri(path);
        if let Some(peer) = peer {
            b = b.extension(axum::extract::ConnectInfo(peer));
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let body = match body {
            Some((ctype, bytes)) => {
                b = b.header("content-type", ctype);
                Body::from(bytes)
            }
            None => Body::empty(),
        };
        let resp = self.router.clone().oneshot(b.body(body).expect("request")).await.expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let raw = resp.into_body().collect().await.map(|b| b.to_bytes().to_vec()).unwrap_or_default();
        let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        Resp { status, headers, body, raw }
    }

    /// A JSON request with an optional bearer token and extra headers.
    pub async fn request(&self, method: &str, path: &str, token: Option<&str>, body: Option<Vec<u8>>, headers: &[(&str, &str)]) -> Resp {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if let Some(a) = &auth {
            all.push(("authorization", a.as_str()));
        }
        self.send(method, path, &all, body.map(|b| ("application/json", b))).await
    }

    pub async fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Resp {
        self.request(method, path, Some(token), body.map(|b| b.to_string().into_bytes()), &[]).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call("GET", path, token, None).await
    }

    /// Provisions a tenant with a global admin (`ga@`), an MCPP admin (`mcpp@`), an account admin
    /// (`aa@`) and a plain user (`plain@`), and a partner account in `state` whose verified legal
    /// profile has a sold-to in `country` and a primary contact. Through the store's operator use
    /// cases, so that it works whichever faces the app serves.
    pub async fn tenant(&self, name: &str, country: &str, state: &str) -> TestTenant {
        let op = Ctx::operator("test-operator", None);
        let domain = format!("{}-{}.example", name.to_lowercase(), &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let display = DisplayName::parse(name).expect("tenant name");
        let t = self.store.create_tenant(&op, &display, &domain).await.expect("create tenant");
        let users: [(&str, &[DirectoryRole], &[PartnerRole]); 4] = [
            ("ga", &[DirectoryRole::GlobalAdmin], &[]),
            ("mcpp", &[], &[PartnerRole::McppAdmin]),
            ("aa", &[], &[PartnerRole::AccountAdmin]),
            ("plain", &[], &[]),
        ];
        for (local, directory, partner) in users {
            let new = NewUser {
                email: EmailAddress::parse(&format!("{local}@{domain}")).expect("email"),
                display_name: DisplayName::parse(local).expect("name"),
                directory_roles: directory.to_vec(),
                partner_roles: partner.to_vec(),
            };
            self.store.create_user(&op, t.id, &new).await.expect("create user");
        }
        let legal_profile = LegalProfileInput {
            company_name: Some(format!("{name} Ltd")),
            sold_to: Some(AddressInput {
                address_line1: Some("1 Main St".into()),
                city: Some("Redmond".into()),
                postal_code: Some("98052".into()),
                country: Some(country.into()),
                ..Default::default()
            }),
            primary_contact: Some(ContactInput { name: Some("Pat Contact".into()), email: Some(format!("pat@{domain}")), phone: None }),
        }
        .parse()
        .expect("legal profile");
        let put = PutPartnerAccount {
            partner_id: "1234567".into(),
            name: display,
            state: PartnerAccountState::parse(state).expect("partner account state"),
            legal_profile,
        };
        self.store.put_partner_account(&op, t.id, &put).await.expect("partner account");
        let id = t.id.to_string();
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
