//! What one run tells the user: the trace, each start's outcome in moby's
//! words, each property's verdict, and whether the scenario's expectations
//! for the policy were met. Rendered as stable text, JSON, a Mermaid
//! sequence diagram ([`mermaid`]) or a Markdown block for a pull-request
//! comment ([`markdown`]); a violation also gets its story ([`story`]).

pub mod events;
pub mod markdown;
pub mod mermaid;
pub mod story;

use crate::check::{Property, Violation};
use crate::scenario::{ExpectStart, Verdict};
use crate::trace::Event;
use crate::world::{StartOutcome, World};
use serde::Serialize;

/// A property's verdict in one run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PropertyVerdict {
    pub property: Property,
    pub holds: bool,
    /// The first violation, if any.
    pub violation: Option<Violation>,
}

/// The version of every JSON document `portsim` prints (`run`, `check`
/// and errors under `--format json`). Raised when a field is renamed or
/// removed or changes meaning; new fields may appear without a raise.
pub const FORMAT_VERSION: u32 = 1;

/// Everything one run produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RunReport {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    pub scenario: String,
    pub policy: String,
    pub engine: String,
    pub kernel: String,
    /// How the interleaving was chosen: `seed 0`, `schedule FILE`, ...
    pub schedule: String,
    pub trace: Vec<Event>,
    pub starts: Vec<StartOutcome>,
    pub properties: Vec<PropertyVerdict>,
    /// Mismatches against the scenario's `[expect.POLICY]` (None: no
    /// expectations for this policy).
    pub expectations: Option<Vec<String>>,
    /// Items the checkers read during the run ([`crate::check::Checker::work`]):
    /// a deterministic cost measure, not part of the printed report.
    #[serde(skip)]
    pub checker_work: u64,
    /// The story of the first violation, if any ([`story::story`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub story: Option<String>,
}

impl RunReport {
    /// Collect the report from a finished world.
    pub fn from_world(w: &World, engine: &str, kernel: &str, schedule: &str) -> RunReport {
        let starts: Vec<StartOutcome> = crate::sync::state(&w.outcomes)
            .iter()
            .flatten()
            .cloned()
            .collect();
        let checker = crate::check::Checker::of(w);
        let properties: Vec<PropertyVerdict> = checker
            .map(crate::check::Checker::verdicts)
            .unwrap_or_else(|| crate::check::Property::ALL.map(|p| (p, None)).to_vec())
            .into_iter()
            .map(|(property, violation)| PropertyVerdict {
                property,
                holds: violation.is_none(),
                violation,
            })
            .collect();
        let expectations = w.scenario.expect.get(w.policy.name()).map(|e| {
            let mut miss = Vec::new();
            for (name, want) in &e.starts {
                let got = starts.iter().find(|s| &s.container == name);
                if let Some(m) = start_mismatch(name, want, got) {
                    miss.push(m);
                }
            }
            for (name, want) in &e.properties {
                if let Some(pv) = properties.iter().find(|p| p.property.name() == name) {
                    let got = if pv.holds {
                        Verdict::Holds
                    } else {
                        Verdict::Violated
                    };
                    if got != *want {
                        miss.push(format!(
                            "{name}: expected {}, got {}",
                            verdict_word(*want),
                            verdict_word(got)
                        ));
                    }
                }
            }
            miss
        });
        let mut r = RunReport {
            format_version: FORMAT_VERSION,
            scenario: w.scenario.name.clone(),
            policy: w.policy.name().to_string(),
            engine: engine.to_string(),
            kernel: kernel.to_string(),
            schedule: schedule.to_string(),
            trace: w.trace.events(),
            starts,
            properties,
            expectations,
            checker_work: checker.map_or(0, crate::check::Checker::work),
            story: None,
        };
        r.story = r.story_of_first().map(|s| s.text());
        r
    }

    /// The violation of the first violated property, in property order
    /// (the one an exploration reports).
    pub fn first_violation(&self) -> Option<&Violation> {
        self.properties.iter().find_map(|p| p.violation.as_ref())
    }

    /// The violation of `property`, if it was violated.
    pub fn violation_of(&self, property: Property) -> Option<&Violation> {
        self.properties
            .iter()
            .find(|p| p.property == property)
            .and_then(|p| p.violation.as_ref())
    }

    /// The story of the first violation.
    pub fn story_of_first(&self) -> Option<story::Story> {
        self.first_violation().map(|v| story::story(&self.trace, v))
    }

    /// The trace as a Mermaid sequence diagram, marking `violation` (and
    /// the steps its story cites), or the first violation when None.
    pub fn mermaid(&self, violation: Option<&Violation>) -> String {
        let v = violation.or(self.first_violation());
        let cited = v.map(|v| story::story(&self.trace, v).cited);
        let title = format!("{} under {}, {}", self.scenario, self.policy, self.schedule);
        mermaid::diagram(
            &self.trace,
            &title,
            mermaid::Marks {
                violation: v,
                cited: cited.as_ref(),
            },
        )
    }

