//! A run's scenario: the base text with the run's values, name and seed spliced in, then
//! validated. A validation error is reported where its cause was written: at the swept
//! value in the sweep file (naming the axis), or at the base file's own line and column.

use super::base::SET_PER_RUN;
use super::expand::{Assignment, Run, Sweep};
use super::splice::{splice, Edit, Origin, Spliced};
use super::target::Target;
use crate::scenario::config::Scenario;
use crate::scenario::error::{ConfigError, Source};
use crate::scenario::{load_str, Library};
use std::path::{Path, PathBuf};
use toml::Value;

/// Loads and validates run `run` of `sweep`, with model directories `models` (and the
/// base's own `models/` for a base on disk).
pub fn load(sweep: &Sweep, run: &Run, models: &[PathBuf]) -> Result<Scenario, ConfigError> {
    let text = RunText::new(sweep, run);
    // A built-in base resolves relative paths like `capsim run` without a file does.
    let base_dir = match sweep.base_path.parent() {
        Some(d) if !sweep.embedded => d,
        _ => Path::new("."),
    };
    let mut lib = Library::new(models.to_vec());
    if !sweep.embedded {
        lib = lib.with_scenario_dir(base_dir);
    }
    load_str(&sweep.base.file, &text.spliced.text, base_dir, &lib).map_err(|e| text.locate(e))
}

