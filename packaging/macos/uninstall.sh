#!/bin/bash
# Removes the posture-sync package from a Mac (a JAMF Pro policy's script,
# run as root): stops the console user's agent, removes the LaunchAgent,
# the binary and the package receipt. The profile in
# /Library/Application Support/posture-sync stays unless --purge. Each
# user's own state and logs (~/Library/Application Support/posture-sync,
# ~/Library/Logs/posture-sync) are theirs: `posture-sync uninstall --purge`
# as the user removes them (run it before this script removes the binary).
#
# Usage: uninstall.sh [--purge]. ROOT (default /) is where the files are,
# for the tests.
set -u
label=org.posture-sync.agent
root=${ROOT:-/}
root=${root%/}
purge=0
[ "${1:-}" = "--purge" ] && purge=1

user=$(stat -f%Su /dev/console 2>/dev/null || true)
case "$user" in
    "" | root | loginwindow | _mbsetupuser) ;;
    *)
        uid=$(id -u "$user" 2>/dev/null || true)
        case "$uid" in
            "" | *[!0-9]*) ;;
            *) launchctl bootout "gui/$uid/$label" >/dev/null 2>&1 || true ;;
        esac
        ;;
esac
rm -f "$root/Library/LaunchAgents/$label.plist" "$root/usr/local/bin/posture-sync"
echo "posture-sync uninstall: removed the LaunchAgent and the binary; agents of other logged-in users stop at logout"
if [ "$purge" = 1 ]; then
    rm -rf "$root/Library/Application Support/posture-sync"
    echo "posture-sync uninstall: removed /Library/Application Support/posture-sync"
fi
pkgutil --forget "$label" >/dev/null 2>&1 || true
exit 0
