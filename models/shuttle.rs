//! Sampling models under shuttle (the default build): PCT, random and DFS
//! exploration of bounded configurations, the minimizer, and the replay
//! path a user follows. Fast enough for every `cargo test`; the longer
//! searches are in `models/shuttle_long.rs`.

mod common;

use portsim::check::Property;
use portsim::coverage::Situation;
use portsim::explore::KernelKind;
use portsim::explore::engine::{EngineKind, Options, explore, explore_portfolio, explore_with};
use portsim::explore::minimize::minimize;
use portsim::explore::run_schedule;
use portsim::explore::schedule::Schedule;
use portsim::mapper::by_name;
use portsim::scenario::Scenario;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

fn shipped(file: &str) -> Arc<Scenario> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(file);
    Arc::new(portsim::scenario::load(&p).unwrap())
}

fn snapshot(name: &str, text: &str) {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s.bind(|| insta::assert_snapshot!(name, text));
}

/// Executions PCT (depth 3) needed to find a violation, for seeds 0..n.
fn pct_executions(
    sc: &Arc<Scenario>,
    policy: &str,
    seeds: std::ops::Range<u64>,
    budget: usize,
) -> Vec<usize> {
    let p = by_name(policy).unwrap();
    seeds
        .map(|seed| {
            let x = explore(sc, p, EngineKind::Pct { depth: 3 }, budget, seed).unwrap();
            x.failure.map(|f| f.execution).unwrap_or(usize::MAX)
        })
        .collect()
}

#[test]
fn pct_finds_moby_master_53153_within_100_executions() {
    let found = pct_executions(&shipped("issue-53153.toml"), "moby-master", 0..5, 100);
    assert!(found.iter().all(|n| *n <= 100), "{found:?}");
}

#[test]
fn pct_finds_moby_master_52903_within_100_executions() {
    let mut found = pct_executions(&shipped("issue-52903.toml"), "moby-master", 0..20, 100);
    assert!(found.iter().all(|n| *n <= 100), "{found:?}");
    found.sort();
    println!(
        "pct depth 3, 20 seeds: executions to find moby#52903: median {}, max {}",
        found[10], found[19]
    );
}

/// PR #52927's stale bindings (bridge lock off): PCT depth 3 seed 6 finds
/// the forgotten reservation at execution 1996 (other seeds: shuttle_long).
#[test]
fn pct_finds_the_pr_forgetting_a_reservation_when_mapports_overlap() {
    let sc = shipped("stale-bindings.toml");
    let x = explore(
        &sc,
        by_name("pr-52927").unwrap(),
        EngineKind::Pct { depth: 3 },
        5000,
        6,
    )
    .unwrap();
    let f = x.failure.expect("PCT seed 6 finds it");
    assert_eq!(
        f.property,
        Property::AllocatorConsistency,
        "{}",
        f.report.text()
    );
    assert!(
        f.report
            .trace
            .iter()
            .any(|e| e.action.starts_with("RequestPortsInRange")
                && e.result == "error: all ports are allocated")
    );
}

/// The transient holder is explored but not held against either policy.
#[test]
fn a_port_freed_after_the_last_attempt_is_not_a_convergence_failure() {
    let sc = shipped("transient-holder.toml");
    for policy in ["moby-master", "pr-52927"] {
        let x = explore(
            &sc,
            by_name(policy).unwrap(),
            EngineKind::Pct { depth: 3 },
            300,
            1,
        )
        .unwrap();
        assert!(
            x.failure.is_none(),
            "{policy}: {}",
            x.failure.unwrap().report.text()
        );
        // The model is about a host program in the window: it must have
        // been seen colliding.
        let c = &x.coverage;
        assert!(
            c.count(Situation::HostCollision) > 0,
            "{}",
            c.text(&sc.covers)
        );
        if policy == "pr-52927" {
            assert!(c.count(Situation::Retry) > 0, "{}", c.text(&sc.covers));
        }
    }
}

