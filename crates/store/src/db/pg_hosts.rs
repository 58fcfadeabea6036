//! PostgreSQL at one host, or at several as libpq reads them:
//! `postgres://user@h1:5432,h2:5433/db?target_session_attrs=read-write` tries the hosts in order
//! and keeps the first that takes writes (is not in recovery). sqlx parses one host only, so the
//! list is read here, and a watcher re-picks when the chosen host stops serving: a primary that
//! died and a replica promoted in its place are found again without a restart, and every node of
//! a deployment does this on its own.
//!
//! While no host takes writes the store answers [`StoreError::Unavailable`] at once (503 with
//! `Retry-After` at the HTTP edge) instead of letting requests wait on connections that cannot
//! come; a request already waiting gives up after [`ACQUIRE_TIMEOUT`].

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions as _, Connection as _, PgConnection, PgPool};

use super::{ConnectOptions, redact_url};
use crate::error::StoreError;

/// How long a request waits for a connection before it is told the database is unavailable: a
/// healthy pool hands one out in milliseconds even at saturation, so waiting longer only holds
/// the client while the database is down.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the watcher asks the chosen host whether it still takes writes.
const WATCH_EVERY: Duration = Duration::from_secs(1);
/// How often the watcher tries the hosts again while none takes writes.
const REPICK_EVERY: Duration = Duration::from_millis(250);
/// How long one host gets to answer a check: a host that does not answer is passed over.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The hosts of a PostgreSQL URL and what a session there must be.
#[derive(Debug)]
pub(super) struct Target {
    hosts: Vec<PgConnectOptions>,
    /// `target_session_attrs=read-write` (or `primary`): only a host not in recovery will do.
    require_primary: bool,
}

/// Reads a PostgreSQL URL with one host or a comma-separated list of `host[:port]`, and its
/// `target_session_attrs` (`any`, the default, `read-write` or `primary`; the read-only ones are
/// refused: this service writes). Everything else is sqlx's to read, per host.
pub(super) fn parse(url: &str) -> Result<Target, StoreError> {
    let bad = |m: String| StoreError::UnsupportedUrl(format!("bad PostgreSQL URL {}: {m}", redact_url(url)));
    let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("expected postgres://…".into()))?;
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
    let mut attrs = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("target_session_attrs", v)) => attrs = Some(v),
            _ => kept.push(pair),
        }
    }
    let require_primary = match attrs {
        None | Some("any") => false,
        Some("read-write" | "primary") => true,
        Some(other) => {
            return Err(bad(format!("target_session_attrs={other} is not supported: this service writes; use read-write, primary or any")));
        }
    };
    let hosts: Vec<&str> = hosts.split(',').collect();
    if hosts.len() > 1 && hosts.iter().any(|h| h.is_empty()) {
        return Err(bad("an empty host in the host list".into()));
    }
    let query = if kept.is_empty() { String::new() } else { format!("?{}", kept.join("&")) };
    let hosts = hosts
        .iter()
        .map(|h| {
            let one = match userinfo {
                Some(u) => format!("{scheme}://{u}@{h}{path}{query}"),
                None => format!("{scheme}://{h}{path}{query}"),
            };
            PgConnectOptions::from_str(&one).map_err(|e| bad(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Target { hosts, require_primary })
}

/// Opens the pool on the first host that serves; with several hosts or `read-write`, also the
/// [`Router`] that keeps it on one that does.
pub(super) async fn connect(url: &str, opts: &ConnectOptions) -> Result<(PgPool, Option<Arc<Router>>), StoreError> {
    let mut target = parse(url)?;
    for o in &mut target.hosts {
        if let Some(schema) = &opts.pg_schema {
            *o = o.clone().options([("search_path", schema.as_str())]);
        }
        if opts.read_only {
            *o = o.clone().options([("default_transaction_read_only", "on")]);
        }
    }
    let pool = PgPoolOptions::new().max_connections(opts.max_connections.unwrap_or(16)).acquire_timeout(ACQUIRE_TIMEOUT);
    if target.hosts.len() == 1 && !target.require_primary {
        return Ok((pool.connect_with(target.hosts.remove(0)).await?, None));
    }
    let router = Arc::new(Router {
        target,
        current: AtomicUsize::new(0),
        up: AtomicBool::new(true),
        born: Instant::now(),
        switched_us: AtomicU64::new(0),
        wake: tokio::sync::Notify::new(),
    });
    let Some(first) = router.pick().await else {
        return Err(StoreError::Unavailable(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::NotConnected,
            format!("none of the database hosts {} takes writes", router.describe_all()),
        ))));
    };
    router.current.store(first, Ordering::Release);
    let (on_connect, on_acquire) = (Arc::downgrade(&router), Arc::downgrade(&router));
    let pool = pool
        .after_connect(move |conn, _| {
            let router = on_connect.clone();
            Box::pin(async move {
                // A new connection to a host that has become a replica is refused (the pool tries
                // again, with the host the watcher picks).
                let Some(r) = router.upgrade().filter(|r| r.target.require_primary) else { return Ok(()) };
                if in_recovery(conn).await? {
                    r.wake.notify_one();
                    return Err(sqlx::Error::Protocol("the database host is in recovery (a replica), not the primary".into()));
                }
                Ok(())
            })
        })
        .before_acquire(move |_, meta| {
            let router = on_acquire.clone();
            // A connection made before the last switch is to the old host: dropped, not used.
            Box::pin(async move { Ok(router.upgrade().is_none_or(|r| !r.made_before_switch(meta.age))) })
        })
        .connect_with(router.target.hosts[first].clone())
        .await?;
    tracing::info!(host = %router.describe(first), hosts = %router.describe_all(), "database: connected to the primary");
    tokio::spawn(router.clone().watch(pool.clone()));
    Ok((pool, Some(router)))
}

