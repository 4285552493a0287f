//! Shuttle-driven exploration: run many executions of one scenario under a
//! scheduler, record each one's choices, and keep the statistics and the
//! first violation.

use super::schedule::SeededRandom;
use super::schedule::{Log, Recorded, Recorder, Replayer, Schedule};
use super::{KernelKind, execute};
use crate::check::Property;
use crate::mapper::Policy;
use crate::report::RunReport;
use crate::scenario::Scenario;
use shuttle::scheduler::{DfsScheduler, PctScheduler, Scheduler};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A scheduler choice for [`explore`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    Random,
    Pct { depth: usize },
    Dfs,
}

impl EngineKind {
    pub fn describe(self) -> String {
        match self {
            EngineKind::Random => "random".to_string(),
            EngineKind::Pct { depth } => format!("pct depth {depth}"),
            EngineKind::Dfs => "dfs".to_string(),
        }
    }
}

/// A violating execution.
#[derive(Clone, Debug)]
pub struct Failure {
    pub report: RunReport,
    pub recorded: Recorded,
    /// The first property it violates.
    pub property: Property,
    /// 1-based index of the execution that found it.
    pub execution: usize,
}

/// What an exploration saw.
#[derive(Clone, Debug, Default)]
pub struct Exploration {
    pub executions: usize,
    /// Distinct (outcomes, verdicts) signatures.
    pub outcomes: BTreeSet<String>,
    pub max_threads: usize,
    /// Most scheduling decisions in one execution.
    pub max_steps: usize,
    /// Per container, the executions in which its start failed.
    pub failed_starts: BTreeMap<String, usize>,
    pub failure: Option<Failure>,
}

/// What a caller may attach to an exploration: a cancel flag, read
/// between executions (set it from a Ctrl-C handler: the exploration stops
/// after the execution in flight and returns what it saw), and a callback
/// told after every execution.
#[derive(Clone, Default)]
pub struct Hooks {
    pub cancel: Option<Arc<AtomicBool>>,
    pub progress: Option<Arc<dyn Fn(Progress) + Send + Sync>>,
}

impl Hooks {
    pub fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
    }
}

/// Counts so far, for [`Hooks::progress`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub executions: usize,
    pub violations: usize,
}

fn config() -> shuttle::Config {
    let mut cfg = shuttle::Config::new();
    cfg.silence_warnings = true;
    cfg
}

fn signature(r: &RunReport) -> String {
    let starts: Vec<String> = r
        .starts
        .iter()
        .map(|s| format!("{}={}", s.container, s.summary()))
        .collect();
    let bad: Vec<&str> = r
        .properties
        .iter()
        .filter(|p| !p.holds)
        .map(|p| p.property.name())
        .collect();
    format!("{} | violated: {}", starts.join(" "), bad.join(","))
}

/// Per-execution bookkeeping shared by the runner's closure and the
/// recorder: the report of the execution that just ran waits here until
/// its recorded choices are complete.
#[derive(Default)]
struct Harvest {
    pending: Option<Result<RunReport, String>>,
    result: Exploration,
    error: Option<String>,
    hooks: Hooks,
}

impl Harvest {
    fn absorb(&mut self, rec: Recorded, stop: &Mutex<bool>) {
        let Some(r) = self.pending.take() else { return };
        let report = match r {
            Ok(r) => r,
            Err(e) => {
                self.error = Some(e);
                *crate::sync::state(stop) = true;
                return;
            }
        };
        let x = &mut self.result;
        x.executions += 1;
        x.max_threads = x.max_threads.max(rec.threads);
        x.max_steps = x.max_steps.max(rec.schedule.tasks().count());
        x.outcomes.insert(signature(&report));
        for s in report.starts.iter().filter(|s| !s.ok) {
            *x.failed_starts.entry(s.container.clone()).or_default() += 1;
        }
        if x.failure.is_none()
            && let Some(p) = report.properties.iter().find(|p| !p.holds)
        {
            x.failure = Some(Failure {
                property: p.property,
                report,
                recorded: rec,
                execution: x.executions,
            });
            *crate::sync::state(stop) = true;
        }
        if let Some(f) = &self.hooks.progress {
            f(Progress {
                executions: x.executions,
                violations: usize::from(x.failure.is_some()),
            });
        }
        if self.hooks.cancelled() {
            *crate::sync::state(stop) = true;
        }
    }
}

/// A scheduler wrapper that hands each finished execution to the harvest
/// before the next one starts.
struct Harvester<S> {
    inner: Recorder<S>,
    log: Log,
    harvest: Arc<Mutex<Harvest>>,
    stop: Arc<Mutex<bool>>,
}

impl<S: Scheduler> Scheduler for Harvester<S> {
    fn new_execution(&mut self) -> Option<shuttle::scheduler::Schedule> {
        let rec = crate::sync::state(&self.log).clone();
        crate::sync::state(&self.harvest).absorb(rec, &self.stop);
        self.inner.new_execution()
    }
    fn next_task(
        &mut self,
        runnable: &[&shuttle::scheduler::Task],
        current: Option<shuttle::scheduler::TaskId>,
        y: bool,
    ) -> Option<shuttle::scheduler::TaskId> {
        self.inner.next_task(runnable, current, y)
    }
    fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }
}

