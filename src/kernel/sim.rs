//! The simulated kernel: per-namespace socket tables with Linux bind rules.
//!
//! [`SimNet`] implements [`Net`] with the rules measured in
//! `shared/reference/LINUX.md` (kernel 6.18, fresh namespaces). It mirrors
//! no Go code; it stands for the kernel the Go code calls. The conflict
//! logic is two pure functions, [`overlap`] (do two bound addresses share
//! packets?) and [`reuse_allows`] (do the reuse options let them coexist?),
//! shaped after Linux's `inet_rcv_saddr_equal` / `inet_bind_conflict` (TCP)
//! and `udp_lib_lport_inuse` (UDP). `data/bind-rules.toml`, run by
//! [`super::rule_table`], checks the whole module against the measured rows.
//!
//! Deliberate limits of the simulation (documented, not Linux):
//! - **SCTP**: bind fails `EPROTONOSUPPORT`, as on a kernel without the
//!   `sctp` module (socket(2) itself fails there).
//! - **Port 0**: bind fails `EINVAL`; the simulation never picks an
//!   ephemeral port (moby's allocator picks ports itself).
//! - **Addresses**: every address counts as local (no `EADDRNOTAVAIL`), so a
//!   world can bind child and parent IPs without configuring interfaces.
//! - **SO_REUSEPORT** groups are assumed to belong to one uid, and there are
//!   no connections, hence no TIME_WAIT sockets.
//! - UDP's early return on the first overlapping SO_REUSEPORT peer in
//!   `udp_lib_lport_inuse` is not modelled: every overlapping socket is
//!   checked, which differs only when a port already mixes RP and non-RP
//!   sockets on different overlapping addresses.
//!
//! The table lives in a [`crate::sync::StateCell`]: [`super::Kernel`]
//! already makes each call one scheduling point, and nothing here may add
//! another.

use super::*;
use std::net::{Ipv4Addr, Ipv6Addr};

/// An address as the kernel's conflict check sees it after bind(2).
///
/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, only bindable with
/// V6ONLY=0) behaves as its IPv4 address, as in Linux's
/// `ipv6_rcv_saddr_equal`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    V4(Ipv4Addr),
    V6 {
        addr: Ipv6Addr,
        /// IPV6_V6ONLY as applied: a specific address forces it to true.
        v6only: bool,
    },
}

impl Bound {
    /// What binding `req` yields, or `EINVAL` for an IPv4-mapped address on
    /// a V6ONLY socket (Linux `__inet6_bind`).
    pub fn of(req: &BindReq) -> Result<Bound, Errno> {
        match req.addr {
            IpAddr::V4(a) => Ok(Bound::V4(a)),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(_) if req.v6only => Err(Errno::EINVAL),
                Some(v4) => Ok(Bound::V4(v4)),
                None => Ok(Bound::V6 {
                    addr: a,
                    v6only: req.v6only || !a.is_unspecified(),
                }),
            },
        }
    }

    /// V6ONLY as the kernel applies it (false for IPv4 and mapped sockets).
    pub fn v6only_effective(self) -> bool {
        matches!(self, Bound::V6 { v6only: true, .. })
    }
}

/// Do sockets bound to `a` and `b` (same proto, same port) overlap?
///
/// Same family: equal addresses, or either is the wildcard. Across
/// families: only `::` with V6ONLY=0, which covers every IPv4 address
/// (0.0.0.0 included). `::` overlaps `::` whatever their V6ONLY.
pub fn overlap(a: Bound, b: Bound) -> bool {
    match (a, b) {
        (Bound::V4(x), Bound::V4(y)) => x == y || x.is_unspecified() || y.is_unspecified(),
        (Bound::V6 { addr: x, .. }, Bound::V6 { addr: y, .. }) => {
            x == y || x.is_unspecified() || y.is_unspecified()
        }
        (Bound::V4(_), Bound::V6 { addr, v6only }) | (Bound::V6 { addr, v6only }, Bound::V4(_)) => {
            addr.is_unspecified() && !v6only
        }
    }
}

/// One open socket as the conflict check sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimSock {
    pub proto: Proto,
    pub port: u16,
    pub bound: Bound,
    /// SO_REUSEADDR
    pub reuse_addr: bool,
    /// SO_REUSEPORT
    pub reuse_port: bool,
    pub listening: bool,
}

