#!/usr/bin/env python3
"""The soak (issue 12 item 5): the release binary under the benchmarks' W1/W2 load for ten minutes,
closed-loop at saturation (each connection sends its next request as soon as the last one is
answered: as fast as the server answers), with zero errors and memory flat. Not in CI: run it by hand
and commit what it writes.

    python3 bench/soak.py                 # 10 minutes on a fresh SQLite data dir
    python3 bench/soak.py --postgres      # 10 minutes on a fresh PostgreSQL database (dropped after)
    python3 bench/soak.py --minutes 1     # a short try (writes *.short.* files, ignored by git)

Load: 64 connections in all, like the benchmarks, as three wrk processes at the same time: W1's write
tail (POST /api/v1/billing-accounts, 22 connections), W2's GET /api/v1/partner-account (21) and
the page GET /account/billing-profile (21). Each runs in consecutive slices (60 s; 10 s when the run
is shorter than 5 minutes), which gives req/s and latency per slice.

Sampled every second: the server's VmRSS (/proc/PID/status), its open file descriptors, its threads,
and the machine's load average. /metrics is not scraped during the run: a scrape drains the
latency histograms' samples, so a soak that scraped would hide growth that a deployment without a
scraper has; --scrape-metrics N scrapes every N seconds, as a Prometheus would.

Errors: any non-2xx/3xx answer and any socket error or timeout (wrk's default 2 s) seen by wrk, any
status >= 400 in the server's own counters (/metrics, read once at the end), any request there that
the soak did not send, any ERROR line or panic in the server's log, the server not running at the
end, its data dir not intact at the end. The log's WARN lines are listed (with when they came), not
counted. Memory: the RSS of the first minute (the median from 10 s, after warm-up, to 60 s) against
the RSS at the end (the median of the last 30 s); it fails when the end is more than 20 % and more
than 16 MiB above it. After the load, one GET /api/v1/billing-accounts?limit=1 is timed.

Writes bench/SOAK.md and bench/soak.svg (bench/SOAK.postgres.md and bench/soak.postgres.svg with
--postgres), with bench/SOAK-NOTES.md (findings and earlier runs, kept by hand) appended. Exits 1
when there were errors or memory grew beyond the tolerance.

PostgreSQL: a new database pb_soak_<time> on postgres://postgres@127.0.0.1:5432 (PB_SOAK_PG to use
another server: its URL without the database name), dropped at the end unless --keep-db.
"""

import argparse
import json
import math
import os
import re
import resource
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (bench/run.py: the server, the wrk driver, the machine line)

ROOT = bench.ROOT
GROWTH_PCT, GROWTH_MIB = 20, 16
WARMUP_S = 10
WORKLOADS = [  # (key, label, connections)
    ("post", "W1 POST /api/v1/billing-accounts", 22),
    ("api", "W2 GET /api/v1/partner-account", 21),
    ("page", "W2 GET /account/billing-profile", 21),
]
COLORS = {"post": "#bc4c00", "api": "#1a7f37", "page": "#8250df"}


def parse_args():
    p = argparse.ArgumentParser(description="Soak: the W1/W2 load for N minutes; RSS sampled every second.")
    p.add_argument("--minutes", type=float, default=10, help="duration of the load (default 10)")
    p.add_argument("--postgres", action="store_true", help="run on a fresh PostgreSQL database instead of SQLite")
    p.add_argument("--slice", type=int, help="seconds per wrk run (default 60; 10 when under 5 minutes)")
    p.add_argument("--scrape-metrics", type=int, default=0, metavar="N",
                   help="GET /metrics every N seconds during the run (default: never, only at the end)")
    p.add_argument("--no-build", action="store_true", help="use the release binary as it is")
    p.add_argument("--json", metavar="PATH", help="also write every sample and slice there")
    p.add_argument("--keep-db", action="store_true", help="do not drop the PostgreSQL database at the end")
    return p.parse_args()


def pg_admin():
    return os.environ.get("PB_SOAK_PG", "postgres://postgres@127.0.0.1:5432").rstrip("/")


