//! Network namespaces and their port tables, behind the [`Net`] trait.
//!
//! [`Net`] is what a backend implements: the simulated kernel in
//! [`sim`] (Linux bind rules as measured in `shared/reference/LINUX.md`)
//! or real sockets in namespaces the run creates itself. [`Kernel`] wraps a
//! backend for the world: it makes every syscall one scheduling point (a
//! namespace lock held for exactly that syscall), assigns socket ids in
//! program order so traces do not depend on the backend, remembers who owns
//! each socket, and writes one trace line per syscall.

#[cfg(target_os = "linux")]
pub mod linux;
#[cfg(target_os = "linux")]
pub mod netns;
pub mod rule_table;
pub mod sim;

use crate::sync;
use crate::trace::{Name, Render, Text, Trace};
use serde::Serialize;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

/// A transport protocol, as moby spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
    Sctp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }

    pub fn parse(s: &str) -> Option<Proto> {
        match s {
            "tcp" => Some(Proto::Tcp),
            "udp" => Some(Proto::Udp),
            "sctp" => Some(Proto::Sctp),
            _ => None,
        }
    }

    /// moby's `types.Protocol` numbering (IPPROTO_*), used for sorting.
    pub fn number(self) -> u8 {
        match self {
            Proto::Tcp => 6,
            Proto::Udp => 17,
            Proto::Sctp => 132,
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The errno values the port-mapping code can meet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[allow(clippy::upper_case_acronyms)]
pub enum Errno {
    EADDRINUSE,
    EACCES,
    EBADF,
    EINVAL,
    EPROTONOSUPPORT,
    EAFNOSUPPORT,
    EADDRNOTAVAIL,
    EOPNOTSUPP,
}

impl Errno {
    /// The text Go prints for this errno (`syscall.Errno.Error()`).
    pub fn text(self) -> &'static str {
        match self {
            Errno::EADDRINUSE => "address already in use",
            Errno::EACCES => "permission denied",
            Errno::EBADF => "bad file descriptor",
            Errno::EINVAL => "invalid argument",
            Errno::EPROTONOSUPPORT => "protocol not supported",
            Errno::EAFNOSUPPORT => "address family not supported by protocol",
            Errno::EADDRNOTAVAIL => "cannot assign requested address",
            Errno::EOPNOTSUPP => "operation not supported",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Errno::EADDRINUSE => "EADDRINUSE",
            Errno::EACCES => "EACCES",
            Errno::EBADF => "EBADF",
            Errno::EINVAL => "EINVAL",
            Errno::EPROTONOSUPPORT => "EPROTONOSUPPORT",
            Errno::EAFNOSUPPORT => "EAFNOSUPPORT",
            Errno::EADDRNOTAVAIL => "EADDRNOTAVAIL",
            Errno::EOPNOTSUPP => "EOPNOTSUPP",
        }
    }

    pub fn from_name(s: &str) -> Option<Errno> {
        [
            Errno::EADDRINUSE,
            Errno::EACCES,
            Errno::EBADF,
            Errno::EINVAL,
            Errno::EPROTONOSUPPORT,
            Errno::EAFNOSUPPORT,
            Errno::EADDRNOTAVAIL,
            Errno::EOPNOTSUPP,
        ]
        .into_iter()
        .find(|e| e.name() == s)
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

/// A namespace: 0 is the host, `d + 1` is daemon `d`'s child namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct NsId(pub usize);

impl NsId {
    pub const HOST: NsId = NsId(0);

    pub fn child(daemon: usize) -> NsId {
        NsId(daemon + 1)
    }
}

impl fmt::Display for NsId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            f.write_str("host")
        } else {
            write!(f, "child{}", self.0)
        }
    }
}

/// A socket, numbered by [`Kernel`] in the order the program opened it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct SockId(pub u32);

impl fmt::Display for SockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}", self.0)
    }
}

/// socket(2) + setsockopt(2) + bind(2) in one request: the options are set
/// before the bind, as every program we model does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct BindReq {
    pub proto: Proto,
    pub addr: IpAddr,
    pub port: u16,
    /// SO_REUSEADDR
    pub reuse_addr: bool,
    /// SO_REUSEPORT
    pub reuse_port: bool,
    /// IPV6_V6ONLY as asked (IPv6 sockets only; ignored for IPv4).
    pub v6only: bool,
}

impl BindReq {
    /// The socket address as Go prints it: `127.0.0.1:80`, `[::1]:80`.
    pub fn addr_port(&self) -> String {
        addr_port(self.addr, self.port)
    }

