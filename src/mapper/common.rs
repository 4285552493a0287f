//! The parts of the nat mapper that both pinned commits share:
//! `UnmapPorts`, `setChildHostIP`, `configPortDriver`, the group check at
//! the top of `MapPorts`, and the loop that turns an allocation into
//! bindings. File `daemon/libnetwork/portmappers/nat/mapper_linux.go`,
//! identical in these functions at b985e2313a and 1afdcdeb27.

use super::{Env, OsFile, PortBinding, PortBindingReq};
use crate::allocator::OsAllocator;
use crate::error::{GoError, Kind};
use crate::kernel::SockId;
use std::net::IpAddr;

/// The check at the top of `MapPorts`: every request of a group shares
/// proto, container port and host range. Go's message prints the first
/// request's container port on both sides.
pub fn check_group(cfg: &[PortBindingReq]) -> Result<(), GoError> {
    let Some(first) = cfg.first() else {
        return Ok(());
    };
    for c in &cfg[1..] {
        if c.proto != first.proto
            || c.port != first.port
            || c.host_port != first.host_port
            || c.host_port_end != first.host_port_end
        {
            return Err(GoError::new(format!(
                "port binding mismatch {}/{}:{}-{}, {}/{}:{}-{}",
                first.port,
                first.proto,
                first.host_port,
                first.host_port_end,
                first.port,
                c.proto,
                c.host_port,
                c.host_port_end
            )));
        }
    }
    Ok(())
}

/// The loop over `cfg` from the end calling `setChildHostIP`: requests
/// whose proto and family the port driver cannot serve are deleted. The
/// port driver client is asked about `hip.Unmap()`; without one the host
/// IP is kept as it is.
pub fn set_child_host_ips(env: &Env, who: &str, cfg: &mut Vec<PortBindingReq>) {
    for i in (0..cfg.len()).rev() {
        match env.pdc {
            None => cfg[i].child_host_ip = Some(cfg[i].host_ip),
            Some(pdc) => match pdc.child_host_ip(cfg[i].proto.as_str(), unmap(cfg[i].host_ip)) {
                Some(chip) => cfg[i].child_host_ip = Some(chip),
                None => {
                    env.log(
                        who,
                        format!(
                            "drop the {} binding for host IP {}: unsupported by the port driver",
                            cfg[i].proto, cfg[i].host_ip
                        ),
                    );
                    cfg.remove(i);
                }
            },
        }
    }
}

/// Go's `netip.Addr.Unmap()`: an IPv4-mapped IPv6 address becomes IPv4.
/// `setChildHostIP`, the NAT address in `MapPorts` and `configPortDriver`
/// all unmap before they look at the family.
pub fn unmap(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// `sliceutil.Map(cfg, ChildHostIP)`: the addresses the allocator probes.
pub fn child_addrs(cfg: &[PortBindingReq]) -> Vec<IpAddr> {
    cfg.iter()
        .map(|c| c.child_host_ip.unwrap_or(c.host_ip))
        .collect()
}

/// The group's shared values, read from `cfg[0]` at the top of `MapPorts`
/// before any request is dropped: proto, host port, host port end.
pub fn group_key(cfg: &[PortBindingReq]) -> (crate::kernel::Proto, u16, u16) {
    (cfg[0].proto, cfg[0].host_port, cfg[0].host_port_end)
}

/// `pa.RequestPortsInRange(addrs, proto, int(hostPort), int(hostPortEnd))`
/// on the daemon's OS allocator.
pub fn request_ports(
    env: &Env,
    who: &str,
    owner: &str,
    key: (crate::kernel::Proto, u16, u16),
    addrs: &[IpAddr],
) -> Result<(u16, Vec<SockId>), GoError> {
    let pa = OsAllocator {
        allocator: env.allocator,
        kernel: env.kernel,
        ns: env.ns,
    };
    pa.request_ports_in_range(who, owner, addrs, key.0, i32::from(key.1), i32::from(key.2))
}

/// The loop in `MapPorts` that builds one binding per request for the
/// allocated port, each holding its child socket.
pub fn make_bindings(
    env: &Env,
    cfg: &[PortBindingReq],
    port: u16,
    socks: &[SockId],
) -> Vec<PortBinding> {
    cfg.iter()
        .zip(socks)
        .map(|(c, s)| {
            let chip = c.child_host_ip.unwrap_or(c.host_ip);
            PortBinding {
                proto: c.proto,
                ip: c.ip,
                port: c.port,
                host_ip: c.host_ip,
                host_port: port,
                host_port_end: port,
                mapper: c.mapper,
                nat: Some((unmap(chip), port)),
                bound_socket: Some(OsFile::new(env.ns, *s)),
                child_host_ip: chip,
                port_driver_remove: None,
                stop_proxy: None,
                rootlesskit_unsupported: false,
            }
        })
        .collect()
}

/// `configPortDriver`: ask rootlesskit for each binding's host port, in
/// order; an unsupported protocol marks the binding and continues, any
/// other error stops at once (earlier bindings keep their registration).
pub fn config_port_driver(env: &Env, who: &str, pbs: &mut [PortBinding]) -> Result<(), GoError> {
    // Go's `for i := range pbs`, kept: the body reads and writes pbs[i].
    #[allow(clippy::needless_range_loop)]
    for i in 0..pbs.len() {
        let Some(pdc) = env.pdc else { continue };
        if pbs[i].host_port == 0 {
            continue;
        }
        // The fields the call reads (Go copies the binding).
        let (proto, host_ip, child_host_ip, host_port) = (
            pbs[i].proto,
            pbs[i].host_ip,
            pbs[i].child_host_ip,
            pbs[i].host_port,
        );
        let r = pdc.add_port(
            who,
            proto.as_str(),
            unmap(host_ip),
            unmap(child_host_ip),
            host_port,
        );
        match r {
            Ok(rm) => pbs[i].port_driver_remove = Some(rm),
            Err(e) => {
                pbs[i].port_driver_remove = None;
                if e.kind == Kind::ProtocolUnsupported {
                    env.log(
                        who,
                        format!(
                            "discarding request for {}: {}",
                            crate::kernel::addr_port(host_ip, host_port),
                            e
                        ),
                    );
                    pbs[i].rootlesskit_unsupported = true;
                    continue;
                }
                return Err(e);
            }
        }
    }
    Ok(())
}

/// `UnmapPorts`: close each binding's socket and remove its rootlesskit
/// port (collecting errors), then release every binding's port.
pub fn unmap_ports(env: &Env, who: &str, pbs: &[PortBinding]) -> Result<(), GoError> {
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
    }
    for pb in pbs {
        env.allocator
            .release_port(who, pb.child_host_ip, pb.proto.as_str(), pb.host_port);
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(GoError::new(errs.join("\n")))
    }
}

