//! Facts about the endpoint that each OS gives in its own way, one function
//! per concern with one body per OS behind `cfg` (the primary MAC address,
//! [`mac`]; the host name, [`host_name`]). A platform without an
//! implementation fails closed with an error that says what to configure
//! instead.

pub mod mac;
pub(crate) mod route_msg;
#[cfg(windows)]
pub(crate) mod windows_ffi;

/// This endpoint's host name as the OS reports it (`uname`'s node name on
/// unix, the DNS host name on Windows), or `"unknown"` when it is empty, not
/// text or cannot be read.
pub fn host_name() -> String {
    #[cfg(unix)]
    let reported = rustix::system::uname()
        .nodename()
        .to_str()
        .ok()
        .map(str::to_owned);
    #[cfg(windows)]
    let reported = windows_ffi::computer_name()
        .inspect_err(|e| tracing::debug!(error = %e, "cannot read the computer name"))
        .ok();
    #[cfg(not(any(unix, windows)))]
    let reported: Option<String> = None;
    host_name_from(reported.as_deref())
}

/// The shown host name for what the OS reported.
fn host_name_from(reported: Option<&str>) -> String {
    reported
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map_or_else(|| "unknown".to_owned(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_or_unreadable_host_name_is_unknown() {
        assert_eq!(host_name_from(Some("laptop-17\n")), "laptop-17");
        assert_eq!(host_name_from(Some("  ")), "unknown");
        assert_eq!(host_name_from(None), "unknown");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_host_name_is_the_kernels() {
        let kernel = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(host_name(), kernel.trim());
    }
}
