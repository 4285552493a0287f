//! TOML scenario files -> [`Scenario`], with `file:line:column` errors.
//!
//! The text is first deserialized (with the `toml` crate) into private raw
//! structs that refuse unknown keys and keep the byte span of every value a
//! later check may complain about; then `validate` turns them into the
//! model, resolving names to indexes. Every error, whether TOML syntax, a
//! wrong type, an unknown key or a semantic rule, becomes one
//! [`ScenarioError`] at the 1-based line and column (in characters) of the
//! offending key or value. Nothing here panics on any input.
//!
//! # File format
//!
//! The user's reference is `docs/scenarios.md` (every key, its type,
//! default and meaning, with examples); a test keeps its key tables equal
//! to the fields of the raw structs below. In short:
//!
//! ```toml
//! name = "issue-53153"                 # required
//! description = """free text"""        # optional
//! occupant_budget = 9                  # optional integer >= 0
//! seed = 0                             # optional integer >= 0: the seed
//!                                      # `portsim run` uses without --seed
//! covers = ["host-collision", "retry"] # optional: the situations `check`
//!                                      # must reach (see below)
//! steps = [                            # optional; see the note below
//!   "start c1",                        # start|stop CONTAINER
//!   "bind web",                        # bind|close SCRIPTED-OCCUPANT
//!   ["start c2", "race o1"],           # a concurrent step (>= 2 actions);
//!                                      # race RACING-OCCUPANT
//!   "stop c1",                         # only after a step that starts c1
//! ]                                    # and not twice in a row (see below)
//!
//! [host]                               # optional
//! unprivileged_port_start = 1024       # default 1024
//! port_range = "32768-60999"           # default; the host's ip_local_port_range
//!                                      # (where its kernel picks port 0)
//!
//! [[daemon]]                           # at least one
//! name = "d1"                          # required, unique
//! port_range = "32768-60999"           # default; "A-B", 1 <= A <= B <= 65535
//! reserved_ports = ""                  # default; ip_local_reserved_ports:
//!                                      # "N,A-B,..." with 0 <= A <= B <= 65535,
//!                                      # decimal (kept as the kernel reads it
//!                                      # back: sorted, merged)
//! port_driver = "builtin"              # default; or "slirp4netns"
//! userland_proxy = true                # default true
//! ipv6 = true                          # default true
//! bridge_lock = true                   # default true
//! child_ip = "10.0.2.100"              # default: 10.0.2.100 for slirp4netns
//!                                      # (IPv4 only there), none for builtin
//! detach_netns = true                  # default true (dockerd-rootless.sh):
//!                                      # rootlesskit --detach-netns; false:
//!                                      # dockerd lives in the child namespace
//!
//! [[occupant]]                         # zero or more
//! name = "web"                         # required, unique among occupants
//! kind = "fixed"                       # required: fixed | scripted | racing
//! proto = "tcp"                        # required: tcp | udp
//! address = "0.0.0.0"                  # default 0.0.0.0
//! v6only = false                       # default false
//! reuse_addr = true                    # default true
//! listen = true                        # default true for tcp; udp: false only
//! privileged = false                   # default false
//! ports = [32769]                      # non-empty; fixed and scripted
//!                                      # occupants hold every port listed,
//!                                      # racing ones take one of them and
//!                                      # may write a range "32768-32775"
//! hold = "forever"                     # default; "briefly" only for racing
//!
//! [[container]]
//! name = "c1"                          # required, unique among containers
//! daemon = "d1"                        # default: the first daemon
//! ipv6 = false                         # default false
//! publish = ["0:80", "127.0.0.1::80/udp"]   # docker -p syntax, at least one;
//!                                      # at most 1024 bindings per scenario
//!                                      # once ranges are expanded
//!
//! [expect.moby-master]                 # a policy name (`portsim --help`)
//! starts = { c1 = "ok 32768", c2 = "error: Error response ...", c3 = "ok", c4 = "error" }
//! properties = { convergence = "violated", no-double-ownership = "holds" }
//! ```
//!
//! `steps` is a top-level key, and TOML puts every `key = value` after a
//! `[table]` header into that table: `steps` (like `name`, `description`
//! and `occupant_budget`) must come before the first `[table]` or
//! `[[table]]` header. Written later it lands in the table above it and is
//! reported as an unknown key there, with a hint.
//!
//! A step may not start a container an earlier step started and no step
//! stopped since, nor stop one that is already stopped: docker answers
//! both with "304 Not Modified" and does nothing. To retry a start that
//! failed, write `"stop c1"` and then `"start c1"` (stopping a container
//! whose start failed releases nothing).
//!
//! `starts` values: `ok`, `ok P1,P2,...` (the distinct host ports, in
//! order), `error`, or `error: TEXT` (the exact text the user reads).
//! `covers` names the scenario's key situations (`src/coverage.rs`):
//! `host-collision`, `retry`, `give-up`, `occupant-in-window`,
//! `stop-during-start-same-daemon`, `stop-during-start-other-daemon`,
//! `cleanup-after-retry`. `portsim check` says "never reached" in its
//! verdict for a key situation no execution reached.
//! Property names: `no-double-ownership`, `allocator-consistency`,
//! `convergence`, `clean-teardown`, `error-fidelity`; verdicts `holds` or
//! `violated`.

use super::portspec::parse_publish;
use super::{
    Action, ContainerCfg, DaemonCfg, ExpectStart, Expectation, Hold, HostCfg, OccupantCfg,
    OccupantKind, PortDriverKind, Scenario, Step, Verdict,
};
use crate::kernel::Proto;
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::ops::Range;
use std::path::Path;
use toml::Spanned;

/// A bad scenario file: where, and what was expected there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

impl std::error::Error for ScenarioError {}

/// Read and validate a scenario file.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let text = crate::paths::read_capped(path, crate::paths::MAX_INPUT_BYTES).map_err(|e| {
        ScenarioError {
            file: file.clone(),
            line: 0,
            column: 0,
            message: if e.starts_with("larger than") || e.starts_with("not UTF-8") {
                e
            } else {
                format!("cannot read file: {e}")
            },
        }
    })?;
    parse_str(&file, &text)
}

/// Parse and validate scenario text; `file` is used in error messages.
pub fn parse_str(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
    let cx = Cx { file, text };
    let raw: RawScenario = toml::from_str(text).map_err(|e| cx.toml_error(&e))?;
    validate(&cx, raw)
}

// ---------------------------------------------------------------------------
// Positions

/// The file being parsed, to turn byte spans into errors.
struct Cx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Cx<'_> {
    fn err(&self, span: Range<usize>, message: impl Into<String>) -> ScenarioError {
        let (line, column) = line_col(self.text, span.start);
        ScenarioError {
            file: self.file.to_string(),
            line,
            column,
            message: message.into(),
        }
    }

    fn toml_error(&self, e: &toml::de::Error) -> ScenarioError {
        let mut message = e.message().trim().replace('\n', "; ");
        if let Some(key) = misplaced_top_level_key(&message) {
            message.push_str(&format!(
                " (`{key}` is a top-level key: write it before the first [table] header)"
            ));
        }
        self.err(e.span().unwrap_or(0..0), message)
    }
}

/// 1-based line and column (counted in characters) of byte `offset`;
/// offsets past the end or inside a character count up to that point.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let (mut line, mut column) = (1, 1);
    for (i, c) in text.char_indices() {
        if i >= offset {
            break;
        }
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}

/// Top-level keys that TOML moves into the table above when they are written
/// after a header (`name` is valid in every table, so it is never unknown).
const TOP_LEVEL_KEYS: &[&str] = &["covers", "description", "occupant_budget", "seed", "steps"];

fn misplaced_top_level_key(message: &str) -> Option<&'static str> {
    let rest = message.strip_prefix("unknown field `")?;
    let key = &rest[..rest.find('`')?];
    TOP_LEVEL_KEYS.iter().copied().find(|k| *k == key)
}

// ---------------------------------------------------------------------------
// Raw file structure

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Spanned<String>,
    #[serde(default)]
    description: String,
    occupant_budget: Option<Spanned<Int>>,
    seed: Option<Spanned<Int>>,
    #[serde(default)]
    covers: Vec<Spanned<String>>,
    #[serde(default)]
    steps: Vec<Spanned<RawStep>>,
    host: Option<RawHost>,
    #[serde(default)]
    daemon: Vec<RawDaemon>,
    #[serde(default)]
    occupant: Vec<RawOccupant>,
    #[serde(default)]
    container: Vec<RawContainer>,
    #[serde(default)]
    expect: BTreeMap<Spanned<String>, RawExpect>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    unprivileged_port_start: Option<Spanned<Int>>,
    port_range: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDaemon {
    name: Spanned<String>,
    port_range: Option<Spanned<String>>,
    reserved_ports: Option<Spanned<String>>,
    port_driver: Option<Spanned<String>>,
    userland_proxy: Option<bool>,
    ipv6: Option<bool>,
    bridge_lock: Option<bool>,
    child_ip: Option<Spanned<String>>,
    detach_netns: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOccupant {
    name: Spanned<String>,
    kind: Spanned<String>,
    proto: Spanned<String>,
    address: Option<Spanned<String>>,
    v6only: Option<bool>,
    reuse_addr: Option<bool>,
    listen: Option<Spanned<bool>>,
    privileged: Option<bool>,
    ports: Spanned<RawPorts>,
    hold: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContainer {
    name: Spanned<String>,
    daemon: Option<Spanned<String>>,
    ipv6: Option<bool>,
    publish: Spanned<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    #[serde(default)]
    starts: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    properties: BTreeMap<Spanned<String>, Spanned<String>>,
}

/// An integer; its type errors say "expected an integer".
struct Int(i64);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int, E> {
                Ok(Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
                i64::try_from(v)
                    .map(Int)
                    .map_err(|_| E::custom("integer out of range"))
            }
        }
        d.deserialize_i64(V)
    }
}

