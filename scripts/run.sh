#!/usr/bin/env bash
# run.sh: installs what is missing, builds, and starts a three-node kmsha cluster on
# embedded defaults: nodes kms1, kms2, kms3 on 127.0.0.1, 127.0.0.2, 127.0.0.3 (KMS on port
# 1688, admin HTTP on 8688, replication on 7001/7002), stores under ./var/kmsN, logs on the
# terminal. Ctrl-C stops all three (each finishes its in-flight requests first).
# `scripts/run.sh --single` starts one node on 127.0.0.1:1688 instead.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/deps.sh
bash scripts/build.sh "$root/build"
if [ "${1:-}" = "--single" ]; then
  shift
  exec "$root/build/kmsd" "$@"
fi
pids=()
stop() { kill -TERM "${pids[@]}" 2>/dev/null || true; wait "${pids[@]}" 2>/dev/null || true; }
trap stop INT TERM
for id in kms1 kms2 kms3; do
  "$root/build/kmsd" --local-cluster --node-id "$id" "$@" &
  pids+=($!)
done
echo "run.sh: cluster up; try: build/kmsctl activate 127.0.0.2 ; build/kmsctl status --cluster" >&2
wait -n "${pids[@]}" || true
stop
