#!/usr/bin/env bash
# test.sh: installs what is missing, builds, and runs every test: the normal build, then the
# same suite built with ASan + UBSan (Debug); runs clang's static analyzer over node/
# (scripts/analyze.sh: 81 s of CPU, one clang per file on every core); also builds Release
# and runs its unit and fuzz replay tests, and runs each libFuzzer target (clang) for a few
# seconds from a scratch copy of its corpus; last, makes the Debian packages from the
# Release build and installs them in a clean Debian root (scripts/debroot.sh). Exits
# non-zero when anything fails.
#   KMSHA_FUZZ_SECONDS  seconds per fuzz target (default 4; 0 skips the libFuzzer stage)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/deps.sh
jobs=$(nproc)
# The clean Debian root the package test installs into is made (once, cached) while the
# suites run; the package test runs last.
bash scripts/debroot.sh >"$root/debroot.log" 2>&1 &
debroot_pid=$!
fuzz_seconds=${KMSHA_FUZZ_SECONDS:-4}

echo "== build (warnings are errors)"
bash scripts/build.sh "$root/build"
echo "== clang static analyzer over node/ (fails on a use-after-free or double free)"
bash scripts/analyze.sh
echo "== tests"
(cd build && ctest --output-on-failure -j"$jobs" --timeout 600 -LE package)

echo "== Release build (warnings are errors), its unit and fuzz replay tests"
# for /usr: the package test (last) makes the Debian packages from this build
bash scripts/build.sh "$root/build-release" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr
(cd build-release && ctest --output-on-failure -j"$jobs" --timeout 600 -R '^(unit|fuzz)\.')

echo "== build with ASan + UBSan (Debug)"
bash scripts/build.sh "$root/build-asan" -DKMSHA_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
echo "== tests under ASan + UBSan"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# test_build checks scripts/build.sh itself (it builds a copy with the default compiler):
# nothing of it runs under the sanitizers, so it runs once, above.
(cd build-asan && ctest --output-on-failure -j"$jobs" --timeout 900 -LE package -E '^integration\.test_build$')

if [ "$fuzz_seconds" -gt 0 ]; then
  echo "== clang + libFuzzer: each fuzz target for ${fuzz_seconds} s"
  targets=$(cd tests/fuzz && ls fuzz_*.c | sed 's/\.c$//')
  CC=clang KMSHA_BUILD_TARGETS="$targets" bash scripts/build.sh "$root/build-fuzz" -DKMSHA_LIBFUZZER=ON
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  for t in $targets; do
    # A scratch copy: libFuzzer adds what it finds to its first corpus directory.
    mkdir "$scratch/$t"
    cp tests/fuzz/corpus/"$t"/* "$scratch/$t/"
    if ! build-fuzz/tests/"$t" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 \
         -artifact_prefix="$scratch/$t-" "$scratch/$t" >"$scratch/$t.log" 2>&1; then
      tail -n 60 "$scratch/$t.log"
      mkdir -p build-fuzz/findings
      cp "$scratch/$t"-* build-fuzz/findings/ 2>/dev/null || true
      echo "fuzz: $t failed (inputs kept in build-fuzz/findings/; replay: build-fuzz/tests/$t FILE)" >&2
      exit 1
    fi
    echo "fuzz: $t: $(grep -E '^#[0-9]+[[:space:]]+DONE' "$scratch/$t.log" | tail -n 1)"
  done
fi
echo "== Debian packages: cpack, lintian, install in a clean Debian root"
wait "$debroot_pid" || true
cat "$root/debroot.log"
(cd build && KMSHA_PKG_BUILD="$root/build-release" ctest --output-on-failure --timeout 900 -L package)
echo "== all tests passed"
