//! The event log: one stable line per observable step.
//!
//! A line names who acted (a container, an occupant, `setup`), the layer
//! that acted (`d1/allocator`, `d1/child`, `d1/rlk`, `host`, ...), what was
//! asked, and what came back. Lines hold no addresses of Rust objects, no
//! thread ids and no clock: the same run gives the same bytes.
//!
//! After each event the trace calls its observer, which the world uses to
//! evaluate the checkers "after every step".

use serde::Serialize;
use std::sync::{Arc, Mutex, OnceLock};

/// One observable step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Event {
    pub seq: usize,
    pub who: String,
    pub layer: String,
    pub action: String,
    pub result: String,
}

impl Event {
    /// An event from its parts (tests and tools that build traces by hand).
    pub fn new(seq: usize, who: &str, layer: &str, action: &str, result: &str) -> Event {
        Event {
            seq,
            who: who.into(),
            layer: layer.into(),
            action: action.into(),
            result: result.into(),
        }
    }

    /// The stable text form: `  12 c2     d1/rlk        AddPort tcp4 0.0.0.0:32769 -> ok id=2`.
    pub fn line(&self) -> String {
        if self.result.is_empty() {
            format!(
                "{:>4} {:<6} {:<13} {}",
                self.seq, self.who, self.layer, self.action
            )
        } else {
            format!(
                "{:>4} {:<6} {:<13} {} -> {}",
                self.seq, self.who, self.layer, self.action, self.result
            )
        }
    }
}

type Observer = Box<dyn Fn(&Event) + Send + Sync>;

/// The log of one run.
#[derive(Default)]
pub struct Trace {
    events: Mutex<Vec<Event>>,
    observer: OnceLock<Observer>,
}

impl Trace {
    pub fn new() -> Arc<Trace> {
        Arc::new(Trace::default())
    }

    /// Install the after-step observer (once).
    pub fn observe(&self, f: impl Fn(&Event) + Send + Sync + 'static) {
        let _ = self.observer.set(Box::new(f));
    }

    /// Record one step and notify the observer. Never a scheduling point.
    pub fn emit(
        &self,
        who: &str,
        layer: &str,
        action: impl Into<String>,
        result: impl Into<String>,
    ) {
        let ev = {
            let mut evs = crate::sync::state(&self.events);
            let ev = Event {
                seq: evs.len() + 1,
                who: who.to_string(),
                layer: layer.to_string(),
                action: action.into(),
                result: result.into(),
            };
            evs.push(ev.clone());
            ev
        };
        if let Some(obs) = self.observer.get() {
            obs(&ev);
        }
    }

    /// Number of events so far.
    pub fn len(&self) -> usize {
        crate::sync::state(&self.events).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Read the events so far without copying them.
    pub fn with_events(&self, f: &mut dyn FnMut(&[Event])) {
        f(&crate::sync::state(&self.events))
    }

    /// All events so far.
    pub fn events(&self) -> Vec<Event> {
        crate::sync::state(&self.events).clone()
    }

    /// The whole trace as text, one line per event, newline-terminated.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for e in crate::sync::state(&self.events).iter() {
            s.push_str(&e.line());
            s.push('\n');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_numbered_and_stable() {
        let t = Trace::new();
        t.emit(
            "c1",
            "d1/allocator",
            "RequestPortsInRange [127.0.0.1] tcp 0-0",
            "32768",
        );
        t.emit("setup", "host", "note", "");
        assert_eq!(
            t.text(),
            "   1 c1     d1/allocator  RequestPortsInRange [127.0.0.1] tcp 0-0 -> 32768\n   2 setup  host          note\n"
        );
    }

    #[test]
    fn observer_sees_every_event() {
        let t = Trace::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = seen.clone();
        t.observe(move |e| s2.lock().unwrap().push(e.seq));
        t.emit("a", "l", "x", "y");
        t.emit("a", "l", "x", "y");
        assert_eq!(*seen.lock().unwrap(), vec![1, 2]);
    }
}
