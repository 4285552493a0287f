//! The five properties of DESIGN.md, evaluated on the world after every
//! step, after every failed start, and at the end of a run.
//!
//! | property               | when                                  |
//! |------------------------|---------------------------------------|
//! | no-double-ownership    | after every step                      |
//! | allocator-consistency  | after every step where the daemon has no start or stop in flight, and at the end |
//! | convergence            | after every failed start              |
//! | error-fidelity         | after every failed start              |
//! | clean-teardown         | at the end                            |
//!
//! Checkers read plain state only (never a scheduling point) and never
//! write to the trace.

use crate::kernel::{BindReq, NsId, Proto, SockId};
use crate::mapper::PortBinding;
use crate::world::{Phase, World};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// A property the checkers evaluate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Property {
    NoDoubleOwnership,
    AllocatorConsistency,
    Convergence,
    CleanTeardown,
    ErrorFidelity,
}

impl Property {
    pub const ALL: [Property; 5] = [
        Property::NoDoubleOwnership,
        Property::AllocatorConsistency,
        Property::Convergence,
        Property::CleanTeardown,
        Property::ErrorFidelity,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Property::NoDoubleOwnership => "no-double-ownership",
            Property::AllocatorConsistency => "allocator-consistency",
            Property::Convergence => "convergence",
            Property::CleanTeardown => "clean-teardown",
            Property::ErrorFidelity => "error-fidelity",
        }
    }

    pub fn from_name(s: &str) -> Option<Property> {
        Property::ALL.into_iter().find(|p| p.name() == s)
    }
}

impl fmt::Display for Property {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One observed violation: which property, after which trace step, why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub property: Property,
    pub step: usize,
    pub message: String,
    /// What the checker pointed at, in fields (the counterexample's story
    /// reads these rather than the message).
    pub evidence: Evidence,
}

/// The structured part of a violation: the container it is about and the
/// port in question, where the checker knows them. Convergence: the
/// failed container and the port that was free all along;
/// allocator-consistency: the container still holding a forgotten port
/// (none for a leak) and that port; error-fidelity: the container.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Evidence {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// A checker's finding: its message and its evidence.
struct Finding {
    message: String,
    evidence: Evidence,
}

impl From<String> for Finding {
    fn from(message: String) -> Finding {
        Finding {
            message,
            evidence: Evidence::default(),
        }
    }
}

fn finding(message: String, container: Option<&str>, port: Option<u16>) -> Finding {
    Finding {
        message,
        evidence: Evidence {
            container: container.map(str::to_string),
            port,
        },
    }
}

/// Collects violations during a run.
#[derive(Default)]
pub struct Checker {
    state: Mutex<Vec<Violation>>,
    /// Items the checkers have read so far (bindings, sockets, ports,
    /// reservations, claim pairs): a deterministic measure of their cost
    /// that `tests/scale.rs` watches grow.
    work: AtomicU64,
}

