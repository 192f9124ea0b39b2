"""systemd integration: the unit ops/systemd/kmsd@.service passes `systemd-analyze verify`
(and its hardening scores as low exposure in `systemd-analyze security --offline`), the
configured copy CMake installs points at the installed kmsd, and kmsd speaks the
sd_notify protocol to a NOTIFY_SOCKET the test listens on: READY=1 with MAINPID and
STATUS once it serves, WATCHDOG=1 at half of WATCHDOG_USEC, STOPPING=1 on SIGTERM."""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BUILD, KMSD, ROOT, NodeTestCase, activate, check_process_output, free_port, main  # noqa: E402

UNIT = os.path.join(ROOT, "ops", "systemd", "kmsd@.service")
ANALYZE = shutil.which("systemd-analyze")


def built_with_libsystemd():
    try:
        with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
            return "LIBSYSTEMD_FOUND:INTERNAL=1" in f.read()
    except OSError:
        return False


class UnitTests(NodeTestCase):
    def unit_for_test(self):
        """The unit as installed, with ExecStart pointing at the kmsd under test."""
        with open(UNIT) as f:
            text = f.read()
        self.assertIn("@KMSHA_BINDIR@/kmsd", text)
        path = os.path.join(self.workdir, "kmsd@kms1.service")
        with open(path, "w") as f:
            f.write(text.replace("@KMSHA_BINDIR@", os.path.dirname(os.path.abspath(KMSD)))
                    .replace("@KMSHA_DOCDIR@", "/usr/local/share/doc/kmsha"))
        return path, text

    @unittest.skipUnless(ANALYZE, "systemd-analyze is not installed")
    def test_unit_verifies(self):
        path, text = self.unit_for_test()
        # verify also opens the Documentation= man pages: the ones built beside kmsd
        env = dict(os.environ, MANPATH=os.path.join(BUILD, "man"))
        p = subprocess.run([ANALYZE, "verify", path], capture_output=True, text=True, timeout=60, cwd=self.workdir,
                           env=env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stderr.strip(), "", "systemd-analyze verify complained")
        # What the issue asks of the unit, spelled out.
        for line in ["Type=notify", "WatchdogSec=", "User=kmsha", "NoNewPrivileges=yes", "ProtectSystem=strict",
                     "ProtectHome=yes", "PrivateTmp=yes", "StateDirectory=kmsha/%i", "ReadWritePaths=/var/lib/kmsha/%i",
                     "CapabilityBoundingSet=\n", "RestrictAddressFamilies=", "SystemCallFilter=@system-service",
                     "ExecReload=/bin/kill -HUP $MAINPID", "--node-id ${KMSHA_NODE_ID}",
                     "Environment=KMSHA_CONFIG=/etc/kmsha/kmsha.ini KMSHA_NODE_ID=%i",
                     "EnvironmentFile=-/etc/default/kmsha-%i", "--config ${KMSHA_CONFIG}"]:
            self.assertIn(line, text)
        self.assertNotIn("CAP_NET_BIND_SERVICE", text)
        # A bad unit is caught (the check is real).
        bad = os.path.join(self.workdir, "kmsd@bad.service")
        with open(path) as src, open(bad, "w") as f:
            f.write(src.read().replace("Type=notify", "Type=notifyy"))
        p = subprocess.run([ANALYZE, "verify", bad], capture_output=True, text=True, timeout=60, cwd=self.workdir,
                           env=env)
        self.assertIn("notifyy", p.stdout + p.stderr)

    @unittest.skipUnless(ANALYZE, "systemd-analyze is not installed")
    def test_unit_exposure_is_low(self):
        path, _ = self.unit_for_test()
        p = subprocess.run([ANALYZE, "security", "--offline=true", "--no-pager", path], capture_output=True, text=True,
                           timeout=60, cwd=self.workdir)
        if "--offline" in p.stderr and "unrecognized" in p.stderr:
            self.skipTest("systemd-analyze security --offline is not supported here")
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", p.stdout + p.stderr)
        self.assertTrue(m, p.stdout + p.stderr)
        self.assertLessEqual(float(m.group(1)), 2.0, p.stdout)

    def test_configured_unit_and_low_port_dropin(self):
        conf = os.path.join(BUILD, "ops", "kmsd@.service")
        self.assertTrue(os.path.exists(conf), "CMake did not configure the unit")
        with open(conf) as f:
            text = f.read()
        self.assertNotIn("@KMSHA_", text)
        self.assertRegex(text, r"ExecStart=/\S+/kmsd --config \$\{KMSHA_CONFIG\} --node-id \$\{KMSHA_NODE_ID\}")
        with open(os.path.join(ROOT, "ops", "systemd", "low-port.conf.example")) as f:
            dropin = f.read()
        self.assertIn("AmbientCapabilities=CAP_NET_BIND_SERVICE", dropin)


