//! Work a VM was asked to do and has not done yet, and how long each unit of it waits.
//!
//! A VM's demand is work arriving at a rate (core-seconds at P0 per second: its demand
//! fraction × vCPUs); what the VM runs is progress. Work is served first in, first out,
//! as a fluid: with A(t) the work arrived and P(t) the work done by time t, the unit of
//! work x arrives at A⁻¹(x) and is done at P⁻¹(x), so it waits D(x) = P⁻¹(x) − A⁻¹(x).
//! Both are piecewise linear between events, so D is linear over each piece and the
//! work-weighted distribution of D is a sum of uniform pieces, which [`DelayHist`] keeps
//! exactly (in bins) and [`Backlog::step`] feeds one piece at a time.
//!
//! Work that arrives while nothing is owed and is run at once waits 0. With trace demand
//! given per interval (a PlanetLab 5-minute percent) the work is taken to arrive evenly
//! over the interval, so "delay" is the wait beyond the instant each unit arrived, which
//! is at least the wait beyond the end of its interval.

use std::collections::VecDeque;

/// Backlog below this many core-seconds per core-second of work arrived so far (with a
/// floor of 1 core-second) counts as none: sums of products of rates and times round at
/// about 1e-16 relative per step, so 1e-9 leaves a margin for 10⁷ steps.
const REL_EPS: f64 = 1e-9;

/// The backlog tolerance for `arrived` core-seconds of work, core-seconds.
pub fn eps(arrived: f64) -> f64 {
    REL_EPS * arrived.abs().max(1.0)
}

/// Whether `arrived − done` core-seconds is a backlog rather than rounding.
pub fn pending(arrived: f64, done: f64) -> bool {
    arrived - done > eps(arrived)
}

/// One stretch of constant arrival: from `t_s` (s), work arrives at `rate` core-s/s, the
/// first of it being unit `a` (core-seconds arrived before `t_s`).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Seg {
    t_s: f64,
    a: f64,
    rate: f64,
}

/// One VM's queue of work not yet done and its delay figures.
#[derive(Clone, Debug, Default)]
pub struct Backlog {
    /// Arrival stretches covering the work not yet done, oldest first (empty with no
    /// backlog, so a VM that is never held back allocates nothing).
    segs: VecDeque<Seg>,
    /// Time with a backlog, ns.
    pub backlog_ns: u64,
    /// Work done so far, core-seconds at P0.
    pub done_core_s: f64,
    /// ∫ D dx over the work done: the sum of each unit's delay, core-s × s.
    pub delay_integral: f64,
    /// Longest delay of any unit done, s.
    pub max_delay_s: f64,
}

