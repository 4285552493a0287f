//! One Markdown block that pastes into a pull-request comment: the
//! headline, the verdicts table, the story, the Mermaid diagram, the
//! replay command, and (folded) the schedule file and the trace.
//!
//! GitHub renders the ```` ```mermaid ```` fence as a diagram and
//! `<details>` as a folded section; everything else is plain Markdown.

use super::RunReport;
use crate::check::{Property, Violation};

/// What `portsim check` found, for [`check`].
pub struct CheckBlock<'a> {
    /// `SCENARIO under POLICY`.
    pub title: String,
    /// The summary lines `check` prints first (found by, minimized from,
    /// PCT bound...).
    pub summary: Vec<String>,
    /// The minimized counterexample and the property it violates.
    pub counterexample: Option<(&'a RunReport, Property)>,
    /// Executions explored (for the verdicts of a clean search).
    pub executions: usize,
    /// `portsim run ... --schedule FILE`.
    pub replay: Option<String>,
    /// The schedule file: its path and body.
    pub schedule: Option<(String, String)>,
}

/// The block for one `check`.
pub fn check(b: &CheckBlock) -> String {
    let mut s = format!("#### portsim check: {}\n\n", b.title);
    for line in &b.summary {
        s.push_str(&format!("{}  \n", inline(line)));
    }
    s.push('\n');
    match b.counterexample {
        None => {
            s.push_str("| property | verdict |\n|---|---|\n");
            for p in Property::ALL {
                s.push_str(&format!(
                    "| {} | holds in all {} executions |\n",
                    p.name(),
                    b.executions
                ));
            }
        }
        Some((r, property)) => {
            s.push_str(&verdicts(r));
            let v = r.violation_of(property);
            if let Some(v) = v {
                s.push_str(&format!(
                    "\n**What happened.** {}\n",
                    super::story::story(&r.trace, v).text()
                ));
            }
            s.push_str(&format!("\n```mermaid\n{}```\n", r.mermaid(v)));
            if let Some(replay) = &b.replay {
                s.push_str(&format!("\nReplay:\n\n```sh\n{replay}\n```\n"));
            }
            if let Some((path, body)) = &b.schedule {
                s.push_str(&details(
                    &format!("schedule file <code>{}</code>", html(path)),
                    "text",
                    body,
                ));
            }
            s.push_str(&details(
                &format!("trace ({} steps)", r.trace.len()),
                "text",
                &r.trace_text(),
            ));
        }
    }
    s
}

/// The verdicts of one run as a table.
pub fn verdicts(r: &RunReport) -> String {
    let mut s = String::from("| property | verdict |\n|---|---|\n");
    for p in &r.properties {
        match &p.violation {
            None => s.push_str(&format!("| {} | holds |\n", p.property.name())),
            Some(Violation { step, message, .. }) => s.push_str(&format!(
                "| {} | **VIOLATED** at step {step}: {} |\n",
                p.property.name(),
                cell(message)
            )),
        }
    }
    s
}

/// A folded section holding a fenced block.
fn details(summary: &str, lang: &str, body: &str) -> String {
    let body = body.trim_end_matches('\n');
    format!("\n<details><summary>{summary}</summary>\n\n```{lang}\n{body}\n```\n\n</details>\n")
}

/// Text in a table cell: no `|`, no line breaks.
fn cell(s: &str) -> String {
    inline(s).replace('|', "\\|")
}

/// Text on one Markdown line: no line breaks; `<` and `>` as entities.
fn inline(s: &str) -> String {
    html(&s.replace('\n', " "))
}

fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_and_lines_are_escaped() {
        assert_eq!(cell("a | b\nc <d>"), "a \\| b c &lt;d&gt;");
        assert_eq!(
            details("x", "text", "l1\nl2\n"),
            "\n<details><summary>x</summary>\n\n```text\nl1\nl2\n```\n\n</details>\n"
        );
    }
}
