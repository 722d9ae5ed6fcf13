//! Running a sweep: runs in parallel (rayon), each run's outputs written atomically to
//! `DIR/runs/<id>/`, a failed run recorded with its error without stopping the others,
//! `--resume` skipping runs already complete, and `DIR/runs.csv` one row per run in
//! expansion order (the same bytes whatever the thread count or resume history).

use super::expand::{show, Run, Sweep};
use super::metrics::{row, Row, METRICS};
use super::progress::{Progress, Reporter};
use crate::output::dir::{remove_orphaned_staging, Existing, Staging};
use crate::output::summary::Summary;
use crate::output::write::{check_output_size, field, num, run_to_staging};
use rayon::prelude::*;
use std::fmt::Write as _;
use std::path::PathBuf;

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
    /// Its metric columns, in [`METRICS`] order (the summary itself is not kept: a
    /// large datacenter's is megabytes).
    Done(Row),
    /// Complete before this sweep started (`--resume`): its columns, read back.
    Skipped(Row),
    /// Its error.
    Failed(String),
}

fn run_one(sweep: &Sweep, run: &Run, opts: &SweepOptions) -> Outcome {
    let dir = opts.out.join("runs").join(&run.id);
    if opts.resume {
        // A summary.json that does not parse (an older format, a torn write) is redone.
        if let Ok(text) = std::fs::read_to_string(dir.join("summary.json")) {
            if let Ok(s) = serde_json::from_str::<Summary>(&text) {
                return Outcome::Skipped(row(&s));
            }
        }
    }
    let result = (|| -> Result<Summary, String> {
        let mut sc = super::load::load(sweep, run, &opts.models).map_err(|e| e.to_string())?;
        sc.replicate = run.replicate;
        // A sweep's runs are many: one over the output limit fails (`capsim run
        // --allow-large` runs it alone).
        check_output_size(&sc, false)?;
        // Orphans in runs/ were removed once when the sweep started.
        let st = Staging::open_among(&dir, Existing::Refuse)
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        let (r, _) = run_to_staging(&sc, st)?;
        // summary.json reads back to the same values (serde_json's `float_roundtrip`),
        // so a fresh row equals the row `--resume` makes from the file.
        Ok(r.summary)
    })();
    match result {
        Ok(s) => Outcome::Done(row(&s)),
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

/// What a finished [`run_sweep`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    /// The `runs.csv` written.
    pub csv: PathBuf,
    /// Runs that failed.
    pub failed: usize,
    /// Runs skipped as already complete (`--resume`).
    pub skipped: usize,
    /// Staging directories (`runs/.ID.partial-PID`) of killed processes removed at the
    /// start.
    pub orphans_removed: usize,
}

/// Runs every run of `sweep` (on the current rayon pool) and writes `runs.csv` (and the
/// order and identity files `capsim merge` needs: `full` is the whole sweep when `sweep`
/// is a shard). First removes the staging directories killed processes left in the
/// output directory and its `runs/`.
pub fn run_sweep(sweep: &Sweep, full: &Sweep, opts: &SweepOptions) -> Result<Finished, String> {
    let runs_dir = opts.out.join("runs");
    std::fs::create_dir_all(&runs_dir).map_err(|e| format!("{}: {e}", opts.out.display()))?;
    let orphans_removed = remove_orphaned_staging(&runs_dir)? + remove_orphaned_staging(&opts.out)?;
    super::shard::write_order(full, &opts.out)?;
    let reporter = Reporter::new(opts.progress, sweep.runs.len());
    let outcomes: Vec<Outcome> = sweep
        .runs
        .par_iter()
        .map(|run| {
            let o = run_one(sweep, run, opts);
            reporter.finished(&run.id, !matches!(o, Outcome::Failed(_)));
            o
        })
        .collect();
    reporter.close();
    let (csv, failed) = runs_csv(sweep, &outcomes);
    let path = opts.out.join("runs.csv");
    crate::atomic::write_text(&path, &csv)?;
    Ok(Finished {
        csv: path,
        failed,
        skipped: outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Skipped(_)))
            .count(),
        orphans_removed,
    })
}

/// `runs.csv`, one row per run in expansion order, and the number of failed runs.
fn runs_csv(sweep: &Sweep, outcomes: &[Outcome]) -> (String, usize) {
    let mut csv = String::from("run_id");
    for p in &sweep.paths {
        let _ = write!(csv, ",{}", field(p));
    }
    csv.push_str(",replicate,seed,status,error");
    for (m, _) in METRICS {
        let _ = write!(csv, ",{m}");
    }
    csv.push('\n');
    let mut failed = 0;
    for (run, o) in sweep.runs.iter().zip(outcomes) {
        let _ = write!(csv, "{}", run.id);
        for a in &run.assignments {
            let _ = write!(csv, ",{}", field(&show(&a.value)));
        }
        let _ = write!(csv, ",{},{}", run.replicate, run.seed);
        match o {
            Outcome::Done(values) | Outcome::Skipped(values) => {
                csv.push_str(",ok,");
                for v in values {
                    let _ = write!(csv, ",{}", num(*v));
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
    (csv, failed)
}
