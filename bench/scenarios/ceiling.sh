#!/usr/bin/env bash
# ceiling.sh: peak activations/s of one kmsd with persistence on (closed loop, several
# concurrency levels), the same runs against kmsbench-floor (accept + canned bytes + close),
# kmsd's peak as a fraction of the floor's (target >= 80%), then a CPU profile of kmsd at
# its best level: perf when it can sample on this machine, else valgrind --tool=callgrind.
#
# The machine may be shared: each level runs REPEAT times, kmsd and floor alternating, and
# the peak is the best run of each (interference can only lower a rate).
#
# Every kmsd run starts from the same store: a copy of one seeded with STORE_RECORDS client
# records (a campus-sized store), so the levels compare under equal conditions instead of
# each later run paying for a store the earlier runs grew (every activation of the runs is
# a new client, so each run adds its activations to that store).
#
# Usage: bench/scenarios/ceiling.sh        (env: LEVELS="32 64 128 256 512" SECONDS_PER_LEVEL=10
#                                            WARMUP=2 REPEAT=2 STORE_RECORDS=100000
#                                            PROFILE=auto|perf|callgrind|none)
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

LEVELS="${LEVELS:-32 64 128 256 512}"
DUR="${SECONDS_PER_LEVEL:-10}"
WARMUP="${WARMUP:-2}"
REPEAT="${REPEAT:-2}"
PROFILE="${PROFILE:-auto}"
STORE_RECORDS="${STORE_RECORDS:-100000}"
TCK="$(getconf CLK_TCK)"
KMSSEED="$BUILD/kmsseed"

echo "== ceiling: one kmsd (persistence on) against kmsbench-floor =="
machine_line
fsync_probe "$WORK"
"$KMSSEED" --data-dir "$WORK/seed" --node-id kms1 --records "$STORE_RECORDS" > "$WORK/seed.log" 2>&1 ||
    { cat "$WORK/seed.log" >&2; exit 1; }
# fresh_kmsd: (re)starts kms1 on a fresh copy of the seeded store.
fresh_kmsd() {
    if [ -n "${KMSD_PID:-}" ]; then stop_pid "$KMSD_PID"; fi
    rm -rf "$WORK/kms1/data"
    mkdir -p "$WORK/kms1"
    cp -r "$WORK/seed" "$WORK/kms1/data"
    sync # or the first commit would flush the whole copy
    start_kmsd kms1 127.0.0.2
}
fresh_kmsd
start_floor 127.0.0.3
echo "kmsd at $KMSD_ADDR (data $WORK/kms1/data), floor at $FLOOR_ADDR"
echo "each level: closed loop, ${WARMUP} s warm-up + ${DUR} s measured, ${REPEAT} times; every activation a new client;"
echo "each kmsd run starts from a copy of the same store of $STORE_RECORDS records"
echo

store_counters() { # "commits records_written" of the node
    curl -s "http://$KMSD_ADMIN/status" |
        python3 -c 'import json,sys; s=json.load(sys.stdin)["store"]; print(s["commits"], s["records_written"])'
}
printf "%-6s | %10s %8s %8s %6s %9s %9s | %10s %8s %8s %6s | %s\n" "conc" "kmsd/s" "p50 ms" "p99 ms" \
    "fail" "kmsd CPU" "rec/commit" "floor/s" "p50 ms" "p99 ms" "fail" "kmsd/floor"
best_k=0; best_k_level=0; best_f=0
seed=100
for rep in $(seq 1 "$REPEAT"); do
for c in $LEVELS; do
    seed=$((seed + 1))
    kj="$WORK/kmsd-c$c-$rep.json"; fj="$WORK/floor-c$c-$rep.json"
    fresh_kmsd
    read -r c0 w0 < <(store_counters)
    t0="$(cpu_ticks "$KMSD_PID")"
    "$KMSBENCH" --no-progress -c "$c" --warmup "$WARMUP" -d "$DUR" --clients 100000000 \
        --seed "$seed" --json "$kj" "$KMSD_ADDR" > "$WORK/kmsd-c$c-$rep.txt" || true
    t1="$(cpu_ticks "$KMSD_PID")"
    read -r c1 w1 < <(store_counters)
    "$KMSBENCH" --no-progress -c "$c" --warmup "$WARMUP" -d "$DUR" --clients 100000000 \
        --seed "$seed" --no-verify --json "$fj" "$FLOOR_ADDR" > "$WORK/floor-c$c-$rep.txt" || true
    kr="$(jget "$kj" 'round(d["activations_per_s"])')"
    fr="$(jget "$fj" 'round(d["activations_per_s"])')"
    cpu="$(python3 -c "print('%.0f%%' % (100.0 * ($t1 - $t0) / $TCK / ($DUR + $WARMUP)))")"
    per_commit="$(python3 -c "print('%.1f' % (($w1 - $w0) / ($c1 - $c0)) if $c1 > $c0 else '-')")"
    printf "%-6s | %10s %8s %8s %6s %9s %9s | %10s %8s %8s %6s | %s\n" "$c" "$kr" \
        "$(jget "$kj" 'd["latency_ms"]["p50"]')" "$(jget "$kj" 'd["latency_ms"]["p99"]')" \
        "$(jget "$kj" 'd["failed"]')" "$cpu" "$per_commit" "$fr" \
        "$(jget "$fj" 'd["latency_ms"]["p50"]')" "$(jget "$fj" 'd["latency_ms"]["p99"]')" \
        "$(jget "$fj" 'd["failed"]')" \
        "$(python3 -c "print('%.0f%%' % (100.0 * $kr / $fr) if $fr else 'n/a')")"
    check_alive "$KMSD_PID" "$WORK/kms1/kmsd.log" kmsd
    if [ "$kr" -gt "$best_k" ]; then best_k="$kr"; best_k_level="$c"; fi
    if [ "$fr" -gt "$best_f" ]; then best_f="$fr"; fi
