"""The README's configuration reference is the one kmsd prints (they cannot drift apart),
and the README opens with the two commands (start, test) that .ci/run relies on."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import KMSD, ROOT, main  # noqa: E402


class DocsTests(unittest.TestCase):
    def test_config_reference_is_current(self):
        ref = subprocess.run([KMSD, "--config-reference"], capture_output=True, text=True, check=True).stdout
        with open(os.path.join(ROOT, "README.md")) as f:
            readme = f.read()
        begin = readme.index("<!-- config-reference:begin")
        begin = readme.index("\n", begin) + 1
        end = readme.index("<!-- config-reference:end -->")
        self.assertEqual(readme[begin:end], ref,
                         "README.md's configuration reference is stale: paste `kmsd --config-reference`")

    def test_ci_runs_the_readme_test_command(self):
        with open(os.path.join(ROOT, "README.md")) as f:
            head = f.read(600)
        self.assertIn("bash scripts/test.sh", head)
        with open(os.path.join(ROOT, ".ci", "run")) as f:
            self.assertIn("scripts/test.sh", f.read())


if __name__ == "__main__":
    main()
