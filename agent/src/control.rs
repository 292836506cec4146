//! The status socket: how `posture-sync status` asks the running agent.
//!
//! A unix domain socket at `<state dir>/agent.sock`, mode 0600 from the
//! moment it appears (bound in a private staging directory and renamed into
//! place: nothing is ever chmodded through a path another user could
//! redirect) inside the state dir, which `run` has checked is private to
//! the user, so only the user who runs the agent can connect. The
//! server also checks the peer's credentials and answers only the socket's
//! owner (and root, who can read the state dir anyway).
//!
//! Protocol (`docs/cli.md`, "Status socket"): the client sends one line,
//! `status`, and the server answers with one line holding one JSON object
//! (the status report) and closes the connection. `reassess` (`posture-sync
//! reassess`, the socket's owner only) asks the agent to rediscover now and is
//! answered `{"reassess": <transition record or null>}` once the agent has
//! decided. Anything else gets one line `{"error":"..."}`. Requests are capped at [`MAX_REQUEST_BYTES`] and must
//! arrive within [`IO_TIMEOUT`]; at most [`MAX_CONNECTIONS`] are served at
//! once.
//!
//! On Windows the same protocol runs over a named pipe private to the user
//! (`control/pipe.rs`); `path` then names the state dir's socket path, from
//! which the pipe's name is derived. Other platforms get a clear "not
//! supported on this platform yet" error from [`serve`] and [`query`].

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::daemon::RescanRequest;
use crate::record::TransitionRecord;
use crate::status_report::{AgentInfo, Snapshot};

/// The request for the status report.
pub const STATUS_REQUEST: &str = "status";
/// The request to rediscover and reassess now (`posture-sync reassess`).
pub const REASSESS_REQUEST: &str = "reassess";
/// The longest request line the server reads.
pub const MAX_REQUEST_BYTES: usize = 1024;
/// How long either side waits for the other to send.
pub const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// How many connections the server handles at once; more are turned away.
pub const MAX_CONNECTIONS: usize = 16;
/// The longest reply the client accepts.
pub const MAX_REPLY_BYTES: u64 = 1024 * 1024;

/// Errors starting the status socket server.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Another agent answers on the socket.
    #[error(
        "another posture-sync agent is already running: it answers on the status socket {path}\nhelp: stop it first, or give this agent its own --state-dir"
    )]
    AlreadyRunning {
        /// The socket.
        path: PathBuf,
    },
    /// Something other than a socket sits where the socket goes.
    #[error(
        "the status socket path {path} exists and is not a socket\nhelp: move that file away or choose another --state-dir"
    )]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// The socket path does not fit a unix socket address.
    #[error(
        "the status socket path {path} is {len} bytes long; this platform allows at most {max}\nhelp: choose a shorter --state-dir"
    )]
    PathTooLong {
        /// The path.
        path: PathBuf,
        /// Its length in bytes.
        len: usize,
        /// The platform's limit.
        max: usize,
    },
    /// Removing a stale socket, binding or setting permissions failed.
    #[error("cannot create the status socket {path}: {source}")]
    Bind {
        /// The socket.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// `serve` was called outside a tokio runtime (a programming error).
    #[error("the status socket server must be started inside the tokio runtime")]
    NoRuntime,
    /// No implementation for this platform.
    #[error("the status socket is not supported on this platform yet")]
    Unsupported,
}

