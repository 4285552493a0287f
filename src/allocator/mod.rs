//! moby's port allocators: the logical [`PortAllocator`] (one per daemon)
//! and the [`OsAllocator`] that probes ports with bind(2) in the daemon's
//! child namespace.

pub mod os_allocator;
pub mod port_allocator;
pub mod reserved;

pub use os_allocator::OsAllocator;
pub use port_allocator::PortAllocator;
