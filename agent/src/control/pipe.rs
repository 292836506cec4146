//! The status socket on Windows: a named pipe speaking the same one-line
//! protocol as the unix socket (`docs/cli.md`, "Status socket").
//!
//! - **Name**: `\\.\pipe\posture-sync-<hash>`, the hash taken over the
//!   socket path in the state dir ([`pipe_name`]), so two agents with
//!   different `--state-dir`s never share a pipe and `status` finds the
//!   agent of the state dir it was given.
//! - **Who may connect**: the pipe's access list grants the user who runs the
//!   agent and SYSTEM, nobody else ([`pipe_sddl`]); remote clients are
//!   rejected. The first instance is created with `FILE_FLAG_FIRST_PIPE_INSTANCE`:
//!   when the name exists already (another agent, or another user squatting
//!   it) the agent refuses to start with [`ControlError::AlreadyRunning`]
//!   instead of joining a pipe someone else controls.
//! - **Who answers**: the client checks that the process serving the pipe
//!   runs as its own user before it believes the answer.
//! - **Who may ask for a reassessment**: everyone who can open the pipe, that
//!   is the user and SYSTEM. On unix only the owner may; SYSTEM is the
//!   Windows counterpart of root, and it can control the user's processes
//!   anyway.
//!
//! The connection handling is generic over the stream, so it is tested on
//! every OS with in-memory pipes; only the Windows glue is Windows-only.
//!
//! [`ControlError::AlreadyRunning`]: super::ControlError::AlreadyRunning

use std::io;
use std::path::Path;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{Answerer, MAX_REPLY_BYTES};

/// What every status pipe's name starts with.
pub(super) const PIPE_PREFIX: &str = r"\\.\pipe\posture-sync-";

/// The pipe that stands for the status socket `socket` (`<state>\agent.sock`).
/// Windows paths are case-insensitive and accept both separators, so the
/// hash is taken over the path lower-cased, with `\` for `/` and no trailing
/// separator: the same state dir spelled differently gives the same pipe.
pub(super) fn pipe_name(socket: &Path) -> String {
    let text = socket.to_string_lossy().replace('/', "\\").to_lowercase();
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        text.trim_end_matches('\\').as_bytes(),
    );
    let hex: String = digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{PIPE_PREFIX}{hex}")
}

/// The pipe's security descriptor in SDDL: a protected DACL (`P`: nothing
/// inherited) that allows all access to `user_sid` and to SYSTEM (`SY`), so
/// no other user, not even an administrator without taking ownership, can
/// open it. `None` when `user_sid` is not a well-formed SID string, so that
/// nothing but a SID can reach the descriptor's text.
pub(super) fn pipe_sddl(user_sid: &str) -> Option<String> {
    let well_formed = user_sid.strip_prefix("S-1-").is_some_and(|rest| {
        rest.split('-')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
    });
    well_formed.then(|| format!("D:P(A;;GA;;;{user_sid})(A;;GA;;;SY)"))
}

/// Serves one connected client. Everyone the pipe admits counts as the
/// owner (see the module notes).
pub(super) async fn handle<S>(stream: S, answer: &Answerer)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    super::line::serve(stream, answer, true).await;
}

/// What the client read.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Reply {
    /// The reply line, without its newline.
    Line(Vec<u8>),
    /// More than [`MAX_REPLY_BYTES`] without a newline.
    TooLong,
}

/// The client's side: sends `request` as a line and reads one reply line
/// (up to the newline or the end of the stream, at most [`MAX_REPLY_BYTES`]).
/// It stops at the newline instead of waiting for the end of the stream: the
/// server waits for the client to close before it closes its own end.
pub(super) async fn exchange_line<S>(stream: &mut S, request: &str) -> io::Result<Reply>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream.write_all(format!("{request}\n").as_bytes()).await?;
    stream.flush().await?;
    let mut reply = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(Reply::Line(reply));
        }
        reply.extend_from_slice(&chunk[..n]);
        if let Some(end) = reply.iter().position(|&b| b == b'\n') {
            reply.truncate(end);
            return Ok(Reply::Line(reply));
        }
        if reply.len() as u64 > MAX_REPLY_BYTES {
            return Ok(Reply::TooLong);
        }
    }
}

#[cfg(windows)]
pub(super) mod windows {
    //! The Windows glue: pipe instances, the accept loop and the client.

    use std::io;
    use std::path::{Path, PathBuf};
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::net::windows::named_pipe::{ClientOptions, NamedPipeServer, ServerOptions};
    use tokio::sync::Semaphore;
    use tokio::task::JoinHandle;

