#!/usr/bin/env python3
"""heal.py: how long replication takes to come back after the network heals.

Three kmsd nodes in a network namespace of their own (127.0.0.1-3 on its loopback). For
each scenario the nodes start fresh, every node activates its own clients (kmsbench,
open loop) while the replication ports are cut, then the cut is removed and the script
measures, from that moment:
  alive_s  - until every node sees every peer alive again;
  equal_s  - until every node holds the same records, all of them (stores equal).
Scenarios: --blackhole S (nft drops every packet to or from the replication ports for S
seconds; repeatable) and --loss P:S (nft drops P % of those packets at random for S
seconds; the kernel here has no netem). During the cut it also records what /status says
about the lag of a peer that is not heard.

Needs root, iproute2 and nft (scripts/deps.sh installs nftables). Nothing leaves the
namespace, which is deleted at the end.

Usage: bench/scenarios/heal.py [--blackhole 120] [--blackhole 300] [--loss 30:40]
       [--rate 20] [--ns-prefix kmsha-heal] [--json FILE]
Environment: KMSHA_BUILD (default ./build).
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("KMSHA_BUILD", os.path.join(ROOT, "build"))
KMSD, KMSBENCH = os.path.join(BUILD, "kmsd"), os.path.join(BUILD, "kmsbench")
IDS = ["kms1", "kms2", "kms3"]
HOSTS = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
REPL_PORT = 7001  # publishes on 7001, serves catch-up on 7002
HEARTBEAT_MS, DEAD_AFTER_MS = 500, 3000  # the defaults


def get(host, path, timeout=3):
    with urllib.request.urlopen("http://%s:8688%s" % (host, path), timeout=timeout) as r:
        return r.read().decode()


def status(i):
    return json.loads(get(HOSTS[i], "/status"))


def peers(st):
    return st["cluster"]["peers"]


def nft(script):
    subprocess.run(["nft", "-f", "-"], input=script, text=True, check=True)


def cut(loss_percent=None):
    """Drops packets to and from the replication ports (all of them, or loss_percent %). On
    the input hook: a packet dropped on output is a local error TCP sees and retries
    every 500 ms, not the silence of a real blackhole."""
    verdict = "drop" if loss_percent is None else "numgen random mod 100 < %d drop" % loss_percent
    nft("table inet heal {\n chain in {\n  type filter hook input priority 0;\n"
        "  tcp dport { %d, %d } %s\n  tcp sport { %d, %d } %s\n }\n}\n" % (
            REPL_PORT, REPL_PORT + 1, verdict, REPL_PORT, REPL_PORT + 1, verdict))


def heal(check=True):
    subprocess.run(["nft", "delete", "table", "inet", "heal"], check=check, stderr=None if check else subprocess.DEVNULL)


class Cluster:
    def __init__(self, work):
        self.work = work
        self.path = os.path.join(work, "cluster.ini")
        text = "[cluster]\nname = heal\n[kms]\ncount_cap = 10000\n"
        for i, nid in enumerate(IDS):
            text += "[peer.%s]\nkms = %s:1688\nadmin = %s:8688\nreplication = %s:%d\n" % (
                nid, HOSTS[i], HOSTS[i], HOSTS[i], REPL_PORT)
        open(self.path, "w").write(text)
        self.procs = []

    def start(self):
        for i, nid in enumerate(IDS):
            log = open(os.path.join(self.work, nid + ".log"), "a")
            self.procs.append(subprocess.Popen(
                [KMSD, "--config", self.path, "--node-id", nid, "--data-dir", os.path.join(self.work, nid)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if all(all(p["alive"] for p in peers(status(i))) for i in range(3)):
                    return
            except (OSError, KeyError, ValueError):
                pass
            time.sleep(0.1)
        raise SystemExit("the cluster did not come up (logs in %s)" % self.work)

    def stop(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        self.procs = []


def load(seconds, rate, seed_base):
    """One open-loop kmsbench per node, each with its own clients, for seconds."""
    procs = []
    for i in range(3):
        procs.append(subprocess.Popen(
            [KMSBENCH, "--rate", str(rate), "--duration", str(seconds), "--clients", "1000000",
             "--seed", str(seed_base + i), "--no-progress", "--json", "/dev/null", HOSTS[i]],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return procs


def lag_seen(i):
    """What node i's /status says about peers it does not hear: [(alive, lag_updates)]."""
    return [(p["alive"], p.get("lag_updates")) for p in peers(status(i)) if not p.get("self")]


