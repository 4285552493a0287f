//! The `portsim` command line.
//!
//! Exit codes: 0 every property held, 1 a property was violated, 2 a bad
//! scenario file, schedule or flag (one message, nothing else printed), 3
//! an internal error, 4 (`run`) the properties held but the scenario's
//! `[expect.POLICY]` was not met (130: `check` interrupted). Output is
//! assembled in full before it is written. Under `--format json` every
//! outcome is one JSON document on stdout, errors included
//! (`{"format_version", "error", "exit"}`), and stderr stays empty.

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
        /// Executions to explore (at most; at least 1).
        #[arg(long, default_value_t = DEFAULT_ITERATIONS)]
        iterations: usize,
        /// PCT bug depth (`--engine pct` only; default 3, at least 1).
        #[arg(long)]
        depth: Option<usize>,
        /// Scheduler seed (random, urw, pct, portfolio; default 0).
        #[arg(long)]
        seed: Option<u64>,
        /// Where to write the failing schedules (checked before searching).
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
        /// Kernel backend of every execution (and of the minimizer's).
        #[arg(long, value_enum, default_value_t = KernelArg::Sim)]
        kernel: KernelArg,
        /// Worker threads (default: the number of cores). The executions
        /// explored and everything printed are the same for any value.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
        jobs: Option<u32>,
        /// Also run the full checks after every step and fail (exit 3) if
        /// they ever disagree with the incremental ones.
        #[arg(long)]
        paranoid: bool,
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
    /// Measure executions per second against a do-nothing shuttle floor,
    /// the cost of the port range, `--jobs` scaling, and memory over a
    /// long exploration (release build: `cargo run --release -- bench`).
    Bench {
        /// Scenario files (default: scenarios/*.toml and benches/*.toml).
        scenarios: Vec<PathBuf>,
        #[arg(long, default_value = "pr-52927", value_parser = policy_names())]
        policy: String,
        /// Executions per measurement.
        #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..))]
        iterations: u64,
        /// Executions of the memory run (0: skip it).
        #[arg(long, default_value_t = 1_000_000)]
        memory: u64,
        /// Executions of the --jobs scaling run (0: skip it).
        #[arg(long, default_value_t = 64_000)]
        scaling: u64,
        /// Measurements per cell, each a world run paired with a floor run
        /// (the medians are printed, the floor ratio of the pairs').
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=100))]
        repeat: u64,
        #[arg(long, default_value_t = 0)]
        seed: u64,
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
    s.push_str(EXIT_STATUS_HELP);
    s
}

/// The exit statuses, for `--help` (the README's paragraph says the same).
const EXIT_STATUS_HELP: &str = "\nExit status:
  0 every property held
  1 a property was violated
  2 a bad scenario file, schedule or flag (one line: file:line:column and what was expected)
  3 an internal error
  4 the properties held but the scenario's [expect.POLICY] was not met (run)
  130 check interrupted (Ctrl-C)
