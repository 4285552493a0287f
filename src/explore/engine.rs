//! Shuttle-driven exploration: run many executions of one scenario under a
//! scheduler, record each one's choices, and keep the statistics, the
//! coverage of the situations that matter (`crate::coverage`), one sample
//! per distinct outcome, and the first violation of each property.
//!
//! The portfolio ([`portfolio_plan`], [`explore_portfolio`]) is a fixed,
//! seed-determined list of independent runs (engine, seed, budget): the
//! same seed gives the same runs in the same order, so a caller may split
//! the list between workers and merge the results in list order.

use super::schedule::SeededRandom;
use super::schedule::{Log, NamedSchedule, Recorded, Recorder, Replayer, Schedule, ScheduleFile};
use super::{KernelKind, execute};
use crate::check::Property;
use crate::coverage::Coverage;
use crate::mapper::Policy;
use crate::report::RunReport;
use crate::scenario::Scenario;
use shuttle::scheduler::{DfsScheduler, PctScheduler, Scheduler, UrwRandomScheduler};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A scheduler choice for [`explore`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    /// Uniform choice among the runnable threads at each point (ChaCha8).
    Random,
    /// shuttle's uniform random walk (`UrwRandomScheduler`, Zhao et al.,
    /// ASPLOS 2025): weights each thread by its estimated remaining
    /// events, so interleavings are sampled close to uniformly.
    Urw,
    Pct {
        depth: usize,
    },
    Dfs,
}

impl EngineKind {
    pub fn describe(self) -> String {
        match self {
            EngineKind::Random => "random".to_string(),
            EngineKind::Urw => "urw".to_string(),
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
    /// The property this is the first violation of.
    pub property: Property,
    /// 1-based index of the execution that found it.
    pub execution: usize,
    /// The engine run that found it (`pct depth 4 seed 17`).
    pub found_by: String,
}

/// The first execution that showed one distinct outcome.
#[derive(Clone, Debug)]
pub struct Sample {
    pub execution: usize,
    pub found_by: String,
    pub recorded: Recorded,
    pub report: RunReport,
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

    /// The same hooks, with progress counts shifted by what earlier runs
    /// of a portfolio saw.
    fn offset(&self, executions: usize, violations: usize) -> Hooks {
        Hooks {
            cancel: self.cancel.clone(),
            progress: self.progress.clone().map(|f| {
                Arc::new(move |p: Progress| {
                    f(Progress {
                        executions: p.executions + executions,
                        violations: p.violations + violations,
                    })
                }) as Arc<dyn Fn(Progress) + Send + Sync>
            }),
        }
    }
}

/// Counts so far, for [`Hooks::progress`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub executions: usize,
    /// Properties seen violated so far.
    pub violations: usize,
}

/// What to look for and what to keep.
#[derive(Clone, Default)]
pub struct Options {
    /// Look for this property only (None: every property).
    pub property: Option<Property>,
    /// Stop at the first violation instead of exploring on until every
    /// wanted property has been seen violated (or the budget is spent).
    pub first_only: bool,
    /// Keep a [`Sample`] of each distinct outcome.
    pub samples: bool,
    /// Cancel flag and progress callback.
    pub hooks: Hooks,
    /// Rerun every execution's recorded schedule at once and compare the
    /// two reports byte for byte (trace, outcomes, verdicts); a difference
    /// is an error naming the first differing line (like shuttle's
    /// uncontrolled-nondeterminism check).
    pub verify_determinism: bool,
    /// Never stop on violations (the first of each property is still the
    /// one kept); the determinism tests use it to compare a full budget.
    pub continue_after_violation: bool,
    /// The kernel backend every execution runs on.
    pub kernel: KernelKind,
    /// Worker threads, each with its own shuttle runner (0 or 1: one).
    /// What comes back is the same for any value.
    pub jobs: usize,
    /// Also run the full checks after every step and fail when they
    /// disagree with the incremental ones.
    pub paranoid: bool,
}

impl Options {
    /// Stop at the first violation of any property (the models' mode).
    pub fn first() -> Options {
        Options {
            first_only: true,
            ..Options::default()
        }
    }

