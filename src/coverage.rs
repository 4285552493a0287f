//! Coverage of an exploration: how often the situations that matter were
//! reached ("sometimes" assertions, as Antithesis' `sometimes` or
//! Hypothesis' `reachable`). A verdict of "holds" says little if the
//! search never saw a host-side collision; this module says whether it did.
//!
//! The situations are derived after each execution from the structured
//! trace events (who, layer, action, result) the ported code emits at the
//! exact code points — rootlesskit's host bind in
//! `pkg/port/builtin/parent` (`listen ... address already in use`), the
//! allocation at the top of each attempt of `MapPorts`
//! (`mapper_linux.go`, `pa.RequestPortsInRange`), the deferred
//! `UnmapPorts`, and the container lifecycle events of `src/world.rs` — so
//! the checkers, the trace and the mapper ports need no extra hooks. Each
//! execution yields a [`Reached`] (occurrences per situation); an
//! exploration sums them into a [`Coverage`] (executions that reached each
//! one). Everything is ordered (`BTreeMap`), so the same exploration prints
//! the same bytes.

use crate::scenario::Scenario;
use crate::trace::{ByName, Event};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// A situation an exploration may or may not reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Situation {
    /// A container's host-namespace bind or listen (rootlesskit's
    /// `AddPort`) failed with EADDRINUSE.
    HostCollision,
    /// A `MapPorts` call allocated again after a failed attempt.
    Retry,
    /// A `MapPorts` call returned an error right after a host collision:
    /// its last attempt (pr-52927: the tenth, or the only one for a fixed
    /// port; moby master: its only one) collided.
    GiveUp,
    /// A host occupant bound the port a start had just allocated, before
    /// that start's host bind (the window between allocation and AddPort).
    OccupantInWindow,
    /// A container's stop ran while another container of the same daemon
    /// was starting.
    StopDuringStartSameDaemon,
    /// A container's stop ran while a container of another daemon was
    /// starting.
    StopDuringStartOtherDaemon,
    /// `MapPorts`' deferred `UnmapPorts` ran in a call that had retried.
    CleanupAfterRetry,
}

impl Situation {
    pub const ALL: [Situation; 7] = [
        Situation::HostCollision,
        Situation::Retry,
        Situation::GiveUp,
        Situation::OccupantInWindow,
        Situation::StopDuringStartSameDaemon,
        Situation::StopDuringStartOtherDaemon,
        Situation::CleanupAfterRetry,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Situation::HostCollision => "host-collision",
            Situation::Retry => "retry",
            Situation::GiveUp => "give-up",
            Situation::OccupantInWindow => "occupant-in-window",
            Situation::StopDuringStartSameDaemon => "stop-during-start-same-daemon",
            Situation::StopDuringStartOtherDaemon => "stop-during-start-other-daemon",
            Situation::CleanupAfterRetry => "cleanup-after-retry",
        }
    }

    /// The name in a sentence: `host collision`.
    pub fn words(self) -> String {
        self.name().replace('-', " ")
    }

    pub fn describe(self) -> &'static str {
        match self {
            Situation::HostCollision => {
                "a start's host bind or listen (rootlesskit AddPort) hit EADDRINUSE"
            }
            Situation::Retry => "MapPorts allocated again after a failed attempt",
            Situation::GiveUp => "MapPorts failed right after a host collision (its last attempt)",
            Situation::OccupantInWindow => {
                "a host program bound a start's port between its allocation and its AddPort"
            }
            Situation::StopDuringStartSameDaemon => {
                "a stop ran while a start of the same daemon was in flight"
            }
            Situation::StopDuringStartOtherDaemon => {
                "a stop ran while a start of another daemon was in flight"
            }
            Situation::CleanupAfterRetry => "the deferred UnmapPorts ran after a retry",
        }
    }

    pub fn from_name(s: &str) -> Option<Situation> {
        Situation::ALL.into_iter().find(|x| x.name() == s)
    }

    /// Every name, for error messages: `host-collision, retry, ...`.
    pub fn names() -> String {
        Situation::ALL.map(Situation::name).join(", ")
    }
}

