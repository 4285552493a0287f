//! Version-2 schedules survive code changes: every shipped counterexample
//! (the schedule sections of `snapshots/counterexample__*.snap`) replays by
//! its named steps to the same trace and violation with the test-only
//! extra scheduling point before every lock switched on, and a schedule
//! recorded with those points replays without them; version-1 schedules
//! do not survive the change (which is why version 2 exists), still load,
//! and a step that cannot be matched is reported by number with what could
//! run instead.
// Shuttle-driven: the os-threads build (`stress` only) leaves the engines out.
#![cfg(not(feature = "os-threads"))]

use portsim::explore::KernelKind;
use portsim::explore::engine::{EngineKind, explore, name_schedule, run_named};
use portsim::explore::run_schedule;
use portsim::explore::schedule::{NamedSchedule, ScheduleFile, Step, parse_file};
use portsim::mapper::by_name;
use portsim::report::RunReport;
use portsim::scenario::Scenario;
use portsim::sync::labels;
use std::path::Path;
use std::sync::Arc;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn shipped(file: &str) -> Arc<Scenario> {
    Arc::new(portsim::scenario::load(&root().join("scenarios").join(file)).unwrap())
}

/// A shipped counterexample: scenario, policy, violated property, its
/// version-2 schedule and the trace section it shows.
struct Counterexample {
    name: String,
    scenario: Arc<Scenario>,
    policy: &'static str,
    property: String,
    schedule: NamedSchedule,
    trace: String,
}

fn section<'a>(text: &'a str, from: &str, to: &str) -> &'a str {
    let a = text.find(from).unwrap_or_else(|| panic!("no {from:?}")) + from.len();
    let b = a + text[a..].find(to).unwrap_or_else(|| panic!("no {to:?}"));
    &text[a..b]
}

fn counterexamples() -> Vec<Counterexample> {
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(root().join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().to_string();
            n.starts_with("counterexample__") && n.ends_with(".snap")
        })
        .collect();
    files.sort();
    for path in files {
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        let mut parts = stem.split("__").skip(1);
        let (sc, policy) = (parts.next().unwrap(), parts.next().unwrap());
        let text = std::fs::read_to_string(&path).unwrap();
        let body = &text[text[3..].find("---\n").unwrap() + 7..];
        let first = body.lines().next().unwrap();
        let property = section(first, ": ", " violated").to_string();
        let sched = section(body, "schedule:\n", "\n\nscenario ");
        let Ok(ScheduleFile::V2(schedule)) = parse_file(sched) else {
            panic!("{stem}: the schedule section is not a version-2 schedule");
        };
        out.push(Counterexample {
            name: stem.clone(),
            scenario: shipped(&format!("{sc}.toml")),
            policy: by_name(policy).unwrap().name(),
            property,
            schedule,
            trace: section(body, "trace:\n", "\nstarts:").to_string(),
        });
    }
    assert!(out.len() >= 3, "the shipped counterexamples: {}", out.len());
    out
}

fn violates(r: &RunReport, property: &str) -> bool {
    r.properties
        .iter()
        .any(|p| p.property.name() == property && !p.holds)
}

fn replay(c: &Counterexample, extra: bool) -> Result<RunReport, String> {
    labels::set_extra_points(extra);
    let r = run_named(
        &c.scenario,
        by_name(c.policy).unwrap(),
        &c.schedule,
        KernelKind::Sim,
        "replay",
    );
    labels::set_extra_points(false);
    r.map(|(r, _)| r)
}

#[test]
fn every_shipped_counterexample_replays_by_name_with_and_without_extra_points() {
    for c in counterexamples() {
        for extra in [false, true] {
            let r = replay(&c, extra).unwrap_or_else(|e| panic!("{} extra={extra}: {e}", c.name));
            assert!(violates(&r, &c.property), "{} extra={extra}", c.name);
            assert_eq!(
                section(&r.text(), "trace:\n", "\nstarts:"),
                c.trace,
                "{} extra={extra}: the same trace",
                c.name
            );
        }
    }
}

