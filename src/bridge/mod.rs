//! The caller of the port mapper: the bridge driver's
//! `ProgramExternalConnectivity` (start, and the first half of a stop) and
//! `Leave`/`releasePorts` (the second half of a stop).
//!
//! Mirrors `daemon/libnetwork/drivers/bridge/bridge_linux.go`
//! (`ProgramExternalConnectivity`: `d.configNetwork` held for the whole
//! call; `trimPortBindings`; `Leave`) and `port_mapping_linux.go`
//! (`addPortMappings`, `mapPorts`, `releasePorts`, `unmapPBs`) at moby
//! b985e2313a (the same at 1afdcdeb27), plus the error wrapping of `daemon/libnetwork/endpoint.go` and
//! `daemon/start_linux.go`. Firewall rules are not modelled: they hold no
//! ports. docker-proxy is a process that holds the child socket from its
//! start until it is stopped.
//!
//! A stop is `Endpoint.sbLeave` (`endpoint.go`): first
//! `ProgramExternalConnectivity(nid, eid, "", "")`, which under
//! `configNetwork` trims (unmaps) every NAT binding of the endpoint, then
//! `Leave` -> `releasePorts` without that lock, which finds an empty
//! slice unless the trim failed. A scenario's `bridge_lock = false` drops
//! `configNetwork` from both the start and the stop call. (v28.5.2 has no
//! trim: its `sbLeave` calls `RevokeExternalConnectivity`, which runs
//! `releasePorts` under `configNetwork` and sets `portMapping = nil` even
//! when that fails, and its `Leave` touches no port.)

pub mod sort;

use crate::error::GoError;
use crate::kernel::{Kernel, cat};
use crate::mapper::common::describe_group_into;
use crate::mapper::{BridgeHooks, BridgePorts, Env, Policy, PortBinding, PortBindingReq, Proxy};
use crate::scenario::PublishSpec;
use crate::sync;
use crate::trace::Name;
use crate::trace::Text;
use sort::{EndpointAddrs, PortBindingMode, to4};
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
    /// Trace layers `d1/bridge` and `d1/proxy`, made once.
    layers: [Name; 2],
    /// `driver.configNetwork`.
    config_network: sync::Mutex<()>,
    /// `bridgeNetwork`'s own mutex (`n.Lock()` in `releasePorts`).
    net_lock: sync::Mutex<()>,
    lock_enabled: bool,
    userland_proxy: bool,
    /// `ep.portMapping` of each endpoint, by endpoint name; no entry is a
    /// nil slice. `None` is a zero-valued `PortBinding`: what
    /// `slices.DeleteFunc` (Go >= 1.22; moby's go.mod says go 1.26.3)
    /// leaves behind the kept elements of the backing array when a trim's
    /// unmap fails and `ep.portMapping` is not reassigned.
    port_mappings: sync::StateCell<BTreeMap<String, Vec<Option<PortBinding>>>>,
    /// `ep.portBindingState` of each endpoint (absent: the zero value).
    binding_state: sync::StateCell<BTreeMap<String, PortBindingMode>>,
    /// The group whose `mapPorts` failed, per caller (checkers).
    failed_groups: sync::StateCell<BTreeMap<String, Vec<PortBindingReq>>>,
}

/// The text the docker CLI prints for a start that failed with `err` (as
/// returned by [`Bridge::join`]).
pub fn user_error(err: &GoError) -> String {
    format!("Error response from daemon: {}", err.text)
}

/// The port mappers the daemon registers (`drivers_linux.go`:
/// `nat.Register`, `routed.Register`); `unmapPBs` looks each binding's
/// `Mapper` up here (`drvregistry.PortMappers.Get`).
const PORT_MAPPERS: &[&str] = &["nat", "routed"];

/// The trace's words for `configNetwork` (fixed: no text made per step).
const LOCK: Text = Text::from_static("lock configNetwork");
const UNLOCK: Text = Text::from_static("unlock configNetwork");

/// `PortMappers.Get(name)` (`daemon/libnetwork/drvregistry/portmappers.go`).
fn port_mapper_get(name: &str) -> Result<(), GoError> {
    if PORT_MAPPERS.contains(&name) {
        Ok(())
    } else {
        Err(GoError::new(format!("portmapper {name} not found")))
    }
}

