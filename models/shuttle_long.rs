//! Longer shuttle searches, run by CI in release with `--ignored`:
//! `cargo test --release --test shuttle_long -- --ignored --nocapture`.
//! Each prints how many executions it explored.

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

/// DFS walks interleavings in a fixed order and reaches the PR's give-up
/// on the transient holder at execution 4245.
#[test]
#[ignore]
fn dfs_finds_pr_52927_giving_up_on_a_transient_holder() {
    let x = explore(
        &shipped("transient-holder.toml"),
        by_name("pr-52927").unwrap(),
        EngineKind::Dfs,
        20_000,
        0,
    )
    .unwrap();
    let f = x.failure.expect("DFS finds it");
    println!(
        "dfs: violation of {} at execution {}",
        f.property, f.execution
    );
    assert_eq!(f.property, Property::Convergence);
}

/// PCT (depth 3) over 20 seeds: how many executions each needs.
#[test]
#[ignore]
fn pct_finds_pr_52927_giving_up_on_a_transient_holder_for_every_seed() {
    let sc = shipped("transient-holder.toml");
    let mut found = Vec::new();
    for seed in 0..20 {
        let x = explore(
            &sc,
            by_name("pr-52927").unwrap(),
            EngineKind::Pct { depth: 3 },
            50_000,
            seed,
        )
        .unwrap();
        found.push(x.failure.map(|f| f.execution).unwrap_or(usize::MAX));
    }
    found.sort();
    println!(
        "pct depth 3, 20 seeds: executions to find it: median {}, max {}",
        found[10], found[19]
    );
    assert!(found[19] < usize::MAX);
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
