//! docker's `-p` syntax: `[ip:][hostPort[-hostPortEnd]:]containerPort[/proto]`.
//!
//! Mirrors go-connections' `nat.ParsePortSpec` as moby master carries it:
//! `parsePortSpec`, `splitParts`, `splitProtoPort` and `validateProto` in
//! `daemon/builder/dockerfile/dispatchers.go`, with `network.ParsePortRange`
//! from `api/types/network/port.go` (moby commit b985e2313a). The address
//! step follows Go's `net.SplitHostPort` and `netip.ParseAddr`.
//!
//! One spec gives one binding per container port: a container range is
//! expanded pairwise against a host range of the same size, and a host range
//! with a single container port stays a range (the dynamic range to allocate
//! into). The result is what moby's `types.PortBinding` receives: no host
//! port is `host_port` 0, and `host_port_end` is 0 unless a host range was
//! kept as a range.

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
///
/// Port of `parsePortSpec` (moby b985e2313a,
/// `daemon/builder/dockerfile/dispatchers.go`, itself go-connections'
/// `nat.ParsePortSpec`): same order of checks and the same error texts,
/// except that a bad address's `netip.ParseAddr` detail is always
/// `unable to parse IP` (and IPv6 zones, which the model cannot hold, are
/// refused).
pub fn parse_publish(spec: &str) -> Result<Vec<PublishSpec>, String> {
    let (ip, host_port, container_part) = split_parts(spec);
    let (proto, container_port) = split_proto_port(container_part);
    if container_port.is_empty() {
        return Err(format!("no port specified: {spec}<empty>"));
    }
    let proto = proto.to_lowercase();
    let proto = validate_proto(&proto)?;

    let mut ip = ip;
    if ip.starts_with('[') {
        let with_port = format!("{ip}:");
        match split_host_port(&with_port) {
            Ok(host) => ip = host,
            Err(e) => return Err(format!("invalid IP address {ip}: {e}")),
        }
    }
    let host_ip = maybe_parse_addr(&ip).map_err(|e| format!("invalid IP address: {e}"))?;

    let (start, end) = parse_port_range(container_port)
        .map_err(|_| format!("invalid containerPort: {container_port}"))?;

    let (mut host_start, mut host_end) = (0u16, 0u16);
    if !host_port.is_empty() {
        (host_start, host_end) =
            parse_port_range(host_port).map_err(|_| format!("invalid hostPort: {host_port}"))?;
        if end - start != host_end - host_start && end != start {
            return Err(format!(
                "invalid ranges specified for container and host Ports: {container_port} and {host_port}"
            ));
        }
    }

    let count = u32::from(end - start) + 1;
    let bindings = (0..count)
        .map(|i| {
            // `i < count <= 65536` and `start + i <= end`, so no overflow.
            let i = i as u16;
            let (hp, hp_end) = if host_port.is_empty() {
                (0, 0)
            } else if count == 1 && host_start != host_end {
                (host_start, host_end)
            } else {
                (host_start + i, 0)
            };
            PublishSpec {
                raw: spec.to_string(),
                host_ip,
                host_port: hp,
                host_port_end: hp_end,
                container_port: start + i,
                proto,
            }
        })
        .collect();
    Ok(bindings)
}

/// `splitParts` (moby b985e2313a, `daemon/builder/dockerfile/dispatchers.go`):
/// the last two `:`-separated fields are host and container port, anything
/// before them (rejoined) is the address.
fn split_parts(raw: &str) -> (String, &str, &str) {
    let parts: Vec<&str> = raw.split(':').collect();
    match parts.as_slice() {
        [c] => (String::new(), "", c),
        [h, c] => (String::new(), h, c),
        [ip, h, c] => (ip.to_string(), h, c),
        [ip @ .., h, c] => (ip.join(":"), h, c),
        [] => (String::new(), "", ""),
    }
}

/// `splitProtoPort` (moby b985e2313a, `daemon/builder/dockerfile/dispatchers.go`):
/// `port[/proto]`, proto defaulting to tcp; no port gives two empty strings.
fn split_proto_port(raw: &str) -> (&str, &str) {
    let (port, proto) = raw.split_once('/').unwrap_or((raw, ""));
    if port.is_empty() {
        return ("", "");
    }
    (if proto.is_empty() { "tcp" } else { proto }, port)
}

/// `validateProto` (moby b985e2313a, `daemon/builder/dockerfile/dispatchers.go`).
fn validate_proto(proto: &str) -> Result<Proto, String> {
    Proto::parse(proto).ok_or_else(|| format!("invalid proto: {proto}"))
}

