"""Hostile and broken clients: each gets its answer (a fault or a closed connection), one
log line, and never disturbs other clients, which keep activating meanwhile."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import NodeTestCase, activate, cmid, closed_by_peer, main, recv_pdu, wait_until  # noqa: E402
from test_refusals import bind_ndr32_pdu, request_pdu  # noqa: E402


def header(ptype, frag_length, call_id=2, flags=3, vers=5, drep=0x10, minor=0):
    return (bytes([vers, minor, ptype, flags, drep, 0, 0, 0]) + frag_length.to_bytes(2, "little")
            + b"\0\0" + call_id.to_bytes(4, "little"))


class BadInputTests(NodeTestCase):
    def setUp(self):
        super().setUp()
        self.n = self.node(config="[limits]\nidle_timeout = 2\npdu_timeout = 2\n").start()
        self.k = 0

    def connect(self):
        return socket.create_connection((self.n.host, self.n.port), timeout=5)

    def others_still_served(self):
        self.k += 1
        r = activate(self.n, "--cmid", cmid(self.k))
        self.assertEqual(r["count"], self.k)

    def assert_closed(self, payload, log_fragment):
        s = self.connect()
        s.sendall(payload)
        self.others_still_served()
        self.assertTrue(closed_by_peer(s), "connection not closed after %r" % payload[:32])
        s.close()
        self.assertIn(log_fragment, self.n.read_log())

    def test_garbage(self):
        self.assert_closed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "malformed PDU header")

    def test_wrong_rpc_version(self):
        self.assert_closed(header(11, 72, vers=4) + bytes(56),
                           "malformed PDU header: RPC version 4.0 (only 5.0 is spoken), closing")

    # Each malformed header names its own cause (all three were logged as "malformed PDU
    # header (frag_length N, limit 5840)" before).
    def test_rpc_minor_version_1(self):
        self.assert_closed(header(11, 72, minor=1) + bytes(56),
                           "malformed PDU header: RPC version 5.1 (only 5.0 is spoken), closing")

    def test_request_without_last_fragment_flag(self):
        self.assert_closed(header(0, 40, flags=1) + bytes(24),
                           "malformed PDU header: request PDU without both the FIRST and LAST "
                           "fragment flags (flags 0x01: multi-fragment calls are not supported)")

    def test_big_endian_data_representation(self):
        self.assert_closed(header(11, 72, drep=0x00) + bytes(56),
                           "malformed PDU header: data representation 00 00 00 00 (only "
                           "little-endian ASCII, 10 00 00 00, is spoken), closing")

    def test_frag_length_shorter_than_header(self):
        self.assert_closed(header(11, 8) + bytes(8), "malformed PDU header")

    def test_oversized_fragment(self):
        self.assert_closed(header(0, 60000) + bytes(100),
                           "PDU larger than max_pdu_size (frag_length 60000, limit 5840), closing")

    def test_bind_with_lying_context_count(self):
        bind = bytearray(bind_ndr32_pdu())
        bind[24] = 9  # claims 9 context elements, carries 1
        self.assert_closed(bytes(bind), "malformed bind")

    def test_unexpected_pdu_type(self):
        self.assert_closed(header(2, 24) + bytes(8), "unexpected PDU type")

    def test_truncated_pdu_then_silence(self):
        # Half a bind, then nothing: closed after pdu_timeout; others unaffected.
        s = self.connect()
        s.sendall(bind_ndr32_pdu()[:40])
        self.others_still_served()
        self.assertTrue(closed_by_peer(s))
        s.close()

    def test_silent_client_is_closed_after_pdu_timeout(self):
        # Nothing at all after connecting: the first PDU has pdu_timeout to come.
        s = self.connect()
        self.others_still_served()
        t0 = time.monotonic()
        self.assertTrue(closed_by_peer(s))
        self.assertGreater(time.monotonic() - t0, 0.5)  # a lower bound: load only delays the close
        self.assertEqual(self.n.status()["connections"]["refused"]["pdu_timeout"], 1)

    def test_client_silent_after_a_pdu_is_closed_after_idle_timeout(self):
        s = self.connect()
        s.sendall(bind_ndr32_pdu())
        self.assertEqual(recv_pdu(s)[2], 12)
        self.assertTrue(closed_by_peer(s))
        self.assertEqual(self.n.status()["connections"]["refused"]["idle_timeout"], 1)

    def test_request_before_bind_gets_fault(self):
        s = self.connect()
        s.sendall(request_pdu(7, 0, bytes([0, 0, 6, 0]) + bytes(256)))
        fault = recv_pdu(s)
        self.assertEqual(fault[2], 3, "expected a fault PDU, got %s" % fault.hex())
        self.assertEqual(int.from_bytes(fault[12:16], "little"), 7, "fault echoes the call id")
        self.assertEqual(int.from_bytes(fault[24:28], "little"), 0x1C010003)
        # The connection stays usable: bind and ask again.
        s.sendall(bind_ndr32_pdu())
        self.assertEqual(recv_pdu(s)[2], 12)
        s.close()
        self.others_still_served()
        self.assertIn("RPC fault 0x1C010003", self.n.read_log())

    def test_request_with_short_stub_is_invalid_data(self):
        s = self.connect()
        s.sendall(bind_ndr32_pdu())
        recv_pdu(s)
        # requestSize claims 260 bytes, 20 follow.
        msg = bytes([0, 0, 6, 0]) + bytes(16)
        stub = (260).to_bytes(4, "little") * 2 + msg
        body = len(stub).to_bytes(4, "little") + b"\0\0\0\0" + stub
        s.sendall(header(0, 16 + len(body)) + body)
        resp = recv_pdu(s)
        self.assertEqual(resp[2], 2)
        self.assertEqual(int.from_bytes(resp[-4:], "little"), 0x8007000D)
        s.close()
        self.others_still_served()

    def test_split_and_merged_pdus(self):
        # A bind delivered one byte at a time, then bind + request in one segment.
        s = self.connect()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for b in bind_ndr32_pdu():
            s.send(bytes([b]))
        self.assertEqual(recv_pdu(s)[2], 12)
        s.sendall(bind_ndr32_pdu() + request_pdu(3, 0, bytes([0, 0, 7, 0]) + bytes(256)))
        self.assertEqual(recv_pdu(s)[2], 12)
        resp = recv_pdu(s)
        self.assertEqual(int.from_bytes(resp[-4:], "little"), 0x8007000D)
        s.close()

    def test_many_bad_clients_at_once(self):
        socks = []
        for i in range(30):
            s = self.connect()
            s.sendall(os.urandom(64))
            socks.append(s)
        self.others_still_served()
        for s in socks:
            self.assertTrue(closed_by_peer(s))
            s.close()
        self.assertTrue(self.n.alive())



class LimitTests(NodeTestCase):
    def test_connections_per_address_and_in_total(self):
        n = self.node(config="[limits]\nmax_connections_per_address = 2\nmax_connections = 4\n").start()

        def from_addr(src):
            s = socket.socket()
            s.bind((src, 0))
            s.connect((n.host, n.port))
            return s

        hog = [from_addr("127.0.0.9"), from_addr("127.0.0.9")]
        third = from_addr("127.0.0.9")
        self.assertTrue(closed_by_peer(third), "third connection from one address not refused")
        # Another address is still served while the hog holds its two.
        self.assertEqual(activate(n, "--cmid", cmid(1))["count"], 1)
        # The total limit: 2 (hog) + 2 more fill it; a fifth closes the oldest connection
        # that has not sent a complete PDU (a hog's) to make room ...
        more = [from_addr("127.0.0.10"), from_addr("127.0.0.11")]
        wait_until("the node holds four connections", lambda: n.status()["connections"]["open"] == 4)
        fifth = from_addr("127.0.0.12")
        self.assertTrue(closed_by_peer(hog[0]))
        # ... and once all four are clients that have bound, a sixth is refused.
        for s in [hog[1]] + more + [fifth]:
            s.sendall(bind_ndr32_pdu())
            self.assertEqual(recv_pdu(s)[2], 12)
        sixth = from_addr("127.0.0.13")
        self.assertTrue(closed_by_peer(sixth))
        for s in hog + more + [third, fifth, sixth]:
            s.close()
        wait_until("the node has closed them", lambda: n.status()["connections"]["open"] == 0)
        self.assertEqual(activate(n, "--cmid", cmid(2))["count"], 2)
        refused = n.status()["connections"]["refused"]
        self.assertEqual(refused["per_address"], 1)
        self.assertEqual(refused["max_connections"], 2)
        self.assertIn("max_connections_per_address reached", n.read_log())


if __name__ == "__main__":
    main()
