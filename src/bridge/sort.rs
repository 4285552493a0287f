//! How the bridge driver turns a container's `-p` list into `MapPorts`
//! groups: `sortAndNormPBs`, `configurePortBindingIPv4/IPv6`,
//! `needSamePort` (`daemon/libnetwork/drivers/bridge/port_mapping_linux.go`)
//! and `PortBindingReq.Compare` (`daemon/libnetwork/portmapperapi/api.go`),
//! moby b985e2313a (unchanged at 1afdcdeb27).
//!
//! Modelled for what a `docker run` on the default bridge asks: NAT mode
//! (no routed mappings), default binding address 0.0.0.0. Which families
//! are added follows the endpoint's [`PortBindingMode`] and the requested
//! one, as in Go: a start (the endpoint is both gateways) adds both, the
//! `ProgramExternalConnectivity(nid, eid, "", "")` of a stop adds none.
//!
//! The address family is decided the way Go's `net.IP.To4()` decides it
//! ([`to4`]): an IPv4-mapped IPv6 host address (`::ffff:127.0.0.1`) is
//! IPv4, becomes a plain IPv4 address in the IPv4 binding, and gets no
//! IPv6 binding.

use crate::mapper::PortBindingReq;
use crate::scenario::PublishSpec;
use std::cmp::Ordering;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The inputs of `sortAndNormPBs` that vary between scenarios.
#[derive(Clone, Copy, Debug)]
pub struct EndpointAddrs {
    pub v4: IpAddr,
    pub v6: Option<IpAddr>,
    /// `EnableProxy` (the userland proxy).
    pub userland_proxy: bool,
    /// `netutils.IsV6Listenable()` in the daemon's namespace.
    pub v6_listenable: bool,
}

/// `portBindingMode` (`daemon/libnetwork/drivers/bridge/bridge_linux.go`,
/// b985e2313a): which port bindings an endpoint has, or is asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortBindingMode {
    pub routed: bool,
    pub ipv4: bool,
    pub ipv6: bool,
}

impl PortBindingMode {
    /// The `pbmReq` of `ProgramExternalConnectivity(nid, eid, gw4Id, gw6Id)`
    /// for a container on one network: `gw = true` when the endpoint is
    /// both gateways (a start: `gw4Id == eid` and `gw6Id` is `eid` or ""),
    /// `false` for the `("", "")` call of `sbLeave`. `routed` is always set.
    pub fn requested(gw: bool) -> PortBindingMode {
        PortBindingMode {
            routed: true,
            ipv4: gw,
            ipv6: gw,
        }
    }
}

/// Go's `net.IP.To4()`: an IPv4 address, or an IPv4-mapped IPv6 address
/// unmapped; `None` for every other IPv6 address.
pub fn to4(ip: IpAddr) -> Option<Ipv4Addr> {
    match ip {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(a) => a.to_ipv4_mapped(),
    }
}

/// `sortAndNormPBs` with `defHostIP = 0.0.0.0` for an endpoint whose
/// `portBindingState` is `state`, asked for `req`. NAT mode:
/// `getNATDisabled` is false for both families, so `add4 = !state.ipv4 &&
/// req.ipv4` and `add6 = !state.ipv6 && req.ipv6`.
pub fn sort_and_norm(
    specs: &[PublishSpec],
    ep: EndpointAddrs,
    state: PortBindingMode,
    req: PortBindingMode,
) -> Vec<PortBindingReq> {
    let def_host_ip = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let add4 = !state.ipv4 && req.ipv4;
    let add6 = !state.ipv6 && req.ipv6;
    let mut reqs = Vec::new();
    for c in specs {
        let host_port_end = if c.host_port_end == 0 {
            c.host_port
        } else {
            c.host_port_end
        };
        let base = PortBindingReq {
            proto: c.proto,
            ip: ep.v4,
            port: c.container_port,
            host_ip: c.host_ip.unwrap_or(def_host_ip),
            host_port: c.host_port,
            host_port_end,
            mapper: "nat",
            child_host_ip: None,
        };
        // configurePortBindingIPv4
        if add4 && let Some(b) = configure_v4(c.host_ip, &base, ep.v4) {
            reqs.push(b);
        }
        // The v6 binding goes to the container's v4 address through the
        // proxy when the container has no IPv6 address (only when this call
        // also acts as the IPv4 gateway and adds IPv6 bindings).
        let container_ip = match ep.v6 {
            Some(v6) => Some(v6),
            None if req.ipv4 && add6 && ep.userland_proxy => Some(ep.v4),
            None => None,
        };
        if add6 && let Some(b) = configure_v6(c.host_ip, &base, container_ip, ep.v6_listenable) {
            reqs.push(b);
        }
    }
    reqs.sort_by(compare);
    reqs
}