    /// Some property was violated.
    pub fn violated(&self) -> bool {
        self.properties.iter().any(|p| !p.holds)
    }

    /// The trace alone, one line per event.
    pub fn trace_text(&self) -> String {
        self.trace.iter().map(|e| e.line() + "\n").collect()
    }

    /// The whole report as stable text.
    pub fn text(&self) -> String {
        let mut s = format!(
            "scenario {} | policy {} | engine {} | kernel {} | {}\n\ntrace:\n",
            self.scenario, self.policy, self.engine, self.kernel, self.schedule
        );
        s.push_str(&self.trace_text());
        s.push_str("\nstarts:\n");
        for o in &self.starts {
            s.push_str(&format!("  {:<6} {}\n", o.container, o.summary()));
        }
        s.push_str("\nproperties:\n");
        for p in &self.properties {
            match &p.violation {
                None => s.push_str(&format!("  {:<22} holds\n", p.property.name())),
                Some(v) => s.push_str(&format!(
                    "  {:<22} VIOLATED at step {}: {}\n",
                    p.property.name(),
                    v.step,
                    v.message
                )),
            }
        }
        match &self.expectations {
            None => {}
            Some(m) if m.is_empty() => {
                s.push_str(&format!("\nexpectations for {}: all met\n", self.policy))
            }
            Some(m) => {
                s.push_str(&format!(
                    "\nexpectations for {}: {} NOT met\n",
                    self.policy,
                    m.len()
                ));
                for x in m {
                    s.push_str(&format!("  {x}\n"));
                }
            }
        }
        s
    }

    /// This run's outcomes as an `[expect.POLICY]` table to paste into the
    /// scenario file (what `portsim run --format expect` prints): each
    /// start's exact outcome and each property's verdict.
    pub fn expect_table(&self) -> String {
        let quote = |s: &str| toml::Value::String(s.to_string()).to_string();
        let starts: Vec<String> = self
            .starts
            .iter()
            .map(|o| {
                let v = match &o.error {
                    None if o.ok => format!(
                        "ok {}",
                        o.ports
                            .iter()
                            .map(u16::to_string)
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                    None => "error".to_string(),
                    Some(e) => format!("error: {e}"),
                };
                format!("{} = {}", o.container, quote(&v))
            })
            .collect();
        let properties: Vec<String> = self
            .properties
            .iter()
            .map(|p| {
                format!(
                    "{} = {}",
                    p.property.name(),
                    quote(if p.holds { "holds" } else { "violated" })
                )
            })
            .collect();
        format!(
            "[expect.{}]\nstarts = {{ {} }}\nproperties = {{ {} }}\n",
            self.policy,
            starts.join(", "),
            properties.join(", ")
        )
    }

    /// The whole report as pretty JSON (same content as [`RunReport::text`]).
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serializes") + "\n"
    }
}

/// A PCT guarantee (see `cli::pct_bound`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PctBound {
    pub depth: usize,
    pub threads: usize,
    pub steps: usize,
    /// Lower bound on the chance that one execution finds a given bug of
    /// depth <= `depth` (0 when it underflows a double).
    pub per_execution: f64,
    /// Upper bound on the chance that every execution missed it.
    pub missed: f64,
}

/// The JSON document of an error under `--format json`.
pub fn error_json(message: &str, exit: u8) -> String {
    serde_json::to_string(&serde_json::json!({
        "format_version": FORMAT_VERSION,
        "error": message,
        "exit": exit,
    }))
    .expect("error serializes")
        + "\n"
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Holds => "holds",
        Verdict::Violated => "violated",
    }
}

fn start_mismatch(name: &str, want: &ExpectStart, got: Option<&StartOutcome>) -> Option<String> {
    let Some(got) = got else {
        return Some(format!("{name}: expected a start, but it never ran"));
    };
    let ok = match want {
        ExpectStart::Ok(None) => got.ok,
        ExpectStart::Ok(Some(ports)) => got.ok && &got.ports == ports,
        ExpectStart::Err(None) => !got.ok,
        ExpectStart::Err(Some(t)) => got.error.as_deref() == Some(t.as_str()),
    };
    if ok {
        return None;
    }
    let want_s = match want {
        ExpectStart::Ok(None) => "ok".to_string(),
        ExpectStart::Ok(Some(p)) => {
            format!(
                "ok {}",
                p.iter().map(u16::to_string).collect::<Vec<_>>().join(",")
            )
        }
        ExpectStart::Err(None) => "error".to_string(),
        ExpectStart::Err(Some(t)) => format!("error: {t}"),
    };
    Some(format!("{name}: expected {want_s}, got {}", got.summary()))
}
