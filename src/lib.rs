//! portsim: deterministic simulation and model checking of how rootless
//! Docker maps published ports. See docs/design.md for the layers and
//! docs/system.md for the Go code; each module says which Go code it mirrors.

pub mod allocator;
#[cfg(all(not(loom), not(feature = "os-threads")))]
pub mod bench;
pub mod bridge;
#[cfg(not(loom))]
pub mod catalog;
pub mod check;
#[cfg(not(loom))]
pub mod cli;
#[cfg(not(loom))]
pub mod compare;
pub mod coverage;
pub mod error;
pub mod explore;
pub mod kernel;
pub mod mapper;
pub mod occupant;
pub mod paths;
#[cfg(all(not(loom), not(feature = "os-threads")))]
pub mod progress;
pub mod report;
pub mod rootlesskit;
pub mod scenario;
pub mod sync;
pub mod trace;
pub mod world;
