//! The five properties of DESIGN.md, evaluated on the world after every
//! step, after every failed start, and at the end of a run.
//!
//! | property               | when                                  |
//! |------------------------|---------------------------------------|
//! | no-double-ownership    | after every step (what it touched), and at the end |
//! | allocator-consistency  | after every step where the daemon has no start or stop in flight, and at the end |
//! | convergence            | after every failed start              |
//! | error-fidelity         | after every failed start              |
//! | clean-teardown         | at the end                            |
//!
//! Checkers read plain state only (never a scheduling point) and never
//! write to the trace.
//!
//! Layers: this module sits above `world`. It reads a world only through
//! [`crate::world::View`], and the world calls it only through
//! [`crate::world::Monitor`] (which [`Checker`] implements), so the world
//! never names this module.
//!
//! Incremental step checks (issue 9). After each event only what the
//! event could have changed is re-checked ([`Touched::of`]: the event's
//! layer names the host, a child namespace, or one daemon's allocator,
//! rootlesskit or bridge; its action says whether it can have made a
//! finding new: a close can, a bind or listen cannot). Findings are
//! recorded once per (property, message) with the step they were first
//! seen at, so a sub-check whose inputs did not change since it last ran
//! can only find what is already recorded: skipping it leaves the record
//! as the full checks after every step would make it. That holds because
//! every change to the state the step checks read that can make a finding
//! new is followed, before the thread's next scheduling point, by a trace
//! line that names it (a close, `RemovePort`, `unlock configNetwork`,
//! `start c -> ...`, an allocator line). The changes that are not (a
//! mapping removed from a bridge under its lock, a rootlesskit port
//! registered or removed under `d.mu`, an `*os.File` marked closed before
//! its close reaches the kernel) either only remove findings or concern a
//! mapping that is no longer, or not yet, live. Opening a socket,
//! listening, or adding a rootlesskit port cannot make a finding new,
//! since socket and port ids are never reused. Allocator consistency,
//! skipped while its daemon has a start or stop in flight, keeps a
//! per-daemon "changed since evaluated" flag across those steps; a daemon
//! leaves that state only at its `NAME/daemon` line, which sets the flag,
//! so a flagged daemon is looked at again only at a line that touches it.
//! A close is narrowed to the socket it closes (`narrow`): only what
//! held that socket can have a new finding, so a close nothing live held
//! touches nothing. A step that touches nothing runs no check at all,
//! which is most steps.
//!
//! The step checks copy nothing out of the world: live bindings are lent
//! ([`crate::world::View::each_live`]) and reduced to the few fields the
//! checks compare, and names and Go strings are written only for a
//! message.
//!
//! The full checks still run at the end of every run, and `--paranoid`
//! ([`Checker::paranoid`]) runs the full step checks after every step
//! beside the incremental ones and keeps the first step at which the two
//! records differ ([`Checker::disagreement`]).

use crate::kernel::{BindReq, NsId, Proto, SockId};
use crate::mapper::PortBinding;
use crate::sync::StateCell;
use crate::trace::{ByName, Event, Text};
use crate::world::{Monitor, Phase, View, World};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

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

/// Which parts of the state the step checks read one trace event may have
/// changed, derived from the event's layer alone (see the module notes).
/// Allocation-free: an event names at most one daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Touched {
    /// Nothing the step checks read (a mapper note, docker-proxy's hand-off).
    Nothing,
    /// The host namespace's socket table.
    Host,
    /// Parts of daemon `.0`'s state: a set of the `PART_*` bits.
    Daemon(usize, u8),
    /// Anything: an event this module cannot place.
    All,
}

/// The daemon's live bindings (its bridge's port mappings).
pub const PART_BINDINGS: u8 = 1;
/// The daemon's child namespace socket table.
pub const PART_CHILD: u8 = 2;
/// The daemon's rootlesskit ports.
pub const PART_RLK: u8 = 4;
/// The daemon's allocator reservations.
pub const PART_ALLOC: u8 = 8;
const PART_ANY: u8 = PART_BINDINGS | PART_CHILD | PART_RLK | PART_ALLOC;

impl Touched {
    /// What an event in `layer` doing `action` may have changed of the
    /// findings the step checks can make, for daemons named `names` whose
    /// child namespaces are `nss`. Only changes that can make a finding
    /// new count: a socket opened or listening, a rootlesskit port added
    /// (a fresh id no live mapping names yet) or `configNetwork` taken
    /// change nothing a finding could come from.
    ///
    /// - `host` `close ...`: the host socket table (the kernel's layer for
    ///   [`NsId::HOST`]); other host lines (`bind`, `listen`): nothing.
    /// - `dK/child` `close ...`: the socket table of namespace K (the
    ///   kernel names a child namespace by its number, not by its daemon's
    ///   name); other child lines: nothing.
    /// - `NAME/allocator`: that daemon's reservations.
    /// - `NAME/rlk` other than `AddPort ...`: its rootlesskit ports.
    /// - `NAME/bridge` other than `lock configNetwork`, `NAME/daemon`: its
    ///   live bindings (a start stores its bindings just before `unlock
    ///   configNetwork`, or just before `start c -> ...` without the
    ///   lock) and its phases, so its reservations are re-checked too;
    ///   `start c` without a result (a start begins): its phases only.
    /// - `NAME/nat`, `NAME/proxy`: nothing (notes, and the hand-off of a
    ///   socket not stored yet; the socket changes themselves have their
    ///   own `child` and `host` lines).
    /// - anything else of a known daemon: all of that daemon; anything
    ///   else at all: everything.
    ///
    /// Reads `action` and `result` by prefix and by equality only, which
    /// never writes a lazy text.
    pub fn of(
        layer: &str,
        action: &Text,
        result: &Text,
        names: &[String],
        nss: &[NsId],
    ) -> Touched {
        Place::of(layer, names, nss).touched(action, result)
    }

    #[inline]
    fn part(self, d: usize, bits: u8) -> bool {
        match self {
            Touched::All => true,
            Touched::Daemon(x, b) => x == d && b & bits != 0,
            Touched::Nothing | Touched::Host => false,
        }
    }

    fn host(self) -> bool {
        matches!(self, Touched::Host | Touched::All)
    }
}

/// What a trace event's layer alone says about what it may touch
/// ([`Touched::of`] without the action): parsed once per layer name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// `host`.
    Host,
    /// `dK/child` of daemon `.0`.
    Child(usize),
    /// `NAME/allocator`, `NAME/rlk`, ... of daemon `.0`.
    Daemon(usize, Part),
    /// A layer this module cannot place.
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    Allocator,
    Rlk,
    Bridge,
    Daemon,
    Note,
    Other,
}

impl Place {
    fn of(layer: &str, names: &[String], nss: &[NsId]) -> Place {
        if layer == "host" {
            return Place::Host;
        }
        let Some((who, part)) = layer.rsplit_once('/') else {
            return Place::Unknown;
        };
        if part == "child" {
            let k = who.strip_prefix('d').and_then(|k| k.parse::<usize>().ok());
            let mut ds = nss.iter().enumerate().filter(|(_, ns)| Some(ns.0) == k);
            return match (ds.next(), ds.next()) {
                (Some((d, _)), None) => Place::Child(d),
                _ => Place::Unknown,
            };
        }
        let mut ds = names.iter().enumerate().filter(|(_, n)| *n == who);
        let d = match (ds.next(), ds.next()) {
            (Some((d, _)), None) => d,
            _ => return Place::Unknown,
        };
        let part = match part {
            "allocator" => Part::Allocator,
            "rlk" => Part::Rlk,
            "bridge" => Part::Bridge,
            "daemon" => Part::Daemon,
            "nat" | "proxy" => Part::Note,
            _ => Part::Other,
        };
        Place::Daemon(d, part)
    }

    /// [`Touched::of`] for an event of this layer.
    #[inline]
    fn touched(self, action: &Text, result: &Text) -> Touched {
        let closes = || action.starts_with("close ");
        match self {
            Place::Host if closes() => Touched::Host,
            Place::Host => Touched::Nothing,
            Place::Child(d) if closes() => Touched::Daemon(d, PART_CHILD),
            Place::Child(_) => Touched::Nothing,
            Place::Unknown => Touched::All,
            Place::Daemon(d, part) => match part {
                Part::Allocator => Touched::Daemon(d, PART_ALLOC),
                Part::Rlk if action.starts_with("AddPort ") => Touched::Nothing,
                Part::Rlk => Touched::Daemon(d, PART_RLK),
                Part::Bridge if action.is("lock configNetwork") => Touched::Nothing,
                // `start c` as a start begins: its phase only.
                Part::Daemon if action.starts_with("start ") && result.is_empty() => {
                    Touched::Daemon(d, PART_ALLOC)
                }
                Part::Bridge | Part::Daemon => Touched::Daemon(d, PART_BINDINGS | PART_ALLOC),
                Part::Note => Touched::Nothing,
                Part::Other => Touched::Daemon(d, PART_ANY),
            },
        }
    }
}

/// What the step checks evaluate: everything (the full checks) or what
/// one event touched.
#[derive(Clone, Copy, Debug)]
enum Scope {
    Full,
    Step(Touched),
}

impl Scope {
    /// A binding's child-socket checks (needs its bindings or its child table).
    fn child(self, d: usize) -> bool {
        match self {
            Scope::Full => true,
            Scope::Step(t) => t.part(d, PART_BINDINGS | PART_CHILD),
        }
    }

    /// A binding's rootlesskit checks (its bindings, its rootlesskit, the
    /// host table).
    fn rlk(self, d: usize) -> bool {
        match self {
            Scope::Full => true,
            Scope::Step(t) => t.part(d, PART_BINDINGS | PART_RLK) || t.host(),
        }
    }

