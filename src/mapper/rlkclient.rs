//! moby's rootlesskit client: how the daemon asks rootlesskit's port driver
//! for a host port, and how the answer (text only) comes back.
//!
//! Mirrors `daemon/libnetwork/internal/rlkclient/rootlesskit_client_linux.go`
//! at moby b985e2313a (identical at the PR head 1afdcdeb27): `PortDriverClient`,
//! its `proto`, `ChildHostIP`, `AddPort` and the `deferFunc` that calls
//! `RemovePort`.

use crate::error::{GoError, Kind};
use crate::rootlesskit::{DriverInfo, PortDriver, Spec};
use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// The daemon's handle on its rootlesskit (`*rlkclient.PortDriverClient`).
pub struct PortDriverClient {
    driver: Arc<dyn PortDriver>,
    info: DriverInfo,
    /// `childIP`: set only when the driver disallows a loopback child IP.
    child_ip: Option<IpAddr>,
}

/// What `AddPort` returns for later removal: Go's `deferFunc` closure,
/// which captures the port id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortDriverRemove {
    pub id: u32,
}

impl PortDriverClient {
    /// `NewPortDriverClient`, after the info call: the child IP is kept only
    /// when the port driver disallows a loopback child IP (slirp4netns).
    pub fn new(driver: Arc<dyn PortDriver>) -> PortDriverClient {
        let info = driver.info();
        let child_ip = if info.disallow_loopback_child_ip {
            info.child_ip
        } else {
            None
        };
        PortDriverClient {
            driver,
            info,
            child_ip,
        }
    }

    pub fn driver(&self) -> &Arc<dyn PortDriver> {
        &self.driver
    }

