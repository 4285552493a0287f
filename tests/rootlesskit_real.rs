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
//! so a skip is counted as ignored, never as passed (`support/skip_harness.rs`,
//! shared with `kernel_linux.rs`).

#[cfg(target_os = "linux")]
#[path = "rootlesskit_real/compare.rs"]
mod compare;

#[path = "support/skip_harness.rs"]
mod skip_harness;

/// Why the comparison cannot run here, if it cannot.
fn unavailable() -> Option<String> {
    #[cfg(target_os = "linux")]
    return compare::unavailable();
    #[cfg(not(target_os = "linux"))]
    return Some("the real rootlesskit runs on Linux only".to_string());
}

fn main() -> std::process::ExitCode {
    skip_harness::main(
        &[skip_harness::Case {
            name: "real_builtin_driver_answers_like_the_model",
            #[cfg(target_os = "linux")]
            run: compare::real_builtin_driver_answers_like_the_model,
            #[cfg(not(target_os = "linux"))]
            run: || {},
            needs_host: true,
        }],
        unavailable,
    )
}
