//! `portsim compare`: every scenario under every selected policy, explored
//! with one engine and one budget, as one matrix of verdicts.
//!
//! Nothing here explores on its own: each cell is one call of
//! [`crate::explore::engine::explore`] (or `explore_portfolio`) — exactly
//! what `portsim check` runs — and each violated property is shrunk by
//! [`crate::explore::minimize::minimize`] and saved through
//! [`crate::explore::save`]. [`run()`] builds the [`Matrix`] (pure data,
//! deterministic for the same inputs); [`render`] prints it as text, JSON or
//! markdown; [`command`] is the subcommand. No Go code is mirrored here.
//!
//! Policies come from [`crate::mapper::policies`], so a new policy appears
//! as a new column without any change here.

pub mod render;
#[cfg(not(feature = "os-threads"))]
mod run;

use crate::check::Property;
use crate::mapper::{self, Policy};
use crate::scenario::Scenario;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[cfg(not(feature = "os-threads"))]
pub use run::{run, run_with};

/// Output format of `portsim compare`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An aligned table, one row per scenario and policy.
    Text,
    /// Every cell with its outcomes and counterexamples (`format_version` 1).
    Json,
    /// A GitHub table (scenario rows, policy columns) for a PR review.
    Markdown,
}

/// The engine every cell is explored with (the choices of `portsim check`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Random,
    Urw,
    Pct { depth: usize },
    Dfs,
    Portfolio,
}

impl Engine {
    /// How `check` names it in its reports: `pct depth 3`, `portfolio`.
    pub fn describe(self) -> String {
        match self {
            Engine::Random => "random".to_string(),
            Engine::Urw => "urw".to_string(),
            Engine::Pct { depth } => format!("pct depth {depth}"),
            Engine::Dfs => "dfs".to_string(),
            Engine::Portfolio => "portfolio".to_string(),
        }
    }
}

/// The budget and engine shared by every cell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub engine: Engine,
    /// Executions per cell, at most.
    pub iterations: usize,
    pub seed: u64,
    /// Where counterexample schedules are written (and what the replay
    /// commands name).
    pub out: PathBuf,
}

/// Candidate executions the minimizer may try per counterexample (the
/// budget `portsim check` gives it).
pub const MINIMIZE_BUDGET: usize = 4000;

/// One scenario file, loaded.
#[derive(Clone, Debug)]
pub struct Input {
    /// The path as the user gave it (shown in replay commands).
    pub path: PathBuf,
    pub scenario: Arc<Scenario>,
}

/// A property's verdict in one cell.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum CellVerdict {
    /// No execution of the cell violated it.
    Holds,
    /// Violated; the counterexample's 1-based number in the matrix.
    Violated { counterexample: usize },
}

/// A minimized violating schedule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Counterexample {
    /// 1-based, in matrix order.
    pub number: usize,
    pub scenario: String,
    pub policy: String,
    pub property: Property,
    /// The execution of the cell's exploration that violated it.
    pub execution: usize,
    /// The checker's first message on the minimized schedule.
    pub evidence: String,
    pub preemptions: usize,
    pub steps: usize,
    /// Where the schedule is written.
    pub file: PathBuf,
    /// `portsim run SCENARIO --policy P --schedule FILE`.
    pub replay: String,
    /// The schedule file's whole text.
    #[serde(skip)]
    pub body: String,
    /// What happens, in words ([`crate::report::story`]), on the
    /// minimized schedule.
    #[serde(skip)]
    pub story: String,
    /// Its Mermaid sequence diagram ([`crate::report::mermaid`]).
    #[serde(skip)]
    pub mermaid: String,
}

/// One scenario under one policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Cell {
    pub scenario: String,
    pub path: String,
    pub policy: String,
    /// Executions explored (the exploration stops at the first violating
    /// one, so a violated cell may have explored fewer than the budget).
    pub executions: usize,
    /// The scenario has no concurrent step: its one interleaving is all
    /// there is, and one execution explored it.
    pub sequential: bool,
    /// Distinct (start outcomes, violated properties) signatures seen.
    pub outcomes: Vec<String>,
    /// Per container (in scenario order), the executions in which its
    /// start failed; containers that never failed are left out.
    pub failed_starts: Vec<(String, usize)>,
    /// In [`Property::ALL`] order.
    pub verdicts: Vec<(Property, CellVerdict)>,
}

impl Cell {
    pub fn violated(&self) -> bool {
        self.verdicts
            .iter()
            .any(|(_, v)| matches!(v, CellVerdict::Violated { .. }))
    }
}