    fn wanted(&self) -> Vec<Property> {
        match self.property {
            Some(p) => vec![p],
            None => Property::ALL.to_vec(),
        }
    }
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
    /// Scheduling decisions over all executions (the benchmark's steps
    /// per execution).
    pub total_steps: usize,
    /// Per container, the executions in which its start failed.
    pub failed_starts: BTreeMap<String, usize>,
    /// The first violation of a wanted property.
    pub failure: Option<Failure>,
    /// The first violation of each wanted property, in the order found.
    pub failures: Vec<Failure>,
    /// Executions that reached each situation.
    pub coverage: Coverage,
    /// With [`Options::samples`]: one execution per outcome signature.
    pub samples: BTreeMap<String, Sample>,
    /// `--verify-determinism`: executions replayed and compared.
    pub replays_compared: usize,
}

impl Exploration {
    /// Append `o` (explored after `self`): counts add up, execution
    /// numbers of `o` are shifted past `self`'s, and a property's first
    /// violation stays the earlier one.
    pub fn append(&mut self, o: Exploration) {
        let base = self.executions;
        self.executions += o.executions;
        self.replays_compared += o.replays_compared;
        self.outcomes.extend(o.outcomes);
        self.max_threads = self.max_threads.max(o.max_threads);
        self.max_steps = self.max_steps.max(o.max_steps);
        self.total_steps += o.total_steps;
        self.coverage.merge(&o.coverage);
        for (c, n) in o.failed_starts {
            *self.failed_starts.entry(c).or_default() += n;
        }
        for mut f in o.failures {
            if self.failures.iter().all(|g| g.property != f.property) {
                f.execution += base;
                self.failures.push(f);
            }
        }
        self.failure = self.failures.first().cloned();
        for (k, mut v) in o.samples {
            v.execution += base;
            self.samples.entry(k).or_insert(v);
        }
    }
}

fn config() -> shuttle::Config {
    let mut cfg = shuttle::Config::new();
    cfg.silence_warnings = true;
    cfg
}

/// An outcome: each start's summary and the violated properties.
pub fn signature(r: &RunReport) -> String {
    let bad: Vec<Property> = r
        .properties
        .iter()
        .filter(|p| !p.holds)
        .map(|p| p.property)
        .collect();
    signature_of(&r.starts, &bad)
}

/// [`signature`] from its parts: `c1=ok 32768 c2=error: ... | violated: convergence`.
fn signature_of<'a>(
    starts: impl IntoIterator<Item = &'a crate::world::StartOutcome>,
    violated: &[Property],
) -> String {
    let mut s = String::new();
    for (i, o) in starts.into_iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&o.container);
        s.push('=');
        o.summary_into(&mut s);
    }
    s.push_str(" | violated: ");
    for (i, p) in violated.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(p.name());
    }
    s
}

/// What one execution hands the harvest: its outcome, the containers
/// whose start failed, its coverage and its violated properties always;
/// the whole report only when the harvest keeps it (a property's first
/// violation, a new outcome's sample, a replay to compare). Building a
/// report copies the trace and renders its text, which most executions
/// never need.
struct Done {
    signature: String,
    failed: Vec<String>,
    reached: crate::coverage::Reached,
    violated: Vec<Property>,
    report: Option<RunReport>,
}

impl Done {
    fn report(&self) -> RunReport {
        self.report
            .clone()
            .expect("the harvest asked for this report")
    }
}