/// Errors asking the agent for its status.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// No agent: no socket file, or nothing listening on it.
    #[error("no posture-sync agent is running ({detail} {path})")]
    NoAgent {
        /// The socket.
        path: PathBuf,
        /// "no status socket at" or "nothing answers on the status socket".
        detail: &'static str,
    },
    /// The socket path is too long for a unix socket address: no agent can
    /// run with this state dir (it refuses to start, see
    /// [`ControlError::PathTooLong`]), so there is none to ask.
    #[error(
        "no posture-sync agent is running: the status socket path {path} is {len} bytes long and this platform allows at most {max}, so no agent can use this state dir\nhelp: choose a shorter --state-dir"
    )]
    PathTooLong {
        /// The socket.
        path: PathBuf,
        /// Its length in bytes.
        len: usize,
        /// The platform's limit.
        max: usize,
    },
    /// Connecting, sending or receiving failed.
    #[error("cannot talk to the agent on {path}: {source}")]
    Io {
        /// The socket.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The agent accepted the connection but sent no (complete) answer
    /// within [`IO_TIMEOUT`]: it is alive but stuck.
    #[error(
        "the agent on {path} did not answer within {} s; it may be stuck: see its log (posture-sync.log in its log directory) and stop it with SIGTERM",
        IO_TIMEOUT.as_secs()
    )]
    NoAnswer {
        /// The socket.
        path: PathBuf,
    },
    /// The agent answered with an error line.
    #[error("the agent on {path} refused the request: {message}")]
    Refused {
        /// The socket.
        path: PathBuf,
        /// The agent's message.
        message: String,
    },
    /// The reply was not one JSON object.
    #[error("the agent on {path} sent an unreadable reply: {reason}")]
    BadReply {
        /// The socket.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// No implementation for this platform.
    #[error("the status socket is not supported on this platform yet")]
    Unsupported,
}

/// The running server. Dropping it (or [`ControlServer::shutdown`]) stops
/// accepting and removes the socket file.
#[derive(Debug)]
pub struct ControlServer {
    inner: imp::Server,
}

impl ControlServer {
    /// The socket path.
    pub fn path(&self) -> &Path {
        self.inner.path()
    }

    /// Stops accepting and removes the socket file (same as dropping).
    pub fn shutdown(self) {
        drop(self);
    }
}

/// Binds the status socket at `path` (synchronously, so errors surface at
/// start) and serves the latest value of `status` on the current tokio
/// runtime. A stale socket left by a crashed agent is replaced; a socket on
/// which another agent answers is not.
pub fn serve(
    path: &Path,
    status: watch::Receiver<Snapshot>,
) -> Result<ControlServer, ControlError> {
    serve_with(path, status, AgentInfo::default(), None)
}

/// [`serve`], adding the facts of this run (`info`, such as the profile's
/// path) to every report, and passing `reassess` requests to `rescan` (the
/// daemon); without it, `reassess` is answered with an error.
pub fn serve_with(
    path: &Path,
    status: watch::Receiver<Snapshot>,
    info: AgentInfo,
    rescan: Option<mpsc::Sender<RescanRequest>>,
) -> Result<ControlServer, ControlError> {
    let answer = Answerer {
        status,
        info,
        rescan,
    };
    imp::serve(path, answer).map(|inner| ControlServer { inner })
}

/// What a request line gets answered with: platform-neutral, shared by the
/// unix socket's and the named pipe's servers.
#[derive(Debug)]
struct Answerer {
    status: watch::Receiver<Snapshot>,
    info: AgentInfo,
    rescan: Option<mpsc::Sender<RescanRequest>>,
}