/// `ports`: an array of integers, or (racing occupants) a range string.
enum RawPorts {
    List(Vec<Spanned<Int>>),
    Range(String),
}

impl<'de> Deserialize<'de> for RawPorts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawPorts;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of port numbers or a port range string \"A-B\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawPorts, E> {
                Ok(RawPorts::Range(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawPorts, A::Error> {
                let mut ports = Vec::new();
                while let Some(p) = seq.next_element()? {
                    ports.push(p);
                }
                Ok(RawPorts::List(ports))
            }
        }
        d.deserialize_any(V)
    }
}

/// One element of `steps`: an action string, or an array of them.
enum RawStep {
    One(String),
    Concurrent(Vec<Spanned<String>>),
}

impl<'de> Deserialize<'de> for RawStep {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawStep;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a step string such as \"start c1\", or an array of them")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawStep, E> {
                Ok(RawStep::One(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawStep, A::Error> {
                let mut actions = Vec::new();
                while let Some(a) = seq.next_element()? {
                    actions.push(a);
                }
                Ok(RawStep::Concurrent(actions))
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------
// Value tables

const PORT_DRIVERS: &[(&str, PortDriverKind)] = &[
    ("builtin", PortDriverKind::Builtin),
    ("slirp4netns", PortDriverKind::Slirp4netns),
];

const OCCUPANT_KINDS: &[(&str, OccupantKind)] = &[
    ("fixed", OccupantKind::Fixed),
    ("scripted", OccupantKind::Scripted),
    ("racing", OccupantKind::Racing),
];

/// The simulated kernel has no SCTP, so occupants cannot use it.
const OCCUPANT_PROTOS: &[(&str, Proto)] = &[("tcp", Proto::Tcp), ("udp", Proto::Udp)];

const HOLDS: &[(&str, Hold)] = &[("forever", Hold::Forever), ("briefly", Hold::Briefly)];

/// Step verbs, and which list their NAME must come from.
#[derive(Clone, Copy, PartialEq)]
enum Target {
    Container,
    Occupant(OccupantKind),
}

const VERBS: &[(&str, Target)] = &[
    ("start", Target::Container),
    ("stop", Target::Container),
    ("bind", Target::Occupant(OccupantKind::Scripted)),
    ("close", Target::Occupant(OccupantKind::Scripted)),
    ("race", Target::Occupant(OccupantKind::Racing)),
];

/// Property names (`check::Property::name`).
const PROPERTIES: &[&str] = &[
    "no-double-ownership",
    "allocator-consistency",
    "convergence",
    "clean-teardown",
    "error-fidelity",
];

const VERDICTS: &[(&str, Verdict)] = &[("holds", Verdict::Holds), ("violated", Verdict::Violated)];

const DEFAULT_PORT_RANGE: (u16, u16) = (32768, 60999);
const DEFAULT_UNPRIVILEGED_PORT_START: u16 = 1024;
/// slirp4netns' default guest address.
const SLIRP4NETNS_CHILD_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 2, 100));

fn quoted_list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names
        .into_iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Look `v` up in `table`, or say which words were expected.
fn choose<T: Copy>(
    cx: &Cx,
    v: &Spanned<String>,
    table: &[(&str, T)],
    note: &str,
) -> Result<T, ScenarioError> {
    let word = v.get_ref().as_str();
    match table.iter().find(|(n, _)| *n == word) {
        Some((_, t)) => Ok(*t),
        None => Err(cx.err(
            v.span(),
            format!(
                "expected one of {}, found {word:?}{note}",
                quoted_list(table.iter().map(|(n, _)| *n))
            ),
        )),
    }
}

// ---------------------------------------------------------------------------
// Validation

fn validate(cx: &Cx, raw: RawScenario) -> Result<Scenario, ScenarioError> {
    check_name(cx, &raw.name)?;

    let occupant_budget = match &raw.occupant_budget {
        None => None,
        Some(b) => Some(int_in_range(cx, b, 0, u32::MAX.into())? as u32),
    };

    let seed = match &raw.seed {
        None => None,
        Some(b) => Some(int_in_range(cx, b, 0, i64::MAX)? as u64),
    };

    let covers = covers(cx, &raw.covers)?;

    let host = HostCfg {
        unprivileged_port_start: match raw
            .host
            .as_ref()
            .and_then(|h| h.unprivileged_port_start.as_ref())
        {
            None => DEFAULT_UNPRIVILEGED_PORT_START,
            Some(p) => int_in_range(cx, p, 0, u16::MAX.into())? as u16,
        },
        port_range: match raw.host.as_ref().and_then(|h| h.port_range.as_ref()) {
            None => DEFAULT_PORT_RANGE,
            Some(r) => port_range(cx, r)?,
        },
    };

    if raw.daemon.is_empty() {
        return Err(cx.err(0..0, "expected at least one [[daemon]] table"));
    }
    let mut daemons = Vec::new();
    for d in &raw.daemon {
        check_unique(
            cx,
            "daemon",
            &d.name,
            daemons.iter().map(|x: &DaemonCfg| &x.name),
        )?;
        daemons.push(daemon(cx, d)?);
    }

    let mut occupants = Vec::new();
    for o in &raw.occupant {
        check_unique(
            cx,
            "occupant",
            &o.name,
            occupants.iter().map(|x: &OccupantCfg| &x.name),
        )?;
        occupants.push(occupant(cx, o)?);
    }

    let mut containers = Vec::new();
    let mut bindings = 0;
    for c in &raw.container {
        check_unique(
            cx,
            "container",
            &c.name,
            containers.iter().map(|x: &ContainerCfg| &x.name),
        )?;
        containers.push(container(cx, c, &daemons, &mut bindings)?);
    }

    let steps = steps(cx, &raw.steps, &containers, &occupants)?;

    let mut expect = BTreeMap::new();
    let policies: Vec<&'static str> = crate::mapper::policies().iter().map(|p| p.name()).collect();
    for (policy, e) in in_file_order(&raw.expect) {
        if !policies.contains(&policy.get_ref().as_str()) {
            return Err(cx.err(
                policy.span(),
                format!(
                    "expected a policy name, one of {}, found {:?}",
                    quoted_list(policies.iter().copied()),
                    policy.get_ref()
                ),
            ));
        }
        expect.insert(policy.get_ref().clone(), expectation(cx, e, &containers)?);
    }

    Ok(Scenario {
        name: raw.name.into_inner(),
        description: raw.description,
        host,
        daemons,
        occupants,
        containers,
        steps,
        occupant_budget,
        seed,
        covers,
        expect,
    })
}

/// `covers = [...]`: known situation names, each once.
fn covers(
    cx: &Cx,
    raw: &[Spanned<String>],
) -> Result<Vec<crate::coverage::Situation>, ScenarioError> {
    let mut out = Vec::new();
    for c in raw {
        let Some(s) = crate::coverage::Situation::from_name(c.get_ref()) else {
            return Err(cx.err(
                c.span(),
                format!(
                    "unknown situation {:?} in covers; expected one of {}",
                    c.get_ref(),
                    crate::coverage::Situation::names()
                ),
            ));
        };
        if out.contains(&s) {
            return Err(cx.err(c.span(), format!("situation {s} is listed twice in covers")));
        }
        out.push(s);
    }
    Ok(out)
}

/// Names are referred to from step strings, split at whitespace.
fn check_name(cx: &Cx, name: &Spanned<String>) -> Result<(), ScenarioError> {
    let n = name.get_ref();
    if n.is_empty() || n.chars().any(char::is_whitespace) {
        return Err(cx.err(
            name.span(),
            format!("expected a non-empty name without whitespace, found {n:?}"),
        ));
    }
    Ok(())
}

fn check_unique<'a>(
    cx: &Cx,
    what: &str,
    name: &Spanned<String>,
    mut earlier: impl Iterator<Item = &'a String>,
) -> Result<(), ScenarioError> {
    check_name(cx, name)?;
    if earlier.any(|n| n == name.get_ref()) {
        return Err(cx.err(
            name.span(),
            format!("duplicate {what} name {:?}", name.get_ref()),
        ));
    }
    Ok(())
}

fn int_in_range(cx: &Cx, v: &Spanned<Int>, min: i64, max: i64) -> Result<i64, ScenarioError> {
    let n = v.get_ref().0;
    if n < min || n > max {
        return Err(cx.err(
            v.span(),
            format!("expected an integer from {min} to {max}, found {n}"),
        ));
    }
    Ok(n)
}

/// `"A-B"` with `1 <= A <= B <= 65535`, digits only.
fn port_range(cx: &Cx, v: &Spanned<String>) -> Result<(u16, u16), ScenarioError> {
    let s = v.get_ref().as_str();
    match s
        .split_once('-')
        .and_then(|(a, b)| Some((port_number(a)?, port_number(b)?)))
    {
        Some((a, b)) if a <= b => Ok((a, b)),
        _ => Err(cx.err(
            v.span(),
            format!("expected a port range \"A-B\" with 1 <= A <= B <= 65535, found {s:?}"),
        )),
    }
}

/// A port 1..=65535 written with ASCII digits only.
fn port_number(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|p| *p != 0)
}

