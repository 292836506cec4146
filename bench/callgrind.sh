#!/usr/bin/env bash
# Instructions (callgrind), system calls (strace -c) or CPU time per thread
# of the agent's answered probe round against the baseline's probe
# (bench/callgrind.py; docs/benchmarks.md). Builds the release binaries as
# bench/run.sh does, then runs the measurement. Loopback only; needs
# python3 and valgrind (or strace with --strace).
#
# Usage:  bench/callgrind.sh [--rounds 40] [--strace | --cpu] [--agent BIN] [--work DIR]
# Never part of scripts/test: the figures are measurements, not assertions.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
(cd "$ROOT" && cargo build --release -q -p posture-sync --bin posture-sync \
  && cargo build --release -q -p posture-sync --example minimal-probe-loop \
  && cargo build --release -q -p psn-lab --bin psn-lab)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
exec python3 "$ROOT/bench/callgrind.py" --target "$TARGET/release" "$@"