impl Answerer {
    /// The reply line for `request`. `owner` says whether the client is the
    /// user who runs the agent (root may read the status, not trigger a
    /// rescan of another user's agent).
    async fn answer(&self, request: &[u8], owner: bool) -> String {
        let is_reassess = std::str::from_utf8(request).is_ok_and(|t| t.trim() == REASSESS_REQUEST);
        if !is_reassess {
            // Built out of the borrow so the watch lock is not held across an await.
            let current = self.status.borrow().to_value_with(&self.info);
            return reply_for(request, &current);
        }
        if !owner {
            return error_line(
                "permission denied: only the user who runs the agent may ask it to reassess",
            );
        }
        let Some(rescan) = &self.rescan else {
            return error_line("this agent does not take reassess requests");
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        if rescan.try_send(RescanRequest { reply }).is_err() {
            return error_line("the agent is busy with other reassess requests; try again");
        }
        match tokio::time::timeout(IO_TIMEOUT, answer).await {
            Ok(Ok(record)) => serde_json::json!({ "reassess": record }).to_string(),
            Ok(Err(_)) => error_line("the agent is stopping"),
            Err(_) => error_line(&format!(
                "the agent did not decide within {}",
                humantime::format_duration(IO_TIMEOUT)
            )),
        }
    }
}

/// Asks the agent listening on `path` for its status (blocking, with
/// [`IO_TIMEOUT`]-bounded reads and writes). Returns the agent's JSON object.
pub fn query(path: &Path) -> Result<serde_json::Value, QueryError> {
    let reply = imp::exchange(path, STATUS_REQUEST)?;
    parse_reply(path, &reply)
}

/// Asks the agent listening on `path` to rediscover and reassess now.
/// Returns the transition it decided (`None`: it had no profile to act on).
pub fn reassess(path: &Path) -> Result<Option<TransitionRecord>, QueryError> {
    let reply = imp::exchange(path, REASSESS_REQUEST)?;
    parse_reassess_reply(path, &reply)
}

/// How long a client waits for the reply to `request`: a reassess request
/// waits on the agent's decision, which the agent bounds by [`IO_TIMEOUT`],
/// so its client allows twice that, and the agent's own "did not decide"
/// answer arrives instead of a client-side timeout.
#[cfg_attr(not(any(unix, windows)), allow(dead_code))]
fn reply_wait(request: &str) -> Duration {
    if request == REASSESS_REQUEST {
        IO_TIMEOUT * 2
    } else {
        IO_TIMEOUT
    }
}

/// Turns the reply to `reassess` into the transition record or the error.
fn parse_reassess_reply(path: &Path, reply: &[u8]) -> Result<Option<TransitionRecord>, QueryError> {
    #[derive(serde::Deserialize)]
    // The error comes first: serde takes a missing `Option` field as
    // `None`, so `Done` would match an error line too.
    #[serde(untagged)]
    enum Reply {
        Error { error: String },
        Done { reassess: Option<TransitionRecord> },
    }
    match serde_json::from_slice::<Reply>(reply) {
        Ok(Reply::Done { reassess }) => Ok(reassess),
        Ok(Reply::Error { error }) => Err(QueryError::Refused {
            path: path.to_path_buf(),
            message: error,
        }),
        Err(e) => Err(QueryError::BadReply {
            path: path.to_path_buf(),
            reason: format!("not a reassess answer ({e})"),
        }),
    }
}

/// The reply line for one request line (without the newline). Pure, so the
/// protocol is tested without sockets. The status object is sent exactly as
/// the daemon published it.
pub fn reply_for(request: &[u8], status: &serde_json::Value) -> String {
    let text = match std::str::from_utf8(request) {
        Ok(t) => t.trim(),
        Err(_) => return error_line("the request is not UTF-8 text; send the line \"status\""),
    };
    if text == STATUS_REQUEST {
        // Serializing a Value cannot fail: its map keys are strings.
        serde_json::to_string(status)
            .unwrap_or_else(|e| error_line(&format!("cannot encode the status: {e}")))
    } else {
        let mut shown: String = text.chars().take(40).collect();
        if shown.len() < text.len() {
            shown.push_str("...");
        }
        error_line(&format!(
            "unknown request {shown:?}; the requests are \"status\" and \"reassess\""
        ))
    }
}

/// `{"error":"..."}` for `message`.
pub fn error_line(message: &str) -> String {
    serde_json::json!({ "error": message }).to_string()
}

/// Turns a reply line into the status object or the matching error.
// Platform-neutral so it is tested everywhere.
#[cfg_attr(not(any(unix, windows)), allow(dead_code))]
fn parse_reply(path: &Path, reply: &[u8]) -> Result<serde_json::Value, QueryError> {
    let bad = |reason: String| QueryError::BadReply {
        path: path.to_path_buf(),
        reason,
    };
    let value: serde_json::Value =
        serde_json::from_slice(reply).map_err(|e| bad(format!("not JSON ({e})")))?;
    let Some(object) = value.as_object() else {
        return Err(bad("not a JSON object".to_string()));
    };
    if let (Some(message), None) = (object.get("error"), object.get("phase")) {
        return Err(QueryError::Refused {
            path: path.to_path_buf(),
            message: message
                .as_str()
                .map_or_else(|| message.to_string(), str::to_string),
        });
    }
    Ok(value)
}

#[cfg(unix)]
mod imp {
    use std::io::{self, Read, Write};
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    use std::os::unix::net::{UnixListener as StdListener, UnixStream as StdStream};
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use tokio::net::{UnixListener, UnixStream};
    use tokio::sync::Semaphore;
    use tokio::task::JoinHandle;

