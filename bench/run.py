#!/usr/bin/env python3
"""One command for the benchmarks (issue 11). Installs the load tool (Debian's wrk) when missing,
builds the release binary once with the bench-only baselines (`--features bench-baseline`), runs
every workload against its baseline in the same run on this machine, and writes bench/RESULTS.md
and the latency plot bench/latency.svg. Every figure is a ratio against a baseline measured in this
run, because these machines are noisy.

    python3 bench/run.py              # the full run (about 15 minutes; PostgreSQL when reachable)
    python3 bench/run.py --quick      # a few seconds each, small data: proves the benches still run
                                      # (writes RESULTS.quick.md and latency.quick.svg, ignored by git)
    python3 bench/run.py --workloads=W1,W2   # only those workloads

PostgreSQL: the workloads that run on both databases use PB_TEST_DATABASE_URL when set (the
README's test setup; run.py sets postgres://postgres@127.0.0.1:5432/pb_bench when a server answers
there and the variable is unset).

Workloads:
  W1  the link storm (cargo bench --bench link_storm) on SQLite and PostgreSQL, and the SQLite
      write tail: POST /api/v1/billing-accounts at 64 connections (wrk)
  W2  reads at 64 connections (wrk): GET /api/v1/partner-account and the billing profile page,
      each against a bare handler in the same binary running the same queries, same bytes
  W3  the month close (cargo bench --bench invoice_run)
  W4  cold start on 1 000 000 purchases, and the binary size (cargo bench --bench cold_start)
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
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
BIN = TARGET / "release" / "partner-billing"
QUICK = "--quick" in sys.argv
# --workloads W1,W2 runs only those (the others' sections say they were not run).
ONLY = next((a.split("=", 1)[1].upper().split(",") for a in sys.argv if a.startswith("--workloads=")), ["W1", "W2", "W3", "W4"])
SECONDS = int(os.environ.get("PB_BENCH_SECONDS", "2" if QUICK else "10"))
CONNECTIONS = 64
SUFFIX = ".quick" if QUICK else ""
FEATURES = ["--features", "bench-baseline"]


def sh(*args, **kw):
    return subprocess.run(args, check=True, text=True, capture_output=True, **kw).stdout


def apt_install(*packages):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *packages], check=True, env=env, stdout=subprocess.DEVNULL)


def ensure_tools():
    if not shutil.which("wrk"):
        print("installing wrk (Debian)", flush=True)
        apt_install("wrk")


def postgres_url():
    if os.environ.get("PB_TEST_DATABASE_URL"):
        return os.environ["PB_TEST_DATABASE_URL"]
    if not shutil.which("psql"):
        return None
    admin = "postgres://postgres@127.0.0.1:5432/postgres"
    try:
        sh("psql", admin, "-qc", "DROP DATABASE IF EXISTS pb_bench WITH (FORCE)", "-c", "CREATE DATABASE pb_bench")
    except (subprocess.CalledProcessError, FileNotFoundError):
        return None
    return "postgres://postgres@127.0.0.1:5432/pb_bench"


def build():
    """`cargo bench --no-run` builds the binary (target/release/partner-billing) and the benches with
    one feature set; a separate `cargo build --release` would resolve other features and build twice."""
    print("building the release binary and the benches with the bench baselines", flush=True)
    subprocess.run(["cargo", "bench", "--no-run", "--locked", "-p", "partner-billing", *FEATURES], cwd=ROOT, check=True)


def cargo_bench(name, env):
    """Runs one of crates/cli/benches (release profile, same features: no second build of the binary)."""
    print(f"cargo bench --bench {name}", flush=True)
    subprocess.run(["cargo", "bench", "--locked", "-p", "partner-billing", *FEATURES, "--bench", name], cwd=ROOT, check=True, env=env)


def machine():
    cores = os.cpu_count()
    mem = next((l.split(":")[1].strip() for l in open("/proc/meminfo") if l.startswith("MemTotal")), "?")
    commit = sh("git", "rev-parse", "--short", "HEAD", cwd=ROOT).strip()
    # The run's own outputs (bench/RESULTS.md, the plot) do not make the measured code dirty.
    changed = [l for l in sh("git", "status", "--porcelain", "--untracked-files=no", cwd=ROOT).splitlines() if not l[3:].startswith("bench/")]
    dirty = " (with uncommitted changes)" if changed else ""
    with tempfile.NamedTemporaryFile(dir=ROOT / "bench") as f:
        t = time.perf_counter()
        for _ in range(100):
            f.write(b"x" * 4096)
            f.flush()
            os.fsync(f.fileno())
        fsync_ms = (time.perf_counter() - t) * 1000 / 100
    return (f"{time.strftime('%Y-%m-%d', time.gmtime())}, commit {commit}{dirty}, {cores} cores, {mem} memory, "
            f"fsync {fsync_ms:.2f} ms")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`serve --demo` on a fresh SQLite data dir, limits raised so that the load tool is not refused.
    `database`: a URL to use instead of the data dir's SQLite file (bench/soak.py's --postgres);
    `prefix`: the data dir's name in the temp dir (.ci/run deletes every pb-* there when it starts)."""

    def __init__(self, database=None, prefix="pb-bench-"):
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.db_args = ["--database", database] if database else []
        args = [str(BIN), "serve", "--demo", "--listen", f"127.0.0.1:{self.port}", "--data-dir", self.dir, *self.db_args,
                "--rate-limit-per-minute", "100000000", "--rate-limit-per-principal", "100000000", "--log-format", "json"]
        self.log = open(Path(self.dir) / "server.log", "w")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log, env=dict(os.environ, PB_LOG="warn"))
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if urllib.request.urlopen(self.base + "/readyz").status == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("the server did not become ready")

    def cli(self, *args):
        return sh(str(BIN), *args, "--data-dir", self.dir, *self.db_args).strip()

    def get(self, path, headers=None):
        return urllib.request.urlopen(urllib.request.Request(self.base + path, headers=headers or {})).read()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url, headers=(), script=None, connections=CONNECTIONS, seconds=None, threads=None):
    threads = threads or min(4, os.cpu_count() or 2)
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds or SECONDS}s", "--latency"]
    for h in headers:
        args += ["-H", h]
    if script:
        args += ["-s", script]
    out = sh(*args, url)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    pct = {}
    for p, v, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M):
        pct[p] = float(v) * UNITS[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"rps": rps, "p50_ms": pct.get("50"), "p90_ms": pct.get("90"), "p99_ms": pct.get("99"),
            "errors": int(errors.group(1)) if errors else 0,
            "requests": int(re.search(r"(\d+) requests in", out).group(1)),
            "socket_errors": dict(zip(("connect", "read", "write", "timeout"), map(int, sock.groups()))) if sock else {}}


