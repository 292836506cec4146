//! `disk-encryption`: whether the root file system lies on dm-crypt (LUKS).
//!
//! Linux: the device under `/` from `/proc/self/mountinfo` (the last mount
//! of `/` wins: it is the one on top), then sysfs: the device is encrypted
//! when `/sys/dev/block/MAJ:MIN/dm/uuid` starts with `CRYPT-` (dm-crypt,
//! LUKS or plain), or when it is a device-mapper device whose every
//! underlying device (`slaves/`, walked recursively: LVM on LUKS) is. A file
//! system without a block device of its own (major 0: btrfs, overlay) is
//! followed through its mount source (`/dev/mapper/root` → `dm-0`) when that
//! is a device node.
//!
//! macOS: `/usr/bin/fdesetup status` (FileVault). Windows: `manage-bde
//! -status C:` (BitLocker, the system drive; it needs administrator rights,
//! without them the fact is unavailable: access denied). Both parsers are
//! tested on every platform with recorded output.

use super::{FactRoot, MAX_FACT_FILE_BYTES, Unavailable};

/// The mount table of the agent's own mount namespace.
pub const MOUNTINFO: &str = "/proc/self/mountinfo";

/// Deepest device-mapper stack walked (LVM on LUKS on RAID is three).
const MAX_DEPTH: usize = 8;

/// Most underlying devices looked at in all.
const MAX_DEVICES: usize = 64;

/// The root file system's device and what the agent found about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootDisk {
    /// The mount source as mountinfo names it (`/dev/vda1`, `/dev/mapper/vg-root`).
    pub source: String,
    /// Whether it is on dm-crypt.
    pub encrypted: bool,
    /// The dm-crypt device found (its dm uuid's first part, `CRYPT-LUKS2`),
    /// or why not.
    pub detail: String,
}

/// Gathers the root disk fact below `root`.
pub fn gather(root: &FactRoot) -> Result<RootDisk, Unavailable> {
    #[cfg(target_os = "linux")]
    {
        linux(root)
    }
    #[cfg(target_os = "macos")]
    {
        let text = super::command::run_text(root, FDESETUP, FDESETUP_ARGS, 64 * 1024)
            .map_err(|e| Unavailable(format!("FileVault state unreadable: {e}")))?;
        parse_fdesetup_status(&text)
    }
    #[cfg(windows)]
    {
        let text = super::command::run_text(root, MANAGE_BDE, MANAGE_BDE_ARGS, 64 * 1024)
            .map_err(|e| Unavailable(format!("BitLocker state unreadable: {e}")))?;
        parse_manage_bde_status(&text)
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
    {
        let _ = root;
        Err(Unavailable(
            "disk encryption unreadable: not implemented on this platform".to_owned(),
        ))
    }
}

/// macOS: FileVault's own tool and its fixed arguments.
pub const FDESETUP: &str = "/usr/bin/fdesetup";
/// `fdesetup status`.
pub const FDESETUP_ARGS: &[&str] = &["status"];

/// Windows: BitLocker's tool and its fixed arguments (the system drive).
pub const MANAGE_BDE: &str = r"C:\Windows\System32\manage-bde.exe";
/// `manage-bde -status C:`.
pub const MANAGE_BDE_ARGS: &[&str] = &["-status", "C:"];

/// macOS: `fdesetup status` (`FileVault is On.`, `FileVault is Off.`, or
/// an encryption or decryption in progress, which does not count yet).
pub fn parse_fdesetup_status(text: &str) -> Result<RootDisk, Unavailable> {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let encrypted = match first {
        "FileVault is On." => true,
        l if l.starts_with("FileVault is Off") => false,
        _ => {
            return Err(Unavailable(format!(
                "FileVault state unreadable: fdesetup said {first:?}"
            )));
        }
    };
    let progress = text
        .lines()
        .map(str::trim)
        .find(|l| l.contains("in progress"));
    Ok(RootDisk {
        source: "the startup disk".to_owned(),
        encrypted: encrypted && progress.is_none(),
        detail: match (encrypted, progress) {
            (true, None) => "FileVault is on".to_owned(),
            (_, Some(p)) => format!("FileVault is not complete ({p})"),
            (false, None) => "FileVault is off".to_owned(),
        },
    })
}

/// Windows: `manage-bde -status C:`, `Protection Status: Protection On`
/// (a volume still being encrypted has protection off).
pub fn parse_manage_bde_status(text: &str) -> Result<RootDisk, Unavailable> {
    let field = |name: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == name).then(|| v.trim().to_owned())
        })
    };
    let protection = field("Protection Status").ok_or_else(|| {
        Unavailable(
            "BitLocker state unreadable: manage-bde printed no Protection Status".to_owned(),
        )
    })?;
    let conversion = field("Conversion Status").unwrap_or_default();
    Ok(RootDisk {
        source: "C:".to_owned(),
        encrypted: protection == "Protection On",
        detail: format!("BitLocker: {protection}, {conversion}"),
    })
}

