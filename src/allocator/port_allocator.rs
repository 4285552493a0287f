//! moby's logical port allocator: one per daemon, reservations by IP,
//! protocol and port, with a round-robin `last` pointer per port range.
//!
//! Mirrors `daemon/libnetwork/portallocator/portallocator.go` (types
//! `PortAllocator`, `portMap`, `portRange`, functions `newInstance`,
//! `makeIpMapping`, `makeProtoMap`, `newPortMap`, `getPortRange`,
//! `RequestPort`, `RequestPortsInRange`, `ReleasePort`) and
//! `portallocator_unix.go` (the fallback range) at moby b985e2313a.
//!
//! Lock scope: `PortAllocator::mu` is Go's `p.mutex`, a shim lock (one
//! scheduling point) held for the whole `RequestPortsInRange` after the
//! argument checks, and for the whole `ReleasePort`. The maps themselves
//! live behind a plain mutex that checkers may read at any time.
//!
//! Map order: Go ranges over `map[netip.Addr]...` in random order. Here
//! every map keyed by address is kept sorted (small vectors: an allocator
//! knows a few addresses and a daemon holds a few ports), so addresses
//! are visited IPv4 before IPv6, then by their bytes. The only observable
//! effect is in a request for a specific port that is already held for
//! several of the addresses involved: the "Bind for IP:PORT failed" error
//! names the first such address in that order, where Go names any one of
//! them.

use super::reserved::{parse_reserved_ports, scan_port_range};
use crate::error::{GoError, Kind};
use crate::kernel::{Kernel, NsId};
use crate::sync;
use crate::trace::Name;
use crate::trace::{Render, Text, Trace};
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// First port of the fallback dynamic range (`defaultPortRangeStart`,
/// portallocator_unix.go).
pub const DEFAULT_PORT_RANGE_START: u16 = 49153;
/// Last port of the fallback dynamic range (`defaultPortRangeEnd`).
pub const DEFAULT_PORT_RANGE_END: u16 = 65535;

/// The protocols the allocator keeps maps for (`makeProtoMap`); a
/// protocol's map is at its index here.
const PROTOS: [&str; 3] = ["tcp", "udp", "sctp"];

/// The indices of [`PROTOS`] in the order of their names (`sctp`, `tcp`,
/// `udp`): the order a map keyed by name would list them.
const PROTOS_BY_NAME: [usize; 3] = [2, 0, 1];

/// The two unspecified addresses, in the order Go checks them.
const UNSPECIFIED: [IpAddr; 2] = [
    IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    IpAddr::V6(Ipv6Addr::UNSPECIFIED),
];

/// One daemon's port allocator (Go `PortAllocator`).
pub struct PortAllocator {
    /// Go's `p.mutex`.
    mu: sync::Mutex<()>,
    state: sync::StateCell<State>,
    begin: u16,
    end: u16,
    reserved: BTreeSet<u16>,
    trace: Arc<Trace>,
    layer: Name,
}

/// Go's `ipMap`: address -> protocol -> portMap (the protocol maps as an
/// array indexed like [`PROTOS`]).
struct State {
    ip_map: IpMap,
    /// The `ipToPortMapRef` of the request being served, kept between
    /// requests only so that its storage is reused.
    refs: Refs,
}

/// Go's `ipMap` itself, sorted by address (the order of a `BTreeMap`
/// keyed by address): an allocator knows a few addresses, so a vector,
/// looked up by equality and inserted at its sorted place.
struct IpMap(Vec<(IpAddr, ProtoMap)>);

impl IpMap {
    fn find(&self, addr: &IpAddr) -> Result<usize, usize> {
        self.0.binary_search_by(|(a, _)| a.cmp(addr))
    }

    /// `ipMap[addr]`, created by `f` if missing.
    fn or_insert_with(&mut self, addr: IpAddr, f: impl FnOnce() -> ProtoMap) {
        // Equality first: cheaper than ordering addresses, and the
        // address is most often there.
        if self.get(&addr).is_some() {
            return;
        }
        if let Err(i) = self.find(&addr) {
            self.0.insert(i, (addr, f()));
        }
    }

    fn keys(&self) -> impl Iterator<Item = &IpAddr> {
        self.0.iter().map(|(a, _)| a)
    }

    fn get(&self, addr: &IpAddr) -> Option<&ProtoMap> {
        self.0.iter().find(|(a, _)| a == addr).map(|(_, m)| m)
    }

    fn get_mut(&mut self, addr: &IpAddr) -> Option<&mut ProtoMap> {
        self.0.iter_mut().find(|(a, _)| a == addr).map(|(_, m)| m)
    }
}

/// Go's `makeProtoMap` result: one portMap per protocol of [`PROTOS`].
type ProtoMap = [PortMap; 3];

/// `ipToPortMapRef` of `RequestPortsInRange`: address -> "allocate" flag,
/// sorted by address (the order of a `BTreeMap` keyed by address).
#[derive(Default)]
struct Refs(Vec<(IpAddr, bool)>);

impl Refs {
    fn clear(&mut self) {
        self.0.clear();
    }

    fn find(&self, addr: &IpAddr) -> Result<usize, usize> {
        self.0.binary_search_by(|(a, _)| a.cmp(addr))
    }

    fn contains_key(&self, addr: &IpAddr) -> bool {
        self.0.iter().any(|(a, _)| a == addr)
    }

    /// `refs[addr] = allocate`.
    fn insert(&mut self, addr: IpAddr, allocate: bool) {
        match self.find(&addr) {
            Ok(i) => self.0[i].1 = allocate,
            Err(i) => self.0.insert(i, (addr, allocate)),
        }
    }

    /// `refs[addr] = allocate` unless `addr` is already there.
    fn or_insert(&mut self, addr: IpAddr, allocate: bool) {
        if let Err(i) = self.find(&addr) {
            self.0.insert(i, (addr, allocate));
        }
    }