fn run_harvest<S: Scheduler + 'static>(
    scenario: &Arc<Scenario>,
    policy: &'static dyn Policy,
    kind: KernelKind,
    sched: S,
    label: String,
    hooks: &Hooks,
) -> Result<Exploration, String> {
    let log: Log = Arc::new(Mutex::new(Recorded::default()));
    let stop = Arc::new(Mutex::new(false));
    let harvest = Arc::new(Mutex::new(Harvest {
        hooks: hooks.clone(),
        ..Harvest::default()
    }));
    let h = Harvester {
        inner: Recorder::new(sched, log.clone(), stop.clone()),
        log: log.clone(),
        harvest: harvest.clone(),
        stop: stop.clone(),
    };
    let sc = scenario.clone();
    let h2 = harvest.clone();
    shuttle::Runner::new(h, config()).run(move || {
        let r = execute(&sc, policy, kind, &label);
        crate::sync::state(&h2).pending = Some(r);
    });
    let rec = crate::sync::state(&log).clone();
    let mut hv = crate::sync::state(&harvest);
    hv.absorb(rec, &stop);
    if let Some(e) = hv.error.take() {
        return Err(e);
    }
    Ok(std::mem::take(&mut hv.result))
}

/// Run up to `iterations` executions under `engine` (seeded), stopping at
/// the first violation.
pub fn explore(
    scenario: &Arc<Scenario>,
    policy: &'static dyn Policy,
    engine: EngineKind,
    iterations: usize,
    seed: u64,
) -> Result<Exploration, String> {
    explore_with(
        scenario,
        policy,
        engine,
        iterations,
        seed,
        &Hooks::default(),
    )
}

/// [`explore`] with a cancel flag and a progress callback.
pub fn explore_with(
    scenario: &Arc<Scenario>,
    policy: &'static dyn Policy,
    engine: EngineKind,
    iterations: usize,
    seed: u64,
    hooks: &Hooks,
) -> Result<Exploration, String> {
    explore_on(
        scenario,
        policy,
        engine,
        iterations,
        seed,
        KernelKind::Sim,
        hooks,
    )
}

/// Whether `scenario` has a concurrent step; without one there is a
/// single interleaving and the engines run it once.
pub fn has_concurrency(scenario: &Scenario) -> bool {
    scenario
        .steps
        .iter()
        .any(|s| matches!(s, crate::scenario::Step::Concurrent(_)))
}

/// [`explore_with`] with every execution on the `kind` kernel backend.
pub fn explore_on(
    scenario: &Arc<Scenario>,
    policy: &'static dyn Policy,
    engine: EngineKind,
    iterations: usize,
    seed: u64,
    kind: KernelKind,
    hooks: &Hooks,
) -> Result<Exploration, String> {
    // Without a concurrent step there is one interleaving (and PCT refuses
    // a closure that spawns nothing): run it once.
    if !has_concurrency(scenario) {
        let label = "sequential scenario: its only interleaving".to_string();
        return run_harvest(
            scenario,
            policy,
            kind,
            SeededRandom::new(seed, 1),
            label,
            hooks,
        );
    }
    let label = format!("{} seed {seed}", engine.describe());
    match engine {
        EngineKind::Random => run_harvest(
            scenario,
            policy,
            kind,
            SeededRandom::new(seed, iterations),
            label,
            hooks,
        ),
        EngineKind::Pct { depth } => run_harvest(
            scenario,
            policy,
            kind,
            PctScheduler::new_from_seed(seed, depth, iterations),
            label,
            hooks,
        ),
        EngineKind::Dfs => run_harvest(
            scenario,
            policy,
            kind,
            DfsScheduler::new(Some(iterations), true),
            label,
            hooks,
        ),
    }
}

/// The portfolio: random, PCT depth 2, PCT depth 3 and DFS in turn, each
/// with a quarter of the budget, stopping at the first violation.
pub fn explore_portfolio(
    scenario: &Arc<Scenario>,
    policy: &'static dyn Policy,
    iterations: usize,
    seed: u64,
) -> Result<(Exploration, Vec<(EngineKind, usize)>), String> {
    explore_portfolio_with(scenario, policy, iterations, seed, &Hooks::default())
}

/// [`explore_portfolio`] with a cancel flag and a progress callback (its
/// counts run over the whole portfolio).
pub fn explore_portfolio_with(
    scenario: &Arc<Scenario>,
    policy: &'static dyn Policy,
    iterations: usize,
    seed: u64,
    hooks: &Hooks,
) -> Result<(Exploration, Vec<(EngineKind, usize)>), String> {
    explore_portfolio_on(scenario, policy, iterations, seed, KernelKind::Sim, hooks)
}