#[test]
fn random_sampling_of_two_starts_race_and_stop_breaks_only_convergence_on_moby_master() {
    let sc = common::two_starts_race_and_stop("32768-60999", 32769, true);
    let x = explore(
        &sc,
        by_name("moby-master").unwrap(),
        EngineKind::Random,
        500,
        0,
    )
    .unwrap();
    let f = x.failure.expect("random sampling finds moby#52903");
    assert_eq!(f.property, Property::Convergence);
}

#[test]
fn random_sampling_of_two_starts_race_and_stop_holds_on_pr_52927() {
    let sc = common::two_starts_race_and_stop("32768-60999", 32769, true);
    let x = explore(
        &sc,
        by_name("pr-52927").unwrap(),
        EngineKind::Random,
        500,
        0,
    )
    .unwrap();
    assert!(x.failure.is_none(), "{}", x.failure.unwrap().report.text());
    assert_eq!(x.executions, 500);
    println!(
        "random: 500 executions, {} distinct outcomes",
        x.outcomes.len()
    );
}

#[test]
fn the_minimized_counterexample_still_fails_and_is_no_larger() {
    let sc = shipped("issue-52903.toml");
    let p = by_name("moby-master").unwrap();
    let f = explore(&sc, p, EngineKind::Pct { depth: 3 }, 100, 0)
        .unwrap()
        .failure
        .unwrap();
    let m = minimize(&sc, p, &f.recorded, f.property, 2000).unwrap();
    assert!(
        m.report
            .properties
            .iter()
            .any(|v| v.property == f.property && !v.holds)
    );
    assert!(m.recorded.preemptions <= f.recorded.preemptions);
    let (strict, _) =
        run_schedule(&sc, p, &m.recorded.schedule, false, KernelKind::Sim, "x").unwrap();
    assert_eq!(
        strict.trace, m.report.trace,
        "the minimized schedule replays exactly"
    );
}

/// One shipped counterexample: the minimized run of a violation found.
struct Counterexample {
    file: &'static str,
    policy: &'static str,
    engine: EngineKind,
    seed: u64,
    scenario: Arc<Scenario>,
    found: portsim::explore::engine::Failure,
    minimized: portsim::explore::minimize::Minimized,
}

impl Counterexample {
    fn name(&self, kind: &str) -> String {
        format!(
            "{kind}__{}__{}",
            self.file.trim_end_matches(".toml"),
            self.policy
        )
    }

    fn violation(&self) -> &portsim::check::Violation {
        self.minimized
            .report
            .violation_of(self.found.property)
            .expect("the minimized run still violates the property")
    }
}

/// The minimal counterexample of every violation found, per policy,
/// computed once for the tests below.
fn counterexamples() -> &'static [Counterexample] {
    static ALL: std::sync::OnceLock<Vec<Counterexample>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        [
            (
                "issue-52903.toml",
                "moby-master",
                EngineKind::Pct { depth: 3 },
                0,
            ),
            (
                "stale-bindings.toml",
                "pr-52927",
                EngineKind::Pct { depth: 3 },
                6,
            ),
            ("ten-collisions.toml", "pr-52927", EngineKind::Random, 0),
            (
                "two-daemons-one-occupant.toml",
                "pr-52927",
                EngineKind::Pct { depth: 3 },
                1,
            ),
        ]
        .into_iter()
        .map(|(file, policy, engine, seed)| {
            let sc = shipped(file);
            let p = by_name(policy).unwrap();
            let f = explore(&sc, p, engine, 5000, seed)
                .unwrap()
                .failure
                .expect("violation");
            let mut m = minimize(&sc, p, &f.recorded, f.property, 2000).unwrap();
            m.report.expectations = None;
            Counterexample {
                file,
                policy,
                engine,
                seed,
                scenario: sc,
                found: f,
                minimized: m,
            }
        })
        .collect()
    })
}

#[test]
fn minimal_counterexamples() {
    for cx in counterexamples() {
        let (f, m) = (&cx.found, &cx.minimized);
        let text = format!(
            "{} under {}: {} violated (found by {} seed {} at execution {})\nminimized: {} preemptions, {} steps\nschedule:\n{}\n{}",
            cx.scenario.name,
            cx.policy,
            f.property,
            cx.engine.describe(),
            cx.seed,
            f.execution,
            m.recorded.preemptions,
            m.recorded.schedule.tasks().count(),
            m.recorded.schedule.to_text(),
            m.report.text()
        );
        snapshot(&cx.name("counterexample"), &text);
    }
}

