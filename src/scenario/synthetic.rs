//! Built-in synthetic VM CPU demand that matches the PlanetLab traces' statistics, so a
//! datacenter scenario has a realistic default workload without any data file.
//!
//! # Targets
//! The PlanetLab traces (CloudSim's copy, README of `data/planetlab-cloudsim`) give one
//! integer percent per 5-minute interval, 288 per day; over all 10 days: mean 11.1 %,
//! median 5 %, p90 30 %, p99 77 %, max 99 %. [`SyntheticSpec::default`] asks for those.
//!
//! # Model (one VM, sample i at hour-of-day h_i)
//! ```text
//! y_i = ℓ + e_i                           latent "transformed utilisation"
//! ℓ   ~ N(m, s_b²)                        the VM's persistent level, drawn once
//! e_i = s_w·(√ρ·a_i + √(1−ρ)·η_i)         within-VM noise: a slow AR(1) part a_i
//!       a_{i+1} = φ·a_i + √(1−φ²)·ξ_i     (unit variance, φ = exp(−Δt/τ)) plus white η_i
//! u_i = g_λ⁻¹(y_i),  g_λ(u) = ln u − λ·ln(1−u)       u ∈ (0, 1)
//! x_i = clamp(round(100·u_i·(1 + A·cos(2π(h_i − peak)/24))), 0, 99)
//! ```
//! Why this shape rather than a plain log-normal:
//! * **Marginal.** Pooled over VMs and time, y ~ N(m, s²) with s² = s_b² + s_w², whatever
//!   the split and the autocorrelation, so the pooled distribution of the percents is known
//!   in closed form (up to the diurnal factor, handled by averaging over the trace's
//!   phases, and the rounding, handled exactly). A log-normal (λ = 0) fitted to median 5 and
//!   p99 77 has too thin a body between p90 and p99: its pooled mean is only ≈ 9.7 % and
//!   its p90 ≈ 22 %. A logit-normal (λ = 1) fitted the same way has mean ≈ 11.9 % and
//!   p90 ≈ 34 %. The family g_λ interpolates between the two; the third parameter λ is
//!   fitted so that the mean is matched too: λ = 0.586 for the defaults, whose pooled p90
//!   comes out at 30 %, PlanetLab's, though not a target.
//!   The bounded transform also keeps 99 % the natural ceiling instead of clamping a
//!   log-normal tail.
//! * **Persistence.** In the 20110303 data 75 % of the sample variance is *between* VMs
//!   (variance of the VM means 219 of 292 %²): a VM busy now is busy all day. Hence the
//!   persistent level ℓ; its share of the latent variance, 1 − κ, is tuned so the synthetic
//!   within-VM share of the *percent* variance is ≈ 25 % too.
//! * **Autocorrelation.** Within a VM (each VM demeaned by its own mean) the real 5-minute
//!   samples are nearly white: lag-1 autocorrelation 0.085, and 0.055, 0.078, 0.079, 0.093,
//!   0.062, 0.030, −0.009 at lags 2, 3, 6, 12, 24, 48, 96 (measured on 20110303, see
//!   `tests/synthetic.rs`). A flat ≈ 0.08 out to an hour that fades over several hours is
//!   not an AR(1) (which would decay by φ per lag); it is a small slow component plus white
//!   noise. So e is a slow AR(1) with time constant τ = 5 h carrying a share ρ of the noise
//!   variance plus white noise; ρ is tuned to the lag-1 value. A single AR(1) in log space
//!   fitted to lag 1 (φ ≈ 0.09) would have no memory beyond 10 minutes.
//! * **Diurnal cycle.** A multiplicative 1 + A·cos factor on the demand, so the mean over VMs
//!   at hour h is ≈ mean·(1 + A·cos(2π(h − peak)/24)) (exact but for the few samples that
//!   hit the 99 % ceiling). The default A = 0.06 is PlanetLab's own: a least-squares cosine
//!   through the 288 slot means of 20110303 has relative amplitude 0.059 (peak at 11.7 h on
//!   the traces' clock, whose time zone is not documented; PlanetLab nodes span the globe,
//!   so its cycle is weak). The default peak is 14:00 local, the usual afternoon peak.
//!   A stronger cycle (0.2–0.5 is common for one region's interactive load) is a spec
//!   field away; the calibration re-fits m, s, λ for it, so the pooled statistics still
//!   hold, but a larger A adds its own slow variance and raises the within-VM lag-1
//!   autocorrelation above PlanetLab's.
//!
//! # Calibration
//! [`calibrate`] solves for (m, s, λ) from (median, p99, mean) numerically, once per
//! distinct spec (memoised): the median and p99 conditions are on the continuous value
//! before rounding, P(100·u·D < 100·median) = 0.5 and P(100·u·D < 100·p99) = 0.99, which
//! puts the integer median and p99 in the middle of their rounding bins; the mean condition
//! is on the rounded, clamped integers, E(x) = Σ_{k=0}^{98} P(x > k) = Σ_k P(100·u·D ≥ k + ½).
//! The within-VM constants κ, ρ, τ ([`WITHIN_SHARE`], [`SLOW_SHARE`],
//! [`SLOW_TIMESCALE_S`]) do not move the pooled marginal; they were tuned by hand against
//! the 20110303 day (commented at each constant).

