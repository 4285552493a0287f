//! Recorded interleavings: every choice a run made that was not fixed by
//! the code — which thread ran at each scheduling point, and each value a
//! racing occupant drew — so that a replay makes the same choices.
//!
//! Two forms:
//!
//! - [`Schedule`] (version 1, the engines' own): bare shuttle task numbers
//!   and raw drawn values, `t0 t1 v2 ...`. It replays only on the exact
//!   build that made it: one scheduling point added anywhere shifts every
//!   later index.
//! - [`NamedSchedule`] (version 2, what files hold): one line per decision
//!   naming the actor and the operation it was picked for — the label its
//!   scheduling point carries (see `crate::sync`), e.g. `c2 d1/rlk AddPort
//!   tcp4 0.0.0.0:32769 => 127.0.0.1:32769 (check)` — and one line per
//!   value choice, `app choose port = 1` (the index chosen). Replay follows
//!   the names: at each decision it picks the runnable task whose next
//!   operation is the next recorded step. A task at a scheduling point the
//!   file does not know (added since) is let through when the step it
//!   waits for is its own, or when nothing recorded can run; a recorded
//!   step whose actor has already gone past it (a point removed since) is
//!   skipped; otherwise replay stops at that step and says what could run.
//!
//! [`Recorder`] wraps any shuttle scheduler and writes down what it chose
//! (version 1; exploration builds no labels). [`Replayer`] makes the
//! choices of either form again and always records both, so replaying a
//! version-1 schedule once yields its version-2 file. A version-1 replay is
//! *strict* (a choice that cannot be made is an error) or *lenient* (the
//! minimizer's mode: such a choice, or one past the end, falls back to
//! "keep running the current thread, else the lowest-numbered runnable
//! one").

use shuttle::scheduler::{Schedule as ShuttleSchedule, Scheduler, Task, TaskId};
use std::fmt;
use std::sync::{Arc, Mutex};

/// One choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Decision {
    /// The thread (shuttle task number, in spawn order; 0 is the main
    /// thread) that ran at a scheduling point.
    Task(usize),
    /// A value drawn with `sync::choose`.
    Value(u64),
}

/// A whole interleaving.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Schedule {
    pub decisions: Vec<Decision>,
}

impl Schedule {
    /// Scheduling points where a runnable current thread was set aside.
    /// Computed while recording: see [`Recorded::preemptions`].
    pub fn tasks(&self) -> impl Iterator<Item = usize> + '_ {
        self.decisions.iter().filter_map(|d| match d {
            Decision::Task(t) => Some(*t),
            Decision::Value(_) => None,
        })
    }

    /// The text form: `t0 t1 v2 ...`, 20 per line.
    pub fn to_text(&self) -> String {
        let words: Vec<String> = self.decisions.iter().map(|d| d.to_string()).collect();
        let mut s = String::new();
        for chunk in words.chunks(20) {
            s.push_str(&chunk.join(" "));
            s.push('\n');
        }
        s
    }

    /// Parse the version-1 text form; `#` starts a comment line. (Files
    /// go through [`parse_file`], which also reads version 2.)
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let mut decisions = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            for (col, w) in word_columns(line) {
                // By characters: a word may start with a multi-byte one.
                let mut chars = w.chars();
                let first = chars.next();
                let d = match (first, chars.as_str().parse::<u64>()) {
                    (Some('t'), Ok(v)) if v <= MAX_TASK => Decision::Task(v as usize),
                    (Some('v'), Ok(v)) => Decision::Value(v),
                    _ => {
                        return Err(format!(
                            "{}:{}: expected a decision like t1 or v0 (a version-1 schedule; version 2 starts with `{HEADER_V2}`), found {w:?}",
                            n + 1,
                            col
                        ));
                    }
                };
                decisions.push(d);
            }
        }
        Ok(Schedule { decisions })
    }
}

/// Task numbers above this are refused (no world has that many threads).
const MAX_TASK: u64 = 1 << 20;

trait DefaultLine {
    fn with_default_line(self) -> ParseError;
}

impl DefaultLine for String {
    /// `3:4: message` -> a [`ParseError`].
    fn with_default_line(self) -> ParseError {
        let mut it = self.splitn(3, ':');
        let line = it.next().and_then(|x| x.parse().ok()).unwrap_or(1);
        let column = it.next().and_then(|x| x.parse().ok()).unwrap_or(1);
        let message = it
            .next()
            .map(|m| m.trim_start().to_string())
            .unwrap_or(self.clone());
        ParseError {
            line,
            column,
            message,
        }
    }
}