    fn keys(&self) -> impl Iterator<Item = &IpAddr> {
        self.0.iter().map(|(a, _)| a)
    }
}

/// Go `portRange`: a requested range and the last port handed out from it.
#[derive(Clone, Debug)]
struct PortRange {
    begin: i64,
    end: i64,
    last: i64,
}

/// Go `portMap`: the allocated ports of one (address, protocol) and the
/// ranges requested from it, by "begin-end" key.
#[derive(Clone, Debug)]
struct PortMap {
    p: PortSet,
    default_range: RangeKey,
    /// Looked up, never listed; most maps hold one range.
    port_ranges: Vec<(RangeKey, PortRange)>,
}

/// Go's `portMap.p` (`map[int]struct{}`): a daemon holds a handful of
/// ports per address, so a sorted vector, listed in port order.
#[derive(Clone, Debug, Default)]
struct PortSet(Vec<u16>);

impl PortSet {
    fn contains(&self, port: &u16) -> bool {
        self.0.binary_search(port).is_ok()
    }

    fn insert(&mut self, port: u16) {
        if let Err(i) = self.0.binary_search(&port) {
            self.0.insert(i, port);
        }
    }

    fn remove(&mut self, port: &u16) {
        if let Ok(i) = self.0.binary_search(port) {
            self.0.remove(i);
        }
    }
}

impl<'a> IntoIterator for &'a PortSet {
    type Item = &'a u16;
    type IntoIter = std::slice::Iter<'a, u16>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Go's range key, the string `"begin-end"`, kept as the pair of numbers:
/// two pairs give the same string exactly when they are equal, and the
/// map is only looked up, never listed.
type RangeKey = (i64, i64);

/// `getRangeKey`.
fn range_key(start: i64, end: i64) -> RangeKey {
    (start, end)
}

impl PortRange {
    /// `newPortRange`: `last` starts at the range end, so the first pick is
    /// the range start.
    fn new(begin: i64, end: i64) -> PortRange {
        PortRange {
            begin,
            end,
            last: end,
        }
    }
}

impl PortMap {
    /// `newPortMap`.
    fn new(begin: i64, end: i64) -> PortMap {
        let key = range_key(begin, end);
        PortMap {
            p: PortSet::default(),
            default_range: key,
            port_ranges: vec![(key, PortRange::new(begin, end))],
        }
    }

    /// `portMap.getPortRange`: the range for a request, created on first
    /// use; 0-0 means the default range.
    fn port_range(&mut self, start: i64, end: i64) -> &mut PortRange {
        let key = if start == 0 && end == 0 {
            self.default_range
        } else {
            range_key(start, end)
        };
        let i = match self.port_ranges.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                self.port_ranges.push((key, PortRange::new(start, end)));
                self.port_ranges.len() - 1
            }
        };
        &mut self.port_ranges[i].1
    }
}

/// `makeProtoMap`.
fn proto_map(begin: u16, end: u16) -> ProtoMap {
    PROTOS.map(|_| PortMap::new(begin.into(), end.into()))
}

/// Go's `netip.Addr.Unmap`: an IPv4-mapped IPv6 address becomes IPv4.
fn unmap(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

fn is4(ip: &IpAddr) -> bool {
    ip.is_ipv4()
}

/// The addresses of a request, kept for its trace text: up to two in
/// place (a mapper asks for one address per host IP of a group, most
/// often one or two), more on the heap.
enum Ips {
    Inline(usize, [IpAddr; 2]),
    Heap(Vec<IpAddr>),
}

impl Ips {
    fn of(ips: &[IpAddr]) -> Ips {
        const ANY: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        match *ips {
            [] => Ips::Inline(0, [ANY; 2]),
            [a] => Ips::Inline(1, [a, ANY]),
            [a, b] => Ips::Inline(2, [a, b]),
            _ => Ips::Heap(ips.to_vec()),
        }
    }

    fn as_slice(&self) -> &[IpAddr] {
        match self {
            Ips::Inline(n, a) => &a[..*n],
            Ips::Heap(v) => v,
        }
    }
}

/// The trace text of a protocol name: fixed for a known one.
fn proto_text(proto: &str) -> Text {
    match static_proto(proto) {
        Some(p) => Text::from_static(PROTOS[p]),
        None => Text::name(proto),
    }
}

/// `RequestPortsInRange [127.0.0.1 ::1] tcp 0-0`, written when read.
struct Request {
    ips: Ips,
    proto: Text,
    start: i32,
    end: i32,
}

impl Render for Request {
    fn render(&self, out: &mut String) {
        use std::fmt::Write;
        out.push_str("RequestPortsInRange [");
        for (i, ip) in self.ips.as_slice().iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            let _ = write!(out, "{ip}");
        }
        let _ = write!(out, "] {} {}-{}", self.proto, self.start, self.end);
    }

    fn head(&self) -> &'static str {
        "RequestPortsInRange ["
    }
}

/// An allocated port, as the result of a request: `32768`.
struct Port(u16);

impl Render for Port {
    fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = write!(out, "{}", self.0);
    }

    fn number(&self) -> Option<u64> {
        Some(self.0.into())
    }
}

/// `ReleasePort 0.0.0.0 tcp 32768`, written when read.
struct Release {
    ip: IpAddr,
    proto: Text,
    port: u16,
}

impl Render for Release {
    fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = write!(out, "ReleasePort {} {} {}", self.ip, self.proto, self.port);
    }

    fn head(&self) -> &'static str {
        "ReleasePort "
    }
}

impl PortAllocator {
    /// A fresh allocator for the dynamic range `begin..=end` with the given
    /// kernel-reserved ports (`newInstance` with the range and reserved set
    /// already read). Both unspecified addresses start with empty maps
    /// (`makeIpMapping`). `layer` names the allocator in trace lines.
    pub fn new(
        begin: u16,
        end: u16,
        reserved: BTreeSet<u16>,
        trace: Arc<Trace>,
        layer: &str,
    ) -> PortAllocator {
        let mut ip_map = IpMap(Vec::new());
        for ip in UNSPECIFIED {
            ip_map.or_insert_with(ip, || proto_map(begin, end));
        }
        PortAllocator {
            mu: sync::Mutex::new(()),
            state: sync::StateCell::new(State {
                ip_map,
                refs: Refs::default(),
            }),
            begin,
            end,
            reserved,
            trace,
            layer: Name::new(layer),
        }
    }

