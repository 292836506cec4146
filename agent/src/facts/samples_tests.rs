//! The macOS and Windows fact parsers on recorded output, run on every
//! platform (the commands themselves run only on their OS).

use super::{disk, firewall, os};

#[test]
fn filevault_on_off_and_unreadable() {
    let on = disk::parse_fdesetup_status(include_str!("samples/fdesetup-on.txt")).unwrap();
    assert!(on.encrypted);
    assert_eq!(on.detail, "FileVault is on");
    let off = disk::parse_fdesetup_status(include_str!("samples/fdesetup-off.txt")).unwrap();
    assert!(!off.encrypted);
    assert_eq!(off.detail, "FileVault is off");
    let busy = disk::parse_fdesetup_status(
        "FileVault is On.\nEncryption in progress: Percent completed = 41.2\n",
    )
    .unwrap();
    assert!(!busy.encrypted, "not complete yet");
    let e = disk::parse_fdesetup_status("fdesetup: command not permitted").unwrap_err();
    assert!(e.0.starts_with("FileVault state unreadable"), "{e}");
}

#[test]
fn bitlocker_protection_status() {
    let d = disk::parse_manage_bde_status(include_str!("samples/manage-bde-status.txt")).unwrap();
    assert!(d.encrypted);
    assert_eq!(d.source, "C:");
    assert_eq!(d.detail, "BitLocker: Protection On, Fully Encrypted");
    let off = disk::parse_manage_bde_status(
        "    Conversion Status:    Fully Decrypted\r\n    Protection Status:    Protection Off\r\n",
    )
    .unwrap();
    assert!(!off.encrypted);
    let e = disk::parse_manage_bde_status(
        "ERROR: An attempt to access a required resource was denied.",
    )
    .unwrap_err();
    assert!(e.0.contains("no Protection Status"), "{e}");
}

#[test]
fn macos_application_firewall() {
    let f = firewall::parse_socketfilterfw(include_str!("samples/socketfilterfw-on.txt")).unwrap();
    assert!(f.enabled);
    assert!(
        !firewall::parse_socketfilterfw("Firewall is disabled. (State = 0)")
            .unwrap()
            .enabled
    );
    assert!(firewall::parse_socketfilterfw("something else").is_err());
}

#[test]
fn windows_firewall_needs_every_profile_on() {
    let f = firewall::parse_netsh_profiles(include_str!("samples/netsh-allprofiles.txt")).unwrap();
    assert!(!f.enabled);
    assert_eq!(f.detail, "Windows Firewall is off in the Public profile");
    let on = include_str!("samples/netsh-allprofiles.txt").replace("OFF", "ON");
    let f = firewall::parse_netsh_profiles(&on).unwrap();
    assert!(f.enabled);
    assert_eq!(f.detail, "Windows Firewall is on in all 3 profiles");
    // A localized netsh prints no `State` line this parser knows: unreadable.
    assert!(firewall::parse_netsh_profiles("Status    EIN").is_err());
}

#[test]
fn windows_version_from_the_registry() {
    let v =
        os::parse_windows_current_version(include_str!("samples/reg-currentversion.txt")).unwrap();
    assert_eq!(v.id, "windows");
    assert_eq!(v.version, "10.0.22631");
    assert_eq!(
        v.pretty, "Windows 11 Pro",
        "build 22000 and later is Windows 11"
    );
    assert!(os::parse_windows_current_version("ERROR: access is denied").is_err());
}
