#!/usr/bin/env python3
"""PostgreSQL failover drill (issue 12, item 6). Builds, on this machine, a primary and a streaming
replica of it (two clusters of Debian's PostgreSQL, two ports, `synchronous_commit = on` with the
replica as the synchronous standby), starts two `serve` nodes given both addresses

    postgres://postgres@127.0.0.1:P1,127.0.0.1:P2/pb?target_session_attrs=read-write

and drives writes at them (clients alternate nodes; every write carries an Idempotency-Key and is
retried with it, honouring Retry-After, until it gets a final answer). Then it SIGKILLs the
primary (postmaster and backends) under that load, waits --promote-after seconds (the time a
failure detector would take) and promotes the replica. Afterwards:

  - every write the service acknowledged (2xx) is on the new primary, exactly once;
  - both nodes answer again without a restart (they find the promoted replica by themselves);
  - while no primary existed, requests failed with 503 and Retry-After within the pool's wait
    (5 s), never a 500 and never a hang (a client timeout of 20 s counts as one).

It prints the figures: writes acknowledged before the kill and in all, how many are found after
promotion, the seconds each node could not write (from the kill, and from the promotion), and the
503s. Needs root (the clusters run as the postgres user) or to be run as postgres.

  python3 tests/reliability/failover.py                     # ~1.5 min
  python3 tests/reliability/failover.py --clients 16 --before 30 --after 30

The last line is the summary; the exit status is non-zero on any violation.
"""
import argparse
import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from common import Node, Sink, Unreachable, call, free_port, log, provision, run_and_report

CLIENT_TIMEOUT = 20


def pg_bin():
    versions = sorted(os.listdir("/usr/lib/postgresql"), key=lambda v: int(v.split(".")[0]))
    return "/usr/lib/postgresql/%s/bin" % versions[-1]


def as_postgres(cmd, **kw):
    """Runs a PostgreSQL server tool as the postgres user (initdb and the server refuse root)."""
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    return subprocess.run(cmd, check=True, capture_output=True, timeout=120, **kw)


def children_of(pid):
    """The processes whose parent is `pid` (the postmaster's backends), read from /proc."""
    out = []
    for entry in os.listdir("/proc"):
        try:
            with open("/proc/%s/stat" % entry) as f:
                # The command name may hold spaces; the parent pid is the second field after it.
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry))
        except (OSError, ValueError, IndexError):
            pass
    return out


