#!/usr/bin/env bash
# build.sh [BUILD_DIR [CMAKE_ARGS...]]: configures and builds kmsha (default: ./build) with
# warnings as errors. Exits non-zero when the configuration, any compile or any link fails.
# KMSHA_BUILD_TARGETS="t1 t2" builds only those targets (default: all).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$root/build}
shift || true
cmake -S "$root" -B "$dir" -DKMSHA_WERROR=ON "$@" >/dev/null
targets=()
for t in ${KMSHA_BUILD_TARGETS:-}; do targets+=(--target "$t"); done
# The progress lines are dropped; the grep may select nothing, so only its own status is
# forgiven: with pipefail the pipeline's status is cmake's.
cmake --build "$dir" -j"$(nproc)" "${targets[@]}" 2>&1 | { grep -v '^\[' || true; }
