//! `portsim check`: explore, then report every property's verdict with
//! the coverage behind it, minimize and write the first violation of each
//! violated property, and (with `--save-outcomes`) one schedule per
//! distinct outcome. The report is assembled in full, as text and as
//! JSON, before anything is printed.

use super::engine::{
    EngineKind, Exploration, Failure, Options, SEQUENTIAL, explore_portfolio, explore_with,
    is_concurrent,
};
use super::outcomes;
use crate::check::Property;
use crate::cli::{CheckArgs, EngineArg, pct_bound};
use crate::coverage::{Coverage, Situation};
use crate::mapper::Policy;
use crate::report::RunReport;
use crate::scenario::Scenario;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A property's verdict over the whole exploration.
#[derive(Clone, Debug, Serialize)]
pub struct CheckVerdict {
    pub property: Property,
    /// `holds`, `violated`, or `not-searched` (another `--property`).
    pub verdict: &'static str,
    /// `holds (6000 executions; give up never reached)`.
    pub text: String,
    pub violation: Option<CheckViolation>,
}

/// A violated property's minimized counterexample.
#[derive(Clone, Debug, Serialize)]
pub struct CheckViolation {
    pub found_by: String,
    pub execution: usize,
    pub preemptions: usize,
    pub steps: usize,
    pub minimized_preemptions: usize,
    pub minimized_steps: usize,
    pub candidates_tried: usize,
    pub schedule_file: PathBuf,
    pub replay: String,
    pub report: RunReport,
}

/// Everything `portsim check` prints (JSON form).
#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    pub format_version: u32,
    pub scenario: String,
    pub policy: String,
    pub engine: String,
    pub executions: usize,
    pub distinct_outcomes: usize,
    pub max_threads: usize,
    pub max_steps: usize,
    pub key_situations: Vec<Situation>,
    pub never_reached: Vec<Situation>,
    pub coverage: Coverage,
    pub verdicts: Vec<CheckVerdict>,
    pub outcomes: Vec<String>,
    pub saved_outcomes: Vec<outcomes::Saved>,
    pub pct_bound: Option<String>,
}

fn write_atomic(path: &Path, body: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, body)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// How the exploration was driven, in words.
fn engine_label(sc: &Scenario, args: &CheckArgs, x: &Exploration, runs: usize) -> String {
    if !is_concurrent(sc) {
        return SEQUENTIAL.to_string();
    }
    match args.engine {
        EngineArg::Portfolio => format!(
            "portfolio seed {}: {runs} runs of random, urw, pct depth 2-5",
            args.seed
        ),
        _ => x
            .failures
            .first()
            .map(|f| f.found_by.clone())
            .unwrap_or_else(|| format!("{} seed {}", engine_kind(args).describe(), args.seed)),
    }
}

fn engine_kind(args: &CheckArgs) -> EngineKind {
    match args.engine {
        EngineArg::Random => EngineKind::Random,
        EngineArg::Urw => EngineKind::Urw,
        EngineArg::Pct => EngineKind::Pct { depth: args.depth },
        EngineArg::Dfs => EngineKind::Dfs,
        EngineArg::Portfolio => unreachable!("the portfolio has no single kind"),
    }
}

/// Run the exploration `args` describe.
pub fn explore_for(
    sc: &Arc<Scenario>,
    policy: &'static dyn Policy,
    args: &CheckArgs,
) -> Result<(Exploration, usize), String> {
    let options = Options {
        property: args.property,
        first_only: false,
        samples: args.save_outcomes.is_some(),
    };
    match args.engine {
        EngineArg::Portfolio => explore_portfolio(sc, policy, args.iterations, args.seed, &options)
            .map(|(x, per)| (x, per.len())),
        _ => explore_with(
            sc,
            policy,
            engine_kind(args),
            args.iterations,
            args.seed,
            &options,
        )
        .map(|x| (x, 1)),
    }
}

