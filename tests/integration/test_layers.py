"""test_layers.py: the layers point down only. proto/ (pure codecs) <- replication/ (the
replicated record store and its transport) <- node/ (the daemon) <- ops/kmsctl/ and bench/
(tools). Every `#include "dir/..."` in a layer's sources must name its own layer or a lower
one; bench/ may use ops/kmsctl/'s blocking helpers, ops/ never includes bench/. Also checks
that every .c file of a layer is in CMakeLists.txt's explicit source lists.
"""
import os
import re
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RANK = {"proto": 0, "replication": 1, "node": 2, "ops": 3, "bench": 4}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"/]+)/', re.M)
# Upward includes that remain to be removed; each entry is a file that still includes a
# higher layer. Keep this empty.
KNOWN_UPWARD = set()


def layer_files():
    for top in RANK:
        for dirpath, _, names in os.walk(os.path.join(ROOT, top)):
            for name in names:
                if name.endswith((".c", ".h")):
                    path = os.path.join(dirpath, name)
                    yield top, os.path.relpath(path, ROOT)


def upward_includes(top, rel):
    text = open(os.path.join(ROOT, rel), encoding="utf-8").read()
    bad = []
    for target in INCLUDE.findall(text):
        if target not in RANK:
            continue
        if RANK[target] > RANK[top]:
            bad.append(target)
    return bad


class Layers(unittest.TestCase):
    def test_no_upward_include(self):
        found = {}
        for top, rel in layer_files():
            bad = upward_includes(top, rel)
            if bad:
                found[rel] = bad
        unexpected = {k: v for k, v in found.items() if k not in KNOWN_UPWARD}
        self.assertEqual(unexpected, {}, "files including a higher layer")
        stale = KNOWN_UPWARD - set(found)
        self.assertEqual(stale, set(), "KNOWN_UPWARD lists files that no longer include upward")

    def test_checker_sees_an_upward_include(self):
        # the checker itself: a proto file including node/ is reported
        self.assertEqual(upward_includes("proto", "tests/integration/test_layers.py"), [])
        self.assertEqual(RANK["proto"] < RANK["node"], True)
        text = '#include "node/node.h"\n#include "proto/kms.h"\n'
        self.assertEqual([t for t in INCLUDE.findall(text) if RANK[t] > RANK["proto"]], ["node"])

    def test_every_source_is_listed(self):
        cmake = open(os.path.join(ROOT, "CMakeLists.txt")).read()
        cmake += open(os.path.join(ROOT, "bench", "CMakeLists.txt")).read()
        missing = []
        for top, rel in layer_files():
            if rel.endswith(".c") and rel not in cmake and os.path.basename(rel) not in cmake:
                missing.append(rel)
        self.assertEqual(missing, [], "sources not in any CMake source list")


if __name__ == "__main__":
    unittest.main()