/// Run one world inside the current execution and summarize it for the
/// harvest (which says whether it wants the report).
fn summarize(
    sc: &Arc<Scenario>,
    policy: &'static dyn Policy,
    options: &Options,
    label: &str,
    harvest: &Mutex<Harvest>,
) -> Result<Done, String> {
    let kind = options.kernel;
    let w = super::run_world(sc, policy, kind, options.paranoid)?;
    let violated: Vec<Property> = crate::check::Checker::of(&w)
        .expect("run_world installs a checker")
        .verdicts()
        .into_iter()
        .filter(|(_, v)| v.is_some())
        .map(|(p, _)| p)
        .collect();
    // Read in place: the outcomes are not copied out of the world.
    let (signature, failed) = {
        let outcomes = crate::sync::state(&w.outcomes);
        let starts = || outcomes.iter().flatten();
        let failed = starts()
            .filter(|s| !s.ok)
            .map(|s| s.container.clone())
            .collect();
        (signature_of(starts(), &violated), failed)
    };
    let mut reached = crate::coverage::Reached::default();
    let mut h = crate::sync::state(harvest);
    let classes = &mut h.classes;
    w.trace
        .with_events(&mut |evs| reached = classes.observe(sc, evs));
    let keep = h.wants_report(&signature, &violated);
    drop(h);
    Ok(Done {
        failed,
        report: keep.then(|| RunReport::from_world(&w, crate::sync::ENGINE, kind.name(), label)),
        signature,
        reached,
        violated,
    })
}

/// Per-execution bookkeeping shared by the runner's closure and the
/// recorder: the summary of the execution that just ran waits here until
/// its recorded choices are complete.
struct Harvest {
    options: Options,
    label: String,
    pending: Option<Result<Done, String>>,
    result: Exploration,
    error: Option<String>,
    /// Coverage's classified names, kept across the executions.
    classes: crate::coverage::Classes,
}

/// `--verify-determinism` state: the execution waiting for its replay.
struct Verify {
    /// The explored execution (its choices and report) while its replay runs.
    first: Option<(Recorded, Option<Result<Done, String>>)>,
    replay_log: Log,
    replay: Option<Replayer>,
}

/// The first line where two texts differ, both sides (1-based).
pub fn first_difference(a: &str, b: &str) -> Option<(usize, String, String)> {
    let (mut la, mut lb) = (a.lines(), b.lines());
    let mut n = 0;
    loop {
        n += 1;
        match (la.next(), lb.next()) {
            (None, None) => return None,
            (x, y) if x == y => continue,
            (x, y) => {
                let show = |l: Option<&str>| l.map(str::to_string).unwrap_or("(end)".into());
                return Some((n, show(x), show(y)));
            }
        }
    }
}

impl Verify {
    /// Compare the explored execution with its replay.
    fn compare(
        first: &Option<Result<Done, String>>,
        again: &Option<Result<Done, String>>,
        rec: &Recorded,
        replayed: &Recorded,
        execution: usize,
    ) -> Result<(), String> {
        let text = |r: &Option<Result<Done, String>>| match r {
            Some(Ok(d)) => d.report().text(),
            Some(Err(e)) => format!("error: {e}"),
            None => "(no report)".to_string(),
        };
        let (a, b) = (text(first), text(again));
        if let Some((line, x, y)) = first_difference(&a, &b) {
            return Err(format!(
                "nondeterminism: execution {execution} replayed from its own schedule gives a different report, first at line {line}:\n  run:    {x}\n  replay: {y}"
            ));
        }
        if replayed.diverged || replayed.schedule != rec.schedule {
            return Err(format!(
                "nondeterminism: execution {execution} replayed from its own schedule made other choices ({} recorded, {} replayed{})",
                rec.schedule.decisions.len(),
                replayed.schedule.decisions.len(),
                if replayed.diverged {
                    ", a recorded thread was not runnable"
                } else {
                    ""
                }
            ));
        }
        Ok(())
    }
}

impl Harvest {
    /// Does the execution with this outcome need its whole report?
    fn wants_report(&self, signature: &str, violated: &[Property]) -> bool {
        let x = &self.result;
        self.options.verify_determinism
            || (self.options.samples && !x.samples.contains_key(signature))
            || violated.iter().any(|p| {
                self.options.property.is_none_or(|w| w == *p)
                    && x.failures.iter().all(|f| f.property != *p)
            })
    }

