//! A test main for targets whose tests can only run on some machines
//! (root, a real rootlesskit): `cargo test` has no way for a `#[test]` to
//! say "skipped" at run time (one that returns early reports `ok`), so
//! such a target is built with `harness = false` and calls [`main`],
//! which prints libtest's lines itself:
//!
//! ```text
//! test every_shipped_scenario_traces_the_same_on_the_real_kernel ... SKIPPED: not root
//! test result: ok. 1 passed; 0 failed; 3 ignored; 0 measured; 0 filtered out
//! ```
//!
//! A skip counts as ignored, never as passed; a failure exits 101, as
//! libtest does. `--list` (also with `--ignored`, which lists nothing),
//! `--exact` and name filters work as with libtest.

use std::process::ExitCode;

/// One test: its name, its body (a panic fails it), and whether it needs
/// what [`main`]'s `unavailable` checks for.
pub struct Case {
    pub name: &'static str,
    pub run: fn(),
    pub needs_host: bool,
}

fn summary(passed: usize, failed: usize, ignored: usize, filtered: usize) {
    println!(
        "\ntest result: {}. {passed} passed; {failed} failed; {ignored} ignored; 0 measured; {filtered} filtered out\n",
        if failed == 0 { "ok" } else { "FAILED" }
    );
}

/// Run `cases` as libtest would, skipping those that need the host when
/// `unavailable` gives a reason.
pub fn main(cases: &[Case], unavailable: fn() -> Option<String>) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |f: &str| args.iter().any(|a| a == f);
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
    let exact = flag("--exact");
    let wanted = |name: &str| {
        filters.is_empty()
            || filters
                .iter()
                .any(|f| if exact { name == *f } else { name.contains(f) })
    };
    // No case is #[ignore]d: `--ignored` selects none.
    let chosen: Vec<&Case> = if flag("--ignored") {
        Vec::new()
    } else {
        cases.iter().filter(|c| wanted(c.name)).collect()
    };
    if flag("--list") {
        for c in &chosen {
            println!("{}: test", c.name);
        }
        return ExitCode::SUCCESS;
    }
    let filtered = cases.len() - chosen.len();
    println!("\nrunning {} tests", chosen.len());
    let reason = chosen
        .iter()
        .any(|c| c.needs_host)
        .then(unavailable)
        .flatten();
    let (mut passed, mut failed, mut ignored) = (0, 0, 0);
    for c in chosen {
        if c.needs_host
            && let Some(why) = &reason
        {
            println!("test {} ... SKIPPED: {why}", c.name);
            ignored += 1;
            continue;
        }
        if std::panic::catch_unwind(c.run).is_ok() {
            println!("test {} ... ok", c.name);
            passed += 1;
        } else {
            println!("test {} ... FAILED", c.name);
            failed += 1;
        }
    }
    summary(passed, failed, ignored, filtered);
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(101)
    }
}