impl SimSock {
    /// The socket `req` would create (not yet listening).
    pub fn of(req: &BindReq) -> Result<SimSock, Errno> {
        Ok(SimSock {
            proto: req.proto,
            port: req.port,
            bound: Bound::of(req)?,
            reuse_addr: req.reuse_addr,
            reuse_port: req.reuse_port,
            listening: false,
        })
    }
}

/// May `new` hold the port of the overlapping `existing` socket (same
/// proto, same port) given their reuse options?
///
/// - SO_REUSEPORT on both: always (one uid assumed).
/// - TCP: SO_REUSEADDR on both, and `existing` is not listening. Only the
///   existing socket's state counts, as in Linux's `inet_bind_conflict`;
///   the same rule checks bind(2) (`new` bound only) and listen(2) (`new`
///   about to listen).
/// - UDP: SO_REUSEADDR on both.
pub fn reuse_allows(existing: &SimSock, new: &SimSock) -> bool {
    if existing.reuse_port && new.reuse_port {
        return true;
    }
    let both_ra = existing.reuse_addr && new.reuse_addr;
    match new.proto {
        Proto::Tcp => both_ra && !existing.listening,
        Proto::Udp | Proto::Sctp => both_ra,
    }
}

/// One namespace: its settings and its open sockets.
struct NsTable {
    cfg: NsConfig,
    /// Open sockets, sorted by id (a few dozen at most: a sorted vector
    /// is searched and walked faster than a tree).
    socks: Vec<(SockId, BindReq, SimSock)>,
}

impl NsTable {
    /// Where socket `id` is in `socks` (`Err`: where it would go).
    fn find(&self, id: SockId) -> Result<usize, usize> {
        self.socks.binary_search_by_key(&id, |s| s.0)
    }

    /// `EADDRINUSE` when an open socket other than `me` with the same proto
    /// and port overlaps `sock` and the reuse options do not allow both.
    fn conflicts(&self, me: Option<SockId>, sock: &SimSock) -> Result<(), Errno> {
        let clash = self.socks.iter().any(|(id, _, other)| {
            Some(*id) != me
                && other.proto == sock.proto
                && other.port == sock.port
                && overlap(other.bound, sock.bound)
                && !reuse_allows(other, sock)
        });
        if clash {
            Err(Errno::EADDRINUSE)
        } else {
            Ok(())
        }
    }

    /// The checks of socket(2) + bind(2), in the kernel's order; the socket
    /// that would result. No mutation.
    fn check_bind(&self, req: &BindReq, privileged: bool) -> Result<SimSock, Errno> {
        if req.proto == Proto::Sctp {
            return Err(Errno::EPROTONOSUPPORT);
        }
        if req.port == 0 {
            return Err(Errno::EINVAL);
        }
        if req.port < self.cfg.ip_unprivileged_port_start && !privileged {
            return Err(Errno::EACCES);
        }
        let sock = SimSock::of(req)?;
        self.conflicts(None, &sock)?;
        Ok(sock)
    }

    /// The checks of listen(2) on `sock` (open as `me`, or about to be);
    /// the socket as it would then be. No mutation.
    fn check_listen(&self, me: Option<SockId>, sock: &SimSock) -> Result<SimSock, Errno> {
        if sock.proto != Proto::Tcp {
            return Err(Errno::EOPNOTSUPP);
        }
        if sock.listening {
            return Ok(*sock);
        }
        let listening = SimSock {
            listening: true,
            ..*sock
        };
        self.conflicts(me, &listening)?;
        Ok(listening)
    }
}

/// Simulated namespaces (see the module doc for the rules).
#[derive(Default)]
pub struct SimNet {
    /// Indexed by [`NsId`]; `None` for a namespace not created.
    tables: crate::sync::StateCell<Vec<Option<NsTable>>>,
}

impl SimNet {
    pub fn new() -> SimNet {
        SimNet::default()
    }

    fn tables(&self) -> impl std::ops::DerefMut<Target = Vec<Option<NsTable>>> + '_ {
        crate::sync::state(&self.tables)
    }
}

/// An unknown namespace is a bug in the caller: `EINVAL`.
fn table(tables: &[Option<NsTable>], ns: NsId) -> Result<&NsTable, Errno> {
    tables
        .get(ns.0)
        .and_then(Option::as_ref)
        .ok_or(Errno::EINVAL)
}

fn table_mut(tables: &mut [Option<NsTable>], ns: NsId) -> Result<&mut NsTable, Errno> {
    tables
        .get_mut(ns.0)
        .and_then(Option::as_mut)
        .ok_or(Errno::EINVAL)
}

