//! Running a sweep: runs in parallel (rayon), each run's outputs written atomically to
//! `DIR/runs/<id>/`, a failed run recorded with its error without stopping the others,
//! `--resume` skipping runs already complete, and `DIR/runs.csv` one row per run in
//! expansion order (the same bytes whatever the thread count or resume history).

use super::expand::{set_path, show, Run, Sweep};
use super::progress::{Progress, Reporter};
use crate::output::dir::{write_file_atomic, Staging};
use crate::output::write::{field, num, write_run};
use crate::scenario::{load_str, Library};
use rayon::prelude::*;
use serde_json::Value as Json;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Options of `capsim sweep`.
#[derive(Clone, Debug, Default)]
pub struct SweepOptions {
    /// Output directory.
    pub out: PathBuf,
    /// Skip runs whose results are already complete.
    pub resume: bool,
    /// Extra model directories.
    pub models: Vec<PathBuf>,
    /// How progress is shown on stderr.
    pub progress: Progress,
}

/// One run's outcome as recorded.
enum Outcome {
    Done(Json),
    Failed(String),
}

fn scenario_text(sweep: &Sweep, run: &Run) -> Result<String, String> {
    let mut t = sweep.base.clone();
    for (p, v) in &run.assignments {
        set_path(&mut t, p, v.clone())?;
    }
    let name = format!("{}-{}", sweep.name, run.id);
    t.insert("name".into(), toml::Value::String(name));
    t.insert("seed".into(), toml::Value::Integer(run.seed as i64));
    toml::to_string(&t).map_err(|e| e.to_string())
}

fn run_one(sweep: &Sweep, run: &Run, opts: &SweepOptions) -> Outcome {
    let dir = opts.out.join("runs").join(&run.id);
    let summary = dir.join("summary.json");
    if opts.resume {
        if let Ok(text) = std::fs::read_to_string(&summary) {
            if let Ok(v) = serde_json::from_str::<Json>(&text) {
                return Outcome::Done(v);
            }
        }
    }
    let result = (|| -> Result<Json, String> {
        let text = scenario_text(sweep, run)?;
        // A built-in base resolves relative paths like `capsim run` without a file does.
        let base_dir = match sweep.base_path.parent() {
            Some(d) if !sweep.embedded => d,
            _ => Path::new("."),
        };
        let mut lib = Library::new(opts.models.clone());
        if !sweep.embedded {
            lib = lib.with_scenario_dir(base_dir);
        }
        let mut sc = load_str(
            &format!("{} (run {})", sweep.base_path.display(), run.id),
            &text,
            base_dir,
            &lib,
        )
        .map_err(|e| e.to_string())?;
        sc.replicate = run.replicate;
        let r = crate::sim::run(&sc).map_err(|e| e.to_string())?;
        write_run(&sc, &r, &dir)?;
        let text = std::fs::read_to_string(&summary).map_err(|e| e.to_string())?;
        serde_json::from_str(&text).map_err(|e| e.to_string())
    })();
    match result {
        Ok(v) => Outcome::Done(v),
        Err(e) => {
            // Recorded atomically beside where the results would have been.
            if let Ok(st) = Staging::new(&dir) {
                let _ = st.write("error.txt", e.as_bytes());
                let _ = st.commit();
            }
            Outcome::Failed(e)
        }
    }
}

/// The metric columns of `runs.csv`, from a run's `summary.json`.
const METRICS: [&str; 13] = [
    "energy_j",
    "seconds_over_cap",
    "episodes",
    "energy_over_cap_j",
    "peak_overshoot_pct",
    "trips",
    "load_cut_w",
    "mean_slowdown",
    "p95_slowdown",
    "time_throttled_s",
    "migrations",
    "lost_vms",
    "servers_per_provisioned_kw",
];

