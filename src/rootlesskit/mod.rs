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
use crate::trace::Text;
use serde::Serialize;
use std::net::IpAddr;

/// rootlesskit's `port.Spec`. Its strings are [`Text`]s: the protocol and
/// address words every `AddPort` carries are `'static` (see
/// [`Spec::word`]), so a spec is made, cloned and registered without
/// copying them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Spec {
    pub proto: Text,
    pub parent_ip: Text,
    pub parent_port: i32,
    pub child_ip: Text,
    pub child_port: i32,
}

impl Spec {
    /// `ip` as Go's `netip.Addr.String()` writes it: the four addresses
    /// of every scenario as fixed words, any other written.
    pub fn word(ip: IpAddr) -> Text {
        const COMMON: [(IpAddr, &str); 4] = [
            (IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), "0.0.0.0"),
            (IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), "127.0.0.1"),
            (IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED), "::"),
            (IpAddr::V6(std::net::Ipv6Addr::LOCALHOST), "::1"),
        ];
        if let Some((_, w)) = COMMON.iter().find(|(a, _)| *a == ip) {
            return Text::from_static(w);
        }
        let mut s = String::with_capacity(15);
        crate::kernel::push_ip(&mut s, ip);
        s.into()
    }

    /// `tcp4 0.0.0.0:32769 => 127.0.0.1:32769`, for trace lines.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        self.describe_into(&mut s);
        s
    }

    /// [`Spec::describe`] appended to `out` (one buffer, no pieces): the
    /// text of [`validate::join_host_port`] for both ends.
    pub fn describe_into(&self, out: &mut String) {
        let host_port = |out: &mut String, host: &str, port: i32| {
            if host.contains(':') {
                out.push('[');
                out.push_str(host);
                out.push(']');
            } else {
                out.push_str(host);
            }
            out.push(':');
            crate::kernel::push_decimal(out, port.into());
        };
        out.push_str(&self.proto);
        out.push(' ');
        host_port(out, &self.parent_ip, self.parent_port);
        out.push_str(" => ");
        host_port(out, &self.child_ip, self.child_port);
    }
}

/// `AddPort tcp4 0.0.0.0:32769 => 127.0.0.1:32769`, the action of an
/// `AddPort`, written when read (a spec's clone copies no text).
struct AddPortCall(Spec);

impl crate::trace::Render for AddPortCall {
    fn render(&self, out: &mut String) {
        out.push_str("AddPort ");
        self.0.describe_into(out);
    }

    fn head(&self) -> &'static str {
        "AddPort "
    }
}

/// `ok id=3`, the result of an `AddPort`, written when read.
struct OkId(u32);

impl crate::trace::Render for OkId {
    fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = write!(out, "ok id={}", self.0);
    }

    fn head(&self) -> &'static str {
        "ok id="
    }
}

/// `RemovePort 3`, written when read.
struct RemovePort(u32);

impl crate::trace::Render for RemovePort {
    fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = write!(out, "RemovePort {}", self.0);
    }

    fn head(&self) -> &'static str {
        "RemovePort "
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
    /// [`PortDriver::ports`] without the specs: (id, host socket), ordered
    /// by id. For the step checks, which read only these.
    fn listeners(&self) -> Vec<(u32, Option<SockId>)> {
        self.ports().into_iter().map(|(id, _, s)| (id, s)).collect()
    }
}

/// The trace line of an `AddPort` call, the same for every driver. The
/// result column is `ok id=N` or `400 <message>` (the HTTP status the API
/// answers with).
fn trace_add(
    kernel: &crate::kernel::Kernel,
    layer: &crate::trace::Name,
    who: &str,
    spec: &Spec,
    r: Result<u32, &str>,
) {
    kernel.trace().emit(
        who,
        layer,
        crate::trace::Text::lazy(AddPortCall(spec.clone())),
        match r {
            Ok(id) => crate::trace::Text::lazy(OkId(id)),
            Err(m) => crate::trace::Text::build(|s| {
                s.push_str("400 ");
                s.push_str(m);
            }),
        },
    );
}

/// The trace line of a `RemovePort` call, the same for every driver.
fn trace_remove(
    kernel: &crate::kernel::Kernel,
    layer: &crate::trace::Name,
    who: &str,
    id: u32,
    r: &Result<(), String>,
) {
    kernel.trace().emit(
        who,
        layer,
        crate::trace::Text::lazy(RemovePort(id)),
        match r {
            Ok(()) => crate::trace::Text::from_static("ok"),
            Err(m) => crate::kernel::cat(["400 ", m]).into(),
        },
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

#[cfg(test)]
mod tests {
    use super::slirp4netns::Slirp4netns;
    use super::testutil::kernel;
    use super::*;
    use crate::trace::{Render, Text};

    /// The pinned API has no extensions: a driver that does not add one
    /// (slirp4netns) advertises none.
    #[test]
    fn a_driver_without_extensions_advertises_none() {
        crate::sync::run_once(|| {
            let d = Slirp4netns::new(kernel(), "d1/rlk");
            assert_eq!(d.extensions(), Vec::<&str>::new());
        });
    }

    /// The lazy `AddPort` action is the text the eager one was, and the
    /// spec's address words are `netip.Addr.String()`'s.
    #[test]
    fn add_port_text_is_the_spec_described() {
        let spec = Spec {
            proto: Text::from_static("tcp6"),
            parent_ip: Spec::word("::".parse().unwrap()),
            parent_port: 32769,
            child_ip: Spec::word("fd00::2".parse().unwrap()),
            child_port: 80,
        };
        let t = Text::lazy(AddPortCall(spec.clone()));
        assert!(t.starts_with("AddPort "));
        assert_eq!(t.as_str(), format!("AddPort {}", spec.describe()));
        assert_eq!(t.as_str(), "AddPort tcp6 [::]:32769 => [fd00::2]:80");
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "::",
            "::1",
            "10.0.2.100",
            "::ffff:1.2.3.4",
        ] {
            let a: IpAddr = ip.parse().unwrap();
            assert_eq!(Spec::word(a).as_str(), a.to_string());
        }
    }

    /// The `RemovePort` trace text starts with the head it announces.
    #[test]
    fn remove_port_text_starts_with_its_head() {
        assert_eq!(RemovePort(3).head(), "RemovePort ");
        assert_eq!(Text::lazy(RemovePort(3)).as_str(), "RemovePort 3");
    }

    /// So does the `ok id=N` result of an `AddPort`.
    #[test]
    fn ok_id_text_starts_with_its_head() {
        assert_eq!(OkId(7).head(), "ok id=");
        assert_eq!(Text::lazy(OkId(7)).as_str(), "ok id=7");
    }
}