impl Backlog {
    /// Advances from `t0_ns` to `t1_ns` with work arriving at `d` core-s/s up to `cap`
    /// core-seconds in all (a batch VM's total work; infinity when open-ended) and the
    /// VM running at `r` core-s/s, starting from `a0` arrived and `p0` done. Returns
    /// (arrived, done) at `t1_ns`; delays of the work done go to `hist` if given.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub fn step(
        &mut self,
        t0_ns: u64,
        t1_ns: u64,
        a0: f64,
        d: f64,
        cap: f64,
        p0: f64,
        r: f64,
        hist: Option<&mut DelayHist>,
    ) -> (f64, f64) {
        let dt = t1_ns.saturating_sub(t0_ns) as f64 / 1e9;
        let a1 = (a0 + d * dt).min(cap.max(a0));
        // The rate test matters: a batch VM's arrivals stop at its total, so a slower
        // run can end a step level with its arrivals after lagging them throughout.
        if self.segs.is_empty()
            && !pending(a0, p0)
            && r >= d * (1.0 - 1e-12)
            && p0 + r * dt >= a1 - eps(a1)
        {
            // Nothing owed and it keeps up at every instant: all of it ran at once.
            self.done_core_s += a1 - p0;
            if let Some(h) = hist {
                h.add_zero(a1 - p0);
            }
            return (a1, a1);
        }
        self.step_owing(t0_ns, t1_ns, a0, d, a1, p0, r, hist)
    }

    /// [`Backlog::step`] when work is owed or falls behind (the rare case, kept out of
    /// line so the usual one stays small).
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn step_owing(
        &mut self,
        t0_ns: u64,
        t1_ns: u64,
        a0: f64,
        d: f64,
        a1: f64,
        p0: f64,
        r: f64,
        hist: Option<&mut DelayHist>,
    ) -> (f64, f64) {
        let dt = t1_ns.saturating_sub(t0_ns) as f64 / 1e9;
        let t0 = t0_ns as f64 / 1e9;
        if self.segs.back().is_none_or(|s| s.rate != d) {
            self.segs.push_back(Seg {
                t_s: t0,
                a: a0,
                rate: d,
            });
        }
        let p1 = (p0 + r * dt).min(a1);
        self.serve(p0, p1, t0, r, hist);
        self.backlog_ns += t1_ns.saturating_sub(t0_ns);
        if pending(a1, p1) {
            (a1, p1)
        } else {
            // Drained: no queue left to follow.
            self.segs.clear();
            (a1, a1)
        }
    }

    /// Runs work units `p0..p1` in order of arrival, from `t0` s at `r` core-s/s.
    fn serve(&mut self, p0: f64, p1: f64, t0: f64, r: f64, mut hist: Option<&mut DelayHist>) {
        if p1 <= p0 || r <= 0.0 {
            return;
        }
        let mut x = p0;
        while x < p1 {
            let Some(&seg) = self.segs.front() else {
                break;
            };
            let end = self.segs.get(1).map_or(f64::INFINITY, |n| n.a);
            let x1 = p1.min(end);
            if x1 > x && seg.rate > 0.0 {
                let arrive = |u: f64| seg.t_s + (u - seg.a) / seg.rate;
                let run = |u: f64| t0 + (u - p0) / r;
                let d0 = (run(x) - arrive(x)).max(0.0);
                let d1 = (run(x1) - arrive(x1)).max(0.0);
                let m = x1 - x;
                self.done_core_s += m;
                self.delay_integral += m * (d0 + d1) / 2.0;
                self.max_delay_s = self.max_delay_s.max(d0).max(d1);
                if let Some(h) = hist.as_deref_mut() {
                    h.add_uniform(d0, d1, m);
                }
            }
            x = x1;
            if x1 >= end {
                self.segs.pop_front();
            } else {
                break;
            }
        }
    }

    /// Adds the work still owed at `end_ns` (units `p..a`) to `hist` with the delay it has
    /// had so far: a lower bound on its delay, so that work a cap never lets run does not
    /// vanish from the percentiles.
    pub fn censor(&self, p: f64, a: f64, end_ns: u64, hist: &mut DelayHist) {
        let end = end_ns as f64 / 1e9;
        for (i, seg) in self.segs.iter().enumerate() {
            let hi = self.segs.get(i + 1).map_or(a, |n| n.a).min(a);
            let lo = seg.a.max(p);
            if hi > lo && seg.rate > 0.0 {
                let arrive = |u: f64| seg.t_s + (u - seg.a) / seg.rate;
                hist.add_uniform(
                    (end - arrive(lo)).max(0.0),
                    (end - arrive(hi)).max(0.0),
                    hi - lo,
                );
            }
        }
    }

    /// Mean delay of the work done so far, s (0 when none was done).
    pub fn mean_delay_s(&self) -> f64 {
        if self.done_core_s > 0.0 {
            self.delay_integral / self.done_core_s
        } else {
            0.0
        }
    }
}

/// Lower edge of the first log bin, s: delays below a microsecond are one bin (the
/// engine's clock is a nanosecond, an event's work is far coarser).
const FIRST_EDGE_S: f64 = 1e-6;
/// Ratio of consecutive bin edges: a percentile read from a bin is exact for a uniform
/// piece and within 1 % of the delay otherwise.
const RATIO: f64 = 1.01;
/// Log bins from 1 µs to ≈ 3 × 10⁸ s (10 years), plus the one below 1 µs.
const BINS: usize = 3300;

/// The work-weighted distribution of delay over many VMs: an exact mass of undelayed
/// work and log-spaced bins of delayed work, each bin's mass spread evenly inside it.
#[derive(Clone, Debug, PartialEq)]
pub struct DelayHist {
    /// Work done with no delay, core-seconds.
    pub zero: f64,
    /// Delayed work by bin, core-seconds; bin 0 is [0, 1 µs), bin k ≥ 1 is
    /// [1 µs × 1.01^(k−1), 1 µs × 1.01^k).
    bins: Vec<f64>,
    /// ∫ D dx, core-s × s.
    pub delay_integral: f64,
    /// Longest delay, s.
    pub max_s: f64,
}

impl Default for DelayHist {
    fn default() -> Self {
        DelayHist {
            zero: 0.0,
            bins: vec![0.0; BINS],
            delay_integral: 0.0,
            max_s: 0.0,
        }
    }
}

/// Lower edge of bin `k`, s (`BINS` gives the upper edge of the last bin); from a table
/// computed once, as `powi` per call was a quarter of a throttled run's time.
fn edge(k: usize) -> f64 {
    static EDGES: std::sync::OnceLock<Vec<f64>> = std::sync::OnceLock::new();
    let edges = EDGES.get_or_init(|| {
        (0..=BINS)
            .map(|k| {
                if k == 0 {
                    0.0
                } else {
                    FIRST_EDGE_S * RATIO.powi(k as i32 - 1)
                }
            })
            .collect()
    });
    edges[k.min(BINS)]
}

