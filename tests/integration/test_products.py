"""Products as real clients send them, against real kmsd processes: the genuine Windows
Server 2025 and Office LTSC 2024 KMS counted IDs (proto/spec/kms-ids.md, corrected
2026-12-06) are activated and counted; a KMS counted ID the product table does not know is
served under its application by default, logged once and listed (/metrics, /status, kmsctl
status, kmsctl products --unknown), refused when allow_products names products; and no
client's N policy can raise the reported count above 50 (Windows) / 10 (Office)."""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, NodeTestCase, activate, cmid, kmsctl, main  # noqa: E402

WS2025 = "907f1f65-adcd-4a2e-95bc-4bf500bc6e58"
OFFICE2024 = "a8973cb5-bf03-0a4c-9cef-703099645ab3"
WIN10_2021 = "3b576817-7b75-4362-9e13-223f2d9e9c97"
WIN10_2024 = "e85ee727-69c4-4528-99d2-216b0f065e38"
MADE_UP_WS2025 = "4b83307d-7788-50ff-8d1f-1861915bdb9d"  # in one public database, no Microsoft file
UNKNOWN = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def admin(n):
    return "%s:%d" % (n.host, n.admin_port)


def unknown_json(n, *extra):
    rc, out, err = kmsctl("products", "--unknown", "--json", "--admin", admin(n), *extra)
    assert rc == 0, err
    return json.loads(out)


class GenuineProductTests(NodeTestCase):
    def test_server_2025_and_office_ltsc_2024_are_activated_and_counted(self):
        n = self.node().start()
        k = 0
        for product, kms_id, app in [("ws2025-std", WS2025, "windows"), ("ws2025-dc", WS2025, "windows"),
                                     ("office2024-proplus", OFFICE2024, "office2013"),
                                     ("office2024-visio-pro", OFFICE2024, "office2013"),
                                     ("win10-2021", WIN10_2021, "windows"), ("win10-2024", WIN10_2024, "windows")]:
            k += 1
            r = activate(n, "--product", product, "--cmid", cmid(k))
            self.assertEqual(r["kms_id"], kms_id, product)
            self.assertEqual(r["count"], n.count(app), product)
        st = n.status()
        self.assertEqual(st["counts"]["windows"]["live_clients"], 4)
        self.assertEqual(st["counts"]["office2013"]["live_clients"], 2)
        self.assertEqual(st["requests"]["failed"], 0)
        # Known products: in the audit under their slug, not in the unknown list.
        self.assertEqual([a["product"] for a in n.audit()],
                         ["ws2025", "ws2025", "office2024", "office2024", "win10-2021", "win10-2024"])
        self.assertEqual(st["unknown_products"]["ids"], [])
        # Office LTSC 2024 answers with its own ePID group (key id in 591000000-610999999).
        r = activate(n, "--product", "office2024-proplus", "--cmid", cmid(99))
        self.assertRegex(r["epid"], r"^03612-00206-(59[1-9]|60[0-9]|610)-\d{6}-03-")
        self.assertEqual(r["hwid"], "0000000000002024")
        m = n.metrics()
        # Counts 1 and 2 of N 5: answered below the threshold (issue 16), by their genuine group.
        self.assertIn('kmsha_requests_by_product_total{node="kms1",product="ws2025",application="windows",'
                      'result="below_threshold"} 2', m)
        self.assertNotIn("is not in the product table", n.read_log())


