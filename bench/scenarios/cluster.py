#!/usr/bin/env python3
"""cluster.py: the replication figures of a three-node kmsha cluster on this machine.

1. Convergence at a steady load: three nodes on 127.0.0.11-13, one open-loop kmsbench per
   node (--rate R/3 each, new clients only), then every node's histogram of the delay from
   an update's creation on its origin to the moment this node counts it
   (kmsha_replication_delay_seconds), merged: p50 / p99. Also the time from the end of the
   load until all three nodes hold the same records.
2. Catch-up: a node's store is filled with N client records (kmsseed), then an empty node
   joins; the time until it holds all N (catch-up from the update log), and for the
   smaller N also after the log is gone (a snapshot).

Usage: bench/scenarios/cluster.py [--rate 5000] [--duration 20] [--catchup 100000,1000000]
Environment: KMSHA_BUILD (default ./build). Loopback only; stops by itself.
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("KMSHA_BUILD", os.path.join(ROOT, "build"))
KMSD, KMSBENCH, KMSSEED, KMSCTL = (os.path.join(BUILD, b) for b in ("kmsd", "kmsbench", "kmsseed", "kmsctl"))
BOUNDS_MS = [0.25, 0.5, 1, 2, 3, 5, 10, 25, 50, 100, 250, 500, 1000, float("inf")]


def port():
    return random.randrange(20000, 32000)


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


class Cluster:
    def __init__(self, work, ids, hosts):
        self.work, self.ids, self.hosts = work, ids, hosts
        self.kms = port()
        self.admin = [port() for _ in ids]
        self.repl = [port() // 2 * 2 for _ in ids]
        self.path = os.path.join(work, "cluster.ini")
        keys = os.path.join(work, "keys")
        os.makedirs(keys, exist_ok=True)
        pubs = {}
        for nid in ids:  # replication is always CURVE-authenticated
            out = subprocess.run([KMSCTL, "keygen", "--force", "--dir", keys, nid], check=True,
                                 capture_output=True, text=True).stdout
            pubs[nid] = out.split("public_key = ")[1].strip()
        text = ("[cluster]\nheartbeat_interval_ms = 200\ndead_after_ms = 1500\nkey_dir = %s\n"
                "[limits]\nmax_connections_per_address = 100000\nmax_connections = 100000\n" % keys)
        for i, nid in enumerate(ids):
            text += "[peer.%s]\nkms = %s:%d\nadmin = %s:%d\nreplication = %s:%d\npublic_key = %s\n" % (
                nid, hosts[i], self.kms, hosts[i], self.admin[i], hosts[i], self.repl[i], pubs[nid])
        open(self.path, "w").write(text)
        self.procs = {}

    def data(self, i):
        return os.path.join(self.work, self.ids[i])

    def start(self, i, extra=()):
        log = open(os.path.join(self.work, self.ids[i] + ".log"), "a")
        self.procs[i] = subprocess.Popen([KMSD, "--config", self.path, "--node-id", self.ids[i],
                                          "--data-dir", self.data(i)] + list(extra),
                                         stdout=log, stderr=subprocess.STDOUT)
        for _ in range(400):
            try:
                if get(self.url(i, "/healthz")).strip() == "ok":
                    return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("node %s did not start" % self.ids[i])

    def url(self, i, path):
        return "http://%s:%d%s" % (self.hosts[i], self.admin[i], path)

    def status(self, i):
        return json.loads(get(self.url(i, "/status")))

    def stop(self):
        for p in self.procs.values():
            p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            p.wait(30)
        self.procs = {}


def percentile(buckets, q):
    total = buckets[-1][1]
    if total == 0:
        return float("nan")
    want = q * total
    prev_bound, prev_cum = 0.0, 0
    for bound, cum in buckets:
        if cum >= want:
            if bound == float("inf"):
                return prev_bound
            frac = (want - prev_cum) / max(cum - prev_cum, 1)
            return prev_bound + frac * (bound - prev_bound)
        prev_bound, prev_cum = bound, cum
    return prev_bound


def delay_histogram(cluster):
    merged = [0] * len(BOUNDS_MS)
    for i in range(len(cluster.ids)):
        text = get(cluster.url(i, "/metrics"))
        for m in re.finditer(r'kmsha_replication_delay_seconds_bucket\{[^}]*le="([^"]+)"\} (\d+)', text):
            le = float("inf") if m.group(1) == "+Inf" else float(m.group(1)) * 1000
            idx = min(range(len(BOUNDS_MS)), key=lambda k: abs(BOUNDS_MS[k] - le) if le != float("inf") else (0 if BOUNDS_MS[k] == le else 1))
            merged[idx] += int(m.group(2))
    return list(zip(BOUNDS_MS, merged))


def convergence(args, work):
    ids, hosts = ["kms1", "kms2", "kms3"], ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
    c = Cluster(work, ids, hosts)
    for i in range(3):
        c.start(i)
    time.sleep(1)
    print("== convergence: 3 nodes, open loop %d activations/s in all (%d per node), %d s, new clients"
          % (args.rate, args.rate // 3, args.duration))
    benches = []
    for i in range(3):
        out = os.path.join(work, "bench%d.json" % i)
        benches.append((out, subprocess.Popen(
            [KMSBENCH, "--no-progress", "--rate", str(args.rate // 3), "--duration", str(args.duration),
             "--clients", "100000000", "--seed", str(100 + i), "--max-outstanding", "2000",
             "--json", out, "%s:%d" % (hosts[i], c.kms)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
    for out, p in benches:
        p.wait()
    t_end = time.time()
    done = 0
    fails = 0
    rate = 0.0
    for out, p in benches:
        d = json.load(open(out))
        done += d["activations"]
        fails += d["failed"]
        rate += d["activations_per_s"]
    while True:
        recs = [c.status(i)["store"]["records"] for i in range(3)]
        if len(set(recs)) == 1 and recs[0] >= done:
            break
        if time.time() - t_end > 60:
            break
        time.sleep(0.02)
    settle = time.time() - t_end
    h = delay_histogram(c)
    print("activations: %d (%.0f/s achieved), failed: %d" % (done, rate, fails))
    print("replication delay (origin commit -> counted on a peer), %d updates: p50 %.2f ms, p99 %.2f ms"
          % (h[-1][1], percentile(h, 0.5), percentile(h, 0.99)))
    print("after the load stopped, all nodes held the same %d records within %.3f s (records: %s)"
          % (recs[0], settle, recs))
    c.stop()


def catchup(args, work, n):
    ids, hosts = ["kms1", "kms2"], ["127.0.0.21", "127.0.0.22"]
    sub = os.path.join(work, "catchup-%d" % n)
    os.makedirs(sub)
    c = Cluster(sub, ids, hosts)
    t0 = time.time()
    subprocess.run([KMSSEED, "--data-dir", c.data(0), "--node-id", "kms1", "--records", str(n)], check=True,
                   stdout=subprocess.DEVNULL)
    print("== catch-up of %d records (seeded in %.1f s)" % (n, time.time() - t0))
    for mode in (["log"] + (["snapshot"] if n <= args.snapshot_max else [])):
        extra = ["--clock-offset", str(8 * 86400)] if mode == "snapshot" else []
        c.start(0, extra)
        if mode == "snapshot":
            while c.status(0)["cluster"]["log_entries"] != 0:
                time.sleep(0.1)
        shutil.rmtree(c.data(1), ignore_errors=True)
        t0 = time.time()
        c.start(1)
        while c.status(1)["store"]["records"] < n:
            time.sleep(0.05)
            if time.time() - t0 > 600:
                print("  %s: not caught up after 600 s" % mode)
                break
        took = time.time() - t0
        rss = 0
        with open("/proc/%d/status" % c.procs[1].pid) as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    rss = int(line.split()[1]) // 1024
        print("  empty node caught up %d records from the %s in %.1f s (%.0f records/s); its RssAnon %d MB"
              % (n, mode, took, n / took, rss))
        c.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--duration", type=int, default=20)
    ap.add_argument("--catchup", default="100000,1000000")
    ap.add_argument("--snapshot-max", type=int, default=1000000)
    ap.add_argument("--skip-convergence", action="store_true")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="kmsha-cluster-bench-")
    try:
        print("machine: %d cores, load generator on the same machine" % os.cpu_count())
        if not args.skip_convergence:
            convergence(args, work)
        for n in [int(x) for x in args.catchup.split(",") if x]:
            catchup(args, work, n)
    finally:
        subprocess.run(["pkill", "-f", work], stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
