//! Utilisation traces in the PlanetLab format: one integer or decimal percent per line.

use super::error::ConfigError;
use std::path::Path;

/// Reads a trace, returning percents in [0, 100]. Blank lines are skipped; anything else
/// that is not a percentage in [0, 100] is an error naming the line.
pub fn read_planetlab(path: &Path) -> Result<Vec<f32>, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: file.clone(),
        line: 0,
        column: 0,
        field: String::new(),
        message: format!("cannot read the trace: {e}"),
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        let bad = |msg: String| ConfigError {
            file: file.clone(),
            line: i + 1,
            column: line.find(t).unwrap_or(0) + 1,
            field: String::new(),
            message: msg,
        };
        let v: f64 = t.parse().map_err(|_| bad(format!("`{t}` is not a number: a PlanetLab trace has one CPU utilisation percent (0-100) per line")))?;
        if !(0.0..=100.0).contains(&v) {
            return Err(bad(format!("{v} is outside 0-100 (percent)")));
        }
        out.push(v as f32);
    }
    if out.is_empty() {
        return Err(ConfigError {
            file,
            line: 0,
            column: 0,
            field: String::new(),
            message: "the trace has no samples".into(),
        });
    }
    Ok(out)
}
