//! An SMTP client over lettre's connection type, on a socket with `TCP_NODELAY`.
//!
//! lettre 0.11.23's transport leaves Nagle's algorithm on: it writes a message's body and then its
//! five-byte terminator as two writes, and the terminator waits for the server's delayed ACK, 40 ms
//! on Linux, on every message (upstream lettre/lettre#1159, not yet released). That caps one
//! connection at about 22 messages a second. Here the socket is ours, with `TCP_NODELAY`, and
//! lettre speaks SMTP over it: EHLO, STARTTLS, AUTH and the message exchange are still lettre's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lettre::Message;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use super::error::MailError;

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    /// `smtp://`: none.
    Plain,
    /// `smtp://…?tls=required` or `?tls=opportunistic`: STARTTLS, insisted on or used when offered.
    StartTls { required: bool },
    /// `smtps://`: TLS from the first byte.
    Implicit,
}

/// Where to send and how: parsed once from `PB_SMTP_URL`.
#[derive(Clone)]
struct Server {
    host: String,
    port: u16,
    security: Security,
    credentials: Option<Credentials>,
    timeout: Duration,
    hello: ClientId,
}

/// A connection idle this long is checked with NOOP before it is used again.
const IDLE_CHECK: Duration = Duration::from_secs(5);

/// One SMTP connection, opened when needed and kept while it works. The dispatcher sends one
/// message at a time, so one connection is all it uses.
#[derive(Clone)]
pub struct SmtpClient {
    server: Arc<Server>,
    conn: Arc<Mutex<Option<(AsyncSmtpConnection, Instant)>>>,
}

fn config(url: &str, why: impl std::fmt::Display) -> MailError {
    MailError::Config(format!("PB_SMTP_URL {} is not usable: {why}", pb_store::redact_url(url)))
}

impl SmtpClient {
    /// From `smtp://[user:pass@]host[:port][?tls=required|opportunistic]` or `smtps://…`.
    pub fn from_url(raw: &str, timeout: Duration) -> Result<SmtpClient, MailError> {
        let url = url::Url::parse(raw).map_err(|e| config(raw, e))?;
        let tls = url.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v.into_owned());
        let security = match (url.scheme(), tls.as_deref()) {
            ("smtp", None | Some("none")) => Security::Plain,
            ("smtp", Some("required")) => Security::StartTls { required: true },
            ("smtp", Some("opportunistic")) => Security::StartTls { required: false },
            ("smtps", None) => Security::Implicit,
            (scheme, tls) => {
                return Err(config(raw, format!("scheme {scheme:?} with tls={tls:?}: use smtp://, smtp://…?tls=required or smtps://")));
            }
        };
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| config(raw, "no host"))?.trim_matches(['[', ']']).to_owned();
        let port = url.port().unwrap_or(match security {
            Security::Plain => 25,
            Security::StartTls { .. } => 587,
            Security::Implicit => 465,
        });
        let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8().map(|c| c.into_owned());
        let credentials = match (url.username(), url.password()) {
            ("", None) => None,
            (user, pass) => Some(Credentials::new(
                decode(user).map_err(|e| config(raw, e))?,
                decode(pass.unwrap_or_default()).map_err(|e| config(raw, e))?,
            )),
        };
        let server = Server { host, port, security, credentials, timeout, hello: ClientId::default() };
        Ok(SmtpClient { server: Arc::new(server), conn: Arc::new(Mutex::new(None)) })
    }

    /// Sends `email` and returns the server's reply code. Any error drops the connection, so the
    /// next message starts on a fresh one.
    pub async fn send(&self, email: &Message) -> Result<String, MailError> {
        let mut slot = self.conn.lock().await;
        // One bound on the whole exchange (NOOP check, connect, TLS, AUTH, message): the dispatcher
        // starts a send only while its claim outlasts this, so a stalled server cannot outlive it.
        let exchange = async {
            let reusable = match slot.take() {
                Some((mut c, last)) if !c.has_broken() => {
                    if last.elapsed() < IDLE_CHECK || c.test_connected().await {
                        Some(c)
                    } else {
                        c.abort().await;
                        None
                    }
                }
                _ => None,
            };
            let mut conn = match reusable {
                Some(c) => c,
                None => self.server.connect().await?,
            };
            match conn.send(email.envelope(), &email.formatted()).await {
                Ok(reply) => Ok((conn, reply.code().to_string())),
                Err(e) => {
                    conn.abort().await;
                    Err(e.to_string())
                }
            }
        };
        match tokio::time::timeout(self.server.timeout, exchange).await {
            Ok(Ok((conn, code))) => {
                *slot = Some((conn, Instant::now()));
                Ok(format!("smtp {code}"))
            }
            Ok(Err(e)) => Err(MailError::Transient(e)),
            Err(_) => Err(MailError::Transient(format!("no answer from the SMTP server within {:?}", self.server.timeout))),
        }
    }
}

