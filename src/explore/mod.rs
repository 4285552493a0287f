//! Engines: how the interleavings of world runs are chosen, and the
//! minimizer that shrinks a failing one.
//!
//! Every engine runs the same [`World`] code; only the scheduler differs:
//! shuttle's random, PCT and DFS schedulers (wrapped in a [`Recorder`](schedule::Recorder) so
//! any execution can be replayed), a portfolio of them, or a [`Replayer`](schedule::Replayer)
//! that makes the choices of a saved [`Schedule`](schedule::Schedule) again. Loom models live
//! in `models/` and use the same world under `--cfg loom`.

#[cfg(all(not(loom), not(feature = "os-threads")))]
pub mod checkrun;
#[cfg(all(not(loom), not(feature = "os-threads")))]
pub mod engine;
#[cfg(all(not(loom), not(feature = "os-threads")))]
pub mod minimize;
#[cfg(all(not(loom), not(feature = "os-threads")))]
pub mod outcomes;
pub mod save;
#[cfg(all(not(loom), not(feature = "os-threads")))]
pub mod schedule;
#[cfg(all(not(loom), feature = "os-threads"))]
pub mod stress;

use crate::check::Checker;
use crate::kernel::Net;
use crate::mapper::Policy;
use crate::report::RunReport;
use crate::scenario::Scenario;
use crate::world::World;
use std::sync::Arc;

/// Which kernel backend a run uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KernelKind {
    #[default]
    Sim,
    Linux,
}

impl KernelKind {
    pub fn name(self) -> &'static str {
        match self {
            KernelKind::Sim => "sim",
            KernelKind::Linux => "linux",
        }
    }
}

/// A fresh backend for one execution.
pub fn make_net(kind: KernelKind) -> Result<Arc<dyn Net>, String> {
    match kind {
        KernelKind::Sim => Ok(Arc::new(crate::kernel::sim::SimNet::new())),
        #[cfg(target_os = "linux")]
        KernelKind::Linux => Ok(Arc::new(crate::kernel::linux::LinuxNet::new()?)),
        #[cfg(not(target_os = "linux"))]
        KernelKind::Linux => Err("the linux kernel backend needs Linux".to_string()),
    }
}

/// Why `scenario` cannot run on the real kernel, if it cannot: the linux
/// backend binds loopback and wildcard addresses only.
pub fn linux_refusal(scenario: &Scenario) -> Option<String> {
    let mut addrs: Vec<std::net::IpAddr> = scenario.occupants.iter().map(|o| o.address).collect();
    addrs.extend(
        scenario
            .containers
            .iter()
            .flat_map(|c| c.publish.iter().filter_map(|p| p.host_ip)),
    );
    addrs.extend(scenario.daemons.iter().filter_map(|d| d.child_ip));
    if scenario
        .daemons
        .iter()
        .any(|d| d.port_driver == crate::scenario::PortDriverKind::Slirp4netns)
    {
        return Some(
            "it uses the slirp4netns port driver, whose child IP is not a loopback address"
                .to_string(),
        );
    }
    let bad: Vec<String> = addrs
        .iter()
        .filter(|a| !(a.is_loopback() || a.is_unspecified()))
        .map(|a| a.to_string())
        .collect();
    (!bad.is_empty()).then(|| format!("it names non-loopback addresses ({})", bad.join(", ")))
}

impl World {
    /// Build the world for `scenario` on `net`, checked by a fresh
    /// [`Checker`] (the engines' world; [`World::build_with`] takes any
    /// monitor). Defined here, above both, so that `world` never names
    /// `check`.
    pub fn build(
        scenario: Arc<Scenario>,
        policy: &'static dyn Policy,
        net: Arc<dyn Net>,
    ) -> Result<Arc<World>, String> {
        World::build_with(scenario, policy, net, Arc::new(Checker::new()))
    }
}

/// Build the world and run it; call inside an engine execution.
pub fn execute(
    scenario: &Arc<Scenario>,
    policy: &'static dyn Policy,
    kind: KernelKind,
    schedule: &str,
) -> Result<RunReport, String> {
    execute_checked(scenario, policy, kind, schedule, false)
}

/// [`execute`]; with `paranoid`, the full checks also run after every
/// step, and a disagreement with the incremental ones is an error.
pub fn execute_checked(
    scenario: &Arc<Scenario>,
    policy: &'static dyn Policy,
    kind: KernelKind,
    schedule: &str,
    paranoid: bool,
) -> Result<RunReport, String> {
    let world = run_world(scenario, policy, kind, paranoid)?;
    Ok(RunReport::from_world(
        &world,
        crate::sync::ENGINE,
        kind.name(),
        schedule,
    ))
}

/// Build the world and run it, leaving the report to the caller (an
/// exploration builds one only for the executions it keeps). With
/// `paranoid` the world's checker also runs the full checks after every
/// step; a disagreement with the incremental ones is an Err whose first
/// line names the scenario, the policy and the step.
pub fn run_world(
    scenario: &Arc<Scenario>,
    policy: &'static dyn Policy,
    kind: KernelKind,
    paranoid: bool,
) -> Result<Arc<World>, String> {
    let net = make_net(kind)?;
    let checker = if paranoid {
        Checker::paranoid()
    } else {
        Checker::new()
    };
    let world = World::build_with(scenario.clone(), policy, net, Arc::new(checker))?;
    world.run();
    if let Some(d) = Checker::of(&world).and_then(Checker::disagreement) {
        return Err(format!(
            "--paranoid: {} under {}: {d}",
            scenario.name,
            policy.name()
        ));
    }
    Ok(world)
}

#[cfg(all(not(loom), not(feature = "os-threads")))]
pub use engine::{run_schedule, run_seed, run_seed_with};
