//! Inputs are honoured or refused, never dropped (issue 12): runs of small
//! scenarios that once parsed and silently meant something else.

use portsim::explore::{KernelKind, run_seed};
use portsim::mapper;
use portsim::scenario::parse_str;
use std::sync::Arc;

fn run(text: &str, policy: &str) -> portsim::report::RunReport {
    let sc = Arc::new(parse_str("t.toml", text).unwrap());
    run_seed(&sc, mapper::by_name(policy).unwrap(), 0, KernelKind::Sim).unwrap()
}

const TWO_PORT_OCCUPANT: &str = r#"name = "fixed-two-ports"
steps = ["start c1"]

[[daemon]]
name = "d1"

[[occupant]]
name = "web"
kind = "fixed"
proto = "tcp"
ports = [32768, 32769]

[[container]]
name = "c1"
publish = ["0:80"]
"#;

#[test]
fn a_fixed_occupant_holds_every_port_it_lists() {
    let r = run(TWO_PORT_OCCUPANT, "pr-52927");
    // The PR retries past both host ports the occupant holds.
    assert_eq!(r.starts[0].summary(), "ok 32770", "{}", r.text());
    let binds: Vec<&str> = r
        .trace
        .iter()
        .filter(|e| e.who == "web")
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(
        binds,
        [
            "bind tcp 0.0.0.0:32768 RA",
            "listen s1",
            "bind tcp 0.0.0.0:32769 RA",
            "listen s2"
        ]
    );
    assert!(!r.violated(), "{}", r.text());
}

#[test]
fn a_scripted_occupant_binds_and_closes_every_port_it_lists() {
    let text = TWO_PORT_OCCUPANT
        .replace("kind = \"fixed\"", "kind = \"scripted\"")
        .replace(
            "steps = [\"start c1\"]",
            "steps = [\"bind web\", \"start c1\", \"close web\"]",
        );
    let r = run(&text, "pr-52927");
    assert_eq!(r.starts[0].summary(), "ok 32770", "{}", r.text());
    let closes = r
        .trace
        .iter()
        .filter(|e| e.who == "web" && e.action.starts_with("close "))
        .count();
    assert_eq!(closes, 2, "{}", r.text());
    assert!(!r.violated(), "{}", r.text());
}