fn ip_addr(cx: &Cx, v: &Spanned<String>) -> Result<IpAddr, ScenarioError> {
    v.get_ref().parse().map_err(|_| {
        cx.err(
            v.span(),
            format!("expected an IPv4 or IPv6 address, found {:?}", v.get_ref()),
        )
    })
}

/// The span of `len` bytes at byte `offset` inside the string value `v`,
/// when the file writes it as a plain `"..."` (no escapes); else the
/// value's own span.
fn inner_span(cx: &Cx, v: &Spanned<String>, offset: usize, len: usize) -> Range<usize> {
    let span = v.span();
    if cx.text.get(span.clone()) == Some(format!("\"{}\"", v.get_ref()).as_str()) {
        span.start + 1 + offset..span.start + 1 + offset + len
    } else {
        span
    }
}

/// The kernel's limit on a value written to a sysctl file (PAGE_SIZE - 1).
const SYSCTL_WRITE_MAX: usize = 4095;

/// `ip_local_reserved_ports` as the kernel takes it, returned as the
/// kernel reads it back (sorted, merged runs `A-B`, comma-separated).
///
/// The rules are `proc_do_large_bitmap` (kernel/sysctl.c) as measured on
/// Linux 6.18 in a fresh network namespace: entries `N` or `A-B` separated
/// by commas, with `0 <= A <= B <= 65535`; no spaces and no empty entries;
/// one trailing comma or newline is accepted; anything else fails the
/// write with EINVAL, so no namespace can hold it. The kernel also reads
/// `0x50` as hex and `010` as octal; the scenario format asks for plain
/// decimal instead of silently meaning 8. Moby's `parseReservedPorts`
/// reads the normalized text back (see `allocator::reserved`).
fn kernel_port_list(cx: &Cx, v: &Spanned<String>) -> Result<String, ScenarioError> {
    let s = v.get_ref().as_str();
    if s.len() > SYSCTL_WRITE_MAX {
        return Err(cx.err(
            v.span(),
            format!(
                "expected at most {SYSCTL_WRITE_MAX} bytes of ip_local_reserved_ports (the kernel's limit), found {}",
                s.len()
            ),
        ));
    }
    let mut body = s.strip_suffix('\n').unwrap_or(s);
    if body.len() > 1 {
        body = body.strip_suffix(',').unwrap_or(body);
    }
    let mut reserved = vec![false; 65536];
    if !body.is_empty() {
        let mut offset = 0;
        for entry in body.split(',') {
            let here = offset;
            offset += entry.len() + 1;
            let einval = || {
                cx.err(
                    inner_span(cx, v, here, entry.len()),
                    format!(
                        "expected ip_local_reserved_ports entries N or A-B with 0 <= A <= B <= 65535, found {entry:?} (the kernel refuses the list: EINVAL)"
                    ),
                )
            };
            let number = |t: &str| -> Result<u32, ScenarioError> {
                if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(einval());
                }
                if t.len() > 1 && t.starts_with('0') {
                    return Err(cx.err(
                        inner_span(cx, v, here, entry.len()),
                        format!(
                            "expected decimal port numbers without leading zeros, found {entry:?} (the kernel would read it as octal)"
                        ),
                    ));
                }
                t.parse::<u32>()
                    .ok()
                    .filter(|n| *n <= 65535)
                    .ok_or_else(einval)
            };
            let (a, b) = match entry.split_once('-') {
                None => {
                    let a = number(entry)?;
                    (a, a)
                }
                Some((a, b)) => (number(a)?, number(b)?),
            };
            if a > b {
                return Err(einval());
            }
            for p in a..=b {
                reserved[p as usize] = true;
            }
        }
    }
    let mut runs = Vec::new();
    let mut p = 0usize;
    while p < reserved.len() {
        if !reserved[p] {
            p += 1;
            continue;
        }
        let start = p;
        while p + 1 < reserved.len() && reserved[p + 1] {
            p += 1;
        }
        runs.push(if start == p {
            start.to_string()
        } else {
            format!("{start}-{p}")
        });
        p += 1;
    }
    Ok(runs.join(","))
}

fn daemon(cx: &Cx, d: &RawDaemon) -> Result<DaemonCfg, ScenarioError> {
    let port_range = match &d.port_range {
        None => DEFAULT_PORT_RANGE,
        Some(r) => port_range(cx, r)?,
    };
    let reserved_ports = match &d.reserved_ports {
        None => String::new(),
        Some(r) => kernel_port_list(cx, r)?,
    };
    let port_driver = match &d.port_driver {
        None => PortDriverKind::Builtin,
        Some(p) => choose(cx, p, PORT_DRIVERS, "")?,
    };
    let child_ip = match (&d.child_ip, port_driver) {
        (Some(ip), _) => Some(ip_addr(cx, ip)?),
        (None, PortDriverKind::Slirp4netns) => Some(SLIRP4NETNS_CHILD_IP),
        (None, PortDriverKind::Builtin) => None,
    };
    if let (Some(IpAddr::V6(_)), PortDriverKind::Slirp4netns, Some(ip)) =
        (child_ip, port_driver, &d.child_ip)
    {
        return Err(cx.err(
            ip.span(),
            format!(
                "expected an IPv4 child_ip for the slirp4netns port driver, found {:?} (rootlesskit's slirp4netns driver keeps only an IPv4 child IP: RunParentDriver, pkg/port/slirp4netns, e780dd3)",
                ip.get_ref()
            ),
        ));
    }
    Ok(DaemonCfg {
        name: d.name.get_ref().clone(),
        port_range,
        reserved_ports,
        port_driver,
        userland_proxy: d.userland_proxy.unwrap_or(true),
        ipv6: d.ipv6.unwrap_or(true),
        bridge_lock: d.bridge_lock.unwrap_or(true),
        child_ip,
        detach_netns: d.detach_netns.unwrap_or(true),
    })
}

fn occupant(cx: &Cx, o: &RawOccupant) -> Result<OccupantCfg, ScenarioError> {
    let kind = choose(cx, &o.kind, OCCUPANT_KINDS, "")?;
    let note = if o.proto.get_ref() == "sctp" {
        " (the simulated kernel has no SCTP)"
    } else {
        ""
    };
    let proto = choose(cx, &o.proto, OCCUPANT_PROTOS, note)?;
    let address = match &o.address {
        None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Some(a) => ip_addr(cx, a)?,
    };
    let listen = match (&o.listen, proto) {
        (None, Proto::Tcp) => true,
        (None, _) => false,
        (Some(l), Proto::Tcp) => *l.get_ref(),
        (Some(l), _) if *l.get_ref() => {
            return Err(cx.err(
                l.span(),
                "expected listen = false for a udp occupant (only tcp sockets listen)",
            ));
        }
        (Some(_), _) => false,
    };
    let ports = match o.ports.get_ref() {
        RawPorts::List(list) => {
            if list.is_empty() {
                return Err(cx.err(o.ports.span(), "expected at least one port, found []"));
            }
            let mut ports = Vec::new();
            for p in list {
                ports.push(int_in_range(cx, p, 1, u16::MAX.into())? as u16);
            }
            ports
        }
        RawPorts::Range(r) => {
            if kind != OccupantKind::Racing {
                return Err(cx.err(
                    o.ports.span(),
                    format!(
                        "expected an array of ports such as [{}]: a range string is only for racing occupants",
                        r.split('-').next().unwrap_or("")
                    ),
                ));
            }
            let (a, b) = port_range(cx, &Spanned::new(o.ports.span(), r.clone()))?;
            (a..=b).collect()
        }
    };
    let hold = match &o.hold {
        None => Hold::Forever,
        Some(h) => {
            let hold = choose(cx, h, HOLDS, "")?;
            if hold == Hold::Briefly && kind != OccupantKind::Racing {
                return Err(cx.err(
                    h.span(),
                    format!(
                        "expected hold = \"forever\": \"briefly\" is only for racing occupants, this one is {:?}",
                        o.kind.get_ref()
                    ),
                ));
            }
            hold
        }
    };
    Ok(OccupantCfg {
        name: o.name.get_ref().clone(),
        kind,
        proto,
        address,
        v6only: o.v6only.unwrap_or(false),
        reuse_addr: o.reuse_addr.unwrap_or(true),
        listen,
        privileged: o.privileged.unwrap_or(false),
        ports,
        hold,
    })
}

/// The most port bindings (after `-p` ranges are expanded) one scenario
/// may publish. Every check after every step reads each live binding, so
/// one run costs about the square of this: 1024 bindings run in about a
/// second (`cargo bench --bench scale`); `-p 1-65535` would take hours.
pub const MAX_BINDINGS: usize = 1024;

