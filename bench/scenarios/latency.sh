#!/usr/bin/env bash
# latency.sh: latency of one kmsd (persistence on) under an open-loop load of 50% and 90%
# of its measured peak. Open loop: starts follow a fixed timetable whatever the answers do,
# and latency counts from each scheduled start, so a stall shows up in the percentiles
# instead of quietly lowering the load. Target: p99 <= 5 ms at 50% of the peak.
# Before the open-loop runs, kmsbench-disk replays the 50% rate's durable commits on the
# same disk with no kmsd at all, alone and while kmsbench drives kmsbench-floor at that
# rate: its p99 is the floor under kmsd's p99 on this disk and with this load generator.
#
# Usage: bench/scenarios/latency.sh   (env: PEAK=<activations/s> to skip the peak run,
#                                       PEAK_CONCURRENCY=512 SECONDS_PER_RUN=20 WARMUP=2)
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DUR="${SECONDS_PER_RUN:-20}"
WARMUP="${WARMUP:-2}"
PC="${PEAK_CONCURRENCY:-512}"

echo "== latency: one kmsd (persistence on), open loop at 50% and 90% of its peak =="
machine_line
fsync_probe "$WORK"
start_kmsd kms1 127.0.0.4
echo "kmsd at $KMSD_ADDR"

if [ -z "${PEAK:-}" ]; then
    # the best of two runs: on a shared machine interference can only lower a rate
    PEAK=0
    for run in 1 2; do
        "$KMSBENCH" --no-progress -c "$PC" --warmup "$WARMUP" -d 10 --clients 100000000 \
            --seed "$((200 + run))" --json "$WORK/peak-$run.json" "$KMSD_ADDR" > /dev/null || true
        r="$(jget "$WORK/peak-$run.json" 'round(d["activations_per_s"])')"
        echo "peak run $run (closed loop, concurrency $PC, 10 s): $r activations/s," \
             "p99 $(jget "$WORK/peak-$run.json" 'd["latency_ms"]["p99"]') ms"
        if [ "$r" -gt "$PEAK" ]; then PEAK="$r"; fi
    done
    echo "peak: $PEAK activations/s"
else
    echo "peak (given): $PEAK activations/s"
fi
check_alive "$KMSD_PID" "$WORK/kms1/kmsd.log" kmsd
echo
echo "the disk alone at the 50% rate (kmsbench-disk: no kmsd, the same commits, a floor under kmsd's p99):"
"$DISKMODEL" --dir "$WORK" --rate "$((PEAK / 2))" --seconds "$DUR" | sed 's/^/  /'
echo
# The same while kmsbench drives kmsbench-floor at that rate: the load generator's own CPU
# and network work on this machine, with no kmsd and no store (kmsd's p99 cannot be lower).
start_floor 127.0.0.5
"$KMSBENCH" --no-progress --no-verify --rate "$((PEAK / 2))" --max-outstanding 5000 \
    -d "$((2 * DUR + 5))" --clients 100000000 --seed 220 "$FLOOR_ADDR" > /dev/null 2>&1 &
BENCH_PID=$!
PIDS+=("$BENCH_PID")
sleep 2
echo "the disk while kmsbench drives kmsbench-floor at the same rate (the generator's load, no kmsd):"
"$DISKMODEL" --dir "$WORK" --rate "$((PEAK / 2))" --seconds "$DUR" | sed 's/^/  /'
kill "$BENCH_PID" "$FLOOR_PID" 2>/dev/null || true
wait "$BENCH_PID" "$FLOOR_PID" 2>/dev/null || true
echo
printf "%-6s %8s | %8s %8s %8s %8s %8s %8s | %6s %s\n" "load" "rate/s" "act/s" "p50 ms" "p90 ms" \
    "p99 ms" "p99.9 ms" "max ms" "failed" "(causes)"
seed=210
p99_50=""
for pct in 50 90; do
    seed=$((seed + 1))
    rate=$((PEAK * pct / 100))
    j="$WORK/open-$pct.json"
    "$KMSBENCH" --no-progress --rate "$rate" --max-outstanding 5000 --warmup "$WARMUP" -d "$DUR" \
        --clients 100000000 --seed "$seed" --json "$j" --report "$WORK/open-$pct.html" \
        "$KMSD_ADDR" > "$WORK/open-$pct.txt" || true
    printf "%-6s %8s | %8s %8s %8s %8s %8s %8s | %6s %s\n" "$pct%" "$rate" \
        "$(jget "$j" 'round(d["activations_per_s"])')" "$(jget "$j" 'd["latency_ms"]["p50"]')" \
        "$(jget "$j" 'd["latency_ms"]["p90"]')" "$(jget "$j" 'd["latency_ms"]["p99"]')" \
        "$(jget "$j" 'd["latency_ms"]["p999"]')" "$(jget "$j" 'd["latency_ms"]["max"]')" \
        "$(jget "$j" 'd["failed"]')" \
        "$(jget "$j" '" ".join("%s=%d" % (k, v) for k, v in d["failures"].items() if isinstance(v, int) and v and k != "total")')"
    [ "$pct" = 50 ] && p99_50="$(jget "$j" 'd["latency_ms"]["p99"]')"
    check_alive "$KMSD_PID" "$WORK/kms1/kmsd.log" kmsd
done
echo
echo "p99 at 50% of the peak: $p99_50 ms (target: at most 5 ms)"
if [ -n "${REPORT_DIR:-}" ]; then
    mkdir -p "$REPORT_DIR"
    cp "$WORK"/open-*.html "$WORK"/open-*.json "$REPORT_DIR"/
    echo "reports copied to $REPORT_DIR"
fi