def psql(db, *sql):
    args = ["psql", f"{pg_admin()}/{db}", "-qAtX", "-v", "ON_ERROR_STOP=1"]
    for q in sql:
        args += ["-c", q]
    return bench.sh(*args)


class Sampler(threading.Thread):
    """Every second: the server's RSS, fds and threads, the load average; optionally a /metrics scrape."""

    def __init__(self, server, scrape_every):
        super().__init__(daemon=True)
        self.pid, self.server, self.scrape_every = server.proc.pid, server, scrape_every
        self.samples, self.scrapes, self.stop_flag, self.t0, self.wall0 = [], 0, threading.Event(), None, None

    def one(self):
        st = {}
        for line in open(f"/proc/{self.pid}/status"):
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "Threads"):
                st[k] = int(v.split()[0])
        load = float(open("/proc/loadavg").read().split()[0])
        fds = len(os.listdir(f"/proc/{self.pid}/fd"))
        return {"t": time.monotonic() - self.t0, "rss_kib": st["VmRSS"], "hwm_kib": st["VmHWM"],
                "threads": st["Threads"], "fds": fds, "load1": load}

    def run(self):
        self.t0, self.wall0 = time.monotonic(), time.time()
        n = 0
        while not self.stop_flag.is_set():
            try:
                self.samples.append(self.one())
            except (FileNotFoundError, ProcessLookupError, KeyError):
                return  # the server is gone: reported as an error at the end
            n += 1
            if self.scrape_every and n % self.scrape_every == 0:
                try:
                    self.server.get("/metrics")
                    self.scrapes += 1
                except OSError:
                    pass
            self.stop_flag.wait(max(0.0, self.t0 + n - time.monotonic()))


def proc_cpu_s(pid):
    """utime + stime of one process, in seconds."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_s():
    """CPU seconds the whole machine spent not idle (all cores)."""
    v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def backend_cpu_s(db):
    """CPU seconds of the PostgreSQL backends serving `db` (their process titles name it)."""
    total = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if f" {db} ".encode() in open(f"/proc/{pid}/cmdline", "rb").read():
                total += proc_cpu_s(pid)
        except OSError:
            pass
    return total


def log_summary(lines, wall0):
    """WARN and ERROR lines of the JSON log, grouped by level, target and message: each group's
    seconds into the run (from the line's timestamp)."""
    groups = {}
    for l in lines:
        try:
            e = json.loads(l)
        except ValueError:
            continue
        if e.get("level") in ("WARN", "ERROR"):
            key = (e["level"], e.get("target", ""), str(e.get("message", ""))[:160])
            try:
                at = datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")).timestamp() - wall0
            except (KeyError, ValueError):
                at = None
            groups.setdefault(key, []).append(at)
    return sorted(groups.items(), key=lambda kv: -len(kv[1]))


def drive(url, headers, script, connections, seconds, slice_s, t0, out):
    """Consecutive wrk runs of `slice_s` seconds until `seconds` have passed; one result per slice."""
    end = t0 + seconds
    while (left := end - time.monotonic()) > 1:
        start = time.monotonic() - t0
        r = bench.wrk(url, headers, script, connections=connections, seconds=min(slice_s, round(left)), threads=1)
        r["start"], r["end"] = start, time.monotonic() - t0
        out.append(r)


def metrics_counts(server):
    """http_requests_total by (method, route, status) from the server's /metrics."""
    counts = {}
    for line in server.get("/metrics").decode().splitlines():
        if line.startswith("http_requests_total{"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line[:line.rindex("}")]))
            counts[(labels.get("method"), labels.get("route"), labels.get("status"))] = float(line.rsplit(" ", 1)[1])
    return counts


def sqlite_rows(path):
    db = sqlite3.connect(f"file:{path}?mode=rw", uri=True)  # rw: ro cannot open a WAL database whose -shm is gone
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        return {t: db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        db.close()


def postgres_rows(db):
    tables = psql(db, "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables "
                      "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')").split()
    if not tables:
        return {}
    q = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in tables)
    return {t.split(".", 1)[1]: int(n) for t, n in (l.split("|") for l in psql(db, q).splitlines())}


