"""What the reliability drivers share: a fresh database (SQLite file, or a PostgreSQL database
pb_rel_* made and dropped per run), the real SMTP sink (tests/smtp/sink.py), `serve` nodes started,
SIGKILLed and restarted on the same port, plain HTTP with retries until a final answer, and the
tenants the workload runs on. The binary is PB_BIN, else $CARGO_TARGET_DIR/debug/partner-billing
(tests/e2e/harness.py's lookup)."""
import csv
import http.client
import io
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from harness import binary  # noqa: E402
from webdriver import free_port  # noqa: E402

PUBLIC_URL = "https://billing.example.test"
SINK = os.path.join(ROOT, "tests", "smtp", "sink.py")


def ts(s):
    """A time as either database or the API writes it, as an aware datetime."""
    return datetime.fromisoformat(s.replace(" ", "T"))


def iso(dt):
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def period_of(dt):
    return "%04d-%02d" % (dt.year, dt.month)


def next_month_start(dt):
    return datetime(dt.year + (dt.month == 12), dt.month % 12 + 1, 1, tzinfo=timezone.utc)


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


class Database:
    """A fresh database for one run, read directly by the invariant checks."""

    def __init__(self, workdir, postgres=None):
        self.kind = "postgres" if postgres else "sqlite"
        self.name = None
        if postgres:
            base = postgres.rstrip("/")
            self.admin = base + "/postgres"
            self.name = "pb_rel_%d_%d" % (os.getpid(), random.SystemRandom().randrange(10**9))
            self._psql(self.admin, "CREATE DATABASE " + self.name)
            self.url = base + "/" + self.name
        else:
            self.path = os.path.join(workdir, "pb.db")
            self.url = "sqlite://" + self.path

    @staticmethod
    def _psql(url, sql):
        out = subprocess.run(["psql", url, "-X", "-q", "--csv", "-v", "ON_ERROR_STOP=1", "-P", "null=\\N", "-c", sql],
                             capture_output=True, timeout=120, env=dict(os.environ, PGTZ="UTC"))
        if out.returncode != 0:
            raise RuntimeError("psql failed: %s\n%s" % (sql, out.stderr.decode()))
        return out.stdout.decode()

    def rows(self, sql):
        """Rows as tuples of strings (None for NULL), the same from both databases."""
        if self.kind == "postgres":
            got = list(csv.reader(io.StringIO(self._psql(self.url, sql))))[1:]
            return [tuple(None if v == "\\N" else v for v in r) for r in got]
        con = sqlite3.connect("file:%s?mode=ro" % self.path, uri=True, timeout=60)
        try:
            return [tuple(None if v is None else str(v) for v in r) for r in con.execute(sql).fetchall()]
        finally:
            con.close()

    def scalar(self, sql):
        return self.rows(sql)[0][0]

    def drop(self):
        if self.name:
            self._psql(self.admin, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.name)


