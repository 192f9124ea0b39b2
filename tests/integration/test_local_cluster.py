"""The README's first command: the built-in three-node cluster (kmsd --local-cluster) on
127.0.0.1-3, port 1688 each, activates and converges. Skipped when those ports are taken
(for instance by a cluster an operator started with scripts/run.sh)."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import KMSCTL, KMSD, check_process_output, kmsctl, main  # noqa: E402


def ports_free():
    for i in (1, 2, 3):
        for port in (1688, 8688, 7001, 7002):
            s = socket.socket()
            try:
                s.bind(("127.0.0.%d" % i, port))
            except OSError:
                return False
            finally:
                s.close()
    return True


class LocalClusterTests(unittest.TestCase):
    def test_builtin_cluster(self):
        if not ports_free():
            self.skipTest("ports 1688/8688/7001 on 127.0.0.1-3 are in use")
        cwd = tempfile.mkdtemp(prefix="kmsha-local-")
        logs = [os.path.join(cwd, "kms%d.log" % i) for i in (1, 2, 3)]
        procs = []
        for i in (1, 2, 3):
            with open(logs[i - 1], "w") as log:
                procs.append(subprocess.Popen([KMSD, "--local-cluster", "--node-id", "kms%d" % i], cwd=cwd,
                                              stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        try:
            for i, p in zip((1, 2, 3), procs):
                wait_healthy(p, "127.0.0.%d" % i, logs[i - 1])
            for i, cm in ((1, "1"), (2, "2"), (3, "3")):
                rc, out, err = kmsctl("activate", "--cmid", "00000000-0000-4000-8000-00000000000" + cm, "127.0.0.%d" % i)
                self.assertEqual(rc, 0, err)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                rc, out, err = kmsctl("status", "--cluster", "--json", "--admin", "127.0.0.2:8688")
                if rc == 0 and out.count('"count": 3') >= 3:
                    break
                time.sleep(0.1)
            self.assertEqual(rc, 0, err)
            self.assertGreaterEqual(out.count('"count": 3'), 3, out)
            self.assertTrue(all(os.path.isdir(os.path.join(cwd, "var", "kms%d" % i)) for i in (1, 2, 3)))
            # Its replication is authenticated: key pairs made at first start, secrets 0600.
            for i in (1, 2, 3):
                key = os.path.join(cwd, "var", "keys", "kms%d.key" % i)
                self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
            # kmsctl run where the cluster runs finds its admin token (./var/admin.token) and,
            # without it, the read token (./var/read.token) for client records.
            bare = {k: v for k, v in os.environ.items() if k not in ("KMSHA_ADMIN_TOKEN_FILE", "KMSHA_READ_TOKEN_FILE")}
            for cmd in ("drain", "undrain"):
                p = subprocess.run([KMSCTL, cmd, "kms2"], cwd=cwd, capture_output=True, text=True, timeout=30, env=bare)
                self.assertEqual(p.returncode, 0, p.stderr)
            for name in ("admin.token", "read.token"):
                self.assertEqual(os.stat(os.path.join(cwd, "var", name)).st_mode & 0o777, 0o600)
            os.rename(os.path.join(cwd, "var", "admin.token"), os.path.join(cwd, "var", "admin.token.away"))
            try:
                p = subprocess.run([KMSCTL, "clients", "--admin", "127.0.0.1:8688"], cwd=cwd, capture_output=True,
                                   text=True, timeout=30, env=bare)
                self.assertEqual(p.returncode, 0, p.stderr)
            finally:
                os.rename(os.path.join(cwd, "var", "admin.token.away"), os.path.join(cwd, "var", "admin.token"))
            # A stranger's key learns nothing from the catch-up socket.
            from harness import REPLPOKE
            with open(os.path.join(cwd, "var", "keys", "kms1.pub")) as f:
                pub = [l for l in f.read().splitlines() if not l.startswith("#")][0]
            p = subprocess.run([REPLPOKE, "--server-key", pub, "dealer", "tcp://127.0.0.1:7002", "1000",
                                "4b5201030000"], capture_output=True, text=True, timeout=20)
            self.assertEqual((p.returncode, p.stdout), (3, ""), p.stderr)  # 3: no handshake
        finally:
            for p in procs:
                if p.poll() is None:
                    p.terminate()
            rcs = []
            for p in procs:
                try:
                    rcs.append(p.wait(timeout=30))
                except subprocess.TimeoutExpired:
                    p.kill()
                    rcs.append("no exit within 30 s of SIGTERM")
            texts = [open(path).read() for path in logs]
            shutil.rmtree(cwd, ignore_errors=True)
        for i, rc, text in zip((1, 2, 3), rcs, texts):
            check_process_output("kmsd kms%d" % i, text)
            self.assertEqual(rc, 0, "kmsd kms%d on SIGTERM:\n%s" % (i, text[-4000:]))


def wait_healthy(proc, host, log_path, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            with open(log_path) as f:
                raise AssertionError("kmsd on %s exited with %s:\n%s" % (host, proc.returncode, f.read()))
        try:
            with urllib.request.urlopen("http://%s:8688/healthz" % host, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError("kmsd on %s not healthy within %s s" % (host, timeout))


if __name__ == "__main__":
    main()
