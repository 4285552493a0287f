//! Scenario files: one situation each (daemons, host occupants, containers
//! with `-p` specs, the order of starts and stops, and what each policy is
//! expected to do).
//!
//! This module holds the validated model; [`parse`] turns TOML text into it
//! with `file:line:column` errors, [`portspec`] parses docker's `-p` syntax.

pub mod generate;
pub mod parse;
pub mod portspec;

use crate::kernel::Proto;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;

pub use parse::{ScenarioError, load, parse_str};
pub use portspec::PublishSpec;

/// A whole scenario, validated: every name resolves, every index is in range.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub host: HostCfg,
    pub daemons: Vec<DaemonCfg>,
    pub occupants: Vec<OccupantCfg>,
    pub containers: Vec<ContainerCfg>,
    pub steps: Vec<Step>,
    /// Most host ports of any start's range that occupants may hold at once
    /// for the convergence property to be required (None: no limit).
    pub occupant_budget: Option<u32>,
    /// The seed `portsim run` uses when none is given.
    pub seed: Option<u64>,
    /// The situations an exploration of this scenario must reach for its
    /// verdict to mean something (`covers = [...]`; see `crate::coverage`).
    pub covers: Vec<crate::coverage::Situation>,
    /// Expected outcome per policy name.
    pub expect: BTreeMap<String, Expectation>,
}

/// The host (parent) namespace.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HostCfg {
    /// `net.ipv4.ip_unprivileged_port_start` of the host (default 1024).
    pub unprivileged_port_start: u16,
    /// The host's `net.ipv4.ip_local_port_range` (default 32768-60999):
    /// where its kernel picks a port for a bind to port 0. Set apart from
    /// the daemons' ranges, it models #53153's sysctl workaround.
    pub port_range: (u16, u16),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PortDriverKind {
    Builtin,
    Slirp4netns,
}

/// One rootless dockerd with its own rootlesskit and child namespace.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DaemonCfg {
    pub name: String,
    /// The child namespace's `ip_local_port_range` (default 32768-60999).
    pub port_range: (u16, u16),
    /// The child namespace's `ip_local_reserved_ports`, kernel syntax.
    pub reserved_ports: String,
    pub port_driver: PortDriverKind,
    /// docker-proxy holds the child socket (default true).
    pub userland_proxy: bool,
    /// IPv6 usable in the child namespace (`netutils.IsV6Listenable`).
    pub ipv6: bool,
    /// Model the bridge driver's `configNetwork` lock (default true).
    pub bridge_lock: bool,
    /// The network driver's child IP (slirp4netns: 10.0.2.100).
    pub child_ip: Option<IpAddr>,
    /// rootlesskit `--detach-netns` (default true, as
    /// `dockerd-rootless.sh` at b985e2313a): dockerd stays in the host
    /// namespace and does its networking inside `RunInNetNS`. Which
    /// namespace each step then runs in: `crate::world::NETNS_BY_MODE`.
    pub detach_netns: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OccupantKind {
    /// Holds its socket from before the first step to the end.
    Fixed,
    /// Binds and closes at the steps `bind NAME` / `close NAME`.
    Scripted,
    /// Runs as a thread in a concurrent step (`race NAME`): the scheduler
    /// picks which of `ports` it binds and when.
    Racing,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Hold {
    /// Keeps the port until the end of the run.
    Forever,
    /// Closes it again right after binding (the scheduler picks when).
    Briefly,
}

/// A third-party program in the host namespace.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OccupantCfg {
    pub name: String,
    pub kind: OccupantKind,
    pub proto: Proto,
    /// Bind address (default 0.0.0.0). Go's `net.Listen("tcp", ":P")` is
    /// `::` with `v6only = false`.
    pub address: IpAddr,
    pub v6only: bool,
    pub reuse_addr: bool,
    /// TCP only: listen after bind (default true).
    pub listen: bool,
    /// May bind below `ip_unprivileged_port_start` (default false).
    pub privileged: bool,
    /// Fixed and scripted occupants hold every one of these ports; a
    /// racing occupant takes one of them.
    pub ports: Vec<u16>,
    pub hold: Hold,
}

/// A container and the ports it publishes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ContainerCfg {
    pub name: String,
    /// Index into `Scenario::daemons`.
    pub daemon: usize,
    /// The container has an IPv6 address (default false, as on the default bridge).
    pub ipv6: bool,
    pub publish: Vec<PublishSpec>,
}

/// One action of a step. Indexes point into the scenario's lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Action {
    Start(usize),
    Stop(usize),
    Bind(usize),
    Close(usize),
    Race(usize),
}

/// A step: one action, or several run as concurrent threads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Step {
    Seq(Action),
    Concurrent(Vec<Action>),
}

/// What a start is expected to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum ExpectStart {
    /// Success; with `Some`, the distinct host ports of its bindings in order.
    Ok(Option<Vec<u16>>),
    /// Failure; with `Some`, the exact text the user reads.
    Err(Option<String>),
}

/// A property's expected verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Holds,
    Violated,
}

/// Expectations for one policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Expectation {
    /// Container name -> expected outcome of its (last) start.
    pub starts: BTreeMap<String, ExpectStart>,
    /// Property name (see `check::Property::name`) -> verdict.
    pub properties: BTreeMap<String, Verdict>,
}

impl Scenario {
    pub fn container_index(&self, name: &str) -> Option<usize> {
        self.containers.iter().position(|c| c.name == name)
    }

    pub fn occupant_index(&self, name: &str) -> Option<usize> {
        self.occupants.iter().position(|o| o.name == name)
    }
}
