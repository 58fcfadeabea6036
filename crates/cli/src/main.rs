//! `partner-billing`: serve, migrate, token, operator-token, invoices run, db copy.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use identity::{AuthArgs, OidcArgs, oidc_client, verifier};
use pb_app::{AppConfig, AppState, Authenticator, TrustedProxy};
use pb_auth::{DEV_OPERATOR_TENANT, DevIssuer};
use pb_domain::{AdjustableClock, Clock, Period, SystemClock};
use pb_store::{ConnectOptions, Store, redact_url};
use tracing_subscriber::EnvFilter;

mod db_copy;
mod demo;
mod files;
mod http;
mod identity;
mod invoices;
mod mail;

#[derive(Parser, Debug)]
#[command(name = "partner-billing", version, about = "Billing accounts, billing profiles and the billing link of a partner program")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the API and web pages (applies migrations first).
    Serve(Box<ServeArgs>),
    /// Apply database migrations and exit.
    Migrate(DbArgs),
    /// Print a bearer token of the local dev issuer for a user.
    Token(TokenArgs),
    /// Print a bearer token of the local dev issuer for a platform operator.
    OperatorToken(OperatorTokenArgs),
    /// Monthly invoices.
    #[command(subcommand)]
    Invoices(InvoicesCommand),
    /// The database as a whole.
    #[command(subcommand)]
    Db(DbCommand),
}

#[derive(Subcommand, Debug)]
enum DbCommand {
    /// Copy every row of one database into a new, empty one (e.g. SQLite to PostgreSQL) and verify
    /// row counts and checksums of every table. Stop every serve first.
    Copy(DbCopyArgs),
}

#[derive(Args, Debug)]
struct DbCopyArgs {
    /// The database to copy: sqlite://PATH or postgres://USER@HOST/DB, migrated by this version
    /// (`migrate`). Opened read-only; never written.
    #[arg(long, env = "PB_COPY_FROM")]
    from: String,
    /// The database to copy into: migrated first; refused unless it holds no row of ours. A SQLite
    /// file is created; a PostgreSQL database must exist (createdb).
    #[arg(long, env = "PB_COPY_TO")]
    to: String,
}

#[derive(Subcommand, Debug)]
enum InvoicesCommand {
    /// Run the monthly invoices of a month that has ended (also runs by itself inside serve).
    Run(InvoicesRunArgs),
}

#[derive(Args, Debug)]
struct InvoicesRunArgs {
    #[command(flatten)]
    db: DbArgs,
    /// The month, YYYY-MM.
    #[arg(long)]
    period: String,
}

#[derive(Args, Debug, Clone)]
struct DbArgs {
    /// Folder for the SQLite database and the dev issuer's key.
    #[arg(long, env = "PB_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// sqlite://PATH or postgres://USER@HOST/DB; default sqlite://<data-dir>/partner-billing.db.
    #[arg(long, env = "PB_DATABASE_URL")]
    database: Option<String>,
}

impl DbArgs {
    fn url(&self) -> String {
        self.database.clone().unwrap_or_else(|| format!("sqlite://{}/partner-billing.db", self.data_dir.display()))
    }

    async fn open(&self, clock: Arc<dyn Clock>) -> Result<Store> {
        let url = self.url();
        if url.starts_with("sqlite:") && self.database.is_none() {
            files::private_dir(&self.data_dir)?;
        }
        let store = Store::connect(&url, &ConnectOptions::default(), clock)
            .await
            .with_context(|| format!("cannot open database {}", redact_url(&url)))?;
        files::private_database(&url)?;
        Ok(store)
    }
}

