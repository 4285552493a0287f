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
            format!("attempt {} failed: {err}", attempt + 1),
            "",
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
        let mut bound = Vec::new();
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
        let ap = addr_port(addr, port);
        let id = self
            .kernel
            .bind(who, self.ns, &req, true, owner)
            .map_err(|e| {
                let what = if SOCKET_ERRNOS.contains(&e) {
                    "failed to create socket for"
                } else {
                    "failed to bind host port"
                };
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
