//! Turning an outbox row into an email (both bodies from templates, a stable `Message-ID`) and
//! handing it to SMTP or, without an SMTP server, to a folder of `.eml` files.

use std::path::{Path, PathBuf};
use std::time::Duration;

use askama::Template;
use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use pb_store::OutboxMessage;

use super::error::MailError;
use super::smtp::SmtpClient;

/// Where emails go.
#[derive(Clone)]
pub enum Transport {
    Smtp(SmtpClient),
    /// `<data-dir>/outbox/`: the demo's emails, readable with any mail program.
    Files(PathBuf),
}

impl std::fmt::Debug for Transport {
    // The SMTP transport holds the credentials: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::Smtp(_) => f.write_str("Transport::Smtp"),
            Transport::Files(dir) => f.debug_tuple("Transport::Files").field(dir).finish(),
        }
    }
}

impl Transport {
    /// SMTP from a URL: `smtp://host:port` (plain), `smtp://host?tls=required` (STARTTLS),
    /// `smtps://host` (TLS from the start); `user:pass@` for credentials.
    /// `timeout` bounds one SMTP exchange.
    pub fn smtp(url: &str, timeout: Duration) -> Result<Transport, MailError> {
        SmtpClient::from_url(url, timeout).map(Transport::Smtp)
    }

    pub fn files(dir: impl Into<PathBuf>) -> Result<Transport, MailError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| MailError::Config(format!("cannot create {}: {e}", dir.display())))?;
        Ok(Transport::Files(dir))
    }

    /// Hands `email` over. Returns where it went, for the log.
    pub async fn send(&self, id: &str, email: Message) -> Result<String, MailError> {
        match self {
            Transport::Smtp(smtp) => smtp.send(&email).await,
            Transport::Files(dir) => write_eml(dir, id, &email.formatted()).await.map(|p| p.display().to_string()),
        }
    }
}

/// Writes `<dir>/<id>.eml` whole or not at all (a temporary file renamed into place), so a reader
/// never sees half an email and a resend after a crash replaces the file instead of adding one.
async fn write_eml(dir: &Path, id: &str, bytes: &[u8]) -> Result<PathBuf, MailError> {
    let path = dir.join(format!("{id}.eml"));
    let tmp = dir.join(format!(".{id}.eml.tmp"));
    let fail = |e: std::io::Error| MailError::Transient(format!("cannot write {}: {e}", path.display()));
    tokio::fs::write(&tmp, bytes).await.map_err(fail)?;
    tokio::fs::rename(&tmp, &path).await.map_err(fail)?;
    Ok(path)
}

#[derive(Template)]
#[template(path = "email.txt", escape = "none")]
struct TextBody<'a> {
    body: &'a str,
    action: &'a str,
    link: &'a str,
    product: &'a str,
    site: &'a str,
}

#[derive(Template)]
#[template(path = "email.html")]
struct HtmlBody<'a> {
    subject: &'a str,
    body: &'a str,
    action: &'a str,
    link: &'a str,
    product: &'a str,
    site: &'a str,
}

/// What every email of this service shares: who it is from and where its links point.
#[derive(Debug, Clone)]
pub struct Letterhead {
    pub from: Mailbox,
    /// The public base URL without a trailing slash, e.g. `https://billing.example.com`.
    pub public_url: String,
    /// The public URL's host: the right-hand side of every `Message-ID`.
    pub host: String,
}

const PRODUCT: &str = "Partner billing";

impl Letterhead {
    /// From a public URL (`http(s)://host[:port][/path]`) and an optional `From` address (default
    /// `Partner billing <no-reply@host>`).
    pub fn new(public_url: &str, from: Option<&str>) -> Result<Letterhead, MailError> {
        let public_url = public_url.trim().trim_end_matches('/').to_owned();
        let rest = public_url
            .strip_prefix("https://")
            .or_else(|| public_url.strip_prefix("http://"))
            .ok_or_else(|| MailError::Config(format!("the public URL {public_url:?} must start with http:// or https://")))?;
        let authority = rest.split('/').next().unwrap_or_default();
        let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h).trim_matches(['[', ']']).to_owned();
        if host.is_empty() {
            return Err(MailError::Config(format!("the public URL {public_url:?} has no host")));
        }
        let from = match from {
            Some(f) => f.parse().map_err(|e| MailError::Config(format!("the sender address {f:?} is not an address: {e}")))?,
            None => {
                let domain = if host.contains('.') { host.clone() } else { format!("{host}.localdomain") };
                format!("{PRODUCT} <no-reply@{domain}>")
                    .parse()
                    .map_err(|e| MailError::Config(format!("no default sender for host {host:?}: {e}; set --mail-from")))?
            }
        };
        Ok(Letterhead { from, public_url, host })
    }

    /// The `Message-ID` of an outbox row: the same on every attempt, so that a receiver can tell a
    /// resend (after a crash between "accepted" and "marked sent") from a new email.
    pub fn message_id(&self, outbox_id: &str) -> String {
        format!("<{outbox_id}@{}>", self.host)
    }

    /// The absolute link of a page path.
    pub fn link(&self, path: Option<&str>) -> String {
        match path {
            Some(p) if p.starts_with('/') => format!("{}{p}", self.public_url),
            _ => format!("{}/notifications", self.public_url),
        }
    }

    /// The email of an outbox row.
    pub fn compose(&self, m: &OutboxMessage) -> Result<Message, MailError> {
        let to: Mailbox = m.to_address.parse().map_err(|e| MailError::Permanent(format!("bad recipient {:?}: {e}", m.to_address)))?;
        let link = self.link(m.action_url.as_deref());
        let action = action_label(m.action_url.as_deref());
        let text = TextBody { body: &m.body, action, link: &link, product: PRODUCT, site: &self.host }
            .render()
            .map_err(|e| MailError::Permanent(format!("text template: {e}")))?;
        let html = HtmlBody { subject: &m.subject, body: &m.body, action, link: &link, product: PRODUCT, site: &self.host }
            .render()
            .map_err(|e| MailError::Permanent(format!("html template: {e}")))?;
        Message::builder()
            .message_id(Some(self.message_id(&m.id)))
            .from(self.from.clone())
            .to(to)
            .subject(m.subject.as_str())
            // The event's time, not the attempt's: a resend is the same email.
            .date(m.created_at.0.into())
            .multipart(
                MultiPart::alternative()
                    .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(text))
                    .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(html)),
            )
            .map_err(|e| MailError::Permanent(format!("cannot build the email: {e}")))
    }
}

