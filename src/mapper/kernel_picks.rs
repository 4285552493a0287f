//! `kernel-picks`: a proposal (design H2 of `shared/reference/DESIGNS.md`;
//! it exists in no repository). The host kernel chooses the port.
//!
//! For a group asking for any port (`-p 0:80`, host range `0-0`): `AddPort`
//! the group's first host IP with `ParentPort: 0` through the rootlesskit
//! extension of [`crate::rootlesskit::ext_port_zero`]; the reply carries the
//! port P the host kernel bound. Then `AddPort` the group's other host IPs
//! at P, claim P in the PortAllocator as a fixed port, and bind the child
//! sockets at P. Any collision (`EADDRINUSE` in the host, "port is already
//! allocated" in the allocator, `EADDRINUSE` in the child, and a program
//! that binds the picked port with SO_REUSEADDR between rootlesskit's
//! bind(0) and its listen) undoes what the attempt did and asks the host
//! kernel again, up to the size of the
//! host's `ip_local_port_range` (at least ten). `bindings` holds an
//! attempt only once its reservation is taken, so the deferred cleanup
//! never releases a port this start did not reserve.
//!
//! A range (`-p 8000-8010:80`) or a fixed port cannot use port 0: such
//! groups, and every group when the port driver does not advertise the
//! extension (the pinned rootlesskit, slirp4netns), go through
//! [`super::host_first`].
//!
//! What it would change: in rootlesskit, `ValidatePortSpec` and the builtin
//! parent's `AddPort` (accept port 0, report and store the bound port,
//! advertise it in `GET /v1/info`); in moby, `MapPorts` of
//! `daemon/libnetwork/portmappers/nat/mapper_linux.go` and the rlkclient
//! (`AddPort` returning the port). Ports then come from the host's
//! ephemeral range rather than the child's, so two daemons sharing a host
//! no longer walk the same sequence (moby#53306).

use super::common::*;
use super::host_first::{attach, bind_children, unbound_bindings, undo};
use super::pr_52927::is_addr_in_use;
use super::{Env, Policy, PortBinding, PortBindingReq, RlkExt};
use crate::error::GoError;
use crate::kernel::{Errno, NsId};
use crate::rootlesskit::ext_port_zero::FEATURE;

/// At least this many attempts (the PR's `maxHostBindAttempts`).
const MIN_ATTEMPTS: usize = 10;

/// How Go's `net.Listen` reports a listen(2) `EADDRINUSE` after a
/// successful bind(2) (rootlesskit's text, through the API).
const LISTEN_IN_USE: &str = ": listen: address already in use";

pub struct KernelPicks;

impl Policy for KernelPicks {
    fn name(&self) -> &'static str {
        "kernel-picks"
    }

    fn summary(&self) -> &'static str {
        "proposal: AddPort with port 0 (rootlesskit extension), the host kernel picks; ranges go host-first"
    }

    fn map_ports(
        &self,
        env: &Env,
        who: &str,
        owner: &str,
        cfg: Vec<PortBindingReq>,
    ) -> Result<Vec<PortBinding>, GoError> {
        let any_port = cfg
            .first()
            .is_some_and(|c| c.host_port == 0 && c.host_port_end == 0);
        let extended = env.pdc.is_some_and(|p| p.has_extension(FEATURE));
        if !any_port || !extended {
            return super::host_first::map_ports(self, env, who, owner, cfg);
        }
        map_ports(self, env, who, owner, cfg)
    }

    fn rootlesskit_ext(&self) -> RlkExt {
        RlkExt { port_zero: true }
    }
}

/// The number of ports of the host's `ip_local_port_range`, at least ten.
fn host_range_size(env: &Env) -> usize {
    let size = env
        .kernel
        .sysctl(NsId::HOST, "ip_local_port_range")
        .ok()
        .and_then(|t| {
            let mut it = t.split_whitespace().map(|x| x.parse::<usize>().ok());
            let (a, b) = (it.next()??, it.next()??);
            Some(b.saturating_sub(a) + 1)
        })
        .unwrap_or(0);
    MIN_ATTEMPTS.max(size)
}

