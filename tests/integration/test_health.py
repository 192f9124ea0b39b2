"""Activation health (issue 16) on real kmsd processes: an answer below the client's N is
`below_threshold` (audit, /metrics, /status, kmsctl), binding_expiration and the workstation
names are kept in the replicated records, `kmsctl report` / GET /report (below threshold,
at risk, cloned, forecast, rooms) from any node, and the `kmsctl clients` filters that
refuse nonsense."""
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BUILD, Cluster, NodeTestCase, activate, cmid, kmsctl, main  # noqa: E402

DAY = 86400
UNKNOWN_ID = "0a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d"  # a KMS counted ID the product table does not know


def report(node):
    rc, out, err = kmsctl("report", "--json", "--admin", "%s:%d" % (node.host, node.admin_port))
    assert rc == 0, err
    return json.loads(out)


def wait_for(what, fn, timeout=20):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


class HealthTests(NodeTestCase):
    def test_thirty_clients_on_an_empty_cluster(self):
        c = Cluster(self).start()
        results = []
        for i in range(30):
            node = c.nodes[i % 3]
            out = activate(node, "--cmid", cmid(i), "--workstation", "RM-101-PC%02d" % i)
            results.append(out["result"])
            self.assertEqual(out["count"], i + 1)
            c.wait_converged(i + 1)
        self.assertEqual(results, ["below_threshold"] * 24 + ["activated"] * 6)
        # The audit lines say so, with the client's binding expiration.
        audit = [l for n in c.nodes for l in n.audit()]
        self.assertEqual(sorted(l["result_name"] for l in audit).count("below_threshold"), 24)
        self.assertTrue(all(l["binding_expiration"] == 43200 for l in audit))
        # /metrics and /status count them apart from activations.
        below = sum(int(float(line.split()[-1])) for n in c.nodes for line in n.metrics().splitlines()
                    if line.startswith("kmsha_requests_total{") and 'result="below_threshold"' in line)
        self.assertEqual(below, 24)
        self.assertEqual(sum(n.status()["requests"]["by_result"]["below_threshold"] for n in c.nodes), 24)
        self.assertEqual(sum(n.status()["requests"]["failed"] for n in c.nodes), 0)
        # Every node's report (from its replicated records) says the same.
        for n in c.nodes:
            r = wait_for("records", lambda: (lambda r: r if r["live"] == 30 else None)(report(n)))
            w = r["applications"]["windows"]
            self.assertEqual((w["live"], w["count"], w["max_n"], w["below_threshold"]), (30, 30, 25, 24), n.node_id)
            self.assertEqual(r["below_threshold"]["total"], 24)
            listed = {x["workstation"] for x in r["below_threshold"]["clients"]}
            self.assertEqual(listed, {"RM-101-PC%02d" % i for i in range(24)})
            self.assertTrue(all(x["result"] == "below_threshold" and x["count"] < 25 for x in r["below_threshold"]["clients"]))
            # In grace (OOB, as kmsctl reports by default): at risk until they activate.
            self.assertEqual(w["at_risk"], 24)
            self.assertEqual(r["cloned"]["total"], 0)
            self.assertEqual([(x["room"], x["live"], x["below_threshold"]) for x in r["rooms"]], [("127.0.0.0/24", 30, 24)])
        self.assertEqual(r["unknown_products"]["ids"], [])
        # kmsctl clients --status below_threshold lists exactly those.
        rc, out, err = kmsctl("clients", "--json", "--status", "below_threshold", "--admin",
                              "%s:%d" % (c.nodes[2].host, c.nodes[2].admin_port))
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["returned"], 24)
        # The 24 come back (as Windows does after activation_interval) and are activated.
        for i in range(24):
            self.assertEqual(activate(c.nodes[i % 3], "--cmid", cmid(i), "--workstation", "RM-101-PC%02d" % i)["result"],
                             "activated")
        r = wait_for("activated", lambda: (lambda r: r if r["applications"]["windows"]["below_threshold"] == 0 else None)(report(c.nodes[0])))
        self.assertEqual(r["below_threshold"]["total"], 0)
        self.assertEqual(r["applications"]["windows"]["at_risk"], 0)

    def test_cloned_cmid_is_listed_on_every_node(self):
        c = Cluster(self).start()
        activate(c.nodes[0], "--cmid", cmid(7), "--workstation", "LAB-A-PC01")
        activate(c.nodes[1], "--cmid", cmid(7), "--workstation", "LAB-A-PC02")
        activate(c.nodes[2], "--cmid", cmid(8), "--workstation", "LAB-A-PC03", "--kms-id", UNKNOWN_ID)
        c.wait_converged(2)
        for n in c.nodes:
            r = wait_for("cloned on %s" % n.node_id,
                         lambda: (lambda r: r if r["cloned"]["total"] == 1 else None)(report(n)))
            entry = r["cloned"]["clients"][0]
            self.assertEqual(entry["cmid"], cmid(7))
            self.assertEqual(sorted(x["workstation"] for x in entry["names"]), ["LAB-A-PC01", "LAB-A-PC02"])
            self.assertTrue(all(x["address"] == "127.0.0.1" for x in entry["names"]))
            self.assertEqual(r["applications"]["windows"]["cloned"], 1)
            # The unknown KMS counted ID kms3 served counts on every node.
            self.assertEqual([(u["kms_id"], u["application"], u["live"]) for u in r["unknown_products"]["ids"]],
                             [(UNKNOWN_ID, "windows", 1)])
            rc, out, err = kmsctl("clients", "--json", "--cloned", "--admin", "%s:%d" % (n.host, n.admin_port))
            self.assertEqual(rc, 0, err)
            self.assertEqual([x["cmid"] for x in json.loads(out)["clients"]], [cmid(7)])
        # The text report names both workstations.
        rc, out, err = kmsctl("report", "--admin", "%s:%d" % (c.nodes[2].host, c.nodes[2].admin_port))
        self.assertEqual(rc, 0, err)
        self.assertIn("Cloned client machine IDs: 1", out)
        self.assertIn("LAB-A-PC01", out)
        self.assertIn("LAB-A-PC02", out)
        self.assertIn(UNKNOWN_ID, out)

    def test_forecast_from_records_aged_with_the_clock(self):
        node = self.node()
        # 20 clients seen 20 days ago and 10 seen 5 days ago (the node's clock moved back).
        node.start(["--clock-offset", str(-20 * DAY)])
        for i in range(20):
            activate(node, "--cmid", cmid(i), "--time-offset", str(-20 * DAY))
        node.stop()
        node.start(["--clock-offset", str(-5 * DAY)])
        for i in range(20, 30):
            activate(node, "--cmid", cmid(i), "--time-offset", str(-5 * DAY))
        node.stop()
        node.start()
        t0 = time.time()
        r = report(node)
        f = {x["application"]: x for x in r["forecast"]}["windows"]
        self.assertEqual((f["count"], f["max_n"]), (30, 25))
        # The 25th-latest client stops counting 30 days after it was seen: 10 days from now.
        below = f["below_n"]
        self.assertFalse(below["already"])
        self.assertAlmostEqual(below["in_days"], 10.0, delta=0.01)
        expect = time.strftime("%Y-%m-%d", time.gmtime(t0 + 10 * DAY))
        self.assertIn(below["date"], (expect, time.strftime("%Y-%m-%d", time.gmtime(t0 + 10 * DAY - 120))))
        days = {d["day"]: d["count"] for d in f["days"]}
        self.assertEqual(len(days), 46)
        self.assertEqual((days[0], days[9], days[11], days[24], days[26], days[45]), (30, 30, 10, 10, 0, 0))
        # The history: 20 counted from 20 days ago, 30 from 5 days ago.
        hist = {d["day"]: d["count"] for d in f["history"]}
        self.assertEqual((hist[-25], hist[-19], hist[-4], hist[0]), (0, 20, 30, 30))
        # kmsctl report prints the date.
        rc, out, err = kmsctl("report", "--admin", "%s:%d" % (node.host, node.admin_port))
        self.assertEqual(rc, 0, err)
        self.assertIn("below N 25 from %s" % time.strftime("%Y-%m-%d", time.localtime(below["at_ms"] / 1000)), out)

    def test_clients_filters_refuse_nonsense(self):
        node = self.node()
        # 300 records from 10.0.0.0 to 10.0.1.43 (kmsseed), then two clients on loopback.
        p = subprocess.run([os.path.join(BUILD, "kmsseed"), "--data-dir", node.data_dir, "--node-id", "kms1",
                            "--records", "300", "--days-back", "3"], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        node.start()
        activate(node, "--cmid", cmid(1), "--workstation", "HALL-1")
        activate(node, "--cmid", cmid(2), "--workstation", "HALL-2", "--license-status", "1", "--product", "win10-enterprise")
        admin = "%s:%d" % (node.host, node.admin_port)

        def clients(*args):
            rc, out, err = kmsctl("clients", "--json", "--limit", "100000", "--admin", admin, *args)
            self.assertEqual(rc, 0, err)
            return json.loads(out)["clients"]

        self.assertEqual(len(clients("--address", "10.0.0.0/8")), 300)
        self.assertEqual(len(clients("--address", "10.0.1.0/24")), 44)
        self.assertEqual(len(clients("--room", "10.0.1.0/24")), 44)
        self.assertEqual({x["workstation"] for x in clients("--address", "127.0.0.1")}, {"HALL-1", "HALL-2"})
        self.assertEqual(len(clients("--address", "192.168.0.0/16")), 0)
        self.assertEqual([x["workstation"] for x in clients("--status", "licensed", "--address", "127.0.0.0/8")], ["HALL-2"])
        self.assertEqual([x["workstation"] for x in clients("--product", "win10-enterprise", "--node", "kms1")], ["HALL-2"])
        seen = [x["last_seen_ms"] for x in clients("--sort", "last_seen")]
        self.assertEqual(seen, sorted(seen))
        self.assertEqual(len(seen), 302)
        # Malformed filters are usage errors, never an empty answer.
        for bad in (["--address", "10.1"], ["--address", "10.0.0.0/33"], ["--status", "green"],
                    ["--product", "win99"], ["--node", "a b"], ["--sort", "name"], ["--room", ""]):
            rc, out, err = kmsctl("clients", "--admin", admin, *bad)
            self.assertEqual(rc, 2, (bad, out, err))
            self.assertIn(bad[0], err)
            self.assertEqual(out, "")
        code, body = node.http("/clients?address=10.1")
        self.assertEqual(code, 400)
        self.assertIn("not an address or network", json.loads(body)["error"])

    def test_rooms_by_pattern_and_reload(self):
        node = self.node(config="[report]\nroom_pattern = ^([A-Z]+-[0-9]+)-\n")
        node.start()
        for i, ws in enumerate(["LAB-101-PC01", "LAB-101-PC02", "LAB-202-PC01", "laptop"]):
            activate(node, "--cmid", cmid(i), "--workstation", ws)
        r = report(node)
        self.assertEqual(r["settings"]["rooms_by"], "room_pattern")
        self.assertEqual([(x["room"], x["live"]) for x in r["rooms"]],
                         [("LAB-101", 2), ("LAB-202", 1), ("unmatched", 1)])
        rc, out, err = kmsctl("clients", "--json", "--room", "LAB-101", "--admin", "%s:%d" % (node.host, node.admin_port))
        self.assertEqual(rc, 0, err)
        self.assertEqual(sorted(x["workstation"] for x in json.loads(out)["clients"]), ["LAB-101-PC01", "LAB-101-PC02"])
        # SIGHUP: [report] settings apply to the next report.
        node.config = "[report]\nat_risk_days = 40\n"
        node.write_config()
        import signal
        node.proc.send_signal(signal.SIGHUP)
        r = wait_for("reload", lambda: (lambda r: r if r["settings"]["at_risk_days"] == 40 else None)(report(node)))
        self.assertEqual(r["settings"]["rooms_by"], "address")
        self.assertEqual([x["room"] for x in r["rooms"]], ["127.0.0.0/24"])

    def preflight(self, node, *args):
        rc, out, err = kmsctl("preflight", "--admin", "%s:%d" % (node.host, node.admin_port), *args, timeout=60)
        return rc, out, err

    def test_preflight_passes_then_names_what_fails(self):
        c = Cluster(self).start()
        # 25 clients reach N; the 24 answered below it come back and are activated.
        for i in range(25):
            activate(c.nodes[i % 3], "--cmid", cmid(i))
            c.wait_converged(i + 1)
        for i in range(24):
            activate(c.nodes[i % 3], "--cmid", cmid(i))
        for n in c.nodes:  # the renewals replicated everywhere
            wait_for("renewals on %s" % n.node_id,
                     lambda: report(n)["applications"]["windows"]["below_threshold"] == 0)
        rc, out, err = self.preflight(c.nodes[0])
        self.assertEqual(rc, 0, out + err)
        for check in ("nodes", "clocks", "counts", "kms", "clients"):
            self.assertRegex(out, r"(?m)^PASS  %s " % check)
        self.assertRegex(out, r"(?m)^WARN  dns ")  # no [dns] in this cluster
        self.assertIn("preflight passed", out)
        rc, out, err = self.preflight(c.nodes[1], "--json")
        self.assertEqual(rc, 0, err)
        j = json.loads(out)
        self.assertTrue(j["ok"])
        self.assertEqual({x["check"] for x in j["checks"]}, {"nodes", "clocks", "counts", "dns", "kms", "clients"})

        # A forecast that falls below N within the window fails (the 25 expire in 30 days).
        rc, out, err = self.preflight(c.nodes[0], "--days", "31")
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, r"(?m)^FAIL  counts   windows count falls below N 25 on ")

        # A dead node is named (and so is its KMS port).
        c.nodes[2].kill9()
        rc, out, err = self.preflight(c.nodes[0])
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, r"(?m)^FAIL  nodes    kms3: not answering at 127\.0\.0\.3:")
        self.assertRegex(out, r"(?m)^FAIL  kms      kms3: KMS port 127\.0\.0\.3:")
        self.assertIn("PREFLIGHT FAILED", out)

        # Behind: kms3 comes back with an empty store and no route to its peers' updates
        # (their replication addresses wrong in its file): it hears nobody and counts 0.
        with open(c.path) as f:
            text = f.read()
        for i in (0, 1):
            text = text.replace("replication = %s:%d\n" % (c.hosts[i], c.repl_ports[i]),
                                "replication = %s:%d\n" % (c.hosts[i], c.repl_ports[i] + 40))
        wrong = os.path.join(self.workdir, "kms3-wrong.ini")
        with open(wrong, "w") as f:
            f.write(text)
        n3 = c.nodes[2]
        n3.config_path = wrong
        import shutil
        shutil.rmtree(n3.data_dir)
        n3.start()
        activate(n3, "--cmid", cmid(99))
        rc, out, err = self.preflight(c.nodes[0])
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, r"(?m)^FAIL  nodes    kms3: hears no heartbeats from kms1")
        self.assertRegex(out, r"(?m)^FAIL  counts   kms3: windows count 1 is below N 25")
        self.assertNotRegex(out, r"(?m)^FAIL  counts   kms[12]:")

    def test_report_gauges_with_bounded_rooms(self):
        node = self.node(config="[report]\nmetrics_rooms = 1\n")
        p = subprocess.run([os.path.join(BUILD, "kmsseed"), "--data-dir", node.data_dir, "--node-id", "kms1",
                            "--records", "300", "--days-back", "3"], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        node.start()
        activate(node, "--cmid", cmid(1), "--workstation", "HALL-1")
        activate(node, "--cmid", cmid(1), "--workstation", "HALL-2")  # a cloned image
        r = report(node)  # a fresh report is also the one /metrics shows
        code, body = node.http("/report?latest=1")
        self.assertEqual(code, 200)
        self.assertEqual(json.loads(body)["time_ms"], r["time_ms"])  # no new scan
        self.assertEqual([x["room"] for x in r["rooms"]], ["10.0.0.0/24", "10.0.1.0/24", "127.0.0.0/24"])
        m = node.metrics()
        lines = [l for l in m.splitlines() if l.startswith("kmsha_report_")]
        self.assertIn('kmsha_report_cloned_clients{node="kms1",application="windows"} 1', lines)
        self.assertIn('kmsha_report_below_threshold_clients{node="kms1",application="windows"} 0', lines)
        self.assertIn('kmsha_report_live_clients{node="kms1",application="windows"} %d' %
                      r["applications"]["windows"]["live"], lines)
        rooms = {l.split('room="')[1].split('"')[0] for l in lines if l.startswith("kmsha_report_room_clients")}
        # One room by name (the one that needs attention: a cloned client), the rest as other.
        self.assertEqual(rooms, {"127.0.0.0/24", "other"})
        other_live = sum(int(l.split()[-1]) for l in lines if 'room="other"' in l and 'section="live"' in l)
        self.assertEqual(other_live, 300)
        self.assertTrue(any(l.startswith('kmsha_report_below_n_in_seconds{node="kms1",application="windows"}')
                            for l in lines))
        import shutil as sh
        if sh.which("promtool"):
            pr = subprocess.run(["promtool", "check", "metrics"], input=m, capture_output=True, text=True)
            self.assertEqual(pr.returncode, 0, pr.stdout + pr.stderr)


if __name__ == "__main__":
    main()