/// The change version 2 survives breaks version 1: the same interleaving
/// by task numbers no longer fits once extra points shift the decisions.
#[test]
fn version_one_schedules_do_not_survive_an_added_scheduling_point() {
    let sc = shipped("issue-52903.toml");
    let p = by_name("moby-master").unwrap();
    let f = explore(&sc, p, EngineKind::Pct { depth: 3 }, 100, 0)
        .unwrap()
        .failure
        .unwrap();
    assert!(run_schedule(&sc, p, &f.recorded.schedule, false, KernelKind::Sim, "v1").is_ok());
    labels::set_extra_points(true);
    let r = run_schedule(&sc, p, &f.recorded.schedule, false, KernelKind::Sim, "v1");
    labels::set_extra_points(false);
    let e = r.unwrap_err();
    assert!(e.contains("diverged"), "{e}");
    // Named, the same execution survives.
    let named = name_schedule(&sc, p, &f.recorded.schedule).unwrap();
    labels::set_extra_points(true);
    let r = run_named(&sc, p, &named, KernelKind::Sim, "v2");
    labels::set_extra_points(false);
    let (r, rec) = r.unwrap();
    assert_eq!(r.trace, f.report.trace);
    assert!(rec.unrecorded > 0, "the extra points were passed by name");
}

/// The other direction: a schedule recorded while the extra points existed
/// replays after they are gone (its steps at them are skipped).
#[test]
fn a_schedule_recorded_with_extra_points_replays_without_them() {
    for c in counterexamples() {
        let p = by_name(c.policy).unwrap();
        labels::set_extra_points(true);
        let with = run_named(&c.scenario, p, &c.schedule, KernelKind::Sim, "x");
        labels::set_extra_points(false);
        let (_, rec) = with.unwrap();
        assert!(
            rec.named
                .steps
                .iter()
                .any(|s| matches!(s, Step::Run(l) if l.ends_with("(extra point)"))),
            "{}: recorded at the extra points",
            c.name
        );
        let (r, rec2) = run_named(&c.scenario, p, &rec.named, KernelKind::Sim, "x")
            .unwrap_or_else(|e| panic!("{}: {e}", c.name));
        assert!(violates(&r, &c.property), "{}", c.name);
        assert_eq!(section(&r.text(), "trace:\n", "\nstarts:"), c.trace);
        assert!(rec2.skipped > 0, "{}: the gone points were skipped", c.name);
    }
}

#[test]
fn an_unmatchable_step_is_reported_by_number_with_the_runnable_steps() {
    let c = &counterexamples()[0];
    let mut s = c.schedule.clone();
    // Move the first step of a spawned thread before everything else.
    let k = s
        .steps
        .iter()
        .position(
            |st| matches!(st, Step::Run(l) if l.contains(" begin ") && !l.starts_with("main")),
        )
        .unwrap();
    let st = s.steps.remove(k);
    s.steps.insert(0, st.clone());
    let e = run_named(
        &c.scenario,
        by_name(c.policy).unwrap(),
        &s,
        KernelKind::Sim,
        "x",
    )
    .unwrap_err();
    assert_eq!(
        e,
        format!(
            "the schedule does not fit this scenario, policy and build: step 1: wanted {st}, the runnable steps are main begin"
        )
    );
}

#[test]
fn version_one_files_still_load_and_unknown_versions_are_refused_in_one_line() {
    assert!(matches!(
        parse_file("# old\nt0 t0 t1 v3\n"),
        Ok(ScheduleFile::V1(s)) if s.decisions.len() == 4
    ));
    assert!(matches!(
        parse_file("portsim-schedule 1\nt0 t1\n"),
        Ok(ScheduleFile::V1(s)) if s.decisions.len() == 2
    ));
    let e = parse_file("portsim-schedule 3\nc1 x\n")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "1:18: unsupported schedule version \"3\": this build reads versions 1 and 2"
    );
    let e = parse_file("portsim-schedule 2\nc1\n")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("2:3: expected `<actor> <operation>`"), "{e}");
    let e = parse_file("portsim-schedule 2\napp choose port = x\n")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("2:19: expected a choice index"), "{e}");
    // A version-2 file written by check round-trips.
    let c = &counterexamples()[0];
    let text = c.schedule.to_text(&["a comment".to_string()]);
    assert_eq!(parse_file(&text), Ok(ScheduleFile::V2(c.schedule.clone())));
}
