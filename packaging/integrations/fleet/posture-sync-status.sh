#!/bin/sh
# Fleet script (Controls > Scripts, or `fleetctl run-script`): each user's
# posture-sync status on a Linux or macOS host, read from the status.json
# the agent writes in its state dir at every transition (the same object
# as `posture-sync status --json`). Runs as root; reads, never writes.
#
# One line per user with a status file:
#   USER PHASE/POSTURE running=true|false age=SECONDS
# and "no posture-sync status.json" when there is none. Exit 0.
#
# POSTURE_SYNC_HOMES (default "/home /Users") lists the directories that
# hold the home directories (the tests point it elsewhere).
set -u
homes=${POSTURE_SYNC_HOMES:-/home /Users}
now=$(date +%s)
found=0

field() {
    tr -d '\n' <"$1" | sed -n "s/.*\"$2\"[[:space:]]*:[[:space:]]*\"\\([^\"]*\\)\".*/\\1/p"
}

mtime() {
    # GNU stat, then BSD stat (macOS).
    stat -c %Y "$1" 2>/dev/null || stat -f %m "$1"
}

for base in $homes; do
    [ -d "$base" ] || continue
    for home in "$base"/*; do
        for f in "$home/.local/state/posture-sync/status.json" \
            "$home/Library/Application Support/posture-sync/status.json"; do
            # Only regular files: a user's link must not make root read elsewhere.
            [ -f "$f" ] && [ ! -L "$f" ] || continue
            found=1
            running=true
            if grep -q '"running"[[:space:]]*:[[:space:]]*false' "$f"; then
                running=false
            fi
            phase=$(field "$f" phase)
            posture=$(field "$f" posture)
            age=$((now - $(mtime "$f")))
            echo "$(basename "$home") ${phase:-unknown}/${posture:-unknown} running=$running age=$age"
        done
    done
done
[ "$found" = 1 ] || echo "no posture-sync status.json"
exit 0
