#!/usr/bin/env bash
# Builds the macOS installer package, posture-sync-VERSION.pkg, for JAMF Pro,
# Intune or a double click: installed for every user of the Mac.
#
# Usage (on macOS, with Xcode's command line tools):
#   packaging/macos/build-pkg.sh --binary PATH (--profile FILE | --no-profile)
#                                [--sign "Developer ID Installer: ..."] [--out DIR]
#
#   --binary   the posture-sync binary to ship (a universal binary:
#              `lipo -create` of the aarch64- and x86_64-apple-darwin builds);
#   --profile  the ISEPostureCFG.xml every user's agent runs with, installed
#              at /Library/Application Support/posture-sync/ISEPostureCFG.xml;
#   --no-profile  the profile is deployed separately (a JAMF policy, a
#              configuration script): until it exists the agent exits at
#              each login start and launchd retries at most every 10 s;
#   --sign     a Developer ID Installer identity for productbuild.
#
# Payload (packaging/macos/root, plus the binary and the profile):
#   /usr/local/bin/posture-sync
#   /Library/LaunchAgents/org.posture-sync.agent.plist   (root:wheel 0644)
#   /Library/Application Support/posture-sync/ISEPostureCFG.xml
# Scripts (packaging/macos/scripts): preinstall stops the console user's
# agent on an upgrade, postinstall bootstraps it into the console user's
# session. The plist is rendered by the code
# (install::render::system_launch_agent_plist; a test keeps the committed
# copy equal to it).
#
# PKGBUILD and PRODUCTBUILD name the tools (the layout test runs this script
# on Linux with stand-ins that record what they were given).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

binary="" profile="" no_profile=0 sign="" out="$repo/target/macos"
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary=$2; shift 2 ;;
        --profile) profile=$2; shift 2 ;;
        --no-profile) no_profile=1; shift ;;
        --sign) sign=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        *) echo "build-pkg: unknown argument $1 (see the usage at the top of $0)" >&2; exit 2 ;;
    esac
done
if [ -z "$binary" ] || [ ! -f "$binary" ]; then
    echo "build-pkg: --binary PATH is required and must exist (got '${binary}')" >&2
    exit 2
fi
if [ -z "$profile" ] && [ "$no_profile" = 0 ]; then
    echo "build-pkg: give --profile FILE (the profile every user's agent runs with), or --no-profile when it is deployed separately" >&2
    exit 2
fi
if [ -n "$profile" ] && [ ! -f "$profile" ]; then
    echo "build-pkg: the profile $profile does not exist" >&2
    exit 2
fi

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$repo/Cargo.toml" | head -n1)
identifier=org.posture-sync.agent
pkgbuild=${PKGBUILD:-pkgbuild}
productbuild=${PRODUCTBUILD:-productbuild}

staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
# The committed payload, without the repository's dot files.
(cd "$here/root" && find . -type f ! -name '.*' -print0 | while IFS= read -r -d '' f; do
    mkdir -p "$staging/$(dirname "$f")"
    cp "$f" "$staging/$f"
done)
mkdir -p "$staging/usr/local/bin"
install -m 0755 "$binary" "$staging/usr/local/bin/posture-sync"
chmod 0644 "$staging/Library/LaunchAgents/$identifier.plist"
if [ -n "$profile" ]; then
    mkdir -p "$staging/Library/Application Support/posture-sync"
    install -m 0644 "$profile" "$staging/Library/Application Support/posture-sync/ISEPostureCFG.xml"
fi

mkdir -p "$out"
component="$out/posture-sync-component.pkg"
product="$out/posture-sync-$version.pkg"
# --ownership recommended: every payload file root:wheel, as launchd
# requires of a plist in /Library/LaunchAgents.
"$pkgbuild" --root "$staging" --scripts "$here/scripts" --identifier "$identifier" \
    --version "$version" --install-location / --ownership recommended "$component"
sign_args=()
if [ -n "$sign" ]; then
    sign_args=(--sign "$sign")
fi
# The expansion guard: macOS's bash 3.2 calls an empty array unbound under set -u.
"$productbuild" --package "$component" ${sign_args[@]+"${sign_args[@]}"} "$product"
rm -f "$component"
echo "build-pkg: ok $product"
