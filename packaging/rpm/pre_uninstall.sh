#!/bin/sh
# %preun of the RPM (cargo-generate-rpm: pre_uninstall_script). Undoes the
# global enable when the package is removed ($1 = 0), not on an upgrade
# ($1 = 1), as %systemd_user_preun does. Agents running in sessions stop at
# logout; each user's state stays (`posture-sync uninstall --purge`).
if [ "$1" = 0 ] && command -v systemctl >/dev/null 2>&1; then
    systemctl --global disable posture-sync.service >/dev/null 2>&1 || :
fi
exit 0
