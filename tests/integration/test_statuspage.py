"""The status page at / on the admin address, loaded in headless Chromium against a running
three-node cluster: it shows every node with its site and alive state, the counts per
application, and the recent activations of all nodes (read from each peer's /status,
which admin.c lets exactly the configured admin origins read; their workstation names and
addresses only with the read token, which the page sends to its own node); a node that dies
shows as dead. The client lists and the search need the read token, typed into the page (driven
through browser.py) and kept in the tab's sessionStorage. A screenshot is kept in the test directory with KMSHA_KEEP=1."""
import os
import shutil
import subprocess
import sys
import time
import unittest
from html.parser import HTMLParser

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from browser import Browser  # noqa: E402
from harness import Cluster, NodeTestCase, activate, cmid, main  # noqa: E402

REDACTED = "\u2014 (read token needed)"  # a workstation name or address the node did not give
UNKNOWN_ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


class Dom(HTMLParser):
    """Rows of the rendered tables and the count cards, as text."""

    def __init__(self):
        super().__init__()
        self.rows, self.cards, self.stack = [], {}, []
        self.row = self.cell = self.card = None
        self.attrs = {}
        self.health = None
        self.in_health = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr":
            self.row, self.attrs = [], a
        elif tag == "td" and self.row is not None:
            self.cell = ""
        elif tag == "div" and "data-app" in a:
            self.card = a["data-app"]
        elif tag == "div" and self.card and "count" in (a.get("class") or ""):
            self.cell = ""
        elif tag == "span" and a.get("id") == "health":
            self.in_health, self.health = True, ""

    def handle_endtag(self, tag):
        if tag == "td" and self.cell is not None and self.row is not None:
            self.row.append(self.cell.strip())
            self.cell = None
        elif tag == "tr" and self.row is not None:
            if self.row:
                self.rows.append((self.attrs, self.row))
            self.row = None
        elif tag == "div" and self.card and self.cell is not None:
            self.cards[self.card] = self.cell.strip()
            self.cell, self.card = None, None
        elif tag == "span" and self.in_health:
            self.in_health = False

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data
        if self.in_health:
            self.health += data


