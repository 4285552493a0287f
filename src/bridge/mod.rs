//! The caller of the port mapper: the bridge driver's
//! `ProgramExternalConnectivity` (start) and `Leave`/`releasePorts` (stop).
//!
//! Mirrors `daemon/libnetwork/drivers/bridge/bridge_linux.go`
//! (`ProgramExternalConnectivity`: `d.configNetwork` held for the whole
//! call) and `port_mapping_linux.go` (`addPortMappings`, `mapPorts`,
//! `releasePorts`, `unmapPBs`) at moby b985e2313a (unchanged at
//! 1afdcdeb27), plus the error wrapping of `daemon/libnetwork/endpoint.go`
//! and `daemon/start_linux.go`. Firewall rules are not modelled: they
//! hold no ports. docker-proxy is a process that holds the child socket
//! from its start until it is stopped.

pub mod sort;

use crate::error::GoError;
use crate::kernel::Kernel;
use crate::mapper::common::describe_group;
use crate::mapper::{Env, Policy, PortBinding, PortBindingReq, Proxy};
use crate::scenario::PublishSpec;
use crate::sync;
use sort::EndpointAddrs;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One container's endpoint on the bridge network.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub name: String,
    /// The 64-hex endpoint id moby prints next to the name.
    pub id: String,
    pub addrs: EndpointAddrs,
    pub publish: Vec<PublishSpec>,
}

/// A daemon's bridge driver and network.
pub struct Bridge {
    daemon: String,
    /// `driver.configNetwork`.
    config_network: sync::Mutex<()>,
    /// `bridgeNetwork`'s own mutex (`n.Lock()` in `releasePorts`).
    net_lock: sync::Mutex<()>,
    lock_enabled: bool,
    userland_proxy: bool,
    /// `ep.portMapping` of each endpoint, by endpoint name.
    port_mappings: std::sync::Mutex<BTreeMap<String, Vec<PortBinding>>>,
    /// The group whose `mapPorts` failed, per caller (checkers).
    failed_groups: std::sync::Mutex<BTreeMap<String, Vec<PortBindingReq>>>,
}

/// The text the docker CLI prints for a start that failed with `err` (as
/// returned by [`Bridge::program_external_connectivity`]).
pub fn user_error(err: &GoError) -> String {
    format!("Error response from daemon: {}", err.text)
}

impl Bridge {
    pub fn new(daemon: &str, lock_enabled: bool, userland_proxy: bool) -> Bridge {
        Bridge {
            daemon: daemon.to_string(),
            config_network: sync::Mutex::new(()),
            net_lock: sync::Mutex::new(()),
            lock_enabled,
            userland_proxy,
            port_mappings: std::sync::Mutex::new(BTreeMap::new()),
            failed_groups: std::sync::Mutex::new(BTreeMap::new()),
        }
    }

    fn layer(&self) -> String {
        format!("{}/bridge", self.daemon)
    }

    /// Live bindings per endpoint (checkers).
    pub fn port_mappings(&self) -> BTreeMap<String, Vec<PortBinding>> {
        sync::state(&self.port_mappings).clone()
    }

    /// The `MapPorts` group that made `who`'s last start fail.
    pub fn failed_group(&self, who: &str) -> Option<Vec<PortBindingReq>> {
        sync::state(&self.failed_groups).get(who).cloned()
    }

    /// `ProgramExternalConnectivity` for a new endpoint. On error the text
    /// is what `endpoint.go` wraps (`%v`, so only the text survives).
    pub fn program_external_connectivity(
        &self,
        env: &Env,
        policy: &dyn Policy,
        who: &str,
        ep: &Endpoint,
    ) -> Result<Vec<PortBinding>, GoError> {
        let trace = env.kernel.trace();
        let _guard = if self.lock_enabled {
            let g = sync::lock_at(&self.config_network, || {
                format!("{who} {} lock configNetwork", self.layer())
            });
            trace.emit(who, &self.layer(), "lock configNetwork", "");
            Some(g)
        } else {
            None
        };
        let r = self.add_port_mappings(env, policy, who, ep);
        match r {
            Ok(newb) => {
                sync::state(&self.port_mappings)
                    .entry(ep.name.clone())
                    .or_default()
                    .extend(newb.iter().cloned());
                if self.lock_enabled {
                    trace.emit(who, &self.layer(), "unlock configNetwork", "");
                }
                Ok(newb)
            }
            Err(e) => {
                if self.lock_enabled {
                    trace.emit(who, &self.layer(), "unlock configNetwork", "");
                }
                Err(e.wrap_v(&format!(
                    "failed to set up container networking: driver failed programming external connectivity on endpoint {} ({})",
                    ep.name, ep.id
                )))
            }
        }
    }