def demo_admin(server):
    token = server.cli("token", "--tenant", "contoso.onmicrosoft.com", "--user", "admin@contoso.onmicrosoft.com")
    me = json.loads(server.get("/api/v1/me", {"Authorization": f"Bearer {token}"}))
    return token, me


def session_cookie(server, me):
    """Signs in through the demo page like a browser: the sign-in form's CSRF cookie, then the POST."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    page = opener.open(server.base + "/signin").read().decode()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"tenant_id": me["tenant"]["id"], "user_id": me["user"]["id"], "csrf": csrf}).encode()
    opener.open(urllib.request.Request(server.base + "/signin", data=form, headers={"Origin": server.base}))
    jar = opener.handlers[[type(h) for h in opener.handlers].index(urllib.request.HTTPCookieProcessor)].cookiejar
    return next(f"{c.name}={c.value}" for c in jar if c.name.endswith("pb_session"))


def w2(server):
    token, me = demo_admin(server)
    tenant = me["tenant"]["id"]
    auth = f"Authorization: Bearer {token}"
    rows = []
    real = server.get("/api/v1/partner-account", {"Authorization": f"Bearer {token}"})
    bare = server.get(f"/bench/bare/partner-account/{tenant}")
    assert real == bare, "the API baseline must return the same bytes"
    base = wrk(server.base + f"/bench/bare/partner-account/{tenant}")
    ours = wrk(server.base + "/api/v1/partner-account", [auth])
    rows.append(("GET /api/v1/partner-account", base, ours))

    cookie = session_cookie(server, me)
    real = server.get("/account/billing-profile", {"Cookie": cookie})
    bare = server.get("/bench/bare/billing-profile", {"Cookie": cookie})
    assert real == bare, "the page baseline must return the same bytes"
    base = wrk(server.base + "/bench/bare/billing-profile", [f"Cookie: {cookie}"])
    ours = wrk(server.base + "/account/billing-profile", [f"Cookie: {cookie}"])
    rows.append(("GET /account/billing-profile (page)", base, ours))
    return rows


def post_script(server):
    """The wrk script of W1's write tail: each request creates a billing account."""
    script = Path(server.dir) / "post.lua"
    script.write_text('wrk.method = "POST"\nwrk.body = \'{"display_name": "Bench"}\'\n'
                      'wrk.headers["Content-Type"] = "application/json"\n')
    return str(script)


