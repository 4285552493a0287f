//! One run of a scenario: daemons (each with its child namespace, port
//! allocator, rootlesskit and bridge driver) sharing one host namespace
//! with the occupants; containers started and stopped as threads.
//!
//! A [`World`] must be built and run inside one execution of the active
//! engine (a shuttle or loom execution, or plain threads under
//! `os-threads`), because its locks are that engine's.
//!
//! Layers: the world sits below the checkers and never names them. It
//! calls a [`Monitor`] after every trace event, after every failed start
//! and at the end of a run, and hands it a [`View`]: the narrow, read-only
//! face of the world's state that checkers evaluate. `check::Checker` is
//! the monitor the engines install (`World::build`, defined with the
//! engines in `explore`); `World::build_with` takes any monitor.

use crate::allocator::PortAllocator;
use crate::bridge::sort::EndpointAddrs;
use crate::bridge::{self, Bridge, Endpoint};
use crate::kernel::{BindReq, Errno, Kernel, Net, NsConfig, NsId, SockId, SockInfo};
use crate::mapper::rlkclient::PortDriverClient;
use crate::mapper::{Env, Policy, PortBinding, PortBindingReq};
use crate::rootlesskit::builtin::Builtin;
use crate::rootlesskit::slirp4netns::Slirp4netns;
use crate::rootlesskit::{PortDriver, Spec};
use crate::scenario::{Action, OccupantKind, PortDriverKind, Scenario, Step};
use crate::sync;
use crate::sync::StateCell;
use crate::trace::{Event, Name, Text, Trace};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

/// One rootless dockerd.
pub struct Daemon {
    pub name: String,
    /// `<name>/daemon`: the layer of its containers' start and stop lines.
    pub layer: Name,
    pub ns: NsId,
    pub allocator: PortAllocator,
    pub pdc: PortDriverClient,
    pub bridge: Bridge,
}

impl Daemon {
    pub fn env<'a>(&'a self, kernel: &'a Kernel) -> Env<'a> {
        Env {
            daemon: &self.name,
            kernel,
            ns: self.ns,
            allocator: &self.allocator,
            pdc: Some(&self.pdc),
        }
    }

    pub fn driver(&self) -> &Arc<dyn PortDriver> {
        self.pdc.driver()
    }
}

/// Where a container is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Created,
    Starting,
    Running,
    StartFailed,
    Stopping,
    Stopped,
}

/// How a start ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StartOutcome {
    pub container: String,
    pub ok: bool,
    /// `0.0.0.0:32768->80/tcp` per binding, as `docker port` lists them.
    pub bindings: Vec<String>,
    /// Distinct host ports of the bindings, in binding order.
    pub ports: Vec<u16>,
    /// What the user reads, for a failed start.
    pub error: Option<String>,
}

impl StartOutcome {
    /// `ok 32768` / `error: <text>`.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        self.summary_into(&mut s);
        s
    }

    /// [`StartOutcome::summary`] appended to `s`.
    pub fn summary_into(&self, s: &mut String) {
        match &self.error {
            None => {
                s.push_str("ok");
                for (i, p) in self.ports.iter().enumerate() {
                    s.push(if i == 0 { ' ' } else { ',' });
                    crate::kernel::push_decimal(s, (*p).into());
                }
            }
            Some(e) => {
                s.push_str("error: ");
                s.push_str(e);
            }
        }
    }
}

/// Everything one run builds.
pub struct World {
    pub scenario: Arc<Scenario>,
    pub policy: &'static dyn Policy,
    pub trace: Arc<Trace>,
    pub kernel: Arc<Kernel>,
    pub daemons: Vec<Daemon>,
    /// One endpoint per container (index = container index).
    pub endpoints: Vec<Endpoint>,
    /// The containers' names as their events carry them.
    pub names: Vec<Name>,
    pub phases: StateCell<Vec<Phase>>,
    pub outcomes: StateCell<Vec<Option<StartOutcome>>>,
    /// The sockets each occupant holds now.
    pub occupant_socks: StateCell<Vec<Vec<SockId>>>,
    /// Called after every event, failed start and run (the checkers).
    pub monitor: Arc<dyn Monitor>,
}

/// What a world calls while it runs. Implementations read the world only
/// through the [`View`] they are handed, never write to the trace and
/// never take a scheduling point.
pub trait Monitor: Send + Sync + 'static {
    /// After trace event `event` (the world's last event so far).
    fn after_step(&self, view: &dyn View, event: &Event);
    /// After container `c`'s start failed (its outcome is recorded).
    fn after_failed_start(&self, view: &dyn View, c: usize);
    /// After every step of the scenario has run.
    fn at_end(&self, view: &dyn View);
    /// For downcasting to the concrete monitor (`check::Checker::of`).
    fn as_any(&self) -> &dyn std::any::Any;
}

