//! The `portsim` binary as a user meets it: exit codes, `--help`, JSON,
//! byte-identical reruns, and one clear line for a bad file or flag.

use std::process::{Command, Output};

fn portsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portsim"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn run_twice_prints_the_same_bytes_and_exits_1_on_a_violation() {
    let a = portsim(&[
        "run",
        "scenarios/issue-52903.toml",
        "--policy",
        "moby-master",
        "--seed",
        "3",
    ]);
    let b = portsim(&[
        "run",
        "scenarios/issue-52903.toml",
        "--policy",
        "moby-master",
        "--seed",
        "3",
    ]);
    assert_eq!(a.stdout, b.stdout);
    assert_eq!(a.status.code(), Some(1));
    assert_eq!(
        portsim(&["run", "scenarios/issue-53153.toml", "--policy", "pr-52927"])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn json_carries_the_same_report() {
    let out = portsim(&["run", "scenarios/issue-53153.toml", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(v["policy"], "moby-master");
    assert_eq!(v["starts"][1]["ok"], false);
    let conv = v["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["property"] == "convergence")
        .unwrap();
    assert_eq!(conv["holds"], false);
    assert!(v["trace"].as_array().unwrap().len() > 10);
}

#[test]
fn help_lists_the_policies() {
    let out = portsim(&["--help"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let names: Vec<&str> = portsim::mapper::policies()
        .iter()
        .map(|p| p.name())
        .collect();
    assert!(names.len() >= 6, "{names:?}");
    for n in names {
        assert!(text.contains(n), "{n} missing from:\n{text}");
    }
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_bad_scenario_file_gets_one_line_with_its_position_and_exit_2() {
    let dir = std::env::temp_dir().join(format!("portsim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("bad.toml");
    std::fs::write(
        &f,
        "name = \"x\"\nsteps = [\"start c9\"]\n[[daemon]]\nname = \"d1\"\n",
    )
    .unwrap();
    let out = portsim(&["run", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing on stdout");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with(&format!("portsim: {}:2:", f.display())),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_flag_or_policy_exits_2() {
    assert_eq!(
        portsim(&["run", "scenarios/issue-53153.toml", "--policy", "nope"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        portsim(&["run", "scenarios/issue-53153.toml", "--seed", "x"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        portsim(&["run", "scenarios/missing.toml"]).status.code(),
        Some(2)
    );
}

#[test]
fn stress_in_the_default_build_says_which_build_it_needs() {
    let out = portsim(&["stress", "scenarios/issue-52903.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("--features os-threads")
    );
}

/// A fresh folder for one test's files.
fn scratch(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("portsim-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Exit 2, nothing on stdout, one line on stderr, no panic.
fn assert_refused(out: &Output) -> String {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(out.stdout.is_empty(), "stdout: {}", text(&out.stdout));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("portsim: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

const ONE_START: &str = "name = \"one\"\nsteps = [\"start c1\"]\n[[daemon]]\nname = \"d1\"\n[[container]]\nname = \"c1\"\npublish = [\"0:80\"]\n";

#[test]
fn run_exits_4_when_the_properties_hold_but_the_expectations_are_not_met() {
    let dir = scratch("expect");
    let f = dir.join("s.toml");
    std::fs::write(
        &f,
        format!("{ONE_START}[expect.moby-master]\nstarts = {{ c1 = \"error\" }}\n"),
    )
    .unwrap();
    let out = portsim(&["run", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("expectations for moby-master: 1 NOT met"));
    std::fs::write(
        &f,
        format!("{ONE_START}[expect.moby-master]\nstarts = {{ c1 = \"ok 32768\" }}\n"),
    )
    .unwrap();
    assert_eq!(
        portsim(&["run", f.to_str().unwrap()]).status.code(),
        Some(0)
    );
    // A violation exits 1 whatever the expectations say.
    let v = portsim(&[
        "run",
        "scenarios/issue-53153.toml",
        "--policy",
        "moby-master",
    ]);
    assert_eq!(v.status.code(), Some(1));
    let help = text(&portsim(&["--help"]).stdout);
    assert!(help.contains("4 the properties held but"), "{help}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_refuses_depth_0_and_iterations_0_in_one_line() {
    let e = assert_refused(&portsim(&[
        "check",
        "scenarios/issue-52903.toml",
        "--depth",
        "0",
    ]));
    assert!(e.contains("--depth"), "{e}");
    let e = assert_refused(&portsim(&[
        "check",
        "scenarios/issue-52903.toml",
        "--iterations",
        "0",
    ]));
    assert!(e.contains("--iterations"), "{e}");
}

#[test]
fn a_schedule_word_starting_with_a_non_ascii_character_is_refused() {
    let dir = scratch("sched");
    let f = dir.join("s.schedule");
    std::fs::write(&f, "t0 t1\n\u{e9}1 t2\n").unwrap();
    let e = assert_refused(&portsim(&[
        "run",
        "scenarios/issue-52903.toml",
        "--schedule",
        f.to_str().unwrap(),
    ]));
    assert!(e.contains(":2:1: expected a decision"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_sequential_scenario_is_reported_as_its_only_interleaving() {
    let out = portsim(&[
        "check",
        "scenarios/issue-53153.toml",
        "--policy",
        "pr-52927",
    ]);
    let s = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{s}");
    assert!(!s.contains("pct depth") && !s.contains("PCT bound"), "{s}");
    assert!(
        s.contains("no violation in 1 execution (sequential scenario: its only interleaving)"),
        "{s}"
    );
}

#[test]
fn a_huge_depth_gives_a_bound_between_0_and_1() {
    let out = portsim(&[
        "check",
        "scenarios/issue-52903.toml",
        "--policy",
        "pr-52927",
        "--engine",
        "pct",
        "--iterations",
        "3",
        "--depth",
        "3000000000",
    ]);
    let s = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{s}{}", text(&out.stderr));
    let bound = s.lines().find(|l| l.starts_with("PCT bound")).expect(&s);
    assert!(!bound.contains("inf") && !bound.contains("NaN"), "{bound}");
    assert!(!bound.contains("is <= -"), "{bound}");
}

#[test]
fn depth_or_seed_for_an_engine_that_ignores_them_is_refused() {
    for args in [
        ["--engine", "dfs", "--seed", "1"],
        ["--engine", "dfs", "--depth", "2"],
        ["--engine", "random", "--depth", "2"],
    ] {
        let mut a = vec!["check", "scenarios/issue-52903.toml"];
        a.extend(args);
        let e = assert_refused(&portsim(&a));
        assert!(e.contains(args[2]), "{e}");
    }
    // The engines that use them take them.
    let ok = portsim(&[
        "check",
        "scenarios/issue-52903.toml",
        "--policy",
        "pr-52927",
        "--engine",
        "random",
        "--seed",
        "2",
        "--iterations",
        "3",
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
}

#[test]
fn an_unwritable_out_is_refused_before_searching() {
    let dir = scratch("out");
    let file = dir.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let out_dir = file.join("sub");
    let e = assert_refused(&portsim(&[
        "check",
        "scenarios/issue-52903.toml",
        "--out",
        out_dir.to_str().unwrap(),
    ]));
    assert!(e.contains("--out"), "{e}");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, [std::ffi::OsString::from("a-file")]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_scenario_name_never_makes_check_write_outside_out() {
    let dir = scratch("name");
    let sc = std::fs::read_to_string("scenarios/issue-53153.toml").unwrap();
    let hostile = sc.replacen("name = \"issue-53153\"", "name = \"../escaped\"", 1);
    assert_ne!(sc, hostile);
    let f = dir.join("s.toml");
    std::fs::write(&f, hostile).unwrap();
    let out_dir = dir.join("out");
    let out = portsim(&[
        "check",
        f.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let mut top: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(top, ["out", "s.toml"]);
    let inside: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(inside, ["_._escaped-moby-master-convergence.schedule"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_speaks_json_with_a_format_version() {
    let dir = scratch("json");
    let out = portsim(&[
        "check",
        "scenarios/issue-52903.toml",
        "--format",
        "json",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(v["format_version"], 1);
    assert_eq!(v["violation"]["property"], "convergence");
    assert_eq!(v["report"]["format_version"], 1);
    assert_eq!(v["kernel"], "sim");
    let file = v["schedule_file"].as_str().unwrap();
    assert!(std::path::Path::new(file).starts_with(&dir), "{file}");
    let held = portsim(&[
        "check",
        "scenarios/issue-52903.toml",
        "--policy",
        "pr-52927",
        "--engine",
        "pct",
        "--iterations",
        "5",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&held.stdout).expect("valid JSON");
    assert_eq!(v["executions"], 5);
    assert!(v["violation"].is_null());
    let bound = v["pct_bound"].as_str().expect("a PCT bound");
    assert!(bound.contains("bug of depth <= 3"), "{bound}");
    assert_eq!(v["kernel"], "sim");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_takes_a_kernel_like_run() {
    let sim = portsim(&[
        "check",
        "scenarios/issue-53153.toml",
        "--policy",
        "pr-52927",
        "--kernel",
        "sim",
    ]);
    assert_eq!(sim.status.code(), Some(0), "{}", text(&sim.stderr));
    let e = assert_refused(&portsim(&[
        "check",
        "scenarios/slirp4netns-no-retry.toml",
        "--kernel",
        "linux",
    ]));
    assert!(e.contains("simulated kernel only"), "{e}");
}

#[test]
fn run_json_has_a_format_version() {
    let out = portsim(&["run", "scenarios/issue-53153.toml", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(v["format_version"], 1);
}

#[test]
fn errors_under_format_json_are_one_json_document_on_stdout() {
    for args in [
        vec!["run", "scenarios/missing.toml", "--format", "json"],
        vec![
            "run",
            "scenarios/issue-53153.toml",
            "--policy",
            "nope",
            "--format=json",
        ],
        vec![
            "check",
            "scenarios/issue-52903.toml",
            "--depth",
            "0",
            "--format",
            "json",
        ],
    ] {
        let out = portsim(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stderr.is_empty(), "{args:?}: {}", text(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", text(&out.stdout)));
        assert_eq!(v["exit"], 2, "{args:?}");
        assert_eq!(v["format_version"], 1, "{args:?}");
        assert!(!v["error"].as_str().unwrap().is_empty(), "{args:?}");
    }
}

#[test]
fn a_device_or_huge_file_is_refused_with_its_size_limit() {
    let e = assert_refused(&portsim(&["run", "/dev/zero"]));
    assert!(e.contains("larger than 1048576 bytes"), "{e}");
}

/// `check` prints the coverage table and names a key situation it never
/// reached in its verdicts; the same run prints the same bytes.
#[test]
fn check_reports_coverage_and_what_it_never_reached() {
    let out = std::env::temp_dir().join(format!("portsim-cov-{}", std::process::id()));
    let args = [
        "check",
        "scenarios/transient-holder.toml",
        "--policy",
        "moby-master",
        "--iterations",
        "120",
        "--out",
        out.to_str().unwrap(),
    ];
    let a = portsim(&args);
    assert_eq!(a.status.code(), Some(0));
    let text = String::from_utf8(a.stdout.clone()).unwrap();
    assert!(
        text.contains("coverage (executions reaching each situation, of 120):"),
        "{text}"
    );
    // moby master never retries: the scenario's key situation says so.
    assert!(
        text.contains("  convergence            holds (120 executions; retry never reached)"),
        "{text}"
    );
    assert!(text.contains("[key, NEVER REACHED]"), "{text}");
    assert_eq!(portsim(&args).stdout, a.stdout, "byte-identical reruns");
    let _ = std::fs::remove_dir_all(&out);
}

/// `--property P` looks for P only: the others are not searched, and a
/// violation of another property does not count.
#[test]
fn check_property_focuses_on_one_property() {
    let out = std::env::temp_dir().join(format!("portsim-prop-{}", std::process::id()));
    let o = out.to_str().unwrap();
    let base = [
        "check",
        "scenarios/two-daemons-one-occupant.toml",
        "--policy",
        "pr-52927",
        "--engine",
        "random",
        "--iterations",
        "120",
        "--out",
        o,
    ];
    let all = portsim(&base);
    assert_eq!(all.status.code(), Some(1));
    let mut args = base.to_vec();
    args.extend(["--property", "clean-teardown"]);
    let one = portsim(&args);
    assert_eq!(one.status.code(), Some(0));
    let text = String::from_utf8(one.stdout).unwrap();
    assert!(
        text.contains("  clean-teardown         holds (120 executions)"),
        "{text}"
    );
    assert!(
        text.contains("  convergence            not searched (--property)"),
        "{text}"
    );
    let mut bad = base.to_vec();
    bad.extend(["--property", "convergance"]);
    assert_eq!(portsim(&bad).status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn format_expect_prints_a_table_that_the_scenario_then_meets() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/issue-52903.toml"),
    )
    .unwrap();
    let mut body = text[..text.find("[expect.").unwrap()].to_string();
    for p in ["moby-master", "pr-52927"] {
        let out = portsim(&[
            "run",
            "scenarios/issue-52903.toml",
            "--policy",
            p,
            "--format",
            "expect",
        ]);
        body.push_str(&String::from_utf8(out.stdout).unwrap());
    }
    let dir = std::env::temp_dir().join(format!("portsim-expect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("x.toml");
    std::fs::write(&f, body).unwrap();
    for p in ["moby-master", "pr-52927"] {
        let out = portsim(&["run", f.to_str().unwrap(), "--policy", p]);
        let t = String::from_utf8(out.stdout).unwrap();
        assert!(t.contains(&format!("expectations for {p}: all met")), "{t}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn validate_and_list() {
    let ok = portsim(&[
        "validate",
        "scenarios/issue-53153.toml",
        "scenarios/range-one-busy.toml",
    ]);
    assert_eq!(ok.status.code(), Some(0));
    assert_eq!(String::from_utf8(ok.stdout).unwrap().lines().count(), 2);
    let dir = std::env::temp_dir().join(format!("portsim-validate-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "name = \"x\"\n[[daemon]]\nname = \"d1\"\nport_range = \"1\"\n",
    )
    .unwrap();
    let out = portsim(&[
        "validate",
        "scenarios/issue-53153.toml",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("portsim: {}:4:14: ", bad.display())),
        "{err}"
    );
    assert!(err.trim_end().ends_with("(see docs/scenarios.md)"), "{err}");
    let list = portsim(&["list"]);
    assert_eq!(list.status.code(), Some(0));
    let text = String::from_utf8(list.stdout).unwrap();
    assert!(
        text.contains("scenarios/issue-52903.toml") && text.contains("moby#52903: "),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn run_and_check_print_mermaid_and_markdown() {
    let run = portsim(&["run", "scenarios/issue-53153.toml", "--format", "mermaid"]);
    assert_eq!(run.status.code(), Some(1));
    let d = String::from_utf8(run.stdout).unwrap();
    assert!(d.starts_with("sequenceDiagram\n"), "{d}");
    assert!(d.contains("convergence VIOLATED here"), "{d}");
    let out = std::env::temp_dir().join(format!("portsim-md-{}", std::process::id()));
    let md = portsim(&[
        "check",
        "scenarios/issue-52903.toml",
        "--format",
        "markdown",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(md.status.code(), Some(1));
    let t = String::from_utf8(md.stdout).unwrap();
    for part in [
        "#### portsim check: issue-52903 under moby-master",
        "| convergence | **VIOLATED** at step ",
        "**What happened.** c1's start failed",
        "```mermaid\nsequenceDiagram\n",
        "```sh\nportsim run scenarios/issue-52903.toml --policy moby-master --schedule ",
        "<details><summary>trace (",
    ] {
        assert!(t.contains(part), "{part:?} missing:\n{t}");
    }
    let json = portsim(&[
        "check",
        "scenarios/issue-52903.toml",
        "--format",
        "json",
        "--out",
        out.to_str().unwrap(),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("valid JSON");
    assert!(
        v["story"]
            .as_str()
            .unwrap()
            .starts_with("c1's start failed at step ")
    );
    assert_eq!(v["violation"]["property"], "convergence");
    assert_eq!(v["report"]["story"], v["story"]);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_schedule_that_cannot_be_written_is_printed_and_exits_3() {
    let dir = scratch("unwritable");
    let out_dir = dir.join("out");
    // A folder where the schedule file should go: the rename fails.
    std::fs::create_dir_all(out_dir.join("issue-52903-moby-master-convergence.schedule/x"))
        .unwrap();
    let args = [
        "check",
        "scenarios/issue-52903.toml",
        "--engine",
        "pct",
        "--iterations",
        "200",
        "--out",
        out_dir.to_str().unwrap(),
    ];
    let out = portsim(&args);
    let s = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{s}");
    assert!(s.contains("convergence VIOLATED"), "{s}");
    assert!(s.contains("schedule (NOT written to a file):\n"), "{s}");
    assert!(text(&out.stderr).contains("cannot write schedule"));
    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json"]);
    let j = portsim(&json_args);
    assert_eq!(j.status.code(), Some(3));
    assert!(j.stderr.is_empty(), "{}", text(&j.stderr));
    let v: serde_json::Value = serde_json::from_slice(&j.stdout).expect("valid JSON");
    assert!(v["schedule_file"].is_null() && v["replay"].is_null(), "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("cannot write schedule")
    );
    let left: Vec<_> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 1, "no temporary file left: {left:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bench_prints_a_rate_and_a_floor_ratio_per_scenario_and_engine() {
    let o = portsim(&[
        "bench",
        "scenarios/issue-52903.toml",
        "scenarios/fixed-port-busy.toml",
        "--iterations",
        "20",
        "--repeat",
        "1",
        "--memory",
        "0",
        "--scaling",
        "0",
    ]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let out = String::from_utf8(o.stdout).unwrap();
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|w| w.len() == 8 && ["random", "pct3"].contains(&w[1]))
        .collect();
    let cells: Vec<(&str, &str)> = rows.iter().map(|w| (w[0], w[1])).collect();
    // A sequential scenario has one interleaving: random only.
    assert_eq!(
        cells,
        [
            ("issue-52903", "random"),
            ("issue-52903", "pct3"),
            ("fixed-port-busy", "random")
        ],
        "{out}"
    );
    for w in &rows {
        let (rate, floor, ratio, locks): (f64, f64, f64, f64) = (
            w[4].parse().unwrap(),
            w[5].parse().unwrap(),
            w[6].parse().unwrap(),
            w[7].parse().unwrap(),
        );
        assert!(rate > 0.0 && floor > 0.0 && locks > 0.0, "{out}");
        // One pair: its ratio is the ratio of the medians.
        assert!((floor / rate - ratio).abs() < 0.01 * ratio + 0.01, "{out}");
    }
    assert!(out.contains("port range (issue-52903, random, "), "{out}");
    let bad = portsim(&["bench", "--iterations", "0"]);
    assert_eq!(bad.status.code(), Some(2));
}