use crate::engine::rng::stream;
use crate::model::workload::{Demand, TraceEnd};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use std::sync::Mutex;

/// Share κ of the latent variance s² that is within-VM noise (the rest, 1 − κ, is the
/// spread of the persistent per-VM levels).
///
/// Tuned by hand so the within-VM share of the pooled *percent* variance,
/// 1 − Var(VM means)/Var(samples), is ≈ 0.25 like 20110303's (72.9 of 292.0 %²). Default
/// spec, 10,000 VMs, two seed sets: κ = 0.20 gave 0.255 and 0.26; with 2,000 VMs κ = 0.15
/// gave 0.19 and κ = 0.25 gave 0.31. (The bounded transform and the rounding shift variance
/// between the two parts, hence κ ≠ 0.25.)
pub const WITHIN_SHARE: f64 = 0.20;

/// Share ρ of the within-VM noise variance carried by the slow AR(1) component (the
/// rest is white).
///
/// Tuned by hand (with κ = 0.2, τ = 5 h) so the pooled within-VM lag-1 autocorrelation is
/// ≈ 0.085 like 20110303's: 10,000 VMs, two seed sets, ρ = 0.12 gave 0.078 and 0.082,
/// ρ = 0.13 gave 0.085 and 0.088, ρ = 0.15 gave ≈ 0.095. With ρ = 0.13 the profile at lags
/// 1, 2, 3, 6, 12, 24, 48, 96 is 0.085, 0.084, 0.081, 0.074, 0.061, 0.040, 0.010, −0.017
/// (real: 0.085, 0.055, 0.078, 0.079, 0.093, 0.062, 0.030, −0.009).
pub const SLOW_SHARE: f64 = 0.13;

/// Time constant τ of the slow component, seconds (5 h): the real within-VM
/// autocorrelation stays ≈ 0.08 to lag 12 (1 h) and falls to ≈ 0.06 at 2 h, 0.03 at 4 h and
/// 0 by 8 h; measured over a 24 h trace, demeaning per VM pulls every lag down by ≈ 0.03,
/// so the underlying decay is roughly 0.11·exp(−t/5 h). (τ = 4 h gave nearly the same
/// measured profile; the within-VM demeaning absorbs much of the difference.)
pub const SLOW_TIMESCALE_S: f64 = 5.0 * 3600.0;

/// Targets of the synthetic generator (defaults = PlanetLab's, README of the data set).
#[derive(Clone, Debug, PartialEq)]
pub struct SyntheticSpec {
    /// Pooled mean utilisation, fraction of the vCPUs (PlanetLab: 0.111).
    pub mean: f64,
    /// Pooled median, fraction (PlanetLab: 0.05).
    pub median: f64,
    /// Pooled 99th percentile, fraction (PlanetLab: 0.77).
    pub p99: f64,
    /// Sample interval, ns (PlanetLab: 300 s).
    pub interval_ns: u64,
    /// Samples per trace (PlanetLab: 288 = 24 h). The trace repeats after the last one.
    pub samples: usize,
    /// Relative amplitude A of the daily cycle: demand × (1 + A·cos(2π(h − peak)/24)).
    /// Default 0.06, PlanetLab's pooled value (module docs).
    pub diurnal_amplitude: f64,
    /// Hour of day (0–24) of the daily peak; sample i covers hours
    /// [i·Δ, (i+1)·Δ) after midnight and is evaluated at its midpoint. Default 14.0.
    pub peak_hour: f64,
}

