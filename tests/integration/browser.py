"""A headless Chromium driven like a person at the keyboard, for the status page tests: it
loads a page, types into fields and submits forms, and reads what the page shows. It speaks
the DevTools protocol over Chromium's --remote-debugging-pipe (descriptors 3 and 4, JSON
messages ending in a NUL byte), so it needs nothing but the chromium package. Every wait
has a monotonic deadline."""
import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


class Browser:
    def __init__(self, profile_dir, width=1400, height=900, lang=None):
        os.makedirs(profile_dir, exist_ok=True)
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # Above 10 so that placing them at 3 and 4 in the child clears their close-on-exec.
        hi_r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD_CLOEXEC, 10)
        hi_w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_chrome_r)
        os.close(from_chrome_w)

        def child():
            os.dup2(hi_r, 3)
            os.dup2(hi_w, 4)

        args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--remote-debugging-pipe", "--user-data-dir=" + profile_dir,
                "--window-size=%d,%d" % (width, height)]
        if lang:
            args += ["--lang=" + lang, "--accept-lang=" + lang]
        self.proc = subprocess.Popen(args + ["about:blank"], preexec_fn=child, close_fds=False,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(hi_r)
        os.close(hi_w)
        self._buf = b""
        self._id = 0
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.call("Page.enable", session=self.session)

    def call(self, method, params=None, session=None, timeout=60):
        """One DevTools command; its result (raises on a protocol error)."""
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buf:
                raw, self._buf = self._buf.split(b"\0", 1)
                m = json.loads(raw)
                if m.get("id") == self._id:
                    if "error" in m:
                        raise AssertionError("%s: %s" % (method, m["error"]))
                    return m.get("result", {})
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_chrome], [], [], left)[0]:
                raise AssertionError("chromium did not answer %s within %s s" % (method, timeout))
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                raise AssertionError("chromium ended: %s" % self.proc.stderr.read().decode(errors="replace")[-2000:])
            self._buf += chunk

    def eval(self, expression):
        """The value of a JavaScript expression in the page (promises awaited)."""
        r = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True},
                      session=self.session)
        if "exceptionDetails" in r:
            raise AssertionError("%s: %s" % (expression, r["exceptionDetails"]))
        return r["result"].get("value")

    def open(self, url):
        self.call("Page.navigate", {"url": url}, session=self.session)
        self.wait("document.readyState === 'complete' && location.href === %s" % json.dumps(url), what="load " + url)

    def wait(self, expression, timeout=30, what=None):
        """Waits until expression is truthy in the page; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            v = self.eval(expression)
            if v:
                return v
            if time.monotonic() > deadline:
                raise AssertionError("page: %s not within %s s (last: %r)" % (what or expression, timeout, v))
            time.sleep(0.05)

    def type_and_submit(self, field_id, text, form_id):
        """Types text into the field and submits its form as a person pressing Enter would."""
        self.eval("(function(){var f=document.getElementById(%s); f.focus(); f.value=%s;"
                  "document.getElementById(%s).requestSubmit(); return true;})()"
                  % (json.dumps(field_id), json.dumps(text), json.dumps(form_id)))

    def html(self):
        return self.eval("document.documentElement.outerHTML")

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True},
                         session=self.session)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            self.call("Browser.close", timeout=10)
        except (AssertionError, OSError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)
        self.proc.stderr.close()
