//! `docker-28`: the port mapping of moby v28.5.2, the behaviour whose loss
//! moby#53153 reports as a regression. At that tag there is no nat port
//! mapper: the bridge driver allocates, binds and retries itself, so this
//! policy replaces the bridge driver's port code ([`Policy::bridge_ports`])
//! rather than `MapPorts`.
//!
//! Ported statement by statement from
//! `libnetwork/drivers/bridge/port_mapping_linux.go` at v28.5.2:
//! `addPortMappings` (from the grouping loop on), `needSamePort`,
//! `setChildHostIP` with the rlkclient's `ChildHostIP`
//! (`libnetwork/drivers/bridge/internal/rlkclient/rootlesskit_client_linux.go`),
//! `bindHostPorts`, `attemptBindHostPorts`, `bindTCPOrUDP`,
//! `configPortDriver`, `tcpListenBoundPorts`, `releasePortBindings`; the
//! stop is `RevokeExternalConnectivity` (`bridge_linux.go`: `configNetwork`
//! held) then `releasePorts`. The allocator is `portallocator.go` at the
//! tag: the logical PortAllocator only (no OSAllocator, no child probe),
//! and it does not skip `ip_local_reserved_ports`
//! ([`Policy::skips_reserved_ports`]).
//!
//! One attempt, in order: reserve a port for every child address (an error
//! returns before any cleanup is registered); defer A: release it for every
//! address; defer B: `releasePortBindings` of the bindings made so far; per
//! request a bind-only child socket (SO_REUSEADDR for TCP and UDP,
//! IPV6_V6ONLY=1 on AF_INET6, no listen yet); `configPortDriver` (one
//! `AddPort` per binding); the firewall (not modelled: it holds no ports);
//! listen(2) on every TCP socket. A failed attempt runs B then A (LIFO), so
//! a bound port is released twice — harmless while `configNetwork` is held.
//! `bindHostPorts` retries the whole attempt up to `maxAllocatePortAttempts`
//! (10) times, whatever the error, except for a fixed port, which is tried
//! once. docker-proxy starts after every group is bound, outside the retry.
//!
//! Differences from moby master that this port keeps: every host IP's
//! child address collapses to 127.0.0.1 / ::1 (or the network driver's
//! child IP), with no protocol check (an unsupported protocol shows up as
//! `AddPort`'s `ProtocolUnsupportedError`); `needSamePort` also compares
//! the bindings' container IP, but on the user's configs, where it is not
//! yet set (nil = nil), so the groups are master's; on stop each binding's
//! socket is closed, its rootlesskit port removed and its proxy stopped
//! before any port is released.
//!
//! Deviation: within a group, the requests come in master's order (by host
//! IP), where v28 orders them by the configs' host IP with an unspecified
//! address's IPv4 and IPv6 expansions adjacent. They differ only when one
//! container publishes a port on both an unspecified and a specific
//! address. SCTP (no userland-proxy hand-over at v28, `startSCTPProxy`) is
//! not modelled: the simulated kernel has no SCTP.

use super::common::{check_group, describe_group};
use super::{BridgeHooks, BridgePorts, Env, OsFile, Policy, PortBinding, PortBindingReq, RlkExt};
use crate::error::GoError;
use crate::kernel::{BindReq, Errno, Proto, SockId};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `maxAllocatePortAttempts` (bridge_linux.go, v28.5.2).
pub const MAX_ALLOCATE_PORT_ATTEMPTS: usize = 10;

pub struct Docker28;

