//! The model of rootlesskit's builtin port driver against the REAL
//! rootlesskit binary (Debian's package; see scripts/install-rootlesskit.sh).
//!
//! Each row of [`ROWS`] is a request sequence (with third-party programs
//! holding ports in the host namespace first) and whether the real daemon
//! and the model must answer identically. Every row runs against a fresh
//! real daemon (in its own unnamed network namespace, see
//! `portsim::rootlesskit::real`) and a fresh model (`Builtin` on a
//! `Kernel` over `SimNet`), and status codes and bodies are compared as
//! bytes. What the real daemon answered is printed for the CI log.
//!
//! Run by the `harness = false` test `tests/rootlesskit_real.rs`, which
//! reports the test SKIPPED (with the reason) when the real daemon cannot
//! run here.

use portsim::kernel::sim::SimNet;
use portsim::kernel::{BindReq, Kernel, NsConfig, NsId, Proto};
use portsim::rootlesskit::api::{Response, delete_port, post_ports};
use portsim::rootlesskit::builtin::Builtin;
use portsim::rootlesskit::real::{Proc, RealRootlesskit};
use portsim::rootlesskit::{PortDriver, Spec};
use portsim::trace::Trace;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A third-party program holding a port in the host namespace before the
/// requests: TCP is bound with SO_REUSEADDR and listening, UDP plainly
/// bound; an IPv6 wildcard is dual-stack (V6ONLY=0).
#[derive(Clone, Copy, Debug)]
struct Hold {
    proto: Proto,
    addr: &'static str,
    port: u16,
}

#[derive(Clone, Copy, Debug)]
enum Step {
    /// POST /v1/ports: proto, parentIP, parentPort, childIP, childPort.
    Post(&'static str, &'static str, i32, &'static str, i32),
    /// DELETE /v1/ports/{id}.
    Delete(u32),
}

#[derive(Clone, Copy, Debug)]
enum Expect {
    /// Real and model answer every step with the same status and bytes.
    Same,
    /// They legitimately differ; the real answers are pinned here so a
    /// change in the binary still fails the test.
    Differs {
        why: &'static str,
        real: &'static [(u16, &'static str)],
    },
}

struct Row {
    name: &'static str,
    holds: &'static [Hold],
    steps: &'static [Step],
    expect: Expect,
}

const P: u16 = 8181;
const PI: i32 = P as i32;

const fn tcp(addr: &'static str) -> Hold {
    Hold {
        proto: Proto::Tcp,
        addr,
        port: P,
    }
}

const fn udp(addr: &'static str) -> Hold {
    Hold {
        proto: Proto::Udp,
        addr,
        port: P,
    }
}

use Step::{Delete, Post};