With --format json every outcome is one JSON document on stdout, errors too:
  {\"format_version\": 1, \"error\": \"...\", \"exit\": N}
";

fn emit(out: &str) {
    let mut so = std::io::stdout().lock();
    let _ = so.write_all(out.as_bytes());
    let _ = so.flush();
}

fn fail(code: u8, msg: &str) -> ExitCode {
    fail_as(Format::Text, code, msg)
}

/// Report an error in `format`: one `portsim: ...` line on stderr, or
/// (`--format json`) one JSON document on stdout.
fn fail_as(format: Format, code: u8, msg: &str) -> ExitCode {
    match format {
        Format::Json => emit(&crate::report::error_json(msg, code)),
        _ => eprintln!("portsim: {msg}"),
    }
    ExitCode::from(code)
}

/// `--format json` among raw arguments clap could not parse.
fn wants_json(args: &[std::ffi::OsString]) -> bool {
    args.iter().enumerate().any(|(i, a)| {
        a == "--format=json" || (a == "--format" && args.get(i + 1).is_some_and(|v| v == "json"))
    })
}

/// Parse the arguments and run; returns the process exit code.
pub fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) if e.use_stderr() => {
            // clap's first line names the flag and the problem; the rest
            // is a usage hint.
            let rendered = e.render().to_string();
            let line = rendered
                .lines()
                .next()
                .unwrap_or("bad arguments")
                .trim_start_matches("error: ")
                .to_string();
            let format = if wants_json(&args) {
                Format::Json
            } else {
                Format::Text
            };
            return fail_as(format, 2, &format!("{line} (see portsim --help)"));
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(0);
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
            kernel,
            jobs,
            paranoid,
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
                    kernel,
                    jobs: jobs.map_or_else(default_jobs, |j| j as usize),
                    paranoid,
                },
            )
        }
        Command::Validate { files } => validate_cmd(&files),
        Command::List { dir } => list_cmd(dir),
        Command::Bench {
            scenarios,
            policy,
            iterations,
            memory,
            scaling,
            repeat,
            seed,
        } => {
            let policy = mapper::by_name(&policy).expect("clap checked the policy name");
            let n = [iterations, memory, scaling, repeat].map(|v| v as usize);
            bench_cmd(scenarios, policy, n, seed)
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

#[cfg_attr(not(feature = "os-threads"), allow(dead_code))]
fn load(path: &std::path::Path) -> Result<Arc<crate::scenario::Scenario>, ExitCode> {
    load_as(path, Format::Text)
}

fn load_as(
    path: &std::path::Path,
    format: Format,
) -> Result<Arc<crate::scenario::Scenario>, ExitCode> {
    crate::scenario::load(path)
        .map(Arc::new)
        .map_err(|e| fail_as(format, 2, &crate::catalog::scenario_error(&e)))
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
#[cfg_attr(not(feature = "os-threads"), allow(dead_code))]
fn kernel_for(
    sc: &crate::scenario::Scenario,
    path: &std::path::Path,
    kernel: KernelArg,
) -> Result<KernelKind, ExitCode> {
    kernel_for_as(sc, path, kernel, Format::Text)
}

fn kernel_for_as(
    sc: &crate::scenario::Scenario,
    path: &std::path::Path,
    kernel: KernelArg,
    format: Format,
) -> Result<KernelKind, ExitCode> {
    let fail = |code: u8, msg: &str| fail_as(format, code, msg);
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
    let fail = |code: u8, msg: &str| fail_as(format, code, msg);
    let sc = match load_as(scenario, format) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let kind = match kernel_for_as(&sc, scenario, kernel, format) {
        Ok(k) => k,
        Err(c) => return c,
    };
    let result = match schedule {
        None => explore::run_seed(&sc, policy, seed.or(sc.seed).unwrap_or(0), kind),
        Some(path) => {
            let text = match crate::paths::read_capped(path, crate::paths::MAX_INPUT_BYTES) {
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
    ExitCode::from(run_status(&report))
}

/// `run`'s exit status: 1 on a violation; else 4 when the scenario's
/// expectations for the policy were not met; else 0.
pub fn run_status(report: &crate::report::RunReport) -> u8 {
    if report.violated() {
        1
    } else if report.expectations.as_ref().is_some_and(|m| !m.is_empty()) {
        4
    } else {
        0
    }
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

/// `bench`: `n` is iterations, memory, scaling, repeat.
#[cfg(not(feature = "os-threads"))]
fn bench_cmd(
    scenarios: Vec<PathBuf>,
    policy: &'static dyn mapper::Policy,
    n: [usize; 4],
    seed: u64,
) -> ExitCode {
    let [iterations, memory, scaling, repeat] = n;
    let args = crate::bench::BenchArgs {
        scenarios: if scenarios.is_empty() {
            crate::bench::default_scenarios(std::path::Path::new("."))
        } else {
            scenarios
        },
        policy,
        iterations,
        memory,
        scaling,
        repeat,
        seed,
    };
    if args.scenarios.is_empty() {
        return fail(
            2,
            "bench: no scenario files (run it from the repository root, or name them)",
        );
    }
    match crate::bench::bench(&args) {
        Ok(s) => {
            emit(&s);
            ExitCode::from(0)
        }
        Err(e) => fail(2, &e),
    }
}

#[cfg(feature = "os-threads")]
fn bench_cmd(_: Vec<PathBuf>, _: &'static dyn mapper::Policy, _: [usize; 4], _: u64) -> ExitCode {
    fail(
        2,
        "`portsim bench` measures the shuttle engines: build without --features os-threads",
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
    pub depth: Option<usize>,
    pub seed: Option<u64>,
    pub out: PathBuf,
    pub property: Option<crate::check::Property>,
    pub save_outcomes: Option<PathBuf>,
    pub format: Format,
    /// Rerun every execution's schedule and compare the two reports.
    pub verify_determinism: bool,
    pub kernel: KernelArg,
    /// Worker threads (`--jobs`).
    pub jobs: usize,
    /// Full checks after every step beside the incremental ones.
    pub paranoid: bool,
}

/// The number of cores, the default of `--jobs`.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl CheckArgs {
    /// `--depth`, else 3.
    pub fn depth(&self) -> usize {
        self.depth.unwrap_or(3)
    }
    /// `--seed`, else 0.
    pub fn seed(&self) -> u64 {
        self.seed.unwrap_or(0)
    }
}

/// Flags the chosen engine would ignore are refused: which engines use
/// `--depth` and `--seed`.
#[cfg_attr(feature = "os-threads", allow(dead_code))]
fn engine_flag_error(a: &CheckArgs) -> Option<String> {
    let (uses_depth, uses_seed) = match a.engine {
        EngineArg::Pct => (true, true),
        EngineArg::Random | EngineArg::Urw | EngineArg::Portfolio => (false, true),
        EngineArg::Dfs => (false, false),
    };
    let name = match a.engine {
        EngineArg::Random => "random",
        EngineArg::Urw => "urw",
        EngineArg::Pct => "pct",
        EngineArg::Dfs => "dfs",
        EngineArg::Portfolio => "portfolio",
    };
    if a.iterations == 0 {
        return Some("--iterations 0: expected at least 1 execution".to_string());
    }
    if let Some(d) = a.depth {
        if !uses_depth {
            return Some(format!(
                "--depth {d}: the {name} engine does not use a depth (only --engine pct does)"
            ));
        }
        if d == 0 {
            return Some("--depth 0: expected a PCT depth of at least 1".to_string());
        }
    }
    if let (Some(v), false) = (a.seed, uses_seed) {
        return Some(format!(
            "--seed {v}: the {name} engine is deterministic and does not use a seed"
        ));
    }
    None
}

/// Make sure `out` is a folder `check` can write in, before searching:
/// create it, write and remove a probe file. Returns whether this call
/// created it (and removes it again on failure).
#[cfg_attr(feature = "os-threads", allow(dead_code))]
fn prepare_out(out: &std::path::Path) -> Result<bool, String> {
    let existed = out.is_dir();
    std::fs::create_dir_all(out).map_err(|e| e.to_string())?;
    let probe = out.join(format!(".portsim-probe-{}", std::process::id()));
    let r = std::fs::write(&probe, b"");
    let _ = std::fs::remove_file(&probe);
    if let Err(e) = r {
        if !existed {
            let _ = std::fs::remove_dir(out);
        }
        return Err(e.to_string());
    }
    Ok(!existed)
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
    let fail = |code: u8, msg: &str| fail_as(a.format, code, msg);
    if a.format == Format::Expect {
        return fail(
            2,
            "--format expect is for `portsim run` (the outcomes of one interleaving)",
        );
    }
    if let Some(e) = engine_flag_error(&a) {
        return fail(2, &e);
    }
    let sc = match load_as(path, a.format) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let kind = match kernel_for_as(&sc, path, a.kernel, a.format) {
        Ok(k) => k,
        Err(c) => return c,
    };
    let created_out = match prepare_out(&a.out) {
        Ok(c) => c,
        Err(e) => {
            return fail(
                2,
                &format!(
                    "--out {}: cannot write schedules there: {e}",
                    a.out.display()
                ),
            );
        }
    };
    let live = crate::progress::Live::start(a.iterations, a.format != Format::Json);
    let r = crate::explore::checkrun::check(&sc, path, policy, &a, kind, &live);
    live.finish();
    if created_out && !matches!(r, Ok((_, 1, _))) {
        // Nothing was written there: leave no empty folder behind.
        let _ = std::fs::remove_dir(&a.out);
    }
    match r {
        Ok((out, code, write_error)) => {
            emit(&out);
            if let Some(e) = write_error {
                // Under --format json the error is a field of the report.
                if a.format != Format::Json {
                    eprintln!("portsim: {e}");
                }
            }
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
///
/// Computed in logarithms: a huge depth makes the probability underflow
/// to 0 (and the chance of a miss 1), never `inf` or a negative number.
pub fn pct_bound_of(
    executions: usize,
    threads: usize,
    steps: usize,
    depth: usize,
) -> crate::report::PctBound {
    let n = threads.max(1) as f64;
    let k = steps.max(1) as f64;
    let exponent = depth.saturating_sub(1) as f64;
    let ln_p = -(n.ln() + exponent * k.ln());
    let p = ln_p.exp();
    // (1 - p)^executions, without losing a tiny p to rounding.
    let miss = if p >= 1.0 {
        0.0
    } else {
        (executions as f64 * (-p).ln_1p()).exp()
    };
    crate::report::PctBound {
        depth,
        threads: threads.max(1),
        steps: steps.max(1),
        per_execution: p,
        missed: miss.clamp(0.0, 1.0),
    }
}

fn pct_bound_text(b: &crate::report::PctBound) -> String {
    format!(
        "PCT bound: each execution finds a given bug of depth <= {} with probability >= 1/({}*{}^{}) = {:.3e}; the chance that every execution missed it is <= {:.3e}",
        b.depth,
        b.threads,
        b.steps,
        b.depth.saturating_sub(1),
        b.per_execution,
        b.missed
    )
}

/// [`pct_bound_of`] as the line `check` prints.
pub fn pct_bound(executions: usize, threads: usize, steps: usize, depth: usize) -> String {
    pct_bound_text(&pct_bound_of(executions, threads, steps, depth))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pct_bound_stays_a_probability_for_any_depth() {
        for depth in [1, 2, 3, 30, 1 << 31, 3_000_000_000, usize::MAX] {
            for (e, n, k) in [(1, 3, 40), (1000, 3, 40), (usize::MAX, 1, 1), (5, 0, 0)] {
                let b = pct_bound_of(e, n, k, depth);
                assert!(
                    (0.0..=1.0).contains(&b.per_execution) && (0.0..=1.0).contains(&b.missed),
                    "depth {depth}, {e} executions, {n} threads, {k} steps: {b:?}"
                );
                let line = pct_bound(e, n, k, depth);
                assert!(!line.contains("inf") && !line.contains("NaN"), "{line}");
            }
        }
        let b = pct_bound_of(1000, 3, 40, 3);
        assert!((b.per_execution - 1.0 / 4800.0).abs() < 1e-12, "{b:?}");
        assert!(
            (b.missed - (1.0f64 - 1.0 / 4800.0).powi(1000)).abs() < 1e-9,
            "{b:?}"
        );
    }

    #[test]
    fn engines_refuse_flags_they_would_ignore() {
        let args = |engine, depth, seed, iterations| CheckArgs {
            engine,
            iterations,
            depth,
            seed,
            out: PathBuf::from("o"),
            property: None,
            save_outcomes: None,
            format: Format::Text,
            kernel: KernelArg::Sim,
            verify_determinism: false,
            jobs: 1,
            paranoid: false,
        };
        assert_eq!(
            engine_flag_error(&args(EngineArg::Pct, Some(4), Some(1), 10)),
            None
        );
        assert_eq!(
            engine_flag_error(&args(EngineArg::Random, None, Some(1), 10)),
            None
        );
        assert_eq!(
            engine_flag_error(&args(EngineArg::Portfolio, None, Some(1), 10)),
            None
        );
        assert_eq!(
            engine_flag_error(&args(EngineArg::Dfs, None, None, 10)),
            None
        );
        for bad in [
            args(EngineArg::Pct, Some(0), None, 10),
            args(EngineArg::Pct, None, None, 0),
            args(EngineArg::Random, Some(3), None, 10),
            args(EngineArg::Portfolio, Some(3), None, 10),
            args(EngineArg::Dfs, None, Some(0), 10),
        ] {
            assert!(engine_flag_error(&bad).is_some());
        }
    }
}
