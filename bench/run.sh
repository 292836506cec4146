#!/usr/bin/env bash
# Agent benchmarks (issue 4, performance): posture-sync against a minimal
# probe loop and a bash+curl loop, all in one run against the same local
# psn-lab, loopback only. Prints a table of figures and ratios against the
# goals (PASS/MISS per goal). See docs/benchmarks.md.
#
# Usage:  bench/run.sh            (needs python3 and curl; ~15 minutes)
# Knobs (environment):
#   WINDOW=180     seconds of steady-state probing measured at a 1 s interval
#   LONG=600       seconds the agent runs in total before the late RSS sample
#   ANSWERED_WINDOW=60 seconds measured with the PSN answering every probe (HTTP 500)
#   DROP_WINDOW=60 seconds measured with the connected PSN silently dropping
#   REFUSED_WINDOW=60 seconds measured with nothing listening (refused)
#   TRIALS=30      server-side changes (CoA) for the time-to-notice figure
#   LAT_N=2000     probes per client for the latency comparison
#   WORK=/tmp/dir  (kept afterwards: logs, profiles, results.json)
# Never part of scripts/test: the figures are measurements, not assertions.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
export WORK=${WORK:-$(mktemp -d /tmp/posture-sync-bench.XXXXXX)}
mkdir -p "$WORK"
for tool in python3 curl; do
  command -v "$tool" >/dev/null || { echo "bench/run.sh: $tool is needed" >&2; exit 1; }
done
echo "bench: building release binaries (posture-sync, psn-lab, the baseline examples)..." >&2
# Separate invocations: the agent is measured as shipped (`cargo build
# --release -p posture-sync`), without features that the examples'
# dev-dependencies or psn-lab would unify in.
(cd "$ROOT" && cargo build --release -q -p posture-sync --bin posture-sync \
  && cargo build --release -q -p posture-sync --example minimal-probe-loop --example probe-latency \
  && cargo build --release -q -p psn-lab --bin psn-lab)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
exec python3 "$ROOT/bench/bench.py" --target "$TARGET/release" --work "$WORK"