def write_tail(server):
    """W1's SQLite write tail: POST /api/v1/billing-accounts at 64 connections."""
    token, _ = demo_admin(server)
    return wrk(server.base + "/api/v1/billing-accounts", [f"Authorization: Bearer {token}"], post_script(server))


def fmt_ms(v):
    return "—" if v is None else (f"{v:.2f} ms" if v < 10 else f"{v:.1f} ms")


def ratio_row(name, b, o):
    ratio = o["rps"] / b["rps"] if b["rps"] else 0
    p99r = (o["p99_ms"] / b["p99_ms"]) if b.get("p99_ms") and o.get("p99_ms") else 0
    return (f"| {name} | {b['rps']:.0f} | {o['rps']:.0f} | {ratio:.0%} | {fmt_ms(b['p50_ms'])} / {fmt_ms(b['p99_ms'])} | "
            f"{fmt_ms(o['p50_ms'])} / {fmt_ms(o['p99_ms'])} | {p99r:.2f}× | {o['errors']} |")


HEADER = ["| workload | baseline req/s | ours req/s | ours / baseline | baseline p50 / p99 | ours p50 / p99 | p99 ratio | errors |",
          "|---|---:|---:|---:|---:|---:|---:|---:|"]


def svg_plot(series, path):
    """Latency percentiles per workload, baseline and ours side by side, log scale: a plain SVG."""
    width, row_h, left = 900, 56, 300
    height = 70 + row_h * len(series)
    vals = [v for _, b, o in series for m in (b, o) for v in (m.get("p50_ms"), m.get("p90_ms"), m.get("p99_ms")) if v]
    import math
    lo, hi = math.log10(max(min(vals), 0.01)) - 0.1, math.log10(max(vals)) + 0.1

    def x(v):
        return left + (math.log10(max(v, 0.01)) - lo) / (hi - lo) * (width - left - 30)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           '<text x="10" y="20" font-size="14" font-weight="bold">Latency percentiles per workload (p50 ● p90 ◆ p99 ▲; log scale, ms)</text>',
           '<text x="10" y="38" fill="#888">grey: baseline, blue: partner-billing</text>']
    ticks = [t for t in (0.1, 0.3, 1, 3, 10, 30, 100, 300, 1000) if lo <= math.log10(t) <= hi]
    for t in ticks:
        out.append(f'<line x1="{x(t):.1f}" y1="48" x2="{x(t):.1f}" y2="{height - 20}" stroke="#eee"/>')
        out.append(f'<text x="{x(t):.1f}" y="{height - 6}" text-anchor="middle" fill="#666">{t:g}</text>')
    for i, (name, b, o) in enumerate(series):
        y0 = 60 + i * row_h
        out.append(f'<text x="10" y="{y0 + 22}">{name}</text>')
        for dy, m, color in ((12, b, "#999"), (32, o, "#1f6feb")):
            pts = [(m.get("p50_ms"), "●"), (m.get("p90_ms"), "◆"), (m.get("p99_ms"), "▲")]
            xs = [x(v) for v, _ in pts if v]
            if xs:
                out.append(f'<line x1="{min(xs):.1f}" y1="{y0 + dy}" x2="{max(xs):.1f}" y2="{y0 + dy}" stroke="{color}"/>')
            for v, mark in pts:
                if v:
                    out.append(f'<text x="{x(v):.1f}" y="{y0 + dy + 4}" text-anchor="middle" fill="{color}">{mark}</text>')
    out.append("</svg>")
    path.write_text("\n".join(out) + "\n")