impl Bridge {
    pub fn new(daemon: &str, lock_enabled: bool, userland_proxy: bool) -> Bridge {
        Bridge {
            daemon: daemon.to_string(),
            layers: [
                Name::new(&format!("{daemon}/bridge")),
                Name::new(&format!("{daemon}/proxy")),
            ],
            config_network: sync::Mutex::new(()),
            net_lock: sync::Mutex::new(()),
            lock_enabled,
            userland_proxy,
            port_mappings: sync::StateCell::new(BTreeMap::new()),
            binding_state: sync::StateCell::new(BTreeMap::new()),
            failed_groups: sync::StateCell::new(BTreeMap::new()),
        }
    }

    fn layer(&self) -> &Name {
        &self.layers[0]
    }

    /// Live bindings per endpoint (checkers); zero-valued slots hold
    /// nothing and are left out.
    pub fn port_mappings(&self) -> BTreeMap<String, Vec<PortBinding>> {
        sync::state(&self.port_mappings)
            .iter()
            .map(|(k, v)| (k.clone(), v.iter().flatten().cloned().collect()))
            .collect()
    }

    /// [`Bridge::port_mappings`] lent in the same order, not copied.
    pub fn each_mapping(&self, f: &mut dyn FnMut(&str, &PortBinding)) {
        for (k, v) in sync::state(&self.port_mappings).iter() {
            for b in v.iter().flatten() {
                f(k, b);
            }
        }
    }

    /// The `MapPorts` group that made `who`'s last start fail.
    pub fn failed_group(&self, who: &str) -> Option<Vec<PortBindingReq>> {
        sync::state(&self.failed_groups).get(who).cloned()
    }

    /// A start's `ProgramExternalConnectivity(nid, eid, eid, ...)` (the
    /// endpoint is the IPv4 and IPv6 gateway), with `endpoint.go`'s
    /// wrapping of its error (`%v`, so only the text survives).
    pub fn join(
        &self,
        env: &Env,
        policy: &dyn Policy,
        who: &str,
        ep: &Endpoint,
    ) -> Result<Vec<PortBinding>, GoError> {
        self.program_external_connectivity(env, policy, who, ep, true)
            .map_err(|e| {
                e.wrap_v(&format!(
                    "failed to set up container networking: driver failed programming external connectivity on endpoint {} ({})",
                    ep.name, ep.id
                ))
            })
    }

    /// `ProgramExternalConnectivity` (`bridge_linux.go`, b985e2313a) with
    /// `pbmReq` [`PortBindingMode::requested`]`(gw)`, under
    /// `configNetwork`: return at once when the endpoint's
    /// `portBindingState` already equals `pbmReq`; `trimPortBindings`;
    /// `addPortMappings` with `pbmReq` (in NAT mode a stop's `pbmReq`
    /// adds nothing); append the new bindings; remember `pbmReq`.
    ///
    /// Not ported: the deferred `undoTrim`. It re-adds trimmed bindings
    /// when a later step fails, which needs a call that both trims and
    /// adds (a gateway change between networks); a start trims nothing and
    /// a stop adds nothing, and the store update is not modelled.
    /// Returns the new bindings.
    pub fn program_external_connectivity(
        &self,
        env: &Env,
        policy: &dyn Policy,
        who: &str,
        ep: &Endpoint,
        gw: bool,
    ) -> Result<Vec<PortBinding>, GoError> {
        if let Some(bp) = policy.bridge_ports() {
            return if gw {
                self.program_with(env, bp, who, ep)
            } else {
                self.revoke_external_connectivity(env, bp, who, ep)
                    .map(|()| Vec::new())
            };
        }
        let trace = env.kernel.trace();
        let _guard = if self.lock_enabled {
            let g = sync::lock_at(&self.config_network, || {
                format!("{who} {} lock configNetwork", self.layer())
            });
            trace.emit(who, self.layer(), LOCK, Text::EMPTY);
            Some(g)
        } else {
            None
        };
        let r = self.program_locked(env, policy, who, ep, PortBindingMode::requested(gw));
        if self.lock_enabled {
            trace.emit(who, self.layer(), UNLOCK, Text::EMPTY);
        }
        r
    }

