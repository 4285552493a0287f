//! How one `run` scales with the size of the scenario: wall time of one
//! execution of generated scenarios, in-process (parse, world, checks,
//! report). A measurement, not a test: `cargo bench --bench scale`.
//!
//! Issue 12 measured 100 sequential `-p 0:80` starts at 70 s and one
//! `-p 1-1000` start at 20 s (the checkers re-read the whole world once
//! per live binding after every step). The deterministic companion that
//! fails when the cost grows faster than the work is `tests/scale.rs`.

use portsim::explore::{KernelKind, run_seed};
use portsim::mapper;
use portsim::scenario::{generate, parse_str};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Best of `reps` runs of one execution, with the checkers' work count.
fn time(text: &str, reps: usize) -> (Duration, u64, String) {
    let policy = mapper::by_name("moby-master").expect("policy");
    let mut best = Duration::MAX;
    let mut work = 0;
    let mut summary = String::new();
    for _ in 0..reps {
        let t = Instant::now();
        let sc = Arc::new(parse_str("generated", text).expect("generated scenario parses"));
        let r = run_seed(&sc, policy, 0, KernelKind::Sim).expect("run");
        let report = r.text();
        best = best.min(t.elapsed());
        work = r.checker_work;
        let ok = r.starts.iter().filter(|s| s.ok).count();
        summary = format!(
            "{ok}/{} starts ok, {} trace lines, {} report bytes",
            r.starts.len(),
            r.trace.len(),
            report.len()
        );
    }
    (best, work, summary)
}

fn main() {
    // `cargo bench` passes `--bench`; a filter word picks one series.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let want = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    println!("scale: one execution each, best of 3 (release, in-process)");
    if want("sequential") {
        for n in [10, 25, 50, 100, 200] {
            let (t, work, s) = time(&generate::sequential_starts(n), 3);
            println!(
                "sequential {n:>4} containers: {:>9.3} ms  checker work {work:>10}  ({s})",
                t.as_secs_f64() * 1e3
            );
        }
    }
    if want("wide") {
        for n in [100u16, 250, 500, 1000] {
            let (t, work, s) = time(&generate::wide_publish(n), 3);
            println!(
                "wide       {n:>4} ports:      {:>9.3} ms  checker work {work:>10}  ({s})",
                t.as_secs_f64() * 1e3
            );
        }
    }
}
