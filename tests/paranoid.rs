//! `--paranoid` (issue 9): the full step checks after every step beside
//! the incremental ones. They agree on every shipped scenario under every
//! policy (and the broken variants, so that the comparison also runs on
//! worlds that violate properties), and the comparison fails when the
//! incremental checks miss a step. Generated worlds:
//! `tests/generated.rs` (`paranoid_agrees_on_generated_worlds`).
// Shuttle-driven: the os-threads build (`stress` only) leaves the engines out.
#![cfg(not(feature = "os-threads"))]

use portsim::check::{Checker, Property};
use portsim::explore::engine::{EngineKind, Options, explore_with};
use portsim::explore::{KernelKind, make_net};
use portsim::mapper::{Policy, broken, policies};
use portsim::scenario::Scenario;
use portsim::world::World;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

fn scenarios() -> Vec<(PathBuf, Arc<Scenario>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "{}", files.len());
    files
        .into_iter()
        .map(|p| {
            let sc = portsim::scenario::load(&p).unwrap_or_else(|e| panic!("{e}"));
            (p, Arc::new(sc))
        })
        .collect()
}

fn paranoid() -> Options {
    Options {
        paranoid: true,
        continue_after_violation: true,
        ..Options::default()
    }
}

#[test]
fn incremental_and_full_checks_agree_on_every_shipped_scenario_and_policy() {
    let mut all: Vec<&'static dyn Policy> = policies();
    all.extend(broken::variants());
    let (mut runs, mut violating) = (0, 0);
    for (path, sc) in scenarios() {
        for &p in &all {
            for (engine, n) in [
                (EngineKind::Random, 200),
                (EngineKind::Pct { depth: 3 }, 60),
            ] {
                let x = explore_with(&sc, p, engine, n, 7, &paranoid())
                    .unwrap_or_else(|e| panic!("{} under {}: {e}", path.display(), p.name()));
                runs += x.executions;
                violating += x
                    .failures
                    .iter()
                    .filter(|f| {
                        matches!(
                            f.property,
                            Property::NoDoubleOwnership | Property::AllocatorConsistency
                        )
                    })
                    .count();
            }
        }
    }
    // The comparison ran on worlds whose step checks found something, not
    // only on quiet ones.
    eprintln!("{runs} executions, {violating} step-check violations found");
    assert!(runs > 20000, "{runs}");
    assert!(violating >= 10, "{violating}");
}

/// What one run's checker said: its disagreement (paranoid), and the
/// step-checked properties it found violated.
type Said = (Option<String>, Vec<Property>);

/// One run of `sc` under `policy` at shuttle random seed `seed`, watched by
/// `checker`.
fn run_with(
    sc: &Arc<Scenario>,
    policy: &'static dyn Policy,
    seed: u64,
    checker: fn() -> Checker,
) -> Said {
    let out: Arc<Mutex<Option<Said>>> = Arc::default();
    let (o2, sc) = (out.clone(), sc.clone());
    let sched = shuttle::scheduler::RandomScheduler::new_from_seed(seed, 1);
    shuttle::Runner::new(sched, shuttle::Config::new()).run(move || {
        let net = make_net(KernelKind::Sim).unwrap();
        let w = World::build_with(sc.clone(), policy, net, Arc::new(checker())).unwrap();
        w.run();
        let c = Checker::of(&w).unwrap();
        let props = c
            .violations()
            .iter()
            .map(|v| v.property)
            .filter(|p| {
                matches!(
                    p,
                    Property::NoDoubleOwnership | Property::AllocatorConsistency
                )
            })
            .collect();
        *o2.lock().unwrap() = Some((c.disagreement().map(|d| d.to_string()), props));
    });
    out.lock().unwrap().take().unwrap()
}

/// With the incremental side blind, paranoid disagrees exactly on the runs
/// whose step checks find something; with it seeing, never.
#[test]
fn paranoid_fails_when_the_incremental_checks_miss_a_step() {
    let mut caught = 0;
    for (path, sc) in scenarios() {
        for p in broken::variants() {
            for seed in 0..2 {
                let (agree, props) = run_with(&sc, p, seed, Checker::paranoid);
                assert_eq!(agree, None, "{} under {}", path.display(), p.name());
                let (blind, _) = run_with(&sc, p, seed, Checker::blind_for_test);
                assert_eq!(
                    blind.is_some(),
                    !props.is_empty(),
                    "{} under {} seed {seed}: {blind:?} {props:?}",
                    path.display(),
                    p.name()
                );
                if let Some(d) = blind {
                    let first = d.lines().next().unwrap();
                    assert!(
                        first.starts_with("after step ")
                            && first
                                .ends_with("the incremental checks and the full checks disagree"),
                        "{d}"
                    );
                    assert!(d.contains("incremental only: nothing"), "{d}");
                    assert!(props.iter().any(|p| d.contains(p.name())), "{d} {props:?}");
                    caught += 1;
                }
            }
        }
    }
    eprintln!("{caught} blind runs caught");
    assert!(caught >= 3, "{caught}");
}
