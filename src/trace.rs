//! The event log: one stable line per observable step.
//!
//! A line names who acted (a container, an occupant, `setup`), the layer
//! that acted (`d1/allocator`, `d1/child`, `d1/rlk`, `host`, ...), what was
//! asked, and what came back. Lines hold no addresses of Rust objects, no
//! thread ids and no clock: the same run gives the same bytes.
//!
//! After each event the trace calls its observer, which the world uses to
//! evaluate the checkers "after every step".
//!
//! Events stay structured until read (issue 9, item 3): actor and layer
//! names are interned and shared, fixed words (`ok`, `EADDRINUSE`) are
//! `'static`, and a layer may hand over an operation's data as a
//! [`Render`] whose words are written only when the event is printed,
//! snapshotted, compared or serialized -- most executions are never read.
//! A reader that only asks "does the action start with `bind `?" or "is
//! the result a port number?" gets its answer from the [`Render`]'s
//! [`head`](Render::head) and [`number`](Render::number) without the
//! text being written. The text, when written, is the same bytes the
//! eager `format!` wrote before.

use serde::Serialize;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, OnceLock};

/// Something that becomes trace text only when read: a layer keeps the
/// operation's data (a bind request, a socket id) and writes the words on
/// demand.
pub trait Render: Send + Sync + 'static {
    /// Write the text (the bytes an eager `format!` would have made).
    fn render(&self, out: &mut String);

    /// Words every rendering starts with (`bind `, `ok `): a reader tests
    /// a prefix, or rules out equality, without rendering. Default: none.
    fn head(&self) -> &'static str {
        ""
    }

    /// The number the whole text is, when it is one decimal number (an
    /// allocated port): a reader parses it without rendering. Default:
    /// not a number.
    fn number(&self) -> Option<u64> {
        None
    }

    /// The number the text ends with, when it names what the action acts
    /// on (`close s12`: 12): a reader gets it without rendering. Default:
    /// not known.
    fn last_number(&self) -> Option<u64> {
        None
    }
}

/// A [`Render`] and the text it wrote, once.
struct Cell<R> {
    r: R,
    text: OnceLock<String>,
}

trait Lazy: Send + Sync {
    fn text(&self) -> &str;
    fn head(&self) -> &'static str;
    fn number(&self) -> Option<u64>;
    fn last_number(&self) -> Option<u64>;
}

impl<R: Render> Lazy for Cell<R> {
    fn text(&self) -> &str {
        self.text.get_or_init(|| {
            let mut s = String::new();
            self.r.render(&mut s);
            debug_assert!(
                s.starts_with(self.r.head()),
                "rendering {s:?} does not start with its head {:?}",
                self.r.head()
            );
            s
        })
    }
    fn head(&self) -> &'static str {
        self.r.head()
    }
    fn number(&self) -> Option<u64> {
        self.r.number()
    }
    fn last_number(&self) -> Option<u64> {
        self.r.last_number()
    }
}

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
    Lazy(Arc<dyn Lazy>),
}

/// One field of an [`Event`]: text, or what becomes text when it is read
/// (printed, snapshotted, compared, serialized). Reads as a `&str`;
/// cloning never copies text (an event is cloned into every report).
#[derive(Clone)]
pub struct Text(Repr);

impl Text {
    /// A fixed word: no copy.
    pub const fn from_static(s: &'static str) -> Text {
        Text(Repr::Static(s))
    }

    /// The empty text (a result with nothing to say).
    pub const EMPTY: Text = Text::from_static("");

    /// Text written now by `write` into a kept buffer and copied once
    /// into place: one allocation, where a `String` made for it and then
    /// turned into a text is two (and a copy of the buffer's growth).
    pub fn build(write: impl FnOnce(&mut String)) -> Text {
        thread_local! {
            static BUF: std::cell::Cell<String> = const { std::cell::Cell::new(String::new()) };
        }
        // Taken, not borrowed: a `write` that builds a text itself gets a
        // buffer of its own.
        let mut buf = BUF.take();
        buf.clear();
        write(&mut buf);
        let t = Text::from(buf.as_str());
        BUF.set(buf);
        t
    }

