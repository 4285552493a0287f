//! moby's OSAllocator: take a port from the [`PortAllocator`], then prove
//! it free by binding it (and listening, for TCP and SCTP) on every
//! address in the daemon's child namespace; retry on failure.
//!
//! Mirrors `daemon/libnetwork/portallocator/osallocator_linux.go` at moby
//! b985e2313a: `maxAllocateAttempts`, `OSAllocator.RequestPortsInRange`,
//! `attemptAllocation`, `ReleasePorts`, `listenTCP`, `bindTCPOrUDP`,
//! `listenSCTP` and `bindSCTP`. Socket filters, IP_PKTINFO and the SCTP
//! init message do not change which ports are free and are not modelled.
//! dockerd is root in its own namespaces, so binds are privileged.

use super::PortAllocator;
use crate::error::{GoError, Kind};
use crate::kernel::{BindReq, Errno, Kernel, NsId, Proto, SockId, addr_port};
use crate::trace::{Render, Text};
use std::net::IpAddr;

/// `maxAllocateAttempts`: how many ports one request may try.
pub const MAX_ALLOCATE_ATTEMPTS: usize = 10;

/// How each protocol's probe socket is opened (`listenTCP` /
/// `bindTCPOrUDP` / `listenSCTP`).
struct SockKind {
    /// SO_REUSEADDR (set for TCP only).
    reuse_addr: bool,
    /// Whether listen(2) follows the bind; the name in its error text.
    listen: Option<&'static str>,
}

fn sock_kind(proto: Proto) -> SockKind {
    match proto {
        Proto::Tcp => SockKind {
            reuse_addr: true,
            listen: Some("tcp"),
        },
        Proto::Udp => SockKind {
            reuse_addr: false,
            listen: None,
        },
        Proto::Sctp => SockKind {
            reuse_addr: false,
            listen: Some("sctp"),
        },
    }
}

/// Errnos that socket(2) itself returns; anything else comes from bind(2).
const SOCKET_ERRNOS: [Errno; 2] = [Errno::EPROTONOSUPPORT, Errno::EAFNOSUPPORT];

/// The warning of a failed attempt, `attempt 2 failed: <err>`, written
/// when read.
struct Warning {
    /// Counted from 1.
    attempt: usize,
    err: String,
}

impl Render for Warning {
    fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = write!(out, "attempt {} failed: {}", self.attempt, self.err);
    }

    fn head(&self) -> &'static str {
        "attempt "
    }
}

/// One daemon's OSAllocator, probing in namespace `ns` (its child).
pub struct OsAllocator<'a> {
    pub allocator: &'a PortAllocator,
    pub kernel: &'a Kernel,
    pub ns: NsId,
}

impl<'a> OsAllocator<'a> {
    /// `OSAllocator.RequestPortsInRange` (osallocator_linux.go, moby
    /// b985e2313a): up to [`MAX_ALLOCATE_ATTEMPTS`] attempts; a fixed port
    /// (`start == end != 0`) or "all ports are allocated" ends at the first
    /// failure, otherwise the last attempt's error is returned. Each failed
    /// attempt Go logs a warning for writes a trace line `attempt N failed:
    /// <err>` (none for "all ports are allocated", which Go does not log).
    /// The returned sockets are owned by `owner` and stay open.
    pub fn request_ports_in_range(
        &self,
        who: &str,
        owner: &str,
        addrs: &[IpAddr],
        proto: Proto,
        start: i32,
        end: i32,
    ) -> Result<(u16, Vec<SockId>), GoError> {
        let mut last_err = None;
        for i in 0..MAX_ALLOCATE_ATTEMPTS {
            match self.attempt_allocation(who, owner, addrs, proto, start, end) {
                Ok(r) => return Ok(r),
                Err(err) => {
                    if start != 0 && start == end {
                        self.warn(who, i, &err);
                        return Err(err);
                    }
                    if err.kind == Kind::AllPortsAllocated {
                        return Err(err);
                    }
                    self.warn(who, i, &err);
                    last_err = Some(err);
                }
            }
        }
        Err(last_err.expect("MAX_ALLOCATE_ATTEMPTS > 0, so some attempt failed"))
    }

    fn warn(&self, who: &str, attempt: usize, err: &GoError) {
        self.allocator.trace().emit(
            who,
            self.allocator.layer(),
            Text::lazy(Warning {
                attempt: attempt + 1,
                err: err.text.clone(),
            }),
            Text::EMPTY,
        );
    }

