"""A three-node cluster of real kmsd processes on 127.0.0.1-3: every node answers with the
same count; a node killed with -9, wiped, or paused (SIGSTOP) catches up by itself; CURVE
keeps out a peer with an unknown key; malformed replication messages are dropped."""
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (KMSCTL, KMSD, REPLPOKE, Cluster, NodeTestCase, activate, cmid, connected_to, kmsctl, main,
                     peer_alive, wait_until)  # noqa: E402

WIN_CAP = 50


class ClusterTests(NodeTestCase):
    def spread(self, cluster, first, last, nodes=None, **kw):
        """Activates clients first..last round-robin over nodes; returns their counts."""
        nodes = nodes or cluster.nodes
        return [activate(nodes[i % len(nodes)], "--cmid", cmid(i), **kw)["count"] for i in range(first, last + 1)]

    def test_activations_spread_over_three_nodes_converge(self):
        c = Cluster(self).start()
        counts = self.spread(c, 1, 30)
        # Each answer already includes everything replicated before it (at least itself).
        self.assertEqual(counts[0], 1)
        self.assertTrue(all(x >= 1 for x in counts))
        took = c.wait_converged(30)
        print("converged in %.3f s" % took)
        # Office counted apart, on every node.
        activate(c.nodes[0], "--product", "office2019-proplus", "--cmid", cmid(1000))
        c.wait_converged(1, app="office2013")
        for n in c.nodes:
            st = n.status()
            self.assertEqual(st["counts"]["windows"]["count"], 30)
            peers = {p["id"]: p for p in st["cluster"]["peers"]}
            self.assertTrue(all(p["alive"] for p in peers.values()), peers)
        # A repeated CMID on another node does not add to the count.
        self.assertEqual(activate(c.nodes[2], "--cmid", cmid(1))["count"], 30)

    def test_kill9_node_catches_up_and_loses_nothing(self):
        c = Cluster(self).start()
        self.spread(c, 1, 12)
        c.wait_converged(12)
        victim = c.nodes[2]
        victim.kill9()
        self.spread(c, 13, 40, nodes=c.nodes[:2])
        # The others mark it dead.
        wait_until("kms1 marks kms3 dead after its kill -9", lambda: not peer_alive(c.nodes[0], "kms3"))
        victim.start()
        c.wait_converged(40, records=40)
        # Everything kms3 itself had acknowledged before the kill is still everywhere.
        self.assertEqual(activate(victim, "--cmid", cmid(3))["count"], 40)

    def test_updates_answered_just_before_sigterm_reach_the_peers(self):
        # A node stopped (SIGTERM) right after answering still hands its last updates to
        # its peers: wiped afterwards (a disk replaced), nothing it acknowledged is lost.
        c = Cluster(self).start()
        self.spread(c, 1, 3)
        c.wait_converged(3, records=3)
        victim, others = c.nodes[2], c.nodes[:2]
        k = 3
        for _ in range(8):
            for _ in range(3):
                k += 1
                activate(victim, "--cmid", cmid(k))
            victim.stop()
            c.wait_converged(k, nodes=others, records=k, timeout=15)
            victim.start()
            c.wait_converged(k, records=k)

    def test_wiped_node_rebuilds_from_peers(self):
        c = Cluster(self).start()
        self.spread(c, 1, 45)
        c.wait_converged(WIN_CAP if 45 > WIN_CAP else 45, records=45)
        victim = c.nodes[1]
        origin = victim.status()["cluster"]["origin"]
        before = victim.status()["cluster"]["version_vector"][origin]
        victim.stop()
        shutil.rmtree(victim.data_dir)
        victim.start()
        c.wait_converged(45, records=45)
        # Its new updates continue its origin after the last one any peer holds (every
        # peer is heard), so peers never mistake them for old ones, and the version
        # vector does not grow with each rebuild.
        activate(victim, "--cmid", cmid(46))
        c.wait_converged(46, records=46)
        for n in c.nodes:
            vv = n.status()["cluster"]["version_vector"]
            self.assertEqual([o for o in vv if o.startswith("kms2.")], [origin], vv)
            self.assertEqual(vv[origin], before + 1)

    def rebuild_kms3_while_kms2_is_paused(self, c):
        """kms3 wiped and started while kms2 is paused takes a new origin; once kms2 is
        back, every node retires the old one. Returns (old, new)."""
        kms1, kms2, kms3 = c.nodes
        old = kms3.status()["cluster"]["origin"]
        kms2.proc.send_signal(signal.SIGSTOP)
        try:
            wait_until("kms1 marks the paused kms2 dead", lambda: not peer_alive(kms1, "kms2"))
            kms3.stop()
            shutil.rmtree(kms3.data_dir)
            kms3.start()
        finally:
            kms2.proc.send_signal(signal.SIGCONT)
        self.assertIn("is new (not every peer is heard", kms3.read_log())
        new = kms3.status()["cluster"]["origin"]
        self.assertNotEqual(new, old)
        wait_until("%s retired on every node" % old,
                   lambda: all(old not in n.status()["cluster"]["version_vector"] for n in c.nodes))
        return old, new

    def test_a_store_restored_from_a_backup_made_before_an_origin_was_retired_gets_its_clients(self):
        # ops/README.md section 5 after a retirement: kms1's backup holds kms3's old origin
        # at update 1; kms3 answers two more clients under it, is rebuilt while kms2 is
        # paused, and every node retires the old origin at update 3. kms1 restored from the
        # backup must still get those two clients (no log sends a retired origin's updates).
        c = Cluster(self).start().one_client_each()
        kms1, kms2, kms3 = c.nodes
        bk = os.path.join(self.workdir, "bk")
        rc, _, err = kmsctl("backup", "--data-dir", kms1.data_dir, bk)
        self.assertEqual(rc, 0, err)
        for i in (3, 4):
            activate(kms3, "--cmid", cmid(i))
        c.wait_converged(5, records=5)
        old, _ = self.rebuild_kms3_while_kms2_is_paused(c)
        kms1.stop()
        rc, _, err = kmsctl("restore", "--force", "--data-dir", kms1.data_dir, bk)
        self.assertEqual(rc, 0, err)
        kms1.start()
        c.wait_converged(5, records=5)
        # It may have adopted the old origin from its snapshot (a peer advertised it as
        # retired while kms1 still advertised the backup's): it retires it in its turn.
        wait_until("kms1 retires %s too" % old, lambda: old not in kms1.status()["cluster"]["version_vector"])

    def test_a_store_rebuilt_after_an_origin_was_retired_still_gets_its_clients(self):
        # kms3 rebuilt while kms2 is paused takes a new origin; once kms2 is back every node
        # retires the old one. Its update is then in no log: kms1, wiped afterwards (every
        # peer heard), must still get that client, from a snapshot (without it: a log
        # catch-up of the active origins only, and kms1 held 2 of the 3 records).
        c = Cluster(self).start().one_client_each()
        kms1, kms2, kms3 = c.nodes
        old, new = self.rebuild_kms3_while_kms2_is_paused(c)
        for n in c.nodes:
            self.assertEqual(len(n.status()["cluster"]["version_vector"]), 2 + (new in n.status()["cluster"]["version_vector"]))
        self.assertIn("retired update origin %s at update 1: kms3 now numbers its updates as %s" % (old, new),
                      kms1.read_log())
        kms1.stop()
        shutil.rmtree(kms1.data_dir)
        kms1.start()
        c.wait_converged(3, records=3)
        self.assertIn("kms1 needs a snapshot (it lost its store", kms2.read_log() + kms3.read_log())
        self.assertGreaterEqual(kms2.status()["cluster"]["replication"]["origins_retired"], 1)
        self.assertIn('kmsha_replication_origins_retired_total{node="kms2"} 1', kms2.metrics())

    def test_origins_are_retired_without_a_peer_down_for_long_which_then_takes_a_snapshot(self):
        # kms2 is down "for good" while kms3 is rebuilt twice (a new origin each
        # time: kms2 is not heard). Past retire_unheard_after_s kms1 and kms3 retire the
        # superseded origins without kms2 (before: no retirement while a configured peer
        # was down, and every such rebuild added an origin to every vector until kms2 came
        # back). kms2, back, holds none of those origins' updates and learns of them from no
        # log: kms1 and kms3 owe it a snapshot, say so in their heartbeats, and it takes one.
        c = Cluster(self, cluster_config="retire_unheard_after_s = 3\n").start().one_client_each()
        kms1, kms2, kms3 = c.nodes
        kms2.stop()
        for r in range(2):
            old = kms3.status()["cluster"]["origin"]
            kms3.stop()
            shutil.rmtree(kms3.data_dir)
            kms3.start()
            activate(kms3, "--cmid", cmid(3 + r))
            wait_until("round %d: %s retired by kms1 and kms3 without kms2" % (r + 1, old),
                       lambda: all(old not in n.status()["cluster"]["version_vector"] and
                                   len(n.status()["cluster"]["version_vector"]) == 3 for n in (kms1, kms3)))
        self.assertIn("retiring update origins without kms2 (not heard for", kms1.read_log())
        c.wait_converged(5, nodes=[kms1, kms3], records=5)
        kms2.start()
        c.wait_converged(5, records=5)
        log2 = kms2.read_log()
        self.assertRegex(log2, "kms[13] retired update origins while it did not hear this node: taking a snapshot")
        wait_until("kms1 and kms3 sent kms2 the snapshot they owed it",
                   lambda: all("sent kms2 the snapshot it was owed" in n.read_log() for n in (kms1, kms3)))
        wait_until("one origin per node everywhere",
                   lambda: all(len(n.status()["cluster"]["version_vector"]) == 3 for n in c.nodes))
        # The flag is durable until served: a restart of kms1 does not owe kms2 again.
        kms1.stop()
        kms1.start()
        c.wait_converged(5, records=5)
        self.assertEqual(kms1.read_log().count("sent kms2 the snapshot it was owed"), 1)

    def test_a_node_removed_from_the_cluster_file_has_its_origin_retired(self):
        # ops/README.md section 3: stop kms3, delete its [peer.kms3] section, restart the
        # others one at a time. Its clients stay counted; its origin, naming no node of the
        # cluster any more, leaves both vectors (before: it stayed there for good).
        c = Cluster(self).start().one_client_each()
        kms1, kms2, kms3 = c.nodes
        gone = kms3.status()["cluster"]["origin"]
        kms3.stop()
        with open(c.path) as f:
            text = f.read()
        start = text.index("[peer.kms3]")
        with open(c.path, "w") as f:
            f.write(text[:start])
        for n in (kms1, kms2):
            n.stop()
            n.start()
        wait_until("%s retired on kms1 and kms2" % gone,
                   lambda: all(gone not in n.status()["cluster"]["version_vector"] for n in (kms1, kms2)))
        self.assertIn("retired update origin %s at update 1: it names no peer of this cluster" % gone, kms1.read_log())
        c.wait_converged(3, nodes=[kms1, kms2], records=3)
        for n in (kms1, kms2):
            self.assertEqual(len(n.status()["cluster"]["version_vector"]), 2)

    def test_snapshot_when_the_log_no_longer_reaches_back(self):
        c = Cluster(self).start()
        self.spread(c, 1, 20)
        c.wait_converged(20, records=20)
        for n in c.nodes:
            n.stop()
        # kms1 and kms3 come back 8 days later: their logs (168 h retention) are pruned as
        # soon as a live peer confirms the clock (each confirms the other's).
        day = 86400
        c.nodes[0].start(["--clock-offset", 8 * day], wait=False)
        c.nodes[2].start(["--clock-offset", 8 * day], wait=False)
        for i in (0, 2):
            c.nodes[i].wait_ready()
        # the prune runs in the store's writer thread once the peers confirm the clock
        wait_until("kms1's and kms3's logs pruned",
                   lambda: [c.nodes[i].status()["cluster"]["log_entries"] for i in (0, 2)] == [0, 0])
        shutil.rmtree(c.nodes[1].data_dir)
        c.nodes[1].start()
        c.wait_converged(20, records=20)
        self.assertIn("needs a snapshot", c.nodes[0].read_log() + c.nodes[2].read_log())
        self.assertRegex(c.nodes[1].read_log(), "snapshot from kms[13] complete")

    def test_partition_by_sigstop_heals_to_the_union(self):
        c = Cluster(self).start()
        self.spread(c, 1, 6)
        c.wait_converged(6)
        paused = c.nodes[2]
        paused.proc.send_signal(signal.SIGSTOP)
        try:
            # The majority side keeps activating; the paused node is seen dead.
            self.spread(c, 7, 20, nodes=c.nodes[:2])
            wait_until("kms1 marks the paused kms3 dead", lambda: not peer_alive(c.nodes[0], "kms3"))
            # A client that reached kms3 before the pause is queued in its socket backlog:
            # it is answered when kms3 resumes.
            late = subprocess.Popen([KMSCTL, "activate", "--json", "--timeout", "60000", "--cmid", cmid(100), paused.addr],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            wait_until("kmsctl connected to the paused kms3", lambda: connected_to(paused.host, paused.port))
        finally:
            paused.proc.send_signal(signal.SIGCONT)
        out, err = late.communicate(timeout=90)
        self.assertEqual(late.returncode, 0, err)
        c.wait_converged(21, records=21)

    def test_malformed_replication_messages_are_dropped(self):
        # kms3 is played by replpoke, with kms3's key (a peer gone bad): it publishes
        # garbage where kms1 and kms2 subscribe.
        c = Cluster(self)
        c.start(c.nodes[:2])
        evil_pub = "tcp://%s:%d" % (c.hosts[2], c.repl_ports[2])
        frames = ["00", "4b52", "4b520201", "4b5201ff", "4b520101" + "05" + "6b6d7333" + "00" * 3,
                  "4b520102" + "ff" * 40, "deadbeef" * 100]
        p = subprocess.run([REPLPOKE, "--key", c.key_file("kms3"), "pub", evil_pub, "1500"] + frames,
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr)
        # And straight at kms1's catch-up socket.
        router = "tcp://%s:%d" % (c.hosts[0], c.repl_ports[0] + 1)
        p = subprocess.run([REPLPOKE, "--key", c.key_file("kms3"), "--server-key", c.pubkeys["kms1"], "dealer",
                            router, "500", "4b520103ffff", "-", "00" * 64],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr)
        for n in c.nodes[:2]:
            wait_until("%s logs the malformed messages" % n.node_id, lambda: "dropped a malformed" in n.read_log())
            self.assertTrue(n.alive())
            self.assertGreater(n.status()["cluster"]["replication"]["malformed"], 0)
        self.spread(c, 1, 4, nodes=c.nodes[:2])
        c.wait_converged(4, nodes=c.nodes[:2])


class ReloadTests(NodeTestCase):
    def test_sighup_on_a_cluster_node_applies_what_changed_and_names_nothing_else(self):
        """kmsd@ID runs with --node-id (and the harness adds --listen, --admin, --data-dir):
        SIGHUP applies log_level and re-arms the prune timer, reopens the audit log, and
        reports nothing else."""
        c = Cluster(self).start()
        n = c.nodes[0]
        activate(n, "--cmid", cmid(1))
        with open(c.path) as f:
            text = f.read()
        with open(c.path, "w") as f:
            f.write(text + "\n[node]\nlog_level = debug\n[store]\nprune_interval = 10\n")
        # Log rotation: the old audit file is renamed away before the signal.
        os.rename(n.audit_path, n.audit_path + ".1")
        before = len(n.read_log())
        n.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "SIGHUP: configuration reloaded" not in n.read_log()[before:] and time.monotonic() < deadline:
            time.sleep(0.05)
        log = n.read_log()[before:]
        self.assertIn("applied: [node] log_level, [store] prune_interval", log)
        self.assertNotIn("restart", log)
        self.assertNotIn("not reloaded", log)
        # The audit log was reopened: the next request goes to a new audit.log.
        activate(n, "--cmid", cmid(2))
        deadline = time.monotonic() + 10
        while not n.audit() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual([a["cmid"] for a in n.audit()], [cmid(2)])
        # The prune timer runs every 10 s now (it was 3600 s), and debug lines are written.
        deadline = time.monotonic() + 25
        while "pruning expired client records (every 10 s)" not in n.read_log()[before:] and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertIn("pruning expired client records (every 10 s)", n.read_log()[before:])
        self.assertTrue(n.alive())

    def test_sighup_keeps_command_line_overrides(self):
        c = Cluster(self)
        n = c.nodes[0]
        c.start([n])
        n.stop()
        n.start(["--log-level", "warn"])
        with open(c.path) as f:
            text = f.read()
        with open(c.path, "w") as f:
            f.write(text + "\n[kms]\nactivation_interval = 60\n[dns]\nttl = 45\n")
        n.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "SIGHUP: changed but not applied" not in n.read_log() and time.monotonic() < deadline:
            time.sleep(0.05)
        log = n.read_log()
        # Only the restart-only key that changed is named; the --log-level warn override
        # still holds (the reload's own info line is not written).
        self.assertIn("SIGHUP: changed but not applied until a restart: [dns] ttl\n", log)
        self.assertNotIn("SIGHUP: configuration reloaded", log)
        self.assertEqual(activate(n, "--cmid", cmid(3))["activation_interval"], 60)


class CurveTests(NodeTestCase):
    def test_curve_cluster_works_and_refuses_unknown_keys(self):
        c = Cluster(self).start(None)
        self.spread = ClusterTests.spread.__get__(self)
        self.spread(c, 1, 9)
        c.wait_converged(9)
        # A rogue kms3 with a key of its own: the real nodes refuse it and say so.
        c.nodes[2].stop()
        rogue_dir = os.path.join(self.workdir, "rogue-keys")
        os.makedirs(rogue_dir)
        rc, out, err = kmsctl("keygen", "--dir", rogue_dir, "kms3")
        self.assertEqual(rc, 0, err)
        rogue_pub = out.split("public_key = ")[1].strip()
        with open(c.path) as f:
            text = f.read()
        rogue_cfg = os.path.join(self.workdir, "rogue.ini")
        with open(rogue_cfg, "w") as f:
            f.write(text.replace(c.pubkeys["kms3"], rogue_pub).replace("key_dir = %s" % c.key_dir,
                                                                       "key_dir = %s" % rogue_dir))
        rogue = c.nodes[2]
        rogue.config_path = rogue_cfg
        shutil.rmtree(rogue.data_dir)
        rogue.start()
        wait_until("kms1 refuses the rogue's key", lambda: "is not a peer's public key" in c.nodes[0].read_log())
        self.assertIn(rogue_pub, c.nodes[0].read_log())
        self.assertGreater(c.nodes[0].status()["cluster"]["replication"]["refused_keys"], 0)
        # The rogue learnt nothing from either real node (both have refused it by now); the
        # real nodes still agree.
        wait_until("kms2 refuses the rogue's key",
                   lambda: c.nodes[1].status()["cluster"]["replication"]["refused_keys"] > 0)
        self.assertEqual(rogue.status()["store"]["records"], 0)
        self.assertEqual(c.counts(nodes=c.nodes[:2]), [9, 9])

    def test_key_rotation_as_the_operations_guide_says(self):
        """ops/README.md section 4, step by step (KEY_DIR in a temporary directory instead of
        /etc/kmsha/keys): the rotated node keeps serving, nobody loses a record, and after
        step 4 it replicates with everyone again."""
        c = Cluster(self, keys=True).start()
        self.spread = ClusterTests.spread.__get__(self)
        self.spread(c, 1, 6)
        c.wait_converged(6)
        x = c.nodes[2]
        # 1. On X: kmsctl keygen --dir /etc/kmsha/keys.new X (the directory does not exist yet).
        new_dir = c.key_dir + ".new"
        rc, out, err = kmsctl("keygen", "--dir", new_dir, "kms3")
        self.assertEqual(rc, 0, err)
        new_pub = out.split("public_key = ")[1].strip()
        # 2. The new public_key into [peer.X], the file to every node (one file here).
        with open(c.path) as f:
            text = f.read()
        with open(c.path, "w") as f:
            f.write(text.replace(c.pubkeys["kms3"], new_pub))
        # 3. Restart every other node one at a time: X replicates with nobody meanwhile,
        # and still serves.
        for n in c.nodes[:2]:
            n.stop()
            n.start()
        activate(x, "--cmid", cmid(50))
        self.spread(c, 7, 10, nodes=c.nodes[:2])
        # 4. On X: the new secret key over the old one, readable by the service's group,
        # then restart X: it catches up at once.
        p = subprocess.run(["install", "-m", "0640", os.path.join(new_dir, "kms3.key"),
                            os.path.join(c.key_dir, "kms3.key")], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(os.stat(os.path.join(c.key_dir, "kms3.key")).st_mode & 0o777, 0o640)
        x.stop()
        x.start()
        c.wait_converged(11, records=11)

    def test_no_keys_or_insecure_refuses_to_start(self):
        # Replication is always authenticated, on loopback too: no keys, no cluster.
        path = os.path.join(self.workdir, "open.ini")
        with open(path, "w") as f:
            f.write("[node]\nid = a\n[peer.a]\nreplication = 127.0.0.1:7001\n[peer.b]\nreplication = 127.0.0.2:7001\n")
        p = subprocess.run([KMSD, "--check-config", path], capture_output=True, text=True)
        self.assertEqual(p.returncode, 1)
        self.assertIn("[peer.a] public_key: missing", p.stderr)
        # The old escape hatch is gone, and says so.
        with open(path, "a") as f:
            f.write("[cluster]\ninsecure = true\n")
        p = subprocess.run([KMSD, "--check-config", path], capture_output=True, text=True)
        self.assertEqual(p.returncode, 1)
        self.assertIn("insecure: removed", p.stderr)


if __name__ == "__main__":
    main()
