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
//!
//! [`Builtin::with_port_zero`] switches on a proposed API extension
//! ([`super::ext_port_zero`]): `ParentPort: 0` accepted, the host kernel
//! picks the port. Off by default: the pinned driver refuses port 0 with
//! `ValidatePortSpec`'s text.

use super::validate::{go_quote_int, join_host_port, parse_ip, validate_port_spec};
use super::{DriverInfo, PortDriver, Spec, trace_add, trace_remove};
use crate::kernel::{
    BindReq, Errno, Kernel, NsId, Proto, SockId, addr_port, addr_port_into, cat, push_decimal,
};
use crate::sync;
use crate::trace::Name;
use std::borrow::Cow;
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
    layer: Name,
    /// The owner of a listener not yet registered: `<layer>#?`.
    unregistered: String,
    /// Go's `d.mu`.
    mu: sync::Mutex<()>,
    /// `d.ports`, `d.stoppers`, `d.nextID`; only touched while `mu` is held.
    state: sync::StateCell<State>,
    /// The port-0 extension ([`super::ext_port_zero`]); false at e780dd3.
    port_zero: bool,
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
            layer: Name::new(layer),
            unregistered: format!("{layer}#?"),
            mu: sync::Mutex::new(()),
            state: sync::StateCell::new(State {
                ports: BTreeMap::new(),
                stoppers: BTreeMap::new(),
                next_id: 1,
            }),
            port_zero: false,
        }
    }

    /// The same driver with the proposed port-0 extension switched on
    /// ([`super::ext_port_zero`]). Not rootlesskit e780dd3 behaviour.
    pub fn with_port_zero(mut self) -> Builtin {
        self.port_zero = true;
        self
    }

    /// `driver.AddPort` returning the registered spec: the one asked for
    /// (`None`), or with the extension and `ParentPort: 0`, the one the
    /// host kernel bound (what the extended `POST /v1/ports` reply
    /// carries).
    fn add_status(&self, who: &str, spec: &Spec) -> Result<(u32, Option<Spec>), String> {
        if self.port_zero && super::ext_port_zero::asks_for_any_port(spec) {
            return super::ext_port_zero::add_port(self, who, spec)
                .map(|(id, got)| (id, Some(got)));
        }
        self.add(who, spec).map(|id| (id, None))
    }

    /// [`Builtin::add_status`] and its trace line.
    fn add_traced(&self, who: &str, spec: &Spec) -> Result<(u32, Option<Spec>), String> {
        let r = self.add_status(who, spec);
        match &r {
            Ok((id, Some(got))) if got.parent_port != spec.parent_port => self.kernel.trace().emit(
                who,
                &self.layer,
                format!("AddPort {}", spec.describe()),
                format!("ok id={id} port={}", got.parent_port),
            ),
            _ => {
                let ids = r.as_ref().map(|(id, _)| *id).map_err(String::as_str);
                trace_add(&self.kernel, &self.layer, who, spec, ids)
            }
        }
        r
    }

    /// The listen step of `driver.AddPort` (`tcp.Run` / `udp.Run`'s
    /// listen) for `spec` at `port`: the listener or the error text.
    pub(crate) fn listen(&self, who: &str, spec: &Spec, port: u16) -> Result<GoListener, String> {
        let owner = &self.unregistered;
        let k = &self.kernel;
        let listened = match spec.proto.as_str() {
            "tcp" | "tcp4" | "tcp6" => {
                go_listen_tcp(k, who, &spec.proto, &spec.parent_ip, port, owner)
            }
            "udp" | "udp4" | "udp6" => {
                go_listen_udp(k, who, &spec.proto, &spec.parent_ip, port, owner)
            }
            _ => return Err(format!("unsupported port protocol {}", spec.proto)),
        };
        listened.map_err(|e| {
            if is_eperm(&e) {
                self.annotate_eperm(e, spec)
            } else {
                e
            }
        })
    }

    /// The second critical section of `driver.AddPort`: register `spec`
    /// with its listener under `d.mu`; returns the new id.
    pub(crate) fn register(&self, who: &str, spec: Spec, listener: GoListener) -> u32 {
        let _mu = sync::lock_at(&self.mu, || {
            format!("{who} {} AddPort {} (record)", self.layer, spec.describe())
        });
        let mut st = sync::state(&self.state);
        let id = st.next_id;
        let mut owner = cat([&self.layer, "#"]);
        push_decimal(&mut owner, id.into());
        self.kernel
            .set_owner_string(NsId::HOST, listener.sock, owner);
        st.ports.insert(id, spec);
        st.stoppers.insert(id, listener);
        st.next_id += 1;
        id
    }

    /// The first critical section of `driver.AddPort` for `spec`: `f` over
    /// the registered specs under `d.mu`.
    pub(crate) fn with_ports<R>(
        &self,
        who: &str,
        spec: &Spec,
        f: impl FnOnce(&BTreeMap<u32, Spec>) -> R,
    ) -> R {
        let _mu = sync::lock_at(&self.mu, || {
            format!("{who} {} AddPort {} (check)", self.layer, spec.describe())
        });
        f(&sync::state(&self.state).ports)
    }

    /// `driver.AddPort` (parent.go, e780dd3).
    fn add(&self, who: &str, spec: &Spec) -> Result<u32, String> {
        self.with_ports(who, spec, |ports| validate_port_spec(spec, ports))?;
        let port = u16::try_from(spec.parent_port).map_err(|_| {
            format!(
                "invalid ParentPort: {}",
                go_quote_int(spec.parent_port.into())
            )
        })?;
        let listener = self.listen(who, spec, port)?;
        Ok(self.register(who, spec.clone(), listener))
    }

    /// `driver.RemovePort` (parent.go, e780dd3): `d.mu` held throughout;
    /// the listener is stopped (closed) and the id forgotten even when the
    /// stop reports an error, which is then returned.
    fn remove(&self, who: &str, id: u32) -> Result<(), String> {
        let _mu = sync::lock_at(&self.mu, || format!("{who} {} RemovePort {id}", self.layer));
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

    fn extensions(&self) -> Vec<&'static str> {
        if self.port_zero {
            vec![super::ext_port_zero::FEATURE]
        } else {
            Vec::new()
        }
    }

    fn add_port(&self, who: &str, spec: &Spec) -> Result<u32, String> {
        self.add_traced(who, spec).map(|(id, _)| id)
    }

    fn add_port_status(&self, who: &str, spec: &Spec) -> Result<(u32, Spec), String> {
        self.add_traced(who, spec)
            .map(|(id, got)| (id, got.unwrap_or_else(|| spec.clone())))
    }

    fn remove_port(&self, who: &str, id: u32) -> Result<(), String> {
        let r = self.remove(who, id);
        trace_remove(&self.kernel, &self.layer, who, id, &r);
        r
    }

    fn ports(&self) -> Vec<(u32, Spec, Option<SockId>)> {
        let st = sync::state(&self.state);
        st.ports
            .iter()
            .map(|(id, spec)| (*id, spec.clone(), st.stoppers.get(id).map(|l| l.sock)))
            .collect()
    }

    fn listeners(&self) -> Vec<(u32, Option<SockId>)> {
        let st = sync::state(&self.state);
        st.ports
            .keys()
            .map(|id| (*id, st.stoppers.get(id).map(|l| l.sock)))
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
    pub network: Cow<'static, str>,
    /// The bound local address and port as `getsockname` reports them.
    pub local: (IpAddr, u16),
}