#[derive(Args, Debug)]
struct ServeArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    auth: AuthArgs,
    #[command(flatten)]
    mail: mail::MailArgs,
    #[command(flatten)]
    oidc: OidcArgs,
    /// Address to listen on.
    #[arg(long, env = "PB_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Seed the demo tenants and users (idempotent) and enable dev sign-in.
    #[arg(long, env = "PB_DEMO")]
    demo: bool,
    /// Allow --demo on a non-loopback address (anyone who reaches it signs in as anyone).
    #[arg(long, env = "PB_DEMO_ON_PUBLIC_ADDRESS", requires = "demo")]
    demo_on_public_address: bool,
    /// Public base URL, e.g. https://billing.example.com.
    #[arg(long, env = "PB_PUBLIC_URL")]
    public_url: Option<String>,
    /// "View details" URL of a billing profile; `{id}` is replaced by the profile id.
    #[arg(long, env = "PB_DETAILS_URL_TEMPLATE")]
    details_url_template: Option<String>,
    /// Cutover date (YYYY-MM-DD, UTC) from which membership purchases need a billing link.
    #[arg(long, env = "PB_PURCHASE_CUTOVER", default_value = "2024-02-01")]
    purchase_cutover: String,
    /// Let operators move the service's clock forward (PUT /api/v1/test-clock), to try a month close
    /// in minutes. Refused together with an external issuer.
    #[arg(long, env = "PB_TEST_CLOCK")]
    test_clock: bool,
    /// Who issues the invoices: the name, then address lines, separated by `;`.
    #[arg(long, env = "PB_INVOICE_SELLER", default_value = "Partner Program Billing")]
    invoice_seller: String,
    /// How often (seconds) serve checks whether the month just ended still needs its invoices.
    #[arg(long, env = "PB_MONTH_CLOSE_INTERVAL", default_value_t = 60)]
    month_close_interval: u64,
    /// Requests per minute per client address before 429.
    #[arg(long, env = "PB_RATE_LIMIT_PER_MINUTE", default_value_t = 1200)]
    rate_limit_per_minute: u32,
    /// Requests per minute per signed-in user or operator before 429, whatever their address.
    #[arg(long, env = "PB_RATE_LIMIT_PER_PRINCIPAL", default_value_t = 1200)]
    rate_limit_per_principal: u32,
    /// Proxies (addresses or CIDR blocks, comma-separated) whose Forwarded / X-Forwarded-For name
    /// the client; from anyone else those headers are ignored.
    #[arg(long, env = "PB_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_proxy)]
    trusted_proxies: Vec<TrustedProxy>,
    /// Seconds a client has to send a request's header before its connection is closed.
    #[arg(long, env = "PB_HEADER_READ_TIMEOUT", default_value_t = 10)]
    header_read_timeout: u64,
    /// Open connections one client address may hold; more are closed on accept.
    #[arg(long, env = "PB_MAX_CONNECTIONS_PER_IP", default_value_t = 256)]
    max_connections_per_ip: usize,
    /// Log format: json or pretty.
    #[arg(long, env = "PB_LOG_FORMAT", default_value = "json")]
    log_format: String,
}

#[derive(Args, Debug)]
struct TokenArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    auth: AuthArgs,
    /// Tenant id or domain.
    #[arg(long)]
    tenant: String,
    /// User id (oid) or email.
    #[arg(long)]
    user: String,
    /// Lifetime, e.g. 1h, 30m, 2d.
    #[arg(long, default_value = "1h")]
    ttl: String,
}

#[derive(Args, Debug)]
struct OperatorTokenArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    auth: AuthArgs,
    /// Lifetime, e.g. 1h, 30m, 2d.
    #[arg(long, default_value = "1h")]
    ttl: String,
}

fn parse_proxy(raw: &str) -> Result<TrustedProxy, String> {
    TrustedProxy::parse(raw)
}

fn parse_ttl(raw: &str) -> Result<time::Duration> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (n, unit) = raw.split_at(split);
    let n: i64 = n.parse().with_context(|| format!("bad ttl {raw:?}: use e.g. 1h, 30m, 2d"))?;
    let d = match unit {
        "s" | "" => time::Duration::seconds(n),
        "m" => time::Duration::minutes(n),
        "h" => time::Duration::hours(n),
        "d" => time::Duration::days(n),
        _ => bail!("bad ttl {raw:?}: use e.g. 1h, 30m, 2d"),
    };
    if d <= time::Duration::ZERO || d > time::Duration::days(30) {
        bail!("ttl must be between 1s and 30d");
    }
    Ok(d)
}

fn init_logs(format: &str) {
    let filter = EnvFilter::try_from_env("PB_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if format == "pretty" {
        builder.init();
    } else {
        builder.json().flatten_event(true).with_current_span(true).with_span_list(false).init();
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(a) => serve(*a).await,
        Command::Migrate(a) => {
            init_logs("pretty");
            let store = a.open(Arc::new(SystemClock)).await?;
            store.migrate().await.context("migration failed")?;
            println!("migrations applied to {}", redact_url(&a.url()));
            Ok(())
        }
        Command::Token(a) => token(a).await,
        Command::OperatorToken(a) => operator_token(a),
        Command::Invoices(InvoicesCommand::Run(a)) => {
            init_logs("pretty");
            let period = Period::parse(&a.period).with_context(|| format!("--period {:?}", a.period))?;
            let store = a.db.open(Arc::new(SystemClock)).await?;
            store.migrate().await.context("migration failed")?;
            invoices::run(&store, period).await
        }
        Command::Db(DbCommand::Copy(a)) => {
            init_logs("pretty");
            db_copy::run(&a.from, &a.to).await
        }
    }
}

