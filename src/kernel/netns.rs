//! Namespace plumbing for the real-kernel backend ([`super::linux`]).
//!
//! Each network namespace the run needs lives on one dedicated OS thread
//! ([`NsThread`]) that called `unshare(CLONE_NEWNET)` on itself: the
//! namespace is unnamed (nothing appears in `ip netns list`), never the
//! machine's own, and it vanishes once that thread has exited and the last
//! socket created in it is closed. The thread brings `lo` up, writes the
//! namespace's sysctls, then runs jobs sent to it over a std channel, so a
//! job's `socket(2)` lands in that namespace and reads of `/proc/sys/net`
//! see that namespace's values (procfs resolves `/proc/sys/net` against the
//! calling thread's namespace).
//!
//! Why a thread and not `setns` around each call: world code runs under
//! shuttle, whose tasks are coroutines on one OS thread. Switching that
//! thread's namespace would leak into every task. A worker only ever waits
//! for its channel, never for a world task, so a caller blocking on a reply
//! cannot deadlock the world.
//!
//! Also here: [`WithoutBindService`], which drops `CAP_NET_BIND_SERVICE`
//! from the calling thread's effective set for the duration of one bind, so
//! that an unprivileged bind is refused by the kernel itself.
//!
//! No Go code is mirrored here; this is the test harness's own machinery.

use super::NsConfig;
use std::fs;
use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::sync::mpsc;
use std::thread::JoinHandle;

/// A unit of work run on a namespace's thread.
type Job = Box<dyn FnOnce() + Send + 'static>;

/// One network namespace, owned by the OS thread that created it.
///
/// Dropping it closes the job channel and joins the thread; the namespace
/// is freed by the kernel once no socket refers to it any more.
pub struct NsThread {
    tx: Option<mpsc::Sender<Job>>,
    handle: Option<JoinHandle<()>>,
    inode: u64,
}

impl NsThread {
    /// Start a thread in a new network namespace with `lo` up and the
    /// three sysctls of `cfg` written. `label` names the thread
    /// (`netns-<label>`). On error the thread has exited and nothing of
    /// the namespace remains.
    pub fn spawn(label: &str, cfg: &NsConfig) -> Result<NsThread, String> {
        let (tx, rx) = mpsc::channel::<Job>();
        let (init_tx, init_rx) = mpsc::sync_channel::<Result<u64, String>>(1);
        let cfg = cfg.clone();
        let handle = std::thread::Builder::new()
            .name(format!("netns-{label}"))
            .spawn(move || {
                let setup = enter_new_netns(&cfg);
                let ok = setup.is_ok();
                let _ = init_tx.send(setup);
                if ok {
                    serve(rx);
                }
            })
            .map_err(|e| format!("spawn namespace thread: {e}"))?;
        let inode = match init_rx.recv() {
            Ok(Ok(inode)) => inode,
            Ok(Err(e)) => {
                let _ = handle.join();
                return Err(e);
            }
            Err(_) => {
                let _ = handle.join();
                return Err("namespace thread died during setup".to_string());
            }
        };
        Ok(NsThread {
            tx: Some(tx),
            handle: Some(handle),
            inode,
        })
    }

    /// Run `f` on this namespace's thread and wait for its result. `Err`
    /// when the thread is gone or `f` panicked (the thread survives a
    /// panicking job).
    pub fn run<R, F>(&self, f: F) -> Result<R, String>
    where
        R: Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        let (reply_tx, reply_rx) = mpsc::sync_channel::<R>(1);
        let job: Job = Box::new(move || {
            let _ = reply_tx.send(f());
        });
        let tx = self.tx.as_ref().ok_or("namespace thread stopped")?;
        tx.send(job)
            .map_err(|_| "namespace thread stopped".to_string())?;
        reply_rx
            .recv()
            .map_err(|_| "namespace job panicked".to_string())
    }

    /// The namespace's inode number (as in `/proc/<tid>/ns/net ->
    /// net:[inode]`).
    pub fn inode(&self) -> u64 {
        self.inode
    }
}

impl Drop for NsThread {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The worker loop: run jobs until every sender is gone.
fn serve(rx: mpsc::Receiver<Job>) {
    while let Ok(job) = rx.recv() {
        // A panicking job drops its reply sender while unwinding, so its
        // caller sees an error; the namespace stays usable.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
    }
}

/// On the calling thread: unshare the network namespace, bring `lo` up,
/// write `cfg`; return the new namespace's inode.
fn enter_new_netns(cfg: &NsConfig) -> Result<u64, String> {
    // SAFETY: unshare only changes this thread's namespace membership.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(format!(
            "unshare(CLONE_NEWNET): {}",
            io::Error::last_os_error()
        ));
    }
    let inode = fs::metadata("/proc/thread-self/ns/net")
        .map_err(|e| format!("stat /proc/thread-self/ns/net: {e}"))?
        .ino();
    loopback_up().map_err(|e| format!("bring lo up: {e}"))?;
    write_config(cfg)?;
    Ok(inode)
}

