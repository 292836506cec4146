//! Hostile input is refused without harm: size cap, no DTD or entity
//! expansion, bounded nesting, bounded error lists, bad encodings.

// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::io::Write;

use profile_schema::{LoadError, MAX_ATTRIBUTES, MAX_DEPTH, MAX_PROFILE_BYTES, Profile};

fn only_error(text: &str) -> String {
    let errors = Profile::parse(text).expect_err("must be refused");
    errors
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn text_over_the_size_cap_is_refused_before_parsing() {
    let mut text = String::from("<cfg><NonCompliantTitle>");
    text.push_str(&"x".repeat(MAX_PROFILE_BYTES));
    text.push_str("</NonCompliantTitle></cfg>");
    let e = only_error(&text);
    assert!(e.starts_with("1:1: profile is"), "{e}");
    assert!(e.contains("larger than the limit of 1048576 bytes"), "{e}");
}

#[test]
fn file_over_the_size_cap_is_too_large_not_read() {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    f.write_all(&vec![b' '; MAX_PROFILE_BYTES + 1])
        .expect("write");
    match Profile::load(f.path()) {
        Err(LoadError::TooLarge { size, max, .. }) => {
            assert_eq!(size, MAX_PROFILE_BYTES as u64 + 1);
            assert_eq!(max, MAX_PROFILE_BYTES as u64);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

#[test]
fn a_file_exactly_at_the_cap_is_parsed() {
    let head = "<cfg><NonCompliantTitle>";
    let tail = "</NonCompliantTitle></cfg>";
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    let filler = "y".repeat(MAX_PROFILE_BYTES - head.len() - tail.len());
    write!(f, "{head}{filler}{tail}").expect("write");
    let loaded = Profile::load(f.path()).expect("at the cap is fine");
    assert_eq!(
        loaded.profile.get("NonCompliantTitle").map(str::len),
        Some(filler.len())
    );
}

#[test]
fn billion_laughs_is_refused_at_the_doctype() {
    let mut text =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE cfg [<!ENTITY a \"aaaaaaaaaa\">");
    for i in 1..10 {
        let prev = if i == 1 {
            "a".to_owned()
        } else {
            format!("a{}", i - 1)
        };
        text.push_str(&format!(
            "<!ENTITY a{i} \"{}\">",
            format!("&{prev};").repeat(10)
        ));
    }
    text.push_str("]>\n<cfg><NonCompliantTitle>&a9;</NonCompliantTitle></cfg>");
    assert_eq!(
        only_error(&text),
        "2:1: a DTD (<!DOCTYPE ...>) is not allowed in a profile; remove it"
    );
}

#[test]
fn external_entities_are_never_resolved() {
    let text = "<cfg><NonCompliantTitle>&xxe;</NonCompliantTitle></cfg>";
    let e = only_error(text);
    assert!(e.starts_with("1:25: unknown entity `&xxe;`"), "{e}");
}

#[test]
fn deep_nesting_stops_at_the_depth_limit() {
    let depth = 100_000;
    // An unknown key may hold elements, but not nested without bound.
    let text = format!(
        "<cfg><K>{}{}</K></cfg>",
        "<a>".repeat(depth),
        "</a>".repeat(depth)
    );
    let errors = Profile::parse(&text).expect_err("refused");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        errors[0].to_string(),
        format!("1:27: elements nested deeper than {MAX_DEPTH} levels; parsing stopped")
    );
    assert_eq!(errors[0].key.as_deref(), Some("K"));
    // In a key the agent uses, the first inner element is an error as well.
    let text = format!(
        "<cfg><DartCount>{}{}</DartCount></cfg>",
        "<a>".repeat(depth),
        "</a>".repeat(depth)
    );
    let errors = Profile::parse(&text).expect_err("refused");
    let shown: Vec<String> = errors.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        shown,
        vec![
            "1:17: DartCount: element <a> inside <DartCount>; this key holds plain text: 0-100"
                .to_owned(),
            format!("1:35: elements nested deeper than {MAX_DEPTH} levels; parsing stopped"),
        ]
    );
    // Exactly at the limit is fine (root 1, key 2, six more levels).
    let inner = MAX_DEPTH - 2;
    let text = format!(
        "<cfg><K>{}x{}</K></cfg>",
        "<a>".repeat(inner),
        "</a>".repeat(inner)
    );
    assert!(Profile::parse(&text).is_ok());
}

#[test]
fn error_lists_are_capped() {
    let text = format!("<cfg>{}</cfg>", "<DartCount>x</DartCount>\n".repeat(5000));
    let errors = Profile::parse(&text).expect_err("refused");
    assert!(errors.len() <= 101, "{}", errors.len());
    assert!(errors.len() >= 100);
}

#[test]
fn invalid_characters_and_char_refs_are_refused() {
    let e = only_error("<cfg><NonCompliantTitle>a&#1;b</NonCompliantTitle></cfg>");
    assert!(e.contains("not a valid character reference"), "{e}");
    let e = only_error("<cfg><NonCompliantTitle>a\u{1}b</NonCompliantTitle></cfg>");
    assert!(e.contains("character U+0001 is not allowed in XML"), "{e}");
}

#[test]
fn non_utf8_file_is_invalid_with_a_position() {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    f.write_all(b"<cfg>\n  <NonCompliantTitle>caf\xe9</NonCompliantTitle>\n</cfg>\n")
        .expect("write");
    match Profile::load(f.path()) {
        Err(LoadError::Invalid { errors, .. }) => {
            assert_eq!(errors.len(), 1);
            assert_eq!(
                errors[0].to_string(),
                "2:25: invalid UTF-8 at byte 30; save the profile as UTF-8"
            );
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn structure_errors_have_clear_messages() {
    for (text, want) in [
        ("", "1:1: no <cfg> element: the file holds no profile"),
        (
            "  <!-- only a comment -->\n",
            "2:1: no <cfg> element: the file holds no profile",
        ),
        (
            "<cfg/><cfg/>",
            "1:7: second root element <cfg> after </cfg>; a profile has exactly one <cfg> element",
        ),
        (
            "<cfg>stray<DartCount>3</DartCount></cfg>",
            "1:6: text `stray` inside <cfg> but outside any key; write each value inside its key element",
        ),
        (
            "<cfg></cfg>junk",
            "1:12: text `junk` outside the <cfg> element; write each value inside its key element",
        ),
        (
            "<cfg><DartCount>3</cfg>",
            "1:18: malformed XML: ill-formed document: expected `</DartCount>`, but `</cfg>` was found",
        ),
        (
            "<cfg><DartCount>3</DartCount>",
            "1:30: unexpected end of file: <cfg> is not closed",
        ),
        (
            "<cfg><DartCount>3",
            "1:18: unexpected end of file: <DartCount> is not closed",
        ),
    ] {
        assert_eq!(only_error(text), want, "input {text:?}");
    }
}

#[test]
fn bom_declaration_comments_and_whitespace_are_accepted() {
    let text = "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- c -->\n<cfg>\n <!-- c2 -->\n <DartCount>\n  7 \n </DartCount>\n <?pi x?>\n</cfg>\n<!-- end -->\n";
    let loaded = Profile::parse(text).expect("valid");
    assert_eq!(loaded.profile.dart_count(), 7);
    assert_eq!(loaded.profile.get("DartCount"), Some("7"));
}

#[test]
fn unknown_key_differing_only_in_case_gets_a_hint() {
    let loaded = Profile::parse("<cfg><statesyncprobeinterval>60</statesyncprobeinterval></cfg>")
        .expect("valid");
    assert_eq!(
        loaded.profile.state_sync_interval(),
        None,
        "the misspelt key is not used"
    );
    assert_eq!(loaded.notes.len(), 1);
    assert_eq!(
        loaded.notes[0].help.as_deref(),
        Some("did you mean StateSyncProbeInterval? key names are case-sensitive")
    );
}

#[test]
fn repeated_unknown_keys_are_kept_not_rejected() {
    let loaded = Profile::parse("<cfg><V>1</V><V>2</V></cfg>").expect("valid");
    assert_eq!(loaded.profile.entries().len(), 2);
    assert_eq!(loaded.profile.get("V"), Some("1"));
}

#[test]
fn attributes_on_keys_are_noted() {
    let loaded = Profile::parse("<cfg><DartCount unit=\"n\">2</DartCount></cfg>").expect("valid");
    assert_eq!(loaded.profile.dart_count(), 2);
    assert_eq!(
        loaded.notes[0].to_string(),
        "1:6: note: DartCount: attributes on <DartCount> are ignored and not written back"
    );
}

#[test]
fn element_names_that_could_not_be_written_back_are_refused() {
    // Found by the fuzzer: quick-xml reads `<  X/>` as an empty name.
    assert_eq!(
        only_error("<cfg>\n  <  X/>\n</cfg>"),
        "2:3: `<`: not a valid element name"
    );
    assert_eq!(
        only_error("<cfg><1Key>2</1Key></cfg>"),
        "1:6: `<1Key`: not a valid element name"
    );
    assert!(Profile::parse("<cfg><Vendor.Key-2_é>2</Vendor.Key-2_é></cfg>").is_ok());
}

#[test]
fn a_one_line_profile_with_many_keys_is_parsed_in_linear_time() {
    // Columns are counted incrementally: one line of 1 MiB with ~200,000
    // unknown keys must not cost a scan from the line start per key.
    let mut text = String::from("<cfg>");
    while text.len() < MAX_PROFILE_BYTES - 16 {
        text.push_str("<V/>");
    }
    text.push_str("</cfg>");
    let loaded = Profile::parse(&text).expect("valid");
    assert!(loaded.profile.entries().len() > 200_000);
    assert_eq!(loaded.notes.len(), 101, "notes are capped");
    assert!(
        loaded.notes[100]
            .message
            .ends_with("more notes not shown (unknown keys are kept all the same)")
    );
    // Columns stay exact far along the line: write one error at the end.
    let bad = format!(
        "{}<DartCount>x</DartCount></cfg>",
        &text[..text.len() - "</cfg>".len() - 64]
    );
    let errors = Profile::parse(&bad).expect_err("invalid");
    assert_eq!(
        errors[0].column as usize,
        text.len() - "</cfg>".len() - 64 + 1
    );
}

/// `<tag a0="" a1="" ...>` with `count` distinct attribute names.
fn start_tag_with_attributes(tag: &str, count: usize) -> String {
    let mut s = format!("<{tag}");
    for i in 0..count {
        s.push_str(&format!(" a{i}=\"\""));
    }
    s.push('>');
    s
}

#[test]
fn an_element_over_the_attribute_cap_is_an_error_at_its_position() {
    let vendor = start_tag_with_attributes("VendorUi", MAX_ATTRIBUTES + 1);
    let text = format!(
        "<cfg>\n  <StateSyncProbeInterval>30</StateSyncProbeInterval>\n  {vendor}x</VendorUi>\n</cfg>\n"
    );
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    f.write_all(text.as_bytes()).expect("write");
    let Err(LoadError::Invalid { path, errors }) = Profile::load(f.path()) else {
        panic!("expected an invalid profile");
    };
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        errors[0].render(&path),
        format!(
            "{}:3:3: malformed XML: attributes of <VendorUi>: more than {MAX_ATTRIBUTES} attributes, the most one element may have",
            path.display()
        )
    );
    assert_eq!(errors[0].key.as_deref(), Some("VendorUi"));

    // Inside a key too, at the nested element.
    let nested = start_tag_with_attributes("Row", MAX_ATTRIBUTES + 1);
    assert_eq!(
        only_error(&format!("<cfg><VendorUi>\n{nested}</Row></VendorUi></cfg>")),
        format!(
            "2:1: malformed XML: attributes of <Row>: more than {MAX_ATTRIBUTES} attributes, the most one element may have"
        )
    );
}

#[test]
fn an_element_at_the_attribute_cap_is_kept_and_written_back() {
    let vendor = start_tag_with_attributes("VendorUi", MAX_ATTRIBUTES);
    let text = format!("<cfg>{vendor}x</VendorUi></cfg>");
    let loaded = Profile::parse(&text).expect("at the cap is fine");
    let entry = &loaded.profile.entries()[0];
    assert_eq!(entry.attributes().split(' ').count(), MAX_ATTRIBUTES);
    let again = Profile::parse(&loaded.profile.to_xml()).expect("round trip");
    assert_eq!(again.profile, loaded.profile);
}

#[test]
fn duplicate_attributes_are_still_reported() {
    assert_eq!(
        only_error("<cfg><VendorUi x='1' y='2' x='3'>v</VendorUi></cfg>"),
        "1:6: malformed XML: attributes of <VendorUi>: position 21: duplicated attribute, previous declaration at position 9"
    );
    // Far apart in a long list, and at the cap's edge.
    let mut tag = start_tag_with_attributes("VendorUi", MAX_ATTRIBUTES - 1);
    tag.insert_str(tag.len() - 1, " a7=\"again\"");
    let e = only_error(&format!("<cfg>{tag}v</VendorUi></cfg>"));
    assert!(e.contains("duplicated attribute"), "{e}");
}

/// The review's profile: 1 MB, 140,000 attributes on one element. Refused
/// at the cap (the test asserts the outcome, never a duration; the
/// figures are in `docs/benchmarks.md`).
#[test]
fn a_megabyte_of_attributes_on_one_element_is_refused() {
    let mut text = String::from("<cfg>\n<VendorUi");
    let mut i = 0;
    while text.len() < MAX_PROFILE_BYTES - 64 {
        text.push_str(&format!(" a{i}=\"\""));
        i += 1;
    }
    text.push_str("/>\n</cfg>\n");
    assert!(i > 100_000, "{i} attributes");
    let e = only_error(&text);
    assert!(
        e.starts_with(&format!(
            "2:1: malformed XML: attributes of <VendorUi>: more than {MAX_ATTRIBUTES} attributes"
        )),
        "{e}"
    );
}

/// As many attributes spread over elements within the cap: accepted whole.
#[test]
fn a_megabyte_of_attributes_spread_over_elements_is_parsed() {
    let mut text = String::from("<cfg>");
    let mut elements = 0;
    while text.len() < MAX_PROFILE_BYTES - 8192 {
        text.push_str(&start_tag_with_attributes(&format!("V{elements}"), 200));
        text.push_str(&format!("</V{elements}>"));
        elements += 1;
    }
    text.push_str("</cfg>");
    let loaded = Profile::parse(&text).expect("valid");
    assert_eq!(loaded.profile.entries().len(), elements);
}

/// Runs `f` on a thread and waits for it with a generous bound, so a load
/// that blocks fails the test instead of hanging it.
#[cfg(unix)]
fn within_bound<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(30))
        .expect("loading the profile blocked")
}

/// Creates a FIFO with the system's `mkfifo` (the workspace forbids the
/// unsafe `mkfifo(3)` call).
#[cfg(unix)]
#[allow(clippy::disallowed_methods)] // test harness: creates a FIFO fixture
fn make_fifo(path: &std::path::Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo");
    assert!(status.success(), "mkfifo failed: {status}");
}

#[cfg(unix)]
fn no_profile_message(path: std::path::PathBuf) -> String {
    match within_bound(move || Profile::load(&path)) {
        Err(e @ LoadError::Read { .. }) => e.to_string(),
        other => panic!("expected no profile, got {other:?}"),
    }
}

#[cfg(unix)]
#[test]
fn a_fifo_at_the_profile_path_is_refused_without_blocking() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = dir.path().join("ISEPostureCFG.xml");
    make_fifo(&fifo);
    assert_eq!(
        no_profile_message(fifo.clone()),
        format!(
            "no profile at {}: it is a FIFO (named pipe), not a regular file; a profile must be a regular file",
            fifo.display()
        )
    );
    // A symbolic link to it is no better.
    let link = dir.path().join("link.xml");
    std::os::unix::fs::symlink(&fifo, &link).expect("symlink");
    assert!(no_profile_message(link).contains("it is a FIFO (named pipe)"));
}

#[cfg(unix)]
#[test]
fn devices_and_directories_are_not_profiles() {
    assert!(
        no_profile_message("/dev/zero".into())
            .contains("it is a character device, not a regular file"),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    assert!(
        no_profile_message(dir.path().to_owned()).contains("it is a directory, not a regular file")
    );
    // A symbolic link to a regular file is fine.
    let file = dir.path().join("real.xml");
    std::fs::write(&file, "<cfg><DartCount>2</DartCount></cfg>").expect("write");
    let link = dir.path().join("ISEPostureCFG.xml");
    std::os::unix::fs::symlink(&file, &link).expect("symlink");
    let loaded = Profile::load(&link).expect("a link to a regular file");
    assert_eq!(loaded.profile.dart_count(), 2);
}
