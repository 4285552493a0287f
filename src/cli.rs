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
    /// Stable text (the default).
    Text,
    /// The same report as JSON.
    Json,
    /// A Mermaid sequence diagram of the trace (of the counterexample, for
    /// `check`), to paste into a ```mermaid fence.
    Mermaid,
    /// One Markdown block for a pull-request comment: verdicts, story,
    /// diagram, replay command.
    Markdown,
    /// `run` only: the outcomes as an `[expect.POLICY]` table to paste into
    /// the scenario file.
    Expect,
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
        /// Search engine; the default portfolio runs uniform random, shuttle's
        /// uniform random walk and PCT depths 2-5 in seeded rounds.
        #[arg(long, value_enum, default_value_t = EngineArg::Portfolio)]
        engine: EngineArg,
        /// Executions to explore (at most).
        #[arg(long, default_value_t = DEFAULT_ITERATIONS)]
        iterations: usize,
        /// PCT bug depth (`--engine pct` only).
        #[arg(long, default_value_t = 3)]
        depth: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Where to write the failing schedules.
        #[arg(long, default_value = "portsim-schedules")]
        out: PathBuf,
        /// Look for violations of this property only.
        #[arg(long, value_parser = property_names())]
        property: Option<String>,
        /// Save one schedule (and its trace) per distinct outcome in DIR.
        #[arg(long, value_name = "DIR")]
        save_outcomes: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Rerun every execution's schedule and compare the two reports
        /// byte for byte; a difference fails with exit code 3.
        #[arg(long)]
        verify_determinism: bool,
    },
    /// Check scenario files without running them: prints one line per
    /// file, every error on its own line; exits 2 if any file is bad.
    Validate {
        /// Scenario files (TOML).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List the shipped scenarios with their one-line descriptions.
    List {
        /// Directory to list (default: ./scenarios, else the source tree's).
        #[arg(long)]
        dir: Option<PathBuf>,
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
    /// Explore every scenario under every policy with one engine and one
    /// budget (those of `check`) and print the matrix of verdicts: per
    /// cell each property's verdict, the failed starts and the distinct
    /// outcomes; each violation's minimized schedule is written to DIR and
    /// its replay command printed.
    #[command(after_help = crate::compare::help_tail())]
    Compare {
        /// Scenario files (TOML). Without any: every `*.toml` file of
        /// `scenarios/` relative to the current directory, sorted by name.
        scenarios: Vec<PathBuf>,
        /// Comma-separated policies to compare (default: all of them, in
        /// the order listed below).
        #[arg(long, value_name = "P,...")]
        policies: Option<String>,
        #[arg(long, value_enum, default_value_t = EngineArg::Pct)]
        engine: EngineArg,
        /// Executions to explore per cell (at most; a cell stops at its
        /// first violating execution).
        #[arg(long, default_value_t = 1000)]
        iterations: usize,
        /// PCT bug depth.
        #[arg(long, default_value_t = 3)]
        depth: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// text: aligned table; json: every cell (with `format_version`);
        /// markdown: a GitHub table for a pull-request review.
        #[arg(long, value_enum, default_value_t = crate::compare::Format::Text)]
        format: crate::compare::Format,
        /// Where to write the failing schedules.
        #[arg(long, value_name = "DIR", default_value = "portsim-schedules")]
        out: PathBuf,
    },
}

/// `portsim check`'s default budget.
pub const DEFAULT_ITERATIONS: usize = 6000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EngineArg {
    Random,
    /// shuttle's uniform random walk.
    Urw,
    Pct,
    Dfs,
    Portfolio,
}

fn policy_names() -> clap::builder::PossibleValuesParser {
    let names: Vec<&'static str> = mapper::policies().iter().map(|p| p.name()).collect();
    clap::builder::PossibleValuesParser::new(names)
}

fn property_names() -> clap::builder::PossibleValuesParser {
    let names: Vec<&'static str> = crate::check::Property::ALL
        .iter()
        .map(|p| p.name())
        .collect();
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
            property,
            save_outcomes,
            format,
            verify_determinism,
        } => {
            let policy = mapper::by_name(&policy).expect("clap checked the policy name");
            check_cmd(
                &scenario,
                policy,
                CheckArgs {
                    engine,
                    iterations,
                    depth,
                    seed,
                    out,
                    property: property
                        .as_deref()
                        .and_then(crate::check::Property::from_name),
                    save_outcomes,
                    format,
                    verify_determinism,
                },
            )
        }
        Command::Validate { files } => validate_cmd(&files),
        Command::List { dir } => list_cmd(dir),
        Command::Stress {
            scenario,
            policy,
            kernel,
            iterations,
        } => {
            let policy = mapper::by_name(&policy).expect("clap checked the policy name");
            stress_cmd(&scenario, policy, kernel, iterations)
        }
        Command::Compare {
            scenarios,
            policies,
            engine,
            iterations,
            depth,
            seed,
            format,
            out,
        } => {
            use crate::compare::{Engine, Options};
            let engine = match engine {
                EngineArg::Random => Engine::Random,
                EngineArg::Urw => Engine::Urw,
                EngineArg::Pct => Engine::Pct { depth },
                EngineArg::Dfs => Engine::Dfs,
                EngineArg::Portfolio => Engine::Portfolio,
            };
            let opts = Options {
                engine,
                iterations,
                seed,
                out,
            };
            crate::compare::command(&scenarios, policies.as_deref(), opts, format)
        }
    }
}

