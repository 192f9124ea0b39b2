"""test_package.py: the Debian packages as an administrator gets them.

Configures and builds the tree for /usr (Release) in BUILD/pkgtest, runs `cpack -G DEB`,
checks the two packages with lintian (no errors), then installs them with dpkg in a clean
Debian 12 root (made once by scripts/debroot.sh, no network here) and checks there what
the operations guide promises: kmsd and kmsctl in /usr/bin with --version, the unit,
sysusers and tmpfiles entries where systemd reads them, the kmsha user, the man pages
(read with man), the guide with working links, and `kmsd --check-config` accepting the
shipped examples. Skipped, with the reason, where the root cannot be had (not root, no
debootstrap or mirror when debroot.sh ran) or for a sanitizer build.
"""
import glob
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import BUILD, ROOT

ROOT_TAR = os.environ.get("KMSHA_DEBROOT", "/var/cache/kmsha-tests/bookworm-root.tar")


def sanitized_build():
    try:
        with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
            return "KMSHA_SANITIZE:BOOL=ON" in f.read()
    except OSError:
        return False


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=kw.pop("timeout", 600), **kw)


@unittest.skipIf(sanitized_build(), "packages are built from the normal build, not the sanitizer one")
class PackageTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for tool in ("cpack", "dpkg-deb", "lintian"):
            if not shutil.which(tool):
                raise unittest.SkipTest("%s is not installed (scripts/deps.sh installs it)" % tool)
        # scripts/test.sh hands over its Release build (configured for /usr); run alone,
        # the test configures its own
        cls.pkgbuild = os.environ.get("KMSHA_PKG_BUILD") or os.path.join(BUILD, "pkgtest")
        p = run(["cmake", "-S", ROOT, "-B", cls.pkgbuild, "-DCMAKE_BUILD_TYPE=Release",
                 "-DCMAKE_INSTALL_PREFIX=/usr", "-DKMSHA_WERROR=ON"])
        assert p.returncode == 0, p.stdout + p.stderr
        p = run(["cmake", "--build", cls.pkgbuild, "-j%d" % (os.cpu_count() or 2),
                 "--target", "kmsd", "kmsctl", "kmsbench", "kmsbench-disk", "kmsbench-floor", "manpages",
                 "changelog-kmsha", "changelog-kmsha-bench"], timeout=1200)
        assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
        for old in glob.glob(os.path.join(cls.pkgbuild, "*.deb")):
            os.unlink(old)
        p = run(["cpack", "-G", "DEB"], cwd=cls.pkgbuild, timeout=1200)
        assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
        cls.debs = sorted(glob.glob(os.path.join(cls.pkgbuild, "*.deb")))

    def deb(self, name):
        for d in self.debs:
            if os.path.basename(d).startswith(name + "_"):
                return d
        self.fail("no %s package among %s" % (name, self.debs))

    def test_names_and_version(self):
        with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
            version = re.search(r"project\(kmsha VERSION ([0-9.]+)", f.read())
        self.assertTrue(version)
        names = sorted(os.path.basename(d) for d in self.debs)
        arch = run(["dpkg", "--print-architecture"]).stdout.strip()
        self.assertEqual(names, ["kmsha-bench_%s_%s.deb" % (version.group(1), arch),
                                 "kmsha_%s_%s.deb" % (version.group(1), arch)])
        p = run([os.path.join(self.pkgbuild, "kmsd"), "--version"])
        self.assertEqual(p.stdout.strip(), "kmsd " + version.group(1))

    def test_lintian_reports_no_error(self):
        p = run(["lintian", "--tag-display-limit", "0"] + self.debs)
        errors = [l for l in p.stdout.splitlines() if l.startswith("E:")]
        self.assertEqual(errors, [], p.stdout)

    def test_contents_where_debian_reads_them(self):
        listing = run(["dpkg-deb", "-c", self.deb("kmsha")]).stdout
        for path in ["./usr/bin/kmsd", "./usr/bin/kmsctl", "./lib/systemd/system/kmsd@.service",
                     "./usr/lib/sysusers.d/kmsha.conf", "./usr/lib/tmpfiles.d/kmsha.conf",
                     "./etc/logrotate.d/kmsha", "./usr/share/man/man8/kmsd.8.gz",
                     "./usr/share/man/man8/kmsctl.8.gz", "./usr/share/man/man5/kmsha.ini.5.gz",
                     "./usr/share/bash-completion/completions/kmsctl", "./usr/share/doc/kmsha/README.md",
                     "./usr/share/doc/kmsha/examples/three-sites.ini",
                     "./usr/share/doc/kmsha/examples/dns/named.conf.example",
                     "./usr/share/doc/kmsha/examples/prometheus/alerts.yml"]:
            self.assertIn(" " + path + "\n", listing + "\n")
        self.assertNotIn("x86_64-linux-gnu/sysusers.d", listing)
        self.assertNotIn("kmsbench", listing, "bench tools belong to kmsha-bench")
        bench = run(["dpkg-deb", "-c", self.deb("kmsha-bench")]).stdout
        self.assertIn("./usr/lib/kmsha/kmsbench-floor", bench)
        self.assertNotIn("./usr/bin/kmsbench-floor", bench)
        depends = run(["dpkg-deb", "-f", self.deb("kmsha"), "Depends"]).stdout
        for lib in ["libevent-2.1-7", "libzmq5", "liblmdb0", "libc-ares2", "libssl3"]:
            self.assertIn(lib, depends)

    def test_installs_in_a_clean_root(self):
        if os.geteuid() != 0:
            self.skipTest("installing in a chroot needs root")
        if not os.path.exists(ROOT_TAR):
            self.skipTest("no clean Debian root at %s: scripts/debroot.sh makes it (needs debootstrap and "
                          "the Debian mirror)" % ROOT_TAR)
        tmp = tempfile.mkdtemp(prefix="kmsha-pkg-")
        root = os.path.join(tmp, "root")
        proc = os.path.join(root, "proc")
        try:
            os.mkdir(root)
            p = run(["tar", "-C", root, "-xf", ROOT_TAR])
            self.assertEqual(p.returncode, 0, p.stderr)
            # as on a running system (systemd-tmpfiles in postinst needs /proc)
            p = run(["mount", "-t", "proc", "proc", proc])
            self.assertEqual(p.returncode, 0, p.stderr)
            for d in self.debs:
                shutil.copy(d, os.path.join(root, "tmp"))
            names = ["/tmp/" + os.path.basename(d) for d in self.debs]
            p = run(["chroot", root, "dpkg", "-i"] + names)
            self.assertEqual(p.returncode, 0, "dpkg -i failed in the clean root:\n" + p.stdout + p.stderr)

            def sh(cmd):
                return run(["chroot", root, "sh", "-c", cmd])

            p = sh("kmsd --version && kmsctl --version && kmsbench --version && /usr/lib/kmsha/kmsbench-floor --version")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertRegex(p.stdout, r"kmsd [0-9.]+\nkmsctl [0-9.]+\nkmsbench [0-9.]+\nkmsbench-floor [0-9.]+")
            self.assertEqual(sh("getent passwd kmsha").returncode, 0, "postinst did not create the kmsha user")
            p = sh("stat -c '%a %U %G' /etc/kmsha/keys")
            self.assertEqual(p.stdout.strip(), "750 root kmsha")
            for example, node in [("single-node.ini", "kms1"), ("three-sites.ini", None)]:
                path = "/usr/share/doc/kmsha/examples/" + example
                if node is None:
                    with open(os.path.join(ROOT, "ops", "examples", example)) as f:
                        ids = re.findall(r"^\[peer\.([^\]]+)\]", f.read(), re.M)
                    self.assertTrue(ids)
                    node = ids[0]
                p = sh("kmsd --check-config %s --node-id %s" % (path, node))
                self.assertEqual(p.returncode, 0, "%s: %s%s" % (example, p.stdout, p.stderr))
            # a broken copy is refused, naming file, line and key
            p = sh("sed 's/^activation_interval = .*/activation_interval = 7/' "
                   "/usr/share/doc/kmsha/examples/single-node.ini > /tmp/bad.ini; kmsd --check-config /tmp/bad.ini")
            self.assertNotEqual(p.returncode, 0)
            self.assertRegex(p.stdout + p.stderr, r"/tmp/bad\.ini:\d+: \[kms\] activation_interval")
            # the manual pages, as `man` shows them
            for page, want in [("kmsd", "clustered KMS activation host"), ("kmsctl", "dns check"),
                               ("kmsha.ini", "allow_products"), ("kmsbench", "kmsbench")]:
                p = sh("MANWIDTH=100 man -P cat %s 2>&1" % page)
                self.assertEqual(p.returncode, 0, page + ": " + p.stdout)
                self.assertIn(want, p.stdout.replace("\u2010", "-"))
            # the installed guide's relative links point at installed files
            doc = os.path.join(root, "usr/share/doc/kmsha")
            with open(os.path.join(doc, "README.md")) as f:
                guide = f.read()
            links = [l for l in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", guide) if "://" not in l]
            self.assertTrue(links)
            for link in links:
                self.assertTrue(os.path.exists(os.path.join(doc, link)), "installed guide links to missing " + link)
            # the unit names the installed kmsd and verifies against the installed man pages
            with open(os.path.join(root, "lib/systemd/system/kmsd@.service")) as f:
                unit = f.read()
            self.assertIn("ExecStart=/usr/bin/kmsd ", unit)
            self.assertIn("man:kmsd(8)", unit)
            p = run(["chroot", root, "dpkg", "-r", "kmsha-bench", "kmsha"])
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        finally:
            if os.path.ismount(proc):
                run(["umount", "-l", proc])
            if not os.path.ismount(proc):  # never remove through a mounted /proc
                shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
