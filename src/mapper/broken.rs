//! Deliberately broken policies: each one breaks exactly one thing, so that
//! a test can show the property guarding that thing fail. Not moby code and
//! never offered on the command line.

use super::common::unmap_ports;
use super::pr_52927;
use super::{Env, Policy, PortBinding, PortBindingReq};
use crate::error::GoError;

/// `UnmapPorts` that forgets to release the allocator's reservation.
pub struct LeakReservation;

impl Policy for LeakReservation {
    fn name(&self) -> &'static str {
        "broken-leak-reservation"
    }
    fn summary(&self) -> &'static str {
        "pr-52927 whose UnmapPorts never calls ReleasePort"
    }
    fn map_ports(
        &self,
        env: &Env,
        who: &str,
        owner: &str,
        cfg: Vec<PortBindingReq>,
    ) -> Result<Vec<PortBinding>, GoError> {
        pr_52927::map_ports(self, env, who, owner, cfg)
    }
    fn unmap_ports(&self, env: &Env, who: &str, pbs: &[PortBinding]) -> Result<(), GoError> {
        for pb in pbs {
            if let Some(f) = &pb.bound_socket {
                let _ = f.close(env.kernel, who);
            }
            if let (Some(rm), Some(pdc)) = (pb.port_driver_remove, env.pdc) {
                let _ = pdc.remove(who, rm);
            }
        }
        Ok(())
    }
}

/// `UnmapPorts` that forgets to ask rootlesskit to remove the port.
pub struct KeepHostPort;

impl Policy for KeepHostPort {
    fn name(&self) -> &'static str {
        "broken-keep-host-port"
    }
    fn summary(&self) -> &'static str {
        "pr-52927 whose UnmapPorts never calls RemovePort"
    }
    fn map_ports(
        &self,
        env: &Env,
        who: &str,
        owner: &str,
        cfg: Vec<PortBindingReq>,
    ) -> Result<Vec<PortBinding>, GoError> {
        pr_52927::map_ports(self, env, who, owner, cfg)
    }
    fn unmap_ports(&self, env: &Env, who: &str, pbs: &[PortBinding]) -> Result<(), GoError> {
        let stripped: Vec<PortBinding> = pbs
            .iter()
            .cloned()
            .map(|mut b| {
                b.port_driver_remove = None;
                b
            })
            .collect();
        unmap_ports(env, who, &stripped)
    }
}

/// `MapPorts` that returns a generic text instead of the error it got.
pub struct VagueError;

impl Policy for VagueError {
    fn name(&self) -> &'static str {
        "broken-vague-error"
    }
    fn summary(&self) -> &'static str {
        "pr-52927 that replaces every error by \"port mapping failed\""
    }
    fn map_ports(
        &self,
        env: &Env,
        who: &str,
        owner: &str,
        cfg: Vec<PortBindingReq>,
    ) -> Result<Vec<PortBinding>, GoError> {
        pr_52927::map_ports(self, env, who, owner, cfg)
            .map_err(|_| GoError::new("port mapping failed"))
    }
}

/// `MapPorts` that skips rootlesskit: the host port is never bound.
pub struct SkipPortDriver;

impl Policy for SkipPortDriver {
    fn name(&self) -> &'static str {
        "broken-skip-port-driver"
    }
    fn summary(&self) -> &'static str {
        "pr-52927 without its rootlesskit client"
    }
    fn map_ports(
        &self,
        env: &Env,
        who: &str,
        owner: &str,
        cfg: Vec<PortBindingReq>,
    ) -> Result<Vec<PortBinding>, GoError> {
        let blind = Env { pdc: None, ..*env };
        pr_52927::map_ports(self, &blind, who, owner, cfg)
    }
}

/// Every broken variant.
pub fn variants() -> Vec<&'static dyn Policy> {
    vec![
        &LeakReservation,
        &KeepHostPort,
        &VagueError,
        &SkipPortDriver,
    ]
}
