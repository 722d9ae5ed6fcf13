//! The synthetic PlanetLab-like demand generator (`capsim::scenario::synthetic`) against
//! the targets of its spec and against the real 20110303 PlanetLab day.
//!
//! The generator is compared with the real day's statistics as recorded in [`REAL_DAY`],
//! so every test runs on a plain clone; `real_day_statistics` checks those numbers against
//! the 1,052 traces in `../shared/data/planetlab-cloudsim/20110303` when they are beside
//! the crate, and says it was skipped when not (the traces' licence is not stated, so no
//! excerpt of them is committed).

mod shared_data;

use capsim::model::workload::{Demand, TraceEnd};
use capsim::scenario::synthetic::{demand, SyntheticSpec, TraceStats, ACF_LAGS};
use std::sync::OnceLock;

/// The real day's statistics (`TraceStats` fields, rounded to 4 decimals), as printed by
/// tests/shared_data/planetlab_stats.py: plain Python over the 1,052 files with the same
/// definitions, independent of capsim.
struct RealDay {
    mean: f64,
    median: f64,
    p90: f64,
    p99: f64,
    zero_share: f64,
    within_share: f64,
    lag1_global: f64,
    /// At [`ACF_LAGS`].
    acf: [f64; 8],
}

const REAL_DAY: RealDay = RealDay {
    mean: 12.3144,
    median: 6.0,
    p90: 36.0,
    p99: 79.0,
    zero_share: 0.1499,
    within_share: 0.2496,
    lag1_global: 0.7718,
    acf: [
        0.0848, 0.0546, 0.0784, 0.0789, 0.0926, 0.0622, 0.0296, -0.0088,
    ],
};

/// VMs in the pooled synthetic sample. Between-VM spread dominates the pooled mean's
/// sampling error: the SD of the VM means is ≈ 15 points, so the standard error of the
/// pooled mean is ≈ 15/√10,000 = 0.15 points, against a 5 % tolerance of 0.555 (3.7 SE).
/// (2,000 VMs would give SE ≈ 0.33, too close to the tolerance.)
const VMS: usize = 10_000;

/// `n` VMs' traces from the public API: VM "vm{i}" of run (seed 2024, replicate 0).
fn pool(spec: &SyntheticSpec, n: usize) -> Vec<Vec<f32>> {
    (0..n)
        .map(|i| match demand(spec, 2024, 0, &format!("vm{i}")) {
            Demand::Trace { samples, .. } => samples.to_vec(),
            other => panic!("expected a trace, got {other:?}"),
        })
        .collect()
}

/// The default spec's pooled sample and its statistics (built once, shared by the tests).
fn default_pool() -> &'static (Vec<Vec<f32>>, TraceStats) {
    static POOL: OnceLock<(Vec<Vec<f32>>, TraceStats)> = OnceLock::new();
    POOL.get_or_init(|| {
        let traces = pool(&SyntheticSpec::default(), VMS);
        let stats = TraceStats::of(&traces);
        eprintln!("synthetic (default spec, {VMS} VMs): {stats:#?}");
        (traces, stats)
    })
}

fn within_rel(x: f64, target: f64, rel: f64) -> bool {
    (x - target).abs() <= rel * target
}

#[test]
fn real_day_statistics() {
    let Some(dir) = shared_data::full_data(
        "synthetic::real_day_statistics",
        "planetlab-cloudsim/20110303",
    ) else {
        return;
    };
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    let traces: Vec<Vec<f32>> = paths
        .iter()
        .map(|p| capsim::scenario::trace::read_planetlab(p).unwrap())
        .collect();
    // README: all 1,052 files of the day, 288 lines each.
    assert_eq!(traces.len(), 1052, "expected the 1,052 files of 20110303");
    assert!(traces.iter().all(|t| t.len() == 288));
    let r = TraceStats::of(&traces);
    eprintln!("PlanetLab 20110303 (1,052 VMs x 288): {r:#?}");
    // The values quoted in src/scenario/synthetic.rs (and used to tune it) are this day's.
    // The 10-day README figures are mean 11.1, median 5, p90 30, p99 77: this day is a
    // little busier. capsim's statistics equal the Python ones in REAL_DAY to their 4
    // decimals (1e-4 covers the rounding).
    let e = &REAL_DAY;
    assert_eq!(r.samples, 1052 * 288);
    assert!((r.mean - e.mean).abs() < 1e-4, "mean {}", r.mean);
    assert_eq!((r.median, r.p90, r.p99), (e.median, e.p90, e.p99));
    for (k, lag) in ACF_LAGS.iter().enumerate() {
        assert!(
            (r.acf[k] - e.acf[k]).abs() < 1e-4,
            "lag {lag}: {}",
            r.acf[k]
        );
    }
    assert!(
        (r.within_share - e.within_share).abs() < 1e-4,
        "within {}",
        r.within_share
    );
    assert!(
        (r.lag1_global - e.lag1_global).abs() < 1e-4,
        "global lag-1 {}",
        r.lag1_global
    );
    assert!(
        (r.zero_share - e.zero_share).abs() < 1e-4,
        "zeros {}",
        r.zero_share
    );
}