    /// The body of `ProgramExternalConnectivity` after `configNetwork`.
    fn program_locked(
        &self,
        env: &Env,
        policy: &dyn Policy,
        who: &str,
        ep: &Endpoint,
        req: PortBindingMode,
    ) -> Result<Vec<PortBinding>, GoError> {
        let state = sync::state(&self.binding_state)
            .get(&ep.name)
            .copied()
            .unwrap_or_default();
        if state == req {
            return Ok(Vec::new());
        }
        self.trim_port_bindings(env, policy, who, &ep.name, req)?;
        let newb = self.add_port_mappings(env, policy, who, ep, state, req)?;
        if !newb.is_empty() {
            // `append(endpoint.portMapping, newPMs...)`: appending nothing
            // leaves a nil slice nil.
            sync::state(&self.port_mappings)
                .entry(ep.name.clone())
                .or_default()
                .extend(newb.iter().cloned().map(Some));
        }
        sync::state(&self.binding_state).insert(ep.name.clone(), req);
        Ok(newb)
    }

    /// `bridgeEndpoint.trimPortBindings` (`bridge_linux.go`, b985e2313a).
    /// NAT mode (`gwMode(...).routed()` is false): IPv4 bindings are dropped
    /// unless `req.ipv4`, the others unless `req.ipv6`; a binding is IPv4
    /// when `HostIP.To4() != nil` (a zero-valued one is not). The dropped
    /// ones go through `unmapPBs`; on success `ep.portMapping` becomes the
    /// kept ones (an empty, non-nil slice when all were dropped). On
    /// failure the error is logged and returned and `ep.portMapping` keeps
    /// its length, but `slices.DeleteFunc` has already moved the kept
    /// bindings to the front and zeroed the rest in place.
    fn trim_port_bindings(
        &self,
        env: &Env,
        policy: &dyn Policy,
        who: &str,
        ep_name: &str,
        req: PortBindingMode,
    ) -> Result<(), GoError> {
        let drop4 = !req.ipv4;
        let drop6 = !req.ipv6;
        if !drop4 && !drop6 {
            return Ok(());
        }
        let (to_drop, to_keep) = {
            let mut pms = sync::state(&self.port_mappings);
            let Some(slots) = pms.get_mut(ep_name) else {
                return Ok(());
            };
            let len = slots.len();
            let (mut to_drop, mut to_keep) = (Vec::new(), Vec::new());
            for slot in slots.drain(..) {
                let is4 = slot.as_ref().is_some_and(|b| to4(b.host_ip).is_some());
                if (is4 && drop4) || (!is4 && drop6) {
                    to_drop.push(slot);
                } else {
                    to_keep.push(slot);
                }
            }
            slots.extend(to_keep.iter().cloned());
            slots.resize(len, None);
            (to_drop, to_keep)
        };
        if to_drop.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.unmap_pbs(env, policy, who, to_drop.iter().map(Option::as_ref)) {
            env.kernel.trace().emit(
                who,
                self.layer(),
                format!(
                    "Failed to release port bindings: {}",
                    e.text.replace('\n', "; ")
                ),
                "",
            );
            return Err(e);
        }
        sync::state(&self.port_mappings).insert(ep_name.to_string(), to_keep);
        Ok(())
    }

