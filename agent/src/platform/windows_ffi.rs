//! The Windows calls that have no safe wrapper in the tree, behind safe
//! functions: the only module of the workspace allowed to use `unsafe`.
//!
//! Why unsafe code at all: the status pipe must be private to the user who
//! runs the agent, and a named pipe's access list can only be given at
//! creation as a raw `SECURITY_ATTRIBUTES` pointer
//! (`tokio`'s `create_with_security_attributes_raw`), built from an SDDL
//! string by `ConvertStringSecurityDescriptorToSecurityDescriptorW`, for the
//! user's SID read from the process token. Without it the pipe gets the
//! default descriptor, which lets every local user read from it. The client
//! checks, the same way, that the pipe it opened is served by a process of
//! its own user and not by another user who created the name first. Two
//! smaller needs share the module: the clocks of sleep detection
//! (`QueryInterruptTime`, `QueryUnbiasedInterruptTime`) and the routing
//! table of gateway discovery (`GetIpForwardTable2`), which have no safe
//! wrapper either, and the host name (`GetComputerNameExW`; the
//! `gethostname` crate panics when the call fails, which with
//! `panic = "abort"` would end the agent).
//!
//! Rules for this module (CONTRIBUTING.md, "Unsafe code"): compiled on Windows
//! only; every `unsafe` block has a `// SAFETY:` comment; nothing unsafe is
//! exported (every function outside is safe to call with any argument; the
//! one `unsafe fn` is private); every handle and buffer the OS hands out is
//! released on every path, by a guard.

#![allow(unsafe_code)]

use std::ffi::c_void;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::windows::io::AsRawHandle;

use tokio::net::windows::named_pipe::{NamedPipeClient, NamedPipeServer, ServerOptions};

use crate::gateway::windows::RouteRow;
use windows_sys::Win32::Foundation::{CloseHandle, ERROR_MORE_DATA, HANDLE, LocalFree, NO_ERROR};
use windows_sys::Win32::NetworkManagement::IpHelper::{
    FreeMibTable, GetIpForwardTable2, MIB_IPFORWARD_TABLE2,
};
use windows_sys::Win32::Networking::WinSock::{AF_INET, AF_INET6, AF_UNSPEC, SOCKADDR_INET};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
};
use windows_sys::Win32::Security::{
    GetTokenInformation, PSECURITY_DESCRIPTOR, SECURITY_ATTRIBUTES, TOKEN_QUERY, TOKEN_USER,
    TokenUser,
};
use windows_sys::Win32::System::Pipes::GetNamedPipeServerProcessId;
use windows_sys::Win32::System::SystemInformation::{
    ComputerNamePhysicalDnsHostname, GetComputerNameExW,
};
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, OpenProcess, OpenProcessToken, PROCESS_QUERY_LIMITED_INFORMATION,
};
use windows_sys::Win32::System::WindowsProgramming::{
    QueryInterruptTime, QueryUnbiasedInterruptTime,
};

/// Closes a kernel handle when dropped.
struct OwnedHandle(HANDLE);

impl Drop for OwnedHandle {
    fn drop(&mut self) {
        // SAFETY: the handle was returned open by the OS to this guard only,
        // and is closed exactly once, here.
        unsafe {
            CloseHandle(self.0);
        }
    }
}

/// Frees a `LocalAlloc`ed buffer (what the `Convert*` calls return) when
/// dropped.
struct LocalBuffer(*mut c_void);

impl Drop for LocalBuffer {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the pointer came from a Convert* call, which allocates
            // with LocalAlloc and leaves the freeing to the caller; it is
            // freed exactly once, here.
            unsafe {
                LocalFree(self.0);
            }
        }
    }
}

/// The SID of the user this process runs as, as a string (`S-1-5-21-...`).
pub(crate) fn current_user_sid() -> io::Result<String> {
    // SAFETY: GetCurrentProcess has no preconditions; it returns a
    // pseudo-handle that needs no closing.
    let process = unsafe { GetCurrentProcess() };
    token_user_sid(process)
}

/// The SID of the user the process `pid` runs as. Fails (access denied) for
/// a process of another user unless this one is privileged.
pub(crate) fn process_user_sid(pid: u32) -> io::Result<String> {
    // SAFETY: plain call with an access mask and a pid; a null result is an
    // error, checked below.
    let process = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if process.is_null() {
        return Err(io::Error::last_os_error());
    }
    let process = OwnedHandle(process);
    token_user_sid(process.0)
}

