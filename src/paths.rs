//! Names from file content that become paths, and input files read with a
//! size cap. Not moby code.
//!
//! Scenario files arrive in pull requests: a scenario's `name` (or any
//! other string from a file) must never choose where `portsim` writes.
//! [`file_component`] turns such a string into one harmless file-name
//! component; every command that builds a path from file content (`check`'s
//! schedule files, `compare`'s outputs) goes through it.

use std::io::Read;
use std::path::Path;

/// The largest scenario or schedule file `portsim` reads (1 MiB). The
/// shipped files are a few kilobytes; `portsim run /dev/zero` must end
/// with a message, not when memory runs out.
pub const MAX_INPUT_BYTES: u64 = 1 << 20;

/// The longest component [`file_component`] returns, in bytes (well under
/// the 255 of common file systems, leaving room for suffixes).
pub const MAX_COMPONENT_BYTES: usize = 100;

/// One file-name component made from `name`: ASCII letters, digits, `.`,
/// `_` and `-` are kept, every other character becomes `_`; a leading `.`
/// becomes `_` (no `.`, `..` or hidden files); an empty result is `_`;
/// at most [`MAX_COMPONENT_BYTES`] bytes. The result never contains a
/// path separator, so `dir.join(file_component(x))` stays inside `dir`.
pub fn file_component(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(MAX_COMPONENT_BYTES)
        .collect();
    if out.starts_with('.') {
        out.replace_range(0..1, "_");
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

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
    fn components_never_leave_the_folder() {
        for (name, want) in [
            ("issue-53153", "issue-53153"),
            ("../escaped", "_._escaped"),
            ("..", "_."),
            (".", "_"),
            ("", "_"),
            ("/etc/passwd", "_etc_passwd"),
            ("a\\b", "a_b"),
            ("dé jà", "d__j_"),
            ("a\0b", "a_b"),
            ("C:x", "C_x"),
        ] {
            assert_eq!(file_component(name), want, "{name:?}");
        }
        let dir = Path::new("/out");
        for name in ["../x", "..", "a/../../b", "/abs", "x/.."] {
            let p = dir.join(file_component(name));
            assert_eq!(p.parent(), Some(dir), "{name:?} -> {}", p.display());
            assert!(
                p.components()
                    .all(|c| !matches!(c, std::path::Component::ParentDir)),
                "{name:?}"
            );
        }
        assert_eq!(file_component(&"x".repeat(500)).len(), MAX_COMPONENT_BYTES);
    }

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
