//! macOS: a `PF_ROUTE` raw socket registered with tokio's reactor (no
//! thread of its own), its messages parsed by [`super::route_msg`]; and the
//! clock pair for resume detection. No unsafe code: rustix opens and reads
//! the socket.

use std::collections::VecDeque;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rustix::io::FdFlags;
use rustix::net::{AddressFamily, SocketType};
use tokio::io::unix::AsyncFd;

use super::route_msg as rm;
use super::{ClockSample, NetWatchError, Observed, socket_err};

// The parser's layout constants are the SDK's (through the libc crate):
// a mismatch fails the build for macOS, not the endpoint at run time.
const _: () = {
    assert!(std::mem::size_of::<libc::rt_msghdr>() == rm::RT_MSGHDR_LEN);
    assert!(std::mem::size_of::<libc::ifa_msghdr>() == rm::IFA_MSGHDR_LEN);
    assert!(std::mem::size_of::<libc::if_msghdr>() == rm::IF_MSGHDR_LEN);
    assert!(std::mem::offset_of!(libc::rt_msghdr, rtm_index) == 4);
    assert!(std::mem::offset_of!(libc::rt_msghdr, rtm_flags) == 8);
    assert!(std::mem::offset_of!(libc::rt_msghdr, rtm_addrs) == 12);
    assert!(std::mem::offset_of!(libc::rt_msghdr, rtm_errno) == 24);
    assert!(std::mem::offset_of!(libc::ifa_msghdr, ifam_addrs) == 4);
    assert!(std::mem::offset_of!(libc::ifa_msghdr, ifam_index) == 12);
    assert!(std::mem::offset_of!(libc::if_msghdr, ifm_addrs) == 4);
    assert!(std::mem::offset_of!(libc::if_msghdr, ifm_flags) == 8);
    assert!(std::mem::offset_of!(libc::if_msghdr, ifm_index) == 12);
    assert!(libc::RTM_VERSION == rm::RTM_VERSION as i32);
    assert!(libc::RTM_ADD == rm::RTM_ADD as i32);
    assert!(libc::RTM_DELETE == rm::RTM_DELETE as i32);
    assert!(libc::RTM_CHANGE == rm::RTM_CHANGE as i32);
    assert!(libc::RTM_NEWADDR == rm::RTM_NEWADDR as i32);
    assert!(libc::RTM_DELADDR == rm::RTM_DELADDR as i32);
    assert!(libc::RTM_IFINFO == rm::RTM_IFINFO as i32);
    assert!(libc::AF_INET == rm::AF_INET as i32);
    assert!(libc::AF_INET6 == rm::AF_INET6 as i32);
    assert!(libc::AF_LINK == rm::AF_LINK as i32);
    assert!(libc::RTF_HOST == rm::RTF_HOST);
    assert!(libc::RTF_LLINFO == rm::RTF_LLINFO);
    assert!(libc::RTF_WASCLONED == rm::RTF_WASCLONED);
    assert!(libc::IFF_UP == rm::IFF_UP);
    assert!(libc::IFF_LOOPBACK == rm::IFF_LOOPBACK);
    assert!(libc::IFF_RUNNING == rm::IFF_RUNNING);
};

/// Larger than any one routing message (a header and eight sockaddrs).
const RECV_BUF: usize = 8 * 1024;

#[derive(Debug)]
pub(super) struct Source {
    fd: AsyncFd<OwnedFd>,
    buf: Vec<u8>,
    pending: VecDeque<Observed>,
}

impl Source {
    pub(super) fn open() -> Result<Source, NetWatchError> {
        // Protocol 0: messages of every address family.
        let fd = rustix::net::socket(AddressFamily::ROUTE, SocketType::RAW, None)
            .map_err(socket_err("opening the routing socket"))?;
        rustix::io::fcntl_setfd(&fd, FdFlags::CLOEXEC)
            .map_err(socket_err("setting close-on-exec on the routing socket"))?;
        rustix::io::ioctl_fionbio(&fd, true)
            .map_err(socket_err("making the routing socket non-blocking"))?;
        // tokio deprecates the safe constructor because a `T` that merely
        // borrows its fd could close it while registered (tokio#8587); the
        // AsyncFd owns the `OwnedFd` outright, so that cannot happen, and the
        // replacement is `unsafe`, which this workspace forbids.
        #[allow(deprecated)]
        let fd = AsyncFd::with_interest(fd, tokio::io::Interest::READABLE).map_err(|source| {
            NetWatchError::Socket {
                what: "registering the routing socket with the runtime",
                source,
            }
        })?;
        Ok(Source {
            fd,
            buf: vec![0; RECV_BUF],
            pending: VecDeque::new(),
        })
    }

    pub(super) async fn next(&mut self) -> Result<Observed, NetWatchError> {
        loop {
            if let Some(o) = self.pending.pop_front() {
                return Ok(o);
            }
            let mut guard = self
                .fd
                .readable()
                .await
                .map_err(socket_err("waiting for routing messages"))?;
            let buf = &mut self.buf;
            let read = guard
                .try_io(|fd| rustix::io::read(fd.get_ref(), &mut buf[..]).map_err(io::Error::from));
            let n = match read {
                Err(_would_block) => continue,
                Ok(Ok(n)) => n,
                Ok(Err(e))
                    if e.raw_os_error() == Some(rustix::io::Errno::NOBUFS.raw_os_error()) =>
                {
                    tracing::info!("routing messages lost (socket buffer full)");
                    return Ok(Observed::Resync);
                }
                Ok(Err(source)) => {
                    return Err(NetWatchError::Socket {
                        what: "reading routing messages",
                        source,
                    });
                }
            };
            self.pending
                .extend(rm::parse(&self.buf[..n]).into_iter().map(Observed::Change));
        }
    }
}

/// `CLOCK_MONOTONIC` counts sleep on macOS (it is `mach_continuous_time`);
/// `std::time::Instant` is `CLOCK_UPTIME_RAW` there (`mach_absolute_time`),
/// which stops while the machine sleeps.
pub(super) fn sample_clocks() -> ClockSample {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    let origin = *ORIGIN.get_or_init(Instant::now);
    let awake = origin.elapsed();
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let with_suspend = Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    );
    ClockSample {
        with_suspend,
        awake,
    }
}
