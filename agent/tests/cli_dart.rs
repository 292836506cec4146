//! `posture-sync dart` as a command: the default bundle name in the current
//! directory, no silent overwrite (`--force`), and real entry times.
// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(unix)]
// A test harness: it runs the binary under test.
#![allow(clippy::disallowed_methods)]

mod cli_fixture;
mod dart_fixture;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use cli_fixture::posture_sync;
use dart_fixture::build;

/// `dart --state-dir STATE ARGS` run in `cwd`.
fn dart(home: &Path, cwd: &Path, state: &Path, args: &[&str]) -> std::process::Output {
    posture_sync(home)
        .current_dir(cwd)
        .arg("dart")
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .output()
        .unwrap()
}

fn zips_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "zip"))
        .collect();
    v.sort();
    v
}

#[test]
fn without_o_the_bundle_is_named_after_host_and_utc_time_in_the_current_directory() {
    let fx = build();
    let cwd = fx.dir.path().join("here");
    std::fs::create_dir(&cwd).unwrap();
    let before = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let o = dart(fx.dir.path(), &cwd, &fx.state, &[]);
    assert!(o.status.success(), "{o:?}");
    let after = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let written = zips_in(&cwd);
    assert_eq!(written.len(), 1, "{written:?}");
    let name = written[0].file_name().unwrap().to_str().unwrap().to_owned();
    // posture-sync-dart-<host>-<YYYYMMDDTHHMMSSZ>.zip
    let stem = name
        .strip_prefix("posture-sync-dart-")
        .and_then(|n| n.strip_suffix(".zip"))
        .unwrap_or_else(|| panic!("{name}"));
    let (host, stamp) = stem.rsplit_once('-').unwrap();
    assert!(!host.is_empty(), "{name}");
    let compact = |t: &str| -> String { t.chars().filter(char::is_ascii_alphanumeric).collect() };
    assert!(
        compact(&before).as_str() <= stamp && stamp <= compact(&after).as_str(),
        "{stamp} not within {before}..{after}"
    );
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).split(' ').next(),
        Some(name.as_str()),
        "{o:?}"
    );
}

#[test]
fn an_existing_output_is_not_replaced_without_force() {
    let fx = build();
    let out = fx.dir.path().join("b.zip");
    std::fs::write(&out, "precious\n").unwrap();
    let o = dart(
        fx.dir.path(),
        fx.dir.path(),
        &fx.state,
        &["-o", out.to_str().unwrap()],
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(73), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "posture-sync: the diagnostic bundle {} already exists\nhelp: pass --force to replace it, or choose another name with -o FILE.zip\n",
            out.display()
        )
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "precious\n");
    assert!(o.stdout.is_empty(), "{o:?}");

    // A dangling link at the name is "existing" too, and not followed.
    let link = fx.dir.path().join("link.zip");
    let target = fx.dir.path().join("nowhere.zip");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let o = dart(
        fx.dir.path(),
        fx.dir.path(),
        &fx.state,
        &["-o", link.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(73), "{o:?}");
    assert!(!target.exists());

    let o = dart(
        fx.dir.path(),
        fx.dir.path(),
        &fx.state,
        &["-o", out.to_str().unwrap(), "--force"],
    );
    assert!(o.status.success(), "{o:?}");
    let zip = zip::ZipArchive::new(std::fs::File::open(&out).unwrap()).unwrap();
    assert!(zip.len() > 5);
}

#[test]
fn entries_carry_real_modification_times() {
    let fx = build();
    // A log file last written 2025-06-01 12:00:00 UTC.
    let log = fx.state.join("logs/posture-sync.log.1");
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_748_779_200);
    std::fs::File::options()
        .write(true)
        .open(&log)
        .unwrap()
        .set_modified(when)
        .unwrap();
    let out = fx.dir.path().join("t.zip");
    let o = dart(
        fx.dir.path(),
        fx.dir.path(),
        &fx.state,
        &["-o", out.to_str().unwrap()],
    );
    assert!(o.status.success(), "{o:?}");
    let year_now: u16 = humantime::format_rfc3339_seconds(SystemTime::now()).to_string()[..4]
        .parse()
        .unwrap();
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&out).unwrap()).unwrap();
    for i in 0..zip.len() {
        let f = zip.by_index(i).unwrap();
        let name = f.name().unwrap().into_owned();
        let t = f.last_modified().unwrap();
        let got = (
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
        );
        if name == "logs/posture-sync.log.1" {
            assert_eq!(got, (2025, 6, 1, 12, 0, 0), "{name}");
        } else {
            // Made at collection (or read from files the fixture just wrote).
            assert!(t.year() + 1 >= year_now, "{name}: {got:?}");
        }
    }
}