    fn absorb(&mut self, rec: &Recorded, stop: &Mutex<bool>) {
        let Some(r) = self.pending.take() else { return };
        let done = match r {
            Ok(d) => d,
            Err(e) => {
                self.error = Some(e);
                *crate::sync::state(stop) = true;
                return;
            }
        };
        let x = &mut self.result;
        x.executions += 1;
        x.max_threads = x.max_threads.max(rec.threads);
        let steps = rec.schedule.tasks().count();
        x.max_steps = x.max_steps.max(steps);
        x.total_steps += steps;
        for c in &done.failed {
            *x.failed_starts.entry(c.clone()).or_default() += 1;
        }
        x.coverage.add(&done.reached);
        let sig = &done.signature;
        if self.options.samples && !x.samples.contains_key(sig) {
            x.samples.insert(
                sig.clone(),
                Sample {
                    execution: x.executions,
                    found_by: self.label.clone(),
                    recorded: rec.clone(),
                    report: done.report(),
                },
            );
        }
        if !x.outcomes.contains(sig) {
            x.outcomes.insert(sig.clone());
        }
        let wanted = self.options.wanted();
        for &p in &done.violated {
            if wanted.contains(&p) && x.failures.iter().all(|f| f.property != p) {
                x.failures.push(Failure {
                    property: p,
                    report: done.report(),
                    recorded: rec.clone(),
                    execution: x.executions,
                    found_by: self.label.clone(),
                });
            }
        }
        x.failure = x.failures.first().cloned();
        if !self.options.continue_after_violation
            && ((self.options.first_only && !x.failures.is_empty())
                || x.failures.len() == wanted.len())
        {
            *crate::sync::state(stop) = true;
        }
        if let Some(f) = &self.options.hooks.progress {
            f(Progress {
                executions: x.executions,
                violations: x.failures.len(),
            });
        }
        if self.options.hooks.cancelled() {
            *crate::sync::state(stop) = true;
        }
    }
}

/// A scheduler wrapper that hands each finished execution to the harvest
/// before the next one starts.
struct Harvester<S> {
    inner: Recorder<S>,
    harvest: Arc<Mutex<Harvest>>,
    stop: Arc<Mutex<bool>>,
    verify: Option<Verify>,
}

impl<S: Scheduler> Harvester<S> {
    /// With `--verify-determinism`: after an explored execution, hand out
    /// its replay; after the replay, compare and absorb the explored one.
    fn verified_next(&mut self) -> Option<shuttle::scheduler::Schedule> {
        let v = self.verify.as_mut().expect("verify mode");
        if let Some(replay) = v.replay.take() {
            // The replay just ran.
            drop(replay);
            let (rec, first) = v.first.take().expect("an explored execution");
            let again = crate::sync::state(&self.harvest).pending.take();
            let replayed = crate::sync::state(&v.replay_log).clone();
            let mut hv = crate::sync::state(&self.harvest);
            let execution = hv.result.executions + 1;
            if let Err(e) = Verify::compare(&first, &again, &rec, &replayed, execution) {
                hv.error = Some(e);
                *crate::sync::state(&self.stop) = true;
                return None;
            }
            hv.result.replays_compared += 1;
            hv.pending = first;
            hv.absorb(&rec, &self.stop);
            drop(hv);
            return self.inner.new_execution();
        }
        let pending = crate::sync::state(&self.harvest).pending.take();
        if pending.is_none() {
            // Before the first execution.
            return self.inner.new_execution();
        }
        let rec = self.inner.recorded().clone();
        let mut replay = Replayer::new(&rec.schedule, false, v.replay_log.clone());
        let s = replay.new_execution();
        v.first = Some((rec, pending));
        v.replay = Some(replay);
        s
    }
}