/// One line of mountinfo, the fields the fact needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// `MAJ:MIN`.
    pub dev: String,
    /// Mount point.
    pub point: String,
    /// File system type.
    pub fstype: String,
    /// Mount source.
    pub source: String,
}

/// The mount on top of `/` in mountinfo text (proc(5)).
pub fn root_mount(mountinfo: &str) -> Option<Mount> {
    mountinfo
        .lines()
        .rev()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let mut right = right.split(' ');
            let (dev, point) = (*left.get(2)?, *left.get(4)?);
            Some(Mount {
                dev: dev.to_owned(),
                point: point.to_owned(),
                fstype: right.next()?.to_owned(),
                source: right.next()?.to_owned(),
            })
        })
        .find(|m| m.point == "/")
}

/// Linux: mountinfo and sysfs.
pub fn linux(root: &FactRoot) -> Result<RootDisk, Unavailable> {
    let text = root.read(MOUNTINFO, MAX_FACT_FILE_BYTES)?;
    let mount =
        root_mount(&text).ok_or_else(|| Unavailable(format!("{MOUNTINFO} lists no mount of /")))?;
    let mut dev = mount.dev.clone();
    if dev.starts_with("0:") {
        // No block device of its own: follow a device node source.
        dev = device_of_source(root, &mount.source).ok_or_else(|| {
            Unavailable(format!(
                "/ is a {} file system on {}, not on a block device the agent can inspect",
                mount.fstype, mount.source
            ))
        })?;
    }
    let mut seen = 0;
    let crypt = encrypted(root, &format!("/sys/dev/block/{dev}"), 0, &mut seen)?;
    Ok(match crypt {
        Some(kind) => RootDisk {
            source: mount.source,
            encrypted: true,
            detail: format!("on a {kind} volume"),
        },
        None => RootDisk {
            source: mount.source,
            encrypted: false,
            detail: "not on a LUKS volume".to_owned(),
        },
    })
}

/// `MAJ:MIN` of a `/dev/...` mount source, through its symbolic link
/// (`/dev/mapper/root` → `../dm-0`) and `/sys/class/block/NAME/dev`.
fn device_of_source(root: &FactRoot, source: &str) -> Option<String> {
    if !source.starts_with("/dev/") || source.contains("..") {
        return None;
    }
    let node = root.path(source);
    let name = match std::fs::read_link(&node) {
        Ok(target) => target.file_name()?.to_str()?.to_owned(),
        Err(_) => node.file_name()?.to_str()?.to_owned(),
    };
    if name.contains('/') || name.starts_with('.') {
        return None;
    }
    let dev = root
        .read(&format!("/sys/class/block/{name}/dev"), 64)
        .ok()?;
    Some(dev.trim().to_owned())
}