const ROWS: &[Row] = &[
    Row {
        name: "free port",
        holds: &[],
        steps: &[Post("tcp4", "0.0.0.0", PI, "127.0.0.1", 80)],
        expect: Expect::Same,
    },
    Row {
        name: "occupied port: a host program holds 0.0.0.0:P",
        holds: &[tcp("0.0.0.0")],
        steps: &[Post("tcp4", "0.0.0.0", PI, "127.0.0.1", 80)],
        expect: Expect::Same,
    },
    Row {
        name: "same spec twice",
        holds: &[],
        steps: &[
            Post("tcp4", "0.0.0.0", PI, "127.0.0.1", 80),
            Post("tcp4", "0.0.0.0", PI, "127.0.0.1", 80),
        ],
        expect: Expect::Same,
    },
    Row {
        name: "remove twice",
        holds: &[],
        steps: &[
            Post("tcp4", "0.0.0.0", PI, "127.0.0.1", 80),
            Delete(1),
            Delete(1),
        ],
        expect: Expect::Same,
    },
    Row {
        name: "removed port can be added again with the next id",
        holds: &[],
        steps: &[
            Post("tcp4", "0.0.0.0", PI, "127.0.0.1", 80),
            Delete(1),
            Post("tcp4", "0.0.0.0", PI, "127.0.0.1", 80),
            Delete(1),
        ],
        expect: Expect::Same,
    },
    Row {
        name: "127.0.0.1:P against an existing 0.0.0.0:P reaches the kernel",
        holds: &[],
        steps: &[
            Post("tcp4", "0.0.0.0", PI, "127.0.0.1", 80),
            Post("tcp4", "127.0.0.1", PI, "127.0.0.1", 81),
        ],
        expect: Expect::Same,
    },
    Row {
        name: "tcp6 [::]:P is V6ONLY: tcp4 0.0.0.0:P still binds",
        holds: &[],
        steps: &[
            Post("tcp6", "::", PI, "::1", 80),
            Post("tcp4", "0.0.0.0", PI, "127.0.0.1", 80),
        ],
        expect: Expect::Same,
    },
    Row {
        name: "tcp6 and tcp4 against a dual-stack host program on [::]:P",
        holds: &[tcp("::")],
        steps: &[
            Post("tcp6", "::", PI, "::1", 80),
            Post("tcp4", "0.0.0.0", PI, "127.0.0.1", 80),
        ],
        expect: Expect::Same,
    },
    Row {
        name: "plain tcp on 0.0.0.0 listens dual-stack; tcp on :: prints 0.0.0.0",
        holds: &[],
        steps: &[
            Post("tcp", "0.0.0.0", PI, "", 80),
            Post("tcp", "::", PI, "", 80),
        ],
        expect: Expect::Same,
    },
    Row {
        name: "udp4 free, then udp6 on the same port",
        holds: &[],
        steps: &[
            Post("udp4", "0.0.0.0", PI, "127.0.0.1", 53),
            Post("udp6", "::", PI, "::1", 53),
        ],
        expect: Expect::Same,
    },
    Row {
        name: "udp4 against a host program bound to 0.0.0.0:P",
        holds: &[udp("0.0.0.0")],
        steps: &[
            Post("udp4", "0.0.0.0", PI, "127.0.0.1", 53),
            Post("udp6", "::", PI, "::1", 53),
        ],
        expect: Expect::Same,
    },
    Row {
        name: "validation: ports quoted as runes, bad IP, unknown proto",
        holds: &[],
        steps: &[
            Post("tcp4", "0.0.0.0", 0, "127.0.0.1", 80),
            Post("tcp4", "0.0.0.0", PI, "127.0.0.1", 70000),
            Post("tcp4", "localhost", PI, "127.0.0.1", 80),
            Post("quic", "0.0.0.0", PI, "127.0.0.1", 80),
        ],
        expect: Expect::Same,
    },
    Row {
        name: "sctp passes validation, then the driver refuses it",
        holds: &[],
        steps: &[Post("sctp", "0.0.0.0", PI, "127.0.0.1", 80)],
        expect: Expect::Differs {
            why: "AddPort's default case: v1.1.0 says \"spec was not validated?\", \
                  e780dd3 (modelled) says \"unsupported port protocol sctp\"",
            real: &[(400, "{\"message\":\"spec was not validated?\"}\n")],
        },
    },
    Row {
        name: "privileged port 80",
        holds: &[],
        steps: &[Post("tcp4", "0.0.0.0", 80, "127.0.0.1", 80)],
        expect: Expect::Differs {
            why: "the real daemon runs as root here (CAP_NET_BIND_SERVICE in \
                  the host namespace); the model's rootlesskit is unprivileged",
            real: &[(
                201,
                "{\"id\":1,\"spec\":{\"proto\":\"tcp4\",\"parentIP\":\"0.0.0.0\",\"parentPort\":80,\"childPort\":80,\"childIP\":\"127.0.0.1\"}}",
            )],
        },
    },
];

