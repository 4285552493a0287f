//! Bounded configurations shared by the model targets: small scenarios
//! written inline, so each model states exactly what it explores.

#![allow(dead_code)]

use portsim::check::Property;
use portsim::scenario::Scenario;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Parse an inline scenario (a bad one is a bug in the model file).
pub fn scenario(name: &str, text: &str) -> Arc<Scenario> {
    Arc::new(portsim::scenario::parse_str(name, text).unwrap_or_else(|e| panic!("{e}")))
}

/// Two concurrent `-p 0:80` starts (each on 0.0.0.0 and ::), one racing
/// host occupant taking `port`, and one stop of an earlier container, on
/// one daemon whose dynamic range is `range`.
pub fn two_starts_race_and_stop(range: &str, port: u16, bridge_lock: bool) -> Arc<Scenario> {
    two_starts_race_and_stop_on_host(range, port, bridge_lock, "32768-60999")
}

/// [`two_starts_race_and_stop`] with the host's `ip_local_port_range` set
/// to `host_range` (where a kernel asked for port 0 picks).
pub fn two_starts_race_and_stop_on_host(
    range: &str,
    port: u16,
    bridge_lock: bool,
    host_range: &str,
) -> Arc<Scenario> {
    scenario(
        "two-starts-race-and-stop",
        &format!(
            r#"
name = "two-starts-race-and-stop"
steps = [
  "start c0",
  ["start c1", "start c2", "race app", "stop c0"],
]

[host]
port_range = "{host_range}"

[[daemon]]
name = "d1"
port_range = "{range}"
bridge_lock = {bridge_lock}

[[occupant]]
name = "app"
kind = "racing"
proto = "tcp"
address = "0.0.0.0"
ports = [{port}]

[[container]]
name = "c0"
publish = ["0:80"]

[[container]]
name = "c1"
publish = ["0:80"]

[[container]]
name = "c2"
publish = ["0:80"]
"#
        ),
    )
}

/// The properties a set of runs saw violated.
pub fn violated(reports: &[portsim::report::RunReport]) -> BTreeSet<Property> {
    reports
        .iter()
        .flat_map(|r| r.properties.iter().filter(|p| !p.holds).map(|p| p.property))
        .collect()
}

/// Two daemons sharing the host namespace, each with one `-p 0:80`
/// container, started at the same time.
pub fn two_daemons() -> Arc<Scenario> {
    scenario(
        "two-daemons",
        r#"
name = "two-daemons"
steps = [["start a", "start b"]]

[[daemon]]
name = "d1"

[[daemon]]
name = "d2"

[[container]]
name = "a"
daemon = "d1"
publish = ["0:80"]

[[container]]
name = "b"
daemon = "d2"
publish = ["0:80"]
"#,
    )
}
