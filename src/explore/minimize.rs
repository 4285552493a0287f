//! Shrinking a failing schedule: fewest preemptions first, then fewest
//! steps, then smallest drawn values; every candidate is re-run and kept
//! only if it still violates the same property.
//!
//! A candidate is the failing schedule with one choice changed: a
//! preempting choice replaced by "the thread that ran before", a choice
//! deleted, or a drawn value lowered. Candidates replay leniently (see
//! [`super::schedule`]), and the schedule actually executed becomes the
//! new best, so the result always replays strictly, both by task numbers
//! and (what `check` writes) by its named steps.

use super::KernelKind;
use super::engine::{run_named, run_schedule};
use super::schedule::{Decision, Recorded, Schedule};
use crate::check::Property;
use crate::mapper::Policy;
use crate::report::RunReport;
use crate::scenario::Scenario;
use std::sync::Arc;

/// The result of a minimization.
#[derive(Clone, Debug)]
pub struct Minimized {
    pub report: RunReport,
    pub recorded: Recorded,
    /// Candidate executions tried.
    pub tries: usize,
}

/// Drawn values are raw 64-bit words (`sync::choose` reduces them), so
/// their sum is taken in `u128`: two draws can overflow a `u64`.
fn cost(r: &Recorded) -> (usize, usize, u128) {
    let values: u128 = r
        .schedule
        .decisions
        .iter()
        .map(|d| match d {
            Decision::Value(v) => u128::from(*v),
            Decision::Task(_) => 0,
        })
        .sum();
    (r.preemptions, r.schedule.tasks().count(), values)
}

fn violates(r: &RunReport, p: Property) -> bool {
    r.properties.iter().any(|v| v.property == p && !v.holds)
}

fn candidates(s: &Schedule) -> Vec<Schedule> {
    let d = &s.decisions;
    let mut out = Vec::new();
    let mut prev_task: Option<usize> = None;
    for (i, x) in d.iter().enumerate() {
        match *x {
            Decision::Task(t) => {
                if let Some(p) = prev_task
                    && p != t
                {
                    let mut c = d.clone();
                    c[i] = Decision::Task(p);
                    out.push(Schedule { decisions: c });
                }
                prev_task = Some(t);
            }
            Decision::Value(v) => {
                for smaller in [0, v / 2] {
                    if smaller < v {
                        let mut c = d.clone();
                        c[i] = Decision::Value(smaller);
                        out.push(Schedule { decisions: c });
                    }
                }
            }
        }
    }
    for i in 0..d.len() {
        let mut c = d.clone();
        c.remove(i);
        out.push(Schedule { decisions: c });
    }
    out
}

/// Shrink `failing` while it keeps violating `property`; at most
/// `budget` candidate executions.
pub fn minimize(
    scenario: &Arc<Scenario>,
    policy: &'static dyn Policy,
    failing: &Recorded,
    property: Property,
    budget: usize,
) -> Result<Minimized, String> {
    minimize_on(scenario, policy, failing, property, budget, KernelKind::Sim)
}

/// [`minimize`] with every candidate run on the `kind` kernel backend.
pub fn minimize_on(
    scenario: &Arc<Scenario>,
    policy: &'static dyn Policy,
    failing: &Recorded,
    property: Property,
    budget: usize,
    kind: KernelKind,
) -> Result<Minimized, String> {
    let (mut report, mut best) =
        run_schedule(scenario, policy, &failing.schedule, true, kind, "minimized")?;
    if !violates(&report, property) {
        return Err(format!(
            "the failing schedule no longer violates {property} on replay"
        ));
    }
    let mut tries = 0;
    'outer: loop {
        for cand in candidates(&best.schedule) {
            if tries >= budget {
                break 'outer;
            }
            tries += 1;
            let (r, rec) = run_schedule(scenario, policy, &cand, true, kind, "minimized")?;
            if violates(&r, property) && cost(&rec) < cost(&best) {
                report = r;
                best = rec;
                continue 'outer;
            }
        }
        break;
    }
    // The kept schedule is what was executed: it must replay strictly.
    let (strict, _) = run_schedule(scenario, policy, &best.schedule, false, kind, "minimized")?;
    if strict.trace != report.trace {
        return Err("the minimized schedule does not replay to the same trace".to_string());
    }
    // And so must its version-2 form, by the names of its steps.
    let (named, _) = run_named(scenario, policy, &best.named, KernelKind::Sim, "minimized")?;
    if named.trace != report.trace {
        return Err(
            "the minimized schedule's named steps do not replay to the same trace".to_string(),
        );
    }
    Ok(Minimized {
        report,
        recorded: best,
        tries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cost_of_two_large_draws_does_not_overflow() {
        let big = Recorded {
            schedule: Schedule {
                decisions: vec![Decision::Value(u64::MAX), Decision::Value(u64::MAX)],
            },
            ..Recorded::default()
        };
        let small = Recorded {
            schedule: Schedule {
                decisions: vec![Decision::Value(u64::MAX), Decision::Value(0)],
            },
            ..Recorded::default()
        };
        assert_eq!(cost(&big).2, 2 * u128::from(u64::MAX));
        assert!(cost(&small) < cost(&big));
    }
}
