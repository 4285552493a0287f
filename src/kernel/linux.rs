//! The real-kernel backend: [`Net`] backed by real sockets in network
//! namespaces the run creates itself (see [`super::netns`]).
//!
//! Every namespace, the host one included, is a fresh unnamed namespace
//! with only `lo` (brought up); the machine's own namespace is never
//! touched and nothing is registered with `ip netns`. Binds are restricted
//! to loopback and wildcard addresses ([`loopback_only`]) and no traffic is
//! ever sent. The bind rules are the kernel's own: this backend checks
//! nothing itself except what it refuses before any syscall, like the
//! simulated kernel: an unknown namespace (`EINVAL`), SCTP
//! (`EPROTONOSUPPORT`), port 0 (`EINVAL`; an ephemeral pick would make runs
//! differ) and a non-loopback address (`EADDRNOTAVAIL`, which the simulated
//! kernel never returns; the CLI refuses such scenarios up front).
//! `data/bind-rules.toml` is run against this backend in the tests.
//!
//! An unprivileged bind runs with `CAP_NET_BIND_SERVICE` dropped from the
//! worker thread's effective set, so `ip_unprivileged_port_start` of that
//! namespace decides, as it does for a rootless process.
//!
//! Errno values outside [`Errno`] are reported as [`Errno::EINVAL`]: the
//! socket calls made here are not expected to return any other.
//!
//! No Go code is mirrored here; `shared/reference/LINUX.md` lists the rules
//! the kernel is expected to show.

use super::netns::{self, NsThread, WithoutBindService};
use super::{BindReq, Errno, Net, NsConfig, NsId, Proto, SockId, SockInfo};
use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// listen(2) backlog; irrelevant to bind rules.
const BACKLOG: libc::c_int = 128;

/// Our errno values and Linux's numbers for them.
const ERRNOS: [(libc::c_int, Errno); 8] = [
    (libc::EADDRINUSE, Errno::EADDRINUSE),
    (libc::EACCES, Errno::EACCES),
    (libc::EBADF, Errno::EBADF),
    (libc::EINVAL, Errno::EINVAL),
    (libc::EPROTONOSUPPORT, Errno::EPROTONOSUPPORT),
    (libc::EAFNOSUPPORT, Errno::EAFNOSUPPORT),
    (libc::EADDRNOTAVAIL, Errno::EADDRNOTAVAIL),
    (libc::EOPNOTSUPP, Errno::EOPNOTSUPP),
];

/// Map a Linux errno to ours; anything else becomes `EINVAL`.
pub fn errno_from_raw(raw: libc::c_int) -> Errno {
    ERRNOS
        .iter()
        .find(|(n, _)| *n == raw)
        .map(|(_, e)| *e)
        .unwrap_or(Errno::EINVAL)
}

fn errno_of(e: &io::Error) -> Errno {
    errno_from_raw(e.raw_os_error().unwrap_or(libc::EINVAL))
}

fn last_errno() -> Errno {
    errno_of(&io::Error::last_os_error())
}

/// May this backend bind `addr`? Wildcards (`0.0.0.0`, `::`), `127.0.0.0/8`,
/// `::1`, and the IPv4-mapped forms of the IPv4 ones (`::ffff:127.0.0.1`,
/// which Linux binds as its IPv4 address on a V6ONLY=0 socket): the
/// addresses a namespace with only `lo` has. Anything else gets
/// `EADDRNOTAVAIL` from [`LinuxNet`] without a syscall; the CLI uses this
/// to refuse such a scenario up front.
pub fn loopback_only(addr: IpAddr) -> bool {
    let v4_ok = |a: Ipv4Addr| a.is_unspecified() || a.is_loopback();
    match addr {
        IpAddr::V4(a) => v4_ok(a),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => v4_ok(v4),
            None => a.is_unspecified() || a.is_loopback(),
        },
    }
}

/// `Ok` when this process may create network namespaces and bind as a
/// privileged process in them (root with `CAP_SYS_ADMIN` and
/// `CAP_NET_BIND_SERVICE`, writable `/proc/sys`); otherwise a one-line
/// reason to skip. Checked once per process.
pub fn available() -> Result<(), String> {
    static AVAILABLE: OnceLock<Result<(), String>> = OnceLock::new();
    AVAILABLE.get_or_init(netns::check_privilege).clone()
}

