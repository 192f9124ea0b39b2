"""The harness fails a test whose nodes went wrong: a sanitizer report (ASan, UBSan, LSan) in
a node's log, a node that exited by itself, a node that did not exit 0 on SIGTERM at
teardown. The nodes here are stand-in processes (sh) that write such a log and end that
way, run through the harness's real Node and NodeTestCase; each case's inner test is run by
unittest and must end as an error (or pass, for the clean cases). The ASan suite
(scripts/test.sh) checks the same path with real kmsd processes."""
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import NodeTestCase, main, sanitizer_reports  # noqa: E402

ASAN = """=================================================================
==4242==ERROR: AddressSanitizer: heap-use-after-free on address 0x602000000010 at pc 0x55d0 bp 0x7ffc sp 0x7ffc
READ of size 1 at 0x602000000010 thread T0
    #0 0x55d0 in kms_decode_request proto/kms.c:123
SUMMARY: AddressSanitizer: heap-use-after-free proto/kms.c:123 in kms_decode_request"""
UBSAN = "node/count.c:77:12: runtime error: signed integer overflow: 2147483647 + 1 cannot be represented in type 'int'"
LSAN = """=================================================================
==4242==ERROR: LeakSanitizer: detected memory leaks

Direct leak of 64 byte(s) in 1 object(s) allocated from:
    #0 0x7f00 in malloc
SUMMARY: AddressSanitizer: 64 byte(s) leaked in 1 allocation(s)."""


def fake_kmsd(report="", exit_on_term=0, exit_now=None):
    """A wrapper that stands in for kmsd: logs like a node, optionally a sanitizer report,
    then either exits at once with exit_now or waits for SIGTERM and exits exit_on_term."""
    script = ""
    if exit_now is None:
        script += "trap 'exit %d' TERM; " % exit_on_term
    script += 'printf "%s\\n" "$1" >&2; echo "kmsd info: ready"; '
    if exit_now is not None:
        script += "exit %d" % exit_now
    else:
        script += "while :; do sleep 0.05; done"
    return ["sh", "-c", script, "fake-kmsd", report]


def started(n):
    """Starts the stand-in and waits until it has written its log."""
    n.start(wait=False)
    deadline = time.monotonic() + 30
    while "kmsd info: ready" not in n.read_log():
        if time.monotonic() > deadline:
            raise AssertionError("the stand-in node did not start: " + n.read_log())
        time.sleep(0.02)
    return n


def run_inner(body):
    """Runs body(case) as the test of a NodeTestCase; returns the unittest result."""
    class Inner(NodeTestCase):
        def runTest(self):
            body(self)
    result = unittest.TestResult()
    Inner().run(result)
    return result


def problems(result):
    return "\n".join(text for _, text in result.errors + result.failures)


class HarnessTests(unittest.TestCase):
    def start(self, case, **kw):
        return started(case.node(node_id="fake1", wrapper=fake_kmsd(**kw)))

    def assertFailsWith(self, body, *needles):
        result = run_inner(body)
        self.assertFalse(result.wasSuccessful(), "the harness passed a test whose node went wrong")
        for needle in needles:
            self.assertIn(needle, problems(result))

    def test_finds_the_sanitizer_reports(self):
        self.assertEqual(len(sanitizer_reports("x\n" + ASAN + "\n" + UBSAN + "\n" + LSAN)), 3)
        self.assertEqual(sanitizer_reports("kms1 info: started\nkms1 warn: a runtime warning\n"), [])

    def test_address_sanitizer_report_fails_the_test(self):
        self.assertFailsWith(lambda case: self.start(case, report=ASAN), "ERROR: AddressSanitizer: heap-use-after-free",
                             "kms_decode_request")

    def test_undefined_behaviour_report_fails_the_test(self):
        self.assertFailsWith(lambda case: self.start(case, report=UBSAN), "runtime error: signed integer overflow")

    def test_leak_report_fails_the_test(self):
        self.assertFailsWith(lambda case: self.start(case, report=LSAN), "ERROR: LeakSanitizer")

    def test_a_report_of_a_node_the_test_killed_fails_the_test(self):
        def body(case):
            n = self.start(case, report=ASAN)
            case.assertEqual(n.kill9(), -signal.SIGKILL)
        self.assertFailsWith(body, "ERROR: AddressSanitizer")

    def test_a_node_that_exits_by_itself_fails_the_test(self):
        def body(case):
            n = self.start(case, exit_now=3)
            n.proc.wait(10)  # the test looks at the process, not at the node's exit
        self.assertFailsWith(body, "kmsd fake1 exited by itself with status 3")

    def test_a_node_restarted_after_an_unexpected_exit_fails_the_test(self):
        def body(case):
            n = self.start(case, exit_now=1)
            n.proc.wait(10)
            n.wrapper = fake_kmsd()
            started(n)
        self.assertFailsWith(body, "kmsd fake1 exited by itself with status 1")

    def test_a_failed_shutdown_at_teardown_fails_the_test(self):
        self.assertFailsWith(lambda case: self.start(case, exit_on_term=1),
                             "kmsd fake1 exited with status 1 on SIGTERM (expected 0)")

    def test_clean_nodes_and_expected_exits_pass(self):
        def body(case):
            self.start(case)  # stopped by the teardown, exits 0
            n = started(case.node(node_id="fake2", wrapper=fake_kmsd(exit_now=2)))
            case.assertEqual(n.wait_exit(), 2)  # the test expected this exit
            k = started(case.node(node_id="fake3", wrapper=fake_kmsd()))
            case.assertEqual(k.kill9(), -signal.SIGKILL)
        result = run_inner(body)
        self.assertTrue(result.wasSuccessful(), problems(result))


if __name__ == "__main__":
    main()
