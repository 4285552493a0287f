//! docker's `-p` syntax: `[ip:][hostPort[-hostPortEnd]:]containerPort[/proto]`.

use crate::kernel::Proto;
use serde::Serialize;
use std::net::IpAddr;

/// One published port after expansion, as moby's `types.PortBinding` gets
/// it from the API: `host_port_end` is 0 unless a range was given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PublishSpec {
    /// The spec as written, for messages.
    pub raw: String,
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    pub host_port_end: u16,
    pub container_port: u16,
    pub proto: Proto,
}

/// Parse one `-p` value into its bindings. Errors are docker-like sentences
/// without position (the scenario parser adds file:line:column).
pub fn parse_publish(spec: &str) -> Result<Vec<PublishSpec>, String> {
    let _ = spec;
    Err("not implemented".to_string())
}