impl Policy for Docker28 {
    fn name(&self) -> &'static str {
        "docker-28"
    }

    fn summary(&self) -> &'static str {
        "moby v28.5.2: bridge driver retries allocate+bind+AddPort+listen 10 times, any error"
    }

    /// `bindHostPorts` for one group (the bridge driver reaches it through
    /// [`Policy::bridge_ports`]).
    fn map_ports(
        &self,
        env: &Env,
        who: &str,
        owner: &str,
        mut cfg: Vec<PortBindingReq>,
    ) -> Result<Vec<PortBinding>, GoError> {
        for c in &mut cfg {
            c.child_host_ip = Some(child_host_ip(env, c.host_ip));
        }
        bind_host_ports(env, who, owner, &cfg)
    }

    /// `releasePortBindings` without docker-proxy (the bridge driver's
    /// stop goes through [`Policy::bridge_ports`], which stops proxies).
    fn unmap_ports(&self, env: &Env, who: &str, pbs: &[PortBinding]) -> Result<(), GoError> {
        release_port_bindings(env, None, who, pbs)
    }

    fn bridge_ports(&self) -> Option<&dyn BridgePorts> {
        Some(self)
    }

    fn skips_reserved_ports(&self) -> bool {
        false
    }

    fn rootlesskit_ext(&self) -> RlkExt {
        RlkExt::default()
    }
}

impl BridgePorts for Docker28 {
    /// `addPortMappings` from the grouping loop on: `bindings` is in view
    /// of the deferred `releasePortBindings` when a group fails.
    fn add_port_mappings(
        &self,
        env: &Env,
        hooks: &dyn BridgeHooks,
        who: &str,
        owner: &str,
        mut reqs: Vec<PortBindingReq>,
    ) -> Result<Vec<PortBinding>, GoError> {
        // configurePortBindingIPv4/IPv6 end with setChildHostIP.
        for c in &mut reqs {
            c.child_host_ip = Some(child_host_ip(env, c.host_ip));
        }
        let mut bindings: Vec<PortBinding> = Vec::new();
        let r = (|| {
            let mut to_bind: Vec<PortBindingReq> = Vec::new();
            for (i, c) in reqs.iter().enumerate() {
                to_bind.push(c.clone());
                if i + 1 < reqs.len() && need_same_port(c, &reqs[i + 1]) {
                    continue;
                }
                hooks.set_failed_group(who, Some(to_bind.clone()));
                let what = format!("bindHostPorts {}", describe_group(&to_bind));
                let layer = format!("{}/bridge", env.daemon);
                let new_b = match bind_host_ports(env, who, owner, &to_bind) {
                    Ok(b) => b,
                    Err(e) => {
                        // Not `error: `: the leaf error was traced where it arose.
                        env.kernel
                            .trace()
                            .emit(who, &layer, what, format!("failed: {}", e.text));
                        return Err(e);
                    }
                };
                let ports: Vec<String> = new_b.iter().map(|b| b.host_port.to_string()).collect();
                env.kernel
                    .trace()
                    .emit(who, &layer, what, format!("ok {}", ports.join(",")));
                hooks.set_failed_group(who, None);
                bindings.extend(new_b);
                to_bind.clear();
            }
            // Start userland proxy processes (startProxy cannot fail here).
            for b in bindings.iter_mut() {
                if b.bound_socket.is_none() || b.rootlesskit_unsupported || b.stop_proxy.is_some() {
                    continue;
                }
                hooks.start_proxy(env, who, b);
            }
            Ok(bindings.clone())
        })();
        if r.is_err()
            && let Err(e) = release_port_bindings(env, Some(hooks), who, &bindings)
        {
            log(
                env,
                who,
                format!("Release port bindings: {}", e.text.replace('\n', "; ")),
            );
        }
        r
    }

    fn release_port_bindings(
        &self,
        env: &Env,
        hooks: &dyn BridgeHooks,
        who: &str,
        pbs: &[PortBinding],
    ) -> Result<(), GoError> {
        release_port_bindings(env, Some(hooks), who, pbs)
    }

    fn stop_holds_config_network(&self) -> bool {
        true
    }
}

/// `needSamePort` (v28.5.2): also `a.IP.Equal(b.IP)`, where moby compares
/// the user's configs (container IP unset); see the module doc.
fn need_same_port(a: &PortBindingReq, b: &PortBindingReq) -> bool {
    a.port == b.port
        && a.proto == b.proto
        && a.host_port == b.host_port
        && a.host_port_end == b.host_port_end
        && a.mapper == b.mapper
}