    /// `addPortMappings`: one `mapPorts` per group, in sorted order; on an
    /// error the deferred `unmapPBs` undoes the groups already mapped.
    fn add_port_mappings(
        &self,
        env: &Env,
        policy: &dyn Policy,
        who: &str,
        ep: &Endpoint,
        state: PortBindingMode,
        req: PortBindingMode,
    ) -> Result<Vec<PortBinding>, GoError> {
        let reqs = sort::sort_and_norm(&ep.publish, ep.addrs, state, req);
        let mut bindings: Vec<PortBinding> = Vec::new();
        for group in sort::groups(&reqs) {
            sync::state(&self.failed_groups).insert(who.to_string(), group.clone());
            match self.map_ports(env, policy, who, group) {
                Ok(newb) => {
                    sync::state(&self.failed_groups).remove(who);
                    bindings.extend(newb)
                }
                Err(e) => {
                    if let Err(ue) = self.unmap_pbs(env, policy, who, bindings.iter().map(Some)) {
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
        let what = Text::build(|s| {
            s.push_str("MapPorts ");
            describe_group_into(s, &reqs);
        });
        let mut bindings = match policy.map_ports(env, who, &cat([&self.daemon, ":", who]), reqs) {
            Ok(b) => b,
            Err(e) => {
                let error = Text::build(|s| {
                    s.push_str("error: ");
                    s.push_str(&e.text);
                });
                env.with_layer(|layer| trace.emit(who, layer, what, error));
                return Err(e);
            }
        };
        let ok = Text::build(|ok| {
            ok.push_str("ok ");
            for (i, b) in bindings.iter().enumerate() {
                if i > 0 {
                    ok.push(',');
                }
                crate::kernel::push_decimal(ok, b.host_port.into());
            }
        });
        env.with_layer(|layer| trace.emit(who, layer, what, ok));
        for b in bindings.iter_mut() {
            if b.rootlesskit_unsupported || b.stop_proxy.is_some() {
                continue;
            }
            self.start_proxy(env, who, b);
        }
        Ok(bindings)
    }

    /// A start under a policy with its own bridge port code (moby
    /// v28.5.2's `ProgramExternalConnectivity`): `configNetwork` held,
    /// the policy's `addPortMappings` over the sorted requests, the new
    /// bindings stored in the endpoint.
    fn program_with(
        &self,
        env: &Env,
        bp: &dyn BridgePorts,
        who: &str,
        ep: &Endpoint,
    ) -> Result<Vec<PortBinding>, GoError> {
        let trace = env.kernel.trace();
        let _guard = if self.lock_enabled {
            let g = sync::lock(&self.config_network);
            trace.emit(who, self.layer(), LOCK, Text::EMPTY);
            Some(g)
        } else {
            None
        };
        let reqs = sort::sort_and_norm(
            &ep.publish,
            ep.addrs,
            PortBindingMode::default(),
            PortBindingMode::requested(true),
        );
        let owner = cat([&self.daemon, ":", who]);
        let r = bp.add_port_mappings(env, self, who, &owner, reqs);
        if let Ok(newb) = &r
            && !newb.is_empty()
        {
            sync::state(&self.port_mappings)
                .entry(ep.name.clone())
                .or_default()
                .extend(newb.iter().cloned().map(Some));
        }
        if self.lock_enabled {
            trace.emit(who, self.layer(), UNLOCK, Text::EMPTY);
        }
        r
    }

    /// The first half of a stop under a policy with its own bridge port
    /// code (moby v28.5.2's `RevokeExternalConnectivity`): `configNetwork`
    /// held when the policy says so, the bindings taken under the
    /// network's lock (`releasePorts`) and released by the policy; an
    /// error is only logged, and `portMapping` becomes nil either way, so
    /// the `Leave` that follows finds nothing.
    fn revoke_external_connectivity(
        &self,
        env: &Env,
        bp: &dyn BridgePorts,
        who: &str,
        ep: &Endpoint,
    ) -> Result<(), GoError> {
        let trace = env.kernel.trace();
        let locked = self.lock_enabled && bp.stop_holds_config_network();
        let _guard = if locked {
            let g = sync::lock(&self.config_network);
            trace.emit(who, self.layer(), LOCK, Text::EMPTY);
            Some(g)
        } else {
            None
        };
        let pbs: Vec<PortBinding> = {
            let _g = sync::lock(&self.net_lock);
            sync::state(&self.port_mappings)
                .remove(&ep.name)
                .unwrap_or_default()
                .into_iter()
                .flatten()
                .collect()
        };
        if let Err(e) = bp.release_port_bindings(env, self, who, &pbs) {
            trace.emit(
                who,
                self.layer(),
                format!("release ports: {}", e.text.replace('\n', "; ")),
                "",
            );
        }
        if locked {
            trace.emit(who, self.layer(), UNLOCK, Text::EMPTY);
        }
        Ok(())
    }

    /// `driver.Leave` (`bridge_linux.go`, b985e2313a), its port part:
    /// `releasePorts` when `endpoint.portMapping != nil`.
    pub fn leave(
        &self,
        env: &Env,
        policy: &dyn Policy,
        who: &str,
        ep: &Endpoint,
    ) -> Result<(), GoError> {
        if !sync::state(&self.port_mappings).contains_key(&ep.name) {
            return Ok(());
        }
        self.release_ports(env, policy, who, ep)
    }

    /// `releasePorts` (`port_mapping_linux.go`): take the endpoint's
    /// bindings and reset its `portBindingState` under the network's own
    /// lock (not `configNetwork`), then `unmapPBs`.
    fn release_ports(
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
            sync::state(&self.binding_state).remove(&ep.name);
            sync::state(&self.port_mappings)
                .remove(&ep.name)
                .unwrap_or_default()
        };
        self.unmap_pbs(env, policy, who, pbs.iter().map(Option::as_ref))
    }

    /// `unmapPBs`: per binding, look its mapper up (a zero-valued binding,
    /// `None`, has mapper "" and fails with `portmapper  not found`, and
    /// `types.PortBinding.String()` prints it as `0`), `UnmapPorts([b])`
    /// (close, RemovePort, ReleasePort), then stop its proxy (which closes
    /// the child socket). Errors are collected and joined.
    fn unmap_pbs<'a>(
        &self,
        env: &Env,
        policy: &dyn Policy,
        who: &str,
        bindings: impl IntoIterator<Item = Option<&'a PortBinding>>,
    ) -> Result<(), GoError> {
        let mut errs: Vec<String> = Vec::new();
        for slot in bindings {
            let Some(b) = slot else {
                if let Err(e) = port_mapper_get("") {
                    errs.push(format!("unmapping port binding 0: {}", e.text));
                }
                continue;
            };
            if let Err(e) = port_mapper_get(b.mapper) {
                errs.push(format!(
                    "unmapping port binding {}: {}",
                    b.go_string(),
                    e.text
                ));
                continue;
            }
            if let Err(e) = policy.unmap_ports(env, who, std::slice::from_ref(b)) {
                errs.push(format!(
                    "unmapping port binding {}: {}",
                    b.go_string(),
                    e.text
                ));
            }
            if let Some(p) = &b.stop_proxy {
                stop_proxy(env.kernel, &self.layers[1], who, p);
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(GoError::new(errs.join("\n")))
        }
    }
}

impl BridgeHooks for Bridge {
    /// docker-proxy takes the binding's bound child socket (with the
    /// userland proxy on; otherwise the daemon keeps it).
    fn start_proxy(&self, env: &Env, who: &str, b: &mut PortBinding) {
        if !self.userland_proxy {
            return;
        }
        let Some(f) = b.bound_socket.clone() else {
            return;
        };
        let proxy = Arc::new(Proxy {
            ns: f.ns,
            sock: f.sock,
        });
        env.kernel
            .set_owner_string(f.ns, f.sock, cat([&self.layers[1], ":", who]));
        env.kernel.trace().emit(
            who,
            &self.layers[1],
            Text::lazy(ProxyStart {
                binding: b.go_fields(),
                sock: f.sock,
            }),
            "",
        );
        b.stop_proxy = Some(proxy);
        f.close_after_handoff();
        b.bound_socket = None;
    }

    fn stop_proxy(&self, env: &Env, who: &str, p: &Proxy) {
        stop_proxy(env.kernel, &self.layers[1], who, p);
    }

    fn set_failed_group(&self, who: &str, group: Option<Vec<PortBindingReq>>) {
        let mut g = sync::state(&self.failed_groups);
        match group {
            Some(reqs) => g.insert(who.to_string(), reqs),
            None => g.remove(who),
        };
    }
}

/// `start docker-proxy <binding> with sN`, written when read.
struct ProxyStart {
    binding: crate::mapper::GoFields,
    sock: crate::kernel::SockId,
}

impl crate::trace::Render for ProxyStart {
    fn render(&self, out: &mut String) {
        out.push_str("start docker-proxy ");
        self.binding.push_go_string(out);
        out.push_str(" with s");
        crate::kernel::push_decimal(out, self.sock.0.into());
    }

    fn head(&self) -> &'static str {
        "start docker-proxy "
    }
}

/// docker-proxy exits; its descriptor was the last one, so the socket closes.
/// `layer` is the daemon's `<daemon>/proxy`.
fn stop_proxy(kernel: &Kernel, layer: &str, who: &str, p: &Proxy) {
    let what = format!("stop docker-proxy holding {}", p.sock);
    kernel.trace().emit(who, layer, what, "");
    let _ = kernel.close(who, p.ns, p.sock);
}

// These run worlds under shuttle (`run_seed`), which the os-threads and
// loom builds leave out.
#[cfg(all(test, not(loom), not(feature = "os-threads")))]
mod tests {
    use super::*;
    use crate::explore::{KernelKind, run_seed};
    use crate::mapper::moby_master::MobyMaster;
    use crate::mapper::{PortBinding, PortBindingReq};
    use std::sync::Arc;

    /// moby master whose `UnmapPorts` does its work and then fails.
    struct FailingUnmap;

    impl Policy for FailingUnmap {
        fn name(&self) -> &'static str {
            "test-failing-unmap"
        }
        fn summary(&self) -> &'static str {
            "moby-master whose UnmapPorts returns an error"
        }
        fn map_ports(
            &self,
            env: &Env,
            who: &str,
            owner: &str,
            cfg: Vec<PortBindingReq>,
        ) -> Result<Vec<PortBinding>, GoError> {
            MobyMaster.map_ports(env, who, owner, cfg)
        }
        fn unmap_ports(&self, env: &Env, who: &str, pbs: &[PortBinding]) -> Result<(), GoError> {
            crate::mapper::common::unmap_ports(env, who, pbs)?;
            Err(GoError::new("injected"))
        }
    }