/// A network name, without a copy when it is one of the six a listener
/// is opened for.
fn network_name(network: &str) -> Cow<'static, str> {
    const NAMES: [&str; 6] = ["tcp", "tcp4", "tcp6", "udp", "udp4", "udp6"];
    match NAMES.iter().find(|n| **n == network) {
        Some(n) => Cow::Borrowed(n),
        None => Cow::Owned(network.to_string()),
    }
}

impl GoListener {
    /// The bound local address as Go prints it: `0.0.0.0:8080`, `[::]:80`.
    pub fn local_text(&self) -> String {
        addr_port(self.local.0, self.local.1)
    }

    /// The stop routine of `tcp.Run` (`ln.Close()`, whose error reaches
    /// `RemovePort`) or `udp.Run` (`udpp.Close()`, error dropped).
    pub fn stop(&self, kernel: &Kernel, who: &str) -> Result<(), String> {
        let r = kernel.close(who, NsId::HOST, self.sock);
        match r {
            Err(e) if self.stream => Err(format!(
                "close {} {}: {}",
                self.network,
                self.local_text(),
                e.text()
            )),
            _ => Ok(()),
        }
    }
}

/// bind(2) in the host for a listener: port 0 lets the kernel pick
/// ([`Kernel::bind_ephemeral`]; reached only through the port-0
/// extension, since `ValidatePortSpec` refuses port 0). Returns the socket
/// and its bound port.
fn bind_host(
    kernel: &Kernel,
    who: &str,
    req: &BindReq,
    owner: &str,
) -> Result<(SockId, u16), Errno> {
    if req.port == 0 {
        kernel.bind_ephemeral(who, NsId::HOST, req, false, owner)
    } else {
        kernel
            .bind(who, NsId::HOST, req, false, owner)
            .map(|s| (s, req.port))
    }
}

