//! `pr-52927-fixed` and `pr-52927-unbounded`: moby PR #52927's
//! `(PortMapper).MapPorts` (`daemon/libnetwork/portmappers/nat/mapper_linux.go`
//! at 1afdcdeb27, ported as it is in [`super::pr_52927`]) with one change
//! each. Not moby code: these are the fixes under review.
//!
//! - `pr-52927-fixed`: `bindings` is truncated *before* each allocation
//!   instead of after a successful one. In the PR, an allocation that
//!   fails on a retry ("all ports are allocated") returns with the
//!   previous attempt's bindings, already unmapped, still in the slice, and
//!   the deferred cleanup releases their port a second time — another
//!   start's reservation when `configNetwork` is not held
//!   (`scenarios/stale-bindings.toml`). The one-line fix in Go: move
//!   `bindings = bindings[:0]` above `pa.RequestPortsInRange`. Nothing
//!   else changes: ten attempts, retry only on a host `EADDRINUSE` read
//!   from rootlesskit's text.
//! - `pr-52927-unbounded`: the same, with `maxHostBindAttempts` replaced by
//!   the number of ports in the group's range (at least ten), so a start
//!   gives up only after every port of its range had a turn
//!   (`scenarios/ten-collisions.toml`). In Go: `for attempt := 0; attempt <
//!   max(maxHostBindAttempts, hostPortEnd-hostPort+1 or the dynamic range
//!   size); attempt++`. The OS allocator's own bound on child-namespace
//!   collisions (`maxAllocateAttempts` = 10) is unchanged: the child holds
//!   only this daemon's sockets, each one reserved in its allocator.

use super::common::*;
use super::pr_52927::{MAX_HOST_BIND_ATTEMPTS, is_addr_in_use};
use super::{Env, Policy, PortBinding, PortBindingReq};
use crate::error::GoError;

/// How many allocate+AddPort attempts one group may make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptBound {
    /// The PR's `maxHostBindAttempts` (10).
    Ten,
    /// The number of ports in the group's range, at least ten.
    RangeSize,
}

impl AttemptBound {
    /// The bound for a group whose range is `key` (`0-0`: the allocator's
    /// default range).
    pub fn attempts(self, env: &Env, key: (crate::kernel::Proto, u16, u16)) -> usize {
        match self {
            AttemptBound::Ten => MAX_HOST_BIND_ATTEMPTS,
            AttemptBound::RangeSize => {
                let (lo, hi) = if key.1 == 0 {
                    env.allocator.range()
                } else {
                    (key.1, key.2.max(key.1))
                };
                MAX_HOST_BIND_ATTEMPTS.max(usize::from(hi - lo) + 1)
            }
        }
    }
}

pub struct Pr52927Fixed;

impl Policy for Pr52927Fixed {
    fn name(&self) -> &'static str {
        "pr-52927-fixed"
    }

    fn summary(&self) -> &'static str {
        "PR #52927 with bindings truncated before each allocation (stale-bindings fix); 10 attempts"
    }

    fn map_ports(
        &self,
        env: &Env,
        who: &str,
        owner: &str,
        cfg: Vec<PortBindingReq>,
    ) -> Result<Vec<PortBinding>, GoError> {
        map_ports(self, env, who, owner, cfg, AttemptBound::Ten)
    }
}

pub struct Pr52927Unbounded;

impl Policy for Pr52927Unbounded {
    fn name(&self) -> &'static str {
        "pr-52927-unbounded"
    }

    fn summary(&self) -> &'static str {
        "pr-52927-fixed retrying up to the size of the port range (at least 10), not 10"
    }

    fn map_ports(
        &self,
        env: &Env,
        who: &str,
        owner: &str,
        cfg: Vec<PortBindingReq>,
    ) -> Result<Vec<PortBinding>, GoError> {
        map_ports(self, env, who, owner, cfg, AttemptBound::RangeSize)
    }
}

/// The PR's `MapPorts` with `bindings` truncated before each allocation and
/// the attempts bounded by `bound`; `this` is the receiver `pm`.
pub fn map_ports(
    this: &dyn Policy,
    env: &Env,
    who: &str,
    owner: &str,
    mut cfg: Vec<PortBindingReq>,
    bound: AttemptBound,
) -> Result<Vec<PortBinding>, GoError> {
    if cfg.is_empty() {
        return Ok(Vec::new());
    }
    check_group(&cfg)?;
    let key = group_key(&cfg);
    let max_attempts = bound.attempts(env, key);

    with_deferred_unmap(this, env, who, |bindings| {
        set_child_host_ips(env, who, &mut cfg);
        let addrs = child_addrs(&cfg);
        let dynamic_port = key.1 == 0 || key.1 != key.2;
        let mut attempt = 0;
        loop {
            // The fix: nothing of an earlier, already unmapped attempt stays
            // in view of the deferred cleanup if this allocation fails.
            bindings.clear();
            let (port, socks) = request_ports(env, who, owner, key, &addrs)?;
            bindings.extend(make_bindings(env, &cfg, port, &socks));
            let err = match config_port_driver(env, who, bindings) {
                Ok(()) => return Ok(std::mem::take(bindings)),
                Err(e) => e,
            };
            if !dynamic_port || !is_addr_in_use(&err) || attempt >= max_attempts - 1 {
                return Err(err);
            }
            if let Err(u) = this.unmap_ports(env, who, bindings) {
                env.log(
                    who,
                    format!(
                        "Failed to release port bindings before retry: {}",
                        u.text.replace('\n', "; ")
                    ),
                );
            }
            env.log(
                who,
                format!(
                    "host-namespace collision on {port}, attempt {}: retrying with a new port",
                    attempt + 1
                ),
            );
            attempt += 1;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allocator::PortAllocator;
    use crate::kernel::sim::SimNet;
    use crate::kernel::{Kernel, NsConfig, NsId, Proto};
    use crate::trace::Trace;
    use std::sync::Arc;

    /// Ten attempts, or one per port of the group's range (its ends
    /// included) when that is more; `0-0` counts the allocator's range.
    #[test]
    fn the_unbounded_policy_tries_every_port_of_the_range_at_least_ten_times() {
        crate::sync::run_once(|| {
            let trace = Trace::new();
            let k = Kernel::new(
                Arc::new(SimNet::new()),
                &[NsConfig::default(), NsConfig::default()],
                trace.clone(),
            )
            .unwrap();
            let a = PortAllocator::new(32768, 32787, Default::default(), trace, "d1/allocator");
            let env = Env {
                daemon: "d1",
                kernel: &k,
                ns: NsId::child(0),
                allocator: &a,
                pdc: None,
            };
            let n = |b: AttemptBound, lo, hi| b.attempts(&env, (Proto::Tcp, lo, hi));
            assert_eq!(n(AttemptBound::RangeSize, 8000, 8010), 11);
            assert_eq!(n(AttemptBound::RangeSize, 8000, 8004), 10);
            assert_eq!(n(AttemptBound::RangeSize, 8000, 8000), 10);
            assert_eq!(n(AttemptBound::RangeSize, 0, 0), 20);
            assert_eq!(n(AttemptBound::Ten, 8000, 8010), 10);
        });
    }
}
