//! The one place that picks concurrency primitives.
//!
//! World code (allocator, rootlesskit, mapper, bridge, occupants) uses only
//! what this module exports, so the same code runs under three engines:
//!
//! | build                         | primitives | who orders threads            |
//! |-------------------------------|------------|-------------------------------|
//! | default                       | shuttle    | a shuttle scheduler           |
//! | `RUSTFLAGS="--cfg loom"`      | loom       | loom's exhaustive explorer    |
//! | `--features os-threads`       | std        | the operating system          |
//!
//! A [`Mutex`] here stands for a lock the Go code takes (the allocator's
//! mutex, the bridge driver's `configNetwork`, rootlesskit's `d.mu`) or for
//! the atomicity of one syscall on a namespace. Acquiring it is a
//! scheduling point; nothing else in the world is. State that checkers read
//! lives in [`StateCell`]s (see `cell`), locked with [`state`] and never
//! held across a scheduling point.
//!
//! Under shuttle every scheduling point also names itself: [`lock_at`],
//! [`spawn_as`], [`join_as`] and [`choose_as`] register, for the running
//! task, a label such as `c1 d1/child bind tcp 127.0.0.1:32768 RA` just
//! before they yield, so that at the next decision a scheduler knows what
//! each runnable task will do when it is picked (see
//! `explore::schedule`, whose version-2 files are lists of these labels).
//! Labels are only built while a labelling scheduler has switched them on
//! ([`labels::set_on`]); exploration pays nothing for them.
//!
//! A test-only switch ([`labels::set_extra_points`], off by default) adds
//! an unlabelled-by-design extra scheduling point (a yield) before every
//! lock acquisition: the change "a scheduling point was added elsewhere"
//! that saved version-2 schedules must survive.

#[cfg(all(not(loom), not(feature = "os-threads")))]
mod imp {
    pub use shuttle::sync::{Mutex, MutexGuard};
    pub use shuttle::thread::{JoinHandle, spawn};

    /// A choice among `n` options (n >= 1) made by the scheduler, so that a
    /// replay of the same schedule makes the same choice.
    pub fn choose(n: usize) -> usize {
        use shuttle::rand::RngCore;
        assert!(n > 0, "choose(0)");
        if let Some(v) = super::labels::uncontrolled_draw() {
            return (v % n as u64) as usize;
        }
        (shuttle::rand::thread_rng().next_u64() % n as u64) as usize
    }

    pub const ENGINE: &str = "shuttle";
}

#[cfg(loom)]
mod imp {
    pub use loom::sync::{Mutex, MutexGuard};
    pub use loom::thread::{JoinHandle, spawn};

    /// Loom explores thread orders only. Value choices are fixed to the
    /// first option; models that need other values enumerate them outside
    /// `loom::model` (one model per value).
    pub fn choose(n: usize) -> usize {
        assert!(n > 0, "choose(0)");
        0
    }

    pub const ENGINE: &str = "loom";
}

#[cfg(all(not(loom), feature = "os-threads"))]
mod imp {
    pub use std::thread::{JoinHandle, spawn};

    /// std's mutex with poisoning folded away, to match the shuttle and loom
    /// signatures (`lock()` returns the guard).
    pub struct Mutex<T>(std::sync::Mutex<T>);
    pub type MutexGuard<'a, T> = std::sync::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        pub fn new(v: T) -> Self {
            Mutex(std::sync::Mutex::new(v))
        }
        pub fn lock(&self) -> std::sync::LockResult<MutexGuard<'_, T>> {
            self.0.lock()
        }
    }

    std::thread_local! {
        static RNG: std::cell::RefCell<u64> = const { std::cell::RefCell::new(0x9e37_79b9_7f4a_7c15) };
    }

    /// Under real threads a choice is a thread-local xorshift draw; the
    /// stress engine does not replay, it counts.
    pub fn choose(n: usize) -> usize {
        assert!(n > 0, "choose(0)");
        RNG.with(|r| {
            let mut x = *r.borrow();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *r.borrow_mut() = x;
            (x % n as u64) as usize
        })
    }

    /// Seed this thread's choices (stress iterations are seeded per thread).
    pub fn seed_choices(seed: u64) {
        RNG.with(|r| *r.borrow_mut() = seed | 1);
    }

    pub const ENGINE: &str = "os-threads";
}

pub use imp::*;

/// Lock a shim mutex. Poisoning only happens after a panic, which already
/// fails the execution, so it is folded into that panic. An unnamed
/// scheduling point (world code uses [`lock_at`]).
pub fn lock<T>(m: &Mutex<T>) -> Guard<'_, T> {
    lock_at(m, || "? lock".to_string())
}

