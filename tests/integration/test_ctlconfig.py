"""kmsctl finds its node from the cluster file: `kmsctl --config FILE --node-id ID`, or
KMSHA_CONFIG / KMSHA_NODE_ID as the unit's /etc/default/kmsha-INSTANCE sets them; a
command's own --admin wins; status --cluster reaches every node the file lists, even when
one is down. Real nodes on loopback."""
import json
import os
import subprocess

from harness import KMSCTL, Cluster, NodeTestCase, kmsctl, main


def kmsctl_env(env, *args):
    p = subprocess.run([KMSCTL] + list(args), capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL, env=dict(os.environ, **env))
    return p.returncode, p.stdout, p.stderr


class CtlConfigTests(NodeTestCase):
    def test_node_from_cluster_file(self):
        c = Cluster(self, n=3).start()
        for nid in ("kms2", "kms3"):
            rc, out, err = kmsctl("--config", c.path, "--node-id", nid, "status", "--json")
            self.assertEqual(rc, 0, err)
            self.assertEqual(json.loads(out)["node"], nid)
        rc, out, err = kmsctl_env({"KMSHA_CONFIG": c.path, "KMSHA_NODE_ID": "kms3"}, "peers", "--json")
        self.assertEqual(rc, 0, err)
        self.assertEqual(sorted(p["id"] for p in json.loads(out)), ["kms1", "kms2", "kms3"])
        rc, out, err = kmsctl_env({"KMSHA_CONFIG": c.path, "KMSHA_NODE_ID": "kms3"}, "status", "--json")
        self.assertEqual(json.loads(out)["node"], "kms3")
        # the command's --admin wins over the file
        rc, out, err = kmsctl("--config", c.path, "--node-id", "kms3", "status", "--json",
                              "--admin", "127.0.0.2:%d" % c.admin_ports[1])
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["node"], "kms2")

    def test_status_cluster_walks_the_file(self):
        c = Cluster(self, n=3).start()
        c.nodes[0].stop()
        rc, out, err = kmsctl("--config", c.path, "--node-id", "kms1", "status", "--cluster", "--json")
        self.assertEqual(rc, 1, "a node is down: status --cluster fails")
        res = json.loads(out)
        self.assertEqual(sorted(n["node"] for n in res["nodes"]), ["kms2", "kms3"])
        self.assertEqual(res["unreachable"], ["kms1"])

    def test_mistakes_are_named(self):
        c = Cluster(self, n=2)
        rc, out, err = kmsctl("--config", c.path, "status")
        self.assertEqual(rc, 1)
        self.assertIn("describes 2 nodes: say which with --node-id", err)
        rc, out, err = kmsctl("--config", c.path, "--node-id", "nosuch", "status")
        self.assertEqual(rc, 1)
        self.assertIn("no [peer.nosuch] section", err)
        bad = os.path.join(self.workdir, "bad.ini")
        with open(bad, "w") as f:
            f.write("[node]\nadmin = 127.0.0.1:99999\n")
        rc, out, err = kmsctl("--config", bad, "status")
        self.assertEqual(rc, 1)
        self.assertIn("bad.ini:2", err)
        rc, out, err = kmsctl("--config")
        self.assertEqual(rc, 2)
        self.assertIn("--config needs a value", err)

    def test_single_node_file(self):
        n = self.node()
        path = os.path.join(self.workdir, "one.ini")
        with open(path, "w") as f:
            f.write("[node]\nid = solo\nadmin = %s:%d\n" % (n.host, n.admin_port))
        n.start()
        rc, out, err = kmsctl("--config", path, "status", "--json")
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["node"], n.node_id)


if __name__ == "__main__":
    main()
