"""harness.py: starts real kmsd processes on loopback addresses in fresh directories and
drives them like an operator would (kmsctl, HTTP admin, raw sockets, signals).

Standard library only. Each test file is a unittest module run by ctest; the build
directory comes from KMSHA_BUILD (set by CMake) or ./build.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("KMSHA_BUILD", os.path.join(ROOT, "build"))
KMSD = os.path.join(BUILD, "kmsd")
KMSCTL = os.path.join(BUILD, "kmsctl")
VECTORS = os.environ.get("KMSHA_VECTORS", os.path.join(ROOT, "tests", "vectors"))

_used_ports = set()


def free_port(host="127.0.0.1", span=1, hosts=None):
    """A TCP port (and the span - 1 after it) free on host (on every one of hosts, when
    given: a port several nodes share on their own addresses) now and not handed out before
    in this run. Ports come from 20000-32000, below Linux's ephemeral range, so that a
    process reconnecting to a port that is down can never connect to itself."""
    import random
    while True:
        port = random.randrange(20000, 32000 - span)
        if any(p in _used_ports for p in range(port, port + span)):
            continue
        try:
            for h in hosts or [host]:
                for p in range(port, port + span):
                    with socket.socket(socket.AF_INET6 if ":" in h else socket.AF_INET) as s:
                        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                        s.bind((h, p))
        except OSError:
            continue
        _used_ports.update(range(port, port + span))
        return port


# What ASan, UBSan and LSan write when they find something (kmsd's stderr goes to its log).
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")


def sanitizer_reports(text):
    """The sanitizer reports in a process's output: one excerpt per report found."""
    lines = text.splitlines()
    return ["\n".join(lines[i:i + 25]) for i, line in enumerate(lines)
            if any(m in line for m in SANITIZER_MARKERS)]


def check_process_output(name, text):
    """Fails (AssertionError) when a process's output holds a sanitizer report."""
    reports = sanitizer_reports(text)
    if reports:
        raise AssertionError("%s wrote %d sanitizer report%s:\n%s" % (
            name, len(reports), "" if len(reports) == 1 else "s", "\n----\n".join(reports)))


