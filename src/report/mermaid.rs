//! A trace as a Mermaid sequence diagram, to paste into a GitHub comment
//! inside a ```` ```mermaid ```` fence as it is.
//!
//! Participants, left to right: each container (its start or stop), then
//! per daemon its bridge driver (with the nat port mapper and docker-proxy),
//! allocator, child namespace and rootlesskit, then the host namespace and
//! each host program. A step is an arrow from who acted to the layer that
//! acted (`-x` when it failed); a container's host binds are drawn from its
//! daemon's rootlesskit, which makes them. The step where a property broke
//! sits in a red box with a note, the steps the story cites in yellow ones,
//! and every run of two or more uneventful steps (listen, close, release,
//! locks, proxies, successful registrations) is folded into one
//! "… N steps …" note. Every label starts with its trace step `[N]`.
//!
//! Text is escaped for Mermaid's sequence grammar (`#` and `;` end a
//! message; `<` and `>` are written as entity codes), and long errors keep
//! their head and innermost part.

use super::events;
use crate::check::Violation;
use crate::trace::Event;
use std::collections::BTreeSet;

/// Longest label part (action or result) before it is shortened.
const MAX_PART: usize = 72;
/// A step whose label is longer puts its result on a second line.
const ONE_LINE: usize = 56;
/// Red box around the violating step, yellow around the cited ones.
const VIOLATION_FILL: &str = "rgb(255, 221, 221)";
const CITED_FILL: &str = "rgb(221, 235, 255)";

/// What the diagram marks: the violation (if any) and the steps the story
/// cites.
#[derive(Clone, Copy, Default)]
pub struct Marks<'a> {
    pub violation: Option<&'a Violation>,
    pub cited: Option<&'a BTreeSet<usize>>,
}

/// One participant: its id in the diagram, its label, and its place.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Participant {
    order: (u8, usize, u8),
    id: String,
    label: String,
}

#[derive(Default)]
struct Participants {
    list: Vec<Participant>,
}

impl Participants {
    /// The id of the participant with this key, adding it on first use.
    fn get(&mut self, order: (u8, usize, u8), key: &str, label: &str) -> String {
        if let Some(p) = self
            .list
            .iter()
            .find(|p| p.order == order && p.label == label)
        {
            return p.id.clone();
        }
        let mut id = sanitize(key);
        while self.list.iter().any(|p| p.id == id) {
            id.push('_');
        }
        self.list.push(Participant {
            order,
            id: id.clone(),
            label: label.to_string(),
        });
        id
    }

    fn rank(&self, id: &str) -> (u8, usize, u8) {
        self.list
            .iter()
            .find(|p| p.id == id)
            .map_or((9, 0, 0), |p| p.order)
    }
}

/// One drawn item.
enum Item {
    Arrow {
        seq: usize,
        from: String,
        to: String,
        label: String,
        failed: bool,
    },
    Note {
        seq: usize,
        over: String,
        label: String,
    },
    Fold {
        first: usize,
        last: usize,
        over: Vec<String>,
    },
}

/// Who acts and on whom, for one event.
struct Resolver<'a> {
    trace: &'a [Event],
    containers: Vec<&'a str>,
    daemons: Vec<&'a str>,
    occupants: Vec<&'a str>,
    parts: Participants,
}