/// The words of `line` with their 1-based columns, counted in characters.
fn word_columns(line: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (col, (i, ch)) in line.char_indices().enumerate() {
        match (ch.is_whitespace(), start) {
            (false, None) => start = Some((i, col + 1)),
            (true, Some((s, c))) => {
                out.push((c, &line[s..i]));
                start = None;
            }
            _ => {}
        }
    }
    if let Some((s, c)) = start {
        out.push((c, &line[s..]));
    }
    out
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Task(t) => write!(f, "t{t}"),
            Decision::Value(v) => write!(f, "v{v}"),
        }
    }
}

/// One step of a version-2 schedule.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// A task was picked at the scheduling point with this label
    /// (`actor operation...`).
    Run(String),
    /// `label` (`actor choose what`) chose option `index`.
    Choice { label: String, index: u64 },
}

impl Step {
    /// The actor: the label's first word.
    pub fn actor(&self) -> &str {
        actor_of(match self {
            Step::Run(l) => l,
            Step::Choice { label, .. } => label,
        })
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Run(l) => write!(f, "{l}"),
            Step::Choice { label, index } => write!(f, "{label} = {index}"),
        }
    }
}

fn actor_of(label: &str) -> &str {
    label.split(' ').next().unwrap_or("")
}

/// The first line of a version-2 file.
pub const HEADER_V2: &str = "portsim-schedule 2";

/// A version-2 schedule: named steps in execution order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NamedSchedule {
    pub steps: Vec<Step>,
}

impl NamedSchedule {
    /// Task decisions (value choices left out).
    pub fn runs(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| matches!(s, Step::Run(_)))
            .count()
    }

    /// The file form: the header, `comments` as `# ` lines, one step a line.
    pub fn to_text(&self, comments: &[String]) -> String {
        let mut s = format!("{HEADER_V2}\n");
        for c in comments {
            for l in c.lines() {
                s.push_str(&format!("# {l}\n"));
            }
        }
        for st in &self.steps {
            s.push_str(&st.to_string());
            s.push('\n');
        }
        s
    }
}

/// A schedule file's contents, either version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScheduleFile {
    V1(Schedule),
    V2(NamedSchedule),
}

/// A schedule file that does not parse: where and what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

fn perr(line: usize, column: usize, message: String) -> ParseError {
    ParseError {
        line,
        column,
        message,
    }
}

/// Parse a schedule file. A first (non-blank, non-comment) line
/// `portsim-schedule N` names the version; a file without one is version
/// 1 (what portsim wrote before version 2). Messages are one line with
/// `line:column` (the caller prefixes the file name).
pub fn parse_file(text: &str) -> Result<ScheduleFile, ParseError> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#')
    });
    let Some((n, first)) = lines.next() else {
        return Ok(ScheduleFile::V1(Schedule::default()));
    };
    let first_t = first.trim_start();
    let indent = first.len() - first_t.len();
    if !first_t.starts_with("portsim-schedule") {
        return Schedule::parse(text)
            .map(ScheduleFile::V1)
            .map_err(|e| e.with_default_line());
    }
    let words = word_columns(first);
    let version = match words.get(1) {
        Some((_, w)) => *w,
        None => {
            return Err(perr(
                n + 1,
                first.trim_end().len() + 1,
                "expected a version number after `portsim-schedule` (this build reads 1 and 2)"
                    .into(),
            ));
        }
    };
    if words[0].1 != "portsim-schedule" {
        return Err(perr(
            n + 1,
            indent + 1,
            format!(
                "expected `portsim-schedule 2` as the first line, found {:?}",
                words[0].1
            ),
        ));
    }
    if let Some((col, w)) = words.get(2) {
        return Err(perr(
            n + 1,
            *col,
            format!("expected the end of the header line, found {w:?}"),
        ));
    }
    let vcol = words[1].0;
    match version {
        "1" => {
            let rest: String = text
                .lines()
                .enumerate()
                .map(|(i, l)| if i == n { "" } else { l })
                .collect::<Vec<_>>()
                .join("\n");
            Schedule::parse(&rest)
                .map(ScheduleFile::V1)
                .map_err(|e| e.with_default_line())
        }
        "2" => parse_v2(text, n).map(ScheduleFile::V2),
        v => Err(perr(
            n + 1,
            vcol,
            format!("unsupported schedule version {v:?}: this build reads versions 1 and 2"),
        )),
    }
}

