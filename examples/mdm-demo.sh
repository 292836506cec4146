#!/usr/bin/env bash
# MDM demo: one command, loopback only. mdm-lab (a JAMF-style MDM) holds the
# endpoint compliant; psn-lab polls it every 2 s; the agent is Compliant and
# its probes are blocked by the dACL emulation. Then the MDM flips the device
# non-compliant: psn-lab's poller turns the verdict into a CoA, the probe gets
# through, the agent rediscovers and re-assesses, and ends NonCompliant; a flip
# back brings it to Compliant. Everything is stopped and removed on exit
# (KEEP=1 keeps the temp dir with the logs). See docs/mdm.md.
#
# Usage: examples/mdm-demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
note() { printf '   %s\n' "$*"; }
die() { printf '\ndemo failed: %s\n' "$*" >&2; exit 1; }

say "building posture-sync, psn-lab and mdm-lab (debug)"
cargo build --quiet -p posture-sync -p psn-lab --bins
target="${CARGO_TARGET_DIR:-target}"
agent_bin="$target/debug/posture-sync"
lab_bin="$target/debug/psn-lab"
mdm_bin="$target/debug/mdm-lab"
mac=02:00:5e:00:53:99

work="$(mktemp -d "${TMPDIR:-/tmp}/posture-sync-mdm-demo.XXXXXX")"
pids=()
cleanup() {
    set +e
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill "${pids[$i]}" 2>/dev/null && wait "${pids[$i]}" 2>/dev/null
    done
    if [ "${KEEP:-0}" = 1 ]; then printf '\nlogs kept in %s\n' "$work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_file() { # wait_file FILE PID
    for _ in $(seq 1 150); do
        [ -s "$1" ] && return 0
        kill -0 "$2" 2>/dev/null || die "a process exited early; logs in $work"
        sleep 0.2
    done
    die "timed out waiting for $1"
}
json_field() { grep -o "\"$1\": *\"[^\"]*\"" "$2" | head -n1 | sed 's/.*: *"\(.*\)"/\1/'; }

say "starting mdm-lab: the device $mac is compliant"
mkdir -p "$work/lab"
printf '{ "devices": [ { "mac": "%s", "compliant": true } ] }\n' "$mac" >"$work/lab/inventory.json"
"$mdm_bin" serve --dir "$work/lab" --inventory "$work/lab/inventory.json" \
    --listen 127.0.0.1:0 --admin 127.0.0.1:0 >"$work/mdm.out" 2>"$work/mdm.log" &
pids+=($!)
wait_file "$work/lab/mdm-ready.json" "${pids[-1]}"
mdm_port="$(json_field listen "$work/lab/mdm-ready.json" | sed 's/.*://')"
instance="$(json_field instance "$work/lab/mdm-ready.json")"
sed 's/^/   /' "$work/mdm.out"

cat >"$work/lab/lab.json" <<JSON
{ "mdm": { "name": "JAMF_LAB", "host": "localhost", "port": $mdm_port, "instance": "$instance",
           "username": "ise", "password": "lab-password", "ca_file": "ca.pem",
           "polling_interval": "2s", "compliance_cache_expiration": "2s", "lab_fast": true } }
JSON
say "psn-lab mdm test (the External MDM form's Test Connection)"
"$lab_bin" mdm test --config "$work/lab/lab.json" | sed 's/^/   /'

say "starting psn-lab with the MDM integration, dACL emulation on"
"$lab_bin" serve --dir "$work/lab" --config "$work/lab/lab.json" --node psn1=127.0.0.1:0:0 \
    --admin 127.0.0.1:0 >"$work/lab.out" 2>"$work/lab.log" &
pids+=($!)
wait_file "$work/lab/ready.json" "${pids[-1]}"
ctl() { "$lab_bin" ctl --dir "$work/lab" "$@"; }
ctl dacl psn1 reject >/dev/null
discovery="$(json_field discovery "$work/lab/ready.json")"

cat >"$work/profile.xml" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<cfg><StateSyncProbeInterval>2</StateSyncProbeInterval><NetworkTransitionDelay>2</NetworkTransitionDelay>
<CallHomeList>$discovery</CallHomeList><ServerPorts>1024-65535</ServerPorts></cfg>
XML
say "starting the agent (probe every 2 s)"
"$agent_bin" run --profile "$work/profile.xml" --state-dir "$work/state" --log-dir "$work/logs" \
    --ca-file "$work/lab/ca.pem" --mac "$mac" 2>"$work/agent.log" &
pids+=($!)
agent_pid="${pids[-1]}"

status_json() { "$agent_bin" status --state-dir "$work/state" --json 2>/dev/null || true; }
field() { grep -o "\"$1\":\"[^\"]*\"" | head -n1 | sed 's/.*:"\(.*\)"/\1/'; }
number() { grep -o "\"$1\":[0-9]*" | head -n1 | sed 's/.*://'; }
wait_for() { # wait_for DESCRIPTION COMMAND...
    local what="$1"; shift
    for _ in $(seq 1 300); do
        kill -0 "$agent_pid" 2>/dev/null || die "the agent exited: $(tail -n 20 "$work/agent.log")"
        if "$@"; then return 0; fi
        sleep 0.2
    done
    die "timed out waiting for $what; logs in $work"
}
known_as() { local s; s="$(status_json)"; [ "$(field phase <<<"$s")" = known ] && [ "$(field posture <<<"$s")" = "$1" ]; }
blocked() { local s; s="$(status_json)"; [ "${s:+$(number probe_rounds <<<"$s")}" -ge 2 ] 2>/dev/null && [ "$(field outcome <<<"$s")" = blocked ]; }
restarts() { status_json | number discovery_restarts; }

wait_for "Compliant" known_as Compliant
wait_for "blocked probe rounds" blocked
note "agent: Compliant, probes blocked by the dACL"

say "the MDM flips the device non-compliant"
"$mdm_bin" ctl --dir "$work/lab" compliance "$mac" false --reason "FileVault is off" >/dev/null
before="$(restarts)"
wait_for "psn-lab's CoA" grep -q "CoA from the MDM verdict" "$work/lab.log"
grep "CoA from the MDM verdict" "$work/lab.log" | tail -n1 | sed -E 's/^[0-9T:.-]+Z +//; s/^/   psn-lab | /'
wait_for "the agent to rediscover and end NonCompliant" \
    bash -c "[ \"\$('$agent_bin' status --state-dir '$work/state' --json | grep -o '\"discovery_restarts\":[0-9]*' | sed 's/.*://')\" -gt $before ]"
wait_for "NonCompliant" known_as NonCompliant
note "agent: rediscovered, re-assessed: NonCompliant (the MDM's verdict outweighs the passing report)"

say "the MDM flips the device back to compliant"
"$mdm_bin" ctl --dir "$work/lab" compliance "$mac" true >/dev/null
wait_for "Compliant again" known_as Compliant
note "agent: Compliant again"
ctl mdm | grep -E '"(polls|coas|verdict)"' | sed 's/^/   /'
say "demo complete"
