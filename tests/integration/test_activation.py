"""Activations against a real kmsd: protocols 4/5/6 over NDR32 and NDR64, the count as a
KMS host keeps it (distinct CMIDs, per application, capped, 30-day window with renewal),
a count that survives kill -9, and an audit file whose pages go to disk as they come."""
import ctypes
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BUILD, NodeTestCase, activate, cmid, free_port, kmsctl, main  # noqa: E402

WINDOWS_EPID = "03612-00206-556-123727-03-1033-17763.0000-2972018"
DAY = 86400


class ProtocolTests(NodeTestCase):
    def setUp(self):
        super().setUp()
        self.n = self.node().start()

    def test_protocols_and_transfer_syntaxes(self):
        products = {4: "win7-pro", 5: "office2013-proplus", 6: "win10-pro"}
        k = 0
        for proto, product in products.items():
            for ndr in ("--no-ndr64", "--ndr64"):
                k += 1
                # Two requests on one connection: the first over NDR32, the second over
                # NDR64 when NDR64 was negotiated (as Windows does).
                r = activate(self.n, "--protocol", proto, "--product", product, "--cmid", cmid(k),
                             ndr, "--requests", 2)
                self.assertEqual(r["protocol"], "%d.0" % proto)
                self.assertEqual(r["syntax"], "NDR64" if ndr == "--ndr64" else "NDR32")
                self.assertEqual(r["activation_interval"], 120)
                self.assertEqual(r["renewal_interval"], 10080)
                self.assertEqual(r["cmid"], cmid(k))
                if proto == 6:
                    self.assertEqual(r["hwid"].upper(), "3A1C049600B60076")
                    self.assertEqual(r["epid"], WINDOWS_EPID)
        st = self.n.status()
        # 2 Windows 7, 2 Windows 10 clients; 2 Office 2013 clients; 12 requests in all.
        self.assertEqual(st["counts"]["windows"]["live_clients"], 4)
        self.assertEqual(st["counts"]["office2013"]["live_clients"], 2)
        self.assertEqual(st["requests"]["total"], 12)
        self.assertEqual(st["requests"]["failed"], 0)
        self.assertEqual(st["requests"]["by_protocol"], {"4": 4, "5": 4, "6": 4})

    def test_audit_line_per_request(self):
        activate(self.n, "--cmid", cmid(1), "--workstation", "lab-pc-01.example.edu")
        lines = self.n.audit(at_least=1)
        self.assertEqual(len(lines), 1)
        a = lines[0]
        self.assertEqual(a["node"], "kms1")
        self.assertEqual(a["workstation"], "lab-pc-01.example.edu")
        self.assertEqual(a["cmid"], cmid(1))
        self.assertEqual(a["application"], "windows")
        self.assertEqual(a["sku"], "2de67392-b7a7-462a-b1ca-108dd189f588")
        self.assertEqual(a["license_status"], 2)
        self.assertEqual(a["n_policy"], 25)
        self.assertEqual(a["count"], 1)
        self.assertEqual(a["result"], "0x00000000")
        self.assertTrue(a["client"].startswith("127.0.0.1:"))

    def test_workstation_quotes_and_backslash(self):
        # Escaped as JSON escapes them in the audit line, /status and kmsctl clients (they
        # were replaced by '?' before).
        ws = 'LAB "A" \\ it\'s'
        activate(self.n, "--cmid", cmid(2), "--workstation", ws)
        self.assertEqual(self.n.audit(at_least=1)[-1]["workstation"], ws)
        with open(self.n.audit_path) as f:
            self.assertIn('"workstation":"LAB \\"A\\" \\\\ it\'s"', f.read())
        # n.status() sends the test's admin token: /status names the workstation (to a request
        # without a token it gives null: test_hostile).
        self.assertEqual(self.n.status()["recent"][0]["workstation"], ws)
        rc, out, err = kmsctl("clients", "--json", "--admin", "127.0.0.1:%d" % self.n.admin_port,
                              "--cmid", cmid(2))
        self.assertEqual(rc, 0, err)
        import json
        self.assertEqual(json.loads(out)["clients"][0]["workstation"], ws)


class CacheStat(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in
                ("nr_cache", "nr_dirty", "nr_writeback", "nr_evicted", "nr_recently_evicted")]


def unwritten_pages(path):
    """Pages of a file that are dirty or under writeback, by cachestat(2) (Linux 6.5);
    None when the kernel does not have it."""
    libc = ctypes.CDLL(None, use_errno=True)
    rng = (ctypes.c_uint64 * 2)(0, 0)  # offset 0, length 0 = to the end
    cs = CacheStat()
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.syscall(451, fd, ctypes.byref(rng), ctypes.byref(cs), 0) != 0:
            return None
    finally:
        os.close(fd)
    return cs.nr_dirty + cs.nr_writeback


