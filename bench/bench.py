#!/usr/bin/env python3
"""Agent benchmarks: run by bench/run.sh (which builds the binaries first).

Everything runs on this machine, loopback only, in one run: psn-lab (two
labs sharing one CA), the agent (`posture-sync run`), the minimal probe loop
(agent/examples/minimal-probe-loop.rs), a bash+curl loop, and the in-process
latency/failover comparison (agent/examples/probe-latency.rs).

CPU is CPU time, never wall time: ns on CPU from /proc/PID/task/*/schedstat
(agent, minimal loop) and clock ticks from /proc/PID/stat including waited
children (bash+curl loop). See docs/benchmarks.md for what each figure means.
"""

import argparse
import glob
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import time
import urllib.request
from datetime import datetime, timezone

from procs import Procs

ap = argparse.ArgumentParser()
ap.add_argument("--target", required=True, help="the release dir with the binaries")
ap.add_argument("--work", required=True)
args = ap.parse_args()

WINDOW = int(os.environ.get("WINDOW", "180"))
DROP_WINDOW = int(os.environ.get("DROP_WINDOW", "60"))
ANSWERED_WINDOW = int(os.environ.get("ANSWERED_WINDOW", "60"))
REFUSED_WINDOW = int(os.environ.get("REFUSED_WINDOW", "60"))
LONG = int(os.environ.get("LONG", "600"))
TRIALS = int(os.environ.get("TRIALS", "30"))
DROP_TRIALS = int(os.environ.get("DROP_TRIALS", "15"))
LAT_N = int(os.environ.get("LAT_N", "2000"))
INTERVAL_S = 1.0  # StateSyncProbeInterval: the profile's minimum
# The round line's duration field: the line is written at the round's end.
DELAY_S = 2  # NetworkTransitionDelay: the profile's minimum
STAGGER_MS = 250.0  # timing::ProbeStagger::DEFAULT
TICK = os.sysconf("SC_CLK_TCK")
W = args.work
BIN = args.target
AGENT = os.path.join(BIN, "posture-sync")
LAB = os.path.join(BIN, "psn-lab")
MINIMAL = os.path.join(BIN, "examples", "minimal-probe-loop")
LATENCY = os.path.join(BIN, "examples", "probe-latency")
AGENT_MAC = "02:00:00:00:be:01"
BASE_SESSION = "bench-minimal-0001"
CURL_SESSION = "bench-curl-0001"

PROCS = Procs("bench", W, wait_timeout=90, wait_every=0.1)
log, spawn, wait_for, cleanup = PROCS.log, PROCS.spawn, PROCS.wait_for, PROCS.end_all


# ---------------------------------------------------------------- labs ----
def start_lab(root, nodes):
    lab = os.path.join(root, "lab")
    os.makedirs(lab, exist_ok=True)
    cmd = [LAB, "serve", "--dir", lab, "--admin", "127.0.0.1:0"]
    for n in nodes:
        cmd += ["--node", f"{n}=127.0.0.1:0:0"]
    p = spawn(cmd, os.path.join(root, "psn-lab.log"), {"RUST_LOG": "warn"})

    def ready():
        try:
            return json.load(open(os.path.join(lab, "ready.json")))
        except (OSError, ValueError):
            return None

    r = wait_for(f"{lab}/ready.json", ready)
    nodes = {n["name"]: n for n in r["nodes"]}
    return {"dir": lab, "proc": p, "ready": r, "nodes": nodes}


def ctl(lab, *a):
    out = subprocess.run([LAB, "ctl", "--dir", lab["dir"], *a], capture_output=True, check=True,
                         env={"PATH": os.environ.get("PATH", ""), "HOME": os.path.join(W, "home")})
    return json.loads(out.stdout)


def node_requests(lab, name):
    for n in ctl(lab, "nodes"):
        if n["name"] == name:
            return n["requests"]
    raise SystemExit(f"bench: no node {name}")