fn metrics(s: &Json) -> Vec<f64> {
    let f = |v: &Json| v.as_f64().unwrap_or(f64::NAN);
    let devices = s["devices"].as_array().cloned().unwrap_or_default();
    let vms = s["vms"].as_array().cloned().unwrap_or_default();
    let sum_dev = |k: &str| devices.iter().map(|d| f(&d["violations"][k])).sum::<f64>();
    let mut slow: Vec<f64> = vms.iter().filter_map(|v| v["slowdown"].as_f64()).collect();
    slow.sort_by(f64::total_cmp);
    let mean = if slow.is_empty() {
        f64::NAN
    } else {
        slow.iter().sum::<f64>() / slow.len() as f64
    };
    let p95 = if slow.is_empty() {
        f64::NAN
    } else {
        slow[((slow.len() as f64 * 0.95).ceil() as usize).clamp(1, slow.len()) - 1]
    };
    vec![
        f(&s["energy_j"]),
        sum_dev("seconds_over_cap"),
        sum_dev("episodes"),
        sum_dev("energy_over_cap_j"),
        devices
            .iter()
            .map(|d| f(&d["violations"]["peak_overshoot_pct"]))
            .fold(0.0, f64::max),
        devices
            .iter()
            .map(|d| d["trips"].as_array().map_or(0, |t| t.len()) as f64)
            .sum(),
        devices
            .iter()
            .flat_map(|d| d["trips"].as_array().cloned().unwrap_or_default())
            .map(|t| f(&t["load_cut_w"]))
            .sum(),
        mean,
        p95,
        vms.iter().map(|v| f(&v["time_throttled_s"])).sum(),
        s["migrations"].as_array().map_or(0, |m| m.len()) as f64,
        vms.iter()
            .filter(|v| v["lost"].as_bool() == Some(true))
            .count() as f64,
        f(&s["servers_per_provisioned_kw"]),
    ]
}

/// Runs every run of `sweep` (on the current rayon pool) and writes `runs.csv` (and the
/// order file `capsim merge` needs: `full` is the whole sweep when `sweep` is a shard).
/// Returns the CSV's path and the number of failed runs.
pub fn run_sweep(
    sweep: &Sweep,
    full: &Sweep,
    opts: &SweepOptions,
) -> Result<(PathBuf, usize), String> {
    std::fs::create_dir_all(opts.out.join("runs"))
        .map_err(|e| format!("{}: {e}", opts.out.display()))?;
    super::shard::write_order(full, &opts.out)?;
    let reporter = Reporter::new(opts.progress, sweep.runs.len());
    let outcomes: Vec<Outcome> = sweep
        .runs
        .par_iter()
        .map(|run| {
            let o = run_one(sweep, run, opts);
            reporter.finished(&run.id, matches!(o, Outcome::Done(_)));
            o
        })
        .collect();
    reporter.close();
    let mut csv = String::from("run_id");
    for p in &sweep.paths {
        let _ = write!(csv, ",{}", field(p));
    }
    csv.push_str(",replicate,seed,status,error");
    for m in METRICS {
        let _ = write!(csv, ",{m}");
    }
    csv.push('\n');
    let mut failed = 0;
    for (run, o) in sweep.runs.iter().zip(&outcomes) {
        let _ = write!(csv, "{}", run.id);
        for (_, v) in &run.assignments {
            let _ = write!(csv, ",{}", field(&show(v)));
        }
        let _ = write!(csv, ",{},{}", run.replicate, run.seed);
        match o {
            Outcome::Done(s) => {
                csv.push_str(",ok,");
                for v in metrics(s) {
                    let _ = write!(csv, ",{}", num(v));
                }
            }
            Outcome::Failed(e) => {
                failed += 1;
                let _ = write!(csv, ",failed,{}", field(e));
                csv.push_str(&",".repeat(METRICS.len()));
            }
        }
        csv.push('\n');
    }
    let path = opts.out.join("runs.csv");
    write_file_atomic(&path, csv.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((path, failed))
}
