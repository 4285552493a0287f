//! `portsim`: see `portsim --help` and README.md.

#[cfg(all(not(loom), not(feature = "os-threads")))]
fn main() -> std::process::ExitCode {
    portsim::cli::main()
}

/// Under `--cfg loom` or `--features os-threads` the world runs on other
/// primitives; the command line needs shuttle's.
#[cfg(any(loom, feature = "os-threads"))]
fn main() -> std::process::ExitCode {
    eprintln!(
        "portsim: this build ({}) serves the models and stress engine; build without --cfg loom / os-threads for the CLI",
        portsim::sync::ENGINE
    );
    std::process::ExitCode::from(2)
}
