"""The README's first command: the built-in three-node cluster (kmsd --local-cluster) on
127.0.0.1-3, port 1688 each, activates and converges. Skipped when those ports are taken
(for instance by a cluster an operator started with scripts/run.sh)."""
import os
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import KMSD, kmsctl, main  # noqa: E402


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
        procs = [subprocess.Popen([KMSD, "--local-cluster", "--node-id", "kms%d" % i], cwd=cwd,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in (1, 2, 3)]
        try:
            time.sleep(0.5)
            for i, cm in ((1, "1"), (2, "2"), (3, "3")):
                rc, out, err = kmsctl("activate", "--cmid", "00000000-0000-4000-8000-00000000000" + cm, "127.0.0.%d" % i)
                self.assertEqual(rc, 0, err)
            deadline = time.time() + 10
            while time.time() < deadline:
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
            # A stranger's key learns nothing from the catch-up socket.
            from harness import REPLPOKE
            with open(os.path.join(cwd, "var", "keys", "kms1.pub")) as f:
                pub = [l for l in f.read().splitlines() if not l.startswith("#")][0]
            p = subprocess.run([REPLPOKE, "--server-key", pub, "dealer", "tcp://127.0.0.1:7002", "1000",
                                "4b5201030000"], capture_output=True, text=True, timeout=20)
            self.assertEqual((p.returncode, p.stdout), (3, ""), p.stderr)  # 3: no handshake
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                self.assertEqual(p.wait(timeout=15), 0)


if __name__ == "__main__":
    main()
