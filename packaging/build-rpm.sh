#!/usr/bin/env bash
# Builds the RPM package and checks it with Debian's rpm tools:
#   1. release build of posture-sync and the assets generated from the code
#      (as build-deb.sh; the build is shared when both run);
#   2. cargo generate-rpm (needs cargo-generate-rpm:
#      `cargo install cargo-generate-rpm --version 0.21.1 --locked`);
#   3. the file list (rpm -qpl) holds every asset, with the modes intended;
#   4. the scriptlets (rpm -qp --scripts) are packaging/rpm's: enable the
#      user unit for every user, disable it on removal (cargo-generate-rpm
#      takes a script path it cannot find as the script's text, silently);
#   5. the payload extracts (rpm2archive | tar) and the binary in it runs.
# Prints the .rpm's path last. Usage: packaging/build-rpm.sh
set -euo pipefail
cd "$(dirname "$0")/.."

. packaging/release-assets.sh

echo "==> cargo generate-rpm"
out=$target_dir/generate-rpm
rm -f "$out"/posture-sync-*.rpm
cargo generate-rpm -p agent --target-dir "$target_dir"
rpm=$(ls "$out"/posture-sync-*.rpm)

echo "==> contents of $rpm"
listing=$(rpm -qp --queryformat '[%{FILEMODES:perms} %{FILENAMES}\n]' "$rpm")
echo "$listing"
for want in \
    "-rwxr-xr-x /usr/bin/posture-sync" \
    "-rw-r--r-- /usr/share/man/man1/posture-sync.1.gz" \
    "-rw-r--r-- /usr/share/man/man1/posture-sync-install.1.gz" \
    "-rw-r--r-- /usr/share/bash-completion/completions/posture-sync" \
    "-rw-r--r-- /usr/share/zsh/site-functions/_posture-sync" \
    "-rw-r--r-- /usr/share/fish/vendor_completions.d/posture-sync.fish" \
    "-rw-r--r-- /usr/lib/systemd/user/posture-sync.service" \
    "-rw-r--r-- /etc/xdg/autostart/posture-sync.desktop" \
    "-rw-r--r-- /usr/share/doc/posture-sync/examples/ISEPostureCFG.xml" \
    "-rw-r--r-- /usr/share/licenses/posture-sync/LICENSE"
do
    if ! grep -qxF -- "$want" <<<"$listing"; then
        echo "build-rpm: '$want' is missing from $rpm" >&2
        exit 1
    fi
done
# The plain list too, as an administrator reads it.
names=$(rpm -qpl "$rpm")
grep -qx /usr/bin/posture-sync <<<"$names"
info=$(rpm -qpi "$rpm")
grep -q "^Name *: posture-sync" <<<"$info"
# An administrator's edit of the autostart entry survives an upgrade.
grep -qx /etc/xdg/autostart/posture-sync.desktop <<<"$(rpm -qpc "$rpm")"

echo "==> scriptlets"
scripts=$(rpm -qp --scripts "$rpm")
echo "$scripts"
grep -q "^postinstall scriptlet" <<<"$scripts"
grep -q "systemctl --global enable posture-sync.service" <<<"$scripts"
grep -q "^preuninstall scriptlet" <<<"$scripts"
grep -q "systemctl --global disable posture-sync.service" <<<"$scripts"

echo "==> payload"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
rpm2archive - <"$rpm" | tar -xzf - -C "$root"
"$root/usr/bin/posture-sync" --version
"$root/usr/bin/posture-sync" profile check "$root/usr/share/doc/posture-sync/examples/ISEPostureCFG.xml"
grep -q "X-systemd-skip=true" "$root/etc/xdg/autostart/posture-sync.desktop"

echo "build-rpm: ok $rpm"