    /// Pairs of claims with one of daemon `d`'s bindings in them.
    fn pairs(self, d: usize) -> bool {
        match self {
            Scope::Full => true,
            Scope::Step(t) => t.part(d, PART_BINDINGS),
        }
    }
}

fn push(list: &mut Vec<Violation>, property: Property, step: usize, finding: Finding) {
    let Finding { message, evidence } = finding;
    if !list
        .iter()
        .any(|x| x.property == property && x.message == message)
    {
        list.push(Violation {
            property,
            step,
            message,
            evidence,
        });
    }
}

/// Where `--paranoid`'s two sides first differed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disagreement {
    /// The trace step after which they differed.
    pub step: usize,
    /// That step's trace line (or `end of run`).
    pub event: String,
    /// Violations only the incremental side had recorded by then.
    pub incremental_only: Vec<Violation>,
    /// Violations only the full side had recorded by then.
    pub full_only: Vec<Violation>,
}

impl fmt::Display for Disagreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[Violation]| -> String {
            if v.is_empty() {
                return "nothing".to_string();
            }
            v.iter()
                .map(|x| format!("{} at step {}: {}", x.property, x.step, x.message))
                .collect::<Vec<_>>()
                .join("; ")
        };
        write!(
            f,
            "after step {} the incremental checks and the full checks disagree\n  step: {}\n  incremental only: {}\n  full only: {}",
            self.step,
            self.event,
            list(&self.incremental_only),
            list(&self.full_only)
        )?;
        if self.incremental_only.is_empty() && self.full_only.is_empty() {
            write!(f, "\n  (the same violations, recorded in another order)")?;
        }
        Ok(())
    }
}

#[derive(Default)]
struct Record {
    /// What the checkers found (incremental step checks), in order.
    violations: Vec<Violation>,
    /// `--paranoid`: what the full step checks found beside them.
    full: Vec<Violation>,
    disagreement: Option<Disagreement>,
}

/// The incremental checks' memory between steps.
#[derive(Default)]
struct Incremental {
    /// The daemons' names and child namespaces (fixed for a run).
    layout: Option<(Vec<String>, Vec<NsId>)>,
    /// Per daemon: something allocator consistency reads changed since
    /// it was last evaluated (it is not evaluated while the daemon has a
    /// start or stop in flight, so this accumulates over those steps).
    alloc_dirty: Vec<bool>,
    /// The layers seen so far, each placed once (layers are interned
    /// names).
    places: ByName<Place>,
}

/// Collects violations during a run.
#[derive(Default)]
pub struct Checker {
    state: StateCell<Record>,
    incremental: StateCell<Incremental>,
    /// Also run the full step checks after every step and compare.
    paranoid: bool,
    /// Test only: the incremental step checks look at nothing.
    blind: bool,
    /// Items the checkers have read so far (bindings, sockets, ports,
    /// reservations, claim pairs): a deterministic measure of their cost
    /// that `tests/scale.rs` watches grow.
    work: StateCell<u64>,
    /// The no-double-ownership check's buffers, kept between its runs.
    scratch: StateCell<Scratch>,
}

/// What [`double_ownership`] fills and empties at every step that touches
/// a binding (about fifty an execution of retry-500): kept, cleared, so
/// a step check allocates only what it reads from the view.
#[derive(Default)]
struct Scratch {
    read: Vec<bool>,
    live: Vec<Held>,
    claims: Vec<Claim>,
    order: Vec<usize>,
    pairs: Vec<(usize, usize)>,
    child_open: Vec<Lazily<Vec<SockId>>>,
    host_open: Lazily<Vec<SockId>>,
    /// The step checks': daemons with a start or stop in flight.
    busy: Vec<bool>,
    rlk_ports: Vec<Option<RlkPorts>>,
    /// Allocator consistency's: what the live bindings hold, and what
    /// the allocator reserves.
    held_keys: Vec<HeldKey>,
    have: Vec<Reservation>,
}

/// A claim on (namespace, proto, address, port): (.., index into the live
/// bindings, daemon).
type Claim = (NsId, Proto, IpAddr, u16, usize, usize);

impl Checker {
    /// Incremental step checks (the default).
    pub fn new() -> Checker {
        Checker::default()
    }

    /// `--paranoid`: the incremental step checks, and the full ones after
    /// every step beside them; the first step after which the two records
    /// differ is kept ([`Checker::disagreement`]).
    pub fn paranoid() -> Checker {
        Checker {
            paranoid: true,
            ..Checker::default()
        }
    }

    /// Test only: a paranoid checker whose incremental step checks look
    /// at nothing, so that a test can see the comparison fail.
    #[doc(hidden)]
    pub fn blind_for_test() -> Checker {
        Checker {
            paranoid: true,
            blind: true,
            ..Checker::default()
        }
    }

    /// The checker `w` was built with (None: it has another monitor).
    pub fn of(w: &World) -> Option<&Checker> {
        w.monitor.as_any().downcast_ref::<Checker>()
    }

    /// Count `n` items read.
    fn tick(&self, n: usize) {
        *crate::sync::state(&self.work) += n as u64;
    }

    /// Items the checkers have read in this run (see the field).
    pub fn work(&self) -> u64 {
        *crate::sync::state(&self.work)
    }

    fn report(&self, w: &dyn View, property: Property, finding: impl Into<Finding>) {
        let finding = finding.into();
        let step = w.steps();
        let mut st = crate::sync::state(&self.state);
        if self.paranoid {
            push(
                &mut st.full,
                property,
                step,
                Finding {
                    message: finding.message.clone(),
                    evidence: finding.evidence.clone(),
                },
            );
        }
        push(&mut st.violations, property, step, finding);
    }

    /// All violations, in the order they were seen.
    pub fn violations(&self) -> Vec<Violation> {
        crate::sync::state(&self.state).violations.clone()
    }

    /// `--paranoid`: where the incremental and the full checks first
    /// disagreed (None: they never did, or not paranoid).
    pub fn disagreement(&self) -> Option<Disagreement> {
        crate::sync::state(&self.state).disagreement.clone()
    }

    /// The first violation of each property (None: it held).
    pub fn verdicts(&self) -> Vec<(Property, Option<Violation>)> {
        let st = crate::sync::state(&self.state);
        Property::ALL
            .into_iter()
            .map(|p| (p, st.violations.iter().find(|x| x.property == p).cloned()))
            .collect()
    }

    /// The step checks over `scope`, in the order of the full checks:
    /// no-double-ownership, then allocator consistency per daemon with no
    /// start or stop in flight (with `dirty`, only those whose inputs
    /// changed since they were last evaluated; those are cleared).
    fn step_checks(
        &self,
        w: &dyn View,
        scope: Scope,
        dirty: Option<&mut Vec<bool>>,
    ) -> Vec<(Property, Finding)> {
        // A step that touched nothing leaves no double ownership to find.
        let mut out: Vec<(Property, Finding)> = if matches!(scope, Scope::Step(Touched::Nothing)) {
            Vec::new()
        } else {
            double_ownership(w, self, scope)
                .into_iter()
                .map(|m| (Property::NoDoubleOwnership, m.into()))
                .collect()
        };
        let n = w.daemon_count();
        // A dirty daemon that this step did not touch was busy when it was
        // last looked at, and is still: a daemon's last start or stop to
        // finish leaves its phase and then, before any other event, emits
        // `start c -> ...` or `stop c` on its `daemon` layer, which touches
        // it (World::start, World::stop). So only touched ones are read.
        let touched = |di: usize| match scope {
            Scope::Full => true,
            Scope::Step(t) => t.part(di, PART_BINDINGS | PART_ALLOC),
        };
        if let Some(d) = &dirty
            && !d.iter().enumerate().any(|(di, x)| *x && touched(di))
        {
            return out;
        }
        // Daemons with a start or stop in flight, in one pass over the
        // containers.
        let mut busy = std::mem::take(&mut crate::sync::state(&self.scratch).busy);
        busy.clear();
        busy.resize(n, false);
        w.with_phases(&mut |phases| {
            for (c, p) in w.scenario().containers.iter().zip(phases) {
                if matches!(p, Phase::Starting | Phase::Stopping) {
                    busy[c.daemon] = true;
                }
            }
        });
        let mut dirty = dirty;
        for (di, &busy) in busy.iter().enumerate() {
            if busy {
                continue;
            }
            if let Some(d) = dirty.as_deref_mut() {
                if !d[di] || !touched(di) {
                    continue;
                }
                d[di] = false;
            }
            for m in allocator_consistency(w, self, di) {
                out.push((Property::AllocatorConsistency, m));
            }
        }
        crate::sync::state(&self.scratch).busy = busy;
        out
    }

