//! rootlesskit's builtin port driver, parent side: validate the spec, listen
//! on the parent IP and port in the HOST namespace, register the port.
//!
//! Mirrors `driver.AddPort`, `driver.RemovePort`, `isEPERM` and
//! `annotateEPERM` in `pkg/port/builtin/parent/parent.go`, and the listen
//! steps of `tcp.Run` (`pkg/port/builtin/parent/tcp/tcp.go`) and `udp.Run`
//! (`.../udp/udp.go`), rootlesskit e780dd3. The sockets Go's `net.Listen`
//! and `net.ListenUDP` open, and the error texts they print, are modelled
//! in [`go_listen_tcp`] and [`go_listen_udp`].
//!
//! Lock scope is Go's: `AddPort` validates under `d.mu`, releases it,
//! listens unlocked, and takes `d.mu` again to register — two critical
//! sections, so two identical specs can both pass validation and race in
//! the kernel. `RemovePort` holds `d.mu` for the whole call, including the
//! close of the listener.

use super::validate::{go_quote_int, join_host_port, parse_ip, validate_port_spec};
use super::{DriverInfo, PortDriver, Spec, result_text};
use crate::kernel::{BindReq, Errno, Kernel, NsId, Proto, SockId, addr_port};
use crate::sync;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// `filepath.Base(os.Args[0])` of the process serving the API. It decides
/// whether `annotateEPERM` mentions CAP_NET_BIND_SERVICE (Podman runs the
/// driver under another name and does not get that sentence).
pub const ARGV0: &str = "rootlesskit";

/// The builtin driver (`driver` in parent.go, e780dd3).
pub struct Builtin {
    kernel: Arc<Kernel>,
    layer: String,
    /// Go's `d.mu`.
    mu: sync::Mutex<()>,
    /// `d.ports`, `d.stoppers`, `d.nextID`; only touched while `mu` is held.
    state: std::sync::Mutex<State>,
}

struct State {
    ports: BTreeMap<u32, Spec>,
    stoppers: BTreeMap<u32, GoListener>,
    next_id: u32,
}

impl Builtin {
    /// `NewDriver` (parent.go): no ports, IDs from 1. `layer` names the
    /// driver in trace lines and socket owners, e.g. `d1/rlk`.
    pub fn new(kernel: Arc<Kernel>, layer: &str) -> Builtin {
        Builtin {
            kernel,
            layer: layer.to_string(),
            mu: sync::Mutex::new(()),
            state: std::sync::Mutex::new(State {
                ports: BTreeMap::new(),
                stoppers: BTreeMap::new(),
                next_id: 1,
            }),
        }
    }

    /// `driver.AddPort` (parent.go, e780dd3).
    fn add(&self, who: &str, spec: &Spec) -> Result<u32, String> {
        {
            let _mu = sync::lock(&self.mu);
            validate_port_spec(spec, &sync::state(&self.state).ports)?;
        }
        let port = u16::try_from(spec.parent_port).map_err(|_| {
            format!(
                "invalid ParentPort: {}",
                go_quote_int(spec.parent_port.into())
            )
        })?;
        let owner = format!("{}#?", self.layer);
        let k = &self.kernel;
        let listened = match spec.proto.as_str() {
            "tcp" | "tcp4" | "tcp6" => {
                go_listen_tcp(k, who, &spec.proto, &spec.parent_ip, port, &owner)
            }
            "udp" | "udp4" | "udp6" => {
                go_listen_udp(k, who, &spec.proto, &spec.parent_ip, port, &owner)
            }
            _ => return Err(format!("unsupported port protocol {}", spec.proto)),
        };
        let listener = listened.map_err(|e| {
            if is_eperm(&e) {
                self.annotate_eperm(e, spec)
            } else {
                e
            }
        })?;
        let _mu = sync::lock(&self.mu);
        let mut st = sync::state(&self.state);
        let id = st.next_id;
        self.kernel
            .set_owner(NsId::HOST, listener.sock, &format!("{}#{id}", self.layer));
        st.ports.insert(id, spec.clone());
        st.stoppers.insert(id, listener);
        st.next_id += 1;
        Ok(id)
    }

    /// `driver.RemovePort` (parent.go, e780dd3): `d.mu` held throughout;
    /// the listener is stopped (closed) and the id forgotten even when the
    /// stop reports an error, which is then returned.
    fn remove(&self, who: &str, id: u32) -> Result<(), String> {
        let _mu = sync::lock(&self.mu);
        let stop = sync::state(&self.state).stoppers.get(&id).cloned();
        let Some(listener) = stop else {
            return Err(format!("unknown id: {id}"));
        };
        let r = listener.stop(&self.kernel, who);
        let mut st = sync::state(&self.state);
        st.stoppers.remove(&id);
        st.ports.remove(&id);
        r
    }

