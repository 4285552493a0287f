//! `portsim validate` and `portsim list`: scenario files checked without
//! running them, and the shipped scenarios with one line each. Also the
//! hint every scenario error carries to the format reference.

use crate::scenario::{self, Scenario, ScenarioError};
use std::path::{Path, PathBuf};

/// Where the scenario format is documented, relative to the repository.
pub const REFERENCE: &str = "docs/scenarios.md";

/// A scenario error as the command line prints it: one line, with the
/// reference as a hint when the error has a position in the file.
pub fn scenario_error(e: &ScenarioError) -> String {
    if e.line > 0 {
        format!("{e} (see {REFERENCE})")
    } else {
        e.to_string()
    }
}

/// What `validate` found: one line per file, and whether all were good.
pub struct Validation {
    pub ok_lines: Vec<String>,
    pub error_lines: Vec<String>,
}

/// Parse and validate every file; nothing runs.
pub fn validate(files: &[PathBuf]) -> Validation {
    let mut v = Validation {
        ok_lines: Vec::new(),
        error_lines: Vec::new(),
    };
    for f in files {
        match scenario::load(f) {
            Ok(sc) => v.ok_lines.push(format!(
                "{}: ok ({} daemon(s), {} occupant(s), {} container(s), {} step(s))",
                f.display(),
                sc.daemons.len(),
                sc.occupants.len(),
                sc.containers.len(),
                sc.steps.len()
            )),
            Err(e) => v.error_lines.push(scenario_error(&e)),
        }
    }
    v
}

/// The first sentence of a description, on one line, at most 120
/// characters.
pub fn one_line(description: &str) -> String {
    let flat = description.split_whitespace().collect::<Vec<_>>().join(" ");
    let first = match flat.find(". ") {
        Some(i) => &flat[..=i],
        None => flat.as_str(),
    };
    if first.chars().count() <= 120 {
        first.to_string()
    } else {
        let cut: String = first.chars().take(119).collect();
        format!("{cut}…")
    }
}

/// The scenarios directory `list` reads by default: `./scenarios` when it
/// exists, else the one this binary was built from.
pub fn default_dir() -> PathBuf {
    let here = PathBuf::from("scenarios");
    if here.is_dir() {
        here
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
    }
}

/// A listed file and its scenario, or why it does not parse.
pub type Entry = (String, Result<Scenario, ScenarioError>);

/// Every `*.toml` in `dir`, sorted, with its scenario or its error.
pub fn list(dir: &Path) -> Result<Vec<Entry>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("{}: cannot read: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    Ok(files
        .into_iter()
        .map(|p| (p.display().to_string(), scenario::load(&p)))
        .collect())
}

/// The text `portsim list` prints.
pub fn list_text(entries: &[Entry]) -> String {
    let width = entries
        .iter()
        .map(|(f, _)| f.chars().count())
        .max()
        .unwrap_or(0);
    let mut s = String::new();
    for (file, r) in entries {
        let line = match r {
            Ok(sc) if sc.description.trim().is_empty() => "(no description)".to_string(),
            Ok(sc) => one_line(&sc.description),
            Err(e) => format!("INVALID: {}", scenario_error(e)),
        };
        s.push_str(&format!("{file:<width$}  {line}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_is_the_first_sentence() {
        assert_eq!(
            one_line("moby#1: a thing\nfails \"x\". Then more.\n"),
            "moby#1: a thing fails \"x\"."
        );
        assert_eq!(one_line("no period"), "no period");
        assert_eq!(one_line(&"word ".repeat(40)).chars().count(), 120);
    }

    #[test]
    fn errors_with_a_position_point_at_the_reference() {
        let e = scenario::parse_str("t.toml", "name = 1\n").unwrap_err();
        let line = scenario_error(&e);
        assert!(line.starts_with("t.toml:1:8: "), "{line}");
        assert!(line.ends_with(" (see docs/scenarios.md)"), "{line}");
        let unreadable = scenario::load(Path::new("/nonexistent/x.toml")).unwrap_err();
        assert!(!scenario_error(&unreadable).contains("docs/"));
    }

    #[test]
    fn every_shipped_scenario_is_listed_with_a_description() {
        let entries = list(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")).unwrap();
        assert!(entries.len() >= 9);
        let text = list_text(&entries);
        assert_eq!(text.lines().count(), entries.len());
        for (f, r) in &entries {
            let sc = r.as_ref().unwrap_or_else(|e| panic!("{e}"));
            assert!(!sc.description.trim().is_empty(), "{f} has no description");
        }
        assert!(!text.contains("INVALID"), "{text}");
    }

    #[test]
    fn validate_reports_each_bad_file_on_one_line() {
        let dir = std::env::temp_dir().join(format!("portsim-validate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/issue-53153.toml");
        let bad1 = dir.join("bad1.toml");
        let bad2 = dir.join("bad2.toml");
        std::fs::write(&bad1, "name = \"x\"\n").unwrap();
        std::fs::write(
            &bad2,
            "name = \"x\"\n[[daemon]]\nname = \"d1\"\nbogus = 1\n",
        )
        .unwrap();
        let v = validate(&[bad1.clone(), good, bad2.clone()]);
        assert_eq!(v.ok_lines.len(), 1, "{:?}", v.ok_lines);
        assert_eq!(v.error_lines.len(), 2, "{:?}", v.error_lines);
        assert!(v.error_lines[0].starts_with(&format!("{}:1:1: ", bad1.display())));
        assert!(v.error_lines[1].starts_with(&format!("{}:4:1: ", bad2.display())));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
