//! Filling the matrix: one exploration per (scenario, policy) with the
//! engines of `portsim check`, one minimization per violated property.

use super::{Cell, CellVerdict, Counterexample, Engine, Input, Matrix, Options};
use crate::check::Property;
use crate::explore::engine::{
    EngineKind, Exploration, Hooks, Options as ExploreOptions, Progress, explore_portfolio,
    explore_with,
};
use crate::explore::{minimize::minimize, save};
use crate::mapper::Policy;
use std::sync::Arc;

/// Shell-quote a word of a replay command only when it needs it.
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Explore one cell exactly as `portsim check` would.
fn explore_cell(
    input: &Input,
    policy: &'static dyn Policy,
    opts: &Options,
    hooks: Hooks,
) -> Result<(Exploration, String), String> {
    let (sc, n, seed) = (&input.scenario, opts.iterations, opts.seed);
    // `check`'s options: stop at the first violating execution; the hooks
    // carry the cancel flag and the progress bar.
    let eopts = ExploreOptions {
        hooks,
        ..ExploreOptions::first()
    };
    let kind = match opts.engine {
        Engine::Portfolio => {
            // Like `explore`, a cell stops at its first violating execution.
            let (x, _) = explore_portfolio(sc, policy, n, seed, &eopts)?;
            return Ok((x, format!("portfolio seed {seed}")));
        }
        Engine::Random => EngineKind::Random,
        Engine::Urw => EngineKind::Urw,
        Engine::Pct { depth } => EngineKind::Pct { depth },
        Engine::Dfs => EngineKind::Dfs,
    };
    let x = explore_with(sc, policy, kind, n, seed, &eopts)?;
    Ok((x, format!("{} seed {seed}", kind.describe())))
}

/// `hooks` with its progress counts shifted past the cells already done,
/// so that one bar counts the whole matrix.
fn shifted(hooks: &Hooks, executions: usize, violations: usize) -> Hooks {
    Hooks {
        cancel: hooks.cancel.clone(),
        progress: hooks.progress.clone().map(|f| {
            Arc::new(move |p: Progress| {
                f(Progress {
                    executions: p.executions + executions,
                    violations: p.violations + violations,
                })
            }) as Arc<dyn Fn(Progress) + Send + Sync>
        }),
    }
}

/// Explore every scenario under every policy. Deterministic: the same
/// inputs and options give an equal matrix. Errors are internal (an
/// engine or minimizer failure), named by cell.
pub fn run(
    inputs: &[Input],
    policies: &[&'static dyn Policy],
    opts: &Options,
) -> Result<Matrix, String> {
    run_with(inputs, policies, opts, &Hooks::default())
}

/// [`run`] with a cancel flag and a progress callback (counting
/// executions over the whole matrix). When the flag is set the cell in
/// flight stops after its current execution, is kept (and its violations
/// minimized), and no further cell is explored: the matrix says
/// `interrupted`.
pub fn run_with(
    inputs: &[Input],
    policies: &[&'static dyn Policy],
    opts: &Options,
    hooks: &Hooks,
) -> Result<Matrix, String> {
    let mut cells = Vec::new();
    let mut counterexamples: Vec<Counterexample> = Vec::new();
    let (mut done, mut violations) = (0usize, 0usize);
    let mut interrupted = false;
    'matrix: for input in inputs {
        let sc = &input.scenario;
        for &policy in policies {
            if hooks.cancelled() {
                interrupted = true;
                break 'matrix;
            }
            let at = |e: String| format!("{} under {}: {e}", input.path.display(), policy.name());
            let (x, label) =
                explore_cell(input, policy, opts, shifted(hooks, done, violations)).map_err(at)?;
            done += x.executions;
            let mut verdicts = Vec::new();
            for p in Property::ALL {
                let violated = x.failure.as_ref().filter(|f| {
                    f.report
                        .properties
                        .iter()
                        .any(|v| v.property == p && !v.holds)
                });
                let Some(f) = violated else {
                    verdicts.push((p, CellVerdict::Holds));
                    continue;
                };
                let m = minimize(sc, policy, &f.recorded, p, super::MINIMIZE_BUDGET).map_err(at)?;
                let file = save::schedule_path(&opts.out, &sc.name, policy.name(), p);
                let found_by = format!("{label}, execution {}", f.execution);
                let body = save::named_body(
                    &sc.name,
                    &input.path,
                    policy.name(),
                    p,
                    &found_by,
                    m.recorded.preemptions,
                    &m.recorded.named,
                );
                let violation = m.report.violation_of(p);
                let evidence = violation
                    .map(|v| format!("step {}: {}", v.step, v.message))
                    .unwrap_or_default();
                let story = violation
                    .map(|v| crate::report::story::story(&m.report.trace, v).text())
                    .unwrap_or_default();
                let mermaid = m.report.mermaid(violation);
                let number = counterexamples.len() + 1;
                counterexamples.push(Counterexample {
                    number,
                    scenario: sc.name.clone(),
                    policy: policy.name().to_string(),
                    property: p,
                    execution: f.execution,
                    evidence,
                    preemptions: m.recorded.preemptions,
                    steps: m.recorded.schedule.tasks().count(),
                    replay: format!(
                        "portsim run {} --policy {} --schedule {}",
                        shell_word(&input.path.display().to_string()),
                        policy.name(),
                        shell_word(&file.display().to_string())
                    ),
                    file,
                    body,
                    story,
                    mermaid,
                });
                verdicts.push((
                    p,
                    CellVerdict::Violated {
                        counterexample: number,
                    },
                ));
            }
            let failed_starts = sc
                .containers
                .iter()
                .filter_map(|c| x.failed_starts.get(&c.name).map(|n| (c.name.clone(), *n)))
                .collect();
            cells.push(Cell {
                scenario: sc.name.clone(),
                path: input.path.display().to_string(),
                policy: policy.name().to_string(),
                executions: x.executions,
                sequential: !sc
                    .steps
                    .iter()
                    .any(|s| matches!(s, crate::scenario::Step::Concurrent(_))),
                outcomes: x.outcomes.into_iter().collect(),
                failed_starts,
                verdicts,
            });
            violations += cells.last().map_or(0, |c: &super::Cell| {
                c.verdicts
                    .iter()
                    .filter(|(_, v)| matches!(v, CellVerdict::Violated { .. }))
                    .count()
            });
        }
    }
    Ok(Matrix {
        engine: match opts.engine {
            Engine::Portfolio => format!("portfolio seed {}", opts.seed),
            e => format!("{} seed {}", e.describe(), opts.seed),
        },
        iterations: opts.iterations,
        seed: opts.seed,
        out: opts.out.clone(),
        policies: policies.iter().map(|p| p.name().to_string()).collect(),
        scenarios: inputs
            .iter()
            .map(|i| (i.scenario.name.clone(), i.path.display().to_string()))
            .collect(),
        cells,
        counterexamples,
        interrupted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_words_are_quoted_only_when_needed() {
        assert_eq!(
            shell_word("scenarios/issue-53153.toml"),
            "scenarios/issue-53153.toml"
        );
        assert_eq!(shell_word("my dir/x.toml"), "'my dir/x.toml'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