/// One open socket.
struct Sock {
    ns: NsId,
    fd: OwnedFd,
    req: BindReq,
    listening: bool,
}

/// Real sockets in namespaces of our own. Dropping it (also while
/// unwinding) closes every socket and stops every namespace thread; the
/// namespaces then vanish.
pub struct LinuxNet {
    namespaces: Mutex<BTreeMap<NsId, Arc<NsThread>>>,
    socks: Mutex<BTreeMap<SockId, Sock>>,
}

/// Lock a std mutex, ignoring poison (a panic elsewhere must not keep
/// Drop from closing sockets).
fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl LinuxNet {
    /// A backend with no namespaces yet; `Err` as [`available`].
    pub fn new() -> Result<LinuxNet, String> {
        available()?;
        Ok(LinuxNet {
            namespaces: Mutex::new(BTreeMap::new()),
            socks: Mutex::new(BTreeMap::new()),
        })
    }

    /// The kernel's inode number of namespace `ns` (`net:[inode]`).
    pub fn ns_inode(&self, ns: NsId) -> Option<u64> {
        guard(&self.namespaces).get(&ns).map(|t| t.inode())
    }

    fn thread(&self, ns: NsId) -> Option<Arc<NsThread>> {
        guard(&self.namespaces).get(&ns).cloned()
    }

    /// socket + options + bind on `ns`'s thread. First the refusals this
    /// backend shares with the simulated kernel, before any syscall:
    /// unknown namespace `EINVAL`, SCTP `EPROTONOSUPPORT`, port 0 `EINVAL`
    /// (an ephemeral pick would make runs differ), a non-loopback address
    /// `EADDRNOTAVAIL`.
    fn open_bound(&self, ns: NsId, req: &BindReq, privileged: bool) -> Result<OwnedFd, Errno> {
        let t = self.thread(ns).ok_or(Errno::EINVAL)?;
        if req.proto == Proto::Sctp {
            return Err(Errno::EPROTONOSUPPORT);
        }
        if req.port == 0 {
            return Err(Errno::EINVAL);
        }
        if !loopback_only(req.addr) {
            return Err(Errno::EADDRNOTAVAIL);
        }
        let req = *req;
        t.run(move || socket_bind(&req, privileged))
            .unwrap_or(Err(Errno::EINVAL))
    }

    /// `EINVAL` when `ns` was never created, as the simulated kernel.
    fn known(&self, ns: NsId) -> Result<(), Errno> {
        if guard(&self.namespaces).contains_key(&ns) {
            Ok(())
        } else {
            Err(Errno::EINVAL)
        }
    }
}

impl Drop for LinuxNet {
    fn drop(&mut self) {
        // Sockets first (closing them), then the threads (joined).
        drop(std::mem::take(&mut *guard(&self.socks)));
        drop(std::mem::take(&mut *guard(&self.namespaces)));
    }
}

