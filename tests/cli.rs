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
    assert!(
        text.contains("moby-master") && text.contains("pr-52927"),
        "{text}"
    );
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
