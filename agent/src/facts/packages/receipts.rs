//! macOS: the installer's package receipts, what `pkgutil --pkgs` lists.
//!
//! Every package the macOS installer installs leaves a property list in
//! [`RECEIPTS`] (`com.crowdstrike.falcon.sensor.plist`, binary or XML) with
//! its `PackageIdentifier`, `PackageVersion` and `InstallDate`. They are
//! read directly (no `pkgutil` run), at most [`MAX_RECEIPTS`] files of at
//! most [`MAX_RECEIPT_BYTES`] each. The receipts of `/Library/Receipts` are
//! those of Mac OS X 10.5 and earlier (bundles, not property lists) and
//! are not read; its `InstallHistory.plist` is the update history
//! (`facts::updates`). Applications copied into `/Applications` without an
//! installer leave no receipt and are not listed.

use super::{Installed, VersionOrder};
use crate::facts::{FactRoot, Unavailable};

/// The installer's receipts directory.
pub const RECEIPTS: &str = "/var/db/receipts";

/// Most receipt files read: a Mac has a few hundred.
pub const MAX_RECEIPTS: usize = 8192;

/// Largest receipt read: one is under 1 KiB.
pub const MAX_RECEIPT_BYTES: u64 = 64 * 1024;

/// One receipt's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// `PackageIdentifier`.
    pub identifier: String,
    /// `PackageVersion`.
    pub version: String,
}

/// Reads the receipts below `root`.
pub fn gather(root: &FactRoot) -> Result<Installed, Unavailable> {
    let dir = root.path(RECEIPTS);
    let entries = std::fs::read_dir(&dir).map_err(|e| {
        Unavailable(format!(
            "installed packages unreadable: cannot list {RECEIPTS}: {e}"
        ))
    })?;
    let mut installed = Installed {
        order: VersionOrder::Dotted,
        source: format!("the package receipts in {RECEIPTS}"),
        ..Installed::default()
    };
    let mut seen = 0;
    for entry in entries.flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !name.ends_with(".plist") {
            continue;
        }
        seen += 1;
        if seen > MAX_RECEIPTS {
            return Err(Unavailable(format!(
                "installed packages unreadable: {RECEIPTS} holds more than {MAX_RECEIPTS} receipts"
            )));
        }
        // A receipt that cannot be read or parsed lists nothing: the
        // condition asking for its package then fails closed as "not
        // installed".
        let Ok(bytes) = root.read_bytes(&format!("{RECEIPTS}/{name}"), MAX_RECEIPT_BYTES) else {
            continue;
        };
        if let Ok(r) = parse_receipt(&bytes) {
            installed.insert_highest(r.identifier, r.version);
        }
    }
    Ok(installed)
}

/// Reads one receipt (a binary or XML property list holding one dict).
pub fn parse_receipt(bytes: &[u8]) -> Result<Receipt, Unavailable> {
    let value = plist::Value::from_reader(std::io::Cursor::new(bytes))
        .map_err(|e| Unavailable(format!("not a property list: {e}")))?;
    let dict = value
        .as_dictionary()
        .ok_or_else(|| Unavailable("a receipt is not a dictionary".to_owned()))?;
    let text = |key: &str| {
        dict.get(key)
            .and_then(plist::Value::as_string)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| Unavailable(format!("a receipt has no {key}")))
    };
    Ok(Receipt {
        identifier: text("PackageIdentifier")?,
        version: text("PackageVersion")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = include_bytes!("../samples/receipt-falcon.plist");

    #[test]
    fn an_xml_receipt_sample() {
        let r = parse_receipt(SAMPLE).unwrap();
        assert_eq!(r.identifier, "com.crowdstrike.falcon.sensor");
        assert_eq!(r.version, "7.10.17706.0");
        let e = parse_receipt(
            b"<plist><dict><key>PackageIdentifier</key><string>x</string></dict></plist>",
        )
        .unwrap_err();
        assert_eq!(e.0, "a receipt has no PackageVersion");
        assert!(parse_receipt(b"garbage").is_err());
    }

    #[test]
    fn receipts_binary_or_xml_are_listed_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let root = FactRoot::at(dir.path());
        let e = gather(&root).unwrap_err();
        assert!(
            e.0.starts_with("installed packages unreadable: cannot list /var/db/receipts"),
            "{e}"
        );
        let receipts = dir.path().join("var/db/receipts");
        std::fs::create_dir_all(&receipts).unwrap();
        std::fs::write(receipts.join("com.crowdstrike.falcon.sensor.plist"), SAMPLE).unwrap();
        std::fs::write(
            receipts.join("com.crowdstrike.falcon.sensor.bom"),
            b"BOMStore",
        )
        .unwrap();
        // The installer writes binary property lists.
        let mut binary = Vec::new();
        plist::Value::from_reader(std::io::Cursor::new(SAMPLE))
            .unwrap()
            .as_dictionary()
            .cloned()
            .map(|mut d| {
                d.insert(
                    "PackageIdentifier".into(),
                    "com.apple.pkg.XProtectPayloads_10_15.16U4420".into(),
                );
                d.insert("PackageVersion".into(), "2189".into());
                d
            })
            .map(plist::Value::Dictionary)
            .unwrap()
            .to_writer_binary(&mut binary)
            .unwrap();
        std::fs::write(
            receipts.join("com.apple.pkg.XProtectPayloads_10_15.16U4420.plist"),
            &binary,
        )
        .unwrap();
        std::fs::write(receipts.join("broken.plist"), b"<plist>").unwrap();
        std::fs::write(
            receipts.join("huge.plist"),
            vec![b' '; MAX_RECEIPT_BYTES as usize + 1],
        )
        .unwrap();
        let p = gather(&root).unwrap();
        assert_eq!(p.versions.len(), 2, "{p:?}");
        assert_eq!(
            p.version("com.crowdstrike.falcon.sensor"),
            Some("7.10.17706.0")
        );
        assert_eq!(
            p.version("com.apple.pkg.XProtectPayloads_10_15.16U4420"),
            Some("2189")
        );
        assert_eq!(p.order, VersionOrder::Dotted);
        assert_eq!(p.source, "the package receipts in /var/db/receipts");
    }
}
