//! The packages' and fleet tools' shell scripts run on Linux: syntax of
//! every script, the macOS pre/postinstall and build-pkg.sh with stand-ins
//! for `stat`, `id`, `launchctl` and `pkgbuild` on PATH, the JAMF extension
//! attribute against a running agent, the Fleet script over status files,
//! and the structure of the Intune PowerShell pair and the osquery pack
//! (no PowerShell or osquery here).
// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(unix)]
// A test harness: it runs the scripts under test and the binary.
#![allow(clippy::disallowed_methods)]

mod cli_fixture;

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use cli_fixture::{BIN, MAC, Running, posture_sync, wait_status};
use posture_sync::install::render;
use posture_sync::paths::{Env, Platform, default_dirs};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A directory of stand-in programs, first on PATH.
struct Stubs {
    dir: tempfile::TempDir,
}

impl Stubs {
    fn new() -> Stubs {
        Stubs {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn add(&self, name: &str, script: &str) -> &Self {
        let p = self.dir.path().join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        self
    }
    fn log(&self) -> PathBuf {
        self.dir.path().join("calls.log")
    }
    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
    /// `program args` with only the stand-ins and the system on PATH.
    fn run(&self, program: &str, args: &[&str], env: &[(&str, &OsString)]) -> Output {
        let mut c = Command::new(program);
        c.args(args)
            .env_clear()
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", self.dir.path().display()),
            )
            .env("STUB_LOG", self.log())
            .stdin(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    }
}

#[test]
fn every_script_passes_its_shells_syntax_check() {
    let bash = [
        "packaging/build-deb.sh",
        "packaging/build-rpm.sh",
        "packaging/release-assets.sh",
        "packaging/macos/build-pkg.sh",
        "packaging/macos/scripts/preinstall",
        "packaging/macos/scripts/postinstall",
        "packaging/macos/uninstall.sh",
        "packaging/integrations/jamf/posture-sync-ea.sh",
    ];
    let sh = [
        "packaging/debian/postinst",
        "packaging/debian/prerm",
        "packaging/rpm/post_install.sh",
        "packaging/rpm/pre_uninstall.sh",
        "packaging/integrations/fleet/posture-sync-status.sh",
    ];
    for (shell, scripts) in [("bash", &bash[..]), ("sh", &sh[..])] {
        for s in scripts {
            let path = repo(s);
            let o = Command::new(shell).arg("-n").arg(&path).output().unwrap();
            assert!(o.status.success(), "{shell} -n {s}: {:?}", text(&o));
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o111, 0o111, "{s} is not executable");
        }
    }
}

/// `stat -f%Su /dev/console` answers `user`; `id -u alice` is 501;
/// `launchctl` records its arguments, fails `bootstrap` when asked to, and
/// `print` finds the agent loaded when asked to.
fn macos_stubs(console_user: &str, bootstrap_fails: bool) -> Stubs {
    macos_stubs_loaded(console_user, bootstrap_fails, false)
}

fn macos_stubs_loaded(console_user: &str, bootstrap_fails: bool, loaded: bool) -> Stubs {
    let s = Stubs::new();
    s.add(
        "stat",
        &format!(
            "[ \"$1\" = -f%Su ] && [ \"$2\" = /dev/console ] || exit 1\necho {console_user}"
        ),
    )
    .add(
        "id",
        "[ \"$1\" = -u ] && [ \"$2\" = alice ] && { echo 501; exit 0; }\nexit 1",
    )
    .add(
        "launchctl",
        &format!(
            "echo \"launchctl $*\" >>\"$STUB_LOG\"\n[ \"$1\" = bootstrap ] && [ {bootstrap_fails} = true ] && exit 5\n\
             [ \"$1\" = print ] && [ {loaded} = false ] && exit 113\nexit 0"
        ),
    );
    s
}

const PLIST: &str = "/Library/LaunchAgents/org.posture-sync.agent.plist";

fn macos_script(s: &Stubs, name: &str, target: &str) -> Output {
    let script = repo(&format!("packaging/macos/scripts/{name}"));
    let script = script.to_str().unwrap();
    // The installer's arguments: package path, install location, target volume.
    s.run(
        "/bin/bash",
        &[script, "/tmp/posture-sync.pkg", "/", target],
        &[],
    )
}

#[test]
fn macos_postinstall_bootstraps_the_agent_into_the_console_users_session() {
    let s = macos_stubs("alice", false);
    let o = macos_script(&s, "postinstall", "/");
    assert!(o.status.success(), "{:?}", text(&o));
    assert_eq!(
        s.calls(),
        [
            "launchctl print gui/501/org.posture-sync.agent".to_string(),
            format!("launchctl bootstrap gui/501 {PLIST}"),
        ]
    );
    assert!(text(&o).0.contains("started the agent for alice (gui/501)"));

    // Still loaded from an older package: booted out first.
    let s = macos_stubs_loaded("alice", false, true);
    let o = macos_script(&s, "postinstall", "/");
    assert!(o.status.success(), "{:?}", text(&o));
    assert_eq!(
        s.calls(),
        [
            "launchctl print gui/501/org.posture-sync.agent".to_string(),
            "launchctl bootout gui/501/org.posture-sync.agent".to_string(),
            format!("launchctl bootstrap gui/501 {PLIST}"),
        ]
    );

    let s = macos_stubs("alice", false);
    let o = macos_script(&s, "preinstall", "/");
    assert!(o.status.success(), "{:?}", text(&o));
    assert_eq!(
        s.calls(),
        ["launchctl bootout gui/501/org.posture-sync.agent"]
    );
}

#[test]
fn macos_postinstall_starts_nothing_at_the_login_window_or_on_another_volume() {
    for user in ["root", "loginwindow", "_mbsetupuser", ""] {
        for script in ["postinstall", "preinstall"] {
            let s = macos_stubs(user, false);
            let o = macos_script(&s, script, "/");
            assert!(o.status.success(), "{user:?} {script}: {:?}", text(&o));
            assert!(s.calls().is_empty(), "{user:?} {script}: {:?}", s.calls());
        }
    }
    let s = macos_stubs("alice", false);
    let o = macos_script(&s, "postinstall", "/Volumes/Other");
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(s.calls().is_empty(), "{:?}", s.calls());
    assert!(
        text(&o)
            .0
            .contains("the agent starts at the next login there")
    );

    // A user whose id cannot be found: nothing is started.
    let s = macos_stubs("mallory", false);
    let o = macos_script(&s, "postinstall", "/");
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(s.calls().is_empty(), "{:?}", s.calls());
}

#[test]
fn macos_postinstall_never_fails_the_installation_when_launchctl_does() {
    let s = macos_stubs("alice", true);
    let o = macos_script(&s, "postinstall", "/");
    assert!(o.status.success(), "{:?}", text(&o));
    let (_, err) = text(&o);
    assert!(
        err.contains(&format!(
            "launchctl bootstrap gui/501 {PLIST} failed: the agent starts at alice's next login"
        )),
        "{err}"
    );
}

#[test]
fn macos_uninstall_stops_the_agent_and_keeps_the_profile_unless_purged() {
    let root = tempfile::tempdir().unwrap();
    let put = |rel: &str| {
        let p = root.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "x").unwrap();
        p
    };
    let script = repo("packaging/macos/uninstall.sh");
    let root_var = root.path().as_os_str().to_os_string();
    for purge in [false, true] {
        let plist = put("Library/LaunchAgents/org.posture-sync.agent.plist");
        let bin = put("usr/local/bin/posture-sync");
        let profile = put("Library/Application Support/posture-sync/ISEPostureCFG.xml");
        let s = macos_stubs("alice", false);
        s.add("pkgutil", "echo \"pkgutil $*\" >>\"$STUB_LOG\"");
        let mut args = vec![script.to_str().unwrap()];
        if purge {
            args.push("--purge");
        }
        let o = s.run("/bin/bash", &args, &[("ROOT", &root_var)]);
        assert!(o.status.success(), "{:?}", text(&o));
        assert_eq!(
            s.calls(),
            [
                "launchctl bootout gui/501/org.posture-sync.agent",
                "pkgutil --forget org.posture-sync.agent"
            ]
        );
        assert!(!plist.exists() && !bin.exists());
        assert_eq!(profile.exists(), !purge, "purge {purge}");
    }
}