    /// `tcp 127.0.0.1:80 RA V6ONLY` style summary for traces.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        self.describe_into(&mut s);
        s
    }

    /// [`BindReq::describe`] appended to `out` (one buffer, no pieces).
    pub fn describe_into(&self, out: &mut String) {
        out.push_str(self.proto.as_str());
        out.push(' ');
        addr_port_into(out, self.addr, self.port);
        if self.reuse_addr {
            out.push_str(" RA");
        }
        if self.reuse_port {
            out.push_str(" RP");
        }
        if self.addr.is_ipv6() {
            out.push_str(if self.v6only {
                " V6ONLY=1"
            } else {
                " V6ONLY=0"
            });
        }
    }
}

/// `ip:port` with brackets around IPv6, as Go's `net.JoinHostPort`.
pub fn addr_port(addr: IpAddr, port: u16) -> String {
    let mut s = String::new();
    addr_port_into(&mut s, addr, port);
    s
}

/// [`addr_port`] appended to `out`.
pub fn addr_port_into(out: &mut String, addr: IpAddr, port: u16) {
    if addr.is_ipv6() {
        out.push('[');
        push_ip(out, addr);
        out.push(']');
    } else {
        push_ip(out, addr);
    }
    out.push(':');
    push_decimal(out, port.into());
}

/// `addr` appended to `out` as its `Display` writes it (IPv4 dotted
/// quads written here without the formatting machinery).
pub fn push_ip(out: &mut String, addr: IpAddr) {
    match addr {
        // The two addresses every scenario uses, as `Display` writes them.
        IpAddr::V4(a) if a.is_unspecified() => out.push_str("0.0.0.0"),
        IpAddr::V4(a) if a == std::net::Ipv4Addr::LOCALHOST => out.push_str("127.0.0.1"),
        IpAddr::V4(a) => {
            for (i, o) in a.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                push_decimal(out, o.into());
            }
        }
        IpAddr::V6(a) if a.is_unspecified() => out.push_str("::"),
        IpAddr::V6(a) if a.is_loopback() => out.push_str("::1"),
        IpAddr::V6(a) => {
            use std::fmt::Write;
            let _ = write!(out, "{a}");
        }
    }
}

/// The parts written one after another into one buffer of the right
/// size: what `format!("{a}{b}")` makes for plain strings, without the
/// formatting machinery (about a thousand instructions a call, and these
/// texts are written at every host collision or binding).
pub fn cat<const N: usize>(parts: [&str; N]) -> String {
    let mut s = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        s.push_str(p);
    }
    s
}

/// `n` in decimal appended to `out`, as `Display` writes it.
pub fn push_decimal(out: &mut String, n: i64) {
    /// "00", "01", ..., "99": two digits at a time.
    const PAIRS: &[u8; 200] = b"00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899";
    // Written from the lowest digits at the end of the buffer, then
    // copied once.
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    let mut v = n.unsigned_abs();
    while v >= 100 {
        let p = 2 * (v % 100) as usize;
        v /= 100;
        at -= 2;
        buf[at..at + 2].copy_from_slice(&PAIRS[p..p + 2]);
    }
    if v >= 10 {
        let p = 2 * v as usize;
        at -= 2;
        buf[at..at + 2].copy_from_slice(&PAIRS[p..p + 2]);
    } else {
        at -= 1;
        buf[at] = b'0' + v as u8;
    }
    if n < 0 {
        out.push('-');
    }
    // SAFETY: `buf[at..]` holds ASCII digits only.
    out.push_str(unsafe { std::str::from_utf8_unchecked(&buf[at..]) });
}

/// What a backend reports about one open socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SockInfo {
    pub id: SockId,
    pub req: BindReq,
    /// V6ONLY as the kernel applies it (a specific IPv6 address forces 1).
    pub v6only_effective: bool,
    pub listening: bool,
}

/// Per-namespace settings, as a fresh Linux namespace has them by default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NsConfig {
    /// `net.ipv4.ip_local_port_range`, e.g. "32768\t60999".
    pub ip_local_port_range: String,
    /// `net.ipv4.ip_local_reserved_ports`, e.g. "" or "8080,30000-30002".
    pub ip_local_reserved_ports: String,
    /// `net.ipv4.ip_unprivileged_port_start`.
    pub ip_unprivileged_port_start: u16,
}

impl Default for NsConfig {
    fn default() -> Self {
        NsConfig {
            ip_local_port_range: "32768\t60999".to_string(),
            ip_local_reserved_ports: String::new(),
            ip_unprivileged_port_start: 1024,
        }
    }
}