impl fmt::Display for Situation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What one execution reached: occurrences per situation (absent: zero).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reached(pub BTreeMap<Situation, usize>);

impl Reached {
    fn hit(&mut self, s: Situation) {
        *self.0.entry(s).or_default() += 1;
    }

    pub fn count(&self, s: Situation) -> usize {
        self.0.get(&s).copied().unwrap_or(0)
    }
}

/// Per-container state of the walk over one trace.
#[derive(Clone, Default)]
struct Walk {
    /// Inside `start c` .. `start c -> outcome`.
    starting: bool,
    /// Allocation attempts in the current `MapPorts` call.
    attempts: usize,
    /// The current attempt hit a host collision.
    collided: bool,
    /// The port allocated and not yet bound in the host.
    window: Option<u16>,
}

fn bind_port(action: &str) -> Option<u16> {
    // Only `bind ...` lines reach here (the caller tests the prefix first).
    let rest = action.strip_prefix("bind ")?;
    let addr = rest.split(' ').nth(1)?;
    addr.rsplit(':').next()?.parse().ok()
}

/// Derive what one execution of `scenario` reached from its trace.
///
/// Runs after every execution, so it reads the events without making
/// their text: layer first, then prefixes, equalities and port numbers,
/// all of which [`crate::trace::Text`] answers from a lazy action's head
/// or number. Only an occupant's successful host bind has its action
/// written (to read the port).
pub fn observe(scenario: &Scenario, trace: &[Event]) -> Reached {
    walk(scenario, trace, &mut ByName::new(), &mut ByName::new())
}

/// What [`observe`] worked out from the actor and layer names of one
/// scenario, kept across its executions (the same interned names come
/// back in every one). Another scenario starts it afresh.
#[derive(Default)]
pub struct Classes {
    /// The scenario the names were classified in (held, so no other
    /// scenario can take its place).
    scenario: Option<std::sync::Arc<Scenario>>,
    whos: ByName<Who>,
    layers: ByName<Layer>,
}

impl Classes {
    /// [`observe`], classifying each name once per scenario.
    pub fn observe(&mut self, scenario: &std::sync::Arc<Scenario>, trace: &[Event]) -> Reached {
        if !self
            .scenario
            .as_ref()
            .is_some_and(|s| std::sync::Arc::ptr_eq(s, scenario))
        {
            *self = Classes {
                scenario: Some(scenario.clone()),
                ..Classes::default()
            };
        }
        walk(scenario, trace, &mut self.whos, &mut self.layers)
    }
}

fn walk(
    scenario: &Scenario,
    trace: &[Event],
    whos: &mut ByName<Who>,
    layers: &mut ByName<Layer>,
) -> Reached {
    let mut r = Reached::default();
    let n = scenario.containers.len();
    let mut st = vec![Walk::default(); n];
    let daemon_of = |c: usize| scenario.containers[c].daemon;
    for e in trace {
        let who = whos.get(&e.who, |w| Who::of(scenario, w));
        let layer = layers.get(&e.layer, Layer::of);
        if let Who::Container(c) = who {
            let is_start_event =
                layer == Layer::Daemon && e.action.strip_prefix("start ") == Some(e.who.as_str());
            if is_start_event {
                st[c] = Walk {
                    starting: e.result.is_empty(),
                    ..Walk::default()
                };
                continue;
            }
            if !st[c].starting {
                // Any other event of a container outside its start belongs
                // to its stop (a container does nothing else).
                for (y, w) in st.iter().enumerate() {
                    if y != c && w.starting {
                        r.hit(if daemon_of(y) == daemon_of(c) {
                            Situation::StopDuringStartSameDaemon
                        } else {
                            Situation::StopDuringStartOtherDaemon
                        });
                    }
                }
                continue;
            }
            let w = &mut st[c];
            match layer {
                Layer::Allocator if e.action.starts_with("RequestPortsInRange") => {
                    if w.attempts > 0 {
                        r.hit(Situation::Retry);
                    }
                    w.attempts += 1;
                    w.collided = false;
                    w.window = e.result.to_u16();
                }
                Layer::Host if e.action.starts_with("bind ") || e.action.starts_with("listen ") => {
                    // Both SO_REUSEADDR sockets may bind; then listen refuses.
                    w.window = None;
                    if e.result.is("EADDRINUSE") {
                        w.collided = true;
                        r.hit(Situation::HostCollision);
                    }
                }
                Layer::Nat => {
                    if e.action.starts_with("deferred UnmapPorts") && w.attempts > 1 {
                        r.hit(Situation::CleanupAfterRetry);
                    }
                    if e.action.starts_with("MapPorts ") && !e.result.is_empty() {
                        if e.result.starts_with("error: ") && w.collided {
                            r.hit(Situation::GiveUp);
                        }
                        w.attempts = 0;
                        w.collided = false;
                        w.window = None;
                    }
                }
                _ => {}
            }
        } else if layer == Layer::Host
            && who == Who::Occupant
            && e.result.starts_with("ok ")
            && e.action.starts_with("bind ")
            // Written only while some start has a window to fall in.
            && st.iter().any(|w| w.starting && w.window.is_some())
            && let Some(p) = bind_port(&e.action)
            && st.iter().any(|w| w.starting && w.window == Some(p))
        {
            r.hit(Situation::OccupantInWindow);
        }
    }
    r
}

