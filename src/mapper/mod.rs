//! The nat port mapper, one module per policy behind the [`Policy`] trait.
//!
//! Mirrors `daemon/libnetwork/portmappers/nat/mapper_linux.go`:
//! `MapPorts` differs per policy ([`moby_master`] at b985e2313a,
//! [`pr_52927`] at 1afdcdeb27); `UnmapPorts`, `setChildHostIP` and
//! `configPortDriver` are the same at both commits and live in [`common`].
//! The binding types mirror `daemon/libnetwork/portmapperapi/api.go`.

pub mod broken;
pub mod common;
pub mod moby_master;
pub mod pr_52927;
pub mod rlkclient;

use crate::allocator::PortAllocator;
use crate::error::GoError;
use crate::kernel::{Kernel, NsId, Proto, SockId};
use rlkclient::{PortDriverClient, PortDriverRemove};
use std::net::IpAddr;
use std::sync::Arc;

/// `portmapperapi.PortBindingReq`: one request of a `MapPorts` group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortBindingReq {
    pub proto: Proto,
    /// Container IP.
    pub ip: IpAddr,
    /// Container port.
    pub port: u16,
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub host_port_end: u16,
    pub mapper: &'static str,
    /// Set by `setChildHostIP`.
    pub child_host_ip: Option<IpAddr>,
}

impl PortBindingReq {
    /// `HostPort == 0 || HostPort != HostPortEnd`: a port the allocator picks.
    pub fn is_dynamic(&self) -> bool {
        self.host_port == 0 || self.host_port != self.host_port_end
    }
}

/// An open `*os.File` for a socket. Closing it twice does not reach the
/// kernel again: Go's second `Close` returns `os.ErrClosed`.
#[derive(Debug)]
pub struct OsFile {
    pub ns: NsId,
    pub sock: SockId,
    closed: std::sync::Mutex<bool>,
}

impl OsFile {
    pub fn new(ns: NsId, sock: SockId) -> Arc<OsFile> {
        Arc::new(OsFile {
            ns,
            sock,
            closed: std::sync::Mutex::new(false),
        })
    }

    /// `(*os.File).Close`.
    pub fn close(&self, kernel: &Kernel, who: &str) -> Result<(), GoError> {
        {
            let mut c = crate::sync::state(&self.closed);
            if *c {
                return Err(GoError::new("close listener: file already closed"));
            }
            *c = true;
        }
        kernel
            .close(who, self.ns, self.sock)
            .map_err(|e| GoError::with_errno(format!("close listener: {e}"), e))
    }

    /// Close this process's descriptor after another process (docker-proxy)
    /// received a copy: the socket stays open, so no syscall reaches the
    /// namespace's port table.
    pub fn close_after_handoff(&self) {
        *crate::sync::state(&self.closed) = true;
    }

    pub fn is_closed(&self) -> bool {
        *crate::sync::state(&self.closed)
    }
}

/// A running docker-proxy holding a child-namespace socket.
#[derive(Debug)]
pub struct Proxy {
    pub ns: NsId,
    pub sock: SockId,
}

/// `portmapperapi.PortBinding`.
#[derive(Clone, Debug)]
pub struct PortBinding {
    pub proto: Proto,
    pub ip: IpAddr,
    pub port: u16,
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub host_port_end: u16,
    pub mapper: &'static str,
    /// The child address and port DNAT rules would use.
    pub nat: Option<(IpAddr, u16)>,
    pub bound_socket: Option<Arc<OsFile>>,
    pub child_host_ip: IpAddr,
    pub port_driver_remove: Option<PortDriverRemove>,
    pub stop_proxy: Option<Arc<Proxy>>,
    pub rootlesskit_unsupported: bool,
}

impl PortBinding {
    /// `types.PortBinding.String()`: `0.0.0.0:32768:172.17.0.2:80/tcp`.
    pub fn go_string(&self) -> String {
        let mut s = String::new();
        s.push_str(&bracket(self.host_ip));
        s.push(':');
        if self.host_port != 0 {
            s.push_str(&self.host_port.to_string());
            if self.host_port_end != 0 && self.host_port_end != self.host_port {
                s.push_str(&format!("-{}", self.host_port_end));
            }
        }
        s.push(':');
        s.push_str(&bracket(self.ip));
        s.push(':');
        s.push_str(&format!("{}/{}", self.port, self.proto));
        s
    }
}

fn bracket(ip: IpAddr) -> String {
    if ip.is_ipv6() {
        format!("[{ip}]")
    } else {
        ip.to_string()
    }
}
/// What a mapper works with: one daemon's allocator, child namespace and
/// rootlesskit client.
#[derive(Clone, Copy)]
pub struct Env<'a> {
    /// Daemon name, for trace layers ("d1").
    pub daemon: &'a str,
    pub kernel: &'a Kernel,
    pub ns: NsId,
    pub allocator: &'a PortAllocator,
    pub pdc: Option<&'a PortDriverClient>,
}

impl Env<'_> {
    pub fn layer(&self) -> String {
        format!("{}/nat", self.daemon)
    }

    pub fn log(&self, who: &str, text: impl Into<String>) {
        self.kernel.trace().emit(who, &self.layer(), text, "");
    }
}

/// A port-mapping policy: the ported `MapPorts` of one commit, or an
/// alternative under review.
pub trait Policy: Send + Sync {
    /// The name used on the command line and in scenario files.
    fn name(&self) -> &'static str;
    /// One line for `portsim --help`.
    fn summary(&self) -> &'static str;
    /// `MapPorts`: allocate and bind the same host port for every request
    /// of `cfg`. `owner` labels the child sockets it opens.
    fn map_ports(
        &self,
        env: &Env,
        who: &str,
        owner: &str,
        cfg: Vec<PortBindingReq>,
    ) -> Result<Vec<PortBinding>, GoError>;
    /// `UnmapPorts`.
    fn unmap_ports(&self, env: &Env, who: &str, pbs: &[PortBinding]) -> Result<(), GoError> {
        common::unmap_ports(env, who, pbs)
    }
}

/// Every policy, in the order `--help` lists them.
pub fn policies() -> Vec<&'static dyn Policy> {
    vec![&moby_master::MobyMaster, &pr_52927::Pr52927]
}

/// Look a policy up by name.
pub fn by_name(name: &str) -> Option<&'static dyn Policy> {
    policies().into_iter().find(|p| p.name() == name)
}