def admin_coa(lab, session, status):
    """A CoA through the admin API; returns the time just before the call."""
    token = open(os.path.join(lab["dir"], "admin-token")).read().strip()
    req = urllib.request.Request(
        f"http://{lab['ready']['admin']}/sessions/{session}/status",
        data=json.dumps({"status": status}).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    t0 = time.time()
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()
    return t0


# --------------------------------------------------------------- /proc ----
def sample(pid, children_too=False):
    """CPU ns (schedstat, all live threads), CPU ticks (stat; + waited children
    when asked), context switches (all threads), threads, VmRSS KiB."""
    tasks = glob.glob(f"/proc/{pid}/task/*")
    ns = 0
    vcs = nvcs = 0
    for t in tasks:
        try:
            ns += int(open(f"{t}/schedstat").read().split()[0])
            for line in open(f"{t}/status"):
                if line.startswith("voluntary_ctxt_switches"):
                    vcs += int(line.split()[1])
                elif line.startswith("nonvoluntary_ctxt_switches"):
                    nvcs += int(line.split()[1])
        except (OSError, ValueError):
            pass
    stat = open(f"/proc/{pid}/stat").read()
    fields = stat[stat.rindex(")") + 2:].split()
    ticks = int(fields[11]) + int(fields[12])
    if children_too:
        ticks += int(fields[13]) + int(fields[14])
    rss = 0
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            rss = int(line.split()[1])
    return {"ns": ns, "ticks": ticks, "vcs": vcs, "nvcs": nvcs, "threads": len(tasks), "rss_kb": rss,
            "t": time.time()}


def diff(a, b):
    return {k: b[k] - a[k] for k in ("ns", "ticks", "vcs", "nvcs", "t")}


def loadavg():
    return open("/proc/loadavg").read().split()[:3]


# --------------------------------------------------------------- agent ----
def agent_status(state):
    out = subprocess.run([AGENT, "status", "--json", "--state-dir", state], capture_output=True,
                         env={"PATH": os.environ.get("PATH", ""), "HOME": os.path.join(W, "home")})
    try:
        return json.loads(out.stdout)
    except ValueError:
        return None


def rounds(state):
    s = agent_status(state)
    return s["counters"]["probe_rounds"] if s else None


def is_compliant(state):
    s = agent_status(state)
    return s if s and s.get("phase") == "known" and s.get("posture") == "Compliant" else None


TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z")


def log_lines_after(path, offset):
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read()
    return data.decode(errors="replace"), offset + len(data)


def record_time(at):
    """Seconds since the epoch of a record's RFC 3339 UTC `at`."""
    whole, frac = at.rstrip("Z").split(".")
    t = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
    return t + float("0." + frac)


def line_time(line):
    m = TS.match(line)
    if not m:
        return None
    whole, frac = m.group(1).split(".")
    t = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
    return t + float("0." + frac)


# ---------------------------------------------------------------- main ----
def window(agent, state, seconds):
    """The agent's CPU and context switches per probe round over `seconds`."""
    r0, s0 = rounds(state), sample(agent.pid)
    time.sleep(seconds)
    s1, r1 = sample(agent.pid), rounds(state)
    d = diff(s0, s1)
    n = max(r1 - r0, 1)
    return {"rounds": r1 - r0, "cpu_ms_per_round": d["ns"] / n / 1e6,
            "cs_per_round": (d["vcs"] + d["nvcs"]) / n, "threads": s1["threads"]}


def time_to_notice(lab, state, agent_log, trials):
    history = os.path.join(state, "probe-rounds.jsonl")
    """Milliseconds from a CoA to Unknown to the agent's `-> discovering` line."""
    notice = []
    slices = list(range(trials))
    random.shuffle(slices)
    offset = os.path.getsize(agent_log)
    for i in range(trials):
        st = wait_for("Compliant", lambda: is_compliant(state), every=0.2)
        session = st["session_id"]
        _, offset = log_lines_after(agent_log, offset)
        # The first round after Compliant comes after the transition delay;
        # wait for the second, a regular one. A round is recorded in the
        # probe history when it ends (the log writes only the first of a run
        # of identical rounds); a dropped round ends an interval after it
        # started.
        # The agent trims the history by rewriting it: a file shorter than
        # the offset is read again from the start, and only rounds that
        # ended after this wait began count.
        since = time.time()
        _, h_offset = log_lines_after(history, 0)
        seen = [0]

        def round_started():
            nonlocal h_offset
            if os.path.getsize(history) < h_offset:
                h_offset = 0
            text, h_offset = log_lines_after(history, h_offset)
            for line in text.splitlines():
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if rec.get("outcome") == "blocked" and record_time(rec["at"]) >= since:
                    seen[0] += 1
                    if seen[0] >= 2:
                        return record_time(rec["at"]) - rec.get("took_ms", 0) / 1000
            return None

        t_round = wait_for("a regular probe round", round_started, timeout=30, every=0.005)
        u = (slices[i] + random.random()) / trials * INTERVAL_S
        # Behind a dropping dACL a round's line comes an interval after its
        # start, when the next round has already begun: aim into that one.
        target = t_round + u
        while target < time.time():
            target += INTERVAL_S
        time.sleep(max(0.0, target - time.time()))
        t0 = admin_coa(lab, session, "Unknown")

        def noticed():
            nonlocal offset
            text, offset = log_lines_after(agent_log, offset)
            for line in text.splitlines():
                if "-> discovering" in line:
                    return line_time(line) or time.time()
            return None

        t1 = wait_for("the agent to notice the CoA", noticed, timeout=30, every=0.005)
        notice.append((t1 - t0) * 1000)
    notice.sort()
    return {"trials": len(notice), "median_ms": statistics.median(notice),
            "max_ms": max(notice), "min_ms": min(notice), "all_ms": notice}


def main():
    os.makedirs(os.path.join(W, "home"), exist_ok=True)
    results = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "nproc": os.cpu_count(),
               "loadavg_start": loadavg(), "kernel": os.uname().release}
    log(f"work dir {W}")

    # Lab A: the agent's PSN. Lab B (same CA): the baselines' PSN.
    lab_a = start_lab(os.path.join(W, "a"), ["psn1"])
    os.makedirs(os.path.join(W, "b", "lab"), exist_ok=True)
    for f in ("ca.pem", "ca-key.pem", "ca.json"):
        src = os.path.join(lab_a["dir"], f)
        if os.path.exists(src):
            shutil.copy(src, os.path.join(W, "b", "lab", f))
    lab_b = start_lab(os.path.join(W, "b"), ["psn2", "psn3"])
    ca = os.path.join(lab_a["dir"], "ca.pem")
    ctl(lab_b, "seed", "02:00:00:00:00:aa", "Unknown", "--id", BASE_SESSION)
    ctl(lab_b, "seed", "02:00:00:00:00:bb", "Unknown", "--id", CURL_SESSION)
    ctl(lab_a, "dacl", "psn1", "reject")
    psn1, psn2, psn3 = lab_a["nodes"]["psn1"], lab_b["nodes"]["psn2"], lab_b["nodes"]["psn3"]

    # The agent, as deployed (default log level info), 1 s interval.
    adir = os.path.join(W, "agent")
    state, logs = os.path.join(adir, "state"), os.path.join(adir, "logs")
    os.makedirs(state, exist_ok=True)
    os.makedirs(logs, exist_ok=True)
    # The profile in a directory of its own, as deployed: the watcher sees
    # every change in the profile's directory (stderr.log would wake it).
    os.makedirs(os.path.join(adir, "profile"), exist_ok=True)
    profile = os.path.join(adir, "profile", "ISEPostureCFG.xml")
    with open(profile, "w") as f:
        f.write(f"""<?xml version="1.0" encoding="UTF-8"?>
<cfg>
  <StateSyncProbeInterval>{int(INTERVAL_S)}</StateSyncProbeInterval>
  <NetworkTransitionDelay>{DELAY_S}</NetworkTransitionDelay>
  <CallHomeList>{psn1['discovery']}</CallHomeList>
  <ServerPorts>1024-65535</ServerPorts>
</cfg>
""")
    agent = spawn([AGENT, "run", "--profile", profile, "--state-dir", state, "--log-dir", logs,
                   "--ca-file", ca, "--mac", AGENT_MAC,
                   "--gateway", "off", "--network-watch", "off", "--start-spread", "0"], os.path.join(adir, "stderr.log"),
                  # The environment the installed systemd unit gives it (one glibc
                  # malloc arena: docs/benchmarks.md, "Idle RSS and glibc's arenas").
                  env={"MALLOC_ARENA_MAX": "1"})
    t_agent = time.time()
    wait_for("the agent to reach Compliant", lambda: is_compliant(state))
    agent_log = os.path.join(logs, "posture-sync.log")

    minimal = spawn([MINIMAL, "--addr", psn2["sync"], "--ca", ca, "--session", BASE_SESSION,
                     "--interval-ms", str(int(INTERVAL_S * 1000))], os.path.join(W, "minimal.log"))
    fifo = os.path.join(W, "curl.fifo")
    os.mkfifo(fifo)
    # `read -t` on a FIFO nobody writes is a builtin sleep: the loop's only
    # child processes are the curls themselves.
    curl_loop = spawn(["bash", "-c",
                       f"exec 9<>{fifo}; while :; do curl -s -o /dev/null --cacert {ca} "
                       f"'https://{psn3['sync']}/auth/posturestatus?session={CURL_SESSION}'; "
                       f"read -t {INTERVAL_S} -u 9 || true; done"], os.path.join(W, "curl.log"))
    time.sleep(5)

    # 1. Steady state at 1 s: agent blocked by reset (dACL reject).
    log(f"steady state: {WINDOW} s at a {INTERVAL_S:.0f} s interval (agent blocked by dACL reject)")
    r0, m0, c0 = rounds(state), node_requests(lab_b, "psn2"), node_requests(lab_b, "psn3")
    sa0, sm0, sc0 = sample(agent.pid), sample(minimal.pid), sample(curl_loop.pid, True)
    threads_max, samples = 0, []
    end = time.time() + WINDOW
    while time.time() < end:
        s = sample(agent.pid)
        threads_max = max(threads_max, s["threads"])
        samples.append(s)
        time.sleep(2)
    sa1, sm1, sc1 = sample(agent.pid), sample(minimal.pid), sample(curl_loop.pid, True)
    r1, m1, c1 = rounds(state), node_requests(lab_b, "psn2"), node_requests(lab_b, "psn3")
    da, dm, dc = diff(sa0, sa1), diff(sm0, sm1), diff(sc0, sc1)
    ra, rm, rc = r1 - r0, m1 - m0, c1 - c0
    results["steady"] = {
        "agent_rounds": ra, "minimal_probes": rm, "curl_iterations": rc,
        "agent_cpu_ms_per_round": da["ns"] / ra / 1e6,
        "agent_cpu_ms_per_round_ticks": da["ticks"] * 1000 / TICK / ra,
        "minimal_cpu_ms_per_probe": dm["ns"] / rm / 1e6,
        "minimal_cpu_ms_per_probe_ticks": dm["ticks"] * 1000 / TICK / rm,
        "curl_cpu_ms_per_iteration": dc["ticks"] * 1000 / TICK / rc,
        "agent_cs_per_round": (da["vcs"] + da["nvcs"]) / ra,
        "agent_vcs_per_round": da["vcs"] / ra,
        "minimal_cs_per_probe": (dm["vcs"] + dm["nvcs"]) / rm,
        "minimal_vcs_per_probe": dm["vcs"] / rm,
        "agent_threads_max": threads_max,
        "agent_threads_now": sa1["threads"],
        "minimal_threads": sm1["threads"],
        "agent_rss_kb": sa1["rss_kb"], "agent_rss_rounds": r1,
        "minimal_rss_kb": sm1["rss_kb"],
        "loadavg": loadavg(),
    }
    log(json.dumps(results["steady"]))
    os.killpg(curl_loop.pid, signal.SIGTERM)
    curl_loop.wait()

    # 1b. Answered rounds: the PSN answers every probe with HTTP 500 (full
    # TCP + TLS + request + reply; a failed round, so the agent stays known
    # and probes again next interval). The minimal loop's PSN answers 500
    # too, and both are measured over the same window: the ratio compares
    # the same exchange under the same load (the steady window's baseline
    # probes were answered 200 with a body, in another stretch of time).
    log(f"answered: {ANSWERED_WINDOW} s (psn1 and psn2 answer 500, dACL off)")
    ctl(lab_a, "fault", "psn1", "http500", "--scope", "sync")
    ctl(lab_b, "fault", "psn2", "http500", "--scope", "sync")
    ctl(lab_a, "dacl", "psn1", "off")
    time.sleep(3)
    m0, sm0 = node_requests(lab_b, "psn2"), sample(minimal.pid)
    results["answered"] = window(agent, state, ANSWERED_WINDOW)
    sm1, m1 = sample(minimal.pid), node_requests(lab_b, "psn2")
    dm = diff(sm0, sm1)
    results["answered"]["minimal_probes"] = m1 - m0
    results["answered"]["minimal_cpu_ms_per_probe"] = dm["ns"] / max(m1 - m0, 1) / 1e6
    log(json.dumps(results["answered"]))
    os.killpg(minimal.pid, signal.SIGTERM)
    minimal.wait()
    ctl(lab_a, "dacl", "psn1", "reject")
    ctl(lab_a, "fault", "psn1", "none")
    ctl(lab_b, "fault", "psn2", "none")
    time.sleep(3)

    # 2. The connected PSN silently drops (dACL drop: accepted, never answered).
    log(f"silent drop: {DROP_WINDOW} s")
    ctl(lab_a, "dacl", "psn1", "drop")
    time.sleep(7)  # let the round in flight end
    results["dropped"] = window(agent, state, DROP_WINDOW)
    log(json.dumps(results["dropped"]))
    ctl(lab_a, "dacl", "psn1", "reject")
    time.sleep(7)

    # 3. Time to notice a server-side change (CoA to Unknown) in regular
    # probing, behind a rejecting dACL and behind a silently dropping one
    # (psn-lab accepts and never answers: each blocked round waits until the
    # next is due). The CoA moments are spread evenly over the probe period
    # (stratified random): each trial waits for a regular round (its log
    # line), then sends the CoA a random moment within its own slice of
    # [0, interval) after that round's *start* (jitter only shortens the
    # interval, and the interval runs from a round's start).
    for key, mode, trials in (("notice", "reject", TRIALS), ("notice_drop", "drop", DROP_TRIALS)):
        ctl(lab_a, "dacl", "psn1", mode)
        log(f"time to notice ({mode} dACL): {trials} CoAs to Unknown at random moments")
        results[key] = time_to_notice(lab_a, state, agent_log, trials)
        log(json.dumps(results[key]))
    ctl(lab_a, "dacl", "psn1", "reject")
    wait_for("Compliant", lambda: is_compliant(state), every=0.2)

    # 4. Latency and failover, in process (agent transport vs minimal client).
    log(f"latency: {LAT_N} probes per client, interleaved; failover rounds")
    out = subprocess.run([LATENCY, "--addr", psn2["sync"], "--ca", ca, "--session", BASE_SESSION,
                          "--n", str(LAT_N), "--rounds", "20"], capture_output=True, check=True,
                         env={"PATH": os.environ.get("PATH", ""), "HOME": os.path.join(W, "home")})
    results["latency"] = json.loads(out.stdout)
    log(json.dumps(results["latency"]))

    # 5. Long run: RSS after many rounds.
    left = LONG - (time.time() - t_agent)
    if left > 0:
        log(f"long run: {left:.0f} s more")
        time.sleep(left)
    s = sample(agent.pid)
    results["long"] = {"rss_kb": s["rss_kb"], "rounds": rounds(state), "threads": s["threads"]}
    log(json.dumps(results["long"]))

    # 6. Refused: the PSN's port closed (lab A stopped).
    log(f"refused: {REFUSED_WINDOW} s with lab A stopped")
    os.killpg(lab_a["proc"].pid, signal.SIGTERM)
    lab_a["proc"].wait()
    time.sleep(3)
    results["refused"] = window(agent, state, REFUSED_WINDOW)
    log(json.dumps(results["refused"]))
    st = agent_status(state)
    results["refused"]["phase_after"] = st and st.get("phase")

    results["size"] = {"agent_bytes": os.path.getsize(AGENT), "minimal_bytes": os.path.getsize(MINIMAL)}
    results["loadavg_end"] = loadavg()
    json.dump(results, open(os.path.join(W, "results.json"), "w"), indent=1)
    report(results)