/// A monitor that looks at nothing.
pub struct NoMonitor;

impl Monitor for NoMonitor {
    fn after_step(&self, _: &dyn View, _: &Event) {}
    fn after_failed_start(&self, _: &dyn View, _: usize) {}
    fn at_end(&self, _: &dyn View) {}
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The read-only state a [`Monitor`] may evaluate. Nothing here is a
/// scheduling point or writes to the trace. Daemons are numbered as in
/// the scenario, containers likewise.
pub trait View {
    fn scenario(&self) -> &Scenario;
    /// Trace events so far.
    fn steps(&self) -> usize;
    /// All trace events so far.
    fn events(&self) -> Vec<Event>;
    fn daemon_count(&self) -> usize;
    fn daemon_name(&self, d: usize) -> &str;
    /// The namespace daemon `d` probes and binds its child sockets in.
    fn daemon_ns(&self, d: usize) -> NsId;
    /// Daemon `d`'s live bindings by endpoint name (its bridge's
    /// `portMapping`s without zero-valued slots).
    fn live(&self, d: usize) -> BTreeMap<String, Vec<PortBinding>>;
    /// Daemon `d`'s live bindings, lent in [`View::live`]'s order without
    /// copying them: `f` gets each binding with its endpoint name. `f`
    /// must not read the view again (the bindings may be locked).
    fn each_live(&self, d: usize, f: &mut dyn FnMut(&str, &PortBinding)) {
        for (ep, bs) in self.live(d) {
            for b in &bs {
                f(&ep, b);
            }
        }
    }
    /// Daemon `d`'s rootlesskit ports: (id, spec, host listener).
    fn driver_ports(&self, d: usize) -> Vec<(u32, Spec, Option<SockId>)>;
    /// [`View::driver_ports`] without the specs: (id, host listener).
    fn driver_listeners(&self, d: usize) -> Vec<(u32, Option<SockId>)> {
        self.driver_ports(d)
            .into_iter()
            .map(|(id, _, s)| (id, s))
            .collect()
    }
    /// Daemon `d`'s allocator reservations, sorted.
    fn reservations(&self, d: usize) -> Vec<(IpAddr, &'static str, u16)>;
    /// [`View::reservations`] appended to `out` (a checker's kept buffer).
    fn reservations_into(&self, d: usize, out: &mut Vec<(IpAddr, &'static str, u16)>) {
        out.extend(self.reservations(d));
    }
    fn allocator_range(&self, d: usize) -> (u16, u16);
    fn allocator_reserved(&self, d: usize) -> &BTreeSet<u16>;
    /// The `MapPorts` group that made `who`'s last start on `d` fail.
    fn failed_group(&self, d: usize, who: &str) -> Option<Vec<PortBindingReq>>;
    /// The child address rootlesskit forwards `host_ip` to (None: the
    /// driver does not support the protocol).
    fn child_host_ip(&self, d: usize, proto: &str, host_ip: IpAddr) -> Option<IpAddr>;
    /// The sockets open in `ns` (the table only: no owner labels).
    fn open_sockets(&self, ns: NsId) -> Vec<SockInfo>;
    /// The ids of [`View::open_sockets`], appended to `out`.
    fn open_ids_into(&self, ns: NsId, out: &mut Vec<SockId>) {
        out.extend(self.open_sockets(ns).iter().map(|s| s.id));
    }
    /// The sockets open in `ns` with their owners.
    fn sockets(&self, ns: NsId) -> Vec<(SockInfo, String)>;
    /// [`View::sockets`] lent to `f` (which must not read the view again).
    fn each_socket(&self, ns: NsId, f: &mut dyn FnMut(&SockInfo, &str)) {
        for (s, owner) in self.sockets(ns) {
            f(&s, &owner);
        }
    }
    /// Would `req` succeed in `ns` now (the kernel's side-effect-free probe)?
    fn probe(&self, ns: NsId, req: &BindReq, listen: bool, privileged: bool) -> Result<(), Errno>;
    fn phases(&self) -> Vec<Phase>;
    /// [`View::phases`] lent to `f` (which must not read the view again).
    fn with_phases(&self, f: &mut dyn FnMut(&[Phase])) {
        f(&self.phases())
    }
    fn outcome(&self, c: usize) -> Option<StartOutcome>;
    /// Container `c`'s endpoint: (name, id).
    fn endpoint(&self, c: usize) -> (&str, &str);
}

impl View for World {
    fn scenario(&self) -> &Scenario {
        &self.scenario
    }
    fn steps(&self) -> usize {
        self.trace.len()
    }
    fn events(&self) -> Vec<Event> {
        self.trace.events()
    }
    fn daemon_count(&self) -> usize {
        self.daemons.len()
    }
    fn daemon_name(&self, d: usize) -> &str {
        &self.daemons[d].name
    }
    fn daemon_ns(&self, d: usize) -> NsId {
        self.daemons[d].ns
    }
    fn live(&self, d: usize) -> BTreeMap<String, Vec<PortBinding>> {
        self.daemons[d].bridge.port_mappings()
    }
    fn each_live(&self, d: usize, f: &mut dyn FnMut(&str, &PortBinding)) {
        self.daemons[d].bridge.each_mapping(f)
    }
    fn driver_ports(&self, d: usize) -> Vec<(u32, Spec, Option<SockId>)> {
        self.daemons[d].driver().ports()
    }
    fn driver_listeners(&self, d: usize) -> Vec<(u32, Option<SockId>)> {
        self.daemons[d].driver().listeners()
    }
    fn reservations(&self, d: usize) -> Vec<(IpAddr, &'static str, u16)> {
        self.daemons[d].allocator.reservations()
    }
    fn reservations_into(&self, d: usize, out: &mut Vec<(IpAddr, &'static str, u16)>) {
        self.daemons[d].allocator.reservations_into(out)
    }
    fn allocator_range(&self, d: usize) -> (u16, u16) {
        self.daemons[d].allocator.range()
    }
    fn allocator_reserved(&self, d: usize) -> &BTreeSet<u16> {
        self.daemons[d].allocator.reserved()
    }
    fn failed_group(&self, d: usize, who: &str) -> Option<Vec<PortBindingReq>> {
        self.daemons[d].bridge.failed_group(who)
    }
    fn child_host_ip(&self, d: usize, proto: &str, host_ip: IpAddr) -> Option<IpAddr> {
        self.daemons[d].pdc.child_host_ip(proto, host_ip)
    }
    fn open_sockets(&self, ns: NsId) -> Vec<SockInfo> {
        self.kernel.net().sockets(ns)
    }
    fn open_ids_into(&self, ns: NsId, out: &mut Vec<SockId>) {
        self.kernel.net().open_ids_into(ns, out)
    }
    fn sockets(&self, ns: NsId) -> Vec<(SockInfo, String)> {
        self.kernel.sockets(ns)
    }
    fn each_socket(&self, ns: NsId, f: &mut dyn FnMut(&SockInfo, &str)) {
        self.kernel.each_socket(ns, f)
    }
    fn probe(&self, ns: NsId, req: &BindReq, listen: bool, privileged: bool) -> Result<(), Errno> {
        self.kernel.probe(ns, req, listen, privileged)
    }
    fn phases(&self) -> Vec<Phase> {
        sync::state(&self.phases).clone()
    }
    fn with_phases(&self, f: &mut dyn FnMut(&[Phase])) {
        f(&sync::state(&self.phases))
    }
    fn outcome(&self, c: usize) -> Option<StartOutcome> {
        sync::state(&self.outcomes)[c].clone()
    }
    fn endpoint(&self, c: usize) -> (&str, &str) {
        (&self.endpoints[c].name, &self.endpoints[c].id)
    }
}

/// A deterministic 64-hex endpoint id (moby prints a random one): FNV-1a
/// of "daemon/container", spread by four rounds of splitmix64.
pub fn endpoint_id(daemon: &str, container: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in daemon.bytes().chain([b'/']).chain(container.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for _ in 0..4 {
        h = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = h;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        let z = z ^ (z >> 31);
        // `{:016x}`: sixteen digits, the highest first.
        for k in (0..16).rev() {
            out.push(char::from(HEX[(z >> (4 * k) & 0xf) as usize]));
        }
    }
    out
}

/// The default bridge network each daemon's containers join.
pub const BRIDGE_SUBNET: &str = "172.17.0.0/16";

/// Containers one daemon can address: 172.17.0.2 to 172.17.255.254 (the
/// network address, the gateway 172.17.0.1 and the broadcast address are
/// not handed out).
pub const MAX_CONTAINERS_PER_DAEMON: usize = 65533;

/// The addresses of a daemon's `n`-th container (1-based), handed out in
/// order as docker's default IPAM does on a fresh daemon
/// (`libnetwork/ipams/defaultipam`: the first free address of the pool
/// after the gateway): 172.17.0.2, ..., 172.17.0.255, 172.17.1.0, ...;
/// the IPv6 address is fd00::(the same host number). None past
/// [`MAX_CONTAINERS_PER_DAEMON`].
pub fn container_addrs(n: usize) -> Option<(std::net::Ipv4Addr, std::net::Ipv6Addr)> {
    if n == 0 || n > MAX_CONTAINERS_PER_DAEMON {
        return None;
    }
    let host = (n + 1) as u16;
    let v4 = std::net::Ipv4Addr::new(172, 17, (host >> 8) as u8, (host & 0xff) as u8);
    let v6 = std::net::Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, host);
    Some((v4, v6))
}

/// A step of a start or stop that runs against a network namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetnsStep {
    /// `portallocator.Get()`'s one-time `newInstance`: reading
    /// `ip_local_port_range` and `ip_local_reserved_ports` from
    /// `/proc/sys/net/ipv4` (a per-namespace file: the reading thread's).
    ReadSysctls,
    /// The `OSAllocator` bind/listen probe in `MapPorts`.
    Probe,
    /// rootlesskit's `net.Listen` for `AddPort` (its parent process).
    RootlesskitListen,
    /// docker-proxy holding the probe's socket.
    DockerProxy,
}

/// Which namespace a step runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Child,
    Host,
}

/// One row of [`NETNS_BY_MODE`].
pub struct NetnsRow {
    pub step: NetnsStep,
    /// rootlesskit without `--detach-netns`: dockerd is its child process
    /// inside the child namespace.
    pub attached: Side,
    /// `--detach-netns` (the default of `dockerd-rootless.sh` at
    /// b985e2313a): dockerd runs in the host namespace and enters the
    /// detached one (`$ROOTLESSKIT_STATE_DIR/netns`) only inside
    /// `rootless.RunInNetNS`.
    pub detached: Side,
}

/// Where each step runs, by mode, read from moby b985e2313a and
/// rootlesskit e780dd3 (README "Namespaces by mode" gives the sources).
/// The start is `daemon.allocateNetwork` inside `daemon.runInNetNS`
/// (`daemon/start_linux.go`) and the stop's `sb.Delete` inside it too
/// (`releaseNetwork`, `daemon/container_operations.go`), so every dockerd
/// step of a start or stop runs on a thread in the child namespace in
/// both modes. The allocator's first `Get()` is inside that too unless
/// dockerd listens on TCP (`-H tcp://`, `--metrics-addr`:
/// `allocateDaemonPort` on the main thread, in the host namespace under
/// `--detach-netns`); scenarios have no TCP listener, so that case is not
/// modelled. rootlesskit's parent never leaves the host namespace.
pub const NETNS_BY_MODE: &[NetnsRow] = &[
    NetnsRow {
        step: NetnsStep::ReadSysctls,
        attached: Side::Child,
        detached: Side::Child,
    },
    NetnsRow {
        step: NetnsStep::Probe,
        attached: Side::Child,
        detached: Side::Child,
    },
    NetnsRow {
        step: NetnsStep::RootlesskitListen,
        attached: Side::Host,
        detached: Side::Host,
    },
    NetnsRow {
        step: NetnsStep::DockerProxy,
        attached: Side::Child,
        detached: Side::Child,
    },
];

/// The namespace `step` runs in for a daemon whose child namespace is
/// `child`, under `detach_netns`, looked up in `table`.
pub fn step_ns(table: &[NetnsRow], step: NetnsStep, detach_netns: bool, child: NsId) -> NsId {
    let row = table
        .iter()
        .find(|r| r.step == step)
        .expect("every step has a row");
    match if detach_netns {
        row.detached
    } else {
        row.attached
    } {
        Side::Child => child,
        Side::Host => NsId::HOST,
    }
}

/// `ip_local_port_range` as the sysctl reads: `32768\t60999`.
fn range_text((lo, hi): (u16, u16)) -> String {
    let mut t = String::with_capacity(11);
    crate::kernel::push_decimal(&mut t, lo.into());
    t.push('\t');
    crate::kernel::push_decimal(&mut t, hi.into());
    t
}

fn ns_configs(s: &Scenario) -> Vec<NsConfig> {
    let host = NsConfig {
        ip_unprivileged_port_start: s.host.unprivileged_port_start,
        ip_local_port_range: range_text(s.host.port_range),
        ..NsConfig::default()
    };
    let mut v = vec![host];
    for d in &s.daemons {
        v.push(NsConfig {
            ip_local_port_range: range_text(d.port_range),
            ip_local_reserved_ports: d.reserved_ports.clone(),
            // dockerd is root in its own namespaces.
            ip_unprivileged_port_start: 1024,
        });
    }
    v
}

/// The daemon's port allocator, reading its child namespace; a policy
/// whose allocator does not skip reserved ports (v28.5.2) gets none.
fn allocator_for(kernel: &Kernel, ns: NsId, daemon: &str, policy: &dyn Policy) -> PortAllocator {
    let layer = crate::kernel::cat([daemon, "/allocator"]);
    let a = PortAllocator::from_namespace(kernel, ns, &layer);
    if policy.skips_reserved_ports() {
        return a;
    }
    let (begin, end) = a.range();
    PortAllocator::new(
        begin,
        end,
        Default::default(),
        kernel.trace().clone(),
        &layer,
    )
}

/// The trace outlives the world (the kernel and the reports share it):
/// its observer, which reads the world, is removed first.
impl Drop for World {
    fn drop(&mut self) {
        self.trace.unobserve();
    }
}

impl World {
    /// Build the world for `scenario` on `net`, watched by `monitor`.
    /// Fixed occupants bind now.
    pub fn build_with(
        scenario: Arc<Scenario>,
        policy: &'static dyn Policy,
        net: Arc<dyn Net>,
        monitor: Arc<dyn Monitor>,
    ) -> Result<Arc<World>, String> {
        let trace = Trace::new();
        let kernel = Arc::new(Kernel::new(net, &ns_configs(&scenario), trace.clone())?);
        let mut daemons = Vec::new();
        for (i, d) in scenario.daemons.iter().enumerate() {
            let ns = NsId::child(i);
            let rlk_layer = crate::kernel::cat([&d.name, "/rlk"]);
            let driver: Arc<dyn PortDriver> = match d.port_driver {
                PortDriverKind::Builtin => {
                    let b = Builtin::new(kernel.clone(), &rlk_layer);
                    // A proposed API extension, only for a policy that asks.
                    Arc::new(if policy.rootlesskit_ext().port_zero {
                        b.with_port_zero()
                    } else {
                        b
                    })
                }
                PortDriverKind::Slirp4netns => Arc::new(Slirp4netns::with_child_ip(
                    kernel.clone(),
                    &rlk_layer,
                    match d.child_ip {
                        Some(IpAddr::V4(a)) => Some(a),
                        Some(IpAddr::V6(_)) => None,
                        None => Some(std::net::Ipv4Addr::new(10, 0, 2, 100)),
                    },
                )),
            };
            let at = |step| step_ns(NETNS_BY_MODE, step, d.detach_netns, ns);
            daemons.push(Daemon {
                name: d.name.clone(),
                layer: Name::new(&crate::kernel::cat([&d.name, "/daemon"])),
                ns: at(NetnsStep::Probe),
                allocator: allocator_for(&kernel, at(NetnsStep::ReadSysctls), &d.name, policy),
                pdc: PortDriverClient::new(driver),
                bridge: Bridge::new(&d.name, d.bridge_lock, d.userland_proxy),
            });
        }
        let mut per_daemon = vec![0usize; scenario.daemons.len()];
        let mut endpoints = Vec::new();
        for c in &scenario.containers {
            let d = &scenario.daemons[c.daemon];
            per_daemon[c.daemon] += 1;
            let (v4, v6) = container_addrs(per_daemon[c.daemon]).ok_or_else(|| {
                format!(
                    "daemon {} has more than {MAX_CONTAINERS_PER_DAEMON} containers: the default bridge network {BRIDGE_SUBNET} has no address left",
                    d.name
                )
            })?;
            endpoints.push(Endpoint {
                name: c.name.clone(),
                id: endpoint_id(&d.name, &c.name),
                addrs: EndpointAddrs {
                    v4: IpAddr::V4(v4),
                    v6: c.ipv6.then_some(IpAddr::V6(v6)),
                    userland_proxy: d.userland_proxy,
                    v6_listenable: d.ipv6,
                },
                publish: c.publish.clone(),
            });
        }
        let nc = scenario.containers.len();
        let no = scenario.occupants.len();
        let names = scenario
            .containers
            .iter()
            .map(|c| Name::new(&c.name))
            .collect();
        let world = Arc::new(World {
            scenario,
            policy,
            trace: trace.clone(),
            kernel,
            daemons,
            endpoints,
            names,
            phases: StateCell::new(vec![Phase::Created; nc]),
            outcomes: StateCell::new(vec![None; nc]),
            occupant_socks: StateCell::new(vec![Vec::new(); no]),
            monitor,
        });
        let at = Arc::as_ptr(&world) as usize;
        trace.observe(move |ev| {
            // SAFETY: `at` is the address of the world inside its Arc,
            // which does not move. The world's Drop removes this observer
            // (Trace::unobserve) before anything of the world is freed,
            // and a call in flight holds the observer, so unobserve waits
            // for it: the world is alive whenever this runs.
            let w = unsafe { &*(at as *const World) };
            w.monitor.after_step(w, ev);
        });
        for (i, o) in world.scenario.occupants.iter().enumerate() {
            if o.kind == OccupantKind::Fixed {
                let s = crate::occupant::open_all(&world.kernel, o);
                sync::state(&world.occupant_socks)[i] = s;
            }
        }
        Ok(world)
    }

