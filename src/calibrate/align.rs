//! Putting power and CPU on common intervals.
//!
//! The CPU counters define the intervals: between two polls of the hypervisor, a domain's
//! busy cores are Δcpu_ns / Δt (cumulative counters, so nothing is lost between polls).
//! Power is averaged over each such interval from the meter samples that cover it: a
//! sample stamped t is the mean over the meter's window (t − w, t] (end-of-interval
//! stamps), so power is a step function and its mean over any interval is exact up to
//! the meter's own resolution. This direction (power onto CPU intervals, not the
//! reverse) keeps the CPU figures exact, and the meter's window is usually the shorter.

use super::run::{CpuSample, PowerSample};
use std::collections::BTreeMap;

/// One CPU interval of one host.
#[derive(Clone, Debug, PartialEq)]
pub struct CpuInterval {
    /// Start, s since capture start.
    pub t0: f64,
    /// End, s.
    pub t1: f64,
    /// Busy cores (sum over every domain, dom0 included), cores; None when a domain
    /// vanished during the interval (its CPU in it is lost with it).
    pub busy: Option<f64>,
    /// dom0's busy cores, when the rows name dom0 (domid 0 or `Domain-0`), cores.
    pub dom0: Option<f64>,
}

/// A host's CPU series.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CpuSeries {
    /// Usable intervals in time order.
    pub intervals: Vec<CpuInterval>,
    /// Where busy cores come from: `domains` (sum of per-domain rows) or `host`
    /// (/proc/stat's non-idle time).
    pub source: &'static str,
    /// Intervals left out of the busy-core series: longer than 1.5 × the median poll
    /// spacing (a gap, or a poll dropped for a flagged row), a domain vanished during it
    /// (kept with `busy` None, for dom0), or a counter went backwards.
    pub dropped: usize,
    /// Median poll spacing, s.
    pub spacing_s: f64,
}

impl CpuSeries {
    /// dom0's mean busy cores over [a, b], weighted by overlap; None without dom0 rows
    /// or when the intervals cover less than half of [a, b].
    pub fn dom0_mean(&self, a: f64, b: f64) -> Option<f64> {
        self.mean_of(a, b, |i| i.dom0)
    }

    /// Mean of busy cores over [a, b] (see [`CpuSeries::dom0_mean`]).
    pub fn busy_mean(&self, a: f64, b: f64) -> Option<f64> {
        self.mean_of(a, b, |i| i.busy)
    }

    fn mean_of(&self, a: f64, b: f64, f: impl Fn(&CpuInterval) -> Option<f64>) -> Option<f64> {
        let (mut s, mut w) = (0.0, 0.0);
        let first = self.intervals.partition_point(|i| i.t1 <= a);
        for i in &self.intervals[first..] {
            if i.t0 >= b {
                break;
            }
            let o = overlap(i.t0, i.t1, a, b);
            if o > 0.0 {
                s += f(i)? * o;
                w += o;
            }
        }
        (w >= 0.5 * (b - a) && w > 0.0).then(|| s / w)
    }
}

/// One poll: domain key → (cumulative cpu_ns, is dom0).
type Poll = BTreeMap<String, (u64, bool)>;

/// Length of [a0, a1] ∩ [b0, b1], s.
pub fn overlap(a0: f64, a1: f64, b0: f64, b1: f64) -> f64 {
    (a1.min(b1) - a0.max(b0)).max(0.0)
}

fn is_dom0(s: &CpuSample) -> bool {
    s.domid == Some(0) || s.domain == "Domain-0" || s.domain == "dom0"
}

