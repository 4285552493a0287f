//! Filling the matrix: one exploration per (scenario, policy) with the
//! engines of `portsim check`, one minimization per violated property.

use super::{Cell, CellVerdict, Counterexample, Engine, Input, Matrix, Options};
use crate::check::Property;
use crate::explore::engine::{
    EngineKind, Exploration, Options as ExploreOptions, explore, explore_portfolio,
};
use crate::explore::{minimize::minimize, save};
use crate::mapper::Policy;

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
) -> Result<(Exploration, String), String> {
    let (sc, n, seed) = (&input.scenario, opts.iterations, opts.seed);
    let kind = match opts.engine {
        Engine::Portfolio => {
            // Like `explore`, a cell stops at its first violating execution.
            let (x, _) = explore_portfolio(sc, policy, n, seed, &ExploreOptions::first())?;
            return Ok((x, format!("portfolio seed {seed}")));
        }
        Engine::Random => EngineKind::Random,
        Engine::Urw => EngineKind::Urw,
        Engine::Pct { depth } => EngineKind::Pct { depth },
        Engine::Dfs => EngineKind::Dfs,
    };
    let x = explore(sc, policy, kind, n, seed)?;
    Ok((x, format!("{} seed {seed}", kind.describe())))
}

/// Explore every scenario under every policy. Deterministic: the same
/// inputs and options give an equal matrix. Errors are internal (an
/// engine or minimizer failure), named by cell.
pub fn run(
    inputs: &[Input],
    policies: &[&'static dyn Policy],
    opts: &Options,
) -> Result<Matrix, String> {
    let mut cells = Vec::new();
    let mut counterexamples: Vec<Counterexample> = Vec::new();
    for input in inputs {
        let sc = &input.scenario;
        for &policy in policies {
            let at = |e: String| format!("{} under {}: {e}", input.path.display(), policy.name());
            let (x, label) = explore_cell(input, policy, opts).map_err(at)?;
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
                let body = save::body(
                    &sc.name,
                    &input.path,
                    policy.name(),
                    p,
                    &found_by,
                    &m.recorded.schedule.to_text(),
                );
                let evidence = m
                    .report
                    .properties
                    .iter()
                    .find(|v| v.property == p)
                    .and_then(|v| v.violation.as_ref())
                    .map(|v| format!("step {}: {}", v.step, v.message))
                    .unwrap_or_default();
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
