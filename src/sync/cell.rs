//! [`StateCell`]: the plain state a layer keeps between scheduling points
//! (a socket table, the allocator's maps, the trace's events), without an
//! atomic operation per access.
//!
//! Under shuttle every task of an execution runs on the one OS thread that
//! called the runner, one at a time, and no scheduling point falls inside
//! a state access ([`super::state`] is never held across one). A
//! `std::sync::Mutex` there only paid two atomic read-modify-writes per
//! access, about 1 300 times per execution of a 500-step scenario (issue
//! 9). A [`StateCell`] is a `RefCell` that remembers the thread that made
//! it and refuses (panics) any access from another one, so that sharing it
//! between threads (`Sync`) cannot race: only its own thread ever reaches
//! the value. An access while another is held (a layer re-entering its own
//! state, which a mutex would deadlock on) panics too.
//!
//! Under loom and `os-threads` the world runs on several OS threads:
//! there a [`StateCell`] is `std::sync::Mutex` itself.

#[cfg(all(not(loom), not(feature = "os-threads")))]
mod imp {
    use std::cell::{Cell, UnsafeCell};
    use std::ops::{Deref, DerefMut};

    thread_local! {
        /// Its address names the current OS thread without an atomic
        /// (`std::thread::current()` clones an `Arc`).
        static HERE: u8 = const { 0 };
    }

    fn here() -> usize {
        HERE.with(|h| std::ptr::from_ref(h) as usize)
    }

    /// Plain state confined to the OS thread that made it.
    pub struct StateCell<T> {
        owner: usize,
        held: Cell<bool>,
        value: UnsafeCell<T>,
    }

    // SAFETY: every access to `value` through a shared reference goes
    // through `StateCell::lock`, which panics before touching `held` or
    // `value` on any thread but `owner`; so only one thread ever reaches
    // them through `&StateCell`, and `held` keeps its accesses one at a
    // time. Moving the cell (Send, derived) moves the value: T: Send.
    unsafe impl<T: Send> Sync for StateCell<T> {}

    impl<T> StateCell<T> {
        pub fn new(v: T) -> StateCell<T> {
            StateCell {
                owner: here(),
                held: Cell::new(false),
                value: UnsafeCell::new(v),
            }
        }

        /// The value, for the thread that made the cell, while no other
        /// access is held.
        pub fn lock(&self) -> StateGuard<'_, T> {
            assert!(
                here() == self.owner,
                "a StateCell was used by a thread other than the one that made it"
            );
            assert!(!self.held.replace(true), "a StateCell was locked twice");
            StateGuard { cell: self }
        }

        pub fn get_mut(&mut self) -> &mut T {
            self.value.get_mut()
        }

        pub fn into_inner(self) -> T {
            self.value.into_inner()
        }
    }

    impl<T: Default> Default for StateCell<T> {
        fn default() -> StateCell<T> {
            StateCell::new(T::default())
        }
    }

    impl<T> std::fmt::Debug for StateCell<T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("StateCell { .. }")
        }
    }

    /// A held [`StateCell`]; dropping it (also while unwinding) releases it.
    pub struct StateGuard<'a, T> {
        cell: &'a StateCell<T>,
    }

    impl<T> Deref for StateGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            // SAFETY: the guard is the one access held (`lock`), on the
            // cell's own thread.
            unsafe { &*self.cell.value.get() }
        }
    }

    impl<T> DerefMut for StateGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            // SAFETY: as for `deref`, and `&mut self` is unique.
            unsafe { &mut *self.cell.value.get() }
        }
    }

    impl<T> Drop for StateGuard<'_, T> {
        fn drop(&mut self) {
            self.cell.held.set(false);
        }
    }

    impl<T> crate::sync::Lockable for StateCell<T> {
        type Guard<'a>
            = StateGuard<'a, T>
        where
            T: 'a;
        fn lock_state(&self) -> StateGuard<'_, T> {
            self.lock()
        }
    }

    #[cfg(test)]
    mod tests {
        use super::StateCell;

        #[test]
        fn a_cell_gives_its_value_to_its_own_thread() {
            let c = StateCell::new(1);
            *c.lock() += 1;
            assert_eq!(*c.lock(), 2);
            assert_eq!(c.into_inner(), 2);
        }

        #[test]
        fn another_thread_is_refused_before_it_reaches_the_value() {
            let c = StateCell::new(0);
            let r = std::thread::scope(|s| s.spawn(|| *c.lock() += 1).join());
            assert!(r.is_err(), "the other thread got the value");
            assert_eq!(*c.lock(), 0, "and the value is untouched");
        }

        #[test]
        fn a_second_access_while_one_is_held_panics() {
            let c = StateCell::new(0);
            let g = c.lock();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| *c.lock()));
            assert!(r.is_err());
            drop(g);
            assert_eq!(*c.lock(), 0, "released, it is usable again");
        }

        #[test]
        fn a_guard_dropped_while_unwinding_releases_the_cell() {
            let c = StateCell::new(0);
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let _g = c.lock();
                panic!("inside");
            }));
            assert!(r.is_err());
            assert_eq!(*c.lock(), 0);
        }
    }
}

#[cfg(any(loom, feature = "os-threads"))]
mod imp {
    /// Several OS threads run the world: a real mutex.
    pub type StateCell<T> = std::sync::Mutex<T>;
}

pub use imp::*;
