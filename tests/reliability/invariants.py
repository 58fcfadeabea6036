"""The invariants every reliability run ends on, read from the database directly (sqlite3 / psql),
from the SMTP sink and through the API. Each check returns violations as sentences; none is the goal.

- No half-made link: each link has its account, profile (with its one default section), the
  agreement acceptances it needed, its audit record, and its announcements (rules N8, M1-M3, U1, T2);
  each partner's links form one unbroken chain and its link version counts them (C4-C6).
- Every answered request's effect is there exactly once: the ids clients were given exist, and no
  account, profile, instrument, purchase or link exists that no client was told of (a duplicate or an
  orphan of a dead instance would show here).
- Each purchase is billed to the link in force when it was made (B2), with its audit record.
- Every charge is on exactly one line of its profile's invoice of its month; totals are the sums of
  lines; numbers run 1..N per year (B4, B5).
- Every in-product notification has its email, every email was sent, each Message-ID arrived once
  (at most one per kill twice) (T4).
"""
import json
import re
from collections import Counter, defaultdict

from common import call, period_of, ts


class Checker:
    def __init__(self, db, ledger, tenants):
        self.db, self.ledger, self.tenants = db, ledger, tenants
        self.v, self.b2_pids = [], set()
        self.figures = {}
        self.domain_of = dict(db.rows("SELECT id, domain FROM tenants"))
        self.ours = {d for d in self.domain_of.values() if d in {t.domain for t in tenants}}

    def fail(self, msg):
        self.v.append(msg)

    def rows(self, sql):
        return self.db.rows(sql)

    def audits(self, actions):
        got = defaultdict(int)
        q = ",".join("'%s'" % a for a in actions)
        for target, after in self.rows("SELECT target_id, after_state FROM audit_records WHERE action IN (%s)" % q):
            got[target] += 1
            if after and '"link_id"' in after:
                got["link:" + json.loads(after)["link_id"]] += 1
            if after and '"acceptance_id"' in after:
                got["acceptance:" + json.loads(after)["acceptance_id"]] += 1
        return got

    def known_equal(self, what, sql, ledger_map):
        """The database's ids of our tenants equal those clients were given."""
        in_db = {i for i, tid in self.rows(sql) if self.domain_of[tid] in self.ours}
        told = set(ledger_map)
        for i in sorted(told - in_db):
            self.fail("%s %s was answered 2xx but is not in the database" % (what, i))
        for i in sorted(in_db - told):
            self.fail("%s %s is in the database but no client was told of it (a duplicate or an orphan)" % (what, i))
        self.figures[what + "s"] = len(in_db)

    def links(self):
        accounts = {i: json.loads(s)["country"] for i, s in self.rows("SELECT id, sold_to FROM billing_accounts")}
        links = self.rows("SELECT id, tenant_id, partner_account_id, billing_account_id, billing_profile_id, linked_at, unlinked_at "
                          "FROM billing_links")
        by_partner = defaultdict(list)
        for row in links:
            by_partner[row[2]].append(row)
        versions = dict(self.rows("SELECT id, link_version FROM partner_accounts"))
        audit = self.audits(["billing_link.create", "billing_link.change"])
        accepted = {}
        for acc_id, acct, kind, at in self.rows("SELECT id, billing_account_id, kind, accepted_at FROM agreement_acceptances"):
            accepted[(acct, kind)] = ts(at)
        acc_audit = self.audits(["agreement.accept", "agreement.secondary_acknowledge"])
        for acc_id, in self.rows("SELECT id FROM agreement_acceptances"):
            if acc_audit["acceptance:" + acc_id] != 1:
                self.fail("acceptance %s has %d audit records" % (acc_id, acc_audit["acceptance:" + acc_id]))
        for partner, ls in by_partner.items():
            ls.sort(key=lambda r: ts(r[5]))
            if int(versions[partner]) != len(ls):
                self.fail("partner %s: link_version %s but %d links" % (partner, versions[partner], len(ls)))
            for a, b in zip(ls, ls[1:]):
                if a[6] is None or ts(a[6]) != ts(b[5]):
                    self.fail("partner %s: link %s ends at %s, the next begins at %s" % (partner, a[0], a[6], b[5]))
            if ls[-1][6] is not None:
                self.fail("partner %s: its latest link %s is closed" % (partner, ls[-1][0]))
            for lid, _, _, acct, _, linked_at, _ in ls:
                if audit["link:" + lid] != 1:
                    self.fail("link %s has %d audit records" % (lid, audit["link:" + lid]))
                needed = ["mca"] + (["mca_secondary"] if accounts[acct] == "IT" else [])
                for kind in needed:
                    if (acct, kind) not in accepted or accepted[(acct, kind)] > ts(linked_at):
                        self.fail("link %s: account %s has no %s acceptance before it" % (lid, acct, kind))
        # What clients were told, link by link and in count.
        in_db = Counter((self.domain_of[r[1]], r[4], ts(r[5])) for r in links)
        for domain, acct, prof, linked_at in self.ledger.links:
            if in_db[(domain, prof, ts(linked_at))] != 1:
                self.fail("%s: the answered link to %s at %s is in the database %d times" % (domain, prof, linked_at,
                                                                                           in_db[(domain, prof, ts(linked_at))]))
        per_domain = Counter(d for d, _, _ in in_db.elements() if d in self.ours)
        told = Counter(d for d, *_ in self.ledger.links) + Counter(d for d, *_ in self.ledger.unanswered_links)
        for d in self.ours:
            if per_domain[d] != told[d]:
                self.fail("%s: %d links in the database, %d answered (or found applied after a lost answer)" % (d, per_domain[d], told[d]))
        self.figures["links"] = len(links)

    def billing_objects(self):
        audit = self.audits(["billing_account.create", "billing_profile.create"])
        owners = Counter(s for s, in self.rows("SELECT scope_id FROM role_assignments WHERE role = 'owner'"))
        for acct, in self.rows("SELECT id FROM billing_accounts"):
            if audit[acct] != 1 or owners[acct] < 1:
                self.fail("billing account %s: %d create audits, %d owners" % (acct, audit[acct], owners[acct]))
        defaults = Counter(p for p, d in self.rows("SELECT billing_profile_id, is_default FROM invoice_sections") if d in ("1", "t"))
        for prof, in self.rows("SELECT id FROM billing_profiles"):
            if audit[prof] != 1 or defaults[prof] != 1:
                self.fail("billing profile %s: %d create audits, %d default sections" % (prof, audit[prof], defaults[prof]))
        self.known_equal("billing account", "SELECT id, tenant_id FROM billing_accounts", self.ledger.accounts)
        self.known_equal("billing profile", "SELECT id, tenant_id FROM billing_profiles", self.ledger.profiles)
        self.known_equal("payment instrument", "SELECT id, tenant_id FROM payment_instruments", self.ledger.instruments)

    def purchases(self):
        links = {r[0]: r for r in self.rows("SELECT id, partner_account_id, billing_account_id, billing_profile_id, linked_at, "
                                            "unlinked_at FROM billing_links")}
        sections = dict(self.rows("SELECT id, billing_profile_id FROM invoice_sections"))
        audit = self.audits(["purchase.create"])
        self.purchase_rows = self.rows(
            "SELECT id, tenant_id, partner_account_id, billing_link_id, billing_account_id, billing_profile_id, invoice_section_id, "
            "quantity, unit_price_minor, amount_minor, purchased_at, offer_id FROM purchases")
        for pid, tid, partner, lid, acct, prof, sec, qty, unit, amount, at, offer in self.purchase_rows:
            link = links.get(lid)
            if link is None:
                self.fail("purchase %s names no link (%s)" % (pid, lid))
                continue
            if link[1] != partner or (link[2], link[3]) != (acct, prof):
                self.fail("purchase %s is billed to %s %s, its link %s says %s %s" % (pid, acct, prof, lid, link[2], link[3]))
            early = (ts(link[4]) - ts(at)).total_seconds()
            late = (ts(at) - ts(link[5])).total_seconds() if link[5] else -1
            if early > 0 or late >= 0:
                msg = "purchase %s at %s is billed to link %s (%s .. %s), %.1f ms %s it was in force (rule B2; %s)" % (
                    pid, at, lid, link[4], link[5], max(early, late) * 1000, "before" if early > 0 else "after",
                    self.ledger.races.get(pid, "no race"))
                self.v.append(msg)
                self.b2_pids.add(pid)
            if sections.get(sec) != prof or int(qty) * int(unit) != int(amount) or audit[pid] != 1:
                self.fail("purchase %s: section %s, %s x %s = %s, %d audits" % (pid, sec, qty, unit, amount, audit[pid]))
            told = self.ledger.purchases.get(pid)
            if told and (told[1]["billing_profile_id"], told[1]["amount"]["amount_minor"], told[1]["offer_id"]) != (prof, int(amount), offer):
                self.fail("purchase %s: answered %s, stored %s %s %s" % (pid, told[1], prof, amount, offer))
        self.known_equal("purchase", "SELECT id, tenant_id FROM purchases", self.ledger.purchases)

    def invoices(self):
        inv = {r[0]: r for r in self.rows("SELECT id, billing_profile_id, period, number_year, number_seq FROM invoices")}
        lines = {r[0]: r for r in self.rows("SELECT purchase_id, invoice_id, invoice_section_id, quantity, unit_price_minor, amount_minor "
                                            "FROM invoice_lines")}
        per_invoice = Counter(r[1] for r in lines.values())
        for pid, tid, partner, lid, acct, prof, sec, qty, unit, amount, at, offer in self.purchase_rows:
            line = lines.get(pid)
            if line is None:
                self.fail("charge %s (%s, %s) is on no invoice" % (pid, prof, at))
                continue
            i = inv.get(line[1])
            if i is None or i[1] != prof or i[2] != period_of(ts(at)) or line[2:] != (sec, qty, unit, amount):
                self.fail("charge %s of %s at %s is on line %s of invoice %s" % (pid, prof, at, line, i))
        seen = Counter((r[1], r[2]) for r in inv.values())
        audit = self.audits(["invoice.issue"])
        for iid, prof, period, year, seq in inv.values():
            if per_invoice[iid] == 0 or seen[(prof, period)] != 1 or audit[iid] != 1:
                self.fail("invoice %s: %d lines, %d invoices of %s %s, %d audits" % (iid, per_invoice[iid], seen[(prof, period)], prof,
                                                                                     period, audit[iid]))
        by_year = defaultdict(list)
        for r in inv.values():
            by_year[r[3]].append(int(r[4]))
        for year, seqs in by_year.items():
            if sorted(seqs) != list(range(1, len(seqs) + 1)):
                self.fail("invoice numbers of %s are not 1..%d: %s" % (year, len(seqs), sorted(seqs)))
        runs = {p for p, in self.rows("SELECT period FROM invoice_runs WHERE finished_at IS NOT NULL")}
        for p in sorted({period_of(ts(r[10])) for r in self.purchase_rows} - runs):
            self.fail("period %s has charges and no finished invoice run" % p)
        self.invoice_rows, self.line_rows = inv, lines
        self.figures.update(invoices=len(inv), lines=len(lines))

    def notifications(self):
        """Every notification of a user with an email has its outbox email: same tenant, link, instant."""
        note = Counter(self.rows("SELECT n.tenant_id, n.action_url, n.created_at FROM notifications n JOIN users u ON u.id = n.user_id "
                                 "WHERE u.email LIKE '%@%'"))
        mail = Counter(self.rows("SELECT tenant_id, action_url, created_at FROM email_outbox"))
        for k in sorted((note - mail) + (mail - note)):
            self.fail("notifications and emails disagree at %s: %d notifications, %d emails" % (k, note[k], mail[k]))
        admins = Counter(t for t, in self.rows(
            "SELECT u.tenant_id FROM users u WHERE EXISTS (SELECT 1 FROM user_directory_roles d WHERE d.user_id = u.id) "
            "OR EXISTS (SELECT 1 FROM user_partner_roles p WHERE p.user_id = u.id AND p.role = 'mcpp_admin')"))
        kinds = Counter(self.rows("SELECT tenant_id, kind FROM notifications"))
        events = Counter((r[1], "purchase") for r in self.purchase_rows)
        events.update((t, "billing_link") for t, in self.rows("SELECT tenant_id FROM billing_links"))
        for (tid, kind), n in events.items():
            if kinds[(tid, kind)] != n * admins[tid]:
                self.fail("%s: %d %s notifications for %d events and %d admins" % (self.domain_of[tid], kinds[(tid, kind)], kind, n,
                                                                                  admins[tid]))

    def emails(self, sink, max_resent, kill_times=()):
        states = Counter(s for s, in self.rows("SELECT state FROM email_outbox"))
        if set(states) - {"sent"}:
            self.fail("outbox not delivered: %s" % dict(states))
        ids = {i for i, in self.rows("SELECT id FROM email_outbox")}
        got, arrived = Counter(), defaultdict(list)
        for m in sink.received():
            mid = re.fullmatch(r"<(em_[0-9a-f]+)@[^>]+>", m["message_id"])
            got[mid.group(1) if mid else m["message_id"]] += 1
            arrived[mid.group(1) if mid else m["message_id"]].append(m["at"])
        for i in sorted(set(got) - ids):
            self.fail("the sink got %s, which is in no outbox row" % i)
        for i in sorted(ids - set(got)):
            self.fail("email %s never arrived" % i)
        twice = {i: n for i, n in got.items() if n > 1}
        extra = sum(n - 1 for n in twice.values())
        if extra > max_resent:
            self.fail("%d emails arrived %d times too many (at most %d: one per kill): %s" % (len(twice), extra, max_resent, twice))
        if kill_times:  # each arrival again follows a kill that caught the one before in flight; one email per kill
            kills, per_kill = sorted(kill_times), Counter()
            for i in twice:
                ats = sorted(arrived[i])
                for before, again in zip(ats, ats[1:]):
                    kill = next((k for k in kills if k >= before), None)
                    per_kill[kill] += 1
                    if kill is None or again < kill:
                        self.fail("email %s arrived again (%.3f, %.3f) with no kill between" % (i, before, again))
            for k, n in per_kill.items():
                if k is not None and n > 1:
                    self.fail("%d emails were in flight at the kill at %.3f" % (n, k))
        self.figures.update(emails=len(ids), emails_resent=len(twice))

    def api(self, pick, tenants):
        """The same through the API: the link in force, history, purchases and invoice totals."""
        ours = {t.domain: t for t in tenants}
        open_links = {self.domain_of[r[0]]: r[1] for r in self.rows("SELECT tenant_id, billing_profile_id FROM billing_links "
                                                                    "WHERE unlinked_at IS NULL")}
        counts = Counter(self.domain_of[t] for t, in self.rows("SELECT tenant_id FROM billing_links"))
        for d, t in ours.items():
            _, pa, _ = call(pick(), "GET", "/partner-account", t.ga)
            if (pa["billing_link"] or {}).get("billing_profile_id") != open_links.get(d):
                self.fail("%s: the API shows link %s, the database %s" % (d, pa["billing_link"], open_links.get(d)))
            _, hist, _ = call(pick(), "GET", "/billing-link/history", t.ga)
            if len(hist.get("items", ())) != counts[d]:
                self.fail("%s: history lists %d links, the database has %d" % (d, len(hist["items"]), counts[d]))
        for pid, (d, told) in sorted(self.ledger.purchases.items()):
            status, p, _ = call(pick(), "GET", "/purchases/" + pid, ours[d].mcpp)
            line = self.line_rows.get(pid)
            if status != 200 or p["amount"] != told["amount"] or p["invoice_id"] != (line[1] if line else None):
                self.fail("GET /purchases/%s: %s %s" % (pid, status, p))
            elif int(pid[-2:], 16) % 8 == 0 and pid not in self.b2_pids:  # a sample: the history says the same link was in force then (B2)
                _, h, _ = call(pick(), "GET", "/billing-link/history?at=" + p["purchased_at"], ours[d].ga)
                if [x["billing_profile_id"] for x in h.get("items", ())] != [p["billing_profile_id"]]:
                    self.fail("history at %s (purchase %s) shows %s" % (p["purchased_at"], pid, h))
        owner = {t_id: ours[d] for t_id, d in self.domain_of.items() if d in ours}
        tenant_of = dict(self.rows("SELECT id, tenant_id FROM invoices"))
        for iid, (_, prof, period, year, seq) in sorted(self.invoice_rows.items()):
            t = owner.get(tenant_of[iid])
            if t is None:
                continue
            status, body, _ = call(pick(), "GET", "/invoices/" + iid, t.ga)
            if status != 200:
                self.fail("GET /invoices/%s: %s %s" % (iid, status, body))
                continue
            lines = [ln for s in body["sections"] for ln in s["lines"]]
            subtotal_ok = all(s["subtotal"]["amount_minor"] == sum(ln["amount"]["amount_minor"] for ln in s["lines"]) for s in body["sections"])
            db_sum = sum(int(r[5]) for r in self.line_rows.values() if r[1] == iid)
            if not subtotal_ok or body["total"]["amount_minor"] != db_sum or sum(ln["amount"]["amount_minor"] for ln in lines) != db_sum \
                    or sorted(ln["purchase_id"] for ln in lines) != sorted(k for k, r in self.line_rows.items() if r[1] == iid) \
                    or body["number"] != "PB-%s-%06d" % (year, int(seq)):
                self.fail("invoice %s: total %s, lines %d, DB sum %d, number %s" % (iid, body["total"], len(lines), db_sum, body["number"]))


def check_all(db, ledger, tenants, sink, max_resent, pick=None, kill_times=()):
    """Runs every check; returns (violations, figures). `pick` given: the API checks too."""
    c = Checker(db, ledger, tenants)
    c.v.extend(ledger.problems)
    for step in (c.links, c.billing_objects, c.purchases, c.invoices, c.notifications):
        step()
    c.emails(sink, max_resent, kill_times)
    if pick:
        c.api(pick, tenants)
    return c.v, c.figures
