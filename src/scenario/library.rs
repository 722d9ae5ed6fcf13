//! The model library: `models/<kind>/<name>.toml`, looked up by name.
//!
//! Search order: directories given by the user (`--models`), then the nearest `models/`
//! directory at or above the scenario file, then the copy built into the binary. The
//! built-in copy makes `capsim run` work from any directory.

use super::error::ConfigError;
use std::path::{Path, PathBuf};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// A model file found in the library.
pub struct ModelText {
    /// Name for error messages: a path, or `models/… (built-in)`.
    pub origin: String,
    /// The file's text.
    pub text: String,
}

/// Where model files are looked up.
#[derive(Clone, Debug, Default)]
pub struct Library {
    dirs: Vec<PathBuf>,
}

impl Library {
    /// A library searching `dirs` first, then the built-in models.
    pub fn new(dirs: Vec<PathBuf>) -> Self {
        Library { dirs }
    }

    /// Adds the nearest `models/` directory at or above `scenario_dir`, if any.
    pub fn with_scenario_dir(mut self, scenario_dir: &Path) -> Self {
        let start = scenario_dir
            .canonicalize()
            .unwrap_or_else(|_| scenario_dir.to_path_buf());
        if let Some(d) = start
            .ancestors()
            .map(|a| a.join("models"))
            .find(|m| m.is_dir())
        {
            if !self.dirs.contains(&d) {
                self.dirs.push(d);
            }
        }
        self
    }

    /// Finds `models/<kind>/<name>.toml`: the first library directory holding it, else
    /// the built-in copy. A file there that cannot be read (a FIFO, a directory, over
    /// the size limit) is an error, not skipped.
    pub fn find(&self, kind: &str, name: &str) -> Result<Option<ModelText>, ConfigError> {
        // Sub-directories are allowed ("spec2000/gap"), escaping the library is not.
        if name.is_empty()
            || name.contains('\\')
            || name.starts_with('/')
            || name.split('/').any(|c| c.is_empty() || c.starts_with('.'))
        {
            return Ok(None);
        }
        for d in &self.dirs {
            let p = d.join(kind).join(format!("{name}.toml"));
            if p.exists() {
                return Ok(Some(ModelText {
                    origin: p.display().to_string(),
                    text: super::input::read_text(&p, "model file")?,
                }));
            }
        }
        let rel = format!("models/{kind}/{name}.toml");
        Ok(embedded_file(&rel).map(|text| ModelText {
            origin: format!("{rel} (built-in)"),
            text: text.to_string(),
        }))
    }

    /// Every model name of `kind` available, sorted, for "valid names are …" messages.
    pub fn names(&self, kind: &str) -> Vec<String> {
        fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
            let Ok(rd) = std::fs::read_dir(dir) else {
                return;
            };
            for e in rd.flatten() {
                let p = e.path();
                let name = e.file_name().to_string_lossy().into_owned();
                if p.is_dir() {
                    walk(&p, &format!("{prefix}{name}/"), out);
                } else if let Some(stem) = name.strip_suffix(".toml") {
                    out.push(format!("{prefix}{stem}"));
                }
            }
        }
        let mut names: Vec<String> = Vec::new();
        for d in &self.dirs {
            walk(&d.join(kind), "", &mut names);
        }
        let prefix = format!("models/{kind}/");
        for (path, _) in embedded::FILES {
            if let Some(rest) = path.strip_prefix(&prefix) {
                if let Some(stem) = rest.strip_suffix(".toml") {
                    names.push(stem.to_string());
                }
            }
        }
        names.sort();
        names.dedup();
        names
    }
}

/// A file built into the binary, by path relative to the crate root
/// (`scenarios/rack/basic.toml`).
pub fn embedded_file(rel: &str) -> Option<&'static str> {
    embedded::FILES
        .iter()
        .find(|(p, _)| *p == rel)
        .map(|(_, t)| *t)
}