def median_in(samples, lo, hi):
    vals = [s["rss_kib"] for s in samples if lo <= s["t"] <= hi]
    return statistics.median(vals) / 1024 if vals else None


def slope_mib_per_min(samples):
    pts = [(s["t"] / 60, s["rss_kib"] / 1024) for s in samples if s["t"] >= WARMUP_S]
    if len(pts) < 2:
        return 0.0
    mx, my = statistics.fmean(p[0] for p in pts), statistics.fmean(p[1] for p in pts)
    den = sum((x - mx) ** 2 for x, _ in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / den if den else 0.0


def svg_plot(samples, slices, mem, duration_s, title, path):
    """RSS over time (top) and req/s per wrk slice and workload (bottom): a plain SVG in run.py's style."""
    width, left, right = 900, 70, 200
    top1, h1, top2, h2 = 80, 220, 370, 200
    height = top2 + h2 + 40
    plot_w = width - left - right
    minutes = duration_s / 60

    def x(t):
        return left + t / duration_s * plot_w

    def labels(items):
        """Right-hand labels (y, color, text), pushed apart so that none overlaps the next."""
        last = -1e9
        for yv, color, text in sorted(items):
            yv = max(yv, last + 14)
            last = yv
            out.append(f'<text x="{left + plot_w + 8}" y="{yv + 4:.1f}" fill="{color}">{text}</text>')

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="10" y="20" font-size="14" font-weight="bold">{title}</text>',
           '<text x="10" y="38" fill="#888">top: server RSS (MiB, every second); bottom: req/s per wrk slice; '
           'dashed: first minute and the tolerance</text>']
    step = next(s for s in (0.5, 1, 2, 5, 10, 15, 30, 60) if minutes / s <= 12)
    xticks = [i * step for i in range(int(minutes / step + 0.01) + 1)]

    def panel(top, h, ymax, ylabel, yfmt):
        ystep = next(s for s in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000, 50000)
                     if ymax / s <= 6)
        ymax = math.ceil(ymax / ystep) * ystep

        def y(v):
            return top + h - v / ymax * h
        out.append(f'<text x="10" y="{top - 8}" fill="#666">{ylabel}</text>')
        for i in range(int(ymax / ystep) + 1):
            v = i * ystep
            out.append(f'<line x1="{left}" y1="{y(v):.1f}" x2="{left + plot_w}" y2="{y(v):.1f}" stroke="#eee"/>')
            out.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end" fill="#666">{yfmt(v)}</text>')
        for m in xticks:
            out.append(f'<line x1="{x(m * 60):.1f}" y1="{top}" x2="{x(m * 60):.1f}" y2="{top + h}" stroke="#eee"/>')
            out.append(f'<text x="{x(m * 60):.1f}" y="{top + h + 16}" text-anchor="middle" fill="#666">{m:g} min</text>')
        return y

    rss = [(s["t"], s["rss_kib"] / 1024) for s in samples]
    limit = mem["first"] + max(GROWTH_MIB, mem["first"] * GROWTH_PCT / 100) if mem["first"] else 0
    y = panel(top1, h1, max([v for _, v in rss] + [limit, 1]) * 1.1, "RSS (MiB)", lambda v: f"{v:g}")
    right = []
    if rss:
        pts = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in rss)
        out.append(f'<polyline points="{pts}" fill="none" stroke="#1f6feb" stroke-width="1.5"/>')
        right.append((y(rss[-1][1]), "#1f6feb", f"RSS at the end {rss[-1][1]:.1f}"))
    if mem["first"]:
        for v, color, label in ((mem["first"], "#888", f"first minute {mem['first']:.1f}"), (limit, "#d1242f", f"tolerance {limit:.1f}")):
            out.append(f'<line x1="{left}" y1="{y(v):.1f}" x2="{left + plot_w}" y2="{y(v):.1f}" stroke="{color}" stroke-dasharray="4 3"/>')
            right.append((y(v), color, label))
    labels(right)

    peak = max([r["rps"] for rs in slices.values() for r in rs] + [1])
    y = panel(top2, h2, peak * 1.1, "req/s per slice", lambda v: f"{v:g}")
    right = []
    for key, label, _ in WORKLOADS:
        rs = slices.get(key, [])
        if not rs:
            continue
        pts = " ".join(f"{x(t):.1f},{y(r['rps']):.1f}" for r in rs for t in (r["start"], r["end"]))
        out.append(f'<polyline points="{pts}" fill="none" stroke="{COLORS[key]}" stroke-width="1.5"/>')
        name = label.split(" ", 1)[1].replace("/api/v1/", "").replace("/account/", "")
        right.append((y(rs[-1]["rps"]), COLORS[key], f"{name} {rs[-1]['rps']:.0f}"))
    labels(right)
    out.append("</svg>")
    path.write_text("\n".join(out) + "\n")


