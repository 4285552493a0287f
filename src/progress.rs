//! What a long `check` shows while it runs, and how it stops on Ctrl-C.
//!
//! With stderr a terminal (and not `--format json`) an indicatif bar shows
//! executions done of the budget, the rate, the violations found and the
//! time left; otherwise nothing extra is written. Ctrl-C sets the cancel
//! flag the exploration reads between executions ([`Hooks::cancel`]): it
//! stops after the execution in flight and the command prints what was
//! explored so far. A second Ctrl-C exits at once (status 130).

use crate::explore::engine::{Hooks, Progress};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Exit status after an interrupted exploration (128 + SIGINT).
pub const INTERRUPTED: u8 = 130;

/// The process-wide cancel flag, set by the Ctrl-C handler (installed on
/// first use).
fn cancel_flag() -> Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        // Another handler may own SIGINT (a test harness): then Ctrl-C
        // keeps its default effect.
        let _ = ctrlc::set_handler(move || {
            if f.swap(true, Ordering::SeqCst) {
                std::process::exit(i32::from(INTERRUPTED));
            }
        });
        flag
    })
    .clone()
}

/// The bar (if shown) and the cancel flag of one command.
pub struct Live {
    bar: Option<ProgressBar>,
    cancel: Arc<AtomicBool>,
}

impl Live {
    /// Start watching an exploration of at most `total` executions; draw
    /// the bar only when `show` and stderr is a terminal.
    pub fn start(total: usize, show: bool) -> Live {
        let bar = (show && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            b.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{bar:30}] {pos}/{len} executions | {rate} | {msg} | {elapsed} elapsed, ETA {eta}",
                )
                .expect("a valid template")
                .with_key("rate", |st: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.0}/s", st.per_sec());
                })
                .progress_chars("=> "),
            );
            b.set_message("0 violations");
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        Live {
            bar,
            cancel: cancel_flag(),
        }
    }

    /// The hooks to hand the exploration.
    pub fn hooks(&self) -> Hooks {
        let bar = self.bar.clone();
        Hooks {
            cancel: Some(self.cancel.clone()),
            progress: bar.map(|b| {
                Arc::new(move |p: Progress| {
                    b.set_position(p.executions as u64);
                    b.set_message(match p.violations {
                        1 => "1 violation".to_string(),
                        n => format!("{n} violations"),
                    });
                }) as Arc<dyn Fn(Progress) + Send + Sync>
            }),
        }
    }

    /// Ctrl-C was pressed.
    pub fn interrupted(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    /// Say what happens now (e.g. minimizing), on the bar.
    pub fn note(&self, msg: &str) {
        if let Some(b) = &self.bar {
            b.set_message(msg.to_string());
        }
    }

    /// Remove the bar before the result is printed.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
