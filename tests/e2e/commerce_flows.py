"""Browser flows of commerce: the Membership page's purchase, the month's close and the invoice pages
(rules A5, B2-B5). Run through web_flows.py, which starts the server and the browser."""
import datetime

CONTOSO = "contoso.onmicrosoft.com"


def first_of_next_month(now):
    return datetime.datetime(now.year + (now.month == 12), now.month % 12 + 1, 1, tzinfo=datetime.timezone.utc)


def buy_and_invoice(f, link):
    """Link, then the MCPP admin buys on the Membership page (A5, B2, B3); the month closes (B4) and
    the global admin opens the invoice, its PDF and the spend chart (B5)."""
    link(f)
    f.sign_in("mcpp@" + CONTOSO)
    f.d.click('.sidenav a[href="/membership"]')
    f.d.wait('[data-testid="purchase-ready"]')
    # The MCPP admin holds no billing role on the profile, yet sees what it buys into (rule A5).
    assert not f.d.find_all('[data-testid="linked-unreadable"]')
    assert "1,250.00 USD" in f.d.text('[data-testid="price-sp-security"]')
    f.shot("membership")
    offer = "sp-security"
    f.d.click("#buy-open-" + offer)
    f.d.type("#quantity-" + offer, "2")
    f.d.select("#payment-" + offer, "new")
    f.d.type("#token-" + offer, "4242 4242 4242 4242")
    f.d.type("#display_hint-" + offer, "Visa")
    f.d.click("#buy-" + offer)
    f.d.wait('[data-testid="token-error"]')
    assert "4242 4242" not in f.d.js("return document.documentElement.outerHTML;"), "the card number is not echoed back"
    assert f.d.text('[data-testid="purchase-refused"]'), "the refusal is said at the top"
    f.d.click('[data-testid="purchase-refused"] a[href="#offer-%s"]' % offer)
    f.shot("buy-card-number-refused")
    f.d.select("#payment-" + offer, "new")
    f.d.type("#token-" + offer, "tok_from_processor")
    f.d.type("#display_hint-" + offer, "Visa 4242")
    f.d.click("#buy-" + offer)
    f.d.wait('[data-testid="purchase-made"]')
    made = f.d.text('[data-testid="purchase-made"]')
    assert "2 × Solutions Partner for Security for 2,500.00 USD" in made, made
    assert "Not yet invoiced" in f.d.text('[data-testid="purchases"]')
    f.shot("bought")
    # Close the month: move the service's clock past its end and run it, as an operator.
    now = datetime.datetime.now(datetime.timezone.utc)
    period = now.strftime("%Y-%m")
    op = f.srv.operator_token()
    later = (first_of_next_month(now) + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    status, body, _ = f.srv.api("PUT", "/test-clock", op, {"now": later})
    assert status == 200, body
    status, run, _ = f.srv.api("POST", "/invoice-runs", op, {"period": period})
    assert status == 200 and run["charges"] == 1, run
    _, pa, _ = f.srv.api("GET", "/partner-account", f.ga())
    bp = pa["billing_link"]["billing_profile_id"]
    _, invoices, _ = f.srv.api("GET", "/billing-profiles/%s/invoices" % bp, f.ga())
    (invoice,) = invoices["items"]
    # The old session ended with the clock's jump; the global admin (the account's owner) signs in.
    f.sign_in("admin@" + CONTOSO)
    f.d.click('.sidenav a[href="/billing/invoices"]')
    f.d.wait('[data-testid="invoices"]')
    assert invoice["number"] in f.d.text('[data-testid="invoices"]')
    f.shot("invoices")
    f.d.click('.sidenav a[href="/membership"]')
    # The account's owner sees the profile's currency, sections and instruments in the form.
    f.d.wait('[data-testid="currency"]')
    assert f.d.text('[data-testid="price-sp-security"]') == "1,250.00 USD"
    f.d.click("#buy-open-sp-modern-work")
    assert "Visa 4242" in f.d.text("#payment-sp-modern-work")
    f.shot("membership-owner")
    f.d.js("document.querySelector('[data-testid=\"purchases\"]').scrollIntoView();")
    assert invoice["number"] in f.d.text('[data-testid="purchases"]')
    f.shot("purchases-invoiced")
    f.d.click('[data-testid="purchases"] a[href="/billing/invoices/%s"]' % invoice["id"])
    f.d.wait('[data-testid="invoice-total"]')
    assert f.d.text('[data-testid="invoice-number"]') == invoice["number"]
    assert f.d.text('[data-testid="invoice-total"]') == "2,500.00 USD"
    assert invoice["total"]["amount_minor"] == 250000, invoice
    f.shot("invoice")
    href = f.d.prop("#download-pdf", "href")
    assert href.endswith("/billing/invoices/%s.pdf" % invoice["id"]), href
    status, headers, pdf = f.srv.fetch(href[len(f.srv.base):], "pb_session=" + f.d.cookie("pb_session"))
    ctype = {k.lower(): v for k, v in headers.items()}
    assert status == 200 and ctype["content-type"] == "application/pdf" and pdf.startswith(b"%PDF-"), (status, headers)
    assert ctype["content-disposition"] == 'attachment; filename="%s.pdf"' % invoice["number"], headers
    f.d.get(f.srv.base + "/billing/profiles/" + bp)
    f.d.wait('[data-testid="spend-chart"] svg[role="img"]')
    f.d.js("document.querySelector('[data-testid=\"spend-chart\"] details').open = true;")
    assert "2,500.00 USD" in f.d.text('[data-testid="spend-table"]')
    f.d.js("document.querySelector('[data-testid=\"spend-chart\"]').scrollIntoView();")
    f.shot("spend-chart")
