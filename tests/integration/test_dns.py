"""DNS publishing against a real BIND named: a three-node cluster publishes its SRV records
(priorities and weights per node and per site zone) by TSIG-signed dynamic updates; a node
killed with -9 is withdrawn by the lowest live node and publishes itself again when it
comes back; drain / undrain withdraw and restore a node's records while it keeps serving,
also across a restart; a wrong TSIG key is reported and never stops activations; `kmsctl
activate --srv` picks targets by priority and fails over to the next one.

named runs from a temporary directory on 127.0.0.1 and a free port with two dynamic zones
(kms.test and site1.kms.test) and a key made by tsig-keygen. Where AppArmor is enforced,
the usr.sbin.named profile keeps /usr/sbin/named out of such a directory, so a copy of the
binary (which no profile names) is run instead. Nothing here talks to any DNS server but
this named: kmsd and kmsctl are given its address and never read /etc/resolv.conf."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BUILD, KMSD, Cluster, NodeTestCase, activate, cmid, free_port, kmsctl, main,
                     peer_info, wait_until)  # noqa: E402

ZONES = ("kms.test", "site1.kms.test")
# Long enough for kmsctl and kmsbench to look kms1 up after its kill, before it is withdrawn
# (dead_after + withdraw_after after the last heartbeat), on a loaded machine too.
WITHDRAW_AFTER = 4
DEAD_AFTER_S = 1.5  # harness Cluster: dead_after_ms = 1500


def tool(name):
    path = shutil.which(name) or os.path.join("/usr/sbin", name)
    if not os.path.exists(path):
        raise AssertionError("%s not found: install bind9, bind9-utils and bind9-dnsutils (scripts/deps.sh)" % name)
    return path


def apparmor_enforced():
    try:
        with open("/sys/module/apparmor/parameters/enabled") as f:
            return f.read().strip() == "Y"
    except OSError:
        return False


class Named:
    """A named with dynamic zones kms.test and site1.kms.test in its own directory; on
    127.0.0.1 and a free port, or on host:53 inside a network namespace (wrapper: the
    command prefix that enters it, e.g. ["ip", "netns", "exec", NS])."""

    def __init__(self, host="127.0.0.1", wrapper=()):
        self.dir = tempfile.mkdtemp(prefix="kmsha-named-")
        self.host = host
        self.wrapper = list(wrapper)
        self.port = 53 if self.wrapper else free_port("127.0.0.1")
        keygen = tool("tsig-keygen")
        self.key_file = os.path.join(self.dir, "kmsha.key")
        self.wrong_key_file = os.path.join(self.dir, "wrong.key")
        for path in (self.key_file, self.wrong_key_file):  # same name, another secret
            with open(path, "w") as f:
                f.write(subprocess.run([keygen, "-a", "hmac-sha256", "kmsha-key"], check=True,
                                       capture_output=True, text=True).stdout)
        zones = ""
        for z in ZONES:
            with open(os.path.join(self.dir, z + ".zone"), "w") as f:
                f.write("$TTL 60\n@ IN SOA ns.kms.test. hostmaster.kms.test. 1 3600 600 86400 60\n"
                        "@ IN NS ns.kms.test.\n")
                if z == "kms.test":
                    f.write("ns IN A 127.0.0.1\n")
            # The policy of ops/dns/named.conf.example: the key may change the SRV RRset and
            # the address records of the node names below the zone, nothing else.
            zones += ('zone "%s" {\n  type primary;\n  file "%s/%s.zone";\n  update-policy {\n'
                      '    grant kmsha-key name _vlmcs._tcp.%s. SRV;\n'
                      '    grant kmsha-key wildcard *.%s. A AAAA;\n  };\n};\n') % (z, self.dir, z, z, z)
        self.conf = os.path.join(self.dir, "named.conf")
        with open(self.conf, "w") as f:
            f.write('include "%s";\n' % self.key_file)
            f.write('options {\n  directory "%s";\n  listen-on port %d { %s; };\n  listen-on-v6 { none; };\n'
                    '  pid-file "%s/named.pid";\n  session-keyfile "%s/session.key";\n  recursion no;\n'
                    '  dnssec-validation no;\n  notify no;\n};\ncontrols { };\n' % (self.dir, self.port, self.host, self.dir, self.dir))
            f.write(zones)
        named = tool("named")
        if apparmor_enforced():
            copy = os.path.join(self.dir, "named")
            shutil.copy2(named, copy)
            named = copy
        self.log = open(os.path.join(self.dir, "named.log"), "w")
        self.proc = subprocess.Popen(self.wrapper + [named, "-g", "-c", self.conf], stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("named exited:\n" + self.read_log())
            if self.dig("kms.test", "SOA"):
                return
            time.sleep(0.1)
        log = self.read_log()
        self.stop()  # not left running (in a namespace the test is about to delete)
        raise AssertionError("named did not answer:\n" + log)

    @property
    def server(self):
        return "%s:%d" % (self.host, self.port)

    def dig(self, name, rtype):
        p = subprocess.run(self.wrapper + [tool("dig"), "@" + self.host, "-p", str(self.port), "+short", "+norecurse", "+time=1",
                            "+tries=2", name, rtype], capture_output=True, text=True, timeout=10)
        return [l for l in p.stdout.splitlines() if l and not l.startswith(";")]

    def srv(self, zone):
        """{target: (priority, weight, port)} of _vlmcs._tcp.ZONE."""
        out = {}
        for line in self.dig("_vlmcs._tcp." + zone, "SRV"):
            prio, weight, port, target = line.split()
            out[target] = (int(prio), int(weight), int(port))
        return out

    def read_log(self):
        with open(os.path.join(self.dir, "named.log")) as f:
            return f.read()[-3000:]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        if not os.environ.get("KMSHA_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)


def dns_section(named, key_file=None, zones="kms.test, site1.kms.test:site1"):
    return ("\n[dns]\nserver = %s\nzones = %s\ntsig_key_file = %s\nttl = 30\nrefresh_interval = 30\n"
            "withdraw_after = %d\nremote_priority_offset = 10\ntimeout_ms = 1000\n"
            % (named.server, zones, key_file or named.key_file, WITHDRAW_AFTER))


def wait_for(what, cond, timeout=30, step=0.1):
    """Waits for cond() (generous deadline, monotonic clock); returns the seconds it took."""
    t0 = time.monotonic()
    wait_until(what, cond, timeout, step)
    return time.monotonic() - t0


class DnsTests(NodeTestCase):
    @classmethod
    def setUpClass(cls):
        cls.named = Named()

    @classmethod
    def tearDownClass(cls):
        cls.named.stop()

    def tearDown(self):
        if not getattr(self._outcome, "success", True):
            print("---- named ----\n" + self.named.read_log())
        super().tearDown()

    def test_cluster_publishes_withdraws_and_drains(self):
        named = self.named
        c = Cluster(self, cluster_config=dns_section(named), peer_extra={
            "kms1": "priority = 0\nweight = 100\n",   # site1
            "kms2": "priority = 10\nweight = 50\n",   # site2
            "kms3": "priority = 10\nweight = 100\n",  # site1
        })
        t_start = time.time()
        c.start()
        port = c.kms_port
        want = {
            "kms.test": {"kms1.kms.test.": (0, 100, port), "kms2.kms.test.": (10, 50, port),
                         "kms3.kms.test.": (10, 100, port)},
            # site1 zone: site2's kms2 gets priority + remote_priority_offset
            "site1.kms.test": {"kms1.kms.test.": (0, 100, port), "kms2.kms.test.": (20, 50, port),
                               "kms3.kms.test.": (10, 100, port)},
        }
        took = wait_for("three SRV records in both zones", lambda: all(named.srv(z) == want[z] for z in ZONES))
        print("published in %.2f s" % took)
        for i, nid in enumerate(c.ids):
            self.assertEqual(named.dig("%s.kms.test" % nid, "A"), [c.hosts[i]])
        rc, out, err = kmsctl("dns", "check", "--admin", "%s:%d" % (c.hosts[0], c.admin_ports[0]))
        self.assertEqual(rc, 0, out + err)
        self.assertIn("as they should be", out)
        for n in c.nodes:
            st = n.status()["dns"]
            self.assertEqual(st["state"], "published", st)
            self.assertIn('kmsha_dns_published{node="%s",zone="site1.kms.test."} 1' % n.node_id, n.metrics())

        # Clients: priority 0 first, every time.
        srv_args = ("activate", "--json", "--srv", "_vlmcs._tcp.kms.test", "--dns", named.server)
        for i in range(3):
            rc, out, err = kmsctl(*srv_args, "--cmid", cmid(i + 1))
            self.assertEqual(rc, 0, err)
            self.assertIn("SRV target kms1.kms.test. (127.0.0.1:%d) answered" % port, err)

        # kill -9 kms1: before it is withdrawn, a client fails over to the next priority.
        # kms2 has heard kms1 at this time or later (or, never having heard it, has been up
        # since t_start): the rule counts dead_after + withdraw_after from there.
        heard = max(peer_info(c.nodes[1], "kms1")["last_heard_ms"] / 1000, t_start)
        victim = c.nodes[0]
        victim.kill9()
        t_kill = time.time()
        rc, out, err = kmsctl(*srv_args, "--cmid", cmid(10))
        self.assertEqual(rc, 0, out + err)
        self.assertIn("SRV target kms1.kms.test. (127.0.0.1:%d) did not answer" % port, err)
        self.assertRegex(err, r"SRV target kms[23]\.kms\.test\. \(127\.0\.0\.[23]:%d\) answered" % port)
        # kmsbench finds the hosts the same way and fails over from the dead first target.
        bench = subprocess.run([os.path.join(BUILD, "kmsbench"), "--no-progress", "--srv", "_vlmcs._tcp.kms.test",
                                "--dns", named.server, "-n", "20", "-c", "2", "--timeout", "1000",
                                "--clients", "20", "--seed", "77", "--json", os.path.join(self.workdir, "srv.json")],
                               capture_output=True, text=True, timeout=60)
        self.assertEqual(bench.returncode, 0, bench.stdout + bench.stderr)
        self.assertIn("SRV target kms1.kms.test.", bench.stderr)
        with open(os.path.join(self.workdir, "srv.json")) as f:
            summary = json.load(f)
        self.assertEqual(summary["activations"], 20)
        self.assertGreater(summary["failovers"], 0)
        # The lowest live node (kms2) withdraws it once it has been dead for withdraw_after,
        # never sooner than dead_after + withdraw_after after it last heard it (a lower
        # bound: a loaded machine can only make the withdrawal later).
        gone = lambda: all("kms1.kms.test." not in named.srv(z) for z in ZONES) and not named.dig("kms1.kms.test", "A")
        wait_for("kms1 withdrawn", gone, timeout=DEAD_AFTER_S + WITHDRAW_AFTER + 30, step=0.05)
        t_gone = time.time()
        print("kms1 withdrawn %.2f s after kill -9, %.2f s after kms2 last heard it (dead_after %.1f s + "
              "withdraw_after %d s)" % (t_gone - t_kill, t_gone - heard, DEAD_AFTER_S, WITHDRAW_AFTER))
        self.assertGreaterEqual(t_gone - heard, DEAD_AFTER_S + WITHDRAW_AFTER)
        self.assertIn("withdrew the records of peer kms1", c.nodes[1].read_log())
        self.assertNotIn("withdrew the records", c.nodes[2].read_log())  # only the lowest live id
        self.assertEqual(named.srv("kms.test"), {k: v for k, v in want["kms.test"].items() if k != "kms1.kms.test."})
        rc, out, err = kmsctl("activate", "--srv", "_vlmcs._tcp.kms.test", "--dns", named.server)
        self.assertEqual(rc, 0, err)
        self.assertNotIn("did not answer", err)

        # It comes back and publishes itself again.
        victim.start()
        took = wait_for("kms1 back", lambda: all(named.srv(z) == want[z] for z in ZONES))
        print("kms1 republished %.2f s after its restart" % took)

        # Drain kms2 (asked through kms1): gone from DNS, still answering.
        admin1 = "%s:%d" % (c.hosts[0], c.admin_ports[0])
        rc, out, err = kmsctl("drain", "--admin", admin1, "kms2")
        self.assertEqual(rc, 0, out + err)
        drained_want = {z: {k: v for k, v in want[z].items() if k != "kms2.kms.test."} for z in ZONES}
        took = wait_for("kms2 withdrawn by drain", lambda: all(named.srv(z) == drained_want[z] for z in ZONES))
        print("kms2 withdrawn %.2f s after kmsctl drain" % took)
        self.assertEqual(named.dig("kms2.kms.test", "A"), [])
        self.assertGreaterEqual(activate(c.nodes[1], "--cmid", cmid(20))["count"], 1)
        self.assertEqual(c.nodes[1].status()["dns"]["state"], "withdrawn (drained)")
        rc, out, err = kmsctl("dns", "check", "--admin", admin1)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("ok (drained)", out)
        # A drained node restarted stays drained: its first DNS cycle after the restart
        # (logged when it completes) leaves its records withdrawn.
        cycles = lambda: c.nodes[1].read_log().count("dns: withdrawn (drained) in 2 zones")
        before = cycles()
        c.nodes[1].stop()
        c.nodes[1].start()
        wait_for("kms2's first DNS cycle after its restart", lambda: cycles() > before)
        self.assertEqual(c.nodes[1].status()["dns"]["state"], "withdrawn (drained)")
        self.assertEqual(named.srv("kms.test"), drained_want["kms.test"])
        self.assertIn("drained exists): this node's DNS records stay withdrawn", c.nodes[1].read_log())
        # Undrain: back.
        rc, out, err = kmsctl("undrain", "--admin", admin1, "kms2")
        self.assertEqual(rc, 0, out + err)
        wait_for("kms2 back after undrain", lambda: all(named.srv(z) == want[z] for z in ZONES))
        rc, out, err = kmsctl("dns", "check", "--admin", admin1)
        self.assertEqual(rc, 0, out + err)
        # POST needs the admin token, and reaches only /drain and /undrain.
        self.assertEqual(c.nodes[0].http("/drain")[0], 405)
        req = urllib.request.Request("http://%s/status" % admin1, data=b"", method="POST")
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=5)
        self.assertEqual(e.exception.code, 403)
        req = urllib.request.Request("http://%s/status" % admin1, data=b"", method="POST",
                                     headers={"Content-Type": "application/json"})  # urllib's default: a form's
        with open(os.environ["KMSHA_ADMIN_TOKEN_FILE"]) as f:
            req.add_header("Authorization", "Bearer " + f.read().strip())
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=5)
        self.assertEqual(e.exception.code, 405)

    def test_rebuilt_node_serves_and_publishes_only_once_caught_up_and_leaves_before_stopping(self):
        """A node wiped and restarted under load is never seen answering a count lower than
        the cluster's, and its SRV record comes back only once it has caught up; SIGTERM
        takes its record out of named before the process exits."""
        named = self.named
        # count_cap off the way (the count grows past 50); small catch-up pages make the
        # rebuild take long enough to be watched.
        c = Cluster(self, cluster_config="sync_batch = 8\n[kms]\ncount_cap = 10000\n" + dns_section(named, zones="kms.test"))
        c.start()
        target = "kms2.kms.test."
        wait_for("three SRV records", lambda: len(named.srv("kms.test")) == 3)
        bench = os.path.join(BUILD, "kmsbench")
        p = subprocess.run([bench, "--no-progress", "-n", "3000", "--clients", "3000", "-c", "16", "--seed", "5"]
                           + [n.addr for n in c.nodes], capture_output=True, text=True, timeout=180)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        c.wait_converged(3000, records=3000, timeout=60)
        cluster_count = 3000  # the cluster never holds fewer from here on
        victim = c.nodes[1]

        # SIGTERM: the record leaves named before the process exits.
        self.assertEqual(victim.stop(), 0)
        self.assertNotIn(target, named.srv("kms.test"), "kms2's SRV record still in named after it exited")
        self.assertEqual(named.dig("kms2.kms.test", "A"), [])
        self.assertIn("records withdrawn from 1 zone before stopping", victim.read_log())

        # Wiped and restarted while load goes on at the other two nodes.
        shutil.rmtree(victim.data_dir)
        load = subprocess.Popen([bench, "--no-progress", "-r", "100", "-d", "8", "--clients", "100000", "--seed", "6",
                                 c.nodes[0].addr, c.nodes[2].addr], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            victim.start(wait=False)
            answers, refused, k, behind = [], 0, 0, 0
            published_at = serving_seen = None
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                k += 1
                live = c.nodes[0].count()  # kms1's count just before this request
                rc, out, err = kmsctl("activate", "--json", "--timeout", "2000", "--cmid", cmid(900000 + k), victim.addr)
                if rc == 0:
                    got = json.loads(out)["count"]
                    answers.append(got)
                    # A new client: counted on top of everything the cluster held when the
                    # node came back (live updates of the last milliseconds may still be
                    # on their way: printed, not asserted).
                    self.assertGreater(got, cluster_count, "the rebuilt node answered count %d; the cluster held %d" % (got, cluster_count))
                    behind = max(behind, live + 1 - got)
                else:
                    refused += 1
                    self.assertIn("refused", err)
                # named first, the node's state after: a record seen published must belong
                # to a node that says it serves by the time it is asked.
                published = target in named.srv("kms.test")
                try:
                    # healthz before status: the state only goes from syncing to serving,
                    # so a status that still says syncing means healthz said so too.
                    code, body = victim.http("/healthz")
                    st = victim.status()
                except OSError:
                    self.assertFalse(published, "kms2 published before its admin address answered")
                    continue
                if st["serving"]["state"] == "syncing":
                    self.assertEqual(code, 503, body)
                    self.assertIn("not ready", body)
                    self.assertEqual(st["dns"]["state"], "withdrawn (catching up)", st["dns"])
                else:
                    serving_seen = serving_seen or time.monotonic()
                if published:
                    # Published only after it caught up.
                    self.assertIsNotNone(serving_seen, "kms2 published while catching up: %s" % st["serving"])
                    published_at = time.monotonic()
                if published_at and len(answers) >= 5:
                    break
            print("rebuilt node: %d connections refused while catching up, then %d answers (first count %s; "
                  "at most %d behind kms1's count read just before)" % (refused, len(answers), answers[:1], behind))
            self.assertIsNotNone(published_at, "kms2 never published again")
            self.assertGreaterEqual(len(answers), 5)
        finally:
            out, err = load.communicate(timeout=60)
        self.assertEqual(load.returncode, 0, out + err)
        log = victim.read_log()
        self.assertIn("not serving until caught up", log)
        self.assertRegex(log, r"serving: caught up with kms[13]")

    def test_dual_stack_node_gets_a_and_aaaa(self):
        """A node with an IPv4 and an IPv6 kms address publishes both an A and an AAAA
        record for its SRV target; a single-stack node only its A; kmsctl dns check checks
        both families and sees a missing AAAA; drain deletes both."""
        named = self.named
        # No refresh cycle during the test (a cycle would put a deleted record back before
        # the check below could see it missing): records are published at start.
        config = dns_section(named, zones="kms.test").replace("refresh_interval = 30", "refresh_interval = 3600")
        self.assertIn("refresh_interval = 3600", config)
        c = Cluster(self, n=2, ids=["ds1", "ds2"], cluster_config=config)
        port = c.kms_port
        with open(c.path) as f:
            text = f.read()
        with open(c.path, "w") as f:  # ds1 is dual-stack: an address list of both families
            f.write(text.replace("[peer.ds1]\nkms = 127.0.0.1:%d\n" % port,
                                 "[peer.ds1]\nkms = 127.0.0.1:%d, [::1]:%d\n" % (port, port)))
        c.start()
        want = {"ds1.kms.test.": (0, 100, port), "ds2.kms.test.": (0, 100, port)}
        both = lambda: (named.dig("ds1.kms.test", "A") == ["127.0.0.1"] and named.dig("ds1.kms.test", "AAAA") == ["::1"]
                        and named.dig("ds2.kms.test", "A") == ["127.0.0.2"])
        wait_for("A and AAAA of ds1", lambda: all(named.srv("kms.test").get(k) == v for k, v in want.items()) and both())
        self.assertEqual(named.dig("ds2.kms.test", "AAAA"), [])
        admin1 = "%s:%d" % (c.hosts[0], c.admin_ports[0])
        rc, out, err = kmsctl("dns", "check", "--json", "--admin", admin1)
        self.assertEqual(rc, 0, out + err)
        peers = {p["id"]: p for p in json.loads(out)["zones"][0]["peers"]}
        self.assertEqual(peers["ds1"]["address"], {"name": "ds1.kms.test.", "should": ["127.0.0.1", "::1"],
                                                   "found": ["127.0.0.1", "::1"]})
        self.assertEqual(peers["ds2"]["address"]["should"], ["127.0.0.2"])

        # The AAAA record goes (by hand): the check says so, the next cycle puts it back.
        nsupdate = subprocess.run([tool("nsupdate"), "-k", named.key_file], input=(
            "server 127.0.0.1 %d\nzone kms.test\nupdate delete ds1.kms.test AAAA\nsend\n" % named.port),
            capture_output=True, text=True, timeout=20)
        self.assertEqual(nsupdate.returncode, 0, nsupdate.stderr)
        self.assertEqual(named.dig("ds1.kms.test", "AAAA"), [])
        rc, out, err = kmsctl("dns", "check", "--admin", admin1)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("ds1.kms.test. should be 127.0.0.1 ::1, found 127.0.0.1)", out)
        c.nodes[0].stop()  # restarted: it publishes at start
        c.nodes[0].start()
        wait_for("AAAA of ds1 back", both)

        # Drained: both of its address records go with its SRV record.
        rc, out, err = kmsctl("drain", "--admin", admin1, "ds1")
        self.assertEqual(rc, 0, out + err)
        wait_for("ds1 withdrawn", lambda: "ds1.kms.test." not in named.srv("kms.test")
                 and not named.dig("ds1.kms.test", "A") and not named.dig("ds1.kms.test", "AAAA"))
        rc, out, err = kmsctl("undrain", "--admin", admin1, "ds1")
        self.assertEqual(rc, 0, out + err)
        wait_for("ds1 back after undrain", both)

    def test_a_peer_never_heard_keeps_its_records_for_dead_after_plus_withdraw_after(self):
        # kms1 publishes and dies before kms2 starts: kms2 never hears it. Its records must
        # stay until kms2 has gone dead_after + withdraw_after without hearing it (counted
        # from kms2's start), as for a peer that died while kms2 watched; a whole cluster
        # restarting must not lose a slow peer's records withdraw_after after one start.
        named = self.named
        c = Cluster(self, n=2, cluster_config=dns_section(named, zones="kms.test"))
        c.start([c.nodes[0]])
        wait_for("kms1 published", lambda: "kms1.kms.test." in named.srv("kms.test"))
        c.nodes[0].kill9()
        t_start = time.monotonic()
        c.start([c.nodes[1]])
        wait_for("kms2 published", lambda: "kms2.kms.test." in named.srv("kms.test"))
        wait_for("kms1 withdrawn by kms2", lambda: "kms1.kms.test." not in named.srv("kms.test"),
                 timeout=DEAD_AFTER_S + WITHDRAW_AFTER + 30, step=0.05)
        t_gone = time.monotonic() - t_start
        print("kms1 (never heard by kms2) withdrawn %.2f s after kms2's start" % t_gone)
        self.assertGreaterEqual(t_gone, DEAD_AFTER_S + WITHDRAW_AFTER)
        self.assertIn("withdrew the records of peer kms1", c.nodes[1].read_log())

    def test_started_drained_and_a_removed_nodes_leftover_record(self):
        """kmsd --drained starts a node drained (a rebuilt node's data directory has no
        drained flag); kmsctl dns check reports an SRV record whose target is no node of
        the cluster (a removed node's leftover) and exits 1."""
        named = self.named
        n = self.node(node_id="kmsd1", config=dns_section(named, zones="kms.test"), extra_args=["--drained"])
        n.start()
        wait_for("drained at start", lambda: n.status()["dns"]["state"] == "withdrawn (drained)")
        self.assertIn("started drained (--drained)", n.read_log())
        self.assertTrue(os.path.exists(os.path.join(n.data_dir, "drained")))
        self.assertNotIn("kmsd1.kms.test.", named.srv("kms.test"))
        admin = "127.0.0.1:%d" % n.admin_port
        rc, out, err = kmsctl("dns", "check", "--admin", admin)
        self.assertEqual(rc, 0, out + err)
        leftover = "_vlmcs._tcp.kms.test. 30 IN SRV 0 100 1688 kms-removed.kms.test."
        nsupdate = shutil.which("nsupdate") or "/usr/bin/nsupdate"

        def update(op):
            p = subprocess.run([nsupdate, "-k", named.key_file], input="server 127.0.0.1 %d\nzone kms.test\nupdate %s %s\nsend\n"
                               % (named.port, op, leftover), capture_output=True, text=True, timeout=20)
            self.assertEqual(p.returncode, 0, p.stderr)

        update("add")
        try:
            rc, out, err = kmsctl("dns", "check", "--admin", admin)
            self.assertEqual(rc, 1, out + err)
            self.assertIn("NOT A NODE of this cluster", out)
            self.assertIn("kms-removed.kms.test.", out)
        finally:
            update("delete")

        # A new node can be told in the cluster file: [peer.ID] drained = true.
        keys = os.path.join(self.workdir, "keys")  # replication is always CURVE: a key pair
        rc, out, err = kmsctl("keygen", "--dir", keys, "kmsd2")
        self.assertEqual(rc, 0, err)
        m = self.node(node_id="kmsd2", config="[cluster]\nalone_after_ms = 0\nkey_dir = %s\n[peer.kmsd2]\nkms = 127.0.0.1:%d\n"
                      "replication = 127.0.0.1:%d\ndrained = true\n%s\n" % (keys, free_port(), free_port(span=2),
                                                                           out.splitlines()[-1])
                      + dns_section(named, zones="kms.test"))
        m.start()
        wait_for("drained by the file", lambda: m.status()["dns"]["state"] == "withdrawn (drained)")
        self.assertIn("started drained ([peer] drained = true)", m.read_log())
        self.assertIn('kmsha_serving_alone{node="kmsd2"} 1', m.metrics())

    def test_wrong_tsig_key_is_reported_and_the_node_keeps_serving(self):
        named = self.named
        n = self.node(node_id="kmsx", config=dns_section(named, key_file=named.wrong_key_file, zones="kms.test"))
        n.start()
        wait_for("BADSIG in /status", lambda: "BADSIG" in n.status()["dns"]["state"])
        st = n.status()["dns"]
        self.assertTrue(st["state"].startswith("failing: NOTAUTH (BADSIG)"), st)
        self.assertIn("kmsha-key", st["last_error"])
        self.assertGreater(st["next_retry_ms"], 0)
        self.assertEqual(activate(n, "--cmid", cmid(1))["count"], 1)
        # A few retries (after 1 s, 2 s): counted each time, logged once.
        badsig = lambda: int(re.search(r'kmsha_dns_failures_total\{node="kmsx",reason="badsig"\} (\d+)',
                                       n.metrics()).group(1))
        wait_for("three BADSIG failures", lambda: badsig() >= 3)
        log = n.read_log()
        self.assertIn("NOTAUTH (BADSIG)", log)
        self.assertEqual(len(re.findall(r"publishing failed", log)), 1, log)
        m = n.metrics()
        self.assertIn('kmsha_dns_published{node="kmsx",zone="kms.test."} 0', m)
        self.assertNotIn("kmsx.kms.test.", named.srv("kms.test"))
        self.assertEqual(activate(n, "--cmid", cmid(2))["count"], 2)
        rc, out, err = kmsctl("dns", "check", "--admin", "127.0.0.1:%d" % n.admin_port)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("MISSING", out)

    def test_configuration_errors_name_the_setting(self):
        named = self.named
        cases = [
            ("[dns]\nserver = 127.0.0.1:%d\nzones = kms.test\n" % named.port, "[dns] tsig_key_file"),
            ("[dns]\nserver = 127.0.0.1:%d\ntsig_key_file = %s\n" % (named.port, named.key_file), "[dns] zones"),
            ("[dns]\nserver = ns.example.edu:53\n", "must be an IP address"),
            ("[dns]\nzones = kms..test\n", "empty label"),
            ("[dns]\nttl = 1\n", "out of range 5..86400"),
        ]
        for i, (text, want) in enumerate(cases):
            path = os.path.join(self.workdir, "bad%d.ini" % i)
            with open(path, "w") as f:
                f.write(text)
            p = subprocess.run([KMSD, "--check-config", path], capture_output=True, text=True)
            self.assertEqual(p.returncode, 1, text)
            self.assertIn(want, p.stderr)
        # A key file that is not one stops the node at start, saying why.
        bad_key = os.path.join(self.workdir, "bad.key")
        with open(bad_key, "w") as f:
            f.write('key "k" { algorithm hmac-md5; secret "AAAA"; };\n')
        n = self.node(node_id="kmsy", config=dns_section(named, key_file=bad_key, zones="kms.test"))
        n.start(wait=False)
        self.assertEqual(n.wait_exit(), 1)
        self.assertIn("only algorithm hmac-sha256", n.read_log())


if __name__ == "__main__":
    main()
