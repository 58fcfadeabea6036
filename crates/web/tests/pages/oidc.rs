//! OpenID Connect sign-in for the pages against a stand-in provider the test starts on loopback:
//! the code flow with PKCE signs a user in; a wrong `state`, a replayed code, a wrong `nonce` and an
//! ID token for another audience are each refused. On SQLite and PostgreSQL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use pb_app::AppConfig;
use pb_app::testing::TestApp;
use pb_auth::{DevIssuer, JwksSource, OidcClient, OidcSettings, pkce_challenge};
use pb_domain::PartnerAccountState;
use pb_store::{Store, both_backends};
use serde_json::json;

use super::{Page, Web, cookies, faces, seed};

const ISSUER: &str = "https://idp.example/tenant/v2.0";
const CLIENT: &str = "partner-billing-web";

/// How the stand-in provider misbehaves, if it does.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Honest,
    WrongNonce,
    OtherAudience,
}

/// What a code stands for: the nonce and PKCE challenge of its sign-in, and the user's tid and oid.
type Issued = (String, String, String, String);

#[derive(Clone)]
struct Idp {
    key: Arc<DevIssuer>,
    /// Issued codes: (nonce, PKCE challenge, the user's tid and oid). Each redeems once.
    codes: Arc<Mutex<HashMap<String, Issued>>>,
    mode: Arc<Mutex<Mode>>,
    /// Who signs in at `/authorize`: (tid, oid).
    who: Arc<Mutex<(String, String)>>,
}

#[derive(serde::Deserialize)]
struct Authorize {
    redirect_uri: String,
    state: String,
    nonce: String,
    code_challenge: String,
    code_challenge_method: String,
}

async fn authorize(State(idp): State<Idp>, Query(q): Query<Authorize>) -> Response {
    assert_eq!(q.code_challenge_method, "S256");
    let code = uuid::Uuid::new_v4().simple().to_string();
    let (tid, oid) = idp.who.lock().map(|w| w.clone()).unwrap_or_default();
    if let Ok(mut codes) = idp.codes.lock() {
        codes.insert(code.clone(), (q.nonce, q.code_challenge, tid, oid));
    }
    Redirect::to(&format!("{}?code={code}&state={}", q.redirect_uri, q.state)).into_response()
}

async fn token(State(idp): State<Idp>, Form(f): Form<HashMap<String, String>>) -> Response {
    let refused = || (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "invalid_grant"}))).into_response();
    let Some((nonce, challenge, tid, oid)) = idp.codes.lock().ok().and_then(|mut c| c.remove(f.get("code")?)) else { return refused() };
    if f.get("client_id").map(String::as_str) != Some(CLIENT)
        || pkce_challenge(f.get("code_verifier").map_or("", String::as_str)) != challenge
    {
        return refused();
    }
    let mode = idp.mode.lock().map(|m| *m).unwrap_or(Mode::Honest);
    let mut c = idp.key.claims(oid.clone(), time::Duration::minutes(5));
    c.iss = ISSUER.into();
    c.aud = if mode == Mode::OtherAudience { "some-other-app".into() } else { CLIENT.into() };
    c.nonce = Some(if mode == Mode::WrongNonce { "not-the-nonce".into() } else { nonce });
    c.tid = Some(tid);
    c.oid = Some(oid);
    c.name = Some("Diego Siciliani".into());
    axum::Json(json!({"id_token": idp.key.sign(&c).unwrap_or_default(), "token_type": "Bearer"})).into_response()
}

