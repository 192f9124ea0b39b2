"""A real network partition: three kmsd nodes in their own network namespaces, joined by
a bridge; node 3 is cut off, both sides keep activating clients, then the link comes back
and every node converges to the union. CURVE is on (the nodes talk over a "network").
With only the replication ports blocked between one node and the others (a firewall rule),
no live node's SRV record is ever deleted from a real named on the same bridge.
Needs root and iproute2 (the test creates and removes its own namespaces); skipped
otherwise. Traffic stays inside the test's namespaces (10.201.N.0/24 on its bridge)."""
import os
import random
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import KMSCTL, NetnsTestCase, cmid, main, sh, peer_alive, wait_until  # noqa: E402


class PartitionTests(NetnsTestCase):
    def build_network(self):
        tag = "%04x" % random.randrange(0x10000)
        self.net = random.randrange(10, 250)
        self.sw = self.netns("kmsha-sw-" + tag)
        self.ns = ["kmsha-n%d-%s" % (i, tag) for i in (1, 2, 3)]
        sh("ip", "-n", self.sw, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.sw, "link", "set", "br0", "up")
        for i, ns in enumerate(self.ns, 1):
            self.netns(ns)
            sh("ip", "link", "add", "kv%d%s" % (i, tag), "netns", ns, "type", "veth", "peer", "name",
               "p%d" % i, "netns", self.sw)
            sh("ip", "-n", ns, "link", "set", "kv%d%s" % (i, tag), "name", "eth0")
            sh("ip", "-n", ns, "addr", "add", "10.201.%d.%d/24" % (self.net, i), "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", self.sw, "link", "set", "p%d" % i, "master", "br0")
            sh("ip", "-n", self.sw, "link", "set", "p%d" % i, "up")

    def ip(self, i):
        return "10.201.%d.%d" % (self.net, i)

    def peers(self):
        return [("kms%d" % i, "kms = %s:1688\nadmin = %s:8688\nreplication = %s:7001\n" % ((self.ip(i),) * 3))
                for i in (1, 2, 3)]

    def start_three(self, path):
        return self.start_in_netns(path, [("kms%d" % i, self.ip(i), self.ns[i - 1]) for i in (1, 2, 3)])

    def activate_in(self, i, client):
        p = subprocess.run(["ip", "netns", "exec", self.ns[i - 1], KMSCTL, "activate", "--json", "--cmid", cmid(client),
                            "%s:1688" % self.ip(i)], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_both_sides_activate_during_partition_then_converge(self):
        nodes = self.start_three(self.write_cluster(self.peers()))
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

    def test_blocked_replication_ports_withdraw_no_live_node(self):
        from test_dns import Named
        sh("ip", "-n", self.sw, "link", "set", "lo", "up")  # local addresses route through lo
        sh("ip", "-n", self.sw, "addr", "add", "%s/24" % self.ip(254), "dev", "br0")
        named = Named(host=self.ip(254), wrapper=["ip", "netns", "exec", self.sw])
        self.addCleanup(named.stop)
        dns = ("[dns]\nserver = %s\nzones = kms.test\ntsig_key_file = %s\nttl = 30\nwithdraw_after = 2\n"
               "timeout_ms = 1000\n" % (named.server, named.key_file))
        nodes = self.start_three(self.write_cluster(self.peers(), extra=dns))
        everyone = {"kms%d.kms.test." % i for i in (1, 2, 3)}
        deadline = time.monotonic() + 20
        while set(named.srv("kms.test")) != everyone and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(set(named.srv("kms.test")), everyone)

        # Node 3's firewall drops replication (7001/7002) both ways; KMS and DNS still pass.
        fw = ["ip", "netns", "exec", self.ns[2], "iptables"]
        for rule in (["--dport", "7001:7002"], ["--sport", "7001:7002"]):
            p = subprocess.run(fw + ["-A", "INPUT", "-p", "tcp"] + rule + ["-j", "DROP"], capture_output=True, text=True)
            if p.returncode != 0:
                self.skipTest("iptables does not work in a network namespace here: %s" % p.stderr.strip())
        # One checker inside the bridge's namespace asks named every 100 ms for 30 s.
        script = ("end=$(($(date +%%s) + 30)); while [ $(date +%%s) -lt $end ]; do echo ---; "
                  "%s @%s -p %d +short +norecurse +time=1 +tries=1 _vlmcs._tcp.kms.test SRV; sleep 0.02; done"
                  % (shutil.which("dig") or "/usr/bin/dig", named.host, named.port))
        p = subprocess.run(["ip", "netns", "exec", self.sw, "sh", "-c", script], capture_output=True, text=True, timeout=90)
        rounds = p.stdout.split("---\n")[1:]
        for k, answer in enumerate(rounds):
            published = {line.split()[3] for line in answer.splitlines() if len(line.split()) == 4}
            self.assertEqual(published, everyone, "a live node's SRV record was missing in look-up %d (~%.1f s after the cut)"
                             % (k, k * 30.0 / max(1, len(rounds))))
        # Look-ups all through the 30 s (at least one a second on average; ~100 or more on
        # a quiet machine, fewer when dig is slowed by a loaded one).
        self.assertGreaterEqual(len(rounds), 30, p.stderr)
        print("%d look-ups in 30 s: every node's SRV record stayed" % len(rounds))
        # Both rules were put to the test: the cut-off node saw no majority, and the
        # majority found the silent node's KMS port answering.
        self.assertFalse({p["id"]: p["alive"] for p in nodes[0].status()["cluster"]["peers"]}["kms3"])
        self.assertIn("would withdraw peer kms1", nodes[2].read_log())
        self.assertIn("no majority", nodes[2].read_log())
        self.assertIn("peer kms3 is silent on replication but its KMS port", nodes[0].read_log())
        self.assertEqual(nodes[2].status()["serving"]["state"], "alone")
        self.assertIn('kmsha_serving_alone{node="kms3"} 1', nodes[2].metrics())
        self.assertIn("ok (serving alone", nodes[2].http("/healthz")[1])
        # (Healing a silently dropped connection is the transport's business: ZeroMQ
        # heartbeats, test_cluster.)
        for rule in (["--dport", "7001:7002"], ["--sport", "7001:7002"]):
            sh(*(fw + ["-D", "INPUT", "-p", "tcp"] + rule + ["-j", "DROP"]))


if __name__ == "__main__":
    main()
