//! The endpoint's primary MAC address: `--mac`, or detected.
//!
//! The interface that carries the default route is preferred, since that is
//! the one the network authenticated; without one, the first interface that
//! is up, not a loopback and has a hardware address (physical ones before
//! virtual ones, in name order so the choice is stable across restarts).
//!
//! - **Linux**: the interfaces are listed in `/sys/class/net` and the default
//!   route read from `/proc/net/route` (lowest metric); both roots are
//!   parameters of [`detect`], so the tests use recorded samples.
//! - **macOS and Windows**: the `netdev` crate lists the interfaces (with
//!   their MAC, flags and whether they carry the default route); the choice
//!   among them is the pure [`choose`], tested on every OS.

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

/// The primary MAC of this macOS or Windows endpoint.
#[cfg(any(target_os = "macos", windows))]
pub fn detect_primary() -> Result<String, MacError> {
    let candidates: Vec<Candidate> = netdev::get_interfaces()
        .iter()
        .map(|i| Candidate {
            name: match &i.friendly_name {
                // Windows names interfaces by GUID; the friendly name
                // ("Ethernet", "Wi-Fi") is what an administrator recognises.
                Some(friendly) if cfg!(windows) => format!("{friendly} ({})", i.name),
                _ => i.name.clone(),
            },
            mac: i
                .mac_addr
                .map(|m| posture_protocol::normalize_mac(&m.to_string()))
                .unwrap_or_default(),
            up: i.is_up(),
            loopback: i.is_loopback(),
            physical: i.is_physical(),
            default_route: i.default,
        })
        .collect();
    choose(&candidates)
}

/// No detection on this platform: fails closed, asking for `--mac`.
#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
pub fn detect_primary() -> Result<String, MacError> {
    Err(MacError::NotFound(
        "automatic detection is implemented on Linux, macOS and Windows only".to_owned(),
    ))
}

/// One interface as the OS lists it: what the choice of the primary MAC
/// looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The name shown in errors (`en0`, `Wi-Fi ({GUID})`).
    pub name: String,
    /// The hardware address, normalised; `None` when it has none.
    pub mac: Option<String>,
    /// Administratively up.
    pub up: bool,
    /// A loopback interface.
    pub loopback: bool,
    /// Up, running and not a tunnel or loopback (as the OS reports it).
    pub physical: bool,
    /// It carries the default route.
    pub default_route: bool,
}

impl Candidate {
    /// Why this interface cannot give the MAC, or `None` when it can.
    fn unusable(&self) -> Option<&'static str> {
        if self.loopback {
            Some("loopback")
        } else if self.mac.as_deref().is_none_or(|m| m == "00:00:00:00:00:00") {
            Some("no hardware address")
        } else if !self.up {
            Some("down")
        } else {
            None
        }
    }
}

/// The primary MAC among `candidates`: the default route's interface, else
/// the first usable physical one in name order, else the first usable one.
/// The error lists every interface looked at and why it was passed over.
pub fn choose(candidates: &[Candidate]) -> Result<String, MacError> {
    let mut usable: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| c.unusable().is_none())
        .collect();
    usable.sort_by(|a, b| a.name.cmp(&b.name));
    let chosen = usable
        .iter()
        .find(|c| c.default_route)
        .or_else(|| usable.iter().find(|c| c.physical))
        .or_else(|| usable.first());
    if let Some(mac) = chosen.and_then(|c| c.mac.clone()) {
        return Ok(mac);
    }
    let tried = if candidates.is_empty() {
        "the OS listed no network interfaces".to_owned()
    } else {
        let each: Vec<String> = candidates
            .iter()
            .map(|c| format!("{} ({})", c.name, c.unusable().unwrap_or("usable")))
            .collect();
        format!(
            "no interface is up with a hardware address; looked at {}",
            each.join(", ")
        )
    };
    Err(MacError::NotFound(tried))
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

    fn candidate(name: &str, mac: Option<&str>) -> Candidate {
        Candidate {
            name: name.to_owned(),
            mac: mac.map(str::to_owned),
            up: true,
            loopback: false,
            physical: true,
            default_route: false,
        }
    }

    #[test]
    fn the_default_route_interface_is_chosen_first() {
        let mut wifi = candidate("en1", Some("aa:bb:cc:dd:ee:ff"));
        wifi.default_route = true;
        let list = [candidate("en0", Some("00:11:22:33:44:55")), wifi];
        assert_eq!(choose(&list).unwrap(), "aa:bb:cc:dd:ee:ff");
    }

    #[test]
    fn without_a_default_route_the_first_physical_interface_by_name_wins() {
        let mut lo = candidate("lo0", Some("00:00:00:00:00:00"));
        lo.loopback = true;
        let mut awdl = candidate("awdl0", Some("02:00:00:00:00:01"));
        awdl.physical = false;
        let mut down = candidate("en0", Some("00:11:22:33:44:00"));
        down.up = false;
        // Listed out of order: the choice must not depend on the OS's order.
        let list = [
            candidate("en2", Some("00:11:22:33:44:02")),
            lo,
            awdl.clone(),
            down,
            candidate("en1", Some("00:11:22:33:44:01")),
        ];
        assert_eq!(choose(&list).unwrap(), "00:11:22:33:44:01");
        // Only a virtual one is left: it is better than nothing.
        assert_eq!(choose(&[awdl]).unwrap(), "02:00:00:00:00:01");
    }

    #[test]
    fn a_default_route_on_an_interface_without_a_mac_is_passed_over() {
        let mut vpn = candidate("utun3", None);
        vpn.default_route = true;
        vpn.physical = false;
        let list = [vpn, candidate("en0", Some("00:11:22:33:44:55"))];
        assert_eq!(choose(&list).unwrap(), "00:11:22:33:44:55");
    }

    #[test]
    fn nothing_usable_names_what_was_tried_and_the_flag() {
        let mut lo = candidate("lo0", None);
        lo.loopback = true;
        let mut down = candidate("en0", Some("00:11:22:33:44:55"));
        down.up = false;
        let err = choose(&[lo, candidate("utun0", None), down]).unwrap_err();
        let text = err.to_string();
        for needle in [
            "lo0 (loopback)",
            "utun0 (no hardware address)",
            "en0 (down)",
            "--mac",
        ] {
            assert!(text.contains(needle), "{needle}: {text}");
        }
        let text = choose(&[]).unwrap_err().to_string();
        assert!(
            text.contains("no network interfaces") && text.contains("--mac"),
            "{text}"
        );
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
