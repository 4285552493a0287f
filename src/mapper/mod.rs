//! The nat port mapper, one module per policy behind the [`Policy`] trait.
//!
//! Mirrors `daemon/libnetwork/portmappers/nat/mapper_linux.go`:
//! `MapPorts` differs per policy ([`moby_master`] at b985e2313a,
//! [`pr_52927`] at 1afdcdeb27); `UnmapPorts`, `setChildHostIP` and
//! `configPortDriver` are the same at both commits and live in [`common`].
//! The binding types mirror `daemon/libnetwork/portmapperapi/api.go`.
//!
//! Alternatives under review are policies too: [`docker_28`] (moby
//! v28.5.2, whose retry lives in the bridge driver, reached through
//! [`Policy::bridge_ports`]), [`pr_52927_fixed`] and its range-bounded
//! variant, and two host-first proposals, [`host_first`] and
//! [`kernel_picks`] (the latter needs a rootlesskit API extension, selected
//! through [`Policy::rootlesskit_ext`]).

pub mod broken;
pub mod common;
pub mod docker_28;
pub mod host_first;
pub mod kernel_picks;
pub mod moby_master;
pub mod pr_52927;
pub mod pr_52927_fixed;
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
    closed: crate::sync::StateCell<bool>,
}

impl OsFile {
    pub fn new(ns: NsId, sock: SockId) -> Arc<OsFile> {
        Arc::new(OsFile {
            ns,
            sock,
            closed: crate::sync::StateCell::new(false),
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
        let mut s = String::with_capacity(48);
        self.go_fields().push_go_string(&mut s);
        s
    }

    /// The fields [`PortBinding::go_string`] reads, copied for a text
    /// written later.
    pub fn go_fields(&self) -> GoFields {
        GoFields {
            proto: self.proto,
            ip: self.ip,
            port: self.port,
            host_ip: self.host_ip,
            host_port: self.host_port,
            host_port_end: self.host_port_end,
        }
    }
}

/// What `types.PortBinding.String()` prints of a binding.
#[derive(Clone, Copy, Debug)]
pub struct GoFields {
    proto: Proto,
    ip: IpAddr,
    port: u16,
    host_ip: IpAddr,
    host_port: u16,
    host_port_end: u16,
}

impl GoFields {
    /// [`PortBinding::go_string`] appended to `out`.
    pub fn push_go_string(&self, s: &mut String) {
        use crate::kernel::push_decimal;
        bracket(s, self.host_ip);
        s.push(':');
        if self.host_port != 0 {
            push_decimal(s, self.host_port.into());
            if self.host_port_end != 0 && self.host_port_end != self.host_port {
                s.push('-');
                push_decimal(s, self.host_port_end.into());
            }
        }
        s.push(':');
        bracket(s, self.ip);
        s.push(':');
        push_decimal(s, self.port.into());
        s.push('/');
        s.push_str(self.proto.as_str());
    }
}

/// `ip` appended to `out`, in brackets when it is IPv6.
fn bracket(out: &mut String, ip: IpAddr) {
    if ip.is_ipv6() {
        out.push('[');
        crate::kernel::push_ip(out, ip);
        out.push(']');
    } else {
        crate::kernel::push_ip(out, ip);
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

    pub fn log(&self, who: &str, text: impl Into<crate::trace::Text>) {
        self.with_layer(|layer| self.kernel.trace().emit(who, layer, text, ""));
    }

    /// `f` with [`Env::layer`] written into a buffer this thread reuses
    /// (taken out while `f` runs, so a nested call makes its own).
    pub fn with_layer<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        thread_local! {
            static BUF: std::cell::Cell<String> = const { std::cell::Cell::new(String::new()) };
        }
        let mut buf = BUF.take();
        buf.clear();
        buf.push_str(self.daemon);
        buf.push_str("/nat");
        let r = f(&buf);
        BUF.set(buf);
        r
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
    /// The bridge driver's own port code, for a policy whose retry lives in
    /// the bridge driver instead of a nat mapper (moby v28.5.2). `None`
    /// (every other policy): the bridge driver of moby master calls
    /// [`Policy::map_ports`] per group and [`Policy::unmap_ports`] per
    /// binding.
    fn bridge_ports(&self) -> Option<&dyn BridgePorts> {
        None
    }
    /// Whether the daemon's port allocator skips the child namespace's
    /// `ip_local_reserved_ports` for default-range requests (moby master
    /// does; v28.5.2's `portallocator.go` does not read them).
    fn skips_reserved_ports(&self) -> bool {
        true
    }
    /// The rootlesskit API extensions this policy needs from the daemon's
    /// port driver. None by default: the pinned API.
    fn rootlesskit_ext(&self) -> RlkExt {
        RlkExt::default()
    }
}

/// rootlesskit API extensions a policy may ask for. Each one is a proposal
/// (it exists in no rootlesskit release); the pinned drivers refuse what
/// it adds unless the world enables it for a policy that asks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RlkExt {
    /// `ParentPort: 0` accepted by the builtin driver: the host kernel
    /// picks the port and the reply carries it
    /// ([`crate::rootlesskit::ext_port_zero`]).
    pub port_zero: bool,
}

/// What the bridge driver lends a policy that replaces its port code
/// ([`BridgePorts`]): docker-proxy, and the record of the failing group
/// that the convergence checker reads.
pub trait BridgeHooks {
    /// Start docker-proxy for a binding that holds a bound child socket
    /// (the socket is handed over and this process's copy closed).
    fn start_proxy(&self, env: &Env, who: &str, b: &mut PortBinding);
    /// Stop a binding's docker-proxy (its descriptor was the last one).
    fn stop_proxy(&self, env: &Env, who: &str, p: &Proxy);
    /// The group being mapped now (`Some`), or none failed (`None`).
    fn set_failed_group(&self, who: &str, group: Option<Vec<PortBindingReq>>);
}

/// A bridge driver's port code in place of moby master's: the start
/// (`addPortMappings` after `sortAndNormPBs`) and the release of an
/// endpoint's bindings at stop. Used by [`docker_28`].
pub trait BridgePorts: Sync {
    /// `addPortMappings` over the sorted, normalised requests.
    fn add_port_mappings(
        &self,
        env: &Env,
        hooks: &dyn BridgeHooks,
        who: &str,
        owner: &str,
        reqs: Vec<PortBindingReq>,
    ) -> Result<Vec<PortBinding>, GoError>;
    /// The stop: release every binding of the endpoint (after the bridge
    /// took them under the network's lock).
    fn release_port_bindings(
        &self,
        env: &Env,
        hooks: &dyn BridgeHooks,
        who: &str,
        pbs: &[PortBinding],
    ) -> Result<(), GoError>;
    /// Whether the stop holds the driver's `configNetwork`
    /// (`RevokeExternalConnectivity` at v28.5.2 does).
    fn stop_holds_config_network(&self) -> bool;
}

/// Every policy, in the order `--help` lists them.
pub fn policies() -> Vec<&'static dyn Policy> {
    vec![
        &moby_master::MobyMaster,
        &pr_52927::Pr52927,
        &docker_28::Docker28,
        &pr_52927_fixed::Pr52927Fixed,
        &pr_52927_fixed::Pr52927Unbounded,
        &host_first::HostFirst,
        &kernel_picks::KernelPicks,
    ]
}

/// Look a policy up by name.
pub fn by_name(name: &str) -> Option<&'static dyn Policy> {
    policies().into_iter().find(|p| p.name() == name)
}

