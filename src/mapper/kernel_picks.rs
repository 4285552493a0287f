//! `kernel-picks`: a proposal (design H2 of `shared/reference/DESIGNS.md`;
//! it exists in no repository). The host kernel chooses the port.
//!
//! For a group asking for any port (`-p 0:80`, host range `0-0`): `AddPort`
//! the group's first host IP with `ParentPort: 0` through the rootlesskit
//! extension of [`crate::rootlesskit::ext_port_zero`]; the reply carries the
//! port P the host kernel bound. Then `AddPort` the group's other host IPs
//! at P, claim P in the PortAllocator as a fixed port, and bind the child
//! sockets at P. Any collision (`EADDRINUSE` in the host, "port is already
//! allocated" in the allocator, `EADDRINUSE` in the child, and a program
//! that binds the picked port with SO_REUSEADDR between rootlesskit's
//! bind(0) and its listen) undoes what the attempt did and asks the host
//! kernel again, up to the size of the
//! host's `ip_local_port_range` (at least ten). `bindings` holds an
//! attempt only once its reservation is taken, so the deferred cleanup
//! never releases a port this start did not reserve.
//!
//! A range (`-p 8000-8010:80`) or a fixed port cannot use port 0: such
//! groups, and every group when the port driver does not advertise the
//! extension (the pinned rootlesskit, slirp4netns), go through
//! [`super::host_first`].
//!
//! What it would change: in rootlesskit, `ValidatePortSpec` and the builtin
//! parent's `AddPort` (accept port 0, report and store the bound port,
//! advertise it in `GET /v1/info`); in moby, `MapPorts` of
//! `daemon/libnetwork/portmappers/nat/mapper_linux.go` and the rlkclient
//! (`AddPort` returning the port). Ports then come from the host's
//! ephemeral range rather than the child's, so two daemons sharing a host
//! no longer walk the same sequence (moby#53306).

use super::common::*;
use super::host_first::{attach, bind_children, unbound_bindings, undo};
use super::pr_52927::is_addr_in_use;
use super::{Env, Policy, PortBinding, PortBindingReq, RlkExt};
use crate::error::GoError;
use crate::kernel::{Errno, NsId};
use crate::rootlesskit::ext_port_zero::FEATURE;

/// At least this many attempts (the PR's `maxHostBindAttempts`).
const MIN_ATTEMPTS: usize = 10;

/// How Go's `net.Listen` reports a listen(2) `EADDRINUSE` after a
/// successful bind(2) (rootlesskit's text, through the API).
const LISTEN_IN_USE: &str = ": listen: address already in use";

pub struct KernelPicks;

impl Policy for KernelPicks {
    fn name(&self) -> &'static str {
        "kernel-picks"
    }

    fn summary(&self) -> &'static str {
        "proposal: AddPort with port 0 (rootlesskit extension), the host kernel picks; ranges go host-first"
    }

    fn map_ports(
        &self,
        env: &Env,
        who: &str,
        owner: &str,
        cfg: Vec<PortBindingReq>,
    ) -> Result<Vec<PortBinding>, GoError> {
        let any_port = cfg
            .first()
            .is_some_and(|c| c.host_port == 0 && c.host_port_end == 0);
        let extended = env.pdc.is_some_and(|p| p.has_extension(FEATURE));
        if !any_port || !extended {
            return super::host_first::map_ports(self, env, who, owner, cfg);
        }
        map_ports(self, env, who, owner, cfg)
    }

    fn rootlesskit_ext(&self) -> RlkExt {
        RlkExt { port_zero: true }
    }
}

/// The number of ports of the host's `ip_local_port_range`, at least ten.
fn host_range_size(env: &Env) -> usize {
    let size = env
        .kernel
        .sysctl(NsId::HOST, "ip_local_port_range")
        .ok()
        .and_then(|t| {
            let mut it = t.split_whitespace().map(|x| x.parse::<usize>().ok());
            let (a, b) = (it.next()??, it.next()??);
            Some(b.saturating_sub(a) + 1)
        })
        .unwrap_or(0);
    MIN_ATTEMPTS.max(size)
}

