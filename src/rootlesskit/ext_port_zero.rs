//! A proposed rootlesskit API extension (it exists in no rootlesskit
//! release): `POST /v1/ports` with `ParentPort: 0` asks the host kernel to
//! pick the port. Selected by the `kernel-picks` policy
//! ([`crate::mapper::kernel_picks`]) through
//! [`crate::mapper::Policy::rootlesskit_ext`]; the pinned driver never
//! does this.
//!
//! What rootlesskit e780dd3 (and v3.1.0, which moby master vendors) does
//! instead, read from its sources:
//! - `ValidatePortSpec` (pkg/port/portutil/portutil.go) refuses
//!   `ParentPort` outside 1..=65535 with `invalid ParentPort: '\x00'` for
//!   0 (Go's `%q` of an int); `pkg/api/openapi.yaml` notes that a future
//!   version may allow automatic assignment;
//! - the builtin parent's `AddPort` (pkg/port/builtin/parent/parent.go)
//!   returns `port.Status{ID, Spec}` with the spec as requested, so even a
//!   kernel-chosen port could not be reported;
//! - the slirp4netns driver refuses port 0 too and answers with an id
//!   only; it is not extended here.
//!
//! The change this models, in rootlesskit: `ValidatePortSpec` accepts
//! `ParentPort == 0` (and `ChildPort == 0`, meaning "the same as the
//! parent"); the builtin parent listens on port 0, reads the bound port
//! from the listener, stores the spec with that port (so later conflict
//! checks compare real ports) and returns it in the `Status`; `GET
//! /v1/info` lists the feature ([`FEATURE`]) so clients can tell. No
//! conflict check runs on the chosen port: the host kernel has just bound
//! it for this listener, so no registered listener of the same proto and
//! address holds it.

use super::Spec;
use super::builtin::Builtin;
use super::validate::validate_port_spec;
use std::collections::BTreeMap;

/// The name `GET /v1/info` would list under the port driver's features.
pub const FEATURE: &str = "parent-port-zero";

/// Does `spec` ask the host kernel to pick the parent port?
pub fn asks_for_any_port(spec: &Spec) -> bool {
    spec.parent_port == 0
}

/// The extended `driver.AddPort` for `ParentPort: 0`: validate every other
/// field as `ValidatePortSpec` does, listen on port 0 in the host (the
/// kernel picks, [`crate::kernel::Kernel::bind_ephemeral`]), register the
/// spec with the bound port. Returns the id and that spec.
pub fn add_port(d: &Builtin, who: &str, spec: &Spec) -> Result<(u32, Spec), String> {
    let placeholder = Spec {
        parent_port: 1,
        child_port: if spec.child_port == 0 {
            1
        } else {
            spec.child_port
        },
        ..spec.clone()
    };
    d.with_ports(who, spec, |_| {
        validate_port_spec(&placeholder, &BTreeMap::new())
    })?;
    let listener = d.listen(who, spec, 0)?;
    let port = i32::from(listener.local.1);
    let bound = Spec {
        parent_port: port,
        child_port: if spec.child_port == 0 {
            port
        } else {
            spec.child_port
        },
        ..spec.clone()
    };
    let id = d.register(who, bound.clone(), listener);
    Ok((id, bound))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{NsConfig, Proto, ephemeral_scan};
    use crate::rootlesskit::PortDriver;
    use crate::rootlesskit::api::post_ports;
    use crate::rootlesskit::testutil::{host_sockets, kernel, kernel_with, occupy, spec};
    use crate::sync;

    #[test]
    fn the_pinned_driver_refuses_parent_port_zero_with_its_exact_text() {
        sync::run_once(|| {
            let k = kernel();
            let d = Builtin::new(k.clone(), "d1/rlk");
            let zero = spec("tcp4", "0.0.0.0", 0, "127.0.0.1");
            assert_eq!(
                d.add_port("c1", &zero),
                Err("invalid ParentPort: '\\x00'".to_string())
            );
            let r = post_ports(&d, "c1", &zero);
            assert_eq!(r.status, 400);
            assert_eq!(r.body, "{\"message\":\"invalid ParentPort: '\\\\x00'\"}\n");
            assert!(d.extensions().is_empty());
            assert!(host_sockets(&k).is_empty());
            // And the pinned reply echoes the spec it was given.
            let s = spec("tcp4", "0.0.0.0", 8181, "127.0.0.1");
            assert_eq!(d.add_port_status("c1", &s), Ok((1, s.clone())));
        });
    }

    #[test]
    fn with_the_extension_the_host_kernel_picks_and_the_reply_carries_the_port() {
        sync::run_once(|| {
            let host = NsConfig {
                ip_local_port_range: "40000\t40003".into(),
                ..NsConfig::default()
            };
            let k = kernel_with(host);
            let d = Builtin::new(k.clone(), "d1/rlk").with_port_zero();
            assert_eq!(d.extensions(), [FEATURE]);
            // A 4-port range: halves 40000-40001 and 40002-40003 for a
            // SO_REUSEADDR listener, odd ports first.
            let _o = occupy(&k, Proto::Tcp, "0.0.0.0", 40001, false, true);
            let (id, got) = d
                .add_port_status("c1", &spec("tcp4", "0.0.0.0", 0, "127.0.0.1"))
                .expect("a free port");
            assert_eq!(id, 1);
            assert_eq!((got.parent_port, got.child_port), (40000, 40000));
            assert_eq!(d.ports()[0].1, got, "the stored spec has the bound port");
            // A later explicit request for that port now conflicts by spec.
            assert_eq!(
                d.add_port("c2", &spec("tcp4", "0.0.0.0", 40000, "127.0.0.1")),
                Err("conflict with ID 1".to_string())
            );
            let last = k.trace().events().last().cloned().unwrap();
            assert_eq!(last.action, "AddPort tcp4 0.0.0.0:40000 => 127.0.0.1:40000");
        });
    }

    #[test]
    fn an_exhausted_host_range_reads_as_go_prints_it() {
        sync::run_once(|| {
            let host = NsConfig {
                ip_local_port_range: "40000\t40000".into(),
                ..NsConfig::default()
            };
            let k = kernel_with(host);
            let d = Builtin::new(k.clone(), "d1/rlk").with_port_zero();
            let _o = occupy(&k, Proto::Udp, "0.0.0.0", 40000, false, false);
            assert_eq!(
                d.add_port("c1", &spec("udp4", "0.0.0.0", 0, "127.0.0.1")),
                Err("listen udp4 0.0.0.0:0: bind: address already in use".to_string())
            );
            assert!(d.ports().is_empty());
        });
    }

    #[test]
    fn the_scan_follows_linux_order() {
        sync::run_once(|| {
            // Under the fixed test schedule choose() may return anything:
            // whatever the offset, the pick is free, and with only one
            // free port it is that one.
            let only = ephemeral_scan((32768, 60999), true, |p| p == 50001);
            assert_eq!(only, Some(50001));
            let even = ephemeral_scan((32768, 32775), false, |p| p % 2 == 0);
            assert!(even.is_some_and(|p| p % 2 == 0 && (32768..=32775).contains(&p)));
            assert_eq!(ephemeral_scan((32768, 32775), true, |_| false), None);
            // Without reuse the first pick has the opposite parity of low.
            let first = ephemeral_scan((32768, 32775), false, |_| true);
            assert!(first.is_some_and(|p| p % 2 == 1), "{first:?}");
            // With SO_REUSEADDR the lower half comes first.
            let low = ephemeral_scan((32768, 32775), true, |_| true);
            assert!(low.is_some_and(|p| p < 32772), "{low:?}");
        });
    }
}
