#!/usr/bin/env bash
# Sourced by build-deb.sh and build-rpm.sh from the repository's root: the
# release build of posture-sync and the assets generated from the code (man
# pages, completions, the systemd user unit, the autostart entry:
# agent/examples/gen-assets.rs) in $assets, below $target_dir.
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
assets=$target_dir/release/assets

echo "==> release build"
cargo build --release --locked -p posture-sync --bin posture-sync

echo "==> assets from the code"
rm -rf "$assets"
cargo run --release --locked -q -p posture-sync --example gen-assets -- "$assets"
# Debian policy, and what rpm expects too: man pages are gzipped (-n: no
# name or time stamp, reproducible).
gzip -9n "$assets"/man/*.1
