//! The measured Linux bind rules as one data table, and a runner that
//! checks any [`Net`] backend against it.
//!
//! `data/bind-rules.toml` ([`RULES`]) holds every row of
//! `shared/reference/LINUX.md` that a [`Net`] can observe, expanded into
//! cases: ordered bind/listen/close/sysctl operations on named sockets in
//! namespaces "a" and "b", each with the result Linux gives. The simulated
//! kernel ([`super::sim::SimNet`]) must agree with every case, and the
//! real-kernel backend must reproduce every case: both run this table
//! through [`run_case`] / [`run_all`]. No Go code is mirrored here.
//!
//! File format (unknown fields are rejected):
//!
//! ```toml
//! [[case]]
//! name = "unique name"
//! section = "Address overlap"      # a LINUX.md section, see SECTIONS
//! source = "added"                 # optional; default "LINUX.md"
//! ops = [
//!   { op = "bind", sock = "s1", ns = "a", proto = "tcp", addr = "::", port = 20000,
//!     ra = true, rp = false, v6only = false, privileged = false, expect = "ok" },
//!   { op = "listen", sock = "s1", expect = "ok" },
//!   { op = "close", sock = "s1", expect = "EBADF" },
//!   { op = "sysctl", ns = "b", name = "ip_local_port_range", expect = "ok", value = "32768\t60999" },
//! ]
//! ```
//!
//! `ns` defaults to "a"; `ra`, `rp` and `privileged` default to false; an
//! IPv6 bind must state `v6only` and an IPv4 bind must not. Each bind names
//! a new socket; listen and close name an earlier bind's socket (in that
//! socket's namespace) even if that bind failed. `expect` is "ok" or an
//! errno name; a sysctl expecting "ok" also gives the `value` it reads.

use super::{BindReq, Errno, Net, NsConfig, NsId, Proto, SockId};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

/// The table, compiled in.
pub const RULES: &str = include_str!("../../data/bind-rules.toml");

/// The LINUX.md sections a case may come from.
pub const SECTIONS: [&str; 4] = [
    "Address overlap",
    "Reuse options",
    "What moby and rootlesskit open",
    "Namespaces and ranges",
];

/// Namespaces a case uses: "a" is `ns_base`, "b" is `ns_base + 1`.
pub const NS_PER_CASE: usize = 2;

/// Socket ids of one case are `ns_base * IDS_PER_NS_BASE + k`, so that
/// cases sharing one [`Net`] never share an id.
const IDS_PER_NS_BASE: u32 = 1000;

/// Where a case comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A row of LINUX.md.
    LinuxMd,
    /// Certain Linux behaviour that LINUX.md does not list.
    Added,
}

/// One of the two namespaces of a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ns {
    A,
    B,
}

impl Ns {
    fn index(self) -> usize {
        match self {
            Ns::A => 0,
            Ns::B => 1,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Ns::A => "a",
            Ns::B => "b",
        }
    }
}

/// What an operation does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Bind {
        sock: String,
        ns: Ns,
        req: BindReq,
        privileged: bool,
    },
    Listen {
        sock: String,
    },
    Close {
        sock: String,
    },
    Sysctl {
        ns: Ns,
        name: String,
    },
}

/// The result an operation must give.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    Ok,
    /// A sysctl read succeeding with this text.
    Value(String),
    Err(Errno),
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Ok => f.write_str("ok"),
            Expect::Value(v) => write!(f, "ok {v:?}"),
            Expect::Err(e) => f.write_str(e.name()),
        }
    }
}

/// One step of a case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    pub action: Action,
    pub expect: Expect,
}

/// One case of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    pub name: String,
    pub section: String,
    pub source: Source,
    pub ops: Vec<Op>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    case: Vec<RawCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: String,
    section: String,
    source: Option<String>,
    ops: Vec<RawOp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOp {
    op: String,
    sock: Option<String>,
    ns: Option<String>,
    proto: Option<String>,
    addr: Option<String>,
    port: Option<u16>,
    ra: Option<bool>,
    rp: Option<bool>,
    v6only: Option<bool>,
    privileged: Option<bool>,
    name: Option<String>,
    value: Option<String>,
    expect: String,
}

