#!/usr/bin/env python3
"""start_of_term.py: rehearses the start of term on this machine.

50,000 distinct machines (--machines) activate within a few minutes (--duration) across a
three-node cluster on 127.0.0.31-33: three kmsbench processes, each with its own order of
the three hosts (as Windows clients pick SRV targets), open loop at machines/duration per
second in all. A third of the way in, node kms2 is killed with kill -9; at two thirds it
is restarted. Pass: no activation that a Windows client would not complete (a failover to
another host counts as completed) and the same final count and record set on every node.
Prints the time each node took to converge, and the failovers.

Usage: bench/scenarios/start_of_term.py [--machines 50000] [--duration 150]
Environment: KMSHA_BUILD (default ./build). Loopback only; stops by itself.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import KMSBENCH, Cluster  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--machines", type=int, default=50000)
    ap.add_argument("--duration", type=int, default=150)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="kmsha-term-")
    ids, hosts = ["kms1", "kms2", "kms3"], ["127.0.0.31", "127.0.0.32", "127.0.0.33"]
    c = Cluster(work, ids, hosts)
    ok = False
    try:
        for i in range(3):
            c.start(i)
        time.sleep(1)
        per = args.machines // 3
        rate = max(1, per // args.duration)
        print("== start of term: %d machines over %d s across 3 nodes (%d/s), kill -9 kms2 at %d s, restart at %d s"
              % (per * 3, args.duration, rate * 3, args.duration // 3, 2 * args.duration // 3))
        t0 = time.time()
        benches = []
        for i in range(3):
            order = ["%s:%d" % (hosts[(i + k) % 3], c.kms) for k in range(3)]
            out = os.path.join(work, "bench%d.json" % i)
            p = subprocess.Popen([KMSBENCH, "--no-progress", "--rate", str(rate), "--requests", str(per),
                                  "--duration", str(args.duration * 3), "--clients", str(per), "--seed", str(500 + i),
                                  "--timeout", "2000", "--max-outstanding", "5000", "--products",
                                  "win10-pro:60,office2019-proplus:25,win7-pro:10,ws2022-std:5",
                                  "--json", out] + order, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            benches.append((out, p))
        time.sleep(args.duration / 3)
        c.procs[1].send_signal(signal.SIGKILL)
        c.procs[1].wait()
        del c.procs[1]
        t_kill = time.time() - t0
        print("kms2 killed (kill -9) at %.1f s" % t_kill)
        time.sleep(max(0, 2 * args.duration / 3 - (time.time() - t0)))
        backlog = c.status(0)["store"]["records"]  # what kms2 missed is in here
        t_restart = time.time()
        c.start(1)
        print("kms2 restarted at %.1f s; kms1 then held %d records" % (t_restart - t0, backlog))
        caught = {}

        def watch():
            while time.time() - t_restart < 120:
                try:
                    if c.status(1)["store"]["records"] >= backlog:
                        caught["t"] = time.time() - t_restart
                        return
                except OSError:
                    pass
                time.sleep(0.02)
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        for _, p in benches:
            p.wait()
        t_end = time.time()
        watcher.join(5)
        print("kms2 caught up the %d records held when it restarted in %.2f s (while the load went on)"
              % (backlog, caught.get("t", float("nan"))))
        done = failed = failovers = 0
        causes = {}
        for out, _ in benches:
            d = json.load(open(out))
            done += d["activations"]
            failed += d["failed"]
            failovers += d["failovers"]
            for k, v in d["failures"].items():
                if isinstance(v, int) and v:
                    causes[k] = causes.get(k, 0) + v
        print("load finished at %.1f s: %d activations completed, %d failed %s, %d failovers"
              % (t_end - t0, done, failed, causes or "", failovers))
        converged = {}
        while len(converged) < 3 and time.time() - t_end < 120:
            for i in range(3):
                if i in converged:
                    continue
                st = c.status(i)
                if st["store"]["records"] >= done:
                    converged[i] = time.time()
            time.sleep(0.05)
        stats = [c.status(i) for i in range(3)]
        records = [s["store"]["records"] for s in stats]
        counts = [tuple(s["counts"][a]["count"] for a in ("windows", "office2010", "office2013")) for s in stats]
        live = [tuple(s["counts"][a]["live_clients"] for a in ("windows", "office2010", "office2013")) for s in stats]
        for i in range(3):
            base = t_restart if i == 1 else t_end
            what = "after its restart" if i == 1 else "after the load ended"
            print("  %s: %d records, counts %s, live clients %s, converged %.2f s %s"
                  % (ids[i], records[i], counts[i], live[i], converged.get(i, float("nan")) - base, what))
        ok = failed == 0 and len(set(records)) == 1 and records[0] == done and len(set(counts)) == 1 \
            and len(set(live)) == 1
        print("PASS" if ok else "FAIL", "(zero failed activations, every node holds all %d records with equal counts)" % done)
    finally:
        c.stop()
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