impl Net for SimNet {
    fn name(&self) -> &'static str {
        "sim"
    }

    fn create_ns(&self, ns: NsId, cfg: &NsConfig) -> Result<(), String> {
        let mut tables = self.tables();
        if table(&tables, ns).is_ok() {
            return Err(format!("namespace {ns} already exists"));
        }
        if tables.len() <= ns.0 {
            tables.resize_with(ns.0 + 1, || None);
        }
        tables[ns.0] = Some(NsTable {
            cfg: cfg.clone(),
            socks: Vec::new(),
        });
        Ok(())
    }

    /// An `id` that is already open is a caller bug: `EINVAL`.
    fn bind(&self, ns: NsId, id: SockId, req: &BindReq, privileged: bool) -> Result<(), Errno> {
        let mut tables = self.tables();
        let t = table_mut(&mut tables, ns)?;
        let Err(at) = t.find(id) else {
            return Err(Errno::EINVAL);
        };
        let sock = t.check_bind(req, privileged)?;
        t.socks.insert(at, (id, *req, sock));
        Ok(())
    }

    fn listen(&self, ns: NsId, id: SockId) -> Result<(), Errno> {
        let mut tables = self.tables();
        let t = table_mut(&mut tables, ns)?;
        let at = t.find(id).map_err(|_| Errno::EBADF)?;
        let sock = t.socks[at].2;
        let listening = t.check_listen(Some(id), &sock)?;
        t.socks[at].2 = listening;
        Ok(())
    }

    fn close(&self, ns: NsId, id: SockId) -> Result<(), Errno> {
        let mut tables = self.tables();
        let t = table_mut(&mut tables, ns)?;
        let at = t.find(id).map_err(|_| Errno::EBADF)?;
        t.socks.remove(at);
        Ok(())
    }

    fn sockets(&self, ns: NsId) -> Vec<SockInfo> {
        let tables = self.tables();
        let Ok(t) = table(&tables, ns) else {
            return Vec::new();
        };
        t.socks
            .iter()
            .map(|(id, req, s)| SockInfo {
                id: *id,
                req: *req,
                v6only_effective: s.bound.v6only_effective(),
                listening: s.listening,
            })
            .collect()
    }

    fn open_ids_into(&self, ns: NsId, out: &mut Vec<SockId>) {
        if let Ok(t) = table(&self.tables(), ns) {
            out.extend(t.socks.iter().map(|(id, _, _)| *id));
        }
    }

    fn probe(&self, ns: NsId, req: &BindReq, listen: bool, privileged: bool) -> Result<(), Errno> {
        let tables = self.tables();
        let t = table(&tables, ns)?;
        let sock = t.check_bind(req, privileged)?;
        if listen {
            t.check_listen(None, &sock)?;
        }
        Ok(())
    }

    fn sysctl(&self, ns: NsId, name: &str) -> Result<String, Errno> {
        let tables = self.tables();
        let cfg = &table(&tables, ns)?.cfg;
        match name {
            "ip_local_port_range" => Ok(cfg.ip_local_port_range.clone()),
            "ip_local_reserved_ports" => Ok(cfg.ip_local_reserved_ports.clone()),
            "ip_unprivileged_port_start" => Ok(cfg.ip_unprivileged_port_start.to_string()),
            _ => Err(Errno::EINVAL),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn req(proto: Proto, addr: &str, port: u16) -> BindReq {
        BindReq {
            proto,
            addr: ip(addr),
            port,
            reuse_addr: false,
            reuse_port: false,
            v6only: false,
        }
    }

    fn bound(addr: &str, v6only: bool) -> Bound {
        Bound::of(&BindReq {
            v6only,
            ..req(Proto::Tcp, addr, 1)
        })
        .unwrap()
    }

    fn sock(proto: Proto, ra: bool, rp: bool, listening: bool) -> SimSock {
        SimSock {
            proto,
            port: 20000,
            bound: bound("0.0.0.0", false),
            reuse_addr: ra,
            reuse_port: rp,
            listening,
        }
    }

    fn net() -> SimNet {
        let n = SimNet::new();
        n.create_ns(NsId(0), &NsConfig::default()).unwrap();
        n.create_ns(NsId(1), &NsConfig::default()).unwrap();
        n
    }

    const A: NsId = NsId(0);
    const B: NsId = NsId(1);

    #[test]
    fn overlap_same_family_equal_or_wildcard() {
        let o = |a, b| overlap(bound(a, false), bound(b, false));
        assert!(o("0.0.0.0", "0.0.0.0"));
        assert!(o("0.0.0.0", "127.0.0.1"));
        assert!(o("127.0.0.1", "0.0.0.0"));
        assert!(o("127.0.0.1", "127.0.0.1"));
        assert!(!o("127.0.0.1", "127.0.0.2"));
        assert!(o("::", "::"));
        assert!(o("::", "::1"));
        assert!(o("::1", "::"));
        assert!(o("::1", "::1"));
        assert!(!o("::1", "fe80::1"));
    }

    #[test]
    fn overlap_dual_stack_wildcard_covers_ipv4() {
        for v4 in ["0.0.0.0", "127.0.0.1"] {
            assert!(overlap(bound("::", false), bound(v4, false)), "{v4}");
            assert!(overlap(bound(v4, false), bound("::", false)), "{v4}");
            assert!(!overlap(bound("::", true), bound(v4, false)), "{v4}");
            assert!(!overlap(bound(v4, false), bound("::", true)), "{v4}");
        }
        assert!(overlap(bound("::", false), bound("::", true)));
        assert!(overlap(bound("::", true), bound("::", false)));
    }

    #[test]
    fn specific_ipv6_forces_v6only_and_never_overlaps_ipv4() {
        for asked in [false, true] {
            let b = bound("::1", asked);
            assert!(b.v6only_effective());
            for v4 in ["0.0.0.0", "127.0.0.1"] {
                assert!(!overlap(b, bound(v4, false)));
                assert!(!overlap(bound(v4, false), b));
            }
        }
        assert!(!bound("::", false).v6only_effective());
        assert!(bound("::", true).v6only_effective());
        assert!(!bound("0.0.0.0", false).v6only_effective());
    }

    #[test]
    fn v4_mapped_behaves_as_ipv4_and_needs_v6only_off() {
        let m = bound("::ffff:127.0.0.1", false);
        assert_eq!(m, Bound::V4(Ipv4Addr::LOCALHOST));
        assert!(overlap(m, bound("127.0.0.1", false)));
        assert!(overlap(m, bound("::", false)));
        assert!(!overlap(m, bound("::", true)));
        let r = BindReq {
            v6only: true,
            ..req(Proto::Tcp, "::ffff:127.0.0.1", 1)
        };
        assert_eq!(Bound::of(&r), Err(Errno::EINVAL));
    }

    #[test]
    fn reuse_allows_follows_the_measured_table() {
        use Proto::*;
        // (proto, existing ra, rp, listening, new ra, rp, allowed)
        let rows = [
            (Tcp, false, false, true, false, false, false),
            (Tcp, true, false, true, false, false, false),
            (Tcp, false, false, true, true, false, false),
            (Tcp, true, false, true, true, false, false),
            (Tcp, true, false, false, true, false, true),
            (Tcp, false, false, false, true, false, false),
            (Tcp, false, true, true, false, true, true),
            (Tcp, false, true, false, false, true, true),
            (Tcp, false, true, true, false, false, false),
            (Tcp, false, false, true, false, true, false),
            (Udp, false, false, false, false, false, false),
            (Udp, true, false, false, false, false, false),
            (Udp, false, false, false, true, false, false),
            (Udp, true, false, false, true, false, true),
            (Udp, false, true, false, false, true, true),
            (Udp, false, true, false, false, false, false),
        ];
        for (i, (p, era, erp, el, nra, nrp, want)) in rows.into_iter().enumerate() {
            let got = reuse_allows(&sock(p, era, erp, el), &sock(p, nra, nrp, false));
            assert_eq!(got, want, "row {i}");
        }
    }

    #[test]
    fn reuse_allows_ignores_the_new_sockets_state() {
        let existing = sock(Proto::Tcp, true, false, false);
        assert!(reuse_allows(
            &existing,
            &sock(Proto::Tcp, true, false, true)
        ));
    }

    #[test]
    fn unknown_namespace_is_einval_and_duplicate_ns_is_an_error() {
        let n = net();
        let r = req(Proto::Tcp, "0.0.0.0", 20000);
        let x = NsId(7);
        assert_eq!(n.bind(x, SockId(1), &r, false), Err(Errno::EINVAL));
        assert_eq!(n.listen(x, SockId(1)), Err(Errno::EINVAL));
        assert_eq!(n.close(x, SockId(1)), Err(Errno::EINVAL));
        assert_eq!(n.probe(x, &r, false, false), Err(Errno::EINVAL));
        assert_eq!(n.sysctl(x, "ip_local_port_range"), Err(Errno::EINVAL));
        assert!(n.sockets(x).is_empty());
        assert!(n.create_ns(A, &NsConfig::default()).is_err());
    }

    #[test]
    fn bind_rejects_sctp_port_zero_and_unprivileged_low_ports() {
        let n = net();
        let r = |p, port| req(p, "0.0.0.0", port);
        assert_eq!(
            n.bind(A, SockId(1), &r(Proto::Sctp, 20000), true),
            Err(Errno::EPROTONOSUPPORT)
        );
        assert_eq!(
            n.bind(A, SockId(1), &r(Proto::Tcp, 0), true),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            n.bind(A, SockId(1), &r(Proto::Udp, 1023), false),
            Err(Errno::EACCES)
        );
        assert!(n.sockets(A).is_empty());
        assert_eq!(n.bind(A, SockId(1), &r(Proto::Udp, 1023), true), Ok(()));
        assert_eq!(n.bind(A, SockId(2), &r(Proto::Tcp, 1024), false), Ok(()));
        // EACCES comes before the conflict check.
        assert_eq!(
            n.bind(A, SockId(3), &r(Proto::Udp, 1023), false),
            Err(Errno::EACCES)
        );
        assert_eq!(
            n.bind(A, SockId(3), &r(Proto::Udp, 1023), true),
            Err(Errno::EADDRINUSE)
        );
    }

    #[test]
    fn unprivileged_start_comes_from_the_namespace() {
        let n = SimNet::new();
        let cfg = NsConfig {
            ip_unprivileged_port_start: 80,
            ..NsConfig::default()
        };
        n.create_ns(A, &cfg).unwrap();
        n.create_ns(B, &NsConfig::default()).unwrap();
        let r = req(Proto::Tcp, "0.0.0.0", 80);
        assert_eq!(n.bind(A, SockId(1), &r, false), Ok(()));
        assert_eq!(n.bind(B, SockId(2), &r, false), Err(Errno::EACCES));
    }

    #[test]
    fn failed_bind_leaves_no_socket_and_open_id_is_einval() {
        let n = net();
        let r = req(Proto::Tcp, "0.0.0.0", 20000);
        n.bind(A, SockId(1), &r, false).unwrap();
        assert_eq!(n.bind(A, SockId(2), &r, false), Err(Errno::EADDRINUSE));
        assert_eq!(n.sockets(A).len(), 1);
        assert_eq!(n.listen(A, SockId(2)), Err(Errno::EBADF));
        let other = req(Proto::Udp, "0.0.0.0", 20001);
        assert_eq!(n.bind(A, SockId(1), &other, false), Err(Errno::EINVAL));
    }

    #[test]
    fn listen_rules() {
        let n = net();
        let ra = BindReq {
            reuse_addr: true,
            ..req(Proto::Tcp, "0.0.0.0", 20000)
        };
        n.bind(A, SockId(1), &ra, false).unwrap();
        n.bind(A, SockId(2), &ra, false).unwrap();
        assert_eq!(n.listen(A, SockId(1)), Ok(()));
        assert_eq!(n.listen(A, SockId(1)), Ok(()));
        assert_eq!(n.listen(A, SockId(2)), Err(Errno::EADDRINUSE));
        assert!(!n.sockets(A)[1].listening);
        assert_eq!(n.listen(A, SockId(9)), Err(Errno::EBADF));
        n.bind(A, SockId(3), &req(Proto::Udp, "0.0.0.0", 20000), false)
            .unwrap();
        assert_eq!(n.listen(A, SockId(3)), Err(Errno::EOPNOTSUPP));
        // A closed listener frees the port at once.
        n.close(A, SockId(1)).unwrap();
        assert_eq!(n.listen(A, SockId(2)), Ok(()));
    }

    #[test]
    fn close_twice_is_ebadf() {
        let n = net();
        n.bind(A, SockId(1), &req(Proto::Udp, "::", 20000), false)
            .unwrap();
        assert_eq!(n.close(A, SockId(1)), Ok(()));
        assert_eq!(n.close(A, SockId(1)), Err(Errno::EBADF));
        assert!(n.sockets(A).is_empty());
    }

    #[test]
    fn sockets_are_ordered_by_id_with_effective_v6only() {
        let n = net();
        n.bind(A, SockId(5), &req(Proto::Tcp, "::1", 20000), false)
            .unwrap();
        n.bind(A, SockId(2), &req(Proto::Tcp, "::", 20001), false)
            .unwrap();
        n.bind(A, SockId(3), &req(Proto::Udp, "127.0.0.1", 20000), false)
            .unwrap();
        n.listen(A, SockId(5)).unwrap();
        let s = n.sockets(A);
        let ids: Vec<u32> = s.iter().map(|i| i.id.0).collect();
        assert_eq!(ids, [2, 3, 5]);
        let v6: Vec<bool> = s.iter().map(|i| i.v6only_effective).collect();
        assert_eq!(v6, [false, false, true]);
        let l: Vec<bool> = s.iter().map(|i| i.listening).collect();
        assert_eq!(l, [false, false, true]);
        assert_eq!(s[2].req, req(Proto::Tcp, "::1", 20000));
        assert!(n.sockets(B).is_empty());
    }

    #[test]
    fn probe_agrees_with_bind_and_listen_and_changes_nothing() {
        let n = net();
        let ra = BindReq {
            reuse_addr: true,
            ..req(Proto::Tcp, "0.0.0.0", 20000)
        };
        n.bind(A, SockId(1), &ra, false).unwrap();
        assert_eq!(n.probe(A, &ra, false, false), Ok(()));
        assert_eq!(n.probe(A, &ra, true, false), Ok(()));
        n.listen(A, SockId(1)).unwrap();
        assert_eq!(n.probe(A, &ra, false, false), Err(Errno::EADDRINUSE));
        assert_eq!(n.probe(B, &ra, true, false), Ok(()));
        let low = req(Proto::Tcp, "0.0.0.0", 80);
        assert_eq!(n.probe(B, &low, false, false), Err(Errno::EACCES));
        assert_eq!(n.probe(B, &low, false, true), Ok(()));
        let udp = req(Proto::Udp, "0.0.0.0", 20000);
        assert_eq!(n.probe(A, &udp, false, false), Ok(()));
        assert_eq!(n.probe(A, &udp, true, false), Err(Errno::EOPNOTSUPP));
        assert_eq!(n.sockets(A).len(), 1);
        assert!(n.sockets(B).is_empty());
    }

    #[test]
    fn probe_listen_sees_a_bound_only_peer_that_is_listening() {
        // Both RA and bound only: the bind is allowed, listening next to a
        // listener is not.
        let n = net();
        let ra = BindReq {
            reuse_addr: true,
            ..req(Proto::Tcp, "127.0.0.1", 20000)
        };
        n.bind(A, SockId(1), &ra, false).unwrap();
        n.bind(A, SockId(2), &ra, false).unwrap();
        n.listen(A, SockId(2)).unwrap();
        assert_eq!(n.listen(A, SockId(1)), Err(Errno::EADDRINUSE));
    }

    #[test]
    fn sysctl_reads_the_namespace_config() {
        let n = SimNet::new();
        let cfg = NsConfig {
            ip_local_port_range: "1000\t2000".into(),
            ip_local_reserved_ports: "8080,30000-30002".into(),
            ip_unprivileged_port_start: 443,
        };
        n.create_ns(A, &cfg).unwrap();
        assert_eq!(
            n.sysctl(A, "ip_local_port_range").as_deref(),
            Ok("1000\t2000")
        );
        assert_eq!(
            n.sysctl(A, "ip_local_reserved_ports").as_deref(),
            Ok("8080,30000-30002")
        );
        assert_eq!(
            n.sysctl(A, "ip_unprivileged_port_start").as_deref(),
            Ok("443")
        );
        assert_eq!(n.sysctl(A, "ip_forward"), Err(Errno::EINVAL));
    }

    #[test]
    fn namespaces_are_independent() {
        let n = net();
        let r = req(Proto::Tcp, "0.0.0.0", 20000);
        n.bind(A, SockId(1), &r, false).unwrap();
        n.listen(A, SockId(1)).unwrap();
        assert_eq!(n.bind(B, SockId(2), &r, false), Ok(()));
        assert_eq!(n.listen(B, SockId(2)), Ok(()));
        assert_eq!(n.close(B, SockId(1)), Err(Errno::EBADF));
    }

    #[test]
    fn different_protocols_never_conflict() {
        let n = net();
        n.bind(A, SockId(1), &req(Proto::Tcp, "0.0.0.0", 20000), false)
            .unwrap();
        n.listen(A, SockId(1)).unwrap();
        assert_eq!(
            n.bind(A, SockId(2), &req(Proto::Udp, "0.0.0.0", 20000), false),
            Ok(())
        );
    }

    #[test]
    fn the_simulated_backend_is_named_sim() {
        assert_eq!(SimNet::new().name(), "sim");
    }
}
