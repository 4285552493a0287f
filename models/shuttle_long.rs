//! Longer shuttle searches, run by CI in release with `--ignored`:
//! `cargo test --release --test shuttle_long -- --ignored --nocapture`.
//! Each prints how many executions it explored.
// Shuttle-driven: the os-threads build (`stress` only) leaves the engines out.
#![cfg(not(feature = "os-threads"))]

mod common;

use portsim::check::Property;
use portsim::explore::engine::{EngineKind, explore};
use portsim::mapper::by_name;
use portsim::scenario::Scenario;
use std::path::Path;
use std::sync::Arc;

fn shipped(file: &str) -> Arc<Scenario> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(file);
    Arc::new(portsim::scenario::load(&p).unwrap())
}

/// PCT (depth 3) over 10 seeds on the stale-bindings scenario: how many
/// executions each needs to find the forgotten reservation.
#[test]
#[ignore]
fn pct_finds_pr_52927_stale_bindings_for_most_seeds() {
    let sc = shipped("stale-bindings.toml");
    let mut found = Vec::new();
    for seed in 0..10 {
        let x = explore(
            &sc,
            by_name("pr-52927").unwrap(),
            EngineKind::Pct { depth: 3 },
            40_000,
            seed,
        )
        .unwrap();
        if let Some(f) = &x.failure {
            assert_eq!(f.property, Property::AllocatorConsistency);
        }
        found.push(x.failure.map(|f| f.execution));
    }
    println!(
        "pct depth 3, seeds 0..10, executions to find the stale bindings (None: not in 40000): {found:?}"
    );
    assert!(found.iter().filter(|f| f.is_some()).count() >= 5);
}

/// The same scenario on moby-master: no retry loop, no stale bindings.
#[test]
#[ignore]
fn pct_moby_master_stale_bindings_scenario_holds() {
    let sc = shipped("stale-bindings.toml");
    let x = explore(
        &sc,
        by_name("moby-master").unwrap(),
        EngineKind::Pct { depth: 3 },
        40_000,
        6,
    )
    .unwrap();
    println!(
        "moby-master: {} executions, {} outcomes",
        x.executions,
        x.outcomes.len()
    );
    assert!(x.failure.is_none(), "{}", x.failure.unwrap().report.text());
}

/// 20 000 random executions of 2 starts x 2 addresses + a racing occupant +
/// a stop: pr-52927 holds every property.
#[test]
#[ignore]
fn random_20000_two_starts_race_and_stop_pr_52927_holds() {
    for port in [32768, 32769, 32770] {
        let sc = common::two_starts_race_and_stop("32768-60999", port, true);
        let x = explore(
            &sc,
            by_name("pr-52927").unwrap(),
            EngineKind::Random,
            20_000,
            0,
        )
        .unwrap();
        println!(
            "random, occupant on {port}: {} executions, {} outcomes",
            x.executions,
            x.outcomes.len()
        );
        assert!(x.failure.is_none(), "{}", x.failure.unwrap().report.text());
    }
}

/// The same with the bridge lock off (MapPorts calls of one daemon overlap)
/// and a three-port range: what the PR does when its callers are not
/// serialized.
#[test]
#[ignore]
fn pct_20000_bridge_lock_off_tiny_range() {
    let sc = common::two_starts_race_and_stop("32768-32770", 32769, false);
    for policy in ["moby-master", "pr-52927"] {
        let x = explore(
            &sc,
            by_name(policy).unwrap(),
            EngineKind::Pct { depth: 3 },
            20_000,
            0,
        )
        .unwrap();
        match &x.failure {
            None => println!("{policy}: no violation in {} executions", x.executions),
            Some(f) => println!(
                "{policy}: {} violated at execution {}",
                f.property, f.execution
            ),
        }
        if policy == "moby-master" {
            assert!(x.failure.is_some());
        }
    }
}

/// Shuttle's DFS over 2 starts x 2 addresses + a racing occupant + a stop,
/// bounded at 20 000 executions per policy. Shuttle's DFS has no
/// partial-order reduction, so this is a prefix of the tree, not a proof
/// (loom's model of the same configuration is the exhaustive one).
#[test]
#[ignore]
fn dfs_20000_two_starts_race_and_stop() {
    let sc = common::two_starts_race_and_stop("32768-60999", 32769, true);
    for policy in ["moby-master", "pr-52927"] {
        let x = explore(&sc, by_name(policy).unwrap(), EngineKind::Dfs, 20_000, 0).unwrap();
        match &x.failure {
            None => println!(
                "dfs {policy}: no violation in {} executions, {} outcomes",
                x.executions,
                x.outcomes.len()
            ),
            Some(f) => println!(
                "dfs {policy}: {} violated at execution {}",
                f.property, f.execution
            ),
        }
        if policy == "pr-52927" {
            assert!(x.failure.is_none());
        }
    }
}
