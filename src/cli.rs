//! The `portsim` command line.
//!
//! Exit codes: 0 every property held, 1 a property was violated, 2 a bad
//! scenario file or flag (one message, nothing else printed), 3 an
//! internal error. Output is assembled in full before it is written.

#[cfg(not(feature = "os-threads"))]
use crate::explore::schedule::{ScheduleFile, parse_file};
use crate::explore::{self, KernelKind};
use crate::mapper;
use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser, Debug)]
#[command(
    name = "portsim",
    version,
    about = "Find and prove concurrency bugs in rootless Docker's port mapping",
    after_help = policies_help()
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KernelArg {
    Sim,
    Linux,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run one deterministic interleaving of a scenario and print its trace,
    /// each start's outcome and each property's verdict.
    Run {
        /// Scenario file (TOML).
        scenario: PathBuf,
        /// Port-mapping policy (see the list below).
        #[arg(long, default_value = "moby-master", value_parser = policy_names())]
        policy: String,
        /// Seed of the scheduler that picks the interleaving (default: the
        /// scenario's `seed`, else 0).
        #[arg(long)]
        seed: Option<u64>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Kernel backend.
        #[arg(long, value_enum, default_value_t = KernelArg::Sim)]
        kernel: KernelArg,
        /// Replay a schedule file written by `portsim check` instead of a seed
        /// (version 2, named steps; version-1 files still load).
        #[arg(long, conflicts_with = "seed")]
        schedule: Option<PathBuf>,
    },
    /// Explore many interleavings; on a violation print the minimized
    /// counterexample and the command that replays it.
    Check {
        /// Scenario file (TOML).
        scenario: PathBuf,
        #[arg(long, default_value = "moby-master", value_parser = policy_names())]
        policy: String,
        #[arg(long, value_enum, default_value_t = EngineArg::Pct)]
        engine: EngineArg,
        /// Executions to explore (at most).
        #[arg(long, default_value_t = 1000)]
        iterations: usize,
        /// PCT bug depth.
        #[arg(long, default_value_t = 3)]
        depth: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Where to write the failing schedule.
        #[arg(long, default_value = "portsim-schedules")]
        out: PathBuf,
        /// Rerun every execution's schedule and compare the two reports
        /// byte for byte; a difference fails with exit code 3.
        #[arg(long)]
        verify_determinism: bool,
    },
    /// Run the world on real OS threads with no scheduler, many times, and
    /// count the iterations that violate a property: the baseline of
    /// uncontrolled testing. Needs the `os-threads` build
    /// (`cargo run --release --features os-threads -- stress ...`).
    Stress {
        /// Scenario file (TOML).
        scenario: PathBuf,
        #[arg(long, default_value = "moby-master", value_parser = policy_names())]
        policy: String,
        #[arg(long, value_enum, default_value_t = KernelArg::Sim)]
        kernel: KernelArg,
        #[arg(long, default_value_t = 1000)]
        iterations: usize,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EngineArg {
    Random,
    Pct,
    Dfs,
    Portfolio,
}

fn policy_names() -> clap::builder::PossibleValuesParser {
    let names: Vec<&'static str> = mapper::policies().iter().map(|p| p.name()).collect();
    clap::builder::PossibleValuesParser::new(names)
}

fn policies_help() -> String {
    let mut s = String::from("Policies:\n");
    for p in mapper::policies() {
        s.push_str(&format!("  {:<14} {}\n", p.name(), p.summary()));
    }
    s
}

fn emit(out: &str) {
    let mut so = std::io::stdout().lock();
    let _ = so.write_all(out.as_bytes());
    let _ = so.flush();
}

fn fail(code: u8, msg: &str) -> ExitCode {
    eprintln!("portsim: {msg}");
    ExitCode::from(code)
}

/// Parse the arguments and run; returns the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match cli.command {
        Command::Run {
            scenario,
            policy,
            seed,
            format,
            kernel,
            schedule,
        } => {
            let policy = mapper::by_name(&policy).expect("clap checked the policy name");
            run_cmd(&scenario, policy, seed, format, kernel, schedule.as_deref())
        }
        Command::Check {
            scenario,
            policy,
            engine,
            iterations,
            depth,
            seed,
            out,
            verify_determinism,
        } => {
            let policy = mapper::by_name(&policy).expect("clap checked the policy name");
            let opts = CheckOpts { verify_determinism };
            check_cmd(
                &scenario, policy, engine, iterations, depth, seed, &out, opts,
            )
        }
        Command::Stress {
            scenario,
            policy,
            kernel,
            iterations,
        } => {
            let policy = mapper::by_name(&policy).expect("clap checked the policy name");
            stress_cmd(&scenario, policy, kernel, iterations)
        }
    }
}

fn load(path: &std::path::Path) -> Result<Arc<crate::scenario::Scenario>, ExitCode> {
    crate::scenario::load(path)
        .map(Arc::new)
        .map_err(|e| fail(2, &e.to_string()))
}

