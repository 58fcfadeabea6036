"""End-to-end: the web flows in Debian's Chromium against the real binary (`serve --demo`).

Usage: python3 tests/e2e/web_flows.py [--postgres postgres://USER@HOST:PORT] [--only NAME]
With --postgres every flow runs on its own new PostgreSQL database; without, on SQLite.
Screenshots of every step go to target/e2e/. Last line: 'N passed, M failed'.
"""
import json
import os
import shutil
import sys
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ beside the sources
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from webdriver import Driver  # noqa: E402
from harness import ROOT, Server  # noqa: E402
from commerce_flows import buy_and_invoice  # noqa: E402
from notification_flows import bell_phone, link_prompt  # noqa: E402

SHOTS = os.path.join(ROOT, "target", "e2e")

CONTOSO = "contoso.onmicrosoft.com"
FABRIKAM = "fabrikam.onmicrosoft.com"
NORTHWIND = "northwind.onmicrosoft.com"


class Flow:
    def __init__(self, name, srv, driver):
        self.name, self.srv, self.d, self.n = name, srv, driver, 0

    def shot(self, step):
        self.n += 1
        self.d.screenshot(os.path.join(SHOTS, "%s-%02d-%s.png" % (self.name, self.n, step)))

    def sign_in(self, email):
        self.d.get(self.srv.base + "/signin")
        self.d.click('button[data-email="%s"]' % email)
        self.d.wait_url("/account/billing-profile")
        self.d.wait("h1")

    def step(self, name):
        return self.d.wait('[data-step="%s"]' % name)

    def ga(self, domain=CONTOSO):
        return self.srv.token(domain, "admin@" + domain)


def check_dialog_a11y(f):
    role = f.d.js("var d=document.querySelector('#flyout [role=dialog]'); return d && d.getAttribute('aria-modal');")
    assert role == "true", "the flyout is a modal dialog"
    inside = f.d.js("return !!document.activeElement.closest('[role=dialog]');")
    assert inside, "focus moved into the dialog"
    unlabeled = f.d.js("""return Array.from(document.querySelectorAll('input:not([type=hidden])')).filter(function(i){
        return !(i.labels && i.labels.length) && !i.getAttribute('aria-label');}).map(function(i){return i.name||i.id;});""")
    assert unlabeled == [], "inputs without labels: %s" % unlabeled
    assert f.d.js("return document.querySelector('.sidenav').inert === true;"), "the page behind the dialog is inert"


def create_new(f, js=True):
    """Contoso: create a new billing account and profile and link them (rules N1-N9, M1)."""
    f.sign_in("admin@" + CONTOSO)
    # rule N2: the unlinked page says so; rule N1: it offers Start.
    assert "no billing accounts or profiles linked" in f.d.text('[data-testid="unlinked-banner"]')
    f.shot("unlinked")
    if js:
        f.d.js("window.__samePage = true;")
    f.d.click("#start")
    f.step("select-account")
    if js:
        check_dialog_a11y(f)
        assert f.d.js("return window.__samePage === true;"), "htmx opened the flyout without a page load"
        assert f.d.url().endswith("/account/billing-profile/select-account"), "the step has its own URL"
    f.shot("select-account")
    f.d.click("#create-account")
    f.step("new-account")
    assert f.d.prop("#soldto", "readOnly") is True, "sold-to is read-only"
    assert "1 Microsoft Way" in f.d.prop("#soldto", "value")
    assert f.d.prop("#company", "value") == "Contoso Ltd"
    f.shot("create-account")
    f.d.type("#display_name", "Contoso billing")
    f.d.type("#contact_email", "not-an-email")
    f.d.click('[data-step="new-account"] button[type=submit]')
    f.d.wait('[data-testid="contact_email-error"]')
    f.shot("create-account-error")
    f.d.type("#contact_email", "adele@contoso.example")
    f.d.click('[data-step="new-account"] button[type=submit]')
    f.step("select-profile")
    f.shot("select-profile-empty")
    f.d.click("#create-profile")
    f.step("new-profile")
    assert "Payment instrument: None" in f.d.text('[data-step="new-profile"]')
    f.shot("create-profile")
    f.d.type("#profile_name", "Contoso profile")
    f.d.click('[data-step="new-profile"] button[type=submit]')
    f.step("select-profile")
    f.d.click('[data-step="select-profile"] button[type=submit]')
    f.step("review")
    assert f.d.text('[data-testid="review-account"]') == "Contoso billing"
    assert f.d.text('[data-testid="review-profile"]').startswith("Contoso profile")
    assert f.d.prop("#accept_agreement", "disabled") is False
    assert not f.d.find_all("#accept_secondary"), "no Italian acknowledgement for a US sold-to"
    f.shot("review")
    f.d.click("#finish")
    f.d.wait('[data-testid="agreement-error"]')
    f.shot("review-agreement-required")
    f.d.click("#accept_agreement")
    f.d.click("#finish")
    f.d.wait('[data-testid="linked-banner"]')
    # rule N9: the page says it is linked and that the MCPP admin can go on to purchases.
    assert "MCPP admin can continue" in f.d.text('[data-testid="linked-banner"]')
    assert f.d.text('[data-testid="linked-account"]') == "Contoso billing"
    f.shot("linked")
    status, pa, _ = f.srv.api("GET", "/partner-account", f.ga())
    assert status == 200 and pa["billing_link"] is not None, pa
    _, bp, _ = f.srv.api("GET", "/billing-profiles/" + pa["billing_link"]["billing_profile_id"], f.ga())
    assert bp["display_name"] == "Contoso profile", bp
    _, ba, _ = f.srv.api("GET", "/billing-accounts/" + pa["billing_link"]["billing_account_id"], f.ga())
    assert ba["primary_contact"]["email"] == "adele@contoso.example", ba


