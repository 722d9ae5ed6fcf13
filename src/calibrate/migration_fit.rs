//! Migration parameters from the runs that contain migrations.
//!
//! For each migration (phases from [`super::phases`]):
//! - setup time = transfer start − start; effective rate = bytes sent / (transfer end −
//!   transfer start);
//! - dom0's CPU levels come from one regression over the CPU intervals from
//!   [`BASELINE_S`] before the start to 10 s after the source copy is gone: dom0 = base
//!   plus Σ level × (share of the interval in each phase: setup, sending, clean-up; from
//!   the transfer's end to the source copy's end dom0 is taken to be at base). Exact
//!   overlaps keep the levels right at any poll interval, even for phases shorter than
//!   it (a 1.5 s setup seen by 1 s polls);
//! - setup CPU = the setup level; sender CPU per page = the sending level / pages per
//!   second (4 KiB pages); the receiver's likewise from the destination's dom0 when the
//!   run has it;
//! - clean-up of the source copy = source copy gone − switch-over;
//! - dom0 clean-up: the step [gone, gone + T] has no event; T is the 5 ms grid value
//!   that minimises the regression's residual (so it is resolved below the poll interval);
//! - extra power while pages are sent: mean power over the transfer minus the mean over
//!   the baseline window (the study's figure), and minus the fitted model without its NIC
//!   term (the part busy cores do not explain).
//!
//! Each value carries a standard error: the regression's for CPU levels, the event
//! stamps' resolution (poll spacing/√12) for durations, σ/√n for power means, and the
//! spread across migrations when there are several.

use super::align::{overlap, CpuSeries};
use super::fit::{ols, Fit};
use super::phases::Migration;
use super::power_fit::PowerFit;

/// Window before a migration that gives the baseline, s.
pub const BASELINE_S: f64 = 5.0;
/// Bytes per page.
pub const PAGE_B: f64 = 4096.0;

/// A value with its standard error (same unit).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Est {
    /// The estimate.
    pub v: f64,
    /// Its standard error.
    pub se: f64,
}

/// One migration's estimates; None where the run lacks what it needs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MigrationEstimate {
    /// Run index.
    pub run: usize,
    /// The VM.
    pub vm: Option<String>,
    /// Setup time, s.
    pub setup_s: Option<Est>,
    /// dom0 CPU during setup above baseline, cores.
    pub setup_cpu: Option<Est>,
    /// Transfer time, s.
    pub transfer_s: Option<Est>,
    /// Effective payload rate, B/s.
    pub rate_bps_bytes: Option<Est>,
    /// Sender dom0 CPU per page, s.
    pub sender_cpu_per_page_s: Option<Est>,
    /// Receiver dom0 CPU per page, s.
    pub receiver_cpu_per_page_s: Option<Est>,
    /// Source copy's linger after switch-over, s.
    pub cleanup_vm_s: Option<Est>,
    /// dom0 clean-up duration after the source copy is gone, s.
    pub cleanup_dom0_s: Option<Est>,
    /// dom0 CPU during that clean-up above baseline, cores.
    pub cleanup_dom0_cpu: Option<Est>,
    /// Mean power while pages are sent minus the baseline window's, W.
    pub extra_power_w: Option<Est>,
    /// Mean power while pages are sent minus the model without its NIC term, W.
    pub non_cpu_power_w: Option<Est>,
    /// Start to source copy gone, s.
    pub total_s: Option<f64>,
    /// Start to the end of dom0's clean-up, s.
    pub total_with_dom0_s: Option<f64>,
    /// Phase times (for plots and replay).
    pub phases: Migration,
}

