# common.sh: shared by the bench scenarios (sourced, not run). Finds the binaries, makes a
# temporary directory that is removed on exit, starts kmsd / kmsbench-floor on loopback
# addresses (127.0.0.0/8 only) with free high ports, and reads figures from JSON and /proc.
# shellcheck shell=bash disable=SC2034  # (KMSD_*, FLOOR_* are used by the scenarios)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BUILD="${KMSHA_BUILD:-$ROOT/build}"
KMSD="$BUILD/kmsd"
KMSBENCH="$BUILD/kmsbench"
FLOOR="$BUILD/kmsbench-floor"
DISKMODEL="$BUILD/kmsbench-disk"
for b in "$KMSD" "$KMSBENCH" "$FLOOR" "$DISKMODEL"; do
    if [ ! -x "$b" ]; then
        echo "missing $b: build first (cmake --build $BUILD) or set KMSHA_BUILD" >&2
        exit 2
    fi
done

# BENCH_NET: the first three octets of the loopback addresses the servers listen on
# (127.0.0 by default; a shared machine gives each person a range, e.g. 127.0.18).
BENCH_NET="${BENCH_NET:-127.0.0}"
case "$BENCH_NET" in
127.*.*) ;;
*) echo "BENCH_NET must be a loopback prefix like 127.0.0" >&2; exit 2 ;;
esac

WORK="$(mktemp -d "${TMPDIR:-/tmp}/kmsha-bench.XXXXXX")"
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]:-}"; do
        if [ -n "$p" ]; then kill "$p" 2>/dev/null || true; fi
    done
    for p in "${PIDS[@]:-}"; do
        if [ -n "$p" ]; then wait "$p" 2>/dev/null || true; fi
    done
    if [ -n "${KMSHA_KEEP:-}" ]; then
        echo "(kept $WORK)" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port HOST: a TCP port nobody listens on now.
free_port() {
    python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1]); s.close()' "$1"
}

# start_kmsd NAME HOST [extra ini lines...]: starts a node in $WORK/NAME with persistence
# on (the default store, group commit, audit log). Sets KMSD_PID, KMSD_ADDR, KMSD_ADMIN.
# Every connection of the load generator comes from one address, so the per-address
# connection limit (64 by default, meant for a campus) is raised.
start_kmsd() {
    local name="$1" host="$2"
    shift 2
    local dir="$WORK/$name"
    mkdir -p "$dir"
    {
        echo "[limits]"
        echo "max_connections_per_address = 100000"
        echo "max_connections = 100000"
        local line
        for line in "$@"; do echo "$line"; done
        # KMSD_CONFIG_EXTRA: more INI text for experiments, e.g. $'[store]\ncommit_delay_ms = 0'
        if [ -n "${KMSD_CONFIG_EXTRA:-}" ]; then printf '%s\n' "$KMSD_CONFIG_EXTRA"; fi
    } > "$dir/kmsd.ini"
    local port admin
    port="$(free_port "$host")"
    admin="$(free_port "$host")"
    "$KMSD" --config "$dir/kmsd.ini" --node-id "$name" --listen "$host:$port" \
        --admin "$host:$admin" --data-dir "$dir/data" > "$dir/kmsd.log" 2>&1 &
    KMSD_PID=$!
    PIDS+=("$KMSD_PID")
    KMSD_ADDR="$host:$port"
    KMSD_ADMIN="$host:$admin"
    for _ in $(seq 1 200); do
        # our own process must be the one listening (a port can be taken in between)
        check_alive "$KMSD_PID" "$dir/kmsd.log" "kmsd $name"
        if grep -q "listening for KMS on $KMSD_ADDR" "$dir/kmsd.log" &&
            curl -sf "http://$KMSD_ADMIN/healthz" > /dev/null 2>&1; then
            return 0
        fi
        sleep 0.05
    done
    echo "kmsd $name not healthy:" >&2
    cat "$dir/kmsd.log" >&2
    return 1
}

# stop_pid PID: SIGTERM and wait.
stop_pid() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# check_alive PID LOG NAME: fails the scenario, with the end of LOG, when PID has died.
check_alive() {
    if ! kill -0 "$1" 2>/dev/null; then
        echo "$3 (pid $1) died; end of its log:" >&2
        tail -20 "$2" >&2
        exit 1
    fi
}

