//! `posture-syncw.exe`: the Windows login launcher. The `Run` registry value
//! written by `posture-sync install` starts this GUI-subsystem program, which
//! starts `posture-sync.exe` (a console program, so that the CLI works in a
//! terminal) next to it with the same arguments and `CREATE_NO_WINDOW`, so no
//! console window flashes at login. It exits once the agent has started.
//!
//! On other platforms it only says what it is for: launchd and systemd start
//! `posture-sync` directly.
#![cfg_attr(windows, windows_subsystem = "windows")]

use std::process::ExitCode;

fn main() -> ExitCode {
    imp::main()
}

#[cfg(windows)]
mod imp {
    use std::os::windows::process::CommandExt;
    use std::process::ExitCode;

    /// `CREATE_NO_WINDOW` from the Win32 process creation flags.
    const CREATE_NO_WINDOW: u32 = 0x0800_0000;

    // The launcher is part of the installer: it starts only the agent binary
    // next to it, with the arguments the Run value gave it.
    #[allow(clippy::disallowed_methods)]
    pub(super) fn main() -> ExitCode {
        let Ok(me) = std::env::current_exe() else {
            return ExitCode::from(2);
        };
        let agent = me.with_file_name("posture-sync.exe");
        match std::process::Command::new(agent)
            .args(std::env::args_os().skip(1))
            .creation_flags(CREATE_NO_WINDOW)
            .spawn()
        {
            Ok(_) => ExitCode::SUCCESS,
            // No console to print to: the agent's absence shows in the
            // missing log; `posture-sync install` checks both files exist.
            Err(_) => ExitCode::from(1),
        }
    }
}

#[cfg(not(windows))]
mod imp {
    use std::process::ExitCode;

    pub(super) fn main() -> ExitCode {
        eprintln!(
            "posture-syncw is the Windows login launcher; on this platform run `posture-sync` directly"
        );
        ExitCode::from(2)
    }
}