fn spec_of(step: &Step) -> Option<Spec> {
    match *step {
        Post(proto, pip, pport, cip, cport) => Some(Spec {
            proto: proto.into(),
            parent_ip: pip.into(),
            parent_port: pport,
            child_ip: cip.into(),
            child_port: cport,
        }),
        Delete(_) => None,
    }
}

fn describe(step: &Step) -> String {
    match step {
        Post(..) => format!("POST {}", spec_of(step).expect("post").describe()),
        Delete(id) => format!("DELETE /v1/ports/{id}"),
    }
}

/// The model: a simulated host (with the row's programs) and one child;
/// the builtin driver answering through `api::post_ports`/`delete_port`.
fn run_model(row: &'static Row) -> Vec<Response> {
    let out: Arc<Mutex<Vec<Response>>> = Arc::default();
    let out2 = out.clone();
    portsim::sync::run_once(move || {
        let cfgs = [NsConfig::default(), NsConfig::default()];
        let k = Arc::new(
            Kernel::new(Arc::new(SimNet::new()), &cfgs, Trace::new()).expect("namespaces"),
        );
        for h in row.holds {
            let req = BindReq {
                proto: h.proto,
                addr: h.addr.parse().expect("address"),
                port: h.port,
                reuse_addr: h.proto == Proto::Tcp,
                reuse_port: false,
                v6only: false,
            };
            let s = k
                .bind("occ", NsId::HOST, &req, true, "occupant")
                .expect("occupant bind");
            if h.proto == Proto::Tcp {
                k.listen("occ", NsId::HOST, s).expect("occupant listen");
            }
        }
        let d = Builtin::new(k.clone(), "rlk");
        let answers: Vec<Response> = row
            .steps
            .iter()
            .map(|step| match step {
                Post(..) => post_ports(&d, "c1", &spec_of(step).expect("post")),
                Delete(id) => delete_port(&d, "c1", *id),
            })
            .collect();
        *out2.lock().unwrap() = answers;
    });
    out.lock().unwrap().clone()
}