#[cfg(test)]
mod tests {
    //! The mapper and bridge behaviour of every policy on every shipped
    //! scenario, inside the unit-test binary: `tests/scenarios.rs` checks
    //! the same reports against the same reviewed snapshots, but from a
    //! second test binary, which costs cargo-mutants a second build of the
    //! crate per mutant (`scripts/mutants.sh`). Here the report text of
    //! each replay is compared with the body of
    //! `snapshots/SCENARIO__POLICY.snap`, so a mutant that changes any
    //! trace line, outcome, error text or verdict fails `cargo test --lib`.
    use super::{Kernel, NsId, OsFile, policies};
    use crate::explore::{KernelKind, run_seed};
    use std::path::Path;
    use std::sync::Arc;

    /// The snapshot's body: what follows insta's `---` header.
    fn snapshot_body(path: &Path) -> String {
        let s = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let rest = s.strip_prefix("---\n").expect("insta header");
        let end = rest.find("\n---\n").expect("end of insta header");
        rest[end + 5..].trim_end().to_string()
    }

    /// After docker-proxy received the socket, this process's `Close`
    /// must not reach the port table: the proxy's socket stays open and
    /// a second close says "file already closed", as Go's does.
    #[test]
    fn a_file_closed_after_the_handoff_leaves_the_socket_to_the_proxy() {
        crate::sync::run_once(|| {
            use crate::kernel::{BindReq, NsConfig, Proto, sim::SimNet};
            let k = Kernel::new(
                Arc::new(SimNet::new()),
                &[NsConfig::default()],
                crate::trace::Trace::new(),
            )
            .unwrap();
            let req = BindReq {
                proto: Proto::Tcp,
                addr: "127.0.0.1".parse().unwrap(),
                port: 32768,
                reuse_addr: true,
                reuse_port: false,
                v6only: false,
            };
            let s = k.bind("c1", NsId(0), &req, false, "d1:c1").unwrap();
            let f = OsFile::new(NsId(0), s);
            f.close_after_handoff();
            assert!(f.is_closed());
            assert_eq!(
                f.close(&k, "c1").map_err(|e| e.text),
                Err("close listener: file already closed".to_string())
            );
            assert_eq!(
                k.sockets(NsId(0)).len(),
                1,
                "the proxy's socket is still open"
            );
        });
    }