    /// Text written by `r` the first time it is read.
    pub fn lazy(r: impl Render) -> Text {
        Text(Repr::Lazy(Arc::new(Cell {
            r,
            text: OnceLock::new(),
        })))
    }

    /// The text (written now if it was not yet).
    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(s) => s,
            Repr::Shared(s) => s,
            Repr::Lazy(l) => l.text(),
        }
    }

    /// What the text is known to start with without writing it.
    #[inline]
    fn known_head(&self) -> &str {
        match &self.0 {
            Repr::Lazy(l) => l.head(),
            _ => self.as_str(),
        }
    }

    /// Does the text start with `p`? Answered from the [`Render::head`]
    /// when that decides it.
    #[inline]
    pub fn starts_with(&self, p: &str) -> bool {
        let h = self.known_head();
        if p.len() <= h.len() {
            return h.starts_with(p);
        }
        if !p.starts_with(h) {
            return false;
        }
        self.as_str().starts_with(p)
    }

    /// Is the text empty? A lazy text with a head is not.
    pub fn is_empty(&self) -> bool {
        self.known_head().is_empty() && self.as_str().is_empty()
    }

    /// The text as a number (`32768`), without writing a lazy one that
    /// knows its [`Render::number`].
    pub fn to_u16(&self) -> Option<u16> {
        if let Repr::Lazy(l) = &self.0
            && let Some(n) = l.number()
        {
            return u16::try_from(n).ok();
        }
        self.as_str().parse().ok()
    }

    /// A lazy text's [`Render::last_number`], without writing it (None: a
    /// written text, or a [`Render`] that does not say).
    pub fn known_last_number(&self) -> Option<u64> {
        match &self.0 {
            Repr::Lazy(l) => l.last_number(),
            _ => None,
        }
    }

    /// Equal to `o`? A lazy text whose head `o` does not start with is
    /// not, and is not written to find out.
    #[inline]
    pub fn is(&self, o: &str) -> bool {
        o.starts_with(self.known_head()) && self.as_str() == o
    }

    /// One shared text (the same interned name, the same fixed word):
    /// pointer equality, no bytes compared. False does not mean the texts
    /// differ.
    pub fn is_same(&self, o: &Text) -> bool {
        match (&self.0, &o.0) {
            (Repr::Shared(a), Repr::Shared(b)) => Arc::ptr_eq(a, b),
            (Repr::Static(a), Repr::Static(b)) => std::ptr::eq(*a, *b),
            _ => false,
        }
    }

    /// The address and length of a `'static` text's bytes (an interned
    /// name, a fixed word), which are never freed or reused: two texts
    /// with the same identity are the same text. None for the others.
    fn identity(&self) -> Option<(usize, usize)> {
        match &self.0 {
            Repr::Static(s) => Some((s.as_ptr() as usize, s.len())),
            _ => None,
        }
    }

    /// A name shared by every event that carries it (actors, layers):
    /// interned per OS thread as a `&'static str` (the few hundred names a
    /// thread meets are kept for its life), so an event's names cost no
    /// allocation and no reference count, and a steady exploration
    /// allocates none.
    #[inline]
    pub fn name(s: &str) -> Text {
        let at = s.as_ptr() as usize;
        let slot = (at >> 3 ^ s.len()) % NAME_SLOTS;
        let (a, n) = RECENT_NAMES.with(|r| r[slot].get());
        // `s` itself interned (a layer passing a kept name's text on) is
        // the same bytes: no comparison.
        if a == at && n.len() == s.len() && (n.as_ptr() as usize == at || n == s) {
            return Text(Repr::Static(n));
        }
        Text::name_missed(s, at, slot)
    }

    /// [`Text::name`] past the cache: the table, or a new name.
    #[cold]
    #[inline(never)]
    fn name_missed(s: &str, at: usize, slot: usize) -> Text {
        /// Enough for every scenario's actors and layers; past it names
        /// are simply copied (memory stays flat).
        const MAX_NAMES: usize = 512;
        thread_local! {
            /// Looked up by hash, never iterated: no order reaches output.
            static NAMES: RefCell<HashMap<&'static str, (), BuildHasherDefault<Fnv>>> =
                RefCell::new(HashMap::default());
        }
        let interned = NAMES.with(|names| {
            let mut names = names.borrow_mut();
            if let Some((n, _)) = names.get_key_value(s) {
                return Some(*n);
            }
            if names.len() >= MAX_NAMES {
                return None;
            }
            let n: &'static str = Box::leak(Box::from(s));
            names.insert(n, ());
            Some(n)
        });
        match interned {
            Some(n) => {
                RECENT_NAMES.with(|r| r[slot].set((at, n)));
                Text(Repr::Static(n))
            }
            None => Text::from(s),
        }
    }
}

