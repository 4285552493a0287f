//! The regression artifact of the policies: `portsim compare` over every
//! shipped scenario and every policy, as text and as markdown, compared
//! with the reviewed snapshots `snapshots/compare__matrix.snap` and
//! `snapshots/compare__matrix_markdown.snap`. A change to any policy (or a
//! new policy or scenario) shows as a diff of that table. Every
//! counterexample of the matrix must replay strictly to its violation.
//!
//! The per-cell budget is the same for every cell and small enough that
//! the whole matrix stays well under 30 s in the test profile; `portsim
//! compare` with its default budget (1000) explores more.

use portsim::check::Property;
use portsim::compare::{self, Engine, Matrix, Options};
use portsim::explore::{self, KernelKind, schedule::Schedule};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Executions per cell (PCT depth 3, seed 0: `portsim compare`'s defaults
/// but the budget). Keep the whole matrix well under 30 s.
const ITERATIONS: usize = 100;

fn opts() -> Options {
    Options {
        engine: Engine::Pct { depth: 3 },
        iterations: ITERATIONS,
        seed: 0,
        out: PathBuf::from("portsim-schedules"),
    }
}

/// The matrix over every `scenarios/*.toml` and every policy, built once.
fn matrix() -> &'static (Vec<compare::Input>, Matrix) {
    static M: OnceLock<(Vec<compare::Input>, Matrix)> = OnceLock::new();
    M.get_or_init(|| {
        // Paths relative to the project, as `portsim compare` run there
        // prints them.
        std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
        let paths = compare::scenario_paths(&[]).expect("scenarios/");
        let inputs = compare::load_inputs(&paths).unwrap_or_else(|e| panic!("{e}"));
        let policies = compare::select_policies(None).unwrap();
        let t = std::time::Instant::now();
        let m = compare::run(&inputs, &policies, &opts()).expect("matrix");
        eprintln!(
            "compare matrix: {} cells, {} executions, {} counterexamples in {:.1} s",
            m.cells.len(),
            m.cells.iter().map(|c| c.executions).sum::<usize>(),
            m.counterexamples.len(),
            t.elapsed().as_secs_f64()
        );
        (inputs, m)
    })
}

fn snapshot(name: &str, body: &str) {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s.bind(|| insta::assert_snapshot!(name, body));
}

#[test]
fn the_matrix_matches_its_reviewed_snapshot() {
    snapshot("compare__matrix", &compare::render::text(&matrix().1));
}

#[test]
fn the_markdown_matrix_matches_its_reviewed_snapshot() {
    snapshot(
        "compare__matrix_markdown",
        &compare::render::markdown(&matrix().1),
    );
}

#[test]
fn every_shipped_scenario_and_every_policy_is_in_the_matrix() {
    let (inputs, m) = matrix();
    let mut files: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|f| f.ends_with(".toml"))
            .collect();
    files.sort();
    let rows: Vec<String> = inputs
        .iter()
        .map(|i| i.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(rows, files);
    let names: Vec<&str> = portsim::mapper::policies()
        .iter()
        .map(|p| p.name())
        .collect();
    assert_eq!(m.policies, names);
    assert_eq!(m.cells.len(), files.len() * names.len());
    for c in &m.cells {
        assert!(c.executions >= 1 && c.executions <= ITERATIONS, "{c:?}");
        assert_eq!(c.verdicts.len(), Property::ALL.len());
    }
}

#[test]
fn every_counterexample_replays_strictly_to_its_violation() {
    let (inputs, m) = matrix();
    assert!(!m.counterexamples.is_empty(), "moby-master breaks #53153");
    for c in &m.counterexamples {
        let input = inputs
            .iter()
            .find(|i| i.scenario.name == c.scenario)
            .unwrap();
        assert_eq!(c.file.parent(), Some(Path::new("portsim-schedules")));
        assert_eq!(
            c.replay,
            format!(
                "portsim run {} --policy {} --schedule {}",
                input.path.display(),
                c.policy,
                c.file.display()
            )
        );
        let sched = Schedule::parse(&c.body).unwrap();
        let policy = portsim::mapper::by_name(&c.policy).unwrap();
        let (r, _) = explore::run_schedule(
            &input.scenario,
            policy,
            &sched,
            false,
            KernelKind::Sim,
            "replay",
        )
        .unwrap_or_else(|e| panic!("{}: {e}", c.replay));
        let v = r
            .properties
            .iter()
            .find(|v| v.property == c.property)
            .unwrap();
        assert!(!v.holds, "{} does not violate {}", c.replay, c.property);
        assert!(
            c.evidence.ends_with(&v.violation.as_ref().unwrap().message),
            "{}",
            c.evidence
        );
    }
}

#[test]
fn the_json_form_carries_every_cell() {
    let m = &matrix().1;
    let v: serde_json::Value = serde_json::from_str(&compare::render::json(m)).unwrap();
    assert_eq!(v["format_version"], compare::render::FORMAT_VERSION);
    assert_eq!(v["cells"].as_array().unwrap().len(), m.cells.len());
    assert_eq!(
        v["counterexamples"].as_array().unwrap().len(),
        m.counterexamples.len()
    );
    assert_eq!(v["holds"], !m.violated());
}