    /// `attemptAllocation`: one port from the allocator, then one socket per
    /// address in order. On failure Go's deferred cleanups run in reverse
    /// order of registration: first the sockets bound so far are closed (in
    /// bind order), then the port is released for every address.
    fn attempt_allocation(
        &self,
        who: &str,
        owner: &str,
        addrs: &[IpAddr],
        proto: Proto,
        start: i32,
        end: i32,
    ) -> Result<(u16, Vec<SockId>), GoError> {
        let port = self
            .allocator
            .request_ports_in_range(who, addrs, proto.as_str(), start, end)?;
        let mut bound = Vec::with_capacity(addrs.len());
        for addr in addrs {
            match self.open(who, owner, addr.to_canonical(), port, proto) {
                Ok(id) => bound.push(id),
                Err(err) => {
                    for &id in &bound {
                        // Go only logs a failed close.
                        let _ = self.kernel.close(who, self.ns, id);
                    }
                    for addr in addrs {
                        self.allocator
                            .release_port(who, *addr, proto.as_str(), port);
                    }
                    return Err(err);
                }
            }
        }
        Ok((port, bound))
    }

    /// `listenTCP` / `bindTCPOrUDP` / `listenSCTP` + `bindSCTP`: one socket
    /// bound to `addr:port` (IPv6 sockets with IPV6_V6ONLY=1), listening for
    /// TCP and SCTP.
    ///
    /// A listen failure leaks the bound socket, as Go does (`listenTCP` and
    /// `listenSCTP` return the error without closing it, and it is not yet
    /// in the caller's list of sockets to clean up): it stays open in the
    /// namespace, owned by `leaked:<owner>`.
    fn open(
        &self,
        who: &str,
        owner: &str,
        addr: IpAddr,
        port: u16,
        proto: Proto,
    ) -> Result<SockId, GoError> {
        let kind = sock_kind(proto);
        let req = BindReq {
            proto,
            addr,
            port,
            reuse_addr: kind.reuse_addr,
            reuse_port: false,
            v6only: addr.is_ipv6(),
        };
        let id = self
            .kernel
            .bind(who, self.ns, &req, true, owner)
            .map_err(|e| {
                let what = if SOCKET_ERRNOS.contains(&e) {
                    "failed to create socket for"
                } else {
                    "failed to bind host port"
                };
                let ap = addr_port(addr, port);
                GoError::with_errno(format!("{what} {ap}/{proto}: {e}"), e)
            })?;
        if let Some(name) = kind.listen {
            if let Err(e) = self.kernel.listen(who, self.ns, id) {
                self.kernel
                    .set_owner(self.ns, id, &format!("leaked:{owner}"));
                return Err(GoError::with_errno(
                    format!("failed to listen on {name} socket: {e}"),
                    e,
                ));
            }
        }
        Ok(id)
    }