/// Slots of [`Text::name`]'s cache by the caller's address.
const NAME_SLOTS: usize = 64;

thread_local! {
    /// Callers pass the same stored name again and again (a layer's field,
    /// a scenario's container name): the address of the bytes picks a
    /// slot, and the bytes are still compared, so an address reused for
    /// other bytes only misses.
    static RECENT_NAMES: [std::cell::Cell<(usize, &'static str)>; NAME_SLOTS] =
        const { [const { std::cell::Cell::new((0, "")) }; NAME_SLOTS] };
}

/// An actor or layer name for [`Trace::emit`]: a string is interned
/// ([`Text::name`]); a name interned once and kept ([`Name`]) is passed
/// as it is.
pub trait IntoName {
    fn into_name(self) -> Text;
}

impl IntoName for &str {
    fn into_name(self) -> Text {
        Text::name(self)
    }
}

impl IntoName for &String {
    fn into_name(self) -> Text {
        Text::name(self)
    }
}

impl IntoName for &Name {
    fn into_name(self) -> Text {
        self.0.clone()
    }
}

/// A name interned once, for a layer or an actor that emits many events:
/// its events carry it without a lookup. Reads as the name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Name(Text);

impl Name {
    pub fn new(s: &str) -> Name {
        Name(Text::name(s))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.0.as_str())
    }
}

/// What a reader worked out from a name (a layer's place, an actor's
/// role), remembered by where the name's `'static` bytes are: the same
/// interned names come back in every event, so each is worked out once.
/// Any other text, or one whose slot another name took, is worked out
/// again, with the same answer: the cache decides only how fast.
pub struct ByName<T> {
    /// Direct-mapped by the address of the name's bytes: (address,
    /// length, answer); a collision only evicts.
    slots: [Option<(usize, usize, T)>; 64],
}

impl<T: Copy> ByName<T> {
    pub fn new() -> ByName<T> {
        ByName { slots: [None; 64] }
    }

    /// What `f` says of `t`'s text, from the cache when `t` was seen.
    /// (Inlined: a hit is a few instructions; a miss is the call.)
    #[inline(always)]
    pub fn get(&mut self, t: &Text, f: impl FnOnce(&str) -> T) -> T {
        if let Text(Repr::Static(s)) = t {
            let (at, len) = (s.as_ptr() as usize, s.len());
            if let Some((a, l, v)) = self.slots[(at >> 3 ^ len) % 64]
                && a == at
                && l == len
            {
                return v;
            }
        }
        self.miss(t, f)
    }

    #[cold]
    #[inline(never)]
    fn miss(&mut self, t: &Text, f: impl FnOnce(&str) -> T) -> T {
        let Some((at, len)) = t.identity() else {
            return f(t.as_str());
        };
        let v = f(t.as_str());
        self.slots[(at >> 3 ^ len) % 64] = Some((at, len, v));
        v
    }
}

impl<T: Copy> Default for ByName<T> {
    fn default() -> ByName<T> {
        ByName::new()
    }
}

/// FNV-1a, for [`Text::name`]'s table: names are a few bytes.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl Default for Text {
    fn default() -> Text {
        Text::EMPTY
    }
}

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::borrow::Borrow<str> for Text {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        if s.is_empty() {
            return Text::EMPTY;
        }
        Text(Repr::Shared(Arc::from(s)))
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        if s.is_empty() {
            return Text::EMPTY;
        }
        Text(Repr::Shared(Arc::from(s)))
    }
}