    fn set_phase(&self, c: usize, p: Phase) {
        sync::state(&self.phases)[c] = p;
    }

    /// Start container `c`: `ProgramExternalConnectivity` on its daemon.
    pub fn start(&self, c: usize) {
        let cfg = &self.scenario.containers[c];
        let d = &self.daemons[cfg.daemon];
        let ep = &self.endpoints[c];
        let env = d.env(&self.kernel);
        self.set_phase(c, Phase::Starting);
        let who = &self.names[c];
        let start = Text::from(crate::kernel::cat(["start ", &cfg.name]));
        self.trace.emit(who, &d.layer, start.clone(), "");
        // The interned name, passed down: every layer's event names its
        // actor without comparing bytes (Text::name).
        let r = d.bridge.join(&env, self.policy, who.as_str(), ep);
        let outcome = match &r {
            Ok(b) => {
                let mut ports: Vec<u16> = Vec::new();
                for x in b {
                    if !ports.contains(&x.host_port) {
                        ports.push(x.host_port);
                    }
                }
                StartOutcome {
                    container: cfg.name.clone(),
                    ok: true,
                    bindings: b
                        .iter()
                        .map(|x| {
                            // `host_ip:host_port->port/proto`, one buffer.
                            let mut s = String::with_capacity(40);
                            crate::kernel::addr_port_into(&mut s, x.host_ip, x.host_port);
                            s.push_str("->");
                            crate::kernel::push_decimal(&mut s, x.port.into());
                            s.push('/');
                            s.push_str(x.proto.as_str());
                            s
                        })
                        .collect(),
                    ports,
                    error: None,
                }
            }
            Err(e) => StartOutcome {
                container: cfg.name.clone(),
                ok: false,
                bindings: Vec::new(),
                ports: Vec::new(),
                error: Some(bridge::user_error(e)),
            },
        };
        let (ok, summary) = (outcome.ok, outcome.summary());
        sync::state(&self.outcomes)[c] = Some(outcome);
        self.set_phase(
            c,
            if ok {
                Phase::Running
            } else {
                Phase::StartFailed
            },
        );
        self.trace.emit(who, &d.layer, start, summary);
        if !ok {
            if cfg!(loom) {
                self.kernel
                    .observe_all(|| self.monitor.after_failed_start(self, c));
            } else {
                self.monitor.after_failed_start(self, c);
            }
        }
    }

