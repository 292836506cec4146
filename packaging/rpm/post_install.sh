#!/bin/sh
# %post of the RPM (cargo-generate-rpm: post_install_script). Enables the
# packaged systemd user unit for every user, as %systemd_user_post does;
# nothing is done in any user's session. The unit only starts where
# /etc/posture-sync/ISEPostureCFG.xml exists (ConditionPathExists), so
# installing the package alone starts nothing. $1: 1 install, 2 upgrade.
if command -v systemctl >/dev/null 2>&1; then
    systemctl --global enable posture-sync.service >/dev/null 2>&1 || :
fi
exit 0
