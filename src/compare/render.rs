//! The matrix as text (an aligned table, one row per scenario and policy),
//! as JSON (`format_version` 1), and as markdown (a GitHub table with
//! scenario rows and policy columns, for a pull-request review). Every form
//! carries the same verdicts and replay commands; none carries a timing.

use super::{Cell, CellVerdict, Counterexample, Matrix};
use crate::check::Property;
use serde::Serialize;

/// The JSON layout's version; bump it when a field changes meaning.
pub const FORMAT_VERSION: u32 = 1;

/// Rows of cells as columns padded to their widest cell (in characters),
/// two spaces apart, no trailing spaces.
pub fn aligned(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut width = vec![0; cols];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let mut s = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(c);
            let pad = width[i] - c.chars().count();
            line.extend(std::iter::repeat_n(' ', pad));
        }
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s
}

/// A GitHub table: the header row, its separator, then the rows. Cells
/// are used as given (escape them first with [`md_cell`]).
pub fn md_table(header: &[String], rows: &[Vec<String>]) -> String {
    let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
    let mut s = line(header);
    s.push_str(&line(&vec!["---".to_string(); header.len()]));
    for r in rows {
        s.push_str(&line(r));
    }
    s
}

/// Text that markdown shows as it is: its punctuation escaped, line
/// breaks made spaces.
pub fn md_text(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '~' | '&' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A code span (a backtick-free, one-line word), else escaped text.
pub fn md_code(s: &str) -> String {
    if s.contains(['`', '\n', '\r']) || s.is_empty() {
        md_text(s)
    } else {
        format!("`{s}`")
    }
}

/// Inside a table cell a `|` ends the cell even within a code span; GitHub
/// reads `\|` as a literal bar there.
pub fn md_cell(s: &str) -> String {
    s.replace('|', "\\|")
}

fn starts_text(c: &Cell) -> String {
    if c.failed_starts.is_empty() {
        return "-".to_string();
    }
    c.failed_starts
        .iter()
        .map(|(name, n)| format!("{name} {n}/{}", c.executions))
        .collect::<Vec<_>>()
        .join(", ")
}

fn verdict_text(v: &CellVerdict) -> String {
    match v {
        CellVerdict::Holds => "holds".to_string(),
        CellVerdict::Violated { counterexample } => format!("VIOLATED [{counterexample}]"),
    }
}

/// `1 cell`, `2 cells`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn headline(m: &Matrix, times: &str) -> String {
    format!(
        "{} {times} {}; engine {}; at most {} per cell",
        count(m.scenarios.len(), "scenario", "scenarios"),
        count(m.policies.len(), "policy", "policies"),
        m.engine,
        count(m.iterations, "execution", "executions")
    )
}

fn totals(m: &Matrix) -> String {
    let bad = m.cells.iter().filter(|c| c.violated()).count();
    let mut s = format!(
        "{}: {} every property, {} at least one ({})",
        count(m.cells.len(), "cell", "cells"),
        count(m.cells.len() - bad, "holds", "hold"),
        count(bad, "violates", "violate"),
        count(m.counterexamples.len(), "counterexample", "counterexamples")
    );
    if m.interrupted {
        let all = m.scenarios.len() * m.policies.len();
        s.push_str(&format!(
            "; interrupted (Ctrl-C): {} of {all} not explored",
            count(all - m.cells.len(), "cell", "cells")
        ));
    }
    s
}

/// Marks a cell Ctrl-C stopped the comparison before.
const NOT_EXPLORED: &str = "not explored";

/// The executions column: `100`, or `1 (sequential)` for a scenario
/// whose only interleaving was run.
fn executions_text(c: &Cell) -> String {
    if c.sequential {
        format!("{} (sequential)", c.executions)
    } else {
        c.executions.to_string()
    }
}

fn ce_summary(m: &Matrix, c: &Counterexample) -> String {
    let of = m
        .cells
        .iter()
        .find(|x| x.scenario == c.scenario && x.policy == c.policy)
        .map_or(0, |x| x.executions);
    format!(
        "{} under {} violates {} (execution {} of {}; minimized: {}, {})",
        c.scenario,
        c.policy,
        c.property,
        c.execution,
        of,
        count(c.preemptions, "preemption", "preemptions"),
        count(c.steps, "step", "steps")
    )
}

