//! The checkers' cost grows with the work: with checks after every step,
//! each step reads the live state once, so the work per container may grow
//! with the number of containers alive (linearly), never faster. Measured
//! with the checkers' deterministic work counter, not wall time (the
//! wall-time benchmark is `cargo bench --bench scale`).
// Shuttle-driven: the os-threads build (`stress` only) leaves the engines out.
#![cfg(not(feature = "os-threads"))]

use portsim::explore::{KernelKind, run_seed};
use portsim::mapper;
use portsim::scenario::{generate, parse_str};
use std::sync::Arc;

fn work(text: &str) -> u64 {
    let sc = Arc::new(parse_str("generated", text).unwrap());
    let policy = mapper::by_name("moby-master").unwrap();
    let r = run_seed(&sc, policy, 0, KernelKind::Sim).unwrap();
    assert!(r.starts.iter().all(|s| s.ok), "{}", r.text());
    assert!(!r.violated(), "{}", r.text());
    r.checker_work
}

/// Per-unit cost at 2n over per-unit cost at n: about 2 when each step
/// reads the live state once (quadratic total), 4 when it reads it once
/// per live item (cubic total, the bug this test was written against).
fn growth(f: impl Fn(usize) -> String, n: usize) -> f64 {
    let a = work(&f(n)) as f64 / n as f64;
    let b = work(&f(2 * n)) as f64 / (2 * n) as f64;
    b / a
}

#[test]
fn checker_work_per_sequential_container_grows_at_most_linearly() {
    for n in [10, 20] {
        let g = growth(generate::sequential_starts, n);
        assert!(
            g < 2.6,
            "work per container grew {g:.2}x from {n} to {} containers",
            2 * n
        );
    }
}

#[test]
fn checker_work_per_published_port_grows_at_most_linearly() {
    let g = growth(|n| generate::wide_publish(n as u16), 50);
    assert!(
        g < 2.6,
        "work per published port grew {g:.2}x from 50 to 100"
    );
}
