//! Errors of the lab, with messages a network administrator can act on.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything that can stop `psn-lab` from starting or a `ctl` call from completing.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A file-system call failed; `role` says what the file is for.
    #[error("cannot {action} {role} {path}: {source}")]
    Io {
        /// What was attempted: read, write, create, rename, remove.
        action: &'static str,
        /// The file's role: "lab CA certificate", "session file", ...
        role: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A listener could not be bound.
    #[error(
        "cannot listen on {addr} for {role}: {source}\nhelp: pick another port, or 0 to let the system choose one"
    )]
    Bind {
        /// "psn1 discovery port", "admin API", ...
        role: String,
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The command line or the config file is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The policy file is invalid.
    #[error("invalid policy file {path}: {message}")]
    Policy {
        /// The policy file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A certificate or key could not be made or loaded.
    #[error("certificate error for {path}: {message}")]
    Cert {
        /// The certificate or key file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// `psn-lab ctl` could not talk to the admin API.
    #[error("admin API at {addr}: {message}")]
    Admin {
        /// The admin address from ready.json.
        addr: String,
        /// What went wrong.
        message: String,
    },
}

impl LabError {
    /// An I/O error on a file with a role.
    pub fn io(
        action: &'static str,
        role: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        LabError::Io {
            action,
            role,
            path: path.into(),
            source,
        }
    }
}
