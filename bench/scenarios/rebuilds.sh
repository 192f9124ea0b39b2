#!/usr/bin/env bash
# rebuilds.sh: one node of a three-node cluster wiped and rebuilt N times (default 200,
# the figure of issue 15): each round stops kms3, deletes its store, starts it (it catches
# up from the other two and resumes its update origin), activates one new client on it and
# waits until the others hold it. At the end every node must hold and count every client
# and every version vector must still hold 3 origins; prints the time per round. It is the
# suite's test (tests/integration/test_faults.py OriginTests, which runs 66 rounds: more
# than the 64 origins the vector holds) with more rounds.
#
# Usage: bench/scenarios/rebuilds.sh [ROUNDS]   (env: KMSHA_BUILD, default ./build)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export KMSHA_BUILD="${KMSHA_BUILD:-$root/build}"
export KMSHA_REBUILD_CYCLES="${1:-200}"
exec python3 "$root/tests/integration/test_faults.py" -v \
    OriginTests.test_a_node_wiped_and_rebuilt_again_and_again_serves_and_counts