/// Who acted, as [`observe`] reads it: a container first, then an occupant.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Who {
    Container(usize),
    Occupant,
    Other,
}

impl Who {
    fn of(scenario: &Scenario, name: &str) -> Who {
        match scenario.container_index(name) {
            Some(c) => Who::Container(c),
            None if scenario.occupant_index(name).is_some() => Who::Occupant,
            None => Who::Other,
        }
    }
}

/// The layers [`observe`] tells apart.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layer {
    /// `d1/daemon`: a container's start and stop.
    Daemon,
    /// `d1/allocator`.
    Allocator,
    /// `host`: the host namespace's kernel.
    Host,
    /// `d1/nat`: the port mapper.
    Nat,
    Other,
}

impl Layer {
    fn of(layer: &str) -> Layer {
        const BY_SUFFIX: [(&str, Layer); 3] = [
            ("/daemon", Layer::Daemon),
            ("/allocator", Layer::Allocator),
            ("/nat", Layer::Nat),
        ];
        if layer == "host" {
            return Layer::Host;
        }
        BY_SUFFIX
            .iter()
            .find(|(s, _)| layer.ends_with(s))
            .map_or(Layer::Other, |(_, l)| *l)
    }
}

/// What an exploration reached: for each situation, the executions that
/// reached it at least once.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Coverage {
    pub executions: usize,
    pub reached: BTreeMap<Situation, usize>,
}

impl Coverage {
    /// Count one execution.
    pub fn add(&mut self, r: &Reached) {
        self.executions += 1;
        for (s, n) in &r.0 {
            if *n > 0 {
                *self.reached.entry(*s).or_default() += 1;
            }
        }
    }

    /// Sum two explorations.
    pub fn merge(&mut self, o: &Coverage) {
        self.executions += o.executions;
        for (s, n) in &o.reached {
            *self.reached.entry(*s).or_default() += n;
        }
    }

    /// Executions that reached `s`.
    pub fn count(&self, s: Situation) -> usize {
        self.reached.get(&s).copied().unwrap_or(0)
    }

    /// The key situations in `keys` that no execution reached.
    pub fn missed(&self, keys: &[Situation]) -> Vec<Situation> {
        keys.iter()
            .copied()
            .filter(|s| self.count(*s) == 0)
            .collect()
    }

    /// `; host collision never reached` for the key situations never
    /// reached (empty when all were).
    pub fn verdict_note(&self, keys: &[Situation]) -> String {
        let m = self.missed(keys);
        if m.is_empty() {
            String::new()
        } else {
            let w: Vec<String> = m.iter().map(|s| s.words()).collect();
            format!("; {} never reached", w.join(", "))
        }
    }