def api_account(f, token, name, profiles, fund=(), link=None):
    """Creates an account with profiles through the API; funds the named ones; optionally links."""
    s, ba, _ = f.srv.api("POST", "/billing-accounts", token, {"display_name": name, "primary_contact": {"name": "Pat", "email": "pat@example.com"}})
    assert s == 201, ba
    ids = []
    for p in profiles:
        s, bp, _ = f.srv.api("POST", "/billing-accounts/%s/billing-profiles" % ba["id"], token, {"display_name": p})
        assert s == 201, bp
        ids.append(bp["id"])
        if p in fund:
            s, _, _ = f.srv.api("POST", "/billing-profiles/%s/payment-instruments" % bp["id"], token, {"kind": "card", "token": "tok", "display_hint": "Visa 4242"})
            assert s == 201
        if link == p:
            _, _, h = f.srv.api("GET", "/partner-account", token)
            s, r, _ = f.srv.api("PUT", "/billing-link", token, {"billing_account_id": ba["id"], "billing_profile_id": bp["id"], "accept_agreement": True},
                                headers={"If-Match": h.get("ETag") or h.get("etag")})
            assert s == 200, r
    return ba["id"], ids


def link_existing(f):
    """Select an existing account and profile, accept, finish (rules E1-E3)."""
    token = f.ga()
    ba, (bp,) = api_account(f, token, "Existing account", ["Existing profile"])
    f.sign_in("admin@" + CONTOSO)
    # From the keyboard this time.
    f.d.press_enter("#start")
    f.step("select-account")
    f.d.click("#acc-" + ba)
    f.d.js("document.querySelector('#flyout details').open = true;")
    assert "View details" in f.d.text('[data-step="select-account"]')
    f.shot("select-existing-account")
    f.d.click('[data-step="select-account"] button[type=submit]')
    f.step("select-profile")
    f.d.click("#bp-" + bp)
    f.d.click('[data-step="select-profile"] button[type=submit]')
    f.step("review")
    f.d.click("#accept_agreement")
    f.shot("review")
    f.d.click("#finish")
    f.d.wait('[data-testid="linked-banner"]')
    _, pa, _ = f.srv.api("GET", "/partner-account", token)
    assert pa["billing_link"]["billing_profile_id"] == bp, pa


