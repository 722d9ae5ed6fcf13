//! The `cores` power fit: P = idle + c_f·busy_cores (+ k·Gbps while a migration sends
//! pages), by least squares over the CPU intervals, after estimating each run's clock
//! offset between the power meter and the CPU counters. With `freq.csv` (`capture
//! --cpufreq`) there is one c_f per core clock f seen (a p-state each), and intervals that
//! span a clock change are left out; without it, one c.
//!
//! Offset: the power series is shifted over ±[`SEARCH_S`] in steps of the meter's window,
//! then refined in steps of a tenth of it around the best; the shift with the smallest
//! RMSE wins (the one nearest zero among those within the RMSE's standard error). A best shift at the edge of the range, or a poor fit at the best shift,
//! is diagnosed as misaligned clocks instead of being fitted silently.

use super::align::{mean_power, overlap, CpuSeries};
use super::clock::ClockLine;
use super::fit::{ols, Fit};
use super::run::PowerSample;

/// Half-width of the clock-offset search, s.
pub const SEARCH_S: f64 = 3.0;
/// Fewest usable intervals a fit accepts.
pub const MIN_ROWS: usize = 30;
/// Below this R² the fit is called poor (misaligned clocks or the wrong instrument).
pub const MIN_R2: f64 = 0.9;

/// One observation of the fit.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Run index.
    pub run: usize,
    /// Interval start, s (CPU clock of that run).
    pub t0: f64,
    /// Interval end, s.
    pub t1: f64,
    /// Mean measured power over the interval, W.
    pub power_w: f64,
    /// Busy cores, cores.
    pub busy: f64,
    /// P-state: index into [`PowerFit::clocks_mhz`] (0 when clocks are not recorded).
    pub state: usize,
    /// Migration payload rate over the interval, Gbit/s (0 outside transfers).
    pub gbps: f64,
}

/// A transfer period with its rate: [t0, t1] at `gbps` Gbit/s, or unknown rate.
#[derive(Clone, Debug, PartialEq)]
pub struct Transfer {
    /// Start, s.
    pub t0: f64,
    /// End, s.
    pub t1: f64,
    /// Payload rate, Gbit/s; None when the run does not say (rows inside are left out).
    pub gbps: Option<f64>,
}

/// One run's inputs to the fit.
pub struct RunInput<'a> {
    /// Usable power samples.
    pub power: &'a [PowerSample],
    /// Meter window, s.
    pub window_s: f64,
    /// The metered host's CPU series.
    pub cpu: &'a CpuSeries,
    /// Its migrations' transfer periods.
    pub transfers: Vec<Transfer>,
    /// Its core clock over time (empty when the run has no freq.csv).
    pub clock: &'a ClockLine,
    /// The clocks of the fit, MHz, fastest first (empty: clocks not recorded).
    pub levels: &'a [u64],
}

impl RunInput<'_> {
    /// The p-state index over (a, b], or None when the interval spans a clock change.
    fn state(&self, a: f64, b: f64) -> Option<usize> {
        if self.levels.is_empty() {
            return Some(0);
        }
        let mhz = self.clock.over(a, b)?;
        self.levels.iter().position(|&l| l == mhz)
    }

    /// Mean migration payload rate over [a, b], Gbit/s (0 outside transfers); None when
    /// the interval touches a transfer of unknown rate.
    fn gbps_over(&self, a: f64, b: f64) -> Option<f64> {
        let mut gbps = 0.0;
        for t in &self.transfers {
            let o = overlap(a, b, t.t0, t.t1);
            if o > 0.0 {
                gbps += t.gbps? * o / (b - a);
            }
        }
        Some(gbps)
    }
}

/// A run's clock-offset estimate.
#[derive(Clone, Debug, PartialEq)]
pub struct Offset {
    /// Shift added to power timestamps to put them on the CPU clock, s.
    pub shift_s: f64,
    /// Fit RMSE at zero shift, W.
    pub rmse_zero_w: f64,
    /// Fit RMSE at the best shift, W.
    pub rmse_best_w: f64,
    /// Resolution of the search, s.
    pub step_s: f64,
    /// Whether the shift is within one meter window of the search range's edge.
    pub at_edge: bool,
}