#[test]
fn build_pkg_lays_out_the_payload_for_pkgbuild() {
    let s = Stubs::new();
    // pkgbuild: record the arguments and the payload (path and mode).
    s.add(
        "pkgbuild",
        "echo \"pkgbuild $*\" >>\"$STUB_LOG\"\nwhile [ $# -gt 1 ]; do [ \"$1\" = --root ] && root=$2; shift; done\n\
         (cd \"$root\" && find . -type f -exec stat -c '%a %n' {} + | sort) >>\"$STUB_LOG\"\n: >\"$1\"",
    )
    .add(
        "productbuild",
        "echo \"productbuild $*\" >>\"$STUB_LOG\"\nfor a; do last=$a; done\n: >\"$last\"",
    );
    let out = tempfile::tempdir().unwrap();
    let fake_bin = out.path().join("posture-sync");
    std::fs::write(&fake_bin, "binary").unwrap();
    let script = repo("packaging/macos/build-pkg.sh");
    let profile = repo("packaging/examples/ISEPostureCFG.xml");
    let o = s.run(
        "/bin/bash",
        &[
            script.to_str().unwrap(),
            "--binary",
            fake_bin.to_str().unwrap(),
            "--profile",
            profile.to_str().unwrap(),
            "--out",
            out.path().to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let calls = s.calls();
    assert!(
        calls[0].contains("--scripts ")
            && calls[0]
                .contains("packaging/macos/scripts --identifier org.posture-sync.agent --version ")
            && calls[0].contains("--install-location / --ownership recommended "),
        "{calls:?}"
    );
    assert_eq!(
        calls[1..4],
        [
            "644 ./Library/Application Support/posture-sync/ISEPostureCFG.xml",
            "644 ./Library/LaunchAgents/org.posture-sync.agent.plist",
            "755 ./usr/local/bin/posture-sync",
        ],
        "{calls:?}"
    );
    assert_eq!(calls.len(), 5, "{calls:?}");
    assert!(calls[4].starts_with("productbuild --package "), "{calls:?}");
    assert!(text(&o).0.contains("build-pkg: ok "));

    // No profile and no --no-profile: refused before anything is built.
    let s = Stubs::new();
    let o = s.run(
        "/bin/bash",
        &[
            script.to_str().unwrap(),
            "--binary",
            fake_bin.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{:?}", text(&o));
    assert!(text(&o).1.contains("give --profile FILE"), "{:?}", text(&o));
    assert!(s.calls().is_empty());
}

fn ea(s: &Stubs, bin: &Path, state: Option<&Path>) -> String {
    let script = repo("packaging/integrations/jamf/posture-sync-ea.sh");
    let bin = bin.as_os_str().to_os_string();
    let state = state.map(|p| p.as_os_str().to_os_string());
    let mut env = vec![("POSTURE_SYNC_BIN", &bin)];
    if let Some(st) = &state {
        env.push(("POSTURE_SYNC_STATE_DIR", st));
    }
    let o = s.run("/bin/bash", &[script.to_str().unwrap()], &env);
    assert!(o.status.success(), "{:?}", text(&o));
    text(&o).0
}

#[test]
fn jamf_extension_attribute_reports_a_running_agents_phase_and_posture() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let profile = tmp.path().join("profile.xml");
    std::fs::write(
        &profile,
        "<?xml version=\"1.0\"?>\n<cfg>\n  <StateSyncProbeInterval>5</StateSyncProbeInterval>\n  \
         <CallHomeList>127.0.0.1:1</CallHomeList>\n</cfg>\n",
    )
    .unwrap();
    let state = tmp.path().join("state");
    let s = Stubs::new();
    let bin = PathBuf::from(BIN);

    // No agent yet: status exits 3.
    assert_eq!(ea(&s, &bin, Some(&state)), "<result>not running</result>\n");

    let _agent = Running(
        posture_sync(&home)
            .arg("run")
            .arg("--profile")
            .arg(&profile)
            .args(["--mac", MAC, "--state-dir"])
            .arg(&state)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let status = wait_status(&home, &state, "the agent's status", |_| true);
    // The phase can move on between the two reads: wait for the answer the
    // attribute gives to match a status read right after it.
    let line = test_support::wait_until(
        "the extension attribute to show the agent's phase and posture",
        || {
            let line = ea(&s, &bin, Some(&state));
            let now = wait_status(&home, &state, "the agent's status", |_| true);
            let want = format!(
                "<result>{}/{}</result>\n",
                now["phase"].as_str().unwrap(),
                now["posture"].as_str().unwrap()
            );
            (line == want).then_some(line)
        },
        || format!("first status: {status}"),
    );
    assert!(!line.contains("unknown"), "{line}");
}

#[test]
fn jamf_extension_attribute_handles_no_agent_no_binary_and_errors() {
    let s = Stubs::new();
    let tmp = tempfile::tempdir().unwrap();
    let fake = |name: &str, body: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    };
    let state = tmp.path().join("state");
    // The coming `status --json` with no agent: an object and exit 3.
    let stopped = fake(
        "stopped",
        "echo '{\"running\":false,\"state_dir\":\"/x\"}'\nexit 3",
    );
    assert_eq!(
        ea(&s, &stopped, Some(&state)),
        "<result>not running</result>\n"
    );
    // Spaced JSON is read too.
    let spaced = fake(
        "spaced",
        "printf '{\\n  \"phase\": \"known\",\\n  \"posture\": \"Compliant\"\\n}\\n'",
    );
    assert_eq!(
        ea(&s, &spaced, Some(&state)),
        "<result>known/Compliant</result>\n"
    );
    let failing = fake("failing", "echo 'cannot <read> the socket' >&2\nexit 1");
    assert_eq!(
        ea(&s, &failing, Some(&state)),
        "<result>error: cannot read the socket</result>\n"
    );
    assert_eq!(
        ea(&s, &tmp.path().join("absent"), None),
        "<result>not installed</result>\n"
    );

    // As root without a state dir: asked as the console user, through sudo.
    s.add("id", "[ \"$1\" = -u ] && [ $# = 1 ] && { echo 0; exit 0; }\nexit 1")
        .add("stat", "echo alice")
        .add(
            "sudo",
            "echo \"sudo $*\" >>\"$STUB_LOG\"\necho '{\"phase\":\"known\",\"posture\":\"NonCompliant\"}'",
        );
    let agent = fake("agent", "exit 99");
    assert_eq!(
        ea(&s, &agent, None),
        "<result>known/NonCompliant</result>\n"
    );
    assert_eq!(
        s.calls(),
        [format!(
            "sudo -n -u alice -H {} status --json",
            agent.display()
        )]
    );
    let s = Stubs::new();
    s.add("id", "echo 0").add("stat", "echo root");
    assert_eq!(ea(&s, &agent, None), "<result>no user logged in</result>\n");
}

#[test]
fn fleet_script_reads_each_users_status_json() {
    let tmp = tempfile::tempdir().unwrap();
    let homes = tmp.path().join("home");
    let write = |rel: &str, body: &str| {
        let p = homes.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, body).unwrap();
    };
    write(
        "alice/.local/state/posture-sync/status.json",
        "{\"phase\":\"known\",\"posture\":\"Compliant\",\"counters\":{\"probe_rounds\":3}}\n",
    );
    write(
        "bob/Library/Application Support/posture-sync/status.json",
        "{\"running\":false,\"phase\":\"stopped\",\"posture\":\"Unknown\"}\n",
    );
    // A link planted by a user is not followed by root.
    std::fs::create_dir_all(homes.join("carol/.local/state/posture-sync")).unwrap();
    std::os::unix::fs::symlink(
        homes.join("alice/.local/state/posture-sync/status.json"),
        homes.join("carol/.local/state/posture-sync/status.json"),
    )
    .unwrap();
    let s = Stubs::new();
    let script = repo("packaging/integrations/fleet/posture-sync-status.sh");
    let homes_var = homes.as_os_str().to_os_string();
    let o = s.run(
        "/bin/sh",
        &[script.to_str().unwrap()],
        &[("POSTURE_SYNC_HOMES", &homes_var)],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let out = text(&o).0;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with("alice known/Compliant running=true age="),
        "{out}"
    );
    assert!(
        lines[1].starts_with("bob stopped/Unknown running=false age="),
        "{out}"
    );

    let empty = tmp.path().join("empty").into_os_string();
    let o = s.run(
        "/bin/sh",
        &[script.to_str().unwrap()],
        &[("POSTURE_SYNC_HOMES", &empty)],
    );
    assert_eq!(text(&o).0, "no posture-sync status.json\n");
}

/// Braces, brackets and parentheses balance outside strings and comments
/// (PowerShell: `'...'` literal, `"..."` with backtick escapes, `#` comments).
fn balanced(script: &str) -> Result<(), String> {
    let mut stack = Vec::new();
    for (n, line) in script.lines().enumerate() {
        let mut chars = line.chars();
        let mut quote: Option<char> = None;
        while let Some(c) = chars.next() {
            match (quote, c) {
                (Some('"'), '`') => {
                    chars.next();
                }
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(c),
                (None, '#') => break,
                (None, '{' | '(' | '[') => stack.push((c, n + 1)),
                (None, '}' | ')' | ']') => {
                    let open = match c {
                        '}' => '{',
                        ')' => '(',
                        _ => '[',
                    };
                    match stack.pop() {
                        Some((o, _)) if o == open => {}
                        other => return Err(format!("line {}: {c} closes {other:?}", n + 1)),
                    }
                }
                _ => {}
            }
        }
        if quote.is_some() {
            return Err(format!("line {}: unterminated string", n + 1));
        }
    }
    match stack.pop() {
        None => Ok(()),
        Some((c, line)) => Err(format!("{c} opened on line {line} is never closed")),
    }
}

#[test]
fn intune_scripts_are_a_detection_and_remediation_pair() {
    let detect = std::fs::read_to_string(repo("packaging/integrations/intune/detect.ps1")).unwrap();
    let remediate =
        std::fs::read_to_string(repo("packaging/integrations/intune/remediate.ps1")).unwrap();
    for (name, s) in [("detect.ps1", &detect), ("remediate.ps1", &remediate)] {
        balanced(s).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(s.contains("$ErrorActionPreference = 'Stop'"), "{name}");
        assert!(s.contains("exit 0\n") && s.contains("exit 1\n"), "{name}");
        // `"$name: ..."` is a parse error (a drive-qualified variable):
        // such text must be written `${name}:`.
        for (i, _) in s.match_indices('$') {
            let word: String = s[i + 1..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == ':')
                .collect();
            assert!(
                !word.ends_with(':') || word == "env:",
                "{name}: ${word} is read as a drive-qualified variable"
            );
        }
        // Never evaluates text as code.
        for banned in ["Invoke-Expression", "iex ", "-EncodedCommand"] {
            assert!(!s.contains(banned), "{name} uses {banned}");
        }
    }
    assert!(balanced("if ($a) { \"}\" ").is_err());
    assert!(detect.contains("& $exe status --json"));
    assert!(detect.contains("ConvertFrom-Json"));
    assert!(detect.contains("'posture-sync\\posture-sync.exe'"));
    // The Run value the MSI writes, read from HKLM only.
    let key = render::WINDOWS_MACHINE_RUN_KEY.replacen("HKLM\\", "HKLM:\\", 1);
    assert!(remediate.contains(&format!("$runKey = '{key}'")), "{key}");
    assert!(remediate.contains(&format!("$runName = '{}'", render::WINDOWS_RUN_NAME)));
    assert!(remediate.contains(&format!("'posture-sync\\{}'", render::WINDOWS_LAUNCHER)));
    assert!(!remediate.contains("HKCU"));
}

/// A home directory pattern as osquery's LIKE sees it.
struct PatternHome(&'static str);

impl Env for PatternHome {
    fn home_dir(&self) -> Option<PathBuf> {
        Some(PathBuf::from(self.0))
    }
    fn var_os(&self, _: &str) -> Option<OsString> {
        None
    }
    fn current_dir(&self) -> Option<PathBuf> {
        None
    }
}

#[test]
fn osquery_pack_looks_where_the_agent_writes_its_status() {
    let pack: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo("packaging/integrations/osquery/posture-sync.conf")).unwrap(),
    )
    .unwrap();
    let queries = pack["queries"].as_object().unwrap();
    assert!(queries.contains_key("posture_sync_agents"));
    for (name, q) in queries {
        let sql = q["query"].as_str().unwrap();
        assert!(sql.starts_with("SELECT ") && sql.ends_with(';'), "{name}");
        assert!(q["interval"].as_u64().unwrap() >= 60, "{name}");
    }
    let files = queries["posture_sync_status_files"]["query"]
        .as_str()
        .unwrap();
    for (platform, home) in [(Platform::Xdg, "/home/%"), (Platform::MacOs, "/Users/%")] {
        let state = default_dirs(platform, &PatternHome(home)).unwrap().state;
        let path = format!("{}/status.json", state.display());
        assert!(
            files.contains(&format!("'{path}'")),
            "{path} not in {files}"
        );
    }
    assert!(
        queries["posture_sync_agents"]["query"]
            .as_str()
            .unwrap()
            .contains(&format!("'{}'", "posture-sync"))
    );
}