    /// `portsim --help` and `compare` print these lines; the README's
    /// policy table says the same. A changed summary is a reviewed change.
    #[test]
    fn every_policy_has_its_reviewed_name_and_summary() {
        let got: Vec<(&str, &str)> = policies().iter().map(|p| (p.name(), p.summary())).collect();
        assert_eq!(
            got,
            [
                (
                    "moby-master",
                    "moby master b985e2313a: child-namespace probe only, no host-side retry"
                ),
                (
                    "pr-52927",
                    "moby PR #52927 head 1afdcdeb27: retry allocate+AddPort on host EADDRINUSE (10 attempts)"
                ),
                (
                    "docker-28",
                    "moby v28.5.2: bridge driver retries allocate+bind+AddPort+listen 10 times, any error"
                ),
                (
                    "pr-52927-fixed",
                    "PR #52927 with bindings truncated before each allocation (stale-bindings fix); 10 attempts"
                ),
                (
                    "pr-52927-unbounded",
                    "pr-52927-fixed retrying up to the size of the port range (at least 10), not 10"
                ),
                (
                    "host-first",
                    "proposal: reserve, AddPort (host listen) first, then bind the child at that port; retry either collision"
                ),
                (
                    "kernel-picks",
                    "proposal: AddPort with port 0 (rootlesskit extension), the host kernel picks; ranges go host-first"
                ),
            ]
        );
        for p in policies() {
            assert_eq!(
                super::by_name(p.name()).map(|q| q.summary()),
                Some(p.summary())
            );
        }
        assert!(super::by_name("no-such-policy").is_none());
    }

    fn req(host_port: u16, host_port_end: u16) -> super::PortBindingReq {
        super::PortBindingReq {
            proto: crate::kernel::Proto::Tcp,
            ip: "172.17.0.2".parse().unwrap(),
            port: 80,
            host_ip: "::".parse().unwrap(),
            host_port,
            host_port_end,
            mapper: "nat",
            child_host_ip: None,
        }
    }