impl From<&String> for Text {
    fn from(s: &String) -> Text {
        Text::from(s.as_str())
    }
}

impl From<Arc<str>> for Text {
    fn from(s: Arc<str>) -> Text {
        Text(Repr::Shared(s))
    }
}

impl From<Text> for String {
    fn from(t: Text) -> String {
        t.as_str().to_string()
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl PartialEq for Text {
    fn eq(&self, o: &Text) -> bool {
        if let (Repr::Static(a), Repr::Static(b)) = (&self.0, &o.0) {
            return a == b;
        }
        self.as_str() == o.as_str()
    }
}

impl Eq for Text {}

impl PartialEq<str> for Text {
    fn eq(&self, o: &str) -> bool {
        self.is(o)
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, o: &&str) -> bool {
        self.is(o)
    }
}

impl PartialEq<String> for Text {
    fn eq(&self, o: &String) -> bool {
        self.is(o)
    }
}

impl PartialEq<Text> for str {
    fn eq(&self, o: &Text) -> bool {
        o.is(self)
    }
}

impl PartialEq<Text> for &str {
    fn eq(&self, o: &Text) -> bool {
        o.is(self)
    }
}

impl PartialEq<Text> for String {
    fn eq(&self, o: &Text) -> bool {
        o.is(self)
    }
}

impl Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One observable step. The fields read as `&str` ([`Text`]); the text of
/// an operation is written only when something reads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Event {
    pub seq: usize,
    /// Who acted: a container, an occupant, `setup`.
    pub who: Text,
    /// Which layer acted: `d1/allocator`, `d1/child`, `d1/rlk`, `host`, ...
    pub layer: Text,
    /// What was asked.
    pub action: Text,
    /// What came back (empty: nothing to say).
    pub result: Text,
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
    events: crate::sync::StateCell<Vec<Event>>,
    /// Held while it runs: [`Trace::unobserve`] waits for a call in
    /// flight, and no call starts after it.
    observer: crate::sync::StateCell<Option<Observer>>,
}

impl Trace {
    pub fn new() -> Arc<Trace> {
        // An execution's few hundred events, without regrowing (a regrowth
        // cost more than the whole allocation).
        Arc::new(Trace {
            events: crate::sync::StateCell::new(Vec::with_capacity(512)),
            observer: crate::sync::StateCell::new(None),
        })
    }

    /// Install the after-step observer (once). It sees each event as it
    /// is emitted, before [`Trace::len`] counts it (except under
    /// `os-threads`): it reads the step from the event's `seq`.
    pub fn observe(&self, f: impl Fn(&Event) + Send + Sync + 'static) {
        let mut o = crate::sync::state(&self.observer);
        if o.is_none() {
            *o = Some(Box::new(f));
        }
    }

    /// Remove the observer (its owner is going away): a call in flight
    /// finishes first, and later events are only recorded.
    pub fn unobserve(&self) {
        *crate::sync::state(&self.observer) = None;
    }