def report(r):
    st, lat, n = r["steady"], r["latency"], r["notice"]
    base = st["minimal_cpu_ms_per_probe"]
    iv = INTERVAL_S * 1000
    rows = []

    def goal(name, value, limit, ok, unit=""):
        rows.append((name, value, limit, "PASS" if ok else "MISS"))

    a = st["agent_cpu_ms_per_round"]
    ans = r["answered"]["cpu_ms_per_round"]
    goal("CPU/round (blocked, reset) / minimal loop", f"{a:.3f} ms / {base:.3f} ms = {a / base:.2f}x",
         "<= 1.25x", a / base <= 1.25)
    ans_base = r["answered"]["minimal_cpu_ms_per_probe"]
    goal("CPU/round (answered, HTTP 500) / minimal loop", f"{ans:.3f} ms / {ans_base:.3f} ms = "
         f"{ans / ans_base:.2f}x ({r['answered']['rounds']} rounds, same window)", "<= 1.25x",
         ans / ans_base <= 1.25)
    goal("CPU/round / bash+curl iteration", f"{a:.3f} / {st['curl_cpu_ms_per_iteration']:.2f} ms = "
         f"{a / st['curl_cpu_ms_per_iteration']:.3f}x", "<= 0.1x", a / st["curl_cpu_ms_per_iteration"] <= 0.1)
    goal("CPU/round (blocked, reset) / answered", f"{a:.3f} ms = {a / ans:.2f}x", "<= 1x", a <= ans)
    for k, label in (("dropped", "silently dropped"), ("refused", "refused")):
        c = r[k]["cpu_ms_per_round"]
        goal(f"CPU/round ({label}) / answered", f"{c:.3f} ms = {c / ans:.2f}x "
             f"({r[k]['rounds']} rounds; {c / base:.2f}x minimal)", "<= 1x", c <= ans)
    rss100, rss_end = st["agent_rss_kb"], r["long"]["rss_kb"]
    goal("idle RSS", f"{rss100 / 1024:.1f} MiB at round {st['agent_rss_rounds']}, "
         f"{rss_end / 1024:.1f} MiB at round {r['long']['rounds']}", "< 8 MB, flat (<= 5 %)",
         max(rss100, rss_end) * 1024 < 8e6 and rss_end <= rss100 * 1.05)
    goal("threads", f"{st['agent_threads_max']} (minimal loop {st['minimal_threads']})", "<= 3",
         st["agent_threads_max"] <= 3)
    goal("context switches/round", f"{st['agent_cs_per_round']:.1f} (minimal {st['minimal_cs_per_probe']:.1f})",
         "<= minimal + 2", st["agent_cs_per_round"] <= st["minimal_cs_per_probe"] + 2)
    goal("time to notice, median", f"{n['median_ms']:.0f} ms ({n['trials']} CoAs)", f"<= {0.6 * iv:.0f} ms",
         n["median_ms"] <= 0.6 * iv)
    goal("time to notice, max", f"{n['max_ms']:.0f} ms", f"<= {iv + 100:.0f} ms", n["max_ms"] <= iv + 100)
    nd = r["notice_drop"]
    goal("time to notice (dropping dACL), median", f"{nd['median_ms']:.0f} ms ({nd['trials']} CoAs)",
         f"<= {0.6 * iv:.0f} ms", nd["median_ms"] <= 0.6 * iv)
    goal("time to notice (dropping dACL), max", f"{nd['max_ms']:.0f} ms", f"<= {iv + 100:.0f} ms",
         nd["max_ms"] <= iv + 100)
    goal("failover round (silent + answering backup)", f"p50 {lat['failover_p50_ms']:.1f} ms, "
         f"max {lat['failover_max_ms']:.1f} ms", f"<= stagger + 100 = {STAGGER_MS + 100:.0f} ms",
         lat["failover_max_ms"] <= STAGGER_MS + 100)
    goal("probe latency p50 / minimal", f"{lat['agent_p50_ms']:.3f} / {lat['minimal_p50_ms']:.3f} ms = "
         f"{lat['agent_p50_ms'] / lat['minimal_p50_ms']:.2f}x", "<= 1.3x",
         lat["agent_p50_ms"] <= 1.3 * lat["minimal_p50_ms"])
    goal("probe latency p99", f"{lat['agent_p99_ms']:.3f} ms (minimal {lat['minimal_p99_ms']:.3f})", "< 2 ms",
         lat["agent_p99_ms"] < 2)
    goal("stripped release binary", f"{r['size']['agent_bytes'] / 1e6:.2f} MB "
         f"(minimal loop {r['size']['minimal_bytes'] / 1e6:.2f} MB)", "< 4 MB", r["size"]["agent_bytes"] < 4e6)
    print(f"\nposture-sync benchmarks, {r['date']}, {r['nproc']} CPUs, kernel {r['kernel']}, "
          f"load average {' '.join(r['loadavg_start'])} (start) / {' '.join(r['loadavg_end'])} (end)")
    print(f"reference figures: minimal loop {base:.3f} ms CPU/probe at 1 s "
          f"({st['minimal_cpu_ms_per_probe_ticks']:.2f} ms by ticks), back to back {lat['minimal_b2b_cpu_ms']:.3f} ms "
          f"(agent transport {lat['agent_b2b_cpu_ms']:.3f} ms), RSS {st['minimal_rss_kb'] / 1024:.1f} MiB; "
          f"bash+curl {st['curl_cpu_ms_per_iteration']:.2f} ms CPU/iteration ({st['curl_iterations']} iterations)\n")
    w = max(len(x[0]) for x in rows)
    v = max(len(x[1]) for x in rows)
    print(f"| {'goal':{w}} | {'measured':{v}} | {'bound':28} | result |")
    print(f"|{'-' * (w + 2)}|{'-' * (v + 2)}|{'-' * 30}|--------|")
    for name, value, limit, res in rows:
        print(f"| {name:{w}} | {value:{v}} | {limit:28} | {res:6} |")
    print(f"\nraw results: {os.path.join(W, 'results.json')}")


try:
    main()
finally:
    cleanup()
