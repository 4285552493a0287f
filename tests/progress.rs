//! `check`'s progress bar and Ctrl-C: the bar under a pseudo-terminal
//! (util-linux `script` makes one), no bar when stderr is not a terminal or
//! under `--format json`, and an interrupted exploration that stops cleanly
//! and says what it explored. The engine hooks themselves are tested first.
// Shuttle-driven: the os-threads build (`stress` only) leaves the engines out.
#![cfg(not(feature = "os-threads"))]

use portsim::explore::engine::{EngineKind, Hooks, Options, Progress, explore_with};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_portsim");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn out_dir(tag: &str) -> String {
    std::env::temp_dir()
        .join(format!("portsim-progress-{tag}-{}", std::process::id()))
        .display()
        .to_string()
}

#[test]
fn the_cancel_flag_stops_exploration_between_executions_and_progress_sees_each() {
    cancel_after_five(Options::first());
}

/// The hooks and `--verify-determinism` together: each execution is
/// counted once (its replay is not an execution), and the five explored
/// before the cancel were all replayed and compared.
#[test]
fn the_cancel_flag_and_progress_work_under_verify_determinism() {
    let x = cancel_after_five(Options {
        verify_determinism: true,
        ..Options::first()
    });
    assert_eq!(x.replays_compared, 5);
}

fn cancel_after_five(opts: Options) -> portsim::explore::engine::Exploration {
    let sc = Arc::new(
        portsim::scenario::load(&Path::new(ROOT).join("scenarios/issue-52903.toml")).unwrap(),
    );
    let cancel = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (c2, s2) = (cancel.clone(), seen.clone());
    let hooks = Hooks {
        cancel: Some(cancel),
        progress: Some(Arc::new(move |p: Progress| {
            s2.lock().unwrap().push(p.executions);
            if p.executions == 5 {
                c2.store(true, Ordering::SeqCst);
            }
        })),
    };
    let p = portsim::mapper::by_name("pr-52927").unwrap();
    let opts = Options { hooks, ..opts };
    let x = explore_with(&sc, p, EngineKind::Random, 1000, 0, &opts).unwrap();
    assert_eq!(x.executions, 5);
    assert!(x.failure.is_none());
    assert_eq!(*seen.lock().unwrap(), vec![1, 2, 3, 4, 5]);
    x
}

