//! Migration parameters from the runs that contain migrations.
//!
//! For each migration (phases from [`super::phases`]):
//! - setup time = transfer start − start; setup CPU = dom0's mean busy cores over it minus
//!   dom0's baseline (its mean over the [`BASELINE_S`] before the start);
//! - effective rate = bytes sent / (transfer end − transfer start);
//! - sender CPU per page = (dom0 over the transfer − baseline) / pages per second
//!   (4 KiB pages); receiver likewise from the destination's dom0 when the run has it;
//! - clean-up of the source copy = source copy gone − switch-over;
//! - dom0 clean-up: after the source copy is gone, dom0's excess CPU is fitted as one
//!   step L·[gone, gone + T] (exact overlap with each CPU interval; T on a 5 ms grid), so
//!   its duration is resolved below the poll interval;
//! - extra power while pages are sent: mean power over the transfer minus the mean over
//!   the baseline window (the study's figure), and minus the fitted model without its NIC
//!   term (the part busy cores do not explain).
//!
//! Each value carries a standard error: of the window mean (σ/√n over CPU intervals)
//! for CPU levels, of the event stamps' resolution (poll spacing/√12) for durations, and
//! across migrations when there are several.

use super::align::CpuSeries;
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

/// dom0 busy cores of the intervals lying mostly inside [a, b] (overlap > half the
/// interval), for window means with a standard error.
fn dom0_in(cpu: &CpuSeries, a: f64, b: f64) -> Vec<f64> {
    cpu.intervals
        .iter()
        .filter(|i| super::align::overlap(i.t0, i.t1, a, b) > 0.5 * (i.t1 - i.t0))
        .filter_map(|i| i.dom0)
        .collect()
}

/// An overlap-weighted dom0 mean over [a, b] with the SE of the interval values inside.
fn dom0_level(cpu: &CpuSeries, a: f64, b: f64) -> Option<Est> {
    let v = cpu.dom0_mean(a, b)?;
    let se = mean_se(&dom0_in(cpu, a, b)).map_or(0.0, |e| e.se);
    Some(Est { v, se })
}

fn minus(a: Est, b: Est) -> Est {
    Est {
        v: a.v - b.v,
        se: a.se.hypot(b.se),
    }
}

/// Fits L and T of the dom0 clean-up step starting at `g` on excess CPU `e` (intervals
/// after g within `horizon` s): returns (T s, L cores) or None when there is no step.
fn cleanup_step(cpu: &CpuSeries, base: f64, g: f64, horizon: f64) -> Option<(f64, f64)> {
    let iv: Vec<(f64, f64, f64)> = cpu
        .intervals
        .iter()
        .filter(|i| i.t1 > g && i.t0 < g + horizon)
        .filter_map(|i| Some((i.t0, i.t1, i.dom0? - base)))
        .collect();
    if iv.len() < 3 {
        return None;
    }
    let mut best: Option<(f64, f64, f64)> = None;
    let steps = (horizon / 0.005) as usize;
    for k in 1..=steps {
        let t = k as f64 * 0.005;
        let (mut ae, mut aa) = (0.0, 0.0);
        for &(t0, t1, e) in &iv {
            let a = super::align::overlap(t0, t1, g, g + t) / (t1 - t0);
            ae += a * e;
            aa += a * a;
        }
        if aa <= 0.0 {
            continue;
        }
        // SSE = Σe² − (Σae)²/Σa²: maximise the explained part.
        let gain = ae * ae / aa;
        if best.is_none_or(|(_, _, b)| gain > b) {
            best = Some((t, ae / aa, gain));
        }
    }
    let (t, l, _) = best?;
    (l > 0.02 && t < horizon - 0.01).then_some((t, l))
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
    let base = dom0_level(src, b0, m.start);
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
    if let (Some(ts), Some(base)) = (m.transfer_start, base) {
        out.setup_cpu = dom0_level(src, m.start, ts).map(|l| minus(l, base));
    }
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
    if let (Some(a), Some(b), Some(pps), Some(base)) =
        (m.transfer_start, m.transfer_end, pages_per_s, base)
    {
        out.sender_cpu_per_page_s = dom0_level(src, a, b).map(|l| per_page(minus(l, base), pps));
        if let Some(d) = dst {
            let dbase = dom0_level(d, b0, m.start);
            if let (Some(l), Some(db)) = (dom0_level(d, a, b), dbase) {
                out.receiver_cpu_per_page_s = Some(per_page(minus(l, db), pps));
            }
        }
    }
    if let (Some(g), Some(base)) = (m.source_gone, base) {
        let horizon = next_start.map_or(10.0, |n| (n - g).clamp(0.5, 10.0));
        if let Some((t, l)) = cleanup_step(src, base.v, g, horizon) {
            out.cleanup_dom0_s = Some(Est { v: t, se: res });
            // SE of the level: the interval values fully inside the step.
            let se = mean_se(&dom0_in(src, g, g + t)).map_or(base.se, |e| e.se.hypot(base.se));
            out.cleanup_dom0_cpu = Some(Est { v: l, se });
            out.total_with_dom0_s = Some(g + t - m.start);
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
            .map(|r| r.power_w - pf.predict(r.busy, 0.0))
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
    fn the_cleanup_step_is_resolved_below_the_poll_interval() {
        // dom0 at 0.5 core above a 0.1 baseline from g = 10.0 s for 1.03 s, polls every
        // 0.1 s from 9.95 s: the interval [10.95, 11.05] holds 0.08 s of the step → 0.1 +
        // 0.5 × 0.8 = 0.5 cores.
        let mut iv = Vec::new();
        for k in 0..40 {
            let t0 = 9.95 + k as f64 * 0.1;
            let t1 = t0 + 0.1;
            let o = crate::calibrate::align::overlap(t0, t1, 10.0, 11.03) / 0.1;
            iv.push(CpuInterval {
                t0,
                t1,
                busy: 1.0,
                dom0: Some(0.1 + 0.5 * o),
            });
        }
        let cpu = CpuSeries {
            intervals: iv,
            source: "domains",
            dropped: 0,
            spacing_s: 0.1,
        };
        let (t, l) = cleanup_step(&cpu, 0.1, 10.0, 3.0).unwrap();
        assert!((t - 1.03).abs() < 0.006, "{t}");
        assert!((l - 0.5).abs() < 0.01, "{l}");
        // No step: a flat dom0.
        let mut flat = cpu.clone();
        for i in &mut flat.intervals {
            i.dom0 = Some(0.1);
        }
        assert!(cleanup_step(&flat, 0.1, 10.0, 3.0).is_none());
    }
}
