use std::sync::Arc;

use posture_protocol::{Check, PostureStatus, Report, Requirement, SessionId};

use super::*;
use crate::outcome::Outcome;

fn local(port: u16) -> HostPort {
    HostPort::new(profile_schema::Host::parse("127.0.0.1").unwrap(), port)
}
use crate::transport::Transport;
use crate::transport::test_server::{Behaviour, TestCa, TestServer, fixed};

/// Rules that let checks read the temporary directory the tests use, and
/// nothing the platform keeps off limits.
fn tmp_policy() -> CheckPolicy {
    let tmp = std::env::temp_dir().canonicalize().unwrap();
    CheckPolicy::new(&[tmp.to_str().unwrap().to_owned()], [], None)
}

/// Evaluates one check under [`tmp_policy`] and the standard budget.
fn check(c: &Check) -> CheckOutcome {
    check_with(c, &tmp_policy(), &Budget::standard())
}

fn check_with(c: &Check, policy: &CheckPolicy, budget: &Budget) -> CheckOutcome {
    evaluate_check(c, &CheckCx { policy, budget })
}

fn file_with(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_owned()
}

#[test]
fn file_exists_checks_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let present = file_with(&dir, "crypttab", "");
    assert!(check(&Check::FileExists { path: present }).passed);
    let absent = dir.path().join("nope").to_str().unwrap().to_owned();
    let out = check(&Check::FileExists { path: absent });
    assert!(!out.passed);
    assert!(out.reason.contains("does not exist"), "{}", out.reason);
}

#[test]
fn relative_paths_fail() {
    let out = check(&Check::FileExists {
        path: "etc/crypttab".into(),
    });
    assert!(!out.passed);
    assert!(out.reason.contains("not an absolute path"));
}

#[test]
fn file_contains_matches_a_regular_expression_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = file_with(&dir, "sshd_config", "Port 22\nPasswordAuthentication no\n");
    let contains = |pattern: &str| {
        check(&Check::FileContains {
            path: path.clone(),
            pattern: pattern.into(),
        })
    };
    assert!(contains("^PasswordAuthentication no$").passed);
    assert!(!contains("^PasswordAuthentication yes$").passed);
}

#[test]
fn file_contains_matches_codepoints_with_ascii_classes_and_case() {
    let dir = tempfile::tempdir().unwrap();
    let path = file_with(&dir, "motd", "Grüße, ΚΑΛΗΜΕΡΑ 42\nPermitRootLogin No\n");
    let contains = |pattern: &str| {
        check(&Check::FileContains {
            path: path.clone(),
            pattern: pattern.into(),
        })
    };
    // Non-ASCII text matches codepoint by codepoint, `.` is one codepoint.
    assert!(contains(r"^Grüße, ΚΑΛΗΜΕΡΑ \d+$").passed);
    assert!(
        contains(r"^Gr..e,").passed,
        "`.` is a codepoint, not a byte"
    );
    // Perl classes and case folding are ASCII (docs/agent.md).
    assert!(contains(r"(?i)^permitrootlogin\s+no$").passed);
    assert!(contains(r"^\w+\s+\w+$").passed);
    assert!(
        !contains(r"^\w+,").passed,
        "ü and ß are not ASCII word characters"
    );
    assert!(!contains(r"(?i)καλημερα").passed, "no Unicode case folding");
    let refused = contains(r"\p{Greek}+");
    assert!(!refused.passed);
    assert!(
        refused
            .reason
            .starts_with(r#"invalid pattern "\\p{Greek}+": "#),
        "{}",
        refused.reason
    );
}

#[test]
fn file_contains_reads_binary_files_without_failing() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bin");
    std::fs::write(&p, b"\xff\xfe marker \x00").unwrap();
    let out = check(&Check::FileContains {
        path: p.to_str().unwrap().into(),
        pattern: "marker".into(),
    });
    assert!(out.passed, "{}", out.reason);
}

#[test]
fn file_contains_reads_only_the_first_mebibyte() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big");
    let mut text = vec![b'a'; MAX_FILE_BYTES as usize];
    text.extend_from_slice(b"needle");
    std::fs::write(&p, text).unwrap();
    let out = check(&Check::FileContains {
        path: p.to_str().unwrap().into(),
        pattern: "needle".into(),
    });
    assert!(!out.passed);
}

