//! `portsim compare` as a user meets it: exit codes, byte-identical
//! reruns in every format, schedules written where `--out` says and
//! replayable by the printed command, and one line for a bad flag, policy
//! or file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn portsim_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portsim"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn portsim(args: &[&str]) -> Output {
    portsim_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("portsim-cmp-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[test]
fn a_violation_exits_1_writes_its_schedule_and_the_replay_line_reproduces_it() {
    let out = tmp("violation");
    let o = out.to_str().unwrap();
    let args = [
        "compare",
        "scenarios/issue-53153.toml",
        "scenarios/fixed-port-busy.toml",
        "--policies",
        "moby-master,pr-52927",
        "--iterations",
        "20",
        "--out",
        o,
    ];
    let a = portsim(&args);
    assert_eq!(a.status.code(), Some(1), "{}", stderr(&a));
    let text = String::from_utf8(a.stdout.clone()).unwrap();
    let file = out.join("issue-53153-moby-master-convergence.schedule");
    assert!(file.is_file(), "{text}");
    let line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("replay: "))
        .expect("a replay line");
    assert_eq!(
        line,
        format!(
            "portsim run scenarios/issue-53153.toml --policy moby-master --schedule {}",
            file.display()
        )
    );
    let words: Vec<&str> = line.split(' ').skip(1).collect();
    let r = portsim(&words);
    assert_eq!(r.status.code(), Some(1), "the replay violates again");
    assert!(
        String::from_utf8(r.stdout)
            .unwrap()
            .contains("convergence            VIOLATED")
    );
    // Same inputs, same bytes, in every format; no timing on stdout.
    for format in ["text", "json", "markdown"] {
        let mut with = args.to_vec();
        with.extend(["--format", format]);
        let x = portsim(&with);
        let y = portsim(&with);
        assert_eq!(x.stdout, y.stdout, "{format}");
        assert_eq!(x.status.code(), Some(1), "{format}");
    }
    assert_eq!(a.stdout, portsim(&args).stdout);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn every_cell_holding_exits_0_and_json_has_its_format_version() {
    let out = tmp("holds");
    let o = portsim(&[
        "compare",
        "scenarios/issue-53153.toml",
        "--policies",
        "pr-52927",
        "--format",
        "json",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    assert_eq!(v["format_version"], 1);
    assert_eq!(v["holds"], true);
    assert_eq!(v["cells"][0]["policy"], "pr-52927");
    assert_eq!(v["cells"][0]["properties"].as_array().unwrap().len(), 5);
    assert_eq!(
        std::fs::read_dir(&out).unwrap().count(),
        0,
        "no schedule without a violation"
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn no_argument_means_every_file_of_scenarios_sorted() {
    let out = tmp("all");
    let o = portsim(&[
        "compare",
        "--policies",
        "pr-52927",
        "--iterations",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    let mut files: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|f| f.ends_with(".toml"))
            .collect();
    files.sort();
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" pr-52927 ") && !l.starts_with(['[', ' ']))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(rows.len(), files.len(), "{text}");
    // Each row is its file's scenario, in file-name order (the shipped
    // files are named after their scenarios).
    for (row, file) in rows.iter().zip(&files) {
        assert_eq!(format!("{row}.toml"), *file);
    }
    // From a directory without scenarios/: exit 2, one line.
    let empty = tmp("empty");
    let e = portsim_in(&empty, &["compare"]);
    assert_eq!(e.status.code(), Some(2));
    assert!(e.stdout.is_empty());
    let msg = stderr(&e);
    assert_eq!(msg.lines().count(), 1, "{msg}");
    assert!(msg.contains("scenarios/"), "{msg}");
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_dir_all(&empty);
}

#[test]
fn an_unknown_policy_is_one_line_listing_the_policies_and_exit_2() {
    let o = portsim(&[
        "compare",
        "scenarios/issue-53153.toml",
        "--policies",
        "moby-master,host-last",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
    let msg = stderr(&o);
    assert_eq!(msg.lines().count(), 1, "{msg}");
    assert!(msg.contains("\"host-last\""), "{msg}");
    for p in portsim::mapper::policies() {
        assert!(msg.contains(p.name()), "{msg}");
    }
}

#[test]
fn bad_flags_and_files_exit_2() {
    for args in [
        &["compare", "--format", "yaml"][..],
        &["compare", "--engine", "bfs"],
        &["compare", "--iterations", "x"],
        &["compare", "--iterations", "0", "scenarios/issue-53153.toml"],
        &["compare", "--depth", "0", "scenarios/issue-53153.toml"],
        &["compare", "scenarios/missing.toml"],
    ] {
        let o = portsim(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(o.stdout.is_empty(), "{args:?}");
    }
    // A bad scenario among good ones: its file:line:column, nothing else.
    let dir = tmp("bad");
    let f = dir.join("bad.toml");
    std::fs::write(
        &f,
        "name = \"x\"\nsteps = [\"start c9\"]\n[[daemon]]\nname = \"d1\"\n",
    )
    .unwrap();
    let o = portsim(&["compare", "scenarios/issue-53153.toml", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
    let msg = stderr(&o);
    assert!(
        msg.starts_with(&format!("portsim: {}:2:", f.display())),
        "{msg}"
    );
    assert_eq!(msg.lines().count(), 1, "{msg}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_scenario_name_never_becomes_a_path_unsanitized() {
    let dir = tmp("name");
    let f = dir.join("evil.toml");
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/issue-53153.toml"),
    )
    .unwrap()
    .replacen("name = \"issue-53153\"", "name = \"../../escape\"", 1);
    std::fs::write(&f, text).unwrap();
    let out = dir.join("out");
    let o = portsim(&[
        "compare",
        f.to_str().unwrap(),
        "--policies",
        "moby-master",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let files: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, ["_._.._escape-moby-master-convergence.schedule"]);
    assert!(
        !dir.parent()
            .unwrap()
            .join("escape-moby-master-convergence.schedule")
            .exists()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn help_documents_the_default_directory_and_the_exit_status() {
    let o = portsim(&["compare", "--help"]);
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8(o.stdout).unwrap();
    for want in [
        "`scenarios/` relative to the current directory",
        "Exit status: 0",
        "markdown",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
    for p in portsim::mapper::policies() {
        assert!(text.contains(p.name()), "{text}");
    }
}