/// The Mermaid diagram of every shipped counterexample, as `check
/// --format mermaid` prints it.
#[test]
fn mermaid_diagrams_of_the_counterexamples() {
    for cx in counterexamples() {
        let d = cx.minimized.report.mermaid(Some(cx.violation()));
        assert!(d.contains(&format!(
            "{} VIOLATED here (step {})",
            cx.found.property,
            cx.violation().step
        )));
        snapshot(&cx.name("mermaid"), &d);
    }
}

/// Does `text` name `token` as a whole word (so "step 3" is not found in
/// "step 31")?
fn names(text: &str, token: &str) -> bool {
    text.match_indices(token).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + token.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric())
            && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

/// The story of every shipped counterexample names the failed container,
/// the port it was given and the step, the host program that held the port
/// and when, the port free all along, and the property. The expected values
/// are read from the trace here, not by the story code.
#[test]
fn the_story_of_every_counterexample_names_container_port_step_and_property() {
    for cx in counterexamples() {
        let r = &cx.minimized.report;
        let v = cx.violation();
        let story = r.story.clone().expect("a violated run has a story");
        assert_eq!(
            story,
            portsim::report::story::story(&r.trace, v).text(),
            "the report carries the story of its first violation"
        );
        let sentences = story.matches(". ").count() + 1;
        assert!(
            (3..=6).contains(&sentences),
            "{sentences} sentences: {story}"
        );
        let ctx = format!("{}: {story}", cx.name("story"));
        // The failed start: the step the violation was seen at.
        let end = &r.trace[v.step - 1];
        assert!(end.action.starts_with("start ") && end.result.starts_with("error"));
        let container = end.who.as_str();
        assert!(names(&story, container), "{ctx}");
        assert!(names(&story, &format!("step {}", end.seq)), "{ctx}");
        // Its last port, and the step that gave it.
        let (step, port) = r
            .trace
            .iter()
            .filter(|e| e.who == container && e.layer.ends_with("/allocator"))
            .filter_map(|e| e.result.parse::<u16>().ok().map(|p| (e.seq, p)))
            .next_back()
            .expect("an allocation");
        assert!(
            names(&story, &format!("port {port} at step {step}")),
            "{ctx}"
        );
        // Who held that port in the host when rootlesskit's bind failed.
        let refused = r
            .trace
            .iter()
            .filter(|e| e.who == container && e.layer == "host")
            .rfind(|e| e.action.contains(&format!(":{port} ")) && e.result == "EADDRINUSE")
            .expect("a refused host bind");
        let holder = r.trace[..refused.seq - 1]
            .iter()
            .filter(|e| e.who != container && e.layer == "host")
            .rfind(|e| e.action.contains(&format!(":{port} ")) && e.result.starts_with("ok s"))
            .expect("a host holder");
        assert!(names(&story, &holder.who), "{ctx}");
        assert!(names(&story, &format!("step {}", holder.seq)), "{ctx}");
        assert!(names(&story, &format!("step {}", refused.seq)), "{ctx}");
        assert!(names(&story, cx.found.property.name()), "{ctx}");
        match cx.found.property {
            Property::Convergence => {
                // The checker's words say which port was free.
                let free = v
                    .message
                    .split("although port ")
                    .nth(1)
                    .and_then(|t| t.split(' ').next())
                    .expect("the free port in the message");
                assert!(names(&story, &format!("Port {free} was free")), "{ctx}");
            }
            Property::AllocatorConsistency => {
                // "... forgot IP PROTO PORT while HOLDER still holds it".
                let rest = v.message.split(" forgot ").nth(1).unwrap();
                let words: Vec<&str> = rest.split(' ').collect();
                let (lost, holder) = (words[2], words[4]);
                assert!(
                    names(&story, &format!("{holder} still holds {lost}")),
                    "{ctx}"
                );
            }
            other => panic!("no story check for {other}"),
        }
    }
}