fn parse_v2(text: &str, header: usize) -> Result<NamedSchedule, ParseError> {
    let mut steps = Vec::new();
    for (i, raw) in text.lines().enumerate().skip(header + 1) {
        let line = raw.trim_end();
        let t = line.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let words = word_columns(line);
        if words.len() < 2 {
            return Err(perr(
                i + 1,
                line.len() + 1,
                "expected `<actor> <operation>` or `<actor> choose <what> = <index>` after the actor"
                    .into(),
            ));
        }
        let label: Vec<&str> = words.iter().map(|(_, w)| *w).collect();
        if label[1] == "choose" {
            let n = label.len();
            if n < 4 || label[n - 2] != "=" {
                return Err(perr(
                    i + 1,
                    line.len() + 1,
                    "expected `= <index>` at the end of a choice step".into(),
                ));
            }
            let (col, w) = words[n - 1];
            let index = w.parse::<u64>().map_err(|_| {
                perr(
                    i + 1,
                    col,
                    format!("expected a choice index (0 to {}), found {w:?}", u64::MAX),
                )
            })?;
            steps.push(Step::Choice {
                label: label[..n - 2].join(" "),
                index,
            });
        } else {
            steps.push(Step::Run(label.join(" ")));
        }
    }
    Ok(NamedSchedule { steps })
}

/// What one execution chose, with the statistics the engines report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recorded {
    pub schedule: Schedule,
    /// The same choices by name (replays only; exploration leaves it
    /// empty).
    pub named: NamedSchedule,
    /// Scheduling points where the running thread could have continued
    /// but another was chosen.
    pub preemptions: usize,
    /// Threads seen (the largest task number + 1).
    pub threads: usize,
    /// Replay only: a recorded choice could not be made.
    pub diverged: bool,
    /// Version-2 replay only: the first step that could not be matched.
    pub mismatch: Option<String>,
    /// Version-2 replay only: recorded steps skipped (their scheduling
    /// point is gone), and decisions at points the file does not name.
    pub skipped: usize,
    pub unrecorded: usize,
}

impl Recorded {
    /// Back to `Recorded::default()`, keeping the decisions' buffer: an
    /// execution of about 500 steps regrew it from empty every time.
    pub fn reset(&mut self) {
        let mut decisions = std::mem::take(&mut self.schedule.decisions);
        decisions.clear();
        *self = Recorded::default();
        self.schedule.decisions = decisions;
    }

    fn note_task(
        &mut self,
        chosen: usize,
        current: Option<usize>,
        runnable: impl Iterator<Item = usize> + Clone,
    ) {
        if let Some(c) = current
            && c != chosen
            && runnable.clone().any(|t| t == c)
        {
            self.preemptions += 1;
        }
        self.threads = self.threads.max(runnable.max().unwrap_or(0) + 1);
        self.schedule.decisions.push(Decision::Task(chosen));
    }
}

/// Shared view of the execution being recorded (the runner owns the
/// scheduler; the engine reads this after each execution).
pub type Log = Arc<Mutex<Recorded>>;

fn ids(runnable: &[&Task]) -> Vec<usize> {
    runnable.iter().map(|t| usize::from(t.id())).collect()
}

/// Wraps a shuttle scheduler and records its choices. Stops handing out
/// executions once `stop` is set.
///
/// The execution being recorded is the recorder's own ([`Recorder::recorded`]
/// lends it): a lock per decision cost more than the decision. The last
/// one is left in the shared [`Log`] when the recorder is dropped, for
/// whoever reads it after the runner returns.
pub struct Recorder<S> {
    inner: S,
    rec: Recorded,
    log: Log,
    stop: Arc<Mutex<bool>>,
}

impl<S: Scheduler> Recorder<S> {
    pub fn new(inner: S, log: Log, stop: Arc<Mutex<bool>>) -> Recorder<S> {
        Recorder {
            inner,
            rec: Recorded::default(),
            log,
            stop,
        }
    }

    /// The choices of the execution that ran last (or is running).
    pub fn recorded(&self) -> &Recorded {
        &self.rec
    }
}

impl<S> Drop for Recorder<S> {
    fn drop(&mut self) {
        std::mem::swap(&mut *crate::sync::state(&self.log), &mut self.rec);
    }
}