    /// `annotateEPERM` (parent.go, e780dd3): reads the host's
    /// `ip_unprivileged_port_start` each time; any read or parse failure,
    /// or a port at or above the start, leaves the error as it was.
    fn annotate_eperm(&self, orig: String, spec: &Spec) -> String {
        let Ok(raw) = self.kernel.sysctl(NsId::HOST, "ip_unprivileged_port_start") else {
            return orig;
        };
        let Ok(start) = raw.trim().parse::<i64>() else {
            return orig;
        };
        let p = spec.parent_port;
        if i64::from(p) >= start {
            return orig;
        }
        let mut text = format!(
            "cannot expose privileged port {p}, you can add 'net.ipv4.ip_unprivileged_port_start={p}' to /etc/sysctl.conf (currently {start})"
        );
        if ARGV0 == "rootlesskit" {
            text.push_str(", or set CAP_NET_BIND_SERVICE on rootlesskit binary");
        }
        text.push_str(&format!(", or choose a larger port number (>= {start})"));
        format!("{text}: {orig}")
    }
}

/// `isEPERM` (parent.go, e780dd3). Over text only the substring test can
/// hold (the errno is EACCES, which `errors.Is(err, EPERM)` never matches).
fn is_eperm(err: &str) -> bool {
    err.contains("permission denied")
}

impl PortDriver for Builtin {
    /// `driver.Info` (parent.go, e780dd3). The builtin driver forwards to
    /// the child's loopback, so moby uses no child IP from the network
    /// driver.
    fn info(&self) -> DriverInfo {
        DriverInfo {
            driver: "builtin",
            protos: vec!["tcp", "tcp4", "tcp6", "udp", "udp4", "udp6"],
            disallow_loopback_child_ip: false,
            child_ip: None,
        }
    }

    fn add_port(&self, who: &str, spec: &Spec) -> Result<u32, String> {
        let r = self.add(who, spec);
        self.kernel.trace().emit(
            who,
            &self.layer,
            format!("AddPort {}", spec.describe()),
            result_text(&r, |id| format!("ok id={id}")),
        );
        r
    }

    fn remove_port(&self, who: &str, id: u32) -> Result<(), String> {
        let r = self.remove(who, id);
        self.kernel.trace().emit(
            who,
            &self.layer,
            format!("RemovePort {id}"),
            result_text(&r, |_| "ok".to_string()),
        );
        r
    }

    fn ports(&self) -> Vec<(u32, Spec, Option<SockId>)> {
        let st = sync::state(&self.state);
        st.ports
            .iter()
            .map(|(id, spec)| (*id, spec.clone(), st.stoppers.get(id).map(|l| l.sock)))
            .collect()
    }
}

/// A socket Go's `net` package opened in the host namespace for a listen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoListener {
    pub sock: SockId,
    /// TCP listener (`tcp.Run`) or UDP socket (`udp.Run`).
    pub stream: bool,
    /// The network name as asked (`tcp4`, `udp`, ...).
    pub network: String,
    /// The bound local address as `getsockname` reports it.
    pub local: String,
}

impl GoListener {
    /// The stop routine of `tcp.Run` (`ln.Close()`, whose error reaches
    /// `RemovePort`) or `udp.Run` (`udpp.Close()`, error dropped).
    pub fn stop(&self, kernel: &Kernel, who: &str) -> Result<(), String> {
        let r = kernel.close(who, NsId::HOST, self.sock);
        match r {
            Err(e) if self.stream => Err(format!(
                "close {} {}: {}",
                self.network,
                self.local,
                e.text()
            )),
            _ => Ok(()),
        }
    }
}

/// A resolved address; `None` is Go's nil IP (an empty host).
type GoIp = Option<IpAddr>;