impl<S: Scheduler> Scheduler for Harvester<S> {
    fn new_execution(&mut self) -> Option<shuttle::scheduler::Schedule> {
        if self.verify.is_some() {
            return self.verified_next();
        }
        // Read in place: the recorder clears it for the next execution.
        crate::sync::state(&self.harvest).absorb(self.inner.recorded(), &self.stop);
        self.inner.new_execution()
    }
    fn next_task(
        &mut self,
        runnable: &[&shuttle::scheduler::Task],
        current: Option<shuttle::scheduler::TaskId>,
        y: bool,
    ) -> Option<shuttle::scheduler::TaskId> {
        if let Some(r) = self.verify.as_mut().and_then(|v| v.replay.as_mut()) {
            return r.next_task(runnable, current, y);
        }
        self.inner.next_task(runnable, current, y)
    }
    fn next_u64(&mut self) -> u64 {
        if let Some(r) = self.verify.as_mut().and_then(|v| v.replay.as_mut()) {
            return r.next_u64();
        }
        self.inner.next_u64()
    }
}

fn run_harvest<S: Scheduler + 'static>(
    scenario: &Arc<Scenario>,
    policy: &'static dyn Policy,
    sched: S,
    label: String,
    options: &Options,
) -> Result<Exploration, String> {
    let log: Log = Arc::new(Mutex::new(Recorded::default()));
    let stop = Arc::new(Mutex::new(false));
    let harvest = Arc::new(Mutex::new(Harvest {
        options: options.clone(),
        label: label.clone(),
        pending: None,
        result: Exploration::default(),
        error: None,
        classes: crate::coverage::Classes::default(),
    }));
    let h = Harvester {
        inner: Recorder::new(sched, log.clone(), stop.clone()),
        harvest: harvest.clone(),
        stop: stop.clone(),
        verify: options.verify_determinism.then(|| Verify {
            first: None,
            replay_log: Arc::new(Mutex::new(Recorded::default())),
            replay: None,
        }),
    };
    let sc = scenario.clone();
    let h2 = harvest.clone();
    let o2 = options.clone();
    shuttle::Runner::new(h, config()).run(move || {
        let r = summarize(&sc, policy, &o2, &label, &h2);
        crate::sync::state(&h2).pending = Some(r);
    });
    let rec = crate::sync::state(&log);
    let mut hv = crate::sync::state(&harvest);
    if !options.verify_determinism {
        hv.absorb(&rec, &stop);
    }
    if let Some(e) = hv.error.take() {
        return Err(e);
    }
    Ok(std::mem::take(&mut hv.result))
}

/// Run every execution `sched` hands out, never stopping at a violation
/// (the benchmark's entry point: one job, the simulated kernel).
pub fn run_executions<S: Scheduler + 'static>(
    scenario: &Arc<Scenario>,
    policy: &'static dyn Policy,
    sched: S,
) -> Result<Exploration, String> {
    let options = Options {
        continue_after_violation: true,
        ..Options::default()
    };
    run_harvest(scenario, policy, sched, "bench".to_string(), &options)
}

/// Does the scenario have a concurrent step (more than one interleaving)?
pub fn is_concurrent(scenario: &Scenario) -> bool {
    scenario
        .steps
        .iter()
        .any(|s| matches!(s, crate::scenario::Step::Concurrent(_)))
}

/// The label of a sequential scenario's single run.
pub const SEQUENTIAL: &str = "sequential scenario: its only interleaving";

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
        &Options::first(),
    )
}

/// [`explore`] with [`Options`]: which properties to look for, whether to
/// go on after the first violation, whether to keep outcome samples, how
/// many jobs. A budget above [`MIN_CHUNK`] executions is cut into the
/// chunks of [`chunk_plan`] (DFS, one systematic walk, never is) and run
/// as [`run_units`] runs a portfolio.
pub fn explore_with(
    scenario: &Arc<Scenario>,
    policy: &'static dyn Policy,
    engine: EngineKind,
    iterations: usize,
    seed: u64,
    options: &Options,
) -> Result<Exploration, String> {
    // Without a concurrent step there is one interleaving (and PCT refuses
    // a closure that spawns nothing): run it once.
    if !is_concurrent(scenario) {
        return run_harvest(
            scenario,
            policy,
            SeededRandom::new(seed, 1),
            SEQUENTIAL.to_string(),
            options,
        );
    }
    let label = format!("{} seed {seed}", engine.describe());
    if engine == EngineKind::Dfs {
        return run_unit(scenario, policy, engine, iterations, seed, label, options);
    }
    let plan = chunk_plan(engine, iterations, seed);
    run_units(scenario, policy, &plan, |_| label.clone(), options).map(|(x, _)| x)
}