/// `setChildHostIP` with v28's `ChildHostIP`: the network driver's child
/// IP if the port driver needs one, else the loopback address of the host
/// IP's family. No protocol check; without rootlesskit, the host IP.
pub fn child_host_ip(env: &Env, host_ip: IpAddr) -> IpAddr {
    let Some(pdc) = env.pdc else {
        return host_ip;
    };
    if let Some(ip) = pdc.child_ip() {
        return ip;
    }
    if host_ip.to_canonical().is_ipv6() {
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    } else {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    }
}

/// `bindHostPorts` (v28.5.2).
pub fn bind_host_ports(
    env: &Env,
    who: &str,
    owner: &str,
    cfg: &[PortBindingReq],
) -> Result<Vec<PortBinding>, GoError> {
    if cfg.is_empty() {
        return Ok(Vec::new());
    }
    // types.InternalErrorf: the kind does not change the text.
    check_group(cfg)?;
    let (proto, host_port, host_port_end) = (cfg[0].proto, cfg[0].host_port, cfg[0].host_port_end);
    let mut err = None;
    for i in 0..MAX_ALLOCATE_PORT_ATTEMPTS {
        match attempt_bind_host_ports(env, who, owner, cfg, proto, host_port, host_port_end) {
            Ok(b) => return Ok(b),
            Err(e) => {
                if host_port != 0 && host_port == host_port_end {
                    log(env, who, format!("Failed to allocate and map port: {e}"));
                    err = Some(e);
                    break;
                }
                log(
                    env,
                    who,
                    format!("Failed to allocate and map port (attempt {}): {e}", i + 1),
                );
                err = Some(e);
            }
        }
    }
    Err(err.expect("at least one attempt"))
}

/// `attemptBindHostPorts` (v28.5.2). `retErr` is what the two deferred
/// cleanups test; they run B (`releasePortBindings(res)`) then A (release
/// the port for every address).
fn attempt_bind_host_ports(
    env: &Env,
    who: &str,
    owner: &str,
    cfg: &[PortBindingReq],
    proto: Proto,
    host_port_start: u16,
    host_port_end: u16,
) -> Result<Vec<PortBinding>, GoError> {
    let addrs: Vec<IpAddr> = cfg
        .iter()
        .map(|c| c.child_host_ip.unwrap_or(c.host_ip))
        .collect();
    let port = env.allocator.request_ports_in_range(
        who,
        &addrs,
        proto.as_str(),
        i32::from(host_port_start),
        i32::from(host_port_end),
    )?;
    let mut res: Vec<PortBinding> = Vec::with_capacity(cfg.len());
    let r = attempt_body(env, who, owner, cfg, proto, port, &mut res);
    if r.is_err() {
        // defer B
        if let Err(e) = release_port_bindings(env, None, who, &res) {
            log(
                env,
                who,
                format!(
                    "Failed to release port bindings: {}",
                    e.text.replace('\n', "; ")
                ),
            );
        }
        // defer A
        for a in &addrs {
            env.allocator.release_port(who, *a, proto.as_str(), port);
        }
    }
    r
}

/// The part of `attemptBindHostPorts` after both defers are registered.
fn attempt_body(
    env: &Env,
    who: &str,
    owner: &str,
    cfg: &[PortBindingReq],
    proto: Proto,
    port: u16,
    res: &mut Vec<PortBinding>,
) -> Result<Vec<PortBinding>, GoError> {
    for c in cfg {
        let pb = match proto {
            Proto::Tcp | Proto::Udp => bind_tcp_or_udp(env, who, owner, c, port)?,
            Proto::Sctp => {
                return Err(GoError::new(format!(
                    "failed to create socket for userland proxy for {}: {}",
                    req_string(c),
                    Errno::EPROTONOSUPPORT
                )));
            }
        };
        res.push(pb);
    }
    config_port_driver(env, who, res)?;
    // fwn.AddPorts: firewall rules are not modelled.
    tcp_listen_bound_ports(env, who, res)?;
    Ok(res.clone())
}