    use super::super::line::finish;
    use super::super::{
        Answerer, ControlError, IO_TIMEOUT, MAX_CONNECTIONS, MAX_REPLY_BYTES, QueryError,
    };
    use super::{Reply, exchange_line, handle, pipe_name, pipe_sddl};
    use crate::platform::windows_ffi;

    /// `ERROR_ACCESS_DENIED`: what creating the first instance of a pipe
    /// that exists already fails with.
    const ERROR_ACCESS_DENIED: i32 = 5;
    /// `ERROR_PIPE_BUSY`: every instance is serving a client.
    const ERROR_PIPE_BUSY: i32 = 231;

    #[derive(Debug)]
    pub(in crate::control) struct Server {
        /// The pipe's name.
        path: PathBuf,
        task: JoinHandle<()>,
    }

    impl Server {
        pub(in crate::control) fn path(&self) -> &Path {
            &self.path
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            // The pipe goes away with its last instance handle, all of which
            // the task owns.
            self.task.abort();
        }
    }

    /// A pipe instance: private to the user (`sddl`), local clients only.
    fn create(name: &str, sddl: &str, first: bool) -> io::Result<NamedPipeServer> {
        let mut options = ServerOptions::new();
        options
            .first_pipe_instance(first)
            .reject_remote_clients(true);
        windows_ffi::create_pipe_with_sddl(&options, name, sddl)
    }

