"""The clients' side of the reliability drivers: what each tenant's admins do (link setup, link
changes, payment instruments, purchases, replays of answered keys) and the ledger of what they
were told, which the invariant checks hold the database to."""
import threading

from common import log, until_final


OFFERS = ["sp-security", "sp-modern-work", "sp-infrastructure", "legacy-gold-benefits", "action-pack"]


class Ledger:
    """What clients were told with a 2xx, to hold the database to; and what a client saw that
    breaks the contract by itself."""

    def __init__(self):
        self.lock = threading.Lock()
        self.accounts, self.profiles, self.instruments, self.purchases = {}, {}, {}, {}
        self.links = set()       # (domain, account, profile, linked_at) answered with changed: true (a replay: the same)
        self.unanswered_links = []  # (domain, account, profile): a PUT whose answer was lost, found applied
        self.problems = []
        self.races = {}  # purchase id -> what it raced, for the reports

    def problem(self, msg):
        with self.lock:
            self.problems.append(msg)
        log("VIOLATION " + msg)


class Workload:
    """The requests of one tenant's admins: link setup, link changes (new profile, back to an earlier
    one), payment instruments, purchases, and replays of answered keys. `exclusive`: this thread is
    the only one changing the tenant's link, so a 412 can only mean its own lost request applied."""

    def __init__(self, pick, ledger, stats, rng, tag, exclusive=True, gate=None):
        self.pick, self.ledger, self.stats, self.rng, self.tag, self.exclusive = pick, ledger, stats, rng, tag, exclusive
        self.gate = gate
        self.n = 0
        self.nlock = threading.Lock()

    def key(self, kind):
        with self.nlock:
            self.n += 1
            return "%s-%s-%d" % (self.tag, kind, self.n)

    def go(self, t, kind, method, path, token, body=None, key=None, headers=None, pick=None):
        t.doing = kind
        try:
            return until_final(pick or self.pick, method, path, token, body, key, headers, self.stats, mark=t, gate=self.gate)
        finally:
            t.doing = None

    def refresh(self, t, pick=None):
        got = self.go(t, "read", "GET", "/partner-account", t.ga, pick=pick)
        assert got.status == 200, got
        t.etag, t.link = got.headers.get("etag"), got.body["billing_link"]
        return got

    def linked(self, t, got):
        b = got.body
        acct, prof = b["billing_account_id"], b["billing_profile_id"]
        with self.ledger.lock:
            self.ledger.accounts[acct] = t.domain
            self.ledger.profiles[prof] = t.domain
            if b["changed"]:
                self.ledger.links.add((t.domain, acct, prof, b["linked_at"]))
        t.etag, t.link = got.headers.get("etag"), {"billing_account_id": acct, "billing_profile_id": prof}
        t.pairs.add((acct, prof))

    def setup(self, t, pick=None, etag=None, key=None):
        self.n += 1
        name = key or "BA %d" % self.n  # the same key must come with the same body
        body = {"billing_account": {"new": {"display_name": name, "primary_contact": {"name": "Boss", "email": t.ga_email}}},
                "billing_profile": {"new": {"display_name": name}}, "accept_agreement": True,
                "accept_secondary_acknowledgement": t.country == "IT"}
        headers = {"If-Match": etag or t.etag} if t.link else None
        got = self.go(t, "setup", "POST", "/billing-link/setup", t.ga, body, key or self.key("setup"), headers, pick)
        if got.status == 200:
            self.linked(t, got)
        elif got.status in (412, 428) and not self.exclusive:
            self.refresh(t, pick)
        else:
            self.ledger.problem("%s setup: %r" % (t.domain, got))
        return got

    def put_link(self, t, acct, prof, pick=None, etag=None):
        body = {"billing_account_id": acct, "billing_profile_id": prof, "accept_agreement": True,
                "accept_secondary_acknowledgement": t.country == "IT"}
        got = self.go(t, "link_change", "PUT", "/billing-link", t.ga, body, headers={"If-Match": etag or t.etag}, pick=pick)
        if got.status == 200:
            self.linked(t, got)
        elif got.status == 412:
            self.refresh(t, pick)
            if self.exclusive and got.interrupted and t.link["billing_profile_id"] == prof:
                with self.ledger.lock:
                    self.ledger.unanswered_links.append((t.domain, acct, prof))
                t.pairs.add((acct, prof))
                self.stats.add("link_changes_applied_unanswered")
            elif self.exclusive:
                self.ledger.problem("%s PUT /billing-link: 412 though nobody else changed the link: %r" % (t.domain, got))
        else:
            self.ledger.problem("%s PUT /billing-link: %r" % (t.domain, got))
        return got

    def instrument(self, t, prof):
        got = self.go(t, "instrument", "POST", "/billing-profiles/%s/payment-instruments" % prof, t.ga,
                      {"kind": "card", "token": "tok_rel_%d" % self.rng.randrange(10**6), "display_hint": "Visa 4242"},
                      self.key("pi"))
        if got.status == 201:
            with self.ledger.lock:
                self.ledger.instruments[got.body["id"]] = t.domain
            t.funded.add(prof)
        else:
            self.ledger.problem("%s add instrument: %r" % (t.domain, got))

    def new_profile(self, t):
        acct = t.link["billing_account_id"]
        self.n += 1
        got = self.go(t, "profile", "POST", "/billing-accounts/%s/billing-profiles" % acct, t.ga, {"display_name": "BP %d" % self.n},
                      self.key("bp"))
        if got.status == 201:
            with self.ledger.lock:
                self.ledger.profiles[got.body["id"]] = t.domain
            return got.body["id"]
        if got.status == 409 and got.code == "unfunded_profile_exists":
            self.instrument(t, got.body["reuse_billing_profile_id"])
        else:
            self.ledger.problem("%s new profile: %r" % (t.domain, got))
        return None

    def purchase(self, t, key=None, pick=None, body=None):
        """Buys on the linked profile; `key=False`: without an Idempotency-Key."""
        prof = t.link["billing_profile_id"]
        if body is None:
            offer = self.rng.choice(OFFERS)
            body = {"offer_id": offer, "quantity": 1 if offer == "action-pack" else self.rng.randint(1, 3)}
            if prof not in t.funded:
                body["payment_instrument"] = {"kind": "card", "token": "tok_rel_%d" % self.rng.randrange(10**6), "display_hint": "Visa 1111"}
        key = self.key("buy") if key is None else key or None
        got = self.go(t, "purchase", "POST", "/purchases", t.mcpp, body, key, pick=pick)
        if got.status == 201:
            p = got.body
            with self.ledger.lock:
                self.ledger.purchases[p["id"]] = (t.domain, p)
                self.ledger.instruments[p["payment_instrument_id"]] = t.domain
            if self.exclusive and p["billing_profile_id"] != prof:
                self.ledger.problem("%s purchase billed to %s, not the linked %s" % (t.domain, p["billing_profile_id"], prof))
            t.funded.add(p["billing_profile_id"])
            if key:
                t.recent.append((key, body, p["id"]))
        elif got.status == 409 and got.code == "payment_instrument_required":
            t.funded.discard(prof)
        elif not (got.status == 409 and got.code == "already_owned"):
            self.ledger.problem("%s purchase: %r" % (t.domain, got))
        return got

    def replay(self, t):
        """A key answered before (since the clock last jumped: keys are kept 24 hours) answers the same."""
        key, body, pid = self.rng.choice(t.recent)
        epoch = t.epoch
        got = self.go(t, "purchase", "POST", "/purchases", t.mcpp, body, key)
        self.stats.add("replays")
        if epoch != t.epoch:  # the clock jumped a month meanwhile: the key had expired, this was a new request
            if got.status == 201:
                with self.ledger.lock:
                    self.ledger.purchases[got.body["id"]] = (t.domain, got.body)
                    self.ledger.instruments[got.body["payment_instrument_id"]] = t.domain
        elif got.status != 201 or got.body["id"] != pid or got.headers.get("idempotent-replayed") != "true":
            self.ledger.problem("%s replay of %s gave %r, not purchase %s" % (t.domain, key, got, pid))

    def step(self, t):
        if t.link is None:
            return self.setup(t)
        r = self.rng.random()
        if r < 0.5:
            return self.purchase(t)
        if r < 0.6 and t.recent:
            return self.replay(t)
        if r < 0.68:
            return self.instrument(t, t.link["billing_profile_id"])
        if r < 0.78:
            return self.setup(t)
        if r < 0.9:
            prof = self.new_profile(t)
            return self.put_link(t, t.link["billing_account_id"], prof) if prof else None
        others = sorted(p for p in t.pairs if p[1] != t.link["billing_profile_id"])
        if others:
            return self.put_link(t, *self.rng.choice(others))
        return self.purchase(t)


def tenant_tokens(node, tenants):
    for t in tenants:
        t.ga, t.mcpp = node.token(t.domain, t.ga_email), node.token(t.domain, t.mcpp_email)
        t.etag = t.link = t.doing = None
        t.epoch = 0  # months the clock jumped: answered keys are kept 24 hours
        t.sending = False
        t.pairs, t.funded, t.recent = set(), set(), []