impl Default for SyntheticSpec {
    fn default() -> Self {
        SyntheticSpec {
            mean: 0.111,
            median: 0.05,
            p99: 0.77,
            interval_ns: 300_000_000_000,
            samples: 288,
            diurnal_amplitude: 0.06,
            peak_hour: 14.0,
        }
    }
}

impl SyntheticSpec {
    /// Diurnal factor of sample `i`: 1 + A·cos(2π(h − peak)/24) at the sample's midpoint.
    pub fn diurnal_factor(&self, i: usize) -> f64 {
        let h = (i as f64 + 0.5) * self.interval_ns as f64 / 3.6e12;
        1.0 + self.diurnal_amplitude
            * (2.0 * std::f64::consts::PI * (h - self.peak_hour) / 24.0).cos()
    }
}

/// The fitted latent parameters of a spec (see the module docs for the model).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fit {
    /// Latent median m of y.
    pub m: f64,
    /// Latent standard deviation s of y (pooled over VMs and time).
    pub s: f64,
    /// Transform shape λ (0 = log-normal, 1 = logit-normal).
    pub lambda: f64,
    /// s_b = s·√(1 − κ): spread of the per-VM levels.
    pub sd_between: f64,
    /// s_w = s·√κ: within-VM noise.
    pub sd_within: f64,
    /// Share ρ of the within-VM noise variance in the slow AR(1) part ([`SLOW_SHARE`]).
    pub slow_share: f64,
    /// AR(1) coefficient φ = exp(−Δt/τ) of the slow noise per sample.
    pub phi: f64,
    /// The model's pooled mean of the integer percents at the fit (target 100·mean).
    pub fitted_mean_pct: f64,
}

/// g_λ(u) = ln u − λ·ln(1 − u) for u in (0, 1).
fn g(lambda: f64, u: f64) -> f64 {
    u.ln() - lambda * (-u).ln_1p()
}

/// ln(1 + eˣ) without overflow.
fn softplus(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

/// u = g_λ⁻¹(y) in [0, 1].
///
/// Solved for t = logit(u): f(t) = −softplus(−t) + λ·softplus(t) − y is increasing with
/// f′(t) = (1 − u) + λu in [min(1, λ), max(1, λ)] and of one curvature sign, so Newton
/// converges monotonically after the first step. λ = 0 (pure log) has no root for y ≥ 0:
/// u = min(eʸ, 1).
fn g_inv(lambda: f64, y: f64) -> f64 {
    if lambda <= 1e-9 {
        return y.exp().min(1.0);
    }
    // For u small, g ≈ ln u ≈ t; for u near 1, g ≈ λ·t.
    let mut t = if y < 0.0 { y } else { y / lambda };
    for _ in 0..100 {
        let u = 1.0 / (1.0 + (-t).exp());
        let f = -softplus(-t) + lambda * softplus(t) - y;
        let step = f / ((1.0 - u) + lambda * u);
        t -= step;
        if step.abs() < 1e-12 * (1.0 + t.abs()) {
            break;
        }
    }
    1.0 / (1.0 + (-t).exp())
}

/// Complementary error function (Numerical Recipes `erfcc`, Chebyshev fit; relative error
/// below 1.2e-7 everywhere).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let ans = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        ans
    } else {
        2.0 - ans
    }
}