    pub(in crate::control) fn serve(path: &Path, answer: Answerer) -> Result<Server, ControlError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ControlError::NoRuntime)?;
        let name = pipe_name(path);
        let pipe_path = PathBuf::from(&name);
        let bind_err = |source: io::Error| ControlError::Bind {
            path: pipe_path.clone(),
            source,
        };
        let sid = windows_ffi::current_user_sid().map_err(bind_err)?;
        let sddl = pipe_sddl(&sid).ok_or_else(|| {
            bind_err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the process token's user SID {sid:?} is not well-formed"),
            ))
        })?;
        let first = {
            let _guard = runtime.enter();
            create(&name, &sddl, true)
        };
        let first = match first {
            Ok(pipe) => pipe,
            Err(e) if e.raw_os_error() == Some(ERROR_ACCESS_DENIED) => {
                return Err(ControlError::AlreadyRunning { path: pipe_path });
            }
            Err(e) => return Err(bind_err(e)),
        };
        let task = runtime.spawn(accept_loop(first, name.clone(), sddl, Arc::new(answer)));
        tracing::info!(pipe = %name, state_socket = %path.display(), "status pipe ready");
        Ok(Server {
            path: pipe_path,
            task,
        })
    }

    async fn accept_loop(
        mut listening: NamedPipeServer,
        name: String,
        sddl: String,
        answer: Arc<Answerer>,
    ) {
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let connected = listening.connect().await;
            // The next instance exists before this one is handed off, so the
            // name is never free for another process to take.
            let next = loop {
                match create(&name, &sddl, false) {
                    Ok(pipe) => break pipe,
                    Err(e) => {
                        tracing::warn!(pipe = %name, error = %e, "status pipe: cannot create the next instance");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            };
            let stream = std::mem::replace(&mut listening, next);
            if let Err(e) = connected {
                // Usually a client that went away at once; wait a little in
                // case it is something lasting, instead of spinning.
                tracing::debug!(pipe = %name, error = %e, "status pipe: connecting a client failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
                tracing::warn!(pipe = %name, "status pipe busy; turning a client away");
                tokio::spawn(async move {
                    finish(
                        stream,
                        &super::super::error_line("the agent is busy; try again"),
                    )
                    .await;
                });
                continue;
            };
            let answer = Arc::clone(&answer);
            tokio::spawn(async move {
                handle(stream, &answer).await;
                drop(permit);
            });
        }
    }

    /// Blocking, like the unix client. The pipe client is tokio's, so the
    /// exchange runs on a runtime of its own, on a thread of its own: a
    /// caller already inside a runtime (where `block_on` would panic) works.
    pub(in crate::control) fn exchange(path: &Path, request: &str) -> Result<Vec<u8>, QueryError> {
        let name = pipe_name(path);
        let pipe_path = PathBuf::from(&name);
        let io_err = |source: io::Error| QueryError::Io {
            path: pipe_path.clone(),
            source,
        };
        let outcome = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(io_err)?
                        .block_on(exchange_pipe(&name, &pipe_path, request))
                })
                .join()
        });
        outcome.unwrap_or_else(|_| Err(io_err(io::Error::other("the status client thread failed"))))
    }

    async fn exchange_pipe(
        name: &str,
        pipe_path: &Path,
        request: &str,
    ) -> Result<Vec<u8>, QueryError> {
        let io_err = |source: io::Error| QueryError::Io {
            path: pipe_path.to_path_buf(),
            source,
        };
        let no_answer = || QueryError::NoAnswer {
            path: pipe_path.to_path_buf(),
        };
        let open = async {
            loop {
                match ClientOptions::new().open(name) {
                    Err(e) if e.raw_os_error() == Some(ERROR_PIPE_BUSY) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    other => return other,
                }
            }
        };
        let mut client = match tokio::time::timeout(IO_TIMEOUT, open).await {
            Err(_) => return Err(no_answer()),
            Ok(Err(e)) if e.kind() == io::ErrorKind::NotFound => {
                return Err(QueryError::NoAgent {
                    path: pipe_path.to_path_buf(),
                    detail: "no status pipe",
                });
            }
            Ok(Err(e)) => return Err(io_err(e)),
            Ok(Ok(client)) => client,
        };
        check_server_user(&client).map_err(io_err)?;
        let wait = super::super::reply_wait(request);
        let reply = match tokio::time::timeout(wait, exchange_line(&mut client, request)).await {
            Err(_) => return Err(no_answer()),
            Ok(Err(e)) => return Err(io_err(e)),
            Ok(Ok(Reply::TooLong)) => {
                return Err(QueryError::BadReply {
                    path: pipe_path.to_path_buf(),
                    reason: format!("longer than {MAX_REPLY_BYTES} bytes"),
                });
            }
            Ok(Ok(Reply::Line(line))) => line,
        };
        Ok(reply)
    }

    /// Refuses a pipe served by a process of another user: pipe names are
    /// global, and another user may have created this one first.
    fn check_server_user(
        client: &tokio::net::windows::named_pipe::NamedPipeClient,
    ) -> io::Result<()> {
        let me = windows_ffi::current_user_sid()?;
        let pid = windows_ffi::pipe_server_pid(client)?;
        let untrusted = |why: String| {
            io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "the pipe is served by process {pid} {why}, not by an agent of this user ({me}); its answer is not trusted"
                ),
            )
        };
        match windows_ffi::process_user_sid(pid) {
            Ok(sid) if sid == me => Ok(()),
            Ok(sid) => Err(untrusted(format!("of user {sid}"))),
            Err(e) => Err(untrusted(format!("whose user cannot be read ({e})"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tokio::sync::watch;

    use super::super::{AgentInfo, REASSESS_REQUEST, STATUS_REQUEST, Snapshot};

    /// The answerer the agent would run, serving `status`, without a daemon
    /// behind it for reassess requests.
    fn answerer(status: serde_json::Value) -> (watch::Sender<Snapshot>, Answerer) {
        let (tx, rx) = watch::channel(Snapshot::fixed(status));
        let answer = Answerer {
            status: rx,
            info: AgentInfo::default(),
            rescan: None,
        };
        (tx, answer)
    }

    fn sample() -> serde_json::Value {
        json!({"phase": "known", "posture": "Compliant", "session_id": null})
    }

    #[test]
    fn the_pipe_name_follows_the_state_dir() {
        let a = pipe_name(Path::new(
            r"C:\Users\ann\AppData\Local\posture-sync\state\agent.sock",
        ));
        assert!(a.starts_with(r"\\.\pipe\posture-sync-"), "{a}");
        assert_eq!(a.len(), PIPE_PREFIX.len() + 32);
        assert!(
            a[PIPE_PREFIX.len()..]
                .bytes()
                .all(|b| b.is_ascii_hexdigit())
        );
        // The same dir spelled differently: the same pipe.
        for same in [
            r"c:\users\ANN\appdata\local\posture-sync\state\agent.sock",
            "C:/Users/ann/AppData/Local/posture-sync/state/agent.sock",
        ] {
            assert_eq!(pipe_name(Path::new(same)), a, "{same}");
        }
        // Another state dir (another user, or --state-dir): another pipe.
        let b = pipe_name(Path::new(
            r"C:\Users\bob\AppData\Local\posture-sync\state\agent.sock",
        ));
        let c = pipe_name(Path::new(r"D:\agents\two\agent.sock"));
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(b, c);
    }

    #[test]
    fn the_descriptor_grants_only_the_user_and_system() {
        let sid = "S-1-5-21-3623811015-3361044348-30300820-1013";
        assert_eq!(
            pipe_sddl(sid).as_deref(),
            Some("D:P(A;;GA;;;S-1-5-21-3623811015-3361044348-30300820-1013)(A;;GA;;;SY)")
        );
        assert_eq!(
            pipe_sddl("S-1-5-18").as_deref(),
            Some("D:P(A;;GA;;;S-1-5-18)(A;;GA;;;SY)")
        );
        // Anything else could add entries to the descriptor: refused.
        for bad in [
            "",
            "S-1-",
            "S-1-5-21-1)(A;;GA;;;WD",
            "WD",
            "S-1-5--18",
            "s-1-5-18",
            "S-1-5-18 ",
        ] {
            assert_eq!(pipe_sddl(bad), None, "{bad:?}");
        }
    }

    /// One client exchange against [`handle`] over an in-memory pipe.
    async fn exchange_with_server(
        status: serde_json::Value,
    ) -> (io::Result<Reply>, tokio::task::JoinHandle<()>) {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let (_tx, answer) = answerer(status);
        let served = tokio::spawn(async move {
            handle(server, &answer).await;
        });
        let reply = exchange_line(&mut client, STATUS_REQUEST).await;
        drop(client);
        (reply, served)
    }

    #[tokio::test]
    async fn a_pipe_client_gets_the_status_line_the_socket_sends() {
        let (reply, served) = exchange_with_server(sample()).await;
        let Reply::Line(line) = reply.unwrap() else {
            panic!("expected a line");
        };
        assert_eq!(line, sample().to_string().into_bytes());
        assert_eq!(
            super::super::parse_reply(Path::new(r"\\.\pipe\x"), &line).unwrap(),
            sample()
        );
        // The server finishes once the client has closed.
        served.await.unwrap();
    }

    /// Runs `handle` against raw client bytes; returns what the server sent.
    async fn raw(request: &[u8], close_after: bool) -> String {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let (_tx, answer) = answerer(sample());
        let served = tokio::spawn(async move {
            handle(server, &answer).await;
        });
        client.write_all(request).await.unwrap();
        if close_after {
            client.shutdown().await.unwrap();
        }
        let mut out = String::new();
        client.read_to_string(&mut out).await.unwrap();
        served.await.unwrap();
        out
    }

    #[tokio::test(start_paused = true)]
    async fn garbage_oversized_and_silent_pipe_clients_get_an_error_line() {
        for (request, needle) in [
            (&b"\x00\x01hello\n"[..], "unknown request"),
            (&[b'a'; 4096][..], "longer than 1024 bytes"),
            (&b""[..], "no request line within 2s"),
        ] {
            let reply = raw(request, false).await;
            assert!(
                reply.ends_with('\n') && reply.matches('\n').count() == 1,
                "{reply:?}"
            );
            let v: serde_json::Value = serde_json::from_str(&reply).unwrap();
            assert!(v["error"].as_str().unwrap().contains(needle), "{reply}");
        }
        // A request without its newline, then the end of the stream.
        assert_eq!(raw(b"status", true).await, format!("{}\n", sample()));
    }

    #[tokio::test]
    async fn an_endless_reply_is_cut_off() {
        let (mut client, mut server) = tokio::io::duplex(64 * 1024);
        let flood = tokio::spawn(async move {
            let mut request = [0u8; 7];
            server.read_exact(&mut request).await.unwrap();
            let chunk = vec![b'x'; 64 * 1024];
            while server.write_all(&chunk).await.is_ok() {}
        });
        assert_eq!(
            exchange_line(&mut client, STATUS_REQUEST).await.unwrap(),
            Reply::TooLong
        );
        drop(client);
        flood.await.unwrap();
    }

    #[tokio::test]
    async fn a_pipe_client_may_ask_for_a_reassessment() {
        // Without a daemon behind the answerer: a clear refusal.
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let (_tx, answer) = answerer(sample());
        let served = tokio::spawn(async move { handle(server, &answer).await });
        let Reply::Line(line) = exchange_line(&mut client, REASSESS_REQUEST).await.unwrap() else {
            panic!("expected a line");
        };
        drop(client);
        served.await.unwrap();
        let err = super::super::parse_reassess_reply(Path::new(r"\\.\pipe\x"), &line).unwrap_err();
        assert!(
            err.to_string().contains("does not take reassess requests"),
            "{err}"
        );

        // With one: the request reaches it and its answer comes back.
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let (_tx, mut answer) = answerer(sample());
        let (rescan, mut requests) = tokio::sync::mpsc::channel(1);
        answer.rescan = Some(rescan);
        let served = tokio::spawn(async move { handle(server, &answer).await });
        let daemon = tokio::spawn(async move {
            let request: crate::daemon::RescanRequest = requests.recv().await.unwrap();
            request.reply.send(None).unwrap();
        });
        let Reply::Line(line) = exchange_line(&mut client, REASSESS_REQUEST).await.unwrap() else {
            panic!("expected a line");
        };
        drop(client);
        served.await.unwrap();
        daemon.await.unwrap();
        assert_eq!(
            super::super::parse_reassess_reply(Path::new(r"\\.\pipe\x"), &line).unwrap(),
            None
        );
    }
}
