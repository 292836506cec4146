#!/usr/bin/env bash
# Fleet scale (issue 16): what N agents do to the PSNs in each scenario,
# measured with fleet-sim against psn-lab on loopback. Prints one table row
# per run (and keeps every run's JSON summary). See docs/fleet.md.
#
# Usage:  bench/fleet.sh          (needs python3; ~25 minutes with the defaults)
# Knobs (environment):
#   ENDPOINTS="1000"        fleet sizes (space-separated)
#   INTERVALS="30"          StateSyncProbeInterval values, seconds
#   SCENARIOS="steady psn-restart node-failure mass-return mdm-storm"
#   SPREAD=10               the agent's start spread (seconds) for the
#                           before/after mass-return pair; 0 skips the pair
#   TRANSITION_DELAY=10     NetworkTransitionDelay, seconds
#   WORK=/tmp/dir           where the JSON summaries and psn-lab logs go (kept)
#   BUILD=0                 use the release binaries already built
# Never part of scripts/test: the figures are measurements, not assertions
# (CI runs one 200-endpoint scenario: examples/tests/fleet_smoke.rs).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ENDPOINTS=${ENDPOINTS:-1000}
INTERVALS=${INTERVALS:-30}
SCENARIOS=${SCENARIOS:-steady psn-restart node-failure mass-return mdm-storm}
SPREAD=${SPREAD:-10}
TRANSITION_DELAY=${TRANSITION_DELAY:-10}
export WORK=${WORK:-$(mktemp -d /tmp/posture-sync-fleet.XXXXXX)}
mkdir -p "$WORK"
command -v python3 >/dev/null || { echo "bench/fleet.sh: python3 is needed" >&2; exit 1; }

if [ "${BUILD:-1}" != 0 ]; then
  echo "fleet: building release binaries (fleet-sim, psn-lab)..." >&2
  (cd "$ROOT" && cargo build --release -q -p psn-lab --bin psn-lab --bin fleet-sim)
fi
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}/release

run() { # name, then fleet-sim arguments
  local name=$1; shift
  echo "fleet: $name ($(date -u +%H:%M:%S), load $(cut -d' ' -f1 /proc/loadavg))" >&2
  mkdir -p "$WORK/$name"
  # Exit 1 (not every endpoint recovered) still writes a summary: keep it.
  "$TARGET/fleet-sim" "$@" --json --dir "$WORK/$name" --psn-lab "$TARGET/psn-lab" \
    --transition-delay "$TRANSITION_DELAY" >"$WORK/$name.json" || [ $? -eq 1 ]
}

for n in $ENDPOINTS; do
  for i in $INTERVALS; do
    for s in $SCENARIOS; do
      run "$s-n$n-i$i" "$s" --endpoints "$n" --interval "$i"
    done
    if [ "$SPREAD" != 0 ]; then
      run "mass-return-n$n-i$i-spread$SPREAD" mass-return --endpoints "$n" --interval "$i" --start-spread "$SPREAD"
    fi
  done
done

python3 - "$WORK" <<'PY'
import json, pathlib, sys
work = pathlib.Path(sys.argv[1])
rows = []
def rates(windows, key):
    # Windows under 0.5 s merged into the next, as fleet-sim does
    # (scenario.rs, MIN_WINDOW); then the peak and p99 of the 1 s rates.
    out, count, secs = [], 0, 0.0
    for w in windows:
        count += w["requests"][key] if key != "all" else sum(w["requests"].values())
        secs += w["secs"]
        if secs >= 0.5:
            out.append(count / secs)
            count, secs = 0, 0.0
    out.sort()
    if not out:
        return 0.0, 0.0
    import math
    return out[-1], out[max(1, math.ceil(0.99 * len(out))) - 1]

for f in sorted(work.glob("*.json")):
    s = json.loads(f.read_text())
    l, r = s["load"], s["recovery"]
    for key in ("discovery", "requirements", "report", "probe", "all"):
        l[key]["peak"], l[key]["p99"] = rates(s["windows"], key)
    sec = lambda v: "-" if v is None else f"{v:.1f}"
    rows.append([
        s["scenario"] + (f" (spread {s['start_spread_s']:g} s)" if s["start_spread_s"] else ""),
        str(s["endpoints"]), str(s["interval_s"]),
        f"{l['all']['peak']:.0f}", f"{l['all']['p99']:.0f}",
        f"{l['discovery']['peak']:.0f}", f"{l['requirements']['peak']:.0f}",
        f"{l['report']['peak']:.0f}", f"{l['probe']['peak']:.0f}", f"{l['probe']['mean']:.0f}",
        f"{r['recovered']}/{r['affected']}", sec(r["p50_s"]), sec(r["p99_s"]), sec(r["p100_s"]),
        str(sum(s["failed_requests"].values())),
        f"{s['agent_cpu_pct_per_1000']:.1f}",
        f"{s['machine']['load_at_start']:.1f}",
    ])
head = ["scenario", "N", "interval s", "all peak/s", "all p99/s", "disc peak/s", "req peak/s",
        "report peak/s", "probe peak/s", "probe mean/s", "known again", "50 % s", "99 % s",
        "100 % s", "failed", "agent CPU % core/1000", "load"]
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for r in rows:
    print("| " + " | ".join(r) + " |")
print(f"\n(JSON summaries and psn-lab logs: {work})")
PY