fn has_script() -> bool {
    Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Run `args` under a pseudo-terminal; everything it wrote to it.
fn under_pty(args: &[&str]) -> (Option<i32>, String) {
    let cmd = std::iter::once(BIN)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    let out = Command::new("script")
        .current_dir(ROOT)
        .env("TERM", "xterm")
        .args(["-qfec", &cmd, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn a_terminal_gets_a_progress_bar_with_executions_rate_violations_and_eta() {
    if !has_script() {
        println!("skipped: util-linux `script` (to make a pseudo-terminal) is not installed");
        return;
    }
    let out = out_dir("pty");
    let (code, screen) = under_pty(&[
        "check",
        "scenarios/issue-52903.toml",
        "--policy",
        "pr-52927",
        "--engine",
        "random",
        "--iterations",
        "600",
        "--out",
        &out,
    ]);
    assert_eq!(code, Some(0), "{screen}");
    assert!(screen.contains("/600 executions"), "{screen}");
    assert!(screen.contains("violations"), "{screen}");
    assert!(screen.contains("/s"), "a rate: {screen}");
    assert!(screen.contains("ETA"), "{screen}");
    assert!(
        screen.contains("no violation in 600 executions"),
        "{screen}"
    );
    // Under --format json the terminal gets only the JSON.
    let (code, screen) = under_pty(&[
        "check",
        "scenarios/issue-52903.toml",
        "--policy",
        "pr-52927",
        "--iterations",
        "200",
        "--format",
        "json",
        "--out",
        &out,
    ]);
    assert_eq!(code, Some(0), "{screen}");
    assert!(!screen.contains("executions |"), "{screen}");
    assert!(screen.trim_start().starts_with('{'), "{screen}");
}

#[test]
fn without_a_terminal_stderr_stays_empty() {
    let out = Command::new(BIN)
        .current_dir(ROOT)
        .args([
            "check",
            "scenarios/issue-52903.toml",
            "--policy",
            "pr-52927",
            "--iterations",
            "300",
            "--out",
            &out_dir("pipe"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("issue-52903 under pr-52927: no violation in 300 executions"),
        "{text}"
    );
}

#[test]
fn ctrl_c_stops_the_search_and_prints_what_was_explored() {
    let child = Command::new(BIN)
        .current_dir(ROOT)
        .args([
            "check",
            "scenarios/issue-52903.toml",
            "--policy",
            "pr-52927",
            "--engine",
            "random",
            "--iterations",
            "100000000",
            "--out",
            &out_dir("int"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: kill(2) on the pid of the child this test started.
    let rc = unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(rc, 0);
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(130), "{text}");
    assert!(
        text.starts_with("issue-52903 under pr-52927: interrupted after "),
        "{text}"
    );
    assert!(
        text.contains(" of 100000000 executions (random seed 0): no violation in those"),
        "{text}"
    );
    let done: usize = text["issue-52903 under pr-52927: interrupted after ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(done > 0 && done < 100_000_000, "{text}");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `compare`: one bar over the whole matrix (two cells of 300 here).
#[test]
fn compare_on_a_terminal_gets_one_progress_bar_over_the_whole_matrix() {
    if !has_script() {
        println!("skipped: util-linux `script` (to make a pseudo-terminal) is not installed");
        return;
    }
    let out = out_dir("cmp-pty");
    let (code, screen) = under_pty(&[
        "compare",
        "scenarios/issue-52903.toml",
        "scenarios/stale-bindings.toml",
        "--policies",
        "pr-52927",
        "--engine",
        "random",
        "--iterations",
        "300",
        "--out",
        &out,
    ]);
    let _ = std::fs::remove_dir_all(&out);
    assert!(matches!(code, Some(0 | 1)), "{screen}");
    assert!(screen.contains("/600 executions"), "{screen}");
    assert!(screen.contains("violation"), "{screen}");
    assert!(screen.contains("/s"), "a rate: {screen}");
    assert!(screen.contains("ETA"), "{screen}");
    assert!(
        screen.contains("portsim compare: 2 scenarios x 1 policy"),
        "{screen}"
    );
    // Under --format json the terminal gets no bar.
    let (_, screen) = under_pty(&[
        "compare",
        "scenarios/issue-52903.toml",
        "--policies",
        "pr-52927",
        "--iterations",
        "100",
        "--format",
        "json",
        "--out",
        &out,
    ]);
    let _ = std::fs::remove_dir_all(&out);
    assert!(!screen.contains("executions |"), "{screen}");
    assert!(screen.trim_start().starts_with('{'), "{screen}");
}

#[test]
fn compare_without_a_terminal_writes_nothing_to_stderr() {
    let out = Command::new(BIN)
        .current_dir(ROOT)
        .args([
            "compare",
            "scenarios/issue-52903.toml",
            "--policies",
            "pr-52927",
            "--iterations",
            "200",
            "--out",
            &out_dir("cmp-pipe"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("portsim compare: 1 scenario x 1 policy"),
        "{text}"
    );
    assert!(!text.contains("not explored"), "{text}");
}

#[test]
fn ctrl_c_stops_compare_and_prints_the_partial_matrix() {
    let child = Command::new(BIN)
        .current_dir(ROOT)
        .args([
            "compare",
            "scenarios/issue-52903.toml",
            "scenarios/stale-bindings.toml",
            "--policies",
            "pr-52927",
            "--engine",
            "random",
            "--iterations",
            "100000000",
            "--out",
            &out_dir("cmp-int"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: kill(2) on the pid of the child this test started.
    let rc = unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(rc, 0);
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(130), "{text}");
    // The first cell was explored in part, the second not reached.
    let first = text
        .lines()
        .find(|l| l.starts_with("issue-52903 "))
        .expect("the cell in flight is printed");
    let done: usize = first.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert!(done > 0 && done < 100_000_000, "{text}");
    let second = text
        .lines()
        .find(|l| l.starts_with("stale-bindings "))
        .expect("the cell not reached is printed");
    assert!(second.contains("not explored"), "{text}");
    assert!(
        text.contains("interrupted (Ctrl-C): 1 cell of 2 not explored"),
        "{text}"
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