    /// The table: every situation, its count, and `key` for the
    /// scenario's key situations.
    pub fn text(&self, keys: &[Situation]) -> String {
        let mut s = format!(
            "coverage (executions reaching each situation, of {}):\n",
            self.executions
        );
        for x in Situation::ALL {
            let n = self.count(x);
            let mark = match (keys.contains(&x), n) {
                (true, 0) => "key, NEVER REACHED",
                (true, _) => "key",
                (false, _) => "",
            };
            s.push_str(&format!(
                "  {:<31} {:>7}  {}{}\n",
                x.name(),
                n,
                x.describe(),
                if mark.is_empty() {
                    String::new()
                } else {
                    format!(" [{mark}]")
                }
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(who: &str, layer: &str, action: &str, result: &str) -> Event {
        Event {
            seq: 0,
            who: who.into(),
            layer: layer.into(),
            action: action.into(),
            result: result.into(),
        }
    }

    fn sc(text: &str) -> Scenario {
        crate::scenario::parse_str("t", text).unwrap()
    }

    const TWO: &str = r#"
name = "t"
steps = [["start c1", "start c2", "race app"]]
[[daemon]]
name = "d1"
[[daemon]]
name = "d2"
[[occupant]]
name = "app"
kind = "racing"
proto = "tcp"
ports = [32768]
[[container]]
name = "c1"
publish = ["0:80"]
[[container]]
name = "c2"
daemon = "d2"
publish = ["0:80"]
"#;

    #[test]
    fn kept_classes_follow_the_scenario_they_are_used_with() {
        // Interned names, as the world emits them: the cache keeps them.
        let named = |who, layer, action, result| Event {
            who: crate::trace::Text::name(who),
            layer: crate::trace::Text::name(layer),
            ..ev(who, layer, action, result)
        };
        let t = vec![
            named("c1", "d1/daemon", "start c1", ""),
            named("c2", "host", "bind tcp 0.0.0.0:9 RA", "ok s1"),
        ];
        // In TWO, c2 is a container on another daemon: its event outside
        // its start is a stop during c1's start. In `other`, c2 is an
        // occupant.
        let two = std::sync::Arc::new(sc(TWO));
        let other = std::sync::Arc::new(sc(&TWO
            .replace("name = \"c2\"", "name = \"c3\"")
            .replace("name = \"app\"", "name = \"c2\"")
            .replace("race app", "race c2")
            .replace("start c2", "start c3")));
        let mut kept = Classes::default();
        for (s, stops) in [(&two, 1), (&two, 1), (&other, 0), (&two, 1)] {
            let r = kept.observe(s, &t);
            assert_eq!(r.count(Situation::StopDuringStartOtherDaemon), stops);
            assert_eq!(r, observe(s, &t));
        }
    }

    #[test]
    fn a_quiet_start_reaches_nothing() {
        let s = sc(TWO);
        let t = vec![
            ev("c1", "d1/daemon", "start c1", ""),
            ev(
                "c1",
                "d1/allocator",
                "RequestPortsInRange [127.0.0.1] tcp 0-0",
                "32768",
            ),
            ev("c1", "host", "bind tcp 0.0.0.0:32768 RA", "ok s3"),
            ev("c1", "d1/nat", "MapPorts [0.0.0.0] tcp/80 0-0", "ok 32768"),
            ev("c1", "d1/daemon", "start c1", "ok 32768"),
        ];
        assert_eq!(observe(&s, &t), Reached::default());
    }

    #[test]
    fn collision_retry_give_up_and_cleanup_are_seen() {
        let s = sc(TWO);
        let t = vec![
            ev("c1", "d1/daemon", "start c1", ""),
            ev(
                "c1",
                "d1/allocator",
                "RequestPortsInRange [127.0.0.1] tcp 0-0",
                "32768",
            ),
            ev("app", "host", "bind tcp 0.0.0.0:32768 RA", "ok s2"),
            ev("c1", "host", "bind tcp 0.0.0.0:32768 RA", "EADDRINUSE"),
            ev(
                "c1",
                "d1/nat",
                "host-namespace collision on 32768, attempt 1: retrying with a new port",
                "",
            ),
            ev(
                "c1",
                "d1/allocator",
                "RequestPortsInRange [127.0.0.1] tcp 0-0",
                "32768",
            ),
            ev("c1", "host", "bind tcp 0.0.0.0:32768 RA", "EADDRINUSE"),
            ev("c1", "d1/nat", "deferred UnmapPorts of 1 binding(s)", ""),
            ev(
                "c1",
                "d1/nat",
                "MapPorts [0.0.0.0] tcp/80 0-0",
                "error: listen tcp4: address already in use",
            ),
            ev("c1", "d1/daemon", "start c1", "error: x"),
        ];
        let r = observe(&s, &t);
        assert_eq!(r.count(Situation::HostCollision), 2);
        assert_eq!(r.count(Situation::Retry), 1);
        assert_eq!(r.count(Situation::GiveUp), 1);
        assert_eq!(r.count(Situation::OccupantInWindow), 1);
        assert_eq!(r.count(Situation::CleanupAfterRetry), 1);
        assert_eq!(r.count(Situation::StopDuringStartSameDaemon), 0);
    }

    #[test]
    fn a_listen_refused_in_the_host_is_a_collision_too() {
        let s = sc(TWO);
        let t = vec![
            ev("c1", "d1/daemon", "start c1", ""),
            ev(
                "c1",
                "d1/allocator",
                "RequestPortsInRange [127.0.0.1] tcp 0-0",
                "32768",
            ),
            ev("c1", "host", "bind tcp 0.0.0.0:32768 RA", "ok s5"),
            ev("c1", "host", "listen s5", "EADDRINUSE"),
            ev(
                "c1",
                "d1/nat",
                "MapPorts [0.0.0.0] tcp/80 0-0",
                "error: listen tcp4 0.0.0.0:32768: listen: address already in use",
            ),
        ];
        let r = observe(&s, &t);
        assert_eq!(r.count(Situation::HostCollision), 1);
        assert_eq!(r.count(Situation::GiveUp), 1);
    }

    #[test]
    fn an_occupant_bind_before_the_allocation_is_not_in_the_window() {
        let s = sc(TWO);
        let t = vec![
            ev("app", "host", "bind tcp 0.0.0.0:32768 RA", "ok s1"),
            ev("c1", "d1/daemon", "start c1", ""),
            ev(
                "c1",
                "d1/allocator",
                "RequestPortsInRange [127.0.0.1] tcp 0-0",
                "32768",
            ),
            ev("c1", "host", "bind tcp 0.0.0.0:32768 RA", "EADDRINUSE"),
        ];
        let r = observe(&s, &t);
        assert_eq!(r.count(Situation::OccupantInWindow), 0);
        assert_eq!(r.count(Situation::HostCollision), 1);
        assert_eq!(r.count(Situation::GiveUp), 0);
    }

    #[test]
    fn a_stop_inside_another_start_is_told_by_daemon() {
        let s = sc(TWO);
        let t = vec![
            ev("c1", "d1/daemon", "start c1", ""),
            ev("c1", "d1/daemon", "start c1", "ok 32768"),
            ev("c2", "d2/daemon", "start c2", ""),
            ev("c1", "d1/allocator", "ReleasePort 127.0.0.1 tcp 32768", ""),
            ev("c1", "d1/daemon", "stop c1", ""),
            ev("c2", "d2/daemon", "start c2", "ok 32768"),
        ];
        let r = observe(&s, &t);
        assert_eq!(r.count(Situation::StopDuringStartOtherDaemon), 2);
        assert_eq!(r.count(Situation::StopDuringStartSameDaemon), 0);
    }

    #[test]
    fn coverage_counts_executions_and_names_what_it_missed() {
        let mut c = Coverage::default();
        let mut r = Reached::default();
        r.hit(Situation::Retry);
        r.hit(Situation::Retry);
        c.add(&r);
        c.add(&Reached::default());
        assert_eq!(c.executions, 2);
        assert_eq!(c.count(Situation::Retry), 1);
        let keys = [Situation::Retry, Situation::HostCollision];
        assert_eq!(c.verdict_note(&keys), "; host collision never reached");
        assert!(c.text(&keys).contains("[key, NEVER REACHED]"));
        assert_eq!(Situation::from_name("give-up"), Some(Situation::GiveUp));
        assert_eq!(Situation::from_name("nope"), None);
    }
}
