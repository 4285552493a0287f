//! rootlesskit's port drivers, parent side (stub; see the brief).

pub mod builtin;
pub mod slirp4netns;

use crate::kernel::SockId;
use serde::Serialize;
use std::net::IpAddr;

/// rootlesskit's `port.Spec`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Spec {
    pub proto: String,
    pub parent_ip: String,
    pub parent_port: i32,
    pub child_ip: String,
    pub child_port: i32,
}

/// rootlesskit's `api.PortDriverInfo` plus the network driver's child IP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriverInfo {
    pub driver: &'static str,
    pub protos: Vec<&'static str>,
    pub disallow_loopback_child_ip: bool,
    pub child_ip: Option<IpAddr>,
}

/// A port driver as moby reaches it over the HTTP API: errors are text only.
pub trait PortDriver: Send + Sync {
    fn info(&self) -> DriverInfo;
    /// POST /v1/ports. Ok(id) for 201; Err(message) for 400.
    fn add_port(&self, who: &str, spec: &Spec) -> Result<u32, String>;
    /// DELETE /v1/ports/{id}. Err(message) for 400.
    fn remove_port(&self, who: &str, id: u32) -> Result<(), String>;
    /// Registered ports (id, spec, host socket), ordered by id. For checkers.
    fn ports(&self) -> Vec<(u32, Spec, Option<SockId>)>;
}
