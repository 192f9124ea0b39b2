"""The node as an operator sees it: /healthz, /status, /metrics (strict Prometheus text
format, numbers matching what the test did), configuration errors that name file, line
and key, SIGTERM and SIGHUP."""
import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import KMSD, NodeTestCase, activate, cmid, kmsctl, main, wait_until  # noqa: E402

METRIC_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
                         r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*)?\})? '
                         r'(-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$')


def parse_metrics(text):
    """Strict parser for the Prometheus text format; returns {(name, labels): value}."""
    samples, typed = {}, {}
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), line
            typed[name] = kind
            continue
        assert not line.startswith("#"), "stray comment: %r" % line
        m = METRIC_LINE.match(line)
        assert m, "not a valid sample line: %r" % line
        name, labels, value = m.group(1), m.group(3) or "", m.group(4)
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in typed or base in typed, "sample without TYPE: %r" % line
        key = (name, labels)
        assert key not in samples, "duplicate sample %r" % line
        samples[key] = float(value)
    return samples


class AdminTests(NodeTestCase):
    def test_healthz_status_metrics(self):
        n = self.node().start()
        code, body = n.http("/healthz")
        self.assertEqual((code, body.strip()), (200, "ok"))
        activate(n, "--cmid", cmid(1))
        activate(n, "--cmid", cmid(2), "--license-status", 1)
        activate(n, "--product", "office2016-proplus", "--cmid", cmid(3))
        kmsctl("activate", "--product", "win10-home", n.addr)  # refused
        st = n.status()
        self.assertEqual(st["node"], "kms1")
        self.assertEqual(st["counts"]["windows"]["count"], 2)
        self.assertEqual(st["counts"]["office2013"]["count"], 1)
        self.assertEqual(st["requests"]["total"], 4)
        self.assertEqual(st["requests"]["failed"], 1)
        self.assertEqual(st["requests"]["by_license_status"]["licensed"], 1)
        self.assertEqual(st["requests"]["by_license_status"]["oob_grace"], 3)
        self.assertEqual(st["recent"][0]["result"], "0xC004F042")
        m = parse_metrics(n.metrics())
        # Counts 1 and 2 of 25, 1 of 5: answered below the threshold, not activated.
        self.assertEqual(m[("kmsha_requests_total", 'node="kms1",result="below_threshold"')], 3)
        self.assertEqual(m[("kmsha_requests_total", 'node="kms1",result="activated"')], 0)
        self.assertEqual(m[("kmsha_requests_total", 'node="kms1",result="product_refused"')], 1)
        self.assertEqual(m[("kmsha_count_reported", 'node="kms1",application="windows"')], 2)
        self.assertEqual(m[("kmsha_count_reported", 'node="kms1",application="office2013"')], 1)
        self.assertEqual(m[("kmsha_request_duration_seconds_count", 'node="kms1"')], 4)
        self.assertEqual(m[("kmsha_request_duration_seconds_bucket", 'node="kms1",le="+Inf"')], 4)
        self.assertEqual(m[("kmsha_store_records", 'node="kms1"')], 3)
        self.assertEqual(n.http("/nope")[0], 404)

    def test_sigterm_exits_cleanly(self):
        n = self.node().start()
        activate(n)
        self.assertEqual(n.stop(signal.SIGTERM), 0)
        self.assertIn("stopped", n.read_log())

    def test_sighup_reloads_intervals(self):
        n = self.node(config="[kms]\nactivation_interval = 120\n").start()
        self.assertEqual(activate(n)["activation_interval"], 120)
        with open(n.config_path, "w") as f:
            f.write("[kms]\nactivation_interval = 60\nrenewal_interval = 1440\n")
        n.proc.send_signal(signal.SIGHUP)
        wait_until("the reload logged", lambda: "configuration reloaded" in n.read_log())
        r = activate(n)
        self.assertEqual((r["activation_interval"], r["renewal_interval"]), (60, 1440))

    def test_bad_config_names_file_line_and_key(self):
        path = os.path.join(self.workdir, "bad.ini")
        with open(path, "w") as f:
            f.write("[node]\nid = kms1\n\n[kms]\nrenewal_interval = 5\n")
        p = subprocess.run([KMSD, "--check-config", path], capture_output=True, text=True)
        self.assertEqual(p.returncode, 1)
        self.assertIn("%s:5:" % path, p.stderr)
        self.assertIn("renewal_interval", p.stderr)
        with open(path, "w") as f:
            f.write("[kms]\nfrobnicate = 1\n")
        p = subprocess.run([KMSD, "--config", path], capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 1)
        self.assertIn("%s:2:" % path, p.stderr)
        self.assertIn("frobnicate", p.stderr)
        with open(path, "w") as f:
            f.write("[kms]\nrenewal_interval = 10080\n")
        p = subprocess.run([KMSD, "--check-config", path], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_unknown_option(self):
        p = subprocess.run([KMSD, "--frob"], capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--frob", p.stderr)


if __name__ == "__main__":
    main()