    /// Stop container `c`: the port part of `Endpoint.sbLeave`
    /// (`daemon/libnetwork/endpoint.go`, b985e2313a): first
    /// `ProgramExternalConnectivity(nid, eid, "", "")`, which unmaps the
    /// endpoint's bindings under `configNetwork`, then `Leave` ->
    /// `releasePorts` without it. `sbLeave` only logs either error (as a
    /// warning), so the stop itself always succeeds.
    pub fn stop(&self, c: usize) {
        let cfg = &self.scenario.containers[c];
        let d = &self.daemons[cfg.daemon];
        let env = d.env(&self.kernel);
        let ep = &self.endpoints[c];
        let (who, layer) = (&self.names[c], &d.layer);
        self.set_phase(c, Phase::Stopping);
        if let Err(e) =
            d.bridge
                .program_external_connectivity(&env, self.policy, who.as_str(), ep, false)
        {
            self.trace.emit(
                who,
                layer,
                format!(
                    "warning: driver failed revoking external connectivity on endpoint: {}",
                    e.text.replace('\n', "; ")
                ),
                "",
            );
        }
        if let Err(e) = d.bridge.leave(&env, self.policy, who.as_str(), ep) {
            self.trace.emit(
                who,
                layer,
                format!(
                    "warning: driver error disconnecting container: {}",
                    e.text.replace('\n', "; ")
                ),
                "",
            );
        }
        self.set_phase(c, Phase::Stopped);
        self.trace
            .emit(who, layer, crate::kernel::cat(["stop ", &cfg.name]), "");
    }

