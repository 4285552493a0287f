//! `portsim check --save-outcomes DIR`: one replayable schedule for each
//! distinct outcome an exploration saw (outcome = every start's summary
//! and the violated properties), so a reviewer can replay "how did c2 fail
//! here" with `portsim run --schedule FILE`.
//!
//! File names come from the scenario's content (its name, container
//! names, outcomes), so they are sanitized: only `[A-Za-z0-9._-]`, no
//! leading dot, bounded length, and a hash of the full outcome text keeps
//! two outcomes that sanitize alike apart. The same exploration writes the
//! same files with the same bytes.

use super::engine::Sample;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A file-name component: `[A-Za-z0-9._-]` only (anything else becomes
/// `_`), no leading `.` or `-`, at most `max` characters, never empty.
pub fn sanitize(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(max)
        .collect();
    while out.starts_with('.') || out.starts_with('-') {
        out.replace_range(0..1, "_");
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

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
    let stem = format!("{}-{}", sanitize(scenario, 80), sanitize(policy, 40));
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
        let body = format!(
            "# portsim schedule: scenario {scenario} ({}), policy {policy}\n# outcome: {}\n# found by {}, execution {}; not minimized\n{}",
            scenario_path.display(),
            sig.replace('\n', " "),
            s.found_by,
            s.execution,
            s.recorded.schedule.to_text()
        );
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
    fn components_never_leave_the_folder() {
        for (name, want) in [
            ("issue-53153", "issue-53153"),
            ("../escaped", "_._escaped"),
            ("..", "_."),
            (".", "_"),
            ("", "_"),
            ("/etc/passwd", "_etc_passwd"),
            ("a\\b", "a_b"),
            ("dé jà", "d__j_"),
            ("a\0b", "a_b"),
            ("C:x", "C_x"),
        ] {
            assert_eq!(sanitize(name, 100), want, "{name:?}");
        }
        let dir = std::path::Path::new("/out");
        for name in ["../x", "..", "a/../../b", "/abs", "x/.."] {
            let p = dir.join(sanitize(name, 100));
            assert_eq!(p.parent(), Some(dir), "{name:?} -> {}", p.display());
            assert!(
                p.components()
                    .all(|c| !matches!(c, std::path::Component::ParentDir)),
                "{name:?}"
            );
        }
        assert_eq!(sanitize(&"x".repeat(500), 100).len(), 100);
    }

    #[test]
    fn names_never_escape_the_folder() {
        assert_eq!(sanitize("../escaped", 80), "_._escaped");
        assert_eq!(sanitize("a/b\\c d:é", 80), "a_b_c_d__");
        assert_eq!(sanitize("", 80), "_");
        assert_eq!(sanitize("-rf", 80), "_rf");
        assert_eq!(sanitize("abcdef", 3), "abc");
    }

    #[test]
    fn the_hash_tells_apart_outcomes_that_sanitize_alike() {
        assert_ne!(short_hash("c1=error: a b"), short_hash("c1=error: a/b"));
        assert_eq!(short_hash("x"), short_hash("x"));
    }
}