/// Standard normal CDF.
fn phi_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// The diurnal factors the calibration averages over: every sample's, or for very long
/// traces 576 equally spaced phases of one day (the cycle is daily, so this is the same
/// average up to the partial last day).
fn phases(spec: &SyntheticSpec) -> Vec<f64> {
    const MAX: usize = 576;
    if spec.samples <= MAX {
        (0..spec.samples).map(|i| spec.diurnal_factor(i)).collect()
    } else {
        (0..MAX)
            .map(|j| {
                let h = (j as f64 + 0.5) * 24.0 / MAX as f64;
                1.0 + spec.diurnal_amplitude
                    * (2.0 * std::f64::consts::PI * (h - spec.peak_hour) / 24.0).cos()
            })
            .collect()
    }
}

/// Pooled P(100·u·D < x) under latent (m, s, λ), averaged over the diurnal phases `d`.
fn pooled_cdf(d: &[f64], m: f64, s: f64, lambda: f64, x: f64) -> f64 {
    let mut acc = 0.0;
    for &f in d {
        let u = x / (100.0 * f);
        acc += if u >= 1.0 {
            1.0
        } else if u <= 0.0 {
            0.0
        } else {
            phi_cdf((g(lambda, u) - m) / s)
        };
    }
    acc / d.len() as f64
}

/// Pooled mean of the rounded, clamped integer percents: Σ_{k=0}^{98} P(100·u·D ≥ k + ½).
fn pooled_mean_pct(d: &[f64], m: f64, s: f64, lambda: f64) -> f64 {
    (0..99)
        .map(|k| 1.0 - pooled_cdf(d, m, s, lambda, k as f64 + 0.5))
        .sum()
}

/// (m, s) with P(< 100·median) = 0.5 and P(< 100·p99) = 0.99 for a given λ: 2-D Newton
/// (numerical Jacobian) from the no-diurnal closed form m = g(median),
/// s = (g(p99) − m)/z₀.₉₉.
fn fit_quantiles(spec: &SyntheticSpec, d: &[f64], lambda: f64) -> (f64, f64) {
    const Z99: f64 = 2.326_347_874_040_84;
    let (xm, x99) = (100.0 * spec.median, 100.0 * spec.p99);
    let mut m = g(lambda, spec.median);
    let mut s = ((g(lambda, spec.p99) - m) / Z99).max(1e-3);
    let resid = |m: f64, s: f64| {
        (
            pooled_cdf(d, m, s, lambda, xm) - 0.5,
            pooled_cdf(d, m, s, lambda, x99) - 0.99,
        )
    };
    for _ in 0..50 {
        let (r1, r2) = resid(m, s);
        if r1.abs() < 1e-10 && r2.abs() < 1e-10 {
            break;
        }
        let h = 1e-6;
        let (a1, a2) = resid(m + h, s);
        let (b1, b2) = resid(m, s + h);
        let (j11, j21, j12, j22) = ((a1 - r1) / h, (a2 - r2) / h, (b1 - r1) / h, (b2 - r2) / h);
        let det = j11 * j22 - j12 * j21;
        if det.abs() < 1e-300 {
            break;
        }
        let dm = (-r1 * j22 + r2 * j12) / det;
        let ds = (-r2 * j11 + r1 * j21) / det;
        // Damped: keep s positive and steps moderate.
        let k = (1.0f64).min(0.5 / dm.abs().max(ds.abs()).max(1e-300));
        m += k * dm;
        s = (s + k * ds).max(0.5 * s);
    }
    (m, s)
}

