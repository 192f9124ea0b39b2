#!/usr/bin/env bash
# run.sh: installs what is missing, builds, and starts kmsd on embedded defaults in the
# foreground (KMS on 127.0.0.1:1688, admin HTTP on 127.0.0.1:8688, store under ./var,
# log on the terminal). Ctrl-C stops it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/deps.sh
bash scripts/build.sh "$root/build"
exec "$root/build/kmsd" "$@"
