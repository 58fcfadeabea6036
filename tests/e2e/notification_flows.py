"""Browser flows of the bell and the notifications page (rules N1, T1): the link prompt in the bell's
dropdown, its action to the billing profile page, "Mark read" and "Mark all read"; reading never
marks anything read. Run through web_flows.py, which starts the server and the browser."""
import time

CONTOSO = "contoso.onmicrosoft.com"
PROMPT = "Link a billing account and profile"
BELL = "details.bellmenu"


def badge(f):
    """The number on the bell, or None without a badge (read in one go: the page may be changing)."""
    return f.d.js("var b = document.querySelector('[data-testid=unread]'); return b && b.textContent;")


def wait_badge(f, expected, timeout=10):
    """Waits for the page after a form's 303 to show `expected` on the bell."""
    deadline = time.time() + timeout
    while time.time() < deadline and badge(f) != expected:
        time.sleep(0.1)
    assert badge(f) == expected, "the badge shows %r, not %r" % (badge(f), expected)


def bell_is_open(f):
    return f.d.prop(BELL, "open") is True


def open_bell(f, keyboard=False):
    if keyboard:
        f.d.press_enter(BELL + " > summary")
    else:
        f.d.click(BELL + " > summary")
    f.d.wait(BELL + "[open] .bellpanel")


def panel_fits_and_is_on_top(f):
    """The dropdown lies inside the window, and nothing of the page covers it."""
    return f.d.js("""var p = document.querySelector('details.bellmenu[open] .bellpanel'); if (!p) return 'closed';
        var r = p.getBoundingClientRect();
        if (r.left < 0 || r.right > window.innerWidth + 1) return 'outside the window: ' + r.left + '..' + r.right;
        var hit = document.elementFromPoint(r.left + r.width / 2, r.top + Math.min(r.height / 2, 40));
        if (!p.contains(hit)) return 'covered by ' + (hit && hit.outerHTML.slice(0, 80));
        if (document.documentElement.scrollWidth > window.innerWidth + 1) return 'the page scrolls sideways';
        return 'ok';""")


def prompt_again(f):
    """An operator suspends Contoso's partner account and makes it active again: back to Active and
    unlinked, its global admins are prompted to link again (rule T1)."""
    op = f.srv.operator_token()
    _, tenants, _ = f.srv.api("GET", "/tenants", op)
    tid = next(t["id"] for t in tenants["items"] if t["domain"] == CONTOSO)
    for state in ("suspended", "active"):
        status, body, _ = f.srv.api("PATCH", "/tenants/%s/partner-account" % tid, op, {"state": state})
        assert status == 200, body


def link_prompt(f, js=True):
    """Rule N1: the prompt to link is in the bell, its action opens the billing profile page, and only
    Mark read / Mark all read change what is read; opening pages changes nothing."""
    prompt_again(f)
    f.sign_in("admin@" + CONTOSO)
    assert badge(f) == "2", "the seeded prompt and the new one"
    # From another page, the bell opened from the keyboard.
    f.d.click('.sidenav a[href="/membership"]')
    f.d.wait_url("/membership")
    open_bell(f, keyboard=True)
    items = f.d.find_all('[data-testid="bell-item"]')
    assert len(items) == 2, "the newest notifications"
    assert PROMPT in f.d.text('[data-testid="bell-item"]')
    assert len(f.d.find_all('[data-testid="bell-item"] .dot')) == 2, "unread ones are marked"
    assert f.d.js("return document.querySelector('[data-testid=bell-item]').textContent.indexOf('Unread:') >= 0;"), "and said so"
    assert panel_fits_and_is_on_top(f) == "ok", panel_fits_and_is_on_top(f)
    f.shot("bell-open")
    if js:
        # Tab goes into the dropdown; Escape closes it and gives focus back to the bell.
        f.d.press(BELL + " > summary", "\ue004")
        assert f.d.js("return document.activeElement.matches('[data-testid=bell-item] a');"), "Tab reaches the first item"
        f.d.press('[data-testid="bell-item"] a', "\ue00c")
        assert not bell_is_open(f), "Escape closes the dropdown"
        assert f.d.js("return document.activeElement.matches('details.bellmenu > summary');"), "focus back on the bell"
        open_bell(f)
    # Rule N1: the prompt's action opens the billing profile page; reading it marks nothing.
    f.d.click('[data-testid="bell-item"] a[href="/account/billing-profile"]')
    f.d.wait_url("/account/billing-profile")
    f.d.wait("#start")
    assert badge(f) == "2", "following the action marks nothing read"
    f.shot("prompt-opened")
    open_bell(f)
    f.d.click('[data-testid="bell-item"] form[action$="/read"] button')
    wait_badge(f, "1")  # Mark read took one off, and the 303 came back to this page
    assert f.d.url().endswith("/account/billing-profile")
    f.d.wait("#start")
    assert not bell_is_open(f)
    f.shot("marked-read")
    if js:
        # A flyout opened while the dropdown is open covers it, and the dropdown closes.
        open_bell(f)
        f.d.click("#start")
        f.step("select-account")
        assert not bell_is_open(f), "the dropdown closed"
        f.d.get(f.srv.base + "/account/billing-profile")
    open_bell(f)
    f.d.click(BELL + ' a[href="/notifications"]')
    f.d.wait_url("/notifications")
    f.d.wait('[data-testid="notification"]')
    assert len(f.d.find_all('[data-testid="notification"]')) == 2
    assert len(f.d.find_all('[data-testid="notification"].unread')) == 1, "one read, one unread"
    assert "1 unread notification." in f.d.text('[data-testid="unread-summary"]')
    f.shot("notifications-page")
    f.d.get(f.srv.base + "/notifications")
    f.d.wait('[data-testid="notification"]')
    assert badge(f) == "1", "opening the page again marks nothing read"
    f.d.click("#mark-all-read")
    wait_badge(f, None)
    assert f.d.url().endswith("/notifications")
    assert "You have no unread notifications." in f.d.text('[data-testid="unread-summary"]')
    assert not f.d.find_all('[data-testid="notification"].unread')
    f.shot("all-read")
    status, body, _ = f.srv.api("GET", "/notifications", f.ga())
    assert status == 200 and len(body["items"]) == 2 and all(n["read_at"] for n in body["items"]), body


def bell_phone(f):
    """The bell's dropdown at a phone's width: inside the window, over the page, no sideways scroll."""
    f.sign_in("admin@" + CONTOSO)
    open_bell(f)
    assert panel_fits_and_is_on_top(f) == "ok", panel_fits_and_is_on_top(f)
    f.shot("bell-phone")