#[test]
fn invalid_or_huge_patterns_fail_the_check_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = file_with(&dir, "f", "x");
    let out = check(&Check::FileContains {
        path: path.clone(),
        pattern: "(unclosed".into(),
    });
    assert!(!out.passed);
    assert!(out.reason.contains("invalid pattern"), "{}", out.reason);

    // Compiles to far more than the size limit.
    let out = check(&Check::FileContains {
        path: path.clone(),
        pattern: r"(?:\w{1000}){1000}".into(),
    });
    assert!(!out.passed);
    assert!(out.reason.contains("invalid pattern"), "{}", out.reason);

    let out = check(&Check::FileContains {
        path,
        pattern: "a".repeat(MAX_PATTERN_LEN + 1),
    });
    assert!(!out.passed);
}

#[test]
fn an_unreadable_file_fails_file_contains() {
    let dir = tempfile::tempdir().unwrap();
    let out = check(&Check::FileContains {
        path: dir.path().join("missing").to_str().unwrap().into(),
        pattern: ".".into(),
    });
    assert!(!out.passed);
    assert!(out.reason.contains("does not exist"), "{}", out.reason);
}

#[cfg(target_os = "linux")]
#[test]
fn process_running_finds_this_process_and_not_a_made_up_one() {
    let me = std::fs::read_to_string("/proc/self/comm").unwrap();
    let me = me.trim_end();
    assert!(
        check(&Check::ProcessRunning { name: me.into() }).passed,
        "{me}"
    );
    // The full program name also matches when comm is truncated.
    let exe = std::env::current_exe().unwrap();
    let full = exe.file_name().unwrap().to_str().unwrap();
    assert!(
        check(&Check::ProcessRunning { name: full.into() }).passed,
        "{full}"
    );
    assert!(
        !check(&Check::ProcessRunning {
            name: "no-such-process-zz9".into()
        })
        .passed
    );
    assert!(!check(&Check::ProcessRunning { name: "a/b".into() }).passed);
}

#[test]
fn other_check_types_are_refused_not_executed() {
    let out = check(&Check::Unsupported {
        check_type: "run-script".into(),
    });
    assert!(!out.passed);
    assert!(out.refused);
    assert!(out.reason.contains("never runs commands"));
}

#[test]
fn a_requirement_passes_only_when_all_its_checks_pass() {
    let dir = tempfile::tempdir().unwrap();
    let present = file_with(&dir, "a", "");
    let reqs = vec![
        Requirement {
            id: "all-good".into(),
            mandatory: true,
            remediation: None,
            checks: vec![Check::FileExists {
                path: present.clone(),
            }],
        },
        Requirement {
            id: "one-refused".into(),
            mandatory: false,
            remediation: None,
            checks: vec![
                Check::FileExists { path: present },
                Check::Unsupported {
                    check_type: "powershell".into(),
                },
            ],
        },
        Requirement {
            id: "empty".into(),
            mandatory: true,
            remediation: None,
            checks: vec![],
        },
    ];
    let policy = tmp_policy();
    let budget = Budget::standard();
    let out = evaluate(
        &reqs,
        &CheckCx {
            policy: &policy,
            budget: &budget,
        },
    );
    assert_eq!(
        out.iter()
            .map(|r| (r.id.as_str(), r.passed))
            .collect::<Vec<_>>(),
        vec![("all-good", true), ("one-refused", false), ("empty", true)]
    );
    let report = build_report(&SessionId::new("s1").unwrap(), &out);
    assert_eq!(report.results.len(), 3);
    assert!(!report.results[1].passed);
}

/// A PSN that serves the requirements and judges the report like psn-lab:
/// Compliant when every mandatory requirement passed.
fn psn(requirements_xml: String) -> Behaviour {
    Behaviour::Answer(Arc::new(move |seen| {
        if seen
            .path_and_query
            .starts_with("/auth/requirements?session=")
        {
            (200, requirements_xml.clone())
        } else if seen.path_and_query.starts_with("/auth/report?session=") {
            let report = Report::from_xml(seen.body.as_bytes()).unwrap();
            let ok = report
                .results
                .iter()
                .filter(|r| r.requirement != "optional")
                .all(|r| r.passed);
            let status = if ok { "Compliant" } else { "NonCompliant" };
            (
                200,
                format!(
                    r#"<postureResult session="{}" status="{status}"/>"#,
                    report.session
                ),
            )
        } else {
            (404, String::new())
        }
    }))
}

