//! What the report renderers read from trace events: which daemon a layer
//! belongs to, which port an allocation gave, which socket a bind made,
//! whether a step failed. The one place in `report/` that looks inside an
//! [`Event`]'s text; the story and the diagram go through these helpers.

use crate::trace::Event;

/// The daemon a layer belongs to (`d1/allocator` -> `d1`); none for `host`.
pub fn daemon_of(e: &Event) -> Option<&str> {
    e.layer.split_once('/').map(|(d, _)| d)
}

/// The layer's role without its daemon (`d1/allocator` -> `allocator`).
pub fn role_of(e: &Event) -> &str {
    e.layer.split_once('/').map_or(e.layer.as_str(), |(_, r)| r)
}

/// Is this the host namespace's layer?
pub fn is_host(e: &Event) -> bool {
    e.layer == "host"
}

/// The port an allocator request handed out (`RequestPortsInRange ... -> 32768`).
pub fn allocated_port(e: &Event) -> Option<u16> {
    if role_of(e) != "allocator" || !e.action.starts_with("RequestPortsInRange") {
        return None;
    }
    e.result.parse().ok()
}

/// An allocator request that failed, with its error text.
pub fn allocation_error(e: &Event) -> Option<&str> {
    if role_of(e) != "allocator" || !e.action.starts_with("RequestPortsInRange") {
        return None;
    }
    e.result.strip_prefix("error: ")
}

/// The port an allocator released (`ReleasePort 127.0.0.1 tcp 32769`).
pub fn released_port(e: &Event) -> Option<u16> {
    if role_of(e) != "allocator" {
        return None;
    }
    e.action
        .strip_prefix("ReleasePort ")?
        .rsplit(' ')
        .next()?
        .parse()
        .ok()
}

/// A bind(2): protocol, `ADDR:PORT` as written, port, and the socket it
/// made (`ok s2`) or none when it failed.
pub struct Bind<'a> {
    pub proto: &'a str,
    pub addr: &'a str,
    pub port: u16,
    pub sock: Option<&'a str>,
}

pub fn bind(e: &Event) -> Option<Bind<'_>> {
    let rest = e.action.strip_prefix("bind ")?;
    let mut words = rest.split(' ');
    let proto = words.next()?;
    let addr = words.next()?;
    let port = addr.rsplit(':').next()?.parse().ok()?;
    Some(Bind {
        proto,
        addr,
        port,
        sock: e.result.strip_prefix("ok "),
    })
}

/// The socket a close(2) closed (`close s2`).
pub fn closed_sock(e: &Event) -> Option<&str> {
    e.action.strip_prefix("close ")
}

/// The container a start or stop step is about, when `e` is the
/// daemon-level begin or end of one (`start c1`, `stop c1`).
pub fn lifecycle(e: &Event) -> Option<&str> {
    if role_of(e) != "daemon" {
        return None;
    }
    e.action
        .strip_prefix("start ")
        .or_else(|| e.action.strip_prefix("stop "))
}

/// The error text of a failed start's last step (`start c1 -> error: TEXT`).
pub fn failed_start(e: &Event) -> Option<&str> {
    if role_of(e) != "daemon" || !e.action.starts_with("start ") {
        return None;
    }
    e.result.strip_prefix("error: ")
}

/// Did this step fail (an errno, an HTTP 400 from rootlesskit, an error)?
pub fn is_failure(e: &Event) -> bool {
    let r = e.result.as_str();
    r.starts_with("error")
        || r.starts_with("400 ")
        || (r.starts_with('E') && r.chars().all(|c| c.is_ascii_uppercase()))
        || e.action.contains(" failed: ")
}

/// The names of the containers in a trace (whoever starts or stops), in
/// order of first appearance.
pub fn containers(trace: &[Event]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for e in trace {
        if lifecycle(e) == Some(e.who.as_str()) && !out.contains(&e.who.as_str()) {
            out.push(&e.who);
        }
    }
    out
}

/// The daemon each container runs on: the daemon of its first daemon-level
/// step.
pub fn daemon_of_container<'a>(trace: &'a [Event], name: &str) -> Option<&'a str> {
    trace
        .iter()
        .find(|e| e.who == name && lifecycle(e) == Some(name))
        .and_then(daemon_of)
}

/// The innermost error of moby's wrapping: what follows the last `"): "`
/// (after the endpoint id, or after `AddPort()`), else the whole text.
pub fn leaf_error(text: &str) -> &str {
    text.rfind("): ").map_or(text, |i| &text[i + 3..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(seq: usize, who: &str, layer: &str, action: &str, result: &str) -> Event {
        Event::new(seq, who, layer, action, result)
    }

    #[test]
    fn reads_allocations_binds_releases_and_failures() {
        let a = ev(
            3,
            "c1",
            "d1/allocator",
            "RequestPortsInRange [127.0.0.1 ::1] tcp 0-0",
            "32768",
        );
        assert_eq!(allocated_port(&a), Some(32768));
        let e = ev(
            85,
            "c2",
            "d1/allocator",
            "RequestPortsInRange [127.0.0.1] tcp 0-0",
            "error: all ports are allocated",
        );
        assert_eq!(allocated_port(&e), None);
        assert_eq!(allocation_error(&e), Some("all ports are allocated"));
        assert!(is_failure(&e));
        let b = ev(5, "app", "host", "bind tcp [::]:32768 RA V6ONLY=1", "ok s2");
        let bd = bind(&b).unwrap();
        assert_eq!(
            (bd.proto, bd.addr, bd.port, bd.sock),
            ("tcp", "[::]:32768", 32768, Some("s2"))
        );
        assert!(!is_failure(&b));
        let f = ev(10, "c1", "host", "bind tcp 0.0.0.0:32768 RA", "EADDRINUSE");
        assert!(is_failure(&f) && bind(&f).unwrap().sock.is_none());
        let r = ev(
            15,
            "c1",
            "d1/allocator",
            "ReleasePort 127.0.0.1 tcp 32768",
            "",
        );
        assert_eq!(released_port(&r), Some(32768));
        assert!(!is_failure(&r));
        assert_eq!(
            leaf_error(
                "Error response (ab12): error while calling RootlessKit PortManager.AddPort(): listen tcp4 0.0.0.0:1: bind: address already in use"
            ),
            "listen tcp4 0.0.0.0:1: bind: address already in use"
        );
        let s = ev(1, "c1", "d1/daemon", "start c1", "");
        let t = ev(19, "c1", "d1/daemon", "start c1", "error: boom");
        assert_eq!(containers(&[s.clone(), t.clone()]), vec!["c1"]);
        assert_eq!(failed_start(&t), Some("boom"));
        assert_eq!(failed_start(&s), None);
        assert_eq!(daemon_of_container(&[s], "c1"), Some("d1"));
    }
}