    use super::{Answerer, ControlError, IO_TIMEOUT, MAX_CONNECTIONS, MAX_REPLY_BYTES, QueryError};

    /// Longest socket path `bind` and `connect` accept (`sun_path` minus the
    /// NUL).
    const MAX_SOCKET_PATH: usize = if cfg!(any(target_os = "linux", target_os = "android")) {
        107
    } else {
        103
    };

    /// `Err((length, limit))` when `path` does not fit a unix socket address.
    /// Server and client check the same limit, so a state dir the agent
    /// refuses is one `status` reports as "no agent" with the same hint.
    pub(super) fn check_path_len(path: &Path) -> Result<(), (usize, usize)> {
        let len = path.as_os_str().len();
        if len > MAX_SOCKET_PATH {
            Err((len, MAX_SOCKET_PATH))
        } else {
            Ok(())
        }
    }

    #[derive(Debug)]
    pub(super) struct Server {
        path: PathBuf,
        /// (device, inode) of the socket file we created: on shutdown only
        /// that file is removed, never one another process put there since.
        ident: (u64, u64),
        task: JoinHandle<()>,
    }

    impl Server {
        pub(super) fn path(&self) -> &Path {
            &self.path
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.task.abort();
            if let Ok(m) = std::fs::symlink_metadata(&self.path)
                && (m.dev(), m.ino()) == self.ident
            {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }

    pub(super) fn serve(path: &Path, answer: Answerer) -> Result<Server, ControlError> {
        if let Err((len, max)) = check_path_len(path) {
            return Err(ControlError::PathTooLong {
                path: path.to_path_buf(),
                len,
                max,
            });
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ControlError::NoRuntime)?;
        let bind_err = |source: io::Error| ControlError::Bind {
            path: path.to_path_buf(),
            source,
        };
        remove_stale(path)?;
        let listener = bind_private(path).map_err(bind_err)?;
        let meta = std::fs::symlink_metadata(path).map_err(bind_err)?;
        let ident = (meta.dev(), meta.ino());
        // The socket's owner is this process's effective user: the one user
        // (besides root) the server answers.
        let owner = meta.uid();
        let setup = || -> io::Result<UnixListener> {
            listener.set_nonblocking(true)?;
            let _guard = runtime.enter();
            UnixListener::from_std(listener)
        };
        let listener = match setup() {
            Ok(l) => l,
            Err(source) => {
                let _ = std::fs::remove_file(path);
                return Err(bind_err(source));
            }
        };
        let task = runtime.spawn(accept_loop(
            listener,
            Arc::new(answer),
            owner,
            path.to_path_buf(),
        ));
        tracing::info!(socket = %path.display(), "status socket ready");
        Ok(Server {
            path: path.to_path_buf(),
            ident,
            task,
        })
    }

    /// Binds a listening socket at `path` that is mode 0600 from the moment
    /// it appears there. A socket cannot be opened, so there is no
    /// descriptor to chmod: it is bound and chmodded inside a directory this
    /// call creates (mode 0700, `mkdir` fails on anything already there), where
    /// no other user can put a link in its place, then renamed to `path`
    /// (a rename replaces a link, never follows it). The staging path is no
    /// longer than `path`, so the socket address fits wherever `path` does.
    fn bind_private(path: &Path) -> io::Result<StdListener> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let name_len = path.file_name().map_or(0, |n| n.len());
        // `<dir>/.<random>/s` is no longer than `<dir>/<name>`.
        let random_len = name_len.saturating_sub(3).clamp(1, 12);
        let mut attempts = 0;
        let staging = loop {
            let random: String = (0..random_len).map(|_| fastrand::alphanumeric()).collect();
            let staging = dir.join(format!(".{random}"));
            match std::fs::DirBuilder::new().mode(0o700).create(&staging) {
                Ok(()) => break staging,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 16 => {
                    attempts += 1;
                }
                Err(e) => return Err(e),
            }
        };
        let inner = staging.join("s");
        let result = (|| {
            let listener = StdListener::bind(&inner)?;
            std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o600))?;
            std::fs::rename(&inner, path)?;
            Ok(listener)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&inner);
        }
        // Empty now (the socket moved out, or was removed above).
        let _ = std::fs::remove_dir(&staging);
        result
    }

