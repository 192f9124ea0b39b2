"""kmsbench against a real kmsd: closed loop with full verification, the JSON summary and
the HTML report, counts on the node consistent with the clients kmsbench says it used,
Windows-like failover past a dead host, the open-loop timetable, exit codes,
kmsbench-floor (canned bytes, measured with --no-verify) and kmsbench-disk (the disk's own
limit for durable group commits)."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BUILD, NodeTestCase, free_port, main  # noqa: E402

KMSBENCH = os.path.join(BUILD, "kmsbench")
FLOOR = os.path.join(BUILD, "kmsbench-floor")
DISK = os.path.join(BUILD, "kmsbench-disk")


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
        # the timetable's 2 s, then at most --timeout (5 s by default) for what is outstanding:
        # bounds a loaded machine cannot break
        self.assertTrue(1.9 <= r["elapsed_s"] <= 2 + 5 + 1, r["elapsed_s"])
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

    def test_refusals_by_cause_as_the_host_gave_them(self):
        # kmsd refuses a connection over max_connections_per_address by closing it
        # unanswered: kmsbench counts those as "dropped" (not "refused", which is a
        # connection refused, nor "connection_closed"), per target, and exactly as many as
        # the node counted.
        n = self.node(config="[limits]\nmax_connections_per_address = 1\n").start()
        r, text = self.run_json("--requests", 200, "--concurrency", 8, "--clients", 50,
                                n.addr, expect_rc=1)
        f = r["failures"]
        self.assertGreater(f["dropped"], 0, text)
        self.assertEqual(f["refused"], 0)
        self.assertEqual(f["connection_closed"], 0)
        self.assertEqual(r["activations"] + f["dropped"], 200)
        self.assertEqual(r["targets"][0]["dropped"], f["dropped"])
        self.assertEqual(r["targets"][0]["ok"], r["activations"])
        self.assertIn("dropped", text)
        m = n.metrics()
        refused = int(re.search(r'kmsha_refusals_total\{node="kms1",cause="per_address"\} (\d+)', m).group(1))
        self.assertEqual(refused, f["dropped"])
        # With a second host, a dropped activation moves on: a failover "dropped".
        n2 = self.node(node_id="kms2").start()
        r, text = self.run_json("--requests", 100, "--concurrency", 8, "--clients", 50,
                                "--no-sticky", n.addr, n2.addr)
        self.assertEqual(r["failed"], 0, text)
        self.assertGreater(r["failovers_by_cause"]["dropped"], 0, text)
        self.assertEqual(r["failovers"], r["failovers_by_cause"]["dropped"])
        self.assertEqual(r["targets"][0]["dropped"], r["failovers"])

    def test_threads_share_the_load(self):
        n = self.node().start()
        r, text = self.run_json("--requests", 300, "--concurrency", 8, "--threads", 2,
                                "--clients", 40, n.addr)
        self.assertEqual((r["activations"], r["failed"], r["attempted"]), (300, 0, 300), text)
        self.assertEqual(r["config"]["threads"], 2)
        self.assertIn("2 threads", text)
        self.assertEqual(sum(s["activations"] for s in r["series"]), 300)
        st = n.status()
        self.assertEqual(st["requests"]["total"], 300)
        self.assertEqual(st["counts"]["windows"]["live_clients"], 40)
        # open loop, the timetable shared: every start made once
        r, _ = self.run_json("--rate", 200, "--duration", 1, "--threads", 2, "--clients", 1000, n.addr)
        self.assertEqual(r["failed"], 0)
        self.assertEqual(n.status()["requests"]["total"], 300 + r["activations"])

    def test_close_and_source_addresses(self):
        n = self.node().start()

        def time_wait():
            out = subprocess.run(["ss", "-Htan", "state", "time-wait", "dst", n.addr],
                                 capture_output=True, text=True, check=True).stdout
            return len([line for line in out.splitlines() if line.strip()])

        # Default: RST close, no TIME_WAIT left on the generator's side.
        r, text = self.run_json("--requests", 50, "--concurrency", 4, n.addr)
        self.assertEqual(r["failed"], 0)
        self.assertEqual(r["config"]["close"], "rst")
        self.assertIn("close with RST", text)
        self.assertEqual(time_wait(), 0)
        # --graceful-close: FIN as Windows does, each connection then waits in TIME_WAIT.
        r, _ = self.run_json("--requests", 50, "--concurrency", 4, "--graceful-close", n.addr)
        self.assertEqual((r["failed"], r["config"]["close"]), (0, "fin"))
        self.assertEqual(time_wait(), 50)
        # --source: the connections come from those addresses (a fresh node records them).
        n2 = self.node(node_id="kms2").start()
        r, _ = self.run_json("--requests", 40, "--concurrency", 4, "--clients", 40,
                             "--source", "127.0.0.2-127.0.0.3", n2.addr)
        self.assertEqual(r["failed"], 0)
        code, body = n2.http("/clients?limit=1000")
        self.assertEqual(code, 200, body)
        seen = {c["cmid"]: c["address"] for c in json.loads(body)["clients"]}
        self.assertEqual(len(seen), 40)
        addrs = {a.rsplit(":", 1)[0] for a in seen.values()}
        self.assertEqual(addrs, {"127.0.0.2", "127.0.0.3"}, seen)
        rc, _, err = bench("--source", "127.0.0.9-127.0.0.2", "127.0.0.1:1")
        self.assertEqual(rc, 2, err)

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


def disk_model(*args, timeout=60):
    """Runs kmsbench-disk; returns (exit code, stdout, stderr, seconds taken)."""
    t0 = time.monotonic()
    p = subprocess.run([DISK] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    assert_no_sanitizer_report(p.stderr)
    return p.returncode, p.stdout, p.stderr, time.monotonic() - t0


def disk_rows(text):
    """{model: (commits, records per commit, [p50, p90, p99, p99.9, max])} of its table."""
    rows = {}
    for line in text.splitlines():
        f = line.replace("|", " ").split()
        if f and f[0] in ("lmdb", "journal"):
            rows[f[0]] = (int(f[2]), float(f[3]), [float(x) for x in f[6:11]])
    return rows


class DiskModelTests(NodeTestCase):
    def test_both_models_follow_the_timetable_and_clean_up(self):
        rc, out, err, took = disk_model("--dir", self.workdir, "--rate", 400, "--seconds", 1)
        self.assertEqual(rc, 0, err)
        rows = disk_rows(out)
        self.assertEqual(sorted(rows), ["journal", "lmdb"], out)
        for model, (commits, per_commit, lat) in rows.items():
            # every one of the 400 records was committed, in groups
            self.assertAlmostEqual(commits * per_commit, 400, delta=0.1 * commits + 1, msg=out)
            self.assertGreater(lat[0], 0, out)
            self.assertEqual(lat, sorted(lat), "%s: percentiles out of order\n%s" % (model, out))
        # open loop: each model ran its second, whatever the disk did
        self.assertGreaterEqual(took, 2.0)
        self.assertEqual(os.listdir(self.workdir), [], "files left behind")

    def test_the_commit_window_gathers_records(self):
        # 100 records/s arrive every 10 ms: an 80 ms window gathers about 9 of them into a
        # commit; without a window a commit holds what arrived during the previous one. On
        # a real disk a slow fdatasync (another process's writes) makes commits gather what
        # arrived meanwhile, window or not; in memory (tmpfs) only the window decides.
        shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
        where = tempfile.mkdtemp(prefix="kmsha-disk-", dir=shm)
        self.addCleanup(shutil.rmtree, where, True)
        rows = {}
        for delay in (0, 80):
            rc, out, err, _ = disk_model("--dir", where, "--rate", 100, "--seconds", 1,
                                         "--model", "lmdb", "--delay-ms", delay)
            self.assertEqual(rc, 0, err)
            rows[delay] = disk_rows(out)["lmdb"]
        self.assertGreater(rows[80][1], 5.0, rows)
        self.assertGreater(rows[80][1], 2.5 * rows[0][1], rows)
        # and a record waits out its share of the window before its commit
        self.assertGreater(rows[80][2][0], 30.0, rows)

    def test_usage_errors(self):
        for args, what in ((["--rate", "0"], "--rate"), (["--model", "btree"], "--model"),
                           (["--seconds", "x"], "--seconds"), (["extra"], "extra")):
            rc, _, err, _ = disk_model(*args)
            self.assertEqual(rc, 2, "%s: %s" % (args, err))
            self.assertIn(what, err)
        missing = os.path.join(self.workdir, "no", "such", "dir")
        rc, _, err, _ = disk_model("--dir", missing, "--seconds", 0.1)
        self.assertEqual(rc, 1)
        self.assertIn(missing, err)
        rc, out, _, _ = disk_model("--help")
        self.assertEqual(rc, 0)
        self.assertIn("--pages", out)


if __name__ == "__main__":
    main()