    /// After every trace event: the step checks over what `ev` touched
    /// (everything at the first event); with `--paranoid` the full step
    /// checks too, compared. Under real OS threads (`os-threads`) these
    /// checks would read a half-updated world; they run at the end instead.
    pub fn after_step(&self, w: &dyn View, ev: &Event) {
        if cfg!(feature = "os-threads") {
            return;
        }
        let step = ev.seq;
        let found = {
            let mut guard = crate::sync::state(&self.incremental);
            let Incremental {
                layout,
                alloc_dirty,
                places,
            } = &mut *guard;
            let n = w.daemon_count();
            let first = layout.is_none();
            let (names, nss) = layout.get_or_insert_with(|| {
                (
                    (0..n).map(|d| w.daemon_name(d).to_string()).collect(),
                    (0..n).map(|d| w.daemon_ns(d)).collect(),
                )
            });
            let t = if self.blind {
                Touched::Nothing
            } else if first {
                Touched::All
            } else {
                let place = places.get(&ev.layer, |l| Place::of(l, names, nss));
                place.touched(&ev.action, &ev.result)
            };
            let t = if self.blind {
                t
            } else {
                narrow(w, self, t, &ev.action)
            };
            if alloc_dirty.len() != n {
                *alloc_dirty = vec![false; n];
            }
            for (d, dirty) in alloc_dirty.iter_mut().enumerate() {
                if t.part(d, PART_BINDINGS | PART_ALLOC) {
                    *dirty = true;
                }
            }
            // Nothing touched: no step check can find anything new (the
            // common case, read without a call; see step_checks for the
            // daemons still dirty).
            if t == Touched::Nothing {
                Vec::new()
            } else {
                self.step_checks(w, Scope::Step(t), Some(alloc_dirty))
            }
        };
        if found.is_empty() && !self.paranoid {
            return;
        }
        let full = self
            .paranoid
            .then(|| self.step_checks(w, Scope::Full, None));
        let mut st = crate::sync::state(&self.state);
        for (p, m) in found {
            push(&mut st.violations, p, step, m);
        }
        if let Some(full) = full {
            for (p, m) in full {
                push(&mut st.full, p, step, m);
            }
            compare(&mut st, step, || ev.line().trim().to_string());
        }
    }

    /// After container `c`'s start failed.
    pub fn after_failed_start(&self, w: &dyn View, c: usize) {
        if let Some(m) = convergence(w, c) {
            self.report(w, Property::Convergence, m);
        }
        if let Some(m) = error_fidelity(w, c) {
            self.report(w, Property::ErrorFidelity, m);
        }
    }

    /// At the end of the run: the full checks (no-double-ownership once
    /// more over everything, a safety net that finds nothing new while
    /// the incremental step checks are right).
    pub fn at_end(&self, w: &dyn View) {
        for m in double_ownership(w, self, Scope::Full) {
            self.report(w, Property::NoDoubleOwnership, m);
        }
        // What each daemon's live mappings hold, read once for both checks
        // (reporting changes nothing they read).
        let held: Vec<_> = (0..w.daemon_count())
            .map(|di| held_reservations(w, self, di))
            .collect();
        for (di, held) in held.iter().enumerate() {
            for m in allocator_consistency_of(w, self, di, held) {
                self.report(w, Property::AllocatorConsistency, m);
            }
        }
        for m in leftovers(w, self, &held) {
            self.report(w, Property::CleanTeardown, m);
        }
        if self.paranoid {
            let mut st = crate::sync::state(&self.state);
            compare(&mut st, w.steps(), || "end of run".to_string());
        }
    }
}

/// Keep the first step after which the two sides' records differ.
fn compare(st: &mut Record, step: usize, event: impl FnOnce() -> String) {
    if st.disagreement.is_some() || st.full == st.violations {
        return;
    }
    let only = |a: &[Violation], b: &[Violation]| -> Vec<Violation> {
        a.iter().filter(|x| !b.contains(x)).cloned().collect()
    };
    st.disagreement = Some(Disagreement {
        step,
        event: event(),
        incremental_only: only(&st.violations, &st.full),
        full_only: only(&st.full, &st.violations),
    });
}

