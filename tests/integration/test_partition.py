"""A real network partition: three kmsd nodes in their own network namespaces, joined by
a bridge; node 3 is cut off, both sides keep activating clients, then the link comes back
and every node converges to the union. CURVE is on (the nodes talk over a "network").
Needs root and iproute2 (the test creates and removes its own namespaces); skipped
otherwise. Traffic stays inside the test's namespaces (10.201.N.0/24 on its bridge)."""
import os
import random
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import KMSCTL, Node, NodeTestCase, cmid, kmsctl, main, peer_alive, wait_until  # noqa: E402


def sh(*args, check=True):
    return subprocess.run(list(args), capture_output=True, text=True, check=check)


class PartitionTests(NodeTestCase):
    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest("needs root for network namespaces")
        tag = "%04x" % random.randrange(0x10000)
        self.net = random.randrange(10, 250)
        self.sw = "kmsha-sw-" + tag
        self.ns = ["kmsha-n%d-%s" % (i, tag) for i in (1, 2, 3)]
        self.made = []
        try:
            sh("ip", "netns", "add", self.sw)
            self.made.append(self.sw)
            sh("ip", "-n", self.sw, "link", "add", "br0", "type", "bridge")
            sh("ip", "-n", self.sw, "link", "set", "br0", "up")
            for i, ns in enumerate(self.ns, 1):
                sh("ip", "netns", "add", ns)
                self.made.append(ns)
                sh("ip", "-n", ns, "link", "set", "lo", "up")
                sh("ip", "link", "add", "kv%d%s" % (i, tag), "netns", ns, "type", "veth", "peer", "name",
                   "p%d" % i, "netns", self.sw)
                sh("ip", "-n", ns, "link", "set", "kv%d%s" % (i, tag), "name", "eth0")
                sh("ip", "-n", ns, "addr", "add", "10.201.%d.%d/24" % (self.net, i), "dev", "eth0")
                sh("ip", "-n", ns, "link", "set", "eth0", "up")
                sh("ip", "-n", self.sw, "link", "set", "p%d" % i, "master", "br0")
                sh("ip", "-n", self.sw, "link", "set", "p%d" % i, "up")
        except (subprocess.CalledProcessError, FileNotFoundError) as e:
            self.cleanup_netns()
            self.skipTest("cannot create network namespaces here: %s" % getattr(e, "stderr", e))

    def cleanup_netns(self):
        for ns in reversed(self.made):
            sh("ip", "netns", "del", ns, check=False)
        self.made = []

    def tearDown(self):
        super().tearDown()  # stops the nodes first
        self.cleanup_netns()

    def ip(self, i):
        return "10.201.%d.%d" % (self.net, i)

    def activate_in(self, i, client):
        p = subprocess.run(["ip", "netns", "exec", self.ns[i - 1], KMSCTL, "activate", "--json", "--cmid", cmid(client),
                            "%s:1688" % self.ip(i)], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_both_sides_activate_during_partition_then_converge(self):
        keys = os.path.join(self.workdir, "keys")
        os.makedirs(keys)
        text = "[cluster]\nheartbeat_interval_ms = 200\ndead_after_ms = 1500\nkey_dir = %s\n" % keys
        for i in (1, 2, 3):
            rc, out, err = kmsctl("keygen", "--dir", keys, "kms%d" % i)
            self.assertEqual(rc, 0, err)
            text += "[peer.kms%d]\nkms = %s:1688\nadmin = %s:8688\nreplication = %s:7001\n%s" % (
                i, self.ip(i), self.ip(i), self.ip(i), out.splitlines()[-1] + "\n")
        path = os.path.join(self.workdir, "cluster.ini")
        with open(path, "w") as f:
            f.write(text)
        nodes = []
        for i in (1, 2, 3):
            n = Node(self.workdir, node_id="kms%d" % i, host=self.ip(i), port=1688, admin_port=8688,
                     wrapper=["ip", "netns", "exec", self.ns[i - 1]])
            n.config_path = path
            self.nodes.append(n)
            nodes.append(n)
        for n in nodes:
            n.start(wait=False)
        for n in nodes:
            n.wait_ready()
        for k in range(1, 7):
            self.activate_in(k % 3 + 1, k)
        self.wait_counts(nodes, 6)

        # Cut node 3 off: its port on the bridge goes down.
        sh("ip", "-n", self.sw, "link", "set", "p3", "down")
        for k in range(7, 15):      # majority side
            self.activate_in(1 + k % 2, k)
        for k in range(100, 105):   # minority side
            self.activate_in(3, k)
        # The majority side sees kms3 dead and agrees on its own activations; kms3 counts
        # only what it saw.
        wait_until("kms1 marks kms3 dead", lambda: not peer_alive(nodes[0], "kms3"))
        self.wait_counts(nodes[:2], 14)
        self.assertEqual(nodes[2].count(), 11)

        # Heal: both sides converge to the union.
        t0 = time.time()
        sh("ip", "-n", self.sw, "link", "set", "p3", "up")
        self.wait_counts(nodes, 19)
        print("partition healed; converged in %.2f s" % (time.time() - t0))
        for n in nodes:
            self.assertEqual(n.status()["store"]["records"], 19)

    def wait_counts(self, nodes, expect, timeout=60):
        deadline = time.monotonic() + timeout
        counts = None
        while time.monotonic() < deadline:
            try:
                counts = [n.count() for n in nodes]
            except OSError:
                counts = None
            if counts and all(c == expect for c in counts):
                return
            time.sleep(0.2)
        self.fail("counts %s, expected %d on every node" % (counts, expect))


if __name__ == "__main__":
    main()