/// The text form.
pub fn text(m: &Matrix) -> String {
    let mut s = format!("portsim compare: {}\n", headline(m, "x"));
    s.push_str(
        "each cell explores until its budget or its first violating execution; \"holds\": no explored execution violated it\n\n",
    );
    let mut rows = vec![
        [
            "scenario",
            "policy",
            "executions",
            "outcomes",
            "failed starts",
        ]
        .iter()
        .map(|h| h.to_string())
        .chain(Property::ALL.iter().map(|p| p.name().to_string()))
        .collect::<Vec<_>>(),
    ];
    for (i, (name, _)) in m.scenarios.iter().enumerate() {
        for p in &m.policies {
            let r = match m.cell(i, p) {
                Some(c) => {
                    let mut r = vec![
                        c.scenario.replace(['\n', '\r'], " "),
                        c.policy.clone(),
                        executions_text(c),
                        c.outcomes.len().to_string(),
                        starts_text(c),
                    ];
                    r.extend(c.verdicts.iter().map(|(_, v)| verdict_text(v)));
                    r
                }
                None => vec![
                    name.replace(['\n', '\r'], " "),
                    p.clone(),
                    NOT_EXPLORED.to_string(),
                ],
            };
            rows.push(r);
        }
    }
    s.push_str(&aligned(&rows));
    s.push_str(&format!("\n{}\n", totals(m)));
    if !m.counterexamples.is_empty() {
        s.push_str(&format!(
            "\ncounterexamples (schedules written to {}/):\n",
            m.out.display()
        ));
        for c in &m.counterexamples {
            s.push_str(&format!(
                "[{}] {}\n    {}\n    replay: {}\n",
                c.number,
                ce_summary(m, c).replace(['\n', '\r'], " "),
                c.evidence.replace(['\n', '\r'], " "),
                c.replay
            ));
        }
    }
    s
}

fn md_verdict(c: &Cell) -> String {
    let bad: Vec<String> = c
        .verdicts
        .iter()
        .filter_map(|(p, v)| match v {
            CellVerdict::Violated { counterexample } => {
                Some(format!("**{}** [{counterexample}]", p.name()))
            }
            CellVerdict::Holds => None,
        })
        .collect();
    let first = match (bad.is_empty(), c.sequential) {
        (true, true) => format!("holds (sequential, {} ex.)", c.executions),
        (true, false) => format!("holds ({} ex.)", c.executions),
        (false, _) => format!("violated: {}", bad.join(", ")),
    };
    let starts = if c.failed_starts.is_empty() {
        "starts ok".to_string()
    } else {
        format!("failed: {}", md_text(&starts_text(c)))
    };
    format!(
        "{first}<br>{starts}; {}",
        count(c.outcomes.len(), "outcome", "outcomes")
    )
}

/// The markdown form: one table (scenario rows, policy columns), then the
/// counterexamples with their replay commands.
pub fn markdown(m: &Matrix) -> String {
    let mut s = format!("**portsim compare**: {}.\n\n", md_text(&headline(m, "×")));
    s.push_str(
        "A cell holds when none of its explored executions violated any of the five properties (ex. = executions; exploration stops at the first violating execution); `failed:` counts the executions in which a container's start failed.\n\n",
    );
    let header: Vec<String> = std::iter::once("scenario".to_string())
        .chain(m.policies.iter().map(|p| md_cell(&md_code(p))))
        .collect();
    let mut rows = Vec::new();
    for (i, (name, _)) in m.scenarios.iter().enumerate() {
        let mut r = vec![md_cell(&md_code(name))];
        for p in &m.policies {
            r.push(
                m.cell(i, p)
                    .map_or_else(|| NOT_EXPLORED.to_string(), |c| md_cell(&md_verdict(c))),
            );
        }
        rows.push(r);
    }
    s.push_str(&md_table(&header, &rows));
    s.push_str(&format!("\n{}.\n", md_text(&totals(m))));
    if !m.counterexamples.is_empty() {
        s.push_str(&format!(
            "\nCounterexamples (`portsim compare` writes the minimized schedules to {}):\n\n",
            md_code(&format!("{}/", m.out.display()))
        ));
        for c in &m.counterexamples {
            s.push_str(&format!(
                "{}. {}: {}<br>\n   `{}`\n",
                c.number,
                md_text(&ce_summary(m, c)),
                md_text(&c.evidence),
                c.replay.replace('`', "'")
            ));
            s.push_str(&md_details(c));
        }
    }
    s
}