#[tokio::test]
async fn assess_fetches_evaluates_reports_and_returns_the_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let present = file_with(&dir, "crypttab", "");
    let ca = TestCa::new();
    let xml = format!(
        r#"<requirements session="s1">
  <requirement id="disk"><check type="file-exists" path="{present}"/></requirement>
  <requirement id="optional" mandatory="false"><check type="run-script" cmd="touch /tmp/pwned"/></requirement>
</requirements>"#
    );
    let server = TestServer::start(ca.server_config(&["127.0.0.1"]), psn(xml)).await;
    let transport = Transport::new(ca.client_config(), "00:11:22:33:44:55").unwrap();
    let session = SessionId::new("s1").unwrap();
    let assessor = Assessor::new(tmp_policy());
    let a = assess(&transport, &assessor, &local(server.port()), &session)
        .await
        .unwrap();
    assert_eq!(a.status, PostureStatus::Compliant);
    assert_eq!(a.requirements.len(), 2);
    assert!(a.requirements[1].checks[0].refused);

    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    let report = Report::from_xml(seen[1].body.as_bytes()).unwrap();
    assert_eq!(report.session, session);
    assert_eq!(
        report
            .results
            .iter()
            .map(|r| (r.requirement.as_str(), r.passed))
            .collect::<Vec<_>>(),
        vec![("disk", true), ("optional", false)]
    );
    assert_eq!(seen[1].headers["x-posture-session"], "s1");
}

#[tokio::test]
async fn assess_failures_name_the_stage() {
    let ca = TestCa::new();
    let session = SessionId::new("s1").unwrap();
    let transport = Transport::new(ca.client_config(), "00:11:22:33:44:55").unwrap();

    let assess_at = |port| {
        let (transport, session) = (transport.clone(), session.clone());
        async move {
            assess(
                &transport,
                &Assessor::new(tmp_policy()),
                &local(port),
                &session,
            )
            .await
            .unwrap_err()
        }
    };
    let server = TestServer::start(ca.server_config(&["127.0.0.1"]), fixed(500, "")).await;
    let err = assess_at(server.port()).await;
    assert_eq!(err.stage, AssessStage::Requirements);
    assert_eq!(
        err.error.outcome,
        Outcome::Failed(FailureKind::HttpStatus(500))
    );

    // Requirements for another session are not evaluated.
    let server = TestServer::start(
        ca.server_config(&["127.0.0.1"]),
        psn(r#"<requirements session="other"/>"#.into()),
    )
    .await;
    let err = assess_at(server.port()).await;
    assert!(
        matches!(
            err.error.outcome,
            Outcome::Failed(FailureKind::Malformed { .. })
        ),
        "{err}"
    );
    assert_eq!(
        server.seen().len(),
        1,
        "no report after a bad requirements reply"
    );
}

/// Creates a FIFO with the system's `mkfifo` (no unsafe `mkfifo(3)` call).
#[cfg(unix)]
#[allow(clippy::disallowed_methods)] // test harness: creates a FIFO fixture
fn make_fifo(dir: &tempfile::TempDir) -> String {
    let p = dir.path().join("fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&p)
        .status()
        .unwrap();
    assert!(status.success(), "mkfifo failed: {status}");
    p.to_str().unwrap().to_owned()
}

/// Runs `f` on a thread and waits for it with a generous bound, so a check
/// that blocks fails the test instead of hanging it.
#[cfg(unix)]
fn within_bound<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(30))
        .expect("the check blocked")
}

#[cfg(unix)]
#[test]
fn file_contains_on_a_fifo_fails_promptly_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = make_fifo(&dir);
    let out = within_bound(move || {
        check(&Check::FileContains {
            path: fifo,
            pattern: ".".into(),
        })
    });
    assert!(!out.passed);
    assert!(
        out.reason.contains("is not a regular file"),
        "{}",
        out.reason
    );
}

