//! `docs/profile.md` is generated from the key table; this test fails when
//! the committed file drifts. Regenerate with
//! `UPDATE_DOCS=1 cargo test -p profile-schema --test docs`.

// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::path::PathBuf;

use profile_schema::{KEYS, profile_doc_markdown};

fn doc_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/profile.md")
}

#[test]
fn docs_profile_md_matches_the_key_table() {
    let generated = profile_doc_markdown();
    let path = doc_path();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &generated).expect("write docs/profile.md");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is out of date with profile-schema/src/keys.rs; run `UPDATE_DOCS=1 cargo test -p profile-schema --test docs`",
        path.display()
    );
}

#[test]
fn generated_docs_name_every_key_and_its_range() {
    let doc = profile_doc_markdown();
    for k in KEYS {
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", k.name)))
            .unwrap_or_else(|| panic!("{} has no row", k.name));
        assert!(row.contains(k.doc), "{}", k.name);
        if let Some((min, max)) = k.ty.range() {
            assert!(
                row.contains(&format!("{min}-{max}")) || row.contains("0 or 1"),
                "{row}"
            );
        }
    }
}
