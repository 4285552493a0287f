//! TOML scenario files -> [`Scenario`], with `file:line:column` errors.

use super::Scenario;
use std::fmt;
use std::path::Path;

/// A bad scenario file: where, and what was expected there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

impl std::error::Error for ScenarioError {}

/// Read and validate a scenario file.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: file.clone(),
        line: 0,
        column: 0,
        message: format!("cannot read file: {e}"),
    })?;
    parse_str(&file, &text)
}

/// Parse and validate scenario text; `file` is used in error messages.
pub fn parse_str(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
    let _ = text;
    Err(ScenarioError {
        file: file.to_string(),
        line: 1,
        column: 1,
        message: "not implemented".into(),
    })
}
