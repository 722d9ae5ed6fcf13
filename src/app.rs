//! Library entry points behind the CLI commands, so tests and other programs use the
//! same code paths as `capsim`.

use crate::output::dir::{preflight, Existing};
use crate::output::write::{check_output_size, run_to_dir};
use crate::scenario::library::embedded_file;
use crate::scenario::{load_file, load_str, Library, Scenario};
use crate::sim::RunResult;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The scenario `capsim run` uses when given none (built into the binary).
pub const DEFAULT_SCENARIO: &str = "scenarios/rack/basic.toml";

/// Options of `capsim run`.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Scenario file; `None` runs the built-in default.
    pub scenario: Option<PathBuf>,
    /// Output directory; default `outputs/<scenario name>/`.
    pub out: Option<PathBuf>,
    /// Extra model directories searched first.
    pub models: Vec<PathBuf>,
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    /// Replicate number mixed into every random stream.
    pub replicate: u32,
    /// What to do when the output directory holds files capsim did not write.
    pub existing: Existing,
    /// Run even when the outputs would exceed `output::write::MAX_OUTPUT_CELLS`.
    pub allow_large: bool,
}

/// Loads the scenario a [`RunOptions`] names.
pub fn load(opts: &RunOptions) -> Result<Scenario, String> {
    let lib = Library::new(opts.models.clone());
    let mut sc = match &opts.scenario {
        Some(p) => load_file(p, &lib),
        None => {
            let text = embedded_file(DEFAULT_SCENARIO)
                .ok_or("the built-in default scenario is missing")?;
            load_str(
                &format!("{DEFAULT_SCENARIO} (built-in)"),
                text,
                Path::new("."),
                &lib,
            )
        }
    }
    .map_err(|e| e.to_string())?;
    if let Some(s) = opts.seed {
        sc.seed = s;
    }
    sc.replicate = opts.replicate;
    Ok(sc)
}

/// `capsim run`: load, simulate, write every output; returns the result, the output
/// directory and the stdout table.
pub fn run_command(opts: &RunOptions) -> Result<(RunResult, PathBuf, String), String> {
    let sc = load(opts)?;
    let dir = opts
        .out
        .clone()
        .unwrap_or_else(|| Path::new("outputs").join(&sc.name));
    check_output_size(&sc, opts.allow_large)?;
    let (result, dir) = run_to_dir(&sc, &dir, opts.existing)?;
    let table = summary_table(&result, &dir);
    Ok((result, dir, table))
}