/// `ioctl(SIOCGIFFLAGS)` then `ioctl(SIOCSIFFLAGS, flags | IFF_UP)` on
/// `lo`, from the calling thread's namespace.
fn loopback_up() -> io::Result<()> {
    // SAFETY: plain socket(2); the fd is owned at once.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh fd nobody else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: `ifr` is a valid ifreq for both ioctls.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut ifr) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel filled ifru_flags above.
    unsafe { ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: as above.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS as _, &ifr) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Write the three sysctls of `cfg`. Linux requires
/// `ip_unprivileged_port_start <= low end of ip_local_port_range` at every
/// write, so the order depends on where the range moves.
fn write_config(cfg: &NsConfig) -> Result<(), String> {
    let unpriv = cfg.ip_unprivileged_port_start.to_string();
    let current_low = read_sysctl("ip_local_port_range")
        .map_err(|e| format!("read ip_local_port_range: {e}"))?
        .split_whitespace()
        .next()
        .and_then(|s| s.parse::<u32>().ok())
        .unwrap_or(0);
    let mut order = [
        ("ip_unprivileged_port_start", unpriv.as_str()),
        ("ip_local_port_range", cfg.ip_local_port_range.as_str()),
    ];
    if u32::from(cfg.ip_unprivileged_port_start) > current_low {
        order.reverse();
    }
    for (name, value) in order.into_iter().chain([(
        "ip_local_reserved_ports",
        cfg.ip_local_reserved_ports.as_str(),
    )]) {
        write_sysctl(name, value).map_err(|e| format!("write {name} = {value:?}: {e}"))?;
    }
    Ok(())
}

/// `/proc/sys/net/ipv4/<name>`, for a name made of `[a-z0-9_]` only.
pub fn sysctl_path(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    ok.then(|| format!("/proc/sys/net/ipv4/{name}"))
}

/// Read a sysctl of the calling thread's namespace, without the trailing
/// newline. Run it on an [`NsThread`].
pub fn read_sysctl(name: &str) -> io::Result<String> {
    let path = sysctl_path(name).ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    let mut s = fs::read_to_string(path)?;
    if s.ends_with('\n') {
        s.pop();
    }
    Ok(s)
}

/// Write a sysctl of the calling thread's namespace. Run it on an
/// [`NsThread`].
pub fn write_sysctl(name: &str, value: &str) -> io::Result<()> {
    let path = sysctl_path(name).ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    fs::write(path, value)
}

/// Linux capability numbers used here (`linux/capability.h`).
const CAP_NET_BIND_SERVICE: u32 = 10;
const CAP_SYS_ADMIN: u32 = 21;
/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set.
const CAP_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// capget(2) on the calling thread (pid 0).
fn capget() -> io::Result<[CapData; 2]> {
    let mut hdr = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and a two-element data array, as version 3 requires.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut hdr, data.as_mut_ptr()) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(data)
}

