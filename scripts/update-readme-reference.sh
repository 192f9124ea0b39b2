#!/usr/bin/env bash
# update-readme-reference.sh [KMSD]: pastes `kmsd --config-reference` into README.md
# between its config-reference markers (tests/integration/test_docs.py checks it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kmsd=${1:-$root/build/kmsd}
"$kmsd" --config-reference > /tmp/kmsha-ref.$$
python3 - "$root/README.md" /tmp/kmsha-ref.$$ <<'PY'
import sys
readme, ref = sys.argv[1], open(sys.argv[2]).read()
s = open(readme).read()
b = s.index("<!-- config-reference:begin")
b = s.index("\n", b) + 1
e = s.index("<!-- config-reference:end -->")
open(readme, "w").write(s[:b] + ref + s[e:])
PY
rm -f /tmp/kmsha-ref.$$