    /// `newInstance` (portallocator.go) with `dynamicPortRange` and
    /// `reservedPorts` (portallocator_linux.go), reading the sysctls of
    /// namespace `ns`: the range as `Fscanf("%d\t%d")`, falling back to
    /// 49153-65535 when it cannot be read or parsed; the reserved list
    /// through [`parse_reserved_ports`] clamped to that range, with none
    /// reserved when it cannot be read or parsed. The trace is the kernel's.
    ///
    /// Deviation: a range value outside 0..=65535 (which Linux refuses to
    /// store in the sysctl) also falls back; Go would use it as is.
    pub fn from_namespace(kernel: &Kernel, ns: NsId, layer: &str) -> PortAllocator {
        let (begin, end) = kernel
            .sysctl(ns, "ip_local_port_range")
            .map_err(|e| e.text().to_string())
            .and_then(|text| scan_port_range(&text))
            .ok()
            .and_then(|(b, e)| Some((u16::try_from(b).ok()?, u16::try_from(e).ok()?)))
            .unwrap_or((DEFAULT_PORT_RANGE_START, DEFAULT_PORT_RANGE_END));
        let reserved = kernel
            .sysctl(ns, "ip_local_reserved_ports")
            .ok()
            .and_then(|text| parse_reserved_ports(&text, begin.into(), end.into()).ok())
            .unwrap_or_default();
        PortAllocator::new(begin, end, reserved, kernel.trace().clone(), layer)
    }

    /// The default dynamic range (Go's `p.begin`, `p.end`).
    pub fn range(&self) -> (u16, u16) {
        (self.begin, self.end)
    }

    /// The kernel-reserved ports skipped by default-range requests.
    pub fn reserved(&self) -> &BTreeSet<u16> {
        &self.reserved
    }

    /// The layer name this allocator writes in trace lines.
    pub fn layer(&self) -> &str {
        &self.layer
    }

    /// The trace this allocator writes to.
    pub fn trace(&self) -> &Arc<Trace> {
        &self.trace
    }

    /// `RequestPort`: one IP (0.0.0.0 when `None`, Go's `defaultIP`), a
    /// specific port or 0 for a dynamic one.
    pub fn request_port(
        &self,
        who: &str,
        ip: Option<IpAddr>,
        proto: &str,
        port: i32,
    ) -> Result<u16, GoError> {
        let ip = ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        self.request_ports_in_range(who, &[ip], proto, port, port)
    }

    /// `RequestPortsInRange` (portallocator.go, moby b985e2313a): one port
    /// free for `proto` on every address in `ips`, reserved for all of them.
    /// 0-0 asks for the default dynamic range (skipping reserved ports),
    /// S-S for port S, S-E for the first free port of that range after the
    /// last one handed out from it.
    ///
    /// Deviation: a start or end outside 0..=65535 is refused with the
    /// "invalid port range" text before any work (moby's callers pass
    /// uint16 ports, so this never happens there; Go would hand out such
    /// numbers or loop over negative ones).
    pub fn request_ports_in_range(
        &self,
        who: &str,
        ips: &[IpAddr],
        proto: &str,
        start: i32,
        end: i32,
    ) -> Result<u16, GoError> {
        let action = Request {
            ips: Ips::of(ips),
            proto: proto_text(proto),
            start,
            end,
        };
        // Go checks the arguments before taking its lock: no scheduling point.
        let proto = match validate(ips, proto, start, end) {
            Ok(proto) => proto,
            Err(e) => {
                let r = Err(e);
                self.emit(who, action, &r);
                return r;
            }
        };
        let _g = sync::lock_at(&self.mu, || {
            let mut a = String::new();
            action.render(&mut a);
            format!("{who} {} {a}", self.layer)
        });
        let r = self.request_locked(ips, proto, start.into(), end.into());
        // Emitted under the lock, so the trace shows requests in lock order.
        self.emit(who, action, &r);
        r
    }

    fn emit(&self, who: &str, action: Request, r: &Result<u16, GoError>) {
        let result = match r {
            Ok(p) => Text::lazy(Port(*p)),
            Err(e) => Text::from(format!("error: {e}")),
        };
        self.trace
            .emit(who, &self.layer, Text::lazy(action), result);
    }