#[cfg(unix)]
#[test]
fn file_contains_refuses_directories_and_devices_but_follows_symlinks_to_files() {
    let dir = tempfile::tempdir().unwrap();
    let target = file_with(&dir, "real", "Encrypted yes\n");
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let contains = |path: &str| {
        check(&Check::FileContains {
            path: path.into(),
            pattern: "^Encrypted yes$".into(),
        })
    };
    assert!(contains(link.to_str().unwrap()).passed);
    let out = check_with(
        &Check::FileContains {
            path: "/dev/null".into(),
            pattern: ".".into(),
        },
        &CheckPolicy::new(&["/dev/null".to_owned()], [], None),
        &Budget::standard(),
    );
    assert!(
        out.reason.contains("is not a regular file"),
        "{}",
        out.reason
    );
    let out = contains(dir.path().to_str().unwrap());
    assert!(!out.passed);
    assert!(
        out.reason.contains("is not a regular file"),
        "{}",
        out.reason
    );
}

#[tokio::test]
async fn evaluation_is_bounded_and_fails_every_requirement_when_it_overruns() {
    let requirements = vec![
        Requirement {
            id: "disk-encryption".into(),
            mandatory: true,
            remediation: None,
            checks: vec![],
        },
        Requirement {
            id: "av".into(),
            mandatory: false,
            remediation: None,
            checks: vec![],
        },
    ];
    let (release, blocked) = std::sync::mpsc::channel::<()>();
    let assessor = Assessor::new(tmp_policy()).with_time_budget(Duration::from_millis(50));
    let out = evaluate_bounded_with(&assessor, requirements, move |_| {
        // Stands for a read stuck on a hung file system.
        let _ = blocked.recv();
        Vec::new()
    })
    .await;
    drop(release);
    assert_eq!(out.len(), 2);
    assert_eq!(
        (out[0].id.as_str(), out[0].mandatory),
        ("disk-encryption", true)
    );
    assert_eq!((out[1].id.as_str(), out[1].mandatory), ("av", false));
    for r in &out {
        assert!(!r.passed);
        assert!(
            r.checks[0].reason.contains("did not finish within"),
            "{}",
            r.checks[0].reason
        );
    }
}

#[cfg(unix)]
#[tokio::test]
async fn a_fifo_in_the_requirements_does_not_stall_the_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let requirements = vec![Requirement {
        id: "fifo".into(),
        mandatory: true,
        remediation: None,
        checks: vec![Check::FileContains {
            path: make_fifo(&dir),
            pattern: ".".into(),
        }],
    }];
    let assessor = Assessor::new(tmp_policy());
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        evaluate_bounded(&assessor, requirements),
    )
    .await
    .expect("evaluation stalled");
    assert!(!out[0].passed);
}

/// Server text in a log line cannot start a line of its own: control
/// characters are escaped (the protocol crate refuses them too; this is the
/// second line of defence).
#[test]
fn server_text_is_logged_with_control_characters_escaped() {
    #[derive(Clone, Default)]
    struct Buffer(Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let forged = "x\n2026-11-21T21:00:40Z ERROR posture_sync::daemon: known -> known (dacl misconfiguration)";
    tracing::subscriber::with_default(subscriber, || {
        check(&Check::Unsupported {
            check_type: forged.into(),
        });
    });
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains(r"x\n2026"), "{text}");
}

// ---- issue 11: a compromised PSN cannot read, burn or aim the endpoint ----

/// The attack from the review: requirements of the shape
/// `path=<private key> pattern=(?s)\A.{N}[bit b set]` read a file bit by
/// bit. Without a ContentCheckPaths prefix every such check is refused, its
/// outcome is the same whatever the file holds, and the reason says why.
#[test]
fn file_contains_cannot_read_a_file_outside_the_local_allowlist() {
    let dir = tempfile::tempdir().unwrap();
    let key = file_with(
        &dir,
        "id_ed25519",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n",
    );
    let empty = file_with(&dir, "empty", "");
    let policy = CheckPolicy::new(&[], [], None);
    let budget = Budget::standard();
    for (path, pattern) in [
        (&key, r"(?s)\A.{0}[-]"),
        (&key, "OPENSSH"),
        (&key, "^nothing$"),
        (&empty, "."),
    ] {
        let out = check_with(
            &Check::FileContains {
                path: path.clone(),
                pattern: pattern.into(),
            },
            &policy,
            &budget,
        );
        assert!(!out.passed);
        assert!(out.refused);
        assert!(
            out.reason.contains("not under a ContentCheckPaths prefix"),
            "{}",
            out.reason
        );
    }
    // Allowed locally, the same check works.
    let allowed = CheckPolicy::new(
        &[dir
            .path()
            .canonicalize()
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()],
        [],
        None,
    );
    let out = check_with(
        &Check::FileContains {
            path: key,
            pattern: "OPENSSH".into(),
        },
        &allowed,
        &budget,
    );
    assert!(out.passed, "{}", out.reason);
}

