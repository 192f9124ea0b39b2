"""/metrics as Prometheus reads it: the text format passes promtool (Debian's prometheus
package) or the strict parser of test_admin.py, and every number matches what the test
did: requests by result, product group, protocol and licence status, counts per
application, the latency histogram, open connections, refusals by cause, peers and
replication lag in a cluster. Also checks ops/prometheus (the scrape config and the alert
rules, with their own promtool unit tests)."""
import os
import re
import shutil
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ROOT, Cluster, NodeTestCase, activate, cmid, kmsctl, main, wait_until  # noqa: E402
from test_admin import parse_metrics  # noqa: E402

PROMTOOL = shutil.which("promtool")
OPS = os.path.join(ROOT, "ops", "prometheus")


def promtool(*args, stdin=None):
    p = subprocess.run([PROMTOOL] + list(args), input=stdin, capture_output=True, text=True, timeout=60, cwd=OPS)
    return p.returncode, p.stdout + p.stderr


class MetricsTests(NodeTestCase):
    def check_format(self, text):
        samples = parse_metrics(text)  # strict parser, always
        if PROMTOOL:
            rc, out = promtool("check", "metrics", stdin=text)
            self.assertEqual(rc, 0, "promtool check metrics:\n" + out)
        return samples

    def test_numbers_match_what_was_done(self):
        n = self.node().start()
        L = 'node="kms1"'
        activate(n, "--cmid", cmid(1), "--protocol", "6")
        activate(n, "--cmid", cmid(2), "--protocol", "6", "--license-status", "1")
        activate(n, "--cmid", cmid(3), "--protocol", "5", "--license-status", "1")
        activate(n, "--cmid", cmid(4), "--protocol", "4", "--product", "win7-pro")
        activate(n, "--cmid", cmid(5), "--product", "office2016-proplus", "--license-status", "5")
        activate(n, "--cmid", cmid(1), "--protocol", "6")  # a renewal: counted once
        rc, _, _ = kmsctl("activate", "--product", "win10-home", "--cmid", cmid(6), n.addr)  # retail: refused
        self.assertEqual(rc, 1)
        rc, _, _ = kmsctl("activate", "--time-offset", "86400", "--cmid", cmid(7), n.addr)  # clock a day off
        self.assertEqual(rc, 1)
        s = socket.create_connection((n.host, n.port))  # not RPC at all: closed as a bad PDU
        s.sendall(b"GET / HTTP/1.0\r\n\r\n" + b"x" * 64)
        s.settimeout(5)
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
        s.close()
        hold = socket.create_connection((n.host, n.port))  # an open connection, idle
        wait_until("the node has accepted the idle connection", lambda: n.status()["connections"]["open"] == 1)
        m = self.check_format(n.metrics())
        hold.close()

        def v(name, labels):
            self.assertIn((name, labels), m, "missing %s{%s}" % (name, labels))
            return m[(name, labels)]

        self.assertEqual(v("kmsha_up", L), 1)
        # Every count here is below the client's N (25 Windows, 5 Office): answered, not activated.
        self.assertEqual(v("kmsha_requests_total", L + ',result="below_threshold"'), 6)
        self.assertEqual(v("kmsha_requests_total", L + ',result="activated"'), 0)
        self.assertEqual(v("kmsha_requests_total", L + ',result="product_refused"'), 1)
        self.assertEqual(v("kmsha_requests_total", L + ',result="time_refused"'), 1)
        self.assertEqual(v("kmsha_requests_total", L + ',result="invalid_data"'), 0)
        self.assertEqual(v("kmsha_requests_failed_total", L), 2)
        self.assertEqual(v("kmsha_requests_by_license_status_total", L + ',status="licensed"'), 2)
        self.assertEqual(v("kmsha_requests_by_license_status_total", L + ',status="notification"'), 1)
        self.assertEqual(v("kmsha_requests_by_license_status_total", L + ',status="oob_grace"'), 5)
        self.assertEqual(v("kmsha_requests_by_protocol_total", L + ',protocol="4"'), 1)
        self.assertEqual(v("kmsha_requests_by_protocol_total", L + ',protocol="5"'), 1)
        self.assertEqual(v("kmsha_requests_by_protocol_total", L + ',protocol="6"'), 6)
        # Product groups (KMS counted IDs): win10-pro and win10 group, win7, office2016.
        self.assertEqual(v("kmsha_requests_by_product_total", L + ',product="win10",application="windows",result="below_threshold"'), 4)
        self.assertEqual(v("kmsha_requests_by_product_total", L + ',product="win10",application="windows",result="time_refused"'), 1)
        self.assertEqual(v("kmsha_requests_by_product_total", L + ',product="win7",application="windows",result="below_threshold"'), 1)
        self.assertEqual(v("kmsha_requests_by_product_total", L + ',product="office2016",application="office2013",result="below_threshold"'), 1)
        by_product = sum(val for (name, _), val in m.items() if name == "kmsha_requests_by_product_total")
        self.assertEqual(by_product, 8)
        refused = [lab for (name, lab), val in m.items()
                   if name == "kmsha_requests_by_product_total" and 'result="product_refused"' in lab and val == 1]
        self.assertEqual(len(refused), 1, refused)
        self.assertEqual(v("kmsha_activations_total", L + ',application="windows"'), 0)
        self.assertEqual(v("kmsha_activations_total", L + ',application="office2013"'), 0)
        self.assertEqual(v("kmsha_count_reported", L + ',application="windows"'), 4)
        self.assertEqual(v("kmsha_count_reported", L + ',application="office2013"'), 1)
        self.assertEqual(v("kmsha_count_reported", L + ',application="office2010"'), 0)
        self.assertEqual(v("kmsha_clients_live", L + ',application="windows"'), 4)
        def histogram(name, count):
            """Cumulative buckets ending in +Inf = count, _count = count, a positive _sum."""
            self.assertEqual(v(name + "_count", L), count)
            buckets = sorted(((float(lab.split('le="')[1].rstrip('"')), val) for (nm, lab), val in m.items()
                              if nm == name + "_bucket"), key=lambda x: x[0])
            self.assertEqual(buckets[-1], (float("inf"), count))
            self.assertEqual([b[1] for b in buckets], sorted(b[1] for b in buckets))
            self.assertGreater(v(name + "_sum", L), 0)

        # Latency histogram: every answered request once, cumulative buckets.
        histogram("kmsha_request_duration_seconds", 8)
        # Connections: 8 activations + the bad one + the idle one.
        self.assertEqual(v("kmsha_connections_total", L), 10)
        self.assertEqual(v("kmsha_connections_open", L), 1)
        self.assertEqual(v("kmsha_refusals_total", L + ',cause="bad_pdu"'), 1)
        self.assertEqual(v("kmsha_refusals_total", L + ',cause="allowlist"'), 0)
        self.assertEqual(v("kmsha_store_records", L), 5)
        # Commit durations: one observation per commit of client records (the commits
        # counter also counts the store's own transactions, so it is an upper bound).
        commits = v("kmsha_store_commit_seconds_count", L)
        self.assertGreaterEqual(commits, 1)
        self.assertLessEqual(commits, v("kmsha_store_commits_total", L))
        histogram("kmsha_store_commit_seconds", commits)
        # /status says the same as /metrics.
        st = n.status()
        self.assertGreater(st["store"]["max_commit_ms"], 0)
        self.assertLessEqual(st["store"]["max_commit_ms"] / 1000.0, v("kmsha_store_commit_seconds_sum", L))
        self.assertEqual(st["requests"]["total"], 8)
        self.assertEqual(st["requests"]["failed"], 2)
        self.assertEqual(st["counts"]["windows"]["count"], 4)

    def test_lone_activation_commits_at_once(self):
        """The group commit with the defaults: a lone activation's record is committed
        alone, without waiting for company (no commit window counted); with
        commit_delay_ms set, the wait is counted."""
        L = 'node="kms1"'
        n = self.node().start()
        activate(n, "--cmid", cmid(1))  # the first commit (and any start-up work) done
        m0 = self.check_format(n.metrics())
        self.assertEqual(m0[("kmsha_store_queued", L)], 0)
        activate(n, "--cmid", cmid(2))
        m1 = self.check_format(n.metrics())
        d = lambda name: m1[(name, L)] - m0[(name, L)]  # noqa: E731
        self.assertEqual(d("kmsha_store_records_written_total"), 1)
        self.assertEqual(d("kmsha_store_commit_seconds_count"), 1)  # one commit, one record
        self.assertEqual(m1[("kmsha_store_commit_window_waits_total", L)], 0)
        n.stop()
        w = self.node(node_id="kms2", config="[store]\ncommit_delay_ms = 100\n").start()
        for i in range(10):
            activate(w, "--cmid", cmid(10 + i))
            if self.check_format(w.metrics())[("kmsha_store_commit_window_waits_total", 'node="kms2"')] >= 1:
                break
        self.assertGreaterEqual(self.check_format(w.metrics())[("kmsha_store_commit_window_waits_total", 'node="kms2"')], 1)

    def test_unknown_product_requests(self):
        n = self.node().start()
        unknown = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
        activate(n, "--kms-id", unknown, "--cmid", cmid(1))
        activate(n, "--product", "office2019-proplus", "--kms-id", unknown, "--cmid", cmid(2))
        m = self.check_format(n.metrics())
        for app in ("windows", "office2013"):
            self.assertEqual(m[("kmsha_unknown_product_requests_total",
                                'node="kms1",kms_id="%s",application="%s"' % (unknown, app))], 1)
        # Count 1 of N 25 and 1 of N 5: answered below the threshold.
        self.assertEqual(m[("kmsha_requests_by_product_total",
                            'node="kms1",product="unknown",application="unknown",result="below_threshold"')], 2)

    def test_refusals_by_allowlist(self):
        n = self.node(config="[limits]\nallow_clients = 192.0.2.0/24\n").start()
        rc, _, err = kmsctl("activate", n.addr)
        self.assertEqual(rc, 1)
        m = self.check_format(n.metrics())
        self.assertEqual(m[("kmsha_refusals_total", 'node="kms1",cause="allowlist"')], 1)
        self.assertEqual(m[("kmsha_requests_total", 'node="kms1",result="activated"')], 0)

    def test_cluster_peers_and_lag(self):
        c = Cluster(self).start()
        for i in range(6):
            activate(c.nodes[i % 3], "--cmid", cmid(i))
        c.wait_converged(6)
        c.nodes[2].kill9()
        m = wait_until("kms1 reports kms3 down", lambda: (lambda m: m.get(("kmsha_peer_up", 'node="kms1",peer="kms3"')) == 0
                                                          and m)(self.check_format(c.nodes[0].metrics())))
        self.assertEqual(m[("kmsha_peer_up", 'node="kms1",peer="kms3"')], 0)
        self.assertEqual(m[("kmsha_peer_up", 'node="kms1",peer="kms2"')], 1)
        self.assertEqual(m[("kmsha_peer_up", 'node="kms1",peer="kms1"')], 1)
        self.assertIn(("kmsha_replication_lag_updates", 'node="kms1",peer="kms2"'), m)
        self.assertIn(("kmsha_replication_lag_seconds", 'node="kms1",peer="kms2"'), m)
        # A dead peer's lag is unknown: no sample (not 0).
        self.assertNotIn(("kmsha_replication_lag_updates", 'node="kms1",peer="kms3"'), m)
        self.assertNotIn(("kmsha_replication_lag_seconds", 'node="kms1",peer="kms3"'), m)
        self.assertNotIn(("kmsha_replication_lag_seconds", 'node="kms1",peer="kms1"'), m)
        self.assertEqual(m[("kmsha_replication_lag_updates", 'node="kms1",peer="kms2"')], 0)
        self.assertEqual(m[("kmsha_count_reported", 'node="kms1",application="windows"')], 6)
        published = m[("kmsha_replication_updates_total", 'node="kms1",outcome="published"')]
        applied = m[("kmsha_replication_updates_total", 'node="kms1",outcome="applied"')]
        self.assertEqual(published, 2)  # clients 0 and 3 were answered by kms1
        self.assertEqual(applied, 4)


