//! A real SMTP server for tests: `tests/smtp/sink.py` (aiosmtpd) on a loopback port, and what it
//! received. When aiosmtpd is missing the tests that need it say so loudly and skip, unless
//! `PB_TEST_REQUIRE_SMTP` is set (as `.ci/run` does), when they fail.
#![expect(clippy::expect_used, clippy::panic, reason = "test support fails the test loudly when it cannot set up")]

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/smtp/sink.py");

/// One message as the SMTP server accepted it.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// When the server accepted it (Unix seconds).
    pub at: f64,
    pub to: Vec<String>,
    pub message_id: String,
    pub subject: String,
    /// The plain-text body, decoded.
    pub text: Option<String>,
    /// The HTML body, decoded.
    pub html: Option<String>,
    /// The raw message.
    pub raw: String,
}

/// A Python with aiosmtpd, or `None` (said loudly) when there is none and it is not required.
fn python(test: &str) -> Option<PathBuf> {
    let candidates = std::env::var("PB_TEST_PYTHON").into_iter().chain(["/usr/bin/python3".to_owned(), "python3".to_owned()]);
    for c in candidates {
        let ok = Command::new(&c).args(["-c", "import aiosmtpd"]).stdout(Stdio::null()).stderr(Stdio::null()).status();
        if ok.is_ok_and(|s| s.success()) {
            return Some(PathBuf::from(c));
        }
    }
    if std::env::var_os("PB_TEST_REQUIRE_SMTP").is_some() {
        panic!("{test}: PB_TEST_REQUIRE_SMTP is set but no python3 with aiosmtpd was found (apt-get install python3-aiosmtpd)");
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED (SMTP): {test}: install python3-aiosmtpd to run it");
    None
}

/// A free loopback port (nobody listens on it once this returns).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    l.local_addr().expect("local addr").port()
}

/// The SMTP server; stopped when dropped.
#[derive(Debug)]
pub struct SmtpSink {
    python: PathBuf,
    child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
    /// How long the reply to each message waits after the message is kept (from the next `up`).
    pub delay: Duration,
}

impl SmtpSink {
    /// A server on a fresh port, not started yet (an SMTP outage from the start).
    pub fn down(test: &str) -> Option<SmtpSink> {
        let python = python(test)?;
        let dir = std::env::temp_dir().join(format!("pb-smtp-{}-{}", test, std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("sink dir");
        Some(SmtpSink { python, child: None, port: free_port(), dir, delay: Duration::ZERO })
    }

    /// A running server.
    pub fn start(test: &str) -> Option<SmtpSink> {
        let mut s = SmtpSink::down(test)?;
        s.up();
        Some(s)
    }

    /// Starts the server (again) on its port, keeping what it received before.
    pub fn up(&mut self) {
        if self.child.is_some() {
            return;
        }
        let mut child = Command::new(&self.python)
            .arg(SCRIPT)
            .args(["--port", &self.port.to_string(), "--delay-ms", &self.delay.as_millis().to_string(), "--dir"])
            .arg(&self.dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the SMTP sink");
        let out = child.stdout.take().expect("sink stdout");
        let mut line = String::new();
        BufReader::new(out).read_line(&mut line).expect("sink says ready");
        assert!(line.starts_with("ready"), "the SMTP sink did not start: {line:?}");
        self.child = Some(child);
    }

    /// Stops the server: connections are refused until [`SmtpSink::up`].
    pub fn down_now(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Everything received so far, in order of acceptance.
    pub fn received(&self) -> Vec<Received> {
        let Ok(log) = std::fs::read_to_string(self.dir.join("received.jsonl")) else { return Vec::new() };
        // The sink may be half way through appending a line: only whole lines count.
        let whole = log.rfind('\n').map_or("", |end| &log[..end]);
        whole
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("sink log line");
                let file = v["file"].as_str().unwrap_or_default();
                Received {
                    at: v["at"].as_f64().unwrap_or_default(),
                    to: v["to"].as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect()).unwrap_or_default(),
                    message_id: v["message_id"].as_str().unwrap_or_default().to_owned(),
                    subject: v["subject"].as_str().unwrap_or_default().to_owned(),
                    text: v["text"].as_str().map(str::to_owned),
                    html: v["html"].as_str().map(str::to_owned),
                    raw: std::fs::read_to_string(self.dir.join(file)).unwrap_or_default(),
                }
            })
            .collect()
    }

    /// Waits until at least `n` messages arrived (or `timeout` passed) and returns them all.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let got = self.received();
            if got.len() >= n || start.elapsed() > timeout {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.down_now();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