/// `configurePortBindingIPv4` (NAT, default host IP 0.0.0.0).
fn configure_v4(
    host_ip: Option<IpAddr>,
    base: &PortBindingReq,
    container_v4: IpAddr,
) -> Option<PortBindingReq> {
    // "The mapping is explicitly IPv6": `HostIP.To4() == nil`.
    let host_v4 = match host_ip {
        Some(ip) => to4(ip)?,
        None => Ipv4Addr::UNSPECIFIED,
    };
    let mut b = base.clone();
    // "Unmap the addresses if they're IPv4-mapped IPv6."
    b.host_ip = IpAddr::V4(host_v4);
    b.ip = to4(container_v4).map_or(container_v4, IpAddr::V4);
    Some(b)
}

/// `configurePortBindingIPv6` (NAT, default host IP 0.0.0.0).
fn configure_v6(
    host_ip: Option<IpAddr>,
    base: &PortBindingReq,
    container_ip: Option<IpAddr>,
    v6_listenable: bool,
) -> Option<PortBindingReq> {
    let container_ip = container_ip?;
    let host_ip = match host_ip {
        // "The mapping is explicitly IPv4": `HostIP.To4() != nil`, which
        // includes an IPv4-mapped IPv6 address.
        Some(ip) if to4(ip).is_some() => return None,
        Some(ip) => ip,
        // Default 0.0.0.0: an implicit [::] binding when IPv6 is listenable.
        None if v6_listenable => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        None => return None,
    };
    let mut b = base.clone();
    b.host_ip = host_ip;
    b.ip = container_ip;
    Some(b)
}

/// `PortBindingReq.Compare`: exact host ports before ranges, then container
/// port, proto, host port, host port end, host IP, container IP.
pub fn compare(a: &PortBindingReq, b: &PortBindingReq) -> Ordering {
    a.mapper
        .cmp(b.mapper)
        .then(a.is_dynamic().cmp(&b.is_dynamic()))
        .then(a.port.cmp(&b.port))
        .then(a.proto.number().cmp(&b.proto.number()))
        .then(a.host_port.cmp(&b.host_port))
        .then(a.host_port_end.cmp(&b.host_port_end))
        .then(a.host_ip.cmp(&b.host_ip))
        .then(a.ip.cmp(&b.ip))
}

/// `needSamePort`: the two differ only in host IP.
pub fn need_same_port(a: &PortBindingReq, b: &PortBindingReq) -> bool {
    a.port == b.port
        && a.proto == b.proto
        && a.host_port == b.host_port
        && a.host_port_end == b.host_port_end
}