/// A counterexample's story and Mermaid diagram, folded under its list
/// item (indented into it) so the matrix stays readable.
fn md_details(c: &Counterexample) -> String {
    let mut s = String::from("\n   <details><summary>story and diagram</summary>\n\n");
    if !c.story.is_empty() {
        s.push_str(&format!("   {}\n\n", md_text(&c.story)));
    }
    s.push_str("   ```mermaid\n");
    for line in c.mermaid.lines() {
        let line = line.replace("```", "'''");
        if line.is_empty() {
            s.push('\n');
        } else {
            s.push_str(&format!("   {line}\n"));
        }
    }
    s.push_str("   ```\n\n   </details>\n\n");
    s
}

#[derive(Serialize)]
struct JsonVerdict<'a> {
    property: &'a str,
    holds: bool,
    /// The counterexample's number when violated.
    counterexample: Option<usize>,
}

#[derive(Serialize)]
struct JsonStart<'a> {
    container: &'a str,
    failed_in: usize,
}

#[derive(Serialize)]
struct JsonCell<'a> {
    scenario: &'a str,
    path: &'a str,
    policy: &'a str,
    executions: usize,
    sequential: bool,
    holds: bool,
    failed_starts: Vec<JsonStart<'a>>,
    outcomes: &'a [String],
    properties: Vec<JsonVerdict<'a>>,
}

#[derive(Serialize)]
struct JsonScenario<'a> {
    name: &'a str,
    path: &'a str,
}

#[derive(Serialize)]
struct JsonMatrix<'a> {
    format_version: u32,
    engine: &'a str,
    iterations: usize,
    seed: u64,
    schedules_dir: String,
    properties: Vec<&'a str>,
    policies: &'a [String],
    scenarios: Vec<JsonScenario<'a>>,
    holds: bool,
    /// Present (true) only when Ctrl-C stopped the comparison.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    interrupted: bool,
    cells: Vec<JsonCell<'a>>,
    counterexamples: &'a [Counterexample],
}