#[test]
fn secrets_of_the_kernel_and_other_users_are_off_limits_to_every_check() {
    let policy = CheckPolicy::new(&[], [], None);
    let budget = Budget::standard();
    for c in [
        Check::FileContains {
            path: "/proc/self/environ".into(),
            pattern: "PATH".into(),
        },
        Check::FileSha256 {
            path: "/proc/self/environ".into(),
            sha256: "0".repeat(64),
        },
        Check::FileExists {
            path: "/root/.ssh/id_ed25519".into(),
        },
        Check::FileNewerThan {
            path: "/home/alice/.bash_history".into(),
            days: 1,
        },
        Check::FileExists {
            path: "\\\\fileserver.attacker.example\\share\\x".into(),
        },
        Check::FileExists {
            path: "/net/fileserver.attacker.example/share".into(),
        },
    ] {
        let out = check_with(&c, &policy, &budget);
        assert!(!out.passed && out.refused, "{c:?}: {}", out.reason);
    }
}

#[test]
fn the_agent_own_state_is_off_limits() {
    let state = tempfile::tempdir().unwrap();
    let store = file_with(&state, "known-psns.json", "[]");
    let policy = CheckPolicy::new(&[], [state.path().canonicalize().unwrap()], None);
    let out = check_with(
        &Check::FileExists { path: store },
        &policy,
        &Budget::standard(),
    );
    assert!(
        out.refused && out.reason.contains("off limits"),
        "{}",
        out.reason
    );
}

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn file_sha256_compares_the_digest_and_never_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = file_with(&dir, "edr-agent", "edr binary v7");
    let right = sha256_hex(b"edr binary v7");
    let policy = CheckPolicy::new(&[], [], None);
    let budget = Budget::standard();
    let out = check_with(
        &Check::FileSha256 {
            path: path.clone(),
            sha256: right.clone(),
        },
        &policy,
        &budget,
    );
    assert!(out.passed, "{}", out.reason);
    let out = check_with(
        &Check::FileSha256 {
            path: path.clone(),
            sha256: "0".repeat(64),
        },
        &policy,
        &budget,
    );
    assert!(!out.passed);
    assert_eq!(
        out.reason,
        format!("{path} does not have the expected SHA-256 digest")
    );
    assert!(!out.reason.contains(&right));
}

#[test]
fn a_spent_budget_stops_every_check() {
    let dir = tempfile::tempdir().unwrap();
    let path = file_with(&dir, "f", &"x".repeat(100));
    let policy = tmp_policy();
    let spent = Budget::new(Duration::ZERO, u64::MAX);
    for c in [
        Check::FileExists { path: path.clone() },
        Check::FileSha256 {
            path: path.clone(),
            sha256: "0".repeat(64),
        },
        Check::FileContains {
            path: path.clone(),
            pattern: "x".into(),
        },
    ] {
        let out = check_with(&c, &policy, &spent);
        assert!(!out.passed);
        assert!(out.reason.contains("time budget"), "{}", out.reason);
    }
    let few_bytes = Budget::new(Duration::from_secs(3600), 10);
    let out = check_with(
        &Check::FileSha256 {
            path,
            sha256: "0".repeat(64),
        },
        &policy,
        &few_bytes,
    );
    assert!(out.reason.contains("read budget"), "{}", out.reason);
}