/// The process id at the server end of a connected pipe.
pub(crate) fn pipe_server_pid(client: &NamedPipeClient) -> io::Result<u32> {
    let mut pid = 0u32;
    // SAFETY: the handle is the client's open pipe handle, borrowed for the
    // call; `pid` is a valid out pointer.
    let ok = unsafe { GetNamedPipeServerProcessId(client.as_raw_handle(), &mut pid) };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(pid)
}

/// The user SID in the token of `process` (a handle with
/// `PROCESS_QUERY_LIMITED_INFORMATION`, or the current-process pseudo-handle).
fn token_user_sid(process: HANDLE) -> io::Result<String> {
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: `process` is a valid process handle for the call; `token` is a
    // valid out pointer, owned by the guard below on success.
    if unsafe { OpenProcessToken(process, TOKEN_QUERY, &mut token) } == 0 {
        return Err(io::Error::last_os_error());
    }
    let token = OwnedHandle(token);
    let mut len = 0u32;
    // SAFETY: a size query: null buffer of length 0, `len` a valid out
    // pointer. It fails with ERROR_INSUFFICIENT_BUFFER and sets `len`.
    unsafe { GetTokenInformation(token.0, TokenUser, std::ptr::null_mut(), 0, &mut len) };
    if len == 0 {
        return Err(io::Error::last_os_error());
    }
    // u64 elements: TOKEN_USER holds pointers, so the buffer must be
    // pointer-aligned.
    let mut buf = vec![0u64; (len as usize).div_ceil(8)];
    // SAFETY: `buf` is writable for at least `len` bytes and outlives the
    // call; `len` is a valid out pointer.
    let ok = unsafe {
        GetTokenInformation(
            token.0,
            TokenUser,
            buf.as_mut_ptr().cast::<c_void>(),
            len,
            &mut len,
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success the buffer starts with a TOKEN_USER (aligned, see
    // above) whose SID points into the same buffer, alive until `buf` drops
    // at the end of this function.
    let sid = unsafe { (*buf.as_ptr().cast::<TOKEN_USER>()).User.Sid };
    let mut text: *mut u16 = std::ptr::null_mut();
    // SAFETY: `sid` is valid (see above); `text` is a valid out pointer to a
    // LocalAlloc'ed string, owned by the guard below on success.
    if unsafe { ConvertSidToStringSidW(sid, &mut text) } == 0 {
        return Err(io::Error::last_os_error());
    }
    let text = LocalBuffer(text.cast());
    // SAFETY: the OS returned a NUL-terminated UTF-16 string at `text`.
    let wide = unsafe { wide_until_nul(text.0.cast::<u16>()) };
    String::from_utf16(wide).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// The UTF-16 units before the terminating NUL.
///
/// # Safety
///
/// `p` points to a NUL-terminated UTF-16 string that stays alive and
/// unchanged for the returned slice's lifetime.
unsafe fn wide_until_nul<'a>(p: *const u16) -> &'a [u16] {
    let mut len = 0;
    // SAFETY: the caller guarantees a NUL within the allocation.
    while unsafe { *p.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: the `len` units before the NUL were just read from the same
    // live allocation.
    unsafe { std::slice::from_raw_parts(p, len) }
}

/// Creates a pipe instance with `options` whose security descriptor is
/// given by `sddl` (for example `D:P(A;;GA;;;<user SID>)(A;;GA;;;SY)`).
/// Must run inside the tokio runtime, like `ServerOptions::create`.
pub(crate) fn create_pipe_with_sddl(
    options: &ServerOptions,
    name: &str,
    sddl: &str,
) -> io::Result<NamedPipeServer> {
    let wide: Vec<u16> = sddl.encode_utf16().chain(std::iter::once(0)).collect();
    let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: `wide` is NUL-terminated and outlives the call; `descriptor` is
    // a valid out pointer to a LocalAlloc'ed descriptor, owned by the guard
    // below on success; the size out pointer is optional (null).
    let ok = unsafe {
        ConvertStringSecurityDescriptorToSecurityDescriptorW(
            wide.as_ptr(),
            SDDL_REVISION_1,
            &mut descriptor,
            std::ptr::null_mut(),
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    let descriptor = LocalBuffer(descriptor);
    let mut attributes = SECURITY_ATTRIBUTES {
        nLength: size_of::<SECURITY_ATTRIBUTES>() as u32,
        lpSecurityDescriptor: descriptor.0,
        bInheritHandle: 0,
    };
    // SAFETY: `attributes` is a valid SECURITY_ATTRIBUTES whose descriptor
    // (owned by `descriptor`) outlives the call; CreateNamedPipeW copies
    // what it needs and keeps no pointer to either.
    unsafe {
        options.create_with_security_attributes_raw(name, (&raw mut attributes).cast::<c_void>())
    }
}

/// The interrupt time with and without the time spent suspended, in 100 ns
/// units: (`QueryInterruptTime`, `QueryUnbiasedInterruptTime`), read one
/// right after the other.
pub(crate) fn interrupt_times() -> (u64, u64) {
    let mut with_suspend = 0u64;
    let mut awake = 0u64;
    // SAFETY: both take one valid out pointer and have no other
    // precondition; QueryUnbiasedInterruptTime fails only for a null one.
    unsafe {
        QueryInterruptTime(&mut with_suspend);
        QueryUnbiasedInterruptTime(&mut awake);
    }
    (with_suspend, awake)
}

/// Frees a table returned by an IP Helper `Get*Table2` call when dropped.
struct MibTable(*mut MIB_IPFORWARD_TABLE2);

impl Drop for MibTable {
    fn drop(&mut self) {
        // SAFETY: the table came from GetIpForwardTable2, which leaves the
        // freeing to FreeMibTable; it is freed exactly once, here.
        unsafe { FreeMibTable(self.0.cast::<c_void>()) }
    }
}

/// The IP routing table of both families (`GetIpForwardTable2`).
pub(crate) fn ip_forward_table() -> io::Result<Vec<RouteRow>> {
    let mut table: *mut MIB_IPFORWARD_TABLE2 = std::ptr::null_mut();
    // SAFETY: `table` is a valid out pointer; on success it points to a
    // table owned by the guard below.
    let status = unsafe { GetIpForwardTable2(AF_UNSPEC, &mut table) };
    if status != NO_ERROR {
        return Err(io::Error::from_raw_os_error(status as i32));
    }
    let table = MibTable(table);
    // SAFETY: on success the table holds `NumEntries` rows laid out from
    // `Table` on (a C flexible array), alive until the guard drops after
    // the rows are copied out below.
    let rows = unsafe {
        std::slice::from_raw_parts((*table.0).Table.as_ptr(), (*table.0).NumEntries as usize)
    };
    Ok(rows
        .iter()
        .map(|r| RouteRow {
            interface_index: r.InterfaceIndex,
            destination: sockaddr_ip(&r.DestinationPrefix.Prefix),
            prefix_len: r.DestinationPrefix.PrefixLength,
            next_hop: sockaddr_ip(&r.NextHop),
            metric: r.Metric,
        })
        .collect())
}

/// The address in a `SOCKADDR_INET`; `None` for a family other than IPv4
/// and IPv6.
fn sockaddr_ip(sa: &SOCKADDR_INET) -> Option<IpAddr> {
    // SAFETY: every variant of the union starts with the family field, so
    // reading it is valid whatever the OS wrote.
    let family = unsafe { sa.si_family };
    match family {
        // SAFETY: the family says the union holds a SOCKADDR_IN; S_addr is
        // the whole 4-byte address, its bytes in network order.
        AF_INET => Some(IpAddr::V4(Ipv4Addr::from(
            unsafe { sa.Ipv4.sin_addr.S_un.S_addr }.to_ne_bytes(),
        ))),
        // SAFETY: the family says the union holds a SOCKADDR_IN6; Byte is
        // the whole 16-byte address.
        AF_INET6 => Some(IpAddr::V6(Ipv6Addr::from(unsafe {
            sa.Ipv6.sin6_addr.u.Byte
        }))),
        _ => None,
    }
}

/// This computer's DNS host name (`GetComputerNameExW`,
/// `ComputerNamePhysicalDnsHostname`). A name that grew between the size
/// query and the read is read again, a few times at most.
pub(crate) fn computer_name() -> io::Result<String> {
    let mut size = 0u32;
    for _ in 0..4 {
        let mut buf = vec![0u16; size as usize];
        let ptr = if buf.is_empty() {
            std::ptr::null_mut()
        } else {
            buf.as_mut_ptr()
        };
        // SAFETY: `ptr` is null with `size` 0 (a size query) or points to
        // `buf`, writable for `size` units; `size` is a valid in/out pointer.
        if unsafe { GetComputerNameExW(ComputerNamePhysicalDnsHostname, ptr, &mut size) } != 0 {
            // On success `size` is the length without the NUL.
            buf.truncate(size as usize);
            return String::from_utf16(&buf)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e));
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(ERROR_MORE_DATA as i32) || size == 0 {
            return Err(e);
        }
        // `size` now holds the length needed, NUL included.
    }
    Err(io::Error::other(
        "the computer name kept changing while it was read",
    ))
}
