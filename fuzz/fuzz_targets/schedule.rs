//! The schedule-file parser (versions 1 and 2): accepted or refused with
//! one line `LINE:COLUMN: ...`; never a panic; a version-2 file it accepts
//! prints back to text that parses to the same steps.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portsim::explore::schedule::{ScheduleFile, parse_file};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match parse_file(&text) {
        Err(e) => {
            let m = e.to_string();
            assert!(!m.contains('\n'), "multi-line: {m:?}");
            assert!(e.line >= 1 && e.column >= 1, "{m:?}");
        }
        Ok(ScheduleFile::V2(s)) => {
            let again = parse_file(&s.to_text(&[]));
            assert_eq!(again, Ok(ScheduleFile::V2(s)));
        }
        Ok(ScheduleFile::V1(_)) => {}
    }
});