def run(kind, seconds, rate, loss=None):
    work = tempfile.mkdtemp(prefix="kmsha-heal-")
    c = Cluster(work)
    try:
        c.start()
        procs = load(seconds, rate, random.randrange(1 << 30))
        cut(loss)
        t_cut = time.monotonic()
        lag_samples = []
        while time.monotonic() - t_cut < seconds:
            if time.monotonic() - t_cut > DEAD_AFTER_MS / 1000 * 2 and len(lag_samples) < 5:
                try:
                    lag_samples.append(lag_seen(0))
                except OSError:
                    pass
            time.sleep(0.5)
        for p in procs:
            p.wait()
        heal()
        t0 = time.monotonic()
        alive_s = equal_s = None
        last = None
        while time.monotonic() - t0 < 600:
            try:
                st = [status(i) for i in range(3)]
            except (OSError, ValueError):
                time.sleep(0.1)
                continue
            now = time.monotonic() - t0
            if alive_s is None and all(all(p["alive"] for p in peers(s)) for s in st):
                alive_s = now
            recs = [s["store"]["records"] for s in st]
            lags = [p.get("lag_updates") for s in st for p in peers(s) if not p.get("self")]
            last = (recs, lags)
            if alive_s is not None and len(set(recs)) == 1 and all(l == 0 for l in lags):
                equal_s = now
                break
            time.sleep(0.1)
        return {"scenario": kind, "cut_s": seconds, "loss_percent": loss, "rate_per_node": rate,
                "records": last[0][0] if last else None, "alive_s": alive_s, "equal_s": equal_s,
                "last": last, "lag_while_cut": lag_samples[:1]}
    finally:
        heal(check=False)
        c.stop()
        if os.environ.get("KMSHA_KEEP"):
            print("logs kept in", work, file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def inside(args):
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    results = []
    for s in args.blackhole:
        results.append(run("blackhole", s, args.rate))
        print(json.dumps(results[-1]), flush=True)
    for spec in args.loss:
        p, s = (int(x) for x in spec.split(":"))
        results.append(run("loss", s, args.rate, loss=p))
        print(json.dumps(results[-1]), flush=True)
    print("\nscenario          cut   records  peers alive  stores equal   (seconds after the heal)")
    for r in results:
        name = "blackhole" if r["scenario"] == "blackhole" else "loss %d %%" % r["loss_percent"]
        print("%-14s %5d s  %8s  %11s  %12s" % (name, r["cut_s"], r["records"],
              "%.1f" % r["alive_s"] if r["alive_s"] is not None else "never",
              "%.1f" % r["equal_s"] if r["equal_s"] is not None else "never"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--blackhole", type=int, action="append", default=[])
    ap.add_argument("--loss", action="append", default=[], help="PERCENT:SECONDS")
    ap.add_argument("--rate", type=int, default=20, help="activations per second per node during the cut")
    ap.add_argument("--ns-prefix", default="kmsha-heal")
    ap.add_argument("--json")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not args.blackhole and not args.loss:
        args.blackhole, args.loss = [120, 300], ["30:40"]
    if args.inside:
        return inside(args)
    if os.geteuid() != 0 or not shutil.which("nft"):
        raise SystemExit("heal.py needs root and nft (bash scripts/deps.sh)")
    ns = "%s-%04x" % (args.ns_prefix, random.randrange(0x10000))
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        rc = subprocess.run(["ip", "netns", "exec", ns, sys.executable, os.path.abspath(__file__), "--inside"]
                            + sys.argv[1:]).returncode
    finally:
        subprocess.run(["ip", "netns", "del", ns])
    return rc


if __name__ == "__main__":
    sys.exit(main())