/// `%s` of a `portBindingReq`: its `types.PortBinding`'s `String()`, with
/// the user's host port (empty for 0) and the container IP.
fn req_string(c: &PortBindingReq) -> String {
    PortBinding {
        proto: c.proto,
        ip: c.ip,
        port: c.port,
        host_ip: c.host_ip,
        host_port: c.host_port,
        host_port_end: c.host_port_end,
        mapper: c.mapper,
        nat: None,
        bound_socket: None,
        child_host_ip: c.child_host_ip.unwrap_or(c.host_ip),
        port_driver_remove: None,
        stop_proxy: None,
        rootlesskit_unsupported: false,
    }
    .go_string()
}

/// `bindTCPOrUDP` (v28.5.2): socket, SO_REUSEADDR, IPV6_V6ONLY=1 for
/// AF_INET6, bind to the child host IP at `port`; no listen. A failure is
/// traced on the bridge layer with the error moby returns.
fn bind_tcp_or_udp(
    env: &Env,
    who: &str,
    owner: &str,
    c: &PortBindingReq,
    port: u16,
) -> Result<PortBinding, GoError> {
    let chip = c.child_host_ip.unwrap_or(c.host_ip).to_canonical();
    let req = BindReq {
        proto: c.proto,
        addr: chip,
        port,
        reuse_addr: true,
        reuse_port: false,
        v6only: chip.is_ipv6(),
    };
    let sock: SockId = match env.kernel.bind(who, env.ns, &req, true, owner) {
        Ok(s) => s,
        Err(e) => {
            let text = if matches!(e, Errno::EPROTONOSUPPORT | Errno::EAFNOSUPPORT) {
                format!(
                    "failed to create socket for userland proxy for {}: {e}",
                    req_string(c)
                )
            } else if c.host_port == c.host_port_end {
                format!("failed to bind host port for {}: {e}", req_string(c))
            } else {
                format!("failed to bind host port {port} for {}: {e}", req_string(c))
            };
            return Err(bridge_error(env, who, "bindTCPOrUDP", text, e));
        }
    };
    Ok(PortBinding {
        proto: c.proto,
        ip: c.ip,
        port: c.port,
        host_ip: c.host_ip,
        host_port: port,
        host_port_end: port,
        mapper: c.mapper,
        nat: Some((chip, port)),
        bound_socket: Some(OsFile::new(env.ns, sock)),
        child_host_ip: chip,
        port_driver_remove: None,
        stop_proxy: None,
        rootlesskit_unsupported: false,
    })
}

/// A warning of the bridge driver's port code (there is no nat mapper at
/// v28.5.2), on its trace layer.
fn log(env: &Env, who: &str, text: impl Into<crate::trace::Text>) {
    env.kernel
        .trace()
        .emit(who, &format!("{}/bridge", env.daemon), text, "");
}

/// An error made in the bridge driver's own code, traced on its layer
/// (`error: TEXT`) so the error-fidelity checker sees the leaf error.
fn bridge_error(env: &Env, who: &str, what: &str, text: String, e: Errno) -> GoError {
    env.kernel.trace().emit(
        who,
        &format!("{}/bridge", env.daemon),
        what,
        format!("error: {text}"),
    );
    GoError::with_errno(text, e)
}

/// `configPortDriver` (v28.5.2): as master's, one `AddPort` per binding
/// in order; an unsupported protocol marks the binding and continues, any
/// other error returns at once.
fn config_port_driver(env: &Env, who: &str, pbs: &mut [PortBinding]) -> Result<(), GoError> {
    super::common::config_port_driver(env, who, pbs)
}

