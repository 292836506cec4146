//! Pure renderers for the launch-at-login entries of every platform: the
//! systemd user unit, the XDG autostart entry, the macOS LaunchAgent plist
//! and the Windows `Run` registry value. They are compiled and tested on every
//! platform; only running `systemctl`, `launchctl` or `reg` is platform work.
//!
//! Every format quotes differently, so each has its own quoting function,
//! tested with paths holding spaces, quotes, `%`, `$` and non-ASCII text.

use std::path::{Path, PathBuf};

/// The unit's file name (user unit and packaged unit alike, so that a
/// per-user install shadows the packaged one instead of running twice).
pub const UNIT_NAME: &str = "posture-sync.service";
/// The autostart entry's file name (a file of the same name in
/// `~/.config/autostart` hides the one in `/etc/xdg/autostart`).
pub const DESKTOP_NAME: &str = "posture-sync.desktop";
/// The LaunchAgent's label; the plist is `<label>.plist`.
pub const LAUNCHD_LABEL: &str = "org.posture-sync.agent";
/// The registry key of per-user programs started at login.
pub const WINDOWS_RUN_KEY: &str = r"HKCU\Software\Microsoft\Windows\CurrentVersion\Run";
/// The value name under [`WINDOWS_RUN_KEY`].
pub const WINDOWS_RUN_NAME: &str = "posture-sync";
/// The Windows login launcher: a GUI-subsystem binary next to
/// `posture-sync.exe` that starts it without a console window
/// (`src/bin/posture-syncw.rs`).
pub const WINDOWS_LAUNCHER: &str = "posture-syncw.exe";
/// The exit status of `run` when another agent holds the state dir's lock;
/// the unit tells systemd not to restart on it.
pub const EXIT_LOCK_HELD: u8 = crate::lock::EXIT_LOCK_HELD;

/// What a launch entry starts: `BINARY run --profile PROFILE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallSpec {
    /// The agent binary, absolute.
    pub binary: PathBuf,
    /// The profile the agent runs with, absolute.
    pub profile: PathBuf,
    /// Where launchd writes the agent's stdout/stderr (macOS only):
    /// `~/Library/Logs/posture-sync`.
    pub launchd_log_dir: PathBuf,
}

impl InstallSpec {
    /// The arguments after the binary.
    pub fn args(&self) -> Vec<String> {
        vec![
            "run".to_string(),
            "--profile".to_string(),
            text(&self.profile),
        ]
    }

    /// The binary followed by [`InstallSpec::args`].
    pub fn argv(&self) -> Vec<String> {
        let mut argv = vec![text(&self.binary)];
        argv.extend(self.args());
        argv
    }
}

/// A path as text for a launch entry. Paths that are not valid Unicode
/// cannot be written into these formats faithfully; the installer refuses
/// them before rendering ([`check_path`]), so the lossy form never shows.
fn text(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Why a path cannot go into a launch entry: `None` when it can.
pub fn check_path(p: &Path) -> Option<&'static str> {
    let Some(s) = p.to_str() else {
        return Some("is not valid Unicode");
    };
    if s.chars().any(char::is_control) {
        return Some("contains a control character (newline, tab, ...)");
    }
    None
}