/// A kernel backend: namespaces with port tables. Every method is one
/// atomic step; [`Kernel`] adds scheduling points and tracing around them.
pub trait Net: Send + Sync {
    /// Short name for messages: "sim" or "linux".
    fn name(&self) -> &'static str;
    /// Create namespace `ns` with `cfg` (called once per namespace, in order).
    fn create_ns(&self, ns: NsId, cfg: &NsConfig) -> Result<(), String>;
    /// Open socket `id` in `ns` and bind it. `privileged` binders may use
    /// ports below `ip_unprivileged_port_start`. On error no socket remains.
    fn bind(&self, ns: NsId, id: SockId, req: &BindReq, privileged: bool) -> Result<(), Errno>;
    /// listen(2) on a bound TCP socket.
    fn listen(&self, ns: NsId, id: SockId) -> Result<(), Errno>;
    /// close(2). `EBADF` when `id` is not open.
    fn close(&self, ns: NsId, id: SockId) -> Result<(), Errno>;
    /// Open sockets of `ns`, ordered by id.
    fn sockets(&self, ns: NsId) -> Vec<SockInfo>;
    /// The ids of [`Net::sockets`], appended to `out` (a checker's kept
    /// buffer: read after many steps, so without building the infos).
    fn open_ids_into(&self, ns: NsId, out: &mut Vec<SockId>) {
        out.extend(self.sockets(ns).iter().map(|s| s.id));
    }
    /// Would `req` (then listen, if `listen`) succeed now? Leaves no trace
    /// and no socket. Used by checkers.
    fn probe(&self, ns: NsId, req: &BindReq, listen: bool, privileged: bool) -> Result<(), Errno>;
    /// Read a sysctl of `ns` by its /proc/sys path below `net/ipv4/`,
    /// e.g. "ip_local_port_range".
    fn sysctl(&self, ns: NsId, name: &str) -> Result<String, Errno>;
}

/// The world's view of the kernel: a backend plus scheduling points, socket
/// numbering, owners and trace lines.
pub struct Kernel {
    net: Arc<dyn Net>,
    ns_locks: Vec<sync::Mutex<()>>,
    state: sync::StateCell<KernelState>,
    trace: Arc<Trace>,
    /// Each namespace's trace layer (`host`, `d1/child`): made once.
    layers: Vec<Name>,
}

/// The words of a syscall's trace line, written only when the trace is
/// read (the same bytes the eager `format!` wrote).
#[derive(Clone, Copy)]
enum Syscall {
    /// `bind tcp 0.0.0.0:80 RA`, with ` (port 0)` for an ephemeral bind.
    Bind(BindReq, bool),
    Listen(SockId),
    Close(SockId),
    /// The result of a successful bind: `ok s3`.
    Opened(SockId),
}

impl Syscall {
    /// The text of a syscall about one socket as a fixed word when the id
    /// is in [`sock_words`]' table (it is in every run we know), else
    /// written when read.
    fn text(self) -> Text {
        let (at, id) = match self {
            Syscall::Bind(..) => return Text::lazy(self),
            Syscall::Listen(id) => (0, id),
            Syscall::Close(id) => (1, id),
            Syscall::Opened(id) => (2, id),
        };
        match sock_words()[at].get(id.0 as usize) {
            Some(w) => Text::from_static(w),
            None => Text::lazy(self),
        }
    }
}

/// Socket ids the fixed texts of [`Syscall::text`] cover (a run numbers
/// its sockets from 1; the bench worlds open about a hundred).
const SOCK_WORDS: usize = 4096;

/// `listen sN`, `close sN` and `ok sN` for every `N` below
/// [`SOCK_WORDS`]: made once per process (one buffer per word, kept for
/// the process's life), so a syscall's trace text is no allocation and a
/// reader of it writes nothing.
fn sock_words() -> &'static [Vec<&'static str>; 3] {
    static WORDS: std::sync::OnceLock<[Vec<&'static str>; 3]> = std::sync::OnceLock::new();
    WORDS.get_or_init(|| {
        ["listen s", "close s", "ok s"].map(|head| {
            let mut buf = String::with_capacity(SOCK_WORDS * (head.len() + 4));
            let mut ends = Vec::with_capacity(SOCK_WORDS);
            for n in 0..SOCK_WORDS {
                buf.push_str(head);
                push_decimal(&mut buf, n as i64);
                ends.push(buf.len());
            }
            let all: &'static str = buf.leak();
            let mut start = 0;
            ends.into_iter()
                .map(|end| {
                    let w = &all[start..end];
                    start = end;
                    w
                })
                .collect()
        })
    })
}

impl Render for Syscall {
    fn render(&self, out: &mut String) {
        let (head, id) = match self {
            Syscall::Bind(r, ephemeral) => {
                out.push_str("bind ");
                r.describe_into(out);
                if *ephemeral {
                    out.push_str(" (port 0)");
                }
                return;
            }
            Syscall::Listen(id) => ("listen s", id),
            Syscall::Close(id) => ("close s", id),
            Syscall::Opened(id) => ("ok s", id),
        };
        out.push_str(head);
        push_decimal(out, id.0.into());
    }

    fn head(&self) -> &'static str {
        match self {
            Syscall::Bind(..) => "bind ",
            Syscall::Listen(_) => "listen s",
            Syscall::Close(_) => "close s",
            Syscall::Opened(_) => "ok s",
        }
    }

    /// The socket id a `listen`, `close` or `ok` text ends with.
    fn last_number(&self) -> Option<u64> {
        match self {
            Syscall::Bind(..) => None,
            Syscall::Listen(id) | Syscall::Close(id) | Syscall::Opened(id) => Some(id.0.into()),
        }
    }
}