    /// Removes a socket left behind by an agent that is gone; refuses when an
    /// agent still answers or when the path is not a socket.
    fn remove_stale(path: &Path) -> Result<(), ControlError> {
        let meta = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(ControlError::Bind {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        if !meta.file_type().is_socket() {
            return Err(ControlError::NotASocket {
                path: path.to_path_buf(),
            });
        }
        match StdStream::connect(path) {
            Ok(_) => Err(ControlError::AlreadyRunning {
                path: path.to_path_buf(),
            }),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                tracing::info!(socket = %path.display(), "removing the stale status socket of an agent that is gone");
                std::fs::remove_file(path).map_err(|source| ControlError::Bind {
                    path: path.to_path_buf(),
                    source,
                })
            }
            Err(source) => Err(ControlError::Bind {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    async fn accept_loop(listener: UnixListener, answer: Arc<Answerer>, owner: u32, path: PathBuf) {
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Usually out of file descriptors: wait instead of spinning.
                    tracing::warn!(socket = %path.display(), error = %e, "status socket accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    continue;
                }
            };
            let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
                tracing::warn!(socket = %path.display(), "status socket busy; turning a client away");
                tokio::spawn(async move {
                    super::line::finish(stream, &super::error_line("the agent is busy; try again"))
                        .await;
                });
                continue;
            };
            let answer = Arc::clone(&answer);
            tokio::spawn(async move {
                handle(stream, &answer, owner).await;
                drop(permit);
            });
        }
    }

    async fn handle(stream: UnixStream, answer: &Answerer, owner: u32) {
        let is_owner = match stream.peer_cred() {
            Ok(cred) if cred.uid() == owner => true,
            Ok(cred) if cred.uid() == 0 => false,
            Ok(cred) => {
                tracing::warn!(
                    peer_uid = cred.uid(),
                    owner_uid = owner,
                    "status socket: refusing a client of another user"
                );
                let refusal =
                    super::error_line("permission denied: this agent answers only its own user");
                super::line::finish(stream, &refusal).await;
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "status socket: cannot read the client's credentials; refusing it");
                return;
            }
        };
        super::line::serve(stream, answer, is_owner).await;
    }

    /// Sends `request` as one line and returns the reply's bytes.
    pub(super) fn exchange(path: &Path, request: &str) -> Result<Vec<u8>, QueryError> {
        // A socket timeout shows as EAGAIN ("resource temporarily
        // unavailable"), which tells an administrator nothing.
        let io_err = |source: io::Error| match source.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => QueryError::NoAnswer {
                path: path.to_path_buf(),
            },
            _ => QueryError::Io {
                path: path.to_path_buf(),
                source,
            },
        };
        // connect() would fail with "path must be shorter than SUN_LEN":
        // true, but it hides that no agent can ever run there.
        if let Err((len, max)) = check_path_len(path) {
            return Err(QueryError::PathTooLong {
                path: path.to_path_buf(),
                len,
                max,
            });
        }
        let mut stream = match StdStream::connect(path) {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(QueryError::NoAgent {
                    path: path.to_path_buf(),
                    detail: "no status socket at",
                });
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                return Err(QueryError::NoAgent {
                    path: path.to_path_buf(),
                    detail: "nothing answers on the status socket",
                });
            }
            Err(e) => return Err(io_err(e)),
        };
        stream
            .set_read_timeout(Some(super::reply_wait(request)))
            .map_err(io_err)?;
        stream.set_write_timeout(Some(IO_TIMEOUT)).map_err(io_err)?;
        stream
            .write_all(format!("{request}\n").as_bytes())
            .map_err(io_err)?;
        let mut reply = Vec::new();
        (&mut stream)
            .take(MAX_REPLY_BYTES + 1)
            .read_to_end(&mut reply)
            .map_err(io_err)?;
        if reply.len() as u64 > MAX_REPLY_BYTES {
            return Err(QueryError::BadReply {
                path: path.to_path_buf(),
                reason: format!("longer than {MAX_REPLY_BYTES} bytes"),
            });
        }
        Ok(reply)
    }
}

