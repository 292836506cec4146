//! One agent per state dir: an exclusive advisory lock on
//! `<state dir>/agent.lock`, held for the whole run, with the holder's PID
//! written into the file so that a second `run` can say who holds it.
//!
//! The lock is released by the operating system when the process exits, even
//! on a crash, so a stale file never blocks a new agent. The file itself is
//! left in place: removing it on exit would race with a starting agent.

use std::fs::File;

use crate::paths::{OpenHow, open_private};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The lock file's name in the state dir.
pub const LOCK_FILE: &str = "agent.lock";
/// The exit status of `run` when another agent holds the lock.
pub const EXIT_LOCK_HELD: u8 = 4;

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock.
    #[error(
        "another posture-sync agent ({}) holds {}\nhelp: stop it first, or give this one its own --state-dir",
        match pid { Some(p) => format!("pid {p}"), None => "pid unknown".to_string() },
        path.display()
    )]
    Held {
        /// The holder's PID, when the file names one.
        pid: Option<u32>,
        /// The lock file.
        path: PathBuf,
    },
    /// The lock file could not be opened, locked or written.
    #[error("cannot use the agent lock file {}: {source}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

/// The held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct AgentLock {
    file: File,
    path: PathBuf,
}

impl AgentLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for AgentLock {
    fn drop(&mut self) {
        // Closing the file releases the lock anyway; unlocking first makes
        // the release independent of when the descriptor is closed.
        let _ = self.file.unlock();
    }
}

/// Takes the agent lock of `state_dir` (which must exist) and writes this
/// process's PID into it. Fails with [`LockError::Held`] naming the holder's
/// PID when another process holds it.
pub fn acquire(state_dir: &Path) -> Result<AgentLock, LockError> {
    let path = state_dir.join(LOCK_FILE);
    let io_err = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    // Not truncated on open: the holder's PID must stay readable. Never
    // through a link, mode 0600 (paths/files.rs).
    let mut file = open_private(&path, OpenHow::ReadWrite).map_err(io_err)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(LockError::Held {
                pid: read_pid(&mut file),
                path,
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io_err(e)),
    }
    let pid = std::process::id();
    file.set_len(0)
        .and_then(|()| file.seek(SeekFrom::Start(0)))
        .and_then(|_| writeln!(file, "{pid}"))
        .and_then(|()| file.flush())
        .map_err(io_err)?;
    Ok(AgentLock { file, path })
}

/// The PID in a held lock file. On Windows the holder's lock forbids reading
/// it, so the PID is unknown there.
fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_names_the_holder_and_release_frees_it() {
        let dir = tempfile::tempdir().unwrap();
        let held = acquire(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap();
        assert_eq!(text.trim(), std::process::id().to_string());
        // A second open file description conflicts even within one process.
        match acquire(dir.path()) {
            Err(e @ LockError::Held { .. }) => {
                let LockError::Held { pid, ref path } = e else {
                    unreachable!()
                };
                if cfg!(unix) {
                    assert_eq!(pid, Some(std::process::id()));
                }
                assert_eq!(path, &dir.path().join(LOCK_FILE));
                let msg = e.to_string();
                assert!(msg.starts_with("another posture-sync agent (pid "), "{msg}");
                assert!(msg.contains("agent.lock"), "{msg}");
            }
            other => panic!("expected Held, got {other:?}"),
        }
        drop(held);
        let again = acquire(dir.path()).unwrap();
        assert_eq!(again.path(), dir.path().join(LOCK_FILE));
    }

    #[test]
    fn missing_state_dir_is_an_io_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = acquire(&dir.path().join("absent")).unwrap_err();
        assert!(matches!(err, LockError::Io { .. }));
        assert!(err.to_string().contains("absent/agent.lock"), "{err}");
    }
}
