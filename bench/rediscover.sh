#!/usr/bin/env bash
# Time to rediscover after an address change (issue 13): the agent on an
# endpoint in a network namespace, its PSN found only through the switch's
# URL redirect on its default gateway (psn-lab's `nad` listener), the dACL as
# nftables rules; each trial adds an address to the endpoint and times the
# change to `known` again. Goal: median <= NetworkTransitionDelay + 1 s.
# Prints a small table (PASS/MISS). See docs/benchmarks.md, "Time to
# rediscover".
#
# Usage:  sudo bench/rediscover.sh        (root: namespaces and nftables)
# Knobs (environment):
#   TRIALS=20      address changes timed
#   DELAY=2        the profile's NetworkTransitionDelay (seconds, 2-30)
#   PROFILE=release  which build to measure (`debug` reuses the test builds)
#   WORK=/tmp/dir  (kept afterwards: logs, profile, results.json)
# Never part of scripts/test, and not of bench/run.sh (which needs no root):
# the figures are measurements, not assertions. Traffic stays inside the
# two namespaces it creates and removes (no uplink, nothing leaves them).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" != 0 ]; then
  echo "bench/rediscover.sh: needs root (network namespaces, nftables); skipped" >&2
  exit 1
fi
for tool in python3 ip nft; do
  command -v "$tool" >/dev/null || { echo "bench/rediscover.sh: $tool is needed" >&2; exit 1; }
done
export WORK=${WORK:-$(mktemp -d /tmp/posture-sync-rediscover.XXXXXX)}
mkdir -p "$WORK"
PROFILE=${PROFILE:-release}
case "$PROFILE" in
  release) flags=(--release) ;;
  debug) flags=() ;;
  *) echo "bench/rediscover.sh: PROFILE is release or debug, not $PROFILE" >&2; exit 2 ;;
esac
echo "bench: building posture-sync and psn-lab ($PROFILE)..." >&2
# As bench/run.sh: the agent alone first, so it is built as shipped.
(cd "$ROOT" && cargo build "${flags[@]}" -q -p posture-sync --bin posture-sync \
  && cargo build "${flags[@]}" -q -p psn-lab --bin psn-lab)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
exec python3 "$ROOT/bench/rediscover.py" --target "$TARGET/$PROFILE" --work "$WORK"
