"""Hostile networks (issue 13): someone without a key, or a peer that misbehaves, learns
nothing, plants nothing and cannot make a node's memory grow; admin HTTP and the KMS port
hold against cross-site requests, foreign Host names, trickling and fd-exhausting
connection floods. Each test states the figures it saw in its output (bench/README.md)."""
import http.client
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BUILD, KMSCTL, REPLPOKE, Cluster, NodeTestCase, activate, cmid, kmsctl,  # noqa: E402
                     main, sanitized_build)

# Resident memory an attack may add: a few MB (ASan's quarantine keeps freed blocks: more).
MEMORY_BOUND_KB = (48 if sanitized_build() else 16) * 1024

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
        # Even the real key cannot plant a client dated 2099 (it would count, and never expire).
        year_2099 = 4070908800000
        poke("--key", c.key_file("kms3"), "pub", pub, "1500",
             poke("update", "kms3.600dcafe", 2, 103, year_2099).strip())
        for n in c.nodes[:2]:
            wait_for(lambda: 'kmsha_replication_future_refused_total{node="%s"} 1' % n.node_id in n.metrics(),
                     what="the 2099 update refused by %s" % n.node_id)
            self.assertEqual(n.status()["store"]["records"], 6)
            self.assertEqual(n.count(), 6)
        print("planting: 2 updates from strangers and 1 dated 2099 from a peer's key: records 6 and count 6 "
              "on both nodes (5 clients + the peer's one real update); future-dated refused: 1 each")

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
        answer = activate(kms1, "--cmid", cmid(1))  # a client is still served
        print("snapshot flood: RSS %d kB before, %d kB after 2 x 2000 unread requests (%s sent); "
              "replies sent %d, dropped %d; a client activated after it in %.1f ms"
              % (before, after, sent, r["sync_replies"], r["sync_dropped"], answer["elapsed_ms"]))
        self.assertGreater(r["sync_dropped"], 0, "the peer's flood never reached the node")
        self.assertLess(after - before, MEMORY_BOUND_KB)