done
done
echo
pct="$(python3 -c "print('%.0f' % (100.0 * $best_k / $best_f) if $best_f else 0)")"
echo "peak (best run of each): kmsd $best_k activations/s (concurrency $best_k_level), floor $best_f activations/s"
echo "kmsd reaches ${pct}% of the floor (target: at least 80%)"
echo "kmsd store: $(curl -s "http://$KMSD_ADMIN/status" | python3 -c 'import json,sys; s=json.load(sys.stdin)["store"]; print("%d records, %d commits, last commit %.2f ms" % (s["records"], s["commits"], s["last_commit_ms"]))')"
echo "(kmsd CPU: its user+system time over the level's wall time, 100% = one core;"
echo " rec/commit: records written per LMDB commit, i.e. the group commit's batch size)"
echo

# ---------------------------------------------------------------- profile
set +o pipefail # the report pipelines end in head
# auto: perf when it can sample here (kernel and user time of the real run), then
# callgrind (exact user-space instruction counts of a short fixed run, slowed ~50x).
PERF_EVENT="cpu-clock"
if [ "$PROFILE" = auto ] || [ "$PROFILE" = perf ]; then
    if command -v perf > /dev/null && perf stat -e instructions true 2>&1 | grep -q "instructions" &&
        ! perf stat -e instructions true 2>&1 | grep -q "not supported"; then
        PERF_EVENT=cycles
        PERF_OK=1
    elif command -v perf > /dev/null &&
        perf record -e cpu-clock -o "$WORK/probe.data" true > /dev/null 2>&1; then
        # A VM without hardware counters: sample on the kernel's CPU clock instead.
        PERF_OK=1
    fi
fi
steps=""
case "$PROFILE" in
auto)
    [ -n "${PERF_OK:-}" ] && steps="perf"
    command -v valgrind > /dev/null && steps="$steps callgrind"
    ;;
perf) [ -n "${PERF_OK:-}" ] && steps="perf" || echo "perf cannot sample on this machine" >&2 ;;
callgrind | none) steps="$PROFILE" ;;
*) echo "PROFILE must be auto, perf, callgrind or none" >&2; exit 2 ;;
esac
c="$best_k_level"
[ "$c" = 0 ] && c=32
for step in $steps; do
case "$step" in
perf)
    echo "== profile: perf record -e $PERF_EVENT on kmsd, concurrency $c, ${DUR} s =="
    perf record -e "$PERF_EVENT" -F 999 -g -p "$KMSD_PID" -o "$WORK/perf.data" \
        -- sleep "$((DUR + 1))" > "$WORK/perf.log" 2>&1 &
    perf_pid=$!
    sleep 0.5
    "$KMSBENCH" --no-progress -c "$c" -d "$DUR" --clients 100000000 --seed 999 \
        "$KMSD_ADDR" | grep -E "throughput|latency" || true
    wait "$perf_pid" || true
    echo "-- top functions (self time, kernel and user) --"
    perf report -i "$WORK/perf.data" --no-children --sort dso,symbol --stdio -g none 2>/dev/null |
        grep -E '^ +[0-9]' | head -30
    echo "-- by library (self time) --"
    perf report -i "$WORK/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null |
        grep -E '^ +[0-9]' | head -12
    echo "-- syscalls and callers above 1.5% (caller view) --"
    perf report -i "$WORK/perf.data" --children --sort symbol --stdio -g none 2>/dev/null |
        grep -E '^ +[0-9]' | grep -E '\[\.\] (__|epoll|send|recv|write|read|pwrite|fdatasync|fsync|msync|ioctl|accept|close|getpid|clock)' |
        awk '$1+0 >= 1.5' | head -20
    ;;
callgrind)
    echo "== profile: valgrind --tool=callgrind on kmsd (user space only), 2000 activations at concurrency 8 =="
    stop_pid "$KMSD_PID"
    dir="$WORK/kms1"
    # instrumentation starts with the load, so loading the store at start-up is left out
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$WORK/callgrind.out" "$KMSD" \
        --config "$dir/kmsd.ini" --node-id kms1 --listen "$KMSD_ADDR" \
        --admin "$KMSD_ADMIN" --data-dir "$dir/data" > "$dir/callgrind.log" 2>&1 &
    vg_pid=$!
    PIDS+=("$vg_pid")
    for _ in $(seq 1 300); do
        check_alive "$vg_pid" "$dir/callgrind.log" "kmsd under callgrind"
        grep -q "listening for KMS on $KMSD_ADDR" "$dir/callgrind.log" && break
        sleep 0.1
    done
    callgrind_control -i on "$vg_pid" > /dev/null 2>&1
    "$KMSBENCH" --no-progress -c 8 -n 2000 --timeout 20000 --clients 100000000 --seed 998 \
        "$KMSD_ADDR" | grep -E "activations|throughput" || true
    callgrind_control -i off "$vg_pid" > /dev/null 2>&1
    stop_pid "$vg_pid"
    echo "-- top functions (self) --"
    callgrind_annotate --inclusive=no "$WORK/callgrind.out" 2>/dev/null |
        grep -E '^ *[0-9,]+ ' | head -25
    echo "-- kmsd's own functions, callees included --"
    callgrind_annotate --inclusive=yes "$WORK/callgrind.out" 2>/dev/null |
        grep -E '^ *[0-9,]+ +\([ 0-9.%]+\) +(node|proto|replication)/[^ ]+ \[' | head -25
    ;;
none) ;;
esac
echo
done