/// The whole check: (text, json, exit status), or (exit status, message).
pub fn check(
    sc: &Arc<Scenario>,
    path: &Path,
    policy: &'static dyn Policy,
    args: &CheckArgs,
) -> Result<(String, String, u8), (u8, String)> {
    let (x, runs) = explore_for(sc, policy, args).map_err(|e| (3, e))?;
    let label = engine_label(sc, args, &x, runs);
    let keys = sc.covers.clone();
    let note = x.coverage.verdict_note(&keys);

    let mut sections = String::new();
    let mut violations: Vec<(Property, CheckViolation)> = Vec::new();
    for f in &x.failures {
        let v = counterexample(sc, path, policy, &args.out, f)?;
        sections.push_str(&violation_text(sc, policy, &x, f, &v));
        violations.push((f.property, v));
    }

    let verdicts: Vec<CheckVerdict> = Property::ALL
        .into_iter()
        .map(|p| {
            if args.property.is_some_and(|q| q != p) {
                return CheckVerdict {
                    property: p,
                    verdict: "not-searched",
                    text: "not searched (--property)".to_string(),
                    violation: None,
                };
            }
            match violations.iter().find(|(q, _)| *q == p) {
                Some((_, v)) => CheckVerdict {
                    property: p,
                    verdict: "violated",
                    text: format!(
                        "VIOLATED (first at execution {} of {}, {}; schedule {})",
                        v.execution,
                        x.executions,
                        v.found_by,
                        v.schedule_file.display()
                    ),
                    violation: Some(v.clone()),
                },
                None => CheckVerdict {
                    property: p,
                    verdict: "holds",
                    text: format!("holds ({} executions{note})", x.executions),
                    violation: None,
                },
            }
        })
        .collect();

    let saved = match &args.save_outcomes {
        None => Vec::new(),
        Some(dir) => {
            let (files, saved) = outcomes::files(dir, &sc.name, path, policy.name(), &x.samples);
            for (f, body) in &files {
                write_atomic(f, body).map_err(|e| {
                    (
                        3,
                        format!("{}: cannot write outcome schedule: {e}", f.display()),
                    )
                })?;
            }
            saved
        }
    };

    let pct = (args.engine == EngineArg::Pct && is_concurrent(sc))
        .then(|| pct_bound(x.executions, x.max_threads, x.max_steps, args.depth));

    let mut s = String::new();
    let head = if x.failures.is_empty() {
        format!("no violation in {} executions", x.executions)
    } else {
        let names: Vec<&str> = x.failures.iter().map(|f| f.property.name()).collect();
        format!(
            "{} VIOLATED in {} executions",
            names.join(", "),
            x.executions
        )
    };
    s.push_str(&format!(
        "{} under {}: {head} ({label}){note}; {} distinct outcomes; up to {} threads and {} scheduling steps\n",
        sc.name,
        policy.name(),
        x.outcomes.len(),
        x.max_threads,
        x.max_steps
    ));
    if let Some(b) = &pct {
        s.push_str(b);
        s.push('\n');
    }
    s.push_str("\nverdicts:\n");
    for v in &verdicts {
        s.push_str(&format!("  {:<22} {}\n", v.property.name(), v.text));
    }
    s.push('\n');
    s.push_str(&x.coverage.text(&keys));
    s.push_str("\noutcomes:\n");
    for o in &x.outcomes {
        s.push_str(&format!("  {o}\n"));
    }
    if let Some(dir) = &args.save_outcomes {
        s.push_str(&format!(
            "\n{} outcome schedule(s) saved in {} (index: {})\n",
            saved.len(),
            dir.display(),
            dir.join(format!(
                "{}-{}-outcomes.txt",
                outcomes::sanitize(&sc.name, 80),
                outcomes::sanitize(policy.name(), 40)
            ))
            .display()
        ));
    }
    s.push_str(&sections);

    let report = CheckReport {
        format_version: 1,
        scenario: sc.name.clone(),
        policy: policy.name().to_string(),
        engine: label,
        executions: x.executions,
        distinct_outcomes: x.outcomes.len(),
        max_threads: x.max_threads,
        max_steps: x.max_steps,
        never_reached: x.coverage.missed(&keys),
        key_situations: keys,
        coverage: x.coverage.clone(),
        verdicts,
        outcomes: x.outcomes.iter().cloned().collect(),
        saved_outcomes: saved,
        pct_bound: pct,
    };
    let json = serde_json::to_string_pretty(&report).expect("check report serializes") + "\n";
    let code = if x.failures.is_empty() { 0 } else { 1 };
    Ok((s, json, code))
}

/// Minimize `f`, write its schedule, and describe it.
fn counterexample(
    sc: &Arc<Scenario>,
    path: &Path,
    policy: &'static dyn Policy,
    out: &Path,
    f: &Failure,
) -> Result<CheckViolation, (u8, String)> {
    let mut m =
        super::minimize::minimize(sc, policy, &f.recorded, f.property, 4000).map_err(|e| (3, e))?;
    // Expectations describe the scenario's own seed, not this schedule.
    m.report.expectations = None;
    let file = out.join(format!(
        "{}-{}-{}.schedule",
        outcomes::sanitize(&sc.name, 80),
        outcomes::sanitize(policy.name(), 40),
        f.property
    ));
    let body = format!(
        "# portsim schedule: scenario {} ({}), policy {}, violates {}\n# found by {}, execution {}; minimized\n{}",
        sc.name,
        path.display(),
        policy.name(),
        f.property,
        f.found_by,
        f.execution,
        m.recorded.schedule.to_text()
    );
    write_atomic(&file, &body)
        .map_err(|e| (3, format!("{}: cannot write schedule: {e}", file.display())))?;
    Ok(CheckViolation {
        found_by: f.found_by.clone(),
        execution: f.execution,
        preemptions: f.recorded.preemptions,
        steps: f.recorded.schedule.tasks().count(),
        minimized_preemptions: m.recorded.preemptions,
        minimized_steps: m.recorded.schedule.tasks().count(),
        candidates_tried: m.tries,
        replay: format!(
            "portsim run {} --policy {} --schedule {}",
            path.display(),
            policy.name(),
            file.display()
        ),
        schedule_file: file,
        report: m.report,
    })
}

fn violation_text(
    sc: &Scenario,
    policy: &dyn Policy,
    x: &Exploration,
    f: &Failure,
    v: &CheckViolation,
) -> String {
    let mut s = format!(
        "\n{} under {}: {} VIOLATED, found by {} at execution {} of {}\n",
        sc.name,
        policy.name(),
        f.property,
        v.found_by,
        v.execution,
        x.executions
    );
    s.push_str(&format!(
        "minimized from {} preemptions / {} steps to {} preemptions / {} steps ({} candidates tried)\n\n",
        v.preemptions, v.steps, v.minimized_preemptions, v.minimized_steps, v.candidates_tried
    ));
    s.push_str(&v.report.text());
    s.push_str(&format!(
        "\nschedule written to {}\n",
        v.schedule_file.display()
    ));
    s.push_str(&format!("replay: {}\n", v.replay));
    s
}