/// Go's `net.SplitHostPort`, returning the host; errors read as
/// `net.AddrError` prints them (`address A: why`).
fn split_host_port(hostport: &str) -> Result<String, String> {
    let err = |why: &str| Err(format!("address {hostport}: {why}"));
    let b = hostport.as_bytes();
    let Some(i) = hostport.rfind(':') else {
        return err("missing port in address");
    };
    let (host, j, k);
    if b.first() == Some(&b'[') {
        let Some(end) = hostport.find(']') else {
            return err("missing ']' in address");
        };
        if end + 1 == b.len() {
            return err("missing port in address");
        }
        if end + 1 != i {
            if b[end + 1] == b':' {
                return err("too many colons in address");
            }
            return err("missing port in address");
        }
        host = &hostport[1..end];
        (j, k) = (1, end + 1);
    } else {
        host = &hostport[..i];
        if host.contains(':') {
            return err("too many colons in address");
        }
        (j, k) = (0, 0);
    }
    if hostport[j..].contains('[') {
        return err("unexpected '[' in address");
    }
    if hostport[k..].contains(']') {
        return err("unexpected ']' in address");
    }
    Ok(host.to_string())
}

/// moby's `netiputil.MaybeParseAddr` (b985e2313a,
/// `daemon/internal/netiputil/netiputil.go`): empty is no address. The
/// `netip.ParseAddr` detail is simplified to `unable to parse IP`.
fn maybe_parse_addr(s: &str) -> Result<Option<IpAddr>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    s.parse::<IpAddr>()
        .map(Some)
        .map_err(|_| format!("ParseAddr({s:?}): unable to parse IP"))
}

/// `network.ParsePortRange` (moby b985e2313a, `api/types/network/port.go`)
/// on a string without protocol: `P` or `A-B`, `A-A` being `A`; an end
/// before the start is an error. Callers replace the error text by their own.
fn parse_port_range(s: &str) -> Result<(u16, u16), String> {
    if s.is_empty() {
        return Err("invalid port range: value is empty".into());
    }
    let (start, end) = match s.split_once('-') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let start_val = parse_port_number(start)?;
    let end = match end {
        Some(e) if e != start => e,
        _ => return Ok((start_val, start_val)),
    };
    let end_val = parse_port_number(end)?;
    if end_val < start_val {
        return Err(format!("invalid port range: {s}"));
    }
    Ok((start_val, end_val))
}

