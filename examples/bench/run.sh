#!/usr/bin/env bash
# Benchmark of one psn-lab state sync port against nginx serving a static reply,
# on this machine (loopback only), with the same certificate on both servers.
#
# Every probe is a new TCP + TLS connection, as agents do; measured with full
# handshakes and with TLS session resumption, for an ECDSA P-256 certificate
# (the lab default) and an RSA-2048 one. Also: latency at a fixed rate, and RSS.
#
# Usage:  examples/bench/run.sh   (needs nginx and python3: apt-get install -y nginx-light python3)
# Knobs (environment): DURATION=10 (s per run)  CONC=8 (closed-loop concurrency; rustls clients keep 8 tickets per server, so more concurrency starves resumption)
#   RATE=1000 (probes/s for the latency run)  KEYS="ecdsa rsa"  CLIENT_THREADS=2
#   ROUNDS=3 (alternating rounds per comparison; medians reported)
#   WORK=/tmp/dir (kept afterwards for inspection)
# Output: one JSON line per run in $WORK/results.jsonl and a summary table.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DURATION=${DURATION:-10}
CONC=${CONC:-8}
RATE=${RATE:-1000}
KEYS=${KEYS:-"ecdsa rsa"}
CLIENT_THREADS=${CLIENT_THREADS:-2}
ROUNDS=${ROUNDS:-3}
WORK=${WORK:-$(mktemp -d /tmp/psn-lab-bench.XXXXXX)}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
SESSION=bench-session-0001

if [[ ! -x $NGINX ]]; then
  echo "run.sh: nginx not found (install it: apt-get install -y nginx-light, or set NGINX=/path/to/nginx)" >&2
  exit 1
fi
mkdir -p "$WORK"
echo "building release binaries..." >&2
(cd "$ROOT" && cargo build --release -q -p psn-lab --bins)
LAB=$ROOT/target/release/psn-lab
BENCH=$ROOT/target/release/psn-lab-bench
RESULTS=$WORK/results.jsonl
: > "$RESULTS"
echo "{\"label\":\"machine\",\"nproc\":$(nproc),\"loadavg_start\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >> "$RESULTS"

PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [[ -n $p ]] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

