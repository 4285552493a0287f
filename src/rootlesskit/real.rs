//! The REAL rootlesskit binary with its builtin port driver, for comparing
//! our model ([`super::builtin`] + [`super::api`]) with what the daemon
//! answers. Linux only, needs root; used by `tests/rootlesskit_real.rs`.
//!
//! [`RealRootlesskit::start`] runs
//! `unshare --net -- sh -c 'ip link set lo up && exec "$@"' sh rootlesskit
//! --state-dir=<tmp>/state --net=slirp4netns --disable-host-loopback
//! --port-driver=builtin sleep 86400`, so the "host" namespace — where the
//! builtin driver's parent side listens — is a fresh, unnamed network
//! namespace owned by rootlesskit's parent process, never the machine's
//! own (nothing appears in `ip netns list`). The API is spoken as plain
//! HTTP/1.1 over `<state-dir>/api.sock` (routes of `pkg/api/router`,
//! rootlesskit v1.1.0 and e780dd3 alike). Third-party programs are
//! stood in for by sockets this process opens from a thread that entered
//! that namespace with `setns(2)` ([`RealRootlesskit::in_host_ns`]).
//!
//! Dropping a [`RealRootlesskit`] stops rootlesskit (SIGTERM, then SIGKILL
//! for it and every process it started) and removes the temp dir; drop
//! runs on panic unwinding too.

use super::Spec;
use super::api::{Response, spec_json};
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

unsafe extern "C" {
    fn setns(fd: i32, nstype: i32) -> i32;
    fn kill(pid: i32, sig: i32) -> i32;
}

const CLONE_NEWNET: i32 = 0x4000_0000;
const SIGKILL: i32 = 9;
const SIGTERM: i32 = 15;

/// How long to wait for `api.sock` and the first successful `GET /v1/info`.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long rootlesskit gets to exit on SIGTERM before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Read/write timeout of one API request.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

static INSTANCE: AtomicU32 = AtomicU32::new(0);

/// One process, identified by pid and start time (field 22 of
/// `/proc/<pid>/stat`), so a recycled pid is not mistaken for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Proc {
    pub pid: u32,
    pub start_time: u64,
}

impl Proc {
    /// Still running: `/proc/<pid>` exists with the same start time and is
    /// not a zombie (a zombie has exited; its reaper may be slow).
    pub fn alive(&self) -> bool {
        match read_stat(self.pid) {
            Some(s) => s.start_time == self.start_time && !matches!(s.state, 'Z' | 'X'),
            None => false,
        }
    }
}

struct Stat {
    state: char,
    ppid: u32,
    start_time: u64,
}

/// `/proc/<pid>/stat`: the fields after the parenthesised command name.
fn read_stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); field N is f[N - 3].
    Some(Stat {
        state: f.first()?.chars().next()?,
        ppid: f.get(1)?.parse().ok()?,
        start_time: f.get(19)?.parse().ok()?,
    })
}

/// `root` and all its living descendants, in pid order. Empty for pid 0,
/// pid 1 and this process: only a child we spawned may be a root, since
/// everything found here may be killed.
fn process_tree(root: u32) -> Vec<Proc> {
    if root <= 1 || root == std::process::id() {
        return Vec::new();
    }
    let mut all: Vec<(u32, Stat)> = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if let Some(s) = read_stat(pid) {
                all.push((pid, s));
            }
        }
    }
    let mut tree: Vec<u32> = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        for (pid, s) in &all {
            if s.ppid == parent && !tree.contains(pid) {
                tree.push(*pid);
            }
        }
        i += 1;
    }
    let mut out: Vec<Proc> = all
        .iter()
        .filter(|(pid, s)| tree.contains(pid) && !matches!(s.state, 'Z' | 'X'))
        .map(|(pid, s)| Proc {
            pid: *pid,
            start_time: s.start_time,
        })
        .collect();
    out.sort();
    out
}

fn on_path(bin: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
}

/// True when `file` has a subordinate-id line for root (`root:` or `0:`).
fn has_root_range(file: &str) -> bool {
    std::fs::read_to_string(file)
        .map(|t| {
            t.lines()
                .any(|l| l.starts_with("root:") || l.starts_with("0:"))
        })
        .unwrap_or(false)
}

/// An HTTP answer with its headers (names lowercased, in order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpAnswer {
    pub response: Response,
    pub headers: Vec<(String, String)>,
}