/// Executions per chunk of a budget: a function of the budget only, never
/// of `--jobs`, so every job count explores the same executions.
pub fn chunk_size(iterations: usize) -> usize {
    iterations.div_ceil(CHUNKS).max(MIN_CHUNK)
}

/// Chunks a large budget is cut into.
const CHUNKS: usize = 32;

/// The smallest chunk. A budget up to this size is one chunk, explored
/// exactly as one seeded scheduler explores it (so `check` finds what it
/// found before `--jobs`, e.g. stale-bindings at PCT seed 6, execution
/// 1 996).
pub const MIN_CHUNK: usize = 2000;

/// The seed of chunk `k`: chunk 0 keeps the user's seed (its executions
/// are those of one scheduler seeded with it); the others mix the chunk
/// number in (splitmix64).
pub fn chunk_seed(seed: u64, k: usize) -> u64 {
    if k == 0 {
        return seed;
    }
    mix64(seed ^ (k as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// splitmix64's finalizer, shared by [`chunk_seed`] and the portfolio's
/// run seeds.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A budget of one engine as independent runs: chunk `k` is the engine's
/// scheduler seeded with [`chunk_seed`]`(seed, k)`, [`chunk_size`]
/// executions each (the last takes what is left).
pub fn chunk_plan(engine: EngineKind, iterations: usize, seed: u64) -> Vec<PortfolioRun> {
    let iterations = iterations.max(1);
    let chunk = chunk_size(iterations);
    (0..iterations.div_ceil(chunk))
        .map(|k| PortfolioRun {
            engine,
            seed: chunk_seed(seed, k),
            iterations: chunk.min(iterations - k * chunk),
        })
        .collect()
}

/// Has the merged exploration seen enough (the first violation, or every
/// wanted property violated)?
fn satisfied(x: &Exploration, options: &Options) -> bool {
    (options.first_only && !x.failures.is_empty()) || x.failures.len() == options.wanted().len()
}

/// Run independent runs (a portfolio, or a budget's chunks) on
/// `options.jobs` threads, one shuttle runner each, and merge them in
/// list order, stopping after the first run with which the merged result
/// is `satisfied`. Each run's result depends on nothing but its own
/// engine, seed and budget, so what comes back (counts, outcomes,
/// coverage, each property's first violation and its execution number)
/// is the same for any number of jobs and any timing: more jobs only run
/// some later runs for nothing. Returns each merged run with the
/// executions it made.
pub fn run_units(
    scenario: &Arc<Scenario>,
    policy: &'static dyn Policy,
    plan: &[PortfolioRun],
    label: impl Fn(&PortfolioRun) -> String + Sync,
    options: &Options,
) -> Result<(Exploration, Vec<(PortfolioRun, usize)>), String> {
    let unit = |run: &PortfolioRun, hooks: Hooks| {
        let o = Options {
            hooks,
            ..options.clone()
        };
        run_unit(
            scenario,
            policy,
            run.engine,
            run.iterations,
            run.seed,
            label(run),
            &o,
        )
    };
    let mut total = Exploration::default();
    let mut per = Vec::new();
    let jobs = options.jobs.clamp(1, plan.len().max(1));
    if jobs == 1 {
        for run in plan {
            if options.hooks.cancelled() {
                break;
            }
            let hooks = options.hooks.offset(total.executions, total.failures.len());
            let x = unit(run, hooks)?;
            per.push((*run, x.executions));
            total.append(x);
            if satisfied(&total, options) {
                break;
            }
        }
        return Ok((total, per));
    }
    // The lowest run index known to end the merge (a run satisfied on its
    // own, or failed): no worker starts a run after it.
    let cut = AtomicUsize::new(usize::MAX);
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Result<Exploration, String>>>> =
        plan.iter().map(|_| Mutex::new(None)).collect();
    // Progress counts every execution of every job (on a terminal only:
    // it reaches no output).
    let hooks = Hooks {
        cancel: options.hooks.cancel.clone(),
        progress: options.hooks.progress.clone().map(|f| {
            let done = Arc::new(AtomicUsize::new(0));
            let seen = Arc::new(AtomicUsize::new(0));
            Arc::new(move |p: Progress| {
                let executions = done.fetch_add(1, Ordering::Relaxed) + 1;
                let violations = seen
                    .fetch_max(p.violations, Ordering::Relaxed)
                    .max(p.violations);
                f(Progress {
                    executions,
                    violations,
                })
            }) as Arc<dyn Fn(Progress) + Send + Sync>
        }),
    };
    let work = || {
        loop {
            let k = next.fetch_add(1, Ordering::SeqCst);
            if k >= plan.len() || k > cut.load(Ordering::SeqCst) || options.hooks.cancelled() {
                break;
            }
            let r = unit(&plan[k], hooks.clone());
            if r.as_ref().map_or(true, |x| satisfied(x, options)) {
                cut.fetch_min(k, Ordering::SeqCst);
            }
            *crate::sync::state(&results[k]) = Some(r);
        }
    };
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(work);
        }
    });
    for (run, r) in plan.iter().zip(results) {
        let Some(r) = r.into_inner().unwrap_or_else(|e| e.into_inner()) else {
            break;
        };
        let x = r?;
        per.push((*run, x.executions));
        total.append(x);
        if satisfied(&total, options) {
            break;
        }
    }
    Ok((total, per))
}

