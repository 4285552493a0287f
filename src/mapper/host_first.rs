//! `host-first`: a proposal (design H1 of `shared/reference/DESIGNS.md`; it
//! exists in no repository). The reviewer's question on moby PR #52927 —
//! should the host namespace be probed first? — answered with the one
//! host-side probe rootlesskit already has: its own listen.
//!
//! Per attempt: take a logical reservation in the PortAllocator only (no
//! child probe yet), `AddPort` it for every request of the group
//! (rootlesskit's listen is the host reservation), then bind the child
//! sockets at exactly that port (bind, and listen for TCP, as the
//! OSAllocator's probe does). A host `EADDRINUSE` (read from rootlesskit's
//! text, as the PR does): `RemovePort` what the group registered, release
//! the reservation, next candidate. A child `EADDRINUSE`: close the child
//! sockets, `RemovePort` all, release, next. Any other error ends the
//! start (the same filter as the PR: rootlesskit's text, so slirp4netns's
//! `slirp_add_hostfwd failed` is not retried). The attempts are bounded
//! by the size of the range (at least ten, as `pr-52927-unbounded`), and
//! `bindings` is truncated before each allocation (as `pr-52927-fixed`).
//!
//! What it would change in moby: `MapPorts` in
//! `daemon/libnetwork/portmappers/nat/mapper_linux.go` reorders the cycle
//! (allocate, `configPortDriver`, then bind), which needs the OSAllocator
//! (`daemon/libnetwork/portallocator/osallocator_linux.go`) to expose "bind
//! these addresses at port P" apart from `RequestPortsInRange`; a child
//! bind failure is reported in the OSAllocator's words and traced as its
//! attempt. In rootlesskit: nothing.
//!
//! Cost: for a moment rootlesskit forwards a host port whose child socket
//! does not exist yet (a connection in that window is refused in the child),
//! and every host collision costs a listen and a close in the host.

use super::common::*;
use super::pr_52927::is_addr_in_use;
use super::pr_52927_fixed::AttemptBound;
use super::{Env, OsFile, Policy, PortBinding, PortBindingReq};
use crate::error::GoError;
use crate::kernel::{BindReq, Errno, Proto, SockId, addr_port};
use std::net::IpAddr;

pub struct HostFirst;

impl Policy for HostFirst {
    fn name(&self) -> &'static str {
        "host-first"
    }

    fn summary(&self) -> &'static str {
        "proposal: reserve, AddPort (host listen) first, then bind the child at that port; retry either collision"
    }

    fn map_ports(
        &self,
        env: &Env,
        who: &str,
        owner: &str,
        cfg: Vec<PortBindingReq>,
    ) -> Result<Vec<PortBinding>, GoError> {
        map_ports(self, env, who, owner, cfg)
    }
}

/// What stopped one attempt, and whether the next candidate may be tried.
enum Collision {
    /// `EADDRINUSE` in the host or the child: try the next port.
    Retry(GoError),
    /// Anything else: give up with this error.
    Fatal(GoError),
}

/// H1's `MapPorts`, with `this` as the receiver `pm`.
pub fn map_ports(
    this: &dyn Policy,
    env: &Env,
    who: &str,
    owner: &str,
    mut cfg: Vec<PortBindingReq>,
) -> Result<Vec<PortBinding>, GoError> {
    if cfg.is_empty() {
        return Ok(Vec::new());
    }
    check_group(&cfg)?;
    let key = group_key(&cfg);
    let max_attempts = AttemptBound::RangeSize.attempts(env, key);

    with_deferred_unmap(this, env, who, |bindings| {
        set_child_host_ips(env, who, &mut cfg);
        let addrs = child_addrs(&cfg);
        let dynamic_port = key.1 == 0 || key.1 != key.2;
        let mut attempt = 0;
        loop {
            bindings.clear();
            let port = env.allocator.request_ports_in_range(
                who,
                &addrs,
                key.0.as_str(),
                i32::from(key.1),
                i32::from(key.2),
            )?;
            bindings.extend(unbound_bindings(&cfg, port));
            let step = match config_port_driver(env, who, bindings) {
                Err(e) if is_addr_in_use(&e) => Err(Collision::Retry(e)),
                Err(e) => Err(Collision::Fatal(e)),
                Ok(()) => match bind_children(env, who, owner, &addrs, key.0, port, attempt) {
                    Ok(socks) => {
                        attach(env, bindings, &socks);
                        Ok(())
                    }
                    Err((e, Errno::EADDRINUSE)) => Err(Collision::Retry(e)),
                    Err((e, _)) => Err(Collision::Fatal(e)),
                },
            };
            let err = match step {
                Ok(()) => return Ok(std::mem::take(bindings)),
                Err(Collision::Fatal(e)) => return Err(e),
                Err(Collision::Retry(e)) => e,
            };
            if !dynamic_port || attempt >= max_attempts - 1 {
                return Err(err);
            }
            undo(this, env, who, bindings);
            env.log(
                who,
                format!(
                    "collision on {port}, attempt {}: retrying with a new port",
                    attempt + 1
                ),
            );
            attempt += 1;
        }
    })
}