impl HttpAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parse an HTTP/1.1 response read to EOF: status line, headers, then a
/// body framed by `Content-Length`, `Transfer-Encoding: chunked`, or EOF.
pub fn parse_http_response(raw: &[u8]) -> Result<HttpAnswer, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no end of headers in {:?}", String::from_utf8_lossy(raw)))?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|e| format!("headers not UTF-8: {e}"))?;
    let mut rest = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut headers = Vec::new();
    for l in lines {
        let (n, v) = l
            .split_once(':')
            .ok_or_else(|| format!("bad header line {l:?}"))?;
        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let find = |n: &str| headers.iter().find(|(h, _)| h == n).map(|(_, v)| v.clone());
    let body: Vec<u8> =
        if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            let mut out = Vec::new();
            loop {
                let eol = rest
                    .windows(2)
                    .position(|w| w == b"\r\n")
                    .ok_or("truncated chunk size")?;
                let size_text = std::str::from_utf8(&rest[..eol]).map_err(|e| e.to_string())?;
                let size_text = size_text.split(';').next().unwrap_or_default().trim();
                let size =
                    usize::from_str_radix(size_text, 16).map_err(|e| format!("chunk size: {e}"))?;
                rest = &rest[eol + 2..];
                if size == 0 {
                    break;
                }
                if rest.len() < size + 2 {
                    return Err("truncated chunk".into());
                }
                out.extend_from_slice(&rest[..size]);
                rest = &rest[size + 2..];
            }
            out
        } else if let Some(len) = find("content-length") {
            let len: usize = len.parse().map_err(|e| format!("content-length: {e}"))?;
            if rest.len() < len {
                return Err(format!("body shorter than content-length {len}"));
            }
            rest[..len].to_vec()
        } else {
            rest.to_vec()
        };
    let body = String::from_utf8(body).map_err(|e| format!("body not UTF-8: {e}"))?;
    Ok(HttpAnswer {
        response: Response { status, body },
        headers,
    })
}

/// A running real rootlesskit (builtin port driver) in its own unnamed
/// host namespace. See the module doc.
pub struct RealRootlesskit {
    child: Option<Child>,
    /// Pid of `child`, kept after the child is reaped (0 before spawn).
    pid: u32,
    dir: PathBuf,
    state_dir: PathBuf,
    /// Every process seen in rootlesskit's tree since start.
    seen: Vec<Proc>,
}