@unittest.skipUnless(CHROMIUM, "chromium is not installed (scripts/deps.sh installs it)")
class StatusPageTests(NodeTestCase):
    def chromium(self, url, *extra):
        profile = os.path.join(self.workdir, "chromium-profile")
        args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--user-data-dir=" + profile, "--virtual-time-budget=5000"] + list(extra) + [url]
        p = subprocess.run(args, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        return p.stdout

    def load(self, node):
        html = self.chromium("http://%s:%d/" % (node.host, node.admin_port), "--dump-dom")
        d = Dom()
        d.feed(html)
        nodes = {a["data-node"]: (a, r) for a, r in d.rows if "data-node" in a}
        recent = [r for a, r in d.rows if a.get("class") == "activation"]
        return d, nodes, recent, html

    def test_page_shows_the_cluster(self):
        c = Cluster(self).start()
        for i, n in enumerate(c.nodes):
            for k in range(3):
                activate(n, "--cmid", cmid(10 * i + k), "--workstation", "LAB-%d-PC%d" % (i + 1, k))
        # A KMS counted ID the product table does not know, asked of two nodes: served,
        # and listed once with both nodes.
        for i in (1, 2):
            activate(c.nodes[i], "--kms-id", UNKNOWN_ID, "--cmid", cmid(50 + i), "--workstation", "NEW-%d" % i)
        activate(c.nodes[1], "--product", "office2019-proplus", "--cmid", cmid(99), "--workstation", "OFFICE-ROOM")
        c.wait_converged(11)
        c.wait_converged(1, app="office2013")

        d, nodes, recent, html = self.load(c.nodes[0])
        self.assertEqual(set(nodes), {"kms1", "kms2", "kms3"})
        for nid, (attrs, cells) in nodes.items():
            self.assertEqual(attrs["data-alive"], "true", cells)
            self.assertIn("alive", cells[2])
            # Counts from each node's own /status: Windows 11, Office 2010 0, Office 2013+ 1.
            self.assertEqual(cells[6:9], ["11", "0", "1"], (nid, cells))
        self.assertEqual(nodes["kms1"][1][1], "site1")
        self.assertEqual(nodes["kms2"][1][1], "site2")
        self.assertIn("this node", nodes["kms1"][1][0])
        self.assertEqual(nodes["kms2"][1][9], "5")  # requests kms2 answered
        self.assertEqual(d.cards, {"windows": "11", "office2010": "0", "office2013": "1"})
        unknown = [r for a, r in d.rows if a.get("class") == "unknown-id"]
        self.assertEqual([r[:4] + r[6:] for r in unknown], [[UNKNOWN_ID, "Windows", "2", "2", "kms2, kms3"]])
        self.assertEqual(d.health.strip(), "all nodes alive")
        # Recent activations of all three nodes, newest first; with no read token their
        # workstation names and addresses say that it is needed (and are nowhere on the page).
        self.assertEqual(sorted(r[1] for r in recent), ["kms1"] * 3 + ["kms2"] * 5 + ["kms3"] * 4)
        self.assertTrue(all(r[2:4] == [REDACTED, REDACTED] for r in recent), recent)
        for name in ["LAB-%d-PC%d" % (i + 1, k) for i in range(3) for k in range(3)] + ["OFFICE-ROOM", "NEW-2"]:
            self.assertNotIn(name, html)
        self.assertEqual(recent[0][1], "kms2")  # OFFICE-ROOM's
        self.assertEqual(recent[0][5], "office2013")
        self.assertEqual(recent[0][7], "below threshold")  # count 1 of N 5

        # A dead node shows as dead on the others' pages.
        c.nodes[2].kill9()
        deadline = time.time() + 10
        while time.time() < deadline:
            if not {p["id"]: p for p in c.nodes[1].status()["cluster"]["peers"]}["kms3"]["alive"]:
                break
            time.sleep(0.1)
        d, nodes, recent, _ = self.load(c.nodes[1])
        self.assertEqual(nodes["kms3"][0]["data-alive"], "false")
        self.assertIn("dead", nodes["kms3"][1][2])
        self.assertEqual(nodes["kms1"][0]["data-alive"], "true")
        self.assertEqual(d.health.strip(), "1 node down")
        self.assertIn(["kms2", REDACTED, REDACTED, "office2019", "office2013"], [r[1:6] for r in recent])

        shot = os.path.join(self.workdir, "statuspage.png")
        self.chromium("http://%s:%d/" % (c.nodes[1].host, c.nodes[1].admin_port), "--window-size=1400,900",
                      "--screenshot=" + shot)
        self.assertTrue(os.path.getsize(shot) > 10000)
        if os.environ.get("KMSHA_KEEP"):
            print("screenshot: %s" % shot)

    def test_health_sections_charts_and_search(self):
        c = Cluster(self).start()
        for i in range(26):  # 24 below threshold, then activated
            activate(c.nodes[i % 3], "--cmid", cmid(i), "--workstation", "RM-101-PC%02d" % i)
            c.wait_converged(i + 1)
        activate(c.nodes[0], "--cmid", cmid(50), "--workstation", "RM-202-PC01")
        activate(c.nodes[1], "--cmid", cmid(50), "--workstation", "RM-202-PC02")  # cloned image
        c.wait_converged(27)
        node = c.nodes[1]
        url = "http://%s:%d/#q=RM-101-PC0" % (node.host, node.admin_port)
        with open(os.environ["KMSHA_READ_TOKEN_FILE"]) as f:
            read_token = f.read().strip()
        b = Browser(os.path.join(self.workdir, "chromium-cdp"), height=2800)
        try:
            b.open(url)
            # Client records need the read token: without one the page says so, and lists and
            # search stay empty (the rest of the page works).
            b.wait("document.getElementById('token-note').textContent.indexOf('no read token') === 0",
                   what="the page asks for the read token")
            self.assertIn("no read token", b.eval("document.getElementById('search-note').textContent"))
            self.assertEqual(b.eval("document.querySelectorAll('#found tr.found, #below tr.item').length"), 0)
            b.wait("document.querySelectorAll('#nodes tr[data-node]').length === 3", what="the nodes")
            # A wrong token: the node refuses it and the page says so.
            b.type_and_submit("read-token", "0" * 64, "token-form")
            b.wait("document.getElementById('token-note').textContent.indexOf('refused') >= 0",
                   what="the page says the token was refused")
            self.assertIn("refused", b.eval("document.getElementById('search-note').textContent"))
            self.assertEqual(b.eval("document.querySelectorAll('#found tr.found, #below tr.item').length"), 0)
            # The read token: the health lists and the search fill in; the token stays in this
            # tab's sessionStorage only (not in the field, localStorage, a cookie or the URL).
            b.type_and_submit("read-token", read_token, "token-form")
            b.wait("document.querySelectorAll('#found tr.found').length === 10", what="the search results")
            b.wait("document.querySelectorAll('#below tr.item').length === 24", what="the below-threshold list")
            b.wait("document.querySelector('#chart-activity svg') && "
                   "document.querySelector('#chart-activity svg').getAttribute('data-total') === '28'",
                   what="the activity chart")
            # This node's recent activations (with the token) name their workstations; the
            # peers' (asked without it) say that the read token is needed.
            b.wait("Array.prototype.some.call(document.querySelectorAll('#recent tr.activation'), function (tr) {"
                   " return tr.cells[2].textContent === 'RM-202-PC02'; })", what="this node's recent names")
            self.assertEqual(b.eval("sessionStorage.getItem('kmsha-read-token')"), read_token)
            self.assertEqual(b.eval("localStorage.length + document.cookie.length"), 0)
            self.assertEqual(b.eval("document.getElementById('read-token').value"), "")
            self.assertNotIn(read_token, b.eval("location.href"))
            html = b.html()
            shot = os.path.join(self.workdir, "statuspage-health.png")
            b.screenshot(shot)
            self.assertTrue(os.path.getsize(shot) > 10000)
            if os.environ.get("KMSHA_KEEP"):
                print("screenshot: %s" % shot)
        finally:
            b.close()
        for sec in ("sec-health", "sec-charts", "sec-forecast", "sec-below", "sec-risk", "sec-cloned", "sec-rooms",
                    "sec-unknown", "sec-search"):
            self.assertIn('id="%s"' % sec, html)

        class Rows(HTMLParser):
            def __init__(self):
                super().__init__()
                self.table = None
                self.rows = {}
                self.cell = None
                self.svgs = {}
                self.chart = None
                self.polylines = []
                self.times = []

            def handle_starttag(self, tag, attrs):
                a = dict(attrs)
                if tag == "table":
                    self.table = a.get("id")
                elif tag == "tr" and self.table:
                    self.rows.setdefault(self.table, []).append([])
                elif tag == "td" and self.table:
                    self.cell = ""
                elif tag == "div" and a.get("class") == "chart":
                    self.chart = a.get("id")
                elif tag == "svg" and self.chart:
                    self.svgs[self.chart] = a
                elif tag == "polyline":
                    self.polylines.append(a)
                elif tag == "time":
                    self.times.append(a)

            def handle_endtag(self, tag):
                if tag == "td" and self.cell is not None and self.table:
                    self.rows[self.table][-1].append(self.cell.strip())
                    self.cell = None
                elif tag == "table":
                    self.table = None

            def handle_data(self, data):
                if self.cell is not None:
                    self.cell += data

        d = Rows()
        d.feed(html)
        rows = {k: [r for r in v if r] for k, v in d.rows.items()}
        # Below threshold: the 24 first clients, counts 1..24 of N 25.
        self.assertEqual(len(rows["below"]), 24)
        self.assertEqual({r[2] for r in rows["below"]}, {"RM-101-PC%02d" % i for i in range(24)})
        self.assertTrue(all(r[6] == "25" for r in rows["below"]))
        self.assertEqual(len(rows["risk"]), 24)
        self.assertEqual(len(rows["cloned"]), 1)
        self.assertIn("RM-202-PC01", rows["cloned"][0][2])
        self.assertIn("RM-202-PC02", rows["cloned"][0][2])
        self.assertEqual([r[:3] for r in rows["rooms"]], [["127.0.0.0/24", "27", "24"]])
        self.assertEqual(rows["forecast"][0][:3], ["windows", "27", "25"])
        self.assertIn("none: every KMS counted ID asked for is in the product table", html)
        self.assertEqual(len(rows["recent"]), 28)
        for r in rows["recent"]:
            if r[1] == "kms2":
                self.assertTrue(r[2].startswith("RM-") and r[3].startswith("127.0.0.1"), r)
            else:
                self.assertEqual(r[2:4], [REDACTED, REDACTED], r)
        # The search box (#q=) asked /clients: the ten RM-101-PC0x.
        self.assertEqual(sorted(r[2] for r in rows["found"]), ["RM-101-PC%02d" % i for i in range(10)])
        # Charts: answers per minute summed over the three nodes; count history and forecast.
        self.assertEqual(d.svgs["chart-activity"].get("data-total"), "28")
        apps = {(p.get("data-app"), p.get("class")) for p in d.polylines}
        self.assertIn(("windows", "history"), apps)
        self.assertTrue(any(p.get("class") == "forecast" for p in d.polylines))
        # Times carry the date and zone, with UTC on hover.
        self.assertTrue(d.times)
        self.assertTrue(all(t.get("title", "").endswith("(UTC)") and t.get("datetime") for t in d.times))

    def test_status_is_readable_only_from_admin_origins(self):
        c = Cluster(self, n=2).start()
        import urllib.request
        url = "http://%s:%d/status" % (c.nodes[0].host, c.nodes[0].admin_port)
        for origin, allowed in [("http://127.0.0.2:%d" % c.admin_ports[1], True),
                                ("http://127.0.0.1:%d" % c.admin_ports[0], True),
                                ("http://evil.example", False), ("null", False)]:
            req = urllib.request.Request(url, headers={"Origin": origin})
            with urllib.request.urlopen(req, timeout=5) as r:
                self.assertEqual(r.headers.get("Access-Control-Allow-Origin"), origin if allowed else None, origin)
        with urllib.request.urlopen("http://%s:%d/" % (c.nodes[0].host, c.nodes[0].admin_port), timeout=5) as r:
            self.assertTrue(r.headers["Content-Type"].startswith("text/html"))
            self.assertIn("default-src 'none'", r.headers["Content-Security-Policy"])
            body = r.read()
        self.assertIn(b"<title>kmsha status</title>", body)
        for external in (b" src=", b"<link", b"@import", b"url("):  # self-contained
            self.assertNotIn(external, body)


    def test_page_in_the_browsers_language(self):
        """A browser that asks for Japanese (--lang=ja --accept-lang=ja: headless Chromium takes
        navigator.languages and Accept-Language from the second) sees the page in Japanese,
        with slmgr /dlv's words; others see it in English."""
        n = self.node().start()
        activate(n, "--cmid", cmid(1), "--workstation", "JA-PC1")
        url = "http://%s:%d/" % (n.host, n.admin_port)
        ja = self.chromium(url, "--lang=ja", "--accept-lang=ja", "--dump-dom")
        for text in ["<html lang=\"ja\"", "アプリケーションごとの現在の数", "受信した要求の合計数", "最近のライセンス認証",
                     "しきい値未満", "クライアントの検索", "ワークステーション", "全ノード稼働中"]:
            self.assertTrue(text in ja, "%s is not on the Japanese page" % text)
        self.assertFalse(">Count per application (cluster view)<" in ja, "an English heading on the Japanese page")
        d = Dom()
        d.feed(ja)
        recent = [r for a, r in d.rows if a.get("class") == "activation"]
        # The data is shown as it is; with no read token, the workstation's name and address
        # say so in Japanese.
        self.assertEqual([r[1:4] + r[5:6] for r in recent], [[n.node_id] + ["\u2014 (読み取りトークンが必要)"] * 2 + ["windows"]])
        self.assertFalse("JA-PC1" in ja, "a workstation name without the read token")
        shot = os.path.join(self.workdir, "status-ja.png")
        self.chromium(url, "--lang=ja", "--accept-lang=ja", "--window-size=1400,1200", "--screenshot=" + shot)
        self.assertGreater(os.path.getsize(shot), 10000)
        en = self.chromium(url, "--lang=en-US", "--accept-lang=en-US", "--dump-dom")
        self.assertTrue("Count per application (cluster view)" in en, "the English page")
        self.assertFalse("現在の数" in en, "Japanese on the English page")

if __name__ == "__main__":
    main()