/// The backend a flag names, refused up front when this scenario or this
/// machine cannot use it.
fn kernel_for(
    sc: &crate::scenario::Scenario,
    path: &std::path::Path,
    kernel: KernelArg,
) -> Result<KernelKind, ExitCode> {
    match kernel {
        KernelArg::Sim => Ok(KernelKind::Sim),
        KernelArg::Linux => {
            if let Some(why) = explore::linux_refusal(sc) {
                return Err(fail(
                    2,
                    &format!(
                        "{}: runs on the simulated kernel only: {why}",
                        path.display()
                    ),
                ));
            }
            #[cfg(target_os = "linux")]
            if let Err(why) = crate::kernel::linux::available() {
                return Err(fail(
                    2,
                    &format!("--kernel linux needs network namespaces: {why}"),
                ));
            }
            Ok(KernelKind::Linux)
        }
    }
}

#[cfg(feature = "os-threads")]
fn run_cmd(
    _: &std::path::Path,
    _: &'static dyn mapper::Policy,
    _: Option<u64>,
    _: Format,
    _: KernelArg,
    _: Option<&std::path::Path>,
) -> ExitCode {
    fail(
        2,
        "this build (--features os-threads) runs `stress` only; build without it for `run` and `check`",
    )
}

#[cfg(not(feature = "os-threads"))]
fn run_cmd(
    scenario: &std::path::Path,
    policy: &'static dyn mapper::Policy,
    seed: Option<u64>,
    format: Format,
    kernel: KernelArg,
    schedule: Option<&std::path::Path>,
) -> ExitCode {
    let sc = match load(scenario) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let kind = match kernel_for(&sc, scenario, kernel) {
        Ok(k) => k,
        Err(c) => return c,
    };
    let result = match schedule {
        None => explore::run_seed(&sc, policy, seed.or(sc.seed).unwrap_or(0), kind),
        Some(path) => {
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) => {
                    return fail(2, &format!("{}: cannot read schedule: {e}", path.display()));
                }
            };
            let sched = match parse_file(&text) {
                Ok(s) => s,
                Err(e) => return fail(2, &format!("{}:{e}", path.display())),
            };
            let label = format!("schedule {}", path.display());
            match explore::engine::run_file(&sc, policy, &sched, kind, &label) {
                Ok((mut r, rec)) => {
                    if let ScheduleFile::V2(n) = &sched
                        && (rec.skipped > 0 || rec.unrecorded > 0)
                    {
                        eprintln!(
                            "portsim: note: {}: followed {} of {} steps by name; {} skipped (their scheduling points are gone), {} decisions at points the file does not name",
                            path.display(),
                            n.steps.len() - rec.skipped,
                            n.steps.len(),
                            rec.skipped,
                            rec.unrecorded
                        );
                    }
                    r.expectations = None;
                    Ok(r)
                }
                Err(e) => return fail(2, &format!("{}: {e}", path.display())),
            }
        }
    };
    let report = match result {
        Ok(r) => r,
        Err(e) => return fail(3, &e),
    };
    emit(&match format {
        Format::Text => report.text(),
        Format::Json => report.json(),
    });
    ExitCode::from(if report.violated() { 1 } else { 0 })
}

#[cfg(not(feature = "os-threads"))]
fn stress_cmd(
    _: &std::path::Path,
    _: &'static dyn mapper::Policy,
    _: KernelArg,
    _: usize,
) -> ExitCode {
    fail(
        2,
        "`portsim stress` runs real OS threads: use `cargo run --release --features os-threads -- stress ...`",
    )
}

#[cfg(feature = "os-threads")]
fn stress_cmd(
    scenario: &std::path::Path,
    policy: &'static dyn mapper::Policy,
    kernel: KernelArg,
    iterations: usize,
) -> ExitCode {
    let sc = match load(scenario) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let kind = match kernel_for(&sc, scenario, kernel) {
        Ok(k) => k,
        Err(c) => return c,
    };
    match explore::stress::stress(&sc, policy, kind, iterations) {
        Ok(r) => {
            emit(&r.text());
            ExitCode::from(if r.violating > 0 { 1 } else { 0 })
        }
        Err(e) => fail(3, &e),
    }
}

/// `check` flags beyond the exploration's own.
#[derive(Clone, Copy, Debug, Default)]
pub struct CheckOpts {
    pub verify_determinism: bool,
}

#[cfg(feature = "os-threads")]
#[allow(clippy::too_many_arguments)]
fn check_cmd(
    _: &std::path::Path,
    _: &'static dyn mapper::Policy,
    _: EngineArg,
    _: usize,
    _: usize,
    _: u64,
    _: &std::path::Path,
    _: CheckOpts,
) -> ExitCode {
    fail(
        2,
        "this build (--features os-threads) runs `stress` only; build without it for `run` and `check`",
    )
}

