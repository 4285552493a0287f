//! rootlesskit's port drivers, parent side: what moby reaches through
//! rootlesskit's HTTP API when it publishes a port in rootless mode.
//!
//! - [`validate`]: `ValidatePortSpec` (pkg/port/portutil/portutil.go);
//! - [`builtin`]: the builtin driver (pkg/port/builtin/parent/parent.go,
//!   tcp/tcp.go, udp/udp.go): listens in the host namespace itself;
//! - [`slirp4netns`]: the slirp4netns driver
//!   (pkg/port/slirp4netns/slirp4netns.go) and the slirp4netns side of its
//!   `add_hostfwd`/`remove_hostfwd` API;
//! - [`real`]: the real rootlesskit binary, to compare the model with;
//! - [`api`]: the HTTP answers (pkg/api/router/router.go,
//!   pkg/httputil/httputil.go).
//!
//! All at rootlesskit commit e780dd3. Errors cross the API as text only, so
//! the drivers return `String` errors.

pub mod api;
pub mod builtin;
pub mod ext_port_zero;
#[cfg(target_os = "linux")]
pub mod real;
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
    /// POST /v1/ports with the reply's `port.Status`: the id and the spec.
    /// The pinned API echoes the requested spec; only the port-0
    /// extension ([`ext_port_zero`]) answers with the port it bound.
    fn add_port_status(&self, who: &str, spec: &Spec) -> Result<(u32, Spec), String> {
        self.add_port(who, spec).map(|id| (id, spec.clone()))
    }
    /// The API extensions this driver advertises in `GET /v1/info` (none
    /// at e780dd3; see [`ext_port_zero::FEATURE`]).
    fn extensions(&self) -> Vec<&'static str> {
        Vec::new()
    }
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

/// The trace line of an `AddPort` call, the same for every driver.
fn trace_add(
    kernel: &crate::kernel::Kernel,
    layer: &str,
    who: &str,
    spec: &Spec,
    r: &Result<u32, String>,
) {
    kernel.trace().emit(
        who,
        layer,
        format!("AddPort {}", spec.describe()),
        result_text(r, |id| format!("ok id={id}")),
    );
}

/// The trace line of a `RemovePort` call, the same for every driver.
fn trace_remove(
    kernel: &crate::kernel::Kernel,
    layer: &str,
    who: &str,
    id: u32,
    r: &Result<(), String>,
) {
    kernel.trace().emit(
        who,
        layer,
        format!("RemovePort {id}"),
        result_text(r, |_| "ok".to_string()),
    );
}

/// Shared pieces of the driver tests: a simulated host and one child
/// namespace, specs, and host programs holding ports.
#[cfg(test)]
pub(crate) mod testutil {
    use super::Spec;
    use crate::kernel::sim::SimNet;
    use crate::kernel::{BindReq, Kernel, NsConfig, NsId, Proto, SockId};
    use crate::trace::Trace;
    use std::sync::Arc;

    /// A kernel with the host (configured by `host`) and a default child.
    pub fn kernel_with(host: NsConfig) -> Arc<Kernel> {
        let cfgs = [host, NsConfig::default()];
        Arc::new(Kernel::new(Arc::new(SimNet::new()), &cfgs, Trace::new()).expect("namespaces"))
    }

    pub fn kernel() -> Arc<Kernel> {
        kernel_with(NsConfig::default())
    }

    pub fn spec(proto: &str, parent_ip: &str, port: i32, child_ip: &str) -> Spec {
        Spec {
            proto: proto.into(),
            parent_ip: parent_ip.into(),
            parent_port: port,
            child_ip: child_ip.into(),
            child_port: port,
        }
    }

    /// A host program holding `addr:port` (TCP: SO_REUSEADDR, listening
    /// when `listen`; UDP: plain bind).
    pub fn occupy(
        k: &Kernel,
        proto: Proto,
        addr: &str,
        port: u16,
        v6only: bool,
        listen: bool,
    ) -> SockId {
        let req = BindReq {
            proto,
            addr: addr.parse().expect("address"),
            port,
            reuse_addr: proto == Proto::Tcp,
            reuse_port: false,
            v6only,
        };
        let s = k
            .bind("occ", NsId::HOST, &req, true, "occupant")
            .expect("occupant bind");
        if listen {
            k.listen("occ", NsId::HOST, s).expect("occupant listen");
        }
        s
    }

    /// Host sockets as `owner describe [L]` lines, for assertions.
    pub fn host_sockets(k: &Kernel) -> Vec<String> {
        k.sockets(NsId::HOST)
            .into_iter()
            .map(|(s, owner)| {
                let l = if s.listening { " L" } else { "" };
                format!("{owner} {}{l}", s.req.describe())
            })
            .collect()
    }
}
