//! A VM's CPU demand over time: constant, a step schedule, or a utilisation trace.
//!
//! Demand is a fraction of the VM's vCPU capacity (1.0 = every vCPU busy), as a function
//! of time since the VM started. It is piecewise constant, so the simulator only needs
//! the value now and the time of the next change.

/// What happens after the last sample of a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceEnd {
    /// Start again from the first sample (a 24 h PlanetLab day repeats).
    Repeat,
    /// Keep the last sample's value.
    Hold,
    /// Demand drops to zero.
    Zero,
}

/// CPU demand as a fraction of the VM's vCPUs: × vCPUs, the rate at which work arrives,
/// core-seconds at P0 per second (what is not run at once is owed: `model::backlog`).
/// A trace sample's work arrives evenly over its interval.
#[derive(Clone, Debug, PartialEq)]
pub enum Demand {
    /// The same fraction for ever.
    Constant(f64),
    /// `(offset_ns, fraction)` pairs, offsets strictly increasing, the first at 0.
    Steps(Vec<(u64, f64)>),
    /// One fraction per `interval_ns` (PlanetLab: one percent per 5-minute line).
    Trace {
        /// Sample interval, ns (> 0).
        interval_ns: u64,
        /// Utilisation in percent, [0, 100] (f32 halves the memory of long traces and
        /// holds PlanetLab's integer percents exactly; divided by 100 in f64 on use).
        samples: std::sync::Arc<[f32]>,
        /// Behaviour past the last sample.
        end: TraceEnd,
    },
}

impl Demand {
    /// Demand (fraction of vCPUs) at `offset_ns` since the VM started, and the offset of
    /// the next change (`None` if it never changes again).
    pub fn at(&self, offset_ns: u64) -> (f64, Option<u64>) {
        match self {
            Demand::Constant(v) => (*v, None),
            Demand::Steps(steps) => {
                // Index of the last step at or before the offset.
                let i = steps.partition_point(|&(t, _)| t <= offset_ns);
                let value = if i == 0 { 0.0 } else { steps[i - 1].1 };
                (value, steps.get(i).map(|&(t, _)| t))
            }
            Demand::Trace {
                interval_ns,
                samples,
                end,
            } => {
                let n = samples.len() as u64;
                if n == 0 {
                    return (0.0, None);
                }
                let idx = offset_ns / interval_ns;
                let next = (idx + 1).saturating_mul(*interval_ns);
                if idx < n {
                    let next = if idx + 1 == n && *end == TraceEnd::Hold {
                        None
                    } else {
                        Some(next)
                    };
                    (samples[idx as usize] as f64 / 100.0, next)
                } else {
                    match end {
                        TraceEnd::Repeat => {
                            (samples[(idx % n) as usize] as f64 / 100.0, Some(next))
                        }
                        TraceEnd::Hold => (samples[(n - 1) as usize] as f64 / 100.0, None),
                        TraceEnd::Zero => (0.0, None),
                    }
                }
            }
        }
    }

    /// Work demanded (fraction × seconds, i.e. vCPU-seconds per vCPU) from offset 0 until
    /// `target` vCPU-seconds per vCPU are done at full speed: the baseline completion
    /// offset in ns, or `None` if demand never adds up to `target`.
    ///
    /// This is the VM's run alone on an idle host at P0, computed exactly from the
    /// schedule, so slowdown needs no second simulation.
    pub fn time_to_complete(&self, target: f64) -> Option<u64> {
        let mut done = 0.0;
        let mut t: u64 = 0;
        // Bounded walk: a repeating trace whose period delivers nothing never completes.
        let mut zero_periods = 0u64;
        loop {
            let (v, next) = self.at(t);
            let v = v.max(0.0);
            let need = target - done;
            match next {
                None => {
                    if v <= 0.0 {
                        return None;
                    }
                    return Some(
                        t.saturating_add(crate::engine::time::secs_to_nanos_ceil(need / v)),
                    );
                }
                Some(n) => {
                    let span = (n - t) as f64 / 1e9;
                    if v > 0.0 && v * span >= need {
                        return Some(
                            t.saturating_add(crate::engine::time::secs_to_nanos_ceil(need / v)),
                        );
                    }
                    done += v * span;
                    if v <= 0.0 {
                        zero_periods += 1;
                        if zero_periods > 10_000_000 {
                            return None;
                        }
                    } else {
                        zero_periods = 0;
                    }
                    t = n;
                }
            }
        }
    }
}

/// Interval between the lines of a PlanetLab trace: 5 minutes, ns (the CoMon
/// measurements behind the PlanetLab VM traces were taken every 300 s).
pub const PLANETLAB_INTERVAL_NS: u64 = 300_000_000_000;

/// A trace repeats from its first sample (a PlanetLab day is followed by the same day).
impl Default for TraceEnd {
    fn default() -> Self {
        TraceEnd::Repeat
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const S: u64 = 1_000_000_000;

    #[test]
    fn a_completion_584_years_away_saturates_instead_of_overflowing() {
        // One second at full speed does 1 of the 2 vCPU-seconds; the rest at 1e-300
        // would take 1e300 s: past u64::MAX ns, so the time saturates (the engine's
        // "never") where `1 s + u64::MAX` overflowed.
        let d = Demand::Steps(vec![(0, 1.0), (S, 1e-300)]);
        assert_eq!(d.time_to_complete(2.0), Some(u64::MAX));
    }

    #[test]
    fn steps_give_value_and_next_change() {
        let d = Demand::Steps(vec![(0, 0.2), (60 * S, 1.0), (120 * S, 0.5)]);
        assert_eq!(d.at(0), (0.2, Some(60 * S)));
        assert_eq!(d.at(60 * S), (1.0, Some(120 * S)));
        assert_eq!(d.at(200 * S), (0.5, None));
    }

    #[test]
    fn trace_repeats_holds_or_stops() {
        let samples: std::sync::Arc<[f32]> = vec![25.0f32, 50.0, 75.0].into();
        let mk = |end| Demand::Trace {
            interval_ns: 300 * S,
            samples: samples.clone(),
            end,
        };
        // offset 650 s is sample 2 (600..900 s).
        assert_eq!(mk(TraceEnd::Repeat).at(650 * S), (0.75, Some(900 * S)));
        // 950 s is past the end (900 s): sample 0 again when repeating.
        assert_eq!(mk(TraceEnd::Repeat).at(950 * S), (0.25, Some(1200 * S)));
        assert_eq!(mk(TraceEnd::Hold).at(650 * S), (0.75, None));
        assert_eq!(mk(TraceEnd::Zero).at(950 * S), (0.0, None));
    }

    #[test]
    fn baseline_completion_is_exact() {
        // 0.5 for 10 s (5 units), then 1.0: 8 units need 5 + 3 s -> 13 s.
        let d = Demand::Steps(vec![(0, 0.5), (10 * S, 1.0)]);
        assert_eq!(d.time_to_complete(8.0), Some(13 * S));
        // Constant 0.25: 1 unit takes 4 s.
        assert_eq!(Demand::Constant(0.25).time_to_complete(1.0), Some(4 * S));
        assert_eq!(Demand::Constant(0.0).time_to_complete(1.0), None);
        // A repeating all-zero trace never completes (and the walk terminates).
        let z = Demand::Trace {
            interval_ns: S,
            samples: vec![0.0f32].into(),
            end: TraceEnd::Repeat,
        };
        assert_eq!(z.time_to_complete(1.0), None);
    }
}