/// Go's `Resolver.internetAddrList` for a literal host: the empty host is
/// the nil IP; `::` also yields `0.0.0.0` (Go issue 18806); a network
/// ending in 4 or 6 keeps only that family. rootlesskit validates
/// ParentIP with `net.ParseIP` first, so the DNS branch is not reached.
fn resolve(network: &str, host: &str) -> Result<Vec<GoIp>, String> {
    if host.is_empty() {
        return Ok(vec![None]);
    }
    let Some(ip) = parse_ip(host) else {
        return Err(format!("lookup {host}: no such host"));
    };
    let mut ips = vec![ip];
    if ip == IpAddr::V6(Ipv6Addr::UNSPECIFIED) {
        ips.push(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    }
    let keep = |a: &IpAddr| match network.as_bytes().last() {
        Some(b'4') => a.is_ipv4(),
        Some(b'6') => a.is_ipv6(),
        _ => true,
    };
    let out: Vec<GoIp> = ips.into_iter().filter(keep).map(Some).collect();
    if out.is_empty() {
        Err(format!("address {host}: no suitable address found"))
    } else {
        Ok(out)
    }
}

/// `addrList.first(strategy)`: the first address that satisfies it, else
/// the first address.
fn first(addrs: &[GoIp], pred: impl Fn(&GoIp) -> bool) -> GoIp {
    addrs
        .iter()
        .find(|a| pred(a))
        .or(addrs.first())
        .copied()
        .flatten()
}

fn is_v4(a: &GoIp) -> bool {
    matches!(a, Some(IpAddr::V4(_)))
}

/// `favoriteAddrFamily` in mode "listen": (IPv6 socket?, IPV6_V6ONLY).
/// A network without a 4/6 suffix listening on a wildcard gets a
/// dual-stack IPv6 socket (Linux supports IPv4-mapped addresses).
fn favorite_family(network: &str, la: GoIp) -> (bool, bool) {
    match network.as_bytes().last() {
        Some(b'4') => (false, false),
        Some(b'6') => (true, true),
        _ => match la {
            None => (true, false),
            Some(ip) if ip.is_unspecified() => (true, false),
            Some(ip) => (ip.is_ipv6(), false),
        },
    }
}

/// `ipToSockaddr`: the address the socket binds for family `v6`.
fn sockaddr(v6: bool, la: GoIp) -> Result<IpAddr, String> {
    match (v6, la) {
        (false, None) => Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        (false, Some(IpAddr::V4(a))) => Ok(IpAddr::V4(a)),
        (false, Some(IpAddr::V6(a))) => Err(format!("address {a}: non-IPv4 address")),
        (true, None) => Ok(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
        (true, Some(IpAddr::V4(a))) if a.is_unspecified() => Ok(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
        (true, Some(IpAddr::V4(a))) => Ok(IpAddr::V6(a.to_ipv6_mapped())),
        (true, Some(IpAddr::V6(a))) => Ok(IpAddr::V6(a)),
    }
}

/// `TCPAddr.String()` / `UDPAddr.String()`: `:P` for the nil IP.
fn go_addr(la: GoIp, port: u16) -> String {
    match la {
        None => format!(":{port}"),
        Some(ip) => addr_port(ip, port),
    }
}

/// `net.Listen(network, JoinHostPort(host, port))` for tcp, tcp4, tcp6, as
/// `tcp.Run` calls it: socket with SO_REUSEADDR (IPV6_V6ONLY=1 for tcp6),
/// bind, listen; the socket is closed when listen fails. Errors read
/// `listen tcp4 0.0.0.0:P: bind: address already in use`.
pub fn go_listen_tcp(
    kernel: &Kernel,
    who: &str,
    network: &str,
    host: &str,
    port: u16,
    owner: &str,
) -> Result<GoListener, String> {
    let addrs = resolve(network, host).map_err(|e| format!("listen {network}: {e}"))?;
    let la = first(&addrs, is_v4);
    let shown = go_addr(la, port);
    let (v6, v6only) = favorite_family(network, la);
    let addr = sockaddr(v6, la).map_err(|e| format!("listen {network} {shown}: {e}"))?;
    let req = BindReq {
        proto: Proto::Tcp,
        addr,
        port,
        reuse_addr: true,
        reuse_port: false,
        v6only,
    };
    let fail = |step: &str, e: Errno| format!("listen {network} {shown}: {step}: {}", e.text());
    let sock = kernel
        .bind(who, NsId::HOST, &req, false, owner)
        .map_err(|e| fail("bind", e))?;
    if let Err(e) = kernel.listen(who, NsId::HOST, sock) {
        let _ = kernel.close(who, NsId::HOST, sock);
        return Err(fail("listen", e));
    }
    Ok(GoListener {
        sock,
        stream: true,
        network: network.to_string(),
        local: addr_port(addr, port),
    })
}

/// `net.ResolveUDPAddr` then `net.ListenUDP` for udp, udp4, udp6, as
/// `udp.Run` calls them: socket (IPV6_V6ONLY=1 for udp6), no SO_REUSEADDR
/// (except for a multicast address, which Go binds as the wildcard with
/// SO_REUSEADDR), bind. A resolve error is returned as it is (no `listen`
/// prefix); a bind error reads `listen udp4 0.0.0.0:P: bind: ...`.
pub fn go_listen_udp(
    kernel: &Kernel,
    who: &str,
    network: &str,
    host: &str,
    port: u16,
    owner: &str,
) -> Result<GoListener, String> {
    let addrs = resolve(network, host)?;
    // addrList.forResolve: "udp" with a bracketed host prefers non-IPv4.
    let want6 = network == "udp" && join_host_port(host, &port.to_string()).contains('[');
    let la = if want6 {
        first(&addrs, |a| !is_v4(a))
    } else {
        first(&addrs, is_v4)
    };
    let shown = go_addr(la, port);
    let (v6, v6only) = favorite_family(network, la);
    let multicast = la.is_some_and(|ip| ip.is_multicast());
    let addr = if multicast {
        Ok(if v6 {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        })
    } else {
        sockaddr(v6, la)
    }
    .map_err(|e| format!("listen {network} {shown}: {e}"))?;
    let req = BindReq {
        proto: Proto::Udp,
        addr,
        port,
        reuse_addr: multicast,
        reuse_port: false,
        v6only,
    };
    let sock = kernel
        .bind(who, NsId::HOST, &req, false, owner)
        .map_err(|e| format!("listen {network} {shown}: bind: {}", e.text()))?;
    Ok(GoListener {
        sock,
        stream: false,
        network: network.to_string(),
        local: addr_port(addr, port),
    })
}
