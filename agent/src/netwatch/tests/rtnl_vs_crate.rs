//! The rtnetlink parser (`netwatch/rtnl.rs`) against `netlink-packet-route`:
//! messages the crate emits, decoded by both, must say the same. The oracle
//! below is the conversion the watcher used while it shipped the crate.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage,
};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteFlags, RouteMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use proptest::prelude::*;

use super::super::rtnl::{self, DumpKind, Message};
use super::super::{Family, Interface, NetChange, NetChangeKind, RouteOp};

/// The change the crate's decoding of `msg` describes.
fn oracle(msg: &RouteNetlinkMessage) -> Option<NetChange> {
    match msg {
        RouteNetlinkMessage::NewLink(l) => oracle_link(l, true),
        RouteNetlinkMessage::DelLink(l) => oracle_link(l, false),
        RouteNetlinkMessage::NewAddress(a) => oracle_address(a, true),
        RouteNetlinkMessage::DelAddress(a) => oracle_address(a, false),
        RouteNetlinkMessage::NewRoute(r) => oracle_route(r, RouteOp::Added),
        RouteNetlinkMessage::DelRoute(r) => oracle_route(r, RouteOp::Removed),
        _ => None,
    }
}

fn oracle_link(l: &LinkMessage, exists: bool) -> Option<NetChange> {
    let flags = l.header.flags;
    if flags.contains(LinkFlags::Loopback) {
        return None;
    }
    let name = l.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    });
    let up = exists && flags.contains(LinkFlags::Up) && flags.contains(LinkFlags::Running);
    Some(NetChange::on_interface(
        NetChangeKind::link(up),
        l.header.index,
        name,
    ))
}

fn oracle_address(a: &AddressMessage, added: bool) -> Option<NetChange> {
    let v6 = match a.header.family {
        AddressFamily::Inet => false,
        AddressFamily::Inet6 => true,
        _ => return None,
    };
    let (mut local, mut address, mut label) = (None, None, None);
    let mut temporary = v6 && a.header.flags.contains(AddressHeaderFlags::Secondary);
    for attr in &a.attributes {
        match attr {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => address = Some(*ip),
            AddressAttribute::Label(l) => label = Some(l.clone()),
            AddressAttribute::Flags(f) => temporary |= v6 && f.contains(AddressFlags::Secondary),
            _ => {}
        }
    }
    let addr = local.or(address)?;
    Some(NetChange::on_interface(
        NetChangeKind::address(added, addr, a.header.prefix_len, temporary),
        a.header.index,
        label,
    ))
}

fn oracle_route(r: &RouteMessage, op: RouteOp) -> Option<NetChange> {
    let family = match r.header.address_family {
        AddressFamily::Inet => Family::V4,
        AddressFamily::Inet6 => Family::V6,
        _ => return None,
    };
    if r.header.flags.contains(RouteFlags::Cloned) {
        return None;
    }
    let mut table = u32::from(r.header.table);
    let (mut destination, mut gateway, mut oif, mut metric) = (None, None, None, 0);
    let ip = |a: &RouteAddress| match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    };
    for attr in &r.attributes {
        match attr {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(d) => destination = ip(d),
            RouteAttribute::Gateway(g) => gateway = ip(g),
            RouteAttribute::Oif(i) => oif = Some(*i),
            RouteAttribute::Priority(p) => metric = *p,
            _ => {}
        }
    }
    if table == 255 {
        return None;
    }
    let destination = destination.unwrap_or(match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    });
    Some(NetChange {
        kind: NetChangeKind::Route {
            op,
            family,
            destination,
            prefix_len: r.header.destination_prefix_length,
            gateway,
            table,
            metric,
        },
        interface: oif.map(|index| Interface { index, name: None }),
    })
}

fn emit(payload: RouteNetlinkMessage, seq: u32, port: u32) -> Vec<u8> {
    let mut header = NetlinkHeader::default();
    header.sequence_number = seq;
    header.port_number = port;
    let mut msg = NetlinkMessage::new(header, NetlinkPayload::from(payload));
    msg.finalize();
    let mut bytes = vec![0; msg.buffer_len()];
    msg.serialize(&mut bytes);
    bytes
}

