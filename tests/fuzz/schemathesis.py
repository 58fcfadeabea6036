"""The OpenAPI document as a contract, checked by an outside fuzzer: schemathesis (PyPI) with all its
checks and phases, stateful included, against the real binary on a demo database, once with a global
admin's token and once with a platform operator's.

Usage: python3 tests/fuzz/schemathesis.py [--postgres postgres://postgres@127.0.0.1:5432] [--examples N]
       [--seed N] [--as global-admin|operator]
The binary is $PB_BIN, else $CARGO_TARGET_DIR/release/partner-billing, else .../debug/partner-billing.
schemathesis is installed into a virtualenv under ~/.cache/partner-billing the first time. Exits non-zero
on any failure; the reports (JUnit, and a pytest file reproducing each failure) are kept in the
printed folder when a run fails.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from webdriver import free_port  # noqa: E402

# Pinned: a new release may add checks, and CI must not turn red by itself.
SCHEMATHESIS = "schemathesis==4.32.5"
VENV = os.path.join(os.path.expanduser("~"), ".cache", "partner-billing", "schemathesis-venv")


def schemathesis():
    exe = os.path.join(VENV, "bin", "schemathesis")
    stamp = os.path.join(VENV, "installed")
    if not (os.path.exists(exe) and os.path.exists(stamp) and open(stamp).read() == SCHEMATHESIS):
        print("installing %s into %s" % (SCHEMATHESIS, VENV), flush=True)
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([os.path.join(VENV, "bin", "pip"), "install", "-q", SCHEMATHESIS], check=True)
        with open(stamp, "w") as f:
            f.write(SCHEMATHESIS)
    return exe


def binary():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    for p in (os.environ.get("PB_BIN"), os.path.join(target, "release", "partner-billing"),
              os.path.join(target, "debug", "partner-billing")):
        if p and os.path.exists(p):
            return p
    raise SystemExit("no partner-billing binary: run cargo build --release first")


class Server:
    """`serve --demo` on a fresh database (a new PostgreSQL database when asked)."""

    def __init__(self, postgres):
        self.dir = tempfile.mkdtemp(prefix="pb-fuzz-")
        self.pg_admin = self.pg_name = None
        self.db = "sqlite://%s/pb.db" % self.dir
        if postgres:
            self.pg_admin = postgres.rstrip("/") + "/postgres"
            self.pg_name = "pb_fuzz_%d_%d" % (os.getpid(), int(time.time() * 1000) % 10**9)
            subprocess.run(["psql", self.pg_admin, "-qc", "CREATE DATABASE " + self.pg_name],
                           check=True, capture_output=True, timeout=30)
            self.db = postgres.rstrip("/") + "/" + self.pg_name
        self.base = "http://127.0.0.1:%d" % free_port()
        self.log = open(os.path.join(self.dir, "server.log"), "wb")
        env = dict(os.environ, PB_LOG_FORMAT="json",
                   # The fuzzer is one client sending thousands of requests a minute: the limits are
                   # tested elsewhere (crates/api/tests/hardening), here they would only answer 429.
                   PB_RATE_LIMIT_PER_MINUTE="10000000", PB_RATE_LIMIT_PER_PRINCIPAL="10000000")
        self.proc = subprocess.Popen([binary(), "serve", "--demo", "--listen", self.base[len("http://"):],
                                      "--data-dir", self.dir, "--database", self.db],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit("server exited:\n" + self.tail())
            try:
                with urllib.request.urlopen(self.base + "/readyz", timeout=2) as r:
                    if r.status == 200:
                        return
            except Exception:
                time.sleep(0.1)
        raise SystemExit("server did not start:\n" + self.tail())

    def cli(self, *args):
        out = subprocess.run([binary(), *args, "--data-dir", self.dir, "--database", self.db],
                             capture_output=True, check=True, timeout=60)
        return out.stdout.decode().strip().split()[-1]

    def tail(self, n=4000):
        self.log.flush()
        with open(os.path.join(self.dir, "server.log"), "rb") as f:
            return f.read()[-n:].decode(errors="replace")

    def stop(self, keep):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        if self.pg_name:
            subprocess.run(["psql", self.pg_admin, "-qc", "DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.pg_name],
                           capture_output=True, timeout=30)
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)


def run(exe, server, who, token, args, report):
    cmd = [exe, "--config-file", os.path.join(HERE, "schemathesis.toml"), "run", server.base + "/openapi.json",
           "--checks", "all",
           "--phases", "examples,coverage,fuzzing,stateful",
           "--max-examples", str(args.examples),
           "--seed", str(args.seed),
           "--workers", "1",
           "--request-timeout", "30",
           "--report", "junit,pytest",
           "--report-dir", report,
           "--output-truncate", "false"]
    print("== schemathesis as %s on %s (%d examples per operation, seed %d)" % (
        who, "PostgreSQL" if server.pg_name else "SQLite", args.examples, args.seed), flush=True)
    started = time.time()
    env = dict(os.environ, SCHEMATHESIS_HOOKS=os.path.join(HERE, "hooks.py"), PB_FUZZ_TOKEN=token)
    # Its cache (.schemathesis/) goes to the run's scratch folder, not the checkout.
    code = subprocess.run(cmd, env=env, cwd=server.dir).returncode
    print("== schemathesis as %s: exit %d in %.0f s" % (who, code, time.time() - started), flush=True)
    return code


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--postgres", help="PostgreSQL server URL without a database (a fresh one is made)")
    p.add_argument("--examples", type=int, default=30)
    p.add_argument("--seed", type=int, default=20261129)
    p.add_argument("--as", dest="who", choices=["global-admin", "operator"], action="append")
    p.add_argument("--install-only", action="store_true",
                   help="install schemathesis into its virtualenv and stop (before runs side by side, which would race to)")
    args = p.parse_args()
    exe = schemathesis()
    if args.install_only:
        print("schemathesis ready: " + exe)
        return
    failed = []
    for who in args.who or ["global-admin", "operator"]:
        # Each identity gets a database of its own: one run's writes never shape the other's.
        server = Server(args.postgres)
        report = os.path.join(server.dir, "report-" + who)
        if who == "operator":
            token = server.cli("operator-token")
        else:
            token = server.cli("token", "--tenant", "contoso.onmicrosoft.com", "--user", "admin@contoso.onmicrosoft.com")
        code = run(exe, server, who, token, args, report)
        if code != 0:
            failed.append(who)
            print("server log tail:\n" + server.tail(), flush=True)
            print("reports kept in " + report, flush=True)
        server.stop(keep=code != 0)
    if failed:
        raise SystemExit("schemathesis failed as: " + ", ".join(failed))


if __name__ == "__main__":
    main()
