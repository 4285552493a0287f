//! Every shipped scenario, replayed under every policy at the scenario's
//! seed: its expectations must be met, and its report (trace, outcomes,
//! verdicts) must match the reviewed snapshot in `snapshots/`.

use portsim::explore::{self, KernelKind};
use portsim::report::RunReport;
use std::path::Path;
use std::sync::Arc;

fn replay(file: &str, policy: &str) -> RunReport {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(file);
    let sc = Arc::new(portsim::scenario::load(&path).unwrap_or_else(|e| panic!("{e}")));
    let p = portsim::mapper::by_name(policy).expect("policy exists");
    explore::run_seed(&sc, p, sc.seed.unwrap_or(0), KernelKind::Sim).expect("run")
}

fn snapshot(name: &str, report: &RunReport) {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s.bind(|| insta::assert_snapshot!(name, report.text()));
}

fn check(file: &str, policy: &str) {
    let r = replay(file, policy);
    let again = replay(file, policy);
    assert_eq!(r.text(), again.text(), "a replay must be byte-identical");
    if let Some(miss) = &r.expectations {
        assert!(
            miss.is_empty(),
            "{file} under {policy}: expectations not met:\n{}\n{}",
            miss.join("\n"),
            r.text()
        );
    }
    snapshot(
        &format!("{}__{}", file.trim_end_matches(".toml"), policy),
        &r,
    );
}

/// The policies every scenario is replayed under: all of `policies()`
/// (checked by `every_policy_is_replayed_here`).
const POLICIES: [&str; 7] = [
    "moby-master",
    "pr-52927",
    "docker-28",
    "pr-52927-fixed",
    "pr-52927-unbounded",
    "host-first",
    "kernel-picks",
];

macro_rules! scenario_tests {
    ($($name:ident => $file:literal),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn moby_master() {
                    super::check($file, "moby-master");
                }
                #[test]
                fn pr_52927() {
                    super::check($file, "pr-52927");
                }
                #[test]
                fn docker_28() {
                    super::check($file, "docker-28");
                }
                #[test]
                fn pr_52927_fixed() {
                    super::check($file, "pr-52927-fixed");
                }
                #[test]
                fn pr_52927_unbounded() {
                    super::check($file, "pr-52927-unbounded");
                }
                #[test]
                fn host_first() {
                    super::check($file, "host-first");
                }
                #[test]
                fn kernel_picks() {
                    super::check($file, "kernel-picks");
                }
            }
        )*
    };
}

scenario_tests! {
    issue_53153 => "issue-53153.toml",
    issue_52903 => "issue-52903.toml",
    issue_53306 => "issue-53306.toml",
    fixed_port_busy => "fixed-port-busy.toml",
    dual_stack_partial => "dual-stack-partial.toml",
    transient_holder => "transient-holder.toml",
    slirp4netns_no_retry => "slirp4netns-no-retry.toml",
    stale_bindings => "stale-bindings.toml",
    ten_collisions => "ten-collisions.toml",
    stale_bindings_3 => "stale-bindings-3.toml",
    two_daemons_one_occupant => "two-daemons-one-occupant.toml",
    split_range_53153 => "split-range-53153.toml",
    split_ranges_53306 => "split-ranges-53306.toml",
    kernel_picks_v6_holder => "kernel-picks-v6-holder.toml",
    udp_tcp_same_port => "udp-tcp-same-port.toml",
    range_one_busy => "range-one-busy.toml",
    dual_stack_ipv6_off => "dual-stack-ipv6-off.toml",
    stop_races_start => "stop-races-start.toml",
    stop_races_start_unlocked => "stop-races-start-unlocked.toml",
    ipv4_mapped_host_ip => "ipv4-mapped-host-ip.toml",
    detach_netns => "detach-netns.toml",
}

#[test]
fn every_policy_is_replayed_here() {
    let names: Vec<&str> = portsim::mapper::policies()
        .iter()
        .map(|p| p.name())
        .collect();
    assert_eq!(names, POLICIES);
}

/// Every shipped scenario under both rootlesskit modes: with every
/// daemon's `detach_netns` flipped the report is byte-identical, because
/// the mode moves no step of a start or stop to another namespace
/// (`portsim::world::NETNS_BY_MODE`). README Findings rests on this.
#[test]
fn every_shipped_scenario_gives_the_same_report_in_both_modes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for f in files {
        let sc = portsim::scenario::load(&f).unwrap_or_else(|e| panic!("{e}"));
        let mut flipped = sc.clone();
        for d in &mut flipped.daemons {
            d.detach_netns = !d.detach_netns;
        }
        let (sc, flipped) = (Arc::new(sc), Arc::new(flipped));
        for p in portsim::mapper::policies() {
            let seed = sc.seed.unwrap_or(0);
            let a = explore::run_seed(&sc, p, seed, KernelKind::Sim).expect("run");
            let b = explore::run_seed(&flipped, p, seed, KernelKind::Sim).expect("run");
            assert_eq!(
                a.text(),
                b.text(),
                "{} under {}: the mode changed the report",
                f.display(),
                p.name()
            );
        }
    }
}

#[test]
fn every_shipped_scenario_is_replayed_here() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".toml"))
        .collect();
    files.sort();
    let src = include_str!("scenarios.rs");
    for f in files {
        assert!(
            src.contains(&format!("\"{f}\"")),
            "scenario {f} has no test in tests/scenarios.rs"
        );
    }
}
