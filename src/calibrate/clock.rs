//! Which p-state (core clock) the metered host ran at, over any interval, from the
//! `freq.csv` samples of `capture --cpufreq`.
//!
//! All CPUs of a host are taken to share one p-state, as capsim's server model has it: an
//! interval counts at a clock only when every CPU showed that clock at its last sample
//! before the interval and at every sample inside it. Intervals with a change inside,
//! or CPUs at different clocks, belong to no single state and are left out of the fit.

use super::run::FreqSample;
use std::collections::BTreeMap;

/// Marks a poll at which the CPUs showed different clocks.
const MIXED: u64 = u64::MAX;

/// A host's clock over time: at each poll, the clock every CPU showed (or mixed).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClockLine {
    t: Vec<f64>,
    mhz: Vec<u64>,
}

impl ClockLine {
    /// Builds the line from freq samples (any order). Each CPU keeps its last value until
    /// it is sampled again.
    pub fn new(samples: &[FreqSample]) -> Self {
        let mut by_t: BTreeMap<u64, Vec<&FreqSample>> = BTreeMap::new();
        for s in samples {
            by_t.entry((s.t_s * 1e9).round() as u64)
                .or_default()
                .push(s);
        }
        let mut last: BTreeMap<&str, u64> = BTreeMap::new();
        let mut line = ClockLine::default();
        for (t_ns, ss) in by_t {
            for s in ss {
                last.insert(s.cpu.as_str(), s.mhz);
            }
            let mut vals = last.values();
            let first = vals.next().copied().unwrap_or(MIXED);
            let all = if vals.all(|&v| v == first) {
                first
            } else {
                MIXED
            };
            line.t.push(t_ns as f64 / 1e9);
            line.mhz.push(all);
        }
        line
    }

    /// Whether the run recorded any clock.
    pub fn is_empty(&self) -> bool {
        self.t.is_empty()
    }

    /// The one clock held over (a, b], MHz; None when it changed inside, the CPUs
    /// differed, or nothing was sampled at or before `a`.
    pub fn over(&self, a: f64, b: f64) -> Option<u64> {
        let i = self.t.partition_point(|&t| t <= a);
        let start = *self.mhz.get(i.checked_sub(1)?)?;
        if start == MIXED {
            return None;
        }
        let inside_ok = self.t[i..]
            .iter()
            .zip(&self.mhz[i..])
            .take_while(|(&t, _)| t <= b)
            .all(|(_, &m)| m == start);
        inside_ok.then_some(start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: f64, cpu: &str, mhz: u64) -> FreqSample {
        FreqSample {
            t_s: t,
            cpu: cpu.into(),
            mhz,
        }
    }

    #[test]
    fn intervals_hold_one_clock_or_none() {
        // Two CPUs at 2667 MHz until cpu1 drops to 1600 at 2.0 s and cpu0 follows at 3.0 s.
        let l = ClockLine::new(&[
            s(1.0, "cpu0", 2667),
            s(1.0, "cpu1", 2667),
            s(2.0, "cpu0", 2667),
            s(2.0, "cpu1", 1600),
            s(3.0, "cpu0", 1600),
            s(3.0, "cpu1", 1600),
            s(4.0, "cpu0", 1600),
            s(4.0, "cpu1", 1600),
        ]);
        assert_eq!(l.over(1.0, 1.9), Some(2667));
        assert_eq!(l.over(1.5, 2.5), None, "cpu1 changed at 2.0 s");
        assert_eq!(l.over(2.0, 2.9), None, "the CPUs differ");
        assert_eq!(l.over(3.0, 4.5), Some(1600));
        assert_eq!(l.over(0.5, 0.9), None, "nothing sampled yet");
    }
}