class AuditWritebackTests(NodeTestCase):
    def test_audit_pages_do_not_wait_for_the_kernel(self):
        # Left to the kernel, an audit file's pages stay dirty for 30 s and then go out
        # in one burst that stalls every commit behind it; kmsd starts their writeback
        # every 100 ms.
        n = self.node().start()
        fs = subprocess.run(["stat", "-f", "-c", "%T", n.data_dir], capture_output=True, text=True)
        if fs.stdout.strip() in ("tmpfs", "ramfs"):
            self.skipTest("the data directory is in memory: its pages are never written")
        p = subprocess.run([os.path.join(BUILD, "kmsbench"), "--no-progress", "--requests", "3000",
                            "--concurrency", "16", "--clients", "100000", n.addr],
                           capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        deadline = time.monotonic() + 30
        while len(n.audit()) < 3000 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(len(n.audit()), 3000)
        if unwritten_pages(n.audit_path) is None:
            self.skipTest("no cachestat(2) in this kernel")
        # generous for a busy disk, well below the kernel's own 30 s expiry of dirty pages
        deadline = time.monotonic() + 15
        while unwritten_pages(n.audit_path) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(unwritten_pages(n.audit_path), 0, "audit pages still unwritten after 15 s")


class ListenTests(NodeTestCase):
    def test_ipv6_and_several_listen_addresses(self):
        n = self.node()
        v6_port = free_port("::1")
        v4_port = free_port("127.0.0.1")
        n.start(["--listen", "[::1]:%d" % v6_port, "--listen", "127.0.0.1:%d" % v4_port])
        rc, out, err = kmsctl("activate", "--json", "--cmid", cmid(1), "[::1]:%d" % v6_port)
        self.assertEqual(rc, 0, err)
        self.assertEqual(activate(n, "--cmid", cmid(2))["count"], 2)  # the harness's own --listen
        rc, out, err = kmsctl("activate", "--json", "--cmid", cmid(3), "127.0.0.1:%d" % v4_port)
        self.assertEqual(rc, 0, err)
        self.assertIn('"count":3', out.replace(" ", ""))
        self.assertTrue(any(a["client"].startswith("[::1]:") for a in n.audit(at_least=3)))


class CountTests(NodeTestCase):
    def test_count_grows_per_distinct_client_and_apps_count_apart(self):
        n = self.node().start()
        self.assertEqual([activate(n, "--cmid", cmid(i))["count"] for i in (1, 2, 3)], [1, 2, 3])
        self.assertEqual(activate(n, "--cmid", cmid(2))["count"], 3, "a repeated CMID is not counted twice")
        self.assertEqual(activate(n, "--product", "office2019-proplus", "--cmid", cmid(1))["count"], 1)
        self.assertEqual(activate(n, "--product", "office2010-proplus", "--cmid", cmid(1))["count"], 1)
        self.assertEqual(activate(n, "--product", "ws2019-dc", "--cmid", cmid(4))["count"], 4,
                         "Windows clients and servers share the Windows count")
        st = n.status()["counts"]
        self.assertEqual((st["windows"]["count"], st["office2013"]["count"], st["office2010"]["count"]), (4, 1, 1))

    def test_cap_is_twice_the_largest_n(self):
        n = self.node().start()
        # Only servers (N = 5) so far: the cap is 10.
        counts = [activate(n, "--product", "ws2022-std", "--cmid", cmid(i))["count"] for i in range(12)]
        self.assertEqual(counts[:10], list(range(1, 11)))
        self.assertEqual(counts[10:], [10, 10])
        # A client edition (N = 25) raises the cap to 50.
        self.assertEqual(activate(n, "--cmid", cmid(100))["count"], 13)
        for i in range(101, 140):
            last = activate(n, "--cmid", cmid(i))["count"]
        self.assertEqual(last, 50)
        self.assertEqual(n.status()["counts"]["windows"]["live_clients"], 52)

    def test_count_survives_kill9_and_restart(self):
        n = self.node().start()
        for i in range(1, 6):
            activate(n, "--cmid", cmid(i))
        n.kill9()
        n.start()
        self.assertEqual(n.count(), 5)
        self.assertEqual(activate(n, "--cmid", cmid(3))["count"], 5)
        self.assertEqual(activate(n, "--cmid", cmid(6))["count"], 6)

    def test_clients_expire_after_30_days_and_renewal_refreshes(self):
        n = self.node().start()
        for i in (1, 2, 3):
            activate(n, "--cmid", cmid(i))
        n.stop()
        # 29 days later: nobody expired yet; client 1 renews, client 4 is new.
        n.start(["--clock-offset", 29 * DAY])
        self.assertEqual(activate(n, "--cmid", cmid(1), "--time-offset", 29 * DAY)["count"], 3)
        self.assertEqual(activate(n, "--cmid", cmid(4), "--time-offset", 29 * DAY)["count"], 4)
        n.stop()
        # 31 days after the start: clients 2 and 3 (last seen on day 0) expired; 1 and 4 live.
        n.start(["--clock-offset", 31 * DAY])
        self.assertEqual(n.count(), 2)
        self.assertEqual(activate(n, "--cmid", cmid(5), "--time-offset", 31 * DAY)["count"], 3)


if __name__ == "__main__":
    main()
