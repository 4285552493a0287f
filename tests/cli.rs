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
