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