/// Fits (m, s, λ) to the spec's median, p99 and mean (module docs, "Calibration").
///
/// λ is found by bisection on [0, 4] (the pooled mean rises with λ at fixed median and
/// p99: λ = 0 gives ≈ 9.7 %, λ = 1 ≈ 11.9 % for PlanetLab's median and p99); a mean
/// outside the attainable range gets the nearest end, and `fitted_mean_pct` says what the
/// model delivers. Panics unless 0 < median < p99 < 0.99, 0 < mean < 0.99, interval and
/// samples > 0, and 0 ≤ diurnal_amplitude < 1.
pub fn calibrate(spec: &SyntheticSpec) -> Fit {
    assert!(
        spec.median > 0.0 && spec.median < spec.p99 && spec.p99 < 0.99,
        "synthetic demand needs 0 < median < p99 < 0.99 (got median {}, p99 {})",
        spec.median,
        spec.p99
    );
    assert!(
        spec.mean > 0.0 && spec.mean < 0.99,
        "synthetic demand needs 0 < mean < 0.99 (got {})",
        spec.mean
    );
    assert!(
        spec.interval_ns > 0 && spec.samples > 0,
        "synthetic demand needs a positive interval and sample count"
    );
    assert!(
        (0.0..1.0).contains(&spec.diurnal_amplitude),
        "synthetic demand needs 0 <= diurnal_amplitude < 1 (got {})",
        spec.diurnal_amplitude
    );
    let d = phases(spec);
    let target = 100.0 * spec.mean;
    let eval = |lambda: f64| {
        let (m, s) = fit_quantiles(spec, &d, lambda);
        (m, s, pooled_mean_pct(&d, m, s, lambda))
    };
    let (mut lo, mut hi) = (0.0f64, 4.0f64);
    let (mut best, at_lo, at_hi) = (eval(lo), eval(lo), eval(hi));
    let mut lambda = lo;
    if at_lo.2 >= target {
        // Mean too small even for the log-normal: take λ = 0.
    } else if at_hi.2 <= target {
        lambda = hi;
        best = at_hi;
    } else {
        for _ in 0..40 {
            let mid = 0.5 * (lo + hi);
            let r = eval(mid);
            if r.2 < target {
                lo = mid;
            } else {
                hi = mid;
            }
            lambda = mid;
            best = r;
            if hi - lo < 1e-7 {
                break;
            }
        }
    }
    let (m, s, mean) = best;
    let secs = spec.interval_ns as f64 / 1e9;
    Fit {
        m,
        s,
        lambda,
        sd_between: s * (1.0 - WITHIN_SHARE).sqrt(),
        sd_within: s * WITHIN_SHARE.sqrt(),
        slow_share: SLOW_SHARE,
        phi: (-secs / SLOW_TIMESCALE_S).exp(),
        fitted_mean_pct: mean,
    }
}

/// [`calibrate`], memoised per distinct spec (a scenario asks for thousands of VMs).
pub fn fit(spec: &SyntheticSpec) -> Fit {
    static CACHE: Mutex<Vec<(SyntheticSpec, Fit)>> = Mutex::new(Vec::new());
    if let Some((_, f)) = CACHE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|(s, _)| s == spec)
    {
        return *f;
    }
    let f = calibrate(spec);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() >= 64 {
        cache.remove(0);
    }
    cache.push((spec.clone(), f));
    f
}

/// One VM's trace under an explicit fit: utilisation percent per interval, integers
/// 0..=99 stored as f32, deterministic in `rng`.
///
/// Draw order: the level's normal, the slow state's stationary start, then per sample the
/// slow innovation and the white noise.
pub fn trace_with<R: Rng + ?Sized>(spec: &SyntheticSpec, fit: &Fit, rng: &mut R) -> Vec<f32> {
    let mut n = || -> f64 { StandardNormal.sample(rng) };
    let level = fit.m + fit.sd_between * n();
    let (w_slow, w_white) = (
        fit.sd_within * fit.slow_share.sqrt(),
        fit.sd_within * (1.0 - fit.slow_share).sqrt(),
    );
    let innov = (1.0 - fit.phi * fit.phi).sqrt();
    let mut a = n();
    let mut out = Vec::with_capacity(spec.samples);
    for i in 0..spec.samples {
        if i > 0 {
            a = fit.phi * a + innov * n();
        }
        let y = level + w_slow * a + w_white * n();
        let u = g_inv(fit.lambda, y);
        let x = (100.0 * u * spec.diurnal_factor(i))
            .round()
            .clamp(0.0, 99.0);
        out.push(x as f32);
    }
    out
}

/// One VM's trace: utilisation percent per interval (integers 0..=99 like PlanetLab,
/// stored as f32), deterministic in `rng`.
pub fn trace<R: Rng + ?Sized>(spec: &SyntheticSpec, rng: &mut R) -> Vec<f32> {
    trace_with(spec, &fit(spec), rng)
}