def change_account(f):
    """Change billing account: another account, one of its profiles (rule C1)."""
    token = f.ga()
    api_account(f, token, "First account", ["First profile"], fund=("First profile",), link="First profile")
    ba2, (bp2,) = api_account(f, token, "Second account", ["Second profile"])
    f.sign_in("admin@" + CONTOSO)
    assert f.d.text('[data-testid="linked-account"]') == "First account"
    f.d.click('a[href="/account/billing-profile/select-account?change=account"]')
    f.step("select-account")
    f.d.click("#acc-" + ba2)
    f.d.click('[data-step="select-account"] button[type=submit]')
    f.step("select-profile")
    f.d.click('[data-step="select-profile"] button[type=submit]')
    f.step("review")
    assert "Earlier purchases" in f.d.text('[data-testid="effects"]')
    f.d.click("#accept_agreement")
    f.shot("review-change")
    f.d.click("#finish")
    f.d.wait('[data-testid="linked-banner"]')
    assert f.d.text('[data-testid="linked-account"]') == "Second account"
    assert "First account" in f.d.text("table"), "the history lists the earlier link"
    f.shot("changed")
    _, pa, _ = f.srv.api("GET", "/partner-account", token)
    assert pa["billing_link"]["billing_profile_id"] == bp2, pa
    _, h, _ = f.srv.api("GET", "/billing-link/history", token)
    assert len(h["items"]) == 2, h


def change_profile_agreement_already_accepted(f):
    """Change billing profile goes straight to profiles (C2); the agreement box is ticked and disabled (M1)."""
    token = f.ga()
    ba, (bp1, bp2) = api_account(f, token, "Main account", ["Profile one", "Profile two"], fund=("Profile one",), link="Profile one")
    f.sign_in("admin@" + CONTOSO)
    f.d.click('a[href="/account/billing-profile/select-profile?account=%s"]' % ba)
    f.step("select-profile")
    f.shot("select-profile")
    f.d.click("#bp-" + bp2)
    f.d.click('[data-step="select-profile"] button[type=submit]')
    f.step("review")
    assert f.d.prop("#accept_agreement", "checked") is True
    assert f.d.prop("#accept_agreement", "disabled") is True
    f.shot("review-already-accepted")
    f.d.click("#finish")
    f.d.wait('[data-testid="linked-banner"]')
    _, pa, _ = f.srv.api("GET", "/partner-account", token)
    assert pa["billing_link"]["billing_profile_id"] == bp2, pa


def reuse_rule(f):
    """An account with an unfunded profile: Create new is hidden and explained, the profile pre-selected (C3)."""
    token = f.ga()
    ba, (bp,) = api_account(f, token, "Unfunded account", ["Unfunded profile"])
    f.sign_in("admin@" + CONTOSO)
    f.d.get(f.srv.base + "/account/billing-profile/select-profile?account=" + ba)
    f.step("select-profile")
    assert "can't create another" in f.d.text('[data-testid="reuse-note"]')
    assert not f.d.find_all("#create-profile")
    assert f.d.prop("#bp-" + bp, "checked") is True
    f.shot("reuse")
    # Even a hand-made request to create one is refused by the same rule.
    f.d.get(f.srv.base + "/account/billing-profile/new-profile?account=" + ba)
    f.step("new-profile")
    f.d.type("#profile_name", "Another")
    f.d.click('[data-step="new-profile"] button[type=submit]')
    f.step("select-profile")
    assert "reuse it" in f.d.text('[data-step="select-profile"] .error')
    s, lst, _ = f.srv.api("GET", "/billing-accounts/%s/billing-profiles" % ba, token)
    assert len(lst["items"]) == 1, lst
    # Funding the profile (on its details page) lifts the rule; a card number is refused, not stored.
    f.d.get(f.srv.base + "/billing/profiles/" + bp)
    f.d.type("#token", "4242 4242 4242 4242")
    f.d.type("#display_hint", "Visa")
    f.d.click("#add-instrument")
    f.d.wait('[data-testid="token-error"]')
    assert f.d.prop("#token", "value") == "", "the card number is not echoed back"
    f.d.type("#token", "tok_from_processor")
    f.d.type("#display_hint", "Visa 4242")
    f.d.click("#add-instrument")
    f.d.wait('[data-testid="instrument-added"]')
    assert "Visa 4242" in f.d.text('[data-testid="instruments"]')
    f.shot("instrument-added")
    f.d.get(f.srv.base + "/account/billing-profile/select-profile?account=" + ba)
    f.d.wait("#create-profile")
    _, p, _ = f.srv.api("GET", "/billing-profiles/" + bp, token)
    assert p["payment_instrument_summary"] == "Visa 4242" and "4242 4242" not in json.dumps(p), p