#[test]
fn the_printed_replay_line_reproduces_the_failure_exactly() {
    let out = std::env::temp_dir().join(format!("portsim-replay-{}", std::process::id()));
    let bin = env!("CARGO_BIN_EXE_portsim");
    let root = env!("CARGO_MANIFEST_DIR");
    let check = Command::new(bin)
        .current_dir(root)
        .args([
            "check",
            "scenarios/issue-52903.toml",
            "--policy",
            "moby-master",
            "--engine",
            "pct",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(1));
    let text = String::from_utf8(check.stdout).unwrap();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("replay: portsim "))
        .expect("a replay line");
    let args: Vec<&str> = line.split(' ').collect();
    let replay = Command::new(bin)
        .current_dir(root)
        .args(&args)
        .output()
        .unwrap();
    assert_eq!(replay.status.code(), Some(1));
    let replayed = String::from_utf8(replay.stdout).unwrap();
    let section =
        |t: &str| t[t.find("trace:").unwrap()..t.find("properties:").unwrap()].to_string();
    assert_eq!(section(&text), section(&replayed));
    // The schedule file is plain text that parses back.
    let file = args.last().unwrap();
    assert!(Schedule::parse(&std::fs::read_to_string(file).unwrap()).is_ok());
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_schedule_from_another_scenario_is_refused() {
    let p = by_name("moby-master").unwrap();
    let a = shipped("issue-52903.toml");
    let f = explore(&a, p, EngineKind::Pct { depth: 3 }, 100, 0)
        .unwrap()
        .failure
        .unwrap();
    let b = shipped("issue-53306.toml");
    let err = run_schedule(&b, p, &f.recorded.schedule, false, KernelKind::Sim, "x").unwrap_err();
    assert!(err.contains("does not fit"), "{err}");
}

/// Issue 12, item 5: PCT at `check`'s old default (depth 3, 1 000
/// executions, seed 0) misses the three-container stale-bindings variant;
/// the default portfolio finds it within its default budget.
#[test]
fn the_default_portfolio_finds_the_three_container_stale_bindings() {
    let sc = shipped("stale-bindings-3.toml");
    let p = by_name("pr-52927").unwrap();
    let old = explore(&sc, p, EngineKind::Pct { depth: 3 }, 1000, 0).unwrap();
    assert!(
        old.failure.is_none(),
        "the old default now finds it: update the README"
    );
    let opts = Options {
        property: Some(Property::AllocatorConsistency),
        ..Options::default()
    };
    let (x, _) = explore_portfolio(&sc, p, portsim::cli::DEFAULT_ITERATIONS, 0, &opts).unwrap();
    let f = x.failure.expect("the default portfolio finds it");
    assert_eq!(f.property, Property::AllocatorConsistency);
    println!(
        "stale-bindings-3: old default (pct depth 3, 1000, seed 0) misses; portfolio seed 0 finds it at execution {} ({})",
        f.execution, f.found_by
    );
}

/// The portfolio is a function of budget and seed only.
#[test]
fn the_portfolio_plan_is_deterministic_and_spends_the_budget() {
    use portsim::explore::engine::portfolio_plan;
    let a = portfolio_plan(6000, 7);
    assert_eq!(a, portfolio_plan(6000, 7));
    assert_ne!(a, portfolio_plan(6000, 8));
    assert_eq!(a.iter().map(|r| r.iterations).sum::<usize>(), 6000);
    assert_eq!(
        portfolio_plan(5, 0)
            .iter()
            .map(|r| r.iterations)
            .sum::<usize>(),
        5
    );
    let engines: std::collections::BTreeSet<String> =
        a.iter().map(|r| r.engine.describe()).collect();
    assert!(
        engines.contains("urw") && engines.contains("pct depth 4"),
        "{engines:?}"
    );
    let sc = shipped("issue-52903.toml");
    let p = by_name("pr-52927").unwrap();
    let run = |seed| {
        let (x, _) = explore_portfolio(&sc, p, 120, seed, &Options::default()).unwrap();
        (x.executions, x.outcomes, x.coverage)
    };
    assert_eq!(run(3), run(3));
}

/// Exploring on after the first violation reports each property's first
/// violation; stopping at the first reports one.
#[test]
fn every_violated_property_gets_its_own_first_violation() {
    let sc = shipped("transient-holder.toml");
    let p: &'static dyn portsim::mapper::Policy = &portsim::mapper::broken::LeakReservation;
    let all = explore_with(&sc, p, EngineKind::Random, 200, 0, &Options::default()).unwrap();
    let props: Vec<Property> = all.failures.iter().map(|f| f.property).collect();
    assert!(props.len() >= 2, "{props:?}");
    for f in &all.failures {
        assert!(
            f.report
                .properties
                .iter()
                .any(|v| v.property == f.property && !v.holds)
        );
    }
    let first = explore(&sc, p, EngineKind::Random, 200, 0).unwrap();
    let n = first.failures[0].execution;
    assert_eq!(
        first.executions, n,
        "stops at the first violating execution"
    );
    assert!(first.failures.iter().all(|f| f.execution == n));
    let only = Options {
        property: Some(props[1]),
        ..Options::default()
    };
    let focused = explore_with(&sc, p, EngineKind::Random, 200, 0, &only).unwrap();
    assert_eq!(
        focused
            .failures
            .iter()
            .map(|f| f.property)
            .collect::<Vec<_>>(),
        vec![props[1]]
    );
}

/// Issue 12, item 4: every shipped scenario reaches its key situations
/// (`covers`) under pr-52927 within a short portfolio; the coverage table
/// of each scenario under each policy is a reviewed snapshot.
#[test]
fn shipped_scenarios_reach_their_key_situations() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".toml"))
        .collect();
    files.sort();
    let mut text = String::new();
    let mut missed = Vec::new();
    for file in &files {
        let sc = shipped(file);

        for policy in ["moby-master", "pr-52927"] {
            let p = by_name(policy).unwrap();
            let (x, _) = explore_portfolio(&sc, p, 600, 0, &Options::default()).unwrap();
            text.push_str(&format!(
                "{} under {policy}{}\n{}\n",
                sc.name,
                x.coverage.verdict_note(&sc.covers),
                x.coverage.text(&sc.covers)
            ));
            if policy == "pr-52927" && !x.coverage.missed(&sc.covers).is_empty() {
                missed.push(format!("{file}: {:?}", x.coverage.missed(&sc.covers)));
            }
        }
    }
    assert!(
        missed.is_empty(),
        "key situations never reached: {missed:?}"
    );
    snapshot("coverage__shipped-scenarios", &text);
}

