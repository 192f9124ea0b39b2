"""The configuration examples in ops/examples pass `kmsd --check-config`, each as every node
that reads it (--node-id ID for every [peer.ID] of a cluster file), and a node id the
file does not name is refused."""
import glob
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import KMSD, ROOT, main  # noqa: E402

EXAMPLES = sorted(glob.glob(os.path.join(ROOT, "ops", "examples", "*.ini")))


def check(path, node_id=None):
    args = [KMSD, "--check-config", path] + (["--node-id", node_id] if node_id else [])
    p = subprocess.run(args, capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


class ExampleTests(unittest.TestCase):
    def test_there_are_examples(self):
        names = {os.path.basename(p) for p in EXAMPLES}
        self.assertLessEqual({"single-node.ini", "three-sites.ini"}, names)

    def test_every_example_checks_as_every_node(self):
        for path in EXAMPLES:
            with open(path) as f:
                text = f.read()
            peers = re.findall(r"^\[peer\.([A-Za-z0-9._-]+)\]", text, re.M)
            with self.subTest(example=os.path.basename(path)):
                if not peers:
                    rc, out = check(path)
                    self.assertEqual(rc, 0, out)
                    continue
                for nid in peers:
                    rc, out = check(path, nid)
                    self.assertEqual(rc, 0, "%s as %s: %s" % (path, nid, out))
                rc, out = check(path, "not-a-peer")
                self.assertEqual(rc, 1, out)
                self.assertIn("not-a-peer", out)

    def test_three_sites_shape(self):
        path = os.path.join(ROOT, "ops", "examples", "three-sites.ini")
        with open(path) as f:
            text = f.read()
        sections = re.split(r"^\[", text, flags=re.M)
        peers = [s for s in sections if s.startswith("peer.")]
        self.assertEqual(len(peers), 6)
        sites = {}
        for s in peers:
            site = re.search(r"^site = (\S+)", s, re.M).group(1)
            prio = re.search(r"^priority = (\d+)", s, re.M).group(1)
            self.assertRegex(s, r"(?m)^weight = \d+")
            self.assertRegex(s, r"(?m)^public_key = \S{40}$")
            # dual-stack: the allowlist's IPv6 ranges reach nodes that have IPv6 addresses
            self.assertRegex(s, r"(?m)^kms = \d+\.\d+\.\d+\.\d+:1688, \[[0-9a-f:]+\]:1688$")
            sites.setdefault(site, set()).add(prio)
        self.assertEqual(len(sites), 3)
        self.assertTrue(all(len(p) == 1 for p in sites.values()), sites)  # one priority per site
        self.assertEqual(len({p for ps in sites.values() for p in ps}), 3)  # a different one each
        self.assertIn("allow_clients", text)
        self.assertIn("key_dir", text)
        self.assertIn("tsig_key_file", text)

    def test_each_site_zone_of_the_example_prefers_its_site(self):
        """kmsd --check-config prints the SRV records of every zone in the order clients try
        them: in each ZONE:SITE zone every node of SITE comes before every other node."""
        path = os.path.join(ROOT, "ops", "examples", "three-sites.ini")
        with open(path) as f:
            text = f.read()
        site_of = {m.group(1): re.search(r"(?m)^site = (\S+)", m.group(2)).group(1)
                   for m in re.finditer(r"(?ms)^\[peer\.([^\]]+)\](.*?)(?=^\[|\Z)", text)}
        rc, out = check(path, "kms-north-1")
        self.assertEqual(rc, 0, out)
        zones = re.findall(r"^_vlmcs\._tcp\.(\S+) \(site (\S+)\) SRV, in the order clients try them: (.*)$", out, re.M)
        self.assertEqual({z[1] for z in zones}, {"main", "north", "hospital"}, out)
        for zone, site, order in zones:
            recs = [(nid, int(pw.split("/")[0])) for nid, pw in re.findall(r"(\S+) (\d+/\d+)", order)]
            self.assertEqual(len(recs), 6, order)
            local = [p for nid, p in recs if site_of[nid] == site]
            remote = [p for nid, p in recs if site_of[nid] != site]
            self.assertTrue(local and remote)
            self.assertLess(max(local), min(remote), "%s: %s" % (zone, order))


    def test_check_config_says_where_the_node_listens(self):
        """--check-config builds the configuration as a start does: in a cluster file a node
        listens on its [peer.ID] kms addresses, unless the file's [node] listen (or --listen)
        says otherwise; the answer names the addresses."""
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "c.ini")
            peers = ("[cluster]\nkey_dir = /k\n"  # replication is always CURVE: keys (checked, not read)
                     "[peer.a]\nkms = 127.0.0.1:21688\nadmin = 127.0.0.1:28688\nreplication = 127.0.0.1:27001\npublic_key = rq:rM>}U?@Lns47E1.kR.o@n.FcmmsL/@{H8]yf7\n"
                     "[peer.b]\nkms = 127.0.0.2:21688\nreplication = 127.0.0.2:27001\npublic_key = rq:rM>}U?@Lns47E1.kR.o@n.FcmmsL/@{H8]yf7\n")
            with open(path, "w") as f:
                f.write(peers)
            rc, out = check(path, "a")
            self.assertEqual(rc, 0, out)
            self.assertIn("node a: KMS on 127.0.0.1:21688; admin on 127.0.0.1:28688", out)
            with open(path, "w") as f:
                f.write("[node]\nlisten = 0.0.0.0:21688\nadmin = 127.0.0.9:28688\n" + peers)
            rc, out = check(path, "b")
            self.assertEqual(rc, 0, out)
            self.assertIn("node b: KMS on 0.0.0.0:21688; admin on 127.0.0.9:28688", out)
            p = subprocess.run([KMSD, "--check-config", path, "--node-id", "a", "--listen", "127.0.0.5:1688"],
                               capture_output=True, text=True, timeout=30)
            self.assertIn("node a: KMS on 127.0.0.5:1688;", p.stdout)
            p = subprocess.run([KMSD, "--check-config", path, "--bogus"], capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 2)
            self.assertIn("unknown option '--bogus'", p.stderr)

if __name__ == "__main__":
    main()