def italy(f):
    """Fabrikam, sold-to in Italy: a second, separate acknowledgement (M2)."""
    f.sign_in("admin@" + FABRIKAM)
    f.d.click("#start")
    f.step("select-account")
    f.d.click("#create-account")
    f.step("new-account")
    assert "IT" in f.d.prop("#soldto", "value")
    f.d.click('[data-step="new-account"] button[type=submit]')
    f.step("select-profile")
    f.d.click("#create-profile")
    f.step("new-profile")
    f.d.type("#profile_name", "Profilo Fabrikam")
    f.d.click('[data-step="new-profile"] button[type=submit]')
    f.step("select-profile")
    f.d.click('[data-step="select-profile"] button[type=submit]')
    f.step("review")
    assert f.d.find_all("#accept_secondary"), "Italy asks for the second acknowledgement"
    f.shot("review-italy")
    f.d.click("#accept_agreement")
    f.d.click("#finish")
    f.d.wait('[data-testid="secondary-error"]')
    f.shot("review-italy-secondary-required")
    f.d.click("#accept_agreement")
    f.d.click("#accept_secondary")
    f.d.click("#finish")
    f.d.wait('[data-testid="linked-banner"]')
    _, log, _ = f.srv.api("GET", "/audit-log?action=agreement.secondary_acknowledge", f.ga(FABRIKAM))
    assert len(log["items"]) == 1, log


def not_admin(f):
    """A user without the Global admin role sees why they cannot link (A1)."""
    f.sign_in("user@" + CONTOSO)
    assert "Global administrator" in f.d.text('[data-testid="refusal"]')
    assert not f.d.find_all("#start"), "no Start for a non-admin"
    f.shot("refused")
    f.d.get(f.srv.base + "/account/billing-profile/select-account")
    f.step("refused")
    assert "Ask a Global administrator" in f.d.text('[data-step="refused"]')
    f.shot("refused-flyout")
    _, pa, _ = f.srv.api("GET", "/partner-account", f.ga())
    assert pa["billing_link"] is None


def pending_tenant(f):
    """Northwind's partner account is pending verification: linking is refused with the reason (P2)."""
    f.sign_in("admin@" + NORTHWIND)
    text = f.d.text('[data-testid="refusal"]')
    assert "pending verification" in text and "Active" in text, text
    assert not f.d.find_all("#start")
    f.shot("pending")
    f.d.get(f.srv.base + "/account/billing-profile/review?account=ba_0192c4a8e0a07b3e8f7a6e2d5c4b3a21&profile=bp_0192c4a8e0a07b3e8f7a6e2d5c4b3a21")
    f.step("refused")
    status, body, _ = f.srv.api("PUT", "/billing-link", f.ga(NORTHWIND), {"billing_account_id": "ba_0192c4a8e0a07b3e8f7a6e2d5c4b3a21",
                                                                         "billing_profile_id": "bp_0192c4a8e0a07b3e8f7a6e2d5c4b3a21", "accept_agreement": True})
    assert status == 409 and body["code"] == "partner_account_not_active", body


def legal_profile(f):
    """A legal profile change awaits verification; the verified profile stays in use (N3)."""
    f.sign_in("admin@" + CONTOSO)
    f.d.click('a[href="/account/legal-profile"]')
    f.d.wait('[data-testid="verified-soldto"]')
    f.d.type("#country", "XX")
    f.d.click("#submit-legal")
    f.d.wait('[data-testid="country-error"]')
    f.d.type("#address_line1", "Via Roma 1")
    f.d.type("#city", "Milano")
    f.d.type("#region", "MI")
    f.d.type("#postal_code", "20121")
    f.d.type("#country", "IT")
    f.d.click("#submit-legal")
    f.d.wait('[data-testid="legal-submitted"]')
    assert "Via Roma 1" in f.d.text('[data-testid="pending-change"]')
    assert "1 Microsoft Way" in f.d.text('[data-testid="verified-soldto"]')
    f.shot("legal-pending")
    _, pa, _ = f.srv.api("GET", "/partner-account", f.ga())
    assert pa["legal_profile"]["sold_to"]["country"] == "US" and pa["pending_legal_profile"]["sold_to"]["country"] == "IT", pa


