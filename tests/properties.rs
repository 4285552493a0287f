//! Every property fails somewhere: on a known-bad policy or on a
//! deliberately broken variant (`portsim::mapper::broken`, or a kernel
//! without port tables), and holds on the same scenario otherwise.
// Shuttle-driven: the os-threads build (`stress` only) leaves the engines out.
#![cfg(not(feature = "os-threads"))]

use portsim::check::Property;
use portsim::explore::{KernelKind, run_seed, run_seed_with};
use portsim::kernel::{BindReq, Errno, Net, NsConfig, NsId, SockId, SockInfo};
use portsim::mapper::{Policy, broken, by_name};
use portsim::report::RunReport;
use portsim::scenario::{Scenario, parse_str};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

fn scenario(text: &str) -> Arc<Scenario> {
    Arc::new(parse_str("inline.toml", text).unwrap_or_else(|e| panic!("{e}")))
}

fn shipped(file: &str) -> Arc<Scenario> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(file);
    Arc::new(portsim::scenario::load(&p).unwrap())
}

fn run(sc: &Arc<Scenario>, policy: &'static dyn Policy) -> RunReport {
    run_seed(sc, policy, 0, KernelKind::Sim).unwrap()
}

fn violated(r: &RunReport) -> Vec<Property> {
    r.properties
        .iter()
        .filter(|p| !p.holds)
        .map(|p| p.property)
        .collect()
}

fn assert_only(r: &RunReport, want: &[Property]) {
    assert_eq!(violated(r), want, "\n{}", r.text());
}

const START_STOP: &str = r#"
name = "start-stop"
steps = ["start c1", "stop c1"]
[[daemon]]
name = "d1"
[[container]]
name = "c1"
publish = ["0:80"]
"#;

#[test]
fn convergence_fails_on_moby_master_and_holds_on_the_pr() {
    let sc = shipped("issue-53153.toml");
    assert_only(
        &run(&sc, by_name("moby-master").unwrap()),
        &[Property::Convergence],
    );
    assert_only(&run(&sc, by_name("pr-52927").unwrap()), &[]);
}

#[test]
fn allocator_consistency_fails_when_unmap_forgets_the_reservation() {
    let sc = shipped("fixed-port-busy.toml");
    let r = run(&sc, &broken::LeakReservation);
    assert!(
        violated(&r).contains(&Property::AllocatorConsistency),
        "{}",
        r.text()
    );
    assert_only(&run(&sc, by_name("pr-52927").unwrap()), &[]);
}

#[test]
fn clean_teardown_fails_when_the_rootlesskit_port_is_kept() {
    let sc = scenario(START_STOP);
    assert_only(&run(&sc, &broken::KeepHostPort), &[Property::CleanTeardown]);
    assert_only(&run(&sc, by_name("pr-52927").unwrap()), &[]);
}

#[test]
fn error_fidelity_fails_when_the_error_is_replaced() {
    let sc = shipped("fixed-port-busy.toml");
    assert_only(&run(&sc, &broken::VagueError), &[Property::ErrorFidelity]);
}

#[test]
fn no_double_ownership_fails_when_a_live_mapping_has_no_host_port() {
    let sc = scenario(&START_STOP.replace(r#", "stop c1""#, ""));
    let r = run(&sc, &broken::SkipPortDriver);
    assert!(
        violated(&r).contains(&Property::NoDoubleOwnership),
        "{}",
        r.text()
    );
}

/// A kernel with no port tables: every bind succeeds.
#[derive(Default)]
struct NoPortTables {
    socks: Mutex<BTreeMap<(NsId, SockId), SockInfo>>,
    cfgs: Mutex<BTreeMap<NsId, NsConfig>>,
}

impl Net for NoPortTables {
    fn name(&self) -> &'static str {
        "no-port-tables"
    }
    fn create_ns(&self, ns: NsId, cfg: &NsConfig) -> Result<(), String> {
        self.cfgs.lock().unwrap().insert(ns, cfg.clone());
        Ok(())
    }
    fn bind(&self, ns: NsId, id: SockId, req: &BindReq, _: bool) -> Result<(), Errno> {
        let info = SockInfo {
            id,
            req: *req,
            v6only_effective: req.v6only,
            listening: false,
        };
        self.socks.lock().unwrap().insert((ns, id), info);
        Ok(())
    }
    fn listen(&self, ns: NsId, id: SockId) -> Result<(), Errno> {
        self.socks
            .lock()
            .unwrap()
            .get_mut(&(ns, id))
            .map(|s| s.listening = true)
            .ok_or(Errno::EBADF)
    }
    fn close(&self, ns: NsId, id: SockId) -> Result<(), Errno> {
        self.socks
            .lock()
            .unwrap()
            .remove(&(ns, id))
            .map(|_| ())
            .ok_or(Errno::EBADF)
    }
    fn sockets(&self, ns: NsId) -> Vec<SockInfo> {
        self.socks
            .lock()
            .unwrap()
            .iter()
            .filter(|((n, _), _)| *n == ns)
            .map(|(_, s)| s.clone())
            .collect()
    }
    fn probe(&self, _: NsId, _: &BindReq, _: bool, _: bool) -> Result<(), Errno> {
        Ok(())
    }
    fn sysctl(&self, ns: NsId, name: &str) -> Result<String, Errno> {
        let c = self
            .cfgs
            .lock()
            .unwrap()
            .get(&ns)
            .cloned()
            .ok_or(Errno::EINVAL)?;
        match name {
            "ip_local_port_range" => Ok(c.ip_local_port_range),
            "ip_local_reserved_ports" => Ok(c.ip_local_reserved_ports),
            "ip_unprivileged_port_start" => Ok(c.ip_unprivileged_port_start.to_string()),
            _ => Err(Errno::EINVAL),
        }
    }
}

#[test]
fn no_double_ownership_fails_on_a_kernel_without_port_tables() {
    let sc = scenario(
        r#"
name = "two-daemons-same-fixed-port"
steps = ["start a", "start b"]
[[daemon]]
name = "d1"
[[daemon]]
name = "d2"
[[container]]
name = "a"
daemon = "d1"
publish = ["8080:80"]
[[container]]
name = "b"
daemon = "d2"
publish = ["8080:80"]
"#,
    );
    let pr = by_name("pr-52927").unwrap();
    let r = run_seed_with(&sc, pr, 0, || Arc::new(NoPortTables::default())).unwrap();
    let v = r
        .properties
        .iter()
        .find(|p| p.property == Property::NoDoubleOwnership)
        .unwrap();
    let msg = &v
        .violation
        .as_ref()
        .expect("double ownership must be seen")
        .message;
    assert!(msg.contains("both own host tcp port 8080"), "{msg}");
    // On the real rules the second start fails instead, and nothing breaks.
    let r = run(&sc, pr);
    assert_only(&r, &[]);
    assert!(
        r.starts[1]
            .error
            .as_deref()
            .unwrap()
            .ends_with("listen tcp4 0.0.0.0:8080: bind: address already in use")
    );
}