mod line;
#[cfg(any(windows, test))]
mod pipe;
#[cfg(windows)]
use pipe::windows as imp;

#[cfg(not(any(unix, windows)))]
mod imp {
    use std::path::Path;

    use super::{ControlError, QueryError};

    #[derive(Debug)]
    pub(super) struct Server {
        path: std::path::PathBuf,
    }

    impl Server {
        pub(super) fn path(&self) -> &Path {
            &self.path
        }
    }

    pub(super) fn serve(_path: &Path, _answer: super::Answerer) -> Result<Server, ControlError> {
        Err(ControlError::Unsupported)
    }

    pub(super) fn exchange(_path: &Path, _request: &str) -> Result<Vec<u8>, QueryError> {
        Err(QueryError::Unsupported)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> serde_json::Value {
        json!({"phase": "known", "posture": "Compliant", "session_id": null})
    }

    #[test]
    fn status_request_gets_the_status_object() {
        assert_eq!(reply_for(b"status", &sample()), sample().to_string());
        assert_eq!(reply_for(b"  status \r", &sample()), sample().to_string());
    }

    #[test]
    fn other_requests_get_one_error_line() {
        for req in [
            &b"STATUS"[..],
            b"",
            b"status please",
            b"\xff\xfe",
            b"{\"request\":\"status\"}",
        ] {
            let reply = reply_for(req, &sample());
            let v: serde_json::Value = serde_json::from_str(&reply).unwrap();
            let msg = v["error"].as_str().unwrap();
            assert!(msg.contains("status"), "{msg}");
            assert_eq!(v.as_object().unwrap().len(), 1);
            assert!(!reply.contains('\n'));
        }
        let long = "a".repeat(500);
        let v: serde_json::Value =
            serde_json::from_str(&reply_for(long.as_bytes(), &sample())).unwrap();
        assert!(v["error"].as_str().unwrap().len() < 120);
    }

    #[test]
    fn reply_parsing() {
        let p = Path::new("/s/agent.sock");
        assert_eq!(
            parse_reply(p, sample().to_string().as_bytes()).unwrap(),
            sample()
        );
        let e = parse_reply(p, br#"{"error":"nope"}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the agent on /s/agent.sock refused the request: nope"
        );
        assert!(matches!(
            parse_reply(p, b"[1]"),
            Err(QueryError::BadReply { .. })
        ));
        assert!(matches!(
            parse_reply(p, b""),
            Err(QueryError::BadReply { .. })
        ));
    }

    #[cfg(unix)]
    mod unix {
        use super::*;
        use std::io::{Read, Write};
        use std::os::unix::fs::PermissionsExt;
        use std::os::unix::net::UnixStream;

        /// Runs `f` (blocking client code) off the runtime thread.
        async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
            tokio::task::spawn_blocking(f).await.unwrap()
        }

        fn raw_exchange(path: &Path, request: &[u8]) -> String {
            let mut s = UnixStream::connect(path).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(request).unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out
        }

        /// A server of [`sample`] at a fresh `agent.sock`: the temp dir
        /// (removed when dropped), the socket, the sender of newer
        /// snapshots and the server.
        fn serving_sample() -> (
            tempfile::TempDir,
            PathBuf,
            watch::Sender<Snapshot>,
            ControlServer,
        ) {
            let tmp = tempfile::tempdir().unwrap();
            let path = tmp.path().join("agent.sock");
            let (tx, rx) = watch::channel(Snapshot::fixed(sample()));
            let server = serve(&path, rx).unwrap();
            (tmp, path, tx, server)
        }

        #[tokio::test]
        async fn serves_the_latest_status_and_cleans_up() {
            let (_tmp, path, tx, server) = serving_sample();
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);

            let p = path.clone();
            assert_eq!(blocking(move || query(&p)).await.unwrap(), sample());
            tx.send(Snapshot::fixed(json!({"phase": "discovering"})))
                .unwrap();
            let p = path.clone();
            assert_eq!(
                blocking(move || query(&p)).await.unwrap(),
                json!({"phase": "discovering"})
            );

            server.shutdown();
            assert!(!path.exists());
            let p = path.clone();
            let e = blocking(move || query(&p)).await.unwrap_err();
            assert!(matches!(e, QueryError::NoAgent { .. }), "{e:?}");
            assert_eq!(
                e.to_string(),
                format!(
                    "no posture-sync agent is running (no status socket at {})",
                    path.display()
                )
            );
        }