impl<'a> Resolver<'a> {
    fn new(trace: &'a [Event]) -> Resolver<'a> {
        let containers = events::containers(trace);
        let mut daemons: Vec<&str> = Vec::new();
        let mut occupants: Vec<&str> = Vec::new();
        for e in trace {
            if let Some(d) = events::daemon_of(e)
                && !daemons.contains(&d)
            {
                daemons.push(d);
            }
            if !containers.contains(&e.who.as_str()) && !occupants.contains(&e.who.as_str()) {
                occupants.push(&e.who);
            }
        }
        Resolver {
            trace,
            containers,
            daemons,
            occupants,
            parts: Participants::default(),
        }
    }

    fn actor(&mut self, who: &str) -> String {
        match self.containers.iter().position(|c| *c == who) {
            Some(i) => self.parts.get((0, i, 0), &format!("c_{who}"), who),
            None => {
                let i = self.occupants.iter().position(|o| *o == who).unwrap_or(0);
                self.parts.get((3, i, 0), &format!("o_{who}"), who)
            }
        }
    }

    fn layer(&mut self, daemon: &str, role: &str) -> String {
        let i = self.daemons.iter().position(|d| *d == daemon).unwrap_or(0);
        let (rank, key, label) = match role {
            "bridge" | "nat" | "proxy" => (0, "b", "bridge"),
            "allocator" => (1, "a", "allocator"),
            "child" => (2, "n", "child netns"),
            "rlk" => (3, "r", "rootlesskit"),
            other => (4, other, other),
        };
        self.parts.get(
            (1, i, rank),
            &format!("{key}_{daemon}"),
            &format!("{daemon} {label}"),
        )
    }

    fn host(&mut self) -> String {
        self.parts.get((2, 0, 0), "host", "host netns")
    }

    /// The item for one event (before folding).
    fn item(&mut self, e: &Event) -> Item {
        let label = label(e);
        if events::lifecycle(e) == Some(e.who.as_str()) {
            let over = self.actor(&e.who);
            return Item::Note {
                seq: e.seq,
                over,
                label,
            };
        }
        let (from, to) = if events::is_host(e) {
            let from = match events::daemon_of_container(self.trace, &e.who) {
                Some(d) if self.containers.contains(&e.who.as_str()) => {
                    let d = d.to_string();
                    self.layer(&d, "rlk")
                }
                _ => self.actor(&e.who),
            };
            (from, self.host())
        } else {
            let from = self.actor(&e.who);
            let to = match events::daemon_of(e) {
                Some(d) => {
                    let d = d.to_string();
                    let role = events::role_of(e).to_string();
                    self.layer(&d, &role)
                }
                None => {
                    let layer = e.layer.clone();
                    self.parts.get((1, usize::MAX, 0), &layer, &layer)
                }
            };
            (from, to)
        };
        Item::Arrow {
            seq: e.seq,
            from,
            to,
            label,
            failed: events::is_failure(e),
        }
    }
}

/// Is this step worth its own line: a failure, an allocation, a start or
/// stop, a port taken (or freed by a host program) in the host, a retry?
fn eventful(trace: &[Event], e: &Event) -> bool {
    events::is_failure(e)
        || events::lifecycle(e).is_some()
        || events::allocated_port(e).is_some()
        || (events::is_host(e) && events::bind(e).is_some())
        || (events::is_host(e)
            && events::closed_sock(e).is_some()
            && !events::containers(trace).contains(&e.who.as_str()))
        || e.action.contains("retrying")
}

/// The diagram of `trace`.
pub fn diagram(trace: &[Event], title: &str, marks: Marks) -> String {
    let violation_step = marks.violation.map(|v| v.step);
    let keep = |e: &Event| {
        Some(e.seq) == violation_step
            || marks.cited.is_some_and(|c| c.contains(&e.seq))
            || eventful(trace, e)
    };
    let mut r = Resolver::new(trace);
    let mut items: Vec<Item> = Vec::new();
    let mut i = 0;
    while i < trace.len() {
        if keep(&trace[i]) {
            items.push(r.item(&trace[i]));
            i += 1;
            continue;
        }
        let j = (i..trace.len())
            .find(|&j| keep(&trace[j]))
            .unwrap_or(trace.len());
        if j - i == 1 {
            items.push(r.item(&trace[i]));
        } else {
            let mut over: Vec<String> = Vec::new();
            for e in &trace[i..j] {
                match r.item(e) {
                    Item::Arrow { from, to, .. } => over.extend([from, to]),
                    Item::Note { over: o, .. } => over.push(o),
                    Item::Fold { .. } => {}
                }
            }
            items.push(Item::Fold {
                first: trace[i].seq,
                last: trace[j - 1].seq,
                over,
            });
        }
        i = j;
    }
    let mut parts = r.parts.list.clone();
    parts.sort();
    let mut out = String::from("sequenceDiagram\n");
    out.push_str(&format!("    %% portsim: {}\n", escape(title)));
    for p in &parts {
        out.push_str(&format!(
            "    participant {} as {}\n",
            p.id,
            escape(&p.label)
        ));
    }
    for item in &items {
        let seq = match item {
            Item::Arrow { seq, .. } | Item::Note { seq, .. } => Some(*seq),
            Item::Fold { .. } => None,
        };
        let fill = match seq {
            Some(s) if Some(s) == violation_step => Some(VIOLATION_FILL),
            Some(s) if marks.cited.is_some_and(|c| c.contains(&s)) => Some(CITED_FILL),
            _ => None,
        };
        let indent = if fill.is_some() { "        " } else { "    " };
        if let Some(f) = fill {
            out.push_str(&format!("    rect {f}\n"));
        }
        match item {
            Item::Arrow {
                from,
                to,
                label,
                failed,
                ..
            } => {
                let arrow = if *failed { "-x" } else { "->>" };
                out.push_str(&format!("{indent}{from}{arrow}{to}: {label}\n"));
            }
            Item::Note { over, label, .. } => {
                out.push_str(&format!("{indent}Note over {over}: {label}\n"));
            }
            Item::Fold { first, last, over } => {
                let span = note_span(&r.parts, over);
                out.push_str(&format!(
                    "{indent}Note over {span}: … {} steps ({first}-{last}) …\n",
                    last - first + 1
                ));
            }
        }
        if let (Some(v), Some(s)) = (marks.violation, seq)
            && s == v.step
        {
            let over = match item {
                Item::Arrow { from, .. } => from.clone(),
                Item::Note { over, .. } => over.clone(),
                Item::Fold { .. } => unreachable!("a fold has no step"),
            };
            out.push_str(&format!(
                "{indent}Note over {over}: {} VIOLATED here (step {})\n",
                v.property.name(),
                v.step
            ));
        }
        if fill.is_some() {
            out.push_str("    end\n");
        }
    }
    out
}

/// `A,B` for the leftmost and rightmost participants of a fold.
fn note_span(parts: &Participants, over: &[String]) -> String {
    let lo = over.iter().min_by_key(|id| parts.rank(id));
    let hi = over.iter().max_by_key(|id| parts.rank(id));
    match (lo, hi) {
        (Some(a), Some(b)) if a != b => format!("{a},{b}"),
        (Some(a), _) => a.clone(),
        _ => "host".to_string(),
    }
}

/// `[N] action → result`, shortened, escaped, the result on a second line
/// when the whole is long.
fn label(e: &Event) -> String {
    let action = escape(&shorten(&e.action, MAX_PART));
    if e.result.is_empty() {
        return format!("[{}] {action}", e.seq);
    }
    let result = escape(&shorten(&e.result, MAX_PART));
    let sep = if e.action.chars().count() + e.result.chars().count() > ONE_LINE {
        "<br/>"
    } else {
        " "
    };
    format!("[{}] {action}{sep}→ {result}", e.seq)
}

/// Text of at most `max` characters: the first `": "`-separated segment,
/// an ellipsis, and as many trailing segments as fit (the innermost
/// error); or a plain cut when even the last segment is too long.
fn shorten(text: &str, max: usize) -> String {
    let len = |s: &str| s.chars().count();
    if len(text) <= max {
        return text.to_string();
    }
    let segments: Vec<&str> = text.split(": ").collect();
    if segments.len() > 2 {
        let head = segments[0];
        let mut tail = String::new();
        for seg in segments[1..].iter().rev() {
            let next = if tail.is_empty() {
                seg.to_string()
            } else {
                format!("{seg}: {tail}")
            };
            if len(head) + 3 + len(&next) > max {
                break;
            }
            tail = next;
        }
        if !tail.is_empty() {
            return format!("{head} … {tail}");
        }
    }
    let cut: String = text.chars().take(max - 1).collect();
    format!("{cut}…")
}

/// Mermaid's sequence grammar ends a message at `#` or `;`, and the
/// renderer reads `<...>` as HTML: write them as entity codes.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '#' => out.push_str("#35;"),
            ';' => out.push_str("#59;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A Mermaid id: letters, digits and `_`.
fn sanitize(key: &str) -> String {
    key.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{Evidence, Property};

    fn ev(seq: usize, who: &str, layer: &str, action: &str, result: &str) -> Event {
        Event::new(seq, who, layer, action, result)
    }

    fn trace() -> Vec<Event> {
        vec![
            ev(1, "c1", "d1/daemon", "start c1", ""),
            ev(2, "c1", "d1/bridge", "lock configNetwork", ""),
            ev(
                3,
                "c1",
                "d1/allocator",
                "RequestPortsInRange [127.0.0.1] tcp 0-0",
                "32768",
            ),
            ev(4, "c1", "d1/child", "bind tcp 127.0.0.1:32768 RA", "ok s1"),
            ev(5, "c1", "d1/child", "listen s1", "ok"),
            ev(6, "app", "host", "bind tcp 0.0.0.0:32768 RA", "ok s2"),
            ev(7, "c1", "host", "bind tcp 0.0.0.0:32768 RA", "EADDRINUSE"),
            ev(8, "c1", "d1/child", "close s1", "ok"),
            ev(
                9,
                "c1",
                "d1/allocator",
                "ReleasePort 127.0.0.1 tcp 32768",
                "",
            ),
            ev(10, "c1", "d1/nat", "a; b # c <d>", ""),
            ev(11, "c1", "d1/daemon", "start c1", "error: boom"),
        ]
    }

    #[test]
    fn participants_arrows_folds_and_the_violation_box() {
        let v = Violation {
            property: Property::Convergence,
            step: 11,
            message: String::new(),
            evidence: Evidence::default(),
        };
        let cited = BTreeSet::from([6]);
        let d = diagram(
            &trace(),
            "t",
            Marks {
                violation: Some(&v),
                cited: Some(&cited),
            },
        );
        assert_eq!(
            d,
            "sequenceDiagram
    %% portsim: t
    participant c_c1 as c1
    participant b_d1 as d1 bridge
    participant a_d1 as d1 allocator
    participant n_d1 as d1 child netns
    participant r_d1 as d1 rootlesskit
    participant host as host netns
    participant o_app as app
    Note over c_c1: [1] start c1
    c_c1->>b_d1: [2] lock configNetwork
    c_c1->>a_d1: [3] RequestPortsInRange [127.0.0.1] tcp 0-0 → 32768
    Note over c_c1,n_d1: … 2 steps (4-5) …
    rect rgb(221, 235, 255)
        o_app->>host: [6] bind tcp 0.0.0.0:32768 RA → ok s2
    end
    r_d1-xhost: [7] bind tcp 0.0.0.0:32768 RA → EADDRINUSE
    Note over c_c1,n_d1: … 3 steps (8-10) …
    rect rgb(255, 221, 221)
        Note over c_c1: [11] start c1 → error: boom
        Note over c_c1: convergence VIOLATED here (step 11)
    end
"
        );
    }

    #[test]
    fn text_is_escaped_and_long_errors_keep_their_innermost_part() {
        assert_eq!(escape("a; b # c <d>"), "a#59; b #35; c #lt;d#gt;");
        let long = "error: Error response from daemon: failed to set up container networking: driver failed programming external connectivity on endpoint c1 (1ca0): error while calling RootlessKit PortManager.AddPort(): listen tcp4 0.0.0.0:32768: bind: address already in use";
        assert_eq!(
            shorten(long, MAX_PART),
            "error … listen tcp4 0.0.0.0:32768: bind: address already in use"
        );
        assert_eq!(shorten(&"x".repeat(70), 10), format!("{}…", "x".repeat(9)));
        assert_eq!(shorten("short", 10), "short");
        assert_eq!(sanitize("my-app.1"), "my_app_1");
    }

    #[test]
    fn a_single_quiet_step_is_drawn_not_folded() {
        let t = vec![
            ev(1, "p", "host", "bind tcp 0.0.0.0:1 RA", "ok s1"),
            ev(2, "p", "host", "listen s1", "ok"),
            ev(3, "p", "host", "bind tcp 0.0.0.0:2 RA", "ok s2"),
        ];
        let d = diagram(&t, "t", Marks::default());
        assert!(d.contains("o_p->>host: [2] listen s1 → ok"), "{d}");
        assert!(!d.contains("…"), "{d}");
    }
}
