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
//! lives behind plain `std::sync::Mutex`es that are never held across a
//! scheduling point.

#[cfg(all(not(loom), not(feature = "os-threads")))]
mod imp {
    pub use shuttle::sync::{Mutex, MutexGuard};
    pub use shuttle::thread::{JoinHandle, spawn};

    /// A choice among `n` options (n >= 1) made by the scheduler, so that a
    /// replay of the same schedule makes the same choice.
    pub fn choose(n: usize) -> usize {
        use shuttle::rand::RngCore;
        assert!(n > 0, "choose(0)");
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
/// fails the execution, so it is folded into that panic.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Lock a plain state mutex (never a scheduling point).
pub fn state<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
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
