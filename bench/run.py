#!/usr/bin/env python3
"""One command for the benchmarks (issue 11): builds the release binary with the bench-only baseline
route, installs the load tool (Debian's wrk) when missing, runs each workload against its baseline in
the same run, and writes bench/RESULTS.md. Every figure is a ratio against a baseline measured in
this run on this machine, because these machines are noisy.

    python3 bench/run.py                 # full run
    PB_BENCH_SECONDS=2 python3 bench/run.py --quick   # a few seconds each: proves the benches still run

Workloads so far: W2 (reads at 64 connections: GET /api/v1/partner-account against a bare handler
running the same queries and returning the same bytes) and W3 (the month close, from
`cargo bench --bench invoice_run`). W1 (the link storm) and W4 (cold start) come next.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
BIN = TARGET / "release" / "partner-billing"
SECONDS = int(os.environ.get("PB_BENCH_SECONDS", "10"))
CONNECTIONS = 64
QUICK = "--quick" in sys.argv


def sh(*args, **kw):
    return subprocess.run(args, check=True, text=True, capture_output=True, **kw).stdout


def ensure_wrk():
    if shutil.which("wrk"):
        return
    print("installing wrk (Debian)", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env)


def build():
    print("building the release binary with the bench baseline", flush=True)
    subprocess.run(["cargo", "build", "--release", "--locked", "-p", "partner-billing", "--features", "bench-baseline"],
                   cwd=ROOT, check=True)


def machine():
    cores = os.cpu_count()
    mem = next((l.split(":")[1].strip() for l in open("/proc/meminfo") if l.startswith("MemTotal")), "?")
    commit = sh("git", "rev-parse", "--short", "HEAD", cwd=ROOT).strip()
    with tempfile.NamedTemporaryFile(dir=ROOT / "bench") as f:
        t = time.perf_counter()
        for _ in range(100):
            f.write(b"x" * 4096)
            f.flush()
            os.fsync(f.fileno())
        fsync_ms = (time.perf_counter() - t) * 1000 / 100
    return f"{time.strftime('%Y-%m-%d', time.gmtime())}, commit {commit}, {cores} cores, {mem} memory, fsync {fsync_ms:.2f} ms"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`serve --demo` on a fresh SQLite data dir, limits raised so that the load tool is not refused."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="pb-bench-")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        args = [str(BIN), "serve", "--demo", "--listen", f"127.0.0.1:{self.port}", "--data-dir", self.dir,
                "--rate-limit-per-minute", "100000000", "--rate-limit-per-principal", "100000000", "--log-format", "json"]
        self.log = open(Path(self.dir) / "server.log", "w")
        env = dict(os.environ, PB_LOG="warn")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log, env=env)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if urllib.request.urlopen(self.base + "/readyz").status == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("the server did not become ready")

    def cli(self, *args):
        return sh(str(BIN), *args, "--data-dir", self.dir).strip()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url, token=None):
    args = ["wrk", f"-t{min(4, os.cpu_count() or 2)}", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "--latency", url]
    if token:
        args[1:1] = ["-H", f"Authorization: Bearer {token}"]
    out = sh(*args)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    pct = {}
    for p, v, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M):
        pct[p] = float(v) * UNITS[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": pct.get("50"), "p99": pct.get("99"), "non2xx": int(errors.group(1)) if errors else 0}


def w2(server):
    token = server.cli("token", "--tenant", "contoso.onmicrosoft.com", "--user", "admin@contoso.onmicrosoft.com")
    me = json.load(urllib.request.urlopen(urllib.request.Request(server.base + "/api/v1/me", headers={"Authorization": f"Bearer {token}"})))
    tenant = me["tenant"]["id"]
    real = urllib.request.urlopen(urllib.request.Request(server.base + "/api/v1/partner-account", headers={"Authorization": f"Bearer {token}"})).read()
    bare = urllib.request.urlopen(server.base + f"/bench/bare/partner-account/{tenant}").read()
    assert real == bare, "the baseline must return the same bytes"
    rows = []
    base = wrk(server.base + f"/bench/bare/partner-account/{tenant}")
    ours = wrk(server.base + "/api/v1/partner-account", token)
    rows.append(("GET /api/v1/partner-account", base, ours))
    return rows


def fmt_ms(v):
    return "—" if v is None else (f"{v:.2f} ms" if v < 10 else f"{v:.1f} ms")


def report(head, w2_rows):
    lines = ["# Benchmark results", "", head, "",
             f"Generated by `python3 bench/run.py`{' --quick' if QUICK else ''}; {SECONDS} s per measurement, {CONNECTIONS} connections (wrk).", "",
             "## W2 reads (SQLite)", "",
             "The baseline is a bare handler in the same binary (`--features bench-baseline`) that runs the same queries and returns the same bytes, without the token check, middleware, logging; the ratio is this service's own overhead.", "",
             "| request | baseline req/s | ours req/s | ours / baseline | baseline p50 / p99 | ours p50 / p99 | p99 ratio | non-2xx |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, b, o in w2_rows:
        ratio = o["rps"] / b["rps"] if b["rps"] else 0
        p99r = (o["p99"] / b["p99"]) if b["p99"] and o["p99"] else 0
        lines.append(f"| {name} | {b['rps']:.0f} | {o['rps']:.0f} | {ratio:.0%} | {fmt_ms(b['p50'])} / {fmt_ms(b['p99'])} | "
                     f"{fmt_ms(o['p50'])} / {fmt_ms(o['p99'])} | {p99r:.2f}× | {o['non2xx']} |")
    lines += ["", "## W3 month close", "", "See [invoice-run.md](invoice-run.md) (`cargo bench --bench invoice_run`).", ""]
    return "\n".join(lines)


def main():
    ensure_wrk()
    build()
    head = machine()
    print(head, flush=True)
    server = Server()
    try:
        rows = w2(server)
    finally:
        server.stop()
    text = report(head, rows)
    out = ROOT / "bench" / ("RESULTS.quick.md" if QUICK else "RESULTS.md")
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