#[test]
fn pooled_statistics_match_the_planetlab_targets() {
    let (_, s) = default_pool();
    // Targets: README, all 10 days: mean 11.1 %, median 5 %, p99 77 %; 5 % relative.
    assert!(within_rel(s.mean, 11.1, 0.05), "mean {} vs 11.1", s.mean);
    // The median of integer samples is an integer; the calibration puts the continuous
    // value's median at 5.0, the middle of the bin [4.5, 5.5) that rounds to 5, so the
    // pooled median must be exactly 5 (and 5 % of 5 is below one unit anyway).
    assert_eq!(s.median, 5.0);
    // 5 % of 77 = 3.85: nearest-rank p99 in 74..=80.
    assert!(within_rel(s.p99, 77.0, 0.05), "p99 {} vs 77", s.p99);
    // Not a target, but the README's p90 is 30: the λ-family lands on it (10 % tolerance).
    assert!(within_rel(s.p90, 30.0, 0.10), "p90 {} vs 30", s.p90);
}

#[test]
fn samples_are_integer_percents_up_to_99() {
    let (traces, _) = default_pool();
    let mut max = 0.0f32;
    for t in traces {
        assert_eq!(t.len(), 288);
        for &x in t {
            assert!(x.fract() == 0.0 && (0.0..=99.0).contains(&x), "sample {x}");
            max = max.max(x);
        }
    }
    // PlanetLab's maximum is 99; among 10,000 VMs some saturate.
    assert_eq!(max, 99.0);
}

/// Mean over VMs of the samples in `slots` (5-minute slot indices).
fn slot_mean(traces: &[Vec<f32>], slots: std::ops::Range<usize>) -> f64 {
    let n = traces.len() * slots.len();
    traces
        .iter()
        .map(|t| t[slots.clone()].iter().map(|&x| x as f64).sum::<f64>())
        .sum::<f64>()
        / n as f64
}

/// Relative amplitude (P − T)/(P + T) between the hour centred on the peak and the hour
/// centred on the trough (12 h later), and the two hour means.
fn peak_trough(traces: &[Vec<f32>], peak_hour: f64) -> (f64, f64, f64) {
    let hour = |h: f64| {
        let first = ((h - 0.5).rem_euclid(24.0) * 12.0).round() as usize;
        first..first + 12
    };
    let p = slot_mean(traces, hour(peak_hour));
    let t = slot_mean(traces, hour(peak_hour + 12.0));
    ((p - t) / (p + t), p, t)
}

/// Mean of cos(2π·offset/24 h) over the 12 slot midpoints of an hour centred on the peak:
/// offsets ±2.5, ±7.5, …, ±27.5 min, i.e. ≈ 1 − E[θ²]/2 with E[θ²] = (297.9 min²)·(2π/1440
/// min)² = 0.00567, so ≈ 0.99716.
fn hour_cos() -> f64 {
    (0..12)
        .map(|k| {
            let off_min = -27.5 + 5.0 * k as f64;
            (2.0 * std::f64::consts::PI * off_min / 1440.0).cos()
        })
        .sum::<f64>()
        / 12.0
}

#[test]
fn diurnal_cycle_is_visible() {
    let (traces, s) = default_pool();
    let c = hour_cos();
    assert!((c - 0.99716).abs() < 1e-5);
    // Demand × (1 + A·cos): over the VMs the peak hour's mean is μ(1 + A·c), the trough's
    // μ(1 − A·c), so (P − T)/(P + T) = A·c = 0.06 × 0.99716 = 0.0598 (P/T = 1.127, and
    // P − T ≈ 2 × 0.0598 × 11.1 = 1.33 points), less a hair for samples clamped at 99.
    // Tolerance ±0.01: the VM levels cancel between the two hours, leaving within-VM noise
    // (SE ≈ 0.002 on the ratio for 10,000 VMs × 12 samples).
    let (r, p, t) = peak_trough(traces, 14.0);
    eprintln!("default: peak hour {p:.3}, trough hour {t:.3}, relative amplitude {r:.4} (expected 0.0598); mean {:.3}", s.mean);
    assert!((r - 0.06 * c).abs() < 0.01, "relative amplitude {r}");
    assert!(p > t);
}

