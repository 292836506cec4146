//! The endpoint's primary MAC address: `--mac`, or detected.
//!
//! On Linux the interfaces are listed in `/sys/class/net`; the loopback and
//! interfaces with an all-zero address are skipped, and the interface of the
//! default route (`/proc/net/route`, lowest metric) is preferred, since that
//! is the one the network authenticated. Other platforms need `--mac` for now.

#[cfg(target_os = "linux")]
use std::path::Path;

/// Why no MAC could be determined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MacError {
    /// `--mac` is not a MAC address.
    #[error("--mac {0:?} is not a MAC address (expected six hex pairs like aa:bb:cc:dd:ee:ff)")]
    Invalid(String),
    /// Detection found nothing.
    #[error(
        "cannot find the endpoint's MAC address: {0}\nhelp: pass --mac aa:bb:cc:dd:ee:ff (the MAC of the interface the network authenticates)"
    )]
    NotFound(String),
}

/// `--mac` normalised, or the detected primary MAC.
pub fn resolve(flag: Option<&str>) -> Result<String, MacError> {
    match flag {
        Some(m) => {
            posture_protocol::normalize_mac(m).ok_or_else(|| MacError::Invalid(m.to_owned()))
        }
        None => detect_primary(),
    }
}

/// The primary MAC of this Linux endpoint.
#[cfg(target_os = "linux")]
pub fn detect_primary() -> Result<String, MacError> {
    detect(Path::new("/sys/class/net"), Path::new("/proc/net/route"))
}

/// No detection on this platform yet: fails closed, asking for `--mac`.
#[cfg(not(target_os = "linux"))]
pub fn detect_primary() -> Result<String, MacError> {
    Err(MacError::NotFound(
        "automatic detection is implemented on Linux only".to_owned(),
    ))
}

/// Detects the primary MAC from a sysfs `class/net` directory and a
/// `/proc/net/route` file (parameters so that tests can use fixtures).
#[cfg(target_os = "linux")]
pub fn detect(class_net: &Path, route: &Path) -> Result<String, MacError> {
    let entries = std::fs::read_dir(class_net)
        .map_err(|e| MacError::NotFound(format!("cannot list {}: {e}", class_net.display())))?;
    let mut candidates: Vec<(String, String)> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_str()?.to_owned();
            if name == "lo" {
                return None;
            }
            let raw = std::fs::read_to_string(entry.path().join("address")).ok()?;
            let mac = posture_protocol::normalize_mac(raw.trim())?;
            (mac != "00:00:00:00:00:00").then_some((name, mac))
        })
        .collect();
    candidates.sort();
    let route_text = std::fs::read_to_string(route).unwrap_or_default();
    if let Some(iface) = default_route_interface(&route_text)
        && let Some((_, mac)) = candidates.iter().find(|(name, _)| *name == iface)
    {
        return Ok(mac.clone());
    }
    // No default route (or its interface has no MAC): the first physical-looking
    // interface in name order, so the choice is stable across restarts.
    candidates
        .iter()
        .find(|(name, _)| !is_virtual(name))
        .or(candidates.first())
        .map(|(_, mac)| mac.clone())
        .ok_or_else(|| {
            MacError::NotFound(format!(
                "no interface with a hardware address in {}",
                class_net.display()
            ))
        })
}

/// Bridges, containers and tunnels, which are not what the switch port sees.
#[cfg(target_os = "linux")]
fn is_virtual(name: &str) -> bool {
    [
        "docker", "veth", "br-", "virbr", "vnet", "tun", "tap", "wg", "ifb",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

/// The interface of the default route with the lowest metric, from the text
/// of `/proc/net/route`.
pub fn default_route_interface(route: &str) -> Option<String> {
    route
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (iface, dest, metric, mask) = (f.first()?, f.get(1)?, f.get(6)?, f.get(7)?);
            (*dest == "00000000" && *mask == "00000000")
                .then(|| Some((metric.parse::<u64>().ok()?, (*iface).to_owned())))?
        })
        .min()
        .map(|(_, iface)| iface)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTE: &str = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
        wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n\
        eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
        eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n";

    #[cfg(target_os = "linux")]
    fn sysfs(ifaces: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, mac) in ifaces {
            let d = dir.path().join(name);
            std::fs::create_dir(&d).unwrap();
            std::fs::write(d.join("address"), format!("{mac}\n")).unwrap();
        }
        dir
    }

    #[test]
    fn the_default_route_with_the_lowest_metric_wins() {
        assert_eq!(default_route_interface(ROUTE).as_deref(), Some("eth0"));
        assert_eq!(default_route_interface("Iface\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn detection_prefers_the_default_route_interface() {
        let net = sysfs(&[
            ("lo", "00:00:00:00:00:00"),
            ("docker0", "02:42:ac:11:00:01"),
            ("eth0", "00:50:56:A8:BE:02"),
            ("wlan0", "aa:bb:cc:dd:ee:ff"),
        ]);
        let route = net.path().join("route");
        std::fs::write(&route, ROUTE).unwrap();
        assert_eq!(detect(net.path(), &route).unwrap(), "00:50:56:a8:be:02");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn without_a_default_route_a_physical_interface_is_chosen() {
        let net = sysfs(&[
            ("docker0", "02:42:ac:11:00:01"),
            ("enp3s0", "00:11:22:33:44:55"),
            ("lo", "00:00:00:00:00:00"),
        ]);
        let missing = net.path().join("no-route");
        assert_eq!(detect(net.path(), &missing).unwrap(), "00:11:22:33:44:55");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn only_loopback_and_zero_addresses_is_a_clear_error() {
        let net = sysfs(&[("lo", "00:00:00:00:00:00"), ("dummy0", "00:00:00:00:00:00")]);
        let err = detect(net.path(), &net.path().join("route")).unwrap_err();
        assert!(err.to_string().contains("--mac"), "{err}");
    }

    #[test]
    fn the_flag_is_normalised_or_refused() {
        assert_eq!(
            resolve(Some("0050.56A8.BE02")).unwrap(),
            "00:50:56:a8:be:02"
        );
        assert!(matches!(resolve(Some("nope")), Err(MacError::Invalid(_))));
    }
}