/// Quotes one `ExecStart=` word: systemd splits on whitespace, honours
/// double quotes with C escapes, expands `%` specifiers and `$` variables.
pub fn systemd_quote(word: &str) -> String {
    let mut out = String::with_capacity(word.len() + 2);
    out.push('"');
    for c in word.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Escapes a path for unit settings that take one unquoted path
/// (`ConditionPathExists=`): only specifiers need escaping.
fn systemd_path(p: &str) -> String {
    p.replace('%', "%%")
}

/// The watchdog period the unit gives the agent (`WatchdogSec=`): the
/// daemon's runtime pings at half of it (`WATCHDOG_USEC`, [`crate::notify`]),
/// so a runtime that stops turning for this long is killed and restarted.
pub const WATCHDOG_SECS: u64 = 60;

/// The exit statuses after which systemd must not restart the agent:
/// restarting cannot free the lock or fix the profile, it only loops.
pub const RESTART_PREVENT_EXIT_STATUS: [u8; 3] = [
    EXIT_LOCK_HELD,
    crate::exit::EX_NOINPUT,
    crate::exit::EX_CONFIG,
];

/// The sandbox of the unit: what `systemd-analyze security` asks for, kept
/// to what the agent needs (docs/install.md, Under systemd). The agent
/// reads files anywhere (posture checks, the profile) but writes only its
/// state dir (logs and bundles live under it), which `StateDirectory=`
/// creates and alone leaves writable under `ProtectSystem=strict`. It
/// speaks TCP to PSNs, a unix socket for `status`, and netlink for routes
/// and interfaces. In a user unit the settings built on mount namespaces
/// are best effort: systemd applies them where the user manager can create
/// a user namespace (253 and later imply `PrivateUsers=` for them) and
/// skips them silently where it cannot (Ubuntu's AppArmor restriction,
/// kernels without unprivileged user namespaces). `PrivateUsers=yes` is
/// not written: with it the unit would not start at all there. The
/// seccomp-based settings (`SystemCallFilter=`, `RestrictAddressFamilies=`,
/// `MemoryDenyWriteExecute=`, ...) need no namespace and always apply.
const SYSTEMD_SANDBOX: &str = "\
NoNewPrivileges=yes
CapabilityBoundingSet=
AmbientCapabilities=
ProtectSystem=strict
StateDirectory=posture-sync
StateDirectoryMode=0700
PrivateTmp=yes
PrivateDevices=yes
PrivateMounts=yes
DevicePolicy=closed
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RemoveIPC=yes
KeyringMode=private
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
SystemCallErrorNumber=EPERM
UMask=0077
";

/// The systemd user unit: `Type=notify` (ready once the status socket is
/// bound and the profile applied), a watchdog, no restart loop on a
/// configuration error, and a sandbox.
pub fn systemd_unit(spec: &InstallSpec) -> String {
    let exec = spec
        .argv()
        .iter()
        .map(|w| systemd_quote(w))
        .collect::<Vec<_>>()
        .join(" ");
    let no_restart = RESTART_PREVENT_EXIT_STATUS
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "# Generated by posture-sync; do not edit (per-user copies come and go with `posture-sync install` / `uninstall`).\n\
         [Unit]\n\
         Description=posture-sync: keeps the endpoint's network posture in step with the policy server\n\
         Documentation=man:posture-sync(1)\n\
         # Without a profile there is nothing to do: skip instead of failing at every login.\n\
         ConditionPathExists={condition}\n\
         \n\
         [Service]\n\
         Type=notify\n\
         NotifyAccess=main\n\
         ExecStart={exec}\n\
         WatchdogSec={watchdog}\n\
         Restart=on-failure\n\
         RestartSec=10\n\
         # {lock}: another agent already runs for this state dir; {noinput}: no profile;\n\
         # {config}: an invalid profile. Restarting would not help.\n\
         RestartPreventExitStatus={no_restart}\n\
         # glibc gives each short-lived thread (an assessment, a command's pipes) a malloc\n\
         # arena that keeps freed pages resident; one arena keeps the idle RSS flat\n\
         # (docs/benchmarks.md, Idle RSS and glibc's arenas).\n\
         Environment=MALLOC_ARENA_MAX=1\n\
         # The log is the rotating file under the state dir; stderr (the journal) gets only\n\
         # what comes before logging starts (docs/install.md, Under systemd).\n\
         {sandbox}\
         \n\
         [Install]\n\
         WantedBy=default.target\n",
        condition = systemd_path(&text(&spec.profile)),
        watchdog = WATCHDOG_SECS,
        lock = EXIT_LOCK_HELD,
        noinput = crate::exit::EX_NOINPUT,
        config = crate::exit::EX_CONFIG,
        sandbox = SYSTEMD_SANDBOX,
    )
}

