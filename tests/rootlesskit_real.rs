//! The model of rootlesskit's builtin port driver against the REAL
//! rootlesskit binary: see `rootlesskit_real/compare.rs`.
//!
//! `cargo test` has no way for a test to say "skipped" at run time (a
//! `#[test]` that returns early reports `ok`), so this target is built with
//! `harness = false` and prints libtest's lines itself: the comparison is
//! `ok` or `FAILED` when the real daemon can run here, and otherwise
//!
//! ```text
//! test real_builtin_driver_answers_like_the_model ... SKIPPED: not root (euid Some("1000"))
//! test result: ok. 0 passed; 0 failed; 1 ignored; ...
//! ```
//!
//! so a skip is counted as ignored, never as passed. A failure exits 101,
//! as libtest does. `--list` and name filters work as with libtest.

#[cfg(target_os = "linux")]
#[path = "rootlesskit_real/compare.rs"]
mod compare;

use std::process::ExitCode;

const NAME: &str = "real_builtin_driver_answers_like_the_model";

/// Why the comparison cannot run here, if it cannot.
fn unavailable() -> Option<String> {
    #[cfg(target_os = "linux")]
    return compare::unavailable();
    #[cfg(not(target_os = "linux"))]
    return Some("the real rootlesskit runs on Linux only".to_string());
}

fn summary(passed: usize, failed: usize, ignored: usize, filtered: usize) {
    println!(
        "\ntest result: {}. {passed} passed; {failed} failed; {ignored} ignored; 0 measured; {filtered} filtered out\n",
        if failed == 0 { "ok" } else { "FAILED" }
    );
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        println!("{NAME}: test");
        return ExitCode::SUCCESS;
    }
    // libtest's options that take a value; any other word is a name filter.
    const WITH_VALUE: &[&str] = &[
        "--test-threads",
        "--skip",
        "--format",
        "--color",
        "-Z",
        "--logfile",
        "--report-time",
    ];
    let mut filters = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if WITH_VALUE.contains(&a.as_str()) {
            it.next();
        } else if !a.starts_with('-') {
            filters.push(a.as_str());
        }
    }
    if !filters.is_empty() && !filters.iter().any(|f| NAME.contains(f)) {
        println!("\nrunning 0 tests");
        summary(0, 0, 0, 1);
        return ExitCode::SUCCESS;
    }
    println!("\nrunning 1 test");
    if let Some(reason) = unavailable() {
        println!("test {NAME} ... SKIPPED: {reason}");
        summary(0, 0, 1, 0);
        return ExitCode::SUCCESS;
    }
    #[cfg(target_os = "linux")]
    {
        let r = std::panic::catch_unwind(compare::real_builtin_driver_answers_like_the_model);
        if r.is_ok() {
            println!("test {NAME} ... ok");
            summary(1, 0, 0, 0);
            return ExitCode::SUCCESS;
        }
        println!("test {NAME} ... FAILED");
        summary(0, 1, 0, 0);
    }
    ExitCode::from(101)
}
