//! The packages' committed sources (`packaging/`) against the renderers:
//! the macOS payload's plist and the Windows `.reg` are the renderers'
//! output byte for byte, and the WiX source installs per machine and
//! writes the same `Run` command line.

use std::collections::HashMap;
use std::path::PathBuf;

use super::render::{self, LAUNCHD_LABEL, WINDOWS_RUN_NAME};
use super::{
    MACOS_PACKAGED_BINARY, MACOS_SYSTEM_PROFILE, macos_packaged_spec, windows_packaged_spec,
};

fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo_file(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

const PLIST: &str = "packaging/macos/root/Library/LaunchAgents/org.posture-sync.agent.plist";
const REG: &str = "packaging/windows/posture-sync.reg";
const WXS: &str = "packaging/windows/main.wxs";

#[test]
fn the_macos_payload_plist_is_the_rendered_one_with_the_launch_policy() {
    let rendered = render::system_launch_agent_plist(&macos_packaged_spec());
    assert_eq!(
        read(PLIST),
        rendered,
        "{PLIST} drifted from install::render::system_launch_agent_plist: write its output there"
    );
    let v: plist::Value = plist::from_bytes(rendered.as_bytes()).expect("valid plist");
    let d = v.as_dictionary().unwrap();
    assert_eq!(d["Label"].as_string(), Some(LAUNCHD_LABEL));
    let args: Vec<&str> = d["ProgramArguments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_string().unwrap())
        .collect();
    assert_eq!(
        args,
        [
            MACOS_PACKAGED_BINARY,
            "run",
            "--profile",
            MACOS_SYSTEM_PROFILE
        ]
    );
    assert_eq!(d["RunAtLoad"].as_boolean(), Some(true));
    let keep = d["KeepAlive"].as_dictionary().unwrap();
    assert_eq!(keep["SuccessfulExit"].as_boolean(), Some(false));
    assert_eq!(keep.len(), 1);
    assert_eq!(d["LimitLoadToSessionType"].as_string(), Some("Aqua"));
    assert_eq!(
        d["ThrottleInterval"].as_unsigned_integer(),
        Some(10),
        "launchd's minimum between restarts, written down"
    );
    // One log file for every user's agent would be writable by all of them,
    // and launchd does not expand `~`: the agent logs in the user's Library.
    assert!(!d.contains_key("StandardOutPath"));
    assert!(!d.contains_key("StandardErrorPath"));
}

#[test]
fn the_windows_reg_file_is_the_rendered_machine_run_value() {
    let spec = windows_packaged_spec();
    assert_eq!(
        read(REG),
        render::windows_machine_reg_file(&spec),
        "{REG} drifted from install::render::windows_machine_reg_file: write its output there"
    );
    let (key, name, value) = render::windows_machine_run_value(&spec);
    assert_eq!(key, r"HKLM\Software\Microsoft\Windows\CurrentVersion\Run");
    assert_eq!(name, WINDOWS_RUN_NAME);
    assert_eq!(
        value,
        r#""C:\Program Files\posture-sync\posture-syncw.exe" run --profile "C:\ProgramData\posture-sync\ISEPostureCFG.xml""#
    );
}

#[test]
fn windows_quote_always_quotes_and_keeps_a_trailing_backslash() {
    assert_eq!(render::windows_quote_always(r"C:\a.xml"), r#""C:\a.xml""#);
    assert_eq!(render::windows_quote_always(r"C:\dir\"), r#""C:\dir\\""#);
    assert_eq!(
        render::windows_quote_always("a b"),
        render::windows_quote("a b")
    );
}

/// Every element of the WiX source: (name, attributes), in document order.
fn wxs_elements(text: &str) -> Vec<(String, HashMap<String, String>)> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut out = Vec::new();
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) | Event::Empty(e) => {
                let attrs = e
                    .attributes()
                    .map(|a| {
                        let a = a.unwrap();
                        let value = a
                            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                            .unwrap()
                            .into_owned();
                        (a.key.into_inner().to_string(), value)
                    })
                    .collect();
                out.push((e.local_name().into_inner().to_string(), attrs));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

#[test]
fn the_wix_source_installs_per_machine_with_the_rendered_run_value() {
    let elements = wxs_elements(&read(WXS));
    let find = |name: &str| -> Vec<&HashMap<String, String>> {
        elements
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, a)| a)
            .collect()
    };
    let one = |name: &str| -> &HashMap<String, String> {
        let all = find(name);
        assert_eq!(all.len(), 1, "exactly one <{name}> in {WXS}");
        all[0]
    };
    assert_eq!(
        one("Wix")["xmlns"],
        "http://schemas.microsoft.com/wix/2006/wi"
    );
    let product = one("Product");
    // Fixed for the product's whole life: a newer MSI upgrades an older one.
    assert_eq!(
        product["UpgradeCode"],
        "53506CCA-F1F8-4A2E-B6AC-875D6AC8B6E4"
    );
    assert_eq!(product["Version"], "$(var.Version)");
    assert_eq!(one("Package")["InstallScope"], "perMachine");
    one("MajorUpgrade");

    let dirs = find("Directory");
    let dir = |id: &str| {
        dirs.iter()
            .find(|d| d["Id"] == id)
            .unwrap_or_else(|| panic!("no Directory {id} in {WXS}"))
    };
    assert_eq!(dir("APPLICATIONFOLDER")["Name"], "posture-sync");
    dir("$(var.PlatformProgramFilesFolder)");
    dir("CommonAppDataFolder");
    assert_eq!(dir("PROFILEFOLDER")["Name"], "posture-sync");

    let files = find("File");
    for exe in ["posture-sync.exe", render::WINDOWS_LAUNCHER] {
        let f = files
            .iter()
            .find(|f| f["Name"] == exe)
            .unwrap_or_else(|| panic!("{exe} is not installed by {WXS}"));
        assert_eq!(f["Source"], format!(r"$(var.CargoTargetBinDir)\{exe}"));
    }
    let profile = files
        .iter()
        .find(|f| f["Name"] == super::PROFILE_FILE)
        .expect("the profile");
    assert_eq!(profile["Source"], "$(var.ProfileSource)");

    let run = one("RegistryValue");
    let (key, name, value) = render::windows_machine_run_value(&windows_packaged_spec());
    assert_eq!(run["Root"], "HKLM");
    assert_eq!(format!(r"HKLM\{}", run["Key"]), key);
    assert_eq!(run["Name"], name);
    assert_eq!(run["Type"], "string");
    // What Windows Installer makes of the properties on a standard system.
    let installed = run["Value"]
        .replace("[APPLICATIONFOLDER]", r"C:\Program Files\posture-sync\")
        .replace("[CommonAppDataFolder]", r"C:\ProgramData\");
    assert_eq!(installed, value);

    // Users may read the profile folder, never write it (ProgramData's
    // inherited ACL lets them create files).
    let sddl = &one("PermissionEx")["Sddl"];
    assert!(
        sddl.starts_with("D:P"),
        "protected from inheritance: {sddl}"
    );
    let user_aces: Vec<&str> = sddl.split('(').filter(|a| a.contains(";;;BU)")).collect();
    assert_eq!(user_aces, ["A;OICI;FRFX;;;BU)"], "{sddl}");

    let components: Vec<&String> = find("Component").iter().map(|c| &c["Id"]).collect();
    let refs: Vec<&String> = find("ComponentRef").iter().map(|c| &c["Id"]).collect();
    assert_eq!(components, refs, "every component in the feature");
}
