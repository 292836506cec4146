#!/usr/bin/env python3
"""Time to rediscover after an address change: run by bench/rediscover.sh.

Two network namespaces joined by one veth pair, created here and removed at
exit: the endpoint (10.213.7.2/24, default route via 10.213.7.1) and the PSN
host (psn-lab's node on 10.213.7.11, the `nad` listener on port 80 of every
address of the host, the gateway address 10.213.7.1 among them). The agent
runs in the endpoint namespace with the seed's profile (DiscoveryHost and
CallHomeList empty, ServerNameRules *.lab.test) and `--gateway auto`; the
switch's dACL is an nftables rule on the endpoint (the state sync port of the
PSN rejected once the posture is known).

Each trial adds a new address to the endpoint's interface and measures, on
the wall clock, from just before `ip addr add` to the agent's transition to
`known` after the `network-changed` one (`transitions.jsonl`, millisecond
times). The restart itself waits NetworkTransitionDelay of quiet by design,
so the goal is median <= NetworkTransitionDelay + 1 s.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone

from procs import Procs

ap = argparse.ArgumentParser()
ap.add_argument("--target", required=True, help="the dir with posture-sync and psn-lab")
ap.add_argument("--work", required=True)
args = ap.parse_args()

TRIALS = int(os.environ.get("TRIALS", "20"))
DELAY = int(os.environ.get("DELAY", "2"))
W = args.work
PROFILE_NAME = os.path.basename(os.path.normpath(args.target))
AGENT = os.path.join(args.target, "posture-sync")
LAB = os.path.join(args.target, "psn-lab")
MAC = "02:00:00:00:be:13"
NET = "10.213.7"
PSN_IP, GATEWAY, EP_IP = f"{NET}.11", f"{NET}.1", f"{NET}.2"
PREFIX = f"psrd{os.getpid()}"
NS_EP, NS_PSN = f"{PREFIX}-ep", f"{PREFIX}-psn"
ETC = f"/etc/netns/{NS_EP}"
made = []
PROCS = Procs("bench", W, wait_timeout=120, wait_every=0.05)
log, spawn, wait_for = PROCS.log, PROCS.spawn, PROCS.wait_for


def run(*cmd, stdin=None):
    out = subprocess.run(cmd, input=stdin, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"bench: {' '.join(cmd)} failed: {out.stderr.strip()}")
    return out.stdout


def cleanup():
    PROCS.end_all()
    for ns in reversed(made):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    shutil.rmtree(ETC, ignore_errors=True)


def build_network():
    for ns in (NS_EP, NS_PSN):
        run("ip", "netns", "add", ns)
        made.append(ns)
        run("ip", "-n", ns, "link", "set", "lo", "up")
    # Created in the endpoint's namespace, the peer placed straight into the
    # PSN host's: no interface ever exists in the machine's own namespace.
    run("ip", "-n", NS_EP, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0",
        "netns", NS_PSN)
    for ns, addrs in ((NS_EP, [EP_IP]), (NS_PSN, [PSN_IP, GATEWAY])):
        for a in addrs:
            run("ip", "-n", ns, "addr", "add", f"{a}/24", "dev", "eth0")
        run("ip", "-n", ns, "link", "set", "eth0", "up")
    run("ip", "-n", NS_EP, "route", "add", "default", "via", GATEWAY, "dev", "eth0")
    os.makedirs(ETC, exist_ok=True)
    with open(os.path.join(ETC, "hosts"), "w") as f:
        f.write(f"127.0.0.1 localhost\n{PSN_IP} psn1.lab.test psn1\n")
    run("ip", "netns", "exec", NS_EP, "nft", "-f", "-", stdin=(
        "table inet dacl {\n  chain output {\n"
        "    type filter hook output priority 0; policy accept;\n  }\n}\n"))


def profile():
    # The keys of the seed's fragment that the agent uses (the whole
    # fragment: e2e_tests::roaming::seed_004_profile), the lab's names allowed.
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<cfg>
<ServerNameRules>*.lab.test</ServerNameRules>
<CallHomeList/>
<NetworkTransitionDelay>{DELAY}</NetworkTransitionDelay>
<DartCount>3</DartCount>
<DiscoveryHost/>
<StateSyncProbeInterval>10</StateSyncProbeInterval>
</cfg>
"""


def status(state):
    out = subprocess.run([AGENT, "status", "--json", "--state-dir", state], capture_output=True,
                         env={"PATH": os.environ.get("PATH", ""), "HOME": os.path.join(W, "home")})
    try:
        return json.loads(out.stdout)
    except ValueError:
        return None


def transitions(state):
    try:
        with open(os.path.join(state, "transitions.jsonl")) as f:
            return [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError):
        return []


def at(record):
    whole, _, frac = record["at"].rstrip("Z").partition(".")
    t = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
    return t + float("0." + (frac or "0"))


def known_after_change(state, start):
    """(network-changed record, the first record to `known` after it), both
    after index `start`, or None."""
    ts = transitions(state)[start:]
    for i, t in enumerate(ts):
        if t.get("kind") == "network-changed":
            for u in ts[i + 1:]:
                if u.get("to") == "known":
                    return t, u
            return None
    return None


