//! The `-p` spec parser: accepted or refused with one line; never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(m) = portsim::scenario::portspec::parse_publish(&text) {
        assert!(!m.contains('\n'), "multi-line: {m:?}");
    }
});