struct KernelState {
    next_id: u32,
    /// Per namespace, the owner of each open socket, sorted by id (ids
    /// grow, so a bind appends).
    owners: Vec<Vec<(SockId, String)>>,
}

impl KernelState {
    fn slot(&self, ns: NsId, id: SockId) -> Result<usize, usize> {
        self.owners[ns.0].binary_search_by_key(&id, |(s, _)| *s)
    }

    fn insert(&mut self, ns: NsId, id: SockId, owner: String) {
        let v = &mut self.owners[ns.0];
        if v.last().is_none_or(|(s, _)| *s < id) {
            v.push((id, owner));
            return;
        }
        match v.binary_search_by_key(&id, |(s, _)| *s) {
            Ok(i) => v[i].1 = owner,
            Err(i) => v.insert(i, (id, owner)),
        }
    }

    fn remove(&mut self, ns: NsId, id: SockId) {
        if let Ok(i) = self.slot(ns, id) {
            self.owners[ns.0].remove(i);
        }
    }

    fn get_mut(&mut self, ns: NsId, id: SockId) -> Option<&mut String> {
        let i = self.slot(ns, id).ok()?;
        Some(&mut self.owners[ns.0][i].1)
    }

    fn get(&self, ns: NsId, id: SockId) -> Option<&String> {
        let i = self.slot(ns, id).ok()?;
        Some(&self.owners[ns.0][i].1)
    }
}

impl Kernel {
    /// Wrap `net`, creating `cfgs.len()` namespaces (index = [`NsId`]).
    pub fn new(net: Arc<dyn Net>, cfgs: &[NsConfig], trace: Arc<Trace>) -> Result<Kernel, String> {
        for (i, c) in cfgs.iter().enumerate() {
            net.create_ns(NsId(i), c)?;
        }
        Ok(Kernel {
            net,
            ns_locks: cfgs.iter().map(|_| sync::Mutex::new(())).collect(),
            state: sync::StateCell::new(KernelState {
                next_id: 0,
                owners: cfgs.iter().map(|_| Vec::new()).collect(),
            }),
            trace,
            layers: (0..cfgs.len())
                .map(|i| Name::new(&Self::layer(NsId(i))))
                .collect(),
        })
    }

    pub fn net(&self) -> &Arc<dyn Net> {
        &self.net
    }

    pub fn trace(&self) -> &Arc<Trace> {
        &self.trace
    }

    fn layer(ns: NsId) -> String {
        if ns == NsId::HOST {
            "host".to_string()
        } else {
            format!("d{}/child", ns.0)
        }
    }

    /// socket + options + bind, as one syscall step. On success the socket
    /// is recorded as owned by `owner`.
    pub fn bind(
        &self,
        who: &str,
        ns: NsId,
        req: &BindReq,
        privileged: bool,
        owner: &str,
    ) -> Result<SockId, Errno> {
        let _g = sync::lock_at(&self.ns_locks[ns.0], || {
            format!("{who} {} bind {}", Self::layer(ns), req.describe())
        });
        let id = {
            let mut st = sync::state(&self.state);
            st.next_id += 1;
            SockId(st.next_id)
        };
        let r = self.net.bind(ns, id, req, privileged);
        match r {
            Ok(()) => {
                sync::state(&self.state).insert(ns, id, owner.to_string());
                self.trace.emit(
                    who,
                    &self.layers[ns.0],
                    Text::lazy(Syscall::Bind(*req, false)),
                    Syscall::Opened(id).text(),
                );
                Ok(id)
            }
            Err(e) => {
                self.trace.emit(
                    who,
                    &self.layers[ns.0],
                    Text::lazy(Syscall::Bind(*req, false)),
                    Text::from_static(e.name()),
                );
                Err(e)
            }
        }
    }

