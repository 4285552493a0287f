//! rootlesskit's slirp4netns port driver, parent side, and the slirp4netns
//! process it asks to forward ports.
//!
//! Mirrors `driver.AddPort` and `driver.RemovePort` in
//! `pkg/port/slirp4netns/slirp4netns.go` (rootlesskit e780dd3) and, for the
//! other end of its API socket, `api_handle_req_add_hostfwd` and
//! `api_handle_req_remove_hostfwd` in slirp4netns's `api.c` with libslirp's
//! `tcpx_listen` / `udpx_listen`: slirp4netns (unprivileged, in the host
//! namespace) opens the host socket itself, IPv4 only.
//!
//! Unlike the builtin driver, `d.mu` is held for the whole of AddPort and
//! RemovePort, so validation, the forward and registration are one
//! critical section.

use super::validate::{go_quote, parse_ip, validate_port_spec};
use super::{DriverInfo, PortDriver, Spec, trace_add, trace_remove};
use crate::kernel::{BindReq, Kernel, NsId, Proto, SockId};
use crate::sync;
use crate::trace::Name;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

/// slirp4netns's default guest address (`recommended_vguest`), which is
/// also what its network driver reports as the child IP.
pub const DEFAULT_CHILD_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 100);

/// The slirp4netns port driver (`driver` in slirp4netns.go, e780dd3) with
/// the state of the slirp4netns process behind it.
pub struct Slirp4netns {
    kernel: Arc<Kernel>,
    layer: Name,
    /// `d.childIP`: the network driver's IPv4 child IP, may be empty.
    child_ip: Option<Ipv4Addr>,
    /// Go's `d.mu`.
    mu: sync::Mutex<()>,
    state: sync::StateCell<State>,
}

struct State {
    /// `d.ports` (Go side).
    ports: BTreeMap<u32, Spec>,
    /// slirp4netns's `ctx->hostfwds`.
    fwds: BTreeMap<u32, HostFwd>,
    /// slirp4netns's `ctx->hostfwds_nextid`.
    next_id: u32,
}

/// One forward held by slirp4netns.
struct HostFwd {
    sock: SockId,
}

/// slirp4netns's reply: `{"return":{...}}` or `{"error":{"desc":...}}`.
type Reply<T> = Result<T, String>;

impl Slirp4netns {
    /// A driver whose network driver reports [`DEFAULT_CHILD_IP`].
    pub fn new(kernel: Arc<Kernel>, layer: &str) -> Slirp4netns {
        Slirp4netns::with_child_ip(kernel, layer, Some(DEFAULT_CHILD_IP))
    }

    /// A driver with the given `d.childIP` (`RunParentDriver` sets it from
    /// the child context's IPv4 address; `None` leaves it empty).
    pub fn with_child_ip(
        kernel: Arc<Kernel>,
        layer: &str,
        child_ip: Option<Ipv4Addr>,
    ) -> Slirp4netns {
        Slirp4netns {
            kernel,
            layer: Name::new(layer),
            child_ip,
            mu: sync::Mutex::new(()),
            state: sync::StateCell::new(State {
                ports: BTreeMap::new(),
                fwds: BTreeMap::new(),
                next_id: 1,
            }),
        }
    }

    /// `driver.AddPort` (slirp4netns.go, e780dd3).
    fn add(&self, who: &str, spec: &Spec) -> Result<u32, String> {
        let _mu = sync::lock_at(&self.mu, || {
            format!("{who} {} AddPort {}", self.layer, spec.describe())
        });
        validate_port_spec(spec, &sync::state(&self.state).ports)?;
        if spec.proto.ends_with('6') {
            return Err(format!("unsupported protocol {}", go_quote(&spec.proto)));
        }
        let proto = spec.proto.strip_suffix('4').unwrap_or(&spec.proto);
        let ip = if spec.child_ip.is_empty() {
            self.child_ip.map(|a| a.to_string()).unwrap_or_default()
        } else {
            match parse_ip(&spec.child_ip) {
                None => return Err(format!("invalid IP: {}", go_quote(&spec.child_ip))),
                Some(IpAddr::V6(_)) => {
                    return Err(format!("unsupported IP (v6?): {}", spec.child_ip));
                }
                Some(IpAddr::V4(a)) => a.to_string(),
            }
        };
        let id = self
            .add_hostfwd(
                who,
                proto,
                &spec.parent_ip,
                spec.parent_port,
                &ip,
                spec.child_port,
            )
            .map_err(|desc| format!("reply.Error: map[desc:{desc}]"))?;
        sync::state(&self.state).ports.insert(id, spec.clone());
        Ok(id)
    }

