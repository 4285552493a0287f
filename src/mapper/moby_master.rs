//! `moby-master`: `(PortMapper).MapPorts` of
//! `daemon/libnetwork/portmappers/nat/mapper_linux.go` at moby b985e2313a.
//!
//! One allocation (the OS allocator retries only what it sees in the child
//! namespace), one `configPortDriver`; a host-namespace `EADDRINUSE` from
//! rootlesskit fails the start (moby#52903, moby#53153).

use super::common::*;
use super::{Env, Policy, PortBinding, PortBindingReq};
use crate::error::GoError;

pub struct MobyMaster;

impl Policy for MobyMaster {
    fn name(&self) -> &'static str {
        "moby-master"
    }

    fn summary(&self) -> &'static str {
        "moby master b985e2313a: child-namespace probe only, no host-side retry"
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

/// `MapPorts` with `this` as the receiver `pm`: its `UnmapPorts` calls
/// (between attempts and in the deferred cleanup) go through `this`.
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

    with_deferred_unmap(this, env, who, |bindings| {
        set_child_host_ips(env, who, &mut cfg);
        let addrs = child_addrs(&cfg);
        let (port, socks) = request_ports(env, who, owner, key, &addrs)?;
        *bindings = make_bindings(env, &cfg, port, &socks);
        config_port_driver(env, who, bindings)?;
        Ok(std::mem::take(bindings))
    })
}