impl Checker {
    /// Count `n` items read.
    fn tick(&self, n: usize) {
        self.work.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Items the checkers have read in this run (see the field).
    pub fn work(&self) -> u64 {
        self.work.load(Ordering::Relaxed)
    }

    fn report(&self, w: &World, property: Property, finding: impl Into<Finding>) {
        let Finding { message, evidence } = finding.into();
        let step = w.trace.len();
        let mut v = crate::sync::state(&self.state);
        if !v
            .iter()
            .any(|x| x.property == property && x.message == message)
        {
            v.push(Violation {
                property,
                step,
                message,
                evidence,
            });
        }
    }

    /// All violations, in the order they were seen.
    pub fn violations(&self) -> Vec<Violation> {
        crate::sync::state(&self.state).clone()
    }

    /// The first violation of each property (None: it held).
    pub fn verdicts(&self) -> Vec<(Property, Option<Violation>)> {
        let v = self.violations();
        Property::ALL
            .into_iter()
            .map(|p| (p, v.iter().find(|x| x.property == p).cloned()))
            .collect()
    }

    /// After every trace event. Under real OS threads (`os-threads`) these
    /// checks would read a half-updated world; they run at the end instead.
    pub fn after_step(&self, w: &World, _seq: usize) {
        if cfg!(feature = "os-threads") {
            return;
        }
        for m in double_ownership(w) {
            self.report(w, Property::NoDoubleOwnership, m);
        }
        // Daemons with a start or stop in flight, in one pass over the
        // containers.
        let mut busy = vec![false; w.daemons.len()];
        for (c, p) in w
            .scenario
            .containers
            .iter()
            .zip(crate::sync::state(&w.phases).iter())
        {
            if matches!(p, Phase::Starting | Phase::Stopping) {
                busy[c.daemon] = true;
            }
        }
        for (di, busy) in busy.into_iter().enumerate() {
            if !busy {
                for m in allocator_consistency(w, di) {
                    self.report(w, Property::AllocatorConsistency, m);
                }
            }
        }
    }

    /// After container `c`'s start failed.
    pub fn after_failed_start(&self, w: &World, c: usize) {
        if let Some(m) = convergence(w, c) {
            self.report(w, Property::Convergence, m);
        }
        if let Some(m) = error_fidelity(w, c) {
            self.report(w, Property::ErrorFidelity, m);
        }
    }

    /// At the end of the run.
    pub fn at_end(&self, w: &World) {
        if cfg!(feature = "os-threads") {
            for m in double_ownership(w) {
                self.report(w, Property::NoDoubleOwnership, m);
            }
        }
        for di in 0..w.daemons.len() {
            for m in allocator_consistency(w, di) {
                self.report(w, Property::AllocatorConsistency, m);
            }
        }
        for m in leftovers(w) {
            self.report(w, Property::CleanTeardown, m);
        }
    }
}

/// The live bindings of every daemon: (daemon, container, binding).
fn live(w: &World) -> Vec<(usize, String, PortBinding)> {
    let mut out = Vec::new();
    for (di, d) in w.daemons.iter().enumerate() {
        for (ep, bs) in d.bridge.port_mappings() {
            for b in bs {
                out.push((di, ep.clone(), b));
            }
        }
    }
    w.checker.tick(out.len());
    out
}

/// The child socket a live binding holds: docker-proxy's, or the daemon's.
fn child_sock(b: &PortBinding) -> Option<SockId> {
    if let Some(p) = &b.stop_proxy {
        return Some(p.sock);
    }
    b.bound_socket
        .as_ref()
        .filter(|f| !f.is_closed())
        .map(|f| f.sock)
}

fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

/// Do two claims on one namespace's (proto, addr, port) collide?
fn overlaps(a: IpAddr, b: IpAddr) -> bool {
    same_family(a, b) && (a == b || a.is_unspecified() || b.is_unspecified())
}

/// The ids of the sockets open in `ns` (the table only: no owner labels).
fn open_ids(w: &World, ns: NsId) -> BTreeSet<SockId> {
    let ids: BTreeSet<SockId> = w
        .kernel
        .net()
        .sockets(ns)
        .into_iter()
        .map(|s| s.id)
        .collect();
    w.checker.tick(ids.len());
    ids
}

/// No double ownership: live mappings never claim overlapping
/// (namespace, proto, address, port), and each one's sockets are open.
///
/// Each namespace's socket table and each daemon's rootlesskit port list
/// is read once per call, and claims are compared only with claims on the
/// same (namespace, proto, port): the cost of one call is linear in the
/// live state (it was quadratic, and cubic over a run, issue 12).
fn double_ownership(w: &World) -> Vec<String> {
    let mut msgs = Vec::new();
    let live = live(w);
    // Described only for a message: formatting every binding after every
    // step cost more than the checks themselves.
    let desc = |k: usize| format!("{}'s {}", live[k].1, live[k].2.go_string());
    // (namespace, proto, address, port, index into `live`)
    let mut claims: Vec<(NsId, Proto, IpAddr, u16, usize)> = Vec::new();
    let host_open = open_ids(w, NsId::HOST);
    let mut child_open: BTreeMap<usize, BTreeSet<SockId>> = BTreeMap::new();
    let mut rlk_ports: BTreeMap<usize, BTreeMap<u32, Option<SockId>>> = BTreeMap::new();
    for (k, (di, _, b)) in live.iter().enumerate() {
        let di = *di;
        let d = &w.daemons[di];
        match child_sock(b) {
            None => msgs.push(format!("{} holds no child socket", desc(k))),
            Some(s)
                if !child_open
                    .entry(di)
                    .or_insert_with(|| open_ids(w, d.ns))
                    .contains(&s) =>
            {
                msgs.push(format!("{}: its child socket {s} is closed", desc(k)))
            }
            Some(_) => {}
        }
        claims.push((d.ns, b.proto, b.child_host_ip, b.host_port, k));
        if b.rootlesskit_unsupported {
            continue;
        }
        let Some(rm) = b.port_driver_remove else {
            msgs.push(format!("{} has no rootlesskit port", desc(k)));
            continue;
        };
        let ports = rlk_ports.entry(di).or_insert_with(|| {
            let ports = d.driver().ports();
            w.checker.tick(ports.len());
            ports.into_iter().map(|(id, _, s)| (id, s)).collect()
        });
        match ports.get(&rm.id) {
            None => msgs.push(format!(
                "{}: rootlesskit {} has no port id {}",
                desc(k),
                d.name,
                rm.id
            )),
            Some(Some(s)) if !host_open.contains(s) => msgs.push(format!(
                "{}: host listener {s} of rootlesskit id {} is closed",
                desc(k),
                rm.id
            )),
            Some(_) => {}
        }
        claims.push((NsId::HOST, b.proto, b.host_ip, b.host_port, k));
    }
    // Pairs (i < j) of overlapping claims, in the order a nested loop over
    // the claims would find them.
    let mut same_port: BTreeMap<(NsId, Proto, u16), Vec<usize>> = BTreeMap::new();
    for (i, c) in claims.iter().enumerate() {
        same_port.entry((c.0, c.1, c.3)).or_default().push(i);
    }
    let mut pairs = Vec::new();
    for idx in same_port.values() {
        for (n, &i) in idx.iter().enumerate() {
            w.checker.tick(idx.len() - n);
            for &j in &idx[n + 1..] {
                if overlaps(claims[i].2, claims[j].2) {
                    pairs.push((i, j));
                }
            }
        }
    }
    pairs.sort_unstable();
    for (i, j) in pairs {
        let (a, b) = (&claims[i], &claims[j]);
        msgs.push(format!(
            "{} and {} both own {} {} port {}",
            desc(a.4),
            desc(b.4),
            a.0,
            a.1,
            a.3
        ));
    }
    msgs
}

type Reservation = (IpAddr, String, u16);

fn held_reservations(w: &World, di: usize) -> BTreeMap<Reservation, String> {
    let mut m = BTreeMap::new();
    for (d, c, b) in live(w) {
        if d == di {
            m.insert(
                (b.child_host_ip, b.proto.as_str().to_string(), b.host_port),
                c,
            );
        }
    }
    m
}

/// Allocator consistency: the daemon's reservations are exactly the ports
/// its live mappings hold.
fn allocator_consistency(w: &World, di: usize) -> Vec<Finding> {
    let d = &w.daemons[di];
    let held = held_reservations(w, di);
    let have: BTreeSet<Reservation> = d.allocator.reservations().into_iter().collect();
    w.checker.tick(have.len());
    let mut msgs = Vec::new();
    for r in &have {
        if !held.contains_key(r) {
            msgs.push(finding(
                format!(
                    "{} allocator reserves {} {} {} that no live mapping holds (leak)",
                    d.name, r.0, r.1, r.2
                ),
                None,
                Some(r.2),
            ));
        }
    }
    for (r, c) in &held {
        if !have.contains(r) {
            msgs.push(finding(
                format!(
                    "{} allocator forgot {} {} {} while {c} still holds it",
                    d.name, r.0, r.1, r.2
                ),
                Some(c),
                Some(r.2),
            ));
        }
    }
    msgs
}

/// Clean teardown: nothing is left that no live mapping or occupant holds.
fn leftovers(w: &World) -> Vec<String> {
    let mut msgs = Vec::new();
    let live = live(w);
    let mut host_ok: BTreeSet<SockId> = BTreeSet::new();
    for (di, d) in w.daemons.iter().enumerate() {
        let child_ok: BTreeSet<SockId> = live
            .iter()
            .filter(|(x, _, _)| *x == di)
            .filter_map(|(_, _, b)| child_sock(b))
            .collect();
        for (s, owner) in w.kernel.sockets(d.ns) {
            if !child_ok.contains(&s.id) {
                msgs.push(format!(
                    "{} child namespace still holds {} {} ({owner})",
                    d.name,
                    s.id,
                    s.req.describe()
                ));
            }
        }
        let ids: BTreeSet<u32> = live
            .iter()
            .filter(|(x, _, _)| *x == di)
            .filter_map(|(_, _, b)| b.port_driver_remove.map(|r| r.id))
            .collect();
        for (id, spec, sock) in d.driver().ports() {
            if ids.contains(&id) {
                host_ok.extend(sock);
            } else {
                msgs.push(format!(
                    "{} rootlesskit still forwards id {id} ({} {}:{})",
                    d.name, spec.proto, spec.parent_ip, spec.parent_port
                ));
            }
        }
        let held = held_reservations(w, di);
        for r in d.allocator.reservations() {
            if !held.contains_key(&r) {
                msgs.push(format!(
                    "{} allocator still reserves {} {} {}",
                    d.name, r.0, r.1, r.2
                ));
            }
        }
    }
    for (s, owner) in w.kernel.sockets(NsId::HOST) {
        if !owner.starts_with("occupant:") && !host_ok.contains(&s.id) {
            msgs.push(format!(
                "host namespace still holds {} {} ({owner})",
                s.id,
                s.req.describe()
            ));
        }
    }
    msgs
}

/// Convergence: a dynamic group that failed had no port free in both
/// namespaces (or the occupants exceeded the scenario's budget).
fn convergence(w: &World, c: usize) -> Option<Finding> {
    let cfg = &w.scenario.containers[c];
    let d = &w.daemons[cfg.daemon];
    let group = d.bridge.failed_group(&cfg.name)?;
    let first = group.first()?;
    if !first.is_dynamic() {
        return None;
    }
    let (lo, hi) = if first.host_port == 0 {
        d.allocator.range()
    } else {
        (first.host_port, first.host_port_end)
    };
    let skip: BTreeSet<u16> = if first.host_port == 0 && first.host_port_end == 0 {
        d.allocator.reserved().clone()
    } else {
        BTreeSet::new()
    };
    let occupied = occupant_ports(w, first.proto, lo, hi);
    if let Some(budget) = w.scenario.occupant_budget
        && occupied > budget as usize
    {
        return None;
    }
    let reservations = d.allocator.reservations();
    let freed = freed_since_last_allocation(w, &cfg.name);
    let free = (lo..=hi).find(|p| {
        !skip.contains(p)
            && !freed.contains(p)
            && group_free(w, cfg.daemon, &group, *p, &reservations)
    })?;
    Some(finding(
        format!(
            "{}'s -p group {} failed although port {free} was free in both namespaces since its last allocation ({occupied} host port(s) of {lo}-{hi} held by occupants)",
            cfg.name,
            crate::mapper::common::describe_group(&group)
        ),
        Some(&cfg.name),
        Some(free),
    ))
}

/// Ports that anyone (the failing start's own cleanup included) closed a
/// socket on, or released from an allocator, since `name`'s last
/// allocation request. A port free
/// now and not in this set was free for the whole time since that request
/// (only a close or a release makes a port free), so the start's last
/// attempt could have had it. A port that became free only after the last
/// attempt is not held against the policy.
fn freed_since_last_allocation(w: &World, name: &str) -> BTreeSet<u16> {
    let evs = w.trace.events();
    let mut port_of: BTreeMap<String, u16> = BTreeMap::new();
    for e in &evs {
        if let (Some(rest), Some(id)) =
            (e.action.strip_prefix("bind "), e.result.strip_prefix("ok "))
        {
            let addr = rest.split(' ').nth(1).unwrap_or("");
            if let Some(port) = addr.rsplit(':').next().and_then(|p| p.parse().ok()) {
                port_of.insert(id.to_string(), port);
            }
        }
    }
    let last = evs
        .iter()
        .rposition(|e| {
            e.who == name
                && e.layer.ends_with("/allocator")
                && e.action.starts_with("RequestPortsInRange")
        })
        .unwrap_or(0);
    let mut freed = BTreeSet::new();
    for e in &evs[last..] {
        if let Some(id) = e.action.strip_prefix("close ")
            && let Some(p) = port_of.get(id)
        {
            freed.insert(*p);
        }
        if e.action.starts_with("ReleasePort ")
            && let Some(p) = e.action.rsplit(' ').next().and_then(|p| p.parse().ok())
        {
            freed.insert(p);
        }
    }
    freed
}

fn occupant_ports(w: &World, proto: Proto, lo: u16, hi: u16) -> usize {
    let ports: BTreeSet<u16> = w
        .kernel
        .sockets(NsId::HOST)
        .into_iter()
        .filter(|(s, o)| {
            o.starts_with("occupant:") && s.req.proto == proto && (lo..=hi).contains(&s.req.port)
        })
        .map(|(s, _)| s.req.port)
        .collect();
    ports.len()
}

/// Is `port` free for every request of `group`: in the allocator, in the
/// child namespace (moby's probe socket) and in the host (rootlesskit's)?
fn group_free(
    w: &World,
    di: usize,
    group: &[crate::mapper::PortBindingReq],
    port: u16,
    res: &[Reservation],
) -> bool {
    let d = &w.daemons[di];
    group.iter().all(|r| {
        let Some(child) = d.pdc.child_host_ip(r.proto.as_str(), r.host_ip) else {
            return true;
        };
        let taken = res
            .iter()
            .any(|(ip, pr, p)| *p == port && pr == r.proto.as_str() && overlaps(*ip, child));
        let tcp = r.proto == Proto::Tcp;
        let child_req = BindReq {
            proto: r.proto,
            addr: child,
            port,
            reuse_addr: tcp,
            reuse_port: false,
            v6only: true,
        };
        let host_req = BindReq {
            proto: r.proto,
            addr: r.host_ip,
            port,
            reuse_addr: tcp,
            reuse_port: false,
            v6only: r.host_ip.is_ipv6(),
        };
        !taken
            && w.kernel.probe(d.ns, &child_req, tcp, true).is_ok()
            && w.kernel.probe(NsId::HOST, &host_req, tcp, false).is_ok()
    })
}

/// The error a layer returned last while starting `name`, as moby passes
/// it up: allocator and OS allocator errors unwrapped, rootlesskit's
/// message behind the rlkclient prefix.
fn last_forward_error(w: &World, name: &str) -> Option<String> {
    let evs = w.trace.events();
    let begin = evs.iter().rposition(|e| {
        e.who == name && e.action == format!("start {name}") && e.result.is_empty()
    })?;
    let mut last = None;
    for e in &evs[begin..] {
        if e.who != name {
            continue;
        }
        if e.layer.ends_with("/allocator") {
            if let Some(t) = e.result.strip_prefix("error: ") {
                last = Some(t.to_string());
            } else if let Some(i) = e.action.find(" failed: ")
                && e.action.starts_with("attempt ")
            {
                last = Some(e.action[i + " failed: ".len()..].to_string());
            }
        } else if e.layer.ends_with("/bridge")
            && let Some(t) = e.result.strip_prefix("error: ")
        {
            // A bridge driver that binds itself (docker-28).
            last = Some(t.to_string());
        } else if e.layer.ends_with("/rlk")
            && e.action.starts_with("AddPort")
            && let Some(t) = e.result.strip_prefix("400 ")
        {
            last = Some(format!(
                "error while calling RootlessKit PortManager.AddPort(): {t}"
            ));
        }
    }
    last
}

/// Error fidelity: the user reads moby's wrapping around the error that
/// actually stopped the start.
fn error_fidelity(w: &World, c: usize) -> Option<Finding> {
    let cfg = &w.scenario.containers[c];
    let ep = &w.endpoints[c];
    let outcome = crate::sync::state(&w.outcomes)[c].clone()?;
    let text = outcome.error?;
    let prefix = format!(
        "Error response from daemon: failed to set up container networking: driver failed programming external connectivity on endpoint {} ({}): ",
        ep.name, ep.id
    );
    let Some(inner) = text.strip_prefix(&prefix) else {
        return Some(finding(
            format!(
                "{} failed with {text:?}, which lacks moby's wrapping",
                cfg.name
            ),
            Some(&cfg.name),
            None,
        ));
    };
    match last_forward_error(w, &cfg.name) {
        Some(leaf) if leaf != inner => Some(finding(
            format!(
                "{} reports {inner:?} but the error that stopped it was {leaf:?}",
                cfg.name
            ),
            Some(&cfg.name),
            None,
        )),
        _ => None,
    }
}