/// `tcpListenBoundPorts` (v28.5.2): listen on every bound TCP socket that
/// rootlesskit serves.
fn tcp_listen_bound_ports(env: &Env, who: &str, pbs: &[PortBinding]) -> Result<(), GoError> {
    for pb in pbs {
        let Some(f) = &pb.bound_socket else { continue };
        if pb.rootlesskit_unsupported || pb.proto != Proto::Tcp {
            continue;
        }
        if let Err(e) = env.kernel.listen(who, f.ns, f.sock) {
            return Err(bridge_error(
                env,
                who,
                "tcpListenBoundPorts",
                format!("failed to listen on TCP socket: {e}"),
                e,
            ));
        }
    }
    Ok(())
}

/// `releasePortBindings` (v28.5.2): per binding close its socket, remove
/// its rootlesskit port and stop its proxy; (the firewall, not modelled);
/// then release every binding's port. Errors are joined.
pub fn release_port_bindings(
    env: &Env,
    hooks: Option<&dyn BridgeHooks>,
    who: &str,
    pbs: &[PortBinding],
) -> Result<(), GoError> {
    let mut errs: Vec<String> = Vec::new();
    for pb in pbs {
        if let Some(f) = &pb.bound_socket
            && let Err(e) = f.close(env.kernel, who)
        {
            errs.push(format!(
                "failed to close socket for port mapping {}: {}",
                pb.go_string(),
                e
            ));
        }
        if let Some(rm) = pb.port_driver_remove
            && let Some(pdc) = env.pdc
            && let Err(e) = pdc.remove(who, rm)
        {
            errs.push(e.text);
        }
        if let (Some(p), Some(h)) = (&pb.stop_proxy, hooks) {
            h.stop_proxy(env, who, p);
        }
    }
    for pb in pbs {
        if pb.host_port > 0 {
            env.allocator
                .release_port(who, pb.child_host_ip, pb.proto.as_str(), pb.host_port);
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(GoError::new(errs.join("\n")))
    }
}

#[cfg(test)]
mod tests {
    //! docker-28's `bindHostPorts` and `releasePortBindings` driven
    //! directly, as [`Policy::map_ports`] and [`Policy::unmap_ports`].
    use super::*;
    use crate::allocator::PortAllocator;
    use crate::kernel::sim::SimNet;
    use crate::kernel::{Kernel, NsConfig, NsId};
    use crate::mapper::rlkclient::{PortDriverClient, PortDriverRemove};
    use crate::rootlesskit::builtin::Builtin;
    use crate::trace::Trace;
    use std::sync::Arc;

    struct World {
        kernel: Arc<Kernel>,
        allocator: PortAllocator,
        pdc: PortDriverClient,
    }

    /// One daemon on the builtin driver; its child range is 32768-32769.
    fn world() -> World {
        let child = NsConfig {
            ip_local_port_range: "32768\t32769".into(),
            ..NsConfig::default()
        };
        let kernel = Arc::new(
            Kernel::new(
                Arc::new(SimNet::new()),
                &[NsConfig::default(), child],
                Trace::new(),
            )
            .unwrap(),
        );
        let allocator = PortAllocator::from_namespace(&kernel, NsId::child(0), "d1/allocator");
        let pdc = PortDriverClient::new(Arc::new(Builtin::new(kernel.clone(), "d1/rlk")));
        World {
            kernel,
            allocator,
            pdc,
        }
    }

    fn env(w: &World) -> Env<'_> {
        Env {
            daemon: "d1",
            kernel: &w.kernel,
            ns: NsId::child(0),
            allocator: &w.allocator,
            pdc: Some(&w.pdc),
        }
    }

    fn req(host_ip: &str) -> PortBindingReq {
        PortBindingReq {
            proto: Proto::Tcp,
            ip: "172.17.0.2".parse().unwrap(),
            port: 80,
            host_ip: host_ip.parse().unwrap(),
            host_port: 0,
            host_port_end: 0,
            mapper: "nat",
            child_host_ip: None,
        }
    }

    fn lines(w: &World, layer: &str) -> Vec<String> {
        w.kernel
            .trace()
            .events()
            .iter()
            .filter(|e| e.layer.as_str() == layer)
            .map(|e| {
                if e.result.is_empty() {
                    e.action.to_string()
                } else {
                    format!("{} -> {}", e.action, e.result)
                }
            })
            .collect()
    }

    /// `-p 0:80` on both families: one reservation per child loopback
    /// address, bind-only child sockets, one `AddPort` each, then listen;
    /// the unmap closes, removes and releases all of it.
    #[test]
    fn docker_28_maps_a_dual_stack_group_at_one_port_and_unmaps_it() {
        crate::sync::run_once(|| {
            let w = world();
            let env = env(&w);
            let b = Docker28
                .map_ports(&env, "c1", "d1:c1", vec![req("0.0.0.0"), req("::")])
                .unwrap();
            let got: Vec<_> = b
                .iter()
                .map(|b| {
                    (
                        b.go_string(),
                        b.child_host_ip.to_string(),
                        b.nat.map(|(ip, p)| format!("{ip}:{p}")),
                        b.port_driver_remove,
                        b.bound_socket.is_some(),
                    )
                })
                .collect();
            let rm = |id| Some(PortDriverRemove { id });
            assert_eq!(
                got,
                [
                    (
                        "0.0.0.0:32768:172.17.0.2:80/tcp".to_string(),
                        "127.0.0.1".to_string(),
                        Some("127.0.0.1:32768".to_string()),
                        rm(1),
                        true
                    ),
                    (
                        "[::]:32768:172.17.0.2:80/tcp".to_string(),
                        "::1".to_string(),
                        Some("::1:32768".to_string()),
                        rm(2),
                        true
                    ),
                ]
            );
            assert_eq!(
                lines(&w, "d1/child"),
                [
                    "bind tcp 127.0.0.1:32768 RA -> ok s1",
                    "bind tcp [::1]:32768 RA V6ONLY=1 -> ok s2",
                    "listen s1 -> ok",
                    "listen s2 -> ok",
                ]
            );
            assert_eq!(
                lines(&w, "d1/rlk"),
                [
                    "AddPort tcp4 0.0.0.0:32768 => 127.0.0.1:32768 -> ok id=1",
                    "AddPort tcp6 [::]:32768 => [::1]:32768 -> ok id=2",
                ]
            );
            assert_eq!(w.allocator.reservations().len(), 2);

            Docker28.unmap_ports(&env, "c1", &b).unwrap();
            assert!(w.allocator.reservations().is_empty());
            assert!(w.pdc.driver().ports().is_empty());
            assert!(w.kernel.sockets(NsId::child(0)).is_empty());
            assert!(w.kernel.sockets(NsId::HOST).is_empty());
            assert_eq!(
                lines(&w, "d1/allocator")[1..],
                [
                    "ReleasePort 127.0.0.1 tcp 32768",
                    "ReleasePort ::1 tcp 32768"
                ]
            );
        });
    }

    /// `releasePortBindings` releases only a binding's positive host
    /// port: a binding without one leaves the allocator alone.
    #[test]
    fn releasing_a_binding_without_a_host_port_releases_no_port() {
        crate::sync::run_once(|| {
            let w = world();
            let env = env(&w);
            let r = req("0.0.0.0");
            let unbound = PortBinding {
                proto: r.proto,
                ip: r.ip,
                port: r.port,
                host_ip: r.host_ip,
                host_port: 0,
                host_port_end: 0,
                mapper: r.mapper,
                nat: None,
                bound_socket: None,
                child_host_ip: "127.0.0.1".parse().unwrap(),
                port_driver_remove: None,
                stop_proxy: None,
                rootlesskit_unsupported: false,
            };
            let at_8080 = PortBinding {
                host_port: 8080,
                host_port_end: 8080,
                ..unbound.clone()
            };
            release_port_bindings(&env, None, "c1", &[unbound, at_8080]).unwrap();
            assert_eq!(
                lines(&w, "d1/allocator"),
                ["ReleasePort 127.0.0.1 tcp 8080"]
            );
        });
    }
}