/// The fitted power model.
#[derive(Clone, Debug)]
pub struct PowerFit {
    /// The regression (columns: idle, per busy core at each clock, and per Gbps when fitted).
    pub fit: Fit,
    /// Column names, as in `fit`.
    pub names: Vec<String>,
    /// The clocks of the per-core columns, MHz, fastest first (empty: not recorded, one column).
    pub clocks_mhz: Vec<u64>,
    /// Whether the NIC term was fitted.
    pub nic: bool,
    /// Observations at each run's best shift.
    pub rows: Vec<Row>,
    /// Offset per run.
    pub offsets: Vec<Offset>,
    /// Intervals left out per run: no power coverage, or inside a transfer of unknown rate.
    pub unusable: Vec<usize>,
}

impl PowerFit {
    /// Idle power, W.
    pub fn idle_w(&self) -> f64 {
        self.fit.coef[0]
    }
    /// Number of per-core columns (p-states fitted).
    pub fn states(&self) -> usize {
        self.clocks_mhz.len().max(1)
    }
    /// Power per busy core at the fastest clock fitted, W.
    pub fn core_w(&self) -> f64 {
        self.fit.coef[1]
    }
    /// Power per busy core at p-state `k` (index into `clocks_mhz`), W.
    pub fn core_w_at(&self, k: usize) -> f64 {
        self.fit.coef[1 + k]
    }
    /// Column of the NIC term in `fit`, when fitted.
    pub fn nic_column(&self) -> Option<usize> {
        self.nic.then(|| 1 + self.states())
    }
    /// NIC power, W per Gbit/s (0 when not fitted).
    pub fn nic_w_per_gbps(&self) -> f64 {
        self.nic_column().map_or(0.0, |c| self.fit.coef[c])
    }
    /// The model's power for busy cores at p-state `state` and Gbit/s, W.
    pub fn predict(&self, busy: f64, state: usize, gbps: f64) -> f64 {
        self.idle_w() + self.core_w_at(state) * busy + self.nic_w_per_gbps() * gbps
    }
}

fn rows_at(r: &RunInput, run: usize, shift: f64) -> (Vec<Row>, usize) {
    let mut out = Vec::with_capacity(r.cpu.intervals.len());
    let mut unusable = 0;
    for i in &r.cpu.intervals {
        // Intervals without a busy figure are already counted in the CPU series' drops.
        let Some(busy) = i.busy else { continue };
        let Some(state) = r.state(i.t0, i.t1) else {
            unusable += 1;
            continue;
        };
        let Some(p) = mean_power(r.power, r.window_s, shift, i.t0, i.t1) else {
            unusable += 1;
            continue;
        };
        let Some(gbps) = r.gbps_over(i.t0, i.t1) else {
            unusable += 1;
            continue;
        };
        out.push(Row {
            run,
            t0: i.t0,
            t1: i.t1,
            power_w: p,
            busy,
            state,
            gbps,
        });
    }
    (out, unusable)
}

/// Least squares over `rows` with one per-core column per p-state in `states` (indices
/// into `levels`; rows of other states must not occur).
fn regress(rows: &[Row], nic: bool, states: &[usize], levels: &[u64]) -> Result<Fit, String> {
    let x: Vec<Vec<f64>> = rows
        .iter()
        .map(|r| {
            let mut v = vec![1.0];
            v.extend(
                states
                    .iter()
                    .map(|&k| if r.state == k { r.busy } else { 0.0 }),
            );
            if nic {
                v.push(r.gbps);
            }
            v
        })
        .collect();
    let y: Vec<f64> = rows.iter().map(|r| r.power_w).collect();
    let n = names(nic, states, levels);
    let refs: Vec<&str> = n.iter().map(String::as_str).collect();
    ols(&x, &y, &refs)
}

/// The p-states that `rows` use with some load (a state seen only idle says nothing
/// about its per-core power).
fn loaded_states(rows: &[Row]) -> Vec<usize> {
    let mut s: Vec<usize> = rows
        .iter()
        .filter(|r| r.busy > 0.05)
        .map(|r| r.state)
        .collect();
    s.sort_unstable();
    s.dedup();
    s
}