/// One run of one engine: `iterations` executions of its scheduler seeded
/// with `seed`.
fn run_unit(
    scenario: &Arc<Scenario>,
    policy: &'static dyn Policy,
    engine: EngineKind,
    iterations: usize,
    seed: u64,
    label: String,
    options: &Options,
) -> Result<Exploration, String> {
    match engine {
        EngineKind::Random => run_harvest(
            scenario,
            policy,
            SeededRandom::new(seed, iterations),
            label,
            options,
        ),
        EngineKind::Urw => run_harvest(
            scenario,
            policy,
            UrwRandomScheduler::new_from_seed(seed, iterations),
            label,
            options,
        ),
        EngineKind::Pct { depth } => run_harvest(
            scenario,
            policy,
            PctScheduler::new_from_seed(seed, depth, iterations),
            label,
            options,
        ),
        EngineKind::Dfs => run_harvest(
            scenario,
            policy,
            DfsScheduler::new(Some(iterations), true),
            label,
            options,
        ),
    }
}

/// One run of a portfolio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortfolioRun {
    pub engine: EngineKind,
    pub seed: u64,
    pub iterations: usize,
}

/// The portfolio's engines: uniform random, shuttle's uniform random walk,
/// and PCT at depths 2 to 5 (DFS is left out: without partial-order
/// reduction it stays in one corner of the tree; see README).
pub const PORTFOLIO: [EngineKind; 6] = [
    EngineKind::Random,
    EngineKind::Urw,
    EngineKind::Pct { depth: 2 },
    EngineKind::Pct { depth: 3 },
    EngineKind::Pct { depth: 4 },
    EngineKind::Pct { depth: 5 },
];

/// Executions per portfolio run.
pub const PORTFOLIO_CHUNK: usize = 250;

/// splitmix64: the seed of run `i` of a portfolio seeded with `seed`.
fn run_seed_of(seed: u64, i: u64) -> u64 {
    mix64(
        seed.wrapping_add(0x9e37_79b9_7f4a_7c15)
            .wrapping_add(i.wrapping_mul(0xbf58_476d_1ce4_e5b9)),
    )
}

