"""The real binary for the browser suite: `serve --demo --test-clock` on a fresh database (SQLite,
or a new PostgreSQL database per flow), its dev tokens, and plain HTTP calls to it."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from webdriver import free_port

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def binary():
    for p in (os.environ.get("PB_BIN"),
              os.path.join(os.environ.get("CARGO_TARGET_DIR", ""), "debug", "partner-billing"),
              os.path.join(ROOT, "target", "debug", "partner-billing")):
        if p and os.path.exists(p):
            return p
    raise SystemExit("no partner-billing binary: run cargo build first")


class Server:
    def __init__(self, postgres=None):
        self.dir = tempfile.mkdtemp(prefix="pb-e2e-")
        self.pg_admin, self.pg_name = None, None
        database = None
        if postgres:
            # A fresh database per flow, so flows never see each other's data.
            self.pg_admin = postgres.rstrip("/") + "/postgres"
            self.pg_name = "pb_e2e_%d_%d" % (os.getpid(), int(time.time() * 1000) % 10**9)
            subprocess.run(["psql", self.pg_admin, "-qc", "CREATE DATABASE " + self.pg_name], check=True, capture_output=True, timeout=30)
            database = postgres.rstrip("/") + "/" + self.pg_name
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.db = database or "sqlite://%s/pb.db" % self.dir
        self.log = open(os.path.join(self.dir, "server.log"), "wb")
        # --test-clock lets a flow close a month (PUT /api/v1/test-clock); the other flows never move it.
        self.proc = subprocess.Popen([binary(), "serve", "--demo", "--test-clock", "--listen", "127.0.0.1:%d" % self.port,
                                      "--data-dir", self.dir, "--database", self.db],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        return
            except Exception:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def token(self, tenant, user):
        out = subprocess.run([binary(), "token", "--tenant", tenant, "--user", user, "--data-dir", self.dir, "--database", self.db],
                             capture_output=True, check=True, timeout=60)
        return out.stdout.decode().strip()

    def operator_token(self):
        out = subprocess.run([binary(), "operator-token", "--data-dir", self.dir, "--database", self.db],
                             capture_output=True, check=True, timeout=60)
        return out.stdout.decode().strip()

    def fetch(self, path, cookie):
        """A GET as the browser's session would make it: status, headers and raw body."""
        req = urllib.request.Request(self.base + path, headers={"Cookie": cookie})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def api(self, method, path, token, body=None, headers=None):
        h = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
        h.update(headers or {})
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + "/api/v1" + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read() or b"null"), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null"), dict(e.headers)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.pg_name:
            subprocess.run(["psql", self.pg_admin, "-qc", "DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.pg_name], capture_output=True, timeout=30)