def raw_http(node, method, path, headers=None, body=None):
    """One request to node's admin address with exactly these headers; (status, body)."""
    c = http.client.HTTPConnection(node.host, node.admin_port, timeout=10)
    try:
        c.putrequest(method, path, skip_host="Host" in (headers or {}), skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            c.putheader(k, v)
        if body is not None:
            c.putheader("Content-Length", str(len(body)))
        c.endheaders(body.encode() if body is not None else None)
        r = c.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        c.close()


class AdminTests(NodeTestCase):
    def token(self, node):
        with open(os.environ["KMSHA_ADMIN_TOKEN_FILE"]) as f:  # the harness's shared token file
            return f.read().strip()

    def test_state_changes_need_the_token_and_the_admin_origin(self):
        n = self.node().start()
        tok = {"Authorization": "Bearer " + self.token(n)}
        self.assertEqual(os.stat(os.environ["KMSHA_ADMIN_TOKEN_FILE"]).st_mode & 0o777, 0o600)
        here = "http://%s:%d" % (n.host, n.admin_port)
        # What a hostile page can send: a form, with or without a body, no token.
        for headers, body in (({}, None), ({"Origin": "http://evil.example"}, None),
                              ({"Content-Type": "application/x-www-form-urlencoded", "Origin": "null"}, ""),
                              ({"Content-Type": "text/plain"}, "x"),
                              ({"Authorization": "Bearer wrong"}, None)):
            code, text = raw_http(n, "POST", "/drain", headers, body)
            self.assertEqual(code, 403, (headers, text))
        # Even with the token: a cross-origin request, or a form, is refused.
        code, text = raw_http(n, "POST", "/drain", dict(tok, Origin="http://evil.example"))
        self.assertEqual(code, 403, text)
        code, text = raw_http(n, "POST", "/drain", dict(tok, **{"Content-Type": "multipart/form-data; boundary=x"}), "")
        self.assertEqual(code, 403, text)
        self.assertFalse(n.status()["dns"].get("drained", False))
        # The token from the admin's own origin, or from kmsctl, drains.
        code, text = raw_http(n, "POST", "/drain", dict(tok, Origin=here))
        self.assertEqual(code, 200, text)
        rc, out, err = kmsctl("undrain", "--admin", "%s:%d" % (n.host, n.admin_port), n.node_id)
        self.assertEqual(rc, 0, err)
        for path in ("/status", "/metrics", "/healthz", "/"):
            self.assertEqual(raw_http(n, "GET", path)[0], 200, path)

    def test_client_records_need_the_read_token(self):
        n = self.node().start()
        activate(n, "--cmid", cmid(1), "--workstation", "PRIVATE-PC1")
        read_file = os.environ["KMSHA_READ_TOKEN_FILE"]
        self.assertEqual(os.stat(read_file).st_mode & 0o777, 0o600)  # made at first start
        with open(read_file) as f:
            read = f.read().strip()
        admin = self.token(n)
        self.assertNotEqual(read, admin)
        here = "http://%s:%d" % (n.host, n.admin_port)
        # Client records (workstation names, addresses): no token, a wrong one, or a foreign
        # page's request get 403 and no record.
        for path in ("/clients", "/clients?workstation=PRIVATE", "/report", "/report?latest=1"):
            for headers in ({}, {"Authorization": "Bearer " + "0" * 64},
                            {"Authorization": "Bearer " + read, "Origin": "http://evil.example"}):
                code, text = raw_http(n, "GET", path, headers)
                self.assertEqual(code, 403, (path, headers, text))
                self.assertNotIn("PRIVATE-PC1", text)
            # The read token or the admin token reads them, also from the admin's own page.
            for tok in (read, admin):
                code, text = raw_http(n, "GET", path, {"Authorization": "Bearer " + tok, "Origin": here})
                self.assertEqual(code, 200, (path, text))
        code, text = raw_http(n, "GET", "/clients", {})
        self.assertIn("read token", text)  # says what it needs
        # Monitoring stays open: /activity is answers per minute, no client.
        for path in ("/status", "/metrics", "/healthz", "/activity", "/"):
            self.assertEqual(raw_http(n, "GET", path)[0], 200, path)
        self.assertNotIn("PRIVATE-PC1", raw_http(n, "GET", "/activity")[1])
        # The read token changes nothing.
        code, text = raw_http(n, "POST", "/drain", {"Authorization": "Bearer " + read, "Origin": here})
        self.assertEqual(code, 403, text)
        self.assertEqual(raw_http(n, "GET", "/dns", {"Authorization": "Bearer " + read})[0], 403)
        # kmsctl with only the read token reads client records and the report, and cannot drain.
        env = {k: v for k, v in os.environ.items() if k != "KMSHA_ADMIN_TOKEN_FILE"}
        admin_addr = "%s:%d" % (n.host, n.admin_port)
        for args in (("clients", "--admin", admin_addr, "--workstation", "PRIVATE"),
                     ("report", "--admin", admin_addr)):
            p = subprocess.run([KMSCTL] + list(args), capture_output=True, text=True, timeout=30, env=env,
                               cwd=self.workdir)
            self.assertEqual(p.returncode, 0, (args, p.stderr))
            self.assertIn("PRIVATE-PC1", p.stdout, args)
        p = subprocess.run([KMSCTL, "--read-token-file", read_file, "drain", "--admin", admin_addr, n.node_id],
                           capture_output=True, text=True, timeout=30, env=env, cwd=self.workdir)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("403", p.stderr)
        # Without any token kmsctl says where to get one.
        bare = {k: v for k, v in env.items() if k != "KMSHA_READ_TOKEN_FILE"}
        p = subprocess.run([KMSCTL, "clients", "--admin", admin_addr], capture_output=True, text=True, timeout=30,
                           env=bare, cwd=self.workdir)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("--read-token-file", p.stderr)

    def test_status_names_no_client_without_a_token(self):
        """/status stays open for monitoring, but the last activations' workstation names and
        client addresses are null unless the request carries the read or the admin token (a
        wrong token, or the right one from a foreign page, is not refused: it reads the same
        redacted answer). Before, /status listed them to anyone."""
        n = self.node().start()
        activate(n, "--cmid", cmid(1), "--workstation", "PRIVATE-PC2")
        with open(os.environ["KMSHA_READ_TOKEN_FILE"]) as f:
            read = f.read().strip()
        admin = self.token(n)
        here = "http://%s:%d" % (n.host, n.admin_port)

        def strings(v):
            if isinstance(v, dict):
                return [s for x in v.values() for s in strings(x)]
            if isinstance(v, list):
                return [s for x in v for s in strings(x)]
            return [v] if isinstance(v, str) else []

        # With either token (also from the admin's own page): the name and the address.
        for tok in (read, admin):
            code, text = raw_http(n, "GET", "/status", {"Authorization": "Bearer " + tok, "Origin": here})
            self.assertEqual(code, 200, text)
            last = json.loads(text)["recent"][0]
            self.assertEqual(last["workstation"], "PRIVATE-PC2")
            address = last["address"]
            self.assertTrue(address.startswith("127.0.0.1"), last)
        # Without: the activation is listed (time, product, count, result), its name and
        # address are null, and neither is anywhere else in the answer.
        for headers in ({}, {"Authorization": "Bearer " + "0" * 64}, {"Authorization": "Basic " + read},
                        {"Authorization": "Bearer " + read, "Origin": "http://evil.example"}):
            code, text = raw_http(n, "GET", "/status", headers)
            self.assertEqual(code, 200, (headers, text))
            st = json.loads(text)
            self.assertEqual(len(st["recent"]), 1, text)
            last = st["recent"][0]
            self.assertIsNone(last["workstation"], headers)
            self.assertIsNone(last["address"], headers)
            self.assertEqual((last["application"], last["count"], last["result_name"]), ("windows", 1, "below_threshold"))
            self.assertNotIn("PRIVATE-PC2", text)
            self.assertNotIn(address, strings(st), headers)
        # Nor in the other open answers.
        for path in ("/metrics", "/activity", "/healthz", "/"):
            code, text = raw_http(n, "GET", path)
            self.assertEqual(code, 200, path)
            self.assertNotIn("PRIVATE-PC2", text, path)
        # kmsctl sends the token it finds: its answer is the administrator's, with the read
        # token alone too.
        admin_addr = "%s:%d" % (n.host, n.admin_port)
        only_read = {k: v for k, v in os.environ.items() if k != "KMSHA_ADMIN_TOKEN_FILE"}
        for env in (os.environ, only_read):
            p = subprocess.run([KMSCTL, "status", "--json", "--admin", admin_addr], capture_output=True, text=True,
                               timeout=30, env=env, cwd=self.workdir)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(json.loads(p.stdout)["recent"][0]["workstation"], "PRIVATE-PC2")

    def test_foreign_host_names_are_refused(self):
        n = self.node(config="[node]\nadmin_hosts = kms1.example.edu\n").start()
        for host in ("evil.example:%d" % n.admin_port, "evil.example", "127.0.0.2:%d" % n.admin_port):
            for path in ("/status", "/metrics", "/clients"):
                code, text = raw_http(n, "GET", path, {"Host": host})
                self.assertEqual(code, 421, (host, path, text))
        for host in ("%s:%d" % (n.host, n.admin_port), "kms1.example.edu:%d" % n.admin_port,
                     "localhost:%d" % n.admin_port):
            self.assertEqual(raw_http(n, "GET", "/status", {"Host": host})[0], 200, host)

    def test_admin_connections_are_limited(self):
        # Deadlines far beyond the test: only the limit may keep the descriptors down.
        n = self.node(config="[limits]\nadmin_max_connections = 16\nadmin_header_timeout = 300\n").start()
        pid = n.proc.pid
        fds_before = len(os.listdir("/proc/%d/fd" % pid))
        socks = []
        for i in range(100):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex((n.host, n.admin_port))
            socks.append(s)
        # The node says when it stops accepting: 16 open, the other 84 wait in the kernel.
        wait_for(lambda: "admin_max_connections (16) open, not accepting more" in n.read_log(), timeout=30,
                 what="the admin connection limit")
        for s in socks:  # a request that never completes
            try:
                s.send(b"G")
            except OSError:
                pass
        fds_during = len(os.listdir("/proc/%d/fd" % pid))
        for s in socks:
            s.close()
        # Once they close, the node serves again (nothing waited for a deadline).
        wait_for(lambda: admin_answers(n), timeout=30, what="an admin answer after the flood")
        m = raw_http_metrics(n)
        print("admin flood: descriptors %d before, %d with 100 connections (limit 16)" % (fds_before, fds_during))
        self.assertLessEqual(fds_during, fds_before + 16 + 2)
        self.assertIn('kmsha_admin_refusals_total{node="kms1",cause="connection_limit"} ', m)
        self.assertNotIn('cause="connection_limit"} 0\n', m)

    def test_headers_and_body_have_their_own_deadlines(self):
        """A client that trickles its headers is cut at admin_header_timeout; one that sends its
        headers and trickles a body, at admin_body_timeout. Each node gives the other phase a
        deadline far beyond the test, so only the right one can close the connection."""
        for header_s, body_s, cut in ((2, 300, "header"), (300, 2, "body")):
            n = self.node(node_id="kms-%s" % cut, config="[limits]\nadmin_header_timeout = %d\n"
                          "admin_body_timeout = %d\n" % (header_s, body_s)).start()
            head = Trickle(n, b"GET /status HTTP/1.1\r\nHost: %s:%d\r\nX-Slow: " % (n.host.encode(), n.admin_port))
            body = Trickle(n, b"POST /drain HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                           b"Content-Length: 4000\r\n\r\n{" % (n.host.encode(), n.admin_port))
            closed, still_open = (head, body) if cut == "header" else (body, head)
            t0 = time.monotonic()
            self.assertTrue(closed.until_closed(timeout=60), "%s trickler not cut" % cut)
            took = time.monotonic() - t0
            self.assertTrue(still_open.is_open(), "the other trickler was cut too")
            cuts = 1
            if cut == "body":  # the same behind an answered request on one connection (pipelined)
                piped = Trickle(n, b"GET /healthz HTTP/1.1\r\nHost: %s:%d\r\n\r\n%s"
                                % (n.host.encode(), n.admin_port, body.start))
                self.assertTrue(piped.until_closed(timeout=60), "pipelined body trickler not cut")
                self.assertTrue(piped.received.startswith(b"HTTP/1.1 200"), piped.received)
                piped.close()
                cuts = 2
            m = raw_http_metrics(n)
            self.assertIn('cause="%s_timeout"} %d\n' % (cut, cuts), m)
            self.assertIn('cause="%s_timeout"} 0\n' % ("body" if cut == "header" else "header"), m)
            head.close()
            body.close()
            print("admin %s deadline %d s: the trickler was cut after %.1f s (the other phase's deadline: 300 s)"
                  % (cut, min(header_s, body_s), took))
            n.stop()

    def test_unread_client_lists_cost_one_chunk(self):
        n = self.node()
        subprocess.run([KMSSEED, "--data-dir", n.data_dir, "--node-id", "kms1", "--records", "20000"],
                       check=True, capture_output=True, timeout=120)
        n.start()
        pid = n.proc.pid
        tok = self.token(n)
        # A normal client reads a whole answer (and a CMID page goes to kmsctl as before).
        code, body = raw_http(n, "GET", "/clients?limit=100000", {"Authorization": "Bearer " + tok})
        self.assertEqual(code, 200)
        self.assertEqual(json_loads(body)["returned"], 20000)
        before = rss_kb(pid)
        socks = []
        for i in range(10):  # one after another: each has its answer going before the next asks
            s = socket.create_connection((n.host, n.admin_port))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(("GET /clients?limit=100000 HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: Bearer %s\r\n\r\n"
                       % (n.host, n.admin_port, tok)).encode())
            socks.append(s)
            # The node has started sending this answer (its first bytes are readable)
            # before the next request: each answer is queued while the others are held.
            readable, _, _ = select.select([s], [], [], 30)
            self.assertTrue(readable, "no answer to GET /clients %d within 30 s" % i)
        peak = rss_kb(pid)
        for s in socks:
            s.close()
        # Slots come back once the node notices: then a reader gets its answer again.
        wait_for(lambda: raw_http(n, "GET", "/clients?limit=1", {"Authorization": "Bearer " + tok})[0] == 200,
                 what="a /clients slot")
        after = rss_kb(pid)
        print("unread /clients: RSS %d kB before, %d kB with 10 unread answers of 20,000 records, %d kB after"
              % (before, peak, after))
        self.assertLess(peak - before, MEMORY_BOUND_KB)


# The start of a DCE/RPC bind PDU (version 5.0, type 11, 72 bytes): well-formed as far as
# it goes, so only a deadline can end it.
BIND_START = bytes.fromhex("05000b0310000000480000000100000000") + b"\x00" * 55


class Trickler:
    """Keeps `count` connections to addr open from `sources` addresses (127.1.x.y), sending
    one byte a second on each and opening a new one whenever the node closes one: the
    attack of issue 13 (a byte every few seconds kept a connection for 300 s)."""

    def __init__(self, addr, count, sources, reconnect=True):
        import selectors
        import threading
        self.addr, self.count, self.sources, self.reconnect = addr, count, sources, reconnect
        self.sel = selectors.DefaultSelector()
        self.socks = {}  # socket -> bytes of the bind header sent so far
        self.opened = self.closed_by_node = 0
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def open_one(self):
        i = self.opened
        s = socket.socket()
        s.setblocking(False)
        try:
            s.bind(("127.1.%d.%d" % (i % self.sources // 250, i % self.sources % 250 + 1), 0))
            s.connect_ex(self.addr)
        except OSError:
            s.close()
            return
        self.opened += 1
        self.socks[s] = 0
        self.sel.register(s, 1)  # EVENT_READ: the node closed it

    def run(self):
        next_byte = time.monotonic()
        while not self.stop_ev.is_set():
            while (len(self.socks) < self.count and (self.reconnect or self.opened < self.count)
                   and not self.stop_ev.is_set()):
                self.open_one()
            for key, _ in self.sel.select(timeout=0.1):
                s = key.fileobj
                try:
                    data = s.recv(64)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    self.sel.unregister(s)
                    self.socks.pop(s, None)
                    s.close()
                    self.closed_by_node += 1
            if time.monotonic() >= next_byte:  # the next byte of a bind PDU, every second
                for s, pos in list(self.socks.items()):
                    try:
                        s.send(BIND_START[pos % len(BIND_START):][:1])
                        self.socks[s] = pos + 1
                    except OSError:
                        pass
                next_byte = time.monotonic() + 1

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 60
        while self.opened < self.count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        self.thread.join()
        for s in self.socks:
            s.close()


def raise_fd_limit(want):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def legit_activations(node, count, start, times=None):
    """count activations by kmsctl; the number that succeeded. times: gets each successful
    exchange's duration (kmsctl's elapsed_ms: connect to verified answer)."""
    ok = 0
    for i in range(count):
        rc, out, err = kmsctl("activate", "--json", "--timeout", "5000", "--cmid", cmid(start + i), node.addr)
        ok += rc == 0
        if rc == 0 and times is not None:
            times.append(json_loads(out)["elapsed_ms"])
    return ok


def latency_text(ms):
    ms = sorted(ms)
    return "median %.1f ms, max %.1f ms" % (ms[len(ms) // 2], ms[-1]) if ms else "none"


class ConnectionTests(NodeTestCase):
    def test_a_trickling_connection_is_closed_at_pdu_timeout(self):
        n = self.node(config="[limits]\npdu_timeout = 1\nidle_timeout = 60\n").start()
        s = socket.create_connection((n.host, n.port))
        t0 = time.monotonic()
        closed = False
        pos = 0
        while time.monotonic() - t0 < 10 and not closed:
            try:
                s.send(BIND_START[pos:pos + 1])
                pos += 1
            except OSError:
                closed = True
                break
            s.settimeout(0.3)
            try:
                closed = s.recv(16) == b""
            except socket.timeout:
                pass
            except OSError:
                closed = True
        self.assertTrue(closed, "a byte every 0.3 s kept the connection open")
        self.assertIn('cause="pdu_timeout"} 1', n.metrics())

    def test_trickle_flood_does_not_lock_clients_out(self):
        count, sources = 10000, 200
        if raise_fd_limit(count + 500) < count + 500:
            count = raise_fd_limit(0) - 500  # scaled down to this machine's limit
        n = self.node(config="[limits]\nmax_connections = %d\n" % count).start()
        pid = n.proc.pid
        quiet, attacked = [], []
        legit_activations(n, 20, 1000, quiet)  # the normal latency, same node, no attack
        before = rss_kb(pid)
        def held():
            return int([l for l in n.metrics().splitlines() if l.startswith("kmsha_connections_open")][0].split()[-1])

        with Trickler((n.host, n.port), count, sources) as t:
            # Opened on this side; the node accepts them as fast as the machine lets it.
            full = wait_for(lambda: held() >= count * 9 // 10 and held(), timeout=60,
                            what="the node holding 90 % of the attack connections")
            ok = legit_activations(n, 20, 1, attacked)
            during = rss_kb(pid)
        print("trickle flood: %d connections from %d addresses (node held %d), %d of 20 legitimate activations "
              "succeeded (%s; without the attack %s); RSS %d kB before, %d kB during; %d attack connections "
              "closed by the node" % (count, sources, full, ok, latency_text(attacked), latency_text(quiet), before,
                                      during, t.closed_by_node))
        self.assertGreaterEqual(full, count * 9 // 10)
        self.assertEqual(ok, 20)

    def test_descriptor_exhaustion_does_not_spin(self):
        # kmsd started from a shell with ulimit -n 1024 and the default max_connections
        # (10,000); 1,200 connections from 30 addresses.
        raise_fd_limit(2000)
        n = self.node(wrapper=["prlimit", "--nofile=1024:1024", "--"]).start()
        pid = n.proc.pid
        with Trickler((n.host, n.port), 1200, 30, reconnect=False) as t:
            # The node holds all it can: it starts closing the oldest to make room.
            wait_for(lambda: "closed to make room" in n.read_log(), timeout=30,
                     what="the node at its connection limit")
            cpu0, t0 = cpu_s(pid), time.monotonic()
            ok = legit_activations(n, 10, 100)
            time.sleep(max(0, 3 - (time.monotonic() - t0)))
            share = (cpu_s(pid) - cpu0) / (time.monotonic() - t0)
        print("descriptor exhaustion: 1,200 connections, ulimit -n 1024: kmsd used %.0f %% of a core; "
              "%d of 10 legitimate activations succeeded; %d attack connections closed by the node"
              % (share * 100, ok, t.closed_by_node))
        # Spinning on accept() takes whatever CPU the machine gives (20 % of a core on the
        # busy 2-core test machine before the fix); holding idle connections takes ~1 %.
        self.assertLess(share, 0.1)
        self.assertEqual(ok, 10)
        self.assertIn("max_connections 10000 lowered to", n.read_log())


class StorageTests(NodeTestCase):
    def test_update_log_size_bound_falls_back_to_a_snapshot(self):
        c = Cluster(self, n=2, cluster_config="log_max_mb = 1\n")
        kms1, kms2 = c.nodes
        # Both run: the size bound prunes only once a live peer has confirmed the clock.
        c.start()
        p = subprocess.run([os.path.join(BUILD, "kmsbench"), "--no-progress", "-n", "15000", "--clients", "15000",
                            "-c", "16", kms1.addr], capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(kms1.status()["store"]["records"], 15000)
        st = wait_for(lambda: (lambda s: s if s["cluster"]["log_bytes"] <= 1 << 20 else None)(kms1.status()),
                      timeout=30, what="the update log back under log_max_mb")
        print("update log bound: %d entries, %d bytes after 15,000 activations (log_max_mb = 1)"
              % (st["cluster"]["log_entries"], st["cluster"]["log_bytes"]))
        self.assertLess(st["cluster"]["log_entries"], 15000)
        self.assertIn("log_max_mb 1: pruning", kms1.read_log())
        # A node that has none of it (its disk lost) catches up from a snapshot.
        kms2.stop()
        shutil.rmtree(kms2.data_dir)
        c.start([kms2])
        c.wait_converged(50, records=15000, timeout=60)
        self.assertIn("needs a snapshot", kms1.read_log())


PROBE_64 = r"""
import socket, sys, time
held = []
for i in range(12):
    s = socket.socket(socket.AF_INET6)
    s.setsockopt(socket.SOL_IP, 15, 1)           # IP_FREEBIND: any address of the local /64
    s.bind(("fd00:64::%x" % (0x100 + i), 0))   # twelve addresses of one /64
    s.connect(("fd00:64::1", int(sys.argv[1])))
    held.append(s)
# A thirteenth connection, sent junk: the node closes it (refused, or as malformed) only
# once it has accepted and judged the twelve before it, so their fate is known by then.
last = socket.socket(socket.AF_INET6)
last.setsockopt(socket.SOL_IP, 15, 1)
last.bind(("fd00:64::100", 0))
last.connect(("fd00:64::1", int(sys.argv[1])))
last.sendall(bytes(16))
last.settimeout(20)
t0 = time.monotonic()
try:
    last.recv(1)
except OSError:
    pass
sys.stderr.write("the thirteenth connection was closed after %.2f s\n" % (time.monotonic() - t0))
closed = 0
for s in held:
    s.setblocking(False)
    try:
        closed += s.recv(1) == b""
    except BlockingIOError:
        pass
    except OSError:
        closed += 1
print(len(held) - closed)
"""


class Ipv6PrefixTests(NodeTestCase):
    def run_in(self, ns, prefix_len):
        data = os.path.join(self.workdir, "v6-%d" % prefix_len)
        conf = os.path.join(self.workdir, "v6-%d.ini" % prefix_len)
        with open(conf, "w") as f:
            f.write("[limits]\nmax_connections_per_address = 8\nipv6_prefix_len = %d\n" % prefix_len)
        port = 20000 + os.getpid() % 10000
        log = open(os.path.join(self.workdir, "v6-%d.log" % prefix_len), "w")
        proc = subprocess.Popen(["ip", "netns", "exec", ns, os.path.join(BUILD, "kmsd"), "--config", conf,
                                 "--listen", "[fd00:64::1]:%d" % port, "--admin", "off", "--data-dir", data],
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            def started():
                with open(log.name) as f:
                    return "ready" in f.read()
            wait_for(started, what="kmsd in the namespace")
            p = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", PROBE_64, str(port)],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            return int(p.stdout.strip())
        finally:
            proc.terminate()
            proc.wait(timeout=15)
            log.close()

    def test_an_ipv6_64_counts_as_one_address(self):
        if os.geteuid() != 0:
            self.skipTest("needs root for a network namespace")
        ns = "kmsha-h64-%d" % os.getpid()
        try:
            subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError) as e:
            self.skipTest("cannot create a network namespace here: %s" % getattr(e, "stderr", e))
        self.addCleanup(subprocess.run, ["ip", "netns", "del", ns], capture_output=True)
        for args in (["link", "set", "lo", "up"], ["-6", "addr", "add", "fd00:64::1/128", "dev", "lo"],
                     ["-6", "route", "add", "local", "fd00:64::/64", "dev", "lo"]):
            subprocess.run(["ip", "-n", ns] + args, check=True, capture_output=True)
        # Twelve addresses of one /64, eight connections per address allowed: the /64 gets
        # eight (before: each address was counted apart and all twelve were held) ...
        self.assertEqual(self.run_in(ns, 64), 8)
        # ... and with ipv6_prefix_len = 128, each address is a client of its own.
        self.assertEqual(self.run_in(ns, 128), 12)


def raw_http_metrics(n):
    return raw_http(n, "GET", "/metrics")[1]


def admin_answers(n):
    try:
        return raw_http(n, "GET", "/healthz")[0] == 200
    except OSError:
        return False


class Trickle:
    """An admin connection that sends start at once and then one byte ("x") every 0.2 s."""

    def __init__(self, node, start):
        self.start, self.received = start, b""
        self.sock = socket.create_connection((node.host, node.admin_port), timeout=10)
        self.sock.sendall(start)

    def step(self, wait):
        """Sends a byte and waits up to wait s for the node to close; True when it has."""
        try:
            self.sock.send(b"x")
        except OSError:
            return True
        r, _, _ = select.select([self.sock], [], [], wait)
        if not r:
            return False
        try:
            data = self.sock.recv(4096)
        except OSError:
            return True
        self.received += data
        return data == b""

    def until_closed(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.step(0.2):
                return True
        return False

    def is_open(self):
        return not self.step(0)

    def close(self):
        self.sock.close()


def json_loads(text):
    import json
    return json.loads(text)


if __name__ == "__main__":
    main()
