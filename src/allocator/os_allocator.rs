//! OSAllocator (stub; see the brief).

use super::PortAllocator;
use crate::error::GoError;
use crate::kernel::{Kernel, NsId, Proto, SockId};
use std::net::IpAddr;

pub struct OsAllocator<'a> {
    pub allocator: &'a PortAllocator,
    pub kernel: &'a Kernel,
    pub ns: NsId,
}

impl<'a> OsAllocator<'a> {
    pub fn request_ports_in_range(
        &self,
        who: &str,
        owner: &str,
        addrs: &[IpAddr],
        proto: Proto,
        start: i32,
        end: i32,
    ) -> Result<(u16, Vec<SockId>), GoError> {
        let _ = (who, owner, addrs, proto, start, end);
        todo!()
    }
    pub fn release_ports(&self, who: &str, addrs: &[IpAddr], proto: Proto, port: u16) {
        let _ = (who, addrs, proto, port);
        todo!()
    }
}
