"""Hostile networks (issue 13): someone without a key, or a peer that misbehaves, learns
nothing, plants nothing and cannot make a node's memory grow; admin HTTP and the KMS port
hold against cross-site requests, foreign Host names, trickling and fd-exhausting
connection floods. Each test states the figures it saw in its output (bench/README.md)."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BUILD, REPLPOKE, Cluster, NodeTestCase, activate, cmid, kmsctl, main  # noqa: E402

KMSSEED = os.path.join(BUILD, "kmsseed")


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def poke(*args, timeout=30, refused=False):
    """Runs replpoke; refused: the node must refuse its handshake (nothing sent, nothing read)."""
    p = subprocess.run([REPLPOKE] + [str(a) for a in args], capture_output=True, text=True, timeout=timeout)
    assert p.returncode == (3 if refused else 0), (p.returncode, p.stderr)
    return p.stdout


def wait_for(pred, timeout=15, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s" % what)


class ReplicationTests(NodeTestCase):
    def test_stranger_reads_and_plants_nothing(self):
        c = Cluster(self)
        c.start(c.nodes[:2])
        kms1 = c.nodes[0]
        for i in range(1, 6):
            activate(kms1, "--cmid", cmid(i))
        c.wait_converged(5, nodes=c.nodes[:2])
        router = "tcp://%s:%d" % (c.hosts[0], c.repl_ports[0] + 1)
        req = poke("syncreq", "kms3").strip()
        # A peer's key gets the records (so the request below is a real one) ...
        got = poke("--key", c.key_file("kms3"), "--server-key", c.pubkeys["kms1"], "dealer", router, "1500", req)
        self.assertTrue(got.strip(), "a peer's catch-up request was not answered")
        # ... a stranger's key, or no CURVE at all, gets nothing.
        self.assertEqual(poke("--server-key", c.pubkeys["kms1"], "dealer", router, "1000", req, refused=True), "")
        self.assertEqual(poke("dealer", router, "1000", req, refused=True), "")
        self.assertGreater(kms1.status()["cluster"]["replication"]["refused_keys"], 0)

        # Planting: a stranger binds the stopped kms3's port and publishes a new client; then
        # kms3's real key publishes another. Only the second is counted.
        pub = "tcp://%s:%d" % (c.hosts[2], c.repl_ports[2])
        now = int(time.time() * 1000)
        rogue = os.path.join(self.workdir, "rogue")
        os.makedirs(rogue)
        rc, out, err = kmsctl("keygen", "--dir", rogue, "kms3")
        self.assertEqual(rc, 0, err)
        poke("--key", os.path.join(rogue, "kms3.key"), "pub", pub, "1500",
             poke("update", "kms3.0badf00d", 1, 100, now).strip())
        poke("pub", pub, "1500", poke("update", "kms3.0badf00e", 1, 101, now).strip())
        poke("--key", c.key_file("kms3"), "pub", pub, "1500", poke("update", "kms3.600dcafe", 1, 102, now).strip())
        c.wait_converged(6, nodes=c.nodes[:2])
        for n in c.nodes[:2]:
            self.assertEqual(n.status()["store"]["records"], 6)

    def test_unread_snapshot_flood_keeps_memory_flat(self):
        c = Cluster(self, n=2)
        kms1 = c.nodes[0]
        subprocess.run([KMSSEED, "--data-dir", kms1.data_dir, "--node-id", "kms1", "--records", "3000"],
                       check=True, capture_output=True, timeout=60)
        c.start(c.nodes[:1])
        router = "tcp://%s:%d" % (c.hosts[0], c.repl_ports[0] + 1)
        req = poke("syncreq", "kms2").strip()
        pid = kms1.proc.pid
        # Warm up: one answered request allocates what every answer needs.
        self.assertTrue(poke("--key", c.key_file("kms2"), "--server-key", c.pubkeys["kms1"], "dealer", router,
                             "1500", req).strip())
        before = rss_kb(pid)
        sent = {}
        for who, keys in (("stranger", ["--server-key", c.pubkeys["kms1"]]),
                          ("peer", ["--key", c.key_file("kms2"), "--server-key", c.pubkeys["kms1"]])):
            flood = subprocess.Popen([REPLPOKE] + keys + ["flood", router, "3000", "2000", req],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            out, err = flood.communicate(timeout=60)
            self.assertEqual(flood.returncode, 0, err)
            sent[who] = int(out.strip() or 0)
        r = kms1.status()["cluster"]["replication"]
        after = rss_kb(pid)
        print("snapshot flood: RSS %d kB before, %d kB after 2 x 2000 unread requests (%s sent); "
              "replies sent %d, dropped %d" % (before, after, sent, r["sync_replies"], r["sync_dropped"]))
        self.assertGreater(r["sync_dropped"], 0, "the peer's flood never reached the node")
        self.assertLess(after - before, 16 * 1024)
        activate(kms1, "--cmid", cmid(1))


if __name__ == "__main__":
    main()