    /// Who acts and what they do, as scheduling-point labels name a
    /// world thread: (`c1`, `start c1`), (`app`, `race app`).
    fn describe(&self, a: Action) -> (String, String) {
        let sc = &self.scenario;
        let (who, verb) = match a {
            Action::Start(c) => (&sc.containers[c].name, "start"),
            Action::Stop(c) => (&sc.containers[c].name, "stop"),
            Action::Bind(o) => (&sc.occupants[o].name, "bind"),
            Action::Close(o) => (&sc.occupants[o].name, "close"),
            Action::Race(o) => (&sc.occupants[o].name, "race"),
        };
        (who.clone(), crate::kernel::cat([verb, " ", who]))
    }

    fn act(&self, a: Action) {
        match a {
            Action::Start(c) => self.start(c),
            Action::Stop(c) => self.stop(c),
            Action::Bind(o) => {
                let cfg = &self.scenario.occupants[o];
                let s = crate::occupant::open_all(&self.kernel, cfg);
                sync::state(&self.occupant_socks)[o].extend(s);
            }
            Action::Close(o) => {
                let socks = std::mem::take(&mut sync::state(&self.occupant_socks)[o]);
                for s in socks {
                    let _ = self
                        .kernel
                        .close(&self.scenario.occupants[o].name, NsId::HOST, s);
                }
            }
            Action::Race(o) => {
                let s = crate::occupant::race(&self.kernel, &self.scenario.occupants[o]);
                sync::state(&self.occupant_socks)[o].extend(s);
            }
        }
    }

