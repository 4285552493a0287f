//! `portsim check`: explore, then report every property's verdict with
//! the coverage behind it, minimize and write the first violation of each
//! violated property, and (with `--save-outcomes`) one schedule per
//! distinct outcome. The report is assembled in full (text, JSON,
//! Mermaid or Markdown) before anything is printed.

use super::engine::{
    EngineKind, Exploration, Failure, Options, SEQUENTIAL, explore_portfolio, explore_with,
    is_concurrent,
};
use super::{KernelKind, outcomes};
use crate::check::Property;
use crate::cli::{CheckArgs, EngineArg, Format, pct_bound, wrap};
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
    /// Why the schedule file could not be written (the counterexample is
    /// reported all the same, and `check` exits 3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_error: Option<String>,
    /// The schedule file's body.
    #[serde(skip)]
    pub schedule_body: String,
    pub replay: String,
    /// How the violation came about, in words.
    pub story: Option<String>,
    pub report: RunReport,
}

/// Everything `portsim check` prints (JSON form).
#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    pub format_version: u32,
    pub scenario: String,
    pub policy: String,
    pub engine: String,
    /// The kernel backend (`sim` or `linux`).
    pub kernel: &'static str,
    /// The scenario has no concurrent step: its only interleaving ran.
    pub exhaustive: bool,
    /// Same as `engine` (the field name of format version 0).
    pub search: String,
    pub executions: usize,
    /// Ctrl-C stopped the search before its budget.
    pub interrupted: bool,
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
    /// The first violation found (property, execution, minimized size),
    /// with its story, schedule, replay line and report: the fields of
    /// format version 0, kept for its readers.
    pub violation: Option<serde_json::Value>,
    pub story: Option<String>,
    pub schedule_file: Option<PathBuf>,
    pub replay: Option<String>,
    pub report: Option<RunReport>,
    /// `--verify-determinism`: executions replayed from their own
    /// schedules, every report identical (absent without the flag).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replays_compared: Option<usize>,
    /// A schedule file that could not be written (exit 3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `1 execution`, `2 executions`.
fn executions(n: usize) -> String {
    if n == 1 {
        "1 execution".to_string()
    } else {
        format!("{n} executions")
    }
}

/// How the exploration was driven, in words.
fn engine_label(sc: &Scenario, args: &CheckArgs, x: &Exploration, runs: usize) -> String {
    if !is_concurrent(sc) {
        return SEQUENTIAL.to_string();
    }
    match args.engine {
        EngineArg::Portfolio => format!(
            "portfolio seed {}: {runs} runs of random, urw, pct depth 2-5",
            args.seed()
        ),
        _ => x
            .failures
            .first()
            .map(|f| f.found_by.clone())
            .unwrap_or_else(|| format!("{} seed {}", engine_kind(args).describe(), args.seed())),
    }
}

fn engine_kind(args: &CheckArgs) -> EngineKind {
    match args.engine {
        EngineArg::Random => EngineKind::Random,
        EngineArg::Urw => EngineKind::Urw,
        EngineArg::Pct => EngineKind::Pct {
            depth: args.depth(),
        },
        EngineArg::Dfs => EngineKind::Dfs,
        EngineArg::Portfolio => unreachable!("the portfolio has no single kind"),
    }
}

/// Run the exploration `args` describe, every execution on `kernel`.
pub fn explore_for(
    sc: &Arc<Scenario>,
    policy: &'static dyn Policy,
    args: &CheckArgs,
    kernel: KernelKind,
    hooks: &super::engine::Hooks,
) -> Result<(Exploration, usize), String> {
    let options = Options {
        property: args.property,
        first_only: false,
        samples: args.save_outcomes.is_some(),
        hooks: hooks.clone(),
        verify_determinism: args.verify_determinism,
        kernel,
        jobs: args.jobs,
        paranoid: args.paranoid,
        ..Options::default()
    };
    match args.engine {
        EngineArg::Portfolio => {
            explore_portfolio(sc, policy, args.iterations, args.seed(), &options)
                .map(|(x, per)| (x, per.len()))
        }
        _ => explore_with(
            sc,
            policy,
            engine_kind(args),
            args.iterations,
            args.seed(),
            &options,
        )
        .map(|x| (x, 1)),
    }
}

