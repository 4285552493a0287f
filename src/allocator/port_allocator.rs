//! PortAllocator (stub; see the brief).

use crate::error::GoError;
use crate::kernel::{Kernel, NsId};
use crate::trace::Trace;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

pub struct PortAllocator {}

impl PortAllocator {
    pub fn new(
        begin: u16,
        end: u16,
        reserved: BTreeSet<u16>,
        trace: Arc<Trace>,
        layer: &str,
    ) -> PortAllocator {
        let _ = (begin, end, reserved, trace, layer);
        todo!()
    }
    pub fn from_namespace(kernel: &Kernel, ns: NsId, layer: &str) -> PortAllocator {
        let _ = (kernel, ns, layer);
        todo!()
    }
    pub fn range(&self) -> (u16, u16) {
        todo!()
    }
    pub fn request_ports_in_range(
        &self,
        who: &str,
        ips: &[IpAddr],
        proto: &str,
        start: i32,
        end: i32,
    ) -> Result<u16, GoError> {
        let _ = (who, ips, proto, start, end);
        todo!()
    }
    pub fn release_port(&self, who: &str, ip: IpAddr, proto: &str, port: u16) {
        let _ = (who, ip, proto, port);
        todo!()
    }
    pub fn reservations(&self) -> Vec<(IpAddr, String, u16)> {
        todo!()
    }
}
