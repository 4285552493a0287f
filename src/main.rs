//! `portsim`: see `portsim --help` and README.md.

/// mimalloc: an execution allocates and frees many small strings and
/// vectors; glibc's malloc and free were a quarter of the time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(not(loom))]
fn main() -> std::process::ExitCode {
    portsim::cli::main()
}

/// Under `--cfg loom` the world runs on loom's primitives, which only work
/// inside `loom::model`: this build serves the loom models.
#[cfg(loom)]
fn main() -> std::process::ExitCode {
    eprintln!("portsim: a --cfg loom build serves the loom models only");
    std::process::ExitCode::from(2)
}