    /// Only an exact host port (S-S, S > 0) is not for the allocator to
    /// pick.
    #[test]
    fn only_an_exact_host_port_is_not_dynamic() {
        assert!(!req(8080, 8080).is_dynamic());
        assert!(req(0, 0).is_dynamic());
        assert!(req(8000, 8010).is_dynamic());
        assert!(req(0, 8010).is_dynamic());
    }

    /// `types.PortBinding.String()`: the host port end only for a real
    /// range, IPv6 addresses in brackets, no host port for 0.
    #[test]
    fn a_binding_prints_as_go_prints_it() {
        let b = |host_port, host_port_end| {
            let r = req(host_port, host_port_end);
            super::PortBinding {
                proto: r.proto,
                ip: r.ip,
                port: r.port,
                host_ip: r.host_ip,
                host_port,
                host_port_end,
                mapper: r.mapper,
                nat: None,
                bound_socket: None,
                child_host_ip: r.host_ip,
                port_driver_remove: None,
                stop_proxy: None,
                rootlesskit_unsupported: false,
            }
            .go_string()
        };
        assert_eq!(b(8000, 8010), "[::]:8000-8010:172.17.0.2:80/tcp");
        assert_eq!(b(8000, 8000), "[::]:8000:172.17.0.2:80/tcp");
        assert_eq!(b(8000, 0), "[::]:8000:172.17.0.2:80/tcp");
        assert_eq!(b(0, 0), "[::]::172.17.0.2:80/tcp");
    }

    /// moby master's allocator skips the child namespace's
    /// `ip_local_reserved_ports`; v28.5.2's `portallocator.go` does not
    /// read them and hands out the reserved port.
    #[test]
    fn the_reserved_ports_are_skipped_by_moby_master_but_not_by_docker_28() {
        let sc = Arc::new(
            crate::scenario::parse_str(
                "t.toml",
                r#"
name = "t"
steps = ["start c1"]
[[daemon]]
name = "d1"
port_range = "32768-32770"
reserved_ports = "32768"
[[container]]
name = "c1"
publish = ["0:80"]
"#,
            )
            .unwrap(),
        );
        let start = |p| {
            let t = run_seed(&sc, super::by_name(p).unwrap(), 0, KernelKind::Sim)
                .unwrap()
                .text();
            t.lines()
                .find_map(|l| l.split_once("start c1 -> ").map(|(_, r)| r.to_string()))
                .unwrap_or_else(|| panic!("{t}"))
        };
        assert_eq!(start("moby-master"), "ok 32769");
        assert_eq!(start("docker-28"), "ok 32768");
    }

    #[test]
    fn every_shipped_scenario_replays_to_its_snapshot_under_every_policy() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files: Vec<_> = std::fs::read_dir(root.join("scenarios"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        assert!(files.len() >= 20, "the shipped scenarios");
        let mut differ = Vec::new();
        for f in &files {
            let sc = Arc::new(crate::scenario::load(f).unwrap_or_else(|e| panic!("{e}")));
            let stem = f.file_stem().unwrap().to_string_lossy().into_owned();
            for p in policies() {
                let r = run_seed(&sc, p, sc.seed.unwrap_or(0), KernelKind::Sim).expect("run");
                if let Some(miss) = &r.expectations {
                    assert!(
                        miss.is_empty(),
                        "{stem} under {}: {}",
                        p.name(),
                        miss.join("; ")
                    );
                }
                let snap = root
                    .join("snapshots")
                    .join(format!("{stem}__{}.snap", p.name()));
                if r.text().trim_end() != snapshot_body(&snap) {
                    differ.push(format!("{stem}__{}", p.name()));
                }
            }
        }
        assert!(
            differ.is_empty(),
            "reports differ from their snapshots: {differ:?}"
        );
    }
}
