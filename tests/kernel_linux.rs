//! The simulated kernel against the real one: the same scenario, policy and
//! schedule must give the same trace, byte for byte, on `--kernel sim` and
//! on `--kernel linux` (real sockets in network namespaces the run creates).
//! Without the privilege to create namespaces the tests that need them
//! print `SKIPPED: <reason>` and count as ignored, never as passed
//! (`harness = false`, see `support/skip_harness.rs`).

#[path = "support/skip_harness.rs"]
mod skip_harness;

// Shuttle-driven (`run_seed`): not in the os-threads build.
#[cfg(all(target_os = "linux", not(feature = "os-threads")))]
fn main() -> std::process::ExitCode {
    // The name is the function's own, so the two cannot drift apart.
    macro_rules! case {
        ($f:ident, $needs_host:expr) => {
            skip_harness::Case {
                name: stringify!($f),
                run: real::$f,
                needs_host: $needs_host,
            }
        };
    }
    skip_harness::main(
        &[
            case!(
                every_shipped_scenario_traces_the_same_on_the_real_kernel,
                true
            ),
            case!(
                two_hundred_and_forty_seeded_schedules_trace_the_same_on_the_real_kernel,
                true
            ),
            case!(the_shared_bind_rule_table_agrees_on_the_real_kernel, true),
            case!(
                a_scenario_with_a_non_loopback_address_is_refused_with_the_reason,
                false
            ),
        ],
        || portsim::kernel::linux::available().err(),
    )
}

#[cfg(not(all(target_os = "linux", not(feature = "os-threads"))))]
fn main() -> std::process::ExitCode {
    skip_harness::main(&[], || None)
}

#[cfg(all(target_os = "linux", not(feature = "os-threads")))]
mod real {
    use portsim::explore::{KernelKind, linux_refusal, run_seed};
    use portsim::report::RunReport;
    use portsim::scenario::Scenario;
    use std::path::Path;
    use std::sync::Arc;

    fn load(file: &str) -> Arc<Scenario> {
        Arc::new(
            portsim::scenario::load(
                &Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("scenarios")
                    .join(file),
            )
            .unwrap(),
        )
    }

    fn shipped() -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|f| f.ends_with(".toml"))
                .collect();
        v.sort();
        v
    }

    fn trace(r: &RunReport) -> String {
        r.trace_text()
    }

    /// Compare one (scenario, policy, seed) on both kernels; returns the
    /// number of trace lines compared.
    fn compare(sc: &Arc<Scenario>, policy: &str, seed: u64) -> usize {
        let p = portsim::mapper::by_name(policy).unwrap();
        let sim = run_seed(sc, p, seed, KernelKind::Sim).unwrap();
        let real = run_seed(sc, p, seed, KernelKind::Linux).unwrap();
        assert_eq!(
            trace(&sim),
            trace(&real),
            "{} / {policy} / seed {seed}: the real kernel disagrees",
            sc.name
        );
        assert_eq!(sim.properties, real.properties);
        assert_eq!(sim.starts, real.starts);
        sim.trace.len()
    }

    pub fn every_shipped_scenario_traces_the_same_on_the_real_kernel() {
        let mut n = 0;
        for f in shipped() {
            let sc = load(&f);
            if let Some(why) = linux_refusal(&sc) {
                println!("{f}: sim only: {why}");
                continue;
            }
            for policy in ["moby-master", "pr-52927"] {
                n += compare(&sc, policy, sc.seed.unwrap_or(0));
            }
        }
        println!("compared {n} trace lines");
    }

    pub fn two_hundred_and_forty_seeded_schedules_trace_the_same_on_the_real_kernel() {
        let mut schedules = 0;
        for f in ["issue-52903.toml", "transient-holder.toml"] {
            let sc = load(f);
            for policy in ["moby-master", "pr-52927"] {
                for seed in 0..60 {
                    compare(&sc, policy, seed);
                    schedules += 1;
                }
            }
        }
        assert_eq!(schedules, 240);
        println!("compared {schedules} seeded schedules");
    }

    pub fn the_shared_bind_rule_table_agrees_on_the_real_kernel() {
        use portsim::kernel::rule_table::{RULES, load, run_all};
        let cases = load(RULES).unwrap();
        let fails = run_all(
            &|| Box::new(portsim::kernel::linux::LinuxNet::new().unwrap()),
            &cases,
        );
        assert!(fails.is_empty(), "{}", fails.join("\n"));
        println!("{} bind-rule cases agree with the real kernel", cases.len());
    }

    pub fn a_scenario_with_a_non_loopback_address_is_refused_with_the_reason() {
        let sc = portsim::scenario::parse_str(
        "x.toml",
        "name = \"x\"\nsteps = [\"start c\"]\n[[daemon]]\nname = \"d\"\n[[container]]\nname = \"c\"\npublish = [\"192.0.2.1::80\"]\n",
    )
    .unwrap();
        assert_eq!(
            linux_refusal(&sc).unwrap(),
            "it names non-loopback addresses (192.0.2.1)"
        );
    }
}