/// The whole check in `args.format`, on `kernel`: (output, exit status,
/// a schedule file that could not be written), or (exit status, message).
/// Exit 1 on a violation, 3 if its schedule could not be written (the
/// counterexample is in the output all the same), else 130 if
/// interrupted.
pub fn check(
    sc: &Arc<Scenario>,
    path: &Path,
    policy: &'static dyn Policy,
    args: &CheckArgs,
    kernel: KernelKind,
    live: &crate::progress::Live,
) -> Result<(String, u8, Option<String>), (u8, String)> {
    let (x, runs) = explore_for(sc, policy, args, kernel, &live.hooks()).map_err(|e| (3, e))?;
    let interrupted = live.interrupted();
    if !x.failures.is_empty() {
        live.note("violation found; minimizing");
    }
    let label = engine_label(sc, args, &x, runs);
    let keys = sc.covers.clone();
    let note = x.coverage.verdict_note(&keys);

    let mut sections = String::new();
    let mut violations: Vec<(Property, CheckViolation)> = Vec::new();
    for f in &x.failures {
        let v = counterexample(sc, path, policy, kernel, &args.out, f)?;
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
                        "VIOLATED (first at execution {} of {}, {}; schedule {}{})",
                        v.execution,
                        x.executions,
                        v.found_by,
                        v.schedule_file.display(),
                        if v.write_error.is_some() {
                            " NOT written"
                        } else {
                            ""
                        }
                    ),
                    violation: Some(v.clone()),
                },
                None => CheckVerdict {
                    property: p,
                    verdict: "holds",
                    text: format!("holds ({}{note})", executions(x.executions)),
                    violation: None,
                },
            }
        })
        .collect();

    let saved = match &args.save_outcomes {
        None => Vec::new(),
        Some(dir) => {
            // Exploration records bare choices; one replay each names them.
            let mut samples = x.samples.clone();
            for s in samples.values_mut() {
                s.recorded.named =
                    super::engine::name_schedule(sc, policy, &s.recorded.schedule)
                        .map_err(|e| (3, format!("naming an outcome's schedule: {e}")))?;
            }
            let (files, saved) = outcomes::files(dir, &sc.name, path, policy.name(), &samples);
            for (f, body) in &files {
                super::save::write_atomic(f, body).map_err(|e| {
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
        .then(|| pct_bound(x.executions, x.max_threads, x.max_steps, args.depth()));

    let mut s = String::new();
    let found = if x.failures.is_empty() {
        "no violation".to_string()
    } else {
        let names: Vec<&str> = x.failures.iter().map(|f| f.property.name()).collect();
        format!("{} VIOLATED", names.join(", "))
    };
    let head = if interrupted {
        format!(
            "interrupted after {} of {} executions ({label}): {found} in those",
            x.executions, args.iterations
        )
    } else {
        format!("{found} in {} ({label})", executions(x.executions))
    };
    let title = format!("{} under {}", sc.name, policy.name());
    let first_line = format!(
        "{title}: {head}{note}; {} distinct outcomes; up to {} threads and {} scheduling steps",
        x.outcomes.len(),
        x.max_threads,
        x.max_steps
    );
    // `--verify-determinism`: reached only when every replay matched.
    let determinism = args.verify_determinism.then(|| {
        format!(
            "determinism: {} executions replayed from their schedules, reports identical",
            x.replays_compared
        )
    });
    if let Some(d) = &determinism {
        s.push_str(d);
        s.push('\n');
    }
    s.push_str(&first_line);
    s.push('\n');
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
                "{}-outcomes.txt",
                super::save::stem(&sc.name, policy.name())
            ))
            .display()
        ));
    }
    s.push_str(&sections);

    let first = violations.first().map(|(_, v)| v);
    let written = first.filter(|v| v.write_error.is_none());
    let write_error = violations.iter().find_map(|(_, v)| v.write_error.clone());
    let report = CheckReport {
        format_version: crate::report::FORMAT_VERSION,
        scenario: sc.name.clone(),
        policy: policy.name().to_string(),
        kernel: kernel.name(),
        exhaustive: !is_concurrent(sc),
        search: label.clone(),
        engine: label,
        interrupted,
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
        pct_bound: pct.clone(),
        violation: violations.first().map(|(p, v)| {
            serde_json::json!({
                "property": p,
                "execution": v.execution,
                "preemptions": v.minimized_preemptions,
                "steps": v.minimized_steps,
            })
        }),
        story: first.and_then(|v| v.story.clone()),
        schedule_file: written.map(|v| v.schedule_file.clone()),
        replay: written.map(|v| v.replay.clone()),
        report: first.map(|v| v.report.clone()),
        replays_compared: args.verify_determinism.then_some(x.replays_compared),
        error: write_error.clone(),
    };
    let code = if write_error.is_some() {
        3
    } else if !x.failures.is_empty() {
        1
    } else if interrupted {
        crate::progress::INTERRUPTED
    } else {
        0
    };
    let out = match args.format {
        Format::Json => {
            serde_json::to_string_pretty(&report).expect("check report serializes") + "\n"
        }
        Format::Mermaid => match violations.first() {
            Some((p, v)) => v.report.mermaid(v.report.violation_of(*p)),
            None => s,
        },
        Format::Markdown => {
            let mut summary: Vec<String> = determinism.into_iter().collect();
            summary.push(first_line);
            summary.extend(pct);
            summary.extend(
                report
                    .verdicts
                    .iter()
                    .map(|v| format!("{}: {}", v.property.name(), v.text)),
            );
            summary.extend(
                x.coverage
                    .text(&report.key_situations)
                    .lines()
                    .map(str::to_string),
            );
            if violations.is_empty() {
                crate::report::markdown::check(&crate::report::markdown::CheckBlock {
                    title,
                    summary,
                    counterexample: None,
                    executions: x.executions,
                    replay: None,
                    schedule: None,
                })
            } else {
                let mut md = String::new();
                for (i, (p, v)) in violations.iter().enumerate() {
                    let mut sm = if i == 0 { summary.clone() } else { Vec::new() };
                    sm.push(format!(
                        "{p} VIOLATED, found by {} at execution {} of {}",
                        v.found_by, v.execution, x.executions
                    ));
                    sm.push(format!(
                        "minimized from {} preemptions / {} steps to {} preemptions / {} steps ({} candidates tried)",
                        v.preemptions,
                        v.steps,
                        v.minimized_preemptions,
                        v.minimized_steps,
                        v.candidates_tried
                    ));
                    md.push_str(&crate::report::markdown::check(
                        &crate::report::markdown::CheckBlock {
                            title: title.clone(),
                            summary: sm,
                            counterexample: Some((&v.report, *p)),
                            executions: x.executions,
                            replay: v.write_error.is_none().then(|| v.replay.clone()),
                            schedule: Some((
                                if v.write_error.is_none() {
                                    v.schedule_file.display().to_string()
                                } else {
                                    "(not written)".to_string()
                                },
                                v.schedule_body.clone(),
                            )),
                        },
                    ));
                }
                md
            }
        }
        Format::Text | Format::Expect => s,
    };
    Ok((out, code, write_error))
}

