//! moby's port allocators: the logical [`PortAllocator`] (one per daemon),
//! the [`OsAllocator`] that probes ports with bind(2) in the daemon's
//! child namespace, and the kernel sysctl parsing they start from
//! ([`reserved`]). Ported from moby's `daemon/libnetwork/portallocator`
//! at b985e2313a; each item names its Go function.

pub mod os_allocator;
pub mod port_allocator;
pub mod reserved;

pub use os_allocator::{MAX_ALLOCATE_ATTEMPTS, OsAllocator};
pub use port_allocator::PortAllocator;