/// Parse and validate a rules file.
pub fn load(text: &str) -> Result<Vec<Case>, String> {
    let raw: RawFile = toml::from_str(text).map_err(|e| format!("bind rules: {e}"))?;
    let mut names = BTreeSet::new();
    let mut cases = Vec::with_capacity(raw.case.len());
    for (i, rc) in raw.case.into_iter().enumerate() {
        let what = format!("case {} ({:?})", i + 1, rc.name);
        if rc.name.is_empty() {
            return Err(format!("{what}: empty name"));
        }
        if !names.insert(rc.name.clone()) {
            return Err(format!("{what}: duplicate name"));
        }
        if !SECTIONS.contains(&rc.section.as_str()) {
            return Err(format!("{what}: unknown section {:?}", rc.section));
        }
        let source = match rc.source.as_deref() {
            None | Some("LINUX.md") => Source::LinuxMd,
            Some("added") => Source::Added,
            Some(s) => return Err(format!("{what}: unknown source {s:?}")),
        };
        if rc.ops.is_empty() {
            return Err(format!("{what}: no ops"));
        }
        if rc.ops.len() >= IDS_PER_NS_BASE as usize {
            return Err(format!("{what}: too many ops"));
        }
        let mut socks = BTreeSet::new();
        let mut ops = Vec::with_capacity(rc.ops.len());
        for (j, ro) in rc.ops.into_iter().enumerate() {
            let op = parse_op(ro, &mut socks).map_err(|e| format!("{what} op {}: {e}", j + 1))?;
            ops.push(op);
        }
        cases.push(Case {
            name: rc.name,
            section: rc.section,
            source,
            ops,
        });
    }
    Ok(cases)
}

fn parse_ns(ns: Option<&str>) -> Result<Ns, String> {
    match ns {
        None | Some("a") => Ok(Ns::A),
        Some("b") => Ok(Ns::B),
        Some(s) => Err(format!("unknown ns {s:?} (want \"a\" or \"b\")")),
    }
}

fn parse_op(ro: RawOp, socks: &mut BTreeSet<String>) -> Result<Op, String> {
    let expect = match ro.expect.as_str() {
        "ok" => Expect::Ok,
        s => Expect::Err(Errno::from_name(s).ok_or_else(|| format!("unknown expect {s:?}"))?),
    };
    // Which optional fields each op may carry.
    let given = [
        ("sock", ro.sock.is_some()),
        ("ns", ro.ns.is_some()),
        ("proto", ro.proto.is_some()),
        ("addr", ro.addr.is_some()),
        ("port", ro.port.is_some()),
        ("ra", ro.ra.is_some()),
        ("rp", ro.rp.is_some()),
        ("v6only", ro.v6only.is_some()),
        ("privileged", ro.privileged.is_some()),
        ("name", ro.name.is_some()),
        ("value", ro.value.is_some()),
    ];
    let allowed: &[&str] = match ro.op.as_str() {
        "bind" => &[
            "sock",
            "ns",
            "proto",
            "addr",
            "port",
            "ra",
            "rp",
            "v6only",
            "privileged",
        ],
        "listen" | "close" => &["sock"],
        "sysctl" => &["ns", "name", "value"],
        s => return Err(format!("unknown op {s:?}")),
    };
    if let Some((f, _)) = given.iter().find(|(f, g)| *g && !allowed.contains(f)) {
        return Err(format!("{} does not take {f}", ro.op));
    }
    let need = |f: &str| format!("{} needs {f}", ro.op);
    let action = match ro.op.as_str() {
        "bind" => {
            let sock = ro.sock.ok_or_else(|| need("sock"))?;
            if !socks.insert(sock.clone()) {
                return Err(format!("socket {sock:?} is bound twice"));
            }
            let p = ro.proto.ok_or_else(|| need("proto"))?;
            let proto = Proto::parse(&p).ok_or_else(|| format!("unknown proto {p:?}"))?;
            let a = ro.addr.ok_or_else(|| need("addr"))?;
            let addr: IpAddr = a.parse().map_err(|_| format!("bad addr {a:?}"))?;
            let port = ro.port.ok_or_else(|| need("port"))?;
            let v6only = match (addr.is_ipv6(), ro.v6only) {
                (true, Some(v)) => v,
                (true, None) => return Err("an IPv6 bind must state v6only".into()),
                (false, Some(_)) => return Err("an IPv4 bind takes no v6only".into()),
                (false, None) => false,
            };
            Action::Bind {
                sock,
                ns: parse_ns(ro.ns.as_deref())?,
                req: BindReq {
                    proto,
                    addr,
                    port,
                    reuse_addr: ro.ra.unwrap_or(false),
                    reuse_port: ro.rp.unwrap_or(false),
                    v6only,
                },
                privileged: ro.privileged.unwrap_or(false),
            }
        }
        "listen" | "close" => {
            let sock = ro.sock.ok_or_else(|| need("sock"))?;
            if !socks.contains(&sock) {
                return Err(format!("socket {sock:?} is not bound earlier"));
            }
            if ro.op == "listen" {
                Action::Listen { sock }
            } else {
                Action::Close { sock }
            }
        }
        _ => {
            let name = ro.name.ok_or_else(|| need("name"))?;
            let ns = parse_ns(ro.ns.as_deref())?;
            let expect = match (expect, ro.value) {
                (Expect::Ok, Some(v)) => Expect::Value(v),
                (Expect::Ok, None) => return Err("sysctl expecting ok needs value".into()),
                (_, Some(_)) => {
                    return Err("sysctl expecting an errno takes no value".into());
                }
                (e, None) => e,
            };
            return Ok(Op {
                action: Action::Sysctl { ns, name },
                expect,
            });
        }
    };
    Ok(Op { action, expect })
}

