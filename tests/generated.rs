//! Generated scenarios: proptest builds small worlds (one or two daemons,
//! tiny to default ranges, fixed / dynamic / range `-p` specs on v4 and v6,
//! host occupants that sit, script or race, stops racing starts, the bridge
//! lock on and off), runs each under a policy at a few seeds, and shrinks a
//! failing one to the smallest. This is how give-up paths that fixed
//! configurations never reach get exercised.
//!
//! Every generated scenario is rendered to TOML and parsed, so a shrunk
//! counterexample prints as a file a user can save under `scenarios/`.
// Shuttle-driven: the os-threads build (`stress` only) leaves the engines out.
#![cfg(not(feature = "os-threads"))]

use portsim::explore::{KernelKind, run_seed};
use portsim::mapper::{Policy, broken, by_name};
use proptest::prelude::*;
use proptest::test_runner::{
    Config, FileFailurePersistence, RngAlgorithm, TestError, TestRng, TestRunner,
};
use std::sync::Arc;

/// A generated world, small enough to read once shrunk.
#[derive(Clone, Debug)]
struct Gen {
    /// Ports in the dynamic range (None: the default 32768-60999).
    range: Option<u16>,
    two_daemons: bool,
    bridge_lock: bool,
    userland_proxy: bool,
    /// Per container: which `-p` spec (index into SPECS) and daemon.
    containers: Vec<(usize, bool)>,
    /// (kind 0 fixed / 1 racing-briefly / 2 racing-forever, address index, port offset)
    occupant: Option<(u8, usize, u16)>,
    /// Start the containers after the first together with the occupant.
    concurrent: bool,
    /// Stop the first container inside the concurrent step.
    stop_first: bool,
}

const SPECS: [&str; 7] = [
    "0:80",
    "80",
    "127.0.0.1::80",
    "[::1]:0:80",
    "0:80/udp",
    "FIXED:80",
    "RANGE:80",
];
const OCC_ADDRS: [(&str, bool); 3] = [("0.0.0.0", false), ("::", false), ("::", true)];

impl Gen {
    fn base(&self) -> u16 {
        32768
    }

    fn end(&self) -> u16 {
        self.range.map(|n| self.base() + n - 1).unwrap_or(60999)
    }

    fn spec(&self, i: usize) -> String {
        let b = self.base();
        SPECS[i]
            .replace("FIXED", &(b + 1).to_string())
            .replace("RANGE", &format!("{}-{}", b, b + 2))
    }

    fn toml(&self) -> String {
        let mut s = String::from("name = \"generated\"\n");
        let names: Vec<String> = (0..self.containers.len())
            .map(|i| format!("c{i}"))
            .collect();
        let mut steps = vec![format!("\"start {}\"", names[0])];
        let mut group: Vec<String> = names[1..]
            .iter()
            .map(|n| format!("\"start {n}\""))
            .collect();
        let racing = matches!(self.occupant, Some((1 | 2, _, _)));
        if racing {
            group.push("\"race o\"".into());
        }
        if self.stop_first {
            group.push(format!("\"stop {}\"", names[0]));
        }
        if self.concurrent && group.len() >= 2 {
            steps.push(format!("[{}]", group.join(", ")));
        } else {
            steps.extend(group);
        }
        s.push_str(&format!("steps = [{}]\n", steps.join(", ")));
        for d in 0..if self.two_daemons { 2 } else { 1 } {
            s.push_str(&format!(
                "[[daemon]]\nname = \"d{d}\"\nport_range = \"{}-{}\"\nbridge_lock = {}\nuserland_proxy = {}\n",
                self.base(),
                self.end(),
                self.bridge_lock,
                self.userland_proxy
            ));
        }
        if let Some((kind, addr, off)) = self.occupant {
            let (a, v6only) = OCC_ADDRS[addr];
            let port = self.base() + off.min(self.end() - self.base());
            let (k, hold) = match kind {
                0 => ("fixed", "forever"),
                1 => ("racing", "briefly"),
                _ => ("racing", "forever"),
            };
            s.push_str(&format!(
                "[[occupant]]\nname = \"o\"\nkind = \"{k}\"\nproto = \"tcp\"\naddress = \"{a}\"\nv6only = {v6only}\nports = [{port}]\nhold = \"{hold}\"\n"
            ));
        }
        for (i, (spec, second)) in self.containers.iter().enumerate() {
            let d = if *second && self.two_daemons { 1 } else { 0 };
            s.push_str(&format!(
                "[[container]]\nname = \"c{i}\"\ndaemon = \"d{d}\"\npublish = [\"{}\"]\n",
                self.spec(*spec)
            ));
        }
        s
    }
}

fn worlds() -> impl Strategy<Value = Gen> {
    (
        prop_oneof![Just(None), (2u16..6).prop_map(Some)],
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec((0..SPECS.len(), any::<bool>()), 1..4),
        prop::option::of((0u8..3, 0..OCC_ADDRS.len(), 0u16..3)),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(range, two, lock, proxy, containers, occupant, concurrent, stop_first)| Gen {
                range,
                two_daemons: two,
                bridge_lock: !lock,
                userland_proxy: !proxy,
                containers,
                occupant,
                concurrent,
                stop_first,
            },
        )
}