fn parse_cutover(raw: &str) -> Result<time::Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(raw.trim(), format).with_context(|| format!("--purchase-cutover {raw:?} is not a date such as 2024-02-01"))
}

fn refuse_external(auth: &AuthArgs) -> Result<()> {
    if auth.auth_issuer.is_some() {
        bail!("an external issuer is configured (PB_AUTH_ISSUER); get tokens from it, not from the dev issuer");
    }
    Ok(())
}

async fn token(a: TokenArgs) -> Result<()> {
    refuse_external(&a.auth)?;
    let ttl = parse_ttl(&a.ttl)?;
    let store = a.db.open(Arc::new(SystemClock)).await?;
    store.migrate().await.context("migration failed")?;
    let tenant = store.find_tenant(&a.tenant).await.with_context(|| format!("no tenant {:?}", a.tenant))?;
    let user = store.find_user(tenant.id, &a.user).await.with_context(|| format!("no user {:?} in tenant {}", a.user, tenant.domain))?;
    let dev = DevIssuer::load_or_create(&a.db.data_dir)?;
    let mut claims = dev.claims(user.id.to_string(), ttl);
    claims.tid = Some(tenant.id.to_string());
    claims.oid = Some(user.id.to_string());
    claims.preferred_username = Some(user.email.clone());
    claims.name = Some(user.display_name.clone());
    claims.wids = user.roles.directory.iter().map(|r| r.template_id().to_owned()).collect();
    println!("{}", dev.sign(&claims)?);
    Ok(())
}

fn operator_token(a: OperatorTokenArgs) -> Result<()> {
    refuse_external(&a.auth)?;
    let ttl = parse_ttl(&a.ttl)?;
    let dev = DevIssuer::load_or_create(&a.db.data_dir)?;
    let tenant = a.auth.operator_tenant().unwrap_or_else(|| DEV_OPERATOR_TENANT.to_owned());
    let claims = dev.operator_claims(&tenant, ttl);
    println!("{}", dev.sign(&claims)?);
    Ok(())
}

