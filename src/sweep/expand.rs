//! Sweep files and their expansion into runs.

use crate::engine::rng::stream_seed;
use crate::scenario::error::{ConfigError, Source};
use crate::scenario::library::embedded_file;
use serde::Deserialize;
use std::path::{Component, Path, PathBuf};
use toml::Value;

/// A sweep file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepFile {
    /// Sweep name (default: the file stem).
    name: Option<String>,
    /// The base scenario, relative to the sweep file.
    base: String,
    /// Replicates of every point (default 1).
    #[serde(default = "one")]
    replicates: u32,
    /// Grid axes: every combination of their values.
    #[serde(default)]
    grid: Vec<GridAxis>,
    /// Zipped axes: several paths varied together, one value tuple per step.
    #[serde(default)]
    zip: Vec<ZipAxis>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GridAxis {
    /// Dotted field path in the scenario (`policy.kind`, `datacenter.oversubscription`).
    path: String,
    /// Values, in the scenario's own notation ("90%", 2.0, "migration").
    values: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ZipAxis {
    /// Paths varied together.
    paths: Vec<String>,
    /// One tuple per step, as long as `paths`.
    values: Vec<Vec<Value>>,
}

/// An expanded sweep.
#[derive(Clone, Debug)]
pub struct Sweep {
    /// Sweep name.
    pub name: String,
    /// The base scenario file (for a built-in sweep, its path inside the binary,
    /// `scenarios/datacenter/small.toml`).
    pub base_path: PathBuf,
    /// Whether the sweep and its base are the copies built into the binary.
    pub embedded: bool,
    /// The base scenario's text, parsed.
    pub base: toml::Table,
    /// The swept paths, in file order (grid axes, then zipped ones).
    pub paths: Vec<String>,
    /// Every run, in expansion order.
    pub runs: Vec<Run>,
}

/// One run of a sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    /// Stable id: a hash of the sorted assignments and the replicate, so adding,
    /// removing or reordering other axes or fields does not change it.
    pub id: String,
    /// (path, value) assignments, in `Sweep::paths` order.
    pub assignments: Vec<(String, Value)>,
    /// Replicate number.
    pub replicate: u32,
    /// Seed derived from the base seed, the id and the replicate.
    pub seed: u64,
}