fn outcome(r: Result<(), Errno>) -> Expect {
    match r {
        Ok(()) => Expect::Ok,
        Err(e) => Expect::Err(e),
    }
}

/// Run `case` on `net`, whose namespaces `ns_base` and `ns_base + 1` must
/// not exist yet (they are created with [`NsConfig::default`]). Every
/// socket the case opened is closed at the end, also after a mismatch.
/// Returns the first mismatch as `case NAME op N: expected X, got Y` (N
/// counts from 1), or a setup/cleanup failure.
pub fn run_case(net: &dyn Net, ns_base: usize, case: &Case) -> Result<(), String> {
    let name = &case.name;
    let ns_id = |ns: Ns| NsId(ns_base + ns.index());
    for ns in [Ns::A, Ns::B] {
        net.create_ns(ns_id(ns), &NsConfig::default())
            .map_err(|e| format!("case {name}: create namespace {}: {e}", ns.name()))?;
    }
    let id_base = u32::try_from(ns_base)
        .ok()
        .and_then(|b| b.checked_mul(IDS_PER_NS_BASE))
        .ok_or_else(|| format!("case {name}: ns_base {ns_base} too large"))?;
    // Socket name -> (namespace, id); ids that are open now.
    let mut socks: BTreeMap<&str, (NsId, SockId)> = BTreeMap::new();
    let mut open: BTreeMap<SockId, (NsId, &str)> = BTreeMap::new();
    let mut first_err: Option<String> = None;
    for (i, op) in case.ops.iter().enumerate() {
        let got = match &op.action {
            Action::Bind {
                sock,
                ns,
                req,
                privileged,
            } => {
                let id = SockId(id_base + i as u32 + 1);
                let ns = ns_id(*ns);
                socks.insert(sock, (ns, id));
                let r = net.bind(ns, id, req, *privileged);
                if r.is_ok() {
                    open.insert(id, (ns, sock));
                }
                outcome(r)
            }
            Action::Listen { sock } | Action::Close { sock } => {
                let Some(&(ns, id)) = socks.get(sock.as_str()) else {
                    first_err = Some(format!("case {name} op {}: unknown socket {sock}", i + 1));
                    break;
                };
                if matches!(op.action, Action::Listen { .. }) {
                    outcome(net.listen(ns, id))
                } else {
                    let r = net.close(ns, id);
                    if r.is_ok() {
                        open.remove(&id);
                    }
                    outcome(r)
                }
            }
            Action::Sysctl { ns, name } => match net.sysctl(ns_id(*ns), name) {
                Ok(v) => Expect::Value(v),
                Err(e) => Expect::Err(e),
            },
        };
        if got != op.expect {
            first_err = Some(format!(
                "case {name} op {}: expected {}, got {got}",
                i + 1,
                op.expect
            ));
            break;
        }
    }
    for (id, (ns, sock)) in &open {
        if let Err(e) = net.close(*ns, *id) {
            first_err.get_or_insert_with(|| {
                format!("case {name} cleanup: close {sock}: got {}", e.name())
            });
        }
    }
    for ns in [Ns::A, Ns::B] {
        let left = net.sockets(ns_id(ns));
        if !left.is_empty() {
            let ids: Vec<String> = left.iter().map(|s| s.id.to_string()).collect();
            first_err.get_or_insert_with(|| {
                format!(
                    "case {name} cleanup: sockets left open in ns {}: {}",
                    ns.name(),
                    ids.join(" ")
                )
            });
        }
    }
    first_err.map_or(Ok(()), Err)
}