    /// The body of `RequestPortsInRange` after `p.mutex.Lock()`.
    #[allow(clippy::map_entry)] // keeps Go's if/else-if on the unspecified address
    fn request_locked(
        &self,
        ips: &[IpAddr],
        proto: usize,
        start: i64,
        end: i64,
    ) -> Result<u16, GoError> {
        let mut st = sync::state(&self.state);
        let State { ip_map, refs } = &mut *st;

        // ipToPortMapRef: address -> "allocate" flag (the portMap is
        // ip_map[address][proto]).
        refs.clear();
        let (mut ips4, mut ips6) = (false, false);
        for &ip in ips {
            let addr = unmap(ip);
            if is4(&addr) {
                ips4 = true;
            } else {
                ips6 = true;
            }
            ip_map.or_insert_with(addr, || proto_map(self.begin, self.end));
            refs.insert(addr, true);
        }

        // The port must also be free where an unspecified address of the
        // same family holds it, or, for an unspecified address, everywhere
        // in its family. Those maps are checked but not allocated in.
        for unspec in UNSPECIFIED {
            if refs.contains_key(&unspec) {
                for addr in ip_map.keys() {
                    if is4(&unspec) == is4(addr) {
                        refs.or_insert(*addr, false);
                    }
                }
            } else if (is4(&unspec) && ips4) || (!is4(&unspec) && ips6) {
                refs.insert(unspec, false);
            }
        }

        // A specific port.
        if start > 0 && start == end {
            let port = start as u16;
            for addr in refs.keys() {
                if port_map(ip_map, addr, proto).p.contains(&port) {
                    return Err(GoError::new(format!(
                        "Bind for {addr}:{port} failed: port is already allocated"
                    )));
                }
            }
            for (addr, allocate) in &refs.0 {
                if *allocate {
                    port_map(ip_map, addr, proto).p.insert(port);
                }
            }
            return Ok(port);
        }

        // A range: make sure every referenced map knows it (Go creates the
        // range entry in the checked-only maps too).
        for addr in refs.keys() {
            port_map(ip_map, addr, proto).port_range(start, end);
        }
        let skip_reserved = start == 0 && end == 0;

        // Scan after the first address's `last`, wrapping, at most as many
        // steps as that range has ports.
        let first = unmap(ips[0]);
        let first_range = port_map(ip_map, &first, proto)
            .port_range(start, end)
            .clone();
        let mut port = first_range.last;
        for _ in first_range.begin..=first_range.end {
            port += 1;
            if port > first_range.end {
                port = first_range.begin;
            }
            if skip_reserved
                && (0..=i64::from(u16::MAX)).contains(&port)
                && self.reserved.contains(&(port as u16))
            {
                continue;
            }
            // 0 <= port <= 65535 after validation, as long as the range is.
            let Ok(p16) = u16::try_from(port) else {
                continue;
            };
            let taken = refs
                .keys()
                .any(|addr| port_map(ip_map, addr, proto).p.contains(&p16));
            if !taken {
                for (addr, allocate) in &refs.0 {
                    if *allocate {
                        let m = port_map(ip_map, addr, proto);
                        m.p.insert(p16);
                        m.port_range(start, end).last = port;
                    }
                }
                return Ok(p16);
            }
        }
        Err(GoError::of_kind(
            "all ports are allocated",
            Kind::AllPortsAllocated,
        ))
    }

    /// `ReleasePort` (portallocator.go, moby b985e2313a): forget `port` in
    /// the map of `ip` (unmapped) and `proto`. Does not move any `last`.
    /// Unknown addresses are ignored; an unknown protocol on a known
    /// address (where Go would dereference a nil map entry and panic) is
    /// ignored too.
    pub fn release_port(&self, who: &str, ip: IpAddr, proto: &str, port: u16) {
        let _g = sync::lock_at(&self.mu, || {
            format!("{who} {} ReleasePort {ip} {proto} {port}", self.layer)
        });
        {
            let mut st = sync::state(&self.state);
            if let Some(m) =
                static_proto(proto).and_then(|p| Some(&mut st.ip_map.get_mut(&unmap(ip))?[p]))
            {
                m.p.remove(&port);
            }
        }
        self.trace.emit(
            who,
            &self.layer,
            Text::lazy(Release {
                ip,
                proto: proto_text(proto),
                port,
            }),
            Text::EMPTY,
        );
    }

    /// Every reserved (address, protocol, port), sorted. Not a scheduling
    /// point: for checkers. Listed by address, protocol name and port,
    /// which is that order already.
    pub fn reservations(&self) -> Vec<(IpAddr, &'static str, u16)> {
        let mut out = Vec::new();
        self.reservations_into(&mut out);
        out
    }

    /// [`PortAllocator::reservations`] appended to `out`.
    pub fn reservations_into(&self, out: &mut Vec<(IpAddr, &'static str, u16)>) {
        let st = sync::state(&self.state);
        let start = out.len();
        for (ip, protos) in &st.ip_map.0 {
            for p in PROTOS_BY_NAME {
                for &port in &protos[p].p {
                    out.push((*ip, PROTOS[p], port));
                }
            }
        }
        debug_assert!(out[start..].is_sorted());
    }

    /// The `last` pointer of `ip`'s `proto` map for range `start-end`
    /// (0-0 = default), if that range was ever created. For tests and
    /// checkers.
    pub fn last(&self, ip: IpAddr, proto: &str, start: i64, end: i64) -> Option<i64> {
        let st = sync::state(&self.state);
        let m = &st.ip_map.get(&unmap(ip))?[static_proto(proto)?];
        let key = if start == 0 && end == 0 {
            m.default_range
        } else {
            range_key(start, end)
        };
        m.port_ranges
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, r)| r.last)
    }
}

fn port_map<'m>(ip_map: &'m mut IpMap, addr: &IpAddr, proto: usize) -> &'m mut PortMap {
    &mut ip_map
        .get_mut(addr)
        .expect("every referenced address has a map for every protocol")[proto]
}

/// The checks `RequestPortsInRange` makes before taking its lock, in Go's
/// order. Returns the protocol as the index of its map ([`PROTOS`]).
fn validate(ips: &[IpAddr], proto: &str, start: i32, end: i32) -> Result<usize, GoError> {
    let proto = static_proto(proto).ok_or_else(|| GoError::new("unknown protocol"))?;
    let invalid = || GoError::new(format!("invalid port range: {start}-{end}"));
    // A custom range (anything but 0-0) needs both ends set, in order.
    if (start != 0 || end != 0) && (start == 0 || end == 0 || end < start) {
        return Err(invalid());
    }
    if !(0..=i32::from(u16::MAX)).contains(&start) || !(0..=i32::from(u16::MAX)).contains(&end) {
        return Err(invalid());
    }
    if ips.is_empty() {
        return Err(GoError::new("no IP addresses specified"));
    }
    Ok(proto)
}