/// The short table `capsim run` prints.
pub fn summary_table(r: &RunResult, dir: &Path) -> String {
    let s = &r.summary;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "scenario {}  seed {}  {:.0} s simulated  {} events  energy {:.3} kWh",
        s.scenario,
        s.seed,
        s.duration_s,
        r.events_processed,
        s.energy_j / 3.6e6
    );
    let _ = writeln!(
        out,
        "{:<20} {:>10} {:>10} {:>10} {:>9} {:>10} {:>6} {:>9}",
        "device", "cap W", "peak W", "mean W", "episodes", "s over cap", "trips", "max heat"
    );
    let opt = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.0}"));
    // Large worlds: the devices that tripped or spent longest over their cap first, and
    // only the first few (summary.json and metrics.csv have all of them).
    const SHOWN: usize = 12;
    let mut order: Vec<&crate::output::summary::DeviceSummary> = s.devices.iter().collect();
    if order.len() > SHOWN {
        order.sort_by(|a, b| {
            (b.trips.len(), b.violations.seconds_over_cap)
                .partial_cmp(&(a.trips.len(), a.violations.seconds_over_cap))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
    }
    for d in order.iter().take(SHOWN) {
        let _ = writeln!(
            out,
            "{:<20} {:>10} {:>10.0} {:>10.0} {:>9} {:>10.1} {:>6} {:>9.3}",
            d.name,
            opt(d.cap_w),
            d.peak_w,
            d.mean_w,
            d.violations.episodes,
            d.violations.seconds_over_cap,
            d.trips.len(),
            d.max_heat
        );
        for t in &d.trips {
            let _ = writeln!(
                out,
                "  {} tripped at {:.3} s, cutting {:.0} W",
                d.name, t.time_s, t.load_cut_w
            );
        }
    }
    if order.len() > SHOWN {
        let tripped = s.devices.iter().filter(|d| !d.trips.is_empty()).count();
        let over = s
            .devices
            .iter()
            .filter(|d| d.violations.seconds_over_cap > 0.0)
            .count();
        let _ = writeln!(
            out,
            "... {} more devices ({} devices in all: {} tripped, {} over their cap at some time)",
            order.len() - SHOWN,
            order.len(),
            tripped,
            over
        );
    }
    let lost = s.vms.iter().filter(|v| v.lost).count();
    let done = s.vms.iter().filter(|v| v.completion_s.is_some()).count();
    let slow: Vec<f64> = s.vms.iter().filter_map(|v| v.slowdown).collect();
    // No slowdown to average when every VM was lost or is unfinished.
    let mean = if slow.is_empty() {
        "n/a".to_string()
    } else {
        format!("{:.3}", slow.iter().sum::<f64>() / slow.len() as f64)
    };
    let _ = writeln!(
        out,
        "VMs: {} in all, {} completed, {} lost; mean slowdown {mean}",
        s.vms.len(),
        done,
        lost,
    );
    let wd = &s.work_delay;
    if wd.work_core_s > 0.0 {
        let _ = writeln!(
            out,
            "services' work: {:.0} core-s arrived, {:.1} % waited, p99 wait {:.3} s, {:.1} core-s owed at the end",
            wd.work_core_s,
            wd.delayed_fraction * 100.0,
            wd.p99_s,
            wd.owed_at_end_core_s,
        );
    }
    let _ = writeln!(out, "outputs in {}", dir.display());
    out
}

/// Options of `capsim validate`.
#[derive(Clone, Debug, Default)]
pub struct ValidateOptions {
    /// Output directory; default `outputs/paper/`.
    pub out: Option<PathBuf>,
    /// Read the experiments from this directory instead of the built-in
    /// `scenarios/paper/`.
    pub scenarios: Option<PathBuf>,
    /// Extra model directories searched first.
    pub models: Vec<PathBuf>,
    /// What to do when the output directory holds files capsim did not write.
    pub existing: Existing,
}

/// `capsim validate`: runs the study's experiments in parallel, writes
/// `validation.csv` and one figure per experiment (all at once, atomically), and
/// returns the rows, the directory and the table to print.
pub fn validate_command(
    opts: &ValidateOptions,
) -> Result<(Vec<crate::study::Row>, PathBuf, String), String> {
    use crate::output::dir::Staging;
    let lib = Library::new(opts.models.clone());
    let lib = match &opts.scenarios {
        Some(d) => lib.with_scenario_dir(d),
        None => lib,
    };
    let dir = opts
        .out
        .clone()
        .unwrap_or_else(|| Path::new("outputs").join("paper"));
    let ctx = |e: std::io::Error| format!("{}: {e}", dir.display());
    preflight(&dir, opts.existing).map_err(ctx)?;
    let outs = crate::study::run_all(&lib, opts.scenarios.as_deref())?;
    let rows = crate::study::rows(&outs);
    let st = Staging::open(&dir, opts.existing).map_err(ctx)?;
    st.write("validation.csv", crate::study::csv(&rows).as_bytes())
        .map_err(ctx)?;
    for o in &outs {
        let fig = crate::study::figure::figure(o);
        let stem = o.exp.file;
        crate::output::plot::write_figure(
            &fig,
            &st.path(&format!("{stem}.svg")),
            &st.path(&format!("{stem}.png")),
        )?;
    }
    let dir = st.commit().map_err(ctx)?;
    let mut table = crate::study::table(&rows);
    table.push_str(&format!(
        "validation.csv and figures in {}\n",
        dir.display()
    ));
    Ok((rows, dir, table))
}

/// Options of `capsim sweep`.
#[derive(Clone, Debug, Default)]
pub struct SweepCommand {
    /// Sweep file; `None` runs the built-in default ([`DEFAULT_SWEEP`]).
    pub sweep: Option<PathBuf>,
    /// Output directory; default `outputs/<sweep name>/`.
    pub out: Option<PathBuf>,
    /// Worker threads (`None`: all cores).
    pub jobs: Option<usize>,
    /// Skip runs whose results are already complete.
    pub resume: bool,
    /// Only shard "K/N" (0-based).
    pub shard: Option<String>,
    /// Extra model directories.
    pub models: Vec<PathBuf>,
    /// How progress is shown on stderr.
    pub progress: crate::sweep::Progress,
}

/// The sweep `capsim sweep` runs when given none (built into the binary): the policy
/// comparison across oversubscription ratios.
pub const DEFAULT_SWEEP: &str = "scenarios/sweeps/capping-policies.toml";

/// Parses "K/N".
pub fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let (k, n) = s
        .split_once('/')
        .ok_or(format!("--shard {s}: expected K/N, e.g. 0/4"))?;
    let k = k
        .trim()
        .parse()
        .map_err(|_| format!("--shard {s}: K is not a number"))?;
    let n = n
        .trim()
        .parse()
        .map_err(|_| format!("--shard {s}: N is not a number"))?;
    Ok((k, n))
}