impl<S: Scheduler> Scheduler for Recorder<S> {
    fn new_execution(&mut self) -> Option<ShuttleSchedule> {
        if *crate::sync::state(&self.stop) {
            return None;
        }
        self.rec.reset();
        crate::sync::labels::set_on(false);
        self.inner.new_execution()
    }

    fn next_task(
        &mut self,
        runnable: &[&Task],
        current: Option<TaskId>,
        is_yielding: bool,
    ) -> Option<TaskId> {
        let chosen = self.inner.next_task(runnable, current, is_yielding)?;
        self.rec.note_task(
            usize::from(chosen),
            current.map(usize::from),
            runnable.iter().map(|t| usize::from(t.id())),
        );
        Some(chosen)
    }

    fn next_u64(&mut self) -> u64 {
        let v = self.inner.next_u64();
        self.rec.schedule.decisions.push(Decision::Value(v));
        v
    }
}

/// A seeded uniform random scheduler (ChaCha8): at each point any runnable
/// thread, each drawn value uniform. Used instead of shuttle's own random
/// scheduler, which prints a "failing seed" banner whenever it is dropped
/// before its last iteration (as when exploration stops at a violation).
pub struct SeededRandom {
    rng: rand_chacha::ChaCha8Rng,
    left: usize,
}

impl SeededRandom {
    pub fn new(seed: u64, iterations: usize) -> SeededRandom {
        use rand_chacha::rand_core::SeedableRng;
        SeededRandom {
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(seed),
            left: iterations,
        }
    }
}

impl Scheduler for SeededRandom {
    fn new_execution(&mut self) -> Option<ShuttleSchedule> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        Some(ShuttleSchedule::new(0))
    }

    fn next_task(
        &mut self,
        runnable: &[&Task],
        _current: Option<TaskId>,
        _y: bool,
    ) -> Option<TaskId> {
        use rand_chacha::rand_core::Rng;
        let i = (self.rng.next_u64() % runnable.len() as u64) as usize;
        Some(runnable[i].id())
    }

    fn next_u64(&mut self) -> u64 {
        use rand_chacha::rand_core::Rng;
        self.rng.next_u64()
    }
}

/// What a [`Replayer`] follows.
enum Plan {
    /// Version 1: task numbers and raw values, in order.
    Tasks { plan: Vec<Decision>, pos: usize },
    /// Version 2: named steps; `done[i]` once step `i` is matched or
    /// skipped; `cursor` is the first step not done.
    Named {
        steps: Vec<Step>,
        done: Vec<bool>,
        cursor: usize,
    },
}

/// Makes the choices of a [`Schedule`] or a [`NamedSchedule`] again, for
/// one execution, recording them in both forms.
pub struct Replayer {
    plan: Plan,
    lenient: bool,
    started: bool,
    log: Log,
}

impl Replayer {
    pub fn new(schedule: &Schedule, lenient: bool, log: Log) -> Replayer {
        Replayer {
            plan: Plan::Tasks {
                plan: schedule.decisions.clone(),
                pos: 0,
            },
            lenient,
            started: false,
            log,
        }
    }

    /// Follow named steps. Strict: the first step that cannot be matched
    /// is kept in [`Recorded::mismatch`] and the rest of the run falls
    /// back to "current thread, else the lowest-numbered one".
    pub fn named(schedule: &NamedSchedule, log: Log) -> Replayer {
        Replayer {
            plan: Plan::Named {
                done: vec![false; schedule.steps.len()],
                steps: schedule.steps.clone(),
                cursor: 0,
            },
            lenient: false,
            started: false,
            log,
        }
    }

    /// The next planned decision, skipping (in lenient mode) those of the
    /// other kind.
    fn take(&mut self, want_task: bool) -> Option<Decision> {
        let Plan::Tasks { plan, pos } = &mut self.plan else {
            return None;
        };
        while *pos < plan.len() {
            let d = plan[*pos];
            let is_task = matches!(d, Decision::Task(_));
            if is_task == want_task {
                *pos += 1;
                return Some(d);
            }
            if !self.lenient {
                return Some(d);
            }
            *pos += 1;
        }
        None
    }

    fn pick_task(&mut self, ids: &[usize], labels: &[String], fallback: usize) -> usize {
        if let Plan::Named { .. } = self.plan {
            let stopped = crate::sync::state(&self.log).mismatch.is_some();
            if stopped {
                return fallback;
            }
            return match self.pick_named(ids, labels) {
                Ok(Some(t)) => t,
                Ok(None) => fallback,
                Err(e) => {
                    crate::sync::state(&self.log).mismatch = Some(e);
                    fallback
                }
            };
        }
        match self.take(true) {
            Some(Decision::Task(t)) if ids.contains(&t) => t,
            other => {
                if !self.lenient && other.is_some() {
                    crate::sync::state(&self.log).diverged = true;
                }
                fallback
            }
        }
    }