/// The index in [`PROTOS`] of a protocol the allocator keeps maps for.
fn static_proto(proto: &str) -> Option<usize> {
    PROTOS.iter().position(|p| *p == proto)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{BindReq, Errno, Net, NsConfig, SockId, SockInfo};

    const BEGIN: u16 = 32768;
    const END: u16 = 60999;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn v4zero() -> Option<IpAddr> {
        Some(ip("0.0.0.0"))
    }

    /// Go's `newInstance()` for tests: the default Linux range, nothing
    /// reserved.
    fn new_instance() -> PortAllocator {
        with_reserved(BTreeSet::new())
    }

    fn with_reserved(reserved: BTreeSet<u16>) -> PortAllocator {
        PortAllocator::new(BEGIN, END, reserved, Trace::new(), "d1/allocator")
    }

    fn run(f: impl Fn() + Send + Sync + 'static) {
        sync::run_once(f);
    }

    #[test]
    fn test_request_new_port() {
        run(|| {
            let p = new_instance();
            assert_eq!(p.request_port("t", v4zero(), "tcp", 0), Ok(BEGIN));
        });
    }

    #[test]
    fn test_request_specific_port() {
        run(|| {
            let p = new_instance();
            assert_eq!(p.request_port("t", v4zero(), "tcp", 5000), Ok(5000));
        });
    }

    #[test]
    fn test_release_port() {
        run(|| {
            let p = new_instance();
            assert_eq!(p.request_port("t", v4zero(), "tcp", 5000), Ok(5000));
            p.release_port("t", ip("0.0.0.0"), "tcp", 5000);
            assert!(p.reservations().is_empty());
        });
    }

    #[test]
    fn test_reuse_released_port() {
        run(|| {
            let p = new_instance();
            assert_eq!(p.request_port("t", v4zero(), "tcp", 5000), Ok(5000));
            p.release_port("t", ip("0.0.0.0"), "tcp", 5000);
            assert_eq!(p.request_port("t", v4zero(), "tcp", 5000), Ok(5000));
        });
    }

    #[test]
    fn test_release_unreadled_port() {
        run(|| {
            let p = new_instance();
            assert_eq!(p.request_port("t", v4zero(), "tcp", 5000), Ok(5000));
            let err = p.request_port("t", v4zero(), "tcp", 5000).unwrap_err();
            assert_eq!(
                err.text,
                "Bind for 0.0.0.0:5000 failed: port is already allocated"
            );
            assert_eq!(err.kind, Kind::Plain);
        });
    }

    #[test]
    fn test_unknow_protocol() {
        run(|| {
            let p = new_instance();
            let err = p.request_port("t", v4zero(), "tcpp", 0).unwrap_err();
            assert_eq!(err, GoError::new("unknown protocol"));
        });
    }

    #[test]
    fn test_allocate_all_ports() {
        run(|| {
            let p = new_instance();
            for i in 0..=(END - BEGIN) {
                assert_eq!(p.request_port("t", v4zero(), "tcp", 0), Ok(BEGIN + i));
            }
            let err = p.request_port("t", v4zero(), "tcp", 0).unwrap_err();
            assert_eq!(err.kind, Kind::AllPortsAllocated);
            assert_eq!(err.text, "all ports are allocated");
            assert!(p.request_port("t", v4zero(), "udp", 0).is_ok());

            // Release one in the middle: it is the next pick.
            let port = BEGIN + 5;
            p.release_port("t", ip("0.0.0.0"), "tcp", port);
            assert_eq!(p.request_port("t", v4zero(), "tcp", 0), Ok(port));
            // Now last == port; as the only free port it comes back again.
            p.release_port("t", ip("0.0.0.0"), "tcp", port);
            assert_eq!(p.request_port("t", v4zero(), "tcp", 0), Ok(port));
        });
    }

    #[test]
    fn test_port_allocation() {
        run(|| {
            let p = new_instance();
            let a = Some(ip("192.168.0.1"));
            let b = Some(ip("192.168.0.2"));
            assert_eq!(p.request_port("t", a, "tcp", 80), Ok(80));
            let port = p.request_port("t", a, "tcp", 0).unwrap();
            assert!(port > 0);
            assert!(p.request_port("t", a, "tcp", port.into()).is_err());
            let new_port = p.request_port("t", a, "tcp", 0).unwrap();
            assert_ne!(new_port, port);
            assert!(p.request_port("t", a, "tcp", 80).is_err());
            assert_eq!(p.request_port("t", b, "tcp", 80), Ok(80));
            assert!(p.request_port("t", b, "tcp", 80).is_err());
            p.release_port("t", ip("192.168.0.1"), "tcp", 80);
            assert_eq!(p.request_port("t", a, "tcp", 80), Ok(80));

            let port = p.request_port("t", a, "tcp", 0).unwrap();
            let port2 = p.request_port("t", a, "tcp", i32::from(port) + 1).unwrap();
            let port3 = p.request_port("t", a, "tcp", 0).unwrap();
            assert_ne!(port3, port2, "a dynamic pick never returns a used port");
        });
    }

    #[test]
    fn test_port_allocation_with_custom_range() {
        run(|| {
            let p = new_instance();
            let z = [ip("0.0.0.0")];
            let (start, end) = (8081, 8082);
            let port1 = p.request_ports_in_range("t", &z, "tcp", 0, 0).unwrap();
            for (s, e) in [(0, end), (start, 0), (8081, 8080)] {
                assert_eq!(
                    p.request_ports_in_range("t", &z, "tcp", s, e),
                    Err(GoError::new(format!("invalid port range: {s}-{e}")))
                );
            }
            assert_eq!(
                p.request_ports_in_range("t", &z, "tcp", 8000, 8000),
                Ok(8000)
            );
            let port2 = p
                .request_ports_in_range("t", &z, "tcp", start, end)
                .unwrap();
            assert!((8081..=8082).contains(&port2));
            let port3 = p.request_ports_in_range("t", &z, "tcp", 0, 0).unwrap();
            assert!(port3 > port1);
            let port4 = p
                .request_ports_in_range("t", &z, "tcp", start, end)
                .unwrap();
            assert!((8081..=8082).contains(&port4));
            assert_ne!(port4, port2);
            let err = p
                .request_ports_in_range("t", &z, "tcp", start, end)
                .unwrap_err();
            assert_eq!(err.kind, Kind::AllPortsAllocated);
        });
    }

    #[test]
    fn test_no_duplicate_bpr() {
        run(|| {
            let p = new_instance();
            assert_eq!(
                p.request_port("t", v4zero(), "tcp", BEGIN.into()),
                Ok(BEGIN)
            );
            let port = p.request_port("t", v4zero(), "tcp", 0).unwrap();
            assert_ne!(port, BEGIN);
        });
    }

    #[test]
    fn test_request_port_for_multiple_ips() {
        run(|| {
            let p = new_instance();
            let addrs = [ip("127.0.0.1"), ip("::")];
            assert_eq!(
                p.request_ports_in_range("t", &addrs, "tcp", 0, 0),
                Ok(BEGIN)
            );
            assert_eq!(
                p.request_ports_in_range("t", &addrs, "tcp", 10000, 10000),
                Ok(10000)
            );
            let err = p
                .request_ports_in_range("t", &addrs, "tcp", 10000, 10000)
                .unwrap_err();
            assert!(err.text.contains("port is already allocated"));
            p.release_port("t", addrs[0], "tcp", 10000);
            assert_eq!(
                p.request_ports_in_range("t", &addrs, "tcp", 10000, 10000),
                Err(GoError::new(
                    "Bind for :::10000 failed: port is already allocated"
                ))
            );
            p.release_port("t", addrs[1], "tcp", 10000);
            assert_eq!(
                p.request_ports_in_range("t", &addrs, "tcp", 10000, 10000),
                Ok(10000)
            );
            for want in 20000..20004 {
                assert_eq!(
                    p.request_ports_in_range("t", &addrs, "tcp", 20000, 20004),
                    Ok(want)
                );
            }
        });
    }

    #[test]
    fn test_mix_unspec_and_specific_addrs() {
        run(|| {
            let p = new_instance();
            assert_eq!(
                p.request_port("t", Some(ip("127.0.0.1")), "udp", 0),
                Ok(BEGIN)
            );
            assert_eq!(p.request_port("t", v4zero(), "udp", 0), Ok(BEGIN + 1));
        });
    }

    #[test]
    fn test_request_new_port_skips_reserved_ports() {
        run(|| {
            let p = with_reserved([BEGIN, BEGIN + 1].into());
            assert_eq!(p.request_port("t", v4zero(), "tcp", 0), Ok(BEGIN + 2));
        });
    }

    #[test]
    fn test_request_specific_reserved_port() {
        run(|| {
            let p = with_reserved([10000].into());
            assert_eq!(p.request_port("t", v4zero(), "tcp", 10000), Ok(10000));
        });
    }

    #[test]
    fn test_request_port_in_range_with_reserved_port() {
        run(|| {
            let p = with_reserved([20000].into());
            assert_eq!(
                p.request_ports_in_range("t", &[ip("0.0.0.0")], "tcp", 20000, 20004),
                Ok(20000)
            );
        });
    }

    #[test]
    fn test_request_new_port_all_reserved() {
        run(|| {
            let p = with_reserved((BEGIN..=END).collect());
            let err = p.request_port("t", v4zero(), "tcp", 0).unwrap_err();
            assert_eq!(err.kind, Kind::AllPortsAllocated);
        });
    }

    // ---- beyond moby's tests ----

    #[test]
    fn trace_has_one_line_per_call() {
        run(|| {
            let t = Trace::new();
            let p = PortAllocator::new(BEGIN, END, BTreeSet::new(), t.clone(), "d1/allocator");
            let addrs = [ip("127.0.0.1"), ip("::1")];
            p.request_ports_in_range("c1", &addrs, "tcp", 0, 0).unwrap();
            p.request_ports_in_range("c2", &addrs, "tcp", 32768, 32768)
                .unwrap_err();
            p.request_port("c2", None, "tcpp", 0).unwrap_err();
            p.release_port("c1", addrs[0], "tcp", 32768);
            let lines: Vec<(String, String, String, String)> = t
                .events()
                .into_iter()
                .map(|e| {
                    (
                        e.who.into(),
                        e.layer.into(),
                        e.action.into(),
                        e.result.into(),
                    )
                })
                .collect();
            let l = |w: &str, a: &str, r: &str| {
                (
                    w.to_string(),
                    "d1/allocator".to_string(),
                    a.to_string(),
                    r.to_string(),
                )
            };
            assert_eq!(
                lines,
                vec![
                    l("c1", "RequestPortsInRange [127.0.0.1 ::1] tcp 0-0", "32768"),
                    l(
                        "c2",
                        "RequestPortsInRange [127.0.0.1 ::1] tcp 32768-32768",
                        "error: Bind for 127.0.0.1:32768 failed: port is already allocated"
                    ),
                    l(
                        "c2",
                        "RequestPortsInRange [0.0.0.0] tcpp 0-0",
                        "error: unknown protocol"
                    ),
                    l("c1", "ReleasePort 127.0.0.1 tcp 32768", ""),
                ]
            );
        });
    }

    #[test]
    fn release_does_not_move_last_so_picks_round_robin() {
        run(|| {
            let p = new_instance();
            let z = v4zero();
            assert_eq!(p.request_port("t", z, "tcp", 0), Ok(BEGIN));
            p.release_port("t", ip("0.0.0.0"), "tcp", BEGIN);
            assert_eq!(p.last(ip("0.0.0.0"), "tcp", 0, 0), Some(BEGIN.into()));
            assert_eq!(p.request_port("t", z, "tcp", 0), Ok(BEGIN + 1));
        });
    }

    #[test]
    fn specific_port_needs_the_unspecified_map_of_its_family_free() {
        run(|| {
            let p = new_instance();
            assert_eq!(p.request_port("t", v4zero(), "tcp", 8080), Ok(8080));
            assert_eq!(
                p.request_port("t", Some(ip("127.0.0.1")), "tcp", 8080),
                Err(GoError::new(
                    "Bind for 0.0.0.0:8080 failed: port is already allocated"
                ))
            );
            // The other family is independent.
            assert_eq!(p.request_port("t", Some(ip("::1")), "tcp", 8080), Ok(8080));
            // An unspecified request needs every map of its family free.
            assert_eq!(
                p.request_port("t", Some(ip("::")), "tcp", 8080),
                Err(GoError::new(
                    "Bind for ::1:8080 failed: port is already allocated"
                ))
            );
            // Only the requested addresses are allocated in.
            assert_eq!(
                p.reservations(),
                vec![(ip("0.0.0.0"), "tcp", 8080), (ip("::1"), "tcp", 8080)]
            );
        });
    }

    #[test]
    fn already_allocated_error_names_the_first_address_in_btree_order() {
        run(|| {
            let p = new_instance();
            let addrs = [ip("::1"), ip("127.0.0.2"), ip("127.0.0.1")];
            assert_eq!(
                p.request_ports_in_range("t", &addrs, "udp", 9000, 9000),
                Ok(9000)
            );
            // IPv4 before IPv6, then by bytes (Go picks one at random).
            assert_eq!(
                p.request_ports_in_range("t", &addrs, "udp", 9000, 9000)
                    .unwrap_err()
                    .text,
                "Bind for 127.0.0.1:9000 failed: port is already allocated"
            );
        });
    }

    #[test]
    fn scan_starts_after_the_first_addresses_last() {
        run(|| {
            let p = new_instance();
            let (a, b) = (ip("10.0.0.1"), ip("10.0.0.2"));
            assert_eq!(p.request_ports_in_range("t", &[a], "tcp", 0, 0), Ok(BEGIN));
            // b's last is still END: the scan starts at BEGIN, which a holds.
            assert_eq!(
                p.request_ports_in_range("t", &[b, a], "tcp", 0, 0),
                Ok(BEGIN + 1)
            );
            assert_eq!(p.last(b, "tcp", 0, 0), Some(i64::from(BEGIN) + 1));
            assert_eq!(
                p.request_ports_in_range("t", &[a, b], "tcp", 0, 0),
                Ok(BEGIN + 2)
            );
            // A checked-only map (0.0.0.0) gets the range entry, not a new last.
            assert_eq!(p.last(ip("0.0.0.0"), "tcp", 0, 0), Some(END.into()));
            assert_eq!(
                p.request_ports_in_range("t", &[a], "tcp", 5000, 5002),
                Ok(5000)
            );
            assert_eq!(p.last(ip("0.0.0.0"), "tcp", 5000, 5002), Some(5002));
            assert_eq!(p.last(a, "tcp", 5000, 5002), Some(5000));
        });
    }

    #[test]
    fn custom_range_wraps_and_reports_all_allocated_after_one_lap() {
        run(|| {
            let p = new_instance();
            let z = [ip("0.0.0.0")];
            assert_eq!(p.request_ports_in_range("t", &z, "tcp", 100, 102), Ok(100));
            assert_eq!(p.request_ports_in_range("t", &z, "tcp", 100, 102), Ok(101));
            p.release_port("t", z[0], "tcp", 100);
            assert_eq!(p.request_ports_in_range("t", &z, "tcp", 100, 102), Ok(102));
            // Wraps past the end back to the start.
            assert_eq!(p.request_ports_in_range("t", &z, "tcp", 100, 102), Ok(100));
            let err = p
                .request_ports_in_range("t", &z, "tcp", 100, 102)
                .unwrap_err();
            assert_eq!(err.kind, Kind::AllPortsAllocated);
        });
    }

    #[test]
    fn ipv4_mapped_addresses_are_unmapped() {
        run(|| {
            let p = new_instance();
            assert_eq!(
                p.request_port("t", Some(ip("::ffff:127.0.0.1")), "tcp", 80),
                Ok(80)
            );
            assert_eq!(p.reservations(), vec![(ip("127.0.0.1"), "tcp", 80)]);
            assert_eq!(
                p.request_port("t", Some(ip("127.0.0.1")), "tcp", 80)
                    .unwrap_err()
                    .text,
                "Bind for 127.0.0.1:80 failed: port is already allocated"
            );
            p.release_port("t", ip("::ffff:127.0.0.1"), "tcp", 80);
            assert!(p.reservations().is_empty());
        });
    }

    #[test]
    fn bad_arguments_are_errors_not_panics() {
        run(|| {
            let p = new_instance();
            assert_eq!(
                p.request_ports_in_range("t", &[], "tcp", 0, 0),
                Err(GoError::new("no IP addresses specified"))
            );
            assert_eq!(
                p.request_port("t", None, "tcp", 70000),
                Err(GoError::new("invalid port range: 70000-70000"))
            );
            assert_eq!(
                p.request_ports_in_range("t", &[ip("::")], "tcp", -5, -3),
                Err(GoError::new("invalid port range: -5--3"))
            );
            // Unknown protocol on a known address: Go panics, we ignore it.
            p.release_port("t", ip("0.0.0.0"), "tcpp", 80);
            p.release_port("t", ip("10.9.9.9"), "tcp", 80);
            assert!(p.reservations().is_empty());
        });
    }

    /// A backend that only answers sysctls, for `from_namespace`.
    struct SysctlOnly {
        range: Result<&'static str, Errno>,
        reserved: Result<&'static str, Errno>,
    }

    impl Net for SysctlOnly {
        fn name(&self) -> &'static str {
            "sysctl-only"
        }
        fn create_ns(&self, _: NsId, _: &NsConfig) -> Result<(), String> {
            Ok(())
        }
        fn bind(&self, _: NsId, _: SockId, _: &BindReq, _: bool) -> Result<(), Errno> {
            Err(Errno::EINVAL)
        }
        fn listen(&self, _: NsId, _: SockId) -> Result<(), Errno> {
            Err(Errno::EINVAL)
        }
        fn close(&self, _: NsId, _: SockId) -> Result<(), Errno> {
            Err(Errno::EBADF)
        }
        fn sockets(&self, _: NsId) -> Vec<SockInfo> {
            Vec::new()
        }
        fn probe(&self, _: NsId, _: &BindReq, _: bool, _: bool) -> Result<(), Errno> {
            Err(Errno::EINVAL)
        }
        fn sysctl(&self, _: NsId, name: &str) -> Result<String, Errno> {
            match name {
                "ip_local_port_range" => self.range.map(str::to_string),
                "ip_local_reserved_ports" => self.reserved.map(str::to_string),
                _ => Err(Errno::EINVAL),
            }
        }
    }

    fn from_sysctls(
        range: Result<&'static str, Errno>,
        reserved: Result<&'static str, Errno>,
    ) -> ((u16, u16), BTreeSet<u16>) {
        let out = Arc::new(std::sync::Mutex::new(None));
        let o2 = out.clone();
        run(move || {
            let net = Arc::new(SysctlOnly { range, reserved });
            let k = Kernel::new(net, &[NsConfig::default()], Trace::new()).unwrap();
            let p = PortAllocator::from_namespace(&k, NsId(0), "d1/allocator");
            *o2.lock().unwrap() = Some((p.range(), p.reserved().clone()));
        });
        out.lock().unwrap().take().unwrap()
    }

    #[test]
    fn from_namespace_reads_range_and_reserved_ports() {
        let (r, res) = from_sysctls(Ok("1024\t2048\n"), Ok("1030,2000-2100\n"));
        assert_eq!(r, (1024, 2048));
        assert_eq!(res, [1030].into_iter().chain(2000..=2048).collect());
    }

    #[test]
    fn from_namespace_falls_back_like_go() {
        let fallback = (DEFAULT_PORT_RANGE_START, DEFAULT_PORT_RANGE_END);
        // Unreadable or unparsable range: 49153-65535.
        assert_eq!(from_sysctls(Err(Errno::EACCES), Ok("")).0, fallback);
        assert_eq!(from_sysctls(Ok("1024 2048"), Ok("")).0, (1024, 2048));
        assert_eq!(from_sysctls(Ok("1024\n2048"), Ok("")).0, fallback);
        assert_eq!(from_sysctls(Ok("1024,2048"), Ok("")).0, fallback);
        assert_eq!(from_sysctls(Ok("1024\t70000"), Ok("")).0, fallback);
        // Reserved ports are clamped to the range read; errors mean none.
        assert_eq!(
            from_sysctls(Err(Errno::EACCES), Ok("50000,8080")).1,
            [50000].into()
        );
        assert!(
            from_sysctls(Ok("32768\t60999"), Ok("40000,abc"))
                .1
                .is_empty()
        );
        assert!(
            from_sysctls(Ok("32768\t60999"), Err(Errno::EACCES))
                .1
                .is_empty()
        );
    }

    /// The trace's lazy texts: a request and a release say how their
    /// lines start (so a reader rules them out without writing them), and
    /// an allocated port is its number.
    #[test]
    fn trace_texts_know_their_head_and_number() {
        let req = Request {
            ips: Ips::of(&[ip("127.0.0.1"), ip("::1")]),
            proto: Text::from_static("tcp"),
            start: 0,
            end: 0,
        };
        assert_eq!(req.head(), "RequestPortsInRange [");
        assert_eq!(
            Text::lazy(req).as_str(),
            "RequestPortsInRange [127.0.0.1 ::1] tcp 0-0"
        );
        // One address, and more than fit in place, read the same way.
        for (ips, text) in [
            (vec![ip("::1")], "[::1]"),
            (
                vec![ip("127.0.0.1"), ip("127.0.0.2"), ip("::1")],
                "[127.0.0.1 127.0.0.2 ::1]",
            ),
        ] {
            let req = Request {
                ips: Ips::of(&ips),
                proto: proto_text("udp"),
                start: 8000,
                end: 8010,
            };
            assert_eq!(
                Text::lazy(req).as_str(),
                format!("RequestPortsInRange {text} udp 8000-8010")
            );
        }
        let rel = Release {
            ip: ip("0.0.0.0"),
            proto: Text::from_static("udp"),
            port: 32768,
        };
        assert_eq!(rel.head(), "ReleasePort ");
        assert_eq!(Text::lazy(rel).as_str(), "ReleasePort 0.0.0.0 udp 32768");
        assert_eq!(Port(32768).number(), Some(32768));
        assert_eq!(Text::lazy(Port(32768)).to_u16(), Some(32768));
    }

    #[test]
    fn layer_is_the_name_given_at_creation() {
        run(|| {
            assert_eq!(new_instance().layer(), "d1/allocator");
        });
    }

    /// `last` of a range no request can create (one end 0) is `None`,
    /// not the default range's pointer.
    #[test]
    fn last_of_a_half_zero_range_is_none() {
        run(|| {
            let p = new_instance();
            let v4 = ip("0.0.0.0");
            assert_eq!(p.last(v4, "tcp", 0, 0), Some(i64::from(END)));
            assert_eq!(p.last(v4, "tcp", 0, i64::from(END)), None);
            assert_eq!(p.last(v4, "tcp", i64::from(BEGIN), 0), None);
        });
    }

    /// One end outside 0..=65535 is enough to refuse the range.
    #[test]
    fn a_range_with_one_end_out_of_bounds_is_invalid() {
        run(|| {
            let p = new_instance();
            let v4 = [ip("0.0.0.0")];
            assert_eq!(
                p.request_ports_in_range("t", &v4, "tcp", 5000, 70000),
                Err(GoError::new("invalid port range: 5000-70000"))
            );
            assert_eq!(
                p.request_ports_in_range("t", &v4, "tcp", -1, 5),
                Err(GoError::new("invalid port range: -1-5"))
            );
            assert!(p.reservations().is_empty());
        });
    }
}