async fn serve(a: ServeArgs) -> Result<()> {
    init_logs(&a.log_format);
    let cutover = parse_cutover(&a.purchase_cutover)?;
    if a.test_clock && a.auth.auth_issuer.is_some() {
        bail!("--test-clock is for trying the service out: it is refused together with an external issuer (PB_AUTH_ISSUER)");
    }
    let test_clock = a.test_clock.then(|| Arc::new(AdjustableClock::default()));
    let clock: Arc<dyn Clock> = match &test_clock {
        Some(c) => c.clone(),
        None => Arc::new(SystemClock),
    };
    if a.demo && !a.listen.ip().is_loopback() && !a.demo_on_public_address {
        bail!(
            "--demo lets anyone who reaches {} sign in as any user with one click; on a non-loopback address it also needs --demo-on-public-address",
            a.listen
        );
    }
    files::private_dir(&a.db.data_dir)?;
    tracing::info!(
        listen = %a.listen,
        data_dir = %a.db.data_dir.display(),
        database = %redact_url(&a.db.url()),
        demo = a.demo,
        auth_issuer = a.auth.auth_issuer.as_deref().unwrap_or("dev"),
        public_url = a.public_url.as_deref().unwrap_or(""),
        details_url_template = a.details_url_template.as_deref().unwrap_or(""),
        smtp_url = %a.mail.smtp_url.as_deref().map(redact_url).unwrap_or_default(),
        purchase_cutover = %cutover,
        test_clock = a.test_clock,
        operator_tenant = a.auth.operator_tenant().as_deref().unwrap_or(""),
        "starting partner-billing"
    );
    if a.auth.operator_tenant().is_none() {
        tracing::warn!("PB_OPERATOR_TENANT is not set: no token is accepted as a platform operator's");
    }
    let store = a.db.open(clock).await?.with_purchase_cutover(cutover);
    store.migrate().await.context("migration failed")?;
    let dispatcher = a.mail.dispatcher(&store, a.public_url.as_deref(), a.listen, &a.db.data_dir)?;
    let (verifier, dev_issuer) = verifier(&a.auth, &a.db.data_dir).await?;
    if a.demo {
        let seeded = demo::seed(&store).await.context("demo seeding failed")?;
        demo::print_instructions(&seeded, &a.listen, &a.db);
    }
    let config = AppConfig {
        details_url_template: a.details_url_template.clone(),
        public_url: a.public_url.clone(),
        rate_limit_per_minute: a.rate_limit_per_minute,
        rate_limit_per_principal_per_minute: a.rate_limit_per_principal,
        trusted_proxies: a.trusted_proxies.clone(),
        dev_sign_in: a.demo,
        listen_loopback: a.listen.ip().is_loopback(),
        invoice_seller: a.invoice_seller.split(';').map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()).collect(),
    };
    let mut state = AppState::new(store.clone(), Authenticator::new(verifier, a.auth.operator_tenant()), dev_issuer, config);
    if let Some(c) = test_clock {
        state = state.with_test_clock(c);
    }
    if let Some(oidc) = oidc_client(&a).await? {
        state = state.with_oidc(oidc);
    }
    let app = app(state);
    let listener = tokio::net::TcpListener::bind(a.listen).await.with_context(|| format!("cannot listen on {}", a.listen))?;
    let month_close =
        tokio::spawn(pb_jobs::MonthClose::new(store.clone(), std::time::Duration::from_secs(a.month_close_interval.max(1))).run());
    let reminders = tokio::spawn(a.mail.reminders(&store).run());
    let heartbeat = tokio::spawn(pb_jobs::heartbeat(store.clone()));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let outbox = tokio::spawn(dispatcher.run(stopped.clone()));
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    tracing::info!(url = %format!("http://{}", listener.local_addr()?), "listening");
    let limits = http::Limits {
        header_read_timeout: std::time::Duration::from_secs(a.header_read_timeout.max(1)),
        max_connections_per_ip: a.max_connections_per_ip.max(1),
    };
    http::serve(listener, app, limits, stopped).await.context("server error")?;
    // A month close or a reminder sweep cut short rolls back its open transaction; the next start
    // finishes it. The email in flight is let finish (rule T4), within its SMTP timeout.
    month_close.abort();
    reminders.abort();
    heartbeat.abort();
    if let Err(e) = outbox.await {
        tracing::error!(error = %e, "the outbox dispatcher ended abnormally");
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// The two faces, side by side: the API's routes and the pages'.
fn faces(state: &AppState) -> axum::Router<AppState> {
    pb_api::router(state).merge(pb_web::router(state))
}

/// The whole application: both faces behind the shared layers.
fn app(state: AppState) -> axum::Router {
    let faces = faces(&state);
    // Merged after the shared layers, so that the benchmarks' baseline goes without them.
    #[cfg(feature = "bench-baseline")]
    return {
        let bare = pb_api::bench::bare(state.clone()).merge(pb_web::bench::bare(state.clone()));
        pb_app::compose(state, faces).merge(bare)
    };
    #[cfg(not(feature = "bench-baseline"))]
    pb_app::compose(state, faces)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    use pb_app::testing::TestApp;
    use pb_store::{Store, both_backends};

    use super::parse_ttl;

    /// The binary serves both faces from one router, behind one set of layers.
    async fn serves_the_api_and_the_pages_side_by_side(store: Store) {
        let app = TestApp::new(store, super::faces).await;
        let t = app.tenant("Both", "US", "active").await;
        let me = app.get("/api/v1/me", &t.ga).await;
        assert_eq!(me.status, 200, "{}", me.body);
        let doc = app.send("GET", "/openapi.json", &[], None).await;
        assert!(doc.body["paths"].get("/api/v1/billing-link").is_some());
        let page = app.send("GET", "/account/billing-profile", &[], None).await;
        assert_eq!(page.status, 303, "the pages send a visitor without a session to sign in");
        let css = app.send("GET", "/static/app.css", &[], None).await;
        assert_eq!(css.status, 200);
        for r in [&me, &doc, &page, &css] {
            assert!(r.header("x-request-id").is_some(), "both faces stand behind the shared layers");
        }
        app.send("GET", "/nowhere", &[], None).await.problem(404, "not_found");
    }

    both_backends!(serves_the_api_and_the_pages_side_by_side);

    #[test]
    fn ttl_parsing() {
        assert_eq!(parse_ttl("1h").ok(), Some(time::Duration::hours(1)));
        assert_eq!(parse_ttl("30m").ok(), Some(time::Duration::minutes(30)));
        assert_eq!(parse_ttl("90").ok(), Some(time::Duration::seconds(90)));
        for bad in ["", "h", "0s", "1y", "31d", "-1h"] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
    }
}