    /// Run every step in order; a concurrent step runs each action on its
    /// own thread and joins them all. Then the end-of-run checks.
    pub fn run(self: &Arc<Self>) {
        for step in self.scenario.steps.clone() {
            match step {
                Step::Seq(a) => self.act(a),
                Step::Concurrent(actions) => {
                    let handles: Vec<_> = actions
                        .into_iter()
                        .map(|a| {
                            let w = Arc::clone(self);
                            let (who, what) = self.describe(a);
                            let h = sync::spawn_as(&who, &what, move || w.act(a));
                            (h, who, what)
                        })
                        .collect();
                    for (h, who, what) in handles {
                        sync::join_as(h, &who, &what).expect("world thread panicked");
                    }
                }
            }
        }
        self.monitor.at_end(&**self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn container_addresses_fill_the_bridge_subnet_without_repeats() {
        assert_eq!(container_addrs(1).unwrap().0.to_string(), "172.17.0.2");
        assert_eq!(container_addrs(253).unwrap().0.to_string(), "172.17.0.254");
        assert_eq!(container_addrs(254).unwrap().0.to_string(), "172.17.0.255");
        assert_eq!(container_addrs(255).unwrap().0.to_string(), "172.17.1.0");
        assert_eq!(container_addrs(255).unwrap().1.to_string(), "fd00::100");
        let last = container_addrs(MAX_CONTAINERS_PER_DAEMON).unwrap();
        assert_eq!(last.0.to_string(), "172.17.255.254");
        assert_eq!(container_addrs(MAX_CONTAINERS_PER_DAEMON + 1), None);
        assert_eq!(container_addrs(0), None);
        let all: BTreeSet<_> = (1..=MAX_CONTAINERS_PER_DAEMON)
            .map(|n| container_addrs(n).unwrap().0)
            .collect();
        assert_eq!(all.len(), MAX_CONTAINERS_PER_DAEMON);
        assert!(!all.contains(&std::net::Ipv4Addr::new(172, 17, 0, 0)));
        assert!(!all.contains(&std::net::Ipv4Addr::new(172, 17, 0, 1)));
    }

    #[test]
    fn endpoint_ids_are_the_formatter_s_sixteen_digit_words() {
        // As the stale-bindings snapshot shows it (d1/c2).
        assert_eq!(
            endpoint_id("d1", "c2"),
            "8e01df129c7075b3197abf5caaabf2e363985bdaf98e18562aa679e9001cf1e5"
        );
        // Leading zeros kept, as `{:016x}` keeps them.
        for (d, c) in [("d1", "c1"), ("", ""), ("daemon-two", "web")] {
            let id = endpoint_id(d, c);
            assert_eq!(id.len(), 64);
            for w in id.as_bytes().chunks(16) {
                let w = std::str::from_utf8(w).unwrap();
                assert_eq!(format!("{:016x}", u64::from_str_radix(w, 16).unwrap()), w);
            }
        }
    }

    #[test]
    fn a_port_range_reads_as_the_sysctl_writes_it() {
        assert_eq!(range_text((32768, 60999)), "32768\t60999");
        assert_eq!(range_text((0, 9)), "0\t9");
    }

    /// Counts the events it is shown, and reads the world each time.
    struct Counting(std::sync::Mutex<Vec<usize>>);

    impl Monitor for Counting {
        fn after_step(&self, view: &dyn View, ev: &Event) {
            assert_eq!(view.daemon_count(), 1, "the world is there to read");
            self.0.lock().unwrap().push(ev.seq);
        }
        fn after_failed_start(&self, _: &dyn View, _: usize) {}
        fn at_end(&self, _: &dyn View) {}
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    }

    /// The monitor sees every event while its world lives; the trace,
    /// which outlives the world, then only records.
    #[test]
    fn the_monitor_sees_the_worlds_events_and_none_after_it_is_gone() {
        let sc = Arc::new(
            crate::scenario::parse_str("g", &crate::scenario::generate::sequential_starts(1))
                .unwrap(),
        );
        let policy = crate::mapper::by_name("moby-master").unwrap();
        let seen = Arc::new(Counting(std::sync::Mutex::new(Vec::new())));
        let s2 = seen.clone();
        crate::sync::run_once(move || {
            let w = World::build_with(
                sc.clone(),
                policy,
                Arc::new(crate::kernel::sim::SimNet::new()),
                s2.clone(),
            )
            .unwrap();
            let trace = w.trace.clone();
            let before = trace.len();
            trace.emit("c1", "d1/daemon", "seen", "");
            drop(w);
            trace.emit("c1", "d1/daemon", "after the world", "");
            assert_eq!(trace.len(), before + 2, "both recorded");
            let seen = s2.0.lock().unwrap().clone();
            let expected: Vec<usize> = (1..=before + 1).collect();
            assert_eq!(
                seen, expected,
                "every event up to the drop, in order, none after"
            );
        });
        assert!(!seen.0.lock().unwrap().is_empty());
    }

    /// 300 containers on one daemon: the build used to overflow a u8
    /// (a panic in debug builds, 172.17.0.0 and repeats in release).
    #[test]
    fn a_world_with_300_containers_on_one_daemon_builds_with_distinct_addresses() {
        let text = crate::scenario::generate::sequential_starts(300);
        let sc = Arc::new(crate::scenario::parse_str("g", &text).unwrap());
        let policy = crate::mapper::by_name("moby-master").unwrap();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let s2 = seen.clone();
        shuttle::check_random(
            move || {
                let w = World::build_with(
                    sc.clone(),
                    policy,
                    Arc::new(crate::kernel::sim::SimNet::new()),
                    Arc::new(NoMonitor),
                )
                .unwrap();
                *s2.lock().unwrap() = w.endpoints.iter().map(|e| e.addrs.v4).collect();
            },
            1,
        );
        let v4: Vec<IpAddr> = seen.lock().unwrap().clone();
        assert_eq!(v4.len(), 300);
        assert_eq!(v4.iter().collect::<BTreeSet<_>>().len(), 300);
        assert_eq!(v4[299].to_string(), "172.17.1.45");
    }

    #[test]
    fn every_step_has_one_row() {
        for step in [
            NetnsStep::ReadSysctls,
            NetnsStep::Probe,
            NetnsStep::RootlesskitListen,
            NetnsStep::DockerProxy,
        ] {
            assert_eq!(NETNS_BY_MODE.iter().filter(|r| r.step == step).count(), 1);
        }
    }

    #[test]
    fn the_daemon_steps_run_in_the_child_in_both_modes() {
        let child = NsId::child(0);
        for detach in [false, true] {
            assert_eq!(
                step_ns(NETNS_BY_MODE, NetnsStep::ReadSysctls, detach, child),
                child
            );
            assert_eq!(
                step_ns(NETNS_BY_MODE, NetnsStep::Probe, detach, child),
                child
            );
            assert_eq!(
                step_ns(NETNS_BY_MODE, NetnsStep::RootlesskitListen, detach, child),
                NsId::HOST
            );
        }
    }

    #[test]
    fn a_host_row_sends_the_step_to_the_host_under_that_mode_only() {
        // The unmodelled TCP-listener case: the first Get() on dockerd's
        // main thread.
        let table = [NetnsRow {
            step: NetnsStep::ReadSysctls,
            attached: Side::Child,
            detached: Side::Host,
        }];
        let child = NsId::child(1);
        assert_eq!(
            step_ns(&table, NetnsStep::ReadSysctls, true, child),
            NsId::HOST
        );
        assert_eq!(step_ns(&table, NetnsStep::ReadSysctls, false, child), child);
    }
}
