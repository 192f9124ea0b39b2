"""What a KMS host refuses, and how: products outside the allowlist (0xC004F042), a client
clock more than 4 hours off (0xC004F06C), an unsupported protocol version (0x8007000D),
and client addresses outside allow_clients (connection refused at accept)."""
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import NodeTestCase, activate, cmid, kmsctl, main, recv_pdu, vector  # noqa: E402

BIND_NDR32 = None


def bind_ndr32_pdu():
    """The vlmcs bind offering NDR32 only (vector 17)."""
    for c in vector("flat-rpc.json"):
        if c["vector"].startswith("17-"):
            return bytes.fromhex(c["exchanges"][0]["client_hex"])
    raise AssertionError("vector 17 not found")


def request_pdu(call_id, ctx, msg):
    stub = len(msg).to_bytes(4, "little") * 2 + msg
    body = len(stub).to_bytes(4, "little") + ctx.to_bytes(2, "little") + b"\0\0" + stub
    return (bytes([5, 0, 0, 3, 0x10, 0, 0, 0]) + (16 + len(body)).to_bytes(2, "little") + b"\0\0"
            + call_id.to_bytes(4, "little") + body)


def hresult_of(resp):
    """The HRESULT of an NDR32 error response stub (12 bytes: size 0, NULL, HRESULT)."""
    assert resp[2] == 2, "not a response PDU: %s" % resp.hex()
    stub = resp[24:]
    return int.from_bytes(stub[-4:], "little")


class RefusalTests(NodeTestCase):
    def test_retail_product_refused(self):
        n = self.node().start()
        rc, out, err = kmsctl("activate", "--product", "win10-home", "--workstation", "LAB-Ü-07", n.addr)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("0xC004F042", err)
        self.assertEqual(n.audit()[-1]["result"], "0xC004F042")
        self.assertEqual(n.audit()[-1]["workstation"], "LAB-Ü-07")
        self.assertEqual(n.status()["requests"]["failed"], 1)

    def test_allow_products_setting(self):
        n = self.node(config="[kms]\nallow_products = office2019\n").start()
        rc, out, err = kmsctl("activate", "--product", "win10-pro", n.addr)
        self.assertEqual(rc, 1)
        self.assertIn("0xC004F042", err)
        self.assertEqual(activate(n, "--product", "office2019-proplus")["count"], 1)

    def test_client_clock_off_by_five_hours(self):
        n = self.node().start()
        for off in (5 * 3600, -5 * 3600):
            rc, out, err = kmsctl("activate", "--time-offset", off, n.addr)
            self.assertEqual(rc, 1, out + err)
            self.assertIn("0xC004F06C", err)
        # 3 hours off is within the ±4 h window.
        self.assertEqual(activate(n, "--time-offset", 3 * 3600)["count"], 1)

    def test_protocol_7_is_invalid_data(self):
        n = self.node().start()
        s = socket.create_connection((n.host, n.port), timeout=5)
        s.sendall(bind_ndr32_pdu())
        ack = recv_pdu(s)
        self.assertEqual(ack[2], 12)
        msg = bytes([0, 0, 7, 0]) + bytes(256)
        s.sendall(request_pdu(2, 0, msg))
        resp = recv_pdu(s)
        self.assertEqual(hresult_of(resp), 0x8007000D)
        # A v6 request that does not decrypt (garbage where the ciphertext goes).
        s.sendall(request_pdu(3, 0, bytes([0, 0, 6, 0]) + bytes(range(256))))
        self.assertEqual(hresult_of(recv_pdu(s)), 0x8007000D)
        s.close()
        self.assertEqual(activate(n)["count"], 1)
        # Requests that were never decoded count as failed, not under a licence status
        # (they were counted as "unlicensed", status 0, before).
        req = n.status()["requests"]
        self.assertEqual(req["total"], 3)
        self.assertEqual(req["failed"], 2)
        self.assertEqual(req["by_license_status"]["unlicensed"], 0, req)
        self.assertEqual(req["by_license_status"]["oob_grace"], 1, req)
        self.assertEqual(sum(req["by_protocol"].values()), 1, req)
        rc, out, err = kmsctl("status", "--admin", "%s:%d" % (n.host, n.admin_port))
        self.assertEqual(rc, 0, err)
        self.assertIn("Requests with License Status Unlicensed: 0\n", out)
        self.assertIn("Failed requests received: 2\n", out)

    def test_client_allowlist(self):
        n = self.node(config="[limits]\nallow_clients = 10.0.0.0/8, 192.168.0.0/16\n").start()
        rc, out, err = kmsctl("activate", "--timeout", 3000, n.addr)
        self.assertEqual(rc, 1)
        self.assertIn("address not in allow_clients", n.read_log())
        self.assertEqual(n.status()["connections"]["refused"]["allowlist"], 1)


if __name__ == "__main__":
    main()