    /// `ReleasePorts`: release `port` for every address. Does not close the
    /// sockets; the caller does.
    pub fn release_ports(&self, who: &str, addrs: &[IpAddr], proto: Proto, port: u16) {
        for addr in addrs {
            self.allocator
                .release_port(who, *addr, proto.as_str(), port);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::sim::SimNet;
    use crate::kernel::{Net, NsConfig, SockInfo};
    use crate::sync;
    use crate::trace::Trace;
    use std::sync::{Arc, Mutex};

    const CHILD: NsId = NsId(1);
    const PROTOS: [Proto; 3] = [Proto::Tcp, Proto::Udp, Proto::Sctp];

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Run `f` in one execution with a host and a child namespace over
    /// `net` (the simulated kernel unless a test wraps it), the daemon's
    /// allocator reading the child's sysctls (32768-60999).
    fn with_net<N: Net + 'static>(
        net: impl Fn() -> N + Send + Sync + 'static,
        f: impl Fn(&OsAllocator, &Kernel, &Arc<N>, &Arc<Trace>) + Send + Sync + 'static,
    ) {
        sync::run_once(move || {
            let t = Trace::new();
            let n = Arc::new(net());
            let cfgs = [NsConfig::default(), NsConfig::default()];
            let k = Kernel::new(n.clone(), &cfgs, t.clone()).unwrap();
            let pa = PortAllocator::from_namespace(&k, CHILD, "d1/allocator");
            assert_eq!(pa.range(), (32768, 60999));
            let oa = OsAllocator {
                allocator: &pa,
                kernel: &k,
                ns: CHILD,
            };
            f(&oa, &k, &n, &t);
        });
    }

    fn with_world(f: impl Fn(&OsAllocator, &Kernel, &Arc<Trace>) + Send + Sync + 'static) {
        with_net(SimNet::new, move |oa, k, _, t| f(oa, k, t));
    }

    /// What Go's `net.ListenTCP("tcp", 0.0.0.0:P)` / `ListenUDP("udp", ...)`
    /// in moby's tests opens: a dual-stack [::]:P (TCP with RA, listening).
    fn go_listen_any(k: &Kernel, proto: Proto, port: u16) -> SockId {
        let req = BindReq {
            proto,
            addr: ip("::"),
            port,
            reuse_addr: proto == Proto::Tcp,
            reuse_port: false,
            v6only: false,
        };
        let id = k.bind("occ", CHILD, &req, false, "occupant").unwrap();
        if proto == Proto::Tcp {
            k.listen("occ", CHILD, id).unwrap();
        }
        id
    }

    /// Our sockets in the child namespace: (proto, addr, port, listening).
    fn ours(k: &Kernel, owner: &str) -> Vec<(Proto, IpAddr, u16, bool)> {
        k.sockets(CHILD)
            .into_iter()
            .filter(|(_, o)| o == owner)
            .map(|(s, _)| (s.req.proto, s.req.addr, s.req.port, s.listening))
            .collect()
    }

    fn close_all(k: &Kernel, socks: &[SockId]) {
        for &s in socks {
            k.close("t", CHILD, s).unwrap();
        }
    }

    fn sctp_unsupported(addr: &str) -> GoError {
        GoError::with_errno(
            format!("failed to create socket for {addr}/sctp: protocol not supported"),
            Errno::EPROTONOSUPPORT,
        )
    }

    /// TestAllocateExactPort. SCTP: the simulated kernel has no SCTP, so
    /// the request fails at socket(2) where moby's test (on a kernel with
    /// the sctp module) gets a socket; the port is released again.
    #[test]
    fn test_allocate_exact_port() {
        with_world(|oa, k, _| {
            let addrs = [ip("0.0.0.0")];
            for proto in PROTOS {
                let r = oa.request_ports_in_range("t", "c1", &addrs, proto, 31234, 31234);
                if proto == Proto::Sctp {
                    assert_eq!(r, Err(sctp_unsupported("0.0.0.0:31234")));
                    assert!(oa.allocator.reservations().is_empty());
                    assert!(ours(k, "c1").is_empty());
                    continue;
                }
                let (port, socks) = r.unwrap();
                assert_eq!(port, 31234);
                assert_eq!(socks.len(), 1);
                assert_eq!(
                    ours(k, "c1"),
                    vec![(proto, ip("0.0.0.0"), 31234, proto == Proto::Tcp)]
                );
                close_all(k, &socks);
                oa.release_ports("t", &addrs, proto, port);
                assert!(oa.allocator.reservations().is_empty());
            }
        });
    }

    /// TestAllocateExactPortForMultipleAddrs: one socket per address, in
    /// order, with the right address, port and protocol.
    #[test]
    fn test_allocate_exact_port_for_multiple_addrs() {
        with_world(|oa, k, _| {
            let addrs = [ip("127.0.0.1"), ip("127.0.0.2"), ip("127.0.0.3"), ip("::1")];
            for proto in PROTOS {
                let r = oa.request_ports_in_range("t", "c1", &addrs, proto, 31234, 31234);
                if proto == Proto::Sctp {
                    assert_eq!(r, Err(sctp_unsupported("127.0.0.1:31234")));
                    assert!(oa.allocator.reservations().is_empty());
                    continue;
                }
                let (port, socks) = r.unwrap();
                assert_eq!(port, 31234);
                assert_eq!(socks.len(), addrs.len());
                let infos: Vec<SockInfo> = k.sockets(CHILD).into_iter().map(|(s, _)| s).collect();
                for (i, id) in socks.iter().enumerate() {
                    let s = infos.iter().find(|s| s.id == *id).unwrap();
                    assert_eq!(s.req.addr, addrs[i]);
                    assert_eq!(s.req.port, port);
                    assert_eq!(s.req.proto, proto);
                    assert_eq!(s.req.reuse_addr, proto == Proto::Tcp);
                    assert_eq!(s.req.v6only, addrs[i].is_ipv6());
                    assert_eq!(s.listening, proto == Proto::Tcp);
                }
                close_all(k, &socks);
                oa.release_ports("t", &addrs, proto, port);
            }
        });
    }

    /// TestAllocateExactPortInUse: a fixed port held by a program fails at
    /// once with the bind error; after the program closes it, it works.
    #[test]
    fn test_allocate_exact_port_in_use() {
        with_world(|oa, k, t| {
            let addrs = [ip("127.0.0.1")];
            for proto in [Proto::Tcp, Proto::Udp] {
                let l = go_listen_any(k, proto, 12345);
                let before = t.len();
                let err = oa
                    .request_ports_in_range("t", "c1", &addrs, proto, 12345, 12345)
                    .unwrap_err();
                assert_eq!(
                    err.text,
                    format!(
                        "failed to bind host port 127.0.0.1:12345/{proto}: address already in use"
                    )
                );
                assert!(err.is_errno(Errno::EADDRINUSE));
                // One attempt only: request, bind, release, warning.
                assert_eq!(t.len() - before, 4);
                k.close("occ", CHILD, l).unwrap();
                let (port, socks) = oa
                    .request_ports_in_range("t", "c1", &addrs, proto, 12345, 12345)
                    .unwrap();
                assert_eq!(port, 12345);
                close_all(k, &socks);
                oa.release_ports("t", &addrs, proto, port);
            }
            // No SCTP in the simulated kernel (moby's test expects the bind
            // error from a kernel that has it).
            assert_eq!(
                oa.request_ports_in_range("t", "c1", &addrs, Proto::Sctp, 12345, 12345),
                Err(sctp_unsupported("127.0.0.1:12345"))
            );
        });
    }

    /// TestAllocateRangePortInUse: with 8080 busy, 8080-8081 gives 8081;
    /// the next request spends every attempt re-picking 8080 (8081 is
    /// held) and fails with its bind error; once 8080 closes it is picked.
    #[test]
    fn test_allocate_range_port_in_use() {
        with_world(|oa, k, _| {
            let addrs = [ip("127.0.0.1")];
            for proto in [Proto::Tcp, Proto::Udp] {
                let l = go_listen_any(k, proto, 8080);
                let (port, socks81) = oa
                    .request_ports_in_range("t", "c1", &addrs, proto, 8080, 8081)
                    .unwrap();
                assert_eq!(port, 8081);
                let err = oa
                    .request_ports_in_range("t", "c1", &addrs, proto, 8080, 8081)
                    .unwrap_err();
                assert!(
                    err.text.contains(&format!(
                        "failed to bind host port 127.0.0.1:8080/{proto}: address already in use"
                    )),
                    "{err}"
                );
                k.close("occ", CHILD, l).unwrap();
                let (port80, socks80) = oa
                    .request_ports_in_range("t", "c1", &addrs, proto, 8080, 8081)
                    .unwrap();
                assert_eq!(port80, 8080);
                close_all(k, &socks81);
                close_all(k, &socks80);
                oa.release_ports("t", &addrs, proto, 8081);
                oa.release_ports("t", &addrs, proto, 8080);
                assert!(oa.allocator.reservations().is_empty());
            }
            assert_eq!(
                oa.request_ports_in_range("t", "c1", &addrs, Proto::Sctp, 8080, 8081)
                    .unwrap_err()
                    .text,
                sctp_unsupported("127.0.0.1:8081").text,
                "the last of ten attempts names the port it tried"
            );
        });
    }

    /// TestRepeatAllocation: allocate 8080, release and close, again.
    #[test]
    fn test_repeat_allocation() {
        with_world(|oa, k, _| {
            let addrs = [ip("127.0.0.1")];
            for proto in [Proto::Tcp, Proto::Udp] {
                let (port, socks) = oa
                    .request_ports_in_range("t", "c1", &addrs, proto, 8080, 8080)
                    .unwrap();
                assert_eq!(port, 8080);
                oa.release_ports("t", &addrs, proto, port);
                close_all(k, &socks);
                let (port, socks) = oa
                    .request_ports_in_range("t", "c1", &addrs, proto, 8080, 8080)
                    .unwrap();
                assert_eq!(port, 8080);
                close_all(k, &socks);
                oa.release_ports("t", &addrs, proto, port);
            }
        });
    }

    /// TestOnlyOneSocketBindsUDPPort: a UDP socket bound like moby's own
    /// probe (no SO_REUSEADDR) keeps a second probe out.
    #[test]
    fn test_only_one_socket_binds_udp_port() {
        with_world(|oa, k, _| {
            let req = BindReq {
                proto: Proto::Udp,
                addr: ip("127.0.0.1"),
                port: 5000,
                reuse_addr: false,
                reuse_port: false,
                v6only: false,
            };
            k.bind("occ", CHILD, &req, true, "occupant").unwrap();
            let err = oa
                .request_ports_in_range("t", "c1", &[ip("127.0.0.1")], Proto::Udp, 5000, 5000)
                .unwrap_err();
            assert!(err.text.contains("failed to bind host port"), "{err}");
            assert!(ours(k, "c1").is_empty());
            assert_eq!(k.sockets(CHILD).len(), 1);
        });
    }

    // ---- beyond moby's tests ----

    #[test]
    fn retry_gives_up_after_exactly_ten_attempts_with_the_last_error() {
        with_world(|oa, k, t| {
            let addrs = [ip("127.0.0.1")];
            for p in 40000..40010 {
                let req = BindReq {
                    proto: Proto::Tcp,
                    addr: ip("127.0.0.1"),
                    port: p,
                    reuse_addr: true,
                    reuse_port: false,
                    v6only: false,
                };
                let id = k.bind("occ", CHILD, &req, false, "occupant").unwrap();
                k.listen("occ", CHILD, id).unwrap();
            }
            let before = t.len();
            let err = oa
                .request_ports_in_range("t", "c1", &addrs, Proto::Tcp, 40000, 40019)
                .unwrap_err();
            assert_eq!(
                err,
                GoError::with_errno(
                    "failed to bind host port 127.0.0.1:40009/tcp: address already in use",
                    Errno::EADDRINUSE
                )
            );
            let warnings: Vec<String> = t.events()[before..]
                .iter()
                .filter(|e| e.action.starts_with("attempt "))
                .map(|e| e.action.to_string())
                .collect();
            assert_eq!(warnings.len(), MAX_ALLOCATE_ATTEMPTS);
            assert_eq!(
                warnings[9],
                "attempt 10 failed: failed to bind host port 127.0.0.1:40009/tcp: address already in use"
            );
            assert!(oa.allocator.reservations().is_empty());
            assert!(ours(k, "c1").is_empty());
            // An eleventh attempt would have found a free port.
            let (port, _) = oa
                .request_ports_in_range("t", "c1", &addrs, Proto::Tcp, 40000, 40019)
                .unwrap();
            assert_eq!(port, 40010);
        });
    }

    #[test]
    fn all_ports_allocated_returns_at_once_without_a_warning() {
        with_world(|oa, _, t| {
            let addrs = [ip("127.0.0.1")];
            for p in [40000, 40001] {
                oa.allocator
                    .request_port("x", Some(addrs[0]), "tcp", p)
                    .unwrap();
            }
            let before = t.len();
            let err = oa
                .request_ports_in_range("t", "c1", &addrs, Proto::Tcp, 40000, 40001)
                .unwrap_err();
            assert_eq!(err.kind, Kind::AllPortsAllocated);
            let evs = t.events();
            assert_eq!(evs.len() - before, 1, "one allocator call, no warning");
            assert_eq!(evs[before].result, "error: all ports are allocated");
        });
    }

    #[test]
    fn failure_on_a_later_address_closes_earlier_sockets_then_releases() {
        with_world(|oa, k, t| {
            let addrs = [ip("127.0.0.1"), ip("127.0.0.2")];
            let req = BindReq {
                proto: Proto::Udp,
                addr: addrs[1],
                port: 7000,
                reuse_addr: false,
                reuse_port: false,
                v6only: false,
            };
            k.bind("occ", CHILD, &req, false, "occupant").unwrap();
            let before = t.len();
            let err = oa
                .request_ports_in_range("c1", "c1", &addrs, Proto::Udp, 7000, 7000)
                .unwrap_err();
            assert_eq!(
                err.text,
                "failed to bind host port 127.0.0.2:7000/udp: address already in use"
            );
            let steps: Vec<(String, String)> = t.events()[before..]
                .iter()
                .map(|e| (e.action.to_string(), e.result.to_string()))
                .collect();
            let s = |a: &str, r: &str| (a.to_string(), r.to_string());
            assert_eq!(
                steps,
                vec![
                    s(
                        "RequestPortsInRange [127.0.0.1 127.0.0.2] udp 7000-7000",
                        "7000"
                    ),
                    s("bind udp 127.0.0.1:7000", "ok s2"),
                    s("bind udp 127.0.0.2:7000", "EADDRINUSE"),
                    s("close s2", "ok"),
                    s("ReleasePort 127.0.0.1 udp 7000", ""),
                    s("ReleasePort 127.0.0.2 udp 7000", ""),
                    s(&format!("attempt 1 failed: {}", err.text), ""),
                ]
            );
            assert!(oa.allocator.reservations().is_empty());
            assert!(ours(k, "c1").is_empty());
        });
    }

    #[test]
    fn udp_and_ipv6_probe_options() {
        with_world(|oa, k, _| {
            let addrs = [ip("::1")];
            let (_, socks) = oa
                .request_ports_in_range("t", "c1", &addrs, Proto::Udp, 0, 0)
                .unwrap();
            let (s, _) = k
                .sockets(CHILD)
                .into_iter()
                .find(|(s, _)| s.id == socks[0])
                .unwrap();
            assert_eq!(
                (s.req.reuse_addr, s.req.v6only, s.listening, s.req.port),
                (false, true, false, 32768)
            );
        });
    }

    /// A backend where a program that bound a TCP port with SO_REUSEADDR
    /// (legal next to moby's bound-but-not-listening probe) calls listen(2)
    /// between moby's bind and moby's listen: the interleaving that makes
    /// `listenTCP` fail.
    struct ListenRace {
        inner: SimNet,
        rival: Mutex<Option<SockId>>,
    }

    impl Net for ListenRace {
        fn name(&self) -> &'static str {
            "sim+listen-race"
        }
        fn create_ns(&self, ns: NsId, cfg: &NsConfig) -> Result<(), String> {
            self.inner.create_ns(ns, cfg)
        }
        fn bind(&self, ns: NsId, id: SockId, req: &BindReq, privileged: bool) -> Result<(), Errno> {
            self.inner.bind(ns, id, req, privileged)
        }
        fn listen(&self, ns: NsId, id: SockId) -> Result<(), Errno> {
            if let Some(rival) = self.rival.lock().unwrap().take() {
                if rival != id {
                    self.inner.listen(ns, rival).unwrap();
                }
            }
            self.inner.listen(ns, id)
        }
        fn close(&self, ns: NsId, id: SockId) -> Result<(), Errno> {
            self.inner.close(ns, id)
        }
        fn sockets(&self, ns: NsId) -> Vec<SockInfo> {
            self.inner.sockets(ns)
        }
        fn probe(
            &self,
            ns: NsId,
            req: &BindReq,
            listen: bool,
            privileged: bool,
        ) -> Result<(), Errno> {
            self.inner.probe(ns, req, listen, privileged)
        }
        fn sysctl(&self, ns: NsId, name: &str) -> Result<String, Errno> {
            self.inner.sysctl(ns, name)
        }
    }

    #[test]
    fn listen_failure_leaks_the_bound_socket_like_go() {
        let race = || ListenRace {
            inner: SimNet::new(),
            rival: Mutex::new(None),
        };
        with_net(race, |oa, k, net, _| {
            let req = BindReq {
                proto: Proto::Tcp,
                addr: ip("127.0.0.1"),
                port: 31234,
                reuse_addr: true,
                reuse_port: false,
                v6only: false,
            };
            let rival = k.bind("occ", CHILD, &req, false, "occupant").unwrap();
            *net.rival.lock().unwrap() = Some(rival);
            let err = oa
                .request_ports_in_range("t", "c1", &[ip("127.0.0.1")], Proto::Tcp, 31234, 31234)
                .unwrap_err();
            assert_eq!(
                err,
                GoError::with_errno(
                    "failed to listen on tcp socket: address already in use",
                    Errno::EADDRINUSE
                )
            );
            // The port is released, but moby's bound socket stays open.
            assert!(oa.allocator.reservations().is_empty());
            assert!(ours(k, "c1").is_empty());
            assert_eq!(
                ours(k, "leaked:c1"),
                vec![(Proto::Tcp, ip("127.0.0.1"), 31234, false)]
            );
        });
    }
}
