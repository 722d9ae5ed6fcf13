//! Reproducing the study (DESIGN §1): the eight experiments of `scenarios/paper/`, the
//! quantities it reported, measured on the simulator's own outputs, and one figure per
//! experiment in the study's style.
//!
//! Every row is computed from a run's time series and events exactly as one would
//! compute it from a capture: means over windows, steps in the power trace, times
//! between events. Nothing here knows the answer.

pub(crate) mod figure;
pub(crate) mod measure;

use crate::scenario::library::embedded_file;
use crate::scenario::{load_str, Library, Scenario};
use crate::sim::{run, RunResult};
use measure::Measure;
use rayon::prelude::*;
use std::path::Path;

/// The migration algorithm of an experiment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// No migration: the baseline.
    None,
    /// Xen 3.4 pre-copy.
    Precopy,
    /// The study's SnowFlock-based post-copy.
    Postcopy,
}

/// The study's workload groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// gap, bzip2, twolf on 4 cores.
    Unsaturated,
    /// gap, bzip2, twolf, parser on 4 cores.
    Saturated,
}

/// One experiment of `scenarios/paper/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Experiment {
    /// File stem in `scenarios/paper/`.
    pub file: &'static str,
    /// Algorithm.
    pub method: Method,
    /// Workload group.
    pub group: Group,
    /// The migrated program (`None` for baselines).
    pub vm: Option<&'static str>,
}

/// The eight experiments and the two baselines.
pub const EXPERIMENTS: [Experiment; 10] = [
    exp(
        "pre-unsat-twolf",
        Method::Precopy,
        Group::Unsaturated,
        Some("twolf"),
    ),
    exp(
        "pre-unsat-gap",
        Method::Precopy,
        Group::Unsaturated,
        Some("gap"),
    ),
    exp(
        "post-unsat-twolf",
        Method::Postcopy,
        Group::Unsaturated,
        Some("twolf"),
    ),
    exp(
        "post-unsat-gap",
        Method::Postcopy,
        Group::Unsaturated,
        Some("gap"),
    ),
    exp(
        "pre-sat-twolf",
        Method::Precopy,
        Group::Saturated,
        Some("twolf"),
    ),
    exp(
        "pre-sat-gap",
        Method::Precopy,
        Group::Saturated,
        Some("gap"),
    ),
    exp(
        "post-sat-twolf",
        Method::Postcopy,
        Group::Saturated,
        Some("twolf"),
    ),
    exp(
        "post-sat-gap",
        Method::Postcopy,
        Group::Saturated,
        Some("gap"),
    ),
    exp("baseline-unsat", Method::None, Group::Unsaturated, None),
    exp("baseline-sat", Method::None, Group::Saturated, None),
];

const fn exp(
    file: &'static str,
    method: Method,
    group: Group,
    vm: Option<&'static str>,
) -> Experiment {
    Experiment {
        file,
        method,
        group,
        vm,
    }
}

/// One experiment's run.
pub struct Outcome {
    /// Which experiment.
    pub exp: Experiment,
    /// The scenario as run.
    pub scenario: Scenario,
    /// Its results.
    pub result: RunResult,
}

/// Loads and runs every experiment in parallel (results in a fixed order whatever the
/// thread count). Scenarios come from `dir` if given, else from the copy built into the
/// binary; model names resolve through `lib`.
pub fn run_all(lib: &Library, dir: Option<&Path>) -> Result<Vec<Outcome>, String> {
    EXPERIMENTS
        .par_iter()
        .map(|e| {
            let rel = format!("scenarios/paper/{}.toml", e.file);
            let scenario = match dir {
                Some(d) => {
                    let p = d.join(format!("{}.toml", e.file));
                    crate::scenario::load_file(&p, lib).map_err(|e| e.to_string())?
                }
                None => {
                    let text =
                        embedded_file(&rel).ok_or_else(|| format!("{rel} is not built in"))?;
                    load_str(
                        &format!("{rel} (built-in)"),
                        text,
                        Path::new("scenarios/paper"),
                        lib,
                    )
                    .map_err(|e| e.to_string())?
                }
            };
            let result = run(&scenario);
            Ok(Outcome {
                exp: *e,
                scenario,
                result,
            })
        })
        .collect()
}

/// One line of `validation.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// What is compared, with its unit.
    pub quantity: String,
    /// The study's figure (`None` for predictions).
    pub study: Option<f64>,
    /// capsim's value (NaN when it could not be measured).
    pub capsim: f64,
    /// Lower end of the acceptance band.
    pub low: Option<f64>,
    /// Upper end of the acceptance band.
    pub high: Option<f64>,
}

impl Row {
    fn banded(quantity: &str, study: f64, low: f64, high: f64, capsim: f64) -> Self {
        Row {
            quantity: quantity.to_string(),
            study: Some(study),
            capsim,
            low: Some(low),
            high: Some(high),
        }
    }

    fn prediction(quantity: &str, capsim: f64) -> Self {
        Row {
            quantity: quantity.to_string(),
            study: None,
            capsim,
            low: None,
            high: None,
        }
    }

    /// `Some(pass)` for banded rows, `None` (n/a) for predictions.
    pub fn pass(&self) -> Option<bool> {
        match (self.low, self.high) {
            (Some(l), Some(h)) => Some(self.capsim >= l && self.capsim <= h),
            _ => None,
        }
    }
}

fn find<'a>(outs: &'a [Outcome], file: &str) -> Option<&'a Outcome> {
    outs.iter().find(|o| o.exp.file == file)
}