class Cluster:
    def __init__(self, workdir, name, port):
        self.name, self.port = name, port
        self.dir = os.path.join(workdir, name)
        self.sockets = workdir
        self.log = os.path.join(workdir, name + ".log")

    def conf(self, lines):
        with open(os.path.join(self.dir, "postgresql.conf"), "a") as f:
            f.write("\n".join(lines) + "\n")

    def start(self):
        as_postgres([pg_bin() + "/pg_ctl", "-D", self.dir, "-l", self.log, "-w", "-t", "60", "start"])

    def psql(self, sql, db="postgres"):
        out = subprocess.run(["psql", "-X", "-At", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", db,
                              "-v", "ON_ERROR_STOP=1", "-c", sql], capture_output=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError("psql on %s: %s" % (self.name, out.stderr.decode()))
        return out.stdout.decode().strip()

    def kill(self):
        """SIGKILL to the postmaster and every backend at once: a machine lost, not a clean stop."""
        with open(os.path.join(self.dir, "postmaster.pid")) as f:
            pid = int(f.readline())
        for p in [pid] + children_of(pid):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop(self):
        if os.path.exists(os.path.join(self.dir, "postmaster.pid")):
            subprocess.run((["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []) +
                           [pg_bin() + "/pg_ctl", "-D", self.dir, "-m", "immediate", "stop"], capture_output=True)


def make_pair(workdir):
    primary, replica = Cluster(workdir, "primary", free_port()), Cluster(workdir, "replica", free_port())
    common = ["listen_addresses = '127.0.0.1'", "unix_socket_directories = '%s'" % workdir, "max_connections = 100",
              "wal_level = replica", "max_wal_senders = 5", "wal_keep_size = '256MB'", "hot_standby = on",
              "synchronous_commit = on", "fsync = on", "log_min_messages = warning"]
    as_postgres([pg_bin() + "/initdb", "-D", primary.dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-instructions"])
    primary.conf(common + ["port = %d" % primary.port,
                           # A commit returns only once the replica has it on disk: what was acknowledged survives the primary.
                           "synchronous_standby_names = 'replica'"])
    primary.start()
    as_postgres([pg_bin() + "/pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
                 "-D", replica.dir, "-R", "-X", "stream"])
    # The copied configuration names the replica as its own synchronous standby: promoted, it would
    # wait forever for one. Later lines win.
    replica.conf(["port = %d" % replica.port, "cluster_name = 'replica'", "synchronous_standby_names = ''"])
    replica.start()
    deadline = time.time() + 60
    while primary.psql("SELECT count(*) FROM pg_stat_replication WHERE application_name = 'replica' AND sync_state = 'sync'") != "1":
        if time.time() > deadline:
            raise RuntimeError("the replica did not become the synchronous standby")
        time.sleep(0.2)
    primary.psql("CREATE DATABASE pb")
    return primary, replica


class Drill:
    def __init__(self, args):
        self.args = args
        self.workdir = tempfile.mkdtemp(prefix="reliability-failover-")
        os.chmod(self.workdir, 0o777)
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres")
        self.primary = self.replica = self.sink = None
        self.nodes = []
        self.lock = threading.Lock()
        self.acked = {}          # idempotency key -> (billing account id, when acknowledged)
        self.events = []         # (time, node, status, seconds, retry-after present)
        self.hangs, self.others = [], []
        self.stop_at = None

    def setup(self):
        self.primary, self.replica = make_pair(self.workdir)
        log("primary on port %d, synchronous replica on port %d" % (self.primary.port, self.replica.port))
        url = "postgres://postgres@127.0.0.1:%d,127.0.0.1:%d/pb?target_session_attrs=read-write" % (self.primary.port, self.replica.port)
        self.sink = Sink(self.workdir)
        self.nodes = [Node(n, self.workdir, url, self.sink.url) for n in ("a", "b")]
        for n in self.nodes:
            n.start()
            n.wait_up()
        op = self.nodes[0].operator_token()
        pick = itertools.cycle([n.base for n in self.nodes]).__next__
        tenants = provision(pick, op, "fo", self.args.clients, None)
        self.tokens = [self.nodes[0].token(t.domain, t.ga_email) for t in tenants]

    def client(self, i):
        """Creates billing accounts, each with its own key, each until a final answer."""
        token, n = self.tokens[i], 0
        while time.time() < self.stop_at:
            n += 1
            key = "fo-%d-%d" % (i, n)
            self.write(i + n, token, key)

    def write(self, turn, token, key):
        body = {"display_name": key}
        attempt = 0
        while True:
            node = self.nodes[(turn + attempt) % 2]
            attempt += 1
            t0 = time.time()
            try:
                status, b, hd = call(node.base, "POST", "/billing-accounts", token, body, {"Idempotency-Key": key}, timeout=CLIENT_TIMEOUT)
            except Unreachable as e:
                took = time.time() - t0
                with self.lock:
                    (self.hangs if took >= CLIENT_TIMEOUT - 1 else self.others).append((node.name, key, str(e), round(took, 1)))
                time.sleep(0.2)
                continue
            took = time.time() - t0
            with self.lock:
                self.events.append((t0, time.time(), node.name, status, took, "retry-after" in hd))
            if status == 201:
                with self.lock:
                    self.acked[key] = (b["id"], time.time())
                return
            if status == 503:
                time.sleep(float(hd.get("retry-after", "2")))
                continue
            if status == 409 and isinstance(b, dict) and b.get("code") == "idempotency_key_in_use":
                time.sleep(float(hd.get("retry-after", "2")))
                continue
            with self.lock:
                self.others.append((node.name, key, status, b))
            return

    def run(self):
        started = time.time()
        self.setup()
        a = self.args
        self.stop_at = time.time() + a.before + a.promote_after + a.after
        threads = [threading.Thread(target=self.client, args=(i,), daemon=True) for i in range(a.clients)]
        for t in threads:
            t.start()
        time.sleep(a.before)
        sync = self.primary.psql("SELECT sync_state FROM pg_stat_replication WHERE application_name = 'replica'")
        with self.lock:
            before = len(self.acked)
        killed = time.time()
        self.primary.kill()
        log("killed the primary (%d writes acknowledged so far; replica was %s)" % (before, sync))
        time.sleep(a.promote_after)
        promoted = time.time()
        as_postgres([pg_bin() + "/pg_ctl", "-D", self.replica.dir, "-w", "promote"])
        log("promoted the replica %.1f s after the kill" % (promoted - killed))
        for t in threads:
            t.join(a.before + a.promote_after + a.after + 120)
        return self.verify(started, killed, promoted, before, sync)

    def verify(self, started, killed, promoted, before, sync):
        violations, f = [], {}
        rows = self.replica.psql("SELECT display_name || ' ' || id FROM billing_accounts WHERE display_name LIKE 'fo-%'", db="pb")
        found = {}
        for line in rows.splitlines():
            name, ident = line.split(" ")
            found.setdefault(name, []).append(ident)
        missing = [k for k, (ident, _) in self.acked.items() if found.get(k) != [ident]]
        dupes = [k for k, ids in found.items() if len(ids) > 1]
        acked_before = sum(1 for _, at in self.acked.values() if at < killed)
        violations += ["acknowledged write %s is not on the new primary exactly once (found %s)" % (k, found.get(k)) for k in missing]
        violations += ["two billing accounts for one key %s" % k for k in dupes]
        if sync != "sync":
            violations.append("the replica was %r, not the synchronous standby, at the kill" % sync)
        after_kill = [e for e in self.events if e[1] >= killed]
        statuses = {}
        for e in after_kill:
            statuses[e[3]] = statuses.get(e[3], 0) + 1
        unavailable = [e for e in after_kill if e[3] == 503]
        violations += ["a 503 without Retry-After on node %s" % e[2] for e in unavailable if not e[5]][:5]
        violations += ["a %s on node %s: %s" % (o[2], o[0], o[3]) for o in self.others][:20]
        violations += ["no answer within %d s from node %s (%s)" % (CLIENT_TIMEOUT, h[0], h[2]) for h in self.hangs][:20]
        down = {}
        for n in self.nodes:
            firsts = [e[1] for e in self.events if e[2] == n.name and e[3] == 201 and e[0] >= killed]
            if not firsts:
                violations.append("node %s never wrote again after the failover" % n.name)
                continue
            down[n.name] = (round(min(firsts) - killed, 1), round(min(firsts) - promoted, 1))
        slowest = max((e[4] for e in after_kill if e[0] < promoted + 10), default=0)
        f.update(acknowledged_before_kill=acked_before, acknowledged_total=len(self.acked),
                 found_after_promotion=len(self.acked) - len(missing), missing=len(missing), duplicates=len(dupes),
                 answers_after_kill=dict(sorted(statuses.items())), unavailable_503=len(unavailable),
                 promote_after_s=round(promoted - killed, 1),
                 node_unavailable_s_from_kill={k: v[0] for k, v in down.items()},
                 node_unavailable_s_from_promotion={k: v[1] for k, v in down.items()},
                 slowest_answer_during_switch_s=round(slowest, 1), hangs=len(self.hangs))
        return violations, f, time.time() - started

    def close(self, keep):
        for n in self.nodes:
            n.stop()
        if self.sink:
            self.sink.stop()
        for c in (self.primary, self.replica):
            if c:
                c.stop()
        if keep:
            print("kept the run's folder: " + self.workdir)
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=8, help="concurrent writers, each its own tenant")
    ap.add_argument("--before", type=float, default=20, help="seconds of load before the primary is killed")
    ap.add_argument("--promote-after", type=float, default=3, help="seconds between the kill and the promotion")
    ap.add_argument("--after", type=float, default=20, help="seconds of load after the promotion")
    ap.add_argument("--keep", action="store_true", help="keep the run's folder (clusters, logs) even when it passes")
    args = ap.parse_args()
    if not shutil.which("psql") or not os.path.isdir("/usr/lib/postgresql"):
        raise SystemExit("needs Debian's PostgreSQL server packages: apt-get install postgresql")
    drill = Drill(args)

    def summary(violations, f, took):
        return ("failover: %s in %.0f s — %s" % ("PASS" if not violations else "FAIL (%d violations)" % len(violations), took,
                                                 ", ".join("%s=%s" % kv for kv in f.items())))
    sys.exit(1 if run_and_report(drill, args.keep, summary) else 0)


if __name__ == "__main__":
    main()