/// Starts the stand-in provider; returns it and its base URL.
async fn provider() -> (Idp, String) {
    let dir = std::env::temp_dir().join(format!("pb-idp-{}", uuid::Uuid::new_v4().simple()));
    let key = Arc::new(DevIssuer::load_or_create(&dir).unwrap());
    let idp = Idp { key: key.clone(), codes: Arc::default(), mode: Arc::new(Mutex::new(Mode::Honest)), who: Arc::default() };
    let jwks = key.jwks();
    let app = axum::Router::new()
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .route("/jwks", get(move || async move { axum::Json(jwks.clone()) }))
        .with_state(idp.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (idp, base)
}

/// The app with OIDC sign-in against `base`.
async fn oidc_app(store: Store, base: &str) -> Web {
    let config = AppConfig { public_url: Some("http://127.0.0.1:8080".into()), ..Default::default() };
    let mut app = TestApp::with_config(store.clone(), config, faces).await;
    let settings = OidcSettings {
        issuer: ISSUER.into(),
        authorize_url: format!("{base}/authorize"),
        token_url: format!("{base}/token"),
        client_id: CLIENT.into(),
        client_secret: None,
        redirect_uri: "http://127.0.0.1:8080/signin/callback".into(),
    };
    let client = OidcClient::new(settings, JwksSource::Url(format!("{base}/jwks"))).await.unwrap();
    app.state = app.state.clone().with_oidc(client);
    app.router = pb_app::compose(app.state.clone(), faces(&app.state));
    Web { app, store }
}

fn cookie_pair(p: &Page, name: &str) -> String {
    cookies(p)
        .into_iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .and_then(|c| c.split(';').next().map(str::to_owned))
        .unwrap_or_default()
}

/// Starts a sign-in and lets the provider answer: (the browser's `pb_oidc` cookie, code, state).
async fn to_provider_and_back(w: &Web) -> (String, String, String) {
    let start = w.send("GET", "/signin", None, None).await;
    assert_eq!(start.status, StatusCode::SEE_OTHER);
    let start = w.send("GET", "/signin/oidc", None, None).await;
    let pending = cookie_pair(&start, "pb_oidc");
    let to = start.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let back = http.get(&to).send().await.unwrap();
    let back = back.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let url = url::Url::parse(&back).unwrap();
    let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
    (pending, q.get("code").cloned().unwrap_or_default(), q.get("state").cloned().unwrap_or_default())
}

async fn callback(w: &Web, cookie: &str, code: &str, state: &str) -> Page {
    w.send("GET", &format!("/signin/callback?code={code}&state={state}"), Some(cookie), None).await
}

async fn oidc_signs_in_with_code_pkce_state_and_nonce(store: Store) {
    seed(&store, PartnerAccountState::Active).await;
    let tenant = store.find_tenant("contoso.example").await.unwrap();
    let diego = store.find_user(tenant.id, "user@contoso.example").await.unwrap();
    let (idp, base) = provider().await;
    *idp.who.lock().unwrap() = (tenant.id.to_string(), diego.id.to_string());
    let w = oidc_app(store, &base).await;

    let (pending, code, state) = to_provider_and_back(&w).await;
    let done = callback(&w, &pending, &code, &state).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    assert_eq!(done.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()), Some("/account/billing-profile"));
    let session = cookie_pair(&done, "pb_session");
    let page = w.send("GET", "/account/billing-profile", Some(&session), None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("Diego Siciliani"), "signed in as the ID token's user");

    // The same code again (the callback replayed with the browser's old cookie): refused.
    assert_eq!(callback(&w, &pending, &code, &state).await.status, StatusCode::BAD_REQUEST);

    // A state that is not this browser's.
    let (pending, code, _) = to_provider_and_back(&w).await;
    assert_eq!(callback(&w, &pending, &code, "forged-state").await.status, StatusCode::BAD_REQUEST);
    assert_eq!(callback(&w, "", &code, "forged-state").await.status, StatusCode::BAD_REQUEST);

    // An ID token whose nonce is not this sign-in's.
    *idp.mode.lock().unwrap() = Mode::WrongNonce;
    let (pending, code, state) = to_provider_and_back(&w).await;
    let r = callback(&w, &pending, &code, &state).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(cookie_pair(&r, "pb_session").is_empty(), "no session");

    // An ID token for another audience.
    *idp.mode.lock().unwrap() = Mode::OtherAudience;
    let (pending, code, state) = to_provider_and_back(&w).await;
    assert_eq!(callback(&w, &pending, &code, &state).await.status, StatusCode::BAD_REQUEST);
}

both_backends!(oidc_signs_in_with_code_pkce_state_and_nonce);