#[cfg(not(feature = "os-threads"))]
#[allow(clippy::too_many_arguments)]
fn check_cmd(
    path: &std::path::Path,
    policy: &'static dyn crate::mapper::Policy,
    engine: EngineArg,
    iterations: usize,
    depth: usize,
    seed: u64,
    out: &std::path::Path,
    opts: CheckOpts,
) -> ExitCode {
    use crate::explore::engine::{EngineKind, Options, explore_portfolio_with, explore_with};
    let xopts = Options {
        verify_determinism: opts.verify_determinism,
        ..Options::default()
    };
    let sc = match crate::scenario::load(path) {
        Ok(s) => Arc::new(s),
        Err(e) => return fail(2, &e.to_string()),
    };
    let (x, label) = match engine {
        EngineArg::Portfolio => {
            match explore_portfolio_with(&sc, policy, iterations, seed, xopts) {
                Ok((x, _)) => (x, format!("portfolio seed {seed}")),
                Err(e) => return fail(3, &e),
            }
        }
        e => {
            let kind = match e {
                EngineArg::Random => EngineKind::Random,
                EngineArg::Pct => EngineKind::Pct { depth },
                _ => EngineKind::Dfs,
            };
            match explore_with(&sc, policy, kind, iterations, seed, xopts) {
                Ok(x) => (x, format!("{} seed {seed}", kind.describe())),
                Err(e) => return fail(3, &e),
            }
        }
    };
    let mut s = String::new();
    if opts.verify_determinism {
        s.push_str(&format!(
            "determinism: {} executions replayed from their schedules, reports identical\n",
            x.replays_compared
        ));
    }
    let Some(f) = x.failure else {
        s.push_str(&format!(
            "{} under {}: no violation in {} executions ({label}); {} distinct outcomes; up to {} threads and {} scheduling steps\n",
            sc.name,
            policy.name(),
            x.executions,
            x.outcomes.len(),
            x.max_threads,
            x.max_steps
        ));
        if engine == EngineArg::Pct {
            s.push_str(&format!(
                "{}\n",
                pct_bound(x.executions, x.max_threads, x.max_steps, depth)
            ));
        }
        for o in &x.outcomes {
            s.push_str(&format!("  outcome: {o}\n"));
        }
        emit(&s);
        return ExitCode::from(0);
    };
    let mut m = match crate::explore::minimize::minimize(&sc, policy, &f.recorded, f.property, 4000)
    {
        Ok(m) => m,
        Err(e) => return fail(3, &e),
    };
    // Expectations describe the scenario's own seed, not this schedule.
    m.report.expectations = None;
    let file = out.join(format!(
        "{}-{}-{}.schedule",
        sc.name,
        policy.name(),
        f.property
    ));
    let body = m.recorded.named.to_text(&[
        format!(
            "scenario {} ({}), policy {}, violates {}",
            sc.name,
            path.display(),
            policy.name(),
            f.property
        ),
        format!(
            "found by {label}, execution {}; minimized: {} preemptions, {} steps",
            f.execution,
            m.recorded.preemptions,
            m.recorded.named.runs()
        ),
    ]);
    if let Err(e) = write_atomic(&file, &body) {
        return fail(
            3,
            &format!("{}: cannot write schedule: {e}", file.display()),
        );
    }
    s.push_str(&format!(
        "{} under {}: {} VIOLATED, found by {label} at execution {} of {}\n",
        sc.name,
        policy.name(),
        f.property,
        f.execution,
        x.executions
    ));
    s.push_str(&format!(
        "minimized from {} preemptions / {} steps to {} preemptions / {} steps ({} candidates tried)\n\n",
        f.recorded.preemptions,
        f.recorded.schedule.tasks().count(),
        m.recorded.preemptions,
        m.recorded.schedule.tasks().count(),
        m.tries
    ));
    s.push_str(&m.report.text());
    s.push_str(&format!("\nschedule written to {}\n", file.display()));
    s.push_str(&format!(
        "replay: portsim run {} --policy {} --schedule {}\n",
        path.display(),
        policy.name(),
        file.display()
    ));
    emit(&s);
    ExitCode::from(1)
}

/// PCT's guarantee: one execution finds a given bug of depth d with
/// probability at least 1/(n k^(d-1)) for n threads and k steps.
pub fn pct_bound(executions: usize, threads: usize, steps: usize, depth: usize) -> String {
    let n = threads.max(1) as f64;
    let k = steps.max(1) as f64;
    let p = 1.0 / (n * k.powi(depth.saturating_sub(1) as i32));
    let miss = (1.0 - p).powf(executions as f64);
    format!(
        "PCT bound: each execution finds a given bug of depth <= {depth} with probability >= 1/({}*{}^{}) = {p:.3e}; after {executions} executions the chance it was missed is <= {miss:.3e}",
        threads.max(1),
        steps.max(1),
        depth.saturating_sub(1)
    )
}

#[cfg(not(feature = "os-threads"))]
fn write_atomic(path: &std::path::Path, body: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("schedule.tmp");
    std::fs::write(&tmp, body)?;
    std::fs::rename(&tmp, path)
}
