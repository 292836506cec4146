#!/bin/bash
# Jamf Pro extension attribute "posture-sync" (Settings > Computer
# management > Extension attributes > Script; data type String).
#
# Prints one line, <result>PHASE/POSTURE</result>, from
# `posture-sync status --json` of the agent in the console user's session,
# e.g. <result>known/Compliant</result>, or one of:
#   <result>not installed</result>       no binary at $POSTURE_SYNC_BIN
#   <result>no user logged in</result>   the login window: no agent runs
#   <result>not running</result>         status exits 3 (no agent), with
#                                        {"running":false,...} or no output
#   <result>error: ...</result>          anything else (status's message)
#
# Jamf runs it as root at inventory. The agent runs per user, so the status
# is asked as the console user (their state dir and status socket).
# POSTURE_SYNC_BIN (default /usr/local/bin/posture-sync) and
# POSTURE_SYNC_STATE_DIR (a non-default --state-dir; then status is asked
# as the caller) exist for agents installed elsewhere, and for the tests.
set -u
bin=${POSTURE_SYNC_BIN:-/usr/local/bin/posture-sync}
state_dir=${POSTURE_SYNC_STATE_DIR:-}

result() {
    echo "<result>$1</result>"
    exit 0
}

[ -x "$bin" ] || result "not installed"

args=(status --json)
if [ -n "$state_dir" ]; then
    args+=(--state-dir "$state_dir")
fi
err=$(mktemp)
trap 'rm -f "$err"' EXIT
if [ "$(id -u)" = 0 ] && [ -z "$state_dir" ]; then
    user=$(stat -f%Su /dev/console 2>/dev/null || true)
    case "$user" in
        "" | root | loginwindow | _mbsetupuser) result "no user logged in" ;;
    esac
    json=$(sudo -n -u "$user" -H "$bin" "${args[@]}" 2>"$err")
    rc=$?
else
    json=$("$bin" "${args[@]}" 2>"$err")
    rc=$?
fi

# One flat field of the status object: "key":"value" (compact or spaced).
field() {
    printf '%s\n' "$json" | tr -d '\n' |
        sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\\([^\"]*\\)\".*/\\1/p"
}

case "$rc" in
    0)
        if printf '%s' "$json" | grep -q '"running"[[:space:]]*:[[:space:]]*false'; then
            result "not running"
        fi
        phase=$(field phase)
        posture=$(field posture)
        result "${phase:-unknown}/${posture:-unknown}"
        ;;
    3)
        # No agent: today's empty output, or {"running":false,...}.
        result "not running"
        ;;
    *)
        msg=$(head -n1 "$err" | tr -d '<>&')
        result "error: ${msg:-posture-sync status exited $rc}"
        ;;
esac