/// Host-namespace sockets held for a row; dropped (closed) after it.
enum Held {
    Tcp(#[allow(dead_code)] std::net::TcpListener),
    Udp(#[allow(dead_code)] std::net::UdpSocket),
}

/// The real daemon, fresh for the row. Returns the answers and every
/// process the daemon's tree had.
fn run_real(row: &Row) -> (Vec<Response>, Vec<Proc>) {
    let mut rlk = RealRootlesskit::start().unwrap_or_else(|e| panic!("start rootlesskit: {e}"));
    let mut held = Vec::new();
    for h in row.holds {
        let ip: std::net::IpAddr = h.addr.parse().expect("address");
        let addr = SocketAddr::new(ip, h.port);
        held.push(match h.proto {
            Proto::Tcp => Held::Tcp(rlk.hold_tcp(addr).expect("hold tcp")),
            Proto::Udp => Held::Udp(rlk.hold_udp(addr).expect("hold udp")),
            other => panic!("no holder for {other:?}"),
        });
    }
    let mut answers = Vec::new();
    for step in row.steps {
        let a = match step {
            Post(..) => rlk.post_ports_full(&spec_of(step).expect("post")),
            Delete(id) => rlk.delete_port_full(*id),
        }
        .unwrap_or_else(|e| panic!("{}: {e}", describe(step)));
        println!(
            "    real: {:<52} -> {} {:?} (content-type {:?})",
            describe(step),
            a.response.status,
            a.response.body,
            a.header("content-type").unwrap_or("-")
        );
        answers.push(a.response);
    }
    drop(held);
    let procs = rlk.processes();
    let dir = rlk.temp_dir().to_path_buf();
    drop(rlk);
    assert!(!dir.exists(), "temp dir {dir:?} left behind");
    (answers, procs)
}

fn ip_netns_list() -> String {
    std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// The model's port driver info: driver, protos, disallowLoopbackChildIP.
type ModelInfo = (String, Vec<String>, bool);

/// The port driver part of `GET /v1/info` against the model's `info()`.
fn compare_info() -> Vec<Proc> {
    let mut rlk = RealRootlesskit::start().unwrap_or_else(|e| panic!("start rootlesskit: {e}"));
    let r = rlk.info().expect("GET /v1/info");
    println!("  info: {} {}", r.status, r.body.trim_end());
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("info JSON");
    let pd = &v["portDriver"];
    let model: Arc<Mutex<Option<ModelInfo>>> = Arc::default();
    let m2 = model.clone();
    portsim::sync::run_once(move || {
        let cfgs = [NsConfig::default(), NsConfig::default()];
        let k = Arc::new(
            Kernel::new(Arc::new(SimNet::new()), &cfgs, Trace::new()).expect("namespaces"),
        );
        let i = Builtin::new(k, "rlk").info();
        *m2.lock().unwrap() = Some((
            i.driver.to_string(),
            i.protos.iter().map(|s| s.to_string()).collect(),
            i.disallow_loopback_child_ip,
        ));
    });
    let (driver, protos, disallow) = model.lock().unwrap().clone().expect("model info");
    assert_eq!(pd["driver"].as_str(), Some(driver.as_str()));
    let real_protos: Vec<String> = pd["protos"]
        .as_array()
        .expect("protos")
        .iter()
        .map(|p| p.as_str().expect("proto").to_string())
        .collect();
    assert_eq!(real_protos, protos);
    assert_eq!(
        pd["disallowLoopbackChildIP"].as_bool().unwrap_or(false),
        disallow
    );
    let procs = rlk.processes();
    drop(rlk);
    procs
}

/// Why the real daemon cannot run here, if it cannot.
pub fn unavailable() -> Option<String> {
    RealRootlesskit::unavailable()
}

/// The comparison; panics on a difference. Call only when [`unavailable`]
/// is None.
pub fn real_builtin_driver_answers_like_the_model() {
    let t0 = Instant::now();
    let netns_before = ip_netns_list();
    println!(
        "real daemon: {}",
        RealRootlesskit::version().unwrap_or_else(|e| e)
    );
    let mut started: Vec<Proc> = compare_info();
    let mut failures = Vec::new();
    for row in ROWS {
        println!("row: {}", row.name);
        let model = run_model(row);
        let (real, procs) = run_real(row);
        started.extend(procs);
        match row.expect {
            Expect::Same => {
                for ((step, r), m) in row.steps.iter().zip(&real).zip(&model) {
                    if r != m {
                        failures.push(format!(
                            "{}: {}\n      real:  {} {:?}\n      model: {} {:?}",
                            row.name,
                            describe(step),
                            r.status,
                            r.body,
                            m.status,
                            m.body
                        ));
                    }
                }
            }
            Expect::Differs { why, real: pinned } => {
                println!("    differs by design: {why}");
                let got: Vec<(u16, &str)> =
                    real.iter().map(|r| (r.status, r.body.as_str())).collect();
                if got != pinned {
                    failures.push(format!(
                        "{}: real answers changed: {got:?}, pinned {pinned:?}",
                        row.name
                    ));
                }
                if real == model {
                    failures.push(format!(
                        "{}: real and model now agree; turn the row into Same",
                        row.name
                    ));
                }
                for (step, m) in row.steps.iter().zip(&model) {
                    println!(
                        "    model: {:<51} -> {} {:?}",
                        describe(step),
                        m.status,
                        m.body
                    );
                }
            }
        }
    }
    let alive: Vec<&Proc> = started.iter().filter(|p| p.alive()).collect();
    assert!(
        alive.is_empty(),
        "processes left behind: {alive:?} (of {} started)",
        started.len()
    );
    assert_eq!(
        ip_netns_list(),
        netns_before,
        "ip netns list changed: named namespaces appeared"
    );
    println!(
        "{} rows, {} processes started and stopped, {:.1}s",
        ROWS.len(),
        started.len(),
        t0.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