/// The CPU series of `host` ("" = the metered host). Per-domain rows are used when there
/// are any (their sum includes dom0); otherwise the `host` rows of /proc/stat. None when
/// the host has fewer than two polls.
pub fn cpu_series(samples: &[CpuSample], host: &str) -> Option<CpuSeries> {
    let mine: Vec<&CpuSample> = samples.iter().filter(|s| s.host == host).collect();
    let domains = mine.iter().any(|s| s.domain != "host");
    // One poll = every row with the same stamp (a source stamps a whole poll at once).
    let mut polls: BTreeMap<u64, Vec<&CpuSample>> = BTreeMap::new();
    for s in mine.into_iter().filter(|s| (s.domain != "host") == domains) {
        polls
            .entry((s.t_s * 1e9).round() as u64)
            .or_default()
            .push(s);
    }
    if polls.len() < 2 {
        return None;
    }
    // A poll with an unusable row is dropped whole (its neighbours' interval then spans
    // two polls and is dropped as too long).
    polls.retain(|_, rows| rows.iter().all(|s| s.ok));
    if polls.len() < 2 {
        return None;
    }
    let key = |s: &CpuSample| match s.domid {
        Some(d) => format!("#{d}"),
        None => s.domain.clone(),
    };
    let polls: Vec<(f64, Poll)> = polls
        .into_iter()
        .map(|(t, rows)| {
            let m = rows
                .iter()
                .map(|s| (key(s), (s.cpu_ns, is_dom0(s))))
                .collect();
            (t as f64 / 1e9, m)
        })
        .collect();
    let mut gaps: Vec<f64> = polls.windows(2).map(|w| w[1].0 - w[0].0).collect();
    gaps.sort_by(f64::total_cmp);
    let spacing = gaps[gaps.len() / 2];
    let mut out = CpuSeries {
        source: if domains { "domains" } else { "host" },
        spacing_s: spacing,
        ..Default::default()
    };
    // Domains of the polls so far: one absent from a poll and back in the next lost a
    // row there, it was not created (its counter counts from long before).
    let mut seen = std::collections::HashSet::new();
    for w in polls.windows(2) {
        let ((ta, a), (tb, b)) = (&w[0], &w[1]);
        seen.extend(a.keys().cloned());
        let dt = tb - ta;
        if dt > 1.5 * spacing || dt <= 0.0 {
            out.dropped += 1;
            continue;
        }
        // A domain that vanished during the interval took its CPU in it along, so busy
        // cores are unknown there (xl loses a destroyed domain's last counter); dom0's
        // counter is still good.
        let vanished = a.keys().any(|k| !b.contains_key(k));
        if b.keys().any(|k| !a.contains_key(k) && seen.contains(k)) {
            out.dropped += 1;
            continue;
        }
        if vanished {
            out.dropped += 1;
        }
        let (mut busy, mut dom0, mut backwards) = (0.0, None, false);
        for (k, &(nb, d0)) in b {
            // A domain created during the interval started its counter at zero then.
            let na = a.get(k).map_or(0, |x| x.0);
            if nb < na {
                backwards = true;
                break;
            }
            let c = (nb - na) as f64 / 1e9 / dt;
            busy += c;
            if d0 {
                dom0 = Some(dom0.unwrap_or(0.0) + c);
            }
        }
        if backwards {
            out.dropped += 1;
            continue;
        }
        out.intervals.push(CpuInterval {
            t0: *ta,
            t1: *tb,
            busy: (!vanished).then_some(busy),
            dom0,
        });
    }
    Some(out)
}

/// The meter's window, s: the manifest's update interval when it gives one, else the
/// median spacing of the samples.
pub fn meter_window(power: &[PowerSample], manifest_s: Option<f64>) -> Option<f64> {
    if let Some(w) = manifest_s {
        return Some(w);
    }
    let mut d: Vec<f64> = power.windows(2).map(|w| w[1].t_s - w[0].t_s).collect();
    d.retain(|x| *x > 0.0);
    d.sort_by(f64::total_cmp);
    d.get(d.len() / 2).copied()
}

