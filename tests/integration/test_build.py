"""scripts/build.sh fails loudly: on a copy of the source tree, a file that does not compile
or a program that does not link makes it exit non-zero (a broken tree must never be tested
with the previous binaries). Builds only small targets (KMSHA_BUILD_TARGETS) to stay cheap."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ROOT, main  # noqa: E402


def copy_tree(dst):
    """The source tree without build directories, run-time state or git metadata."""
    def ignore(d, names):
        if os.path.abspath(d) == ROOT:
            return [n for n in names if n.startswith("build") or n in (".git", "var")]
        return [n for n in names if n == "__pycache__"]
    shutil.copytree(ROOT, dst, ignore=ignore)


class BuildScriptTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="kmsha-build-")
        cls.src = os.path.join(cls.dir, "src")
        copy_tree(cls.src)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def build(self, *targets):
        env = dict(os.environ, KMSHA_BUILD_TARGETS=" ".join(targets))
        p = subprocess.run(["bash", os.path.join(self.src, "scripts", "build.sh"), os.path.join(self.dir, "b")],
                           capture_output=True, text=True, env=env, timeout=600)
        return p.returncode, p.stdout + p.stderr

    def write(self, rel, text, append=False):
        with open(os.path.join(self.src, rel), "a" if append else "w") as f:
            f.write(text)

    def test_a_compile_error_fails_the_build(self):
        rc, out = self.build("kmsproto")
        self.assertEqual(rc, 0, out)  # the copy builds: what follows is the broken file's doing
        with open(os.path.join(self.src, "CMakeLists.txt")) as f:
            listed = f.read()
        victim = next(os.path.join("proto", n) for n in sorted(os.listdir(os.path.join(self.src, "proto")))
                      if n.endswith(".c") and "proto/" + n in listed)
        with open(os.path.join(self.src, victim)) as f:
            original = f.read()
        self.write(victim, "\n/* deliberately broken */\nint zz_broken(void) { return }\n", append=True)
        try:
            rc, out = self.build("kmsproto")
        finally:
            self.write(victim, original)
        self.assertNotEqual(rc, 0, "build.sh exited 0 after a failed compile:\n" + out)
        self.assertIn(os.path.basename(victim), out)

    def test_a_link_error_fails_the_build(self):
        rel = os.path.join("tests", "tools", "replpoke.c")
        with open(os.path.join(self.src, rel)) as f:
            original = f.read()
        rc, out = self.build("replpoke")
        self.assertEqual(rc, 0, out)
        # Compiles cleanly (-Wall -Wextra -Werror), calls a function that exists nowhere.
        self.write(rel, "\nvoid kmsha_no_such_function(void);\n"
                        "__attribute__((constructor)) static void kmsha_broken_link(void) { kmsha_no_such_function(); }\n",
                   append=True)
        try:
            rc, out = self.build("replpoke")
        finally:
            self.write(rel, original)
        self.assertNotEqual(rc, 0, "build.sh exited 0 after a failed link:\n" + out)
        self.assertIn("kmsha_no_such_function", out)


if __name__ == "__main__":
    main()
