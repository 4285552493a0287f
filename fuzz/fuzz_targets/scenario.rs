//! The scenario parser: any text is accepted or refused with one line
//! `fuzz.toml:LINE:COLUMN: ...`; never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(e) = portsim::scenario::parse_str("fuzz.toml", &text) {
        let m = e.to_string();
        assert!(!m.contains('\n'), "multi-line: {m:?}");
        assert!(m.starts_with("fuzz.toml:") && e.line >= 1 && e.column >= 1, "{m:?}");
    }
});
