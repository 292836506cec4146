//! macOS: ask the kernel for the default route of each family with one
//! `RTM_GET` on a `PF_ROUTE` socket (what `route -n get default` does),
//! through rustix, no unsafe code; the messages are built and parsed by
//! [`super::bsd`].

use std::io;
use std::os::fd::OwnedFd;
use std::time::Duration;

use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketType};

use super::bsd::{self, RtmGetReply};
use super::{Gateway, GatewayError};

// The builder's and parser's layout constants are the SDK's (through the
// libc crate): a mismatch fails the build for macOS, not the endpoint.
const _: () = {
    assert!(std::mem::size_of::<libc::rt_msghdr>() == bsd::RT_MSGHDR_LEN);
    assert!(std::mem::offset_of!(libc::rt_msghdr, rtm_index) == bsd::OFF_INDEX);
    assert!(std::mem::offset_of!(libc::rt_msghdr, rtm_flags) == bsd::OFF_FLAGS);
    assert!(std::mem::offset_of!(libc::rt_msghdr, rtm_addrs) == bsd::OFF_ADDRS);
    assert!(std::mem::offset_of!(libc::rt_msghdr, rtm_pid) == bsd::OFF_PID);
    assert!(std::mem::offset_of!(libc::rt_msghdr, rtm_seq) == bsd::OFF_SEQ);
    assert!(std::mem::offset_of!(libc::rt_msghdr, rtm_errno) == bsd::OFF_ERRNO);
    assert!(std::mem::size_of::<libc::sockaddr_in>() == bsd::SOCKADDR_IN_LEN);
    assert!(std::mem::size_of::<libc::sockaddr_in6>() == bsd::SOCKADDR_IN6_LEN);
    assert!(std::mem::size_of::<libc::sockaddr_dl>() == bsd::SOCKADDR_DL_LEN);
    assert!(std::mem::offset_of!(libc::sockaddr_dl, sdl_nlen) == 5);
    assert!(std::mem::offset_of!(libc::sockaddr_dl, sdl_data) == 8);
    assert!(libc::RTM_VERSION == bsd::RTM_VERSION as i32);
    assert!(libc::RTM_GET == bsd::RTM_GET as i32);
    assert!(libc::RTA_DST == bsd::RTA_DST);
    assert!(libc::RTA_GATEWAY == bsd::RTA_GATEWAY);
    assert!(libc::RTA_NETMASK == bsd::RTA_NETMASK);
    assert!(libc::RTA_IFP == bsd::RTA_IFP);
    assert!(libc::RTF_UP == bsd::RTF_UP);
    assert!(libc::RTF_GATEWAY == bsd::RTF_GATEWAY);
    assert!(libc::RTF_REJECT == bsd::RTF_REJECT);
    assert!(libc::RTF_BLACKHOLE == bsd::RTF_BLACKHOLE);
    assert!(libc::AF_INET == bsd::AF_INET as i32);
    assert!(libc::AF_INET6 == bsd::AF_INET6 as i32);
    assert!(libc::AF_LINK == bsd::AF_LINK as i32);
};

/// How long one reply may take: the kernel answers at once, so this only
/// bounds a routing socket flooded by other messages.
const REPLY_TIMEOUT: Duration = Duration::from_secs(1);
/// Messages read while looking for our reply (others' route changes are
/// delivered to every routing socket).
const MAX_MESSAGES: usize = 64;
/// Larger than any one routing message.
const RECV_BUF: usize = 2048;

fn socket_err(what: &'static str) -> impl FnOnce(Errno) -> GatewayError {
    move |e| GatewayError::Socket {
        what,
        source: io::Error::from(e),
    }
}

pub(super) fn default_gateways() -> Result<Vec<Gateway>, GatewayError> {
    let fd = rustix::net::socket(AddressFamily::ROUTE, SocketType::RAW, None)
        .map_err(socket_err("opening the routing socket"))?;
    rustix::net::sockopt::set_socket_timeout(
        &fd,
        rustix::net::sockopt::Timeout::Recv,
        Some(REPLY_TIMEOUT),
    )
    .map_err(socket_err("setting the routing socket's receive timeout"))?;
    let pid = rustix::process::getpid().as_raw_pid();
    let mut out = Vec::new();
    for (seq, ipv6) in [(1, false), (2, true)] {
        if let Some(gw) = ask(&fd, pid, seq, ipv6)? {
            out.push(gw);
        }
    }
    Ok(super::order(out))
}

fn ask(fd: &OwnedFd, pid: i32, seq: i32, ipv6: bool) -> Result<Option<Gateway>, GatewayError> {
    let request = bsd::rtm_get_default_request(ipv6, pid, seq);
    match rustix::io::write(fd, &request) {
        Ok(_) => {}
        // No default route of this family.
        Err(Errno::SRCH | Errno::NETUNREACH) => return Ok(None),
        Err(e) => return Err(socket_err("sending the default route request")(e)),
    }
    let mut buf = vec![0u8; RECV_BUF];
    for _ in 0..MAX_MESSAGES {
        let n = match rustix::io::read(fd, &mut buf[..]) {
            Ok(n) => n,
            Err(Errno::INTR) => continue,
            // SO_RCVTIMEO ran out: no reply is coming.
            Err(Errno::AGAIN) => break,
            Err(e) => return Err(socket_err("reading the default route reply")(e)),
        };
        match bsd::parse_rtm_get_reply(&buf[..n], pid, seq) {
            RtmGetReply::NotOurs => continue,
            RtmGetReply::Gateway(gw) => return Ok(Some(gw)),
            RtmGetReply::NoGateway => return Ok(None),
            RtmGetReply::Errno(errno) if errno == Errno::SRCH.raw_os_error() => return Ok(None),
            RtmGetReply::Errno(errno) => {
                return Err(GatewayError::Socket {
                    what: "the default route request",
                    source: io::Error::from_raw_os_error(errno),
                });
            }
        }
    }
    tracing::info!(
        ipv6,
        "no reply to the default route request from the routing socket"
    );
    Ok(None)
}