fn bin_of(x: f64) -> usize {
    if x < FIRST_EDGE_S {
        0
    } else {
        let k = 1 + ((x / FIRST_EDGE_S).ln() / RATIO.ln()).floor() as usize;
        // Rounding in ln can put an edge value one bin off; the edges decide.
        let k = if edge(k) > x { k - 1 } else { k };
        let k = if k + 1 < BINS && edge(k + 1) <= x {
            k + 1
        } else {
            k
        };
        k.min(BINS - 1)
    }
}

impl DelayHist {
    /// Adds `m` core-seconds done at once.
    pub fn add_zero(&mut self, m: f64) {
        if m > 0.0 {
            self.zero += m;
        }
    }

    /// Adds `m` core-seconds whose delays are spread evenly from `d0` to `d1` s.
    pub fn add_uniform(&mut self, d0: f64, d1: f64, m: f64) {
        if m <= 0.0 || !m.is_finite() {
            return;
        }
        let (lo, hi) = if d0 <= d1 { (d0, d1) } else { (d1, d0) };
        if hi <= 0.0 {
            self.zero += m;
            return;
        }
        self.delay_integral += m * (lo + hi) / 2.0;
        self.max_s = self.max_s.max(hi);
        let (k0, k1) = (bin_of(lo), bin_of(hi));
        if k0 == k1 || hi - lo <= 1e-12 * hi {
            self.bins[k0] += m;
            return;
        }
        let density = m / (hi - lo);
        for k in k0..=k1 {
            let a = edge(k).max(lo);
            let b = if k + 1 < BINS {
                edge(k + 1).min(hi)
            } else {
                hi
            };
            if b > a {
                self.bins[k] += density * (b - a);
            }
        }
    }

    /// Work counted, core-seconds.
    pub fn total(&self) -> f64 {
        self.zero + self.bins.iter().sum::<f64>()
    }

    /// Mean delay, s (0 without work).
    pub fn mean_s(&self) -> f64 {
        let t = self.total();
        if t > 0.0 {
            self.delay_integral / t
        } else {
            0.0
        }
    }

    /// Fraction of the work that waited at all.
    pub fn delayed_fraction(&self) -> f64 {
        let t = self.total();
        if t > 0.0 {
            1.0 - self.zero / t
        } else {
            0.0
        }
    }

    /// The delay below which fraction `q` ∈ [0, 1] of the work falls, s (0 without work).
    /// Linear inside a bin, so exact where the mass in the bin is uniform.
    pub fn quantile(&self, q: f64) -> f64 {
        let total = self.total();
        let target = q.clamp(0.0, 1.0) * total;
        if total <= 0.0 || target <= self.zero {
            return 0.0;
        }
        let mut below = self.zero;
        for (k, &m) in self.bins.iter().enumerate() {
            if m > 0.0 && below + m >= target {
                let (a, b) = (edge(k), edge(k + 1).min(self.max_s.max(edge(k))));
                return a + (b - a) * ((target - below) / m).clamp(0.0, 1.0);
            }
            below += m;
        }
        self.max_s
    }