fn container(
    cx: &Cx,
    c: &RawContainer,
    daemons: &[DaemonCfg],
    bindings: &mut usize,
) -> Result<ContainerCfg, ScenarioError> {
    let daemon = match &c.daemon {
        None => 0,
        Some(d) => daemons
            .iter()
            .position(|x| &x.name == d.get_ref())
            .ok_or_else(|| {
                cx.err(
                    d.span(),
                    unknown(
                        "daemon",
                        d.get_ref(),
                        daemons.iter().map(|x| x.name.as_str()),
                    ),
                )
            })?,
    };
    if c.publish.get_ref().is_empty() {
        return Err(cx.err(c.publish.span(), "expected at least one -p spec, found []"));
    }
    let mut publish = Vec::new();
    for spec in c.publish.get_ref() {
        let more = parse_publish(spec.get_ref()).map_err(|e| {
            // Docker's text echoes the spec as given: keep the message on
            // one line when the spec holds a newline (found by fuzzing).
            let e: String = e
                .chars()
                .map(|c| {
                    if c.is_control() {
                        c.escape_debug().to_string()
                    } else {
                        c.to_string()
                    }
                })
                .collect();
            cx.err(
                spec.span(),
                format!("bad -p spec {:?}: {e}", spec.get_ref()),
            )
        })?;
        *bindings += more.len();
        if *bindings > MAX_BINDINGS {
            return Err(cx.err(
                spec.span(),
                format!(
                    "-p {:?} brings the scenario to {} port bindings; portsim runs at most {MAX_BINDINGS} (the checkers read every live binding after every step)",
                    spec.get_ref(),
                    bindings
                ),
            ));
        }
        publish.extend(more);
    }
    Ok(ContainerCfg {
        name: c.name.get_ref().clone(),
        daemon,
        ipv6: c.ipv6.unwrap_or(false),
        publish,
    })
}

fn unknown<'a>(what: &str, name: &str, known: impl Iterator<Item = &'a str>) -> String {
    let known: Vec<&str> = known.collect();
    if known.is_empty() {
        format!("unknown {what} {name:?} (the scenario has none)")
    } else {
        format!(
            "unknown {what} {name:?} (expected one of {})",
            quoted_list(known)
        )
    }
}

fn steps(
    cx: &Cx,
    raw: &[Spanned<RawStep>],
    containers: &[ContainerCfg],
    occupants: &[OccupantCfg],
) -> Result<Vec<Step>, ScenarioError> {
    // Each container's state after the steps so far: never started (None),
    // or started / stopped by the step at that span. Docker answers a
    // start of a running container, and a stop of a stopped one, with
    // "304 Not Modified" and does nothing: such a step would test nothing,
    // so it is refused here, where its position is known.
    let mut state: Vec<Option<(bool, Range<usize>)>> = vec![None; containers.len()];
    let at = |span: &Range<usize>| {
        let (l, c) = line_col(cx.text, span.start);
        format!("{l}:{c}")
    };
    let mut out = Vec::new();
    for step in raw {
        let actions: Vec<(Action, Range<usize>)> = match step.get_ref() {
            RawStep::One(s) => {
                let s = Spanned::new(step.span(), s.clone());
                vec![(action(cx, &s, containers, occupants)?, step.span())]
            }
            RawStep::Concurrent(list) => {
                if list.len() < 2 {
                    return Err(cx.err(
                        step.span(),
                        format!(
                            "expected at least 2 actions in a concurrent step, found {}",
                            list.len()
                        ),
                    ));
                }
                let mut actions = Vec::new();
                for s in list {
                    let a = action(cx, s, containers, occupants)?;
                    if let Some((what, name)) = actions
                        .iter()
                        .find(|(b, _)| same_target(a, *b))
                        .map(|_| target_name(a, containers, occupants))
                    {
                        return Err(cx.err(
                            s.span(),
                            format!(
                                "{what} {name:?} appears more than once in one concurrent step"
                            ),
                        ));
                    }
                    actions.push((a, s.span()));
                }
                actions
            }
        };
        for (a, span) in &actions {
            let (c, starting) = match *a {
                Action::Start(c) => (c, true),
                Action::Stop(c) => (c, false),
                _ => continue,
            };
            let name = &containers[c].name;
            let msg = match (&state[c], starting) {
                (Some((true, by)), true) => format!(
                    "container {name:?} is already started (by the step at {}): stop it first (a retry after a failed start is \"stop {name}\", then \"start {name}\")",
                    at(by)
                ),
                (None, false) => {
                    format!("container {name:?} is stopped before any step starts it")
                }
                (Some((false, by)), false) => {
                    format!(
                        "container {name:?} is already stopped (by the step at {})",
                        at(by)
                    )
                }
                _ => continue,
            };
            return Err(cx.err(span.clone(), msg));
        }
        for (a, span) in &actions {
            match *a {
                Action::Start(c) => state[c] = Some((true, span.clone())),
                Action::Stop(c) => state[c] = Some((false, span.clone())),
                _ => {}
            }
        }
        out.push(match step.get_ref() {
            RawStep::One(_) => Step::Seq(actions[0].0),
            RawStep::Concurrent(_) => {
                Step::Concurrent(actions.into_iter().map(|(a, _)| a).collect())
            }
        });
    }
    Ok(out)
}

/// Whether two actions name the same container, or the same occupant.
fn same_target(a: Action, b: Action) -> bool {
    match (target_of(a), target_of(b)) {
        ((true, i), (true, j)) | ((false, i), (false, j)) => i == j,
        _ => false,
    }
}

/// (is a container, index)
fn target_of(a: Action) -> (bool, usize) {
    match a {
        Action::Start(i) | Action::Stop(i) => (true, i),
        Action::Bind(i) | Action::Close(i) | Action::Race(i) => (false, i),
    }
}

fn target_name<'a>(
    a: Action,
    containers: &'a [ContainerCfg],
    occupants: &'a [OccupantCfg],
) -> (&'static str, &'a str) {
    match target_of(a) {
        (true, i) => ("container", &containers[i].name),
        (false, i) => ("occupant", &occupants[i].name),
    }
}

/// `VERB NAME`.
fn action(
    cx: &Cx,
    s: &Spanned<String>,
    containers: &[ContainerCfg],
    occupants: &[OccupantCfg],
) -> Result<Action, ScenarioError> {
    let words: Vec<&str> = s.get_ref().split_whitespace().collect();
    let [verb, name] = words.as_slice() else {
        return Err(cx.err(
            s.span(),
            format!(
                "expected \"VERB NAME\" with VERB one of {}, found {:?}",
                quoted_list(VERBS.iter().map(|(v, _)| *v)),
                s.get_ref()
            ),
        ));
    };
    let target = choose(cx, &Spanned::new(s.span(), verb.to_string()), VERBS, "")?;
    match target {
        Target::Container => {
            let i = containers
                .iter()
                .position(|c| c.name == *name)
                .ok_or_else(|| {
                    cx.err(
                        s.span(),
                        unknown(
                            "container",
                            name,
                            containers.iter().map(|c| c.name.as_str()),
                        ),
                    )
                })?;
            Ok(if *verb == "start" {
                Action::Start(i)
            } else {
                Action::Stop(i)
            })
        }
        Target::Occupant(kind) => {
            let kind_name = OCCUPANT_KINDS
                .iter()
                .find(|(_, k)| *k == kind)
                .map_or("", |(n, _)| *n);
            let Some(i) = occupants.iter().position(|o| o.name == *name) else {
                let what = format!("{kind_name} occupant");
                let known = occupants
                    .iter()
                    .filter(|o| o.kind == kind)
                    .map(|o| o.name.as_str());
                return Err(cx.err(s.span(), unknown(&what, name, known)));
            };
            if occupants[i].kind != kind {
                let actual = OCCUPANT_KINDS
                    .iter()
                    .find(|(_, k)| *k == occupants[i].kind)
                    .map_or("", |(n, _)| *n);
                return Err(cx.err(
                    s.span(),
                    format!(
                        "expected a {kind_name} occupant after {verb:?}, found {actual} occupant {name:?}"
                    ),
                ));
            }
            Ok(match *verb {
                "bind" => Action::Bind(i),
                "close" => Action::Close(i),
                _ => Action::Race(i),
            })
        }
    }
}

/// Map entries in file order (serde hands them over sorted by key).
fn in_file_order<V>(map: &BTreeMap<Spanned<String>, V>) -> Vec<(&Spanned<String>, &V)> {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    entries
}

fn expectation(
    cx: &Cx,
    e: &RawExpect,
    containers: &[ContainerCfg],
) -> Result<Expectation, ScenarioError> {
    let mut out = Expectation::default();
    for (name, value) in in_file_order(&e.starts) {
        if !containers.iter().any(|c| &c.name == name.get_ref()) {
            return Err(cx.err(
                name.span(),
                unknown(
                    "container",
                    name.get_ref(),
                    containers.iter().map(|c| c.name.as_str()),
                ),
            ));
        }
        out.starts
            .insert(name.get_ref().clone(), expect_start(cx, value)?);
    }
    for (name, value) in in_file_order(&e.properties) {
        if !PROPERTIES.contains(&name.get_ref().as_str()) {
            return Err(cx.err(
                name.span(),
                format!(
                    "expected a property name, one of {}, found {:?}",
                    quoted_list(PROPERTIES.iter().copied()),
                    name.get_ref()
                ),
            ));
        }
        out.properties
            .insert(name.get_ref().clone(), choose(cx, value, VERDICTS, "")?);
    }
    Ok(out)
}