/// The whole comparison.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matrix {
    /// `pct depth 3 seed 0`.
    pub engine: String,
    pub iterations: usize,
    pub seed: u64,
    pub out: PathBuf,
    pub policies: Vec<String>,
    /// (name, path), in input order.
    pub scenarios: Vec<(String, String)>,
    /// Scenario-major, policies in `policies` order.
    pub cells: Vec<Cell>,
    pub counterexamples: Vec<Counterexample>,
    /// Ctrl-C stopped the comparison: `cells` holds the cells explored so
    /// far (the last one possibly partly), the others were not reached.
    pub interrupted: bool,
}

impl Matrix {
    /// Some cell violates some property.
    pub fn violated(&self) -> bool {
        !self.counterexamples.is_empty()
    }

    /// The cell of `scenario` (by index) under `policy`.
    pub fn cell(&self, scenario: usize, policy: &str) -> Option<&Cell> {
        self.cells
            .iter()
            .skip(scenario * self.policies.len())
            .take(self.policies.len())
            .find(|c| c.policy == policy)
    }

    /// Write every counterexample's schedule (each atomically).
    pub fn write_schedules(&self) -> Result<(), String> {
        for c in &self.counterexamples {
            crate::explore::save::write_atomic(&c.file, &c.body)
                .map_err(|e| format!("{}: cannot write schedule: {e}", c.file.display()))?;
        }
        Ok(())
    }
}

/// The policies `--policies` names (comma-separated), in registry order,
/// each once; all of them without the flag.
pub fn select_policies(spec: Option<&str>) -> Result<Vec<&'static dyn Policy>, String> {
    let all = mapper::policies();
    let Some(spec) = spec else { return Ok(all) };
    let known = || all.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ");
    let mut wanted = Vec::new();
    for name in spec.split(',').map(str::trim) {
        if mapper::by_name(name).is_none() {
            return Err(format!(
                "--policies: unknown policy {name:?}; the policies are: {}",
                known()
            ));
        }
        wanted.push(name);
    }
    Ok(all
        .into_iter()
        .filter(|p| wanted.contains(&p.name()))
        .collect())
}

