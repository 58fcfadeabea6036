#!/usr/bin/env python3
"""Crash suite (issue 12, item 2): SIGKILL the real `serve` at random moments while clients set up
and change billing links, buy, while months close (the test clock moved forward: the month close
inside serve races an operator's POST /invoice-runs) and while the outbox delivers email to a real
SMTP server; restart it each time. Clients retry every request until a final answer, POSTs with
the same Idempotency-Key (409 idempotency_key_in_use: the dead instance's claim lapses within
~10 s). Afterwards every invariant of invariants.py must hold, read from the database directly and
through the API.

  python3 tests/reliability/crash.py                      # quick: 20 rounds on SQLite
  python3 tests/reliability/crash.py --rounds 100 --postgres postgres://postgres@127.0.0.1:5432
  PB_BIN=/path/to/partner-billing python3 tests/reliability/crash.py --seed 7

The last line is the summary; the exit status is non-zero on any violation.
"""
import argparse
import random
import shutil
import sys
import tempfile
import threading
import time
import types
from collections import Counter
from datetime import datetime, timedelta, timezone

from common import Database, Gate, Node, Sink, Stats, run_and_report, log, next_month_start, period_of, provision, set_clock, until_final
from invariants import check_all
from workload import Ledger, Workload, tenant_tokens