/// The review's CPU burn: every Unknown started another evaluation on top of
/// the one still running. Now the second waits for the first and, when the
/// first is stuck, fails without evaluating anything.
#[tokio::test]
async fn a_second_evaluation_never_runs_beside_a_stuck_one() {
    let assessor = Assessor::new(tmp_policy()).with_time_budget(Duration::from_millis(20));
    let reqs = || {
        vec![Requirement {
            id: "r".into(),
            mandatory: true,
            remediation: None,
            checks: vec![],
        }]
    };
    let (release, blocked) = std::sync::mpsc::channel::<()>();
    let first = evaluate_bounded_with(&assessor, reqs(), move |_| {
        let _ = blocked.recv();
        Vec::new()
    })
    .await;
    assert!(first[0].checks[0].reason.contains("did not finish within"));
    let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = Arc::clone(&ran);
    let second = evaluate_bounded_with(&assessor.with_policy(tmp_policy()), reqs(), move |r| {
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
        evaluate(
            r,
            &CheckCx {
                policy: &tmp_policy(),
                budget: &Budget::standard(),
            },
        )
    })
    .await;
    assert!(
        !ran.load(std::sync::atomic::Ordering::SeqCst),
        "evaluated beside a stuck evaluation"
    );
    assert!(
        second[0].checks[0]
            .reason
            .contains("the previous evaluation is still running"),
        "{}",
        second[0].checks[0].reason
    );
    // Once the stuck one returns, evaluations run again.
    drop(release);
    let third = tokio::time::timeout(Duration::from_secs(30), evaluate_bounded(&assessor, reqs()))
        .await
        .expect("the gate was never released");
    assert!(third[0].passed);
}

mod conditions {
    use std::time::{Duration, SystemTime};

    use posture_protocol::{Check, Requirement, Requirements, SessionId};

    use super::*;
    use crate::facts::test_tree::put;
    use crate::facts::{FactRoot, Facts, Unavailable};

