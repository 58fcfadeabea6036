//! The outbox dispatcher (rule T4): delivers the emails that use cases queued in their own
//! transactions. It runs inside every `serve`; nodes share the work through leased claims.
//!
//! One node sends one email at a time, and records the outcome before it sends the next. The only
//! email a crash can leave ambiguous is the one in flight: if the server accepted it and the node
//! died before marking it sent, it goes out again after its lease runs out, with the same
//! `Message-ID`. Every other email is either marked sent or still pending.

mod error;
mod mail;
mod smtp;

use std::time::{Duration, Instant};

use pb_domain::RetryPolicy;
use pb_store::{FailureOutcome, OutboxMessage, Store, StoreError};
use tokio::sync::watch;

pub use error::MailError;
pub use mail::{Letterhead, Transport};

/// How the dispatcher of one node behaves.
#[derive(Debug, Clone)]
pub struct DispatchSettings {
    /// This node's name in claims (`locked_by`).
    pub node: String,
    /// How long a claim holds. Longer than one send may take, so that a claim never runs out while
    /// its email is in flight.
    pub lease: Duration,
    /// The pause between looks at an empty outbox, for email queued by other nodes (this node's
    /// own commits wake the dispatcher at once).
    pub poll: Duration,
    /// Emails claimed at once.
    pub batch: i64,
    pub retry: RetryPolicy,
    /// The longest one send may take (the SMTP transport's timeout); a send is only started while
    /// at least this much of the claim's lease is left.
    pub send_timeout: Duration,
}

impl Default for DispatchSettings {
    fn default() -> Self {
        DispatchSettings {
            node: format!("node-{}", uuid_like()),
            lease: Duration::from_secs(90),
            poll: Duration::from_millis(500),
            batch: 20,
            retry: RetryPolicy::default(),
            send_timeout: Duration::from_secs(30),
        }
    }
}

fn uuid_like() -> String {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return std::process::id().to_string();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A number in `[0, 1)` for backoff jitter.
fn jitter() -> f64 {
    let r = getrandom::u32().unwrap_or(u32::MAX / 2);
    f64::from(r) / (f64::from(u32::MAX) + 1.0)
}

/// What one round of the dispatcher did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub claimed: usize,
    pub sent: usize,
    pub failed: usize,
}

#[derive(Debug, Clone)]
pub struct Dispatcher {
    store: Store,
    transport: Transport,
    letterhead: Letterhead,
    settings: DispatchSettings,
}

impl Dispatcher {
    pub fn new(store: Store, transport: Transport, letterhead: Letterhead, settings: DispatchSettings) -> Self {
        Dispatcher { store, transport, letterhead, settings }
    }

    pub fn settings(&self) -> &DispatchSettings {
        &self.settings
    }

    /// Claims one batch and works through it, one email at a time, until it is done or `stop` is
    /// raised. Claims it did not get to are handed back.
    pub async fn round(&self, stop: &watch::Receiver<bool>) -> Result<Round, StoreError> {
        let lease = time::Duration::try_from(self.settings.lease).unwrap_or(time::Duration::seconds(90));
        let claimed_at = Instant::now();
        let batch = self.store.claim_outbox(&self.settings.node, lease, self.settings.batch.max(1)).await?;
        let mut round = Round { claimed: batch.len(), ..Round::default() };
        for m in &batch {
            // Never start a send that could outlive the claim: another node could take the email
            // and send it too.
            let late = claimed_at.elapsed() + self.settings.send_timeout >= self.settings.lease;
            if *stop.borrow() || late {
                self.store.release_outbox(&self.settings.node).await?;
                break;
            }
            if self.deliver(m).await? {
                round.sent += 1;
            } else {
                round.failed += 1;
            }
        }
        Ok(round)
    }

    /// Sends one claimed email and records the outcome. True when it went out.
    async fn deliver(&self, m: &OutboxMessage) -> Result<bool, StoreError> {
        let sent = match self.letterhead.compose(m) {
            Ok(email) => self.transport.send(&m.id, email).await,
            Err(e) => Err(e),
        };
        match sent {
            Ok(place) => {
                self.store.mark_outbox_sent(&m.id).await?;
                tracing::info!(email = %m.id, to = %m.to_address, subject = %m.subject, via = %place, "email sent");
                Ok(true)
            }
            Err(e) => {
                // A malformed email fails the same way every time: straight to `dead`.
                let policy = match e {
                    MailError::Permanent(_) => RetryPolicy { max_attempts: 0, ..self.settings.retry },
                    _ => self.settings.retry,
                };
                let error = e.to_string();
                match self.store.mark_outbox_failed(&m.id, &error, &policy, jitter()).await? {
                    FailureOutcome::RetryAt(at) => {
                        tracing::warn!(email = %m.id, attempt = m.attempts + 1, retry_at = %at, error = %error, "email not sent; will retry");
                    }
                    FailureOutcome::Dead => {
                        tracing::error!(email = %m.id, attempts = m.attempts + 1, error = %error, "email not sent; given up (dead), an operator can retry it");
                    }
                }
                Ok(false)
            }
        }
    }

    /// Delivers until `stop` is raised; the email in flight then finishes and the node's other
    /// claims are handed back. A failed round (the database away) is logged and tried again.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        tracing::info!(node = %self.settings.node, "outbox dispatcher started");
        let wake = self.store.outbox_wake();
        loop {
            if *stop.borrow() {
                break;
            }
            let wait = match self.round(&stop).await {
                // More may have come due while this round sent: look again at once.
                Ok(r) if r.claimed > 0 => Duration::ZERO,
                Ok(_) => self.settings.poll,
                Err(e) => {
                    tracing::error!(error = %e, "outbox round failed; trying again");
                    self.settings.poll.max(Duration::from_secs(1))
                }
            };
            if !wait.is_zero() {
                // Email queued by this process is sent at once; other nodes' at the next poll.
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = wake.notified() => {}
                    _ = stop.changed() => {}
                }
            }
        }
        match self.store.release_outbox(&self.settings.node).await {
            Ok(n) => tracing::info!(node = %self.settings.node, released = n, "outbox dispatcher stopped"),
            Err(e) => tracing::warn!(error = %e, "could not hand back outbox claims; they free themselves when the lease runs out"),
        }
    }
}
