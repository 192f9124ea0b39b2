"""Faults a real node meets (issue 15): a disk that fills, a damaged store file, the audit
log on a full disk. Real kmsd processes; the disk is a small tmpfs the test mounts (root
only: skipped otherwise)."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import NodeTestCase, cmid, kmsctl, main  # noqa: E402


def fill(path):
    """Writes path until the file system is full; returns the bytes written."""
    n = 0
    with open(path, "wb", buffering=0) as f:
        block = b"\0" * 4096
        while True:
            try:
                n += f.write(block)
            except OSError:
                return n


class FullDiskTests(NodeTestCase):
    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest("needs root to mount a tmpfs")
        self.disk = os.path.join(self.workdir, "disk")
        os.makedirs(self.disk)
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "fa-tmpfs", self.disk],
                           capture_output=True, text=True)
        if p.returncode != 0:
            self.skipTest("cannot mount a tmpfs: %s" % p.stderr)
        self.addCleanup(subprocess.run, ["umount", "-l", self.disk], capture_output=True)

    def activate_rc(self, node, n):
        rc, out, err = kmsctl("activate", "--json", "--cmid", cmid(n), "--timeout", 3000, node.addr)
        return rc, (json.loads(out) if rc == 0 else None)

    def test_client_refused_by_a_full_disk_is_not_counted(self):
        os.makedirs(os.path.join(self.workdir, "kms1"))
        n = self.node(data_dir=os.path.join(self.disk, "data"),
                      config="[kms]\ncount_cap = 10000\n[node]\naudit_log = %s\n" %
                      os.path.join(self.workdir, "audit.log")).start()
        for i in range(5):
            self.assertEqual(self.activate_rc(n, i)[0], 0)
        filler = os.path.join(self.disk, "filler")
        fill(filler)
        ok = refused = 0
        for i in range(5, 65):
            rc, _ = self.activate_rc(n, i)
            if rc == 0:
                ok += 1
            else:
                refused += 1
        self.assertGreater(refused, 0, "the full disk refused no client")
        os.unlink(filler)
        rc, answer = self.activate_rc(n, 1000)
        self.assertEqual(rc, 0)
        stored = n.status()["store"]["records"]
        self.assertEqual(stored, 5 + ok + 1)
        # The count includes the requester and only clients whose records are stored.
        self.assertEqual(answer["count"], stored)
        self.assertEqual(n.status()["counts"]["windows"]["live_clients"], stored)
        self.assertIn("record not committed", n.read_log())


if __name__ == "__main__":
    main()