impl Monitor for Checker {
    fn after_step(&self, w: &dyn View, ev: &Event) {
        Checker::after_step(self, w, ev)
    }
    fn after_failed_start(&self, w: &dyn View, c: usize) {
        Checker::after_failed_start(self, w, c)
    }
    fn at_end(&self, w: &dyn View) {
        Checker::at_end(self, w)
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
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

/// The socket a `close sN` action closes.
fn closed_sock(action: &Text) -> Option<SockId> {
    if !action.starts_with("close s") {
        return None;
    }
    // The kernel's lazy `close sN` says its N without being written.
    if let Some(n) = action.known_last_number() {
        return u32::try_from(n).ok().map(SockId);
    }
    action.strip_prefix("close s")?.parse().ok().map(SockId)
}

/// A close touches only what held the socket it closed. After `close S`
/// in a daemon's child namespace, the only child-socket findings that can
/// be new are those of its bindings that hold S (a binding holding
/// another socket was checked when that one closed, or when the binding
/// was stored); after `close S` on the host, the only rootlesskit findings
/// that can be new are those of a port whose host listener is S (the
/// others depend on the ports and the bindings, whose own events re-check
/// them). When nothing holds S the close touches nothing; otherwise `t`
/// stands, and the step checks run as before.
#[inline]
fn narrow(w: &dyn View, k: &Checker, t: Touched, action: &Text) -> Touched {
    let holds = match t {
        Touched::Host => {
            let Some(s) = closed_sock(action) else {
                return t;
            };
            (0..w.daemon_count()).any(|d| {
                let ports = w.driver_listeners(d);
                k.tick(ports.len());
                ports.iter().any(|(_, l)| *l == Some(s))
            })
        }
        Touched::Daemon(d, PART_CHILD) => {
            let Some(s) = closed_sock(action) else {
                return t;
            };
            let mut holds = false;
            w.each_live(d, &mut |_, b| {
                k.tick(1);
                let held = match &b.stop_proxy {
                    Some(p) => Some(p.sock),
                    None => b.bound_socket.as_ref().map(|f| f.sock),
                };
                holds |= held == Some(s);
            });
            holds
        }
        _ => return t,
    };
    if holds { t } else { Touched::Nothing }
}

/// The ids of the sockets open in `ns` (the table only: no owner labels),
/// sorted, into `ids` (emptied first: a kept buffer).
fn open_ids_into(w: &dyn View, k: &Checker, ns: NsId, ids: &mut Vec<SockId>) {
    ids.clear();
    w.open_ids_into(ns, ids);
    ids.sort_unstable();
    ids.dedup();
    k.tick(ids.len());
}

/// A kept buffer read at most once per check, when first wanted:
/// `filled` says whether it holds this check's value.
#[derive(Default)]
struct Lazily<T> {
    filled: bool,
    value: T,
}

impl<T> Lazily<T> {
    /// The value, filled by `fill` if this check has not read it yet.
    fn get(&mut self, fill: impl FnOnce(&mut T)) -> &T {
        if !self.filled {
            fill(&mut self.value);
            self.filled = true;
        }
        &self.value
    }
}

/// What the step checks read of one live binding, copied out of the
/// bridge without its names or sockets (a step check reads every live
/// binding of a touched daemon, and copying them cost more than checking
/// them). `nth` finds the binding again for a message ([`describe`]).
#[derive(Clone, Copy)]
struct Held {
    di: usize,
    /// Its place in daemon `di`'s [`View::each_live`] order.
    nth: usize,
    proto: Proto,
    child_host_ip: IpAddr,
    host_ip: IpAddr,
    host_port: u16,
    child: Option<SockId>,
    rootlesskit_unsupported: bool,
    remove_id: Option<u32>,
}

/// The live bindings of the daemons `read` selects (every daemon: None),
/// in daemon then endpoint order, appended to `out`.
fn held_into(w: &dyn View, k: &Checker, read: Option<&[bool]>, out: &mut Vec<Held>) {
    let start = out.len();
    for di in 0..w.daemon_count() {
        if read.is_some_and(|r| !r[di]) {
            continue;
        }
        held_of(w, di, out);
    }
    k.tick(out.len() - start);
}

/// Daemon `di`'s live bindings appended to `out`.
fn held_of(w: &dyn View, di: usize, out: &mut Vec<Held>) {
    let mut nth = 0;
    w.each_live(di, &mut |_, b| {
        out.push(Held {
            di,
            nth,
            proto: b.proto,
            child_host_ip: b.child_host_ip,
            host_ip: b.host_ip,
            host_port: b.host_port,
            child: child_sock(b),
            rootlesskit_unsupported: b.rootlesskit_unsupported,
            remove_id: b.port_driver_remove.map(|r| r.id),
        });
        nth += 1;
    });
}

/// The endpoint name of a [`Held`] binding and the binding's Go string
/// form, read again from the view (only for a message).
fn describe(w: &dyn View, h: &Held) -> (String, String) {
    let (mut nth, mut found) = (0, None);
    w.each_live(h.di, &mut |ep, b| {
        if nth == h.nth {
            found = Some((ep.to_string(), b.go_string()));
        }
        nth += 1;
    });
    found.unwrap_or_default()
}

/// A daemon's rootlesskit ports by id: (id, host listener), sorted.
type RlkPorts = Vec<(u32, Option<SockId>)>;

/// No double ownership: live mappings never claim overlapping
/// (namespace, proto, address, port), and each one's sockets are open.
///
/// Each namespace's socket table and each daemon's rootlesskit port list
/// is read at most once per call, and claims are compared only with claims
/// on the same (namespace, proto, port): the cost of one call is linear in
/// the live state (it was quadratic, and cubic over a run, issue 12).
///
/// Under [`Scope::Step`] only the sub-checks whose inputs the step touched
/// run (a binding's child-socket checks, its rootlesskit checks, the pairs
/// with one of a touched daemon's bindings in them), each exactly as in
/// the full check and in its order, so what they find is the part of the
/// full check's findings that can be new after this step.
fn double_ownership(w: &dyn View, k: &Checker, scope: Scope) -> Vec<String> {
    let mut msgs = Vec::new();
    let n = w.daemon_count();
    let full = matches!(scope, Scope::Full);
    // Claims on the host cross daemons: with any pair wanted, every
    // daemon's bindings are read.
    let any_pairs = (0..n).any(|d| scope.pairs(d));
    let wanted = |d: usize| any_pairs || scope.child(d) || scope.rlk(d);
    if !(0..n).any(wanted) {
        return msgs;
    }
    let mut scratch = crate::sync::state(&k.scratch);
    let Scratch {
        read,
        live,
        claims,
        order,
        pairs,
        child_open,
        host_open,
        rlk_ports,
        ..
    } = &mut *scratch;
    read.clear();
    read.extend((0..n).map(wanted));
    live.clear();
    held_into(w, k, if full { None } else { Some(read) }, live);
    if live.is_empty() {
        return msgs;
    }
    let live = &*live;
    // Described only for a message: formatting every binding after every
    // step cost more than the checks themselves.
    let desc = |i: usize| {
        let (ep, b) = describe(w, &live[i]);
        format!("{ep}'s {b}")
    };
    claims.clear();
    host_open.filled = false;
    if full {
        host_open.get(|ids| open_ids_into(w, k, NsId::HOST, ids));
    }
    // Per daemon, read once: its child table, its rootlesskit ports.
    child_open.iter_mut().for_each(|c| c.filled = false);
    child_open.resize_with(n, Lazily::default);
    rlk_ports.clear();
    rlk_ports.resize(n, None);
    for (i, b) in live.iter().enumerate() {
        let di = b.di;
        let ns = w.daemon_ns(di);
        if scope.child(di) {
            match b.child {
                None => msgs.push(format!("{} holds no child socket", desc(i))),
                Some(s)
                    if child_open[di]
                        .get(|ids| open_ids_into(w, k, ns, ids))
                        .binary_search(&s)
                        .is_err() =>
                {
                    msgs.push(format!("{}: its child socket {s} is closed", desc(i)))
                }
                Some(_) => {}
            }
        }
        if any_pairs {
            claims.push((ns, b.proto, b.child_host_ip, b.host_port, i, di));
        }
        if b.rootlesskit_unsupported {
            continue;
        }
        let Some(rm) = b.remove_id else {
            if scope.rlk(di) {
                msgs.push(format!("{} has no rootlesskit port", desc(i)));
            }
            continue;
        };
        if scope.rlk(di) {
            let ports = rlk_ports[di].get_or_insert_with(|| {
                let mut ports = w.driver_listeners(di);
                k.tick(ports.len());
                // Sorted by id, the last of equal ids kept (a map's insert).
                ports.reverse();
                ports.sort_by_key(|p| p.0);
                ports.dedup_by_key(|p| p.0);
                ports
            });
            match ports.binary_search_by_key(&rm, |p| p.0) {
                Err(_) => msgs.push(format!(
                    "{}: rootlesskit {} has no port id {}",
                    desc(i),
                    w.daemon_name(di),
                    rm
                )),
                Ok(x) => {
                    if let Some(s) = ports[x].1
                        && host_open
                            .get(|ids| open_ids_into(w, k, NsId::HOST, ids))
                            .binary_search(&s)
                            .is_err()
                    {
                        msgs.push(format!(
                            "{}: host listener {s} of rootlesskit id {} is closed",
                            desc(i),
                            rm
                        ))
                    }
                }
            }
        }
        if any_pairs {
            claims.push((NsId::HOST, b.proto, b.host_ip, b.host_port, i, di));
        }
    }
    // Pairs (i < j) of overlapping claims, in the order a nested loop over
    // the claims would find them: claims grouped by (namespace, proto,
    // port), each group in claim order.
    order.clear();
    order.extend(0..claims.len());
    order.sort_by_key(|&i| (claims[i].0, claims[i].1, claims[i].3, i));
    pairs.clear();
    for idx in order.chunk_by(|&a, &b| {
        (claims[a].0, claims[a].1, claims[a].3) == (claims[b].0, claims[b].1, claims[b].3)
    }) {
        if !idx.iter().any(|&i| scope.pairs(claims[i].5)) {
            continue;
        }
        for (m, &i) in idx.iter().enumerate() {
            k.tick(idx.len() - m);
            for &j in &idx[m + 1..] {
                if (scope.pairs(claims[i].5) || scope.pairs(claims[j].5))
                    && overlaps(claims[i].2, claims[j].2)
                {
                    pairs.push((i, j));
                }
            }
        }
    }
    pairs.sort_unstable();
    for &(i, j) in pairs.iter() {
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

type Reservation = (IpAddr, &'static str, u16);

/// The reservations daemon `di`'s live bindings hold, sorted, each with
/// the binding that holds it (the last of several, as a map's insert
/// keeps), for a message.
/// A reservation a live mapping holds, and the binding that holds it.
type HeldKey = ((IpAddr, &'static str, u16), Held);

fn held_reservations(w: &dyn View, k: &Checker, di: usize) -> Vec<HeldKey> {
    let (mut live, mut out) = (Vec::new(), Vec::new());
    held_reservations_into(w, k, di, &mut live, &mut out);
    out
}

/// [`held_reservations`] into `out`, reading the bindings into `live`
/// (both emptied first: the step checks keep them between runs).
fn held_reservations_into(
    w: &dyn View,
    k: &Checker,
    di: usize,
    live: &mut Vec<Held>,
    out: &mut Vec<HeldKey>,
) {
    live.clear();
    held_of(w, di, live);
    k.tick(live.len());
    out.clear();
    out.extend(
        live.iter()
            .map(|b| ((b.child_host_ip, b.proto.as_str(), b.host_port), *b)),
    );
    out.reverse();
    out.sort_by(|x, y| res_cmp(&x.0, &y.0));
    out.dedup_by(|x, y| res_cmp(&x.0, &y.0).is_eq());
}

/// Reservations in their order (address, protocol name, port), the
/// protocol compared by identity first: both sides name it with the
/// same `'static` words, and comparing their bytes was a library call
/// per comparison.
#[inline]
fn res_cmp(a: &Reservation, b: &Reservation) -> std::cmp::Ordering {
    a.0.cmp(&b.0)
        .then_with(|| {
            if std::ptr::eq(a.1, b.1) {
                std::cmp::Ordering::Equal
            } else {
                a.1.cmp(b.1)
            }
        })
        .then(a.2.cmp(&b.2))
}

fn holds(held: &[HeldKey], r: &Reservation) -> bool {
    held.binary_search_by(|e| res_cmp(&e.0, r)).is_ok()
}

/// Allocator consistency: the daemon's reservations are exactly the ports
/// its live mappings hold. Reads through the checker's kept buffers.
fn allocator_consistency(w: &dyn View, k: &Checker, di: usize) -> Vec<Finding> {
    let mut scratch = crate::sync::state(&k.scratch);
    let Scratch {
        live,
        held_keys,
        have,
        ..
    } = &mut *scratch;
    held_reservations_into(w, k, di, live, held_keys);
    allocator_consistency_into(w, k, di, held_keys, have)
}

/// [`allocator_consistency`] given what the live mappings hold.
fn allocator_consistency_of(
    w: &dyn View,
    k: &Checker,
    di: usize,
    held: &[HeldKey],
) -> Vec<Finding> {
    allocator_consistency_into(w, k, di, held, &mut Vec::new())
}

/// [`allocator_consistency_of`] reading the reservations into `have`.
fn allocator_consistency_into(
    w: &dyn View,
    k: &Checker,
    di: usize,
    held: &[HeldKey],
    have: &mut Vec<Reservation>,
) -> Vec<Finding> {
    let name = w.daemon_name(di);
    have.clear();
    w.reservations_into(di, have);
    if !have.is_sorted_by(|a, b| res_cmp(a, b).is_le()) {
        have.sort_by(res_cmp);
    }
    have.dedup_by(|a, b| res_cmp(a, b).is_eq());
    k.tick(have.len());
    let mut msgs = Vec::new();
    for r in have.iter() {
        if !holds(held, r) {
            msgs.push(finding(
                format!(
                    "{} allocator reserves {} {} {} that no live mapping holds (leak)",
                    name, r.0, r.1, r.2
                ),
                None,
                Some(r.2),
            ));
        }
    }
    for (r, b) in held {
        if have.binary_search_by(|h| res_cmp(h, r)).is_err() {
            let (c, _) = describe(w, b);
            msgs.push(finding(
                format!(
                    "{} allocator forgot {} {} {} while {c} still holds it",
                    name, r.0, r.1, r.2
                ),
                Some(&c),
                Some(r.2),
            ));
        }
    }
    msgs
}

/// Clean teardown: nothing is left that no live mapping or occupant holds.
fn leftovers(w: &dyn View, k: &Checker, held: &[Vec<HeldKey>]) -> Vec<String> {
    let mut msgs = Vec::new();
    let mut host_ok: BTreeSet<SockId> = BTreeSet::new();
    for (di, held) in held.iter().enumerate() {
        let name = w.daemon_name(di);
        // What the daemon's live bindings hold: child sockets, rootlesskit ids.
        let (mut child_ok, mut ids) = (Vec::new(), Vec::new());
        let mut n = 0;
        w.each_live(di, &mut |_, b| {
            n += 1;
            child_ok.extend(child_sock(b));
            ids.extend(b.port_driver_remove.map(|r| r.id));
        });
        k.tick(n);
        child_ok.sort_unstable();
        ids.sort_unstable();
        let ns = w.daemon_ns(di);
        for s in w.open_sockets(ns) {
            if child_ok.binary_search(&s.id).is_err() {
                // Owners are labelled only for a message.
                let owner = w
                    .sockets(ns)
                    .into_iter()
                    .find(|(o, _)| o.id == s.id)
                    .map(|(_, owner)| owner)
                    .unwrap_or_default();
                msgs.push(format!(
                    "{} child namespace still holds {} {} ({owner})",
                    name,
                    s.id,
                    s.req.describe()
                ));
            }
        }
        for (id, spec, sock) in w.driver_ports(di) {
            if ids.binary_search(&id).is_ok() {
                host_ok.extend(sock);
            } else {
                msgs.push(format!(
                    "{} rootlesskit still forwards id {id} ({} {}:{})",
                    name, spec.proto, spec.parent_ip, spec.parent_port
                ));
            }
        }
        for r in w.reservations(di) {
            if !holds(held, &r) {
                msgs.push(format!(
                    "{} allocator still reserves {} {} {}",
                    name, r.0, r.1, r.2
                ));
            }
        }
    }
    w.each_socket(NsId::HOST, &mut |s, owner| {
        if !owner.starts_with("occupant:") && !host_ok.contains(&s.id) {
            msgs.push(format!(
                "host namespace still holds {} {} ({owner})",
                s.id,
                s.req.describe()
            ));
        }
    });
    msgs
}

/// Convergence: a dynamic group that failed had no port free in both
/// namespaces (or the occupants exceeded the scenario's budget).
fn convergence(w: &dyn View, c: usize) -> Option<Finding> {
    let cfg = &w.scenario().containers[c];
    let di = cfg.daemon;
    let group = w.failed_group(di, &cfg.name)?;
    let first = group.first()?;
    if !first.is_dynamic() {
        return None;
    }
    let (lo, hi) = if first.host_port == 0 {
        w.allocator_range(di)
    } else {
        (first.host_port, first.host_port_end)
    };
    let skip: BTreeSet<u16> = if first.host_port == 0 && first.host_port_end == 0 {
        w.allocator_reserved(di).clone()
    } else {
        BTreeSet::new()
    };
    let occupied = occupant_ports(w, first.proto, lo, hi);
    if let Some(budget) = w.scenario().occupant_budget
        && occupied > budget as usize
    {
        return None;
    }
    let reservations = w.reservations(di);
    let freed = freed_since_last_allocation(w, &cfg.name);
    let free = (lo..=hi).find(|p| {
        !skip.contains(p) && !freed.contains(p) && group_free(w, di, &group, *p, &reservations)
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
fn freed_since_last_allocation(w: &dyn View, name: &str) -> BTreeSet<u16> {
    let evs = w.events();
    let mut port_of: BTreeMap<String, u16> = BTreeMap::new();
    for e in &evs {
        // `starts_with` first: it answers without writing a lazy text.
        if !e.action.starts_with("bind ") || !e.result.starts_with("ok ") {
            continue;
        }
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
        if e.action.starts_with("close ")
            && let Some(id) = e.action.strip_prefix("close ")
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

fn occupant_ports(w: &dyn View, proto: Proto, lo: u16, hi: u16) -> usize {
    let ports: BTreeSet<u16> = w
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
    w: &dyn View,
    di: usize,
    group: &[crate::mapper::PortBindingReq],
    port: u16,
    res: &[Reservation],
) -> bool {
    let ns = w.daemon_ns(di);
    group.iter().all(|r| {
        let Some(child) = w.child_host_ip(di, r.proto.as_str(), r.host_ip) else {
            return true;
        };
        let taken = res
            .iter()
            .any(|(ip, pr, p)| *p == port && *pr == r.proto.as_str() && overlaps(*ip, child));
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
            && w.probe(ns, &child_req, tcp, true).is_ok()
            && w.probe(NsId::HOST, &host_req, tcp, false).is_ok()
    })
}

/// The error a layer returned last while starting `name`, as moby passes
/// it up: allocator and OS allocator errors unwrapped, rootlesskit's
/// message behind the rlkclient prefix.
fn last_forward_error(w: &dyn View, name: &str) -> Option<String> {
    let evs = w.events();
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
fn error_fidelity(w: &dyn View, c: usize) -> Option<Finding> {
    let cfg = &w.scenario().containers[c];
    let (ep_name, ep_id) = w.endpoint(c);
    let outcome = w.outcome(c)?;
    let text = outcome.error?;
    let prefix = format!(
        "Error response from daemon: failed to set up container networking: driver failed programming external connectivity on endpoint {} ({}): ",
        ep_name, ep_id
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

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> (Vec<String>, Vec<NsId>) {
        // Daemon names need not follow the namespaces' numbers.
        (
            vec!["d1".to_string(), "alpha".to_string()],
            vec![NsId::child(0), NsId::child(1)],
        )
    }

    fn of(layer: &str) -> Touched {
        of2(layer, "close s3")
    }

    fn of2(layer: &str, action: &str) -> Touched {
        of3(layer, action, "ok")
    }

    fn of3(layer: &str, action: &str, result: &str) -> Touched {
        let (names, nss) = layout();
        Touched::of(
            layer,
            &Text::from(action),
            &Text::from(result),
            &names,
            &nss,
        )
    }

    /// Opening sockets, listening, registering a fresh rootlesskit port
    /// and taking a lock cannot make a finding new.
    #[test]
    fn additions_touch_nothing() {
        for (l, a) in [
            ("host", "bind tcp 0.0.0.0:32768 RA"),
            ("host", "listen s1"),
            ("d1/child", "bind tcp 127.0.0.1:32768 RA"),
            ("d2/child", "listen s2"),
            ("alpha/rlk", "AddPort tcp4 0.0.0.0:32768 => 127.0.0.1:32768"),
            ("d1/bridge", "lock configNetwork"),
        ] {
            assert_eq!(of2(l, a), Touched::Nothing, "{l} {a}");
        }
        assert_eq!(of2("d1/rlk", "RemovePort 1"), Touched::Daemon(0, PART_RLK));
        assert_eq!(
            of2("d1/bridge", "unlock configNetwork"),
            Touched::Daemon(0, PART_BINDINGS | PART_ALLOC)
        );
        // A start beginning changes its phase only; its end may follow
        // the bindings' store, a stop's end their removal.
        assert_eq!(
            of3("alpha/daemon", "start c1", ""),
            Touched::Daemon(1, PART_ALLOC)
        );
        for (a, r) in [
            ("start c1", "ok 32768"),
            ("stop c1", ""),
            ("start c1", "error: x"),
        ] {
            assert_eq!(
                of3("alpha/daemon", a, r),
                Touched::Daemon(1, PART_BINDINGS | PART_ALLOC),
                "{a} {r}"
            );
        }
        // The child layer's daemon is still resolved for an addition.
        assert_eq!(of2("d3/child", "listen s2"), Touched::All);
    }

    #[test]
    fn the_host_layer_touches_the_host_table_only() {
        assert_eq!(of("host"), Touched::Host);
        assert!(of("host").host());
        assert!(!of("host").part(0, PART_ANY));
    }

    #[test]
    fn a_child_layer_names_its_namespace_by_number_not_its_daemon() {
        assert_eq!(of("d1/child"), Touched::Daemon(0, PART_CHILD));
        assert_eq!(of("d2/child"), Touched::Daemon(1, PART_CHILD));
        // No such namespace, or a name the kernel never writes: everything.
        assert_eq!(of("d3/child"), Touched::All);
        assert_eq!(of("alpha/child"), Touched::All);
    }

    #[test]
    fn daemon_layers_touch_that_daemons_parts() {
        assert_eq!(of("d1/allocator"), Touched::Daemon(0, PART_ALLOC));
        assert_eq!(of("alpha/rlk"), Touched::Daemon(1, PART_RLK));
        for l in ["alpha/bridge", "alpha/daemon"] {
            assert_eq!(of(l), Touched::Daemon(1, PART_BINDINGS | PART_ALLOC), "{l}");
        }
        assert_eq!(of("d1/nat"), Touched::Nothing);
        assert_eq!(of("alpha/proxy"), Touched::Nothing);
    }

    #[test]
    fn what_it_cannot_place_touches_everything() {
        assert_eq!(of("alpha/something-new"), Touched::Daemon(1, PART_ANY));
        for l in ["setup", "", "beta/allocator", "d2/allocator", "a/b/c"] {
            assert_eq!(of(l), Touched::All, "{l:?}");
        }
        let all = Touched::All;
        assert!(all.host() && all.part(0, PART_BINDINGS) && all.part(1, PART_ALLOC));
    }

    #[test]
    fn two_daemons_with_one_name_touch_everything() {
        let names = vec!["d1".to_string(), "d1".to_string()];
        let nss = vec![NsId::child(0), NsId::child(1)];
        let (action, result) = (Text::from("RemovePort 1"), Text::from("ok"));
        assert_eq!(
            Touched::of("d1/rlk", &action, &result, &names, &nss),
            Touched::All
        );
    }

    #[test]
    fn scopes_select_the_sub_checks_whose_inputs_changed() {
        let s = |t| Scope::Step(t);
        let child = s(Touched::Daemon(0, PART_CHILD));
        assert!(child.child(0) && !child.rlk(0) && !child.pairs(0) && !child.child(1));
        let rlk = s(Touched::Daemon(1, PART_RLK));
        assert!(rlk.rlk(1) && !rlk.child(1) && !rlk.pairs(1) && !rlk.rlk(0));
        let host = s(Touched::Host);
        assert!(host.rlk(0) && host.rlk(1) && !host.child(0) && !host.pairs(0));
        let b = s(Touched::Daemon(0, PART_BINDINGS));
        assert!(b.child(0) && b.rlk(0) && b.pairs(0) && !b.pairs(1));
        let alloc = s(Touched::Daemon(0, PART_ALLOC));
        assert!(!alloc.child(0) && !alloc.rlk(0) && !alloc.pairs(0));
        assert!(Scope::Full.child(3) && Scope::Full.rlk(3) && Scope::Full.pairs(3));
        let none = s(Touched::Nothing);
        assert!(!none.child(0) && !none.rlk(0) && !none.pairs(0));
    }

    #[test]
    fn a_disagreement_prints_one_line_first() {
        let v = Violation {
            property: Property::AllocatorConsistency,
            step: 12,
            message: "d1 allocator reserves 0.0.0.0 tcp 8080 that no live mapping holds (leak)"
                .into(),
            evidence: Evidence::default(),
        };
        let d = Disagreement {
            step: 12,
            event: "12 c1     d1/daemon     stop c1".into(),
            incremental_only: vec![],
            full_only: vec![v],
        };
        assert_eq!(
            d.to_string(),
            "after step 12 the incremental checks and the full checks disagree\n  step: 12 c1     d1/daemon     stop c1\n  incremental only: nothing\n  full only: allocator-consistency at step 12: d1 allocator reserves 0.0.0.0 tcp 8080 that no live mapping holds (leak)"
        );
    }

    #[test]
    fn a_property_is_found_by_its_name_and_only_by_it() {
        for p in Property::ALL {
            assert_eq!(Property::from_name(p.name()), Some(p));
        }
        assert_eq!(Property::from_name("double-ownership"), None);
    }
}

/// Unit tests of the checkers over a hand-built view: each test sets up
/// the few parts of a world a check reads and asserts its exact findings.
#[cfg(test)]
mod view_tests {
    use super::*;

    /// [`leftovers`] as [`Checker::at_end`] calls it.
    fn end_leftovers(w: &dyn View, k: &Checker) -> Vec<String> {
        let held: Vec<_> = (0..w.daemon_count())
            .map(|di| held_reservations(w, k, di))
            .collect();
        leftovers(w, k, &held)
    }
    use crate::kernel::{Errno, SockInfo};
    use crate::mapper::rlkclient::PortDriverRemove;
    use crate::mapper::{OsFile, PortBindingReq};
    use crate::rootlesskit::Spec;
    use crate::scenario::Scenario;
    use crate::world::StartOutcome;

    const SCENARIO: &str = r#"
name = "view"
steps = ["start a", "start b"]
[[daemon]]
name = "d1"
[[daemon]]
name = "d2"
[[container]]
name = "a"
daemon = "d1"
publish = ["8080:80"]
[[container]]
name = "b"
daemon = "d2"
publish = ["8080:80"]
"#;

    /// A world reduced to what the checkers read. Daemon `d`'s child
    /// namespace is `NsId::child(d)`; rootlesskit forwards to 127.0.0.1.
    struct Fake {
        sc: Scenario,
        events: Vec<Event>,
        live: Vec<BTreeMap<String, Vec<PortBinding>>>,
        ports: Vec<Vec<(u32, Spec, Option<SockId>)>>,
        res: Vec<Vec<Reservation>>,
        range: (u16, u16),
        reserved: BTreeSet<u16>,
        failed: Option<Vec<PortBindingReq>>,
        socks: Vec<(NsId, SockInfo, String)>,
        phases: Vec<Phase>,
        outcomes: Vec<Option<StartOutcome>>,
        endpoints: Vec<(String, String)>,
    }

    impl Fake {
        fn new() -> Fake {
            let sc = crate::scenario::parse_str("view.toml", SCENARIO).unwrap();
            let n = sc.containers.len();
            Fake {
                endpoints: sc
                    .containers
                    .iter()
                    .map(|c| (c.name.clone(), format!("{}-id", c.name)))
                    .collect(),
                sc,
                events: Vec::new(),
                live: vec![BTreeMap::new(), BTreeMap::new()],
                ports: vec![Vec::new(), Vec::new()],
                res: vec![Vec::new(), Vec::new()],
                range: (8000, 8002),
                reserved: BTreeSet::new(),
                failed: None,
                socks: Vec::new(),
                phases: vec![Phase::Running; n],
                outcomes: vec![None; n],
            }
        }

        fn event(&mut self, who: &str, layer: &str, action: &str, result: &str) -> Event {
            let e = Event::new(self.events.len() + 1, who, layer, action, result);
            self.events.push(e.clone());
            e
        }

        fn sock(&mut self, ns: NsId, id: u32, port: u16, owner: &str) {
            let req = BindReq {
                proto: Proto::Tcp,
                addr: ip("0.0.0.0"),
                port,
                reuse_addr: true,
                reuse_port: false,
                v6only: false,
            };
            let info = SockInfo {
                id: SockId(id),
                req,
                v6only_effective: false,
                listening: true,
            };
            self.socks.push((ns, info, owner.to_string()));
        }

        /// Container `c` (of daemon `d`) holds 0.0.0.0:`port` through child
        /// socket `child` (open) and rootlesskit port `id` whose host
        /// listener `host` is open.
        fn map(&mut self, d: usize, c: &str, port: u16, child: u32, id: u32, host: u32) {
            self.live[d]
                .entry(c.to_string())
                .or_default()
                .push(binding(d, port, child, id));
            self.sock(NsId::child(d), child, port, &format!("{c}:child"));
            self.sock(NsId::HOST, host, port, "rootlesskit");
            let spec = Spec {
                proto: "tcp".into(),
                parent_ip: "0.0.0.0".into(),
                parent_port: port.into(),
                child_ip: "127.0.0.1".into(),
                child_port: port.into(),
            };
            self.ports[d].push((id, spec, Some(SockId(host))));
            self.res[d].push((ip("127.0.0.1"), "tcp", port));
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn binding(d: usize, port: u16, child: u32, id: u32) -> PortBinding {
        PortBinding {
            proto: Proto::Tcp,
            ip: ip("172.17.0.2"),
            port: 80,
            host_ip: ip("0.0.0.0"),
            host_port: port,
            host_port_end: port,
            mapper: "nat",
            nat: None,
            bound_socket: Some(OsFile::new(NsId::child(d), SockId(child))),
            child_host_ip: ip("127.0.0.1"),
            port_driver_remove: Some(PortDriverRemove { id }),
            stop_proxy: None,
            rootlesskit_unsupported: false,
        }
    }

    impl View for Fake {
        fn scenario(&self) -> &Scenario {
            &self.sc
        }
        fn steps(&self) -> usize {
            self.events.len()
        }
        fn events(&self) -> Vec<Event> {
            self.events.clone()
        }
        fn daemon_count(&self) -> usize {
            self.sc.daemons.len()
        }
        fn daemon_name(&self, d: usize) -> &str {
            &self.sc.daemons[d].name
        }
        fn daemon_ns(&self, d: usize) -> NsId {
            NsId::child(d)
        }
        fn live(&self, d: usize) -> BTreeMap<String, Vec<PortBinding>> {
            self.live[d].clone()
        }
        fn driver_ports(&self, d: usize) -> Vec<(u32, Spec, Option<SockId>)> {
            self.ports[d].clone()
        }
        fn reservations(&self, d: usize) -> Vec<Reservation> {
            let mut r = self.res[d].clone();
            r.sort();
            r
        }
        fn allocator_range(&self, _: usize) -> (u16, u16) {
            self.range
        }
        fn allocator_reserved(&self, _: usize) -> &BTreeSet<u16> {
            &self.reserved
        }
        fn failed_group(&self, _: usize, _: &str) -> Option<Vec<PortBindingReq>> {
            self.failed.clone()
        }
        fn child_host_ip(&self, _: usize, _: &str, _: IpAddr) -> Option<IpAddr> {
            Some(ip("127.0.0.1"))
        }
        fn open_sockets(&self, ns: NsId) -> Vec<SockInfo> {
            self.sockets(ns).into_iter().map(|(s, _)| s).collect()
        }
        fn sockets(&self, ns: NsId) -> Vec<(SockInfo, String)> {
            self.socks
                .iter()
                .filter(|(n, _, _)| *n == ns)
                .map(|(_, s, o)| (s.clone(), o.clone()))
                .collect()
        }
        /// A port is taken in `ns` when a socket there has it.
        fn probe(&self, ns: NsId, req: &BindReq, _: bool, _: bool) -> Result<(), Errno> {
            if self.sockets(ns).iter().any(|(s, _)| s.req.port == req.port) {
                Err(Errno::EADDRINUSE)
            } else {
                Ok(())
            }
        }
        fn phases(&self) -> Vec<Phase> {
            self.phases.clone()
        }
        fn outcome(&self, c: usize) -> Option<StartOutcome> {
            self.outcomes[c].clone()
        }
        fn endpoint(&self, c: usize) -> (&str, &str) {
            (&self.endpoints[c].0, &self.endpoints[c].1)
        }
    }

    #[test]
    fn the_fake_world_with_two_distinct_mappings_is_clean() {
        let mut f = Fake::new();
        f.map(0, "a", 8080, 1, 1, 2);
        f.map(1, "b", 8081, 3, 1, 4);
        let k = Checker::new();
        assert_eq!(double_ownership(&f, &k, Scope::Full), Vec::<String>::new());
        assert!(allocator_consistency(&f, &k, 0).is_empty());
        assert_eq!(end_leftovers(&f, &k), Vec::<String>::new());
    }

    fn leak(port: u16) -> Violation {
        Violation {
            property: Property::AllocatorConsistency,
            step: 2,
            message: format!(
                "d1 allocator reserves 127.0.0.1 tcp {port} that no live mapping holds (leak)"
            ),
            evidence: Evidence {
                container: None,
                port: Some(port),
            },
        }
    }

    const A: &str = "a's 0.0.0.0:8080:172.17.0.2:80/tcp";
    const B: &str = "b's 0.0.0.0:8080:172.17.0.2:80/tcp";

    #[test]
    fn claims_overlap_in_one_family_on_equal_or_unspecified_addresses() {
        assert!(overlaps(ip("127.0.0.1"), ip("127.0.0.1")));
        assert!(overlaps(ip("0.0.0.0"), ip("127.0.0.1")));
        assert!(overlaps(ip("127.0.0.1"), ip("0.0.0.0")));
        assert!(overlaps(ip("::"), ip("::1")));
        assert!(!overlaps(ip("127.0.0.1"), ip("127.0.0.2")));
        assert!(!overlaps(ip("0.0.0.0"), ip("::")));
    }

    #[test]
    fn a_finding_is_recorded_once_per_property_and_message() {
        let mut list = Vec::new();
        let f = |m: &str| Finding::from(m.to_string());
        push(&mut list, Property::CleanTeardown, 1, f("x"));
        push(&mut list, Property::CleanTeardown, 2, f("x"));
        push(&mut list, Property::CleanTeardown, 3, f("y"));
        push(&mut list, Property::Convergence, 4, f("x"));
        let got: Vec<(Property, usize, &str)> = list
            .iter()
            .map(|v| (v.property, v.step, v.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (Property::CleanTeardown, 1, "x"),
                (Property::CleanTeardown, 3, "y"),
                (Property::Convergence, 4, "x"),
            ]
        );
    }

    #[test]
    fn an_unplaceable_line_of_a_known_daemon_touches_all_four_parts() {
        let t = Touched::of(
            "d2/something-new",
            &Text::from("x"),
            &Text::from(""),
            &["d1".to_string(), "d2".to_string()],
            &[NsId::child(0), NsId::child(1)],
        );
        assert_eq!(t, Touched::Daemon(1, 0b1111));
        for bit in [PART_BINDINGS, PART_CHILD, PART_RLK, PART_ALLOC] {
            assert!(t.part(1, bit) && !t.part(0, bit), "{bit}");
        }
    }

    #[test]
    fn two_daemons_forwarding_one_host_port_own_it_twice() {
        let mut f = Fake::new();
        f.map(0, "a", 8080, 1, 1, 2);
        f.map(1, "b", 8080, 3, 1, 4);
        let want = vec![format!("{A} and {B} both own host tcp port 8080")];
        let k = Checker::new();
        assert_eq!(double_ownership(&f, &k, Scope::Full), want);
        // A step that changed either daemon's bindings finds the pair,
        // though the other daemon's were not touched.
        for d in [0, 1] {
            let step = Scope::Step(Touched::Daemon(d, PART_BINDINGS));
            assert_eq!(double_ownership(&f, &k, step), want, "{d}");
        }
        let alloc = Scope::Step(Touched::Daemon(1, PART_ALLOC));
        assert_eq!(double_ownership(&f, &k, alloc), Vec::<String>::new());
    }

    #[test]
    fn a_live_mapping_whose_child_socket_is_closed_is_reported() {
        let mut f = Fake::new();
        f.map(0, "a", 8080, 1, 1, 2);
        f.socks.retain(|(_, s, _)| s.id != SockId(1));
        let want = vec![format!("{A}: its child socket s1 is closed")];
        let k = Checker::new();
        assert_eq!(double_ownership(&f, &k, Scope::Full), want);
        let child = Scope::Step(Touched::Daemon(0, PART_CHILD));
        assert_eq!(double_ownership(&f, &k, child), want);
    }

    #[test]
    fn a_live_mapping_whose_host_listener_is_closed_is_reported() {
        let mut f = Fake::new();
        f.map(0, "a", 8080, 1, 1, 2);
        f.socks.retain(|(_, s, _)| s.id != SockId(2));
        let want = vec![format!(
            "{A}: host listener s2 of rootlesskit id 1 is closed"
        )];
        let k = Checker::new();
        assert_eq!(double_ownership(&f, &k, Scope::Full), want);
    }

    /// Two bindings: 2 read, 2 host sockets, per daemon 1 child socket
    /// and 1 rootlesskit port, and claim pairs 1 + 1 + (2 + 1) over the
    /// (namespace, proto, port) groups [child1], [child2], [host, host].
    #[test]
    fn the_checker_counts_the_items_it_reads() {
        let mut f = Fake::new();
        f.map(0, "a", 8080, 1, 1, 2);
        f.map(1, "b", 8080, 3, 1, 4);
        let k = Checker::new();
        assert_eq!(k.work(), 0);
        double_ownership(&f, &k, Scope::Full);
        assert_eq!(k.work(), 2 + 2 + 2 + 2 + 5);
    }

    #[test]
    fn a_close_names_its_socket_and_nothing_else_does() {
        let t = |s: &str| closed_sock(&Text::from(s));
        assert_eq!(t("close s12"), Some(SockId(12)));
        assert_eq!(t("close 12"), None);
        assert_eq!(t("close sx"), None);
        assert_eq!(t("listen s12"), None);
        assert_eq!(t(""), None);
        // A lazy close says its socket without being written.
        let lazy = Text::lazy(crate::trace::testing::Close(7));
        assert_eq!(closed_sock(&lazy), Some(SockId(7)));
    }

    #[test]
    fn a_close_touches_only_what_held_its_socket() {
        let mut f = Fake::new();
        // a: child socket s1, rootlesskit id 1 listening on host s2.
        f.map(0, "a", 8080, 1, 1, 2);
        let k = Checker::new();
        let child = Touched::Daemon(0, PART_CHILD);
        let n = |f: &Fake, t: Touched, action: &str| narrow(f, &k, t, &Text::from(action));
        assert_eq!(n(&f, child, "close s9"), Touched::Nothing);
        assert_eq!(n(&f, child, "close s1"), child);
        // Daemon 1 (d2) holds nothing.
        assert_eq!(
            n(&f, Touched::Daemon(1, PART_CHILD), "close s1"),
            Touched::Nothing
        );
        assert_eq!(n(&f, Touched::Host, "close s7"), Touched::Nothing);
        assert_eq!(n(&f, Touched::Host, "close s2"), Touched::Host);
        // Not a close, or another part: as it was.
        assert_eq!(n(&f, child, "listen s9"), child);
        assert_eq!(n(&f, Touched::Host, "bind tcp 0.0.0.0:1 RA"), Touched::Host);
        let rlk = Touched::Daemon(0, PART_RLK);
        assert_eq!(n(&f, rlk, "close s9"), rlk);
        assert_eq!(n(&f, Touched::All, "close s9"), Touched::All);
    }

    #[test]
    fn closing_the_held_child_socket_is_found_and_closing_another_reads_nothing() {
        let mut f = Fake::new();
        f.map(0, "a", 8080, 1, 1, 2);
        let k = Checker::new();
        let e = f.event("a", "d1/daemon", "start a", "");
        k.after_step(&f, &e);
        let before = k.work();
        let e = f.event("x", "d1/child", "close s9", "");
        k.after_step(&f, &e);
        assert_eq!(k.work(), before + 1, "one binding read, no table");
        f.socks.retain(|(_, s, _)| s.id != SockId(1));
        let e = f.event("x", "d1/child", "close s1", "");
        k.after_step(&f, &e);
        let found: Vec<String> = k.violations().into_iter().map(|v| v.message).collect();
        assert_eq!(found, vec![format!("{A}: its child socket s1 is closed")]);
    }

    #[test]
    fn a_busy_daemons_reservations_are_read_again_at_its_own_next_event() {
        let mut f = Fake::new();
        let k = Checker::new();
        f.phases[0] = Phase::Starting;
        let e = f.event("a", "d1/daemon", "start a", "");
        k.after_step(&f, &e);
        f.res[0].push((ip("127.0.0.1"), "tcp", 9000));
        let e = f.event("a", "d1/allocator", "ReleasePort 127.0.0.1 tcp 1", "");
        k.after_step(&f, &e);
        assert_eq!(k.violations(), vec![], "busy: not read");
        let before = k.work();
        let e = f.event("a", "d1/nat", "note", "");
        k.after_step(&f, &e);
        assert_eq!(
            k.work(),
            before,
            "a step that touched nothing reads nothing"
        );
        // Its start ends: the phase first, then its daemon-layer line.
        f.phases[0] = Phase::Running;
        let e = f.event("a", "d1/daemon", "start a", "a=ok 8080");
        k.after_step(&f, &e);
        let mut want = leak(9000);
        want.step = 4;
        assert_eq!(k.violations(), vec![want]);
    }

    #[test]
    fn an_allocator_line_re_evaluates_that_daemons_reservations() {
        let mut f = Fake::new();
        f.map(0, "a", 8080, 1, 1, 2);
        let k = Checker::new();
        let e = f.event("a", "d1/daemon", "start a", "");
        k.after_step(&f, &e);
        assert_eq!(k.violations(), vec![]);
        f.res[0].push((ip("127.0.0.1"), "tcp", 9000));
        let e = f.event(
            "a",
            "d1/allocator",
            "RequestPortsInRange [0.0.0.0] tcp 0-0",
            "9000",
        );
        k.after_step(&f, &e);
        assert_eq!(k.violations(), vec![leak(9000)]);
        assert_eq!(k.disagreement(), None);
    }

    #[test]
    fn paranoid_keeps_the_first_step_the_incremental_checks_skipped() {
        let mut f = Fake::new();
        let k = Checker::paranoid();
        let e = f.event("a", "d1/daemon", "start a", "");
        k.after_step(&f, &e);
        assert_eq!(k.disagreement(), None);
        // A change no trace line names (the world never does that).
        f.res[0].push((ip("127.0.0.1"), "tcp", 9000));
        let e = f.event("a", "d1/nat", "note", "");
        k.after_step(&f, &e);
        assert_eq!(k.violations(), vec![]);
        let want = Disagreement {
            step: 2,
            event: e.line().trim().to_string(),
            incremental_only: vec![],
            full_only: vec![leak(9000)],
        };
        assert_eq!(k.disagreement(), Some(want.clone()));
        // The next allocator line lets the incremental side catch up; the
        // first disagreement stays.
        let e = f.event("a", "d1/allocator", "ReleasePort 127.0.0.1 tcp 8000", "");
        k.after_step(&f, &e);
        assert_eq!(k.violations().len(), 1);
        assert_eq!(k.disagreement(), Some(want));
    }

    #[test]
    fn paranoid_agrees_when_the_incremental_checks_see_the_change() {
        let mut f = Fake::new();
        let k = Checker::paranoid();
        let e = f.event("a", "d1/daemon", "start a", "");
        k.after_step(&f, &e);
        f.res[0].push((ip("127.0.0.1"), "tcp", 9000));
        let e = f.event(
            "a",
            "d1/allocator",
            "RequestPortsInRange [0.0.0.0] tcp 0-0",
            "9000",
        );
        k.after_step(&f, &e);
        k.at_end(&f);
        let teardown = Violation {
            property: Property::CleanTeardown,
            step: 2,
            message: "d1 allocator still reserves 127.0.0.1 tcp 9000".into(),
            evidence: Evidence::default(),
        };
        assert_eq!(k.violations(), vec![leak(9000), teardown]);
        assert_eq!(k.disagreement(), None);
    }

    #[test]
    fn the_blind_checker_disagrees_at_the_first_step_with_a_finding() {
        let mut f = Fake::new();
        f.map(0, "a", 8080, 1, 1, 2);
        f.map(1, "b", 8080, 3, 1, 4);
        let k = Checker::blind_for_test();
        let e = f.event("a", "d1/daemon", "start a", "");
        k.after_step(&f, &e);
        assert_eq!(k.violations(), vec![]);
        let d = k.disagreement().expect("the full side found the pair");
        assert_eq!((d.step, d.incremental_only), (1, vec![]));
        let full: Vec<(Property, String)> = d
            .full_only
            .into_iter()
            .map(|v| (v.property, v.message))
            .collect();
        assert_eq!(
            full,
            [(
                Property::NoDoubleOwnership,
                format!("{A} and {B} both own host tcp port 8080")
            )]
        );
    }

    #[test]
    fn leftovers_list_what_no_live_mapping_or_occupant_holds() {
        let mut f = Fake::new();
        f.map(0, "a", 8080, 1, 1, 2);
        f.sock(NsId::child(0), 5, 9000, "a:probe");
        f.sock(NsId::HOST, 6, 9001, "docker-proxy");
        f.sock(NsId::HOST, 7, 9002, "occupant:o1");
        let spec = Spec {
            proto: "tcp".into(),
            parent_ip: "0.0.0.0".into(),
            parent_port: 9003,
            child_ip: "127.0.0.1".into(),
            child_port: 9003,
        };
        f.ports[1].push((8, spec, None));
        f.res[1].push((ip("0.0.0.0"), "tcp", 9004));
        let want = [
            "d1 child namespace still holds s5 tcp 0.0.0.0:9000 RA (a:probe)",
            "d2 rootlesskit still forwards id 8 (tcp 0.0.0.0:9003)",
            "d2 allocator still reserves 0.0.0.0 tcp 9004",
            "host namespace still holds s6 tcp 0.0.0.0:9001 RA (docker-proxy)",
        ];
        assert_eq!(end_leftovers(&f, &Checker::new()), want);
        // The world calls the end checks through the monitor.
        let k = Checker::new();
        let m: &dyn Monitor = &k;
        m.at_end(&f);
        let got: Vec<(Property, String)> = k
            .violations()
            .into_iter()
            .map(|v| (v.property, v.message))
            .collect();
        let mut expect = vec![(
            Property::AllocatorConsistency,
            "d2 allocator reserves 0.0.0.0 tcp 9004 that no live mapping holds (leak)".to_string(),
        )];
        expect.extend(want.map(|m| (Property::CleanTeardown, m.to_string())));
        assert_eq!(got, expect);
    }

    fn group(host_port: u16, host_port_end: u16) -> Vec<PortBindingReq> {
        vec![PortBindingReq {
            proto: Proto::Tcp,
            ip: ip("172.17.0.2"),
            port: 80,
            host_ip: ip("0.0.0.0"),
            host_port,
            host_port_end,
            mapper: "nat",
            child_host_ip: None,
        }]
    }

    fn failed(f: &mut Fake, host_port: u16, host_port_end: u16) {
        f.failed = Some(group(host_port, host_port_end));
        f.event(
            "a",
            "d1/allocator",
            "RequestPortsInRange [0.0.0.0] tcp 0-0",
            "error: x",
        );
    }

    fn converge(f: &Fake) -> Option<(String, Evidence)> {
        convergence(f, 0).map(|x| (x.message, x.evidence))
    }

    fn free(group: &str, port: u16, occupied: usize) -> Option<(String, Evidence)> {
        Some((
            format!(
                "a's -p group [0.0.0.0] tcp/80 {group} failed although port {port} was free in both namespaces since its last allocation ({occupied} host port(s) of 8000-8002 held by occupants)"
            ),
            Evidence {
                container: Some("a".into()),
                port: Some(port),
            },
        ))
    }

    #[test]
    fn convergence_skips_the_reserved_ports_only_for_a_whole_range_group() {
        let mut f = Fake::new();
        f.reserved = BTreeSet::from([8000]);
        failed(&mut f, 0, 0);
        assert_eq!(converge(&f), free("0-0", 8001, 0));
        // A group with an end of its own (not what moby sends for port 0).
        failed(&mut f, 0, 8002);
        assert_eq!(converge(&f), free("0-8002", 8000, 0));
    }

    #[test]
    fn convergence_is_not_required_beyond_the_occupant_budget() {
        let mut f = Fake::new();
        f.sc.occupant_budget = Some(1);
        f.sock(NsId::HOST, 1, 8000, "occupant:o1");
        failed(&mut f, 0, 0);
        assert_eq!(converge(&f), free("0-0", 8001, 1));
        f.sock(NsId::HOST, 2, 8001, "occupant:o2");
        assert_eq!(converge(&f), None);
        f.sc.occupant_budget = Some(2);
        assert_eq!(converge(&f), free("0-0", 8002, 2));
    }

    #[test]
    fn ports_freed_since_the_last_allocation_count_from_its_own_request() {
        let mut f = Fake::new();
        f.event("a", "host", "bind tcp 0.0.0.0:8080 RA", "ok s1");
        f.event(
            "a",
            "d1/allocator",
            "RequestPortsInRange [0.0.0.0] tcp 0-0",
            "8000",
        );
        f.event("x", "host", "close s1", "");
        f.event(
            "b",
            "d2/allocator",
            "RequestPortsInRange [0.0.0.0] tcp 0-0",
            "8000",
        );
        f.event("b", "host", "bind tcp 0.0.0.0:9090 RA", "ok s2");
        f.event("b", "host", "close s2", "");
        f.event("y", "d1/allocator", "ReleasePort 127.0.0.1 tcp 8001", "");
        assert_eq!(
            freed_since_last_allocation(&f, "a"),
            BTreeSet::from([8001, 8080, 9090])
        );
        assert_eq!(
            freed_since_last_allocation(&f, "b"),
            BTreeSet::from([8001, 9090])
        );
    }

    #[test]
    fn the_last_forward_error_is_the_last_layer_error_of_the_last_start() {
        let mut f = Fake::new();
        f.event("a", "d1/daemon", "start a", "");
        f.event(
            "a",
            "d1/allocator",
            "RequestPortsInRange [0.0.0.0] tcp 0-0",
            "error: old",
        );
        f.event("a", "d1/daemon", "start a", "error: old");
        f.event("a", "d1/daemon", "start a", "");
        assert_eq!(last_forward_error(&f, "a"), None);
        f.event(
            "a",
            "d1/allocator",
            "attempt 1 failed: failed to bind host port 0.0.0.0:8000/tcp: address already in use",
            "",
        );
        f.event(
            "b",
            "d2/allocator",
            "RequestPortsInRange [0.0.0.0] tcp 0-0",
            "error: b's",
        );
        f.event("a", "d1/bridge", "unlock configNetwork", "");
        assert_eq!(
            last_forward_error(&f, "a").as_deref(),
            Some("failed to bind host port 0.0.0.0:8000/tcp: address already in use")
        );
        f.event(
            "a",
            "d1/rlk",
            "AddPort tcp4 0.0.0.0:8000 => 127.0.0.1:8000",
            "400 listen tcp4 0.0.0.0:8000: bind: address already in use",
        );
        assert_eq!(
            last_forward_error(&f, "a").as_deref(),
            Some(
                "error while calling RootlessKit PortManager.AddPort(): listen tcp4 0.0.0.0:8000: bind: address already in use"
            )
        );
    }

    fn fail_with(f: &mut Fake, error: &str) {
        f.outcomes[0] = Some(StartOutcome {
            container: "a".into(),
            ok: false,
            bindings: vec![],
            ports: vec![],
            error: Some(error.to_string()),
        });
    }

    const WRAP: &str = "Error response from daemon: failed to set up container networking: driver failed programming external connectivity on endpoint a (a-id): ";

    #[test]
    fn error_fidelity_compares_the_reported_error_with_the_last_layer_error() {
        let mut f = Fake::new();
        f.event("a", "d1/daemon", "start a", "");
        let leaf = "Bind for 0.0.0.0:8080 failed: port is already allocated";
        f.event(
            "a",
            "d1/allocator",
            "RequestPortsInRange [0.0.0.0] tcp 8080-8080",
            &format!("error: {leaf}"),
        );
        fail_with(&mut f, &format!("{WRAP}{leaf}"));
        assert!(error_fidelity(&f, 0).is_none());
        fail_with(&mut f, &format!("{WRAP}port is already allocated"));
        let k = Checker::new();
        k.after_failed_start(&f, 0);
        assert_eq!(
            k.violations(),
            vec![Violation {
                property: Property::ErrorFidelity,
                step: 2,
                message: format!(
                    "a reports \"port is already allocated\" but the error that stopped it was \"{leaf}\""
                ),
                evidence: Evidence {
                    container: Some("a".into()),
                    port: None,
                },
            }]
        );
    }
}