    fn run(text: &str, policy: &'static dyn Policy) -> String {
        let sc = Arc::new(crate::scenario::parse_str("t.toml", text).unwrap());
        run_seed(&sc, policy, 0, KernelKind::Sim).unwrap().text()
    }

    const START_STOP: &str = r#"
name = "t"
steps = ["start c1", "stop c1"]
[[daemon]]
name = "d1"
[[container]]
name = "c1"
publish = ["0:80"]
"#;

    #[test]
    fn a_stop_unmaps_under_config_network_and_leave_finds_nothing() {
        let t = run(START_STOP, &MobyMaster);
        let stop = &t[t.find("start c1 -> ok").unwrap()..];
        let lock = stop.find("lock configNetwork").unwrap();
        let release = stop.find("ReleasePort").unwrap();
        let unlock = stop.find("unlock configNetwork").unwrap();
        assert!(lock < release && release < unlock, "{t}");
        assert_eq!(
            stop.matches("ReleasePort").count(),
            2,
            "one unmap only: {t}"
        );
        assert!(!stop.contains("warning"), "{t}");
    }

    #[test]
    fn a_failed_trim_leaves_zeroed_bindings_for_the_unlocked_second_pass() {
        let t = run(START_STOP, &FailingUnmap);
        let stop = &t[t.find("start c1 -> ok").unwrap()..];
        assert!(
            stop.contains("Failed to release port bindings: unmapping port binding 0.0.0.0:32768:172.17.0.2:80/tcp: injected; unmapping port binding [::]:32768:172.17.0.2:80/tcp: injected"),
            "{t}"
        );
        assert!(
            stop.contains("warning: driver failed revoking external connectivity on endpoint:"),
            "{t}"
        );
        // slices.DeleteFunc zeroed both elements; Leave's pass sees two
        // zero-valued bindings and unmaps nothing.
        assert!(
            stop.contains("warning: driver error disconnecting container: unmapping port binding 0: portmapper  not found; unmapping port binding 0: portmapper  not found"),
            "{t}"
        );
        assert_eq!(stop.matches("ReleasePort").count(), 2, "{t}");
    }

