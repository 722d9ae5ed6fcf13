//! A sweep's base scenario: its text as the user wrote it, the seed it sets, and where
//! each swept path (and the `name` and `seed` the sweep sets per run) goes in it.

use super::target::{resolve, Target};
use crate::scenario::error::{ConfigError, Source};
use toml_edit::{ImDocument, Item};

/// The base scenario of a sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct Base {
    /// Name shown in errors: the path, with "(built-in)" for the copy in the binary.
    pub file: String,
    /// The text as written.
    pub text: String,
    /// The base's `seed` (default 1), which every run's seed is derived from.
    pub seed: u64,
    /// Where each swept path's value goes, in `Sweep::paths` order (an axis on `name`
    /// or `seed` has none: the run's own value overrides it).
    pub targets: Vec<(String, Target)>,
    /// Where the run's `name` goes.
    pub name_at: Target,
    /// Where the run's `seed` goes.
    pub seed_at: Target,
}

/// Keys every run sets itself: an axis on one of them is overridden (as it always was),
/// and a path inside one cannot be set.
pub const SET_PER_RUN: [&str; 2] = ["name", "seed"];

impl Base {
    /// Parses the base text (a TOML syntax error is reported at its position).
    pub fn parse(file: String, text: String) -> Result<Base, ConfigError> {
        let src = Source {
            name: &file,
            text: &text,
        };
        // The toml crate's message, as `capsim run` gives it for the same file.
        toml::from_str::<toml::Table>(&text).map_err(|e| src.from_toml(&e))?;
        let doc = ImDocument::parse(text.as_str())
            .map_err(|e| src.error(e.span().unwrap_or(0..0), "", e.message()))?;
        let seed = doc
            .as_table()
            .get("seed")
            .and_then(Item::as_integer)
            .unwrap_or(1) as u64;
        let per_run = |key: &str| {
            resolve(&doc, key).map_err(|m| {
                src.error(
                    0..0,
                    key,
                    format!("{m}; the sweep sets `{key}` for every run"),
                )
            })
        };
        let (name_at, seed_at) = (per_run("name")?, per_run("seed")?);
        Ok(Base {
            file,
            text,
            seed,
            targets: Vec::new(),
            name_at,
            seed_at,
        })
    }

    /// Finds where `path` goes and records it; the error says why it cannot be set.
    pub fn add_path(&mut self, path: &str) -> Result<(), String> {
        if let Some(k) = SET_PER_RUN
            .iter()
            .find(|k| path.strip_prefix(**k).is_some_and(|r| r.starts_with('.')))
        {
            return Err(format!(
                "the sweep sets `{k}` for every run, so nothing inside it can be swept"
            ));
        }
        if let Some((p, _)) = self
            .targets
            .iter()
            .find(|(p, _)| inside(path, p) || inside(p, path))
        {
            return Err(format!(
                "it overlaps axis {p}: one path lies inside the other"
            ));
        }
        if SET_PER_RUN.contains(&path) {
            // Overridden by the run's own value: nothing to resolve.
            return Ok(());
        }
        let doc = ImDocument::parse(self.text.as_str()).map_err(|e| e.message().to_string())?;
        let target = resolve(&doc, path)?;
        self.targets.push((path.to_string(), target));
        Ok(())
    }

    /// Where `path` goes, if it was added.
    pub fn target(&self, path: &str) -> Option<&Target> {
        self.targets.iter().find(|(p, _)| p == path).map(|(_, t)| t)
    }
}

/// Whether dotted path `inner` lies inside (or is) `outer`.
fn inside(inner: &str, outer: &str) -> bool {
    inner
        .strip_prefix(outer)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}
