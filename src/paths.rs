//! Names from file content that become paths, and input files read with a
//! size cap. Not moby code.
//!
//! Scenario files arrive in pull requests: a scenario's `name` (or any
//! other string from a file) must never choose where `portsim` writes;
//! `crate::explore::save::sanitize` makes such a string one harmless
//! file-name component.

use std::io::Read;
use std::path::Path;

/// The largest scenario or schedule file `portsim` reads (1 MiB). The
/// shipped files are a few kilobytes; `portsim run /dev/zero` must end
/// with a message, not when memory runs out.
pub const MAX_INPUT_BYTES: u64 = 1 << 20;

/// Read `path` as UTF-8 text of at most `cap` bytes. Reads at most
/// `cap + 1` bytes whatever the file is (`/dev/zero`, a FIFO), and says
/// so when there is more.
pub fn read_capped(path: &Path, cap: u64) -> Result<String, String> {
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    if f.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err("is a directory".to_string());
    }
    let mut bytes = Vec::new();
    f.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > cap {
        return Err(format!(
            "larger than {cap} bytes: refused (scenario files are small; is this the right file?)"
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_reads_stop_at_the_cap() {
        let dir = std::env::temp_dir().join(format!("portsim-paths-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("f");
        std::fs::write(&f, "abcd").unwrap();
        assert_eq!(read_capped(&f, 4).unwrap(), "abcd");
        assert!(
            read_capped(&f, 3)
                .unwrap_err()
                .starts_with("larger than 3 bytes")
        );
        std::fs::write(&f, [0xff, 0xfe]).unwrap();
        assert!(read_capped(&f, 10).unwrap_err().starts_with("not UTF-8"));
        assert_eq!(read_capped(&dir, 10).unwrap_err(), "is a directory");
        let _ = std::fs::remove_dir_all(&dir);
        #[cfg(unix)]
        assert!(
            read_capped(Path::new("/dev/zero"), 1000)
                .unwrap_err()
                .starts_with("larger than 1000 bytes")
        );
    }
}