    #[test]
    fn only_the_registered_mappers_are_found() {
        assert!(port_mapper_get("nat").is_ok());
        assert!(port_mapper_get("routed").is_ok());
        assert_eq!(
            port_mapper_get("").unwrap_err().text,
            "portmapper  not found"
        );
    }

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

    /// `trimPortBindings` unmaps the bindings of each family no longer
    /// requested and keeps the others in `portMapping`.
    #[test]
    fn a_trim_unmaps_only_the_families_no_longer_requested() {
        use crate::allocator::PortAllocator;
        use crate::kernel::{NsConfig, NsId, Proto, sim::SimNet};
        sync::run_once(|| {
            let cases: [(bool, bool, &[&str], &[&str]); 4] = [
                (true, false, &["0.0.0.0"], &["::1"]),
                (false, true, &["::"], &["127.0.0.1"]),
                (true, true, &["0.0.0.0", "::"], &[]),
                (false, false, &[], &["127.0.0.1", "::1"]),
            ];
            for (ipv4, ipv6, kept, released) in cases {
                let cfgs = [NsConfig::default(), NsConfig::default()];
                let k = Kernel::new(Arc::new(SimNet::new()), &cfgs, crate::trace::Trace::new())
                    .unwrap();
                let a = PortAllocator::from_namespace(&k, NsId::child(0), "d1/allocator");
                let env = Env {
                    daemon: "d1",
                    kernel: &k,
                    ns: NsId::child(0),
                    allocator: &a,
                    pdc: None,
                };
                let b = |host_ip: &str, child: &str| PortBinding {
                    proto: Proto::Tcp,
                    ip: "172.17.0.2".parse().unwrap(),
                    port: 80,
                    host_ip: host_ip.parse().unwrap(),
                    host_port: 32768,
                    host_port_end: 32768,
                    mapper: "nat",
                    nat: None,
                    bound_socket: None,
                    child_host_ip: child.parse().unwrap(),
                    port_driver_remove: None,
                    stop_proxy: None,
                    rootlesskit_unsupported: false,
                };
                let br = Bridge::new("d1", true, true);
                sync::state(&br.port_mappings).insert(
                    "c1".into(),
                    vec![Some(b("0.0.0.0", "127.0.0.1")), Some(b("::", "::1"))],
                );
                let req = PortBindingMode {
                    routed: true,
                    ipv4,
                    ipv6,
                };
                br.trim_port_bindings(&env, &MobyMaster, "c1", "c1", req)
                    .unwrap();
                let left: Vec<String> = br.port_mappings()["c1"]
                    .iter()
                    .map(|b| b.host_ip.to_string())
                    .collect();
                assert_eq!(left, kept, "ipv4 {ipv4} ipv6 {ipv6}");
                let releases: Vec<String> = k
                    .trace()
                    .events()
                    .iter()
                    .filter_map(|e| {
                        let a = e.action.to_string();
                        a.strip_prefix("ReleasePort ")
                            .and_then(|r| r.strip_suffix(" tcp 32768"))
                            .map(str::to_string)
                    })
                    .collect();
                assert_eq!(releases, released, "ipv4 {ipv4} ipv6 {ipv6}");
            }
        });
    }

