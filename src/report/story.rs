//! The story of a counterexample: three to six plain sentences a reviewer
//! reads before the trace — which start failed, which port it was given
//! and when, who took that port in the host and when, which port was free
//! all along (or which reservation was lost), which property that breaks
//! and why it matters.
//!
//! Derived only from the trace and the checker's [`Violation`] (its
//! property, step and [`crate::check::Evidence`]); nothing here knows a
//! scenario. The steps a sentence cites are kept so the diagram can
//! highlight them.

use super::events::{self, Bind};
use crate::check::{Property, Violation};
use crate::trace::Event;
use std::collections::BTreeSet;

/// The sentences and the trace steps they cite.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Story {
    pub sentences: Vec<String>,
    pub cited: BTreeSet<usize>,
}

impl Story {
    /// The sentences as one paragraph.
    pub fn text(&self) -> String {
        self.sentences.join(" ")
    }
}

/// Why each property matters to a user, in one clause.
const WHY: &[(Property, &str)] = &[
    (
        Property::Convergence,
        "a start may fail only when no port of its range was free, and here `docker run` failed with \"address already in use\" while a port was free",
    ),
    (
        Property::AllocatorConsistency,
        "the allocator can now hand a port that is in use to the next container, whose start then collides",
    ),
    (
        Property::NoDoubleOwnership,
        "two mappings claim one port, so one container's traffic goes to the other or nowhere",
    ),
    (
        Property::CleanTeardown,
        "what is left behind keeps a port busy after nobody uses it, and later starts fail on it",
    ),
    (
        Property::ErrorFidelity,
        "the user reads an error other than the one that stopped the start and debugs the wrong thing",
    ),
];

/// The story of violation `v` in `trace`.
pub fn story(trace: &[Event], v: &Violation) -> Story {
    let mut s = Story::default();
    let upto = &trace[..v.step.min(trace.len())];
    let failed = upto.last().filter(|e| {
        events::failed_start(e).is_some() && events::lifecycle(e) == Some(e.who.as_str())
    });
    match failed {
        Some(end) => failed_start_sentences(&mut s, upto, end),
        None => {
            s.sentences.push(format!(
                "At step {}, {}.",
                v.step,
                v.message.trim_end_matches('.')
            ));
            s.cited.insert(v.step);
        }
    }
    evidence_sentence(&mut s, upto, v, failed.map(|e| e.who.as_str()));
    let why = WHY
        .iter()
        .find(|(p, _)| *p == v.property)
        .map_or("", |(_, w)| *w);
    s.sentences
        .push(format!("That breaks {}: {why}.", v.property.name()));
    s
}

/// Which start failed and how; the port it was given; who held that port
/// in the host.
fn failed_start_sentences(s: &mut Story, upto: &[Event], end: &Event) {
    let c = end.who.as_str();
    let err = events::failed_start(end).unwrap_or("");
    s.sentences.push(format!(
        "{c}'s start failed at step {} with \"{}\".",
        end.seq,
        events::leaf_error(err)
    ));
    s.cited.insert(end.seq);
    let begin = upto
        .iter()
        .rposition(|e| e.who == c && events::lifecycle(e) == Some(c) && e.result.is_empty())
        .unwrap_or(0);
    let mine: Vec<&Event> = upto[begin..].iter().filter(|e| e.who == c).collect();
    let given: Vec<(u16, &Event)> = mine
        .iter()
        .filter_map(|e| events::allocated_port(e).map(|p| (p, *e)))
        .collect();
    let Some(&(port, alloc)) = given.last() else {
        return;
    };
    let daemon = events::daemon_of(alloc).unwrap_or("its daemon");
    let mut sentence = format!(
        "{daemon}'s allocator had given it port {port} at step {}",
        alloc.seq
    );
    s.cited.insert(alloc.seq);
    if given.len() > 1 {
        let mut ports: Vec<u16> = given.iter().map(|(p, _)| *p).collect();
        ports.dedup();
        if ports.len() == 1 {
            sentence.push_str(&format!(
                ", its {} try, each on {port}",
                ordinal(given.len())
            ));
        } else {
            sentence.push_str(&format!(
                ", its {} try (ports tried: {})",
                ordinal(given.len()),
                port_list(&ports)
            ));
        }
    }
    if let Some(e) = mine
        .iter()
        .find(|e| e.seq > alloc.seq && events::allocation_error(e).is_some())
    {
        sentence.push_str(&format!(
            ", and its next request failed at step {}: {}",
            e.seq,
            events::allocation_error(e).unwrap_or("")
        ));
        s.cited.insert(e.seq);
    }
    sentence.push('.');
    s.sentences.push(sentence);
    // The host bind of that port that failed, and who held the port then.
    let Some((refused, b)) = mine.iter().rev().find_map(|e| {
        let b = events::bind(e)?;
        (events::is_host(e) && b.port == port && b.sock.is_none()).then_some((*e, b))
    }) else {
        return;
    };
    s.cited.insert(refused.seq);
    match host_holder(upto, refused, &b) {
        Some(taker) => {
            s.cited.insert(taker.seq);
            s.sentences.push(format!(
                "{} had taken {port} in the host namespace at step {}, so rootlesskit's bind of {} failed at step {}.",
                holder_name(upto, taker),
                taker.seq,
                b.addr,
                refused.seq
            ));
        }
        None => s.sentences.push(format!(
            "rootlesskit's bind of {} in the host namespace failed at step {}.",
            b.addr, refused.seq
        )),
    }
}

