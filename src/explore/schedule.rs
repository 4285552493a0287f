//! Recorded interleavings: every choice a run made that was not fixed by
//! the code — which thread ran at each scheduling point, and each value a
//! racing occupant drew — so that a replay makes exactly the same choices.
//!
//! [`Recorder`] wraps any shuttle scheduler and writes down what it chose;
//! [`Replayer`] makes those choices again. A replay is *strict* (a choice
//! that cannot be made is an error: the schedule belongs to another
//! scenario or build) or *lenient* (the minimizer's mode: a choice that
//! cannot be made, or one past the end, falls back to "keep running the
//! current thread, else the lowest-numbered runnable one").

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

    /// Parse the text form; `#` starts a comment line.
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
                    (Some('t'), Ok(v)) if usize::try_from(v).is_ok() => Decision::Task(v as usize),
                    (Some('v'), Ok(v)) => Decision::Value(v),
                    _ => {
                        return Err(format!(
                            "{}:{}: expected a decision like t1 or v0, found {w:?}",
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

/// What one execution chose, with the statistics the engines report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recorded {
    pub schedule: Schedule,
    /// Scheduling points where the running thread could have continued
    /// but another was chosen.
    pub preemptions: usize,
    /// Threads seen (the largest task number + 1).
    pub threads: usize,
    /// Replay only: a recorded choice could not be made.
    pub diverged: bool,
}

impl Recorded {
    fn note_task(&mut self, chosen: usize, current: Option<usize>, runnable: &[usize]) {
        if let Some(c) = current
            && c != chosen
            && runnable.contains(&c)
        {
            self.preemptions += 1;
        }
        self.threads = self
            .threads
            .max(runnable.iter().copied().max().unwrap_or(0) + 1);
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
pub struct Recorder<S> {
    inner: S,
    log: Log,
    stop: Arc<Mutex<bool>>,
}

impl<S: Scheduler> Recorder<S> {
    pub fn new(inner: S, log: Log, stop: Arc<Mutex<bool>>) -> Recorder<S> {
        Recorder { inner, log, stop }
    }
}

impl<S: Scheduler> Scheduler for Recorder<S> {
    fn new_execution(&mut self) -> Option<ShuttleSchedule> {
        if *crate::sync::state(&self.stop) {
            return None;
        }
        *crate::sync::state(&self.log) = Recorded::default();
        self.inner.new_execution()
    }

    fn next_task(
        &mut self,
        runnable: &[&Task],
        current: Option<TaskId>,
        is_yielding: bool,
    ) -> Option<TaskId> {
        let chosen = self.inner.next_task(runnable, current, is_yielding)?;
        crate::sync::state(&self.log).note_task(
            usize::from(chosen),
            current.map(usize::from),
            &ids(runnable),
        );
        Some(chosen)
    }

    fn next_u64(&mut self) -> u64 {
        let v = self.inner.next_u64();
        crate::sync::state(&self.log)
            .schedule
            .decisions
            .push(Decision::Value(v));
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

/// Makes the choices of a [`Schedule`] again, for one execution.
pub struct Replayer {
    plan: Vec<Decision>,
    pos: usize,
    lenient: bool,
    started: bool,
    log: Log,
}

impl Replayer {
    pub fn new(schedule: &Schedule, lenient: bool, log: Log) -> Replayer {
        Replayer {
            plan: schedule.decisions.clone(),
            pos: 0,
            lenient,
            started: false,
            log,
        }
    }

    /// The next planned decision, skipping (in lenient mode) those of the
    /// other kind.
    fn take(&mut self, want_task: bool) -> Option<Decision> {
        while self.pos < self.plan.len() {
            let d = self.plan[self.pos];
            let is_task = matches!(d, Decision::Task(_));
            if is_task == want_task {
                self.pos += 1;
                return Some(d);
            }
            if !self.lenient {
                return Some(d);
            }
            self.pos += 1;
        }
        None
    }
}

impl Scheduler for Replayer {
    fn new_execution(&mut self) -> Option<ShuttleSchedule> {
        if self.started {
            return None;
        }
        self.started = true;
        *crate::sync::state(&self.log) = Recorded::default();
        Some(ShuttleSchedule::new(0))
    }

    fn next_task(
        &mut self,
        runnable: &[&Task],
        current: Option<TaskId>,
        _is_yielding: bool,
    ) -> Option<TaskId> {
        let ids = ids(runnable);
        let cur = current.map(usize::from);
        let fallback = match cur {
            Some(c) if ids.contains(&c) => c,
            _ => ids.iter().copied().min().unwrap_or(0),
        };
        let chosen = match self.take(true) {
            Some(Decision::Task(t)) if ids.contains(&t) => t,
            other => {
                if !self.lenient && other.is_some() {
                    crate::sync::state(&self.log).diverged = true;
                }
                fallback
            }
        };
        crate::sync::state(&self.log).note_task(chosen, cur, &ids);
        Some(TaskId::from(chosen))
    }

    fn next_u64(&mut self) -> u64 {
        let v = match self.take(false) {
            Some(Decision::Value(v)) => v,
            other => {
                if !self.lenient && other.is_some() {
                    crate::sync::state(&self.log).diverged = true;
                }
                0
            }
        };
        crate::sync::state(&self.log)
            .schedule
            .decisions
            .push(Decision::Value(v));
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
        assert_eq!(e, "3:4: expected a decision like t1 or v0, found \"x9\"");
    }

    #[test]
    fn a_word_starting_with_a_multibyte_character_is_an_error_not_a_panic() {
        for (text, want) in [
            (
                "\u{e9}1",
                "1:1: expected a decision like t1 or v0, found \"\u{e9}1\"",
            ),
            (
                "t0 \u{e9}",
                "1:4: expected a decision like t1 or v0, found \"\u{e9}\"",
            ),
            (
                "  t0 \u{1f600}9",
                "1:6: expected a decision like t1 or v0, found \"\u{1f600}9\"",
            ),
        ] {
            assert_eq!(Schedule::parse(text).unwrap_err(), want, "{text:?}");
        }
    }
}