/// [`explore_portfolio_with`] on the `kind` kernel backend.
pub fn explore_portfolio_on(
    scenario: &Arc<Scenario>,
    policy: &'static dyn Policy,
    iterations: usize,
    seed: u64,
    kind: KernelKind,
    hooks: &Hooks,
) -> Result<(Exploration, Vec<(EngineKind, usize)>), String> {
    let engines = [
        EngineKind::Random,
        EngineKind::Pct { depth: 2 },
        EngineKind::Pct { depth: 3 },
        EngineKind::Dfs,
    ];
    let share = iterations.div_ceil(engines.len()).max(1);
    let mut total = Exploration::default();
    let mut per = Vec::new();
    for e in engines {
        if hooks.cancelled() {
            break;
        }
        let done = total.executions;
        let mut h = hooks.clone();
        if let Some(f) = hooks.progress.clone() {
            h.progress = Some(Arc::new(move |p: Progress| {
                f(Progress {
                    executions: done + p.executions,
                    ..p
                })
            }));
        }
        let x = explore_on(scenario, policy, e, share, seed, kind, &h)?;
        per.push((e, x.executions));
        total.executions += x.executions;
        total.outcomes.extend(x.outcomes);
        for (c, n) in x.failed_starts {
            *total.failed_starts.entry(c).or_default() += n;
        }
        total.max_threads = total.max_threads.max(x.max_threads);
        total.max_steps = total.max_steps.max(x.max_steps);
        if let Some(mut f) = x.failure {
            f.execution += total.executions - x.executions;
            total.failure = Some(f);
            break;
        }
    }
    Ok((total, per))
}

/// One deterministic execution under shuttle's random scheduler seeded
/// with `seed`: the same inputs give the same report, byte for byte.
pub fn run_seed(
    scenario: &Arc<Scenario>,
    policy: &'static dyn Policy,
    seed: u64,
    kind: KernelKind,
) -> Result<RunReport, String> {
    let sched = SeededRandom::new(seed, 1);
    let x = run_one(scenario, policy, kind, sched, format!("seed {seed}"))?;
    Ok(x.0)
}

/// [`run_seed`] on a backend of the caller's making (tests use broken
/// kernels to show a checker fail).
pub fn run_seed_with<N>(
    scenario: &Arc<Scenario>,
    policy: &'static dyn Policy,
    seed: u64,
    net: N,
) -> Result<RunReport, String>
where
    N: Fn() -> Arc<dyn crate::kernel::Net> + Send + Sync + 'static,
{
    let out: Arc<Mutex<Option<Result<RunReport, String>>>> = Arc::new(Mutex::new(None));
    let o2 = out.clone();
    let sc = scenario.clone();
    shuttle::Runner::new(SeededRandom::new(seed, 1), config()).run(move || {
        let r = crate::world::World::build(sc.clone(), policy, net()).map(|w| {
            w.run();
            RunReport::from_world(&w, crate::sync::ENGINE, "custom", &format!("seed {seed}"))
        });
        *crate::sync::state(&o2) = Some(r);
    });
    let r = crate::sync::state(&out).take();
    r.unwrap_or_else(|| Err("the engine ran no execution".to_string()))
}

/// Replay a saved schedule. Strict replays fail when a choice cannot be
/// made (the schedule belongs to another scenario, policy or build).
pub fn run_schedule(
    scenario: &Arc<Scenario>,
    policy: &'static dyn Policy,
    schedule: &Schedule,
    lenient: bool,
    kind: KernelKind,
    label: &str,
) -> Result<(RunReport, Recorded), String> {
    let log: Log = Arc::new(Mutex::new(Recorded::default()));
    let sched = Replayer::new(schedule, lenient, log.clone());
    let (report, _) = run_one(scenario, policy, kind, sched, label.to_string())?;
    let rec = crate::sync::state(&log).clone();
    if !lenient && (rec.diverged || rec.schedule.decisions.len() != schedule.decisions.len()) {
        return Err(format!(
            "the schedule does not fit this scenario, policy and build: it diverged after {} of {} choices",
            common_prefix(&rec.schedule, schedule),
            schedule.decisions.len()
        ));
    }
    Ok((report, rec))
}

fn common_prefix(a: &Schedule, b: &Schedule) -> usize {
    a.decisions
        .iter()
        .zip(&b.decisions)
        .take_while(|(x, y)| x == y)
        .count()
}

fn run_one<S: Scheduler + 'static>(
    scenario: &Arc<Scenario>,
    policy: &'static dyn Policy,
    kind: KernelKind,
    sched: S,
    label: String,
) -> Result<(RunReport, ()), String> {
    let out: Arc<Mutex<Option<Result<RunReport, String>>>> = Arc::new(Mutex::new(None));
    let o2 = out.clone();
    let sc = scenario.clone();
    shuttle::Runner::new(sched, config()).run(move || {
        let r = execute(&sc, policy, kind, &label);
        *crate::sync::state(&o2) = Some(r);
    });
    let r = crate::sync::state(&out).take();
    r.unwrap_or_else(|| Err("the engine ran no execution".to_string()))
        .map(|r| (r, ()))
}