/// The JSON form (pretty, newline-terminated).
pub fn json(m: &Matrix) -> String {
    let j = JsonMatrix {
        format_version: FORMAT_VERSION,
        engine: &m.engine,
        iterations: m.iterations,
        seed: m.seed,
        schedules_dir: m.out.display().to_string(),
        properties: Property::ALL.iter().map(|p| p.name()).collect(),
        policies: &m.policies,
        scenarios: m
            .scenarios
            .iter()
            .map(|(name, path)| JsonScenario { name, path })
            .collect(),
        holds: !m.violated(),
        interrupted: m.interrupted,
        cells: m
            .cells
            .iter()
            .map(|c| JsonCell {
                scenario: &c.scenario,
                path: &c.path,
                policy: &c.policy,
                executions: c.executions,
                sequential: c.sequential,
                holds: !c.violated(),
                failed_starts: c
                    .failed_starts
                    .iter()
                    .map(|(container, n)| JsonStart {
                        container,
                        failed_in: *n,
                    })
                    .collect(),
                outcomes: &c.outcomes,
                properties: c
                    .verdicts
                    .iter()
                    .map(|(p, v)| JsonVerdict {
                        property: p.name(),
                        holds: *v == CellVerdict::Holds,
                        counterexample: match v {
                            CellVerdict::Holds => None,
                            CellVerdict::Violated { counterexample } => Some(*counterexample),
                        },
                    })
                    .collect(),
            })
            .collect(),
        counterexamples: &m.counterexamples,
    };
    serde_json::to_string_pretty(&j).expect("the matrix serializes") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn cell(scenario: &str, policy: &str, executions: usize, bad: Option<usize>) -> Cell {
        Cell {
            scenario: scenario.to_string(),
            path: format!("scenarios/{scenario}.toml"),
            policy: policy.to_string(),
            executions,
            sequential: executions == 1,
            outcomes: vec!["c1=ok 32768 | violated: ".to_string()],
            failed_starts: if bad.is_some() {
                vec![("c2".to_string(), 1)]
            } else {
                vec![]
            },
            verdicts: Property::ALL
                .iter()
                .map(|&p| {
                    let v = match bad {
                        Some(n) if p == Property::Convergence => {
                            CellVerdict::Violated { counterexample: n }
                        }
                        _ => CellVerdict::Holds,
                    };
                    (p, v)
                })
                .collect(),
        }
    }

    /// Two scenarios (one with a `|` in its name) under two policies, one
    /// cell violated.
    fn sample() -> Matrix {
        Matrix {
            engine: "pct depth 3 seed 0".to_string(),
            iterations: 50,
            seed: 0,
            out: PathBuf::from("out"),
            policies: vec!["p-one".to_string(), "p-two".to_string()],
            scenarios: vec![
                ("alpha".to_string(), "scenarios/alpha.toml".to_string()),
                ("b|eta".to_string(), "scenarios/b|eta.toml".to_string()),
            ],
            cells: vec![
                cell("alpha", "p-one", 3, Some(1)),
                cell("alpha", "p-two", 50, None),
                cell("b|eta", "p-one", 1, None),
                cell("b|eta", "p-two", 1, None),
            ],
            counterexamples: vec![Counterexample {
                number: 1,
                scenario: "alpha".to_string(),
                policy: "p-one".to_string(),
                property: Property::Convergence,
                execution: 3,
                evidence: "step 7: c2's -p group failed although port 32770 was free".to_string(),
                preemptions: 1,
                steps: 12,
                file: PathBuf::from("out/alpha-p-one-convergence.schedule"),
                replay: "portsim run scenarios/alpha.toml --policy p-one --schedule out/alpha-p-one-convergence.schedule".to_string(),
                body: String::new(),
                story: "d1 starts web first.".to_string(),
                mermaid: "sequenceDiagram\n    d1->>kernel: bind\n".to_string(),
            }],
            interrupted: false,
        }
    }

    #[test]
    fn markdown_folds_each_story_and_diagram_under_its_replay_command() {
        let md = markdown(&sample());
        let replay = md.find("   `portsim run scenarios/alpha.toml").unwrap();
        let details = md
            .find("   <details><summary>story and diagram</summary>")
            .unwrap();
        assert!(replay < details, "{md}");
        assert!(md.contains("   d1 starts web first.\n"), "{md}");
        assert!(
            md.contains("   ```mermaid\n   sequenceDiagram\n       d1->>kernel: bind\n   ```\n\n   </details>\n"),
            "{md}"
        );
    }

    #[test]
    fn an_interrupted_matrix_marks_the_cells_not_reached() {
        let mut m = sample();
        let total = m.scenarios.len() * m.policies.len();
        m.cells.truncate(1);
        m.interrupted = true;
        let t = text(&m);
        assert_eq!(t.matches("not explored").count(), total - 1 + 1, "{t}");
        assert!(t.contains("interrupted (Ctrl-C)"), "{t}");
        let md = markdown(&m);
        assert_eq!(md.matches("not explored").count(), total - 1 + 1, "{md}");
        let v: serde_json::Value = serde_json::from_str(&json(&m)).unwrap();
        assert_eq!(v["interrupted"], true);
        let v: serde_json::Value = serde_json::from_str(&json(&sample())).unwrap();
        assert!(v.get("interrupted").is_none(), "absent unless interrupted");
    }

    #[test]
    fn aligned_pads_every_column_to_its_widest_cell() {
        let rows = vec![
            vec!["a".to_string(), "bb".to_string(), "c".to_string()],
            vec!["dddd".to_string(), "e".to_string(), "".to_string()],
        ];
        assert_eq!(aligned(&rows), "a     bb  c\ndddd  e\n");
        // Width counts characters, not bytes.
        let rows = vec![
            vec!["é".to_string(), "x".to_string()],
            vec!["ab".to_string(), "y".to_string()],
        ];
        assert_eq!(aligned(&rows), "é   x\nab  y\n");
    }

    #[test]
    fn text_lines_up_and_names_the_replay_command() {
        let t = text(&sample());
        let lines: Vec<&str> = t.lines().collect();
        let header = lines
            .iter()
            .position(|l| l.starts_with("scenario"))
            .unwrap();
        let col = lines[header].find("convergence").unwrap();
        for l in &lines[header + 1..header + 5] {
            let v = &l[col..];
            assert!(
                v.starts_with("holds") || v.starts_with("VIOLATED [1]"),
                "{l}"
            );
        }
        assert!(lines[header + 1].contains("c2 1/3"), "{t}");
        assert!(t.contains(
            "4 cells: 3 hold every property, 1 violates at least one (1 counterexample)"
        ));
        assert!(t.contains(
            "[1] alpha under p-one violates convergence (execution 3 of 3; minimized: 1 preemption, 12 steps)"
        ));
        assert!(t.contains("    replay: portsim run scenarios/alpha.toml --policy p-one --schedule out/alpha-p-one-convergence.schedule\n"));
        assert!(!t.lines().any(|l| l.ends_with(' ')), "no trailing spaces");
    }

    #[test]
    fn markdown_is_one_table_with_a_column_per_policy() {
        let md = markdown(&sample());
        let table: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(table.len(), 4, "{md}");
        assert_eq!(table[0], "| scenario | `p-one` | `p-two` |");
        assert_eq!(table[1], "| --- | --- | --- |");
        // Every row has as many cells as the header: the `|` in a name is
        // escaped.
        for row in &table {
            let cells = row.replace("\\|", "").matches('|').count();
            assert_eq!(cells, 4, "{row}");
        }
        assert!(table[2].starts_with("| `alpha` | violated: **convergence** [1]<br>failed: c2 1/3; 1 outcome | holds (50 ex.)<br>starts ok; 1 outcome |"), "{}", table[2]);
        assert!(
            table[3].starts_with("| `b\\|eta` | holds (sequential, 1 ex.)"),
            "{}",
            table[3]
        );
        assert!(md.contains(
            "1. alpha under p-one violates convergence (execution 3 of 3; minimized: 1 preemption, 12 steps): step 7: c2's -p group failed although port 32770 was free<br>\n   `portsim run scenarios/alpha.toml --policy p-one --schedule out/alpha-p-one-convergence.schedule`\n"
        ), "{md}");
    }

    #[test]
    fn markdown_escapes_what_file_content_can_hold() {
        assert_eq!(md_text("a_b*c<d>|e\nf"), "a\\_b\\*c\\<d\\>\\|e f");
        assert_eq!(md_code("x-y"), "`x-y`");
        assert_eq!(md_code("x`y"), "x\\`y");
        assert_eq!(md_cell("`a|b`"), "`a\\|b`");
    }

    #[test]
    fn json_has_a_format_version_and_every_verdict() {
        let v: serde_json::Value = serde_json::from_str(&json(&sample())).unwrap();
        assert_eq!(v["format_version"], FORMAT_VERSION);
        assert_eq!(v["holds"], false);
        assert_eq!(v["cells"].as_array().unwrap().len(), 4);
        let c0 = &v["cells"][0];
        assert_eq!(c0["holds"], false);
        assert_eq!(c0["failed_starts"][0]["container"], "c2");
        let conv = c0["properties"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["property"] == "convergence")
            .unwrap();
        assert_eq!(conv["holds"], false);
        assert_eq!(conv["counterexample"], 1);
        assert_eq!(v["counterexamples"][0]["property"], "convergence");
        assert!(
            v["counterexamples"][0]["replay"]
                .as_str()
                .unwrap()
                .starts_with("portsim run ")
        );
        assert_eq!(v["cells"][1]["properties"].as_array().unwrap().len(), 5);
    }
}