    /// docker-28's `bindHostPorts` behind master's bridge driver: under
    /// slirp4netns its `[::]` binding has a child socket but no
    /// rootlesskit port (tcp6 unsupported), so `mapPorts` starts no
    /// docker-proxy for it.
    struct Docker28AsNatMapper;

    impl Policy for Docker28AsNatMapper {
        fn name(&self) -> &'static str {
            "test-docker-28-as-nat-mapper"
        }
        fn summary(&self) -> &'static str {
            "docker-28's bindHostPorts called as MapPorts"
        }
        fn map_ports(
            &self,
            env: &Env,
            who: &str,
            owner: &str,
            cfg: Vec<PortBindingReq>,
        ) -> Result<Vec<PortBinding>, GoError> {
            crate::mapper::docker_28::Docker28.map_ports(env, who, owner, cfg)
        }
        fn unmap_ports(&self, env: &Env, who: &str, pbs: &[PortBinding]) -> Result<(), GoError> {
            crate::mapper::docker_28::Docker28.unmap_ports(env, who, pbs)
        }
    }

    #[test]
    fn no_proxy_starts_for_a_binding_rootlesskit_does_not_serve() {
        let t = run(
            &START_STOP.replace(
                "name = \"d1\"",
                "name = \"d1\"\nport_driver = \"slirp4netns\"",
            ),
            &Docker28AsNatMapper,
        );
        assert!(
            t.contains("discarding request for [::]:32768: protocol \"tcp6\" is not supported by the RootlessKit port driver \"slirp4netns\""),
            "{t}"
        );
        assert!(
            t.contains("MapPorts [0.0.0.0 ::] tcp/80 0-0 -> ok 32768,32768"),
            "{t}"
        );
        let proxies: Vec<&str> = t
            .lines()
            .filter(|l| l.contains("start docker-proxy"))
            .collect();
        assert_eq!(proxies.len(), 1, "{t}");
        assert!(
            proxies[0].ends_with("start docker-proxy 0.0.0.0:32768:172.17.0.2:80/tcp with s1"),
            "{t}"
        );
    }
}