/// Run `g` under `policy` at seeds 0..3; Err with the first violation.
fn holds(g: &Gen, policy: &'static dyn Policy) -> Result<(), String> {
    let sc = Arc::new(
        portsim::scenario::parse_str("generated.toml", &g.toml())
            .map_err(|e| format!("bad generated file: {e}"))?,
    );
    for seed in 0..3 {
        let r = run_seed(&sc, policy, seed, KernelKind::Sim)?;
        if let Some(v) = r.properties.iter().find_map(|p| p.violation.clone()) {
            return Err(format!(
                "seed {seed}: {} violated: {}",
                v.property, v.message
            ));
        }
    }
    Ok(())
}

/// Search `cases` generated scenarios; Some((minimal scenario, why)) when one fails.
fn search(policy: &'static dyn Policy, cases: u32, file: &'static str) -> Option<(Gen, String)> {
    let config = Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(file))),
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    match runner.run(&worlds(), |g| {
        holds(&g, policy).map_err(TestCaseError::fail)
    }) {
        Ok(()) => None,
        Err(TestError::Fail(why, g)) => Some((g, why.to_string())),
        Err(e) => panic!("{e}"),
    }
}

fn snapshot(name: &str, text: &str) {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s.bind(|| insta::assert_snapshot!(name, text));
}

#[test]
fn every_generated_scenario_parses() {
    let mut runner = TestRunner::new_with_rng(
        Config::with_cases(200),
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    runner
        .run(&worlds(), |g| {
            portsim::scenario::parse_str("generated.toml", &g.toml())
                .map_err(|e| TestCaseError::fail(format!("{e}\n{}", g.toml())))?;
            Ok(())
        })
        .unwrap();
}

#[test]
fn moby_master_is_broken_and_proptest_shrinks_it() {
    let (g, why) = search(
        by_name("moby-master").unwrap(),
        200,
        "proptest-regressions/generated-moby-master.txt",
    )
    .expect("generated scenarios break moby-master");
    assert!(why.contains("convergence"), "{why}");
    // Something in the host must take a child-free port: a second daemon
    // or an occupant. Shrinking keeps one of them and at most two starts.
    assert!(
        g.containers.len() <= 2,
        "shrunk to something small:\n{}",
        g.toml()
    );
    assert!(g.two_daemons || g.occupant.is_some(), "{}", g.toml());
    assert!(
        holds(&g, by_name("moby-master").unwrap()).is_err(),
        "the minimal scenario still fails"
    );
    snapshot(
        "generated__moby-master-minimal",
        &format!("{why}\n\n{}", g.toml()),
    );
}

#[test]
fn every_broken_variant_is_found() {
    for (v, file) in [
        (
            &broken::LeakReservation as &'static dyn Policy,
            "proptest-regressions/generated-leak-reservation.txt",
        ),
        (
            &broken::KeepHostPort,
            "proptest-regressions/generated-keep-host-port.txt",
        ),
        (
            &broken::SkipPortDriver,
            "proptest-regressions/generated-skip-port-driver.txt",
        ),
    ] {
        let found = search(v, 200, file);
        assert!(found.is_some(), "{} not found", v.name());
    }
}

/// The generous search on pr-52927 (CI: `--release -- --ignored`). It
/// found nothing in 3 000 worlds x 3 seeds; should it find something, the
/// shrunk world becomes a new snapshot, which fails under `CI=true` until
/// it is reviewed (see README "Findings").
#[test]
#[ignore]
fn pr_52927_search() {
    match search(
        by_name("pr-52927").unwrap(),
        3000,
        "proptest-regressions/generated-pr-52927.txt",
    ) {
        None => println!("pr-52927: no violation in 3000 generated scenarios x 3 seeds"),
        Some((g, why)) => {
            println!("pr-52927: {why}\n{}", g.toml());
            snapshot(
                "generated__pr-52927-minimal",
                &format!("{why}\n\n{}", g.toml()),
            );
        }
    }
}

/// `--paranoid` on generated worlds (issue 9): the incremental step checks
/// agree with the full ones after every step (a disagreement is an Err of
/// the exploration), under every policy and the broken variants,
/// violations included.
#[test]
fn paranoid_agrees_on_generated_worlds() {
    use portsim::explore::engine::{EngineKind, Options, explore_with};
    let mut runner = TestRunner::new_with_rng(
        Config::with_cases(200),
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let mut policies = portsim::mapper::policies();
    policies.extend(broken::variants());
    let options = Options {
        paranoid: true,
        continue_after_violation: true,
        ..Options::default()
    };
    runner
        .run(&worlds(), |g| {
            let sc = Arc::new(
                portsim::scenario::parse_str("generated.toml", &g.toml())
                    .map_err(|e| TestCaseError::fail(e.to_string()))?,
            );
            for &p in &policies {
                explore_with(&sc, p, EngineKind::Random, 10, 3, &options).map_err(|e| {
                    TestCaseError::fail(format!(
                        "{} under {}: {e}\n{}",
                        sc.name,
                        p.name(),
                        g.toml()
                    ))
                })?;
            }
            Ok(())
        })
        .unwrap();
}