impl RealRootlesskit {
    /// Why the real daemon cannot run here, or `None` when it can: not
    /// root, a binary missing, no `/dev/net/tun`, no subordinate id range
    /// for root, or `unshare --net` refused.
    pub fn unavailable() -> Option<String> {
        let euid = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("Uid:"))
                    .and_then(|l| l.split_whitespace().nth(2).map(str::to_string))
            });
        if euid.as_deref() != Some("0") {
            return Some(format!("not root (euid {euid:?})"));
        }
        for bin in ["rootlesskit", "slirp4netns", "unshare", "ip", "sh", "sleep"] {
            if on_path(bin).is_none() {
                return Some(format!(
                    "{bin} not found on PATH (run scripts/install-rootlesskit.sh)"
                ));
            }
        }
        if !Path::new("/dev/net/tun").exists() {
            return Some("no /dev/net/tun (slirp4netns needs it)".into());
        }
        for f in ["/etc/subuid", "/etc/subgid"] {
            if !has_root_range(f) {
                return Some(format!(
                    "{f} has no range for root (run scripts/install-rootlesskit.sh)"
                ));
            }
        }
        match Command::new("unshare")
            .args(["--net", "--", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
        {
            Ok(s) if s.success() => None,
            Ok(s) => Some(format!(
                "cannot create a network namespace (unshare --net: {s})"
            )),
            Err(e) => Some(format!("cannot run unshare: {e}")),
        }
    }

    /// `rootlesskit --version`, e.g. `rootlesskit version 1.1.0`.
    pub fn version() -> Result<String, String> {
        let out = Command::new("rootlesskit")
            .arg("--version")
            .output()
            .map_err(|e| format!("rootlesskit --version: {e}"))?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Start rootlesskit and wait until its API answers `GET /v1/info`.
    pub fn start() -> Result<RealRootlesskit, String> {
        let n = INSTANCE.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("portsim-rlk-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let state_dir = dir.join("state");
        std::fs::create_dir_all(&state_dir).map_err(|e| format!("mkdir {state_dir:?}: {e}"))?;
        let mut me = RealRootlesskit {
            child: None,
            pid: 0,
            dir: dir.clone(),
            state_dir: state_dir.clone(),
            seen: Vec::new(),
        };
        let log = File::create(dir.join("rootlesskit.log")).map_err(|e| format!("log: {e}"))?;
        let log2 = log.try_clone().map_err(|e| format!("log: {e}"))?;
        let child = Command::new("unshare")
            .args([
                "--net",
                "--",
                "sh",
                "-c",
                "ip link set lo up && exec \"$@\"",
                "sh",
            ])
            .arg("rootlesskit")
            .arg(format!("--state-dir={}", state_dir.display()))
            .args([
                "--net=slirp4netns",
                "--disable-host-loopback",
                "--port-driver=builtin",
                "sleep",
                "86400",
            ])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| format!("spawn unshare/rootlesskit: {e}"))?;
        me.pid = child.id();
        me.child = Some(child);
        me.wait_ready()?;
        let ours = std::fs::read_link("/proc/self/ns/net").map_err(|e| e.to_string())?;
        let theirs = std::fs::read_link(format!("/proc/{}/ns/net", me.host_pid()))
            .map_err(|e| format!("host namespace of rootlesskit: {e}"))?;
        if ours == theirs {
            return Err(format!(
                "rootlesskit runs in this process's namespace {ours:?}"
            ));
        }
        me.refresh_seen();
        Ok(me)
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        let sock = self.api_socket();
        let mut last = String::from("api.sock not created");
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(st)) = child.try_wait() {
                    return Err(format!("rootlesskit exited ({st}): {}", self.log_tail()));
                }
            }
            if sock.exists() {
                match self.info() {
                    Ok(r) if r.status == 200 => return Ok(()),
                    Ok(r) => last = format!("GET /v1/info: {} {}", r.status, r.body),
                    Err(e) => last = e,
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!(
            "rootlesskit not ready after {START_TIMEOUT:?}: {last}; log: {}",
            self.log_tail()
        ))
    }

    /// The last lines of rootlesskit's stdout and stderr.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("rootlesskit.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }

    /// Pid of rootlesskit's parent process (unshare and sh exec into it);
    /// its network namespace is the host namespace of this instance.
    pub fn host_pid(&self) -> u32 {
        self.pid
    }

    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// The temp dir holding the state dir and the log; removed on drop.
    pub fn temp_dir(&self) -> &Path {
        &self.dir
    }

    pub fn api_socket(&self) -> PathBuf {
        self.state_dir.join("api.sock")
    }

    /// Add rootlesskit's current process tree to `seen`, but only while
    /// our child is unreaped (its pid cannot have been recycled).
    fn refresh_seen(&mut self) {
        let running = self
            .child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)));
        if !running {
            return;
        }
        for p in process_tree(self.pid) {
            if !self.seen.contains(&p) {
                self.seen.push(p);
            }
        }
        self.seen.sort();
    }

    /// Every process of rootlesskit's tree seen so far (rootlesskit, its
    /// child, slirp4netns, the sleep), refreshed now.
    pub fn processes(&mut self) -> Vec<Proc> {
        self.refresh_seen();
        self.seen.clone()
    }

    /// One request on `api.sock`: HTTP/1.1, `Connection: close`, body as
    /// JSON when given; the answer is read to EOF.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<HttpAnswer, String> {
        let sock = self.api_socket();
        let mut s =
            UnixStream::connect(&sock).map_err(|e| format!("connect {}: {e}", sock.display()))?;
        s.set_read_timeout(Some(IO_TIMEOUT))
            .and_then(|_| s.set_write_timeout(Some(IO_TIMEOUT)))
            .map_err(|e| e.to_string())?;
        let mut req =
            format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
        if let Some(b) = body {
            req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        req.push_str("\r\n");
        req.push_str(body.unwrap_or_default());
        s.write_all(req.as_bytes())
            .map_err(|e| format!("{method} {path}: write: {e}"))?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)
            .map_err(|e| format!("{method} {path}: read: {e}"))?;
        parse_http_response(&raw).map_err(|e| format!("{method} {path}: {e}"))
    }

    /// `POST /v1/ports` with `json.Marshal(spec)` as the body, as
    /// rootlesskit's Go client sends it.
    pub fn post_ports(&self, spec: &Spec) -> Result<Response, String> {
        Ok(self.post_ports_full(spec)?.response)
    }

    pub fn post_ports_full(&self, spec: &Spec) -> Result<HttpAnswer, String> {
        self.request("POST", "/v1/ports", Some(&spec_json(spec)))
    }

    /// `DELETE /v1/ports/{id}`.
    pub fn delete_port(&self, id: u32) -> Result<Response, String> {
        Ok(self.delete_port_full(id)?.response)
    }

    pub fn delete_port_full(&self, id: u32) -> Result<HttpAnswer, String> {
        self.request("DELETE", &format!("/v1/ports/{id}"), None)
    }

    /// `GET /v1/info`.
    pub fn info(&self) -> Result<Response, String> {
        Ok(self.request("GET", "/v1/info", None)?.response)
    }

    /// `GET /v1/ports`.
    pub fn list_ports(&self) -> Result<Response, String> {
        Ok(self.request("GET", "/v1/ports", None)?.response)
    }

    /// Run `f` on a fresh thread that first joins this instance's host
    /// network namespace (`setns(CLONE_NEWNET)`); sockets `f` opens live
    /// there. The thread ends with `f`, so no thread of this process stays
    /// in the namespace.
    pub fn in_host_ns<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, String> {
        let path = format!("/proc/{}/ns/net", self.host_pid());
        let ns = File::open(&path).map_err(|e| format!("open {path}: {e}"))?;
        std::thread::scope(|s| {
            s.spawn(|| {
                // SAFETY: setns only changes this thread's network
                // namespace; `ns` is an open namespace file descriptor.
                let rc = unsafe { setns(ns.as_raw_fd(), CLONE_NEWNET) };
                if rc != 0 {
                    return Err(format!("setns {path}: {}", std::io::Error::last_os_error()));
                }
                Ok(f())
            })
            .join()
            .map_err(|_| "thread in host namespace panicked".to_string())?
        })
    }

    /// A third-party TCP program in the host namespace: std's listener
    /// (socket, SO_REUSEADDR, bind, listen; an IPv6 wildcard stays
    /// dual-stack, the namespace's `bindv6only` being 0).
    pub fn hold_tcp(&self, addr: SocketAddr) -> Result<TcpListener, String> {
        self.in_host_ns(|| TcpListener::bind(addr))?
            .map_err(|e| format!("hold tcp {addr}: {e}"))
    }

    /// A third-party UDP program in the host namespace: plain bind.
    pub fn hold_udp(&self, addr: SocketAddr) -> Result<UdpSocket, String> {
        self.in_host_ns(|| UdpSocket::bind(addr))?
            .map_err(|e| format!("hold udp {addr}: {e}"))
    }

    fn signal_all(&self, sig: i32) {
        let me = std::process::id();
        for p in &self.seen {
            if p.pid > 1 && p.pid != me && p.alive() {
                // SAFETY: kill(2) on a pid we checked is still the process
                // we started (same start time).
                unsafe {
                    kill(p.pid as i32, sig);
                }
            }
        }
    }

    /// Stop everything and remove the temp dir; idempotent.
    fn stop(&mut self) {
        self.refresh_seen();
        if let Some(mut child) = self.child.take() {
            let pid = child.id() as i32;
            if matches!(child.try_wait(), Ok(None)) {
                // SAFETY: our own child, not yet reaped.
                unsafe {
                    kill(pid, SIGTERM);
                }
            }
            let deadline = Instant::now() + STOP_TIMEOUT;
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
            let deadline = Instant::now() + STOP_TIMEOUT;
            while self.seen.iter().any(Proc::alive) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            self.signal_all(SIGKILL);
            let deadline = Instant::now() + STOP_TIMEOUT;
            while self.seen.iter().any(Proc::alive) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for RealRootlesskit {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_length_answers() {
        let raw = b"HTTP/1.1 400 Bad Request\r\nDate: x\r\nContent-Length: 33\r\nConnection: close\r\n\r\n{\"message\":\"conflict with ID 1\"}\n";
        let a = parse_http_response(raw).unwrap();
        assert_eq!(a.response, Response::error(400, "conflict with ID 1"));
        assert_eq!(a.header("Connection"), Some("close"));
        assert_eq!(a.header("content-type"), None);
    }

    #[test]
    fn parses_chunked_answers() {
        let raw = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        let a = parse_http_response(raw).unwrap();
        assert_eq!(a.response.status, 201);
        assert_eq!(a.response.body, "abcde");
    }

    #[test]
    fn bad_answers_are_errors_not_panics() {
        for raw in [
            &b""[..],
            b"HTTP/1.1 2x OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nbroken\r\n\r\n",
        ] {
            assert!(parse_http_response(raw).is_err(), "{raw:?}");
        }
    }

    #[test]
    fn process_tree_refuses_init_and_self() {
        for root in [0, 1, std::process::id()] {
            assert_eq!(process_tree(root), [], "root {root}");
        }
    }

    #[test]
    fn process_tree_follows_a_spawned_child() {
        let mut child = Command::new("sleep").arg("30").spawn().expect("sleep");
        let tree = process_tree(child.id());
        assert_eq!(tree.iter().map(|p| p.pid).collect::<Vec<_>>(), [child.id()]);
        assert!(tree[0].alive());
        child.kill().expect("kill");
        child.wait().expect("wait");
        assert!(!tree[0].alive());
    }

    #[test]
    fn a_recycled_pid_is_another_process() {
        let me = std::process::id();
        let own = Proc {
            pid: me,
            start_time: read_stat(me).expect("own stat").start_time,
        };
        assert!(own.alive());
        let gone = Proc {
            pid: me,
            start_time: own.start_time + 1,
        };
        assert!(!gone.alive(), "a different start time is another process");
    }
}