/// Quotes one `Exec=` argument of a desktop entry: double quotes with `"`,
/// `` ` ``, `$` and `\` backslash-escaped, `%` doubled (field codes), and
/// then the string-value escaping of the whole key (`\` becomes `\\`).
pub fn desktop_quote(word: &str) -> String {
    let mut quoted = String::with_capacity(word.len() + 2);
    quoted.push('"');
    for c in word.chars() {
        match c {
            '"' | '`' | '$' | '\\' => {
                quoted.push('\\');
                quoted.push(c);
            }
            '%' => quoted.push_str("%%"),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    // The value of Exec is a "string": a backslash is written `\\`.
    quoted.replace('\\', "\\\\")
}

/// The XDG autostart entry. `packaged` adds `X-systemd-skip=true`: the
/// package also ships the systemd user unit, and systemd's autostart
/// generator must not start the agent a second time.
pub fn xdg_autostart(spec: &InstallSpec, packaged: bool) -> String {
    let exec = spec
        .argv()
        .iter()
        .map(|w| desktop_quote(w))
        .collect::<Vec<_>>()
        .join(" ");
    let mut out = format!(
        "# Generated by posture-sync; do not edit (per-user copies come and go with `posture-sync install` / `uninstall`).\n\
         [Desktop Entry]\n\
         Type=Application\n\
         Name=posture-sync\n\
         Comment=Keeps the endpoint's network posture in step with the policy server\n\
         Exec={exec}\n\
         TryExec={tryexec}\n\
         Terminal=false\n\
         NoDisplay=true\n\
         X-GNOME-Autostart-enabled=true\n",
        tryexec = text(&spec.binary).replace('\\', "\\\\"),
    );
    if packaged {
        out.push_str("X-systemd-skip=true\n");
    }
    out
}

/// Escapes text for XML character data and attribute values.
pub fn xml_escape(s: &str) -> String {
    // The one XML escaper of the workspace (`& < > " '`).
    posture_protocol::escape(s).into_owned()
}

/// The macOS LaunchAgent property list: started at load (login), restarted
/// only when it exits unsuccessfully (a crash), only in the graphical (Aqua)
/// session, stdout/stderr in `~/Library/Logs/posture-sync`.
pub fn launch_agent_plist(spec: &InstallSpec) -> String {
    let log = |name: &str| xml_escape(&text(&spec.launchd_log_dir.join(name)));
    launch_agent(
        spec,
        &format!(
            "\t<key>StandardOutPath</key>\n\
             \t<string>{out}</string>\n\
             \t<key>StandardErrorPath</key>\n\
             \t<string>{err}</string>\n",
            out = log("launchd-stdout.log"),
            err = log("launchd-stderr.log"),
        ),
    )
}

/// The launch policy both LaunchAgent plists share: the agent's command
/// line, started at load, restarted only after an unsuccessful exit, only in
/// the Aqua session, as a background process; `more` holds the plist's
/// further keys, each a `\t<key>` line and its value's line.
fn launch_agent(spec: &InstallSpec, more: &str) -> String {
    let args: String = spec
        .argv()
        .iter()
        .map(|a| format!("\t\t<string>{}</string>\n", xml_escape(a)))
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <plist version=\"1.0\">\n\
         <dict>\n\
         \t<key>Label</key>\n\
         \t<string>{LAUNCHD_LABEL}</string>\n\
         \t<key>ProgramArguments</key>\n\
         \t<array>\n\
         {args}\
         \t</array>\n\
         \t<key>RunAtLoad</key>\n\
         \t<true/>\n\
         \t<key>KeepAlive</key>\n\
         \t<dict>\n\
         \t\t<key>SuccessfulExit</key>\n\
         \t\t<false/>\n\
         \t</dict>\n\
         \t<key>LimitLoadToSessionType</key>\n\
         \t<string>Aqua</string>\n\
         \t<key>ProcessType</key>\n\
         \t<string>Background</string>\n\
         {more}\
         </dict>\n\
         </plist>\n"
    )
}

/// Quotes one argument for a Windows command line as `CommandLineToArgvW`
/// (and the Rust runtime) split it: quotes when needed, backslashes doubled
/// only before a quote or the closing quote.
pub fn windows_quote(arg: &str) -> String {
    if !arg.is_empty() && !arg.contains([' ', '\t', '"']) {
        return arg.to_string();
    }
    let mut out = String::from("\"");
    let mut backslashes = 0usize;
    for c in arg.chars() {
        match c {
            '\\' => backslashes += 1,
            '"' => {
                out.extend(std::iter::repeat_n('\\', backslashes * 2 + 1));
                out.push('"');
                backslashes = 0;
            }
            c => {
                out.extend(std::iter::repeat_n('\\', backslashes));
                out.push(c);
                backslashes = 0;
            }
        }
    }
    out.extend(std::iter::repeat_n('\\', backslashes * 2));
    out.push('"');
    out
}

/// The login launcher next to the binary (`...\posture-syncw.exe`). Works
/// on the path as text so that a Windows path renders the same on any host.
pub fn windows_launcher_path(binary: &str) -> String {
    match binary.rfind(['\\', '/']) {
        Some(i) => format!("{}{WINDOWS_LAUNCHER}", &binary[..=i]),
        None => WINDOWS_LAUNCHER.to_string(),
    }
}

/// The `Run` registry value: (key, value name, command line). The command
/// line starts the GUI-subsystem launcher (always quoted, as Windows
/// recommends for `Run` entries), so no console window flashes at login.
pub fn windows_run_value(spec: &InstallSpec) -> (&'static str, &'static str, String) {
    let launcher = windows_launcher_path(&text(&spec.binary));
    let mut line = format!("\"{launcher}\"");
    for a in spec.args() {
        line.push(' ');
        line.push_str(&windows_quote(&a));
    }
    (WINDOWS_RUN_KEY, WINDOWS_RUN_NAME, line)
}

/// The registry key of programs started at every user's login (the MSI's
/// per-machine entry).
pub const WINDOWS_MACHINE_RUN_KEY: &str = r"HKLM\Software\Microsoft\Windows\CurrentVersion\Run";

/// The LaunchAgent plist for every user (`/Library/LaunchAgents`, the macOS
/// package): the launch policy of [`launch_agent_plist`] (at login, only in
/// the Aqua session, restarted only after a crash) without
/// `StandardOutPath`/`StandardErrorPath`: launchd does not expand `~`, and
/// one file shared by every user's agent would be writable by all of them;
/// the agent writes its own log in `~/Library/Logs/posture-sync`.
pub fn system_launch_agent_plist(spec: &InstallSpec) -> String {
    launch_agent(
        spec,
        "\t<key>ThrottleInterval</key>\n\
         \t<integer>10</integer>\n",
    )
}

/// [`windows_quote`], but always quoted, as the per-machine `Run` value
/// writes both paths (`[CommonAppDataFolder]` may hold spaces on a
/// redirected system). Backslashes before the closing quote are doubled.
pub fn windows_quote_always(arg: &str) -> String {
    let q = windows_quote(arg);
    if q.starts_with('"') {
        return q;
    }
    let trailing = arg.len() - arg.trim_end_matches('\\').len();
    format!("\"{arg}{}\"", "\\".repeat(trailing))
}

/// The per-machine `Run` value the MSI writes (`packaging/windows/main.wxs`):
/// (key, value name, command line), every path quoted.
pub fn windows_machine_run_value(spec: &InstallSpec) -> (&'static str, &'static str, String) {
    let launcher = windows_launcher_path(&text(&spec.binary));
    // The paths always quoted, the fixed words never: [`InstallSpec::args`].
    let line = format!(
        "{} run --profile {}",
        windows_quote_always(&launcher),
        windows_quote_always(&text(&spec.profile))
    );
    (WINDOWS_MACHINE_RUN_KEY, WINDOWS_RUN_NAME, line)
}

/// The per-machine `Run` value as a `.reg` file (`reg import`, for a
/// deployment without the MSI): CRLF lines, `\` and `"` escaped as `.reg`
/// string values need.
pub fn windows_machine_reg_file(spec: &InstallSpec) -> String {
    let (key, name, value) = windows_machine_run_value(spec);
    let key = key.replacen("HKLM", "HKEY_LOCAL_MACHINE", 1);
    let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        "Windows Registry Editor Version 5.00\r\n\r\n[{key}]\r\n\"{}\"=\"{}\"\r\n",
        esc(name),
        esc(&value)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(bin: &str, profile: &str) -> InstallSpec {
        InstallSpec {
            binary: PathBuf::from(bin),
            profile: PathBuf::from(profile),
            launchd_log_dir: PathBuf::from("/Users/Zoë Q/Library/Logs/posture-sync"),
        }
    }

    /// Splits an `ExecStart=` value the way systemd does for the subset we
    /// emit: quoted words with `\\`/`\"` escapes, `%%` and `$$` unescaped.
    fn systemd_split(line: &str) -> Vec<String> {
        let mut words = Vec::new();
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                ' ' => {}
                '"' => {
                    let mut w = String::new();
                    while let Some(c) = chars.next() {
                        match c {
                            '"' => break,
                            '\\' => w.push(chars.next().unwrap()),
                            '%' | '$' => {
                                assert_eq!(chars.next(), Some(c), "lone {c} in {line}");
                                w.push(c);
                            }
                            c => w.push(c),
                        }
                    }
                    words.push(w);
                }
                c => panic!("unquoted word starting with {c:?} in {line}"),
            }
        }
        words
    }

    #[test]
    fn unit_exec_start_round_trips_spaces_quotes_specifiers_and_non_ascii() {
        let s = spec(
            "/opt/Posture Sync/bin/posture-sync",
            "/home/zoë/My \"Profiles\"/100% $HOME\\ISE.xml",
        );
        let unit = systemd_unit(&s);
        let exec = unit
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .unwrap();
        assert_eq!(systemd_split(exec), s.argv());
        assert!(
            unit.contains("ConditionPathExists=/home/zoë/My \"Profiles\"/100%% $HOME\\ISE.xml\n")
        );
        assert!(unit.contains("Restart=on-failure\n"));
        assert!(unit.contains(&format!(
            "RestartPreventExitStatus={EXIT_LOCK_HELD} {} {}\n",
            crate::exit::EX_NOINPUT,
            crate::exit::EX_CONFIG
        )));
        assert!(unit.contains("WantedBy=default.target\n"));
    }

    #[test]
    fn autostart_entry_quotes_exec_and_skips_systemd_only_when_packaged() {
        let s = spec("/usr/bin/posture-sync", "/etc/posture sync/ISE $x%.xml");
        let user = xdg_autostart(&s, false);
        let packaged = xdg_autostart(&s, true);
        assert!(!user.contains("X-systemd-skip"));
        assert!(packaged.contains("\nX-systemd-skip=true\n"));
        assert!(user.contains(
            "Exec=\"/usr/bin/posture-sync\" \"run\" \"--profile\" \"/etc/posture sync/ISE \\\\$x%%.xml\"\n"
        ));
        assert!(user.contains("TryExec=/usr/bin/posture-sync\n"));
        assert!(user.starts_with("# Generated by posture-sync"));
        assert!(user.contains("[Desktop Entry]\nType=Application\n"));
    }

    #[test]
    fn plist_parses_and_carries_the_launch_policy() {
        let s = spec(
            "/Applications/Posture Sync.app/Contents/MacOS/posture-sync",
            "/Users/Zoë Q/Library/Application Support/posture-sync/a&b <ISE>.xml",
        );
        let xml = launch_agent_plist(&s);
        let v: plist::Value = plist::from_bytes(xml.as_bytes()).expect("valid plist");
        let d = v.as_dictionary().unwrap();
        assert_eq!(d["Label"].as_string(), Some(LAUNCHD_LABEL));
        let args: Vec<&str> = d["ProgramArguments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_string().unwrap())
            .collect();
        assert_eq!(args, s.argv());
        assert_eq!(d["RunAtLoad"].as_boolean(), Some(true));
        let keep = d["KeepAlive"].as_dictionary().unwrap();
        assert_eq!(keep["SuccessfulExit"].as_boolean(), Some(false));
        assert_eq!(keep.len(), 1);
        assert_eq!(d["LimitLoadToSessionType"].as_string(), Some("Aqua"));
        assert_eq!(
            d["StandardErrorPath"].as_string(),
            Some("/Users/Zoë Q/Library/Logs/posture-sync/launchd-stderr.log")
        );
        assert_eq!(
            d["StandardOutPath"].as_string(),
            Some("/Users/Zoë Q/Library/Logs/posture-sync/launchd-stdout.log")
        );
    }

    /// `CommandLineToArgvW`'s rules, for checking [`windows_quote`].
    fn windows_split(line: &str) -> Vec<String> {
        let chars: Vec<char> = line.chars().collect();
        let mut args = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            while i < chars.len() && (chars[i] == ' ' || chars[i] == '\t') {
                i += 1;
            }
            if i == chars.len() {
                break;
            }
            let mut arg = String::new();
            let mut in_quotes = false;
            while i < chars.len() {
                let c = chars[i];
                if c == '\\' {
                    let mut n = 0;
                    while i < chars.len() && chars[i] == '\\' {
                        n += 1;
                        i += 1;
                    }
                    if i < chars.len() && chars[i] == '"' {
                        arg.extend(std::iter::repeat_n('\\', n / 2));
                        if n % 2 == 1 {
                            arg.push('"');
                            i += 1;
                        }
                    } else {
                        arg.extend(std::iter::repeat_n('\\', n));
                    }
                    continue;
                }
                if c == '"' {
                    in_quotes = !in_quotes;
                    i += 1;
                    continue;
                }
                if !in_quotes && (c == ' ' || c == '\t') {
                    break;
                }
                arg.push(c);
                i += 1;
            }
            args.push(arg);
        }
        args
    }

    #[test]
    fn windows_run_value_quotes_like_command_line_to_argv() {
        let s = spec(
            r"C:\Program Files\posture-sync\posture-sync.exe",
            r#"C:\Users\Zoë\Posture "Q"\dir with space\"#,
        );
        let (key, name, value) = windows_run_value(&s);
        assert_eq!(key, r"HKCU\Software\Microsoft\Windows\CurrentVersion\Run");
        assert_eq!(name, "posture-sync");
        assert!(
            value
                .starts_with(r#""C:\Program Files\posture-sync\posture-syncw.exe" run --profile "#)
        );
        assert_eq!(
            windows_split(&value),
            vec![
                r"C:\Program Files\posture-sync\posture-syncw.exe".to_string(),
                "run".into(),
                "--profile".into(),
                r#"C:\Users\Zoë\Posture "Q"\dir with space\"#.into(),
            ]
        );
    }

    #[test]
    fn windows_quote_leaves_plain_words_alone() {
        assert_eq!(windows_quote("run"), "run");
        assert_eq!(windows_quote(r"C:\a\b.xml"), r"C:\a\b.xml");
        assert_eq!(windows_quote(""), "\"\"");
        for s in [r"a b\", r#"a"b"#, r"\\server\share\x y", "tab\there"] {
            assert_eq!(windows_split(&windows_quote(s)), vec![s.to_string()]);
        }
    }

    #[test]
    fn check_path_refuses_control_characters() {
        assert_eq!(check_path(Path::new("/a b/ö.xml")), None);
        assert!(check_path(Path::new("/a\nb")).is_some());
    }
}