/// A value as written in `runs.csv` and hashed into ids.
pub fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Sets `path` (dotted) in `table` to `value`, creating tables on the way.
pub fn set_path(table: &mut toml::Table, path: &str, value: Value) -> Result<(), String> {
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts
        .pop()
        .filter(|l| !l.is_empty())
        .ok_or("an empty path")?;
    let mut t = table;
    for p in parts {
        let entry = t
            .entry(p.to_string())
            .or_insert_with(|| Value::Table(toml::Table::new()));
        t = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{p}` in `{path}` is not a table"))?;
    }
    t.insert(last.to_string(), value);
    Ok(())
}

/// Reads and expands a sweep file.
pub fn expand(path: &Path) -> Result<Sweep, ConfigError> {
    let file = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|e| whole(&file, format!("cannot read: {e}")))?;
    expand_text(path, &text, false)
}

/// Expands a sweep built into the binary, by its path relative to the crate root
/// (`scenarios/sweeps/capping-policies.toml`); its base is the built-in copy too.
pub fn expand_embedded(rel: &str) -> Result<Sweep, ConfigError> {
    let text = embedded_file(rel)
        .ok_or_else(|| whole(rel, "no such sweep is built into capsim".into()))?;
    expand_text(Path::new(rel), text, true)
}

fn whole(file: &str, message: String) -> ConfigError {
    ConfigError {
        file: file.to_string(),
        line: 0,
        column: 0,
        field: String::new(),
        message,
    }
}

/// `a/b/../c` → `a/c`: built-in files are looked up by normalised relative path.
fn normalise(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn expand_text(path: &Path, text: &str, embedded: bool) -> Result<Sweep, ConfigError> {
    let file = if embedded {
        format!("{} (built-in)", path.display())
    } else {
        path.display().to_string()
    };
    let whole = |msg: String| whole(&file, msg);
    let src = Source { name: &file, text };
    let f: SweepFile = crate::scenario::validate::parse(&src)?;
    let mut base_path = path.parent().unwrap_or(Path::new(".")).join(&f.base);
    let base_text = if embedded {
        base_path = normalise(&base_path);
        embedded_file(&base_path.to_string_lossy())
            .map(str::to_string)
            .ok_or_else(|| {
                whole(format!(
                    "base scenario {} is not built in",
                    base_path.display()
                ))
            })?
    } else {
        std::fs::read_to_string(&base_path)
            .map_err(|e| whole(format!("base scenario {}: {e}", base_path.display())))?
    };
    let base: toml::Table = toml::from_str(&base_text).map_err(|e| {
        Source {
            name: &base_path.display().to_string(),
            text: &base_text,
        }
        .from_toml(&e)
    })?;
    let base_seed = base.get("seed").and_then(Value::as_integer).unwrap_or(1) as u64;
    if f.replicates == 0 {
        return Err(whole("`replicates` must be at least 1".into()));
    }
    // Axes as lists of steps; each step a list of assignments.
    let mut axes: Vec<Vec<Vec<(String, Value)>>> = Vec::new();
    let mut paths = Vec::new();
    for g in &f.grid {
        if g.values.is_empty() {
            return Err(whole(format!("grid axis `{}` has no values", g.path)));
        }
        paths.push(g.path.clone());
        axes.push(
            g.values
                .iter()
                .map(|v| vec![(g.path.clone(), v.clone())])
                .collect(),
        );
    }
    for z in &f.zip {
        if z.values.is_empty() || z.values.iter().any(|t| t.len() != z.paths.len()) {
            return Err(whole(format!(
                "zipped axis {:?}: every value tuple needs {} values",
                z.paths,
                z.paths.len()
            )));
        }
        paths.extend(z.paths.iter().cloned());
        axes.push(
            z.values
                .iter()
                .map(|t| z.paths.iter().cloned().zip(t.iter().cloned()).collect())
                .collect(),
        );
    }
    let mut dup = paths.clone();
    dup.sort();
    dup.dedup();
    if dup.len() != paths.len() {
        return Err(whole("a path appears in more than one axis".into()));
    }
    // The cartesian product, first axis slowest.
    let mut points: Vec<Vec<(String, Value)>> = vec![Vec::new()];
    for axis in &axes {
        let mut next = Vec::with_capacity(points.len() * axis.len());
        for p in &points {
            for step in axis {
                let mut q = p.clone();
                q.extend(step.iter().cloned());
                next.push(q);
            }
        }
        points = next;
    }
    let mut runs = Vec::new();
    for point in points {
        // Validate the paths against the base once per point.
        let mut probe = base.clone();
        for (p, v) in &point {
            set_path(&mut probe, p, v.clone()).map_err(|m| whole(format!("path `{p}`: {m}")))?;
        }
        let mut key: Vec<String> = point
            .iter()
            .map(|(p, v)| format!("{p}={}", show(v)))
            .collect();
        key.sort();
        for replicate in 0..f.replicates {
            let canon = format!("{}#{replicate}", key.join(";"));
            // Well-mixed (SplitMix over FNV-1a) so similar points get unrelated ids.
            let id = format!("{:012x}", stream_seed(0, 0, &canon) & 0xffff_ffff_ffff);
            runs.push(Run {
                id,
                assignments: point.clone(),
                replicate,
                // 63 bits: scenario seeds are TOML integers (signed 64-bit).
                seed: stream_seed(base_seed, replicate, &canon) & (i64::MAX as u64),
            });
        }
    }
    let name = f.name.unwrap_or_else(|| {
        path.file_stem()
            .map_or("sweep".into(), |s| s.to_string_lossy().into_owned())
    });
    Ok(Sweep {
        name,
        base_path,
        embedded,
        base,
        paths,
        runs,
    })
}