    /// Record one step and notify the observer. Never a scheduling point.
    /// `who` and `layer` are interned ([`Text::name`]); `action` and
    /// `result` may be fixed words or [`Text::lazy`].
    pub fn emit(
        &self,
        who: impl IntoName,
        layer: impl IntoName,
        action: impl Into<Text>,
        result: impl Into<Text>,
    ) {
        let (who, layer) = (who.into_name(), layer.into_name());
        let (action, result) = (action.into(), result.into());
        // The observer first: a reader of the events inside it never
        // waits for an emitter holding them.
        let observer = crate::sync::state(&self.observer);
        let mut evs = crate::sync::state(&self.events);
        let ev = Event {
            seq: evs.len() + 1,
            who,
            layer,
            action,
            result,
        };
        let Some(obs) = observer.as_ref() else {
            evs.push(ev);
            return;
        };
        if cfg!(feature = "os-threads") {
            // Real threads may emit between the two locks: the event is
            // stored first, under the lock that numbered it.
            evs.push(ev.clone());
            drop(evs);
            obs(&ev);
            return;
        }
        // One task runs at a time and the observer has no scheduling
        // point: no event can come between numbering this one and storing
        // it, so the observer sees it before it is stored (and the trace
        // is one shorter than `ev.seq` meanwhile), and nothing is cloned.
        drop(evs);
        obs(&ev);
        crate::sync::state(&self.events).push(ev);
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

    /// All events so far (sharing their text with the trace).
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

/// Test helpers other modules' tests share.
#[cfg(test)]
pub(crate) mod testing {
    use super::Render;

    /// A lazy `close sN` that says its N and must never be written.
    pub struct Close(pub u32);

    impl Render for Close {
        fn render(&self, _: &mut String) {
            panic!("rendered");
        }
        fn head(&self) -> &'static str {
            "close s"
        }
        fn last_number(&self) -> Option<u64> {
            Some(self.0.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_text_is_what_was_written_even_when_built_inside_another() {
        let outer = Text::build(|s| {
            s.push_str("MapPorts ");
            // A text built while another is being written keeps its own
            // bytes and leaves the outer buffer alone.
            let inner = Text::build(|t| t.push_str("400 busy"));
            assert_eq!(inner.as_str(), "400 busy");
            s.push_str("[0.0.0.0] tcp/80 0-0");
        });
        assert_eq!(outer.as_str(), "MapPorts [0.0.0.0] tcp/80 0-0");
        // The kept buffer is emptied before the next text.
        assert_eq!(Text::build(|s| s.push_str("ok 1")).as_str(), "ok 1");
        assert!(Text::build(|_| {}).is_empty());
    }

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
    fn a_name_is_worked_out_once_and_every_other_text_every_time() {
        let mut by = ByName::new();
        let mut calls = 0;
        let mut len = |by: &mut ByName<usize>, t: &Text| {
            by.get(t, |s| {
                calls += 1;
                s.len()
            })
        };
        let (host, child) = (Text::name("host"), Text::name("d1/child"));
        assert_eq!(len(&mut by, &host), 4);
        assert_eq!(len(&mut by, &Text::name("host")), 4);
        assert_eq!(len(&mut by, &child), 8);
        assert_eq!(len(&mut by, &child), 8);
        // Shared and lazy texts may be freed and their bytes reused: never
        // remembered.
        let owned = Text::from("host".to_string());
        assert_eq!(len(&mut by, &owned), 4);
        assert_eq!(len(&mut by, &owned), 4);
        assert_eq!(len(&mut by, &Text::lazy(Bind(80))), 15);
        assert_eq!(calls, 5);
    }

    struct Bind(u16);
    impl Render for Bind {
        fn render(&self, out: &mut String) {
            use std::fmt::Write;
            let _ = write!(out, "bind 0.0.0.0:{}", self.0);
        }
        fn head(&self) -> &'static str {
            "bind "
        }
    }

    struct Port(u16);
    impl Render for Port {
        fn render(&self, out: &mut String) {
            use std::fmt::Write;
            let _ = write!(out, "{}", self.0);
        }
        fn number(&self) -> Option<u64> {
            Some(self.0.into())
        }
    }

    #[test]
    fn lazy_text_reads_like_eager_text() {
        let t = Trace::new();
        t.emit("c1", "host", Text::lazy(Bind(80)), Text::from_static("ok"));
        t.emit("c1", "host", "bind 0.0.0.0:80".to_string(), "ok");
        let e = t.events();
        assert_eq!(e[0].action, e[1].action);
        assert_eq!(e[0].action, "bind 0.0.0.0:80");
        assert_eq!(
            serde_json::to_string(&e[0]).unwrap(),
            r#"{"seq":1,"who":"c1","layer":"host","action":"bind 0.0.0.0:80","result":"ok"}"#
        );
        assert_eq!(
            Event {
                seq: 2,
                ..e[0].clone()
            },
            e[1]
        );
        assert_eq!(format!("{:<16}|", e[0].action), "bind 0.0.0.0:80 |");
        assert_eq!(format!("{:?}", e[0].action), "\"bind 0.0.0.0:80\"");
        assert_eq!(
            t.text().lines().next().unwrap(),
            "   1 c1     host          bind 0.0.0.0:80 -> ok"
        );
    }

    #[test]
    fn a_last_number_is_known_only_from_a_render_that_says() {
        use testing::Close;
        assert_eq!(Text::lazy(Close(12)).known_last_number(), Some(12));
        assert_eq!(Text::lazy(Bind(80)).known_last_number(), None);
        assert_eq!(Text::from("close s12").known_last_number(), None);
        assert_eq!(Text::name("close s12").known_last_number(), None);
    }

    #[test]
    fn prefixes_numbers_and_inequality_need_no_rendering() {
        struct Never;
        impl Render for Never {
            fn render(&self, _: &mut String) {
                panic!("rendered");
            }
            fn head(&self) -> &'static str {
                "ok "
            }
            fn number(&self) -> Option<u64> {
                None
            }
        }
        let n = Text::lazy(Never);
        assert!(n.starts_with("ok"));
        assert!(n.starts_with("ok "));
        assert!(!n.starts_with("bind "));
        assert!(!n.is_empty());
        assert!(n != "EADDRINUSE");
        assert!(!n.is("error: x"));
        let p = Text::lazy(Port(32768));
        assert_eq!(p.to_u16(), Some(32768));
        assert_eq!(p, "32768");
        assert_eq!(Text::from("70000").to_u16(), None);
        assert_eq!(Text::from("x").to_u16(), None);
        assert!(Text::from_static("").is_empty());
        assert!(Text::from(String::new()).is_empty());
    }

    #[test]
    fn names_are_shared() {
        // Two callers' copies of one name, at two addresses.
        let (s1, s2) = (String::from("d1/allocator"), String::from("d1/allocator"));
        let (a, b) = (Text::name(&s1), Text::name(&s2));
        match (&a.0, &b.0) {
            (Repr::Static(x), Repr::Static(y)) => assert!(std::ptr::eq(*x, *y)),
            _ => panic!("names are shared"),
        }
        assert!(a.is_same(&b));
        assert_eq!(a, "d1/allocator");
        // The same address with other bytes is another name.
        let mut s3 = s1.clone();
        let c = Text::name(&s3);
        s3.replace_range(0..2, "d2");
        let d = Text::name(&s3);
        assert!(c.is_same(&a));
        assert_eq!(d, "d2/allocator");
        assert!(!d.is_same(&a));
    }

    #[test]
    fn observer_sees_every_event() {
        let t = Trace::new();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let s2 = seen.clone();
        t.observe(move |e| s2.lock().unwrap().push(e.seq));
        t.emit("a", "l", "x", "y");
        t.emit("a", "l", "x", "y");
        assert_eq!(*seen.lock().unwrap(), vec![1, 2]);
    }
}