/// The grouping loop of `addPortMappings`: consecutive requests with the
/// same mapper that need the same port form one `MapPorts` call.
pub fn groups(reqs: &[PortBindingReq]) -> Vec<Vec<PortBindingReq>> {
    let mut out = Vec::new();
    let mut to_bind: Vec<PortBindingReq> = Vec::new();
    for (i, c) in reqs.iter().enumerate() {
        to_bind.push(c.clone());
        if i + 1 < reqs.len() && c.mapper == reqs[i + 1].mapper && need_same_port(c, &reqs[i + 1]) {
            continue;
        }
        out.push(std::mem::take(&mut to_bind));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::Proto;

    fn spec(host_ip: Option<&str>, hp: u16, hpe: u16, cp: u16, proto: Proto) -> PublishSpec {
        PublishSpec {
            raw: String::new(),
            host_ip: host_ip.map(|s| s.parse().unwrap()),
            host_port: hp,
            host_port_end: hpe,
            container_port: cp,
            proto,
        }
    }

    fn ep(proxy: bool, v6: bool) -> EndpointAddrs {
        EndpointAddrs {
            v4: "172.17.0.2".parse().unwrap(),
            v6: None,
            userland_proxy: proxy,
            v6_listenable: v6,
        }
    }

    /// A start's `sortAndNormPBs`: a fresh endpoint acting as both gateways.
    fn start(specs: &[PublishSpec], e: EndpointAddrs) -> Vec<PortBindingReq> {
        sort_and_norm(
            specs,
            e,
            PortBindingMode::default(),
            PortBindingMode::requested(true),
        )
    }

    fn hosts(g: &[PortBindingReq]) -> Vec<String> {
        g.iter().map(|r| r.host_ip.to_string()).collect()
    }

    #[test]
    fn an_unaddressed_dynamic_port_becomes_one_group_v4_then_v6() {
        let g = groups(&start(&[spec(None, 0, 0, 80, Proto::Tcp)], ep(true, true)));
        assert_eq!(g.len(), 1);
        assert_eq!(hosts(&g[0]), ["0.0.0.0", "::"]);
        assert_eq!(
            g[0][1].ip.to_string(),
            "172.17.0.2",
            "v6 host traffic is proxied to the v4 container"
        );
    }

    #[test]
    fn without_the_proxy_a_v4_only_container_gets_no_v6_binding() {
        let g = groups(&start(&[spec(None, 0, 0, 80, Proto::Tcp)], ep(false, true)));
        assert_eq!(hosts(&g[0]), ["0.0.0.0"]);
    }

    #[test]
    fn without_ipv6_only_the_v4_binding_remains() {
        let g = groups(&start(
            &[spec(None, 8080, 0, 80, Proto::Tcp)],
            ep(true, false),
        ));
        assert_eq!(hosts(&g[0]), ["0.0.0.0"]);
        assert_eq!((g[0][0].host_port, g[0][0].host_port_end), (8080, 8080));
    }

    #[test]
    fn an_explicit_address_keeps_its_family() {
        let g = groups(&start(
            &[spec(Some("::1"), 0, 0, 80, Proto::Udp)],
            ep(true, true),
        ));
        assert_eq!(hosts(&g[0]), ["::1"]);
    }

    #[test]
    fn exact_ports_sort_before_ranges_and_groups_split_by_container_port() {
        let specs = [
            spec(None, 0, 0, 81, Proto::Tcp),
            spec(None, 8080, 0, 80, Proto::Tcp),
            spec(None, 0, 0, 80, Proto::Udp),
        ];
        let g = groups(&start(&specs, ep(true, true)));
        let heads: Vec<(u16, u16, Proto)> = g
            .iter()
            .map(|g| (g[0].host_port, g[0].port, g[0].proto))
            .collect();
        assert_eq!(
            heads,
            [
                (8080, 80, Proto::Tcp),
                (0, 80, Proto::Udp),
                (0, 81, Proto::Tcp)
            ]
        );
        assert!(g.iter().all(|g| g.len() == 2));
    }

    #[test]
    fn an_ipv4_mapped_host_address_is_ipv4_and_is_unmapped() {
        let g = groups(&start(
            &[spec(Some("::ffff:127.0.0.1"), 0, 0, 80, Proto::Tcp)],
            ep(true, true),
        ));
        assert_eq!(g.len(), 1);
        assert_eq!(hosts(&g[0]), ["127.0.0.1"]);
        assert!(g[0][0].host_ip.is_ipv4(), "To4() unmaps it");
    }

    #[test]
    fn to4_matches_go_for_mapped_compatible_and_plain_addresses() {
        let p = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(to4(p("::ffff:10.0.0.1")), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(to4(p("10.0.0.1")), Some(Ipv4Addr::new(10, 0, 0, 1)));
        // Go's To4 accepts only the ::ffff: prefix, not ::a.b.c.d.
        assert_eq!(to4(p("::10.0.0.1")), None);
        assert_eq!(to4(p("::1")), None);
    }

    #[test]
    fn the_stop_call_and_a_repeated_gateway_call_add_nothing() {
        let specs = [spec(None, 0, 0, 80, Proto::Tcp)];
        let stop = sort_and_norm(
            &specs,
            ep(true, true),
            PortBindingMode::requested(true),
            PortBindingMode::requested(false),
        );
        assert!(stop.is_empty(), "NAT mode: routed adds no binding");
        let again = sort_and_norm(
            &specs,
            ep(true, true),
            PortBindingMode::requested(true),
            PortBindingMode::requested(true),
        );
        assert!(again.is_empty());
    }

    /// Requests that need the same port but name different mappers (a
    /// NAT and a routed binding) go to separate `MapPorts` calls.
    #[test]
    fn a_different_mapper_starts_a_new_group() {
        let g = start(&[spec(None, 0, 0, 80, Proto::Tcp)], ep(true, true));
        assert_eq!(g.len(), 2);
        let mut routed = g.clone();
        routed[1].mapper = "routed";
        let split = groups(&routed);
        assert_eq!(split.len(), 2);
        assert_eq!(hosts(&split[0]), ["0.0.0.0"]);
        assert_eq!(split[1][0].mapper, "routed");
        assert_eq!(groups(&g).len(), 1, "one mapper: one group");
    }
}
