//! What the benchmarks share: a line naming the machine and the commit measured.

use std::process::Command;

/// The date, commit, cores and memory of this run, for the head of a report.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().find_map(|l| l.strip_prefix("MemTotal:")).map(|v| v.trim().to_owned()))
        .unwrap_or_default();
    let commit =
        Command::new("git").args(["rev-parse", "--short", "HEAD"]).output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let date = time::OffsetDateTime::now_utc().date();
    format!("{date}, commit {}, {cores} cores, {mem} memory", commit.unwrap_or_default())
}

/// `partner-billing serve` on `127.0.0.1:port` over `db`, quiet (warnings only, output discarded):
/// how every bench starts the real binary. Callers add their own flags.
#[allow(dead_code, reason = "each bench compiles this module; the invoice run does not start serve")]
pub fn serve(bin: &str, db: &str, dir: &std::path::Path, port: u16) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir", &dir.display().to_string(), "--database", db])
        .env("PB_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    cmd
}