/// Both decoders on the same bytes.
fn same_as_crate(bytes: &[u8]) -> Result<(), TestCaseError> {
    let ours = rtnl::parse(bytes).map_err(|e| TestCaseError::fail(e.0))?;
    let theirs = NetlinkMessage::<RouteNetlinkMessage>::deserialize(bytes)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(ours.sequence, theirs.header.sequence_number);
    prop_assert_eq!(ours.port, theirs.header.port_number);
    let NetlinkPayload::InnerMessage(inner) = theirs.payload else {
        return Err(TestCaseError::fail("not an rtnetlink message"));
    };
    prop_assert_eq!(ours.message, Message::Change(oracle(&inner)));
    Ok(())
}

fn family() -> impl Strategy<Value = AddressFamily> {
    prop_oneof![
        4 => Just(AddressFamily::Inet),
        4 => Just(AddressFamily::Inet6),
        1 => Just(AddressFamily::Packet),
    ]
}

fn ip_of(family: AddressFamily, raw: u128) -> IpAddr {
    if family == AddressFamily::Inet6 {
        IpAddr::V6(Ipv6Addr::from(raw))
    } else {
        IpAddr::V4(Ipv4Addr::from(raw as u32))
    }
}

fn route_address(family: AddressFamily, raw: u128) -> RouteAddress {
    match ip_of(family, raw) {
        IpAddr::V4(a) => RouteAddress::Inet(a),
        IpAddr::V6(a) => RouteAddress::Inet6(a),
    }
}

proptest! {
    #[test]
    fn links_decode_as_the_crate_does(
        new in any::<bool>(),
        index in any::<u32>(),
        // Up, loopback and running among other bits.
        flags in any::<u32>(),
        name in proptest::option::of("[a-z][a-z0-9.]{0,14}"),
        mtu in proptest::option::of(any::<u32>()),
        seq in any::<u32>(),
        port in any::<u32>(),
    ) {
        let mut l = LinkMessage::default();
        l.header.index = index;
        l.header.flags = LinkFlags::from_bits_retain(flags);
        if let Some(m) = mtu {
            l.attributes.push(LinkAttribute::Mtu(m));
        }
        if let Some(n) = name {
            l.attributes.push(LinkAttribute::IfName(n));
        }
        let msg = if new { RouteNetlinkMessage::NewLink(l) } else { RouteNetlinkMessage::DelLink(l) };
        same_as_crate(&emit(msg, seq, port))?;
    }

    #[test]
    fn addresses_decode_as_the_crate_does(
        new in any::<bool>(),
        fam in family(),
        prefix_len in any::<u8>(),
        header_flags in any::<u8>(),
        index in any::<u32>(),
        local in proptest::option::of(any::<u128>()),
        peer in proptest::option::of(any::<u128>()),
        label in proptest::option::of("[a-z][a-z0-9:]{0,14}"),
        flags in proptest::option::of(any::<u32>()),
    ) {
        let mut a = AddressMessage::default();
        a.header.family = fam;
        a.header.prefix_len = prefix_len;
        a.header.flags = AddressHeaderFlags::from_bits_retain(header_flags);
        a.header.index = index;
        // The crate emits an address attribute by its own family.
        let fam_ip = if fam == AddressFamily::Packet { AddressFamily::Inet } else { fam };
        if let Some(p) = peer {
            a.attributes.push(AddressAttribute::Address(ip_of(fam_ip, p)));
        }
        if let Some(l) = local {
            a.attributes.push(AddressAttribute::Local(ip_of(fam_ip, l)));
        }
        if let Some(l) = label {
            a.attributes.push(AddressAttribute::Label(l));
        }
        if let Some(f) = flags {
            a.attributes.push(AddressAttribute::Flags(AddressFlags::from_bits_retain(f)));
        }
        let msg = if new { RouteNetlinkMessage::NewAddress(a) } else { RouteNetlinkMessage::DelAddress(a) };
        same_as_crate(&emit(msg, 0, 0))?;
    }

    #[test]
    fn routes_decode_as_the_crate_does(
        new in any::<bool>(),
        v6 in any::<bool>(),
        prefix_len in any::<u8>(),
        header_table in prop_oneof![Just(254u8), Just(255u8), Just(0u8), any::<u8>()],
        cloned in any::<bool>(),
        table in proptest::option::of(prop_oneof![Just(254u32), Just(255u32), any::<u32>()]),
        dst in proptest::option::of(any::<u128>()),
        gw in proptest::option::of(any::<u128>()),
        oif in proptest::option::of(any::<u32>()),
        prio in proptest::option::of(any::<u32>()),
    ) {
        let fam = if v6 { AddressFamily::Inet6 } else { AddressFamily::Inet };
        let mut r = RouteMessage::default();
        r.header.address_family = fam;
        r.header.destination_prefix_length = prefix_len;
        r.header.table = header_table;
        if cloned {
            r.header.flags = RouteFlags::Cloned;
        }
        if let Some(t) = table {
            r.attributes.push(RouteAttribute::Table(t));
        }
        if let Some(d) = dst {
            r.attributes.push(RouteAttribute::Destination(route_address(fam, d)));
        }
        if let Some(g) = gw {
            r.attributes.push(RouteAttribute::Gateway(route_address(fam, g)));
        }
        if let Some(o) = oif {
            r.attributes.push(RouteAttribute::Oif(o));
        }
        if let Some(p) = prio {
            r.attributes.push(RouteAttribute::Priority(p));
        }
        let msg = if new { RouteNetlinkMessage::NewRoute(r) } else { RouteNetlinkMessage::DelRoute(r) };
        same_as_crate(&emit(msg, 0, 0))?;
    }

    /// Any bytes: a value or a skip, never a panic.
    #[test]
    fn parser_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = rtnl::parse(&bytes);
    }
}