/// The Demand for VM `name` in run (`seed`, `replicate`), drawn from its own stream
/// `stream(seed, replicate, "vm/{name}/demand")`; the day repeats ([`TraceEnd::Repeat`]).
pub fn demand(spec: &SyntheticSpec, seed: u64, replicate: u32, name: &str) -> Demand {
    let mut rng = stream(seed, replicate, &format!("vm/{name}/demand"));
    Demand::Trace {
        interval_ns: spec.interval_ns,
        samples: trace(spec, &mut rng).into(),
        end: TraceEnd::Repeat,
    }
}

/// Summary statistics of a set of equally long percent traces (used to compare the
/// generator with the real data).
#[derive(Clone, Debug, PartialEq)]
pub struct TraceStats {
    /// Number of traces.
    pub traces: usize,
    /// Number of samples.
    pub samples: usize,
    /// Pooled mean, percent.
    pub mean: f64,
    /// Pooled nearest-rank quantiles (the ⌈p·n⌉-th smallest sample), percent.
    pub median: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Share of samples equal to 0.
    pub zero_share: f64,
    /// Share of the pooled variance that is within VMs: 1 − Var(VM means)/Var(samples).
    pub within_share: f64,
    /// Within-VM autocorrelation at the lags in [`ACF_LAGS`]: Σ_VM Σ_t (x_t − x̄)(x_{t+k} − x̄)
    /// / Σ_VM Σ_t (x_t − x̄)², each VM demeaned by its own mean x̄.
    pub acf: Vec<f64>,
    /// Lag-1 autocorrelation around the pooled mean (all VMs' pairs, one global mean):
    /// dominated by the persistence of each VM's level.
    pub lag1_global: f64,
}

/// Lags (samples) reported in [`TraceStats::acf`]; the first is lag 1.
pub const ACF_LAGS: [usize; 8] = [1, 2, 3, 6, 12, 24, 48, 96];

impl TraceStats {
    /// Statistics of `traces` (each at least 2 samples).
    pub fn of(traces: &[Vec<f32>]) -> TraceStats {
        let mut all: Vec<f64> = traces.iter().flatten().map(|&x| x as f64).collect();
        let n = all.len();
        assert!(n > 0, "no samples");
        let mean = all.iter().sum::<f64>() / n as f64;
        let var = all.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        let zero_share = all.iter().filter(|&&x| x == 0.0).count() as f64 / n as f64;
        all.sort_by(|a, b| a.total_cmp(b));
        let q = |p: f64| all[((p * n as f64).ceil() as usize).clamp(1, n) - 1];
        let (mut between, mut num_g, mut pairs) = (0.0, 0.0, 0usize);
        let mut num = vec![0.0; ACF_LAGS.len()];
        let mut den = 0.0;
        for t in traces {
            let x: Vec<f64> = t.iter().map(|&v| v as f64).collect();
            let xm = x.iter().sum::<f64>() / x.len() as f64;
            between += (xm - mean).powi(2) * x.len() as f64;
            den += x.iter().map(|v| (v - xm).powi(2)).sum::<f64>();
            for (k, &lag) in ACF_LAGS.iter().enumerate() {
                num[k] += x
                    .iter()
                    .zip(x.iter().skip(lag))
                    .map(|(a, b)| (a - xm) * (b - xm))
                    .sum::<f64>();
            }
            num_g += x
                .windows(2)
                .map(|w| (w[0] - mean) * (w[1] - mean))
                .sum::<f64>();
            pairs += x.len() - 1;
        }
        TraceStats {
            traces: traces.len(),
            samples: n,
            mean,
            median: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            zero_share,
            within_share: 1.0 - between / n as f64 / var,
            acf: num.iter().map(|v| v / den).collect(),
            lag1_global: num_g / pairs as f64 / var,
        }
    }

