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


def free_port(host="127.0.0.1", span=1):
    """A TCP port (and the span - 1 after it) free on host now and not handed out before in
    this run. Ports come from 20000-32000, below Linux's ephemeral range, so that a
    process reconnecting to a port that is down can never connect to itself."""
    import random
    while True:
        port = random.randrange(20000, 32000 - span)
        if any(p in _used_ports for p in range(port, port + span)):
            continue
        try:
            for p in range(port, port + span):
                s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((host, p))
                s.close()
        except OSError:
            continue
        _used_ports.update(range(port, port + span))
        return port


class Node:
    """One kmsd process with its own data directory, config file and log."""

    def __init__(self, workdir, node_id="kms1", host="127.0.0.1", port=None, admin_port=None,
                 config="", extra_args=(), data_dir=None, wrapper=()):
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
        self.proc = None
        self.write_config()

    def write_config(self):
        with open(self.config_path, "w") as f:
            f.write(self.config)
            # every node of a test shares one admin token file (kmsctl finds it by
            # KMSHA_ADMIN_TOKEN_FILE, set by NodeTestCase)
            if "admin_token_file" not in self.config:
                f.write("\n[node]\nadmin_token_file = %s\n" % os.path.join(self.workdir, "admin.token"))

    @property
    def addr(self):
        return "%s:%d" % (self.host, self.port)

    @property
    def audit_path(self):
        return os.path.join(self.data_dir, "audit.log")

    def start(self, extra_args=(), wait=True):
        args = self.wrapper + [KMSD, "--config", self.config_path, "--node-id", self.node_id,
                "--listen", self.addr, "--admin", "%s:%d" % (self.host, self.admin_port),
                "--data-dir", self.data_dir] + [str(a) for a in self.extra_args + list(extra_args)]
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
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

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if not self.proc or self.proc.poll() is not None:
            if self.proc and not self.log.closed:
                self.log.close()
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            raise AssertionError("kmsd %s did not stop on %s" % (self.node_id, sig))
        self.log.close()
        return rc

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def read_log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def audit(self):
        if not os.path.exists(self.audit_path):
            return []
        with open(self.audit_path) as f:
            return [json.loads(l) for l in f if l.strip()]


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

    def tearDown(self):
        failed = not getattr(self._outcome, "success", True)
        for n in self.nodes:
            if n.alive():
                n.proc.kill()
                n.proc.wait()
            if getattr(n, "log", None) and not n.log.closed:
                n.log.close()
            if failed or os.environ.get("KMSHA_KEEP"):
                print("---- log of %s ----\n%s" % (n.node_id, n.read_log()[-4000:]))
        if os.path.exists(self.workdir) and not os.environ.get("KMSHA_KEEP"):
            shutil.rmtree(self.workdir, ignore_errors=True)

    def node(self, **kw):
        n = Node(self.workdir, **kw)
        self.nodes.append(n)
        return n


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


def closed_by_peer(sock, timeout=5):
    """True when the peer closes the connection (EOF or reset) within timeout."""
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


def main():
    unittest.main(verbosity=2)


REPLPOKE = os.path.join(BUILD, "tests", "replpoke")


class Cluster:
    """N kmsd nodes on 127.0.0.1, 127.0.0.2, ... reading one cluster file, as in production."""

    def __init__(self, case, n=3, cluster_config="", peer_extra=None, ids=None):
        self.case = case
        self.ids = ids or ["kms%d" % (i + 1) for i in range(n)]
        self.kms_port = free_port("127.0.0.1")
        self.hosts = ["127.0.0.%d" % (i + 1) for i in range(len(self.ids))]
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
        text = "[node]\nadmin_token_file = %s\n" % os.path.join(case.workdir, "admin.token")
        text += "[cluster]\nname = test\nheartbeat_interval_ms = 200\ndead_after_ms = 1500\n"
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

    def counts(self, app="windows", nodes=None):
        return [n.count(app) for n in (nodes or self.nodes)]

    def records(self, nodes=None):
        return [n.status()["store"]["records"] for n in (nodes or self.nodes)]

    def wait_converged(self, expect_count, app="windows", nodes=None, timeout=20, records=None):
        """Waits until every (live) node reports expect_count; returns the seconds it took."""
        t0 = time.time()
        nodes = [n for n in (nodes or self.nodes) if n.alive()]
        last = None
        while time.time() - t0 < timeout:
            try:
                last = self.counts(app, nodes)
                recs = self.records(nodes) if records is not None else None
            except OSError:
                last = None
            if last and all(c == expect_count for c in last) and (records is None or all(r == records for r in recs)):
                return time.time() - t0
            time.sleep(0.05)
        raise AssertionError("nodes did not converge to %s within %ss: counts %s, records %s" % (
            expect_count, timeout, last, self.records(nodes) if records is not None else "-"))