    /// The version-2 rule (see the module doc). `Ok(None)`: every step is
    /// done (the file ends before the run does).
    fn pick_named(&mut self, ids: &[usize], labels: &[String]) -> Result<Option<usize>, String> {
        let all = crate::sync::labels::all();
        let Plan::Named {
            steps,
            done,
            cursor,
        } = &mut self.plan
        else {
            unreachable!("named plan")
        };
        loop {
            while *cursor < steps.len() && done[*cursor] {
                *cursor += 1;
            }
            if *cursor == steps.len() {
                let mut log = crate::sync::state(&self.log);
                log.unrecorded += 1;
                return Ok(None);
            }
            let i = *cursor;
            let want = steps[i].clone();
            let actor = want.actor().to_string();
            // 1. A runnable task at exactly this step.
            if let Step::Run(l) = &want
                && let Some(k) = labels.iter().position(|x| x == l)
            {
                done[i] = true;
                return Ok(Some(ids[k]));
            }
            // Is `label` a recorded step not done yet, at or after `from`?
            let ahead = |label: &str, from: usize| {
                (from..steps.len())
                    .any(|j| !done[j] && matches!(&steps[j], Step::Run(l) if l == label))
            };
            // 2. The step's own actor is at a point the file does not name
            //    (added since): let it through to the step.
            let unnamed = |k: usize| !ahead(&labels[k], i);
            if let Some(k) = (0..ids.len()).find(|&k| actor_of(&labels[k]) == actor && unnamed(k)) {
                crate::sync::state(&self.log).unrecorded += 1;
                return Ok(Some(ids[k]));
            }
            // 3. Some other task is at an unnamed point: let it through
            //    (it may hold what the step's actor waits for).
            if let Some(k) = (0..ids.len()).find(|&k| unnamed(k)) {
                crate::sync::state(&self.log).unrecorded += 1;
                return Ok(Some(ids[k]));
            }
            // 4. The step's actor is already past it (its point was
            //    removed), or has ended: skip the step.
            let mine: Vec<&String> = all
                .iter()
                .filter(|(_, l)| actor_of(l) == actor)
                .map(|(_, l)| l)
                .collect();
            let at_step = matches!(&want, Step::Run(w) if mine.contains(&w));
            let ended = !mine.is_empty() && mine.iter().all(|l| is_end(l, &actor));
            if !at_step && (ended || mine.iter().any(|l| ahead(l, i + 1))) {
                done[i] = true;
                crate::sync::state(&self.log).skipped += 1;
                continue;
            }
            let runnable: Vec<&str> = labels.iter().map(String::as_str).collect();
            return Err(format!(
                "step {}: wanted {want}, the runnable steps are {}",
                i + 1,
                runnable.join(" | ")
            ));
        }
    }

    fn pick_value(&mut self, choice: Option<&(String, u64)>) -> u64 {
        if let Plan::Named {
            steps,
            done,
            cursor,
        } = &mut self.plan
        {
            let Some((label, _)) = choice else {
                return 0;
            };
            let me = actor_of(label);
            // The first step not done of this actor must be this choice.
            let next = (*cursor..steps.len()).find(|&j| !done[j] && steps[j].actor() == me);
            if let Some(j) = next
                && let Step::Choice { label: l, index } = &steps[j]
                && l == label
            {
                done[j] = true;
                return *index;
            }
            crate::sync::state(&self.log).unrecorded += 1;
            return 0;
        }
        match self.take(false) {
            Some(Decision::Value(v)) => v,
            other => {
                if !self.lenient && other.is_some() {
                    crate::sync::state(&self.log).diverged = true;
                }
                0
            }
        }
    }
}

/// `actor end ...`: the last point of a world thread.
fn is_end(label: &str, actor: &str) -> bool {
    label
        .strip_prefix(actor)
        .is_some_and(|r| r.starts_with(" end "))
}

impl Drop for Replayer {
    fn drop(&mut self) {
        crate::sync::labels::set_on(false);
    }
}