#[test]
fn dump_requests_are_what_the_crate_would_send() {
    for (kind, seq) in [
        (DumpKind::Links, 1),
        (DumpKind::Addresses, 2),
        (DumpKind::Routes, u32::MAX),
    ] {
        let bytes = rtnl::dump_request(kind, seq);
        let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&bytes).unwrap();
        assert_eq!(msg.header.flags, NLM_F_REQUEST | NLM_F_DUMP, "{kind:?}");
        assert_eq!(msg.header.sequence_number, seq);
        assert_eq!(msg.header.port_number, 0);
        let NetlinkPayload::InnerMessage(inner) = msg.payload else {
            panic!("{kind:?}: not an rtnetlink request");
        };
        let expected = match kind {
            DumpKind::Links => RouteNetlinkMessage::GetLink(LinkMessage::default()),
            DumpKind::Addresses => RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            DumpKind::Routes => RouteNetlinkMessage::GetRoute(RouteMessage::default()),
        };
        assert_eq!(inner, expected);
        assert_eq!(bytes.len(), msg.header.length as usize);
    }
}

#[test]
fn done_and_error_messages_end_a_dump() {
    let mut done = vec![0u8; 20];
    done[..4].copy_from_slice(&20u32.to_ne_bytes());
    done[4..6].copy_from_slice(&(libc::NLMSG_DONE as u16).to_ne_bytes());
    done[8..12].copy_from_slice(&7u32.to_ne_bytes());
    let p = rtnl::parse(&done).unwrap();
    assert_eq!((p.message, p.sequence), (Message::Done, 7));

    let mut err = done.clone();
    err[4..6].copy_from_slice(&(libc::NLMSG_ERROR as u16).to_ne_bytes());
    err[16..20].copy_from_slice(&(-libc::EBUSY).to_ne_bytes());
    assert_eq!(
        rtnl::parse(&err).unwrap().message,
        Message::Error(-libc::EBUSY)
    );
    // Cut short: skipped with a reason, not a panic.
    assert!(rtnl::parse(&err[..18]).is_err());
}