/// Mean power over [t0, t1], W, from samples that each cover (t − window + shift,
/// t + shift]; `shift` (s) moves the power clock onto the CPU clock. None when the
/// samples cover less than 90 % of the interval (a gap in the power series).
pub fn mean_power(power: &[PowerSample], window: f64, shift: f64, t0: f64, t1: f64) -> Option<f64> {
    let first = power.partition_point(|p| p.t_s + shift <= t0);
    let (mut s, mut w) = (0.0, 0.0);
    for p in &power[first..] {
        let (a, b) = (p.t_s - window + shift, p.t_s + shift);
        if a >= t1 {
            break;
        }
        let o = overlap(a, b, t0, t1);
        s += o * p.power_w;
        w += o;
    }
    (w >= 0.9 * (t1 - t0) && w > 0.0).then(|| s / w)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(t: f64, domain: &str, domid: u32, ns: u64) -> CpuSample {
        CpuSample {
            t_s: t,
            host: String::new(),
            domain: domain.into(),
            domid: Some(domid),
            cpu_ns: ns,
            ok: true,
        }
    }

    #[test]
    fn busy_cores_from_cumulative_counters() {
        // Polls at 0, 0.1, 0.2, 0.5 s. dom0 uses 0.05 s of CPU per 0.1 s (0.5 core), vm1
        // 0.1 s per 0.1 s (1 core). The last interval (0.3 s) is > 1.5 × the 0.1 s median.
        let s = vec![
            cpu(0.0, "Domain-0", 0, 0),
            cpu(0.0, "vm1", 1, 0),
            cpu(0.1, "Domain-0", 0, 50_000_000),
            cpu(0.1, "vm1", 1, 100_000_000),
            cpu(0.2, "Domain-0", 0, 100_000_000),
            cpu(0.2, "vm1", 1, 200_000_000),
            cpu(0.5, "Domain-0", 0, 250_000_000),
        ];
        let c = cpu_series(&s, "").unwrap();
        assert_eq!(c.source, "domains");
        assert_eq!(c.intervals.len(), 2);
        assert_eq!(c.dropped, 1);
        assert!((c.intervals[0].busy.unwrap() - 1.5).abs() < 1e-9);
        assert!((c.intervals[1].dom0.unwrap() - 0.5).abs() < 1e-9);
        // Over [0.05, 0.2]: both intervals at 1.5 cores.
        assert!((c.busy_mean(0.05, 0.2).unwrap() - 1.5).abs() < 1e-9);
        assert!(cpu_series(&s, "other").is_none());
        // vm1 vanishes at 0.3 s (busy unknown in that interval, dom0 kept); vm2 appears at 0.4 s with 0.05 s
        // of CPU since its creation: 0.5 (dom0) + 0.5 (vm2) = 1 core over [0.3, 0.4].
        let s = vec![
            cpu(0.1, "Domain-0", 0, 0),
            cpu(0.1, "vm1", 1, 0),
            cpu(0.2, "Domain-0", 0, 50_000_000),
            cpu(0.2, "vm1", 1, 100_000_000),
            cpu(0.3, "Domain-0", 0, 100_000_000),
            cpu(0.4, "Domain-0", 0, 150_000_000),
            cpu(0.4, "vm2", 2, 50_000_000),
        ];
        let c = cpu_series(&s, "").unwrap();
        assert_eq!((c.intervals.len(), c.dropped), (3, 1));
        assert_eq!(c.intervals[1].busy, None);
        assert!((c.intervals[1].dom0.unwrap() - 0.5).abs() < 1e-9);
        assert!((c.intervals[2].busy.unwrap() - 1.0).abs() < 1e-9);
        // Only /proc/stat's host rows: busy from them, no dom0. 0.25 s of non-idle time
        // per 0.1 s = 2.5 cores.
        let mut h = cpu(0.0, "host", 0, 0);
        h.domid = None;
        let mut h2 = h.clone();
        h2.t_s = 0.1;
        h2.cpu_ns = 250_000_000;
        let c = cpu_series(&[h, h2], "").unwrap();
        assert_eq!(c.source, "host");
        assert!((c.intervals[0].busy.unwrap() - 2.5).abs() < 1e-9);
        assert_eq!(c.intervals[0].dom0, None);
    }

    #[test]
    fn power_means_respect_the_window_and_shift() {
        // 100 ms samples ending at 0.1, 0.2, 0.3 s: 100, 110, 120 W.
        let p: Vec<PowerSample> = [(0.1, 100.0), (0.2, 110.0), (0.3, 120.0)]
            .iter()
            .map(|&(t, w)| PowerSample { t_s: t, power_w: w })
            .collect();
        // [0.05, 0.25]: half of 100, all of 110, half of 120 → (5 + 11 + 6) / 0.2 = 110.
        assert!((mean_power(&p, 0.1, 0.0, 0.05, 0.25).unwrap() - 110.0).abs() < 1e-9);
        // Shifted by +0.1 s the samples cover (0.1, 0.4]: [0.1, 0.2] is all 100 W.
        assert!((mean_power(&p, 0.1, 0.1, 0.1, 0.2).unwrap() - 100.0).abs() < 1e-9);
        // [0.25, 0.45] is covered only on [0.25, 0.3]: a gap.
        assert!(mean_power(&p, 0.1, 0.0, 0.25, 0.45).is_none());
        assert!((meter_window(&p, None).unwrap() - 0.1).abs() < 1e-9);
        assert_eq!(meter_window(&p, Some(0.25)), Some(0.25));
    }
}