    /// Within-VM lag-1 autocorrelation.
    pub fn lag1(&self) -> f64 {
        self.acf[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn erfc_matches_known_values() {
        // erfc(0) = 1; erfc(1) = 0.157299207050285; erfc(-1) = 1.842700792949715;
        // Φ(2.326347874) = 0.99 (the z of p99).
        assert!((erfc(0.0) - 1.0).abs() < 1e-7);
        assert!((erfc(1.0) - 0.157_299_207_050_285).abs() < 1e-7);
        assert!((erfc(-1.0) - 1.842_700_792_949_715).abs() < 1e-7);
        assert!((phi_cdf(2.326_347_874) - 0.99).abs() < 1e-7);
    }

    #[test]
    fn transform_inverts() {
        for &lambda in &[0.0, 0.3, 0.5, 1.0, 2.5] {
            for &u in &[1e-6, 0.003, 0.05, 0.3, 0.77, 0.99, 0.999_999] {
                let back = g_inv(lambda, g(lambda, u));
                assert!(
                    (back - u).abs() < 1e-9 * (1.0 + 1.0 / u),
                    "λ {lambda} u {u} -> {back}"
                );
            }
        }
        // λ = 0: y ≥ 0 saturates at 1.
        assert_eq!(g_inv(0.0, 0.5), 1.0);
    }

    #[test]
    fn calibration_hits_the_targets_analytically() {
        let spec = SyntheticSpec::default();
        let f = calibrate(&spec);
        let d = phases(&spec);
        // The three calibration conditions hold at the fit.
        assert!((pooled_cdf(&d, f.m, f.s, f.lambda, 5.0) - 0.5).abs() < 1e-8);
        assert!((pooled_cdf(&d, f.m, f.s, f.lambda, 77.0) - 0.99).abs() < 1e-8);
        assert!((f.fitted_mean_pct - 11.1).abs() < 1e-4, "{f:?}");
        // The fitted values documented in the report (printed for the record).
        eprintln!("default fit: {f:?}");
        assert!((f.lambda - 0.586).abs() < 1e-3, "{f:?}");
        assert!((f.m - -2.965).abs() < 1e-3, "{f:?}");
        assert!((f.s - 1.532).abs() < 1e-3, "{f:?}");
        // s_b = s·√0.8, s_w = s·√0.2.
        assert!((f.sd_between - 1.370).abs() < 1e-3 && (f.sd_within - 0.685).abs() < 1e-3);
        // φ = exp(−300 s / 18,000 s) = exp(−1/60) = 0.98347.
        assert!((f.phi - 0.983_471).abs() < 1e-6);
        // The end members bracket the target (module docs): λ = 0 → ≈ 9.7 %, λ = 1 → ≈ 11.9 %.
        let (m0, s0) = fit_quantiles(&spec, &d, 0.0);
        let (m1, s1) = fit_quantiles(&spec, &d, 1.0);
        let (lo, hi) = (
            pooled_mean_pct(&d, m0, s0, 0.0),
            pooled_mean_pct(&d, m1, s1, 1.0),
        );
        eprintln!("mean at λ=0: {lo:.3}, at λ=1: {hi:.3}");
        assert!(lo < 11.1 && 11.1 < hi);
    }

    #[test]
    fn calibration_holds_for_a_strong_diurnal_cycle() {
        let spec = SyntheticSpec {
            diurnal_amplitude: 0.3,
            ..SyntheticSpec::default()
        };
        let f = calibrate(&spec);
        let d = phases(&spec);
        assert!((pooled_cdf(&d, f.m, f.s, f.lambda, 5.0) - 0.5).abs() < 1e-8);
        assert!((pooled_cdf(&d, f.m, f.s, f.lambda, 77.0) - 0.99).abs() < 1e-8);
        assert!((f.fitted_mean_pct - 11.1).abs() < 1e-4, "{f:?}");
    }

    #[test]
    fn samples_are_integer_percents_and_deterministic() {
        let spec = SyntheticSpec::default();
        let a = trace(&spec, &mut crate::engine::rng::StableRng::seed_from_u64(3));
        let b = trace(&spec, &mut crate::engine::rng::StableRng::seed_from_u64(3));
        assert_eq!(a, b);
        assert_eq!(a.len(), 288);
        assert!(a
            .iter()
            .all(|&x| x.fract() == 0.0 && (0.0..=99.0).contains(&x)));
    }
}