# start_floor HOST: starts kmsbench-floor. Sets FLOOR_PID, FLOOR_ADDR.
start_floor() {
    local host="$1" port
    port="$(free_port "$host")"
    "$FLOOR" --listen "$host:$port" > "$WORK/floor.log" 2>&1 &
    FLOOR_PID=$!
    PIDS+=("$FLOOR_PID")
    FLOOR_ADDR="$host:$port"
    for _ in $(seq 1 200); do
        check_alive "$FLOOR_PID" "$WORK/floor.log" kmsbench-floor
        grep -q "listening on" "$WORK/floor.log" && return 0
        sleep 0.05
    done
    echo "kmsbench-floor does not listen" >&2
    return 1
}

# jget FILE EXPR: a value from a JSON file (EXPR is Python over `d`, e.g. d["latency_ms"]["p99"]).
jget() {
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# cpu_ticks PID: utime+stime of a process in clock ticks.
cpu_ticks() {
    awk '{print $14 + $15}' "/proc/$1/stat"
}

# proc_kb PID FIELD: a field of /proc/PID/status in kB (VmRSS, RssAnon, RssFile, VmHWM).
proc_kb() {
    awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"
}

# fsync_probe DIR: latency of a 4 KB write + fdatasync in DIR (200 times), the price of a
# durable commit on this disk.
fsync_probe() {
    python3 - "$1" <<'PY'
import os, sys, time
path = os.path.join(sys.argv[1], "fsync-probe")
fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
ts = []
for i in range(200):
    os.pwrite(fd, b"x" * 4096, (i % 64) * 4096)
    t = time.perf_counter()
    os.fdatasync(fd)
    ts.append((time.perf_counter() - t) * 1000)
os.close(fd)
os.unlink(path)
ts.sort()
print("disk: 4 KB write + fdatasync p50 %.2f ms, p90 %.2f ms, p99 %.2f ms" % (ts[100], ts[180], ts[198]))
PY
}

# load_line: the machine's load, printed with each run (a shared machine skews rates; only
# ratios taken within one run compare).
load_line() {
    echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at $(date -u +%H:%M:%S) UTC"
}

# find_kmsload [PATH]: the independent minimal load generator (../shared/tools/loadgen's
# kmsload, built outside the repository: cc -O2 -o /tmp/kmsload kmsload.c), from the
# argument or $KMSLOAD. Sets KMSLOAD and LOADGEN_DIR (where gen_requests.py is: $LOADGEN_DIR,
# else beside the binary, else ../shared/tools/loadgen). Fails with how to get it.
find_kmsload() {
    KMSLOAD="${1:-${KMSLOAD:-}}"
    if [ -z "$KMSLOAD" ] || [ ! -x "$KMSLOAD" ]; then
        echo "this scenario measures with the independent minimal load generator kmsload:" >&2
        echo "  cc -O2 -o /tmp/kmsload ../shared/tools/loadgen/kmsload.c" >&2
        echo "  KMSLOAD=/tmp/kmsload LOADGEN_DIR=../shared/tools/loadgen $0   (or give the path as argument)" >&2
        exit 2
    fi
    if [ -z "${LOADGEN_DIR:-}" ]; then
        for d in "$(dirname "$KMSLOAD")" "$ROOT/../shared/tools/loadgen"; do
            if [ -f "$d/gen_requests.py" ]; then LOADGEN_DIR="$d"; break; fi
        done
    fi
    if [ -z "${LOADGEN_DIR:-}" ] || [ ! -f "$LOADGEN_DIR/gen_requests.py" ]; then
        echo "gen_requests.py not found: set LOADGEN_DIR to the loadgen directory" >&2
        exit 2
    fi
}

# make_requests N FILE: N fresh exchanges for kmsload (distinct CMIDs, the time of now: a
# host refuses a client clock more than 4 h off, so they are made just before the run).
# KMSLOAD_REQUESTS=FILE reuses a file made so (less than 4 h old) instead.
make_requests() {
    if [ -n "${KMSLOAD_REQUESTS:-}" ]; then
        cp "$KMSLOAD_REQUESTS" "$2"
        return
    fi
    python3 "$LOADGEN_DIR/gen_requests.py" "$1" "$2" 6
}

# kmsload_run ADDR CONC SECONDS REQFILE OUT: one closed-loop run; OUT gets kmsload's line
# ("ok= fail= rate=/s p50_us= p99_us= max_us=").
kmsload_run() {
    "$KMSLOAD" "${1%:*}" "${1##*:}" "$2" "$3" "$4" > "$5" 2>&1 || true
}

# kv FILE KEY: a value of kmsload's line (rate without "/s").
kv() {
    sed -n "s/.*\b$2=\([0-9.]*\).*/\1/p" "$1" | head -1
}

machine_line() {
    echo "machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'))," \
         "$(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo) RAM, kernel $(uname -r);" \
         "load generator on the same machine"
}
