"""kmsbench against a real kmsd: closed loop with full verification, the JSON summary and
the HTML report, counts on the node consistent with the clients kmsbench says it used,
Windows-like failover past a dead host, the open-loop timetable, exit codes, and
kmsbench-floor (canned bytes, measured with --no-verify)."""
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BUILD, NodeTestCase, free_port, main  # noqa: E402

KMSBENCH = os.path.join(BUILD, "kmsbench")
FLOOR = os.path.join(BUILD, "kmsbench-floor")


def bench(*args, timeout=60):
    """Runs kmsbench; returns (exit code, stdout, stderr)."""
    p = subprocess.run([KMSBENCH, "--no-progress"] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    assert_no_sanitizer_report(p.stderr)
    return p.returncode, p.stdout, p.stderr


def assert_no_sanitizer_report(text):
    """Exit codes can hide a sanitizer report (kmsbench exits 1 on failed activations)."""
    for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
        assert marker not in text, text


class BenchTests(NodeTestCase):
    def run_json(self, *args, expect_rc=0):
        out = os.path.join(self.workdir, "out-%d.json" % time.monotonic_ns())
        rc, so, se = bench("--json", out, *args)
        self.assertEqual(rc, expect_rc, "kmsbench %s: rc %d\n%s\n%s" % (args, rc, so, se))
        with open(out) as f:
            return json.load(f), so

    def test_closed_loop_verified_json_report_and_counts(self):
        n = self.node().start()
        html = os.path.join(self.workdir, "out.html")
        r, text = self.run_json("--requests", 200, "--concurrency", 8, "--clients", 50,
                                "--products", "win10-pro:70,office2019-proplus:30",
                                "--report", html, n.addr)
        self.assertEqual(r["activations"], 200)
        self.assertEqual(r["attempted"], 200)
        self.assertEqual(r["failed"], 0)
        self.assertEqual(r["failures"]["total"], 0)
        self.assertTrue(all(v == 0 for k, v in r["failures"].items() if isinstance(v, int)),
                        r["failures"])
        self.assertGreater(r["activations_per_s"], 0)
        lat = r["latency_ms"]
        self.assertGreater(lat["p50"], 0)
        self.assertTrue(lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p999"] <= lat["max"], lat)
        self.assertEqual(r["config"]["concurrency"], 8)
        self.assertEqual(r["config"]["clients"], 50)
        self.assertEqual(r["failovers"], 0)
        # the per-second series adds up to the total
        self.assertGreaterEqual(len(r["series"]), 1)
        self.assertEqual(sum(s["activations"] for s in r["series"]), 200)
        for s in r["series"]:
            self.assertEqual(set(s), {"t", "activations", "failures", "p50_ms", "p99_ms"})
        self.assertIn("activations/s", text)

        # The node saw exactly the clients kmsbench used, per application, capped as a host
        # caps them (50 Windows, 10 Office).
        used = r["clients_by_app"]
        self.assertEqual(used["windows"] + used["office2013"], 50)
        self.assertGreater(used["windows"], 0)
        self.assertGreater(used["office2013"], 0)
        st = n.status()
        self.assertEqual(st["requests"]["total"], 200)
        self.assertEqual(st["requests"]["failed"], 0)
        c = st["counts"]
        self.assertEqual(c["windows"]["live_clients"], used["windows"])
        self.assertEqual(c["office2013"]["live_clients"], used["office2013"])
        self.assertEqual(c["windows"]["count"], min(used["windows"], 50))
        self.assertEqual(c["office2013"]["count"], min(used["office2013"], 10))
        # a fresh host: the first Windows clients see count < 25 (counted, not failures)
        self.assertGreater(r["count_below_n"], 0)

        # The report is one self-contained page with its charts.
        with open(html) as f:
            page = f.read()
        self.assertTrue(page.startswith("<!DOCTYPE html>"))
        self.assertGreaterEqual(page.count("<svg"), 3)
        self.assertIn("Throughput", page)
        self.assertNotRegex(page, r"<script|<link|<img|@import|src=|url\(")
        self.assertEqual(set(re.findall(r"https?://[^\"]*", page)), {"http://www.w3.org/2000/svg"})

        # Same seed, second run: the same 50 clients renew, so the counts stay put.
        r2, _ = self.run_json("--requests", 100, "--concurrency", 4, "--clients", 50,
                              "--products", "win10-pro:70,office2019-proplus:30", n.addr)
        self.assertEqual(r2["activations"], 100)
        if used["windows"] >= 25:
            self.assertEqual(r2["count_below_n"], 0)
        c2 = n.status()["counts"]
        self.assertEqual(c2["windows"]["live_clients"], used["windows"])
        self.assertEqual(c2["office2013"]["live_clients"], used["office2013"])

    def test_failover_past_a_dead_host(self):
        n = self.node().start()
        dead = "127.0.0.1:%d" % free_port()
        r, text = self.run_json("--requests", 200, "--concurrency", 8, "--clients", 50,
                                "--target", dead, "--target", n.addr)
        self.assertEqual(r["failed"], 0, text)
        self.assertEqual(r["activations"], 200)
        self.assertGreater(r["failovers"], 0)
        # Each client remembers the host that answered it: one failover per client.
        self.assertEqual(r["failovers"], 50)
        self.assertEqual(r["targets"][0]["refused"], 50)
        self.assertEqual(n.status()["requests"]["total"], 200)
        # Without that memory every activation fails over.
        r, _ = self.run_json("--requests", 40, "--concurrency", 4, "--clients", 50,
                             "--no-sticky", dead, n.addr)
        self.assertEqual((r["failed"], r["failovers"]), (0, 40))

    def test_open_loop_keeps_the_timetable(self):
        n = self.node().start()
        r, _ = self.run_json("--rate", 100, "--duration", 2, "--clients", 1000, n.addr)
        self.assertEqual(r["config"]["mode"], "open")
        self.assertTrue(180 <= r["attempted"] <= 220, r["attempted"])
        self.assertTrue(180 <= r["activations"] <= 220, r["activations"])
        self.assertEqual(r["failed"], 0)
        self.assertTrue(1.9 <= r["elapsed_s"] <= 3.0, r["elapsed_s"])
        self.assertEqual(n.status()["requests"]["total"], r["activations"])

    def test_require_count_and_failure_exit_code(self):
        n = self.node().start()
        # One at a time on a fresh host: Windows clients 1..24 see count < 25.
        r, _ = self.run_json("--requests", 30, "--concurrency", 1, "--clients", 30,
                             "--require-count", n.addr, expect_rc=1)
        self.assertEqual(r["count_below_n"], 24)
        self.assertEqual(r["failures"]["count_below_n"], 24)
        self.assertEqual(r["activations"], 6)
        # Nobody listening: every activation fails as refused, exit code 1.
        r, text = self.run_json("--requests", 10, "--concurrency", 2,
                                "127.0.0.1:%d" % free_port(), expect_rc=1)
        self.assertEqual(r["failures"]["refused"], 10, text)
        self.assertEqual(r["activations"], 0)
        self.assertIn("refused", text)

    def test_usage_errors(self):
        for args in (["--concurrency", "0", "127.0.0.1:1"], ["--bogus", "127.0.0.1:1"], [],
                     ["--products", "no-such-product", "127.0.0.1:1"],
                     ["--protocol", "7", "127.0.0.1:1"],
                     ["--rate", "10", "--concurrency", "4", "127.0.0.1:1"]):
            rc, _, err = bench(*args)
            self.assertEqual(rc, 2, "%s: %s" % (args, err))
        rc, _, err = bench("--srv", "_vlmcs._tcp.example.edu")
        self.assertEqual(rc, 2)
        self.assertIn("--dns", err)
        # A DNS server that does not answer (nothing listens there): a clear failure.
        port = free_port("127.0.0.1")
        rc, _, err = bench("--srv", "_vlmcs._tcp.example.edu", "--dns", "127.0.0.1:%d" % port, "-n", "1")
        self.assertEqual(rc, 1)
        self.assertIn("SRV look-up", err)
        rc, out, _ = bench("--help")
        self.assertEqual(rc, 0)
        self.assertIn("--concurrency", out)

    def test_floor_server(self):
        port = free_port()
        log = open(os.path.join(self.workdir, "floor.log"), "w")
        p = subprocess.Popen([FLOOR, "--listen", "127.0.0.1:%d" % port], stdout=log,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            deadline = time.time() + 10
            while time.time() < deadline:
                with open(os.path.join(self.workdir, "floor.log")) as f:
                    if "listening" in f.read():
                        break
                time.sleep(0.05)
            addr = "127.0.0.1:%d" % port
            r, _ = self.run_json("--requests", 200, "--concurrency", 8, "--no-verify", addr)
            self.assertEqual((r["activations"], r["failed"]), (200, 0))
            self.assertFalse(r["config"]["verify"])
            for proto in (4, 5):
                r, _ = self.run_json("--requests", 20, "--protocol", proto, "--no-verify", addr)
                self.assertEqual((r["activations"], r["failed"]), (20, 0))
            # Canned bytes do not echo the request: full verification catches it.
            r, _ = self.run_json("--requests", 20, "--concurrency", 2, addr, expect_rc=1)
            self.assertEqual(r["failures"]["verification"], 20)
        finally:
            p.terminate()
            p.wait(10)
            log.close()
        self.assertEqual(p.returncode, 0)
        with open(os.path.join(self.workdir, "floor.log")) as f:
            text = f.read()
        assert_no_sanitizer_report(text)
        self.assertIn("PDUs answered", text)


if __name__ == "__main__":
    main()
