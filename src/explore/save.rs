//! Saving a counterexample's schedule: the file name (built from the
//! scenario's `name`, which comes from file content and so is sanitized
//! before it becomes a path), the comment header, and an atomic write
//! (a temporary file renamed into place: never a partial file).
//!
//! Shared by `portsim compare` and `portsim check` (whose naming it
//! keeps: `SCENARIO-POLICY-PROPERTY.schedule`); both write the version-2
//! form ([`named_body`]). No Go code.

#[cfg(all(not(loom), not(feature = "os-threads")))]
use super::schedule::NamedSchedule;
use crate::check::Property;
use std::path::{Path, PathBuf};

/// One path component made from untrusted text (a scenario's `name`
/// comes from file content): every character outside `[A-Za-z0-9._-]`
/// becomes `_`, at most `max` characters, a leading `.` or `-` becomes
/// `_` (no hidden file, no `..`, no flag), never empty. The result never
/// contains a separator and is never `.` or `..`.
pub fn sanitize(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(max)
        .collect();
    while out.starts_with('.') || out.starts_with('-') {
        out.replace_range(0..1, "_");
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// `SCENARIO-POLICY`, each part sanitized: the stem of every file
/// `check` and `compare` write for one scenario and policy.
pub fn stem(scenario: &str, policy: &str) -> String {
    format!("{}-{}", sanitize(scenario, 80), sanitize(policy, 40))
}

/// `SCENARIO-POLICY-PROPERTY.schedule`, each part sanitized.
pub fn file_name(scenario: &str, policy: &str, property: Property) -> String {
    format!("{}-{}.schedule", stem(scenario, policy), property.name())
}

/// Where a counterexample's schedule goes under `dir`.
pub fn schedule_path(dir: &Path, scenario: &str, policy: &str, property: Property) -> PathBuf {
    dir.join(file_name(scenario, policy, property))
}

/// The version-2 schedule file's text: the `portsim-schedule 2` header,
/// two comment lines (what it reproduces; how it was found and what the
/// minimizer left), then one named step a line.
#[cfg(all(not(loom), not(feature = "os-threads")))]
pub fn named_body(
    scenario: &str,
    scenario_path: &Path,
    policy: &str,
    property: Property,
    found_by: &str,
    preemptions: usize,
    schedule: &NamedSchedule,
) -> String {
    let one_line = |s: &str| s.replace(['\n', '\r'], " ");
    schedule.to_text(&[
        format!(
            "scenario {} ({}), policy {policy}, violates {property}",
            one_line(scenario),
            one_line(&scenario_path.display().to_string()),
        ),
        format!(
            "found by {}; minimized: {preemptions} preemptions, {} steps",
            one_line(found_by),
            schedule.runs()
        ),
    ])
}

/// Write `body` to `path` through a temporary file in the same folder
/// (`PATH.tmp`) and a rename, creating the folder if needed, so that no
/// reader sees half a file; the temporary file is removed whatever fails.
pub fn write_atomic(path: &Path, body: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let r = std::fs::write(&tmp, body).and_then(|()| std::fs::rename(&tmp, path));
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_file_content_never_leave_the_directory() {
        for (raw, want) in [
            ("issue-53153", "issue-53153"),
            ("../../etc/passwd", "_._.._etc_passwd"),
            ("../escaped", "_._escaped"),
            ("..", "_."),
            (".", "_"),
            (".hidden", "_hidden"),
            ("-rf", "_rf"),
            ("", "_"),
            ("a/b\\c d\n", "a_b_c_d_"),
            ("a\0b", "a_b"),
            ("C:x", "C_x"),
            ("ünï", "_n_"),
        ] {
            assert_eq!(sanitize(raw, 80), want, "{raw:?}");
        }
        for name in ["../x", "..", "a/../../b", "/abs", "x/.."] {
            let p = Path::new("/out").join(sanitize(name, 80));
            assert_eq!(p.parent(), Some(Path::new("/out")), "{name:?}");
        }
        assert_eq!(sanitize(&"x".repeat(500), 80).len(), 80);
        assert_eq!(sanitize("abcdef", 3), "abc");
        let p = schedule_path(
            Path::new("out"),
            "../x/y",
            "pr-52927",
            Property::Convergence,
        );
        assert_eq!(p, Path::new("out/_._x_y-pr-52927-convergence.schedule"));
        assert_eq!(p.parent(), Some(Path::new("out")));
    }

    #[test]
    #[cfg(all(not(loom), not(feature = "os-threads")))]
    fn the_named_header_stays_two_comment_lines() {
        let named = super::super::schedule::parse_file("portsim-schedule 2\nmain begin\n")
            .map(|f| match f {
                super::super::schedule::ScheduleFile::V2(n) => n,
                v1 => panic!("{v1:?}"),
            })
            .unwrap();
        let b = named_body(
            "evil\nmain begin",
            Path::new("s\r.toml"),
            "moby-master",
            Property::Convergence,
            "pct depth 3 seed 0, execution 2",
            1,
            &named,
        );
        let lines: Vec<&str> = b.lines().collect();
        assert_eq!(lines.len(), 4, "{b}");
        assert_eq!(lines[0], super::super::schedule::HEADER_V2);
        assert!(lines[1].starts_with("# ") && lines[2].starts_with("# "));
        assert_eq!(
            lines[2],
            "# found by pct depth 3 seed 0, execution 2; minimized: 1 preemptions, 1 steps"
        );
        assert_eq!(lines[3], "main begin");
        assert_eq!(
            super::super::schedule::parse_file(&b),
            Ok(super::super::schedule::ScheduleFile::V2(named))
        );
    }

    #[test]
    fn a_failed_schedule_write_leaves_no_temporary_file() {
        let dir = std::env::temp_dir().join(format!("portsim-write-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // The target is a folder: the rename fails after the write.
        let target = dir.join("x.schedule");
        std::fs::create_dir_all(target.join("busy")).unwrap();
        assert!(write_atomic(&target, "t0\n").is_err());
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [std::ffi::OsString::from("x.schedule")]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