/// `ok`, `ok P1,P2`, `error`, `error: TEXT`.
fn expect_start(cx: &Cx, v: &Spanned<String>) -> Result<ExpectStart, ScenarioError> {
    let s = v.get_ref().as_str();
    let bad = || {
        cx.err(
            v.span(),
            format!(
                "expected \"ok\", \"ok PORT[,PORT...]\", \"error\" or \"error: TEXT\", found {s:?}"
            ),
        )
    };
    if s == "ok" {
        return Ok(ExpectStart::Ok(None));
    }
    if s == "error" {
        return Ok(ExpectStart::Err(None));
    }
    if let Some(text) = s.strip_prefix("error: ") {
        if text.trim().is_empty() {
            return Err(bad());
        }
        return Ok(ExpectStart::Err(Some(text.to_string())));
    }
    if let Some(list) = s.strip_prefix("ok ") {
        let mut ports = Vec::new();
        for p in list.split(',') {
            ports.push(port_number(p.trim()).ok_or_else(bad)?);
        }
        return Ok(ExpectStart::Ok(Some(ports)));
    }
    Err(bad())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::PublishSpec;
    use proptest::prelude::*;

    /// Every feature of the format, written as the shipped scenarios are.
    const FULL: &str = r#"name = "issue-53153"
description = """free text"""
occupant_budget = 9
steps = [
  "start c1",
  "bind web",
  ["start c2", "start c3", "race o1", "stop c1"],
  "close web",
  "stop c2",
]

[host]
unprivileged_port_start = 80

[[daemon]]
name = "d1"
port_range = "32768-60999"
reserved_ports = ""
port_driver = "builtin"
userland_proxy = true
ipv6 = true
bridge_lock = true

[[daemon]]
name = "d2"
port_range = "40000-40010"
reserved_ports = "40001,40003-40004"
port_driver = "slirp4netns"
userland_proxy = false
ipv6 = false
bridge_lock = false
detach_netns = false

[[daemon]]
name = "d3"
port_driver = "slirp4netns"
child_ip = "10.0.2.15"

[[occupant]]
name = "fix"
kind = "fixed"
proto = "tcp"
ports = [32769]

[[occupant]]
name = "web"
kind = "scripted"
proto = "udp"
address = "::"
v6only = true
reuse_addr = false
listen = false
privileged = true
ports = [80, 81]

[[occupant]]
name = "o1"
kind = "racing"
proto = "tcp"
ports = "32768-32770"
hold = "briefly"

[[container]]
name = "c1"
publish = ["0:80", "127.0.0.1::80/udp"]

[[container]]
name = "c2"
daemon = "d2"
ipv6 = true
publish = ["8000-8001:80-81"]

[[container]]
name = "c3"
daemon = "d3"
publish = ["[::1]:0:80/udp"]

[[container]]
name = "c4"
publish = ["80"]

[expect.moby-master]
starts = { c1 = "ok 32768", c2 = "error: Error response from daemon: ...", c3 = "ok", c4 = "error" }
properties = { convergence = "violated", no-double-ownership = "holds" }

[expect.pr-52927]
starts = { c1 = "ok 32768,32769" }
"#;

    /// The smallest valid file, to show the defaults.
    const MINIMAL: &str = "name = \"m\"\n[[daemon]]\nname = \"d\"\n";

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn publish(raw: &str, host_ip: Option<&str>, hp: u16, cp: u16, proto: Proto) -> PublishSpec {
        PublishSpec {
            raw: raw.to_string(),
            host_ip: host_ip.map(ip),
            host_port: hp,
            host_port_end: 0,
            container_port: cp,
            proto,
        }
    }

    fn parse_err(text: &str) -> String {
        match parse_str("t.toml", text) {
            Ok(_) => "parsed".to_string(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn full_example_parses_to_the_model() {
        let got = parse_str("full.toml", FULL).unwrap();
        let want = Scenario {
            name: "issue-53153".into(),
            description: "free text".into(),
            host: HostCfg {
                unprivileged_port_start: 80,
                port_range: (32768, 60999),
            },
            daemons: vec![
                DaemonCfg {
                    name: "d1".into(),
                    port_range: (32768, 60999),
                    reserved_ports: String::new(),
                    port_driver: PortDriverKind::Builtin,
                    userland_proxy: true,
                    ipv6: true,
                    bridge_lock: true,
                    child_ip: None,
                    detach_netns: true,
                },
                DaemonCfg {
                    name: "d2".into(),
                    port_range: (40000, 40010),
                    reserved_ports: "40001,40003-40004".into(),
                    port_driver: PortDriverKind::Slirp4netns,
                    userland_proxy: false,
                    ipv6: false,
                    bridge_lock: false,
                    child_ip: Some(ip("10.0.2.100")),
                    detach_netns: false,
                },
                DaemonCfg {
                    name: "d3".into(),
                    port_range: (32768, 60999),
                    reserved_ports: String::new(),
                    port_driver: PortDriverKind::Slirp4netns,
                    userland_proxy: true,
                    ipv6: true,
                    bridge_lock: true,
                    child_ip: Some(ip("10.0.2.15")),
                    detach_netns: true,
                },
            ],
            occupants: vec![
                OccupantCfg {
                    name: "fix".into(),
                    kind: OccupantKind::Fixed,
                    proto: Proto::Tcp,
                    address: ip("0.0.0.0"),
                    v6only: false,
                    reuse_addr: true,
                    listen: true,
                    privileged: false,
                    ports: vec![32769],
                    hold: Hold::Forever,
                },
                OccupantCfg {
                    name: "web".into(),
                    kind: OccupantKind::Scripted,
                    proto: Proto::Udp,
                    address: ip("::"),
                    v6only: true,
                    reuse_addr: false,
                    listen: false,
                    privileged: true,
                    ports: vec![80, 81],
                    hold: Hold::Forever,
                },
                OccupantCfg {
                    name: "o1".into(),
                    kind: OccupantKind::Racing,
                    proto: Proto::Tcp,
                    address: ip("0.0.0.0"),
                    v6only: false,
                    reuse_addr: true,
                    listen: true,
                    privileged: false,
                    ports: vec![32768, 32769, 32770],
                    hold: Hold::Briefly,
                },
            ],
            containers: vec![
                ContainerCfg {
                    name: "c1".into(),
                    daemon: 0,
                    ipv6: false,
                    publish: vec![
                        publish("0:80", None, 0, 80, Proto::Tcp),
                        publish("127.0.0.1::80/udp", Some("127.0.0.1"), 0, 80, Proto::Udp),
                    ],
                },
                ContainerCfg {
                    name: "c2".into(),
                    daemon: 1,
                    ipv6: true,
                    publish: vec![
                        publish("8000-8001:80-81", None, 8000, 80, Proto::Tcp),
                        publish("8000-8001:80-81", None, 8001, 81, Proto::Tcp),
                    ],
                },
                ContainerCfg {
                    name: "c3".into(),
                    daemon: 2,
                    ipv6: false,
                    publish: vec![publish("[::1]:0:80/udp", Some("::1"), 0, 80, Proto::Udp)],
                },
                ContainerCfg {
                    name: "c4".into(),
                    daemon: 0,
                    ipv6: false,
                    publish: vec![publish("80", None, 0, 80, Proto::Tcp)],
                },
            ],
            steps: vec![
                Step::Seq(Action::Start(0)),
                Step::Seq(Action::Bind(1)),
                Step::Concurrent(vec![
                    Action::Start(1),
                    Action::Start(2),
                    Action::Race(2),
                    Action::Stop(0),
                ]),
                Step::Seq(Action::Close(1)),
                Step::Seq(Action::Stop(1)),
            ],
            occupant_budget: Some(9),
            seed: None,
            covers: Vec::new(),
            expect: BTreeMap::from([
                (
                    "moby-master".to_string(),
                    Expectation {
                        starts: BTreeMap::from([
                            ("c1".to_string(), ExpectStart::Ok(Some(vec![32768]))),
                            (
                                "c2".to_string(),
                                ExpectStart::Err(Some(
                                    "Error response from daemon: ...".to_string(),
                                )),
                            ),
                            ("c3".to_string(), ExpectStart::Ok(None)),
                            ("c4".to_string(), ExpectStart::Err(None)),
                        ]),
                        properties: BTreeMap::from([
                            ("convergence".to_string(), Verdict::Violated),
                            ("no-double-ownership".to_string(), Verdict::Holds),
                        ]),
                    },
                ),
                (
                    "pr-52927".to_string(),
                    Expectation {
                        starts: BTreeMap::from([(
                            "c1".to_string(),
                            ExpectStart::Ok(Some(vec![32768, 32769])),
                        )]),
                        properties: BTreeMap::new(),
                    },
                ),
            ]),
        };
        assert_eq!(got, want);
    }

    #[test]
    fn minimal_file_gets_the_defaults() {
        let got = parse_str("m.toml", MINIMAL).unwrap();
        assert_eq!(got.description, "");
        assert_eq!(got.occupant_budget, None);
        assert_eq!(got.host.unprivileged_port_start, 1024);
        assert_eq!(
            got.daemons,
            vec![DaemonCfg {
                name: "d".into(),
                port_range: (32768, 60999),
                reserved_ports: String::new(),
                port_driver: PortDriverKind::Builtin,
                userland_proxy: true,
                ipv6: true,
                bridge_lock: true,
                child_ip: None,
                detach_netns: true,
            }]
        );
        assert!(got.occupants.is_empty() && got.containers.is_empty());
        assert!(got.steps.is_empty() && got.expect.is_empty());
    }

    #[test]
    fn udp_occupant_does_not_listen_by_default() {
        let text = format!(
            "{MINIMAL}[[occupant]]\nname = \"u\"\nkind = \"fixed\"\nproto = \"udp\"\nports = [53]\n"
        );
        let got = parse_str("u.toml", &text).unwrap();
        assert!(!got.occupants[0].listen);
    }

    /// (what it shows, text, the exact error line)
    const BAD: &[(&str, &str, &str)] = &[
        (
            "toml syntax error",
            "name = \"x\n[[daemon]]\n",
            "t.toml:1:10: invalid basic string, expected `\"`",
        ),
        (
            "wrong type",
            "name = \"x\"\n[[daemon]]\nname = \"d1\"\nipv6 = \"yes\"\n",
            "t.toml:4:8: invalid type: string \"yes\", expected a boolean",
        ),
        (
            "unknown key inside [[daemon]]",
            "name = \"x\"\n[[daemon]]\nname = \"d1\"\nbogus = 1\n",
            "t.toml:4:1: unknown field `bogus`, expected one of `name`, `port_range`, `reserved_ports`, `port_driver`, `userland_proxy`, `ipv6`, `bridge_lock`, `child_ip`, `detach_netns`",
        ),
        (
            "unknown port_driver",
            "name = \"x\"\n[[daemon]]\nname = \"d1\"\nport_driver = \"slirp\"\n",
            "t.toml:4:15: expected one of \"builtin\", \"slirp4netns\", found \"slirp\"",
        ),
        (
            "bad -p spec points at its string in the publish array",
            "name = \"x\"\n[[daemon]]\nname = \"d1\"\n[[container]]\nname = \"c1\"\npublish = [\"80\", \"x:80\"]\n",
            "t.toml:6:18: bad -p spec \"x:80\": invalid hostPort: x",
        ),
        (
            "unknown container in a step",
            "name = \"x\"\nsteps = [\"start c9\"]\n[[daemon]]\nname = \"d1\"\n[[container]]\nname = \"c1\"\npublish = [\"80\"]\n",
            "t.toml:2:10: unknown container \"c9\" (expected one of \"c1\")",
        ),
        (
            "stop before start",
            "name = \"x\"\nsteps = [\"stop c1\", \"start c1\"]\n[[daemon]]\nname = \"d1\"\n[[container]]\nname = \"c1\"\npublish = [\"80\"]\n",
            "t.toml:2:10: container \"c1\" is stopped before any step starts it",
        ),
        (
            "stop in the same concurrent step as the start",
            "name = \"x\"\nsteps = [[\"start c2\", \"stop c1\"], \"start c1\"]\n[[daemon]]\nname = \"d1\"\n[[container]]\nname = \"c1\"\npublish = [\"80\"]\n[[container]]\nname = \"c2\"\npublish = [\"81\"]\n",
            "t.toml:2:23: container \"c1\" is stopped before any step starts it",
        ),
        (
            "duplicate container names",
            "name = \"x\"\n[[daemon]]\nname = \"d1\"\n[[container]]\nname = \"c1\"\npublish = [\"80\"]\n[[container]]\nname = \"c1\"\npublish = [\"81\"]\n",
            "t.toml:8:8: duplicate container name \"c1\"",
        ),
        (
            "bad property name",
            "name = \"x\"\n[[daemon]]\nname = \"d1\"\n[expect.moby-master]\nproperties = { convergence = \"holds\", liveness = \"holds\" }\n",
            "t.toml:5:39: expected a property name, one of \"no-double-ownership\", \"allocator-consistency\", \"convergence\", \"clean-teardown\", \"error-fidelity\", found \"liveness\"",
        ),
        (
            "bad verdict",
            "name = \"x\"\n[[daemon]]\nname = \"d1\"\n[expect.moby-master]\nproperties = { convergence = \"fails\" }\n",
            "t.toml:5:30: expected one of \"holds\", \"violated\", found \"fails\"",
        ),
        (
            "bad start expectation",
            "name = \"x\"\n[[daemon]]\nname = \"d1\"\n[[container]]\nname = \"c1\"\npublish = [\"80\"]\n[expect.moby-master]\nstarts = { c1 = \"ok 80,x\" }\n",
            "t.toml:8:17: expected \"ok\", \"ok PORT[,PORT...]\", \"error\" or \"error: TEXT\", found \"ok 80,x\"",
        ),
        (
            "starts key that is no container",
            "name = \"x\"\n[[daemon]]\nname = \"d1\"\n[[container]]\nname = \"c1\"\npublish = [\"80\"]\n[expect.moby-master]\nstarts = { c1 = \"ok\", c2 = \"ok\" }\n",
            "t.toml:8:23: unknown container \"c2\" (expected one of \"c1\")",
        ),
        (
            "sctp occupant",
            "name = \"x\"\n[[daemon]]\nname = \"d1\"\n[[occupant]]\nname = \"o\"\nkind = \"fixed\"\nproto = \"sctp\"\nports = [80]\n",
            "t.toml:7:9: expected one of \"tcp\", \"udp\", found \"sctp\" (the simulated kernel has no SCTP)",
        ),
        (
            "listening udp occupant",
            "name = \"x\"\n[[daemon]]\nname = \"d1\"\n[[occupant]]\nname = \"o\"\nkind = \"fixed\"\nproto = \"udp\"\nlisten = true\nports = [80]\n",
            "t.toml:8:10: expected listen = false for a udp occupant (only tcp sockets listen)",
        ),
        (
            "briefly for a fixed occupant",
            "name = \"x\"\n[[daemon]]\nname = \"d1\"\n[[occupant]]\nname = \"o\"\nkind = \"fixed\"\nproto = \"tcp\"\nports = [80]\nhold = \"briefly\"\n",
            "t.toml:9:8: expected hold = \"forever\": \"briefly\" is only for racing occupants, this one is \"fixed\"",
        ),
        (
            "range string for a scripted occupant",
            "name = \"x\"\n[[daemon]]\nname = \"d1\"\n[[occupant]]\nname = \"o\"\nkind = \"scripted\"\nproto = \"tcp\"\nports = \"80-90\"\n",
            "t.toml:8:9: expected an array of ports such as [80]: a range string is only for racing occupants",
        ),
        (
            "bad racing range",
            "name = \"x\"\n[[daemon]]\nname = \"d1\"\n[[occupant]]\nname = \"o\"\nkind = \"racing\"\nproto = \"tcp\"\nports = \"90-80\"\n",
            "t.toml:8:9: expected a port range \"A-B\" with 1 <= A <= B <= 65535, found \"90-80\"",
        ),
        (
            "port 0 for an occupant",
            "name = \"x\"\n[[daemon]]\nname = \"d1\"\n[[occupant]]\nname = \"o\"\nkind = \"fixed\"\nproto = \"tcp\"\nports = [80, 0]\n",
            "t.toml:8:14: expected an integer from 1 to 65535, found 0",
        ),
        (
            "port that is no integer",
            "name = \"x\"\n[[daemon]]\nname = \"d1\"\n[[occupant]]\nname = \"o\"\nkind = \"fixed\"\nproto = \"tcp\"\nports = [\"80\"]\n",
            "t.toml:8:10: invalid type: string \"80\", expected an integer",
        ),
        (
            "concurrent step with one action",
            "name = \"x\"\nsteps = [[\"start c1\"]]\n[[daemon]]\nname = \"d1\"\n[[container]]\nname = \"c1\"\npublish = [\"80\"]\n",
            "t.toml:2:10: expected at least 2 actions in a concurrent step, found 1",
        ),
        (
            "concurrent step naming a container twice",
            "name = \"x\"\nsteps = [\"start c1\", [\"stop c1\", \"start c1\"]]\n[[daemon]]\nname = \"d1\"\n[[container]]\nname = \"c1\"\npublish = [\"80\"]\n",
            "t.toml:2:34: container \"c1\" appears more than once in one concurrent step",
        ),
        (
            "bind of a fixed occupant",
            "name = \"x\"\nsteps = [\"bind o\"]\n[[daemon]]\nname = \"d1\"\n[[occupant]]\nname = \"o\"\nkind = \"fixed\"\nproto = \"tcp\"\nports = [80]\n",
            "t.toml:2:10: expected a scripted occupant after \"bind\", found fixed occupant \"o\"",
        ),
        (
            "race of an unknown occupant",
            "name = \"x\"\nsteps = [\"race r\", \"start c1\"]\n[[daemon]]\nname = \"d1\"\n",
            "t.toml:2:10: unknown racing occupant \"r\" (the scenario has none)",
        ),
        (
            "unknown verb",
            "name = \"x\"\nsteps = [\"launch c1\"]\n[[daemon]]\nname = \"d1\"\n",
            "t.toml:2:10: expected one of \"start\", \"stop\", \"bind\", \"close\", \"race\", found \"launch\"",
        ),
        (
            "step without a name",
            "name = \"x\"\nsteps = [\n  \"start\",\n]\n[[daemon]]\nname = \"d1\"\n",
            "t.toml:3:3: expected \"VERB NAME\" with VERB one of \"start\", \"stop\", \"bind\", \"close\", \"race\", found \"start\"",
        ),
        (
            "steps written after a table",
            "name = \"x\"\n[[daemon]]\nname = \"d1\"\nsteps = []\n",
            "t.toml:4:1: unknown field `steps`, expected one of `name`, `port_range`, `reserved_ports`, `port_driver`, `userland_proxy`, `ipv6`, `bridge_lock`, `child_ip`, `detach_netns` (`steps` is a top-level key: write it before the first [table] header)",
        ),
        (
            "bad daemon port range",
            "name = \"x\"\n[[daemon]]\nname = \"d1\"\nport_range = \"0-100\"\n",
            "t.toml:4:14: expected a port range \"A-B\" with 1 <= A <= B <= 65535, found \"0-100\"",
        ),
        (
            "bad reserved ports",
            "name = \"x\"\n[[daemon]]\nname = \"d1\"\nreserved_ports = \"80 81\"\n",
            "t.toml:4:19: expected ip_local_reserved_ports entries N or A-B with 0 <= A <= B <= 65535, found \"80 81\" (the kernel refuses the list: EINVAL)",
        ),
        (
            "bad child ip",
            "name = \"x\"\n[[daemon]]\nname = \"d1\"\nchild_ip = \"10.0.2\"\n",
            "t.toml:4:12: expected an IPv4 or IPv6 address, found \"10.0.2\"",
        ),
        (
            "negative occupant budget",
            "name = \"x\"\noccupant_budget = -1\n[[daemon]]\nname = \"d1\"\n",
            "t.toml:2:19: expected an integer from 0 to 4294967295, found -1",
        ),
        (
            "missing scenario name",
            "description = \"no name\"\n[[daemon]]\nname = \"d1\"\n",
            "t.toml:1:1: missing field `name`",
        ),
        (
            "no daemon",
            "name = \"x\"\n",
            "t.toml:1:1: expected at least one [[daemon]] table",
        ),
        (
            "unknown daemon of a container",
            "name = \"x\"\n[[daemon]]\nname = \"d1\"\n[[container]]\nname = \"c1\"\ndaemon = \"d2\"\npublish = [\"80\"]\n",
            "t.toml:6:10: unknown daemon \"d2\" (expected one of \"d1\")",
        ),
        (
            "container that publishes nothing",
            "name = \"x\"\n[[daemon]]\nname = \"d1\"\n[[container]]\nname = \"c1\"\npublish = []\n",
            "t.toml:6:11: expected at least one -p spec, found []",
        ),
        (
            "name with a space",
            "name = \"x\"\n[[daemon]]\nname = \"d 1\"\n",
            "t.toml:3:8: expected a non-empty name without whitespace, found \"d 1\"",
        ),
        (
            "expect table of a policy that does not exist",
            "name = \"x\"\n[[daemon]]\nname = \"d1\"\n[expect.moby-mastr]\nproperties = { convergence = \"holds\" }\n",
            "t.toml:4:9: expected a policy name, one of \"moby-master\", \"pr-52927\", \"docker-28\", \"pr-52927-fixed\", \"pr-52927-unbounded\", \"host-first\", \"kernel-picks\", found \"moby-mastr\"",
        ),
        (
            "start of a container a step already started",
            "name = \"x\"\nsteps = [\"start c1\", \"start c1\"]\n[[daemon]]\nname = \"d1\"\n[[container]]\nname = \"c1\"\npublish = [\"80\"]\n",
            "t.toml:2:22: container \"c1\" is already started (by the step at 2:10): stop it first (a retry after a failed start is \"stop c1\", then \"start c1\")",
        ),
        (
            "stop of a container a step already stopped",
            "name = \"x\"\nsteps = [\"start c1\", \"stop c1\", \"stop c1\"]\n[[daemon]]\nname = \"d1\"\n[[container]]\nname = \"c1\"\npublish = [\"80\"]\n",
            "t.toml:2:33: container \"c1\" is already stopped (by the step at 2:22)",
        ),
        (
            "reserved port the kernel could never hold",
            "name = \"x\"\n[[daemon]]\nname = \"d1\"\nreserved_ports = \"32768,99999\"\n",
            "t.toml:4:25: expected ip_local_reserved_ports entries N or A-B with 0 <= A <= B <= 65535, found \"99999\" (the kernel refuses the list: EINVAL)",
        ),
        (
            "reserved range that ends below its start",
            "name = \"x\"\n[[daemon]]\nname = \"d1\"\nreserved_ports = \"80-70\"\n",
            "t.toml:4:19: expected ip_local_reserved_ports entries N or A-B with 0 <= A <= B <= 65535, found \"80-70\" (the kernel refuses the list: EINVAL)",
        ),
        (
            "reserved port with a leading zero (the kernel reads it as octal)",
            "name = \"x\"\n[[daemon]]\nname = \"d1\"\nreserved_ports = \"80,010\"\n",
            "t.toml:4:22: expected decimal port numbers without leading zeros, found \"010\" (the kernel would read it as octal)",
        ),
        (
            "empty reserved entry",
            "name = \"x\"\n[[daemon]]\nname = \"d1\"\nreserved_ports = \"80,,81\"\n",
            "t.toml:4:22: expected ip_local_reserved_ports entries N or A-B with 0 <= A <= B <= 65535, found \"\" (the kernel refuses the list: EINVAL)",
        ),
        (
            "IPv6 child IP with slirp4netns",
            "name = \"x\"\n[[daemon]]\nname = \"d1\"\nport_driver = \"slirp4netns\"\nchild_ip = \"fd00::100\"\n",
            "t.toml:5:12: expected an IPv4 child_ip for the slirp4netns port driver, found \"fd00::100\" (rootlesskit's slirp4netns driver keeps only an IPv4 child IP: RunParentDriver, pkg/port/slirp4netns, e780dd3)",
        ),
        (
            "more port bindings than a run can check",
            "name = \"x\"\n[[daemon]]\nname = \"d1\"\n[[container]]\nname = \"c1\"\npublish = [\"1-65535\"]\n",
            "t.toml:6:12: -p \"1-65535\" brings the scenario to 65535 port bindings; portsim runs at most 1024 (the checkers read every live binding after every step)",
        ),
        (
            "columns count characters, not bytes",
            "name = \"x\"\n[[daemon]]\nname = \"d1\"\n[[container]]\nname = \"c1\"\npublish = [\"é\", \"80/ü\"]\n",
            "t.toml:6:12: bad -p spec \"é\": invalid containerPort: é",
        ),
    ];

    #[test]
    fn bad_inputs_point_at_the_offending_key_or_value() {
        let mut failures = Vec::new();
        for (what, text, want) in BAD {
            let got = parse_err(text);
            if got != *want {
                failures.push(format!("{what}:\n  want {want}\n  got  {got}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn reserved_ports_are_kept_as_the_kernel_reads_them_back() {
        // Measured on Linux 6.18: the kernel sorts and merges the list and
        // accepts one trailing comma or newline.
        for (written, read) in [
            ("", ""),
            ("81,80,", "80-81"),
            ("8080,30000-30002", "8080,30000-30002"),
            ("0,65535\n", "0,65535"),
            ("80-80,79", "79-80"),
            ("100-200,150-160,201", "100-201"),
        ] {
            let text = format!("{MINIMAL}reserved_ports = {written:?}\n");
            let got = parse_str("r.toml", &text).unwrap();
            assert_eq!(got.daemons[0].reserved_ports, read, "{written:?}");
        }
    }

    #[test]
    fn several_ports_of_a_fixed_occupant_are_kept() {
        let text = format!(
            "{MINIMAL}[[occupant]]\nname = \"o\"\nkind = \"fixed\"\nproto = \"tcp\"\nports = [8000, 8001, 8002]\n"
        );
        let got = parse_str("o.toml", &text).unwrap();
        assert_eq!(got.occupants[0].ports, [8000, 8001, 8002]);
    }

    #[test]
    fn a_retry_after_a_failed_start_is_stop_then_start() {
        let text = "name = \"x\"\nsteps = [\"start c1\", \"stop c1\", \"start c1\", \"stop c1\"]\n[[daemon]]\nname = \"d1\"\n[[container]]\nname = \"c1\"\npublish = [\"80\"]\n";
        assert_eq!(parse_str("t.toml", text).unwrap().steps.len(), 4);
    }

    #[test]
    fn a_file_larger_than_the_cap_is_refused_without_reading_it_all() {
        let dir = std::env::temp_dir().join(format!("portsim-parse-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let big = dir.join("big.toml");
        std::fs::write(&big, vec![b'#'; crate::paths::MAX_INPUT_BYTES as usize + 1]).unwrap();
        let e = load(&big).unwrap_err().to_string();
        assert!(e.ends_with("larger than 1048576 bytes: refused (scenario files are small; is this the right file?)"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
        #[cfg(unix)]
        {
            let e = load(Path::new("/dev/zero")).unwrap_err().to_string();
            assert!(e.starts_with("/dev/zero:0:0: larger than"), "{e}");
        }
    }

    /// Every key the parser accepts appears in the format documentation
    /// at the top of this file. The accepted keys come from the parser's
    /// own "unknown field" error for each table.
    #[test]
    fn the_format_documentation_names_every_key() {
        let source = include_str!("parse.rs");
        let doc: String = source
            .lines()
            .filter_map(|l| l.strip_prefix("//!"))
            .collect::<Vec<_>>()
            .join("\n");
        let tables = [
            (
                "top level",
                "bogus = 1\nname = \"x\"\n[[daemon]]\nname = \"d\"\n",
            ),
            (
                "[host]",
                "name = \"x\"\n[host]\nbogus = 1\n[[daemon]]\nname = \"d\"\n",
            ),
            (
                "[[daemon]]",
                "name = \"x\"\n[[daemon]]\nname = \"d\"\nbogus = 1\n",
            ),
            (
                "[[occupant]]",
                "name = \"x\"\n[[daemon]]\nname = \"d\"\n[[occupant]]\nbogus = 1\n",
            ),
            (
                "[[container]]",
                "name = \"x\"\n[[daemon]]\nname = \"d\"\n[[container]]\nbogus = 1\n",
            ),
            (
                "[expect.POLICY]",
                "name = \"x\"\n[[daemon]]\nname = \"d\"\n[expect.moby-master]\nbogus = 1\n",
            ),
        ];
        let mut missing = Vec::new();
        for (table, text) in tables {
            let e = parse_err(text);
            let list = e
                .split("expected ")
                .nth(1)
                .unwrap_or_else(|| panic!("{table}: {e}"));
            let list = list.strip_prefix("one of ").unwrap_or(list);
            for key in list.split(", ").map(|k| k.trim_matches('`')) {
                let key = key.split('`').next().unwrap_or(key);
                let documented = doc.contains(&format!("\n {key} = "))
                    || doc.contains(&format!("[{key}]"))
                    || doc.contains(&format!("[[{key}]]"))
                    || doc.contains(&format!("[{key}."));
                if !documented {
                    missing.push(format!("{table}: {key}"));
                }
            }
        }
        assert!(missing.is_empty(), "undocumented keys: {missing:?}");
    }

    #[test]
    fn covers_names_known_situations_once() {
        let ok = parse_str(
            "t.toml",
            "name = \"x\"\ncovers = [\"retry\", \"give-up\"]\n[[daemon]]\nname = \"d1\"\n",
        )
        .unwrap();
        assert_eq!(
            ok.covers,
            vec![
                crate::coverage::Situation::Retry,
                crate::coverage::Situation::GiveUp
            ]
        );
        let bad =
            parse_err("name = \"x\"\ncovers = [\"retry\", \"retyr\"]\n[[daemon]]\nname = \"d1\"\n");
        assert!(
            bad.starts_with("t.toml:2:20: unknown situation \"retyr\" in covers; expected one of host-collision, retry,"),
            "{bad}"
        );
        let twice =
            parse_err("name = \"x\"\ncovers = [\"retry\", \"retry\"]\n[[daemon]]\nname = \"d1\"\n");
        assert_eq!(
            twice,
            "t.toml:2:20: situation retry is listed twice in covers"
        );
    }

    #[test]
    fn line_col_counts_from_one_in_characters() {
        let text = "ab\né\nxyz";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 2), (1, 3));
        assert_eq!(line_col(text, 3), (2, 1));
        assert_eq!(line_col(text, 5), (2, 2));
        assert_eq!(line_col(text, 6), (3, 1));
        assert_eq!(line_col(text, 999), (3, 4));
    }

    /// Texts the never-panic property mutates.
    const SEEDS: &[&str] = &[FULL, MINIMAL];

    fn mutate(text: &str, edits: &[(usize, u8, char)]) -> String {
        let mut chars: Vec<char> = text.chars().collect();
        for &(at, op, c) in edits {
            if chars.is_empty() {
                chars.push(c);
                continue;
            }
            let at = at % chars.len();
            match op % 4 {
                0 => {
                    chars.remove(at);
                }
                1 => chars.insert(at, c),
                2 => chars[at] = c,
                _ => {
                    // Drop a run of up to 16 characters.
                    let end = (at + 1 + (c as usize % 16)).min(chars.len());
                    chars.drain(at..end);
                }
            }
        }
        chars.into_iter().collect()
    }

    fn check_error_position(text: &str) -> Result<(), TestCaseError> {
        if let Err(e) = parse_str("p.toml", text) {
            prop_assert!(e.line >= 1 && e.column >= 1, "{e}");
            prop_assert!(e.line <= text.lines().count().max(1) + 1, "{e}");
            prop_assert!(!e.message.is_empty(), "{e}");
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 512,
            failure_persistence: Some(Box::new(
                proptest::test_runner::FileFailurePersistence::SourceParallel("proptest-regressions"),
            )),
            ..ProptestConfig::default()
        })]

        #[test]
        fn mutated_files_never_panic_and_errors_have_positions(
            seed in 0..SEEDS.len(),
            edits in proptest::collection::vec(
                (any::<usize>(), any::<u8>(), prop::sample::select(
                    "\"'[]{}=,.:-#\n 0123456789abcxyzé\\\t".chars().collect::<Vec<_>>(),
                )),
                1..8,
            ),
        ) {
            check_error_position(&mutate(SEEDS[seed], &edits))?;
        }

        #[test]
        fn random_text_never_panics_and_errors_have_positions(
            text in "[a-z_\\[\\]{}=\",.:\\n -]{0,120}",
        ) {
            check_error_position(&text)?;
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let text = format!("name = \"x\"\nsteps = {}", "[".repeat(100_000));
        assert_eq!(
            parse_err(&text),
            "t.toml:2:89: cannot recurse further; max recursion depth met"
        );
    }

    #[test]
    fn the_host_range_is_its_own_and_checked_like_a_daemon_range() {
        let ok = "name = \"x\"\n[host]\nport_range = \"40000-40010\"\n[[daemon]]\nname = \"d1\"\nport_range = \"50000-50010\"\n";
        let sc = parse_str("t.toml", ok).unwrap();
        assert_eq!(sc.host.port_range, (40000, 40010));
        assert_eq!(sc.daemons[0].port_range, (50000, 50010));
        assert_eq!(
            parse_err("name = \"x\"\n[host]\nport_range = \"9-1\"\n[[daemon]]\nname = \"d1\"\n"),
            "t.toml:3:14: expected a port range \"A-B\" with 1 <= A <= B <= 65535, found \"9-1\""
        );
    }
    /// Captures the field list serde's derive hands to `deserialize_struct`:
    /// the keys a raw struct accepts, read from the parser itself.
    struct Grab<'a>(&'a mut Option<&'static [&'static str]>);

    impl<'de> Deserializer<'de> for Grab<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = Some(fields);
            Err(de::Error::custom("grabbed"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }

    fn accepted<T: for<'de> Deserialize<'de>>() -> Vec<String> {
        let mut fields = None;
        let _ = T::deserialize(Grab(&mut fields));
        let mut keys: Vec<String> = fields
            .expect("a struct")
            .iter()
            .map(|f| f.to_string())
            .collect();
        keys.sort();
        keys
    }

    /// The keys of each `<!-- keys: TABLE -->` section of docs/scenarios.md:
    /// the first column of its table rows.
    fn documented() -> BTreeMap<String, Vec<String>> {
        let doc = include_str!("../../docs/scenarios.md");
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut table: Option<String> = None;
        let mut in_table = false;
        for line in doc.lines() {
            if let Some(t) = line
                .strip_prefix("<!-- keys: ")
                .and_then(|r| r.strip_suffix(" -->"))
            {
                table = Some(t.to_string());
                out.entry(t.to_string()).or_default();
                continue;
            }
            // The key table is the first table after the marker.
            if !line.starts_with('|') {
                if in_table {
                    table = None;
                    in_table = false;
                }
                continue;
            }
            in_table = table.is_some();
            let (Some(t), Some(rest)) = (&table, line.strip_prefix("| `")) else {
                continue;
            };
            if let Some(key) = rest.split('`').next() {
                out.get_mut(t).unwrap().push(key.to_string());
            }
        }
        for keys in out.values_mut() {
            keys.sort();
        }
        out
    }

    #[test]
    fn docs_scenarios_md_documents_exactly_the_keys_the_parser_accepts() {
        let parser: BTreeMap<String, Vec<String>> = [
            ("top", accepted::<RawScenario>()),
            ("host", accepted::<RawHost>()),
            ("daemon", accepted::<RawDaemon>()),
            ("occupant", accepted::<RawOccupant>()),
            ("container", accepted::<RawContainer>()),
            ("expect", accepted::<RawExpect>()),
        ]
        .into_iter()
        .map(|(t, k)| (t.to_string(), k))
        .collect();
        assert_eq!(
            documented(),
            parser,
            "docs/scenarios.md's key tables (left) must list exactly the keys the parser accepts (right)"
        );
    }

    #[test]
    fn the_key_grabber_sees_a_new_field() {
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct WithExtra {
            name: String,
            brand_new_key: Option<bool>,
        }
        assert_eq!(accepted::<WithExtra>(), vec!["brand_new_key", "name"]);
    }
}