rss_kb() { # sum of VmRSS over the given pids
  local total=0 p v
  for p in "$@"; do
    v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

free_port() { # a port the system hands out now (closed again at once)
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_for() { # file, seconds
  local i
  for ((i = 0; i < $2 * 20; i++)); do [[ -s $1 ]] && return 0; sleep 0.05; done
  echo "run.sh: $1 did not appear" >&2
  return 1
}

for KEY in $KEYS; do
  DIR=$WORK/$KEY
  rm -rf "$DIR"; mkdir -p "$DIR/nginx"
  if [[ $KEY == rsa ]]; then
    "$LAB" certs --dir "$DIR" --node psn1 --rsa >/dev/null
  else
    "$LAB" certs --dir "$DIR" --node psn1 >/dev/null
  fi
  cat > "$DIR/lab.json" <<JSON
{ "sessions": [ { "mac": "02:00:00:00:00:01", "status": "Unknown", "id": "$SESSION" } ] }
JSON
  # Request logs off for the measurement (nginx: access_log off); warnings stay on.
  RUST_LOG=warn "$LAB" serve --dir "$DIR" --config "$DIR/lab.json" \
    --node psn1=127.0.0.1:0:0 --admin 127.0.0.1:0 > "$DIR/serve.out" 2> "$DIR/serve.err" &
  LAB_PID=$!
  PIDS+=("$LAB_PID")
  wait_for "$DIR/ready.json" 30
  LAB_ADDR=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["nodes"][0]["sync"])' "$DIR/ready.json")

  NGINX_PORT=$(free_port)
  cat > "$DIR/nginx/nginx.conf" <<CONF
worker_processes auto;
pid $DIR/nginx/nginx.pid;
error_log $DIR/nginx/error.log warn;
daemon off;
events { worker_connections 4096; }
http {
  access_log off;
  ssl_session_cache shared:SSL:10m;
  ssl_session_tickets on;
  client_body_temp_path $DIR/nginx;
  server {
    listen 127.0.0.1:$NGINX_PORT ssl;
    ssl_certificate $DIR/psn1.pem;
    ssl_certificate_key $DIR/psn1-key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location = /auth/posturestatus {
      default_type application/xml;
      return 200 '<postureStatus session="$SESSION" status="Unknown"/>';
    }
  }
}
CONF
  "$NGINX" -p "$DIR/nginx" -c "$DIR/nginx/nginx.conf" -e "$DIR/nginx/error.log" &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  wait_for "$DIR/nginx/nginx.pid" 30
  NGINX_ADDR=127.0.0.1:$NGINX_PORT
  PATH_Q="/auth/posturestatus?session=$SESSION"

  run() { # label addr extra-args...
    local label=$1 addr=$2; shift 2
    "$BENCH" --addr "$addr" --ca "$DIR/ca.pem" --path "$PATH_Q" --duration "$DURATION" \
      --threads "$CLIENT_THREADS" --label "$label" "$@" | tee -a "$RESULTS"
  }
  # Rounds alternate which server goes first, so that load from elsewhere on the
  # machine hits both alike; the summary takes the median of the rounds.
  for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
    ORDER=(psn-lab nginx); ((ROUND % 2 == 0)) && ORDER=(nginx psn-lab)
    for RES in full resume; do
      FLAG=(); [[ $RES == resume ]] && FLAG=(--resume)
      for S in "${ORDER[@]}"; do
        ADDR=$LAB_ADDR; [[ $S == nginx ]] && ADDR=$NGINX_ADDR
        run "$KEY $RES $S" "$ADDR" --concurrency "$CONC" "${FLAG[@]}"
      done
    done
  done
  run "$KEY full rate$RATE psn-lab" "$LAB_ADDR" --rate "$RATE"
  run "$KEY full rate$RATE nginx" "$NGINX_ADDR" --rate "$RATE"
  NGINX_PIDS=("$NGINX_PID" $(pgrep -P "$NGINX_PID" || true))
  echo "{\"label\":\"$KEY rss\",\"psn_lab_rss_kb\":$(rss_kb "$LAB_PID"),\"nginx_rss_kb\":$(rss_kb "${NGINX_PIDS[@]}"),\"nginx_processes\":${#NGINX_PIDS[@]}}" | tee -a "$RESULTS"
  kill "$LAB_PID" "$NGINX_PID" 2>/dev/null || true
  wait "$LAB_PID" "$NGINX_PID" 2>/dev/null || true
done

echo "{\"label\":\"machine-end\",\"loadavg_end\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >> "$RESULTS"

python3 - "$RESULTS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
runs = {}
for r in rows:
    if "probes_per_s" in r:
        runs.setdefault(r["label"], []).append(r)
def med(label, field):
    return statistics.median(r[field] for r in runs[label])
print()
for r in rows:
    if r["label"].startswith("machine"):
        print({k: v for k, v in r.items() if k != "label"})
print(f"{'run (median of rounds)':30} {'n':>2} {'probes/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'resumed %':>9}")
for label, rs in runs.items():
    ok = sum(r["ok"] for r in rs)
    res = 100.0 * sum(r["resumed"] for r in rs) / ok if ok else 0.0
    errs = sum(r["errors"] for r in rs)
    print(f"{label:30} {len(rs):>2} {med(label,'probes_per_s'):>9.0f} {med(label,'p50_ms'):>7.2f} {med(label,'p99_ms'):>7.2f} {errs:>6} {res:>9.0f}")
for r in rows:
    if "psn_lab_rss_kb" in r:
        print(f"{r['label']}: psn-lab RSS {r['psn_lab_rss_kb']/1024:.1f} MiB, nginx RSS {r['nginx_rss_kb']/1024:.1f} MiB ({r['nginx_processes']} processes)")
print()
for key in ("ecdsa", "rsa"):
    for res in ("full", "resume"):
        a, b = f"{key} {res} psn-lab", f"{key} {res} nginx"
        if a in runs and b in runs and med(b, "probes_per_s"):
            print(f"{key} {res}: psn-lab / nginx = {med(a,'probes_per_s') / med(b,'probes_per_s'):.2f}x")
PY
echo "results: $RESULTS" >&2
