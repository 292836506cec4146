#!/usr/bin/env python3
"""What an answered probe round costs the agent, against the baseline's probe.

bench/run.sh measures CPU time, which moves with the machine's load and
cache; this looks inside a round instead. It runs the agent (`posture-sync
run`, as bench.py does) and the baseline (agent/examples/minimal-probe-loop.rs)
side by side against two local psn-labs (one CA, one node each) that answer
every state sync probe with HTTP 500 (bench.py's "answered" window: a full
exchange, a failed round, the agent stays known), waits for regular rounds,
then counts `--rounds` rounds of the agent (the nodes' request counters count
the rounds) and prints per round and client:

- default: user-space instructions under `valgrind --tool=callgrind`
  (counters zeroed and dumped with `callgrind_control`; independent of the
  machine's load). The dumps stay in `--work` for `callgrind_annotate`; an
  agent built with `--profile bench` keeps its symbols (`--agent BIN`).
- `--strace`: system calls (`strace -f -c`, all threads).
- `--cpu`: CPU time per thread (`/proc/PID/task/*/schedstat`), native.

AGENT_RUST_LOG sets the agent's RUST_LOG (e.g. `error`, to see what the
round's log line costs). Loopback only; never part of scripts/test.

    bench/callgrind.sh [--rounds 40] [--strace | --cpu]      # builds first
    python3 bench/callgrind.py --target DIR/release [--agent BIN] [--work DIR] ...
"""

import argparse
import glob
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

from procs import Procs

ap = argparse.ArgumentParser()
ap.add_argument("--target", required=True, help="the release dir with psn-lab and the examples")
ap.add_argument("--agent", help="the agent binary (default: TARGET/posture-sync)")
ap.add_argument("--work", default=None)
ap.add_argument("--rounds", type=int, default=40)
ap.add_argument("--no-baseline", action="store_true")
ap.add_argument("--strace", action="store_true",
                help="count system calls (strace -f -c) of both over the rounds instead")
ap.add_argument("--cpu", action="store_true",
                help="no valgrind: CPU time (schedstat) per round of each thread instead")
args = ap.parse_args()

W = args.work or tempfile.mkdtemp(prefix="posture-sync-callgrind.")
os.makedirs(os.path.join(W, "home"), exist_ok=True)
BIN = args.target
AGENT = args.agent or os.path.join(BIN, "posture-sync")
LAB = os.path.join(BIN, "psn-lab")
MINIMAL = os.path.join(BIN, "examples", "minimal-probe-loop")
AGENT_MAC = "02:00:00:00:be:01"
BASE_SESSION = "bench-minimal-0001"
# How long after a round's request its answer has been handled, logged and
# recorded (under valgrind too); rounds are an interval (1 s) apart.
SETTLE = 0.4
PROCS = Procs("callgrind", W, wait_timeout=180, wait_every=0.2, grace=20)
log, spawn, wait_for, cleanup = PROCS.log, PROCS.spawn, PROCS.wait_for, PROCS.end_all
ENV = PROCS.env


def ctl(lab, *a):
    out = subprocess.run([LAB, "ctl", "--dir", lab, *a], capture_output=True, check=True, env=ENV)
    return json.loads(out.stdout)


def requests(lab, name):
    return next(n["requests"] for n in ctl(lab, "nodes") if n["name"] == name)


def callgrind(pid, flag):
    subprocess.run(["callgrind_control", flag, str(pid)], capture_output=True, check=True)


def total(path):
    """The instruction count of a callgrind dump (its `totals:` line)."""
    for line in open(path):
        if line.startswith(("totals:", "summary:")):
            return int(line.split()[1])
    raise SystemExit(f"callgrind: no totals in {path}")


