//! Third-party programs in the host namespace: the *occupants* that make a
//! port free in a daemon's child namespace taken in the host.
//!
//! Not moby code. An occupant opens one socket per port the way a user
//! program does (`BindReq` from its scenario entry): Go's `net.Listen("tcp",
//! ":P")` is `::` with V6ONLY=0 and SO_REUSEADDR; `nc -l` is usually
//! 0.0.0.0 with SO_REUSEADDR. A racing occupant lets the scheduler pick
//! which of its candidate ports it takes ([`crate::sync::choose`]), and
//! when it binds and lets go.

use crate::kernel::{BindReq, Kernel, NsId, Proto, SockId};
use crate::scenario::{Hold, OccupantCfg, OccupantKind};

/// The owner label of an occupant's socket.
pub fn owner(cfg: &OccupantCfg) -> String {
    crate::kernel::cat(["occupant:", &cfg.name])
}

fn bind_req(cfg: &OccupantCfg, port: u16) -> BindReq {
    BindReq {
        proto: cfg.proto,
        addr: cfg.address,
        port,
        reuse_addr: cfg.reuse_addr,
        reuse_port: false,
        v6only: cfg.v6only,
    }
}

/// socket, bind and (TCP, unless told otherwise) listen on `port`. A
/// failed listen closes the socket, as a program exiting on error would.
pub fn open(kernel: &Kernel, cfg: &OccupantCfg, port: u16) -> Option<SockId> {
    let id = kernel
        .bind(
            &cfg.name,
            NsId::HOST,
            &bind_req(cfg, port),
            cfg.privileged,
            &owner(cfg),
        )
        .ok()?;
    if cfg.proto == Proto::Tcp && cfg.listen && kernel.listen(&cfg.name, NsId::HOST, id).is_err() {
        let _ = kernel.close(&cfg.name, NsId::HOST, id);
        return None;
    }
    Some(id)
}

/// Open every port of a fixed or scripted occupant, in the order listed
/// (a program that listens on several ports). Returns the sockets it got.
pub fn open_all(kernel: &Kernel, cfg: &OccupantCfg) -> Vec<SockId> {
    debug_assert_ne!(cfg.kind, OccupantKind::Racing);
    cfg.ports
        .iter()
        .filter_map(|&p| open(kernel, cfg, p))
        .collect()
}

/// The racing occupant's thread body: pick a port, take it, and for
/// `hold = "briefly"` let it go again. Returns the socket it still holds.
pub fn race(kernel: &Kernel, cfg: &OccupantCfg) -> Option<SockId> {
    debug_assert_eq!(cfg.kind, OccupantKind::Racing);
    let port = cfg.ports[crate::sync::choose_as(cfg.ports.len(), &cfg.name, "port")];
    let id = open(kernel, cfg, port)?;
    if cfg.hold == Hold::Briefly {
        let _ = kernel.close(&cfg.name, NsId::HOST, id);
        return None;
    }
    Some(id)
}
