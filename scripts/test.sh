#!/usr/bin/env bash
# test.sh: installs what is missing, builds, and runs every test: the normal build, then
# the same suite built with ASan + UBSan. Exits non-zero when anything fails.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/deps.sh
jobs=$(nproc)

echo "== build (warnings are errors)"
bash scripts/build.sh "$root/build"
echo "== tests"
(cd build && ctest --output-on-failure -j"$jobs" --timeout 600)

echo "== build with ASan + UBSan"
bash scripts/build.sh "$root/build-asan" -DKMSHA_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
echo "== tests under ASan + UBSan"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build-asan && ctest --output-on-failure -j"$jobs" --timeout 900)
