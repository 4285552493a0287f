//! portsim: deterministic simulation and model checking of how rootless
//! Docker maps published ports. See DESIGN.md in the steering repository
//! and README.md for the layers; each module says which Go code it mirrors.

pub mod allocator;
pub mod bridge;
pub mod check;
#[cfg(not(loom))]
pub mod cli;
pub mod error;
pub mod explore;
pub mod kernel;
pub mod mapper;
pub mod occupant;
pub mod paths;
pub mod report;
pub mod rootlesskit;
pub mod scenario;
pub mod sync;
pub mod trace;
pub mod world;