/// `socket(2)`, the options of `req`, `bind(2)`: run on the namespace's
/// thread. An unprivileged bind runs without `CAP_NET_BIND_SERVICE`. On
/// error the fd is closed.
fn socket_bind(req: &BindReq, privileged: bool) -> Result<OwnedFd, Errno> {
    let family = match req.addr {
        IpAddr::V4(_) => libc::AF_INET,
        IpAddr::V6(_) => libc::AF_INET6,
    };
    let (ty, proto) = match req.proto {
        Proto::Tcp => (libc::SOCK_STREAM, libc::IPPROTO_TCP),
        Proto::Udp => (libc::SOCK_DGRAM, libc::IPPROTO_UDP),
        Proto::Sctp => return Err(Errno::EPROTONOSUPPORT),
    };
    // SAFETY: plain socket(2).
    let raw = unsafe { libc::socket(family, ty | libc::SOCK_CLOEXEC, proto) };
    if raw < 0 {
        return Err(last_errno());
    }
    // SAFETY: `raw` is a fresh fd nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    if req.reuse_addr {
        set_int(raw, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    }
    if req.reuse_port {
        set_int(raw, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    }
    if req.addr.is_ipv6() {
        set_int(
            raw,
            libc::IPPROTO_IPV6,
            libc::IPV6_V6ONLY,
            libc::c_int::from(req.v6only),
        )?;
    }
    let _caps = if privileged {
        None
    } else {
        Some(WithoutBindService::new().map_err(|e| errno_of(&e))?)
    };
    let r = match req.addr {
        IpAddr::V4(a) => {
            // SAFETY: sockaddr_in is plain old data.
            let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            sa.sin_family = libc::AF_INET as libc::sa_family_t;
            sa.sin_port = req.port.to_be();
            sa.sin_addr.s_addr = u32::from_ne_bytes(a.octets());
            // SAFETY: `sa` is a valid sockaddr_in of the length given.
            unsafe {
                libc::bind(
                    raw,
                    (&sa as *const libc::sockaddr_in).cast(),
                    std::mem::size_of_val(&sa) as libc::socklen_t,
                )
            }
        }
        IpAddr::V6(a) => {
            // SAFETY: sockaddr_in6 is plain old data.
            let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sa.sin6_port = req.port.to_be();
            sa.sin6_addr.s6_addr = a.octets();
            // SAFETY: `sa` is a valid sockaddr_in6 of the length given.
            unsafe {
                libc::bind(
                    raw,
                    (&sa as *const libc::sockaddr_in6).cast(),
                    std::mem::size_of_val(&sa) as libc::socklen_t,
                )
            }
        }
    };
    if r != 0 {
        return Err(last_errno());
    }
    Ok(fd)
}

fn set_int(fd: RawFd, level: libc::c_int, name: libc::c_int, v: libc::c_int) -> Result<(), Errno> {
    // SAFETY: an int option of the right size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 { Err(last_errno()) } else { Ok(()) }
}

fn get_int(fd: RawFd, level: libc::c_int, name: libc::c_int) -> Result<libc::c_int, Errno> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: an int option of the right size.
    let r = unsafe {
        libc::getsockopt(
            fd,
            level,
            name,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if r != 0 { Err(last_errno()) } else { Ok(v) }
}

fn listen_fd(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: listen(2) on an fd we own.
    if unsafe { libc::listen(fd, BACKLOG) } != 0 {
        return Err(last_errno());
    }
    Ok(())
}

impl Net for LinuxNet {
    fn name(&self) -> &'static str {
        "linux"
    }

    /// A new unnamed namespace on its own thread. `Err` if `ns` exists.
    fn create_ns(&self, ns: NsId, cfg: &NsConfig) -> Result<(), String> {
        let mut nss = guard(&self.namespaces);
        if nss.contains_key(&ns) {
            return Err(format!("namespace {ns} already exists"));
        }
        let t =
            NsThread::spawn(&ns.to_string(), cfg).map_err(|e| format!("namespace {ns}: {e}"))?;
        nss.insert(ns, Arc::new(t));
        Ok(())
    }

    /// `EINVAL` when `ns` was never created or `id` is already open.
    fn bind(&self, ns: NsId, id: SockId, req: &BindReq, privileged: bool) -> Result<(), Errno> {
        if guard(&self.socks).contains_key(&id) {
            return Err(Errno::EINVAL);
        }
        let fd = self.open_bound(ns, req, privileged)?;
        let mut socks = guard(&self.socks);
        if socks.contains_key(&id) {
            return Err(Errno::EINVAL); // `fd` closes here
        }
        socks.insert(
            id,
            Sock {
                ns,
                fd,
                req: *req,
                listening: false,
            },
        );
        Ok(())
    }

    /// `EINVAL` for an unknown namespace, `EBADF` for an id not open in it.
    fn listen(&self, ns: NsId, id: SockId) -> Result<(), Errno> {
        self.known(ns)?;
        let mut socks = guard(&self.socks);
        let s = socks
            .get_mut(&id)
            .filter(|s| s.ns == ns)
            .ok_or(Errno::EBADF)?;
        listen_fd(s.fd.as_raw_fd())?;
        s.listening = true;
        Ok(())
    }

    /// `EINVAL` for an unknown namespace, `EBADF` for an id not open in it.
    fn close(&self, ns: NsId, id: SockId) -> Result<(), Errno> {
        self.known(ns)?;
        let mut socks = guard(&self.socks);
        match socks.get(&id) {
            Some(s) if s.ns == ns => {
                socks.remove(&id); // closes the fd
                Ok(())
            }
            _ => Err(Errno::EBADF),
        }
    }

    fn sockets(&self, ns: NsId) -> Vec<SockInfo> {
        guard(&self.socks)
            .iter()
            .filter(|(_, s)| s.ns == ns)
            .map(|(id, s)| SockInfo {
                id: *id,
                req: s.req,
                v6only_effective: s.req.addr.is_ipv6()
                    && get_int(s.fd.as_raw_fd(), libc::IPPROTO_IPV6, libc::IPV6_V6ONLY)
                        .map(|v| v != 0)
                        .unwrap_or(s.req.v6only),
                listening: s.listening,
            })
            .collect()
    }

    fn probe(&self, ns: NsId, req: &BindReq, listen: bool, privileged: bool) -> Result<(), Errno> {
        let fd = self.open_bound(ns, req, privileged)?;
        if listen {
            listen_fd(fd.as_raw_fd())?;
        }
        Ok(()) // `fd` closes here
    }

    /// `EINVAL` for an unknown namespace, a name that is not a plain file
    /// name, or a sysctl that does not exist.
    fn sysctl(&self, ns: NsId, name: &str) -> Result<String, Errno> {
        if netns::sysctl_path(name).is_none() {
            return Err(Errno::EINVAL);
        }
        let t = self.thread(ns).ok_or(Errno::EINVAL)?;
        let name = name.to_string();
        t.run(move || netns::read_sysctl(&name).map_err(|e| errno_of(&e)))
            .unwrap_or(Err(Errno::EINVAL))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::sync::RwLock;

    /// Tests that count the process's sockets take this exclusively; the
    /// others share it, so they still run in parallel with each other.
    static FD_AUDIT: RwLock<()> = RwLock::new(());

    fn shared() -> std::sync::RwLockReadGuard<'static, ()> {
        FD_AUDIT.read().unwrap_or_else(|e| e.into_inner())
    }

    /// A LinuxNet with namespaces `0..cfgs.len()`, or `None` (after
    /// printing why) when this process cannot create namespaces.
    fn net_with(cfgs: &[NsConfig]) -> Option<LinuxNet> {
        if let Err(why) = available() {
            println!("skipped: {why}");
            return None;
        }
        let net = LinuxNet::new().unwrap();
        for (i, c) in cfgs.iter().enumerate() {
            net.create_ns(NsId(i), c).unwrap();
        }
        Some(net)
    }

    fn net(n: usize) -> Option<LinuxNet> {
        net_with(&vec![NsConfig::default(); n])
    }

    fn req(proto: Proto, addr: &str, port: u16) -> BindReq {
        BindReq {
            proto,
            addr: addr.parse().unwrap(),
            port,
            reuse_addr: false,
            reuse_port: false,
            v6only: false,
        }
    }

    const NS: NsId = NsId(0);

    #[test]
    fn loopback_only_admits_wildcards_and_loopback() {
        for a in [
            "0.0.0.0",
            "::",
            "127.0.0.1",
            "127.255.0.9",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:0.0.0.0",
        ] {
            assert!(loopback_only(a.parse().unwrap()), "{a}");
        }
        for a in [
            "10.0.0.1",
            "192.168.1.1",
            "::ffff:10.0.0.1",
            "fe80::1",
            "2001:db8::1",
        ] {
            assert!(!loopback_only(a.parse().unwrap()), "{a}");
        }
    }

    #[test]
    fn errno_mapping_covers_every_errno_and_defaults_to_einval() {
        for (raw, e) in ERRNOS {
            assert_eq!(errno_from_raw(raw), e);
        }
        assert_eq!(errno_from_raw(libc::ENOENT), Errno::EINVAL);
    }

    #[test]
    fn wildcard_twice_is_eaddrinuse_for_tcp_and_udp() {
        let _g = shared();
        let Some(n) = net(1) else { return };
        n.bind(NS, SockId(1), &req(Proto::Tcp, "0.0.0.0", 8080), true)
            .unwrap();
        n.listen(NS, SockId(1)).unwrap();
        assert_eq!(
            n.bind(NS, SockId(2), &req(Proto::Tcp, "0.0.0.0", 8080), true),
            Err(Errno::EADDRINUSE)
        );
        n.bind(NS, SockId(3), &req(Proto::Udp, "0.0.0.0", 8080), true)
            .unwrap();
        assert_eq!(
            n.bind(NS, SockId(4), &req(Proto::Udp, "0.0.0.0", 8080), true),
            Err(Errno::EADDRINUSE)
        );
        // The failed binds left no socket.
        let ids: Vec<_> = n.sockets(NS).iter().map(|s| s.id).collect();
        assert_eq!(ids, [SockId(1), SockId(3)]);
    }

    #[test]
    fn same_port_in_two_namespaces_does_not_conflict() {
        let _g = shared();
        let Some(n) = net(2) else { return };
        let r = req(Proto::Tcp, "0.0.0.0", 9000);
        n.bind(NsId(0), SockId(1), &r, true).unwrap();
        n.listen(NsId(0), SockId(1)).unwrap();
        n.bind(NsId(1), SockId(2), &r, true).unwrap();
        n.listen(NsId(1), SockId(2)).unwrap();
        assert_ne!(n.ns_inode(NsId(0)), n.ns_inode(NsId(1)));
        // Per namespace, ids are only visible where they live.
        assert_eq!(n.sockets(NsId(1)).len(), 1);
        assert_eq!(n.close(NsId(1), SockId(1)), Err(Errno::EBADF));
    }

    #[test]
    fn unprivileged_port_80_is_eacces_privileged_is_ok() {
        let _g = shared();
        let Some(n) = net(1) else { return };
        let r = req(Proto::Tcp, "127.0.0.1", 80);
        assert_eq!(n.bind(NS, SockId(1), &r, false), Err(Errno::EACCES));
        n.bind(NS, SockId(2), &r, true).unwrap();
        n.close(NS, SockId(2)).unwrap();
        // The capability came back for the privileged bind and went away
        // again for the next unprivileged one.
        assert_eq!(n.bind(NS, SockId(3), &r, false), Err(Errno::EACCES));
        assert_eq!(n.probe(NS, &r, true, false), Err(Errno::EACCES));
        assert_eq!(n.probe(NS, &r, true, true), Ok(()));
        // Unprivileged ports are fine without the capability.
        n.bind(NS, SockId(4), &req(Proto::Tcp, "127.0.0.1", 1024), false)
            .unwrap();
    }

    #[test]
    fn unprivileged_port_start_is_the_namespaces_own_setting() {
        let _g = shared();
        let low = NsConfig {
            ip_unprivileged_port_start: 80,
            ..NsConfig::default()
        };
        let Some(n) = net_with(&[NsConfig::default(), low]) else {
            return;
        };
        let r = req(Proto::Udp, "0.0.0.0", 80);
        assert_eq!(n.bind(NsId(0), SockId(1), &r, false), Err(Errno::EACCES));
        n.bind(NsId(1), SockId(2), &r, false).unwrap();
        assert_eq!(
            n.bind(NsId(1), SockId(3), &req(Proto::Udp, "0.0.0.0", 79), false),
            Err(Errno::EACCES)
        );
    }

    #[test]
    fn dual_stack_wildcard_blocks_ipv4_wildcard_v6only_does_not() {
        let _g = shared();
        let Some(n) = net(1) else { return };
        let dual = req(Proto::Tcp, "::", 7000);
        n.bind(NS, SockId(1), &dual, true).unwrap();
        n.listen(NS, SockId(1)).unwrap();
        assert_eq!(
            n.bind(NS, SockId(2), &req(Proto::Tcp, "0.0.0.0", 7000), true),
            Err(Errno::EADDRINUSE)
        );
        let v6only = BindReq {
            v6only: true,
            port: 7001,
            ..dual
        };
        n.bind(NS, SockId(3), &v6only, true).unwrap();
        n.listen(NS, SockId(3)).unwrap();
        n.bind(NS, SockId(4), &req(Proto::Tcp, "0.0.0.0", 7001), true)
            .unwrap();
    }

    #[test]
    fn sockets_report_effective_v6only_and_listening_in_id_order() {
        let _g = shared();
        let Some(n) = net(1) else { return };
        // ::1 with V6ONLY asked 0: the kernel forces it to 1.
        n.bind(NS, SockId(5), &req(Proto::Tcp, "::1", 6000), true)
            .unwrap();
        n.bind(NS, SockId(2), &req(Proto::Udp, "::", 6000), true)
            .unwrap();
        n.bind(NS, SockId(3), &req(Proto::Tcp, "127.0.0.1", 6001), true)
            .unwrap();
        n.listen(NS, SockId(5)).unwrap();
        let got: Vec<_> = n
            .sockets(NS)
            .iter()
            .map(|s| (s.id.0, s.v6only_effective, s.listening))
            .collect();
        assert_eq!(got, [(2, false, false), (3, false, false), (5, true, true)]);
    }

    #[test]
    fn close_frees_the_port_and_unknown_ids_are_ebadf() {
        let _g = shared();
        let Some(n) = net(1) else { return };
        let r = req(Proto::Tcp, "0.0.0.0", 5000);
        n.bind(NS, SockId(1), &r, true).unwrap();
        n.listen(NS, SockId(1)).unwrap();
        n.close(NS, SockId(1)).unwrap();
        assert_eq!(n.close(NS, SockId(1)), Err(Errno::EBADF));
        assert_eq!(n.listen(NS, SockId(1)), Err(Errno::EBADF));
        assert_eq!(n.close(NS, SockId(99)), Err(Errno::EBADF));
        n.bind(NS, SockId(2), &r, true).unwrap();
        // Reusing an open id is refused before any syscall.
        assert_eq!(
            n.bind(NS, SockId(2), &req(Proto::Udp, "0.0.0.0", 5001), true),
            Err(Errno::EINVAL)
        );
    }

    #[test]
    fn sctp_non_loopback_and_udp_listen_are_refused() {
        let _g = shared();
        let Some(n) = net(1) else { return };
        assert_eq!(
            n.bind(NS, SockId(1), &req(Proto::Sctp, "0.0.0.0", 80), true),
            Err(Errno::EPROTONOSUPPORT)
        );
        assert_eq!(
            n.bind(NS, SockId(2), &req(Proto::Tcp, "10.1.2.3", 80), true),
            Err(Errno::EADDRNOTAVAIL)
        );
        n.bind(NS, SockId(3), &req(Proto::Udp, "127.0.0.1", 80), true)
            .unwrap();
        assert_eq!(n.listen(NS, SockId(3)), Err(Errno::EOPNOTSUPP));
        assert_eq!(n.sockets(NS).len(), 1);
        // Port 0 would be an ephemeral pick: refused, as by SimNet.
        assert_eq!(
            n.bind(NS, SockId(5), &req(Proto::Tcp, "127.0.0.1", 0), true),
            Err(Errno::EINVAL)
        );
        // Unknown namespace, as SimNet.
        assert_eq!(
            n.bind(NsId(7), SockId(4), &req(Proto::Udp, "127.0.0.1", 81), true),
            Err(Errno::EINVAL)
        );
        assert_eq!(n.listen(NsId(7), SockId(3)), Err(Errno::EINVAL));
        assert_eq!(n.close(NsId(7), SockId(3)), Err(Errno::EINVAL));
        assert_eq!(n.sockets(NS).len(), 1);
    }

    #[test]
    fn probe_sees_conflicts_and_leaves_no_socket() {
        let _g = shared();
        let Some(n) = net(1) else { return };
        let r = BindReq {
            reuse_addr: true,
            ..req(Proto::Tcp, "127.0.0.1", 4000)
        };
        assert_eq!(n.probe(NS, &r, true, true), Ok(()));
        assert!(n.sockets(NS).is_empty());
        // The probe closed its socket: the port is still free.
        n.bind(NS, SockId(1), &r, true).unwrap();
        // Two bound-only RA sockets bind; the listen is what fails.
        assert_eq!(n.probe(NS, &r, false, true), Ok(()));
        n.listen(NS, SockId(1)).unwrap();
        assert_eq!(n.probe(NS, &r, false, true), Err(Errno::EADDRINUSE));
    }

    #[test]
    fn sysctls_are_written_into_the_namespace_not_the_machine() {
        let _g = shared();
        let host_before = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range");
        let custom = NsConfig {
            ip_local_port_range: "40000\t50000".to_string(),
            ip_local_reserved_ports: "8080,30000-30002".to_string(),
            ip_unprivileged_port_start: 80,
        };
        let high = NsConfig {
            ip_local_port_range: "50000\t50010".to_string(),
            ip_local_reserved_ports: String::new(),
            ip_unprivileged_port_start: 40000,
        };
        let Some(n) = net_with(&[NsConfig::default(), custom.clone(), high.clone()]) else {
            return;
        };
        for (i, c) in [NsConfig::default(), custom, high].iter().enumerate() {
            let ns = NsId(i);
            assert_eq!(
                n.sysctl(ns, "ip_local_port_range").unwrap(),
                c.ip_local_port_range
            );
            assert_eq!(
                n.sysctl(ns, "ip_local_reserved_ports").unwrap(),
                c.ip_local_reserved_ports
            );
            assert_eq!(
                n.sysctl(ns, "ip_unprivileged_port_start").unwrap(),
                c.ip_unprivileged_port_start.to_string()
            );
        }
        assert_eq!(n.sysctl(NS, "no_such_sysctl"), Err(Errno::EINVAL));
        assert_eq!(n.sysctl(NS, "../../kernel/hostname"), Err(Errno::EINVAL));
        assert_eq!(n.sysctl(NsId(9), "ip_local_port_range"), Err(Errno::EINVAL));
        drop(n);
        let host_after = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range");
        assert_eq!(host_before.ok(), host_after.ok());
    }

    #[test]
    fn create_ns_twice_is_an_error() {
        let _g = shared();
        let Some(n) = net(1) else { return };
        assert!(n.create_ns(NS, &NsConfig::default()).is_err());
    }

    /// Link targets of this process's fds that are sockets or namespaces.
    fn socket_fds() -> BTreeSet<String> {
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .map(|p| p.to_string_lossy().into_owned())
            .filter(|t| t.starts_with("socket:") || t.starts_with("net:"))
            .collect()
    }

    /// Namespace inodes any thread of this process is in.
    fn thread_namespaces() -> BTreeSet<u64> {
        use std::os::unix::fs::MetadataExt;
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|e| std::fs::metadata(e.ok()?.path().join("ns/net")).ok())
            .map(|m| m.ino())
            .collect()
    }

    /// Namespaces of `inodes` some thread of ours is still in. A joined
    /// thread leaves its namespace a moment after `join` returns (the
    /// kernel wakes the joiner before it drops the thread's namespaces),
    /// so this waits up to 5 s for them to go.
    fn namespaces_still_entered(inodes: &[u64]) -> Vec<u64> {
        for _ in 0..500 {
            let live = thread_namespaces();
            let left: Vec<u64> = inodes
                .iter()
                .copied()
                .filter(|i| live.contains(i))
                .collect();
            if left.is_empty() {
                return left;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let live = thread_namespaces();
        inodes
            .iter()
            .copied()
            .filter(|i| live.contains(i))
            .collect()
    }

    fn ip_netns_list() -> String {
        match std::process::Command::new("ip")
            .args(["netns", "list"])
            .output()
        {
            Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned(),
            Err(e) => format!("ip unavailable: {e}"),
        }
    }

    /// A LinuxNet with two namespaces and a few sockets; returns the
    /// namespace inodes.
    fn populated(n: &LinuxNet) -> Vec<u64> {
        n.bind(NsId(0), SockId(1), &req(Proto::Tcp, "0.0.0.0", 3000), true)
            .unwrap();
        n.listen(NsId(0), SockId(1)).unwrap();
        n.bind(NsId(1), SockId(2), &req(Proto::Udp, "::", 3000), true)
            .unwrap();
        n.bind(NsId(1), SockId(3), &req(Proto::Tcp, "::1", 3001), false)
            .unwrap();
        [NsId(0), NsId(1)]
            .iter()
            .map(|ns| n.ns_inode(*ns).unwrap())
            .collect()
    }

    #[test]
    fn drop_closes_every_fd_and_stops_every_namespace_thread() {
        let _g = FD_AUDIT.write().unwrap_or_else(|e| e.into_inner());
        let fds_before = socket_fds();
        let netns_before = ip_netns_list();
        let Some(n) = net(2) else { return };
        let inodes = populated(&n);
        assert!(socket_fds().len() >= fds_before.len() + 3);
        assert!(inodes.iter().all(|i| thread_namespaces().contains(i)));
        drop(n);
        assert_eq!(socket_fds(), fds_before);
        let left = namespaces_still_entered(&inodes);
        assert!(left.is_empty(), "threads still in namespaces {left:?}");
        assert_eq!(ip_netns_list(), netns_before);
    }

    #[test]
    fn drop_during_unwinding_closes_everything() {
        let _g = FD_AUDIT.write().unwrap_or_else(|e| e.into_inner());
        if let Err(why) = available() {
            println!("skipped: {why}");
            return;
        }
        let fds_before = socket_fds();
        let netns_before = ip_netns_list();
        let inodes = Arc::new(Mutex::new(Vec::new()));
        let seen = inodes.clone();
        let r = std::panic::catch_unwind(move || {
            let n = net(2).unwrap();
            *guard(&seen) = populated(&n);
            panic!("a world panics while the backend holds sockets");
        });
        assert!(r.is_err());
        let inodes = guard(&inodes).clone();
        assert_eq!(inodes.len(), 2);
        assert_eq!(socket_fds(), fds_before);
        assert_eq!(namespaces_still_entered(&inodes), Vec::<u64>::new());
        assert_eq!(ip_netns_list(), netns_before);
    }

    #[test]
    fn ipv6_loopback_and_ipv4_loopback_do_not_conflict() {
        let _g = shared();
        let Some(n) = net(1) else { return };
        n.bind(NS, SockId(1), &req(Proto::Tcp, "::1", 2000), true)
            .unwrap();
        n.listen(NS, SockId(1)).unwrap();
        n.bind(NS, SockId(2), &req(Proto::Tcp, "0.0.0.0", 2000), true)
            .unwrap();
    }

    #[test]
    fn world_tasks_race_for_one_port_through_kernel() {
        let _g = shared();
        if let Err(why) = available() {
            println!("skipped: {why}");
            return;
        }
        // Two world tasks on shuttle's single OS thread; each bind blocks
        // that thread on a namespace worker, which never waits for a task.
        crate::sync::run_once(|| {
            use crate::kernel::Kernel;
            use crate::sync;
            use crate::trace::Trace;
            let net: Arc<dyn Net> = Arc::new(LinuxNet::new().unwrap());
            let k = Arc::new(
                Kernel::new(
                    net,
                    &[NsConfig::default(), NsConfig::default()],
                    Trace::new(),
                )
                .unwrap(),
            );
            let tasks: Vec<_> = ["a", "b"]
                .into_iter()
                .map(|who| {
                    let k = k.clone();
                    sync::spawn(move || {
                        let r = req(Proto::Tcp, "0.0.0.0", 8443);
                        k.bind(who, NsId::HOST, &r, false, who)
                    })
                })
                .collect();
            let mut results: Vec<_> = tasks.into_iter().map(|t| t.join().unwrap()).collect();
            results.sort();
            assert_eq!(results, [Ok(SockId(1)), Err(Errno::EADDRINUSE)]);
            assert_eq!(k.sockets(NsId::HOST).len(), 1);
            assert!(k.sockets(NsId(1)).is_empty());
            assert_eq!(k.trace().len(), 2);
        });
    }

    fn kernel_release() -> String {
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|e| format!("unknown ({e})"))
    }

    #[test]
    fn every_rule_table_case_agrees_with_the_real_kernel() {
        use crate::kernel::rule_table::{RULES, load, run_all};
        let _g = shared();
        if let Err(why) = available() {
            println!("skipped: {why}");
            return;
        }
        let cases = load(RULES).unwrap();
        assert!(!cases.is_empty());
        // A fresh LinuxNet (fresh namespaces) per case.
        let bad = run_all(&|| Box::new(LinuxNet::new().unwrap()), &cases);
        assert!(
            bad.is_empty(),
            "kernel {}: {} of {} cases disagree:\n{}",
            kernel_release(),
            bad.len(),
            cases.len(),
            bad.join("\n")
        );
    }

    #[test]
    fn every_rule_table_case_agrees_on_one_shared_linuxnet() {
        use crate::kernel::rule_table::{NS_PER_CASE, RULES, load, run_case};
        let _g = shared();
        let Some(n) = net(0) else { return };
        let cases = load(RULES).unwrap();
        // Bounded, so that not hundreds of namespace threads live at once.
        for (i, c) in cases.iter().take(40).enumerate() {
            run_case(&n, i * NS_PER_CASE, c).unwrap();
        }
    }
}
