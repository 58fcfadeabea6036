#!/usr/bin/env python3
"""Reproductions of the bugs the reliability suite found (issue 12), each against the real binary on
a fresh PostgreSQL database. Each prints what happened and BUG or FIXED; the exit status is the
number of bugs still there.

  python3 tests/reliability/repro_bugs.py [--postgres URL] [b2 idem-skew offers users ...]

b2         a purchase is billed to a link that began after its purchased_at (rule B2): purchases and
           link changes take their time before the partner account's lock orders them.
idem-skew  one Idempotency-Key, two purchases: a node whose clock runs 10 s ahead of another's (or
           whose heartbeat is 10 s late) takes over a live claim, and both executions commit.
offers     PUT /offers/{new id} twice at once: one answers 500 (check-then-insert on the key).
users      POST /tenants/{tid}/users twice at once with one email: two users, no 409 user_email_taken.
"""
import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone

from common import Database, Node, Sink, call, set_clock

CONTOSO = "contoso.onmicrosoft.com"
SETUP = {"billing_account": {"new": {"display_name": "A", "primary_contact": {"name": "Adele", "email": "admin@" + CONTOSO}}},
         "billing_profile": {"new": {"display_name": "P1"}}, "accept_agreement": True}
BUY = {"offer_id": "sp-security", "quantity": 1, "payment_instrument": {"kind": "card", "token": "tok_x", "display_hint": "Visa"}}


def lock_offers(db, seconds):
    """psql holds `offers` locked: a purchase, already stamped with its time, waits there."""
    p = subprocess.Popen(["psql", db.url, "-qAtc", "BEGIN; LOCK TABLE offers IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(%s); COMMIT;" % seconds],
                         stdout=subprocess.DEVNULL)
    time.sleep(0.3)
    return p


def at_once(*fns):
    out, bar = [None] * len(fns), threading.Barrier(len(fns))

    def run(i):
        bar.wait()
        out[i] = fns[i]()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(fns))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return out


def b2(db, a, b):
    ga, mc = a.token(CONTOSO, "admin@" + CONTOSO), a.token(CONTOSO, "mcpp@" + CONTOSO)
    _, s, _ = call(a.base, "POST", "/billing-link/setup", ga, SETUP)
    acct, p1 = s["billing_account_id"], s["billing_profile_id"]
    call(a.base, "POST", "/billing-profiles/%s/payment-instruments" % p1, ga, {"kind": "card", "token": "tok_a", "display_hint": "Visa"})
    _, p2, _ = call(a.base, "POST", "/billing-accounts/%s/billing-profiles" % acct, ga, {"display_name": "P2"})
    locker = lock_offers(db, 3)
    out = {}
    buyer = threading.Thread(target=lambda: out.setdefault("buy", call(a.base, "POST", "/purchases", mc, BUY)))
    buyer.start()
    time.sleep(0.5)
    _, _, h = call(a.base, "GET", "/partner-account", ga)
    _, link, _ = call(a.base, "PUT", "/billing-link", ga, {"billing_account_id": acct, "billing_profile_id": p2["id"]}, {"If-Match": h["etag"]})
    buyer.join()
    locker.wait()
    _, p, _ = out["buy"]
    _, hist, _ = call(a.base, "GET", "/billing-link/history?at=" + p["purchased_at"], ga)
    print("  link to %s made at %s; purchase at %s billed to %s; history at that instant: %s" % (
        link["billing_profile_id"], link["linked_at"], p["purchased_at"], p["billing_profile_id"], hist["items"][0]["billing_profile_id"]))
    return p["billing_profile_id"] != hist["items"][0]["billing_profile_id"]


def idem_skew(db, a, b):
    ga, mc, op = a.token(CONTOSO, "admin@" + CONTOSO), a.token(CONTOSO, "mcpp@" + CONTOSO), a.operator_token()
    call(a.base, "POST", "/billing-link/setup", ga, SETUP)
    set_clock(b.base, op, datetime.now(timezone.utc) + timedelta(seconds=15))  # node b's clock runs 15 s ahead
    locker = lock_offers(db, 3)
    out = {}
    first = threading.Thread(target=lambda: out.setdefault("a", call(a.base, "POST", "/purchases", mc, BUY, {"Idempotency-Key": "k1"})))
    first.start()
    time.sleep(0.3)  # node a has claimed the key and waits on the lock
    out["b"] = call(b.base, "POST", "/purchases", mc, BUY, {"Idempotency-Key": "k1"})
    first.join()
    locker.wait()
    ids = db.rows("SELECT id FROM purchases")
    print("  node a: %s %s; node b: %s %s; purchases: %d" % (out["a"][0], out["a"][1].get("id"), out["b"][0],
                                                            out["b"][1].get("id") or out["b"][1].get("code"), len(ids)))
    return len(ids) > 1


def offers(db, a, b):
    op = a.operator_token()
    body = {"name": "Race", "kind": "designation", "term_months": 12, "prices": [{"amount_minor": 100, "currency": "USD"}]}
    got = [sorted(r[0] for r in at_once(lambda: call(a.base, "PUT", "/offers/race-%d" % i, op, body),
                                        lambda: call(b.base, "PUT", "/offers/race-%d" % i, op, body))) for i in range(5)]
    print("  statuses of 5 pairs: %s" % got)
    return any(s >= 500 for pair in got for s in pair)


def users(db, a, b):
    op = a.operator_token()
    _, t, _ = call(a.base, "POST", "/tenants", op, {"name": "R", "domain": "race.example"})

    def add(node, i):
        return call(node.base, "POST", "/tenants/%s/users" % t["id"], op,
                    {"email": "u%d@race.example" % i, "display_name": "U", "directory_roles": [], "partner_roles": []})
    got = [sorted(r[0] for r in at_once(lambda: add(a, i), lambda: add(b, i))) for i in range(5)]
    twice = db.rows("SELECT email FROM users WHERE email LIKE '%@race.example' GROUP BY email HAVING COUNT(*) > 1")
    print("  statuses of 5 pairs: %s; emails held by two users: %d" % (got, len(twice)))
    return bool(twice)


def main():
    cases = {"b2": b2, "idem-skew": idem_skew, "offers": offers, "users": users}
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    p.add_argument("cases", nargs="*", default=list(cases), help=" ".join(cases))
    a = p.parse_args()
    bugs = 0
    for name in a.cases:
        work = tempfile.mkdtemp(prefix="reliability-repro-")
        db, sink = Database(work, a.postgres), Sink(work)
        nodes = [Node(n, work, db.url, sink.url) for n in ("a", "b")]
        try:
            for n in nodes:
                n.start()
                n.wait_up()
            print("%s:" % name)
            bug = cases[name](db, *nodes)
            print("  " + ("BUG" if bug else "FIXED"))
            bugs += bug
        finally:
            for n in nodes:
                n.stop()
            sink.stop()
            db.drop()
            shutil.rmtree(work, ignore_errors=True)
    sys.exit(bugs)


if __name__ == "__main__":
    main()