/// The validation rows from the runs (missing runs give NaN).
pub fn rows(outs: &[Outcome]) -> Vec<Row> {
    let m = |file: &str| find(outs, file).map(|o| Measure::new(&o.result, o.exp.vm));
    let get = |file: &str, f: &dyn Fn(&Measure) -> f64| m(file).map_or(f64::NAN, |x| f(&x));
    let mut rows = Vec::new();
    for vm in ["twolf", "gap"] {
        let pre = format!("pre-unsat-{vm}");
        let (study, lo, hi) = if vm == "twolf" {
            (8.0, 6.8, 9.2)
        } else {
            (20.0, 17.0, 23.0)
        };
        rows.push(Row::banded(
            &format!("pre-copy, unsaturated, {vm}: migration time, start to source copy gone (s)"),
            study,
            lo,
            hi,
            get(&pre, &|x| x.migration_time_s()),
        ));
        rows.push(Row::banded(
            &format!("pre-copy, unsaturated, {vm}: dom0 CPU while pages are sent (% of a core)"),
            50.0,
            40.0,
            60.0,
            get(&pre, &|x| 100.0 * x.dom0_while_sending()),
        ));
        rows.push(Row::banded(
            &format!("pre-copy, unsaturated, {vm}: extra power while pages are sent (W)"),
            12.0,
            9.0,
            15.0,
            get(&pre, &|x| x.extra_power_while_sending_w()),
        ));
        rows.push(Row::banded(
            &format!("pre-copy, unsaturated, {vm}: power after minus before migration (W)"),
            -17.5,
            -22.0,
            -13.0,
            get(&pre, &|x| x.power_after_minus_before_w()),
        ));
        rows.push(Row::banded(
            &format!("pre-copy, unsaturated, {vm}: time between the two power steps after switch-over (s)"),
            1.0,
            0.5,
            1.5,
            get(&pre, &|x| x.two_step_gap_s()),
        ));
        rows.push(Row::banded(
            &format!("pre-copy, unsaturated, {vm}: change in the other VMs' CPU while pages are sent (% of a core)"),
            0.0,
            -2.0,
            2.0,
            get(&pre, &|x| 100.0 * x.others_cpu_change()),
        ));
        let post = format!("post-unsat-{vm}");
        rows.push(Row::banded(
            &format!("post-copy, unsaturated, {vm}: start to power fall (s)"),
            0.12,
            0.0,
            0.2,
            get(&post, &|x| x.time_to_power_fall_s()),
        ));
    }
    for vm in ["twolf", "gap"] {
        let pre = m(&format!("pre-unsat-{vm}")).map(|x| x.migrated_completion_s());
        let post = m(&format!("post-unsat-{vm}")).map(|x| x.migrated_completion_s());
        let ratio = match (pre, post) {
            (Some(a), Some(b)) => b / a,
            _ => f64::NAN,
        };
        rows.push(Row::prediction(
            &format!(
                "prediction: unsaturated, {vm}: completion time under post-copy / under pre-copy"
            ),
            ratio,
        ));
        rows.push(Row::prediction(
            &format!("prediction: unsaturated, {vm}: source dom0 CPU after the post-copy switch (% of a core)"),
            get(&format!("post-unsat-{vm}"), &|x| 100.0 * x.dom0_after_switch()),
        ));
    }
    for vm in ["twolf", "gap"] {
        let pre = format!("pre-sat-{vm}");
        rows.push(Row::prediction(
            &format!("prediction: saturated, pre-copy, {vm}: extra power while pages are sent (W)"),
            get(&pre, &|x| x.extra_power_while_sending_w()),
        ));
        rows.push(Row::prediction(
            &format!("prediction: saturated, pre-copy, {vm}: change in the other VMs' CPU while pages are sent (% of a core)"),
            get(&pre, &|x| 100.0 * x.others_cpu_change()),
        ));
        rows.push(Row::prediction(
            &format!("prediction: saturated, pre-copy, {vm}: migration time, start to source copy gone (s)"),
            get(&pre, &|x| x.migration_time_s()),
        ));
    }
    rows
}

fn fmt(v: Option<f64>) -> String {
    v.map_or(String::new(), |x| {
        if x.is_finite() {
            format!("{x:.3}")
        } else {
            "NaN".into()
        }
    })
}

/// `validation.csv`: `quantity,study,capsim,low,high,pass`.
pub fn csv(rows: &[Row]) -> String {
    let mut out = String::from("quantity,study,capsim,low,high,pass\n");
    for r in rows {
        let pass = match r.pass() {
            Some(true) => "true",
            Some(false) => "false",
            None => "n/a",
        };
        out.push_str(&format!(
            "\"{}\",{},{},{},{},{}\n",
            r.quantity.replace('"', "\"\""),
            fmt(r.study),
            fmt(Some(r.capsim)),
            fmt(r.low),
            fmt(r.high),
            pass
        ));
    }
    out
}

/// The table `capsim validate` prints.
pub fn table(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<96} {:>8} {:>9} {:>17} {:>5}\n",
        "quantity", "study", "capsim", "band", "pass"
    );
    for r in rows {
        let band = match (r.low, r.high) {
            (Some(l), Some(h)) => format!("[{l:.2}, {h:.2}]"),
            _ => String::new(),
        };
        let pass = match r.pass() {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "n/a",
        };
        out.push_str(&format!(
            "{:<96} {:>8} {:>9.3} {:>17} {:>5}\n",
            r.quantity,
            r.study.map_or(String::new(), |s| format!("{s:.2}")),
            r.capsim,
            band,
            pass
        ));
    }
    let banded: Vec<_> = rows.iter().filter_map(|r| r.pass()).collect();
    out.push_str(&format!(
        "{} of {} banded rows within the study's bands; {} predictions\n",
        banded.iter().filter(|p| **p).count(),
        banded.len(),
        rows.len() - banded.len()
    ));
    out
}