fn mean_se(v: &[f64]) -> Option<Est> {
    if v.is_empty() {
        return None;
    }
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let sd = if v.len() > 1 {
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    Some(Est {
        v: m,
        se: sd / n.sqrt(),
    })
}

fn minus(a: Est, b: Est) -> Est {
    Est {
        v: a.v - b.v,
        se: a.se.hypot(b.se),
    }
}

/// dom0's CPU regressed on phase indicators: over the intervals lying inside [lo, hi],
/// dom0 = base + Σ level_p × (the share of the interval inside phase p). Exact overlaps
/// make the levels right whatever the poll interval, even when phases are shorter than
/// it. Returns the fit (coefficients: base, then one per phase) and its SSE.
fn phase_levels(cpu: &CpuSeries, phases: &[(f64, f64)], lo: f64, hi: f64) -> Option<(Fit, f64)> {
    let mut x = Vec::new();
    let mut y = Vec::new();
    for i in cpu
        .intervals
        .iter()
        .filter(|i| i.t0 >= lo - 1e-9 && i.t1 <= hi + 1e-9)
    {
        let Some(d) = i.dom0 else { continue };
        let dt = i.t1 - i.t0;
        let mut row = vec![1.0];
        row.extend(phases.iter().map(|&(a, b)| overlap(i.t0, i.t1, a, b) / dt));
        x.push(row);
        y.push(d);
    }
    let names: Vec<&str> = (0..=phases.len()).map(|_| "phase").collect();
    if y.len() < names.len() + 2 {
        return None;
    }
    let f = ols(&x, &y, &names).ok()?;
    let sse = f.rmse * f.rmse * f.n as f64;
    Some((f, sse))
}

fn coef(f: &Fit, k: usize) -> Est {
    Est {
        v: f.coef[k],
        se: if f.se[k].is_finite() { f.se[k] } else { 0.0 },
    }
}

/// The source's dom0 levels: setup, sending, and the clean-up step [gone, gone + T] with
/// T on a 5 ms grid (the T with the smallest SSE). Returns the fit (base, setup, send[,
/// cleanup]) and T (None: no clean-up step found).
fn source_levels(cpu: &CpuSeries, m: &Migration, horizon: f64) -> Option<(Fit, Option<f64>)> {
    let (ts, te) = (m.transfer_start?, m.transfer_end?);
    let lo = (m.start - BASELINE_S).max(0.0);
    let phases = vec![(m.start, ts), (ts, te)];
    let Some(g) = m.source_gone else {
        return phase_levels(cpu, &phases, lo, te).map(|(f, _)| (f, None));
    };
    // Between the transfer's end and the source copy's end dom0 is taken to be at its
    // baseline (the work is the destination's restore and the lingering VM copy's, not
    // dom0's): with a free level there, a coarse poll shared by that phase and the
    // clean-up would leave the clean-up's length and level undetermined.
    let hi = g + horizon;
    let (without, _) = phase_levels(cpu, &phases, lo, hi)?;
    let mut best: Option<(Fit, f64, f64)> = None;
    let steps = (horizon / 0.005) as usize;
    for k in 1..steps {
        let t = k as f64 * 0.005;
        let mut ph = phases.clone();
        ph.push((g, g + t));
        if let Some((f, sse)) = phase_levels(cpu, &ph, lo, hi) {
            if best.as_ref().is_none_or(|b| sse < b.1) {
                best = Some((f, sse, t));
            }
        }
    }
    match best {
        // A step worth the name: above 2 % of a core, and at least half a poll long
        // (a shorter one only fixes its area L × T, not L and T apart).
        Some((f, _, t)) if f.coef[3] > 0.02 && t >= 0.5 * cpu.spacing_s => Some((f, Some(t))),
        _ => Some((without, None)),
    }
}

/// Estimates for one migration of run `run`. `src` is the metered (source) host's CPU,
/// `dst` the destination's when recorded; `pf` the power fit (its rows give measured power).
pub fn estimate(
    run: usize,
    m: &Migration,
    src: &CpuSeries,
    dst: Option<&CpuSeries>,
    pf: &PowerFit,
    next_start: Option<f64>,
) -> MigrationEstimate {
    let res = src.spacing_s / 12f64.sqrt();
    let dur = |a: Option<f64>, b: Option<f64>| -> Option<Est> {
        let (a, b) = (a?, b?);
        (b >= a).then_some(Est { v: b - a, se: res })
    };
    let b0 = (m.start - BASELINE_S).max(0.0);
    let mut out = MigrationEstimate {
        run,
        vm: m.vm.clone(),
        setup_s: dur(Some(m.start), m.transfer_start),
        transfer_s: dur(m.transfer_start, m.transfer_end),
        cleanup_vm_s: dur(m.switch, m.source_gone),
        total_s: m.source_gone.map(|g| g - m.start),
        phases: m.clone(),
        ..Default::default()
    };
    let rate = m.rate_bps().map(|b| b / 8.0);
    if let (Some(r), Some(t)) = (rate, out.transfer_s) {
        // The rate's error comes from the transfer time's: δr/r = δt/t.
        out.rate_bps_bytes = Some(Est {
            v: r,
            se: r * t.se / t.v,
        });
    }
    let pages_per_s = rate.map(|r| r / PAGE_B);
    // Relative error of the page rate, carried into the per-page CPU costs.
    let rel = out.rate_bps_bytes.map_or(0.0, |r| r.se / r.v);
    let per_page = |x: Est, pps: f64| Est {
        v: x.v / pps,
        se: (x.se / pps).hypot(x.v / pps * rel),
    };
    let horizon = match (next_start, m.source_gone) {
        (Some(n), Some(g)) => (n - g).clamp(0.5, 10.0),
        _ => 10.0,
    };
    if let Some((f, t)) = source_levels(src, m, horizon) {
        out.setup_cpu = Some(coef(&f, 1));
        if let Some(pps) = pages_per_s {
            out.sender_cpu_per_page_s = Some(per_page(coef(&f, 2), pps));
        }
        if let (Some(t), Some(g)) = (t, m.source_gone) {
            out.cleanup_dom0_s = Some(Est { v: t, se: res });
            out.cleanup_dom0_cpu = Some(coef(&f, 3));
            out.total_with_dom0_s = Some(g + t - m.start);
        }
    }
    if let (Some(d), Some(ts), Some(te), Some(pps)) =
        (dst, m.transfer_start, m.transfer_end, pages_per_s)
    {
        // The receiver works while pages arrive; after the transfer the destination
        // restores the VM (its own column, so it does not leak into the per-page cost).
        let sw = m.switch.unwrap_or(te).max(te);
        let mut ph = vec![(ts, te)];
        if sw > te {
            ph.push((te, sw));
        }
        if let Some((f, _)) = phase_levels(d, &ph, (m.start - BASELINE_S).max(0.0), sw + BASELINE_S)
        {
            out.receiver_cpu_per_page_s = Some(per_page(coef(&f, 1), pps));
        }
    }
    if let (Some(a), Some(b)) = (m.transfer_start, m.transfer_end) {
        let mine = |lo: f64, hi: f64| -> Vec<&super::power_fit::Row> {
            pf.rows
                .iter()
                .filter(|r| r.run == run && r.t0 >= lo - 1e-9 && r.t1 <= hi + 1e-9)
                .collect()
        };
        let during = mine(a, b);
        let before = mine(b0, m.start);
        let pw = |v: &[&super::power_fit::Row]| {
            mean_se(&v.iter().map(|r| r.power_w).collect::<Vec<_>>())
        };
        if let (Some(d), Some(bf)) = (pw(&during), pw(&before)) {
            out.extra_power_w = Some(minus(d, bf));
        }
        let resid: Vec<f64> = during
            .iter()
            .map(|r| r.power_w - pf.predict(r.busy, r.state, 0.0))
            .collect();
        out.non_cpu_power_w = mean_se(&resid);
    }
    out
}

/// One parameter pooled over migrations: the mean, with the larger of two SEs: the
/// spread across migrations (σ/√n), and the migrations' own SEs combined (rms/√n) — so
/// identical migrations (a spread of zero) do not claim a zero error.
pub fn pooled(
    ests: &[MigrationEstimate],
    f: impl Fn(&MigrationEstimate) -> Option<Est>,
) -> Option<Est> {
    let v: Vec<Est> = ests.iter().filter_map(f).collect();
    match v.len() {
        0 => None,
        1 => Some(v[0]),
        n => {
            let spread = mean_se(&v.iter().map(|e| e.v).collect::<Vec<_>>())?;
            let own =
                (v.iter().map(|e| e.se * e.se).sum::<f64>() / n as f64).sqrt() / (n as f64).sqrt();
            Some(Est {
                v: spread.v,
                se: spread.se.max(own),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibrate::align::CpuInterval;

    #[test]
    fn phase_levels_are_exact_with_polls_coarser_than_the_phases() {
        // dom0: 0.05 base; +0.10 during setup [10, 11.5]; +0.49 sending [11.5, 20.3];
        // nothing after the transfer [20.3, 21.4]; +0.50 clean-up [21.4, 22.4]. Polls
        // every 1 s from 4.0 s: each interval's value is the exact overlap-weighted mean.
        let level = |a: f64, b: f64| {
            let ph = [(10.0, 11.5, 0.10), (11.5, 20.3, 0.49), (21.4, 22.4, 0.50)];
            0.05 + ph
                .iter()
                .map(|&(p, q, l)| l * overlap(a, b, p, q))
                .sum::<f64>()
                / (b - a)
        };
        let intervals = (0..30)
            .map(|k| {
                let t0 = 4.0 + k as f64;
                CpuInterval {
                    t0,
                    t1: t0 + 1.0,
                    busy: Some(1.0),
                    dom0: Some(level(t0, t0 + 1.0)),
                }
            })
            .collect();
        let cpu = CpuSeries {
            intervals,
            source: "domains",
            dropped: 0,
            spacing_s: 1.0,
        };
        let m = Migration {
            start: 10.0,
            transfer_start: Some(11.5),
            transfer_end: Some(20.3),
            switch: Some(20.4),
            source_gone: Some(21.4),
            ..Default::default()
        };
        let (f, t) = source_levels(&cpu, &m, 10.0).unwrap();
        assert!((t.unwrap() - 1.0).abs() < 0.006, "{t:?}");
        for (k, want) in [(0, 0.05), (1, 0.10), (2, 0.49), (3, 0.50)] {
            assert!((f.coef[k] - want).abs() < 1e-6, "{k}: {}", f.coef[k]);
        }
        // A flat dom0: no clean-up step.
        let mut flat = cpu.clone();
        for i in &mut flat.intervals {
            i.dom0 = Some(0.05);
        }
        assert_eq!(source_levels(&flat, &m, 10.0).map(|x| x.1), Some(None));
    }
}