/// Models name their key situation and assert it was reached.
#[test]
fn the_stop_model_reaches_a_stop_during_a_start() {
    let sc = common::two_starts_race_and_stop("32768-60999", 32769, true);
    let x = explore_with(
        &sc,
        by_name("pr-52927").unwrap(),
        EngineKind::Random,
        500,
        0,
        &Options::default(),
    )
    .unwrap();
    for s in [
        Situation::HostCollision,
        Situation::Retry,
        Situation::OccupantInWindow,
        Situation::StopDuringStartSameDaemon,
    ] {
        assert!(
            x.coverage.count(s) > 0,
            "{s} never reached:\n{}",
            x.coverage.text(&[])
        );
    }
}

/// Issue 12, item 7: two daemons, one host program, each container a fixed
/// port and a two-port range. Either serial order lets the first start
/// succeed; started together, both fail, and pr-52927 can spend its ten
/// attempts while a port is free (convergence).
#[test]
fn two_daemons_and_one_occupant_fail_both_starts_where_a_serial_order_does_not() {
    let text = include_str!("../scenarios/two-daemons-one-occupant.toml");
    let p = by_name("pr-52927").unwrap();
    for (order, first) in [
        ("\"start c1\", \"start c2\"", "c1"),
        ("\"start c2\", \"start c1\"", "c2"),
    ] {
        let serial = text.replace("[\"start c1\", \"start c2\"],", &format!("{order},"));
        assert_ne!(serial, text);
        let sc = common::scenario("serial", &serial);
        let r = portsim::explore::run_seed(&sc, p, 0, KernelKind::Sim).unwrap();
        let ok: Vec<&str> = r
            .starts
            .iter()
            .filter(|s| s.ok)
            .map(|s| s.container.as_str())
            .collect();
        assert_eq!(ok, vec![first], "{}", r.text());
    }
    let sc = shipped("two-daemons-one-occupant.toml");
    let (x, _) = explore_portfolio(&sc, p, 600, 0, &Options::default()).unwrap();
    assert!(
        x.outcomes
            .iter()
            .any(|o| o.starts_with("c1=error") && o.contains(" c2=error")),
        "{:?}",
        x.outcomes
    );
    let f = x.failure.expect("convergence violated");
    assert_eq!(f.property, Property::Convergence);
}