class Run:
    def __init__(self, args, postgres):
        self.args, self.rng = args, random.Random(args.seed)
        self.workdir = tempfile.mkdtemp(prefix="reliability-crash-")  # not pb-*: other runs clear /tmp/pb-*
        self.db = Database(self.workdir, postgres)
        self.sink = Sink(self.workdir, delay_ms=20)  # widens the window between "server has it" and "marked sent"
        self.node = Node("serve", self.workdir, self.db.url, self.sink.url)
        self.gate, self.stats, self.ledger = Gate(), Stats(), Ledger()
        self.offset = timedelta(0)  # the test clock's lead over real time, set again after each restart
        self.kills, self.during, self.months, self.kill_times = 0, Counter(), [], []
        self.stop = threading.Event()
        self.invoice_thread = None
        self.unfinished_runs = 0
        self.operator = types.SimpleNamespace(sending=False)  # while the operator's run awaits its answer

    def now(self):
        return datetime.now(timezone.utc) + self.offset

    def start_node(self):
        self.node.start()
        self.node.wait_up()
        # A new process starts at real time: put its clock back where the dead one's was, before any
        # client may call it.
        set_clock(self.node.base, self.op, self.now(), at_least=True)
        self.gate.open(self.node.base)

    def outbox_pending(self):
        return int(self.db.scalar("SELECT COUNT(*) FROM email_outbox WHERE state <> 'sent'"))

    def drain_outbox(self, stall=30):
        """Waits until every email is sent, or nothing more went out for `stall` seconds (the sink
        answers each after 20 ms: a backlog of thousands takes minutes)."""
        pending, progress = self.outbox_pending(), time.time()
        while pending and time.time() - progress < stall:
            time.sleep(0.5)
            now = self.outbox_pending()
            if now < pending:
                progress = time.time()
            pending = now

    def worker(self, t, i):
        wl = Workload(self.gate.pick, self.ledger, self.stats, random.Random(self.args.seed * 1000 + i), "k%d" % i, gate=self.gate)
        while not self.stop.is_set():
            self.gate.enter()
            try:
                wl.step(t)
            except Exception as e:  # a client that cannot go on is a finding, not a crash of the driver
                self.ledger.problem("%s: client error %r" % (t.domain, e))
                time.sleep(1)
            finally:
                self.gate.leave()

    def invoice_run(self, period, delay):
        time.sleep(delay)  # sometimes before serve's own month close, sometimes into it, sometimes after
        got = until_final(self.gate.pick, "POST", "/invoice-runs", self.op, {"period": period}, "run-%s" % period, stats=self.stats,
                          mark=self.operator)
        if got.status != 200 or got.body["period"] != period:
            self.ledger.problem("POST /invoice-runs %s: %r" % (period, got))

    def next_month(self):
        """Jumps the clock past the month's end once no client action is under way (a client waiting
        out a dead instance's claim excepted), then closes the month: serve's month close and an
        operator's run race each other."""
        if self.invoice_thread:
            self.invoice_thread.join()
        if not self.gate.quiesce():
            log("no quiet moment for a month jump; skipped")
            return
        try:
            # The outbox is not drained first: one node sends its claimed emails one by one, so a
            # lease that lapses with the jump is never claimed again under it.
            period = period_of(self.now())
            # 57 s into the new month: serve closes the month just ended a minute after it began,
            # so its close starts about when the clients are let go again.
            to = next_month_start(self.now()) + timedelta(seconds=57)
            set_clock(self.node.base, self.op, to)
            self.offset = to - datetime.now(timezone.utc)
            for t in self.tenants:
                t.recent.clear()
                t.epoch += 1  # answered keys are kept 24 hours: a month later a key is new
            time.sleep(2.5)  # the node's last "alive" is a month old until its next heartbeat (2 s)
        finally:
            self.gate.release()
        self.months.append(period)
        self.invoice_thread = threading.Thread(target=self.invoice_run, args=(period, self.rng.uniform(0, 1.5)), daemon=True)
        self.invoice_thread.start()

    def kill(self):
        """SIGKILL, noting what was in flight: client requests awaiting an answer, a month close or
        invoice run started and not finished, emails not yet marked sent."""
        for t in self.tenants:
            if t.doing and t.sending:
                self.during[t.doing] += 1
        self.gate.close()
        closing = self.node.closing_month()
        self.node.kill()
        self.kill_times.append(time.time())
        self.kills += 1
        self.during["month_close"] += closing
        unfinished = int(self.db.scalar("SELECT COUNT(*) FROM invoice_runs WHERE finished_at IS NULL"))
        self.during["invoice_run"] += unfinished > self.unfinished_runs
        self.unfinished_runs = unfinished
        self.during["email_dispatch"] += self.outbox_pending() > 0
        self.start_node()

    def into_the_run(self):
        """After a month jump, waits until the month close or the operator's run has started, to kill
        inside it."""
        deadline = time.time() + 3
        while time.time() < deadline and not self.node.closing_month() and not self.operator.sending:
            time.sleep(0.002)
        time.sleep(self.rng.uniform(0, 0.04))

    def run(self):
        a = self.args
        started = time.time()
        self.node.start()
        self.node.wait_up()
        self.op = self.node.operator_token()
        self.gate.open(self.node.base)
        self.tenants = provision(self.gate.pick, self.op, "s%d" % a.seed, a.tenants, self.stats)
        tenant_tokens(self.node, self.tenants)
        workers = [threading.Thread(target=self.worker, args=(t, i), daemon=True) for i, t in enumerate(self.tenants)]
        for w in workers:
            w.start()
        for rnd in range(1, a.rounds + 1):
            if rnd % a.month_every == 0:
                self.next_month()
                self.into_the_run()
            else:
                time.sleep(self.rng.uniform(0.2, a.max_gap))
            self.kill()
            if rnd % 10 == 0:
                log("round %d/%d: %d acknowledged, %d kills, in flight at kills %s" % (rnd, a.rounds, self.stats.get("acknowledged"),
                                                                                    self.kills, dict(self.during)))
        self.stop.set()
        for w in workers:
            w.join(240)
        self.next_month()  # closes the last month: every charge must end on an invoice
        self.invoice_thread.join()
        self.drain_outbox()
        time.sleep(0.5)
        log("checking the invariants")
        violations, figures = check_all(self.db, self.ledger, self.tenants, self.sink, self.kills, self.gate.pick,
                                       kill_times=self.kill_times)
        return violations, figures, time.time() - started

    def close(self, keep):
        self.node.stop()
        self.sink.stop()
        self.db.drop()
        if keep:
            log("logs kept in " + self.workdir)
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=20, help="kills (default 20, the quick mode; the full mode is 100 or more)")
    p.add_argument("--postgres", help="PostgreSQL server URL; a fresh database pb_rel_* is made and dropped")
    p.add_argument("--seed", type=int, default=int(time.time()) % 100000)
    p.add_argument("--tenants", type=int, default=6, help="tenants, each with one client thread")
    p.add_argument("--month-every", type=int, default=5, help="every Nth kill follows a month jump")
    p.add_argument("--max-gap", type=float, default=1.2, help="longest pause in seconds between two kills")
    p.add_argument("--keep", action="store_true", help="keep the data folder and logs (SQLite: the database too)")
    a = p.parse_args()
    db_name = "postgresql" if a.postgres else "sqlite"
    log("crash suite on %s: %d rounds, seed %d" % (db_name, a.rounds, a.seed))
    run = Run(a, a.postgres)
    def summary(violations, figures, took):
        s = run.stats
        return ("crash %s: rounds=%d kills=%d months_closed=%d requests=%d acknowledged=%d retried_unanswered=%d "
                "key_in_use_waits=%d longest_key_in_use_s=%s server_errors=%d replays=%d during=%s figures=%s seconds=%.0f seed=%d "
                "violations=%d" % (db_name, a.rounds, run.kills, len(run.months), s.get("requests"), s.get("acknowledged"),
                                   s.get("unanswered"), s.get("in_use"), s.get("longest_key_in_use_s"), s.get("server_errors"),
                                   s.get("replays"), dict(run.during), figures, took, a.seed, len(violations)))

    violations = run_and_report(run, a.keep, summary)
    sys.exit(1 if violations else 0)


if __name__ == "__main__":
    main()