/// `capsim sweep`: expands, takes the shard, runs on a pool of `jobs` threads; returns
/// the line to print (with, on `--resume`, the runs skipped as already done and the
/// orphaned partial directories removed) and the number of failed runs.
/// A whole sweep (not a shard) also gets its report, whose path ends the line (its
/// warnings go to stderr).
pub fn sweep_command(c: &SweepCommand) -> Result<(String, usize), String> {
    let full = match &c.sweep {
        Some(p) => crate::sweep::expand(p),
        None => crate::sweep::expand_embedded(DEFAULT_SWEEP),
    }
    .map_err(|e| e.to_string())?;
    let sw = match c.shard.as_deref() {
        None => full.clone(),
        Some(s) => {
            let (k, n) = parse_shard(s)?;
            crate::sweep::shard::shard(&full, k, n)?
        }
    };
    let opts = crate::sweep::SweepOptions {
        out: c
            .out
            .clone()
            .unwrap_or_else(|| Path::new("outputs").join(&full.name)),
        resume: c.resume,
        models: c.models.clone(),
        progress: c.progress,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(c.jobs.unwrap_or(0))
        .build()
        .map_err(|e| e.to_string())?;
    let done = pool.install(|| crate::sweep::run_sweep(&sw, &full, &opts))?;
    let mut line = format!("{} runs, {} failed", sw.runs.len(), done.failed);
    if c.resume {
        let _ = write!(line, ", {} skipped as already done", done.skipped);
    }
    if c.resume || done.orphans_removed > 0 {
        let _ = write!(
            line,
            ", {} orphaned partial directories of killed runs removed",
            done.orphans_removed
        );
    }
    let _ = write!(line, "; {}", done.csv.display());
    if c.shard.is_none() {
        let report = crate::sweep::report::report(&opts.out)?;
        for w in &report.warnings {
            eprintln!("warning: {w}");
        }
        let _ = write!(line, "\nreport: {}", report.path.display());
    }
    Ok((line, done.failed))
}

/// `capsim slurm`: writes the job-array scripts; returns what to print.
pub fn slurm_command(
    sweep: &Path,
    opts: &crate::sweep::shard::SlurmOptions,
    out: Option<&Path>,
) -> Result<String, String> {
    let full = crate::sweep::expand(sweep).map_err(|e| e.to_string())?;
    let out = out.map_or_else(|| Path::new("outputs").join(&full.name), Path::to_path_buf);
    let files = crate::sweep::shard::slurm_scripts(sweep, &full.name, opts, &out)?;
    let mut text = String::new();
    for f in files {
        let _ = writeln!(text, "{}", f.display());
    }
    let _ = writeln!(text, "submit with: {}/submit.sh", out.display());
    Ok(text)
}