/// The scenario files to compare: the arguments as given, or, with none,
/// every `*.toml` of `./scenarios/` sorted by file name.
pub fn scenario_paths(args: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    if !args.is_empty() {
        return Ok(args.to_vec());
    }
    let dir = Path::new("scenarios");
    let rd = std::fs::read_dir(dir).map_err(|e| {
        format!(
            "no scenario given and {}/ cannot be read ({e}); run from the project directory or name the files",
            dir.display()
        )
    })?;
    let mut names: Vec<String> = Vec::new();
    for e in rd {
        let e = e.map_err(|e| format!("{}/: {e}", dir.display()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".toml") && e.path().is_file() {
            names.push(name);
        }
    }
    if names.is_empty() {
        return Err(format!(
            "no scenario given and {}/ holds no .toml file",
            dir.display()
        ));
    }
    names.sort();
    Ok(names.into_iter().map(|n| dir.join(n)).collect())
}

/// Load every file; the first bad one is the error (`file:line:column:
/// what was expected`). Two files whose scenario names would share a
/// schedule file name are refused.
pub fn load_inputs(paths: &[PathBuf]) -> Result<Vec<Input>, String> {
    let mut out: Vec<Input> = Vec::new();
    for p in paths {
        let sc = crate::scenario::load(p).map_err(|e| e.to_string())?;
        let key = crate::explore::save::sanitize(&sc.name, 80);
        if let Some(prev) = out
            .iter()
            .find(|i| crate::explore::save::sanitize(&i.scenario.name, 80) == key)
        {
            return Err(format!(
                "{}: scenario name {:?} is also the name of {} (their schedules would share a file); rename one or compare them separately",
                p.display(),
                sc.name,
                prev.path.display()
            ));
        }
        out.push(Input {
            path: p.clone(),
            scenario: Arc::new(sc),
        });
    }
    Ok(out)
}

/// What `portsim compare --help` prints after the options: the policies
/// and the exit status.
pub fn help_tail() -> String {
    let mut s = String::from("Policies (columns, in this order):\n");
    for p in mapper::policies() {
        s.push_str(&format!("  {:<14} {}\n", p.name(), p.summary()));
    }
    s.push_str(
        "\nExit status: 0 every cell holds every property, 1 some property is violated,\n2 a bad scenario file or flag (file:line:column and what was expected), 3 an internal error,\n130 interrupted by Ctrl-C (the cells explored so far are printed).\n",
    );
    s
}

fn fail(code: u8, msg: &str) -> ExitCode {
    eprintln!("portsim: {msg}");
    ExitCode::from(code)
}

/// The subcommand: 0 every cell holds every property, 1 some property is
/// violated, 2 a bad scenario file or flag, 3 an internal error.
#[cfg(feature = "os-threads")]
pub fn command(_: &[PathBuf], _: Option<&str>, _: Options, _: Format) -> ExitCode {
    fail(
        2,
        "this build (--features os-threads) runs `stress` only; build without it for `compare`",
    )
}

/// The subcommand: 0 every cell holds every property, 1 some property is
/// violated, 2 a bad scenario file or flag, 3 an internal error, 130
/// interrupted by Ctrl-C (the partial matrix is printed). Output is
/// assembled in full, after the schedules are written.
#[cfg(not(feature = "os-threads"))]
pub fn command(
    scenarios: &[PathBuf],
    policies: Option<&str>,
    opts: Options,
    format: Format,
) -> ExitCode {
    use std::io::{IsTerminal, Write};
    if opts.iterations == 0 {
        return fail(2, "--iterations: expected at least 1");
    }
    if let Engine::Pct { depth: 0 } = opts.engine {
        return fail(2, "--depth: expected at least 1");
    }
    let policies = match select_policies(policies) {
        Ok(p) => p,
        Err(e) => return fail(2, &e),
    };
    let inputs = match scenario_paths(scenarios).and_then(|p| load_inputs(&p)) {
        Ok(i) => i,
        Err(e) => return fail(2, &e),
    };
    let started = std::time::Instant::now();
    // The bar counts executions over the whole matrix (as `check`'s does
    // over its budget); Ctrl-C stops after the execution in flight.
    let total = opts.iterations * inputs.len() * policies.len();
    let live = crate::progress::Live::start(total, format != Format::Json);
    let r = run_with(&inputs, &policies, &opts, &live.hooks());
    live.finish();
    let m = match r {
        Ok(m) => m,
        Err(e) => return fail(3, &e),
    };
    if let Err(e) = m.write_schedules() {
        return fail(3, &e);
    }
    let text = match format {
        Format::Text => render::text(&m),
        Format::Json => render::json(&m),
        Format::Markdown => render::markdown(&m),
    };
    let mut so = std::io::stdout().lock();
    let _ = so.write_all(text.as_bytes());
    let _ = so.flush();
    // Timings never reach stdout; a terminal gets the rate on stderr.
    if std::io::stderr().is_terminal() {
        let execs: usize = m.cells.iter().map(|c| c.executions).sum();
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "portsim compare: {} cells, {execs} executions in {secs:.1} s ({:.0}/s, minimization included)",
            m.cells.len(),
            execs as f64 / secs.max(1e-9)
        );
    }
    ExitCode::from(if m.interrupted {
        crate::progress::INTERRUPTED
    } else if m.violated() {
        1
    } else {
        0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_default_to_all_and_keep_registry_order() {
        let all: Vec<&str> = mapper::policies().iter().map(|p| p.name()).collect();
        let got: Vec<&str> = select_policies(None)
            .unwrap()
            .iter()
            .map(|p| p.name())
            .collect();
        assert_eq!(got, all);
        let rev = all.iter().rev().copied().collect::<Vec<_>>().join(",");
        let twice = format!("{rev},{}", all[0]);
        let got: Vec<&str> = select_policies(Some(&twice))
            .unwrap()
            .iter()
            .map(|p| p.name())
            .collect();
        assert_eq!(got, all, "registry order, each once");
    }

    #[test]
    fn an_unknown_policy_is_one_line_naming_every_policy() {
        let e = select_policies(Some("moby-master,nope")).err().unwrap();
        assert!(e.contains("\"nope\""), "{e}");
        for p in mapper::policies() {
            assert!(e.contains(p.name()), "{e}");
        }
        assert_eq!(e.lines().count(), 1);
        assert!(select_policies(Some("")).is_err());
        assert!(select_policies(Some("moby-master,")).is_err());
    }

    #[test]
    fn two_files_with_one_scenario_name_are_refused() {
        let dir = std::env::temp_dir().join(format!("portsim-cmp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let body = "name = \"same/name\"\n[[daemon]]\nname = \"d1\"\n";
        let (a, b) = (dir.join("a.toml"), dir.join("b.toml"));
        std::fs::write(&a, body).unwrap();
        std::fs::write(&b, body.replace("same/name", "same_name")).unwrap();
        let e = load_inputs(&[a.clone(), b]).err().unwrap();
        assert!(
            e.contains("also the name of") && e.contains("a.toml"),
            "{e}"
        );
        assert_eq!(load_inputs(std::slice::from_ref(&a)).unwrap().len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
