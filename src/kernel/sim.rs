//! The simulated kernel: per-namespace socket tables with Linux bind rules.

use super::*;

/// Simulated namespaces.
#[derive(Default)]
pub struct SimNet {}

impl SimNet {
    pub fn new() -> SimNet {
        SimNet::default()
    }
}

impl Net for SimNet {
    fn name(&self) -> &'static str {
        "sim"
    }
    fn create_ns(&self, _ns: NsId, _cfg: &NsConfig) -> Result<(), String> {
        todo!()
    }
    fn bind(&self, _ns: NsId, _id: SockId, _req: &BindReq, _privileged: bool) -> Result<(), Errno> {
        todo!()
    }
    fn listen(&self, _ns: NsId, _id: SockId) -> Result<(), Errno> {
        todo!()
    }
    fn close(&self, _ns: NsId, _id: SockId) -> Result<(), Errno> {
        todo!()
    }
    fn sockets(&self, _ns: NsId) -> Vec<SockInfo> {
        todo!()
    }
    fn probe(
        &self,
        _ns: NsId,
        _req: &BindReq,
        _listen: bool,
        _privileged: bool,
    ) -> Result<(), Errno> {
        todo!()
    }
    fn sysctl(&self, _ns: NsId, _name: &str) -> Result<String, Errno> {
        todo!()
    }
}