#[test]
fn strong_diurnal_cycle_keeps_the_pooled_targets() {
    // A = 0.3, peak 18:00; the calibration re-fits (m, s, λ), so the pooled statistics
    // still hold. 10,000 VMs as for the default (the p99 rests on the ≈ 2 % busiest VMs, so
    // it needs the numbers).
    let spec = SyntheticSpec {
        diurnal_amplitude: 0.3,
        peak_hour: 18.0,
        ..SyntheticSpec::default()
    };
    let traces = pool(&spec, 10_000);
    let s = TraceStats::of(&traces);
    eprintln!("A = 0.3: {s:#?}");
    assert!(within_rel(s.mean, 11.1, 0.05), "mean {}", s.mean);
    assert_eq!(s.median, 5.0);
    assert!(within_rel(s.p99, 77.0, 0.05), "p99 {}", s.p99);
    // Expected (P − T)/(P + T) = 0.3 × 0.99716 = 0.2991 (P/T = 1.853); at the peak
    // 1.3·100u > 99 for u > 0.76, about 1 % of samples, whose clamping trims P a little, so
    // the tolerance is ±0.02 and one-sided slack goes downwards.
    let (r, p, t) = peak_trough(&traces, 18.0);
    eprintln!("A = 0.3: peak hour {p:.3}, trough hour {t:.3}, relative amplitude {r:.4} (expected 0.2991)");
    assert!(
        (r - 0.3 * hour_cos()).abs() < 0.02,
        "relative amplitude {r}"
    );
}

#[test]
fn autocorrelation_matches_the_real_day() {
    let r = &REAL_DAY;
    let (_, s) = default_pool();
    eprintln!(
        "lags {ACF_LAGS:?}\n  real      {:?}\n  synthetic {:?}",
        r.acf, s.acf
    );
    // Within-VM lag-1 (each VM demeaned by its own mean), real 0.085: tolerance ±0.02
    // (the generator was tuned to it; seed-to-seed spread at 10,000 VMs is ≈ 0.003).
    assert!(
        (s.lag1() - r.acf[0]).abs() < 0.02,
        "lag-1 {} vs real {}",
        s.lag1(),
        r.acf[0]
    );
    // The memory fades over hours like the real one: every lag up to 8 h within ±0.04 (the
    // real profile itself jitters by ≈ 0.03 between neighbouring lags: 0.085, 0.055, 0.078).
    for (k, lag) in ACF_LAGS.iter().enumerate() {
        assert!(
            (s.acf[k] - r.acf[k]).abs() < 0.04,
            "lag {lag}: {} vs real {}",
            s.acf[k],
            r.acf[k]
        );
    }
    // Persistence of VM levels: the share of variance within VMs (real 0.250) within ±0.03,
    // hence the lag-1 around the pooled mean (real 0.772) within ±0.05.
    assert!(
        (s.within_share - r.within_share).abs() < 0.03,
        "within {}",
        s.within_share
    );
    assert!(
        (s.lag1_global - r.lag1_global).abs() < 0.05,
        "global lag-1 {}",
        s.lag1_global
    );
}

#[test]
fn demand_is_deterministic_per_vm_and_run() {
    let spec = SyntheticSpec::default();
    let d = demand(&spec, 7, 0, "web-1");
    assert_eq!(d, demand(&spec, 7, 0, "web-1"));
    for other in [
        demand(&spec, 7, 0, "web-2"),
        demand(&spec, 7, 1, "web-1"),
        demand(&spec, 8, 0, "web-1"),
    ] {
        assert_ne!(d, other);
    }
    match d {
        Demand::Trace {
            interval_ns,
            samples,
            end,
        } => {
            assert_eq!(interval_ns, 300_000_000_000);
            assert_eq!(samples.len(), 288);
            assert_eq!(end, TraceEnd::Repeat);
        }
        other => panic!("expected a trace, got {other:?}"),
    }
}