async fn in_recovery(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_is_in_recovery()").fetch_one(conn).await
}

/// Keeps the pool on a host that serves.
#[derive(Debug)]
pub struct Router {
    target: Target,
    /// Index of the host new connections go to.
    current: AtomicUsize,
    /// Whether that host was serving when last asked; false while no host is found.
    up: AtomicBool,
    born: Instant,
    /// When the pool last moved host, in µs after `born` (0: never).
    switched_us: AtomicU64,
    wake: tokio::sync::Notify,
}

impl Router {
    /// Refuses at once while no host serves, so that requests fail fast instead of queueing.
    pub(super) fn gate(&self) -> Result<(), StoreError> {
        if self.up.load(Ordering::Acquire) {
            return Ok(());
        }
        Err(StoreError::Unavailable(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::NotConnected,
            format!("no database host takes writes just now (looking among {})", self.describe_all()),
        ))))
    }

    /// Asks the watcher to check now (a request failed as if the host were gone).
    pub(super) fn nudge(&self) {
        self.wake.notify_one();
    }

    fn made_before_switch(&self, age: Duration) -> bool {
        let switched = self.switched_us.load(Ordering::Acquire);
        let made_at = self.born.elapsed().saturating_sub(age);
        switched != 0 && made_at < Duration::from_micros(switched)
    }

    fn describe(&self, i: usize) -> String {
        self.target.hosts.get(i).map(|o| format!("{}:{}", o.get_host(), o.get_port())).unwrap_or_default()
    }

    fn describe_all(&self) -> String {
        (0..self.target.hosts.len()).map(|i| self.describe(i)).collect::<Vec<_>>().join(",")
    }

    /// Whether the host takes this service's sessions (connects, and is not in recovery when a
    /// primary is required).
    async fn serves(&self, conn: &mut PgConnection) -> bool {
        match tokio::time::timeout(CHECK_TIMEOUT, in_recovery(conn)).await {
            Ok(Ok(recovering)) => !(self.target.require_primary && recovering),
            _ => false,
        }
    }

    async fn open(&self, i: usize) -> Option<PgConnection> {
        let o = self.target.hosts.get(i)?;
        tokio::time::timeout(CHECK_TIMEOUT, o.connect()).await.ok()?.ok()
    }

    /// The first host, in the URL's order, that serves (libpq's order of preference).
    async fn pick(&self) -> Option<usize> {
        for i in 0..self.target.hosts.len() {
            if let Some(mut conn) = self.open(i).await {
                let ok = self.serves(&mut conn).await;
                let _ = conn.close().await;
                if ok {
                    return Some(i);
                }
            }
        }
        None
    }

    /// Asks the chosen host every [`WATCH_EVERY`] (or when nudged) whether it still serves, over
    /// a connection of its own; when it does not, tries all hosts until one does and moves the
    /// pool there. Ends when the store is dropped.
    async fn watch(self: Arc<Self>, pool: PgPool) {
        let mut probe: Option<PgConnection> = None;
        loop {
            tokio::select! {
                () = tokio::time::sleep(WATCH_EVERY) => {}
                () = self.wake.notified() => {}
            }
            if Arc::strong_count(&self) == 1 || pool.is_closed() {
                return;
            }
            let current = self.current.load(Ordering::Acquire);
            if probe.is_none() {
                probe = self.open(current).await;
            }
            if let Some(conn) = probe.as_mut()
                && self.serves(conn).await
            {
                continue;
            }
            probe = None;
            self.up.store(false, Ordering::Release);
            tracing::warn!(host = %self.describe(current), "database: the host stopped taking writes; looking for the primary");
            loop {
                if let Some(i) = self.pick().await {
                    // Even the same host again (restarted): the connections made before are dead.
                    let since = u64::try_from(self.born.elapsed().as_micros()).unwrap_or(u64::MAX).max(1);
                    self.switched_us.store(since, Ordering::Release);
                    pool.set_connect_options(self.target.hosts[i].clone());
                    self.current.store(i, Ordering::Release);
                    self.up.store(true, Ordering::Release);
                    tracing::warn!(host = %self.describe(i), "database: now using this host as the primary");
                    break;
                }
                if Arc::strong_count(&self) == 1 || pool.is_closed() {
                    return;
                }
                tokio::time::sleep(REPICK_EVERY).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(url: &str) -> Vec<String> {
        parse(url).unwrap().hosts.iter().map(|o| format!("{}:{}/{}", o.get_host(), o.get_port(), o.get_database().unwrap_or(""))).collect()
    }

    #[test]
    fn a_host_list_is_read_as_libpq_reads_it() {
        assert_eq!(hosts("postgres://u:pw@h1:5441,h2:5442/db?target_session_attrs=read-write"), ["h1:5441/db", "h2:5442/db"]);
        assert_eq!(hosts("postgres://u@h1,h2:6000/db"), ["h1:5432/db", "h2:6000/db"]);
        assert!(parse("postgres://u@h1,h2/db?target_session_attrs=read-write").unwrap().require_primary);
        assert!(parse("postgres://u@h1,h2/db?target_session_attrs=primary&sslmode=disable").unwrap().require_primary);
        assert!(!parse("postgres://u@h1,h2/db").unwrap().require_primary);
        assert_eq!(hosts("postgres://h1/db?sslmode=disable"), ["h1:5432/db"]);
    }

    #[test]
    fn a_read_only_target_or_an_empty_host_is_refused_without_the_password() {
        for url in ["postgres://u:secret@h1,h2/db?target_session_attrs=standby", "postgres://u:secret@h1,,h2/db"] {
            let e = parse(url).unwrap_err().to_string();
            assert!(e.contains("bad PostgreSQL URL") && !e.contains("secret"), "{e}");
        }
    }
}