fn raw_lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Lock `m` at the scheduling point `label` names (`who layer operation`,
/// the trace line the step will write, e.g. `c1 d1/child bind tcp
/// 127.0.0.1:32768 RA`). The release, also a scheduling point under
/// shuttle, is named `<label> (unlock)`.
pub fn lock_at<T>(m: &Mutex<T>, label: impl FnOnce() -> String) -> Guard<'_, T> {
    let release = labels::before_lock(label);
    Guard {
        inner: Some(raw_lock(m)),
        release,
    }
}

/// A held shim lock; releasing it names its scheduling point first.
pub struct Guard<'a, T> {
    inner: Option<MutexGuard<'a, T>>,
    release: Option<String>,
}

impl<T> std::ops::Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.inner.as_ref().expect("held until dropped")
    }
}

impl<T> std::ops::DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.inner.as_mut().expect("held until dropped")
    }
}

impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        if let Some(l) = self.release.take() {
            labels::set_current(l);
        }
        self.inner.take();
    }
}

/// Spawn a world thread named `actor` (the trace's `who`) doing `what`
/// (`start c1`): the new task's first scheduling point is `actor begin
/// what`, its last `actor end what`, and the spawner's is `main spawn
/// actor what` (`main` stands for whoever spawns).
pub fn spawn_as<F, T>(actor: &str, what: &str, f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let end = labels::before_spawn(actor, what);
    let h = spawn(move || {
        let r = f();
        if let Some(l) = end {
            labels::set_current(l);
        }
        r
    });
    labels::after_spawn(&h);
    h
}

/// Join a world thread spawned by [`spawn_as`]; the join is the scheduling
/// point `main join actor what`.
pub fn join_as<T>(h: JoinHandle<T>, actor: &str, what: &str) -> std::thread::Result<T> {
    labels::set_current_with(|| format!("main join {actor} {what}"));
    h.join()
}

/// [`choose`] with a name: `who` chooses `what` among `n` options. A
/// version-2 schedule records the index chosen under the label `who
/// choose what`.
pub fn choose_as(n: usize, who: &str, what: &str) -> usize {
    labels::before_choice(n, || format!("{who} choose {what}"));
    choose(n)
}

/// Scheduling-point labels: what each task will do when it is next picked.
/// Kept per OS thread (a shuttle execution and its scheduler run on the
/// thread that called the runner), keyed by shuttle task number.
#[cfg(all(not(loom), not(feature = "os-threads")))]
pub mod labels {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    #[derive(Default)]
    struct Registry {
        at: BTreeMap<usize, String>,
        child: Option<String>,
        choice: Option<(String, u64)>,
    }