impl Server {
    /// A connection ready to send: greeted, encrypted as configured, authenticated. Errors are
    /// words for the outbox's `last_error`; they never carry the credentials.
    async fn connect(&self) -> Result<AsyncSmtpConnection, String> {
        let tcp = tokio::time::timeout(self.timeout, TcpStream::connect((self.host.as_str(), self.port)))
            .await
            .map_err(|_| format!("connecting to {}:{} timed out", self.host, self.port))?
            .map_err(|e| format!("cannot connect to {}:{}: {e}", self.host, self.port))?;
        tcp.set_nodelay(true).map_err(|e| e.to_string())?;
        let stream: Box<dyn AsyncTokioStream> = match self.security {
            Security::Implicit => Box::new(implicit_tls(&self.host, tcp).await?),
            _ => Box::new(tcp),
        };
        let mut conn = tokio::time::timeout(self.timeout, AsyncSmtpConnection::connect_with_transport(stream, &self.hello))
            .await
            .map_err(|_| "no greeting from the SMTP server".to_owned())?
            .map_err(|e| e.to_string())?;
        if let Security::StartTls { required } = self.security {
            if conn.can_starttls() {
                let params = TlsParameters::new(self.host.clone()).map_err(|e| e.to_string())?;
                conn.starttls(params, &self.hello).await.map_err(|e| e.to_string())?;
            } else if required {
                conn.abort().await;
                return Err("the SMTP server does not offer STARTTLS, and tls=required".to_owned());
            }
        }
        if let Some(c) = &self.credentials {
            conn.auth(DEFAULT_MECHANISMS, c).await.map_err(|e| e.to_string())?;
        }
        Ok(conn)
    }
}

/// A TLS stream from the first byte (`smtps://`), verified against the Mozilla roots.
#[derive(Debug)]
struct ImplicitTls(tokio_rustls::client::TlsStream<TcpStream>);

async fn implicit_tls(host: &str, tcp: TcpStream) -> Result<ImplicitTls, String> {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.to_owned()).map_err(|e| format!("TLS: {e}"))?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.map_err(|e| format!("TLS: {e}"))?;
    Ok(ImplicitTls(stream))
}

impl AsyncTokioStream for ImplicitTls {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

impl tokio::io::AsyncRead for ImplicitTls {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for ImplicitTls {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(url: &str) -> Result<Server, MailError> {
        SmtpClient::from_url(url, Duration::from_secs(5)).map(|c| (*c.server).clone())
    }

    #[test]
    fn smtp_urls_name_host_port_security_and_credentials() {
        let s = server("smtp://mail.example.com").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((s.host.as_str(), s.port, s.security, s.credentials.is_none()), ("mail.example.com", 25, Security::Plain, true));
        let s = server("smtp://u%40x:p%2Fw@mail.example.com?tls=required").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((s.port, s.security), (587, Security::StartTls { required: true }));
        assert!(s.credentials.is_some());
        let s = server("smtps://mail.example.com:2465").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((s.port, s.security), (2465, Security::Implicit));
        assert_eq!(server("smtp://h?tls=opportunistic").map(|s| s.security).ok(), Some(Security::StartTls { required: false }));
        for bad in ["http://mail.example.com", "smtp://", "smtps://h?tls=required", "smtp://h?tls=maybe", "not a url"] {
            assert!(server(bad).is_err(), "{bad}");
        }
        let err = server("smtp://user:secret@h?tls=maybe").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(!err.contains("secret"), "credentials never appear in errors: {err}");
    }
}