fn names(nic: bool, states: &[usize], levels: &[u64]) -> Vec<String> {
    let mut n = vec!["idle".to_string()];
    for &k in states {
        n.push(match levels.get(k) {
            Some(mhz) => format!("per busy core at {mhz} MHz"),
            None => "per busy core".into(),
        });
    }
    if nic {
        n.push("NIC per Gbps".into());
    }
    n
}

/// One observation per power sample: busy cores and Gbit/s averaged over the sample's
/// window moved by `shift`. The search compares shifts this way round because averaging
/// power over CPU intervals would mix neighbouring samples at fractional shifts, and the
/// mixing alone lowers the noise's RMSE, biasing the search towards them.
pub fn sample_rows(r: &RunInput, shift: f64) -> Vec<Row> {
    let mut out = Vec::with_capacity(r.power.len());
    for p in r.power {
        let (a, b) = (p.t_s - r.window_s + shift, p.t_s + shift);
        let Some(busy) = r.cpu.busy_mean(a, b).filter(|_| covered(r.cpu, a, b)) else {
            continue;
        };
        let Some(state) = r.state(a, b) else {
            continue;
        };
        if let Some(gbps) = r.gbps_over(a, b) {
            out.push(Row {
                run: 0,
                t0: a,
                t1: b,
                power_w: p.power_w,
                busy,
                state,
                gbps,
            });
        }
    }
    out
}

/// Whether CPU intervals cover at least 90 % of [a, b].
fn covered(cpu: &CpuSeries, a: f64, b: f64) -> bool {
    let first = cpu.intervals.partition_point(|i| i.t1 <= a);
    let c: f64 = cpu.intervals[first..]
        .iter()
        .take_while(|i| i.t0 < b)
        .filter(|i| i.busy.is_some())
        .map(|i| overlap(i.t0, i.t1, a, b))
        .sum();
    c >= 0.9 * (b - a)
}

/// The coarse step of the offset search, s: the meter's window, but at most a tenth of
/// the range (a meter averaging over seconds still gets a usable grid).
pub fn coarse_step(window_s: f64) -> f64 {
    window_s.min(SEARCH_S / 10.0)
}

/// The clock shift for one run, searched over ±SEARCH_S: in steps of the meter window,
/// then a tenth of it around the best. Shifts whose RMSE is within one standard error of
/// the best one (σ̂/√(2n)) fit equally well; the one nearest zero is taken, so noise alone
/// never moves the clocks.
fn best_shift(r: &RunInput, nic: bool) -> Result<Offset, String> {
    let eval = |d: f64| -> Option<(f64, usize)> {
        let rows = sample_rows(r, d);
        if rows.len() < MIN_ROWS {
            return None;
        }
        regress(&rows, nic, &loaded_states(&rows), r.levels)
            .ok()
            .map(|f| (f.rmse, rows.len()))
    };
    let w = coarse_step(r.window_s);
    let n = (SEARCH_S / w).floor() as i64;
    let mut seen: Vec<(f64, f64, usize)> = Vec::new();
    for k in -n..=n {
        let d = k as f64 * w;
        if let Some((e, m)) = eval(d) {
            seen.push((d, e, m));
        }
    }
    let min = |v: &[(f64, f64, usize)]| v.iter().copied().min_by(|a, b| a.1.total_cmp(&b.1));
    let (coarse, _, _) = min(&seen).ok_or("no shift of the power series gives a usable fit")?;
    let step = w / 10.0;
    for k in -10..=10 {
        let d = coarse + k as f64 * step;
        if k == 0 || d.abs() > SEARCH_S + 1e-9 {
            continue;
        }
        if let Some((e, m)) = eval(d) {
            seen.push((d, e, m));
        }
    }
    let (_, best, m) = min(&seen).ok_or("no usable fit")?;
    let tol = best / (2.0 * m as f64).sqrt();
    let (shift, rmse, _) = seen
        .iter()
        .copied()
        .filter(|x| x.1 <= best + tol)
        .min_by(|a, b| a.0.abs().total_cmp(&b.0.abs()))
        .ok_or("no usable fit")?;
    Ok(Offset {
        shift_s: shift,
        rmse_zero_w: eval(0.0).map_or(f64::NAN, |x| x.0),
        rmse_best_w: rmse,
        step_s: step,
        at_edge: shift.abs() > SEARCH_S - w,
    })
}

