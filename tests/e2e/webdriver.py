"""A small W3C WebDriver client over the standard library, for Debian's chromium + chromedriver."""
import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

ELEMENT = "element-6066-11e4-a6cd-4a4e47f7e6bd"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class WebDriverError(Exception):
    pass


class Driver:
    """One chromedriver process and one browser session."""

    def __init__(self, javascript=True, width=1280, height=900):
        self.port = free_port()
        self.profile = tempfile.mkdtemp(prefix="pb-chrome-")
        self.proc = subprocess.Popen(["chromedriver", "--port=%d" % self.port],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = "http://127.0.0.1:%d" % self.port
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if self._call("GET", "/status")["ready"]:
                    break
            except Exception:
                time.sleep(0.1)
        args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--user-data-dir=" + self.profile, "--window-size=%d,%d" % (width, height)]
        opts = {"binary": os.environ.get("CHROMIUM", "/usr/bin/chromium"), "args": args}
        if not javascript:
            opts["prefs"] = {"profile.managed_default_content_settings.javascript": 2}
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": opts}}}
        self.session = self._call("POST", "/session", caps)["sessionId"]

    def _call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read().decode())["value"]
        except urllib.error.HTTPError as e:
            raise WebDriverError("%s %s: %s" % (method, path, e.read().decode()[:500]))

    def s(self, method, path, body=None):
        return self._call(method, "/session/%s%s" % (self.session, path), body)

    def get(self, url):
        self.s("POST", "/url", {"url": url})

    def url(self):
        return self.s("GET", "/url")

    def find_all(self, css):
        found = self.s("POST", "/elements", {"using": "css selector", "value": css})
        return [e.get(ELEMENT) or e.get("ELEMENT") or next(iter(e.values())) for e in found]

    def wait(self, css, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = self.find_all(css)
            if found:
                return found[0]
            time.sleep(0.1)
        raise AssertionError("no element %r on %s; page text: %s" % (css, self.url(), self.text("body")[:800]))

    def gone(self, css, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not self.find_all(css):
                return
            time.sleep(0.1)
        raise AssertionError("element %r still present" % css)

    def wait_url(self, fragment, timeout=10):
        """Waits until the page's URL holds `fragment` (a click that navigates returns before the
        new page is there)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if fragment in self.url():
                return
            time.sleep(0.1)
        raise AssertionError("the URL never held %r: %s" % (fragment, self.url()))

    def click(self, css):
        self.s("POST", "/element/%s/click" % self.wait(css), {})

    def type(self, css, text, clear=True):
        el = self.wait(css)
        if clear:
            self.s("POST", "/element/%s/clear" % el, {})
        self.s("POST", "/element/%s/value" % el, {"text": text})

    def press_enter(self, css):
        """Activates an element from the keyboard: focus it and press Enter."""
        self.s("POST", "/element/%s/value" % self.wait(css), {"text": "\ue007"})

    def press(self, css, key):
        """Sends one key (a WebDriver key code, e.g. Tab "\\ue004", Escape "\\ue00c") to an element."""
        self.s("POST", "/element/%s/value" % self.wait(css), {"text": key})

    def text(self, css):
        found = self.find_all(css)
        return self.s("GET", "/element/%s/text" % found[0]) if found else ""

    def prop(self, css, name):
        return self.s("GET", "/element/%s/property/%s" % (self.wait(css), name))

    def cookie(self, name):
        """A cookie of the current page's site, HttpOnly ones included (the browser's own view)."""
        return self.s("GET", "/cookie/%s" % name)["value"]

    def select(self, css, value):
        """Chooses the option with `value` of the <select> at `css`."""
        self.click('%s option[value="%s"]' % (css, value))

    def js(self, script, *args):
        return self.s("POST", "/execute/sync", {"script": script, "args": list(args)})

    def screenshot(self, path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(self.s("GET", "/screenshot")))

    def quit(self):
        try:
            self._call("DELETE", "/session/%s" % self.session)
        except Exception:
            pass
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)
