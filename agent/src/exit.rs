//! Exit statuses from sysexits(3) that the service manager is told about:
//! restarting cannot fix a missing or invalid profile, so the systemd unit
//! lists them in `RestartPreventExitStatus=` next to the lock's exit 4.

/// An invalid profile (sysexits `EX_CONFIG`).
pub const EX_CONFIG: u8 = 78;
/// No profile at the given path, or it cannot be read (sysexits `EX_NOINPUT`).
pub const EX_NOINPUT: u8 = 66;