/// The words on an email's button, from the page it opens.
fn action_label(path: Option<&str>) -> &'static str {
    match path {
        Some(p) if p.starts_with("/account/billing-profile") => "Go to billing profile",
        Some(p) if p.starts_with("/billing/invoices") => "View invoice",
        Some(p) if p.starts_with("/membership") => "Go to membership",
        _ => "Open notifications",
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    /// The raw email with quoted-printable undone, so that assertions read the words.
    fn readable(m: &Message) -> String {
        let raw = String::from_utf8(m.formatted()).unwrap().replace("=\r\n", "");
        let mut out = Vec::new();
        let b = raw.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let hex = b.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok());
            match (b[i], hex) {
                (b'=', Some(v)) => {
                    out.push(v);
                    i += 3;
                }
                (c, _) => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).unwrap()
    }

    fn message() -> OutboxMessage {
        OutboxMessage {
            id: "em_0192".into(),
            tenant_id: "t".into(),
            to_address: "ga@contoso.example".into(),
            subject: "Link a billing account and profile".into(),
            body: "Select <Link billing profile> & Start.".into(),
            action_url: Some("/account/billing-profile".into()),
            created_at: pb_store::Ts(time::macros::datetime!(2026-03-02 09:00 UTC)),
            attempts: 0,
        }
    }

    #[test]
    fn rule_t4_an_email_has_both_bodies_the_link_and_a_stable_message_id() {
        let lh = Letterhead::new("https://billing.example.com/", None).unwrap();
        let raw = readable(&lh.compose(&message()).unwrap());
        assert!(raw.contains("Message-ID: <em_0192@billing.example.com>"), "{raw}");
        assert!(
            raw.contains("From: \"Partner billing\" <no-reply@billing.example.com>")
                || raw.contains("From: Partner billing <no-reply@billing.example.com>"),
            "{raw}"
        );
        assert!(raw.contains("To: ga@contoso.example"));
        assert!(raw.contains("Content-Type: text/plain") && raw.contains("Content-Type: text/html"));
        assert!(raw.contains("https://billing.example.com/account/billing-profile"));
        assert!(raw.contains("Date: Mon, 02 Mar 2026 09:00:00 +0000"), "the event's time: {raw}");
        assert!(raw.contains("Select <Link billing profile> & Start."), "the text body as written: {raw}");
        assert!(raw.contains("&#60;Link billing profile&#62; &#38; Start."), "the HTML body escapes it: {raw}");
        let again = readable(&lh.compose(&message()).unwrap());
        assert!(again.contains("Message-ID: <em_0192@billing.example.com>"), "the same on every attempt");
    }

    #[test]
    fn letterheads_refuse_what_would_make_broken_links() {
        assert!(Letterhead::new("billing.example.com", None).is_err());
        assert!(Letterhead::new("https://", None).is_err());
        assert!(Letterhead::new("https://b.example.com", Some("not an address")).is_err());
        let lh = Letterhead::new("http://127.0.0.1:8080", None).unwrap();
        assert_eq!(lh.host, "127.0.0.1");
        assert_eq!(lh.link(Some("/membership")), "http://127.0.0.1:8080/membership");
        assert_eq!(lh.link(None), "http://127.0.0.1:8080/notifications");
    }

    #[test]
    fn a_malformed_recipient_is_permanent() {
        let lh = Letterhead::new("https://billing.example.com", None).unwrap();
        let m = OutboxMessage { to_address: "nobody".into(), ..message() };
        assert!(matches!(lh.compose(&m), Err(MailError::Permanent(_))));
    }
}
