#!/usr/bin/env bash
# Builds the Debian package and checks it:
#   1. release build of posture-sync;
#   2. assets generated from the code (man pages, completions, systemd user
#      unit, autostart entry: agent/examples/gen-assets.rs);
#   3. cargo deb (needs cargo-deb: `cargo install cargo-deb --locked`);
#   4. the package's file list (dpkg-deb -c) holds every asset;
#   5. it installs into a temporary root (dpkg --root, maintainer scripts
#      included, never touching this machine's /etc), the installed binary
#      runs, and the installed unit passes `systemd-analyze verify`.
# Prints the .deb's path last. Usage: packaging/build-deb.sh
set -euo pipefail
cd "$(dirname "$0")/.."

. packaging/release-assets.sh

echo "==> cargo deb"
rm -f "$target_dir"/debian/posture-sync_*.deb
cargo deb --locked --no-build -p posture-sync
deb=$(ls "$target_dir"/debian/posture-sync_*.deb)

echo "==> contents of $deb"
listing=$(dpkg-deb -c "$deb")
echo "$listing"
for path in \
    ./usr/bin/posture-sync \
    ./usr/share/man/man1/posture-sync.1.gz \
    ./usr/share/man/man1/posture-sync-dart.1.gz \
    ./usr/share/man/man1/posture-sync-install.1.gz \
    ./usr/share/bash-completion/completions/posture-sync \
    ./usr/share/zsh/vendor-completions/_posture-sync \
    ./usr/share/fish/vendor_completions.d/posture-sync.fish \
    ./usr/lib/systemd/user/posture-sync.service \
    ./etc/xdg/autostart/posture-sync.desktop \
    ./usr/share/doc/posture-sync/examples/ISEPostureCFG.xml \
    ./usr/share/doc/posture-sync/copyright
do
    if ! grep -q " $path\$" <<<"$listing"; then
        echo "build-deb: $path is missing from $deb" >&2
        exit 1
    fi
done
# Read whole, then searched: `cmd | grep -q` under pipefail fails with
# SIGPIPE (141) when grep stops reading before cmd has written everything.
info=$(dpkg-deb -I "$deb")
grep -q "Package: posture-sync" <<<"$info"
grep -q "postinst" <<<"$info"

echo "==> install into a temporary root"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
touch "$root/var/lib/dpkg/status" "$root/var/lib/dpkg/available"
# --force-script-chrootless runs postinst with DPKG_ROOT set; it honours it
# (systemctl --root), so nothing outside $root changes. --force-depends: the
# empty root has no libc6 package record.
dpkg --root="$root" --log=/dev/null --force-not-root --force-script-chrootless \
    --force-depends --install "$deb"
installed=$(dpkg --root="$root" -s posture-sync)
grep -q "Status: install ok installed" <<<"$installed"
"$root/usr/bin/posture-sync" --version
"$root/usr/bin/posture-sync" profile check "$root/usr/share/doc/posture-sync/examples/ISEPostureCFG.xml"
grep -q "X-systemd-skip=true" "$root/etc/xdg/autostart/posture-sync.desktop"
test -L "$root/etc/systemd/user/default.target.wants/posture-sync.service"
if command -v systemd-analyze >/dev/null; then
    # systemd-analyze verify checks that ExecStart's program is executable on
    # this machine, where the package is not installed: verify a copy of the
    # installed unit whose ExecStart points into the temporary root.
    units=$(mktemp -d)
    sed "s|\"/usr/bin/posture-sync\"|\"$root/usr/bin/posture-sync\"|" \
        "$root/usr/lib/systemd/user/posture-sync.service" >"$units/posture-sync.service"
    out=$(systemd-analyze verify --man=no "$units/posture-sync.service" 2>&1) || true
    rm -rf "$units"
    if grep -q "posture-sync" <<<"$out"; then
        echo "build-deb: systemd-analyze verify: $out" >&2
        exit 1
    fi
fi
dpkg --root="$root" --log=/dev/null --force-not-root --force-script-chrootless --remove posture-sync
test ! -e "$root/usr/bin/posture-sync"
test ! -e "$root/etc/systemd/user/default.target.wants/posture-sync.service"

echo "build-deb: ok $deb"