    /// `driver.RemovePort` (slirp4netns.go, e780dd3). The error map is
    /// printed with `%v`, which for a map reads the same as `%+v`.
    fn remove(&self, who: &str, id: u32) -> Result<(), String> {
        let _mu = sync::lock_at(&self.mu, || format!("{who} {} RemovePort {id}", self.layer));
        self.remove_hostfwd(who, id)
            .map_err(|desc| format!("reply.Error: map[desc:{desc}]"))?;
        sync::state(&self.state).ports.remove(&id);
        Ok(())
    }

    /// slirp4netns `api_handle_req_add_hostfwd`: check the arguments, then
    /// `slirp_add_hostfwd`, which opens the host socket (TCP: SO_REUSEADDR,
    /// bind, listen; UDP: bind, SO_REUSEADDR only set after the bind, so it
    /// is not modelled). IDs count from 1 and advance only on success.
    fn add_hostfwd(
        &self,
        who: &str,
        proto: &str,
        host_addr: &str,
        host_port: i32,
        guest_addr: &str,
        guest_port: i32,
    ) -> Reply<u32> {
        const BAD: &str = "bad request: add_hostfwd:";
        let is_udp = match proto {
            "udp" => true,
            "tcp" => false,
            _ => return Err(format!("{BAD} bad arguments.proto")),
        };
        let host_addr = if host_addr.is_empty() {
            "0.0.0.0"
        } else {
            host_addr
        };
        let Ok(host) = host_addr.parse::<Ipv4Addr>() else {
            return Err(format!("{BAD} bad arguments.host_addr"));
        };
        let Ok(port) = u16::try_from(host_port) else {
            return Err(format!("{BAD} bad arguments.host_port"));
        };
        if port == 0 {
            return Err(format!("{BAD} bad arguments.host_port"));
        }
        if !guest_addr.is_empty() && guest_addr.parse::<Ipv4Addr>().is_err() {
            return Err(format!("{BAD} bad arguments.guest_addr"));
        }
        if guest_port == 0 {
            return Err(format!("{BAD} bad arguments.guest_port"));
        }
        let id = sync::state(&self.state).next_id;
        let owner = format!("{}#{id}", self.layer);
        let req = BindReq {
            proto: if is_udp { Proto::Udp } else { Proto::Tcp },
            addr: IpAddr::V4(host),
            port,
            reuse_addr: !is_udp,
            reuse_port: false,
            v6only: false,
        };
        let failed = || format!("{BAD} slirp_add_hostfwd failed");
        let sock = self
            .kernel
            .bind(who, NsId::HOST, &req, false, &owner)
            .map_err(|_| failed())?;
        if !is_udp && self.kernel.listen(who, NsId::HOST, sock).is_err() {
            let _ = self.kernel.close(who, NsId::HOST, sock);
            return Err(failed());
        }
        let mut st = sync::state(&self.state);
        st.fwds.insert(id, HostFwd { sock });
        st.next_id += 1;
        Ok(id)
    }