/// A run's scenario text, and what is needed to trace an error in it to its cause.
struct RunText<'a> {
    sweep: &'a Sweep,
    run: &'a Run,
    /// The swept values that were spliced in, edit by edit.
    swept: Vec<(&'a Assignment, &'a Target)>,
    /// The run's name and seed (in [`SET_PER_RUN`] order), the edits after the swept
    /// ones.
    per_run: [(&'static str, Value); 2],
    spliced: Spliced,
}

impl<'a> RunText<'a> {
    fn new(sweep: &'a Sweep, run: &'a Run) -> Self {
        let base = &sweep.base;
        // An axis on `name` or `seed` has no target: the run's own value overrides it.
        let swept: Vec<(&Assignment, &Target)> = run
            .assignments
            .iter()
            .filter_map(|a| base.target(&a.path).map(|t| (a, t)))
            .collect();
        let per_run = [
            (
                SET_PER_RUN[0],
                Value::String(format!("{}-{}", sweep.name, run.id)),
            ),
            (SET_PER_RUN[1], Value::Integer(run.seed as i64)),
        ];
        let mut edits: Vec<Edit> = swept
            .iter()
            .map(|(a, t)| Edit {
                target: t,
                value: a.value.to_string(),
            })
            .collect();
        for ((_, value), target) in per_run.iter().zip([&base.name_at, &base.seed_at]) {
            edits.push(Edit {
                target,
                value: value.to_string(),
            });
        }
        let spliced = splice(&base.text, &edits);
        RunText {
            sweep,
            run,
            swept,
            per_run,
            spliced,
        }
    }

    /// `e` (found in the spliced text) reported where its cause was written.
    fn locate(&self, e: ConfigError) -> ConfigError {
        if e.file != self.sweep.base.file {
            // About another file (a model, a trace): its position is its own.
            return e;
        }
        let origin = match e.line {
            0 => None,
            line => self
                .spliced
                .offset_of(line, e.column)
                .map(|o| self.spliced.origin(o)),
        };
        if let Some(Origin::Edit(i)) = origin {
            return match self.swept.get(i) {
                Some((a, _)) => self.axis(a, e),
                None => self.set_per_run(i - self.swept.len(), e),
            };
        }
        // An error about a swept field reported away from its value.
        if let Some((a, _)) = self.swept.iter().find(|(a, _)| names(&e.field, &a.path)) {
            return self.axis(a, e);
        }
        match origin {
            Some(Origin::Base(o)) => {
                let src = Source {
                    name: &e.file,
                    text: &self.sweep.base.text,
                };
                let (line, column) = src.line_col(o);
                ConfigError { line, column, ..e }
            }
            // About the file as a whole (or about the name or seed the sweep set).
            _ => match SET_PER_RUN.iter().position(|k| names(&e.field, k)) {
                Some(k) => self.set_per_run(k, e),
                None => e,
            },
        }
    }

    /// `sweeps/x.toml:9:20: axis policy.cap = "ninety": <the validator's message>`.
    fn axis(&self, a: &Assignment, e: ConfigError) -> ConfigError {
        let field = if e.field.is_empty() || e.field == a.path {
            String::new()
        } else {
            format!("field `{}`: ", e.field)
        };
        ConfigError {
            file: self.sweep.file.clone(),
            line: a.line,
            column: a.column,
            field: String::new(),
            message: format!("axis {} = {}: {field}{}", a.path, a.value, e.message),
        }
    }

    /// An error in the name or seed the sweep set (written nowhere by the user).
    fn set_per_run(&self, k: usize, e: ConfigError) -> ConfigError {
        let (key, value) = &self.per_run[k];
        ConfigError {
            line: 0,
            column: 0,
            field: key.to_string(),
            message: format!(
                "{} (the sweep sets `{key}` = {value} for run {})",
                e.message, self.run.id
            ),
            ..e
        }
    }
}

/// Whether error field `field` (`policy.cap`, `pdus[2].rating`) is `path` or inside it.
fn names(field: &str, path: &str) -> bool {
    field
        .strip_prefix(path)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sweep over a base with neither `name` nor `seed` (so both are written first).
    fn sweep(tag: &str) -> (std::path::PathBuf, Sweep) {
        let d = std::env::temp_dir().join(format!("capsim-load-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("base.toml"),
            "duration = \"60s\"\n[policy]\nkind = \"none\"\n",
        )
        .unwrap();
        std::fs::write(
            d.join("s.toml"),
            "base = \"base.toml\"\n[[grid]]\npath = \"policy.gain\"\nvalues = [0.5]\n",
        )
        .unwrap();
        let s = super::super::expand::expand(&d.join("s.toml")).unwrap();
        (d, s)
    }

    fn at(file: &str, line: usize, column: usize, field: &str) -> ConfigError {
        ConfigError {
            file: file.into(),
            line,
            column,
            field: field.into(),
            message: "bad".into(),
        }
    }

    #[test]
    fn errors_are_traced_to_the_axis_the_base_or_the_values_the_sweep_sets() {
        let (d, sw) = sweep("trace");
        let run = &sw.runs[0];
        let t = RunText::new(&sw, run);
        let name = format!("{}-{}", sw.name, run.id);
        assert_eq!(
            t.spliced.text,
            format!(
                "name = \"{name}\"\nseed = {}\nduration = \"60s\"\n[policy]\ngain = 0.5\nkind = \"none\"\n",
                run.seed
            )
        );
        let base = sw.base.file.as_str();
        let msg = |e: ConfigError| e.to_string();
        // Spliced line 5 is the inserted `gain = 0.5`: the axis, at line 4 column 11
        // of the sweep file (`values = [0.5]`).
        assert_eq!(
            msg(t.locate(at(base, 5, 8, "policy.gain"))),
            format!("{}:4:11: axis policy.gain = 0.5: bad", sw.file)
        );
        // Spliced line 6 `kind = "none"` is base line 3.
        assert_eq!(
            msg(t.locate(at(base, 6, 8, "policy.kind"))),
            format!("{base}:3:8: field `policy.kind`: bad")
        );
        // Spliced lines 1 and 2 exist nowhere in the base: no position.
        assert_eq!(
            msg(t.locate(at(base, 2, 8, "seed"))),
            format!(
                "{base}: field `seed`: bad (the sweep sets `seed` = {} for run {})",
                run.seed, run.id
            )
        );
        assert_eq!(
            msg(t.locate(at(base, 0, 0, "name"))),
            format!(
                "{base}: field `name`: bad (the sweep sets `name` = \"{name}\" for run {})",
                run.id
            )
        );
        // A whole-file error about the swept field goes to the axis; another file's
        // error is left alone.
        assert!(msg(t.locate(at(base, 0, 0, "policy.gain"))).contains("axis policy.gain = 0.5"));
        assert_eq!(
            msg(t.locate(at("m.toml", 5, 8, "x"))),
            "m.toml:5:8: field `x`: bad"
        );
        let _ = std::fs::remove_dir_all(&d);
    }
}