def main():
    a = parse_args()
    duration = round(a.minutes * 60)
    if duration < 30:
        raise SystemExit("--minutes: at least 0.5")
    slice_s = a.slice or (60 if duration >= 300 else 10)
    db_name = "postgres" if a.postgres else "sqlite"
    suffix = (".postgres" if a.postgres else "") + (".short" if a.minutes < 10 else "")
    bench.ensure_tools()
    if not a.no_build:
        bench.build()
    head = bench.machine()
    print(head, flush=True)

    pg_db = None
    if a.postgres:
        pg_db = f"pb_soak_{int(time.time())}"
        psql("postgres", f"CREATE DATABASE {pg_db}")
    # Not under pb-*: .ci/run starts with `rm -rf /tmp/pb-*`, and a CI run started during a soak
    # deleted its database and its wrk script (wrk then sends plain GETs, without a word).
    server = bench.Server(f"{pg_admin()}/{pg_db}" if pg_db else None, prefix="partner-billing-soak-")
    try:
        # Credentials that outlive the run: a bearer token (minutes + 1 h) and a web session (8 h).
        ttl = f"{int(a.minutes) + 60}m"
        token = server.cli("token", "--tenant", "contoso.onmicrosoft.com", "--user", "admin@contoso.onmicrosoft.com", "--ttl", ttl)
        me = json.loads(server.get("/api/v1/me", {"Authorization": f"Bearer {token}"}))
        cookie = bench.session_cookie(server, me)
        targets = {
            "post": ("/api/v1/billing-accounts", [f"Authorization: Bearer {token}"], bench.post_script(server)),
            "api": ("/api/v1/partner-account", [f"Authorization: Bearer {token}"], None),
            "page": ("/account/billing-profile", [f"Cookie: {cookie}"], None),
        }
        for key, (path, headers, script) in targets.items():
            if script is None:  # the reads answer before the load starts
                server.get(path, dict(h.split(": ", 1) for h in headers))

        print(f"soak: {duration} s on {db_name}, {slice_s} s slices, 64 connections "
              f"({', '.join(f'{l}: {c}' for _, l, c in WORKLOADS)})", flush=True)
        sampler = Sampler(server, a.scrape_metrics)
        slices = {k: [] for k, _, _ in WORKLOADS}
        children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        busy0, server_cpu0 = machine_busy_s(), proc_cpu_s(server.proc.pid)
        sampler.start()
        while sampler.t0 is None:
            time.sleep(0.01)
        with ThreadPoolExecutor(len(WORKLOADS)) as pool:
            jobs = [pool.submit(drive, server.base + targets[k][0], targets[k][1], targets[k][2], c, duration, slice_s,
                                sampler.t0, slices[k]) for k, _, c in WORKLOADS]
            for j in jobs:
                j.result()
        elapsed = time.monotonic() - sampler.t0
        sampler.stop_flag.set()
        sampler.join()
        children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        alive = server.proc.poll() is None
        busy = machine_busy_s() - busy0
        pg_cpu = backend_cpu_s(pg_db) if pg_db else 0.0  # the backends live as long as the server's pool
        server_cpu = proc_cpu_s(server.proc.pid) - server_cpu0 if alive else float("nan")
        wrk_cpu = (children1.ru_utime + children1.ru_stime) - (children0.ru_utime + children0.ru_stime)
        counts = metrics_counts(server) if alive else {}
        dir_intact = all((Path(server.dir) / f).exists() for f in ("server.log", "post.lua"))
        # After the load: one list of billing accounts (limit 1) by the admin who owns them all.
        probe_ms = None
        if alive:
            t = time.perf_counter()
            try:
                server.get("/api/v1/billing-accounts?limit=1", {"Authorization": f"Bearer {token}"})
                probe_ms = (time.perf_counter() - t) * 1000
            except OSError as e:
                print(f"the probe failed: {e}", file=sys.stderr)
        if a.json:
            Path(a.json).write_text(json.dumps({"samples": sampler.samples, "slices": slices, "counts": [[*k, v] for k, v in counts.items()]}))
        rows, size, rows_error = {}, 0, None
        try:
            if a.postgres:
                rows = postgres_rows(pg_db)
                size = int(psql(pg_db, f"SELECT pg_database_size('{pg_db}')").strip())
            else:
                rows = sqlite_rows(Path(server.dir) / "partner-billing.db")
                size = sum(p.stat().st_size for p in Path(server.dir).glob("partner-billing.db*"))
        except (sqlite3.Error, subprocess.CalledProcessError, OSError) as e:
            listing = sorted(p.name for p in Path(server.dir).iterdir()) if Path(server.dir).is_dir() else "the data dir is gone"
            rows_error = f"{type(e).__name__}: {e} (data dir: {listing})"
            print(f"cannot count the rows: {rows_error}", file=sys.stderr)
        log_path = Path(server.dir) / "server.log"
        log = log_path.read_text(errors="replace").splitlines() if log_path.exists() else ["(the server log is gone)"]
    finally:
        server.stop()
        if pg_db and not a.keep_db:
            psql("postgres", f"DROP DATABASE IF EXISTS {pg_db} WITH (FORCE)")

    # --- figures ---
    samples = sampler.samples
    err_lines = [l for l in log if '"level":"ERROR"' in l or "panicked" in l]
    warn_lines = [l for l in log if '"level":"WARN"' in l]
    per = {}
    for key, label, conns in WORKLOADS:
        rs = slices[key]
        reqs = sum(r["requests"] for r in rs)
        secs = sum(r["end"] - r["start"] for r in rs)
        sock = {k: sum(r["socket_errors"].get(k, 0) for r in rs) for k in ("connect", "read", "write", "timeout")}
        per[key] = {"label": label, "connections": conns, "requests": reqs, "rps": reqs / secs if secs else 0,
                    "non2xx": sum(r["errors"] for r in rs), "socket": sock,
                    "p50": statistics.median(r["p50_ms"] for r in rs if r["p50_ms"] is not None) if rs else None,
                    "p99_median": statistics.median(r["p99_ms"] for r in rs if r["p99_ms"] is not None) if rs else None,
                    "p99_worst": max((r["p99_ms"] for r in rs if r["p99_ms"] is not None), default=None),
                    "rps_min": min((r["rps"] for r in rs), default=0), "rps_max": max((r["rps"] for r in rs), default=0)}
    server_4xx5xx = sum(n for (_, _, st), n in counts.items() if st and st.isdigit() and int(st) >= 400)
    # Requests the soak did not send (a lost wrk script turns the POSTs into GETs, say): errors too.
    expected = {("POST", targets["post"][0]), ("GET", targets["api"][0]), ("GET", targets["page"][0]),
                ("GET", "/readyz"), ("GET", "/api/v1/me"), ("GET", "/signin"), ("POST", "/signin"), ("GET", "/metrics")}
    unexpected = int(sum(n for (m, r, _), n in counts.items() if (m, r) not in expected))
    by_route = {}
    for (m, route, st), n in counts.items():
        by_route.setdefault(f"{m} {route}", {})[st] = int(n)
    wrk_errors = sum(p["non2xx"] + sum(p["socket"].values()) for p in per.values())
    errors = wrk_errors + int(server_4xx5xx) + unexpected + len(err_lines) + (0 if alive else 1) + (0 if dir_intact else 1)

    first_hi = WARMUP_S + min(50, duration / 4)
    end_lo = elapsed - min(30, duration / 4)
    mem = {"at_warmup": next((s["rss_kib"] / 1024 for s in samples if s["t"] >= WARMUP_S), None),
           "first": median_in(samples, WARMUP_S, first_hi), "end": median_in(samples, end_lo, elapsed),
           "max": max((s["rss_kib"] for s in samples), default=0) / 1024,
           "slope": slope_mib_per_min(samples)}
    growth = (mem["end"] - mem["first"]) if mem["first"] and mem["end"] else 0
    mem_fail = growth > GROWTH_MIB and growth > mem["first"] * GROWTH_PCT / 100
    fds = [s["fds"] for s in samples if s["t"] >= WARMUP_S] or [0]
    threads = [s["threads"] for s in samples if s["t"] >= WARMUP_S] or [0]
    loads = [s["load1"] for s in samples] or [0]
    ok = errors == 0 and not mem_fail and alive

    svg = ROOT / "bench" / f"soak{suffix}.svg"
    svg_plot(samples, slices, mem, elapsed, f"Soak on {db_name}: {elapsed / 60:.1f} min at saturation, 64 connections", svg)

    fmt = bench.fmt_ms
    total_reqs = sum(p["requests"] for p in per.values())
    cmd = "python3 bench/soak.py" + (" --postgres" if a.postgres else "") + (f" --minutes {a.minutes:g}" if a.minutes != 10 else "") \
        + (f" --scrape-metrics {a.scrape_metrics}" if a.scrape_metrics else "")
    lines = [f"# Soak ({db_name})", "", head, "",
             f"Generated by `{cmd}` (issue 12 item 5; not in CI). **{'PASS' if ok else 'FAIL'}**: "
             f"{errors} errors, RSS {mem['first']:.1f} MiB in the first minute and {mem['end']:.1f} MiB at the end "
             f"(tolerance: +{GROWTH_PCT} % and +{GROWTH_MIB} MiB). Plot: [soak{suffix}.svg](soak{suffix}.svg).", "",
             f"The release binary (`serve --demo`, {'a new PostgreSQL database' if a.postgres else 'a fresh SQLite data dir'}, "
             f"rate limits raised as in bench/run.py) for {elapsed:.0f} s, closed-loop at saturation: 64 connections in all, "
             f"three wrk processes (one thread each) at the same time, each in consecutive {slice_s} s slices. "
             f"/metrics {'scraped every %d s' % a.scrape_metrics if a.scrape_metrics else 'not scraped during the run (read once at the end)'}.", "",
             "| workload | connections | requests | req/s | req/s per slice (min – max) | p50 | p99 (median slice) | p99 (worst slice) | non-2xx/3xx | socket errors (connect/read/write/timeout) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for key, _, _ in WORKLOADS:
        p = per[key]
        s = p["socket"]
        lines.append(f"| {p['label']} | {p['connections']} | {p['requests']} | {p['rps']:.0f} | {p['rps_min']:.0f} – {p['rps_max']:.0f} | "
                     f"{fmt(p['p50'])} | {fmt(p['p99_median'])} | {fmt(p['p99_worst'])} | {p['non2xx']} | "
                     f"{s['connect']}/{s['read']}/{s['write']}/{s['timeout']} |")
    lines += [f"| all | 64 | {total_reqs} | {total_reqs / elapsed:.0f} | | | | | | |", "",
              "## Errors", "",
              f"- wrk: {wrk_errors} (non-2xx/3xx answers, socket errors and timeouts above)",
              f"- the server's own counters (`http_requests_total` with status >= 400, whole life of the process): "
              f"{int(server_4xx5xx) if alive else 'not read: the server was not running'}",
              f"- requests the soak did not send, in the server's counters: {unexpected}",
              f"- ERROR lines or panics in the server's log: {len(err_lines)} (WARN lines: {len(warn_lines)})",
              f"- the data dir intact at the end (its log and wrk script): {'yes' if dir_intact else '**no**: something deleted it'}",
              f"- server running at the end: {'yes' if alive else '**no**'}",
              f"- **total: {errors}**", ""]
    for l in err_lines[:5]:
        lines.append(f"    {l[:300]}")
    summary = log_summary(log, sampler.wall0)
    if summary:
        ends = sorted({round(r["end"]) for rs in slices.values() for r in rs})
        lines += ["The server log's WARN and ERROR lines, by message, with the seconds into the run they came at "
                  f"(the wrk slices ended at {', '.join(map(str, ends))} s):", "",
                  "| level | target | message | lines | at (s) |", "|---|---|---|---:|---|"]
        for (lv, t, m), ats in summary[:10]:
            when = ", ".join(f"{x:.0f}" if x is not None else "?" for x in ats[:40]) + (" …" if len(ats) > 40 else "")
            lines.append(f"| {lv} | `{t}` | {m.replace('|', '/')} | {len(ats)} | {when} |")
        lines.append("")
    lines += ["Server-side counts by route and status (`/metrics`, read before the probe below):", "", "| route | statuses |", "|---|---|"]
    for route, sts in sorted(by_route.items()):
        lines.append(f"| `{route}` | {', '.join(f'{k}: {v}' for k, v in sorted(sts.items()))} |")
    lines += ["", "## Memory and resources", "",
              "| | |", "|---|---:|",
              f"| RSS at {WARMUP_S} s (after warm-up) | {mem['at_warmup']:.1f} MiB |",
              f"| RSS, first minute (median {WARMUP_S}–{first_hi:.0f} s) | {mem['first']:.1f} MiB |",
              f"| RSS at the end (median of the last {elapsed - end_lo:.0f} s) | {mem['end']:.1f} MiB |",
              f"| RSS max (of the samples) | {mem['max']:.1f} MiB |",
              f"| end − first minute | {growth:+.1f} MiB ({growth / mem['first'] * 100 if mem['first'] else 0:+.1f} %) |",
              f"| slope (least squares from {WARMUP_S} s) | {mem['slope']:+.3f} MiB/min |",
              f"| open fds (min / end / max from {WARMUP_S} s) | {min(fds)} / {fds[-1]} / {max(fds)} |",
              f"| threads (min / max from {WARMUP_S} s) | {min(threads)} / {max(threads)} |",
              f"| RSS samples | {len(samples)} |", "",
              f"## Database at the end ({db_name}, {size / 1048576:.1f} MiB{' with the WAL' if not a.postgres else ''})", "",
              "| table | rows |", "|---|---:|"]
    if rows_error:
        lines.append(f"| (rows not counted: {rows_error}) | |")
    for t, n in sorted(rows.items()):
        if n:
            lines.append(f"| {t} | {n} |")
    lines.append(f"| (tables with no rows: {sum(1 for n in rows.values() if not n)}) | |")
    if probe_ms is not None:
        lines += ["", f"After the load, `GET /api/v1/billing-accounts?limit=1` by the admin who created them all: "
                  f"{probe_ms:.0f} ms (role assignments in the database: {rows.get('role_assignments', '?')})."]
    cores = os.cpu_count() or 1
    lines += ["", "## The machine during the run", "",
              f"Load average (1 min) during the run: min {min(loads):.2f}, mean {statistics.fmean(loads):.2f}, "
              f"max {max(loads):.2f} on {cores} cores. CPU used over the run, in cores: the machine "
              f"{busy / elapsed:.2f}, the server {server_cpu / elapsed:.2f}, wrk {wrk_cpu / elapsed:.2f}, "
              + (f"the PostgreSQL backends of the soak's database {pg_cpu / elapsed:.2f}, " if pg_db else "")
              + f"everything else {max(0.0, (busy - server_cpu - wrk_cpu - pg_cpu) / elapsed):.2f} (other work on this machine, e.g. builds, "
              "competes for the same cores and lowers the req/s above).", ""]
    notes = ROOT / "bench" / "SOAK-NOTES.md"
    if notes.exists() and a.minutes >= 10:
        lines += [notes.read_text().strip()]
    text = "\n".join(lines) + "\n"
    (ROOT / "bench" / f"SOAK{suffix}.md").write_text(text)
    print(text)
    if not ok:
        print(f"soak FAILED: {errors} errors; RSS {growth:+.1f} MiB over the run "
              f"(tolerance +{GROWTH_PCT} % and +{GROWTH_MIB} MiB)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