/// `Some(kind)` when the device at `sys` (a `/sys/dev/block/...` or a
/// `slaves/` entry) is dm-crypt or stacked only on dm-crypt devices.
fn encrypted(
    root: &FactRoot,
    sys: &str,
    depth: usize,
    seen: &mut usize,
) -> Result<Option<String>, Unavailable> {
    *seen += 1;
    if depth > MAX_DEPTH || *seen > MAX_DEVICES {
        return Err(Unavailable(format!(
            "the device stack under / is deeper than the agent walks ({sys})"
        )));
    }
    if !root.exists(sys) {
        return Err(Unavailable(format!(
            "{sys} does not exist (is sysfs mounted?)"
        )));
    }
    let uuid = root
        .read(&format!("{sys}/dm/uuid"), 4096)
        .map(|u| u.trim().to_owned())
        .unwrap_or_default();
    if let Some(rest) = uuid.strip_prefix("CRYPT-") {
        let kind = rest.split('-').next().unwrap_or("dm-crypt");
        return Ok(Some(format!("dm-crypt ({kind})")));
    }
    if uuid.is_empty() {
        // Not a device-mapper device: a disk or a partition.
        return Ok(None);
    }
    let slaves = root.path(&format!("{sys}/slaves"));
    let mut names: Vec<String> = match std::fs::read_dir(&slaves) {
        Ok(entries) => entries
            .flatten()
            .take(MAX_DEVICES)
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    if names.is_empty() {
        return Ok(None);
    }
    let mut kind = None;
    for name in names {
        match encrypted(root, &format!("{sys}/slaves/{name}"), depth + 1, seen)? {
            Some(k) => kind = Some(k),
            // One unencrypted leg leaves part of / in the clear.
            None => return Ok(None),
        }
    }
    Ok(kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::test_tree::put;

    fn mountinfo(dev: &str, fstype: &str, source: &str) -> String {
        format!(
            "22 27 0:21 / /proc rw,relatime - proc proc rw\n27 1 {dev} / / rw,relatime shared:1 - {fstype} {source} rw\n28 27 0:25 / /boot rw - ext4 /dev/vda1 rw\n"
        )
    }

    #[test]
    fn a_plain_partition_is_not_encrypted() {
        let dir = tempfile::tempdir().unwrap();
        put(
            dir.path(),
            MOUNTINFO,
            &mountinfo("254:1", "ext4", "/dev/vda1"),
        );
        put(dir.path(), "/sys/dev/block/254:1/size", "100\n");
        let d = linux(&FactRoot::at(dir.path())).unwrap();
        assert!(!d.encrypted);
        assert_eq!(d.source, "/dev/vda1");
        assert_eq!(d.detail, "not on a LUKS volume");
    }

    #[test]
    fn a_luks_device_and_lvm_on_luks_are_encrypted() {
        let dir = tempfile::tempdir().unwrap();
        let root = FactRoot::at(dir.path());
        put(
            dir.path(),
            MOUNTINFO,
            &mountinfo("253:0", "ext4", "/dev/mapper/root"),
        );
        put(
            dir.path(),
            "/sys/dev/block/253:0/dm/uuid",
            "CRYPT-LUKS2-0f1e2d3c4b5a69788796a5b4c3d2e1f0-root\n",
        );
        let d = linux(&root).unwrap();
        assert!(d.encrypted);
        assert_eq!(d.detail, "on a dm-crypt (LUKS2) volume");

        put(
            dir.path(),
            MOUNTINFO,
            &mountinfo("253:1", "ext4", "/dev/mapper/vg-root"),
        );
        put(dir.path(), "/sys/dev/block/253:1/dm/uuid", "LVM-abcdef\n");
        put(
            dir.path(),
            "/sys/dev/block/253:1/slaves/dm-0/dm/uuid",
            "CRYPT-LUKS2-0f1e-sda3_crypt\n",
        );
        put(
            dir.path(),
            "/sys/dev/block/253:1/slaves/dm-0/slaves/sda3/size",
            "1\n",
        );
        assert!(linux(&root).unwrap().encrypted);

        // An LV spanning a clear disk too is not encrypted.
        put(dir.path(), "/sys/dev/block/253:1/slaves/sdb1/size", "1\n");
        let d = linux(&root).unwrap();
        assert!(!d.encrypted);
        assert_eq!(d.source, "/dev/mapper/vg-root");

        // LVM without LUKS.
        put(
            dir.path(),
            MOUNTINFO,
            &mountinfo("253:2", "xfs", "/dev/mapper/vg-plain"),
        );
        put(dir.path(), "/sys/dev/block/253:2/dm/uuid", "LVM-xyz\n");
        put(dir.path(), "/sys/dev/block/253:2/slaves/sda2/size", "1\n");
        assert!(!linux(&root).unwrap().encrypted);
    }

    #[cfg(unix)]
    #[test]
    fn btrfs_is_followed_through_its_mount_source() {
        let dir = tempfile::tempdir().unwrap();
        let root = FactRoot::at(dir.path());
        put(
            dir.path(),
            MOUNTINFO,
            &mountinfo("0:31", "btrfs", "/dev/mapper/luks-1"),
        );
        std::fs::create_dir_all(dir.path().join("dev/mapper")).unwrap();
        std::os::unix::fs::symlink("../dm-0", dir.path().join("dev/mapper/luks-1")).unwrap();
        put(dir.path(), "/sys/class/block/dm-0/dev", "253:0\n");
        put(
            dir.path(),
            "/sys/dev/block/253:0/dm/uuid",
            "CRYPT-LUKS2-aa-luks-1\n",
        );
        assert!(linux(&root).unwrap().encrypted);

        put(
            dir.path(),
            MOUNTINFO,
            &mountinfo("0:40", "overlay", "overlay"),
        );
        let e = linux(&root).unwrap_err();
        assert_eq!(
            e.0,
            "/ is a overlay file system on overlay, not on a block device the agent can inspect"
        );
    }

    #[test]
    fn missing_sources_are_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let root = FactRoot::at(dir.path());
        assert!(linux(&root).unwrap_err().0.contains("does not exist"));
        put(
            dir.path(),
            MOUNTINFO,
            &mountinfo("8:1", "ext4", "/dev/sda1"),
        );
        assert!(linux(&root).unwrap_err().0.contains("is sysfs mounted"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_machine_answers_or_says_why_not() {
        // The build machine's / is a plain virtual disk or an overlay: either
        // a fact or a reason, never a panic.
        match linux(&FactRoot::system()) {
            Ok(d) => assert!(!d.source.is_empty()),
            Err(e) => assert!(!e.0.is_empty()),
        }
    }
}
