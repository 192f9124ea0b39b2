"""kmsctl clients, backup and restore against real nodes: queries by CMID, workstation,
address, application and time through a node's admin address (GET /clients, paged) and
straight from a store directory, in table, CSV and JSON; a backup of a store under load
restored into a fresh node that then answers with the same counts; and the error cases
(node down, bad arguments, restore over a running node)."""
import csv
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import KMSCTL, Cluster, NodeTestCase, activate, cmid, free_port, kmsctl, main  # noqa: E402


def clients_json(*args):
    rc, out, err = kmsctl("clients", "--json", *args)
    assert rc == 0, "kmsctl clients %s failed (%d): %s" % (args, rc, err)
    return json.loads(out)


class ClientsTests(NodeTestCase):
    def test_queries_through_the_admin_address_and_the_store(self):
        c = Cluster(self).start()
        names = ["LAB-A-%02d" % i for i in range(6)] + ["office-%02d" % i for i in range(4)]
        for i, ws in enumerate(names):
            activate(c.nodes[i % 3], "--cmid", cmid(i), "--workstation", ws)
        activate(c.nodes[0], "--product", "office2019-proplus", "--cmid", cmid(100), "--workstation", "lab-a-office")
        activate(c.nodes[1], "--product", "office2010-proplus", "--protocol", "4", "--cmid", cmid(101),
                 "--workstation", "old-office")
        c.wait_converged(10, records=12)
        admin = "127.0.0.2:%d" % c.admin_ports[1]

        every = clients_json("--admin", admin)
        self.assertEqual(every["returned"], 12)
        self.assertFalse(every["more"])
        recs = {r["cmid"]: r for r in every["clients"]}
        self.assertEqual(set(recs), {cmid(i) for i in range(10)} | {cmid(100), cmid(101)})
        r = recs[cmid(3)]
        self.assertEqual((r["workstation"], r["application"], r["product"], r["product_group"], r["node"]),
                         ("LAB-A-03", "windows", "win10-pro", "win10", "kms1"))
        self.assertEqual(r["license_status"], "oob_grace")
        self.assertTrue(r["last_seen"].endswith("Z"))
        self.assertEqual(recs[cmid(101)]["application"], "office2010")
        self.assertEqual(recs[cmid(101)]["protocol"], 4)

        # One criterion at a time, then together.
        one = clients_json("--admin", admin, "--cmid", cmid(7))
        self.assertEqual([x["workstation"] for x in one["clients"]], ["office-01"])
        lab = clients_json("--admin", admin, "--workstation", "lab-a")
        self.assertEqual(sorted(x["workstation"] for x in lab["clients"]),
                         sorted(["LAB-A-%02d" % i for i in range(6)] + ["lab-a-office"]))
        office = clients_json("--admin", admin, "--application", "office2013")
        self.assertEqual([x["cmid"] for x in office["clients"]], [cmid(100)])
        both = clients_json("--admin", admin, "--application", "windows", "--workstation", "LAB")
        self.assertEqual(both["returned"], 6)
        addr = r["address"]
        self.assertEqual(clients_json("--admin", admin, "--address", addr)["returned"],
                         sum(1 for x in every["clients"] if x["address"] == addr))
        self.assertEqual(clients_json("--admin", admin, "--address", "192.0.2.1")["returned"], 0)
        self.assertEqual(clients_json("--admin", admin, "--since", "1h")["returned"], 12)
        self.assertEqual(clients_json("--admin", admin, "--until", "1h")["returned"], 0)
        self.assertEqual(clients_json("--admin", admin, "--since", "2000-01-01", "--until", "2099-12-31")["returned"], 12)
        t = recs[cmid(5)]["last_seen_ms"]
        after = clients_json("--admin", admin, "--since", str(t + 1))
        self.assertEqual({x["cmid"] for x in after["clients"]},
                         {k for k, v in recs.items() if v["last_seen_ms"] > t})

        # --limit stops early and says so; the node's pages resume exactly.
        rc, out, err = kmsctl("clients", "--admin", admin, "--limit", "3", "--json")
        self.assertEqual(rc, 0, err)
        lim = json.loads(out)
        self.assertEqual((lim["returned"], lim["more"]), (3, True))
        self.assertIn("--limit 3", err)
        seen, after_cursor = [], ""
        for _ in range(20):
            code, body = c.nodes[2].http("/clients?limit=5" + ("&after=" + after_cursor if after_cursor else ""))
            self.assertEqual(code, 200, body)
            page = json.loads(body)
            self.assertLessEqual(page["returned"], 5)
            seen += [x["cmid"] for x in page["clients"]]
            if not page["more"]:
                self.assertIsNone(page["next"])
                break
            after_cursor = page["next"]
        self.assertEqual(sorted(seen), sorted(recs))
        self.assertEqual(len(seen), len(set(seen)))

        # Table and CSV carry the same records.
        rc, out, err = kmsctl("clients", "--admin", admin, "--workstation", "office")
        self.assertEqual(rc, 0, err)
        self.assertIn("WORKSTATION", out.splitlines()[0])
        for ws in ["office-00", "office-03", "lab-a-office", "old-office"]:
            self.assertIn(ws, out)
        self.assertIn("6 client records", out)
        # Times in the table: ISO 8601 with the zone's offset (the machine's zone, as set)
        for tz, off in [("UTC", "+00:00"), ("Asia/Tokyo", "+09:00")]:
            p = subprocess.run([KMSCTL, "clients", "--admin", admin, "--workstation", "office"], capture_output=True,
                               text=True, timeout=30, env=dict(os.environ, TZ=tz), stdin=subprocess.DEVNULL)
            first = p.stdout.splitlines()[1]
            self.assertRegex(first, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d" + re.escape(off) + " ")
        rc, out, err = kmsctl("clients", "--admin", admin, "--csv")
        self.assertEqual(rc, 0, err)
        rows = list(csv.DictReader(io.StringIO(out)))
        self.assertEqual(len(rows), 12)
        self.assertEqual({x["cmid"] for x in rows}, set(recs))
        self.assertEqual({x["workstation"] for x in rows if x["cmid"] == cmid(3)}, {"LAB-A-03"})

        # The store itself, read beside the running node.
        local = clients_json("--data-dir", c.nodes[0].data_dir)
        self.assertEqual({x["cmid"] for x in local["clients"]}, set(recs))
        self.assertEqual(clients_json("--data-dir", c.nodes[0].data_dir, "--workstation", "OFFICE-0")["returned"], 4)

        # The node checks what it is asked.
        code, body = c.nodes[0].http("/clients?cmid=not-a-guid")
        self.assertEqual(code, 400)
        self.assertIn("cmid", json.loads(body)["error"])
        code, body = c.nodes[0].http("/clients?limit=0")
        self.assertEqual(code, 400)
        code, body = c.nodes[0].http("/clients?frobnicate=" + urllib.parse.quote("x y"))
        self.assertEqual(code, 400)
        self.assertIn("frobnicate", body)
        code, body = c.nodes[0].http("/clients?after=zz")
        self.assertEqual(code, 400)

    def test_errors(self):
        down = "127.0.0.1:%d" % free_port()
        rc, out, err = kmsctl("clients", "--admin", down)
        self.assertEqual(rc, 1)
        self.assertIn("not answering", err)
        for bad in (["--cmid", "nope"], ["--limit", "0"], ["--limit", "100001"], ["--application", "office2099"],
                    ["--since", "last tuesday"], ["--until"], ["--frob"], ["--csv=yes"], ["extra"],
                    ["--since", "1h", "--until", "2h"], ["--admin", "host:99999"]):
            rc, out, err = kmsctl("clients", *bad)
            self.assertEqual(rc, 2, "%s: %s" % (bad, err))
            self.assertIn("kmsctl:", err)
        rc, out, err = kmsctl("clients", "--data-dir", os.path.join(self.workdir, "nothing"))
        self.assertEqual(rc, 1)
        self.assertIn("data.mdb", err)
        rc, out, err = kmsctl("help", "clients")
        self.assertEqual(rc, 0)
        self.assertIn("--workstation", out)


class BackupTests(NodeTestCase):
    CONFIG = "[kms]\ncount_cap = 10000\n"  # counts equal the clients, not capped at 50

    def test_backup_under_load_restores_the_same_counts(self):
        a = self.node(node_id="kms1", config=self.CONFIG).start()
        acked = []  # (index, time the answer came)
        stop = threading.Event()
        errors = []

        def load():
            i = 0
            while not stop.is_set() and i < 2000:
                rc, out, err = kmsctl("activate", "--json", "--cmid", cmid(i), "--workstation", "LOAD-%d" % i, a.addr)
                if rc != 0:
                    errors.append(err)
                    return
                acked.append((i, time.time()))
                i += 1

        th = threading.Thread(target=load)
        th.start()
        try:
            while len(acked) < 40 and th.is_alive():
                time.sleep(0.02)
            bk = os.path.join(self.workdir, "backup-live")
            started = time.time()
            rc, out, err = kmsctl("backup", "--json", "--data-dir", a.data_dir, bk)
            self.assertEqual(rc, 0, err)
            info = json.loads(out)
            while len(acked) < len([x for x in acked if x[1] <= started]) + 20 and th.is_alive():
                time.sleep(0.02)  # the load goes on after the copy
        finally:
            stop.set()
            th.join(60)
        self.assertEqual(errors, [])
        before = {cmid(i) for i, t in acked if t <= started}
        in_backup = {x["cmid"] for x in clients_json("--data-dir", bk, "--limit", "100000")["clients"]}
        self.assertEqual(len(in_backup), info["records"])
        # Every activation answered before the backup began is in it; nothing unknown is.
        self.assertLessEqual(before, in_backup)
        self.assertLessEqual(in_backup, {cmid(i) for i, _ in acked})
        self.assertGreater(len(acked), len(in_backup), "the load did not go on during the backup")
        with open(os.path.join(bk, "backup.json")) as f:
            manifest = json.load(f)
        self.assertEqual(manifest["format"], "kmsha-store-backup")
        self.assertGreaterEqual(manifest["records"], len(before))

        # A fresh node restored from it answers with the backup's count.
        b = self.node(node_id="kms1", config=self.CONFIG, data_dir=os.path.join(self.workdir, "fresh", "data"))
        rc, out, err = kmsctl("restore", "--json", "--data-dir", b.data_dir, bk)
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["records"], len(in_backup))
        b.start()
        self.assertEqual(b.count(), len(in_backup))
        self.assertEqual(b.status()["store"]["records"], len(in_backup))
        self.assertEqual({x["cmid"] for x in clients_json("--admin", "%s:%d" % (b.host, b.admin_port),
                                                             "--limit", "100000")["clients"]}, in_backup)
        # A renewal of a restored client does not add to the count; a new client does.
        self.assertEqual(activate(b, "--cmid", sorted(before)[0])["count"], len(in_backup))
        self.assertEqual(activate(b, "--cmid", cmid(99999))["count"], len(in_backup) + 1)

        # Once the load has stopped, a backup restores to exactly the source's counts.
        bk2 = os.path.join(self.workdir, "backup-idle")
        rc, out, err = kmsctl("backup", "--data-dir", a.data_dir, bk2)
        self.assertEqual(rc, 0, err)
        self.assertIn("Backed up %d client records" % len(acked), out)
        c = self.node(node_id="kms1", config=self.CONFIG, data_dir=os.path.join(self.workdir, "fresh2", "data"))
        rc, out, err = kmsctl("restore", "--data-dir", c.data_dir, bk2)
        self.assertEqual(rc, 0, err)
        c.start()
        self.assertEqual(c.count(), a.count())
        self.assertEqual(c.count(), len(acked))
        self.assertEqual(c.status()["store"]["records"], a.status()["store"]["records"])

        # Restore refuses a store a running node holds, and an existing store without --force.
        rc, out, err = kmsctl("restore", "--force", "--data-dir", a.data_dir, bk)
        self.assertEqual(rc, 1)
        self.assertIn("running node holds", err)
        self.assertTrue(a.alive())
        self.assertEqual(a.count(), len(acked))
        c.stop()
        rc, out, err = kmsctl("restore", "--data-dir", c.data_dir, bk)
        self.assertEqual(rc, 1)
        self.assertIn("--force", err)
        rc, out, err = kmsctl("restore", "--force", "--data-dir", c.data_dir, bk)
        self.assertEqual(rc, 0, err)
        self.assertTrue([f for f in os.listdir(c.data_dir) if f.startswith("data.mdb.before-restore-")])
        c.start()
        self.assertEqual(c.count(), len(in_backup))

    def test_errors(self):
        a = self.node().start()
        activate(a)
        dest = os.path.join(self.workdir, "bk")
        rc, out, err = kmsctl("backup", "--data-dir", a.data_dir, dest)
        self.assertEqual(rc, 0, err)
        rc, out, err = kmsctl("backup", "--data-dir", a.data_dir, dest)  # never over a store
        self.assertEqual(rc, 1)
        self.assertIn("already holds", err)
        rc, out, err = kmsctl("backup", "--data-dir", os.path.join(self.workdir, "none"), dest + "2")
        self.assertEqual(rc, 1)
        self.assertIn("no store there", err)
        rc, out, err = kmsctl("restore", "--data-dir", os.path.join(self.workdir, "x"), self.workdir)
        self.assertEqual(rc, 1)  # not a backup
        for bad in (["backup"], ["backup", dest], ["backup", "--data-dir", a.data_dir], ["backup", "--frob", "x"],
                    ["restore"], ["restore", dest], ["restore", "--data-dir", "x"], ["restore", "--force=1", "a"],
                    ["backup", "--data-dir", a.data_dir, "d1", "d2"]):
            rc, out, err = kmsctl(*bad)
            self.assertEqual(rc, 2, "%s: %s" % (bad, err))


if __name__ == "__main__":
    main()