    /// Adds another histogram's work (a sweep merging runs, or VMs merged into a run).
    pub fn merge(&mut self, o: &DelayHist) {
        self.zero += o.zero;
        for (a, b) in self.bins.iter_mut().zip(&o.bins) {
            *a += b;
        }
        self.delay_integral += o.delay_integral;
        self.max_s = self.max_s.max(o.max_s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn keeping_up_owes_nothing() {
        // 2 core-s/s arriving and run for 10 s: 20 core-s, all undelayed.
        let mut b = Backlog::default();
        let mut h = DelayHist::default();
        let (a, p) = b.step(0, 10 * S, 0.0, 2.0, f64::INFINITY, 0.0, 2.0, Some(&mut h));
        assert_eq!((a, p), (20.0, 20.0));
        assert_eq!(h.zero, 20.0);
        assert_eq!(b.backlog_ns, 0);
        assert_eq!(h.quantile(0.99), 0.0);
    }

    #[test]
    fn a_triangle_of_delay_by_hand() {
        // Arrival 3 core-s/s throughout. 0–100 s run at 3 (no delay); 100–200 s at 2.4;
        // 200 s on at 4 until the 60 core-s owed is gone (at 260 s), then at 3.
        // Unit arriving at t ∈ [100, 180] is done at 100 + (3t − 300)/2.4, delay
        // 0.25 t − 25 (0 → 20 s); t ∈ [180, 260] is done at 200 + (3t − 540)/4, delay
        // 65 − 0.25 t (20 → 0 s). Each half is 240 core-s uniform on [0, 20] s, so the
        // 480 delayed core-s of the 1200 arrived in 400 s are uniform on [0, 20]:
        // delayed fraction 0.4, mean 0.4 × 10 = 4 s, p95 = 20 × (0.95 − 0.6)/0.4 = 17.5 s,
        // p99 = 20 × 0.975 = 19.5 s, p50 = 0, max 20 s; time with backlog 160 s.
        let mut b = Backlog::default();
        let mut h = DelayHist::default();
        let inf = f64::INFINITY;
        let (a, p) = b.step(0, 100 * S, 0.0, 3.0, inf, 0.0, 3.0, Some(&mut h));
        let (a, p) = b.step(100 * S, 150 * S, a, 3.0, inf, p, 2.4, Some(&mut h));
        let (a, p) = b.step(150 * S, 200 * S, a, 3.0, inf, p, 2.4, Some(&mut h));
        assert!((a - p - 60.0).abs() < 1e-9, "owed {}", a - p);
        let (a, p) = b.step(200 * S, 260 * S, a, 3.0, inf, p, 4.0, Some(&mut h));
        assert_eq!(a, p);
        let (a, p) = b.step(260 * S, 400 * S, a, 3.0, inf, p, 3.0, Some(&mut h));
        assert_eq!((a, p), (1200.0, 1200.0));
        let near = |x: f64, y: f64| (x - y).abs() < 1e-6 * y.max(1.0);
        assert!(near(h.total(), 1200.0));
        assert!(near(h.delayed_fraction(), 0.4));
        assert!(near(h.mean_s(), 4.0), "{}", h.mean_s());
        assert!(near(h.quantile(0.95), 17.5), "{}", h.quantile(0.95));
        assert!(near(h.quantile(0.99), 19.5), "{}", h.quantile(0.99));
        assert_eq!(h.quantile(0.5), 0.0);
        assert!(near(h.max_s, 20.0) && near(b.max_delay_s, 20.0));
        assert!(near(b.mean_delay_s(), 4.0));
        assert_eq!(b.backlog_ns, 160 * S);
    }

    #[test]
    fn a_suspension_then_catch_up() {
        // 1 core-s/s arrives; suspended 0–2 s (run 0), then run at 2 until caught up at
        // 4 s. Unit arriving at t ∈ [0, 4] is done at 2 + t/2: delay 2 − t/2 (2 → 0),
        // 4 core-s uniform on [0, 2]: mean 1 s, median 1 s.
        let mut b = Backlog::default();
        let mut h = DelayHist::default();
        let inf = f64::INFINITY;
        let (a, p) = b.step(0, 2 * S, 0.0, 1.0, inf, 0.0, 0.0, Some(&mut h));
        assert_eq!((a, p), (2.0, 0.0));
        let (a, p) = b.step(2 * S, 4 * S, a, 1.0, inf, p, 2.0, Some(&mut h));
        assert_eq!((a, p), (4.0, 4.0));
        assert!((h.mean_s() - 1.0).abs() < 1e-12);
        assert!((h.quantile(0.5) - 1.0).abs() < 1e-9, "{}", h.quantile(0.5));
    }

    #[test]
    fn work_owed_at_the_end_counts_with_its_delay_so_far() {
        // 1 core-s/s arrives from 0 and nothing runs; at 10 s the 10 core-s owed has
        // waited 10 − t for arrival t: uniform on [0, 10], mean 5 s.
        let mut b = Backlog::default();
        let (a, p) = b.step(0, 10 * S, 0.0, 1.0, f64::INFINITY, 0.0, 0.0, None);
        let mut h = DelayHist::default();
        b.censor(p, a, 10 * S, &mut h);
        assert!((h.total() - 10.0).abs() < 1e-12 && (h.mean_s() - 5.0).abs() < 1e-12);
    }

    #[test]
    fn a_batch_vm_stops_arriving_at_its_work() {
        // 10 core-s of work at 1 core-s/s, run at 0.5: after 30 s all 10 have arrived
        // and 10 are done (at 20 s the last unit arrived at 10 s is done).
        let mut b = Backlog::default();
        let (a, p) = b.step(0, 20 * S, 0.0, 1.0, 10.0, 0.0, 0.5, None);
        assert_eq!((a, p), (10.0, 10.0));
        assert!((b.max_delay_s - 10.0).abs() < 1e-9);
    }

    #[test]
    fn bins_hold_their_edges() {
        for k in [1usize, 2, 100, 1000, BINS - 2] {
            assert_eq!(bin_of(edge(k)), k, "edge {k}");
            assert_eq!(bin_of(edge(k) * (1.0 - 1e-12)), k - 1, "below edge {k}");
        }
        assert_eq!(bin_of(0.0), 0);
        assert_eq!(bin_of(1e30), BINS - 1);
    }
}