impl Scheduler for Replayer {
    fn new_execution(&mut self) -> Option<ShuttleSchedule> {
        if self.started {
            return None;
        }
        self.started = true;
        *crate::sync::state(&self.log) = Recorded::default();
        crate::sync::labels::set_on(true);
        Some(ShuttleSchedule::new(0))
    }

    fn next_task(
        &mut self,
        runnable: &[&Task],
        current: Option<TaskId>,
        _is_yielding: bool,
    ) -> Option<TaskId> {
        let ids = ids(runnable);
        let labels: Vec<String> = ids.iter().map(|&t| crate::sync::labels::of(t)).collect();
        let cur = current.map(usize::from);
        let fallback = match cur {
            Some(c) if ids.contains(&c) => c,
            _ => ids.iter().copied().min().unwrap_or(0),
        };
        let chosen = self.pick_task(&ids, &labels, fallback);
        let mut log = crate::sync::state(&self.log);
        log.note_task(chosen, cur, ids.iter().copied());
        let k = ids.iter().position(|&t| t == chosen).unwrap_or(0);
        log.named.steps.push(Step::Run(labels[k].clone()));
        Some(TaskId::from(chosen))
    }

    fn next_u64(&mut self) -> u64 {
        let choice = crate::sync::labels::take_choice();
        let v = self.pick_value(choice.as_ref());
        let mut log = crate::sync::state(&self.log);
        log.schedule.decisions.push(Decision::Value(v));
        let (label, index) = match choice {
            Some((l, n)) if n > 0 => (l, v % n),
            Some((l, _)) => (l, v),
            None => ("? choose".to_string(), v),
        };
        log.named.steps.push(Step::Choice { label, index });
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips() {
        let s = Schedule {
            decisions: vec![Decision::Task(0), Decision::Value(7), Decision::Task(2)],
        };
        assert_eq!(s.to_text(), "t0 v7 t2\n");
        assert_eq!(Schedule::parse(&s.to_text()).unwrap(), s);
    }

    #[test]
    fn a_bad_word_is_reported_with_line_and_column() {
        let e = Schedule::parse("# c\nt0 t1\nt2 x9\n").unwrap_err();
        assert_eq!(
            e,
            "3:4: expected a decision like t1 or v0 (a version-1 schedule; version 2 starts with `portsim-schedule 2`), found \"x9\""
        );
        // A word starting with a multi-byte character is refused, not a panic.
        assert!(
            Schedule::parse("t0 \u{e9}1\n")
                .unwrap_err()
                .starts_with("1:4: ")
        );
    }

    #[test]
    fn version_two_steps_print_and_parse_back() {
        let n = NamedSchedule {
            steps: vec![
                Step::Run("main begin".into()),
                Step::Run("c1 d1/child bind tcp 127.0.0.1:32768 RA".into()),
                Step::Choice {
                    label: "app choose port".into(),
                    index: 2,
                },
            ],
        };
        let text = n.to_text(&["made by a test".into()]);
        assert_eq!(
            text,
            "portsim-schedule 2\n# made by a test\nmain begin\nc1 d1/child bind tcp 127.0.0.1:32768 RA\napp choose port = 2\n"
        );
        assert_eq!(parse_file(&text), Ok(ScheduleFile::V2(n)));
        assert_eq!(
            parse_file("portsim-schedule 2\napp choose port\n")
                .unwrap_err()
                .to_string(),
            "2:16: expected `= <index>` at the end of a choice step"
        );
        assert_eq!(
            parse_file("portsim-schedule 2 x\n")
                .unwrap_err()
                .to_string(),
            "1:20: expected the end of the header line, found \"x\""
        );
    }

    #[test]
    fn a_word_starting_with_a_multibyte_character_is_an_error_not_a_panic() {
        for (text, want) in [
            (
                "\u{e9}1",
                "1:1: expected a decision like t1 or v0 (a version-1 schedule; version 2 starts with `portsim-schedule 2`), found \"\u{e9}1\"",
            ),
            (
                "t0 \u{e9}",
                "1:4: expected a decision like t1 or v0 (a version-1 schedule; version 2 starts with `portsim-schedule 2`), found \"\u{e9}\"",
            ),
            (
                "  t0 \u{1f600}9",
                "1:6: expected a decision like t1 or v0 (a version-1 schedule; version 2 starts with `portsim-schedule 2`), found \"\u{1f600}9\"",
            ),
        ] {
            assert_eq!(Schedule::parse(text).unwrap_err(), want, "{text:?}");
        }
    }
}