/// H2's `MapPorts` for a group asking for any port, `this` the receiver.
fn map_ports(
    this: &dyn Policy,
    env: &Env,
    who: &str,
    owner: &str,
    mut cfg: Vec<PortBindingReq>,
) -> Result<Vec<PortBinding>, GoError> {
    check_group(&cfg)?;
    let key = group_key(&cfg);
    let max_attempts = host_range_size(env);
    let Some(pdc) = env.pdc else {
        return Err(GoError::new("kernel-picks needs a rootlesskit port driver"));
    };

    with_deferred_unmap(this, env, who, |bindings| {
        set_child_host_ips(env, who, &mut cfg);
        if cfg.is_empty() {
            return Ok(Vec::new());
        }
        let addrs = child_addrs(&cfg);
        let mut attempt = 0;
        loop {
            bindings.clear();
            // 1. The host kernel picks P for the first host IP.
            let first = &cfg[0];
            let picked = pdc.add_port_zero(
                who,
                first.proto.as_str(),
                first.host_ip,
                first.child_host_ip.unwrap_or(first.host_ip),
            );
            let (rm, port) = match picked {
                Ok(x) => x,
                // A program bound the picked port (SO_REUSEADDR on both)
                // between rootlesskit's bind(0) and its listen: ask again.
                // A bind failure means the host range is exhausted.
                Err(e) if e.text.contains(LISTEN_IN_USE) && attempt < max_attempts - 1 => {
                    retry_log(env, who, 0, attempt);
                    attempt += 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut attempt_b = unbound_bindings(&cfg, port);
            attempt_b[0].port_driver_remove = Some(rm);
            // 2. The other host IPs at P. Until the reservation is taken the
            // attempt is undone here, never by the deferred cleanup.
            let err = config_port_driver(env, who, &mut attempt_b[1..]).err();
            if let Some(e) = err {
                remove_host_ports(env, who, &attempt_b);
                if !is_addr_in_use(&e) || attempt >= max_attempts - 1 {
                    return Err(e);
                }
                retry_log(env, who, port, attempt);
                attempt += 1;
                continue;
            }
            // 3. P in the allocator, as a fixed port.
            let p = i32::from(port);
            if let Err(e) = env
                .allocator
                .request_ports_in_range(who, &addrs, key.0.as_str(), p, p)
            {
                remove_host_ports(env, who, &attempt_b);
                if attempt >= max_attempts - 1 {
                    return Err(e);
                }
                retry_log(env, who, port, attempt);
                attempt += 1;
                continue;
            }
            *bindings = attempt_b;
            // 4. The child sockets at P.
            match bind_children(env, who, owner, &addrs, key.0, port, attempt) {
                Ok(socks) => {
                    attach(env, bindings, &socks);
                    return Ok(bindings.clone());
                }
                Err((e, errno)) => {
                    if errno != Errno::EADDRINUSE || attempt >= max_attempts - 1 {
                        return Err(e);
                    }
                    undo(this, env, who, bindings);
                    retry_log(env, who, port, attempt);
                    attempt += 1;
                }
            }
        }
    })
}

fn retry_log(env: &Env, who: &str, port: u16, attempt: usize) {
    env.log(
        who,
        format!(
            "collision on {port}, attempt {}: asking the host kernel again",
            attempt + 1
        ),
    );
}

/// `RemovePort` every registration of an attempt that holds no
/// reservation (nothing to release in the allocator).
fn remove_host_ports(env: &Env, who: &str, bindings: &[PortBinding]) {
    let Some(pdc) = env.pdc else { return };
    for b in bindings {
        if let Some(rm) = b.port_driver_remove
            && let Err(e) = pdc.remove(who, rm)
        {
            env.log(who, format!("Failed to remove host port: {}", e.text));
        }
    }
}
