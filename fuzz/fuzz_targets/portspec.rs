//! The `-p` spec parser: never a panic. Docker's own texts echo the spec
//! as given, a newline in it included, so a direct refusal may span lines;
//! inside a scenario file the same spec is refused with one line
//! `fuzz.toml:LINE:COLUMN: ...` (the rule `tests/fuzz_parsers.rs` checks).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let direct = portsim::scenario::portspec::parse_publish(&text).err();
    let esc: String = text
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .chars()
        .map(|c| {
            if c.is_control() {
                format!("\\u{:04X}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect();
    let file = format!(
        "name = \"f\"\nsteps = [\"start c1\"]\n[[daemon]]\nname = \"d1\"\n[[container]]\nname = \"c1\"\npublish = [\"{esc}\"]\n"
    );
    match portsim::scenario::parse_str("fuzz.toml", &file) {
        Err(e) => {
            let m = e.to_string();
            assert!(!m.contains('\n'), "multi-line: {m:?}");
            assert!(m.starts_with("fuzz.toml:") && e.line >= 1 && e.column >= 1, "{m:?}");
        }
        Ok(_) => assert!(direct.is_none(), "refused directly, accepted in a file: {direct:?}"),
    }
});