def sign_out_and_csrf(f):
    """Cookies are HttpOnly and SameSite=Lax; forms without the CSRF token are refused; sign-out ends the session."""
    f.sign_in("admin@" + CONTOSO)
    assert f.d.js("return document.cookie;") == "", "the session cookie is HttpOnly"
    status = f.d.js("""var r = new XMLHttpRequest(); r.open('POST', '/account/billing-profile/new-account', false);
        r.setRequestHeader('Content-Type', 'application/x-www-form-urlencoded');
        r.send('csrf=wrong&display_name=X&contact_name=&contact_email=&contact_phone='); return r.status;""")
    assert status == 403, status
    f.d.click("form[action='/signout'] button")
    f.d.wait("button[data-email]")
    f.d.get(f.srv.base + "/account/billing-profile")
    f.d.wait("button[data-email]")
    _, lst, _ = f.srv.api("GET", "/billing-accounts", f.ga())
    assert lst["items"] == [], "the forged form created nothing"


def phone_width(f):
    """The linked page and a flyout at a phone's width."""
    token = f.ga()
    api_account(f, token, "Phone account", ["Phone profile"], fund=("Phone profile",), link="Phone profile")
    f.sign_in("admin@" + CONTOSO)
    f.shot("linked-phone")
    f.d.click('a[href="/account/billing-profile/select-account?change=account"]')
    f.step("select-account")
    f.shot("select-account-phone")
    overflow = f.d.js("return document.documentElement.scrollWidth > window.innerWidth + 1;")
    assert not overflow, "no horizontal scrolling at phone width"
    f.d.get(f.srv.base + "/membership")
    f.d.click("#buy-open-sp-security")
    f.shot("membership-phone")
    assert not f.d.js("return document.documentElement.scrollWidth > window.innerWidth + 1;"), "the membership page fits a phone"


FLOWS = [
    ("create_new", create_new, {}),
    ("create_new_without_js", lambda f: create_new(f, js=False), {"javascript": False}),
    ("link_existing", link_existing, {}),
    ("change_account", change_account, {}),
    ("change_profile", change_profile_agreement_already_accepted, {}),
    ("reuse_rule", reuse_rule, {}),
    ("italy", italy, {}),
    ("not_admin", not_admin, {}),
    ("pending_tenant", pending_tenant, {}),
    ("legal_profile", legal_profile, {}),
    ("sign_out_and_csrf", sign_out_and_csrf, {}),
    ("link_prompt", link_prompt, {}),
    ("link_prompt_without_js", lambda f: link_prompt(f, js=False), {"javascript": False}),
    ("bell_phone", bell_phone, {"width": 390, "height": 844}),
    ("phone_width", phone_width, {"width": 390, "height": 844}),
    ("buy_and_invoice", lambda f: buy_and_invoice(f, create_new), {}),
]


def main():
    postgres = None
    only = None
    args = sys.argv[1:]
    if "--postgres" in args:
        postgres = args[args.index("--postgres") + 1]
    if "--only" in args:
        only = args[args.index("--only") + 1]
    global SHOTS
    SHOTS = os.path.join(SHOTS, "postgres" if postgres else "sqlite")
    shutil.rmtree(SHOTS, ignore_errors=True)
    os.makedirs(SHOTS, exist_ok=True)
    passed, failed = 0, []
    started = time.time()
    for name, fn, opts in FLOWS:
        if only and name != only:
            continue
        srv = Server(postgres)
        d = Driver(**opts)
        t0 = time.time()
        try:
            fn(Flow(name, srv, d))
            passed += 1
            print("PASS %s (%.1fs)" % (name, time.time() - t0))
        except Exception as e:
            failed.append(name)
            print("FAIL %s: %s" % (name, e))
            traceback.print_exc()
            try:
                d.screenshot(os.path.join(SHOTS, "%s-FAILED.png" % name))
            except Exception:
                pass
            srv.log.flush()
            print(open(os.path.join(srv.dir, "server.log"), "rb").read()[-1500:].decode(errors="replace"))
        finally:
            d.quit()
            srv.stop()
        sys.stdout.flush()
    print("browser suite on %s took %.1fs" % ("PostgreSQL" if postgres else "SQLite", time.time() - started))
    print("%d passed, %d failed" % (passed, len(failed)))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