class Node:
    """One kmsd process with its own data directory, config file and log."""

    def __init__(self, workdir, node_id="kms1", host="127.0.0.1", port=None, admin_port=None,
                 config="", extra_args=(), data_dir=None, wrapper=(), addresses_from_config=False):
        self.workdir = workdir
        self.node_id = node_id
        self.host = host
        self.port = port or free_port(host)
        self.admin_port = admin_port or free_port(host)
        self.data_dir = data_dir or os.path.join(workdir, node_id, "data")
        os.makedirs(os.path.dirname(self.data_dir), exist_ok=True)
        self.config_path = os.path.join(workdir, node_id, "kmsd.ini")
        self.log_path = os.path.join(workdir, node_id, "kmsd.log")
        self.config = config
        self.extra_args = list(extra_args)
        self.wrapper = list(wrapper)  # e.g. ["ip", "netns", "exec", NAME]
        # True: no --listen/--admin, the node listens where its [peer.ID] kms and admin say
        self.addresses_from_config = addresses_from_config
        self.proc = None
        self.log = None
        self.exit_collected = True  # the test has seen how the last process ended
        self.problems = []          # unexpected exits, reported at teardown
        self.write_config()

    def write_config(self):
        with open(self.config_path, "w") as f:
            f.write(self.config)
            # every node of a test shares one admin token file and one read token file
            # (kmsctl finds them by KMSHA_ADMIN_TOKEN_FILE and KMSHA_READ_TOKEN_FILE, set by
            # NodeTestCase)
            if "admin_token_file" not in self.config:
                f.write("\n[node]\nadmin_token_file = %s\n" % os.path.join(self.workdir, "admin.token"))
            if "read_token_file" not in self.config:
                f.write("\n[node]\nread_token_file = %s\n" % os.path.join(self.workdir, "read.token"))

    @property
    def addr(self):
        return "%s:%d" % (self.host, self.port)

    @property
    def audit_path(self):
        return os.path.join(self.data_dir, "audit.log")

    def start(self, extra_args=(), wait=True):
        self.note_unexpected_exit()
        where = [] if self.addresses_from_config else [
            "--listen", self.addr, "--admin", "%s:%d" % (self.host, self.admin_port)]
        args = self.wrapper + [KMSD, "--config", self.config_path, "--node-id", self.node_id] + where + [
                "--data-dir", self.data_dir] + [str(a) for a in self.extra_args + list(extra_args)]
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.exit_collected = False
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.exit_collected = True  # reported here
                raise AssertionError("kmsd %s exited with %s:\n%s" % (self.node_id, self.proc.returncode, self.read_log()))
            try:
                if self.http("/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("kmsd %s not ready after %ss:\n%s" % (self.node_id, timeout, self.read_log()))

    def http(self, path, timeout=5):
        """GET path on the admin address, with the admin token when the test has one."""
        token = ""
        tf = os.environ.get("KMSHA_ADMIN_TOKEN_FILE")
        if tf and os.path.exists(tf):
            with open(tf) as f:
                token = f.read().strip()
        if self.wrapper:  # the node lives in a network namespace: ask from inside it
            p = subprocess.run(self.wrapper + ["python3", "-c",
                               "import sys,urllib.request,urllib.error\n"
                               "q=urllib.request.Request(sys.argv[1])\n"
                               "if sys.argv[2]: q.add_header('Authorization','Bearer '+sys.argv[2])\n"
                               "try:\n r=urllib.request.urlopen(q,timeout=%d); print(r.status); sys.stdout.write(r.read().decode())\n"
                               "except urllib.error.HTTPError as e:\n print(e.code); sys.stdout.write(e.read().decode())\n" % timeout,
                               "http://%s:%d%s" % (self.host, self.admin_port, path), token],
                               capture_output=True, text=True, timeout=timeout + 5)
            if p.returncode != 0:
                raise OSError(p.stderr.strip().splitlines()[-1] if p.stderr.strip() else "http failed")
            code, _, body = p.stdout.partition("\n")
            return int(code), body
        url = "http://%s:%d%s" % (self.host, self.admin_port, path)
        q = urllib.request.Request(url)
        if token:
            q.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(q, timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def status(self):
        code, body = self.http("/status")
        assert code == 200, body
        return json.loads(body)

    def metrics(self):
        code, body = self.http("/metrics")
        assert code == 200, body
        return body

    def count(self, app="windows"):
        return self.status()["counts"][app]["count"]

    def stop(self, sig=signal.SIGTERM, timeout=30, expect="default"):
        """Sends sig and waits for the process; returns its exit status. The status must be
        expect: by default 0 for SIGTERM and SIGINT (a clean shutdown), -9 for SIGKILL, any
        for other signals; None accepts any. A process that had already ended by itself is
        an unexpected exit unless expect names its status."""
        if expect == "default":
            expect = {signal.SIGTERM: 0, signal.SIGINT: 0, signal.SIGKILL: -signal.SIGKILL}.get(sig)
        if not self.proc:
            return None
        if self.proc.poll() is not None:
            if self.log and not self.log.closed:
                self.log.close()
            if not self.exit_collected and (expect is None or self.proc.returncode != expect):
                self.note_unexpected_exit()
            self.exit_collected = True
            return self.proc.returncode
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.exit_collected = True
            raise AssertionError("kmsd %s did not stop within %s s of %s:\n%s" % (
                self.node_id, timeout, signal.Signals(sig).name, self.read_log()[-4000:]))
        self.log.close()
        self.exit_collected = True
        if expect is not None and rc != expect:
            raise AssertionError("kmsd %s exited with status %s on %s (expected %s):\n%s" % (
                self.node_id, rc, signal.Signals(sig).name, expect, self.read_log()[-6000:]))
        return rc

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def wait_exit(self, timeout=30):
        """Waits for the process to end by itself (a test that expects it to); returns the
        exit status."""
        rc = self.proc.wait(timeout)
        self.exit_collected = True
        if self.log and not self.log.closed:
            self.log.close()
        return rc

    def note_unexpected_exit(self):
        """Records a process that ended without the test asking or waiting for it."""
        if self.proc and not self.exit_collected and self.proc.poll() is not None:
            self.problems.append("kmsd %s exited by itself with status %s" % (self.node_id, self.proc.returncode))
            self.exit_collected = True

    def finish(self):
        """At teardown: stops the process with SIGTERM (a clean shutdown must exit 0), and
        returns what went wrong during the node's life: unexpected exits and sanitizer reports
        in its log."""
        problems = []
        if self.alive():
            try:
                self.stop(signal.SIGTERM)
            except AssertionError as e:
                problems.append(str(e).split("\n")[0])
        self.note_unexpected_exit()
        if getattr(self, "log", None) and not self.log.closed:
            self.log.close()
        problems += self.problems
        problems += ["kmsd %s: %s" % (self.node_id, r) for r in sanitizer_reports(self.read_log())]
        return problems

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def read_log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def audit(self, at_least=0, timeout=15):
        """The audit lines; with at_least, waits (up to timeout) until there are that many: a
        node writes its audit lines once per loop turn, after the answers of that turn are
        on their way, so a client can have its answer before the line is in the file."""
        deadline = time.monotonic() + timeout
        while True:
            lines = []
            if os.path.exists(self.audit_path):
                with open(self.audit_path) as f:
                    lines = [json.loads(l) for l in f if l.endswith("\n") and l.strip()]
            if len(lines) >= at_least or time.monotonic() >= deadline:
                return lines
            time.sleep(0.02)


def sh(*args, check=True):
    """Runs a command (ip netns ..., for the tests that build networks); raises when it fails."""
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, check=check)


def kmsctl(*args, timeout=30):
    """Runs kmsctl; returns (exit code, stdout, stderr)."""
    p = subprocess.run([KMSCTL] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def activate(node, *args, **kw):
    """kmsctl activate --json against node; returns the parsed JSON (asserts success)."""
    rc, out, err = kmsctl("activate", "--json", *args, node.addr, **kw)
    assert rc == 0, "kmsctl activate %s failed (%d): %s %s" % (args, rc, out, err)
    return json.loads(out)


def cmid(n):
    """A deterministic, valid client machine ID for test client number n."""
    return "%08x-0000-4000-8000-%012x" % (0x7e570000 + (n >> 48), n & 0xffffffffffff)


class NodeTestCase(unittest.TestCase):
    """Gives each test a fresh directory and stops every node it started."""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="kmsha-it-")
        self.nodes = []
        # The admin token the nodes of this test make at first start (see Node.write_config).
        os.environ["KMSHA_ADMIN_TOKEN_FILE"] = os.path.join(self.workdir, "admin.token")
        os.environ["KMSHA_READ_TOKEN_FILE"] = os.path.join(self.workdir, "read.token")

    def tearDown(self):
        """Stops every node with SIGTERM and fails the test when one of them exited in a way
        the test did not expect (a crash, a failed shutdown) or wrote a sanitizer report."""
        failed = not getattr(self._outcome, "success", True)
        problems = []
        try:
            for n in self.nodes:
                found = n.finish()
                problems += found
                if failed or found or os.environ.get("KMSHA_KEEP"):
                    print("---- log of %s ----\n%s" % (n.node_id, n.read_log()[-4000:]))
        finally:
            if os.path.exists(self.workdir) and not os.environ.get("KMSHA_KEEP"):
                shutil.rmtree(self.workdir, ignore_errors=True)
        if problems:
            raise AssertionError("the nodes of this test:\n" + "\n".join(problems))

    def node(self, **kw):
        n = Node(self.workdir, **kw)
        self.nodes.append(n)
        return n


class NetnsTestCase(NodeTestCase):
    """A test on a network of its own: setUp calls build_network(), which makes namespaces
    with self.netns(NAME) (lo up); they go after the nodes stop. Needs root and iproute2:
    skipped, saying why, where namespaces cannot be made."""

    def setUp(self):
        super().setUp()
        self.made_netns = []
        if os.geteuid() != 0:
            self.skipTest("needs root for network namespaces")
        try:
            self.build_network()
        except (subprocess.CalledProcessError, FileNotFoundError) as e:
            self.cleanup_netns()
            self.skipTest("cannot create network namespaces here: %s" % getattr(e, "stderr", e))

    def build_network(self):
        raise NotImplementedError

    def netns(self, name):
        sh("ip", "netns", "add", name)
        self.made_netns.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        return name

    def cleanup_netns(self):
        for ns in reversed(self.made_netns):
            sh("ip", "netns", "del", ns, check=False)
        self.made_netns = []

    def tearDown(self):
        super().tearDown()  # stops the nodes first
        self.cleanup_netns()

    def write_cluster(self, peers, extra=""):
        """Writes WORKDIR/cluster.ini: [cluster] with fast heartbeats and a key_dir, then
        extra (more of [cluster], or further sections), then per (ID, LINES) of peers a
        [peer.ID] section of LINES ("kms = ...\n...") and the public key of a pair made by
        kmsctl keygen. Returns its path."""
        keys = os.path.join(self.workdir, "keys")
        os.makedirs(keys)
        text = "[cluster]\nheartbeat_interval_ms = 200\ndead_after_ms = 1500\nkey_dir = %s\n%s" % (keys, extra)
        for nid, lines in peers:
            rc, out, err = kmsctl("keygen", "--dir", keys, nid)
            self.assertEqual(rc, 0, err)
            text += "[peer.%s]\n%s%s\n" % (nid, lines, out.splitlines()[-1])
        path = os.path.join(self.workdir, "cluster.ini")
        with open(path, "w") as f:
            f.write(text)
        return path

    def start_in_netns(self, path, nodes, **kw):
        """Starts a node per (ID, HOST, NAMESPACE) of nodes with the cluster file path (KMS
        on HOST:1688, admin on HOST:8688, inside NAMESPACE) and waits until each is ready.
        Returns the Nodes."""
        started = []
        for nid, host, ns in nodes:
            n = Node(self.workdir, node_id=nid, host=host, port=1688, admin_port=8688,
                     wrapper=["ip", "netns", "exec", ns], **kw)
            n.config_path = path
            self.nodes.append(n)
            started.append(n)
        for n in started:
            n.start(wait=False)
        for n in started:
            n.wait_ready()
        return started

    def wait_counts(self, nodes, expect, timeout=60):
        """Waits until every node of nodes counts expect clients (windows)."""
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


def vector(name):
    with open(os.path.join(VECTORS, name)) as f:
        return json.load(f)


def recv_pdu(sock, timeout=5):
    """Reads one DCE/RPC PDU; returns bytes, or b'' when the peer closed."""
    sock.settimeout(timeout)
    hdr = b""
    while len(hdr) < 16:
        chunk = sock.recv(16 - len(hdr))
        if not chunk:
            return b""
        hdr += chunk
    frag = int.from_bytes(hdr[8:10], "little")
    body = b""
    while len(hdr) + len(body) < frag:
        chunk = sock.recv(frag - 16 - len(body))
        if not chunk:
            return b""
        body += chunk
    return hdr + body


def closed_by_peer(sock, timeout=30):
    """True when the peer closes the connection (EOF or reset) within timeout (generous: a
    loaded machine must not turn a slow close into a failure)."""
    sock.settimeout(timeout)
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def wait_until(what, cond, timeout=30, step=0.05):
    """Waits for cond() to be true (monotonic deadline); returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        last = cond()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError("%s: not within %s s (last: %r)" % (what, timeout, last))
        time.sleep(step)


def peer_info(node, peer_id):
    """What node's /status says about peer_id (alive, last_heard_ms, lag...)."""
    return [p for p in node.status()["cluster"]["peers"] if p["id"] == peer_id][0]


def peer_alive(node, peer_id):
    return peer_info(node, peer_id)["alive"]


def connected_to(host, port):
    """Whether some TCP connection to host:port (IPv4) is established (/proc/net/tcp): a
    client has connected, even to a listener that is stopped and has not accepted it."""
    want = "%08X:%04X" % (int.from_bytes(socket.inet_aton(host), "little"), port)
    with open("/proc/net/tcp") as f:
        next(f)
        return any(fields[2] == want and fields[3] == "01" for fields in (line.split() for line in f))


def main():
    unittest.main(verbosity=2)


REPLPOKE = os.path.join(BUILD, "tests", "replpoke")


def sanitized_build():
    """True for an ASan/UBSan build (its allocator keeps freed memory in quarantine, so
    resident-memory figures run higher)."""
    try:
        with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
            return "KMSHA_SANITIZE:BOOL=ON" in f.read()
    except OSError:
        return False


class Cluster:
    """N kmsd nodes on 127.0.0.1, 127.0.0.2, ... reading one cluster file, as in production."""

    def __init__(self, case, n=3, cluster_config="", peer_extra=None, ids=None, keys=True):
        # keys: always (replication is always CURVE-authenticated); kept for callers that say so
        self.case = case
        self.ids = ids or ["kms%d" % (i + 1) for i in range(n)]
        self.hosts = ["127.0.0.%d" % (i + 1) for i in range(len(self.ids))]
        self.kms_port = free_port(hosts=self.hosts)  # every node listens on it, each on its address
        self.admin_ports = [free_port(h) for h in self.hosts]
        self.repl_ports = [free_port(h, span=2) for h in self.hosts]
        self.path = os.path.join(case.workdir, "cluster.ini")
        self.key_dir = os.path.join(case.workdir, "keys")
        self.pubkeys = {}
        # Replication is always CURVE-authenticated: every cluster gets its key pairs.
        os.makedirs(self.key_dir, exist_ok=True)
        for nid in self.ids:
            rc, out, err = kmsctl("keygen", "--dir", self.key_dir, nid)
            assert rc == 0, err
            self.pubkeys[nid] = out.split("public_key = ")[1].strip()
        text = "[node]\nadmin_token_file = %s\nread_token_file = %s\n" % (
            os.path.join(case.workdir, "admin.token"), os.path.join(case.workdir, "read.token"))
        text += "[cluster]\nname = test\nheartbeat_interval_ms = 200\ndead_after_ms = 1500\nalone_after_ms = 2000\n"
        text += "key_dir = %s\n" % self.key_dir
        text += cluster_config
        for i, nid in enumerate(self.ids):
            text += "\n[peer.%s]\nkms = %s:%d\nadmin = %s:%d\nreplication = %s:%d\nsite = %s\n" % (
                nid, self.hosts[i], self.kms_port, self.hosts[i], self.admin_ports[i], self.hosts[i],
                self.repl_ports[i], "site%d" % (i % 2 + 1))
            text += "public_key = %s\n" % self.pubkeys[nid]
            if peer_extra and nid in peer_extra:
                text += peer_extra[nid]
        with open(self.path, "w") as f:
            f.write(text)
        self.nodes = []
        for i, nid in enumerate(self.ids):
            node = Node(case.workdir, node_id=nid, host=self.hosts[i], port=self.kms_port,
                        admin_port=self.admin_ports[i])
            node.config_path = self.path  # the shared cluster file
            case.nodes.append(node)
            self.nodes.append(node)

    def key_file(self, nid, secret=True):
        return os.path.join(self.key_dir, "%s.%s" % (nid, "key" if secret else "pub"))

    def start(self, which=None):
        for n in (self.nodes if which is None else which):
            n.start(wait=False)
        for n in (self.nodes if which is None else which):
            n.wait_ready()
        return self

    def one_client_each(self):
        """Activates one client on each node (cmid(0), cmid(1), ...) and waits until every
        node holds them all. Returns self."""
        for i, n in enumerate(self.nodes):
            activate(n, "--cmid", cmid(i))
        self.wait_converged(len(self.nodes), records=len(self.nodes))
        return self

    def counts(self, app="windows", nodes=None):
        return [n.count(app) for n in (nodes or self.nodes)]

    def records(self, nodes=None):
        return [n.status()["store"]["records"] for n in (nodes or self.nodes)]

    def wait_converged(self, expect_count, app="windows", nodes=None, timeout=60, records=None):
        """Waits until every (live) node reports expect_count; returns the seconds it took."""
        t0 = time.monotonic()
        nodes = [n for n in (nodes or self.nodes) if n.alive()]
        last = None
        while time.monotonic() - t0 < timeout:
            try:
                last = self.counts(app, nodes)
                recs = self.records(nodes) if records is not None else None
            except OSError:
                last = None
            if last and all(c == expect_count for c in last) and (records is None or all(r == records for r in recs)):
                return time.monotonic() - t0
            time.sleep(0.05)
        raise AssertionError("nodes did not converge to %s within %ss: counts %s, records %s" % (
            expect_count, timeout, last, self.records(nodes) if records is not None else "-"))