        #[tokio::test]
        async fn garbage_oversized_and_silent_clients_get_an_error_line() {
            let (_tmp, path, _tx, _server) = serving_sample();
            let p = path.clone();
            let replies = blocking(move || {
                let garbage = raw_exchange(&p, b"\x00\x01hello\n");
                let oversized = raw_exchange(&p, &[b'a'; 4096]);
                // A client that connects and says nothing gets the timeout error.
                let mut silent = UnixStream::connect(&p).unwrap();
                silent
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let mut timeout = String::new();
                silent.read_to_string(&mut timeout).unwrap();
                let ok = raw_exchange(&p, b"status\n");
                (garbage, oversized, timeout, ok)
            })
            .await;
            for (reply, needle) in [
                (&replies.0, "unknown request"),
                (&replies.1, "longer than 1024 bytes"),
                (&replies.2, "no request line within 2s"),
            ] {
                assert!(
                    reply.ends_with('\n') && reply.matches('\n').count() == 1,
                    "{reply:?}"
                );
                let v: serde_json::Value = serde_json::from_str(reply).unwrap();
                assert!(v["error"].as_str().unwrap().contains(needle), "{reply}");
            }
            // The server survived all of it.
            assert_eq!(replies.3, format!("{}\n", sample()));
        }

        #[tokio::test]
        async fn stale_socket_is_replaced_but_a_live_agent_is_not() {
            let tmp = tempfile::tempdir().unwrap();
            let path = tmp.path().join("agent.sock");
            // A stale socket: bound, then its listener closed.
            drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
            assert!(path.exists());
            let (_tx, rx) = watch::channel(Snapshot::fixed(sample()));
            let first = serve(&path, rx.clone()).unwrap();

            let e = serve(&path, rx.clone()).unwrap_err();
            assert!(matches!(e, ControlError::AlreadyRunning { .. }), "{e:?}");
            assert!(e.to_string().contains(&path.display().to_string()), "{e}");
            // The refused second server must not have removed the first one's socket.
            let p = path.clone();
            assert_eq!(blocking(move || query(&p)).await.unwrap(), sample());
            drop(first);
        }

