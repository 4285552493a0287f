//! `pr-52927`: `(PortMapper).MapPorts` of
//! `daemon/libnetwork/portmappers/nat/mapper_linux.go` at the head of moby
//! PR #52927 (1afdcdeb27), with `isAddrInUse` and `maxHostBindAttempts`.
//!
//! The allocate-and-bind cycle runs up to ten times while the host port is
//! dynamic and rootlesskit answers "address already in use". Ported as it
//! is, including that `bindings` is truncated only after a successful
//! allocation, so an allocation failure on a retry returns with the
//! previous attempt's (already unmapped) bindings in view of the deferred
//! cleanup, which unmaps them a second time.

use super::common::*;
use super::{Env, Policy, PortBinding, PortBindingReq};
use crate::error::GoError;
use crate::kernel::Errno;

/// `maxHostBindAttempts`.
pub const MAX_HOST_BIND_ATTEMPTS: usize = 10;

/// `isAddrInUse`: `errors.Is(err, syscall.EADDRINUSE)`, or the text, since
/// the errno does not survive rootlesskit's HTTP API.
pub fn is_addr_in_use(err: &GoError) -> bool {
    err.is_errno(Errno::EADDRINUSE) || err.text.contains("address already in use")
}

pub struct Pr52927;

impl Policy for Pr52927 {
    fn name(&self) -> &'static str {
        "pr-52927"
    }

    fn summary(&self) -> &'static str {
        "moby PR #52927 head 1afdcdeb27: retry allocate+AddPort on host EADDRINUSE (10 attempts)"
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
        let dynamic_port = key.1 == 0 || key.1 != key.2;
        let mut attempt = 0;
        loop {
            let (port, socks) = request_ports(env, who, owner, key, &addrs)?;
            bindings.clear();
            bindings.extend(make_bindings(env, &cfg, port, &socks));
            let err = match config_port_driver(env, who, bindings) {
                Ok(()) => return Ok(std::mem::take(bindings)),
                Err(e) => e,
            };
            if !dynamic_port || !is_addr_in_use(&err) || attempt >= MAX_HOST_BIND_ATTEMPTS - 1 {
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
            env.log(who, crate::trace::Text::lazy(Retrying(port, attempt + 1)));
            attempt += 1;
        }
    })
}

/// `host-namespace collision on P, attempt N: retrying with a new port`,
/// written when read.
struct Retrying(u16, usize);

impl crate::trace::Render for Retrying {
    fn render(&self, out: &mut String) {
        use crate::kernel::push_decimal;
        out.push_str("host-namespace collision on ");
        push_decimal(out, self.0.into());
        out.push_str(", attempt ");
        push_decimal(out, self.1 as i64);
        out.push_str(": retrying with a new port");
    }

    fn head(&self) -> &'static str {
        "host-namespace collision on "
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retry_note_reads_as_it_was_formatted() {
        let t = crate::trace::Text::lazy(Retrying(32770, 3));
        assert_eq!(
            t.as_str(),
            "host-namespace collision on 32770, attempt 3: retrying with a new port"
        );
    }

    #[test]
    fn addr_in_use_is_matched_by_errno_or_by_text() {
        assert!(is_addr_in_use(&GoError::with_errno("x", Errno::EADDRINUSE)));
        assert!(is_addr_in_use(&GoError::new(
            "error while calling RootlessKit PortManager.AddPort(): listen tcp4 0.0.0.0:1: bind: address already in use"
        )));
        assert!(!is_addr_in_use(&GoError::new(
            "error while calling RootlessKit PortManager.AddPort(): reply.Error: map[desc:bad request: add_hostfwd: slirp_add_hostfwd failed]"
        )));
    }
}