class Sink:
    """tests/smtp/sink.py on loopback: every message it accepted, with its Message-ID."""

    def __init__(self, workdir, delay_ms=0):
        py = os.environ.get("PB_TEST_PYTHON") or ("/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable)
        if subprocess.run([py, "-c", "import aiosmtpd"], capture_output=True).returncode != 0:
            raise SystemExit("the SMTP sink needs aiosmtpd for %s: apt-get install python3-aiosmtpd" % py)
        self.dir = os.path.join(workdir, "smtp")
        self.port = free_port()
        self.proc = subprocess.Popen([py, SINK, "--port", str(self.port), "--dir", self.dir, "--delay-ms", str(delay_ms)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("ready"):
            raise RuntimeError("SMTP sink did not start: " + line)
        self.url = "smtp://127.0.0.1:%d" % self.port

    def received(self):
        try:
            with open(os.path.join(self.dir, "received.jsonl")) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def stop(self):
        self.proc.terminate()
        self.proc.wait(20)


class Unreachable(Exception):
    """No answer: refused, reset or timed out. The request may or may not have taken effect."""


def call(base, method, path, token=None, body=None, headers=None, timeout=30):
    """One HTTP request to the API: (status, JSON body or None, lower-cased headers)."""
    host, port = base.split("//")[1].split(":")
    h = {"Content-Type": "application/json"}
    if token:
        h["Authorization"] = "Bearer " + token
    h.update(headers or {})
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        prefix = "" if path in ("/healthz", "/readyz") else "/api/v1"
        conn.request(method, prefix + path, body=None if body is None else json.dumps(body), headers=h)
        r = conn.getresponse()
        raw = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
    except (OSError, http.client.HTTPException) as e:
        raise Unreachable(str(e)) from e
    finally:
        conn.close()
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return r.status, parsed, hdrs


class Stats:
    """Counters shared by the client threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.c = {}

    def add(self, name, n=1):
        with self.lock:
            self.c[name] = self.c.get(name, 0) + n

    def most(self, name, value):
        with self.lock:
            self.c[name] = max(self.c.get(name, 0), value)

    def get(self, name):
        with self.lock:
            return self.c.get(name, 0)


class Final:
    """A request's final answer, and whether an earlier attempt went unanswered (its fate unknown)."""

    def __init__(self, status, body, headers, attempts, interrupted):
        self.status, self.body, self.headers, self.attempts, self.interrupted = status, body, headers, attempts, interrupted

    @property
    def code(self):
        return self.body.get("code") if isinstance(self.body, dict) else None

    def __repr__(self):
        return "%s %s" % (self.status, json.dumps(self.body)[:300])


def until_final(pick, method, path, token, body=None, key=None, headers=None, stats=None, give_up=180, mark=None, gate=None):
    """Sends the request until it gets a final answer, with the same Idempotency-Key every time:
    after no answer or a 5xx it tries again (the key makes that safe), after 409
    idempotency_key_in_use or 429 it waits as told. `pick()` waits until a node is up and returns
    its base URL. `mark.sending` is true while a request awaits its answer; `gate`: left while
    waiting on a key in use. Raises RuntimeError after `give_up` seconds."""
    h = dict(headers or {})
    if key:
        h["Idempotency-Key"] = key
    deadline = time.time() + give_up
    attempts, interrupted, in_use_since = 0, False, None
    while True:
        if time.time() > deadline:
            raise RuntimeError("no final answer to %s %s after %d attempts" % (method, path, attempts))
        attempts += 1
        if stats:
            stats.add("requests")
        base = pick()
        try:
            if mark:
                mark.sending = True
            status, b, hd = call(base, method, path, token, body, h)
        except Unreachable:
            interrupted = True
            if stats:
                stats.add("unanswered")
            time.sleep(0.05)
            continue
        finally:
            if mark:
                mark.sending = False
        code = b.get("code") if isinstance(b, dict) else None
        if status == 409 and code == "idempotency_key_in_use" or status == 429:
            in_use_since = in_use_since or time.time()
            if stats:
                stats.add("in_use" if status == 409 else "rate_limited")
            if gate:
                gate.leave()
            time.sleep(min(float(hd.get("retry-after", "1")), 2.0))
            if gate:
                gate.enter()
            continue
        if status >= 500:
            interrupted = True
            if stats:
                stats.add("server_errors")
            time.sleep(0.1)
            continue
        if stats and 200 <= status < 300:
            stats.add("acknowledged")
        if stats and in_use_since:
            stats.most("longest_key_in_use_s", round(time.time() - in_use_since, 1))
        return Final(status, b, hd, attempts, interrupted)


class Node:
    """One `serve --demo --test-clock` process, delivering email to the sink; restartable on its port."""

    def __init__(self, name, workdir, db_url, smtp_url, extra_env=None):
        self.name, self.workdir, self.db_url, self.smtp_url = name, workdir, db_url, smtp_url
        self.data_dir = os.path.join(workdir, "data")
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.env = dict(os.environ, PB_LOG="info,sqlx=warn", PB_RATE_LIMIT_PER_MINUTE="100000000",
                        PB_RATE_LIMIT_PER_PRINCIPAL="100000000", PB_MONTH_CLOSE_INTERVAL="1", **(extra_env or {}))
        for k in ("PB_AUTH_ISSUER", "PB_DATABASE_URL", "PB_SMTP_URL", "PB_PUBLIC_URL"):
            self.env.pop(k, None)
        self.proc, self.starts, self.log_path = None, 0, None
        os.makedirs(os.path.join(workdir, "logs"), exist_ok=True)

    def start(self):
        self.starts += 1
        self.log_path = os.path.join(self.workdir, "logs", "%s-%03d.log" % (self.name, self.starts))
        out = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [binary(), "serve", "--demo", "--test-clock", "--listen", "127.0.0.1:%d" % self.port, "--data-dir", self.data_dir,
             "--database", self.db_url, "--smtp-url", self.smtp_url, "--public-url", PUBLIC_URL,
             # A killed node's claims on emails lapse within seconds.
             "--outbox-lease-secs", "3", "--outbox-poll-ms", "100", "--outbox-backoff-secs", "1"],
            stdout=out, stderr=subprocess.STDOUT, env=self.env)
        out.close()

    def wait_up(self, timeout=90):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s:\n%s" % (self.name, self.proc.returncode, self.log_tail()))
            try:
                status, _, _ = call(self.base, "GET", "/healthz", timeout=2)
                if status == 200:
                    return
            except Unreachable:
                pass
            time.sleep(0.05)
        raise RuntimeError("%s did not come up:\n%s" % (self.name, self.log_tail()))

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except (OSError, TypeError):
            return ""

    def log_tail(self, n=30):
        return "\n".join(self.log_text().splitlines()[-n:])

    def closing_month(self):
        """Whether this instance's log shows a month close started and not finished."""
        started = finished = 0
        for line in self.log_text().splitlines():
            started += '"month close started"' in line
            finished += '"month close finished"' in line
        return started > finished

    def token(self, tenant, user):
        return self._cli(["token", "--tenant", tenant, "--user", user, "--ttl", "1d"])

    def operator_token(self):
        return self._cli(["operator-token", "--ttl", "1d"])

    def _cli(self, args):
        out = subprocess.run([binary()] + args + ["--data-dir", self.data_dir, "--database", self.db_url],
                             capture_output=True, timeout=120, env=self.env)
        if out.returncode != 0:
            raise RuntimeError("%s failed: %s" % (args[0], out.stderr.decode()))
        return out.stdout.decode().strip()


def set_clock(base, op, at, at_least=False):
    """Moves a node's test clock to `at` (forward only); `at_least`: a clock already past it will do."""
    status, body, _ = call(base, "PUT", "/test-clock", op, {"now": iso(at)})
    ahead = status == 422 and at_least and body["errors"][0]["code"] == "backwards"
    if status != 200 and not ahead:
        raise RuntimeError("test clock: %s %s" % (status, body))


class Tenant:
    """A provisioned tenant: its global admin (who links) and MCPP admin (who buys), and what the
    client knows of its link. Italian tenants need the second acknowledgement (rule M2)."""

    def __init__(self, domain, country, ga, mcpp):
        self.domain, self.country, self.ga_email, self.mcpp_email = domain, country, ga, mcpp
        self.ga = self.mcpp = None
        self.lock = threading.Lock()


def provision(pick, op, tag, count, stats):
    """Tenants with an active partner account (US and Italian in turn), each with a global admin and
    an MCPP admin, made through the operator API."""
    tenants = []
    for i in range(count):
        country = "IT" if i % 3 == 2 else "US"
        domain = "rel%d-%s.example" % (i, tag)
        t = Tenant(domain, country, "ga@" + domain, "mcpp@" + domain)
        got = until_final(pick, "POST", "/tenants", op, {"name": "Rel %d" % i, "domain": domain}, key="tenant-%s-%d" % (tag, i))
        assert got.status == 201, got
        tid = got.body["id"]
        for email, roles in ((t.ga_email, (["global_admin"], [])), (t.mcpp_email, ([], ["mcpp_admin"]))):
            got = until_final(pick, "POST", "/tenants/%s/users" % tid, op,
                              {"email": email, "display_name": email.split("@")[0], "directory_roles": roles[0],
                               "partner_roles": roles[1]}, key="user-%s-%s" % (tag, email))
            assert got.status == 201, got
        address = {"address_line1": "Via Roma 1", "city": "Milano", "country": "IT"} if country == "IT" else \
            {"address_line1": "1 Main St", "city": "Redmond", "region": "WA", "postal_code": "98052", "country": "US"}
        got = until_final(pick, "PUT", "/tenants/%s/partner-account" % tid, op,
                          {"partner_id": str(7000 + i), "name": "Rel %d" % i, "state": "active",
                           "legal_profile": {"company_name": "Rel %d Ltd" % i, "sold_to": address,
                                             "primary_contact": {"name": "Boss", "email": t.ga_email}}})
        assert got.status in (200, 201), got
        tenants.append(t)
    return tenants


class Gate:
    """Clients pass while the node is up with its clock set. A month jump holds new requests back and
    waits until no client action is under way, as time passing between two months would. A client
    waiting out a dead instance's claim (409 idempotency_key_in_use: nothing of it was committed)
    does not hold a jump up: it leaves while it waits."""

    def __init__(self):
        self.cv = threading.Condition()
        self.base, self.up, self.hold, self.active = None, False, False, 0

    def pick(self):
        with self.cv:
            self.cv.wait_for(lambda: self.up)
            return self.base

    def open(self, base):
        with self.cv:
            self.base, self.up = base, True
            self.cv.notify_all()

    def close(self):
        with self.cv:
            self.up = False

    def enter(self):
        with self.cv:
            self.cv.wait_for(lambda: not self.hold)
            self.active += 1

    def leave(self):
        with self.cv:
            self.active -= 1
            self.cv.notify_all()

    def quiesce(self, timeout=60):
        with self.cv:
            self.hold = True
            if self.cv.wait_for(lambda: self.active == 0, timeout):
                return True
            self.hold = False
            self.cv.notify_all()
            return False

    def release(self):
        with self.cv:
            self.hold = False
            self.cv.notify_all()


def run_and_report(run, keep, summary):
    """Runs `run` (its run() gives violations, figures, seconds), prints each violation and then the
    one summary line `summary(violations, figures, seconds)` even when the driver fails, and keeps the
    run's folder when anything went wrong. Returns the violations."""
    violations, figures, took = ["the run did not finish"], {}, 0.0
    try:
        violations, figures, took = run.run()
    except Exception as e:
        violations = ["driver error: %r" % e]
        raise
    finally:
        for v in violations:
            print("VIOLATION: " + v)
        run.close(keep=bool(violations) or keep)
        print(summary(violations, figures, took), flush=True)
    return violations