        #[tokio::test]
        async fn a_regular_file_is_not_replaced() {
            let tmp = tempfile::tempdir().unwrap();
            let path = tmp.path().join("agent.sock");
            std::fs::write(&path, b"keep me").unwrap();
            let (_tx, rx) = watch::channel(Snapshot::fixed(sample()));
            let e = serve(&path, rx).unwrap_err();
            assert!(matches!(e, ControlError::NotASocket { .. }), "{e:?}");
            assert_eq!(std::fs::read(&path).unwrap(), b"keep me");
        }

        #[tokio::test]
        async fn too_long_a_path_is_reported() {
            let path = PathBuf::from(format!("/tmp/{}/agent.sock", "d".repeat(200)));
            let (_tx, rx) = watch::channel(Snapshot::fixed(sample()));
            let e = serve(&path, rx).unwrap_err();
            assert!(
                e.to_string().contains("choose a shorter --state-dir"),
                "{e}"
            );
        }

        #[test]
        fn too_long_a_path_is_no_agent_with_the_hint() {
            let path = PathBuf::from(format!("/tmp/{}/agent.sock", "x".repeat(120)));
            let len = path.as_os_str().len();
            let e = query(&path).unwrap_err();
            let QueryError::PathTooLong { len: l, max, .. } = &e else {
                panic!("expected PathTooLong, got {e:?}");
            };
            assert_eq!(*l, len);
            assert!(*max < len);
            let text = e.to_string();
            assert!(
                text.starts_with("no posture-sync agent is running"),
                "{text}"
            );
            assert!(text.contains(&path.display().to_string()), "{text}");
            assert!(text.contains(&format!("{len} bytes long")), "{text}");
            assert!(text.contains(&format!("at most {max}")), "{text}");
            assert!(
                text.ends_with("help: choose a shorter --state-dir"),
                "{text}"
            );
            assert!(!text.contains("SUN_LEN"), "{text}");
        }

        #[test]
        fn serve_outside_a_runtime_is_an_error() {
            let tmp = tempfile::tempdir().unwrap();
            let (_tx, rx) = watch::channel(Snapshot::fixed(sample()));
            let e = serve(&tmp.path().join("agent.sock"), rx).unwrap_err();
            assert!(matches!(e, ControlError::NoRuntime), "{e:?}");
            assert!(!tmp.path().join("agent.sock").exists());
        }

        /// A hung agent: it accepts and never answers.
        #[test]
        fn an_agent_that_never_answers_is_reported_as_stuck() {
            let tmp = tempfile::tempdir().unwrap();
            let path = tmp.path().join("agent.sock");
            let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
            let (release, hold) = std::sync::mpsc::channel::<()>();
            let server = std::thread::spawn(move || {
                let (_conn, _) = listener.accept().unwrap();
                let _ = hold.recv();
            });
            let e = query(&path).unwrap_err();
            drop(release);
            server.join().unwrap();
            assert!(matches!(e, QueryError::NoAnswer { .. }), "{e:?}");
            let text = e.to_string();
            assert!(
                text.contains(&format!("did not answer within {} s", IO_TIMEOUT.as_secs())),
                "{text}"
            );
            assert!(
                text.contains("posture-sync.log") && text.contains("SIGTERM"),
                "{text}"
            );
            assert!(!text.contains("os error"), "{text}");
        }

        #[test]
        fn nothing_listening_is_no_agent() {
            let tmp = tempfile::tempdir().unwrap();
            let path = tmp.path().join("agent.sock");
            drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
            let e = query(&path).unwrap_err();
            assert!(matches!(e, QueryError::NoAgent { .. }), "{e:?}");
            assert!(
                e.to_string()
                    .starts_with("no posture-sync agent is running"),
                "{e}"
            );
        }
    }
}