/// Fits the power model over every run, each at its best clock offset. `names` label the
/// runs in diagnoses.
pub fn fit(runs: &[RunInput], run_names: &[String]) -> Result<PowerFit, String> {
    let nic = runs
        .iter()
        .any(|r| r.transfers.iter().any(|t| t.gbps.is_some_and(|g| g > 0.0)));
    let mut all = Vec::new();
    let mut offsets = Vec::new();
    let mut unusable = Vec::new();
    for (k, r) in runs.iter().enumerate() {
        let name = &run_names[k];
        let (rows0, _) = rows_at(r, k, 0.0);
        if rows0.len() < MIN_ROWS {
            return Err(format!(
                "{name}: only {} usable intervals where power and CPU overlap ({MIN_ROWS} needed): \
                 too many rows flagged or missing, or the power and CPU series do not overlap in time",
                rows0.len()
            ));
        }
        let run_nic = nic && r.transfers.iter().any(|t| t.gbps.is_some_and(|g| g > 0.0));
        let off = best_shift(r, run_nic).map_err(|e| format!("{name}: {e}"))?;
        if off.at_edge {
            return Err(format!(
                "{name}: misaligned clocks: the power series fits the CPU series best when shifted \
                 by {:+.2} s, the edge of the ±{SEARCH_S} s search (RMSE {:.2} W there, {:.2} W unshifted); \
                 the meter and the CPU counters were stamped by different or unsynchronised clocks, \
                 or the power belongs to another host",
                off.shift_s, off.rmse_best_w, off.rmse_zero_w
            ));
        }
        let (rows, bad) = rows_at(r, k, off.shift_s);
        let f = regress(&rows, run_nic, &loaded_states(&rows), r.levels)
            .map_err(|e| format!("{name}: {e}"))?;
        if f.r2.is_nan() || f.r2 < MIN_R2 {
            return Err(format!(
                "{name}: poor fit (R² {:.3} < {MIN_R2}, RMSE {:.2} W at the best shift {:+.2} s): \
                 power does not follow busy cores; misaligned clocks, a meter on another machine, \
                 or p-state changes the run does not record",
                f.r2, f.rmse, off.shift_s
            ));
        }
        unusable.push(bad);
        offsets.push(off);
        all.extend(rows);
    }
    check_idle(&all, &run_names.join(", "))?;
    let levels: Vec<u64> = runs.first().map_or(Vec::new(), |r| r.levels.to_vec());
    let states: Vec<usize> = (0..levels.len().max(1)).collect();
    let loaded = loaded_states(&all);
    if let Some(&k) = states.iter().find(|k| !loaded.contains(k)) {
        return Err(format!(
            "{}: no interval with load at {} MHz, so its per-core power cannot be fitted; \
             load the host at every clock it runs at (or pin one clock)",
            run_names.join(", "),
            levels.get(k).copied().unwrap_or(0)
        ));
    }
    let fit = regress(&all, nic, &states, &levels)?;
    Ok(PowerFit {
        fit,
        names: names(nic, &states, &levels),
        clocks_mhz: levels,
        nic,
        rows: all,
        offsets,
        unusable,
    })
}

/// A fit without an idle period extrapolates idle power: refuse it.
fn check_idle(rows: &[Row], name: &str) -> Result<(), String> {
    let min = rows.iter().map(|r| r.busy).fold(f64::INFINITY, f64::min);
    if min >= 0.5 {
        return Err(format!(
            "{name}: no idle period: every interval has at least {min:.2} busy cores, so idle power \
             would be an extrapolation; record at least 10 s with the guests idle (< 0.5 busy core)"
        ));
    }
    Ok(())
}
