//! `serve`'s notification settings: the outbox dispatcher (rule T4) and the link reminders (rule T1).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::Args;
use pb_domain::{ReminderPolicy, RetryPolicy};
use pb_jobs::{DispatchSettings, Dispatcher, Letterhead, LinkReminders, Transport};
use pb_store::Store;

#[derive(Args, Debug)]
pub struct MailArgs {
    /// SMTP server for emails: smtp://host:port, smtp://host?tls=required (STARTTLS),
    /// smtps://host (TLS), with user:pass@ for credentials. Needs --public-url. Without it, emails
    /// are written as .eml files into <data-dir>/outbox/.
    #[arg(long, env = "PB_SMTP_URL")]
    pub smtp_url: Option<String>,
    /// The sender of emails, e.g. "Partner billing <billing@example.com>"; default no-reply@ the
    /// public URL's host.
    #[arg(long, env = "PB_MAIL_FROM")]
    pub mail_from: Option<String>,
    /// How often (milliseconds) an idle dispatcher looks for due emails.
    #[arg(long, env = "PB_OUTBOX_POLL_MS", default_value_t = 500, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub outbox_poll_ms: u64,
    /// Attempts at an email before it is given up on (dead) until an operator retries it.
    #[arg(long, env = "PB_OUTBOX_MAX_ATTEMPTS", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub outbox_max_attempts: u32,
    /// The wait (seconds) after an email's first failure; it doubles with each further failure, up
    /// to an hour, with jitter.
    #[arg(long, env = "PB_OUTBOX_BACKOFF_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub outbox_backoff_secs: u64,
    /// How long (seconds) a node's claim on an email holds. An email whose node died goes out again
    /// after this; one SMTP exchange may take at most a third of it (and at most 30 s).
    #[arg(long, env = "PB_OUTBOX_LEASE_SECS", default_value_t = 90, value_parser = clap::value_parser!(u64).range(3..=3600))]
    pub outbox_lease_secs: u64,
    /// Days between reminders to the global admins of an active, unlinked partner account.
    #[arg(long, env = "PB_LINK_REMINDER_DAYS", default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=365))]
    pub link_reminder_days: u32,
    /// How often (seconds) serve looks for partner accounts due a reminder.
    #[arg(long, env = "PB_LINK_REMINDER_CHECK_SECS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub link_reminder_check_secs: u64,
}

impl MailArgs {
    /// The dispatcher these settings describe. Refuses SMTP without a public URL: links in emails
    /// would be broken. The `.eml` folder of the demo links to the listen address instead.
    pub fn dispatcher(&self, store: &Store, public_url: Option<&str>, listen: SocketAddr, data_dir: &Path) -> Result<Dispatcher> {
        let lease = Duration::from_secs(self.outbox_lease_secs);
        let send_timeout = (lease / 3).min(Duration::from_secs(30));
        let (transport, base) = match (&self.smtp_url, public_url) {
            (Some(_), None) => {
                bail!("PB_SMTP_URL needs PB_PUBLIC_URL (--public-url): emails link to pages, and without it every link would be broken")
            }
            (Some(url), Some(public)) => (Transport::smtp(url, send_timeout)?, public.to_owned()),
            (None, public) => {
                let base = public.map_or_else(|| format!("http://{listen}"), str::to_owned);
                (Transport::files(data_dir.join("outbox"))?, base)
            }
        };
        let letterhead = Letterhead::new(&base, self.mail_from.as_deref())?;
        let settings = DispatchSettings {
            poll: Duration::from_millis(self.outbox_poll_ms),
            lease,
            send_timeout,
            retry: RetryPolicy {
                max_attempts: self.outbox_max_attempts,
                base: time::Duration::seconds(i64::try_from(self.outbox_backoff_secs).unwrap_or(30)),
                ..RetryPolicy::default()
            },
            ..DispatchSettings::default()
        };
        Ok(Dispatcher::new(store.clone(), transport, letterhead, settings))
    }

    pub fn reminders(&self, store: &Store) -> LinkReminders {
        let policy = ReminderPolicy { every: time::Duration::days(i64::from(self.link_reminder_days)) };
        LinkReminders::new(store.clone(), policy, Duration::from_secs(self.link_reminder_check_secs))
    }
}
