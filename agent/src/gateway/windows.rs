//! Windows: the default routes of both families from the routing table
//! (`GetIpForwardTable2`, read by `platform/windows_ffi.rs`, the one module
//! allowed unsafe code), turned into gateways by a pure function tested on
//! every OS.

use std::collections::HashMap;
use std::net::IpAddr;

use super::{Gateway, is_link_local};

/// One row of the routing table: the fields the gateway choice needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RouteRow {
    /// The outgoing interface's index (the zone of a link-local next hop).
    pub(crate) interface_index: u32,
    /// The destination prefix's address; `None` for another family.
    pub(crate) destination: Option<IpAddr>,
    /// The destination prefix's length.
    pub(crate) prefix_len: u8,
    /// The next hop; `None` for another family.
    pub(crate) next_hop: Option<IpAddr>,
    /// The route's metric (without the interface's metric).
    pub(crate) metric: u32,
}

/// The gateways of the default routes among `rows`: destination `0.0.0.0/0`
/// or `::/0` with a next hop (an on-link default route, next hop `0.0.0.0`
/// or `::`, has no switch to ask). `names` maps interface indexes to the
/// names shown (`Ethernet`, `Wi-Fi`).
pub(crate) fn gateways_from_routes(
    rows: &[RouteRow],
    names: &HashMap<u32, String>,
) -> Vec<Gateway> {
    rows.iter()
        .filter(|r| r.prefix_len == 0 && r.destination.is_some_and(|d| d.is_unspecified()))
        .filter_map(|r| {
            let addr = r.next_hop.filter(|h| !h.is_unspecified())?;
            let scope_id = match addr {
                IpAddr::V6(v6) if is_link_local(&v6) => r.interface_index,
                _ => 0,
            };
            Some(Gateway {
                addr,
                interface: names.get(&r.interface_index).cloned().unwrap_or_default(),
                scope_id,
                metric: r.metric,
            })
        })
        .collect()
}

/// The default gateways of this Windows endpoint, ordered like every OS's.
#[cfg(windows)]
pub(super) fn default_gateways() -> Result<Vec<Gateway>, super::GatewayError> {
    let rows = crate::platform::windows_ffi::ip_forward_table()
        .map_err(|source| super::GatewayError::RoutingTable { source })?;
    let names: HashMap<u32, String> = netdev::get_interfaces()
        .into_iter()
        .map(|i| (i.index, i.friendly_name.unwrap_or(i.name)))
        .collect();
    Ok(super::order(gateways_from_routes(&rows, &names)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn row(index: u32, dest: &str, len: u8, hop: &str, metric: u32) -> RouteRow {
        RouteRow {
            interface_index: index,
            destination: Some(dest.parse().unwrap()),
            prefix_len: len,
            next_hop: Some(hop.parse().unwrap()),
            metric,
        }
    }

    #[test]
    fn default_routes_with_a_next_hop_become_gateways() {
        let rows = [
            row(12, "0.0.0.0", 0, "192.168.1.1", 25),
            // A subnet route and an on-link default: no gateway.
            row(12, "192.168.1.0", 24, "0.0.0.0", 256),
            row(7, "0.0.0.0", 0, "0.0.0.0", 5),
            row(12, "::", 0, "fe80::1", 256),
            row(9, "::", 0, "2001:db8::1", 10),
            // Another family's row the table could not decode.
            RouteRow {
                interface_index: 3,
                destination: None,
                prefix_len: 0,
                next_hop: None,
                metric: 0,
            },
        ];
        let names = HashMap::from([(12, "Wi-Fi".to_owned())]);
        let found = crate::gateway::order(gateways_from_routes(&rows, &names));
        assert_eq!(
            found,
            vec![
                Gateway {
                    addr: IpAddr::V4(Ipv4Addr::new(192, 168, 1, 1)),
                    interface: "Wi-Fi".to_owned(),
                    scope_id: 0,
                    metric: 25,
                },
                Gateway {
                    addr: IpAddr::V6("2001:db8::1".parse::<Ipv6Addr>().unwrap()),
                    interface: String::new(),
                    scope_id: 0,
                    metric: 10,
                },
                Gateway {
                    addr: IpAddr::V6("fe80::1".parse::<Ipv6Addr>().unwrap()),
                    interface: "Wi-Fi".to_owned(),
                    scope_id: 12,
                    metric: 256,
                },
            ]
        );
        assert_eq!(found[2].to_string(), "fe80::1%Wi-Fi on Wi-Fi");
        assert_eq!(found[2].socket_addr(80).to_string(), "[fe80::1%12]:80");
    }
}
