"""Dual-stack nodes: a two-node cluster in a network namespace the test creates, each node
with an IPv4 and an IPv6 address on the namespace's loopback. Every node takes its
addresses from its [peer.ID] entry alone (kms and admin are lists of both families, no
--listen or --admin), replicates over IPv6 only (replication = [V6]:PORT, CURVE on), and
activates clients over IPv4 and over IPv6; each side's activations reach the other.
Needs root and iproute2; skipped otherwise. Traffic stays inside the namespace
(10.202.N.0/24 and fd42:202:N::/64 on its lo)."""
import json
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import KMSCTL, KMSD, NetnsTestCase, cmid, main, sh  # noqa: E402


class DualStackTests(NetnsTestCase):
    def build_network(self):
        self.net = random.randrange(10, 250)
        self.ns = self.netns("kmsha-ds-%04x" % random.randrange(0x10000))
        for i in (1, 2):
            sh("ip", "-n", self.ns, "addr", "add", "%s/32" % self.v4(i), "dev", "lo")
            sh("ip", "-n", self.ns, "addr", "add", "%s/128" % self.v6(i), "dev", "lo", "nodad")

    def v4(self, i):
        return "10.202.%d.%d" % (self.net, i)

    def v6(self, i):
        return "fd42:202:%x::%d" % (self.net, i)

    def in_ns(self, *args, timeout=30):
        return subprocess.run(["ip", "netns", "exec", self.ns] + [str(a) for a in args], capture_output=True,
                              text=True, timeout=timeout)

    def activate(self, addr, client):
        p = self.in_ns(KMSCTL, "activate", "--json", "--cmid", cmid(client), addr)
        self.assertEqual(p.returncode, 0, "activation at %s: %s" % (addr, p.stderr))
        return json.loads(p.stdout)

    def admin_get(self, url):
        p = self.in_ns("python3", "-c", "import sys,urllib.request\n"
                       "sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())", url)
        self.assertEqual(p.returncode, 0, "GET %s: %s" % (url, p.stderr))
        return p.stdout

    def test_cluster_replicates_over_ipv6_and_activates_over_both(self):
        path = self.write_cluster([("kms%d" % i, "kms = %s:1688, [%s]:1688\nadmin = %s:8688, [%s]:8688\n"
                                    "replication = [%s]:7001\n" % (self.v4(i), self.v6(i), self.v4(i), self.v6(i),
                                                                   self.v6(i))) for i in (1, 2)])
        p = subprocess.run([KMSD, "--check-config", path,
                            "--node-id", "kms1"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        nodes = self.start_in_netns(path, [("kms%d" % i, self.v4(i), self.ns) for i in (1, 2)],
                                    addresses_from_config=True)  # admin over IPv4
        for i, n in enumerate(nodes, 1):
            log = n.read_log()
            for addr in ("%s:1688" % self.v4(i), "[%s]:1688" % self.v6(i)):
                self.assertIn("listening for KMS on %s" % addr, log)
            for addr in ("%s:8688" % self.v4(i), "[%s]:8688" % self.v6(i)):
                self.assertIn("admin HTTP on http://%s/" % addr, log)

        # Each node listens on both of its kms addresses and serves admin on both.
        for i, n in enumerate(nodes, 1):
            self.assertEqual(self.admin_get("http://[%s]:8688/healthz" % self.v6(i)).strip(), "ok")
            self.assertIn('"kms%d"' % i, self.admin_get("http://[%s]:8688/status" % self.v6(i)))

        # Activations over IPv6 on kms1 and over IPv4 on kms2 reach both nodes: replication
        # runs over IPv6, the only address either node has for the other.
        self.assertEqual(self.activate("[%s]:1688" % self.v6(1), 1)["count"], 1)
        self.assertEqual(self.activate("%s:1688" % self.v4(2), 2)["count"], 2)
        self.wait_counts(nodes, 2)
        self.assertEqual(self.activate("%s:1688" % self.v4(1), 3)["count"], 3)
        self.wait_counts(nodes, 3)  # replicated before kms2 answers the next one
        self.assertEqual(self.activate("[%s]:1688" % self.v6(2), 4)["count"], 4)
        self.wait_counts(nodes, 4)
        for n in nodes:
            peers = {p["id"]: p for p in n.status()["cluster"]["peers"]}
            self.assertTrue(all(p["alive"] for p in peers.values()), peers)
            for i in (1, 2):  # /status (and the status page) list both of a peer's addresses
                self.assertEqual(peers["kms%d" % i]["kms"], "%s:1688, [%s]:1688" % (self.v4(i), self.v6(i)))
            self.assertEqual(n.status()["store"]["records"], 4)
        # Each node saw its clients with their own family's address (the audit log).
        self.assertIn(self.v6(1), json.dumps(nodes[0].audit(at_least=2)))
        self.assertIn(self.v4(2), json.dumps(nodes[1].audit(at_least=2)))


if __name__ == "__main__":
    main()