    thread_local! {
        static REG: RefCell<Registry> = RefCell::new(Registry::default());
        /// Labelling on, and the extra points: read at every lock, so
        /// plain cells apart from the registry.
        static ON: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
        static EXTRA: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    fn with<R>(f: impl FnOnce(&mut Registry) -> R) -> R {
        REG.with(|r| f(&mut r.borrow_mut()))
    }

    fn me() -> usize {
        usize::from(shuttle::current::me())
    }

    /// One line, single spaces: labels are file lines.
    fn clean(s: String) -> String {
        s.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// Switch labelling on or off for executions on this thread, and
    /// forget every label (call at the start of each execution).
    pub fn set_on(on: bool) {
        with(|r| {
            ON.with(|c| c.set(on));
            r.at.clear();
            r.child = None;
            r.choice = None;
            if on {
                r.at.insert(0, "main begin".to_string());
            }
        });
    }

    pub fn is_on() -> bool {
        ON.with(|c| c.get())
    }

    /// Test-only: an extra scheduling point (a yield named `<label>
    /// (extra point)`) before every [`super::lock_at`]. Off by default; per
    /// OS thread, so a test switches it for its own runs only.
    pub fn set_extra_points(on: bool) {
        EXTRA.with(|c| c.set(on));
    }

    pub fn extra_points() -> bool {
        EXTRA.with(|c| c.get())
    }

    /// The label of `task`'s next scheduling point. A task the registry has
    /// never seen is the one the last [`super::spawn_as`] created.
    pub fn of(task: usize) -> String {
        with(|r| {
            if let Some(l) = r.at.get(&task) {
                return l.clone();
            }
            let l = r.child.clone().unwrap_or_else(|| format!("t{task} begin"));
            r.at.insert(task, l.clone());
            l
        })
    }

    /// Every task's label, by task number.
    pub fn all() -> Vec<(usize, String)> {
        with(|r| r.at.iter().map(|(k, v)| (*k, v.clone())).collect())
    }

    /// The pending choice (its label and number of options), taken.
    pub fn take_choice() -> Option<(String, u64)> {
        with(|r| r.choice.take())
    }

    pub(super) fn set_current(l: String) {
        let id = me();
        with(|r| {
            if is_on() {
                r.at.insert(id, l);
            }
        });
    }

    pub(super) fn set_current_with(l: impl FnOnce() -> String) {
        if is_on() {
            set_current(clean(l()));
        }
    }

    /// Name the acquisition; returns the release's name.
    pub(super) fn before_lock(label: impl FnOnce() -> String) -> Option<String> {
        let (on, extra) = (is_on(), extra_points());
        if !on && !extra {
            return None;
        }
        let l = clean(label());
        if extra {
            set_current(format!("{l} (extra point)"));
            shuttle::thread::yield_now();
        }
        if !on {
            return None;
        }
        set_current(l.clone());
        Some(format!("{l} (unlock)"))
    }

    pub(super) fn before_spawn(actor: &str, what: &str) -> Option<String> {
        if !is_on() {
            return None;
        }
        let what = clean(what.to_string());
        set_current(format!("main spawn {actor} {what}"));
        with(|r| r.child = Some(format!("{actor} begin {what}")));
        Some(format!("{actor} end {what}"))
    }

    pub(super) fn after_spawn<T>(h: &super::JoinHandle<T>) {
        with(|r| {
            if let Some(c) = r.child.take() {
                r.at.entry(usize::from(h.thread().id())).or_insert(c);
            }
        });
    }

    pub(super) fn before_choice(n: usize, label: impl FnOnce() -> String) {
        if is_on() {
            let l = clean(label());
            with(|r| r.choice = Some((l, n as u64)));
        }
    }

    static UNCONTROLLED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    thread_local! {
        static LEAK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    /// Test-only: make [`super::choose`] draw from a process-wide counter
    /// the scheduler does not see, i.e. uncontrolled nondeterminism of the
    /// kind `check --verify-determinism` must catch. Per OS thread.
    pub fn set_uncontrolled_choices(on: bool) {
        LEAK.with(|l| l.set(on));
    }

    pub(super) fn uncontrolled_draw() -> Option<u64> {
        LEAK.with(|l| l.get())
            .then(|| UNCONTROLLED.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}

/// Under loom and OS threads scheduling points carry no labels.
#[cfg(any(loom, feature = "os-threads"))]
pub mod labels {
    pub(super) fn set_current(_: String) {}
    pub(super) fn set_current_with(_: impl FnOnce() -> String) {}
    pub(super) fn before_lock(_: impl FnOnce() -> String) -> Option<String> {
        None
    }
    pub(super) fn before_spawn(_: &str, _: &str) -> Option<String> {
        None
    }
    pub(super) fn after_spawn<T>(_: &super::JoinHandle<T>) {}
    pub(super) fn before_choice(_: usize, _: impl FnOnce() -> String) {}
}

mod cell;
pub use cell::StateCell;

/// Plain state that [`state`] locks: a `std::sync::Mutex` (shared between
/// OS threads) or a [`StateCell`] (a layer's state under shuttle).
pub trait Lockable {
    type Guard<'a>: std::ops::DerefMut
    where
        Self: 'a;
    fn lock_state(&self) -> Self::Guard<'_>;
}

impl<T> Lockable for std::sync::Mutex<T> {
    type Guard<'a>
        = std::sync::MutexGuard<'a, T>
    where
        T: 'a;
    fn lock_state(&self) -> std::sync::MutexGuard<'_, T> {
        match self.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

impl<L: Lockable + ?Sized> Lockable for std::sync::Arc<L> {
    type Guard<'a>
        = L::Guard<'a>
    where
        L: 'a;
    fn lock_state(&self) -> L::Guard<'_> {
        (**self).lock_state()
    }
}

/// Lock plain state (never a scheduling point). A poisoned mutex is
/// taken as it is: poisoning only follows a panic, which already fails
/// the execution.
pub fn state<L: Lockable + ?Sized>(m: &L) -> L::Guard<'_> {
    m.lock_state()
}

/// Run `f` once, as one execution of the active engine with a fixed
/// schedule. Unit tests of world code use this: shuttle's primitives only
/// work inside an execution.
pub fn run_once<F>(f: F)
where
    F: Fn() + Send + Sync + 'static,
{
    #[cfg(all(not(loom), not(feature = "os-threads")))]
    {
        let cfg = shuttle::Config::new();
        shuttle::Runner::new(
            shuttle::scheduler::RandomScheduler::new_from_seed(0, 1),
            cfg,
        )
        .run(f);
    }
    #[cfg(loom)]
    {
        loom::model(f);
    }
    #[cfg(all(not(loom), feature = "os-threads"))]
    {
        f();
    }
}