    /// socket + options + bind(2) to port 0, as one syscall step: the
    /// kernel picks a free port of `ns`'s `ip_local_port_range` in the
    /// order of Linux's `inet_csk_find_open_port`
    /// (net/ipv4/inet_connection_sock.c, v6.x): with SO_REUSEADDR the lower
    /// half of the range first, then the upper; in each half a random
    /// offset (the scheduler's [`sync::choose`], so a replay picks the same
    /// port), ports of the opposite parity to the range's start first, then
    /// the rest. A port qualifies if a bind without SO_REUSEADDR or
    /// SO_REUSEPORT would succeed there (Linux's first pass does not relax
    /// for reuse). `ip_local_reserved_ports` is not consulted. The port of
    /// `req` is ignored; the trace line shows the one picked. `EADDRINUSE`
    /// when no port qualifies. Used by the rootlesskit port-0 extension
    /// only: moby never binds port 0.
    pub fn bind_ephemeral(
        &self,
        who: &str,
        ns: NsId,
        req: &BindReq,
        privileged: bool,
        owner: &str,
    ) -> Result<(SockId, u16), Errno> {
        let _g = sync::lock(&self.ns_locks[ns.0]);
        let range = self
            .net
            .sysctl(ns, "ip_local_port_range")
            .ok()
            .and_then(|t| {
                let mut it = t.split_whitespace().map(|x| x.parse::<u32>().ok());
                Some((it.next()??, it.next()??))
            })
            .unwrap_or((32768, 60999));
        let free = |p: u16| {
            let strict = BindReq {
                port: p,
                reuse_addr: false,
                reuse_port: false,
                ..*req
            };
            self.probe(ns, &strict, false, privileged).is_ok()
        };
        let picked = ephemeral_scan(range, req.reuse_addr, free);
        let Some(port) = picked else {
            let shown = BindReq { port: 0, ..*req };
            self.trace.emit(
                who,
                &self.layers[ns.0],
                Text::lazy(Syscall::Bind(shown, true)),
                Text::from_static(Errno::EADDRINUSE.name()),
            );
            return Err(Errno::EADDRINUSE);
        };
        let id = {
            let mut st = sync::state(&self.state);
            st.next_id += 1;
            SockId(st.next_id)
        };
        let at = BindReq { port, ..*req };
        let r = self.net.bind(ns, id, &at, privileged);
        let result = match r {
            Ok(()) => {
                sync::state(&self.state).insert(ns, id, owner.to_string());
                Syscall::Opened(id).text()
            }
            Err(e) => Text::from_static(e.name()),
        };
        self.trace.emit(
            who,
            &self.layers[ns.0],
            Text::lazy(Syscall::Bind(at, true)),
            result,
        );
        r.map(|()| (id, port))
    }

    /// listen(2) as one syscall step.
    pub fn listen(&self, who: &str, ns: NsId, id: SockId) -> Result<(), Errno> {
        let _g = sync::lock_at(&self.ns_locks[ns.0], || {
            format!("{who} {} listen {id}", Self::layer(ns))
        });
        let r = self.net.listen(ns, id);
        self.trace.emit(
            who,
            &self.layers[ns.0],
            Syscall::Listen(id).text(),
            Text::from_static(result_text(&r)),
        );
        r
    }

    /// close(2) as one syscall step.
    pub fn close(&self, who: &str, ns: NsId, id: SockId) -> Result<(), Errno> {
        let _g = sync::lock_at(&self.ns_locks[ns.0], || {
            format!("{who} {} close {id}", Self::layer(ns))
        });
        let r = self.net.close(ns, id);
        if r.is_ok() {
            sync::state(&self.state).remove(ns, id);
        }
        self.trace.emit(
            who,
            &self.layers[ns.0],
            Syscall::Close(id).text(),
            Text::from_static(result_text(&r)),
        );
        r
    }