def main():
    # Two labs sharing one CA, as in bench.py: the agent's (psn1) and the
    # baseline's (psn2), so that the agent's PSN list holds its PSN alone
    # and each node's request counter counts one client.
    labs = {}
    for name, node in (("a", "psn1"), ("b", "psn2")):
        lab = os.path.join(W, name, "lab")
        os.makedirs(lab, exist_ok=True)
        if name == "b":
            for f in ("ca.pem", "ca-key.pem", "ca.json"):
                src = os.path.join(labs["psn1"], f)
                if os.path.exists(src):
                    shutil.copy(src, os.path.join(lab, f))
        spawn([LAB, "serve", "--dir", lab, "--admin", "127.0.0.1:0", "--node", f"{node}=127.0.0.1:0:0"],
              os.path.join(W, name, "psn-lab.log"), {"RUST_LOG": "warn"})
        ready = wait_for(f"{lab}/ready.json", lambda: os.path.exists(os.path.join(lab, "ready.json"))
                         and json.load(open(os.path.join(lab, "ready.json"))))
        labs[node] = lab
        labs[node + ".ready"] = ready["nodes"][0]
        # Every probe answered HTTP 500: a full exchange, a failed round,
        # the agent stays known and probes again (bench.py's answered window).
        ctl(lab, "fault", node, "http500", "--scope", "sync")
    nodes = {n: labs[n + ".ready"] for n in ("psn1", "psn2")}
    ca = os.path.join(labs["psn1"], "ca.pem")
    ctl(labs["psn2"], "seed", "02:00:00:00:00:aa", "Unknown", "--id", BASE_SESSION)

    adir = os.path.join(W, "agent")
    state, logs, pdir = (os.path.join(adir, d) for d in ("state", "logs", "profile"))
    for d in (state, logs, pdir):
        os.makedirs(d, exist_ok=True)
    profile = os.path.join(pdir, "ISEPostureCFG.xml")
    with open(profile, "w") as f:
        f.write(f"""<?xml version="1.0" encoding="UTF-8"?>
<cfg>
  <StateSyncProbeInterval>1</StateSyncProbeInterval>
  <NetworkTransitionDelay>2</NetworkTransitionDelay>
  <CallHomeList>{nodes['psn1']['discovery']}</CallHomeList>
  <ServerPorts>1024-65535</ServerPorts>
</cfg>
""")
    def under_tool(who):
        if args.strace or args.cpu:
            return []
        return ["valgrind", "--tool=callgrind", "--quiet", f"--callgrind-out-file={W}/{who}.cg"]

    agent_env = {"RUST_LOG": os.environ["AGENT_RUST_LOG"]} if "AGENT_RUST_LOG" in os.environ else None
    agent = spawn(under_tool("agent") + [AGENT, "run", "--profile", profile, "--state-dir", state,
                                         "--log-dir", logs, "--ca-file", ca, "--mac", AGENT_MAC,
                                         # As bench.py: loopback only, no
                                         # gateway hop, no network watcher.
                                         "--gateway", "off", "--network-watch", "off"],
                  os.path.join(adir, "stderr.log"), agent_env)
    pids = {"agent": agent.pid}
    if not args.no_baseline:
        base = spawn(under_tool("minimal") + [MINIMAL, "--addr", nodes["psn2"]["sync"], "--ca", ca,
                                              "--session", BASE_SESSION, "--interval-ms", "1000"],
                     os.path.join(W, "minimal.log"))
        pids["minimal"] = base.pid
    node = {"agent": "psn1", "minimal": "psn2"}
    # Past start-up, discovery and assessment: a few regular answered rounds.
    wait_for("answered rounds", lambda: requests(labs["psn1"], "psn1") >= 5 and
             (args.no_baseline or requests(labs["psn2"], "psn2") >= 5))
    # Each client's window starts and ends just after one of its rounds, so
    # that it holds exactly whole rounds: a new request at the node means a
    # round began; SETTLE later it has been answered, logged and recorded.
    def after_round(who, at_least):
        def reached():
            n = requests(labs[node[who]], node[who])
            return n if n >= at_least else None

        seen = wait_for(f"{who}'s round", reached, timeout=args.rounds * 3 + 60, every=0.01)
        time.sleep(SETTLE)
        return seen

    start, tracers = {}, {}
    for who, pid in pids.items():
        start[who] = after_round(who, requests(labs[node[who]], node[who]) + 1)
        if args.strace:
            # STRACE_RAW=1: every call with its time instead of the summary.
            mode = "-tt" if os.environ.get("STRACE_RAW") else "-c"
            tracers[who] = subprocess.Popen(["strace", "-f", mode, "-o", f"{W}/{who}.strace", "-p", str(pid)],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.2)  # attached before the next round
        elif args.cpu:
            tracers[who] = threads_cpu(pid)
        else:
            callgrind(pid, "-z")
    log(f"counting {args.rounds} rounds")
    end = {}
    for who, pid in pids.items():
        end[who] = after_round(who, start[who] + args.rounds)
        if args.strace:
            tracers[who].send_signal(signal.SIGINT)
            tracers[who].wait()
        elif not args.cpu:
            callgrind(pid, "-d")
        else:
            tracers[who] = (tracers[who], threads_cpu(pid))
    result = {}
    for who, pid in pids.items():
        n = end[who] - start[who]
        if args.cpu:
            before, now = tracers[who]
            per = {t: (ns - before.get(t, (name, 0))[1]) / max(n, 1) / 1e6
                   for t, (name, ns) in now.items()}
            for t, ms in sorted(per.items()):
                print(f"{who:8} thread {t} {now[t][0]:20} {ms:.4f} ms/round")
            result[who] = {"rounds": n, "per_round": sum(per.values()), "dump": "-"}
            continue
        if args.strace:
            calls = strace_total(f"{W}/{who}.strace")
            result[who] = {"rounds": n, "syscalls": calls, "per_round": calls / max(n, 1),
                           "dump": f"{W}/{who}.strace"}
            continue
        dumps = sorted(glob.glob(f"{W}/{who}.cg*"), key=os.path.getmtime)
        ir = total(dumps[-1])
        result[who] = {"rounds": n, "instructions": ir, "per_round": ir / max(n, 1), "dump": dumps[-1]}
    unit = "syscalls" if args.strace else "ms CPU" if args.cpu else "Ir"
    for who, r in result.items():
        print(f"{who:8} {r['rounds']:4} rounds  {r['per_round']:>11,.3f} {unit}/round  ({r['dump']})")
    if "minimal" in result:
        print(f"ratio agent/minimal: {result['agent']['per_round'] / result['minimal']['per_round']:.3f}")
    json.dump(result, open(os.path.join(W, "callgrind.json"), "w"), indent=1)


def threads_cpu(pid):
    """Name and ns on a CPU (schedstat) of each thread of `pid`."""
    out = {}
    for t in glob.glob(f"/proc/{pid}/task/*"):
        try:
            out[os.path.basename(t)] = (open(f"{t}/comm").read().strip(),
                                        int(open(f"{t}/schedstat").read().split()[0]))
        except OSError:
            pass
    return out


def strace_total(path):
    """The call count of `strace -c`'s total line."""
    for line in open(path):
        if line.rstrip().endswith("total"):
            f = line.split()
            return int(f[3])
    raise SystemExit(f"callgrind: no total in {path}")


if shutil.which("valgrind") is None:
    raise SystemExit("callgrind: valgrind is needed")
try:
    main()
finally:
    cleanup()