def main():
    ensure_tools()
    build()
    head = machine()
    print(head, flush=True)
    pg = postgres_url()
    env = dict(os.environ, PB_BENCH_JSON_DIR=tempfile.mkdtemp(prefix="pb-bench-json-"))
    if QUICK:
        env["PB_BENCH_SCALE"] = "quick"
    if pg:
        env["PB_TEST_DATABASE_URL"] = pg
    out = Path(env["PB_BENCH_JSON_DIR"])

    w2_rows, tail, storm, cold = [], None, {"tenants": 0}, None
    if "W1" in ONLY or "W2" in ONLY:
        server = Server()
        try:
            w2_rows = w2(server) if "W2" in ONLY else []
            tail = write_tail(server) if "W1" in ONLY else None
        finally:
            server.stop()
    if "W1" in ONLY:
        cargo_bench("link_storm", env)
        storm = json.loads((out / "link-storm.json").read_text())
    if "W4" in ONLY:
        cargo_bench("cold_start", env)
        cold = json.loads((out / "cold-start.json").read_text())
    if "W3" in ONLY:
        cargo_bench("invoice_run", env)

    series = []
    lines = ["# Benchmark results", "", head, "",
             f"Generated by `python3 bench/run.py`{' --quick' if QUICK else ''}. wrk: {SECONDS} s per measurement, "
             f"{CONNECTIONS} connections. Plot: [latency{SUFFIX}.svg](latency{SUFFIX}.svg).", "",
             f"## W1 link storm: `POST /api/v1/billing-link/setup`, {storm['tenants']} tenants once each, 64 at a time", "",
             "Baseline: the same transactions (`Store::setup_link`, what the handler calls) straight on a database seeded the "
             "same way, same durability (`synchronous=FULL` on SQLite), same pool size, 64 tasks. Ours: the real binary over "
             "HTTP, 64 keep-alive connections (the bench's own client: each token is used exactly once).", "", *HEADER]
    for db in ("sqlite", "postgres"):
        if "W1" not in ONLY:
            lines.append(f"| W1 {db} | not run | | | | | | |")
        elif db in storm:
            b, o = storm[db]["baseline"], storm[db]["ours"]
            lines.append(ratio_row(f"W1 {db}", b, o))
            series.append((f"W1 link storm ({db})", b, o))
        else:
            lines.append(f"| W1 {db} | skipped: no PostgreSQL | | | | | | |")
    lines += ["", "SQLite write tail: not run." if tail is None else f"SQLite write tail, `POST /api/v1/billing-accounts` at 64 connections: {tail['rps']:.0f} req/s, "
              f"p50 {fmt_ms(tail['p50_ms'])}, p90 {fmt_ms(tail['p90_ms'])}, **p99 {fmt_ms(tail['p99_ms'])}** (target ≤ 50 ms), "
              f"{tail['errors']} errors.", "",
              "## W2 reads (SQLite, 64 connections)", "",
              "Baselines: bare handlers in the same binary (`--features bench-baseline`), merged after the shared layers, that "
              "make the same queries and return the same bytes (checked before measuring). The API's baseline skips the "
              "token check, the caller lookup, the middleware and logging; the page's skips the layers and the extractor's "
              "checks but renders the same template.", "", *HEADER]
    for name, b, o in w2_rows:
        lines.append(ratio_row(name, b, o))
        series.append((f"W2 {name}", b, o))
    lines += ["", "## W3 month close", ""]
    if "W3" not in ONLY:
        lines.append("Not run in this run; the last full run is in [invoice-run.md](invoice-run.md).")
    elif QUICK:
        lines.append("Ran at the quick size (figures not kept); see [invoice-run.md](invoice-run.md) for the full run.")
    else:
        for l in (ROOT / "bench" / "invoice-run.md").read_text().splitlines():
            if l.startswith("The "):
                lines += [l, ""]
            elif l.startswith("|"):
                lines.append(l)
    lines += ["", "## W4 cold start", ""]
    if cold is None:
        lines.append("Not run.")
    else:
        lines += [f"Process start to `/readyz` answering 200 (median of 5), on a database with {cold['purchases']} purchases, "
                  "against the same binary on an empty database. Release binary: "
                  f"{cold['binary_bytes'] / 1048576:.1f} MiB.", "",
                  "| database | empty | loaded | loaded / empty |", "|---|---:|---:|---:|"]
        for db in ("sqlite", "postgres"):
            if db in cold:
                e, l = cold[db]["empty_ms"], cold[db]["loaded_ms"]
                lines.append(f"| {db} | {e:.0f} ms | {l:.0f} ms | {l / e:.2f}× |")
    history = ROOT / "bench" / "HISTORY.md"
    if history.exists() and not QUICK:
        lines += ["", history.read_text().strip()]
    if series:
        svg_plot(series, ROOT / "bench" / f"latency{SUFFIX}.svg")
    text = "\n".join(lines) + "\n"
    (ROOT / "bench" / f"RESULTS{SUFFIX}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