/// Run every case on a fresh backend from `new_net` (namespaces 0 and 1);
/// the mismatches, in table order.
pub fn run_all(new_net: &dyn Fn() -> Box<dyn Net>, cases: &[Case]) -> Vec<String> {
    cases
        .iter()
        .filter_map(|c| run_case(new_net().as_ref(), 0, c).err())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::SockInfo;
    use super::super::sim::SimNet;
    use super::*;

    fn rules() -> Vec<Case> {
        load(RULES).unwrap()
    }

    fn sim() -> Box<dyn Net> {
        Box::new(SimNet::new())
    }

    #[test]
    fn every_case_agrees_with_simnet() {
        let bad = run_all(&sim, &rules());
        assert!(bad.is_empty(), "{}", bad.join("\n"));
    }

    #[test]
    fn every_case_agrees_with_one_shared_simnet() {
        let net = SimNet::new();
        for (i, c) in rules().iter().enumerate() {
            run_case(&net, i * NS_PER_CASE, c).unwrap();
        }
    }

    #[test]
    fn case_count_floor() {
        let cases = rules();
        let count = |section: &str, source: Source| {
            cases
                .iter()
                .filter(|c| c.section == section && c.source == source)
                .count()
        };
        let l = Source::LinuxMd;
        // 9 overlap rows expanded by proto and order.
        assert!(count("Address overlap", l) >= 56, "overlap rows");
        // 7 option rows x 3 columns x 4 address pairs, plus the bullets.
        assert!(count("Reuse options", l) >= 84 + 4 + 2 + 2, "reuse rows");
        assert!(
            count("What moby and rootlesskit open", l) >= 16,
            "moby rows"
        );
        assert!(count("Namespaces and ranges", l) >= 11, "namespace rows");
        let added = cases.iter().filter(|c| c.source == Source::Added).count();
        assert!(added >= 18, "added cases");
        assert!(cases.len() >= 193, "{} cases", cases.len());
    }

    #[test]
    fn table_ports_are_unprivileged_except_privilege_rows() {
        for c in rules() {
            for op in &c.ops {
                if let Action::Bind { req, .. } = &op.action {
                    assert!(
                        req.port >= 20000 || c.name.contains("privileged"),
                        "{}: port {}",
                        c.name,
                        req.port
                    );
                }
            }
        }
    }

    const WRONG: &str = r#"
[[case]]
name = "wrong on purpose"
section = "Address overlap"
ops = [
  { op = "bind", sock = "s1", proto = "tcp", addr = "0.0.0.0", port = 20000, expect = "ok" },
  { op = "listen", sock = "s1", expect = "ok" },
  { op = "bind", sock = "s2", proto = "tcp", addr = "127.0.0.1", port = 20000, expect = "ok" },
  { op = "listen", sock = "s2", expect = "ok" },
]
"#;

    #[test]
    fn runner_reports_the_first_mismatch_and_cleans_up() {
        let cases = load(WRONG).unwrap();
        let net = SimNet::new();
        let err = run_case(&net, 0, &cases[0]).unwrap_err();
        assert_eq!(
            err,
            "case wrong on purpose op 3: expected ok, got EADDRINUSE"
        );
        assert!(net.sockets(NsId(0)).is_empty());
        assert_eq!(run_all(&sim, &cases), vec![err]);
    }

    #[test]
    fn runner_reports_a_wrong_sysctl_value() {
        let text = r#"
[[case]]
name = "range"
section = "Namespaces and ranges"
ops = [ { op = "sysctl", ns = "b", name = "ip_local_port_range", expect = "ok", value = "1 2" } ]
"#;
        let err = run_case(&SimNet::new(), 0, &load(text).unwrap()[0]).unwrap_err();
        assert_eq!(
            err,
            r#"case range op 1: expected ok "1 2", got ok "32768\t60999""#
        );
    }

    /// A backend that forgets to close: the runner must notice.
    struct Leaky(SimNet);

    impl Net for Leaky {
        fn name(&self) -> &'static str {
            "leaky"
        }
        fn create_ns(&self, ns: NsId, cfg: &NsConfig) -> Result<(), String> {
            self.0.create_ns(ns, cfg)
        }
        fn bind(&self, ns: NsId, id: SockId, req: &BindReq, p: bool) -> Result<(), Errno> {
            self.0.bind(ns, id, req, p)
        }
        fn listen(&self, ns: NsId, id: SockId) -> Result<(), Errno> {
            self.0.listen(ns, id)
        }
        fn close(&self, _ns: NsId, _id: SockId) -> Result<(), Errno> {
            Ok(())
        }
        fn sockets(&self, ns: NsId) -> Vec<SockInfo> {
            self.0.sockets(ns)
        }
        fn probe(&self, ns: NsId, r: &BindReq, l: bool, p: bool) -> Result<(), Errno> {
            self.0.probe(ns, r, l, p)
        }
        fn sysctl(&self, ns: NsId, name: &str) -> Result<String, Errno> {
            self.0.sysctl(ns, name)
        }
    }

    #[test]
    fn runner_reports_sockets_left_open() {
        let text = r#"
[[case]]
name = "one socket"
section = "Address overlap"
ops = [ { op = "bind", sock = "s1", ns = "b", proto = "udp", addr = "::1", v6only = true, port = 20000, expect = "ok" } ]
"#;
        let err = run_case(&Leaky(SimNet::new()), 3, &load(text).unwrap()[0]).unwrap_err();
        assert_eq!(
            err,
            "case one socket cleanup: sockets left open in ns b: s3001"
        );
    }

    /// SimNet with one bind option rewritten: the table must catch it.
    struct Broken(SimNet, fn(&mut BindReq));

    impl Net for Broken {
        fn name(&self) -> &'static str {
            "broken"
        }
        fn create_ns(&self, ns: NsId, cfg: &NsConfig) -> Result<(), String> {
            self.0.create_ns(ns, cfg)
        }
        fn bind(&self, ns: NsId, id: SockId, req: &BindReq, p: bool) -> Result<(), Errno> {
            let mut r = *req;
            (self.1)(&mut r);
            self.0.bind(ns, id, &r, p)
        }
        fn listen(&self, ns: NsId, id: SockId) -> Result<(), Errno> {
            self.0.listen(ns, id)
        }
        fn close(&self, ns: NsId, id: SockId) -> Result<(), Errno> {
            self.0.close(ns, id)
        }
        fn sockets(&self, ns: NsId) -> Vec<SockInfo> {
            self.0.sockets(ns)
        }
        fn probe(&self, ns: NsId, r: &BindReq, l: bool, p: bool) -> Result<(), Errno> {
            self.0.probe(ns, r, l, p)
        }
        fn sysctl(&self, ns: NsId, name: &str) -> Result<String, Errno> {
            self.0.sysctl(ns, name)
        }
    }

    #[test]
    fn table_catches_a_kernel_that_ignores_an_option() {
        let breakages: [fn(&mut BindReq); 4] = [
            |r| r.reuse_addr = false,
            |r| r.reuse_port = false,
            |r| r.v6only = true,
            |r| r.v6only = false,
        ];
        let cases = rules();
        for (i, f) in breakages.into_iter().enumerate() {
            let bad = run_all(&|| Box::new(Broken(SimNet::new(), f)), &cases);
            assert!(!bad.is_empty(), "breakage {i} went unnoticed");
        }
    }

    fn load_err(ops: &str) -> String {
        let text =
            format!("[[case]]\nname = \"x\"\nsection = \"Address overlap\"\nops = [\n{ops}\n]\n");
        load(&text).unwrap_err()
    }

    #[test]
    fn load_rejects_bad_input_without_panicking() {
        let b = r#"{ op = "bind", sock = "s1", proto = "tcp", addr = "0.0.0.0", port = 20000, expect = "ok" }"#;
        let cases = [
            (
                r#"{ op = "bind", sock = "s1", expect = "ok", colour = 1 }"#,
                "unknown field",
            ),
            (r#"{ op = "jump", expect = "ok" }"#, "unknown op"),
            (
                r#"{ op = "listen", sock = "s1", expect = "ok" }"#,
                "not bound earlier",
            ),
            (&format!("{b},\n{b}"), "bound twice"),
            (&b.replace("\"ok\"", "\"EWHAT\""), "unknown expect"),
            (&b.replace("tcp", "icmp"), "unknown proto"),
            (&b.replace("0.0.0.0", "localhost"), "bad addr"),
            (&b.replace("port = 20000, ", ""), "bind needs port"),
            (&b.replace("0.0.0.0", "::"), "must state v6only"),
            (&b.replace("port", "v6only = true, port"), "takes no v6only"),
            (&b.replace("port", "ns = \"c\", port"), "unknown ns"),
            (
                &format!("{b},\n{{ op = \"listen\", sock = \"s1\", ns = \"a\", expect = \"ok\" }}"),
                "listen does not take ns",
            ),
            (
                r#"{ op = "sysctl", name = "ip_local_port_range", expect = "ok" }"#,
                "needs value",
            ),
            (
                r#"{ op = "bind", sock = "s1", proto = "tcp", addr = "0.0.0.0", port = 70000, expect = "ok" }"#,
                "bind rules",
            ),
        ];
        for (ops, want) in cases {
            let e = load_err(ops);
            assert!(e.contains(want), "{ops}\n=> {e}");
        }
        let dup = "[[case]]\nname = \"x\"\nsection = \"Address overlap\"\nops = [{ op = \"sysctl\", name = \"n\", expect = \"EINVAL\" }]\n";
        assert!(
            load(&format!("{dup}{dup}"))
                .unwrap_err()
                .contains("duplicate name")
        );
        let sec = dup.replace("Address overlap", "Elsewhere");
        assert!(load(&sec).unwrap_err().contains("unknown section"));
        let src = dup.replace("ops", "source = \"folklore\"\nops");
        assert!(load(&src).unwrap_err().contains("unknown source"));
        assert!(load("[[case]]\nname = 1").is_err());
    }

    #[test]
    fn load_reads_defaults_and_the_op_list() {
        let text = r#"
[[case]]
name = "defaults"
section = "Reuse options"
source = "added"
ops = [
  { op = "bind", sock = "s1", ns = "b", proto = "udp", addr = "::", port = 20000, v6only = true, rp = true, expect = "ok" },
  { op = "close", sock = "s1", expect = "EBADF" },
]
"#;
        let c = &load(text).unwrap()[0];
        assert_eq!(c.source, Source::Added);
        assert_eq!(
            c.ops[0].action,
            Action::Bind {
                sock: "s1".into(),
                ns: Ns::B,
                req: BindReq {
                    proto: Proto::Udp,
                    addr: "::".parse().unwrap(),
                    port: 20000,
                    reuse_addr: false,
                    reuse_port: true,
                    v6only: true,
                },
                privileged: false,
            }
        );
        assert_eq!(c.ops[1].expect, Expect::Err(Errno::EBADF));
    }
}