    /// `addPortMappings`: one `mapPorts` per group, in sorted order; on an
    /// error the deferred `unmapPBs` undoes the groups already mapped.
    fn add_port_mappings(
        &self,
        env: &Env,
        policy: &dyn Policy,
        who: &str,
        ep: &Endpoint,
    ) -> Result<Vec<PortBinding>, GoError> {
        let reqs = sort::sort_and_norm(&ep.publish, ep.addrs);
        let mut bindings: Vec<PortBinding> = Vec::new();
        for group in sort::groups(&reqs) {
            sync::state(&self.failed_groups).insert(who.to_string(), group.clone());
            match self.map_ports(env, policy, who, group) {
                Ok(newb) => {
                    sync::state(&self.failed_groups).remove(who);
                    bindings.extend(newb)
                }
                Err(e) => {
                    if let Err(ue) = self.unmap_pbs(env, policy, who, &bindings) {
                        env.log(
                            who,
                            format!(
                                "Failed to unmap port bindings after error: {}",
                                ue.text.replace('\n', "; ")
                            ),
                        );
                    }
                    return Err(e);
                }
            }
        }
        Ok(bindings)
    }

    /// `mapPorts`: `MapPorts`, then (firewall rules, not modelled) and the
    /// userland proxy, which takes each bound child socket.
    fn map_ports(
        &self,
        env: &Env,
        policy: &dyn Policy,
        who: &str,
        reqs: Vec<PortBindingReq>,
    ) -> Result<Vec<PortBinding>, GoError> {
        let trace = env.kernel.trace();
        let what = format!("MapPorts {}", describe_group(&reqs));
        let mut bindings = match policy.map_ports(env, who, &format!("{}:{who}", self.daemon), reqs)
        {
            Ok(b) => b,
            Err(e) => {
                trace.emit(who, &env.layer(), what, format!("error: {}", e.text));
                return Err(e);
            }
        };
        let ports: Vec<String> = bindings.iter().map(|b| b.host_port.to_string()).collect();
        trace.emit(who, &env.layer(), what, format!("ok {}", ports.join(",")));
        if self.userland_proxy {
            for b in bindings.iter_mut() {
                let Some(f) = b.bound_socket.clone() else {
                    continue;
                };
                if b.rootlesskit_unsupported || b.stop_proxy.is_some() {
                    continue;
                }
                let proxy = Arc::new(Proxy {
                    ns: f.ns,
                    sock: f.sock,
                });
                env.kernel
                    .set_owner(f.ns, f.sock, &format!("{}/proxy:{who}", self.daemon));
                trace.emit(
                    who,
                    &format!("{}/proxy", self.daemon),
                    format!("start docker-proxy {} with {}", b.go_string(), f.sock),
                    "",
                );
                b.stop_proxy = Some(proxy);
                f.close_after_handoff();
                b.bound_socket = None;
            }
        }
        Ok(bindings)
    }

    /// `releasePorts`: take the endpoint's bindings under the network's own
    /// lock (not `configNetwork`), then `unmapPBs`.
    pub fn release_ports(
        &self,
        env: &Env,
        policy: &dyn Policy,
        who: &str,
        ep: &Endpoint,
    ) -> Result<(), GoError> {
        let pbs = {
            let _g = sync::lock_at(&self.net_lock, || {
                format!("{who} {} releasePorts {}", self.layer(), ep.name)
            });
            sync::state(&self.port_mappings)
                .remove(&ep.name)
                .unwrap_or_default()
        };
        self.unmap_pbs(env, policy, who, &pbs)
    }

    /// `unmapPBs`: per binding, `UnmapPorts([b])` (close, RemovePort,
    /// ReleasePort) then stop its proxy (which closes the child socket).
    fn unmap_pbs(
        &self,
        env: &Env,
        policy: &dyn Policy,
        who: &str,
        bindings: &[PortBinding],
    ) -> Result<(), GoError> {
        let mut errs: Vec<String> = Vec::new();
        for b in bindings {
            if let Err(e) = policy.unmap_ports(env, who, std::slice::from_ref(b)) {
                errs.push(format!(
                    "unmapping port binding {}: {}",
                    b.go_string(),
                    e.text
                ));
            }
            if let Some(p) = &b.stop_proxy {
                stop_proxy(env.kernel, &self.daemon, who, p);
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(GoError::new(errs.join("\n")))
        }
    }
}

/// docker-proxy exits; its descriptor was the last one, so the socket closes.
fn stop_proxy(kernel: &Kernel, daemon: &str, who: &str, p: &Proxy) {
    kernel.trace().emit(
        who,
        &format!("{daemon}/proxy"),
        format!("stop docker-proxy holding {}", p.sock),
        "",
    );
    let _ = kernel.close(who, p.ns, p.sock);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Killed mutants of `user_error` (cargo-mutants: `String::new()`,
    /// `"xyzzy"`): the CLI's prefix and the error text, nothing else.
    #[test]
    fn the_user_reads_the_daemon_prefix_and_the_error_text() {
        let e = GoError::new("driver failed programming external connectivity");
        assert_eq!(
            user_error(&e),
            "Error response from daemon: driver failed programming external connectivity"
        );
    }
}