    /// Hold every namespace's lock while `f` runs: makes a checker's read
    /// of the tables visible to loom, whose partial-order reduction would
    /// otherwise treat it as independent of every world step (and skip the
    /// orders in which a racing occupant changes what the checker sees).
    /// Used under `--cfg loom` only; shuttle explores without reduction.
    pub fn observe_all<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guards: Vec<_> = self.ns_locks.iter().map(sync::lock).collect();
        f()
    }

    /// Hand a socket to another owner (a file descriptor passed to
    /// docker-proxy). Not a syscall on the namespace: no scheduling point.
    pub fn set_owner(&self, ns: NsId, id: SockId, owner: &str) {
        self.set_owner_string(ns, id, owner.to_string());
    }

    /// [`Kernel::set_owner`] with a label already made for it (kept
    /// without a copy).
    pub fn set_owner_string(&self, ns: NsId, id: SockId, owner: String) {
        if let Some(o) = sync::state(&self.state).get_mut(ns, id) {
            *o = owner;
        }
    }

    /// The owner label of an open socket.
    pub fn owner(&self, ns: NsId, id: SockId) -> Option<String> {
        sync::state(&self.state).get(ns, id).cloned()
    }

    /// Open sockets of `ns` with their owners, ordered by id.
    /// [`Kernel::sockets`] lent to `f` without copying the owners.
    pub fn each_socket(&self, ns: NsId, f: &mut dyn FnMut(&SockInfo, &str)) {
        let socks = self.net.sockets(ns);
        let st = sync::state(&self.state);
        for s in &socks {
            f(s, st.get(ns, s.id).map_or("", String::as_str));
        }
    }

    pub fn sockets(&self, ns: NsId) -> Vec<(SockInfo, String)> {
        let socks = self.net.sockets(ns);
        let st = sync::state(&self.state);
        socks
            .into_iter()
            .map(|s| {
                let o = st.get(ns, s.id).cloned().unwrap_or_default();
                (s, o)
            })
            .collect()
    }

    /// Read a sysctl without a scheduling point (daemons read them at start).
    pub fn sysctl(&self, ns: NsId, name: &str) -> Result<String, Errno> {
        self.net.sysctl(ns, name)
    }

    /// Would `req` (then listen) succeed in `ns` now? Judged by the
    /// simulated rules over the sockets open in `ns`, never by a real bind:
    /// a checker's probe must not disturb a namespace in which other
    /// threads may be binding (under `os-threads` on the real kernel a
    /// probe socket made a world thread's listen fail). The rule table
    /// shows these rules agree with the kernel.
    pub fn probe(
        &self,
        ns: NsId,
        req: &BindReq,
        listen: bool,
        privileged: bool,
    ) -> Result<(), Errno> {
        let start = self
            .net
            .sysctl(ns, "ip_unprivileged_port_start")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1024);
        let model = sim::SimNet::new();
        let cfg = NsConfig {
            ip_unprivileged_port_start: start,
            ..NsConfig::default()
        };
        model.create_ns(NsId(0), &cfg).map_err(|_| Errno::EINVAL)?;
        for s in self.net.sockets(ns) {
            let applied = BindReq {
                v6only: s.v6only_effective,
                ..s.req
            };
            if model.bind(NsId(0), s.id, &applied, true).is_ok() && s.listening {
                let _ = model.listen(NsId(0), s.id);
            }
        }
        model.probe(NsId(0), req, listen, privileged)
    }
}

/// The port `inet_csk_find_open_port` would pick from `low..=high`, or
/// `None`; `free` says whether a port qualifies. See
/// [`Kernel::bind_ephemeral`].
pub fn ephemeral_scan(
    (low, high): (u32, u32),
    reuse_addr: bool,
    mut free: impl FnMut(u16) -> bool,
) -> Option<u16> {
    let mut attempt_half = if reuse_addr { 1 } else { 0 };
    loop {
        let (mut lo, mut hi) = (low, high + 1);
        if hi.saturating_sub(lo) < 4 {
            attempt_half = 0;
        }
        if attempt_half != 0 {
            let half = lo + (((hi - lo) >> 2) << 1);
            if attempt_half == 1 {
                hi = half;
            } else {
                lo = half;
            }
        }
        let mut remaining = hi.saturating_sub(lo);
        if remaining > 1 {
            remaining &= !1;
        }
        if remaining > 0 {
            let mut offset = (sync::choose(remaining as usize) as u32) | 1;
            loop {
                let mut port = lo + offset;
                let mut i = 0;
                while i < remaining {
                    if port >= hi {
                        port -= remaining;
                    }
                    if let Ok(p) = u16::try_from(port)
                        && free(p)
                    {
                        return Some(p);
                    }
                    i += 2;
                    port += 2;
                }
                offset = offset.wrapping_sub(1);
                if offset & 1 != 0 {
                    break;
                }
            }
        }
        if attempt_half == 1 {
            attempt_half = 2;
            continue;
        }
        return None;
    }
}