    /// `(*PortDriverClient).proto`: "tcp" becomes "tcp4" or "tcp6" by the
    /// family of the host IP. Moby's protocol names come back without a
    /// copy.
    pub fn api_proto(proto: &str, host_ip: IpAddr) -> Cow<'static, str> {
        if proto.ends_with('4') || proto.ends_with('6') {
            return known(proto).map_or_else(|| Cow::Owned(proto.to_string()), Cow::Borrowed);
        }
        let v6 = host_ip.is_ipv6();
        let pick = |four, six| Cow::Borrowed(if v6 { six } else { four });
        match proto {
            "tcp" => pick("tcp4", "tcp6"),
            "udp" => pick("udp4", "udp6"),
            "sctp" => pick("sctp4", "sctp6"),
            _ if v6 => Cow::Owned(format!("{proto}6")),
            _ => Cow::Owned(format!("{proto}4")),
        }
    }

    fn supports(&self, api_proto: &str) -> bool {
        self.info.protos.contains(&api_proto)
    }

    /// `ChildHostIP`: the address used in the child namespace in place of
    /// `host_ip`; `None` (Go's invalid `netip.Addr`) when the driver does
    /// not support this proto and family.
    pub fn child_host_ip(&self, proto: &str, host_ip: IpAddr) -> Option<IpAddr> {
        if !self.supports(&Self::api_proto(proto, host_ip)) {
            return None;
        }
        if let Some(ip) = self.child_ip {
            return Some(ip);
        }
        if host_ip.is_loopback() {
            return Some(host_ip);
        }
        Some(if host_ip.is_ipv6() {
            IpAddr::V6(Ipv6Addr::LOCALHOST)
        } else {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        })
    }

    /// `AddPort`: ask rootlesskit to listen on `host_ip:host_port` in the
    /// host namespace and forward to `child_ip:host_port`.
    pub fn add_port(
        &self,
        who: &str,
        proto: &str,
        host_ip: IpAddr,
        child_ip: IpAddr,
        host_port: u16,
    ) -> Result<PortDriverRemove, GoError> {
        let api_proto = Self::api_proto(proto, host_ip);
        if !self.supports(&api_proto) {
            return Err(GoError::of_kind(
                format!(
                    "protocol {:?} is not supported by the RootlessKit port driver {:?}",
                    api_proto, self.info.driver
                ),
                Kind::ProtocolUnsupported,
            ));
        }
        let spec = Spec {
            proto: proto_text(api_proto),
            parent_ip: Spec::word(host_ip),
            parent_port: i32::from(host_port),
            child_ip: Spec::word(child_ip),
            child_port: i32::from(host_port),
        };
        match self.driver.add_port(who, &spec) {
            Ok(id) => Ok(PortDriverRemove { id }),
            // The HTTP API carries only the message: errors.Is finds nothing.
            Err(msg) => Err(GoError::new(add_port_error(&msg))),
        }
    }

    /// The network driver's child IP, kept only when the port driver
    /// disallows a loopback child IP (`c.childIP`).
    pub fn child_ip(&self) -> Option<IpAddr> {
        self.child_ip
    }

    /// Does the port driver advertise API extension `feature` in its info?
    pub fn has_extension(&self, feature: &str) -> bool {
        self.driver.extensions().contains(&feature)
    }

    /// `AddPort` with `ParentPort: 0` and `ChildPort: 0`, the proposed
    /// extension of [`crate::rootlesskit::ext_port_zero`]: the host kernel
    /// picks the port, the reply's spec carries it. Returns the removal
    /// handle and the port. Against the pinned API this fails with
    /// `ValidatePortSpec`'s text, wrapped as every `AddPort` error is.
    pub fn add_port_zero(
        &self,
        who: &str,
        proto: &str,
        host_ip: IpAddr,
        child_ip: IpAddr,
    ) -> Result<(PortDriverRemove, u16), GoError> {
        let api_proto = Self::api_proto(proto, host_ip);
        if !self.supports(&api_proto) {
            return Err(GoError::of_kind(
                format!(
                    "protocol {:?} is not supported by the RootlessKit port driver {:?}",
                    api_proto, self.info.driver
                ),
                Kind::ProtocolUnsupported,
            ));
        }
        let spec = Spec {
            proto: proto_text(api_proto),
            parent_ip: Spec::word(host_ip),
            parent_port: 0,
            child_ip: Spec::word(child_ip),
            child_port: 0,
        };
        match self.driver.add_port_status(who, &spec) {
            Ok((id, got)) => Ok((
                PortDriverRemove { id },
                u16::try_from(got.parent_port).unwrap_or(0),
            )),
            Err(msg) => Err(GoError::new(add_port_error(&msg))),
        }
    }

    /// The `deferFunc` returned by `AddPort`.
    pub fn remove(&self, who: &str, r: PortDriverRemove) -> Result<(), GoError> {
        self.driver.remove_port(who, r.id).map_err(|msg| {
            GoError::new(format!(
                "error while calling RootlessKit PortManager.RemovePort(): {msg}"
            ))
        })
    }
}

/// The protocol names with a family suffix that moby's protocols give.
fn known(name: &str) -> Option<&'static str> {
    const NAMES: [&str; 6] = ["tcp4", "tcp6", "udp4", "udp6", "sctp4", "sctp6"];
    NAMES.iter().copied().find(|n| *n == name)
}

/// `error while calling RootlessKit PortManager.AddPort(): <msg>`.
fn add_port_error(msg: &str) -> String {
    crate::kernel::cat([
        "error while calling RootlessKit PortManager.AddPort(): ",
        msg,
    ])
}

/// A spec's protocol: the fixed word, or the one made for it.
fn proto_text(p: Cow<'static, str>) -> crate::trace::Text {
    match p {
        Cow::Borrowed(w) => crate::trace::Text::from_static(w),
        Cow::Owned(s) => s.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_proto_adds_the_family_suffix() {
        let v4: IpAddr = "0.0.0.0".parse().unwrap();
        let v6: IpAddr = "::".parse().unwrap();
        assert_eq!(PortDriverClient::api_proto("tcp", v4), "tcp4");
        assert_eq!(PortDriverClient::api_proto("udp", v6), "udp6");
        assert_eq!(PortDriverClient::api_proto("tcp6", v4), "tcp6");
        assert_eq!(PortDriverClient::api_proto("sctp", v6), "sctp6");
        assert_eq!(PortDriverClient::api_proto("xyz", v4), "xyz4");
        assert_eq!(PortDriverClient::api_proto("xyz6", v4), "xyz6");
    }
}