/// capset(2) on the calling thread only (pid 0).
fn capset(data: &[CapData; 2]) -> io::Result<()> {
    let mut hdr = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    // SAFETY: as in capget.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut hdr, data.as_ptr()) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Is capability `cap` in the calling thread's effective set?
fn has_effective(cap: u32) -> io::Result<bool> {
    let d = capget()?;
    Ok(d[(cap / 32) as usize].effective & (1 << (cap % 32)) != 0)
}

/// While alive, the calling thread lacks `CAP_NET_BIND_SERVICE` in its
/// effective set (it stays permitted); dropping the guard restores the
/// saved sets. Not `Send`: it must be dropped on the thread that made it.
pub struct WithoutBindService {
    saved: [CapData; 2],
    _not_send: PhantomData<*const ()>,
}

impl WithoutBindService {
    pub fn new() -> io::Result<WithoutBindService> {
        let saved = capget()?;
        let mut lowered = saved;
        lowered[0].effective &= !(1 << CAP_NET_BIND_SERVICE);
        capset(&lowered)?;
        Ok(WithoutBindService {
            saved,
            _not_send: PhantomData,
        })
    }
}

impl Drop for WithoutBindService {
    fn drop(&mut self) {
        // Restoring effective bits that are still permitted cannot fail
        // for lack of privilege.
        let _ = capset(&self.saved);
    }
}

/// Can this process create network namespaces and bind as a privileged
/// process in them? `Err` is a one-line reason for skipping.
pub fn check_privilege() -> Result<(), String> {
    let probe = std::thread::Builder::new()
        .name("netns-probe".to_string())
        .spawn(|| -> Result<(), String> {
            let caps = |cap: u32, what: &str| -> Result<(), String> {
                match has_effective(cap) {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(format!(
                        "no {what} in the effective capability set (euid {})",
                        // SAFETY: geteuid cannot fail.
                        unsafe { libc::geteuid() }
                    )),
                    Err(e) => Err(format!("capget: {e}")),
                }
            };
            caps(CAP_SYS_ADMIN, "CAP_SYS_ADMIN")?;
            caps(CAP_NET_BIND_SERVICE, "CAP_NET_BIND_SERVICE")?;
            // Fails with EPERM from capset when a seccomp filter or LSM
            // forbids it; the guard restores on drop.
            drop(WithoutBindService::new().map_err(|e| format!("capset: {e}"))?);
            enter_new_netns(&NsConfig::default()).map(|_| ())
        })
        .map_err(|e| format!("spawn namespace thread: {e}"))?;
    probe
        .join()
        .unwrap_or_else(|_| Err("namespace probe panicked".to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_path_accepts_plain_names_only() {
        assert_eq!(
            sysctl_path("ip_local_port_range").as_deref(),
            Some("/proc/sys/net/ipv4/ip_local_port_range")
        );
        for bad in ["", "../ipv6/conf", "a/b", "ip local", "IP_FORWARD"] {
            assert_eq!(sysctl_path(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn capability_guard_drops_and_restores_bind_service() {
        if let Err(why) = check_privilege() {
            println!("skipped: {why}");
            return;
        }
        // On a fresh thread, so no other test sees the lowered set.
        std::thread::spawn(|| {
            assert!(has_effective(CAP_NET_BIND_SERVICE).unwrap());
            {
                let _g = WithoutBindService::new().unwrap();
                assert!(!has_effective(CAP_NET_BIND_SERVICE).unwrap());
            }
            assert!(has_effective(CAP_NET_BIND_SERVICE).unwrap());
        })
        .join()
        .unwrap();
    }

    /// `has_effective` agrees with the kernel's own account of this
    /// thread's effective set (`CapEff` in `/proc/thread-self/status`),
    /// privileged or not: a wrong answer would skip or break every
    /// real-kernel test.
    #[test]
    fn has_effective_agrees_with_proc_status() {
        let status = fs::read_to_string("/proc/thread-self/status").unwrap();
        let hex = status
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .expect("CapEff line")
            .trim();
        let eff = u64::from_str_radix(hex, 16).unwrap();
        for cap in [CAP_NET_BIND_SERVICE, CAP_SYS_ADMIN] {
            assert_eq!(
                has_effective(cap).unwrap(),
                eff & (1 << cap) != 0,
                "capability {cap}"
            );
        }
    }

    /// `check_privilege` says "skip" for any failure, so a broken step
    /// after `unshare` (bringing `lo` up) would silently skip every
    /// real-kernel test. Where `unshare(CLONE_NEWNET)` itself succeeds, the
    /// rest must too: `lo` comes up and carries a TCP connection.
    #[test]
    fn where_unshare_works_lo_comes_up() {
        std::thread::spawn(|| {
            // SAFETY: unshare only changes this (discarded) thread's namespace.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                println!("skipped: unshare: {}", io::Error::last_os_error());
                return;
            }
            loopback_up().expect("bring lo up in a fresh namespace");
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            std::net::TcpStream::connect(l.local_addr().unwrap()).expect("connect over lo");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn thread_is_in_its_own_namespace_and_serves_jobs() {
        if let Err(why) = check_privilege() {
            println!("skipped: {why}");
            return;
        }
        let host = fs::metadata("/proc/self/ns/net").unwrap().ino();
        let t = NsThread::spawn("t", &NsConfig::default()).unwrap();
        assert_ne!(t.inode(), host);
        let seen = t
            .run(|| fs::metadata("/proc/thread-self/ns/net").unwrap().ino())
            .unwrap();
        assert_eq!(seen, t.inode());
        // A panicking job reports an error and leaves the thread serving.
        assert!(t.run(|| -> u8 { panic!("job panics on purpose") }).is_err());
        assert_eq!(t.run(|| 7).unwrap(), 7);
    }

    /// Can this process unshare its network namespace? Probed on a
    /// discarded thread; `Err` is the reason to skip.
    fn unshare_works() -> Result<(), String> {
        std::thread::spawn(|| {
            // SAFETY: unshare only changes this (discarded) thread's namespace.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                return Err(format!("unshare: {}", io::Error::last_os_error()));
            }
            Ok(())
        })
        .join()
        .unwrap()
    }

    /// Where `unshare(CLONE_NEWNET)` works, a namespace thread starts
    /// with the configuration written (gated on `unshare` alone, not on
    /// [`check_privilege`], which itself enters a namespace).
    #[test]
    fn where_unshare_works_a_namespace_thread_starts_configured() {
        if let Err(why) = unshare_works() {
            println!("skipped: {why}");
            return;
        }
        let cfg = NsConfig {
            ip_local_port_range: "40000\t40009".into(),
            ip_local_reserved_ports: "40005".into(),
            ip_unprivileged_port_start: 80,
        };
        let t = NsThread::spawn("cfg", &cfg).expect("namespace thread");
        let read = |name: &'static str| t.run(move || read_sysctl(name).unwrap()).unwrap();
        assert_eq!(read("ip_local_port_range"), "40000\t40009");
        assert_eq!(read("ip_local_reserved_ports"), "40005");
        assert_eq!(read("ip_unprivileged_port_start"), "80");
    }

    /// A fresh namespace starts at unprivileged port 1024 and range
    /// 32768-60999. Raising the unprivileged start to exactly the current
    /// low end (32768) is written first, so a range below it is what the
    /// kernel refuses, and the error names that sysctl.
    #[test]
    fn an_invalid_config_is_refused_at_the_sysctl_that_breaks_it() {
        if let Err(why) = unshare_works() {
            println!("skipped: {why}");
            return;
        }
        let cfg = NsConfig {
            ip_local_port_range: "2000\t3000".into(),
            ip_local_reserved_ports: String::new(),
            ip_unprivileged_port_start: 32768,
        };
        assert_eq!(
            NsThread::spawn("bad", &cfg).err().as_deref(),
            Some("write ip_local_port_range = \"2000\\t3000\": Invalid argument (os error 22)")
        );
    }

    /// Setting the calling thread's capability sets to what they are
    /// succeeds for any process (nothing is raised).
    #[test]
    fn capset_of_the_current_sets_succeeds() {
        std::thread::spawn(|| {
            let d = capget().unwrap();
            capset(&d).unwrap();
            assert_eq!(capget().unwrap(), d);
        })
        .join()
        .unwrap();
    }

    /// Without `CAP_SYS_ADMIN` in the effective set (dropped here; the
    /// probe thread inherits this thread's sets) the probe says so.
    #[test]
    fn check_privilege_refuses_without_sys_admin() {
        std::thread::spawn(|| {
            let mut d = capget().unwrap();
            d[0].effective &= !(1 << CAP_SYS_ADMIN);
            capset(&d).unwrap();
            // SAFETY: geteuid cannot fail.
            let euid = unsafe { libc::geteuid() };
            assert_eq!(
                check_privilege(),
                Err(format!(
                    "no CAP_SYS_ADMIN in the effective capability set (euid {euid})"
                ))
            );
        })
        .join()
        .unwrap();
    }

    /// Exit codes of [`in_child`]: `Ok`, `Err` (100 + errno), a panic, or
    /// "cannot test here".
    const CHILD_OK: i32 = 0;
    const CHILD_PANIC: i32 = 99;
    const CHILD_SKIP: i32 = 98;

    fn exit_code(r: io::Result<()>) -> i32 {
        match r {
            Ok(()) => CHILD_OK,
            Err(e) => 100 + e.raw_os_error().unwrap_or(0).min(150),
        }
    }

    /// Run `f` in a forked child: it is single-threaded, so process-wide
    /// changes (closing fd 0, a file limit, a seccomp filter) stay there
    /// and are exact. The child first enters a new network namespace
    /// (`CHILD_SKIP` when it cannot). Returns the child's exit code.
    fn in_child(f: fn() -> i32) -> i32 {
        // SAFETY: the child only makes syscalls and allocates little before
        // `_exit`; it never returns into the test harness.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
        if pid == 0 {
            // SAFETY: unshare only changes this (single-threaded) process.
            let code = if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                CHILD_SKIP
            } else {
                std::panic::catch_unwind(f).unwrap_or(CHILD_PANIC)
            };
            // SAFETY: ends the child without running the parent's cleanup.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: waits for the child forked above.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(r, pid, "waitpid: {}", io::Error::last_os_error());
        assert!(libc::WIFEXITED(status), "child status {status:#x}");
        libc::WEXITSTATUS(status)
    }

    /// Asserts that `f`, run by [`in_child`], exits with `want`, or says
    /// that this machine cannot run it (no unshare, or the fault cannot
    /// be set up here).
    fn assert_child_exits(want: i32, f: fn() -> i32) {
        match in_child(f) {
            CHILD_SKIP => println!("skipped: cannot unshare or set up the fault"),
            code => assert_eq!(code, want),
        }
    }

    /// `loopback_up` with ioctl `req` failing (ENOTTY), as an exit code.
    fn loopback_up_with_failing_ioctl(req: u32) -> i32 {
        if !fail_ioctl(req) {
            return CHILD_SKIP;
        }
        exit_code(loopback_up())
    }

    /// The control socket may get descriptor 0 (stdin closed): it is a
    /// valid socket and `lo` still comes up.
    #[test]
    fn loopback_up_works_on_descriptor_zero() {
        assert_child_exits(CHILD_OK, || {
            // SAFETY: closes this child's stdin only.
            unsafe { libc::close(0) };
            exit_code(loopback_up())
        });
    }

    /// When `socket(2)` fails (no descriptor left: EMFILE) the error is
    /// returned as it is.
    #[test]
    fn loopback_up_returns_the_socket_error() {
        assert_child_exits(100 + libc::EMFILE, || {
            let none = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: lowers this child's own file limit.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &none) } != 0 {
                return CHILD_SKIP;
            }
            exit_code(loopback_up())
        });
    }

    /// Makes this (forked, single-threaded) child's ioctl `req` fail with
    /// ENOTTY by a seccomp filter; false when the filter cannot be set.
    fn fail_ioctl(req: u32) -> bool {
        let stmt = |code: u32, k: u32| libc::sock_filter {
            code: code as u16,
            jt: 0,
            jf: 0,
            k,
        };
        let jeq = |k: u32, jf: u8| libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt: 0,
            jf,
            k,
        };
        let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
        // seccomp_data: nr at offset 0, args[1] (low half) at 24.
        let mut prog = [
            stmt(load, 0),
            jeq(libc::SYS_ioctl as u32, 3),
            stmt(load, 24),
            jeq(req, 1),
            stmt(
                libc::BPF_RET | libc::BPF_K,
                libc::SECCOMP_RET_ERRNO | libc::ENOTTY as u32,
            ),
            stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
        ];
        let fprog = libc::sock_fprog {
            len: prog.len() as u16,
            filter: prog.as_mut_ptr(),
        };
        // SAFETY: a valid filter program for this child only.
        unsafe {
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
                && libc::prctl(
                    libc::PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER,
                    &fprog as *const libc::sock_fprog,
                ) == 0
        }
    }

    /// When reading `lo`'s flags fails, that error is returned: the flags
    /// are not written from an unread `ifreq`.
    #[test]
    fn loopback_up_stops_when_reading_the_flags_fails() {
        assert_child_exits(100 + libc::ENOTTY, || {
            loopback_up_with_failing_ioctl(libc::SIOCGIFFLAGS as u32)
        });
    }

    /// When writing them fails, that error is returned too: `lo` is not
    /// reported up.
    #[test]
    fn loopback_up_says_when_setting_the_flags_fails() {
        assert_child_exits(100 + libc::ENOTTY, || {
            loopback_up_with_failing_ioctl(libc::SIOCSIFFLAGS as u32)
        });
    }

    /// Dropping a namespace thread waits for it to end: what its jobs left
    /// in its thread-local storage is gone when the drop returns.
    #[test]
    fn dropping_a_namespace_thread_joins_it() {
        if let Err(why) = unshare_works() {
            println!("skipped: {why}");
            return;
        }
        thread_local! {
            static HELD: std::cell::RefCell<Option<std::sync::Arc<()>>> =
                const { std::cell::RefCell::new(None) };
        }
        let token = std::sync::Arc::new(());
        let held = token.clone();
        let t = NsThread::spawn("drop", &NsConfig::default()).expect("namespace thread");
        t.run(move || HELD.with(|h| *h.borrow_mut() = Some(held)))
            .unwrap();
        assert_eq!(std::sync::Arc::strong_count(&token), 2);
        drop(t);
        assert_eq!(std::sync::Arc::strong_count(&token), 1);
    }
}