/// Minimize `f`, write its schedule, and describe it.
fn counterexample(
    sc: &Arc<Scenario>,
    path: &Path,
    policy: &'static dyn Policy,
    kernel: KernelKind,
    out: &Path,
    f: &Failure,
) -> Result<CheckViolation, (u8, String)> {
    let mut m = super::minimize::minimize_on(sc, policy, &f.recorded, f.property, 4000, kernel)
        .map_err(|e| (3, e))?;
    // Expectations describe the scenario's own seed, not this schedule.
    m.report.expectations = None;
    let file = super::save::schedule_path(out, &sc.name, policy.name(), f.property);
    let body = super::save::named_body(
        &sc.name,
        path,
        policy.name(),
        f.property,
        &format!("{}, execution {}", f.found_by, f.execution),
        m.recorded.preemptions,
        &m.recorded.named,
    );
    let story = m
        .report
        .violation_of(f.property)
        .map(|v| crate::report::story::story(&m.report.trace, v).text());
    m.report.story = story.clone();
    // Everything found is reported whether or not this write works.
    let write_error = super::save::write_atomic(&file, &body)
        .err()
        .map(|e| format!("{}: cannot write schedule: {e}", file.display()));
    let kernel_flag = if kernel == KernelKind::Linux {
        " --kernel linux"
    } else {
        ""
    };
    Ok(CheckViolation {
        found_by: f.found_by.clone(),
        execution: f.execution,
        preemptions: f.recorded.preemptions,
        steps: f.recorded.schedule.tasks().count(),
        minimized_preemptions: m.recorded.preemptions,
        minimized_steps: m.recorded.schedule.tasks().count(),
        candidates_tried: m.tries,
        replay: format!(
            "portsim run {} --policy {}{kernel_flag} --schedule {}",
            path.display(),
            policy.name(),
            file.display()
        ),
        schedule_file: file,
        write_error,
        schedule_body: body,
        story,
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
    if let Some(story) = &v.story {
        s.push_str("story:\n");
        s.push_str(&wrap(story, 76, "  "));
        s.push('\n');
    }
    s.push_str(&v.report.text());
    if v.write_error.is_some() {
        s.push_str("\nschedule (NOT written to a file):\n");
        s.push_str(
            v.schedule_body
                .lines()
                .filter(|l| !l.starts_with('#'))
                .map(|l| format!("{l}\n"))
                .collect::<String>()
                .as_str(),
        );
    } else {
        s.push_str(&format!(
            "\nschedule written to {}\n",
            v.schedule_file.display()
        ));
        s.push_str(&format!("replay: {}\n", v.replay));
    }
    s
}