fn load(path: &std::path::Path) -> Result<Arc<crate::scenario::Scenario>, ExitCode> {
    crate::scenario::load(path)
        .map(Arc::new)
        .map_err(|e| fail(2, &crate::catalog::scenario_error(&e)))
}

fn validate_cmd(files: &[PathBuf]) -> ExitCode {
    let v = crate::catalog::validate(files);
    emit(
        &v.ok_lines
            .iter()
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
    );
    for e in &v.error_lines {
        eprintln!("portsim: {e}");
    }
    ExitCode::from(if v.error_lines.is_empty() { 0 } else { 2 })
}

fn list_cmd(dir: Option<PathBuf>) -> ExitCode {
    let dir = dir.unwrap_or_else(crate::catalog::default_dir);
    match crate::catalog::list(&dir) {
        Ok(entries) => {
            emit(&crate::catalog::list_text(&entries));
            ExitCode::from(if entries.iter().all(|(_, r)| r.is_ok()) {
                0
            } else {
                2
            })
        }
        Err(e) => fail(2, &e),
    }
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
        Format::Mermaid => report.mermaid(None),
        Format::Expect => report.expect_table(),
        Format::Markdown => crate::report::markdown::check(&crate::report::markdown::CheckBlock {
            title: format!("{} under {}", report.scenario, report.policy),
            summary: vec![format!(
                "portsim run {}: {}",
                scenario.display(),
                report.schedule
            )],
            counterexample: report.first_violation().map(|v| (&report, v.property)),
            executions: 1,
            replay: None,
            schedule: None,
        }),
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

/// `check`'s flags after the scenario and policy.
pub struct CheckArgs {
    pub engine: EngineArg,
    pub iterations: usize,
    pub depth: usize,
    pub seed: u64,
    pub out: PathBuf,
    pub property: Option<crate::check::Property>,
    pub save_outcomes: Option<PathBuf>,
    pub format: Format,
    /// Rerun every execution's schedule and compare the two reports.
    pub verify_determinism: bool,
}

#[cfg(feature = "os-threads")]
fn check_cmd(_: &std::path::Path, _: &'static dyn mapper::Policy, _: CheckArgs) -> ExitCode {
    fail(
        2,
        "this build (--features os-threads) runs `stress` only; build without it for `run` and `check`",
    )
}

#[cfg(not(feature = "os-threads"))]
fn check_cmd(
    path: &std::path::Path,
    policy: &'static dyn crate::mapper::Policy,
    a: CheckArgs,
) -> ExitCode {
    if a.format == Format::Expect {
        return fail(
            2,
            "--format expect is for `portsim run` (the outcomes of one interleaving)",
        );
    }
    let sc = match load(path) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let live = crate::progress::Live::start(a.iterations, a.format != Format::Json);
    let r = crate::explore::checkrun::check(&sc, path, policy, &a, &live);
    live.finish();
    match r {
        Ok((out, code)) => {
            emit(&out);
            ExitCode::from(code)
        }
        Err((code, e)) => fail(code, &e),
    }
}

/// `text` in lines of at most `width` characters (words kept whole), each
/// starting with `indent`.
pub fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            out.push_str(&format!("{indent}{line}\n"));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(&format!("{indent}{line}\n"));
    }
    out
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