/// H2's `MapPorts` for a group asking for any port, `this` the receiver.
fn map_ports(
    this: &dyn Policy,
    env: &Env,
    who: &str,
    owner: &str,
    mut cfg: Vec<PortBindingReq>,
) -> Result<Vec<PortBinding>, GoError> {
    check_group(&cfg)?;
    let key = group_key(&cfg);
    let max_attempts = host_range_size(env);
    let Some(pdc) = env.pdc else {
        return Err(GoError::new("kernel-picks needs a rootlesskit port driver"));
    };

    with_deferred_unmap(this, env, who, |bindings| {
        set_child_host_ips(env, who, &mut cfg);
        if cfg.is_empty() {
            return Ok(Vec::new());
        }
        let addrs = child_addrs(&cfg);
        let mut attempt = 0;
        loop {
            bindings.clear();
            // 1. The host kernel picks P for the first host IP.
            let first = &cfg[0];
            let picked = pdc.add_port_zero(
                who,
                first.proto.as_str(),
                first.host_ip,
                first.child_host_ip.unwrap_or(first.host_ip),
            );
            let (rm, port) = match picked {
                Ok(x) => x,
                // A program bound the picked port (SO_REUSEADDR on both)
                // between rootlesskit's bind(0) and its listen: ask again.
                // A bind failure means the host range is exhausted.
                Err(e) if e.text.contains(LISTEN_IN_USE) && attempt < max_attempts - 1 => {
                    retry_log(env, who, 0, attempt);
                    attempt += 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut attempt_b = unbound_bindings(&cfg, port);
            attempt_b[0].port_driver_remove = Some(rm);
            // 2. The other host IPs at P. Until the reservation is taken the
            // attempt is undone here, never by the deferred cleanup.
            let err = config_port_driver(env, who, &mut attempt_b[1..]).err();
            if let Some(e) = err {
                remove_host_ports(env, who, &attempt_b);
                if !is_addr_in_use(&e) || attempt >= max_attempts - 1 {
                    return Err(e);
                }
                retry_log(env, who, port, attempt);
                attempt += 1;
                continue;
            }
            // 3. P in the allocator, as a fixed port.
            let p = i32::from(port);
            if let Err(e) = env
                .allocator
                .request_ports_in_range(who, &addrs, key.0.as_str(), p, p)
            {
                remove_host_ports(env, who, &attempt_b);
                if attempt >= max_attempts - 1 {
                    return Err(e);
                }
                retry_log(env, who, port, attempt);
                attempt += 1;
                continue;
            }
            *bindings = attempt_b;
            // 4. The child sockets at P.
            match bind_children(env, who, owner, &addrs, key.0, port, attempt) {
                Ok(socks) => {
                    attach(env, bindings, &socks);
                    return Ok(std::mem::take(bindings));
                }
                Err((e, errno)) => {
                    if errno != Errno::EADDRINUSE || attempt >= max_attempts - 1 {
                        return Err(e);
                    }
                    undo(this, env, who, bindings);
                    retry_log(env, who, port, attempt);
                    attempt += 1;
                }
            }
        }
    })
}

fn retry_log(env: &Env, who: &str, port: u16, attempt: usize) {
    env.log(
        who,
        format!(
            "collision on {port}, attempt {}: asking the host kernel again",
            attempt + 1
        ),
    );
}

/// `RemovePort` every registration of an attempt that holds no
/// reservation (nothing to release in the allocator).
fn remove_host_ports(env: &Env, who: &str, bindings: &[PortBinding]) {
    let Some(pdc) = env.pdc else { return };
    for b in bindings {
        if let Some(rm) = b.port_driver_remove
            && let Err(e) = pdc.remove(who, rm)
        {
            env.log(who, format!("Failed to remove host port: {}", e.text));
        }
    }
}

#[cfg(test)]
mod tests {
    //! The retry paths of kernel-picks, each reached without a schedule:
    //! a program strikes at one syscall of the start (a wrapper around
    //! the simulated network), or the allocator already holds the port
    //! the host kernel picks.
    use super::*;
    use crate::allocator::PortAllocator;
    use crate::kernel::sim::SimNet;
    use crate::kernel::{BindReq, Kernel, Net, NsConfig, Proto, SockId, SockInfo};
    use crate::mapper::rlkclient::PortDriverClient;
    use crate::rootlesskit::builtin::Builtin;
    use crate::trace::Trace;
    use std::net::IpAddr;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering::SeqCst};

    /// The simulated network with programs that strike at the start's
    /// syscalls and exit right after.
    #[derive(Default)]
    struct Strikes {
        inner: SimNet,
        /// This many host TCP listens lose to a program that bound the
        /// same address and port with SO_REUSEADDR and listened first.
        listen_races: AtomicUsize,
        /// This many child binds find the port held by a program in the
        /// child namespace (no SO_REUSEADDR).
        child_holders: AtomicUsize,
        /// Socket ids of those programs, apart from the kernel's.
        next_id: AtomicU32,
    }

    impl Strikes {
        fn take(n: &AtomicUsize) -> bool {
            n.fetch_update(SeqCst, SeqCst, |v| v.checked_sub(1)).is_ok()
        }

        /// Run `f` while a program holds `req` in `ns`.
        fn while_held<T>(&self, ns: NsId, req: &BindReq, listen: bool, f: impl FnOnce() -> T) -> T {
            let id = SockId(1_000_000 + self.next_id.fetch_add(1, SeqCst));
            self.inner
                .bind(ns, id, req, true)
                .expect("the program binds");
            if listen {
                self.inner.listen(ns, id).expect("the program listens");
            }
            let r = f();
            self.inner.close(ns, id).expect("the program exits");
            r
        }
    }

    impl Net for Strikes {
        fn name(&self) -> &'static str {
            "sim"
        }
        fn create_ns(&self, ns: NsId, cfg: &NsConfig) -> Result<(), String> {
            self.inner.create_ns(ns, cfg)
        }
        fn bind(&self, ns: NsId, id: SockId, req: &BindReq, privileged: bool) -> Result<(), Errno> {
            if ns != NsId::HOST && Self::take(&self.child_holders) {
                let held = BindReq {
                    reuse_addr: false,
                    ..*req
                };
                return self.while_held(ns, &held, false, || {
                    self.inner.bind(ns, id, req, privileged)
                });
            }
            self.inner.bind(ns, id, req, privileged)
        }
        fn listen(&self, ns: NsId, id: SockId) -> Result<(), Errno> {
            if ns == NsId::HOST && Self::take(&self.listen_races) {
                let s = self.sockets(ns).into_iter().find(|s| s.id == id).unwrap();
                let held = BindReq {
                    reuse_addr: true,
                    ..s.req
                };
                return self.while_held(ns, &held, true, || self.inner.listen(ns, id));
            }
            self.inner.listen(ns, id)
        }
        fn close(&self, ns: NsId, id: SockId) -> Result<(), Errno> {
            self.inner.close(ns, id)
        }
        fn sockets(&self, ns: NsId) -> Vec<SockInfo> {
            self.inner.sockets(ns)
        }
        fn probe(
            &self,
            ns: NsId,
            req: &BindReq,
            listen: bool,
            privileged: bool,
        ) -> Result<(), Errno> {
            self.inner.probe(ns, req, listen, privileged)
        }
        fn sysctl(&self, ns: NsId, name: &str) -> Result<String, Errno> {
            self.inner.sysctl(ns, name)
        }
    }

    struct World {
        net: Arc<Strikes>,
        kernel: Arc<Kernel>,
        allocator: Arc<PortAllocator>,
        pdc: PortDriverClient,
    }

    /// One daemon with the extended builtin driver; the host's
    /// `ip_local_port_range` is `lo-hi`.
    fn world(lo: u16, hi: u16) -> World {
        let net = Arc::new(Strikes::default());
        let host = NsConfig {
            ip_local_port_range: format!("{lo}\t{hi}"),
            ..NsConfig::default()
        };
        let kernel =
            Arc::new(Kernel::new(net.clone(), &[host, NsConfig::default()], Trace::new()).unwrap());
        let allocator = Arc::new(PortAllocator::from_namespace(
            &kernel,
            NsId::child(0),
            "d1/allocator",
        ));
        let driver = Builtin::new(kernel.clone(), "d1/rlk").with_port_zero();
        let pdc = PortDriverClient::new(Arc::new(driver));
        World {
            net,
            kernel,
            allocator,
            pdc,
        }
    }

    fn req(host_ip: &str, host_port: u16, host_port_end: u16) -> PortBindingReq {
        PortBindingReq {
            proto: Proto::Tcp,
            ip: "172.17.0.2".parse().unwrap(),
            port: 80,
            host_ip: host_ip.parse().unwrap(),
            host_port,
            host_port_end,
            mapper: "nat",
            child_host_ip: None,
        }
    }

    /// `MapPorts` of one group for c1: the host ports, or the error text.
    fn map(w: &World, cfg: Vec<PortBindingReq>) -> Result<Vec<u16>, String> {
        let env = Env {
            daemon: "d1",
            kernel: &w.kernel,
            ns: NsId::child(0),
            allocator: &w.allocator,
            pdc: Some(&w.pdc),
        };
        KernelPicks
            .map_ports(&env, "c1", "d1:c1", cfg)
            .map(|b| b.iter().map(|b| b.host_port).collect())
            .map_err(|e| e.text)
    }

    /// `-p 0:80` on 0.0.0.0 only.
    fn map_any(w: &World) -> Result<Vec<u16>, String> {
        map(w, vec![req("0.0.0.0", 0, 0)])
    }

    /// Trace lines (`ACTION -> RESULT`) that contain `needle`.
    fn count(w: &World, needle: &str) -> usize {
        w.kernel
            .trace()
            .events()
            .iter()
            .filter(|e| format!("{} -> {}", e.action, e.result).contains(needle))
            .count()
    }

    /// What is left after the start: host sockets, child sockets and
    /// reservations.
    fn held(w: &World) -> (usize, usize, Vec<(IpAddr, &'static str, u16)>) {
        (
            w.kernel.sockets(NsId::HOST).len(),
            w.kernel.sockets(NsId::child(0)).len(),
            w.allocator.reservations(),
        )
    }

    const LOCALHOST: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    /// In a two-port host range Linux tries the odd port first: every
    /// pick is 40001 while it is free.
    #[test]
    fn one_lost_listen_race_costs_one_attempt() {
        sync_run(|| {
            let w = world(40000, 40001);
            w.net.listen_races.store(1, SeqCst);
            assert_eq!(map_any(&w), Ok(vec![40001]));
            assert_eq!(count(&w, "AddPort "), 2);
            assert_eq!(
                count(
                    &w,
                    "-> 400 listen tcp4 0.0.0.0:0: listen: address already in use"
                ),
                1
            );
            assert_eq!(
                count(
                    &w,
                    "collision on 0, attempt 1: asking the host kernel again"
                ),
                1
            );
            assert_eq!(count(&w, "collision on"), 1);
            assert_eq!(held(&w), (1, 1, vec![(LOCALHOST, "tcp", 40001)]));
        });
    }

    #[test]
    fn ten_lost_listen_races_use_up_the_ten_attempts_of_a_small_host_range() {
        sync_run(|| {
            let w = world(40000, 40001);
            w.net.listen_races.store(10, SeqCst);
            assert_eq!(
                map_any(&w),
                Err("error while calling RootlessKit PortManager.AddPort(): listen tcp4 0.0.0.0:0: listen: address already in use".into())
            );
            assert_eq!(count(&w, "AddPort "), 10);
            assert_eq!(count(&w, "collision on 0, attempt "), 9);
            assert_eq!(held(&w), (0, 0, vec![]));
        });
    }

    #[test]
    fn an_eleven_port_host_range_allows_an_eleventh_attempt() {
        sync_run(|| {
            let w = world(40000, 40010);
            w.net.listen_races.store(10, SeqCst);
            let got = map_any(&w).expect("the eleventh pick listens");
            assert!(
                got.len() == 1 && (40000..=40010).contains(&got[0]),
                "{got:?}"
            );
            assert_eq!(count(&w, "collision on 0, attempt 10:"), 1);
            assert_eq!(count(&w, "collision on"), 10);
        });
    }

    /// Another start of the daemon holds 40001 in the allocator (the host
    /// has it free, so the host kernel picks it every time) and lets go
    /// only after the tenth collision: too late, the start has given up.
    #[test]
    fn the_allocator_holding_the_pick_costs_ten_attempts_then_its_error() {
        sync_run(|| {
            let w = world(40000, 40001);
            w.allocator
                .request_ports_in_range("c0", &[LOCALHOST], "tcp", 40001, 40001)
                .unwrap();
            let (a, seen) = (w.allocator.clone(), Arc::new(AtomicUsize::new(0)));
            w.kernel.trace().observe(move |e| {
                if e.action.as_str().starts_with("collision on")
                    && seen.fetch_add(1, SeqCst) + 1 == 10
                {
                    a.release_port("c0", LOCALHOST, "tcp", 40001);
                }
            });
            assert_eq!(
                map_any(&w),
                Err("Bind for 127.0.0.1:40001 failed: port is already allocated".into())
            );
            assert_eq!(count(&w, "AddPort "), 10);
            assert_eq!(count(&w, "RemovePort"), 10);
            assert_eq!(count(&w, "collision on 40001, attempt "), 9);
            assert_eq!(held(&w), (0, 0, vec![(LOCALHOST, "tcp", 40001)]));
        });
    }

    #[test]
    fn a_child_program_holding_the_pick_once_costs_one_attempt() {
        sync_run(|| {
            let w = world(40000, 40001);
            w.net.child_holders.store(1, SeqCst);
            assert_eq!(map_any(&w), Ok(vec![40001]));
            assert_eq!(count(&w, "AddPort "), 2);
            assert_eq!(count(&w, "collision on 40001, attempt 1:"), 1);
            assert_eq!(count(&w, "collision on"), 1);
            assert_eq!(held(&w), (1, 1, vec![(LOCALHOST, "tcp", 40001)]));
        });
    }

    #[test]
    fn ten_child_collisions_use_up_the_attempts() {
        sync_run(|| {
            let w = world(40000, 40001);
            w.net.child_holders.store(10, SeqCst);
            assert_eq!(
                map_any(&w),
                Err("failed to bind host port 127.0.0.1:40001/tcp: address already in use".into())
            );
            assert_eq!(count(&w, "AddPort "), 10);
            assert_eq!(count(&w, "collision on 40001, attempt "), 9);
            assert_eq!(held(&w), (0, 0, vec![]));
        });
    }

    /// Only `0-0` lets the host kernel pick; a range that starts or ends
    /// at 0 goes host-first, whose allocator refuses it.
    #[test]
    fn only_a_group_asking_for_any_port_sends_parent_port_zero() {
        sync_run(|| {
            for (lo, hi) in [(0, 40005), (40005, 0)] {
                let w = world(40000, 40001);
                assert_eq!(
                    map(&w, vec![req("0.0.0.0", lo, hi)]),
                    Err(format!("invalid port range: {lo}-{hi}"))
                );
                assert_eq!(count(&w, "AddPort "), 0);
            }
            let w = world(40000, 40001);
            assert_eq!(map_any(&w), Ok(vec![40001]));
            assert_eq!(
                count(
                    &w,
                    "AddPort tcp4 0.0.0.0:0 => 127.0.0.1:0 -> ok id=1 port=40001"
                ),
                1
            );
        });
    }

    fn sync_run(f: impl Fn() + Send + Sync + 'static) {
        crate::sync::run_once(f)
    }
}