    /// A prepared machine: Debian 12, / on a plain /dev/vda1, openssl
    /// 3.0.15-1~deb12u1, updates installed on 2026-12-01.
    fn machine() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        put(
            p,
            "/etc/os-release",
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n",
        );
        put(p, "/proc/sys/kernel/osrelease", "6.1.0-18-amd64\n");
        put(
            p,
            "/proc/self/mountinfo",
            "27 1 254:1 / / rw,relatime - ext4 /dev/vda1 rw\n",
        );
        put(p, "/sys/dev/block/254:1/size", "1\n");
        put(
            p,
            "/var/lib/dpkg/status",
            "Package: openssl\nStatus: install ok installed\nVersion: 3.0.15-1~deb12u1\n",
        );
        put(
            p,
            "/var/log/apt/history.log",
            "Start-Date: 2026-12-01  16:10:27\nEnd-Date: 2026-12-01  16:10:35\n",
        );
        dir
    }

    fn at(day: u64) -> SystemTime {
        // 2026-12-01 00:00:00 UTC plus `day` days.
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_083_200 + day * 86_400)
    }

    fn eval(dir: &tempfile::TempDir, now: SystemTime, checks: Vec<Check>) -> RequirementOutcome {
        let facts = Facts::new(FactRoot::at(dir.path()), now)
            .with_ruleset(Err(Unavailable("not permitted to read the ruleset".into())));
        let req = Requirement {
            id: "r".into(),
            mandatory: true,
            checks,
            remediation: Some("ask the helpdesk".into()),
        };
        let policy = tmp_policy();
        let budget = Budget::standard();
        let cx = CheckCx {
            policy: &policy,
            budget: &budget,
        };
        evaluate_with(&[req], &cx, &facts).remove(0)
    }

    #[cfg(target_os = "linux")]
    fn os(name: &str, min: Option<&str>, max: Option<&str>) -> Check {
        Check::OsVersion {
            name: name.into(),
            min: min.map(Into::into),
            max: max.map(Into::into),
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn os_version_compares_name_and_version_with_reasons() {
        let m = machine();
        let r = eval(&m, at(1), vec![os("debian", Some("12"), None)]);
        assert!(r.passed, "{}", r.reason());
        assert_eq!(
            r.reason(),
            "the OS is Debian GNU/Linux 12 (bookworm) (debian 12), within debian 12 or later"
        );
        let r = eval(&m, at(1), vec![os("debian", Some("13"), None)]);
        assert!(!r.passed);
        assert_eq!(
            r.reason(),
            "the OS is Debian GNU/Linux 12 (bookworm) (debian 12), older than the debian 13 or later required"
        );
        let r = eval(&m, at(1), vec![os("ubuntu", None, None)]);
        assert_eq!(
            r.reason(),
            "the OS is Debian GNU/Linux 12 (bookworm) (debian), not ubuntu"
        );
        assert!(!eval(&m, at(1), vec![os("debian", None, Some("11"))]).passed);
        assert!(eval(&m, at(1), vec![os("linux", Some("6.1"), None)]).passed);
        let r = eval(&m, at(1), vec![os("linux", Some("6.2"), None)]);
        assert!(
            r.reason()
                .contains("the Linux kernel is 6.1.0-18-amd64, older"),
            "{}",
            r.reason()
        );
        assert_eq!(r.remediation.as_deref(), Some("ask the helpdesk"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn disk_firewall_packages_and_updates_have_reasons() {
        let m = machine();
        let r = eval(&m, at(1), vec![Check::DiskEncryption]);
        assert!(!r.passed);
        assert_eq!(
            r.reason(),
            "disk is not encrypted: / is on /dev/vda1, not on a LUKS volume"
        );
        put(
            m.path(),
            "/sys/dev/block/254:1/dm/uuid",
            "CRYPT-LUKS2-abc-root\n",
        );
        let r = eval(&m, at(1), vec![Check::DiskEncryption]);
        assert!(r.passed, "{}", r.reason());

        let r = eval(&m, at(1), vec![Check::FirewallEnabled]);
        assert!(!r.passed, "fails closed when the ruleset is unreadable");
        assert_eq!(
            r.reason(),
            "firewall state unknown: firewall state unreadable: not permitted to read the ruleset"
        );

        let pkg = |min: &str| Check::PackageVersion {
            name: "openssl".into(),
            min: min.into(),
        };
        assert!(!eval(&m, at(1), vec![pkg("3.0.15-1")]).passed);
        assert!(eval(&m, at(1), vec![pkg("3.0.11")]).passed);
        let r = eval(
            &m,
            at(1),
            vec![Check::PackageVersion {
                name: "crowdstrike-falcon".into(),
                min: "7".into(),
            }],
        );
        assert_eq!(
            r.reason(),
            "package crowdstrike-falcon is not installed (not in /var/lib/dpkg/status; 7 or later is required)"
        );

        let r = eval(&m, at(10), vec![Check::UpdatesRecent { max_days: 7 }]);
        assert!(!r.passed);
        assert_eq!(
            r.reason(),
            "updates were last installed 9 days ago (the last End-Date of /var/log/apt/history.log), more than the 7 allowed"
        );
        assert!(eval(&m, at(3), vec![Check::UpdatesRecent { max_days: 7 }]).passed);
        let r = eval(&m, at(1), vec![Check::ScreenLock { max_minutes: 15 }]);
        assert!(!r.passed, "no policy: fails closed");
        assert!(
            r.reason()
                .starts_with("screen lock unknown: no screen lock policy found"),
            "{}",
            r.reason()
        );
        put(
            m.path(),
            "/etc/dconf/db/local.d/00-security",
            "[org/gnome/desktop/session]\nidle-delay=uint32 330\n",
        );
        let r = eval(&m, at(1), vec![Check::ScreenLock { max_minutes: 5 }]);
        assert_eq!(
            r.reason(),
            "the screen locks after 5 minutes 30 seconds of inactivity (GNOME's system settings in /etc/dconf/db/local.d), later than the 5 minutes allowed"
        );
        assert!(eval(&m, at(1), vec![Check::ScreenLock { max_minutes: 15 }]).passed);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn rpm_machines_read_dnf_history_and_ask_rpm_for_packages() {
        let m = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(m.path().join("var/lib/rpm")).unwrap();
        put(
            m.path(),
            "/var/log/dnf.rpm.log",
            "2026-12-01T09:00:00+0100 SUBDEBUG Upgrade: openssl-libs-1:3.2.2-6.el9_5.x86_64\n",
        );
        let r = eval(&m, at(10), vec![Check::UpdatesRecent { max_days: 7 }]);
        assert_eq!(
            r.reason(),
            "updates were last installed 9 days ago (the last install or upgrade in /var/log/dnf.rpm.log), more than the 7 allowed"
        );
        // rpm runs on the machine itself only: below a test root the
        // condition fails closed, saying why.
        let r = eval(
            &m,
            at(1),
            vec![Check::PackageVersion {
                name: "openssl".into(),
                min: "1:3.0.7".into(),
            }],
        );
        assert!(!r.passed);
        assert_eq!(
            r.reason(),
            "package openssl unknown: installed packages unreadable: /usr/bin/rpm not run below a test root"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn service_active_reads_systemd_control_groups() {
        let m = machine();
        let service = |name: &str| Check::ServiceActive { name: name.into() };
        let r = eval(&m, at(1), vec![service("sshd")]);
        assert!(!r.passed, "fails closed without systemd");
        assert_eq!(
            r.reason(),
            "service sshd state unknown: systemd is not running on this machine (/run/systemd/system does not exist)"
        );
        std::fs::create_dir_all(m.path().join("run/systemd/system")).unwrap();
        put(
            m.path(),
            "/sys/fs/cgroup/system.slice/sshd.service/cgroup.procs",
            "812\n",
        );
        let r = eval(&m, at(1), vec![service("sshd")]);
        assert!(r.passed, "{}", r.reason());
        assert_eq!(
            r.reason(),
            "service sshd runs (the control groups under /sys/fs/cgroup/system.slice)"
        );
        let r = eval(&m, at(1), vec![service("falcon-sensor")]);
        assert_eq!(
            r.reason(),
            "service falcon-sensor is not running (the control groups under /sys/fs/cgroup/system.slice)"
        );
    }

    #[test]
    fn facts_are_gathered_once_per_assessment() {
        let m = machine();
        let facts = Facts::new(FactRoot::at(m.path()), at(1));
        let first = facts.os().clone();
        std::fs::remove_file(m.path().join("etc/os-release")).unwrap();
        assert_eq!(facts.os(), &first, "the cached fact, not a second read");
    }

    #[test]
    fn the_report_carries_reasons_for_a_version_2_server_only() {
        let m = machine();
        let mut out = eval(
            &m,
            at(1),
            vec![
                Check::DiskEncryption,
                Check::FileExists {
                    path: "/nonexistent-posture-test".into(),
                },
            ],
        );
        out.id = "disk".into();
        let session = SessionId::new("s").unwrap();
        let v1 = build_report_version(&session, std::slice::from_ref(&out), 1);
        assert_eq!(
            v1.to_xml(),
            r#"<report session="s"><result requirement="disk" passed="false"/></report>"#
        );
        let v2 = build_report_version(&session, std::slice::from_ref(&out), 2);
        assert_eq!(
            v2.results[0].reason.as_deref(),
            Some(
                "disk is not encrypted: / is on /dev/vda1, not on a LUKS volume; file-exists failed"
            )
        );
    }

    #[test]
    fn a_refused_check_tells_the_server_no_local_details() {
        let dir = tempfile::tempdir().unwrap();
        let policy = CheckPolicy::new(&[], [dir.path().to_path_buf()], None);
        let secret = dir.path().join("known-psns.json");
        std::fs::write(&secret, "x").unwrap();
        let checks = vec![Check::FileExists {
            path: secret.to_str().unwrap().to_owned(),
        }];
        let budget = Budget::standard();
        let cx = CheckCx {
            policy: &policy,
            budget: &budget,
        };
        let req = Requirement {
            id: "r".into(),
            mandatory: true,
            checks,
            remediation: None,
        };
        let out = evaluate_with(&[req], &cx, &Facts::new(FactRoot::at(dir.path()), at(0)));
        assert!(out[0].reason().contains("off limits"));
        assert_eq!(
            out[0].report_reason,
            "file-exists refused by the endpoint's local rules"
        );
    }

    #[test]
    fn a_version_3_requirements_reply_is_an_unsupported_version_failure() {
        let body = br#"<requirements session="s" version="3"><requirement id="a"/></requirements>"#;
        let e = Requirements::from_xml_versioned(body).unwrap_err();
        assert!(e.to_string().starts_with("unsupported-version"), "{e}");
    }
}