/// Issue 12, item 6: `check --save-outcomes DIR` writes one schedule per
/// distinct outcome, and each replays with `portsim run --schedule` to the
/// trace the exploration recorded, byte for byte.
#[test]
fn every_saved_outcome_replays_byte_for_byte() {
    let dir = std::env::temp_dir().join(format!("portsim-outcomes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let bin = env!("CARGO_BIN_EXE_portsim");
    let root = env!("CARGO_MANIFEST_DIR");
    let sc = "scenarios/two-daemons-one-occupant.toml";
    let check = Command::new(bin)
        .current_dir(root)
        .args([
            "check",
            sc,
            "--policy",
            "pr-52927",
            "--iterations",
            "300",
            "--format",
            "json",
        ])
        .arg("--out")
        .arg(dir.join("violations"))
        .arg("--save-outcomes")
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(
        check.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    assert!(json["coverage"]["reached"]["give-up"].as_u64().unwrap() > 0);
    assert_eq!(json["never_reached"].as_array().unwrap().len(), 0);
    assert_eq!(json["verdicts"][2]["verdict"], "violated");
    let saved = json["saved_outcomes"].as_array().unwrap();
    assert_eq!(
        saved.len() as u64,
        json["distinct_outcomes"].as_u64().unwrap()
    );
    assert!(saved.len() >= 2);
    for s in saved {
        let sched = s["schedule"].as_str().unwrap();
        let name = Path::new(sched).file_name().unwrap().to_str().unwrap();
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
            "{name}"
        );
        let recorded = std::fs::read_to_string(s["trace"].as_str().unwrap()).unwrap();
        let run = Command::new(bin)
            .current_dir(root)
            .args(["run", sc, "--policy", "pr-52927", "--schedule", sched])
            .output()
            .unwrap();
        let out = String::from_utf8(run.stdout).unwrap();
        let trace = &out[out.find("trace:\n").unwrap() + 7..out.find("\nstarts:").unwrap()];
        assert_eq!(trace, recorded, "{sched}");
        let outcome = s["outcome"].as_str().unwrap();
        assert!(outcome.starts_with("c1="));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A stop racing a start on one daemon with a one-port range. With the
/// bridge lock on, the stop's unmap runs under `configNetwork` like the
/// start's `MapPorts`, so c2 either gets the port or finds it allocated:
/// never the probe failure of a half-done unmap. With the lock off PCT
/// finds that failure at once.
#[test]
fn a_stop_under_the_bridge_lock_never_interleaves_with_a_start() {
    let window = "failed to bind host port [::1]:32768/tcp: address already in use";
    for policy in ["moby-master", "pr-52927"] {
        let p = by_name(policy).unwrap();
        let locked = explore(
            &shipped("stop-races-start.toml"),
            p,
            EngineKind::Pct { depth: 3 },
            2000,
            0,
        )
        .unwrap();
        assert!(locked.failure.is_none());
        assert_eq!(locked.outcomes.len(), 2, "{:?}", locked.outcomes);
        assert!(
            locked.outcomes.iter().all(|o| !o.contains(window)),
            "{policy}: {:?}",
            locked.outcomes
        );
        let unlocked = explore(
            &shipped("stop-races-start-unlocked.toml"),
            p,
            EngineKind::Pct { depth: 3 },
            200,
            0,
        )
        .unwrap();
        assert!(
            unlocked.outcomes.iter().any(|o| o.contains(window)),
            "{policy}: {:?}",
            unlocked.outcomes
        );
    }
}