/// `parsePortNumber` (moby b985e2313a, `api/types/network/port.go`): Go's
/// `strconv.ParseUint(s, 10, 16)`, i.e. ASCII digits only, at most 65535.
fn parse_port_number(s: &str) -> Result<u16, String> {
    if s.is_empty() {
        return Err("value is empty".into());
    }
    if !s.bytes().all(|c| c.is_ascii_digit()) {
        return Err("invalid syntax".into());
    }
    s.parse::<u16>().map_err(|_| "value out of range".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn one(
        raw: &str,
        ip: Option<&str>,
        hp: u16,
        hp_end: u16,
        cp: u16,
        proto: Proto,
    ) -> PublishSpec {
        PublishSpec {
            raw: raw.to_string(),
            host_ip: ip.map(|s| s.parse().unwrap()),
            host_port: hp,
            host_port_end: hp_end,
            container_port: cp,
            proto,
        }
    }

    #[test]
    fn container_port_only_has_no_host_port() {
        assert_eq!(
            parse_publish("80").unwrap(),
            vec![one("80", None, 0, 0, 80, Proto::Tcp)]
        );
    }

    #[test]
    fn host_port_zero_is_dynamic() {
        assert_eq!(
            parse_publish("0:80").unwrap(),
            vec![one("0:80", None, 0, 0, 80, Proto::Tcp)]
        );
    }

    #[test]
    fn fixed_host_port() {
        assert_eq!(
            parse_publish("8080:80").unwrap(),
            vec![one("8080:80", None, 8080, 0, 80, Proto::Tcp)]
        );
    }

    #[test]
    fn host_range_with_single_container_port_stays_a_range() {
        assert_eq!(
            parse_publish("8000-8010:80").unwrap(),
            vec![one("8000-8010:80", None, 8000, 8010, 80, Proto::Tcp)]
        );
    }

    #[test]
    fn address_with_empty_host_port() {
        assert_eq!(
            parse_publish("127.0.0.1::80").unwrap(),
            vec![one(
                "127.0.0.1::80",
                Some("127.0.0.1"),
                0,
                0,
                80,
                Proto::Tcp
            )]
        );
    }

    #[test]
    fn address_and_host_port() {
        assert_eq!(
            parse_publish("127.0.0.1:8080:80").unwrap(),
            vec![one(
                "127.0.0.1:8080:80",
                Some("127.0.0.1"),
                8080,
                0,
                80,
                Proto::Tcp
            )]
        );
    }

    #[test]
    fn bracketed_ipv6_with_udp() {
        assert_eq!(
            parse_publish("[::1]:0:80/udp").unwrap(),
            vec![one("[::1]:0:80/udp", Some("::1"), 0, 0, 80, Proto::Udp)]
        );
    }

    #[test]
    fn bracketed_unspecified_ipv6_with_tcp() {
        assert_eq!(
            parse_publish("[::]:80:80/tcp").unwrap(),
            vec![one("[::]:80:80/tcp", Some("::"), 80, 0, 80, Proto::Tcp)]
        );
    }

    #[test]
    fn bare_ipv6_address_is_everything_before_the_last_two_fields() {
        assert_eq!(
            parse_publish("::1:8080:80").unwrap(),
            vec![one("::1:8080:80", Some("::1"), 8080, 0, 80, Proto::Tcp)]
        );
    }

    #[test]
    fn sctp_parses() {
        assert_eq!(
            parse_publish("80/sctp").unwrap(),
            vec![one("80/sctp", None, 0, 0, 80, Proto::Sctp)]
        );
    }

    #[test]
    fn proto_is_case_insensitive() {
        assert_eq!(parse_publish("80/UDP").unwrap()[0].proto, Proto::Udp);
    }

    #[test]
    fn ranges_expand_pairwise() {
        assert_eq!(
            parse_publish("8000-8001:80-81").unwrap(),
            vec![
                one("8000-8001:80-81", None, 8000, 0, 80, Proto::Tcp),
                one("8000-8001:80-81", None, 8001, 0, 81, Proto::Tcp),
            ]
        );
    }

    #[test]
    fn container_range_without_host_port_expands() {
        let got = parse_publish("80-82/udp").unwrap();
        let ports: Vec<_> = got
            .iter()
            .map(|p| (p.host_port, p.container_port))
            .collect();
        assert_eq!(ports, vec![(0, 80), (0, 81), (0, 82)]);
    }

    #[test]
    fn degenerate_range_is_a_single_port() {
        assert_eq!(
            parse_publish("8000-8000:80").unwrap(),
            vec![one("8000-8000:80", None, 8000, 0, 80, Proto::Tcp)]
        );
    }

    #[test]
    fn errors_read_like_docker() {
        let cases = [
            ("", "no port specified: <empty>"),
            ("8080:", "no port specified: 8080:<empty>"),
            ("80/sctpx", "invalid proto: sctpx"),
            (
                "foo:80:80",
                "invalid IP address: ParseAddr(\"foo\"): unable to parse IP",
            ),
            (
                "[::1:80:80",
                "invalid IP address [::1: address [::1:: missing ']' in address",
            ),
            (
                "[::1]x:80:80",
                "invalid IP address [::1]x: address [::1]x:: missing port in address",
            ),
            ("abc", "invalid containerPort: abc"),
            ("65536", "invalid containerPort: 65536"),
            ("+80", "invalid containerPort: +80"),
            ("81-80", "invalid containerPort: 81-80"),
            ("80-81-82", "invalid containerPort: 80-81-82"),
            ("x:80", "invalid hostPort: x"),
            ("8001-8000:80", "invalid hostPort: 8001-8000"),
            (
                "8000-8002:80-81",
                "invalid ranges specified for container and host Ports: 80-81 and 8000-8002",
            ),
            (
                "8000:80-81",
                "invalid ranges specified for container and host Ports: 80-81 and 8000",
            ),
        ];
        for (spec, want) in cases {
            assert_eq!(parse_publish(spec), Err(want.to_string()), "spec {spec:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            failure_persistence: Some(Box::new(
                proptest::test_runner::FileFailurePersistence::SourceParallel("proptest-regressions"),
            )),
            ..ProptestConfig::default()
        })]

        #[test]
        fn never_panics_and_every_binding_is_sane(spec in "[0-9a-f:\\[\\]./udtcpsx-]{0,24}") {
            if let Ok(bindings) = parse_publish(&spec) {
                prop_assert!(!bindings.is_empty());
                for b in &bindings {
                    prop_assert_eq!(&b.raw, &spec);
                    prop_assert!(b.host_port_end == 0 || b.host_port_end > b.host_port);
                }
            }
        }
    }
}