class UnknownIdTests(NodeTestCase):
    def test_unknown_windows_id_is_served_counted_and_listed(self):
        n = self.node().start()
        for k in (1, 2):
            r = activate(n, "--kms-id", UNKNOWN, "--cmid", cmid(k))
            self.assertEqual(r["kms_id"], UNKNOWN)
            self.assertEqual(r["count"], k)  # counted with Windows
        activate(n, "--product", "win10-pro", "--cmid", cmid(3))
        self.assertEqual(n.count("windows"), 3)
        # The made-up Server 2025 ID of one public database is just another unknown ID.
        activate(n, "--kms-id", MADE_UP_WS2025, "--product", "ws2025-std", "--cmid", cmid(4))

        log = n.read_log()
        self.assertEqual(log.count("KMS counted ID %s is not in the product table" % UNKNOWN), 1, log)
        self.assertIn("served under application Windows and counted with it", log)

        u = unknown_json(n)
        self.assertEqual(u["nodes"], ["kms1"])
        ids = {e["kms_id"]: e for e in u["ids"]}
        self.assertEqual(set(ids), {UNKNOWN, MADE_UP_WS2025})
        e = ids[UNKNOWN]
        self.assertEqual((e["application"], e["requests"], e["activated"], e["nodes"]), ("windows", 2, 2, ["kms1"]))
        self.assertLessEqual(e["first_seen_ms"], e["last_seen_ms"])
        self.assertEqual(u["other_requests"], 0)

        rc, out, err = kmsctl("products", "--unknown", "--admin", admin(n))
        self.assertEqual(rc, 0, err)
        row = [l for l in out.splitlines() if l.startswith(UNKNOWN)]
        self.assertEqual(len(row), 1, out)
        self.assertRegex(row[0], r"^%s\s+windows\s+2\s+2\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+"
                                 r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+kms1$" % UNKNOWN)

        rc, out, err = kmsctl("status", "--admin", admin(n))
        self.assertEqual(rc, 0, err)
        self.assertIn("KMS counted IDs not in the product table", out)
        self.assertRegex(out, r"%s\s+windows\s+requests 2 \(activated 2\)" % UNKNOWN)
        self.assertIn('kmsha_unknown_product_requests_total{node="kms1",kms_id="%s",application="windows"} 2'
                      % UNKNOWN, n.metrics())

    def test_unknown_office_2010_id_counts_with_office_2010(self):
        n = self.node().start()
        r = activate(n, "--product", "office2010-proplus", "--kms-id", UNKNOWN, "--cmid", cmid(1))
        self.assertEqual(r["count"], 1)
        self.assertEqual(n.status()["counts"]["office2010"]["live_clients"], 1)
        self.assertEqual(n.status()["counts"]["windows"]["live_clients"], 0)
        self.assertEqual(unknown_json(n)["ids"][0]["application"], "office2010")

    def test_a_product_list_is_strict(self):
        n = self.node(config="[kms]\nallow_products = win10, ws2025\n").start()
        activate(n, "--product", "ws2025-std", "--cmid", cmid(1))
        rc, out, err = kmsctl("activate", "--kms-id", UNKNOWN, "--cmid", cmid(2), n.addr)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("0xC004F042", err)
        # Still reported, as refused.
        e = unknown_json(n)["ids"][0]
        self.assertEqual((e["kms_id"], e["requests"], e["activated"]), (UNKNOWN, 1, 0))
        self.assertIn("is not in the product table (application Windows); answered 0xC004F042", n.read_log())
        self.assertEqual(n.count("windows"), 1)

    def test_the_list_is_bounded(self):
        n = self.node().start()
        for k in range(34):
            activate(n, "--kms-id", "0a1b2c3d-0000-4000-8000-%012x" % k, "--cmid", cmid(k))
        u = n.status()["unknown_products"]
        self.assertEqual(u["max_tracked"], 32)
        self.assertEqual(len(u["ids"]), 32)
        self.assertEqual((u["other_requests"], u["other_activated"]), (2, 2))
        m = n.metrics()
        self.assertEqual(len(re.findall(r"^kmsha_unknown_product_requests_total\{", m, re.M)), 33)
        self.assertIn('kmsha_unknown_product_requests_total{node="kms1",kms_id="other",application="other"} 2', m)
        log = n.read_log()
        self.assertEqual(log.count("is not in the product table;"), 32)
        self.assertEqual(log.count("already lists 32 such IDs"), 1)
        self.assertEqual(n.count("windows"), 34)  # all served and counted

    def test_cluster_list_merges_the_nodes(self):
        c = Cluster(self, n=2).start()
        for i, nd in enumerate(c.nodes):
            activate(nd, "--kms-id", UNKNOWN, "--cmid", cmid(i))
        c.wait_converged(2)
        u = unknown_json(c.nodes[0], "--cluster")
        self.assertEqual(sorted(u["nodes"]), ["kms1", "kms2"])
        self.assertEqual(len(u["ids"]), 1)
        e = u["ids"][0]
        self.assertEqual((e["requests"], e["activated"], sorted(e["nodes"])), (2, 2, ["kms1", "kms2"]))
        # Without --cluster: the one node's own requests.
        self.assertEqual(unknown_json(c.nodes[1])["ids"][0]["requests"], 1)


class CountRuleTests(NodeTestCase):
    def test_n_1000_clients_cannot_raise_the_count(self):
        # 55 Windows clients asking for N = 1000: told the count, never above 50, and each
        # stays below its own threshold. (Before: max_n became 1000 and the count 55.)
        n = self.node().start()
        for k in range(55):
            r = activate(n, "--required-count", 1000, "--cmid", cmid(k))
            self.assertEqual(r["count"], min(k + 1, 50))
            self.assertFalse(r["activated"])
        c = n.status()["counts"]["windows"]
        self.assertEqual((c["count"], c["live_clients"], c["max_n"]), (50, 55, 25))
        # A client with its own N below the count is activated; the count is the same.
        rc, out, err = kmsctl("activate", "--required-count", 1, "--cmid", cmid(1), n.addr)
        self.assertEqual(rc, 0, err)
        self.assertTrue(out.startswith("Activated win10-pro"), out)
        self.assertIn("Current count: 50 (required 1)", out)
        rc, out, err = kmsctl("activate", "--required-count", 1000, "--cmid", cmid(2), n.addr)
        self.assertEqual(rc, 0, err)
        self.assertTrue(out.startswith("Answered (count below N: the client stays in grace): win10-pro"), out)
        # Office: 11 clients with N = 1000 -> 10.
        for k in range(11):
            r = activate(n, "--product", "office2019-proplus", "--required-count", 1000, "--cmid", cmid(100 + k))
        self.assertEqual(r["count"], 10)
        self.assertEqual(n.status()["counts"]["office2013"]["max_n"], 5)
        # /metrics tells the same count.
        self.assertIn('kmsha_count_reported{node="kms1",application="windows"} 50', n.metrics())

    def test_servers_alone_are_capped_at_10_whatever_their_n(self):
        n = self.node().start()
        for k in range(12):
            r = activate(n, "--product", "ws2025-std", "--required-count", 25, "--cmid", cmid(k))
        self.assertEqual(r["count"], 10)
        self.assertEqual(n.status()["counts"]["windows"]["max_n"], 5)

    def test_replicated_records_follow_the_same_rule(self):
        c = Cluster(self, n=2).start()
        for k in range(30):
            activate(c.nodes[k % 2], "--required-count", 1000, "--cmid", cmid(k))
        c.wait_converged(30)
        for k in range(30, 60):
            activate(c.nodes[k % 2], "--required-count", 1000, "--cmid", cmid(k))
        c.wait_converged(50, records=60)
        for nd in c.nodes:
            self.assertEqual(nd.status()["counts"]["windows"]["max_n"], 25)


if __name__ == "__main__":
    main()