/// One binding per request at `port`, no child socket yet.
pub fn unbound_bindings(cfg: &[PortBindingReq], port: u16) -> Vec<PortBinding> {
    cfg.iter()
        .map(|c| {
            let chip = c.child_host_ip.unwrap_or(c.host_ip);
            PortBinding {
                proto: c.proto,
                ip: c.ip,
                port: c.port,
                host_ip: c.host_ip,
                host_port: port,
                host_port_end: port,
                mapper: c.mapper,
                nat: Some((chip, port)),
                bound_socket: None,
                child_host_ip: chip,
                port_driver_remove: None,
                stop_proxy: None,
                rootlesskit_unsupported: false,
            }
        })
        .collect()
}

/// Give each binding its child socket, in request order.
pub fn attach(env: &Env, bindings: &mut [PortBinding], socks: &[SockId]) {
    for (b, s) in bindings.iter_mut().zip(socks) {
        b.bound_socket = Some(OsFile::new(env.ns, *s));
    }
}

/// `UnmapPorts` of a failed attempt (close, RemovePort, release), then
/// nothing of it stays in view of the deferred cleanup.
pub fn undo(this: &dyn Policy, env: &Env, who: &str, bindings: &mut Vec<PortBinding>) {
    if let Err(u) = this.unmap_ports(env, who, bindings) {
        env.log(
            who,
            format!(
                "Failed to release port bindings before retry: {}",
                u.text.replace('\n', "; ")
            ),
        );
    }
    bindings.clear();
}

/// The OSAllocator function H1 needs: bind (and, for TCP, listen) every
/// address at exactly `port` in the child namespace, as `attemptAllocation`
/// probes (SO_REUSEADDR for TCP, V6ONLY=1 on IPv6, the OSAllocator's error
/// texts). On failure the sockets bound so far are closed, the failure is
/// traced as the OSAllocator's attempt `attempt + 1`; the errno says
/// whether the caller may retry.
pub fn bind_children(
    env: &Env,
    who: &str,
    owner: &str,
    addrs: &[IpAddr],
    proto: Proto,
    port: u16,
    attempt: usize,
) -> Result<Vec<SockId>, (GoError, Errno)> {
    let mut bound = Vec::new();
    for addr in addrs {
        let addr = addr.to_canonical();
        match bind_child(env, who, owner, addr, port, proto) {
            Ok(s) => bound.push(s),
            Err((err, errno)) => {
                for &s in &bound {
                    let _ = env.kernel.close(who, env.ns, s);
                }
                env.allocator.trace().emit(
                    who,
                    env.allocator.layer(),
                    format!("attempt {} failed: {err}", attempt + 1),
                    "",
                );
                return Err((err, errno));
            }
        }
    }
    Ok(bound)
}

fn bind_child(
    env: &Env,
    who: &str,
    owner: &str,
    addr: IpAddr,
    port: u16,
    proto: Proto,
) -> Result<SockId, (GoError, Errno)> {
    let req = BindReq {
        proto,
        addr,
        port,
        reuse_addr: proto == Proto::Tcp,
        reuse_port: false,
        v6only: addr.is_ipv6(),
    };
    let ap = addr_port(addr, port);
    let id = env
        .kernel
        .bind(who, env.ns, &req, true, owner)
        .map_err(|e| {
            let what = if matches!(e, Errno::EPROTONOSUPPORT | Errno::EAFNOSUPPORT) {
                "failed to create socket for"
            } else {
                "failed to bind host port"
            };
            (
                GoError::with_errno(format!("{what} {ap}/{proto}: {e}"), e),
                e,
            )
        })?;
    if proto == Proto::Tcp
        && let Err(e) = env.kernel.listen(who, env.ns, id)
    {
        let _ = env.kernel.close(who, env.ns, id);
        return Err((
            GoError::with_errno(format!("failed to listen on tcp socket: {e}"), e),
            e,
        ));
    }
    Ok(id)
}
