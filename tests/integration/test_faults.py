"""Faults a real node meets (issue 15): a disk that fills, a damaged store file, the audit
log on a full disk, replication links that stall and heal. Real kmsd processes; the disk
is a small tmpfs the test mounts, the stalled links are nft rules inside a network
namespace the test creates (root only: skipped otherwise). The long runs (120 s and 300 s
blackholes, 30 % loss) are bench/scenarios/heal.py; this suite keeps a short one."""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BUILD, KMSCTL, KMSD, ROOT, Cluster, NodeTestCase, activate, cmid, kmsctl, main, peer_alive, wait_until  # noqa: E402

DAY = 86400

NETNS_PREFIX = os.environ.get("KMSHA_NETNS_PREFIX", "kmsha")

DAMAGED_EXIT = 65  # kmsd's and kmsctl's exit status for a damaged store (ops/man/kmsd.8)


def unit_restart_prevented():
    """The exit statuses the systemd unit does not restart (RestartPreventExitStatus=)."""
    codes = set()
    with open(os.path.join(ROOT, "ops", "systemd", "kmsd@.service")) as f:
        for line in f:
            if line.startswith("RestartPreventExitStatus="):
                codes.update(int(w) for w in line.split("=", 1)[1].split() if w.isdigit())
    return codes


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


    def test_audit_on_a_full_disk_is_counted_and_leaves_a_gap_line(self):
        os.makedirs(os.path.join(self.workdir, "kms1"))
        audit = os.path.join(self.disk, "audit.log")
        n = self.node(config="[node]\naudit_log = %s\n" % audit).start()
        self.assertEqual(self.activate_rc(n, 0)[0], 0)
        filler = os.path.join(self.disk, "filler")
        fill(filler)
        # More lines than the node keeps for a retry (256 KiB): the rest are lost, counted.
        p = subprocess.run([os.path.join(BUILD, "kmsbench"), "--requests", "800", "--clients", "800", "-c", "8",
                            "--no-progress", n.addr], capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        st = n.status()["audit"]
        self.assertFalse(st["ok"])
        self.assertGreater(st["write_failures"], 0)
        self.assertGreater(st["lines_lost"], 0)
        self.assertIn("No space left on device", st["last_error"])
        m = n.metrics()
        self.assertRegex(m, r'kmsha_audit_write_failures_total\{node="kms1"\} [1-9]')
        self.assertRegex(m, r'kmsha_audit_lines_lost_total\{node="kms1"\} [1-9]')
        self.assertIn("writing the audit log failed", n.read_log())
        os.unlink(filler)
        self.assertEqual(self.activate_rc(n, 5000)[0], 0)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not n.status()["audit"]["ok"]:
            time.sleep(0.1)
        self.assertTrue(n.status()["audit"]["ok"], n.status()["audit"])
        # Written again: the next line reaches the file.
        self.assertEqual(self.activate_rc(n, 5001)[0], 0)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and n.status()["audit"]["pending_lines"]:
            time.sleep(0.1)
        st = n.status()["audit"]
        self.assertTrue(st["ok"], st)
        with open(audit) as f:
            lines = [json.loads(l) for l in f if l.strip()]
        # One gap line per run of lost lines (a nearly full disk still takes a few).
        gaps = [l["audit_gap"] for l in lines if "audit_gap" in l]
        self.assertGreaterEqual(len(gaps), 1)
        lost = sum(g["lines_not_written"] for g in gaps)
        self.assertEqual(lost, st["lines_lost"])
        self.assertEqual(st["gap_records"], len(gaps))
        # Every request is in the file or in a gap line's count: nothing silently dropped.
        self.assertEqual(len(lines) - len(gaps) + lost, 1 + 800 + 2)
        self.assertEqual(lines[-1]["cmid"], cmid(5001))


class StalledLinkTests(NodeTestCase):
    """Nodes on 127.0.0.1-3 inside a namespace of the test's own; nft drops every packet
    of the replication ports (a blackhole: nothing is refused, TCP just hears nothing), or
    of one node's publish port only, then the rule goes."""

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0 or not shutil.which("nft"):
            self.skipTest("needs root and nft (scripts/deps.sh)")
        self.ns = "%s-heal-%04x" % (NETNS_PREFIX, random.randrange(0x10000))
        p = subprocess.run(["ip", "netns", "add", self.ns], capture_output=True, text=True)
        if p.returncode != 0:
            self.skipTest("cannot create a network namespace: %s" % p.stderr)
        self.addCleanup(subprocess.run, ["ip", "netns", "del", self.ns], capture_output=True)
        subprocess.run(["ip", "-n", self.ns, "link", "set", "lo", "up"], check=True)

    def nft(self, *args, script=None):
        return subprocess.run(["ip", "netns", "exec", self.ns, "nft"] + list(args), input=script,
                              capture_output=True, text=True, check=True)

    def activate_on(self, node, n):
        p = subprocess.run(["ip", "netns", "exec", self.ns, KMSCTL, "activate", "--json", "--cmid", cmid(n),
                            node.addr], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_replication_back_within_seconds_after_a_blackhole(self):
        c = Cluster(self, cluster_config="[kms]\ncount_cap = 10000\n")
        for n in c.nodes:
            n.wrapper = ["ip", "netns", "exec", self.ns]
        c.start()
        c.wait_converged(0)
        ports = sorted({p + d for p in c.repl_ports for d in (0, 1)})
        plist = ", ".join(str(p) for p in ports)
        # On the input hook: a packet dropped on output is a local error that TCP sees
        # and retries every 500 ms, not the silence of a real blackhole.
        self.nft("-f", "-", script="table inet fa_cut {\n chain in {\n  type filter hook input priority 0;\n"
                 "  tcp dport { %s } drop\n  tcp sport { %s } drop\n }\n}\n" % (plist, plist))
        # Each side keeps activating its own clients while the links are cut.
        k = 0
        for i, n in enumerate(c.nodes):
            for _ in range(5):
                k += 1
                self.activate_on(n, k)
        # Every peer is declared dead, and its lag is unknown, not 0.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            peers = [p for p in c.nodes[0].status()["cluster"]["peers"] if not p["self"]]
            if not any(p["alive"] for p in peers):
                break
            time.sleep(0.2)
        self.assertFalse(any(p["alive"] for p in peers), peers)
        self.assertTrue(all(p["lag_updates"] is None for p in peers), peers)
        self.assertNotIn('kmsha_replication_lag_updates{node="kms1",peer="kms2"}', c.nodes[0].metrics())
        # The fault's length (not a wait for an event): long enough for TCP's retransmission
        # backoff to reach several seconds.
        time.sleep(16)
        self.nft("delete", "table", "inet", "fa_cut")
        healed = time.monotonic()
        # Back within 2 x dead_after_ms (1.5 s) plus catch-up time, with margin for a
        # loaded machine: before the sockets had heartbeats and timeouts this took the
        # next TCP retransmission, about 10 s here (80 s after a 120 s blackhole).
        took = c.wait_converged(k, timeout=8, records=k)
        for n in c.nodes:
            self.assertTrue(all(p["alive"] for p in n.status()["cluster"]["peers"]))
        print("converged %.1f s after the heal (%.1f s measured by wait_converged)" % (
            time.monotonic() - healed, took))


    def test_catch_up_port_asked_when_only_the_publish_port_is_cut(self):
        # A partition that cuts only some ports: kms2's publish port (its heartbeats and
        # live updates) is dropped, its catch-up port is not. kms1 never hears kms2, yet
        # must fetch kms2's clients from that catch-up port (before: it never asked a
        # peer it did not hear, and stayed 20 records behind until the cut healed).
        c = Cluster(self, n=2)
        for n in c.nodes:
            n.wrapper = ["ip", "netns", "exec", self.ns]
        c.start()
        c.wait_converged(0)
        pub = c.repl_ports[1]
        self.nft("-f", "-", script="table inet fa_pub {\n chain in {\n  type filter hook input priority 0;\n"
                 "  tcp dport %d drop\n  tcp sport %d drop\n }\n}\n" % (pub, pub))
        kms1, kms2 = c.nodes
        deadline = time.monotonic() + 20
        while peer_alive(kms1, "kms2") and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertFalse(peer_alive(kms1, "kms2"), "kms1 still hears kms2 through a cut publish port")
        for k in range(20):
            self.activate_on(kms2, k)
        c.wait_converged(20, nodes=[kms1], records=20, timeout=15)
        # Through the catch-up port: kms2's publish port is still cut.
        self.assertFalse(peer_alive(kms1, "kms2"))
        self.assertIn("peer kms2 is not heard on its publish port", kms1.read_log())
        self.assertIn("its catch-up port answers", kms1.read_log())
        self.nft("delete", "table", "inet", "fa_pub")
        deadline = time.monotonic() + 10
        while not peer_alive(kms1, "kms2") and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertTrue(peer_alive(kms1, "kms2"))


class OriginTests(NodeTestCase):
    """Update origins over a cluster's life: every empty start used to add one to every
    node's version vector (64 at most), so at the 62nd rebuild of one node of three the
    rebuilt node stored nothing. A rebuilt node now resumes its earlier origin; forged
    origins fill no more than the share of the node they name. A node rebuilt while a peer
    is not heard takes a new origin; its earlier one is retired once every peer holds all
    of it. The suite rebuilds 12 times with every peer heard (each round checks the origin
    was resumed: before, each added one) and twice with one unheard (paused, then stopped);
    bench/scenarios/rebuilds.sh runs 200 of either (KMSHA_REBUILD_CYCLES,
    KMSHA_UNHEARD_CYCLES)."""

    CYCLES = int(os.environ.get("KMSHA_REBUILD_CYCLES", "12"))
    UNHEARD_CYCLES = int(os.environ.get("KMSHA_UNHEARD_CYCLES", "2"))

    def test_a_node_wiped_and_rebuilt_again_and_again_serves_and_counts(self):
        c = Cluster(self, cluster_config="[kms]\ncount_cap = 10000\n").start().one_client_each()
        kms1, kms2, kms3 = c.nodes
        first_origin = kms3.status()["cluster"]["origin"]
        t0 = time.monotonic()
        for k in range(3, self.CYCLES + 3):
            kms3.stop()
            shutil.rmtree(kms3.data_dir)
            kms3.start()
            # Its own client: stored under its origin (before: refused from round 62 on,
            # "record not committed (size limit exceeded)"), and replicated before the
            # next wipe takes the disk.
            activate(kms3, "--cmid", cmid(k))
            wait_until("client %d replicated" % k, lambda: all(n.status()["store"]["records"] == k + 1
                                                               for n in (kms1, kms2)), timeout=15)
        took = time.monotonic() - t0
        total = self.CYCLES + 3
        c.wait_converged(total, records=total, timeout=30)
        vectors = [n.status()["cluster"]["version_vector"] for n in c.nodes]
        print("%d wipe-and-rebuild cycles of kms3 in %.1f s (%.2f s each); version vectors: %s"
              % (self.CYCLES, took, took / self.CYCLES, [len(v) for v in vectors]))
        for v in vectors:
            self.assertEqual(len(v), 3, v)
        self.assertEqual(kms3.status()["cluster"]["origin"], first_origin)
        self.assertIn("update origin %s resumed" % first_origin, kms3.read_log())
        for n in c.nodes:
            activate(n, "--cmid", cmid(10000 + c.nodes.index(n)))
        c.wait_converged(total + 3, records=total + 3, timeout=30)

    def test_origins_taken_while_a_peer_is_unheard_are_retired(self):
        # kms3 wiped and rebuilt while kms2 is not heard (paused by SIGSTOP in even rounds,
        # stopped in odd ones): it cannot resume its origin and takes a new one. Once kms2
        # is heard again and holds all of the earlier one, every node retires it, and the
        # version vectors are back to one origin per node (before: each such rebuild added
        # an origin to every vector for good, and from the 22nd on, kms3's share of 64 (255 now)
        # full, its new origins were refused and its clients no longer replicated).
        c = Cluster(self, cluster_config="[kms]\ncount_cap = 10000\n").start().one_client_each()
        kms1, kms2, kms3 = c.nodes

        def vector_sizes():
            return [len(n.status()["cluster"]["version_vector"]) for n in c.nodes]

        def retired(n, strict=True):
            rs = n.status()["cluster"]["replication"]
            return rs["origins_retired"] if strict else rs.get("origins_retired", 0)

        wait_until("one origin per node", lambda: vector_sizes() == [3, 3, 3])
        unheard_sizes, took_rounds = [], []
        t0 = time.monotonic()
        for r in range(self.UNHEARD_CYCLES):
            k = 3 + r
            t_round = time.monotonic()
            old = kms3.status()["cluster"]["origin"]
            before = [retired(kms1, strict=False), retired(kms2, strict=False)]
            kms3.stop()
            paused = r % 2 == 0
            if paused:
                kms2.proc.send_signal(signal.SIGSTOP)
            else:
                kms2.stop()
            try:
                shutil.rmtree(kms3.data_dir)
                news = kms3.read_log().count("not every peer is heard, so an earlier origin cannot be resumed")
                kms3.start()
                new = kms3.status()["cluster"]["origin"]
                self.assertNotEqual(new, old)
                self.assertEqual(kms3.read_log().count("update origin %s is new (not every peer is heard" % new), 1)
                self.assertEqual(kms3.read_log().count("not every peer is heard, so an earlier origin cannot be resumed"),
                                 news + 1)
                activate(kms3, "--cmid", cmid(k))
                wait_until("client %d on kms1" % k, lambda: kms1.status()["store"]["records"] == k + 1, timeout=15)
                unheard_sizes.append(len(kms1.status()["cluster"]["version_vector"]))
            finally:
                if paused:
                    kms2.proc.send_signal(signal.SIGCONT)
                elif not kms2.alive():
                    kms2.start()
            try:
                wait_until("every node holds every client and one origin per node",
                           lambda: vector_sizes() == [3, 3, 3] and c.records() == [k + 1] * 3, timeout=30)
            except AssertionError as e:
                raise AssertionError("round %d: %s; version vectors: %s" % (
                    r + 1, e, [n.status()["cluster"]["version_vector"] for n in c.nodes]))
            took_rounds.append(time.monotonic() - t_round)
            if not paused:
                before[1] = 0  # kms2 restarted: its counters start again from 0
            for n, b in zip((kms1, kms2), before):
                self.assertGreater(retired(n), b, "round %d: %s" % (r + 1, n.node_id))
                vv = n.status()["cluster"]["version_vector"]
                self.assertNotIn(old, vv)
                self.assertIn(new, vv)
                self.assertIn("retired update origin %s at update" % old, n.read_log())
                self.assertIn("kms3 now numbers its updates as %s and every peer holds all of it" % new, n.read_log())
            # Wiped, kms3 took kms1's vector, with the earlier origin in it, and retired it too.
            self.assertGreaterEqual(retired(kms3), 1)
        took = time.monotonic() - t0
        total = self.UNHEARD_CYCLES + 3
        c.wait_converged(total, records=total, timeout=30)
        counters = [retired(n) for n in c.nodes]
        sizes = vector_sizes()
        print("%d rebuilds of kms3 while kms2 was unheard in %.1f s (%.2f s each, longest %.1f s); "
              "version vector of kms1 while kms2 was unheard: %s origins at most; after each round: %s; "
              "origins retired (kms1, kms2, kms3): %s"
              % (self.UNHEARD_CYCLES, took, took / self.UNHEARD_CYCLES, max(took_rounds),
                 max(unheard_sizes), sizes, counters))
        for n in c.nodes:
            m = n.metrics()
            self.assertIn('kmsha_replication_origins{node="%s"} 3\n' % n.node_id, m)
            self.assertRegex(m, r'kmsha_replication_origins_retired_total\{node="%s"\} [1-9]' % n.node_id)
            self.assertEqual(n.status()["cluster"]["replication"]["origins_refused"], 0)
        for n in c.nodes:
            activate(n, "--cmid", cmid(10000 + c.nodes.index(n)))
        c.wait_converged(total + 3, records=total + 3, timeout=30)

    def test_forged_origins_from_a_stolen_key_fill_only_that_peers_share(self):
        from test_hostile import poke
        c = Cluster(self, n=3, cluster_config="[kms]\ncount_cap = 10000\n")
        kms1, kms2, kms3 = c.nodes
        c.start([kms1, kms2])
        activate(kms1, "--cmid", cmid(0))
        c.wait_converged(1, nodes=[kms1, kms2])
        # kms3's real key, stolen: bound on its publish port while it is down, it sends
        # updates under 95 new origins of its own name, 5 of kms2's, and junk names.
        now = int(time.time() * 1000)
        forged = ["kms2.%08x" % (0xf0 + i) for i in range(5)] + ["kms3.%08x" % i for i in range(95)]
        junk = ["evil.00000001", "kms3.NOTHEX00", "kms9.00000001"]
        msgs = [poke("update", o, 1, 500 + i, now).strip() for i, o in enumerate(junk + forged)]
        poke("--key", c.key_file("kms3"), "pub", "tcp://%s:%d" % (c.hosts[2], c.repl_ports[2]), "1500", *msgs)
        share = 255 // 3

        def forged_seen(n):
            return len([o for o in n.status()["cluster"]["version_vector"] if o.startswith("kms3.")]) >= share
        wait_until("the forged updates applied", lambda: forged_seen(kms1) and forged_seen(kms2))
        # Every node still stores and replicates its own clients: kms2 wiped (a new
        # origin: kms3 is not heard, so it cannot resume), and kms3 back with its store
        # (before: the forged origins filled the vector's entries, and kms2's new origin was
        # refused: "record not committed").
        kms2.stop()
        shutil.rmtree(kms2.data_dir)
        kms2.start()
        activate(kms2, "--cmid", cmid(1))
        c.start([kms3])
        activate(kms3, "--cmid", cmid(2))
        # The forged clients within kms3's share, and kms2's five, were admitted (a
        # peer's key signed them): bounded, not refused.
        c.wait_converged(3 + share + 5, timeout=30)
        self.assertGreaterEqual(kms1.status()["cluster"]["replication"]["origins_refused"], 95 - share + 3)
        for n in c.nodes:
            st = n.status()
            vv = st["cluster"]["version_vector"]
            self.assertLessEqual(len([o for o in vv if o.startswith("kms3.")]), share, vv)
            self.assertLessEqual(len(vv), 255)
            self.assertIn("kmsha_replication_origins_refused_total", n.metrics())
        self.assertIn("its share of 255", kms1.read_log())
        self.assertIn("names no peer of this cluster", kms1.read_log())
        self.assertIn("not named like an origin", kms1.read_log())


class ClockTests(NodeTestCase):
    """Time is checked, never trusted: --clock-offset steps one node's clock (the same hook
    the product offers for tests; a step seen at start, against the time this node last
    stored and the monotonic time since)."""

    def wait_status(self, node, pred, timeout=15):
        deadline = time.monotonic() + timeout
        st = node.status()
        while not pred(st) and time.monotonic() < deadline:
            time.sleep(0.1)
            st = node.status()
        self.assertTrue(pred(st), json.dumps(st.get("clock")))
        return st

    def test_log_size_bound_waits_for_a_confirmed_clock(self):
        # The update log over log_max_mb on a node whose clock no live peer has confirmed
        # yet (its peer is down): the size bound prunes by a wall-clock cut-off, so on a
        # wrong clock it could take the whole log. It waits (before: pruned within 5 s
        # of the start), then prunes as soon as the peer confirms the clock.
        c = Cluster(self, n=2, cluster_config="log_max_mb = 1\n")
        kms1, kms2 = c.nodes
        p = subprocess.run([os.path.join(BUILD, "kmsseed"), "--data-dir", kms1.data_dir, "--node-id", "kms1",
                            "--records", "8000"], capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        c.start([kms1])
        wait_until("the log size check", lambda: any(
            s in kms1.read_log() for s in ("not pruning it until the clock is confirmed", "log_max_mb 1: pruning")))
        st = kms1.status()
        self.assertFalse(st["clock"]["trusted"])
        self.assertEqual(st["clock"]["pruning"], "suspended")
        self.assertGreater(st["cluster"]["log_bytes"], 1 << 20)
        self.assertEqual(st["cluster"]["log_entries"], 8000)
        self.assertNotIn("log_max_mb 1: pruning", kms1.read_log())
        c.start([kms2])
        st = wait_until("the update log back under log_max_mb once the clock is confirmed",
                        lambda: (lambda s: s if s["clock"]["trusted"] and s["cluster"]["log_bytes"] <= 1 << 20 else None)(
                            kms1.status()), timeout=30)
        self.assertLess(st["cluster"]["log_entries"], 8000)
        self.assertIn("log_max_mb 1: pruning", kms1.read_log())
        self.assertEqual(st["store"]["records"], 8000)

    def test_a_45_day_step_and_back_loses_no_record(self):
        c = Cluster(self).start()
        for i in range(30):
            activate(c.nodes[i % 3], "--cmid", cmid(i))
        c.wait_converged(30, records=30)
        for n in c.nodes:
            self.wait_status(n, lambda st: st["clock"]["trusted"])
        victim = c.nodes[2]
        log_before = victim.status()["cluster"]["log_entries"]
        self.assertEqual(log_before, 30)
        victim.stop()
        # 45 days ahead: it would prune every record and its whole update log at start.
        victim.start(["--clock-offset", 45 * DAY])
        st = self.wait_status(victim, lambda st: st["clock"]["state"] == "disagrees")
        self.assertFalse(st["clock"]["trusted"])
        self.assertEqual(st["clock"]["pruning"], "suspended")
        self.assertEqual(st["store"]["records"], 30)
        self.assertEqual(st["cluster"]["log_entries"], 30)
        self.assertIn("kmsha_clock_trusted{node=\"kms3\"} 0", victim.metrics())
        self.assertIn("not pruning expired records or the update log", victim.read_log())
        self.assertIn("clock disagrees with 2 of 2 live peers", victim.read_log())
        # Its peers see its offset and still trust their own clocks (they agree).
        st1 = c.nodes[0].status()
        self.assertTrue(st1["clock"]["trusted"])
        peer3 = [p for p in st1["cluster"]["peers"] if p["id"] == "kms3"][0]
        self.assertGreater(peer3["clock_offset_ms"], 44 * DAY * 1000)
        # A client whose clock is as far ahead is activated there; its record is dated 45
        # days in the future for the others: refused (logged, counted), never counted.
        activate(victim, "--cmid", cmid(100), "--time-offset", 45 * DAY)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "kmsha_replication_future_refused_total{node=\"kms1\"} 1" not in c.nodes[0].metrics():
            time.sleep(0.1)
        self.assertIn("kmsha_replication_future_refused_total{node=\"kms1\"} 1", c.nodes[0].metrics())
        self.assertIn("dated in the future", c.nodes[0].read_log())
        self.assertEqual(c.nodes[0].count(), 30)
        self.assertEqual(c.nodes[0].status()["store"]["records"], 30)
        # And back: nothing was lost on the stepped node.
        victim.stop()
        victim.start()
        self.wait_status(victim, lambda st: st["clock"]["trusted"])
        self.assertEqual(victim.status()["store"]["records"], 31)
        self.assertEqual(victim.count(), 30)  # the future client: not counted for 45 days
        # A node rebuilt from the stepped node alone gets everything.
        c.nodes[1].stop()
        c.nodes[0].stop()
        shutil.rmtree(c.nodes[0].data_dir)
        c.nodes[0].start()
        c.wait_converged(30, nodes=[c.nodes[0], victim])
        self.assertEqual(c.nodes[0].status()["store"]["records"], 30)


class DamagedStoreTests(NodeTestCase):
    """A truncated or bit-flipped data.mdb: named with its repair, never a crash (SIGBUS,
    SIGSEGV), a hang or a node that counts part of its records."""

    RECORDS = 400

    def seeded(self, node_id="kms1"):
        d = os.path.join(self.workdir, node_id, "data")
        os.makedirs(os.path.dirname(d), exist_ok=True)
        p = subprocess.run([os.path.join(BUILD, "kmsseed"), "--data-dir", d, "--node-id", node_id, "--records",
                            str(self.RECORDS)], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return d

    def run_kmsd(self, data_dir, *extra, timeout=20):
        """Starts kmsd on the store; returns (returncode or None if it is serving, output)."""
        n = self.node(data_dir=data_dir)
        n.start(extra, wait=False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if n.proc.poll() is not None:
                return n.wait_exit(), n.read_log()
            try:
                if n.http("/healthz")[0] == 200:
                    return None, n
            except OSError:
                pass
            time.sleep(0.05)
        self.fail("kmsd neither served nor exited within %s s (a hang):\n%s" % (timeout, n.read_log()))

    def assert_refused(self, rc, out):
        # A distinct status that the systemd unit does not restart (before: 1, restarted
        # every 2 s by Restart=on-failure with the same message).
        self.assertEqual(rc, DAMAGED_EXIT, "kmsd should refuse the damaged store with exit status %d, got %s:\n%s"
                         % (DAMAGED_EXIT, rc, out))
        self.assertIn(DAMAGED_EXIT, unit_restart_prevented())
        self.assertIn("data.mdb is damaged", out)
        self.assertIn("kmsctl restore", out)
        self.assertIn("--rebuild-from-peers", out)

    def test_truncated_store_is_named_with_its_repair(self):
        d = self.seeded()
        path = os.path.join(d, "data.mdb")
        size = os.path.getsize(path)
        os.truncate(path, size // 2)
        rc, out = self.run_kmsd(d)
        self.assert_refused(rc, out)  # before: SIGBUS (-7) with an empty log
        self.assertIn("truncated", out)
        rc, stdout, err = kmsctl("clients", "--data-dir", d)
        self.assertEqual(rc, DAMAGED_EXIT, err)
        self.assertIn("damaged", err)
        self.assertIn("truncated", err)
        rc, _, err = kmsctl("backup", "--data-dir", d, os.path.join(self.workdir, "bk"))
        self.assertEqual(rc, DAMAGED_EXIT, err)
        # Restoring a damaged copy is refused the same way, and the target is left alone.
        target = os.path.join(self.workdir, "target")
        rc, _, err = kmsctl("restore", "--data-dir", target, d)
        self.assertEqual(rc, DAMAGED_EXIT, err)
        self.assertFalse(os.path.exists(os.path.join(target, "data.mdb")))

    def test_other_start_failures_keep_status_1(self):
        # Not every store failure is damage: a data directory that is a file is worth a
        # restart once fixed, and must not be mistaken for a store needing repair.
        path = os.path.join(self.workdir, "kms1", "notadir")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write("x")
        rc, out = self.run_kmsd(path)
        self.assertEqual(rc, 1, out)
        self.assertNotIn("damaged", out)

    def test_flipped_bytes_are_refused_or_harmless_never_a_crash(self):
        import random
        rng = random.Random(15)
        outcomes = []
        for round_ in range(6):
            d = self.seeded("kms%d" % (round_ + 1))
            path = os.path.join(d, "data.mdb")
            size = os.path.getsize(path)
            with open(path, "r+b") as f:
                for _ in range(200):
                    at = rng.randrange(8192, size)  # past the two meta pages
                    f.seek(at)
                    b = f.read(1)
                    f.seek(at)
                    f.write(bytes([b[0] ^ (1 << rng.randrange(8))]))
            rc, res = self.run_kmsd(d)
            if rc is None:
                # It started: then every record is there (no silent under-count).
                st = res.status()
                self.assertEqual(st["store"]["records"], self.RECORDS)
                self.assertEqual(st["counts"]["windows"]["live_clients"] + st["counts"]["office2010"]["live_clients"]
                                 + st["counts"]["office2013"]["live_clients"], self.RECORDS)
                res.stop()
                outcomes.append("served")
            else:
                self.assert_refused(rc, res)
                outcomes.append("refused")
            krc, _, kerr = kmsctl("clients", "--data-dir", d, "--limit", "100000")
            self.assertIn(krc, (0, DAMAGED_EXIT), kerr[-3000:])
            if krc == DAMAGED_EXIT:
                self.assertIn("damaged", kerr)
        self.assertIn("refused", outcomes)
        print("outcomes:", outcomes)

    def test_rebuild_from_peers_is_one_command(self):
        c = Cluster(self, n=2)
        c.start()
        for i in range(20):
            activate(c.nodes[i % 2], "--cmid", cmid(i))
        c.wait_converged(20, records=20)
        victim = c.nodes[1]
        victim.stop()
        path = os.path.join(victim.data_dir, "data.mdb")
        os.truncate(path, os.path.getsize(path) // 2)
        victim.start(wait=False)
        self.assertEqual(victim.wait_exit(20), DAMAGED_EXIT)
        self.assert_refused(DAMAGED_EXIT, victim.read_log())
        victim.start(["--rebuild-from-peers"])
        c.wait_converged(20, records=20)
        aside = [e for e in os.listdir(victim.data_dir) if e.startswith("damaged-")]
        self.assertEqual(len(aside), 1)
        self.assertTrue(os.path.exists(os.path.join(victim.data_dir, aside[0], "data.mdb")))


if __name__ == "__main__":
    main()