@unittest.skipUnless(PROMTOOL, "promtool not installed (Debian package prometheus)")
class PrometheusExampleTests(unittest.TestCase):
    def test_rules_config_and_alert_tests(self):
        rc, out = promtool("check", "rules", "alerts.yml")
        self.assertEqual(rc, 0, out)
        rc, out = promtool("check", "config", "prometheus.yml")
        self.assertEqual(rc, 0, out)
        rc, out = promtool("test", "rules", "alerts_test.yml")
        self.assertEqual(rc, 0, out)
        # Every metric an alert uses is one a node exports (or the DNS publisher adds).
        with open(os.path.join(OPS, "alerts.yml")) as f:
            rules = f.read()
        used = set(re.findall(r"\b(kmsha_[a-z_]+)", rules))
        exported = ""
        for src in sorted(os.listdir(os.path.join(ROOT, "node"))):
            if src.endswith(".c") and src != "kmsd.c":
                with open(os.path.join(ROOT, "node", src)) as f:
                    exported += f.read()
        # A histogram's series are its name plus _bucket, _sum and _count (admin.c writes
        # the suffix with the name as an argument).
        missing = [name for name in used
                   if name not in exported and re.sub(r"_(bucket|sum|count)$", "", name) + '"' not in exported]
        self.assertEqual(missing, [])


if __name__ == "__main__":
    main()