/// The latest successful host bind of the same proto and port by someone
/// else, before `refused`, whose socket was still open then.
fn host_holder<'a>(upto: &'a [Event], refused: &Event, b: &Bind) -> Option<&'a Event> {
    let before = &upto[..upto.iter().position(|e| e.seq == refused.seq)?];
    before.iter().rev().find(|e| {
        let Some(x) = events::bind(e) else {
            return false;
        };
        let Some(sock) = x.sock else { return false };
        events::is_host(e)
            && e.who != refused.who
            && x.proto == b.proto
            && x.port == b.port
            && !before.iter().any(|c| {
                c.seq > e.seq && events::is_host(c) && events::closed_sock(c) == Some(sock)
            })
    })
}

/// "the host program app", or "c2 (through d2's rootlesskit)".
fn holder_name(trace: &[Event], e: &Event) -> String {
    let who = e.who.as_str();
    if events::containers(trace).contains(&who) {
        match events::daemon_of_container(trace, who) {
            Some(d) => format!("{who} (through {d}'s rootlesskit)"),
            None => who.to_string(),
        }
    } else {
        format!("The host program {who}")
    }
}

/// The checker's evidence in a sentence: the port free all along, the
/// reservation lost, or the checker's own words.
fn evidence_sentence(s: &mut Story, upto: &[Event], v: &Violation, failed: Option<&str>) {
    let ev = &v.evidence;
    match (v.property, ev.port, ev.container.as_deref()) {
        (Property::Convergence, Some(free), _) => {
            s.sentences.push(format!(
                "Port {free} was free in both namespaces all along, from that allocation to the failure."
            ));
        }
        (Property::AllocatorConsistency, Some(port), Some(holder)) => {
            let got = upto
                .iter()
                .rfind(|e| e.who == holder && events::allocated_port(e) == Some(port));
            let released = got.and_then(|g| {
                upto.iter().find(|e| {
                    e.seq > g.seq && e.who != holder && events::released_port(e) == Some(port)
                })
            });
            let daemon = got.and_then(events::daemon_of).unwrap_or("the daemon");
            match (got, released) {
                (Some(g), Some(r)) => {
                    s.cited.insert(g.seq);
                    s.cited.insert(r.seq);
                    let by = if Some(r.who.as_str()) == failed {
                        "Its".to_string()
                    } else {
                        format!("{}'s", r.who)
                    };
                    s.sentences.push(format!(
                        "{by} cleanup then released {port} at step {}, after {holder} had been given {port} at step {}: {holder} still holds {port}, but {daemon}'s allocator no longer reserves it.",
                        r.seq, g.seq
                    ));
                }
                _ => s.sentences.push(format!(
                    "{holder} still holds {port}, but {daemon}'s allocator no longer reserves it."
                )),
            }
        }
        (Property::AllocatorConsistency, Some(port), None) => {
            s.sentences.push(format!(
                "The allocator still reserves {port}, which no live mapping holds."
            ));
        }
        _ if failed.is_some() => s
            .sentences
            .push(format!("The checker: {}.", v.message.trim_end_matches('.'))),
        _ => {}
    }
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// `32768-32777` for a consecutive run, else `32768, 32770`.
fn port_list(ports: &[u16]) -> String {
    let consecutive = ports.windows(2).all(|w| w[1] == w[0] + 1);
    match ports {
        [one] => one.to_string(),
        [first, .., last] if consecutive => format!("{first}-{last}"),
        _ => ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Evidence;

    fn ev(seq: usize, who: &str, layer: &str, action: &str, result: &str) -> Event {
        Event::new(seq, who, layer, action, result)
    }

    /// moby#53153's shape: a host program on 32768, the start given 32768.
    fn trace() -> Vec<Event> {
        vec![
            ev(1, "web", "host", "bind tcp 0.0.0.0:32768 RA", "ok s1"),
            ev(2, "c1", "d1/daemon", "start c1", ""),
            ev(
                3,
                "c1",
                "d1/allocator",
                "RequestPortsInRange [127.0.0.1] tcp 0-0",
                "32768",
            ),
            ev(4, "c1", "d1/child", "bind tcp 127.0.0.1:32768 RA", "ok s2"),
            ev(5, "c1", "host", "bind tcp 0.0.0.0:32768 RA", "EADDRINUSE"),
            ev(
                6,
                "c1",
                "d1/daemon",
                "start c1",
                "error: Error response from daemon: x (ab): error while calling RootlessKit PortManager.AddPort(): listen tcp4 0.0.0.0:32768: bind: address already in use",
            ),
        ]
    }

    fn violation(property: Property, container: Option<&str>, port: Option<u16>) -> Violation {
        Violation {
            property,
            step: 6,
            message: "c1's -p group failed".into(),
            evidence: Evidence {
                container: container.map(str::to_string),
                port,
            },
        }
    }

    #[test]
    fn a_convergence_story_names_the_start_the_port_the_holder_and_the_free_port() {
        let s = story(
            &trace(),
            &violation(Property::Convergence, Some("c1"), Some(32769)),
        );
        assert_eq!(
            s.sentences,
            vec![
                "c1's start failed at step 6 with \"listen tcp4 0.0.0.0:32768: bind: address already in use\".",
                "d1's allocator had given it port 32768 at step 3.",
                "The host program web had taken 32768 in the host namespace at step 1, so rootlesskit's bind of 0.0.0.0:32768 failed at step 5.",
                "Port 32769 was free in both namespaces all along, from that allocation to the failure.",
                "That breaks convergence: a start may fail only when no port of its range was free, and here `docker run` failed with \"address already in use\" while a port was free.",
            ]
        );
        assert_eq!(s.cited, BTreeSet::from([1, 3, 5, 6]));
    }

    #[test]
    fn a_closed_host_socket_is_not_the_holder() {
        let mut t = trace();
        t.insert(1, ev(1, "web", "host", "close s1", "ok"));
        for (i, e) in t.iter_mut().enumerate() {
            e.seq = i + 1;
        }
        let mut v = violation(Property::Convergence, Some("c1"), Some(32769));
        v.step = 7;
        let s = story(&t, &v);
        assert!(
            s.sentences[2]
                .starts_with("rootlesskit's bind of 0.0.0.0:32768 in the host namespace failed"),
            "{:?}",
            s.sentences
        );
    }

    #[test]
    fn without_a_failed_start_the_story_quotes_the_checker() {
        let t = trace()[..4].to_vec();
        let v = Violation {
            property: Property::CleanTeardown,
            step: 4,
            message: "d1 child namespace still holds s2".into(),
            evidence: Evidence::default(),
        };
        let s = story(&t, &v);
        assert_eq!(
            s.sentences[0],
            "At step 4, d1 child namespace still holds s2."
        );
        assert!(s.sentences[1].starts_with("That breaks clean-teardown: "));
    }

    #[test]
    fn ordinals_and_port_lists() {
        assert_eq!(
            [1, 2, 3, 4, 11, 12, 21].map(ordinal).join(" "),
            "1st 2nd 3rd 4th 11th 12th 21st"
        );
        assert_eq!(port_list(&[32768, 32769, 32770]), "32768-32770");
        assert_eq!(port_list(&[32768, 32770]), "32768, 32770");
        assert_eq!(port_list(&[32769]), "32769");
    }
}