fn result_text(r: &Result<(), Errno>) -> &'static str {
    match r {
        Ok(()) => "ok",
        Err(e) => e.name(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::sim::SimNet;

    /// `bind_ephemeral` qualifies a port by a bind without SO_REUSEADDR
    /// and SO_REUSEPORT, whatever the request asks: a port another
    /// SO_REUSEPORT socket holds is skipped even for a SO_REUSEPORT
    /// request that could share it (Linux's first pass does not relax).
    #[test]
    fn an_ephemeral_pick_skips_a_port_that_only_reuse_could_share() {
        sync::run_once(|| {
            let host = NsConfig {
                ip_local_port_range: "40000\t40001".into(),
                ..NsConfig::default()
            };
            let k = Kernel::new(Arc::new(SimNet::new()), &[host], Trace::new()).unwrap();
            let rp = BindReq {
                proto: Proto::Tcp,
                addr: "0.0.0.0".parse().unwrap(),
                port: 40001,
                reuse_addr: false,
                reuse_port: true,
                v6only: false,
            };
            k.bind("occ", NsId::HOST, &rp, true, "occupant").unwrap();
            // A two-port range is scanned odd port first: 40001, then 40000.
            let (_, port) = k
                .bind_ephemeral("c1", NsId::HOST, &BindReq { port: 0, ..rp }, false, "rlk")
                .unwrap();
            assert_eq!(port, 40000);
            // 40001 could have been shared by this request: a second
            // SO_REUSEPORT bind there succeeds.
            assert!(k.bind("c2", NsId::HOST, &rp, false, "other").is_ok());
        });
    }

    /// The same for SO_REUSEADDR: a port a bound, not listening
    /// SO_REUSEADDR socket holds could be shared by a SO_REUSEADDR bind,
    /// yet the pick skips it. And the request's own port is ignored: the
    /// refusal of an exhausted range is traced as a bind of port 0.
    #[test]
    fn an_ephemeral_pick_skips_a_port_reuseaddr_could_share_and_ignores_the_asked_port() {
        sync::run_once(|| {
            let host = NsConfig {
                ip_local_port_range: "40000\t40001".into(),
                ..NsConfig::default()
            };
            let k = Kernel::new(Arc::new(SimNet::new()), &[host], Trace::new()).unwrap();
            let ra = BindReq {
                proto: Proto::Tcp,
                addr: "0.0.0.0".parse().unwrap(),
                port: 40001,
                reuse_addr: true,
                reuse_port: false,
                v6only: false,
            };
            k.bind("occ", NsId::HOST, &ra, true, "occupant").unwrap();
            let asked = BindReq { port: 12345, ..ra };
            let (_, port) = k
                .bind_ephemeral("c1", NsId::HOST, &asked, false, "rlk")
                .unwrap();
            assert_eq!(port, 40000);
            assert!(
                k.probe(NsId::HOST, &ra, false, false).is_ok(),
                "40001 could be shared"
            );
            assert_eq!(
                k.bind_ephemeral("c2", NsId::HOST, &asked, false, "rlk"),
                Err(Errno::EADDRINUSE)
            );
            let last = k.trace().events().last().cloned().unwrap();
            assert_eq!(last.action, "bind tcp 0.0.0.0:0 RA (port 0)");
        });
    }

    /// A checker's probe judges a low port by the namespace's own
    /// `ip_unprivileged_port_start`, not by the default 1024.
    #[test]
    fn a_probe_reads_the_namespace_unprivileged_port_start() {
        sync::run_once(|| {
            let low = NsConfig {
                ip_unprivileged_port_start: 80,
                ..NsConfig::default()
            };
            let k = Kernel::new(
                Arc::new(SimNet::new()),
                &[low, NsConfig::default()],
                Trace::new(),
            )
            .unwrap();
            let req = BindReq {
                proto: Proto::Tcp,
                addr: "0.0.0.0".parse().unwrap(),
                port: 80,
                reuse_addr: true,
                reuse_port: false,
                v6only: false,
            };
            assert_eq!(k.probe(NsId(0), &req, true, false), Ok(()));
            assert_eq!(k.probe(NsId(1), &req, true, false), Err(Errno::EACCES));
        });
    }

    /// Linux rounds the number of ports to scan down to even
    /// (`remaining &= ~1U` in `inet_csk_find_open_port`), so the last port
    /// of an odd-sized range is never handed out, whatever the offset.
    #[test]
    fn an_odd_sized_range_never_hands_out_its_last_port() {
        sync::run_once(|| {
            assert_eq!(ephemeral_scan((40000, 40002), false, |p| p == 40002), None);
            assert_eq!(
                ephemeral_scan((40000, 40002), false, |p| p == 40000),
                Some(40000)
            );
            assert_eq!(
                ephemeral_scan((40000, 40001), false, |p| p == 40001),
                Some(40001)
            );
            // A one-port range is scanned, not rounded down to nothing.
            assert_eq!(ephemeral_scan((40000, 40000), false, |_| true), Some(40000));
        });
    }

    /// The scan walks up from its random odd offset, wraps at the top and
    /// never asks about a port outside the range: the one free port is
    /// found wherever it is.
    #[test]
    fn the_scan_stays_inside_the_range_and_finds_its_one_free_port() {
        sync::run_once(|| {
            for free_port in [40009, 40000, 40004] {
                let mut asked = Vec::new();
                let got = ephemeral_scan((40000, 40009), false, |p| {
                    asked.push(p);
                    p == free_port
                });
                assert_eq!(got, Some(free_port));
                assert!(
                    asked.iter().all(|p| (40000..=40009).contains(p)),
                    "{asked:?}"
                );
            }
        });
    }

    /// An inverted range (low above high) has no port to scan: nothing is
    /// handed out and no offset is drawn.
    #[test]
    fn an_inverted_range_hands_out_nothing() {
        sync::run_once(|| {
            assert_eq!(ephemeral_scan((40001, 40000), false, |_| true), None);
            assert_eq!(ephemeral_scan((40001, 40000), true, |_| true), None);
        });
    }

    /// The hand-written decimal and IPv4 texts are `Display`'s.
    #[test]
    fn pushed_numbers_and_addresses_read_as_display_writes_them() {
        for n in [
            0,
            7,
            9,
            10,
            99,
            100,
            101,
            255,
            1000,
            1024,
            10000,
            32768,
            65535,
            -1,
            -80,
            -100,
            i64::MAX,
            i64::MIN,
        ] {
            let mut s = String::from("x");
            push_decimal(&mut s, n);
            assert_eq!(s, format!("x{n}"));
        }
        for a in [
            "0.0.0.0",
            "127.0.0.1",
            "10.200.3.255",
            "::",
            "::1",
            "fe80::1:2",
            "::ffff:1.2.3.4",
        ] {
            let ip: IpAddr = a.parse().unwrap();
            let mut s = String::new();
            push_ip(&mut s, ip);
            assert_eq!(s, ip.to_string());
            let want = match ip {
                IpAddr::V4(_) => format!("{ip}:8080"),
                IpAddr::V6(_) => format!("[{ip}]:8080"),
            };
            assert_eq!(addr_port(ip, 8080), want);
        }
    }

    /// Each syscall's trace text starts with the head it announces.
    #[test]
    fn syscall_texts_start_with_their_heads() {
        let req = BindReq {
            proto: Proto::Tcp,
            addr: "0.0.0.0".parse().unwrap(),
            port: 80,
            reuse_addr: true,
            reuse_port: false,
            v6only: false,
        };
        let cases = [
            (Syscall::Bind(req, false), "bind ", "bind tcp 0.0.0.0:80 RA"),
            (
                Syscall::Bind(req, true),
                "bind ",
                "bind tcp 0.0.0.0:80 RA (port 0)",
            ),
            (Syscall::Listen(SockId(3)), "listen s", "listen s3"),
            (Syscall::Close(SockId(3)), "close s", "close s3"),
            (Syscall::Opened(SockId(3)), "ok s", "ok s3"),
        ];
        for (call, head, text) in cases {
            assert_eq!(call.head(), head);
            assert_eq!(call.text().as_str(), text);
            assert_eq!(Text::lazy(call).as_str(), text);
        }
        // The fixed words are the texts written when read, past the table too.
        for n in [0, 1, 9, 10, 4095, 4096, 70000] {
            for call in [
                Syscall::Listen(SockId(n)),
                Syscall::Close(SockId(n)),
                Syscall::Opened(SockId(n)),
            ] {
                assert_eq!(call.text().as_str(), Text::lazy(call).as_str());
                // A lazy one says the id it ends with without being written.
                assert_eq!(Text::lazy(call).known_last_number(), Some(n.into()));
            }
        }
        assert_eq!(
            Text::lazy(Syscall::Bind(req, false)).known_last_number(),
            None
        );
    }

    /// A bound socket has the owner it was bound for, then the one it was
    /// handed to; a closed or unknown socket has none.
    #[test]
    fn owner_follows_bind_set_owner_and_close() {
        sync::run_once(|| {
            let k = Kernel::new(
                Arc::new(SimNet::new()),
                &[NsConfig::default()],
                Trace::new(),
            )
            .unwrap();
            let req = BindReq {
                proto: Proto::Udp,
                addr: "127.0.0.1".parse().unwrap(),
                port: 5353,
                reuse_addr: false,
                reuse_port: false,
                v6only: false,
            };
            let s = k.bind("c1", NsId::HOST, &req, true, "rlk").unwrap();
            assert_eq!(k.owner(NsId::HOST, s), Some("rlk".to_string()));
            k.set_owner(NsId::HOST, s, "docker-proxy");
            assert_eq!(k.owner(NsId::HOST, s), Some("docker-proxy".to_string()));
            assert_eq!(k.owner(NsId::HOST, SockId(s.0 + 1)), None);
            k.close("c1", NsId::HOST, s).unwrap();
            assert_eq!(k.owner(NsId::HOST, s), None);
        });
    }
}
