//! The determinism self-check (`check --verify-determinism`): every
//! execution of every shipped scenario, under both policies, rerun from its
//! own recorded schedule gives the same report byte for byte; and the check
//! does fail when a run draws a value the scheduler does not control.
// Shuttle-driven: the os-threads build (`stress` only) leaves the engines out.
#![cfg(not(feature = "os-threads"))]

use portsim::explore::engine::{EngineKind, Options, explore_with};
use portsim::explore::{KernelKind, run_seed};
use portsim::mapper::by_name;
use portsim::scenario::Scenario;
use portsim::sync::labels;
use std::path::Path;
use std::sync::Arc;

fn scenarios() -> Vec<Arc<Scenario>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| Arc::new(portsim::scenario::load(f).unwrap()))
        .collect()
}

fn verify_all() -> Options {
    Options {
        verify_determinism: true,
        continue_after_violation: true,
        ..Options::default()
    }
}

/// Explore `n` random executions of every shipped scenario under both
/// policies, replaying and comparing each; returns the replays compared.
fn replay_every_scenario(n: usize) -> usize {
    let mut compared = 0;
    for sc in scenarios() {
        for policy in ["moby-master", "pr-52927"] {
            let p = by_name(policy).unwrap();
            let x = explore_with(&sc, p, EngineKind::Random, n, 7, &verify_all())
                .unwrap_or_else(|e| panic!("{} under {policy}: {e}", sc.name));
            assert_eq!(x.replays_compared, x.executions, "{}", sc.name);
            compared += x.replays_compared;
            if x.executions == 1 {
                // A sequential scenario has one interleaving, explored once:
                // run it n times more and compare.
                let first = run_seed(&sc, p, 0, KernelKind::Sim).unwrap().text();
                for _ in 1..n {
                    let again = run_seed(&sc, p, 0, KernelKind::Sim).unwrap().text();
                    assert_eq!(again, first, "{} under {policy}", sc.name);
                }
                compared += n - 1;
            } else {
                assert_eq!(x.executions, n, "{}", sc.name);
            }
        }
    }
    compared
}

#[test]
fn fifty_replays_of_every_shipped_scenario_match_byte_for_byte() {
    let n = replay_every_scenario(50);
    println!("determinism: {n} replays compared");
    assert_eq!(n, 50 * 2 * scenarios().len());
}

/// The documented long run (`.ci/run`, release): 1,000 per scenario and
/// policy.
#[test]
#[ignore]
fn a_thousand_replays_of_every_shipped_scenario_match_byte_for_byte() {
    let t = std::time::Instant::now();
    let n = replay_every_scenario(1000);
    println!(
        "determinism: {n} replays compared in {:.1}s",
        t.elapsed().as_secs_f64()
    );
}

#[test]
fn a_value_the_scheduler_does_not_control_fails_the_check_with_both_lines() {
    let sc = scenarios()
        .into_iter()
        .find(|s| s.name == "issue-52903")
        .unwrap();
    let p = by_name("moby-master").unwrap();
    labels::set_uncontrolled_choices(true);
    let r = explore_with(&sc, p, EngineKind::Random, 200, 0, &verify_all());
    labels::set_uncontrolled_choices(false);
    let e = r.unwrap_err();
    assert!(e.starts_with("nondeterminism: execution "), "{e}");
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 3, "{e}");
    assert!(lines[1].starts_with("  run:    "), "{e}");
    assert!(lines[2].starts_with("  replay: "), "{e}");
    assert_ne!(&lines[1][10..], &lines[2][10..]);
    // Without the leak the same exploration passes.
    let x = explore_with(&sc, p, EngineKind::Random, 200, 0, &verify_all()).unwrap();
    assert_eq!(x.replays_compared, 200);
}