/// The portfolio for a budget: rounds of [`PORTFOLIO`], each run
/// [`PORTFOLIO_CHUNK`] executions (the last round shares what is left),
/// each with its own seed derived from `seed`. Deterministic: a function
/// of `iterations` and `seed` only.
pub fn portfolio_plan(iterations: usize, seed: u64) -> Vec<PortfolioRun> {
    let mut plan = Vec::new();
    let mut left = iterations;
    let mut i = 0u64;
    while left > 0 {
        let per_round = PORTFOLIO_CHUNK * PORTFOLIO.len();
        let chunk = if left >= per_round {
            PORTFOLIO_CHUNK
        } else {
            left.div_ceil(PORTFOLIO.len())
        };
        for e in PORTFOLIO {
            let n = chunk.min(left);
            if n == 0 {
                break;
            }
            plan.push(PortfolioRun {
                engine: e,
                seed: run_seed_of(seed, i),
                iterations: n,
            });
            left -= n;
            i += 1;
        }
    }
    plan
}

/// The portfolio: every run of [`portfolio_plan`] in order, merged. Stops
/// early only when `options` say so (first violation, or every wanted
/// property violated). Returns the merged exploration and each run with
/// the executions it made.
pub fn explore_portfolio(
    scenario: &Arc<Scenario>,
    policy: &'static dyn Policy,
    iterations: usize,
    seed: u64,
    options: &Options,
) -> Result<(Exploration, Vec<(PortfolioRun, usize)>), String> {
    let mut total = Exploration::default();
    let mut per = Vec::new();
    if !is_concurrent(scenario) {
        let x = explore_with(scenario, policy, EngineKind::Random, 1, seed, options)?;
        per.push((
            PortfolioRun {
                engine: EngineKind::Random,
                seed,
                iterations: 1,
            },
            x.executions,
        ));
        total.append(x);
        return Ok((total, per));
    }
    run_units(
        scenario,
        policy,
        &portfolio_plan(iterations, seed),
        |run| format!("{} seed {}", run.engine.describe(), run.seed),
        options,
    )
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

/// Replay a version-2 schedule by its named steps. Fails with the first
/// step that cannot be matched (`step 14: wanted ..., the runnable steps
/// are ...`).
pub fn run_named(
    scenario: &Arc<Scenario>,
    policy: &'static dyn Policy,
    schedule: &NamedSchedule,
    kind: KernelKind,
    label: &str,
) -> Result<(RunReport, Recorded), String> {
    let log: Log = Arc::new(Mutex::new(Recorded::default()));
    let sched = Replayer::named(schedule, log.clone());
    let (report, _) = run_one(scenario, policy, kind, sched, label.to_string())?;
    let rec = crate::sync::state(&log).clone();
    if let Some(m) = &rec.mismatch {
        return Err(format!(
            "the schedule does not fit this scenario, policy and build: {m}"
        ));
    }
    Ok((report, rec))
}

/// Replay a schedule file of either version (strictly).
pub fn run_file(
    scenario: &Arc<Scenario>,
    policy: &'static dyn Policy,
    file: &ScheduleFile,
    kind: KernelKind,
    label: &str,
) -> Result<(RunReport, Recorded), String> {
    match file {
        ScheduleFile::V1(s) => run_schedule(scenario, policy, s, false, kind, label),
        ScheduleFile::V2(n) => run_named(scenario, policy, n, kind, label),
    }
}

/// The version-2 form of a version-1 schedule: one strict replay.
pub fn name_schedule(
    scenario: &Arc<Scenario>,
    policy: &'static dyn Policy,
    schedule: &Schedule,
) -> Result<NamedSchedule, String> {
    run_schedule(scenario, policy, schedule, false, KernelKind::Sim, "naming")
        .map(|(_, rec)| rec.named)
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
