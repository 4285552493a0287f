//! rootlesskit's port drivers, parent side: what moby reaches through
//! rootlesskit's HTTP API when it publishes a port in rootless mode.
//!
//! - [`validate`]: `ValidatePortSpec` (pkg/port/portutil/portutil.go);
//! - [`builtin`]: the builtin driver (pkg/port/builtin/parent/parent.go,
//!   tcp/tcp.go, udp/udp.go): listens in the host namespace itself;
//! - [`slirp4netns`]: the slirp4netns driver
//!   (pkg/port/slirp4netns/slirp4netns.go) and the slirp4netns side of its
//!   `add_hostfwd`/`remove_hostfwd` API;
//! - [`api`]: the HTTP answers (pkg/api/router/router.go,
//!   pkg/httputil/httputil.go).
//!
//! All at rootlesskit commit e780dd3. Errors cross the API as text only, so
//! the drivers return `String` errors.

pub mod api;
pub mod builtin;
pub mod slirp4netns;
pub mod validate;

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

impl Spec {
    /// `tcp4 0.0.0.0:32769 => 127.0.0.1:32769`, for trace lines.
    pub fn describe(&self) -> String {
        format!(
            "{} {} => {}",
            self.proto,
            validate::join_host_port(&self.parent_ip, &self.parent_port.to_string()),
            validate::join_host_port(&self.child_ip, &self.child_port.to_string())
        )
    }
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

/// The result column of a driver's trace line: `ok id=N`, `ok` or
/// `400 <message>` (the HTTP status the API answers with).
fn result_text<T>(r: &Result<T, String>, ok: impl Fn(&T) -> String) -> String {
    match r {
        Ok(v) => ok(v),
        Err(m) => format!("400 {m}"),
    }
}