/// A resolved address; `None` is Go's nil IP (an empty host).
type GoIp = Option<IpAddr>;

/// The addresses a literal host resolves to: one or two, in order.
struct AddrList {
    len: usize,
    ips: [GoIp; 2],
}

impl AddrList {
    fn as_slice(&self) -> &[GoIp] {
        &self.ips[..self.len]
    }
}

/// Go's `Resolver.internetAddrList` for a literal host: the empty host is
/// the nil IP; `::` also yields `0.0.0.0` (Go issue 18806); a network
/// ending in 4 or 6 keeps only that family. rootlesskit validates
/// ParentIP with `net.ParseIP` first, so the DNS branch is not reached.
fn resolve(network: &str, host: &str) -> Result<AddrList, String> {
    if host.is_empty() {
        return Ok(AddrList {
            len: 1,
            ips: [None, None],
        });
    }
    let Some(ip) = parse_ip(host) else {
        return Err(format!("lookup {host}: no such host"));
    };
    let mut ips = [Some(ip), None];
    if ip == IpAddr::V6(Ipv6Addr::UNSPECIFIED) {
        ips[1] = Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    }
    let keep = |a: &IpAddr| match network.as_bytes().last() {
        Some(b'4') => a.is_ipv4(),
        Some(b'6') => a.is_ipv6(),
        _ => true,
    };
    let mut out = AddrList {
        len: 0,
        ips: [None, None],
    };
    for a in ips.into_iter().flatten().filter(keep) {
        out.ips[out.len] = Some(a);
        out.len += 1;
    }
    if out.len == 0 {
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
    let mut s = String::new();
    go_addr_into(&mut s, la, port);
    s
}

/// [`go_addr`] appended to `out`.
fn go_addr_into(out: &mut String, la: GoIp, port: u16) {
    match la {
        None => {
            out.push(':');
            push_decimal(out, port.into());
        }
        Some(ip) => addr_port_into(out, ip, port),
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
    let la = first(addrs.as_slice(), is_v4);
    // Go's `TCPAddr.String()`, written only for an error.
    let shown = || go_addr(la, port);
    let (v6, v6only) = favorite_family(network, la);
    let addr = sockaddr(v6, la).map_err(|e| format!("listen {network} {}: {e}", shown()))?;
    let req = BindReq {
        proto: Proto::Tcp,
        addr,
        port,
        reuse_addr: true,
        reuse_port: false,
        v6only,
    };
    // `listen tcp4 0.0.0.0:P: bind: address already in use`: the retry
    // loop's error, written at every host collision, so into one buffer.
    let fail = |step: &str, e: Errno| {
        let mut s = String::with_capacity(64);
        for part in ["listen ", network, " "] {
            s.push_str(part);
        }
        go_addr_into(&mut s, la, port);
        for part in [": ", step, ": ", e.text()] {
            s.push_str(part);
        }
        s
    };
    let (sock, port) = bind_host(kernel, who, &req, owner).map_err(|e| fail("bind", e))?;
    if let Err(e) = kernel.listen(who, NsId::HOST, sock) {
        let _ = kernel.close(who, NsId::HOST, sock);
        return Err(fail("listen", e));
    }
    Ok(GoListener {
        sock,
        stream: true,
        network: network_name(network),
        local: (addr, port),
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
    let addrs = addrs.as_slice();
    // addrList.forResolve: "udp" with a bracketed host prefers non-IPv4.
    let want6 = network == "udp" && join_host_port(host, &port.to_string()).contains('[');
    let la = if want6 {
        first(addrs, |a| !is_v4(a))
    } else {
        first(addrs, is_v4)
    };
    // Go's `UDPAddr.String()`, written only for an error.
    let shown = || go_addr(la, port);
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
    .map_err(|e| format!("listen {network} {}: {e}", shown()))?;
    let req = BindReq {
        proto: Proto::Udp,
        addr,
        port,
        reuse_addr: multicast,
        reuse_port: false,
        v6only,
    };
    let (sock, port) = bind_host(kernel, who, &req, owner)
        .map_err(|e| format!("listen {network} {}: bind: {}", shown(), e.text()))?;
    Ok(GoListener {
        sock,
        stream: false,
        network: network_name(network),
        local: (addr, port),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::NsConfig;
    use crate::rootlesskit::api::{delete_port, post_ports};
    use crate::rootlesskit::testutil::{host_sockets, kernel, kernel_with, occupy, spec};
    use std::collections::BTreeSet;
    use std::sync::Mutex;

    fn driver(k: &Arc<Kernel>) -> Builtin {
        Builtin::new(k.clone(), "d1/rlk")
    }

    #[test]
    fn free_port_answers_201_and_listens_in_the_host() {
        sync::run_once(|| {
            let k = kernel();
            let d = driver(&k);
            let r = post_ports(&d, "c1", &spec("tcp4", "0.0.0.0", 8181, "127.0.0.1"));
            assert_eq!(r.status, 201);
            assert_eq!(
                r.body,
                r#"{"id":1,"spec":{"proto":"tcp4","parentIP":"0.0.0.0","parentPort":8181,"childPort":8181,"childIP":"127.0.0.1"}}"#
            );
            assert_eq!(host_sockets(&k), ["d1/rlk#1 tcp 0.0.0.0:8181 RA L"]);
            let ports = d.ports();
            assert_eq!(ports.len(), 1);
            assert_eq!(ports[0].0, 1);
            assert!(ports[0].2.is_some());
            let last = k.trace().events().last().cloned().expect("trace");
            assert_eq!(
                (
                    last.who.as_str(),
                    last.layer.as_str(),
                    last.action.as_str(),
                    last.result.as_str()
                ),
                (
                    "c1",
                    "d1/rlk",
                    "AddPort tcp4 0.0.0.0:8181 => 127.0.0.1:8181",
                    "ok id=1"
                )
            );
        });
    }

    #[test]
    fn occupied_host_port_gives_gos_listen_text() {
        sync::run_once(|| {
            let k = kernel();
            occupy(&k, Proto::Tcp, "0.0.0.0", 8181, false, true);
            let d = driver(&k);
            let r = post_ports(&d, "c1", &spec("tcp4", "0.0.0.0", 8181, "127.0.0.1"));
            assert_eq!(r.status, 400);
            assert_eq!(
                r.body,
                "{\"message\":\"listen tcp4 0.0.0.0:8181: bind: address already in use\"}\n"
            );
            assert!(d.ports().is_empty());
            assert_eq!(host_sockets(&k), ["occupant tcp 0.0.0.0:8181 RA L"]);
            let last = k.trace().events().last().cloned().expect("trace");
            assert_eq!(
                last.result,
                "400 listen tcp4 0.0.0.0:8181: bind: address already in use"
            );
        });
    }

    #[test]
    fn same_spec_twice_conflicts_with_id_1() {
        sync::run_once(|| {
            let k = kernel();
            let d = driver(&k);
            let s = spec("tcp4", "0.0.0.0", 8181, "127.0.0.1");
            assert_eq!(d.add_port("c1", &s), Ok(1));
            let r = post_ports(&d, "c2", &s);
            assert_eq!(
                (r.status, r.body.as_str()),
                (400, "{\"message\":\"conflict with ID 1\"}\n")
            );
        });
    }

    #[test]
    fn remove_twice_gives_unknown_id() {
        sync::run_once(|| {
            let k = kernel();
            let d = driver(&k);
            assert_eq!(
                d.add_port("c1", &spec("tcp4", "0.0.0.0", 8181, "127.0.0.1")),
                Ok(1)
            );
            let r = delete_port(&d, "c1", 1);
            assert_eq!((r.status, r.body.as_str()), (200, ""));
            assert!(host_sockets(&k).is_empty());
            let r = delete_port(&d, "c1", 1);
            assert_eq!(
                (r.status, r.body.as_str()),
                (400, "{\"message\":\"unknown id: 1\"}\n")
            );
            let last = k.trace().events().last().cloned().expect("trace");
            assert_eq!(
                (last.action.as_str(), last.result.as_str()),
                ("RemovePort 1", "400 unknown id: 1")
            );
        });
    }

    #[test]
    fn ids_are_never_reused_after_remove() {
        sync::run_once(|| {
            let k = kernel();
            let d = driver(&k);
            let s = spec("tcp4", "0.0.0.0", 8181, "127.0.0.1");
            assert_eq!(d.add_port("c1", &s), Ok(1));
            assert_eq!(d.remove_port("c1", 1), Ok(()));
            assert_eq!(d.add_port("c1", &s), Ok(2));
            assert_eq!(host_sockets(&k), ["d1/rlk#2 tcp 0.0.0.0:8181 RA L"]);
            // A failed AddPort takes no id either.
            assert!(d.add_port("c1", &spec("udp4", "0.0.0.0", 80, "")).is_err());
            assert_eq!(d.add_port("c1", &spec("udp4", "0.0.0.0", 8181, "")), Ok(3));
        });
    }

    #[test]
    fn loopback_against_registered_wildcard_reaches_the_kernel() {
        sync::run_once(|| {
            let k = kernel();
            let d = driver(&k);
            assert_eq!(
                d.add_port("c1", &spec("tcp4", "0.0.0.0", 8080, "127.0.0.1")),
                Ok(1)
            );
            assert_eq!(
                d.add_port("c2", &spec("tcp4", "127.0.0.1", 8080, "127.0.0.1")),
                Err("listen tcp4 127.0.0.1:8080: bind: address already in use".into())
            );
        });
    }

    #[test]
    fn privileged_port_gets_annotate_eperm_text() {
        sync::run_once(|| {
            let k = kernel();
            let d = driver(&k);
            let want = "cannot expose privileged port 80, you can add 'net.ipv4.ip_unprivileged_port_start=80' to /etc/sysctl.conf (currently 1024), or set CAP_NET_BIND_SERVICE on rootlesskit binary, or choose a larger port number (>= 1024): listen tcp4 0.0.0.0:80: bind: permission denied";
            let s = spec("tcp4", "0.0.0.0", 80, "127.0.0.1");
            assert_eq!(d.add_port("c1", &s), Err(want.into()));
            let r = post_ports(&d, "c1", &s);
            assert!(r.body.contains("(\\u003e= 1024)"), "{}", r.body);
            assert_eq!(r.client_result(), Err(want.into()));
        });
    }

    #[test]
    fn eperm_hint_follows_the_hosts_sysctl() {
        sync::run_once(|| {
            let k = kernel_with(NsConfig {
                ip_unprivileged_port_start: 80,
                ..NsConfig::default()
            });
            let d = driver(&k);
            assert_eq!(d.add_port("c1", &spec("udp4", "0.0.0.0", 80, "")), Ok(1));
            assert_eq!(
                d.add_port("c1", &spec("udp6", "::", 79, "")),
                Err("cannot expose privileged port 79, you can add 'net.ipv4.ip_unprivileged_port_start=79' to /etc/sysctl.conf (currently 80), or set CAP_NET_BIND_SERVICE on rootlesskit binary, or choose a larger port number (>= 80): listen udp6 [::]:79: bind: permission denied".into())
            );
        });
    }

    #[test]
    fn tcp6_wildcard_fails_against_a_dual_stack_listener() {
        sync::run_once(|| {
            let k = kernel();
            occupy(&k, Proto::Tcp, "::", 9000, false, true);
            let d = driver(&k);
            assert_eq!(
                d.add_port("c1", &spec("tcp6", "::", 9000, "::1")),
                Err("listen tcp6 [::]:9000: bind: address already in use".into())
            );
            assert_eq!(
                d.add_port("c1", &spec("tcp4", "0.0.0.0", 9000, "127.0.0.1")),
                Err("listen tcp4 0.0.0.0:9000: bind: address already in use".into())
            );
        });
    }

    #[test]
    fn tcp6_sets_v6only_so_tcp4_can_share_the_port() {
        sync::run_once(|| {
            let k = kernel();
            let d = driver(&k);
            assert_eq!(
                d.add_port("c1", &spec("tcp4", "0.0.0.0", 9000, "127.0.0.1")),
                Ok(1)
            );
            assert_eq!(d.add_port("c1", &spec("tcp6", "::", 9000, "::1")), Ok(2));
            assert_eq!(
                host_sockets(&k),
                [
                    "d1/rlk#1 tcp 0.0.0.0:9000 RA L",
                    "d1/rlk#2 tcp [::]:9000 RA V6ONLY=1 L"
                ]
            );
        });
    }

    #[test]
    fn plain_tcp_on_a_wildcard_listens_dual_stack_and_prints_the_ipv4_address() {
        sync::run_once(|| {
            let k = kernel();
            let d = driver(&k);
            assert_eq!(d.add_port("c1", &spec("tcp", "0.0.0.0", 9000, "")), Ok(1));
            assert_eq!(host_sockets(&k), ["d1/rlk#1 tcp [::]:9000 RA V6ONLY=0 L"]);
            assert_eq!(
                d.add_port("c1", &spec("tcp", "::", 9000, "")),
                Err("listen tcp 0.0.0.0:9000: bind: address already in use".into())
            );
            assert_eq!(
                d.add_port("c1", &spec("tcp", "", 9000, "")),
                Err("listen tcp :9000: bind: address already in use".into())
            );
            assert_eq!(
                d.add_port("c1", &spec("tcp4", "", 9000, "")),
                Err("listen tcp4 :9000: bind: address already in use".into())
            );
        });
    }

    #[test]
    fn udp_binds_without_reuse_and_prints_udp_texts() {
        sync::run_once(|| {
            let k = kernel();
            occupy(&k, Proto::Udp, "0.0.0.0", 5353, false, false);
            let d = driver(&k);
            assert_eq!(
                d.add_port("c1", &spec("udp4", "0.0.0.0", 5353, "")),
                Err("listen udp4 0.0.0.0:5353: bind: address already in use".into())
            );
            assert_eq!(
                d.add_port("c1", &spec("udp", "::", 5353, "")),
                Err("listen udp [::]:5353: bind: address already in use".into())
            );
            assert_eq!(d.add_port("c1", &spec("udp6", "::", 5353, "")), Ok(1));
            assert_eq!(host_sockets(&k)[1], "d1/rlk#1 udp [::]:5353 V6ONLY=1");
        });
    }

    /// A host program binds with SO_REUSEADDR and listens while AddPort
    /// runs. When both binds land before either listen, the second listen
    /// fails; if that is rootlesskit's, Go closes the socket and the text
    /// says `listen:`. Every interleaving is explored.
    #[test]
    fn listen_failure_closes_the_socket_and_says_listen() {
        let seen: Arc<Mutex<BTreeSet<String>>> = Arc::default();
        let seen2 = seen.clone();
        shuttle::check_dfs(
            move || {
                let k = kernel();
                let d = driver(&k);
                let k2 = k.clone();
                let occ = sync::spawn(move || {
                    let req = BindReq {
                        proto: Proto::Tcp,
                        addr: "0.0.0.0".parse().unwrap(),
                        port: 8282,
                        reuse_addr: true,
                        reuse_port: false,
                        v6only: false,
                    };
                    let s = k2.bind("occ", NsId::HOST, &req, false, "occupant").ok()?;
                    match k2.listen("occ", NsId::HOST, s) {
                        Ok(()) => Some(s),
                        Err(_) => {
                            let _ = k2.close("occ", NsId::HOST, s);
                            None
                        }
                    }
                });
                let r = d.add_port("c1", &spec("tcp4", "0.0.0.0", 8282, ""));
                let occ_won = occ.join().expect("join").is_some();
                let socks = host_sockets(&k);
                match &r {
                    Ok(1) => {
                        assert!(!occ_won);
                        assert_eq!(socks, ["d1/rlk#1 tcp 0.0.0.0:8282 RA L"]);
                    }
                    Err(e) => {
                        assert!(occ_won, "{e}");
                        assert_eq!(socks, ["occupant tcp 0.0.0.0:8282 RA L"]);
                        seen2.lock().unwrap().insert(e.clone());
                    }
                    other => panic!("{other:?}"),
                }
            },
            None,
        );
        let seen = seen.lock().unwrap();
        assert_eq!(
            *seen,
            BTreeSet::from([
                "listen tcp4 0.0.0.0:8282: bind: address already in use".to_string(),
                "listen tcp4 0.0.0.0:8282: listen: address already in use".to_string(),
            ])
        );
    }

    #[test]
    fn unsupported_and_unresolvable_specs() {
        sync::run_once(|| {
            let k = kernel();
            let d = driver(&k);
            assert_eq!(
                d.add_port("c1", &spec("sctp", "0.0.0.0", 9000, "")),
                Err("unsupported port protocol sctp".into())
            );
            assert_eq!(
                d.add_port("c1", &spec("tcp4", "::1", 9000, "")),
                Err("listen tcp4: address ::1: no suitable address found".into())
            );
            assert_eq!(
                d.add_port("c1", &spec("udp6", "127.0.0.1", 9000, "")),
                Err("address 127.0.0.1: no suitable address found".into())
            );
            assert_eq!(
                d.add_port("c1", &spec("tcp", "0.0.0.0", 0, "")),
                Err("invalid ParentPort: '\\x00'".into())
            );
            assert!(host_sockets(&k).is_empty());
        });
    }

    #[test]
    fn info_is_builtins() {
        sync::run_once(|| {
            let d = driver(&kernel());
            let i = d.info();
            assert_eq!(i.driver, "builtin");
            assert_eq!(i.protos, ["tcp", "tcp4", "tcp6", "udp", "udp4", "udp6"]);
            assert!(!i.disallow_loopback_child_ip);
            assert_eq!(i.child_ip, None);
        });
    }

    /// Two AddPorts of one spec race. Validation and registration are
    /// separate critical sections, so the loser sees either the conflict
    /// (the winner registered before it validated) or the kernel's refusal
    /// (both validated before either registered).
    #[test]
    fn concurrent_same_spec_one_wins_loser_sees_conflict_or_kernel_refusal() {
        let seen: Arc<Mutex<BTreeSet<String>>> = Arc::default();
        let seen2 = seen.clone();
        shuttle::check_dfs(
            move || {
                let k = kernel();
                let d = Arc::new(driver(&k));
                let s = spec("tcp4", "0.0.0.0", 8181, "127.0.0.1");
                let handles: Vec<_> = ["c1", "c2"]
                    .into_iter()
                    .map(|who| {
                        let (d, s) = (d.clone(), s.clone());
                        sync::spawn(move || d.add_port(who, &s))
                    })
                    .collect();
                let rs: Vec<_> = handles
                    .into_iter()
                    .map(|h| h.join().expect("join"))
                    .collect();
                let oks: Vec<_> = rs.iter().filter_map(|r| r.as_ref().ok()).collect();
                assert_eq!(oks, [&1], "{rs:?}");
                let err = rs.iter().find_map(|r| r.as_ref().err()).expect("one error");
                assert!(
                    [
                        "conflict with ID 1",
                        "listen tcp4 0.0.0.0:8181: bind: address already in use",
                        "listen tcp4 0.0.0.0:8181: listen: address already in use",
                    ]
                    .contains(&err.as_str()),
                    "{err}"
                );
                assert_eq!(host_sockets(&k), ["d1/rlk#1 tcp 0.0.0.0:8181 RA L"]);
                seen2.lock().unwrap().insert(err.clone());
            },
            None,
        );
        // Every interleaving was explored: all three outcomes occur.
        let seen = seen.lock().unwrap();
        assert_eq!(
            *seen,
            BTreeSet::from([
                "conflict with ID 1".to_string(),
                "listen tcp4 0.0.0.0:8181: bind: address already in use".to_string(),
                "listen tcp4 0.0.0.0:8181: listen: address already in use".to_string(),
            ])
        );
    }

    /// A TCP listener's failed close reaches `RemovePort` as Go's close
    /// error; a UDP socket's is dropped.
    #[test]
    fn stop_reports_a_failed_close_for_tcp_only() {
        sync::run_once(|| {
            let k = kernel();
            let tcp = go_listen_tcp(&k, "c1", "tcp4", "0.0.0.0", 8181, "rlk").unwrap();
            assert_eq!(tcp.stop(&k, "c1"), Ok(()));
            assert_eq!(
                tcp.stop(&k, "c1"),
                Err("close tcp4 0.0.0.0:8181: bad file descriptor".into())
            );
            let udp = go_listen_udp(&k, "c1", "udp4", "0.0.0.0", 5353, "rlk").unwrap();
            assert_eq!(udp.stop(&k, "c1"), Ok(()));
            assert_eq!(udp.stop(&k, "c1"), Ok(()));
        });
    }

    /// A network without a family suffix on a specific IPv4 address gets
    /// an IPv4 socket; only a wildcard or an IPv6 address gets IPv6.
    #[test]
    fn favorite_family_is_ipv4_for_a_specific_ipv4_address() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(favorite_family("tcp", ip("127.0.0.1")), (false, false));
        assert_eq!(favorite_family("udp", ip("10.0.0.1")), (false, false));
        assert_eq!(favorite_family("tcp", ip("0.0.0.0")), (true, false));
        assert_eq!(favorite_family("tcp", ip("::1")), (true, false));
    }

    /// For an IPv6 socket, `ipToSockaddr` maps a specific IPv4 address
    /// (`::ffff:a.b.c.d`) and turns only 0.0.0.0 into `::`.
    #[test]
    fn an_ipv6_sockaddr_maps_a_specific_ipv4_address() {
        let v4 = |s: &str| Some(IpAddr::V4(s.parse().unwrap()));
        assert_eq!(
            sockaddr(true, v4("127.0.0.1")),
            Ok("::ffff:127.0.0.1".parse().unwrap())
        );
        assert_eq!(sockaddr(true, v4("0.0.0.0")), Ok("::".parse().unwrap()));
    }
}