    /// slirp4netns `api_handle_req_remove_hostfwd`: unknown id, else close
    /// the forward's host socket and forget it.
    fn remove_hostfwd(&self, who: &str, id: u32) -> Reply<()> {
        let sock = sync::state(&self.state).fwds.get(&id).map(|f| f.sock);
        let Some(sock) = sock else {
            return Err("bad request: remove_hostfwd: bad arguments.id".to_string());
        };
        if self.kernel.close(who, NsId::HOST, sock).is_err() {
            return Err("bad request: remove_hostfwd: slirp_remove_hostfwd failed".to_string());
        }
        sync::state(&self.state).fwds.remove(&id);
        Ok(())
    }
}

impl PortDriver for Slirp4netns {
    /// `driver.Info` (slirp4netns.go, e780dd3), plus the network driver's
    /// child IP that moby must forward to (loopback is not allowed).
    fn info(&self) -> DriverInfo {
        DriverInfo {
            driver: "slirp4netns",
            protos: vec!["tcp", "tcp4", "udp", "udp4"],
            disallow_loopback_child_ip: true,
            child_ip: self.child_ip.map(IpAddr::V4),
        }
    }

    fn add_port(&self, who: &str, spec: &Spec) -> Result<u32, String> {
        let r = self.add(who, spec);
        trace_add(
            &self.kernel,
            &self.layer,
            who,
            spec,
            r.as_ref().map(|id| *id).map_err(String::as_str),
        );
        r
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
            .map(|(id, spec)| (*id, spec.clone(), st.fwds.get(id).map(|f| f.sock)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rootlesskit::api::{delete_port, post_ports};
    use crate::rootlesskit::testutil::{host_sockets, kernel, occupy, spec};
    use std::collections::BTreeSet;
    use std::sync::Mutex;

    fn driver(k: &Arc<Kernel>) -> Slirp4netns {
        Slirp4netns::new(k.clone(), "d1/rlk")
    }

    const FAILED: &str =
        "reply.Error: map[desc:bad request: add_hostfwd: slirp_add_hostfwd failed]";

    #[test]
    fn free_port_is_forwarded_by_slirp4netns_in_the_host() {
        sync::run_once(|| {
            let k = kernel();
            let d = driver(&k);
            let r = post_ports(&d, "c1", &spec("tcp4", "0.0.0.0", 8080, "10.0.2.100"));
            assert_eq!(r.status, 201);
            assert_eq!(r.created_id(), Some(1));
            assert_eq!(d.add_port("c1", &spec("udp", "", 5353, "")), Ok(2));
            assert_eq!(
                host_sockets(&k),
                [
                    "d1/rlk#1 tcp 0.0.0.0:8080 RA L",
                    "d1/rlk#2 udp 0.0.0.0:5353"
                ]
            );
            assert_eq!(d.ports().iter().map(|p| p.0).collect::<Vec<_>>(), [1, 2]);
        });
    }

    #[test]
    fn occupied_port_gives_the_reply_error_map() {
        sync::run_once(|| {
            let k = kernel();
            occupy(&k, Proto::Tcp, "0.0.0.0", 8080, false, true);
            let d = driver(&k);
            let r = post_ports(&d, "c1", &spec("tcp4", "0.0.0.0", 8080, ""));
            assert_eq!(r.status, 400);
            assert_eq!(r.client_result(), Err(FAILED.into()));
            // Privileged ports fail the same way: slirp4netns is unprivileged.
            assert_eq!(
                d.add_port("c1", &spec("tcp", "0.0.0.0", 80, "")),
                Err(FAILED.into())
            );
            // slirp4netns hands out the next id only on success.
            assert_eq!(d.add_port("c1", &spec("tcp4", "0.0.0.0", 8081, "")), Ok(1));
            assert_eq!(host_sockets(&k).len(), 2);
        });
    }

    #[test]
    fn ipv6_is_unsupported() {
        sync::run_once(|| {
            let k = kernel();
            let d = driver(&k);
            assert_eq!(
                d.add_port("c1", &spec("tcp6", "::", 8080, "")),
                Err("unsupported protocol \"tcp6\"".into())
            );
            assert_eq!(
                d.add_port("c1", &spec("tcp4", "0.0.0.0", 8080, "::1")),
                Err("unsupported IP (v6?): ::1".into())
            );
            assert_eq!(
                d.add_port("c1", &spec("tcp", "::", 8080, "")),
                Err(
                    "reply.Error: map[desc:bad request: add_hostfwd: bad arguments.host_addr]"
                        .into()
                )
            );
            assert_eq!(
                d.add_port("c1", &spec("sctp4", "", 8080, "")),
                Err("reply.Error: map[desc:bad request: add_hostfwd: bad arguments.proto]".into())
            );
            assert!(host_sockets(&k).is_empty());
        });
    }

    #[test]
    fn conflict_and_unknown_id() {
        sync::run_once(|| {
            let k = kernel();
            let d = driver(&k);
            let s = spec("tcp4", "0.0.0.0", 8080, "");
            assert_eq!(d.add_port("c1", &s), Ok(1));
            assert_eq!(d.add_port("c1", &s), Err("conflict with ID 1".into()));
            let r = delete_port(&d, "c1", 1);
            assert_eq!((r.status, r.body.as_str()), (200, ""));
            assert!(host_sockets(&k).is_empty());
            assert_eq!(
                delete_port(&d, "c1", 1).client_result(),
                Err("reply.Error: map[desc:bad request: remove_hostfwd: bad arguments.id]".into())
            );
            assert_eq!(d.add_port("c1", &s), Ok(2));
        });
    }

    #[test]
    fn info_is_slirp4netns() {
        sync::run_once(|| {
            let d = driver(&kernel());
            let i = d.info();
            assert_eq!(i.driver, "slirp4netns");
            assert_eq!(i.protos, ["tcp", "tcp4", "udp", "udp4"]);
            assert!(i.disallow_loopback_child_ip);
            assert_eq!(i.child_ip, Some(IpAddr::V4(DEFAULT_CHILD_IP)));
        });
    }

    /// The contrast with the builtin driver: one critical section for the
    /// whole AddPort, so in every interleaving the loser of a race on one
    /// spec sees the conflict, never the kernel.
    #[test]
    fn concurrent_same_spec_loser_always_sees_conflict() {
        let seen: Arc<Mutex<BTreeSet<String>>> = Arc::default();
        let seen2 = seen.clone();
        shuttle::check_dfs(
            move || {
                let k = kernel();
                let d = Arc::new(driver(&k));
                let s = spec("tcp4", "0.0.0.0", 8080, "");
                let hs: Vec<_> = ["c1", "c2"]
                    .into_iter()
                    .map(|who| {
                        let (d, s) = (d.clone(), s.clone());
                        sync::spawn(move || d.add_port(who, &s))
                    })
                    .collect();
                let rs: Vec<_> = hs.into_iter().map(|h| h.join().expect("join")).collect();
                assert!(rs.contains(&Ok(1)), "{rs:?}");
                for e in rs.into_iter().filter_map(Result::err) {
                    seen2.lock().unwrap().insert(e);
                }
            },
            None,
        );
        assert_eq!(
            *seen.lock().unwrap(),
            BTreeSet::from(["conflict with ID 1".to_string()])
        );
    }

    /// slirp4netns' own check of `guest_addr`: empty is its default and
    /// taken, anything but IPv4 is refused before a socket is opened.
    #[test]
    fn add_hostfwd_takes_an_empty_guest_address_and_refuses_a_bad_one() {
        sync::run_once(|| {
            let k = kernel();
            let d = driver(&k);
            assert_eq!(d.add_hostfwd("c1", "tcp", "", 8080, "", 80), Ok(1));
            assert_eq!(
                d.add_hostfwd("c1", "tcp", "", 8081, "::1", 80),
                Err("bad request: add_hostfwd: bad arguments.guest_addr".into())
            );
            assert_eq!(host_sockets(&k), ["d1/rlk#1 tcp 0.0.0.0:8080 RA L"]);
        });
    }
}