def main():
    os.makedirs(os.path.join(W, "home"), exist_ok=True)
    build_network()
    lab_dir = os.path.join(W, "lab")
    os.makedirs(lab_dir, exist_ok=True)
    spawn(["ip", "netns", "exec", NS_PSN, LAB, "serve", "--dir", lab_dir,
           "--admin", "127.0.0.1:0", "--node", f"psn1={PSN_IP}:8443:8449",
           "--advertise", "psn1=psn1.lab.test", "--nad", "0.0.0.0:80"],
          os.path.join(W, "psn-lab.log"), {"RUST_LOG": "warn"})
    wait_for("psn-lab's ready.json", lambda: os.path.exists(os.path.join(lab_dir, "ready.json")))
    agent_dir = os.path.join(W, "agent")
    os.makedirs(os.path.join(agent_dir, "etc"), exist_ok=True)
    prof = os.path.join(agent_dir, "etc", "ISEPostureCFG.xml")
    with open(prof, "w") as f:
        f.write(profile())
    state = os.path.join(agent_dir, "state")
    spawn(["ip", "netns", "exec", NS_EP, AGENT, "run", "--profile", prof, "--state-dir", state,
           "--log-dir", os.path.join(agent_dir, "logs"),
           "--ca-file", os.path.join(lab_dir, "ca.pem"), "--mac", MAC, "--gateway", "auto"],
          os.path.join(agent_dir, "agent.log"), {"RUST_LOG": "info"})

    def compliant():
        s = status(state)
        return s if s and s.get("phase") == "known" and s.get("posture") == "Compliant" else None

    wait_for("the agent to be known Compliant through the gateway", compliant)
    run("ip", "netns", "exec", NS_EP, "nft", "add", "rule", "inet", "dacl", "output",
        "ip", "daddr", PSN_IP, "tcp", "dport", "8449", "counter", "reject", "with", "tcp", "reset")
    wait_for("the first probe round", lambda: (status(state) or {}).get("counters", {})
             .get("probe_rounds", 0) >= 1)
    log(f"known through the gateway; {TRIALS} address changes, NetworkTransitionDelay {DELAY} s")

    took, settled, per_change = [], [], []
    for i in range(TRIALS):
        start = len(transitions(state))
        t0 = time.time()
        run("ip", "-n", NS_EP, "addr", "add", f"{NET}.{100 + i}/24", "dev", "eth0")
        changed, known = wait_for(f"known again after change {i + 1}",
                                  lambda: known_after_change(state, start))
        took.append(at(known) - t0)
        settled.append(at(changed) - t0)
        # Quiet until the first probe round of the new known period, so the
        # next change meets a settled agent.
        rounds = status(state)["counters"]["probe_rounds"]
        wait_for("a probe round", lambda: (status(state) or {}).get("counters", {})
                 .get("probe_rounds", 0) > rounds)
        # Restarts this change caused: up to one transition delay after
        # `known` (the probe round just awaited), so a second one would show.
        per_change.append(sum(1 for t in transitions(state)[start:]
                              if t.get("kind") == "network-changed"))
        log(f"trial {i + 1}: restart after {settled[-1] * 1000:.0f} ms, "
            f"known after {took[-1] * 1000:.0f} ms, {per_change[-1]} restart(s)")

    restarts = sum(per_change)
    med, worst = statistics.median(took), max(took)
    bound = DELAY + 1.0
    result = {"trials": TRIALS, "delay_s": DELAY, "took_s": took, "restart_s": settled,
              "median_s": med, "max_s": worst, "restarts_per_change": per_change}
    with open(os.path.join(W, "results.json"), "w") as f:
        json.dump(result, f, indent=2)
    load = open("/proc/loadavg").read().split()[:3]
    print(f"posture-sync time to rediscover, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{os.cpu_count()} CPUs, load average {' '.join(load)}")
    print(f"{TRIALS} address changes, NetworkTransitionDelay {DELAY} s, "
          f"{PROFILE_NAME} build")
    once = all(n == 1 for n in per_change)
    rows = [
        ("change to known again, median", f"{med * 1000:.0f} ms", f"<= {bound * 1000:.0f} ms",
         "PASS" if med <= bound else "MISS"),
        ("change to known again, max", f"{worst * 1000:.0f} ms", "", ""),
        ("change to discovery restart, median", f"{statistics.median(settled) * 1000:.0f} ms",
         f">= {DELAY * 1000} ms (quiet)", ""),
        ("discovery restarts per change", f"{restarts} / {TRIALS}", "1 each",
         "PASS" if once else "MISS"),
    ]
    widths = [max(len(r[i]) for r in rows + [("figure", "measured", "bound", "result")])
              for i in range(4)]
    print()
    for r in [("figure", "measured", "bound", "result"), tuple("-" * w for w in widths)] + rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
    print(f"\nresults: {W}/results.json")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        cleanup()
