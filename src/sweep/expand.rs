//! Sweep files and their expansion into runs.

use super::base::Base;
use crate::engine::rng::stream_seed;
use crate::scenario::error::{ConfigError, Source};
use crate::scenario::library::embedded_file;
use serde::Deserialize;
use std::path::{Component, Path, PathBuf};
use toml::{Spanned, Value};

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
    path: Spanned<String>,
    /// Values, in the scenario's own notation ("90%", 2.0, "migration").
    values: Vec<Spanned<Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ZipAxis {
    /// Paths varied together.
    paths: Vec<Spanned<String>>,
    /// One tuple per step, as long as `paths`.
    values: Vec<Vec<Spanned<Value>>>,
}

/// An expanded sweep.
#[derive(Clone, Debug)]
pub struct Sweep {
    /// Sweep name.
    pub name: String,
    /// The sweep file's name in errors (its path, with "(built-in)" for the copy in the
    /// binary).
    pub file: String,
    /// The base scenario file (for a built-in sweep, its path inside the binary,
    /// `scenarios/datacenter/small.toml`).
    pub base_path: PathBuf,
    /// Whether the sweep and its base are the copies built into the binary.
    pub embedded: bool,
    /// The base scenario as written, and where each swept path goes in it.
    pub base: Base,
    /// The swept paths, in file order (grid axes, then zipped ones).
    pub paths: Vec<String>,
    /// Every run, in expansion order.
    pub runs: Vec<Run>,
}

/// One swept value of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Assignment {
    /// Dotted field path in the scenario.
    pub path: String,
    /// The value, as the sweep file gives it.
    pub value: Value,
    /// 1-based line of the value in the sweep file.
    pub line: usize,
    /// 1-based column of the value in the sweep file (characters).
    pub column: usize,
}

/// One run of a sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    /// Stable id: a hash of the sorted assignments and the replicate, so adding,
    /// removing or reordering other axes or fields does not change it.
    pub id: String,
    /// The swept values, in `Sweep::paths` order.
    pub assignments: Vec<Assignment>,
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

/// Runs in a sweep at most (points × replicates): each is listed in memory and writes an
/// output directory, and 100,000 one-second runs already take over a day on one core;
/// `replicates = 1000000` aborted while the list was built.
pub const MAX_RUNS: usize = 100_000;

/// Reads and expands a sweep file.
pub fn expand(path: &Path) -> Result<Sweep, ConfigError> {
    // Regular files only, size-limited: /dev/zero as a sweep would be read forever.
    let text = crate::scenario::input::read_text(path, "sweep")?;
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
    let src = Source { name: &file, text };
    let f: SweepFile = crate::scenario::validate::parse(&src)?;
    let (base_path, mut base) = read_base(path, &f.base, embedded, &file)?;
    if f.replicates == 0 {
        return Err(src.at("replicates", "must be at least 1"));
    }
    let (paths, axes) = axes(&f, &src)?;
    let points = axes.iter().try_fold(1usize, |n, a| n.checked_mul(a.len()));
    let total = points.and_then(|p| p.checked_mul(f.replicates as usize));
    if total.is_none_or(|n| n > MAX_RUNS) {
        return Err(src.at(
            "replicates",
            format!(
                "{} points × {} replicates is more than {MAX_RUNS} runs, the most a sweep lists",
                points.map_or("too many".into(), |p| p.to_string()),
                f.replicates
            ),
        ));
    }
    for (p, span) in &paths {
        base.add_path(p)
            .map_err(|m| src.error(span.clone(), "", format!("axis {p}: {m}")))?;
    }
    let runs = runs(product(&axes), f.replicates, base.seed);
    let name = f.name.unwrap_or_else(|| {
        path.file_stem()
            .map_or("sweep".into(), |s| s.to_string_lossy().into_owned())
    });
    Ok(Sweep {
        name,
        file,
        base_path,
        embedded,
        base,
        paths: paths.into_iter().map(|(p, _)| p).collect(),
        runs,
    })
}

/// The base scenario named `rel` in sweep file `path` (shown as `file` in errors).
fn read_base(
    path: &Path,
    rel: &str,
    embedded: bool,
    file: &str,
) -> Result<(PathBuf, Base), ConfigError> {
    let base_path = path.parent().unwrap_or(Path::new(".")).join(rel);
    let (base_path, name, text) = if embedded {
        let p = normalise(&base_path);
        let text = embedded_file(&p.to_string_lossy()).ok_or_else(|| {
            whole(
                file,
                format!("base scenario {} is not built in", p.display()),
            )
        })?;
        let name = format!("{} (built-in)", p.display());
        (p, name, text.to_string())
    } else {
        let text = crate::scenario::input::read_text(&base_path, "base scenario")
            .map_err(|e| whole(file, format!("{e}")))?;
        (base_path.clone(), base_path.display().to_string(), text)
    };
    Ok((base_path, Base::parse(name, text)?))
}

/// One axis: its steps, each a list of assignments.
type Axis = Vec<Vec<Assignment>>;

/// The swept paths, each with its byte span in the sweep file.
type Paths = Vec<(String, std::ops::Range<usize>)>;

/// The swept paths and the axes, grid axes first.
fn axes(f: &SweepFile, src: &Source) -> Result<(Paths, Vec<Axis>), ConfigError> {
    let whole = |msg: String| whole(src.name, msg);
    let assign = |path: &Spanned<String>, v: &Spanned<Value>| {
        let (line, column) = src.line_col(v.span().start);
        Assignment {
            path: path.get_ref().clone(),
            value: v.get_ref().clone(),
            line,
            column,
        }
    };
    let mut axes: Vec<Axis> = Vec::new();
    let mut paths = Vec::new();
    for g in &f.grid {
        if g.values.is_empty() {
            return Err(whole(format!(
                "grid axis `{}` has no values",
                g.path.get_ref()
            )));
        }
        paths.push((g.path.get_ref().clone(), g.path.span()));
        axes.push(g.values.iter().map(|v| vec![assign(&g.path, v)]).collect());
    }
    for z in &f.zip {
        if z.values.is_empty() || z.values.iter().any(|t| t.len() != z.paths.len()) {
            let names: Vec<&String> = z.paths.iter().map(Spanned::get_ref).collect();
            return Err(whole(format!(
                "zipped axis {names:?}: every value tuple needs {} values",
                z.paths.len()
            )));
        }
        paths.extend(z.paths.iter().map(|p| (p.get_ref().clone(), p.span())));
        axes.push(
            z.values
                .iter()
                .map(|t| z.paths.iter().zip(t).map(|(p, v)| assign(p, v)).collect())
                .collect(),
        );
    }
    let mut dup: Vec<&String> = paths.iter().map(|(p, _)| p).collect();
    dup.sort();
    dup.dedup();
    if dup.len() != paths.len() {
        return Err(whole("a path appears in more than one axis".into()));
    }
    Ok((paths, axes))
}

/// The cartesian product of the axes, first axis slowest.
fn product(axes: &[Axis]) -> Vec<Vec<Assignment>> {
    let mut points: Vec<Vec<Assignment>> = vec![Vec::new()];
    for axis in axes {
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
    points
}

/// Every point's replicates, with their ids and seeds.
fn runs(points: Vec<Vec<Assignment>>, replicates: u32, base_seed: u64) -> Vec<Run> {
    let mut runs = Vec::new();
    for point in points {
        let mut key: Vec<String> = point
            .iter()
            .map(|a| format!("{}={}", a.path, show(&a.value)))
            .collect();
        key.sort();
        for replicate in 0..replicates {
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
    runs
}
