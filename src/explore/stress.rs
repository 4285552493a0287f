//! The stress engine: the world on real OS threads (the `os-threads` build,
//! std primitives from [`crate::sync`]) with no scheduler, run again and
//! again the way moby#52903's reproducer loops `docker run`, counting the
//! iterations in which a property is violated.
//!
//! Under real threads the checkers that read several structures at once
//! (no double ownership and allocator consistency after every step) could
//! see a half-updated world, so [`crate::check::Checker`] evaluates them at
//! the end of the run only; convergence and error fidelity are evaluated
//! after each failed start as under the schedulers.

use super::{KernelKind, execute};
use crate::check::Property;
use crate::mapper::Policy;
use crate::report::RunReport;
use crate::scenario::Scenario;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a stress run counted.
#[derive(Clone, Debug, Default)]
pub struct StressResult {
    pub scenario: String,
    pub policy: String,
    pub kernel: String,
    pub iterations: usize,
    /// Iterations with at least one violated property.
    pub violating: usize,
    /// Iterations violating each property.
    pub by_property: BTreeMap<Property, usize>,
    /// How often each combination of start outcomes was seen.
    pub outcomes: BTreeMap<String, usize>,
    /// 1-based index of the first violating iteration.
    pub first_violation: Option<usize>,
    pub first_report: Option<RunReport>,
    /// The first violation message of each property.
    pub first_message: BTreeMap<Property, String>,
}

impl StressResult {
    pub fn text(&self) -> String {
        let mut s = format!(
            "stress {} | policy {} | kernel {} | {} iterations on OS threads\n",
            self.scenario, self.policy, self.kernel, self.iterations
        );
        let rate = if self.iterations == 0 {
            0.0
        } else {
            self.violating as f64 / self.iterations as f64
        };
        s.push_str(&format!(
            "violating iterations: {} ({:.2}%)\n",
            self.violating,
            100.0 * rate
        ));
        if let Some(i) = self.first_violation {
            s.push_str(&format!("first violation at iteration {i}\n"));
        }
        for (p, n) in &self.by_property {
            s.push_str(&format!(
                "  {:<22} violated in {n}; first: {}\n",
                p.name(),
                self.first_message[p]
            ));
        }
        s.push_str("outcomes:\n");
        for (o, n) in &self.outcomes {
            s.push_str(&format!("  {n:>6}  {o}\n"));
        }
        if let Some(r) = &self.first_report {
            s.push_str("\nfirst violating iteration (not replayable: no scheduler chose it):\n\n");
            s.push_str(&r.text());
        }
        s
    }
}

/// Run `iterations` uncontrolled executions.
pub fn stress(
    scenario: &Arc<Scenario>,
    policy: &'static dyn Policy,
    kind: KernelKind,
    iterations: usize,
) -> Result<StressResult, String> {
    let mut r = StressResult {
        scenario: scenario.name.clone(),
        policy: policy.name().to_string(),
        kernel: kind.name().to_string(),
        ..StressResult::default()
    };
    for i in 1..=iterations {
        let rep = execute(scenario, policy, kind, &format!("stress iteration {i}"))?;
        r.iterations += 1;
        let starts: Vec<String> = rep
            .starts
            .iter()
            .map(|s| {
                format!(
                    "{}={}",
                    s.container,
                    if s.ok {
                        s.summary()
                    } else {
                        "error".to_string()
                    }
                )
            })
            .collect();
        *r.outcomes.entry(starts.join(" ")).or_default() += 1;
        for v in rep.properties.iter().filter_map(|p| p.violation.as_ref()) {
            r.first_message
                .entry(v.property)
                .or_insert_with(|| format!("iteration {i}: {}", v.message));
        }
        let bad: Vec<Property> = rep
            .properties
            .iter()
            .filter(|p| !p.holds)
            .map(|p| p.property)
            .collect();
        if !bad.is_empty() {
            r.violating += 1;
            for p in bad {
                *r.by_property.entry(p).or_default() += 1;
            }
            if r.first_violation.is_none() {
                r.first_violation = Some(i);
                r.first_report = Some(rep);
            }
        }
    }
    Ok(r)
}