@unittest.skipUnless(built_with_libsystemd(), "kmsd was built without libsystemd")
class NotifyTests(NodeTestCase):
    def test_ready_watchdog_stopping(self):
        sock_path = os.path.join(self.workdir, "notify.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(sock_path)
        s.settimeout(0.2)
        port, admin = free_port(), free_port()
        env = dict(os.environ, NOTIFY_SOCKET=sock_path, WATCHDOG_USEC="200000")
        env.pop("WATCHDOG_PID", None)
        log = open(os.path.join(self.workdir, "kmsd.log"), "w")
        t0 = time.time()
        proc = subprocess.Popen([KMSD, "--node-id", "kms1", "--listen", "127.0.0.1:%d" % port,
                                 "--admin", "127.0.0.1:%d" % admin, "--data-dir", os.path.join(self.workdir, "data")],
                                env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        msgs = []
        try:
            def collect(until, pred):
                while time.time() < until:
                    try:
                        msgs.append(s.recv(4096).decode())
                    except socket.timeout:
                        pass
                    if pred():
                        return True
                return pred()

            self.assertTrue(collect(time.time() + 10, lambda: any("READY=1" in m for m in msgs)), msgs)
            ready = [m for m in msgs if "READY=1" in m][0]
            fields = dict(line.split("=", 1) for line in ready.split("\n") if "=" in line)
            self.assertEqual(fields["READY"], "1")
            self.assertEqual(fields["MAINPID"], str(proc.pid))
            self.assertIn("kms1", fields["STATUS"])
            # READY means serving: the KMS port answers right away.
            class N:  # what harness.activate needs
                addr = "127.0.0.1:%d" % port
            self.assertEqual(activate(N, "--cmid", "11111111-2222-4333-8444-555555555555")["count"], 1)
            # Watchdog pings at half of 200 ms: they keep coming, and never faster than that
            # (a loaded machine can only make them later). Pings sent while the activation
            # ran wait in the socket; they are read first, so that only what the node sends
            # from now on is counted.
            s.setblocking(False)
            try:
                while True:
                    msgs.append(s.recv(4096).decode())
            except BlockingIOError:
                pass
            s.settimeout(0.2)
            start = len(msgs)
            t_start = time.monotonic()
            pings = lambda: [m for m in msgs[start:] if m.strip() == "WATCHDOG=1"]
            self.assertTrue(collect(time.time() + 30, lambda: len(pings()) >= 5), msgs[start:])
            elapsed = time.monotonic() - t_start
            self.assertLessEqual(len(pings()), elapsed / 0.1 + 2, "pings faster than every 100 ms: %s in %.2f s"
                                 % (len(pings()), elapsed))
            proc.send_signal(signal.SIGTERM)
            self.assertTrue(collect(time.time() + 10, lambda: any("STOPPING=1" in m for m in msgs)), msgs)
            self.assertEqual(proc.wait(15), 0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()
            s.close()
        with open(os.path.join(self.workdir, "kmsd.log")) as f:
            check_process_output("kmsd kms1", f.read())
        print("READY after %.2f s" % (time.time() - t0))

    def test_no_notify_socket_no_harm(self):
        n = self.node().start()
        activate(n)
        self.assertEqual(n.stop(), 0)



class JournalTests(NodeTestCase):
    """Under systemd, stderr is a stream socket to journald and JOURNAL_STREAM names it: then
    lines carry an sd-daemon <N> priority and no time of their own."""

    def run_until_ready(self, env, stderr, extra=()):
        port, admin = free_port(), free_port()
        proc = subprocess.Popen([KMSD, "--node-id", "kms1", "--listen", "127.0.0.1:%d" % port,
                                 "--admin", "127.0.0.1:%d" % admin, "--data-dir",
                                 os.path.join(self.workdir, "data")] + list(extra),
                                env=env, stdout=subprocess.DEVNULL, stderr=stderr, stdin=subprocess.DEVNULL)
        return proc

    def test_priorities_when_stderr_is_the_journal(self):
        journal, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        st = os.fstat(child.fileno())
        env = dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
        proc = self.run_until_ready(env, child.fileno())
        child.close()
        journal.settimeout(0.5)
        text = ""
        try:
            deadline = time.monotonic() + 15
            while " ready" not in text and time.monotonic() < deadline:
                try:
                    text += journal.recv(65536).decode()
                except socket.timeout:
                    pass
            self.assertIn(" ready", text)
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(15), 0)
            while True:
                chunk = journal.recv(65536).decode()
                if not chunk:
                    break
                text += chunk
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            journal.close()
        lines = [l for l in text.splitlines() if l]
        self.assertTrue(lines)
        for line in lines:
            self.assertRegex(line, r"^<[3467]>kms1 (debug|info|warn|error): ", line)
            self.assertNotRegex(line, r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", "journald adds the time itself")
        self.assertTrue(any(l.startswith("<6>kms1 info: ") for l in lines), lines)

    def log_until_ready_and_stop(self, env, extra=()):
        """Runs kmsd with stderr to a file until it is ready, stops it; returns the log."""
        log_path = os.path.join(self.workdir, "kmsd.log")
        with open(log_path, "w") as log:
            proc = self.run_until_ready(env, log, extra)
            try:
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline:
                    with open(log_path) as f:
                        if " ready" in f.read():
                            break
                    time.sleep(0.05)
                proc.send_signal(signal.SIGTERM)
                self.assertEqual(proc.wait(15), 0)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        with open(log_path) as f:
            return f.read()

    def test_inherited_journal_stream_is_not_trusted(self):
        # JOURNAL_STREAM from a parent whose stderr this is not (a redirect): plain text
        text = self.log_until_ready_and_stop(dict(os.environ, JOURNAL_STREAM="1:1"))
        self.assertRegex(text.splitlines()[0], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z kms1 info: ")

    def test_log_format_journal_setting(self):
        cfg = os.path.join(self.workdir, "journal.ini")
        with open(cfg, "w") as f:
            f.write("[node]\nlog_format = journal\n")
        env = dict(os.environ)
        env.pop("JOURNAL_STREAM", None)
        text = self.log_until_ready_and_stop(env, ["--config", cfg])
        self.assertRegex(text.splitlines()[0], r"^<6>kms1 info: ")


if __name__ == "__main__":
    main()
