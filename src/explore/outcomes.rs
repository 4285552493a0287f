//! `portsim check --save-outcomes DIR`: one replayable schedule for each
//! distinct outcome an exploration saw (outcome = every start's summary
//! and the violated properties), so a reviewer can replay "how did c2 fail
//! here" with `portsim run --schedule FILE`.
//!
//! File names come from the scenario's content (its name, container
//! names, outcomes), so they are sanitized ([`super::save::sanitize`]),
//! and a hash of the full outcome text keeps two outcomes that sanitize
//! alike apart. Schedules are version 2 (named steps, see
//! `super::schedule`), so they survive a change that adds or removes a
//! scheduling point elsewhere. The same exploration writes the same files
//! with the same bytes.

use super::engine::Sample;
use super::save::{sanitize, stem};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// FNV-1a 64 of `s`, as 8 hex digits (the low 32 bits).
fn short_hash(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:08x}", h & 0xffff_ffff)
}

/// A short slug of an outcome signature: `c1-ok-32768_c2-error` and
/// `_violated-convergence` when something was violated.
fn slug(sig: &str, report: &crate::report::RunReport) -> String {
    let mut parts: Vec<String> = report
        .starts
        .iter()
        .map(|s| {
            if s.ok {
                let p: Vec<String> = s.ports.iter().map(u16::to_string).collect();
                if p.is_empty() {
                    format!("{}-ok", s.container)
                } else {
                    format!("{}-ok-{}", s.container, p.join("."))
                }
            } else {
                format!("{}-error", s.container)
            }
        })
        .collect();
    let bad: Vec<&str> = report
        .properties
        .iter()
        .filter(|p| !p.holds)
        .map(|p| p.property.name())
        .collect();
    if !bad.is_empty() {
        parts.push(format!("violated-{}", bad.join("-")));
    }
    format!("{}-{}", sanitize(&parts.join("_"), 100), short_hash(sig))
}

/// One saved outcome.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Saved {
    pub outcome: String,
    pub schedule: PathBuf,
    pub trace: PathBuf,
    pub execution: usize,
    pub found_by: String,
}

/// The files for `samples` (in signature order): for outcome number `i`,
/// `SCENARIO-POLICY-outcome-NN-SLUG.schedule` (the recorded schedule, with
/// a comment header) and `.trace` (the trace the exploration recorded),
/// plus `SCENARIO-POLICY-outcomes.txt` listing them. Returns the bodies
/// to write, in order, and the list.
pub fn files(
    dir: &Path,
    scenario: &str,
    scenario_path: &Path,
    policy: &str,
    samples: &BTreeMap<String, Sample>,
) -> (Vec<(PathBuf, String)>, Vec<Saved>) {
    let stem = stem(scenario, policy);
    let width = samples.len().to_string().len().max(2);
    let mut out = Vec::new();
    let mut saved = Vec::new();
    let mut index = format!(
        "# portsim outcomes: scenario {scenario} ({}), policy {policy}: {} distinct outcome(s)\n",
        scenario_path.display(),
        samples.len()
    );
    for (i, (sig, s)) in samples.iter().enumerate() {
        let base = format!("{stem}-outcome-{:0width$}-{}", i + 1, slug(sig, &s.report));
        let sched = dir.join(format!("{base}.schedule"));
        let trace = dir.join(format!("{base}.trace"));
        let one_line = |t: &str| t.replace(['\n', '\r'], " ");
        let body = s.recorded.named.to_text(&[
            format!(
                "scenario {} ({}), policy {policy}",
                one_line(scenario),
                one_line(&scenario_path.display().to_string())
            ),
            format!("outcome: {}", one_line(sig)),
            format!(
                "found by {}, execution {}; not minimized",
                one_line(&s.found_by),
                s.execution
            ),
        ]);
        index.push_str(&format!(
            "{}\n  outcome: {}\n  replay: portsim run {} --policy {policy} --schedule {}\n",
            sched.display(),
            sig.replace('\n', " "),
            scenario_path.display(),
            sched.display()
        ));
        out.push((sched.clone(), body));
        out.push((trace.clone(), s.report.trace_text()));
        saved.push(Saved {
            outcome: sig.clone(),
            schedule: sched,
            trace,
            execution: s.execution,
            found_by: s.found_by.clone(),
        });
    }
    out.push((dir.join(format!("{stem}-outcomes.txt")), index));
    (out, saved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_tells_apart_outcomes_that_sanitize_alike() {
        assert_ne!(short_hash("c1=error: a b"), short_hash("c1=error: a/b"));
        assert_eq!(short_hash("x"), short_hash("x"));
    }
}