/// `bindings := make(...)` and Go's deferred `if retErr != nil {
/// pm.UnmapPorts(ctx, bindings) }`: `body` runs with the slice, and the
/// cleanup sees whatever the slice holds when `body` returns an error.
pub fn with_deferred_unmap(
    this: &dyn super::Policy,
    env: &Env,
    who: &str,
    body: impl FnOnce(&mut Vec<PortBinding>) -> Result<Vec<PortBinding>, GoError>,
) -> Result<Vec<PortBinding>, GoError> {
    let mut bindings: Vec<PortBinding> = Vec::new();
    let result = body(&mut bindings);
    if result.is_err() {
        deferred_unmap(env, who, this, &bindings);
    }
    result
}

/// Run Go's deferred `if retErr != nil { UnmapPorts(bindings) }` and log
/// its error as the Go code does (a warning, never returned).
pub fn deferred_unmap(env: &Env, who: &str, policy: &dyn super::Policy, bindings: &[PortBinding]) {
    env.log(
        who,
        format!("deferred UnmapPorts of {} binding(s)", bindings.len()),
    );
    if let Err(e) = policy.unmap_ports(env, who, bindings) {
        env.log(
            who,
            format!(
                "Failed to release port bindings: {}",
                e.text.replace('\n', "; ")
            ),
        );
    }
}

/// A trace summary of a group: `[0.0.0.0 ::] tcp/80 0-0`.
pub fn describe_group(cfg: &[PortBindingReq]) -> String {
    let mut s = String::with_capacity(32 + 16 * cfg.len());
    describe_group_into(&mut s, cfg);
    s
}

/// [`describe_group`] appended to `s`.
pub fn describe_group_into(s: &mut String, cfg: &[PortBindingReq]) {
    use crate::kernel::{push_decimal, push_ip};
    let Some(c) = cfg.first() else {
        s.push_str("[]");
        return;
    };
    s.push('[');
    for (i, r) in cfg.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        push_ip(s, r.host_ip);
    }
    s.push_str("] ");
    s.push_str(c.proto.as_str());
    s.push('/');
    push_decimal(s, c.port.into());
    s.push(' ');
    push_decimal(s, c.host_port.into());
    s.push('-');
    push_decimal(s, c.host_port_end.into());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::Proto;

    fn req(proto: Proto, port: u16, host_port: u16, host_port_end: u16) -> PortBindingReq {
        PortBindingReq {
            proto,
            ip: "172.17.0.2".parse().unwrap(),
            port,
            host_ip: "0.0.0.0".parse().unwrap(),
            host_port,
            host_port_end,
            mapper: "nat",
            child_host_ip: None,
        }
    }

    /// Any one of proto, container port, host port and host port end
    /// differing makes the group a mismatch; Go prints the first
    /// request's container port on both sides.
    #[test]
    fn a_group_differing_in_any_one_shared_field_is_a_mismatch() {
        let first = req(Proto::Tcp, 80, 8000, 8010);
        let check =
            |other: PortBindingReq| check_group(&[first.clone(), other]).map_err(|e| e.text);
        assert_eq!(check(first.clone()), Ok(()));
        assert_eq!(
            check(req(Proto::Udp, 80, 8000, 8010)),
            Err("port binding mismatch 80/tcp:8000-8010, 80/udp:8000-8010".into())
        );
        assert_eq!(
            check(req(Proto::Tcp, 81, 8000, 8010)),
            Err("port binding mismatch 80/tcp:8000-8010, 80/tcp:8000-8010".into())
        );
        assert_eq!(
            check(req(Proto::Tcp, 80, 8001, 8010)),
            Err("port binding mismatch 80/tcp:8000-8010, 80/tcp:8001-8010".into())
        );
        assert_eq!(
            check(req(Proto::Tcp, 80, 8000, 8011)),
            Err("port binding mismatch 80/tcp:8000-8010, 80/tcp:8000-8011".into())
        );
        assert_eq!(check_group(&[]).map_err(|e| e.text), Ok(()));
    }
}
