//! Saving a counterexample's schedule: the file name (built from the
//! scenario's `name`, which comes from file content and so is sanitized
//! before it becomes a path), the comment header, and an atomic write
//! (a temporary file renamed into place: never a partial file).
//!
//! Shared by `portsim compare` (and meant for `portsim check`, whose
//! naming it keeps: `SCENARIO-POLICY-PROPERTY.schedule`). No Go code.

use crate::check::Property;
use std::path::{Path, PathBuf};

/// Longest sanitized name component, in bytes.
const MAX_COMPONENT: usize = 80;

/// One path component made from untrusted text: every character outside
/// `[A-Za-z0-9._-]` becomes `_`, a leading `.` (hidden files, `..`) gets a
/// `_` in front, an empty name becomes `_`, and it is cut to 80 bytes. The
/// result never contains a separator and is never `.` or `..`.
pub fn sanitize(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with('.') {
        s.insert(0, '_');
    }
    s.truncate(MAX_COMPONENT);
    s
}

/// `SCENARIO-POLICY-PROPERTY.schedule`, each part sanitized.
pub fn file_name(scenario: &str, policy: &str, property: Property) -> String {
    format!(
        "{}-{}-{}.schedule",
        sanitize(scenario),
        sanitize(policy),
        property.name()
    )
}

/// Where a counterexample's schedule goes under `dir`.
pub fn schedule_path(dir: &Path, scenario: &str, policy: &str, property: Property) -> PathBuf {
    dir.join(file_name(scenario, policy, property))
}

/// The schedule file's text: two comment lines (what it reproduces and
/// how it was found), then the schedule.
pub fn body(
    scenario: &str,
    scenario_path: &Path,
    policy: &str,
    property: Property,
    found_by: &str,
    schedule_text: &str,
) -> String {
    // The comment lines must stay comment lines whatever the name holds.
    let one_line = |s: &str| s.replace(['\n', '\r'], " ");
    format!(
        "# portsim schedule: scenario {} ({}), policy {policy}, violates {property}\n# found by {}; minimized\n{schedule_text}",
        one_line(scenario),
        one_line(&scenario_path.display().to_string()),
        one_line(found_by),
    )
}

/// Write `body` to `path` through a temporary file in the same directory,
/// creating the directory if needed.
pub fn write_atomic(path: &Path, body: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("schedule.tmp");
    std::fs::write(&tmp, body)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_file_content_never_leave_the_directory() {
        for (raw, want) in [
            ("issue-53153", "issue-53153"),
            ("../../etc/passwd", "_.._.._etc_passwd"),
            ("..", "_.."),
            (".hidden", "_.hidden"),
            ("", "_"),
            ("a/b\\c d\n", "a_b_c_d_"),
            ("ünï", "_n_"),
        ] {
            assert_eq!(sanitize(raw), want, "{raw:?}");
        }
        let long = "x".repeat(500);
        assert_eq!(sanitize(&long).len(), MAX_COMPONENT);
        let p = schedule_path(
            Path::new("out"),
            "../x/y",
            "pr-52927",
            Property::Convergence,
        );
        assert_eq!(p, Path::new("out/_.._x_y-pr-52927-convergence.schedule"));
        assert_eq!(p.parent(), Some(Path::new("out")));
    }

    #[test]
    fn the_header_stays_two_comment_lines() {
        let b = body(
            "evil\nt9",
            Path::new("s.toml"),
            "moby-master",
            Property::Convergence,
            "pct depth 3 seed 0, execution 2",
            "t0 t1\n",
        );
        let lines: Vec<&str> = b.lines().collect();
        assert_eq!(lines.len(), 3, "{b}");
        assert!(lines[0].starts_with("# ") && lines[1].starts_with("# "));
        assert_eq!(lines[2], "t0 t1");
    }
}
