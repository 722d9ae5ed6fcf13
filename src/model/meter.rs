//! Meters: the only view of power (and of CPU time) that controllers get.
//!
//! A meter reports the mean of a quantity over a window before each sample time, one
//! sample per period, each visible only after a delivery delay. Both the `meters.csv`
//! meters and the controllers' device meters, BMCs and hypervisor CPU counters are
//! [`MeterSpec`]s evaluated over a [`History`] of the quantity, so there is one meter
//! model. The quantity is piecewise constant between events, so every reading is exact:
//! ∫ over the window / window.
//!
//! Sources of the defaults (each an assumption where no source fixes it):
//! - [`MeterSpec::WT210`]: the Yokogawa WT210 samples every 20 µs and reports the mean of
//!   each update interval, 100 ms at its fastest (DESIGN §1; notes/capture.md §1 and its
//!   "20 µs sampling, 100 ms average"), read as it is reported.
//! - [`MeterSpec::rack_pdu`]: rack PDU meters report about once a second and controllers
//!   read them every 1 s (Google, Thunderbolt's meter watcher at 1 reading/s, *The
//!   Datacenter as a Computer* §7.5.1) to 3 s (Facebook Dynamo's leaf controllers);
//!   `../shared/notes/capping-and-breakers.md` §1, §2.1. Window 1 s = the reporting
//!   period (a mean over it). Delivery delay 1 s is an ASSUMPTION (range 0–3 s, the slow
//!   end Dynamo's 3 s leaf polling): the PDU's next refresh plus the poll and transport,
//!   so a controller ticking every second acts on the second before last.
//! - [`MeterSpec::bmc`]: most BMCs update their DCMI power reading about once a second and
//!   average over at least 1 s (notes/capture.md §3.5–3.6, Green Metrics Tool docs).
//!   Delivery delay 1 s is an ASSUMPTION (range 0.1–2 s): an in-band IPMI query plus the
//!   reading's refresh.
//! - [`MeterSpec::cpu_counters`]: per-domain cumulative CPU time read from the hypervisor
//!   (`xentop`/`xl list` report Xen's `cpu_time` in ns) and differenced over the control
//!   period; read locally at once, so no delay.

use std::collections::VecDeque;

/// How a meter reports, ns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MeterSpec {
    /// Averaging window before each sample time, ns (> 0).
    pub window_ns: u64,
    /// Time between samples, ns (> 0); samples are taken at period, 2·period, …
    pub period_ns: u64,
    /// Time from a sample to when a reader can first see it, ns.
    pub delay_ns: u64,
}

const S: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;

impl MeterSpec {
    /// A Yokogawa WT210 at its fastest update rate: 100 ms means, every 100 ms, no delay.
    pub const WT210: MeterSpec = MeterSpec {
        window_ns: 100 * MS,
        period_ns: 100 * MS,
        delay_ns: 0,
    };

    /// A rack PDU's meter as a capping controller reads it: 1 s means every 1 s,
    /// delivered 1 s later (see the module doc for the sources and the range).
    pub const fn rack_pdu() -> MeterSpec {
        MeterSpec {
            window_ns: S,
            period_ns: S,
            delay_ns: S,
        }
    }

    /// A server's BMC power reading: 1 s means every 1 s, delivered 1 s later.
    pub const fn bmc() -> MeterSpec {
        MeterSpec {
            window_ns: S,
            period_ns: S,
            delay_ns: S,
        }
    }

    /// Hypervisor CPU counters differenced every `period_ns`, read at once.
    pub const fn cpu_counters(period_ns: u64) -> MeterSpec {
        MeterSpec {
            window_ns: period_ns,
            period_ns,
            delay_ns: 0,
        }
    }

    /// Checks the spec: Err says what is wrong.
    pub fn check(&self) -> Result<(), String> {
        if self.window_ns == 0 {
            return Err("a meter's window must be > 0".into());
        }
        if self.period_ns == 0 {
            return Err("a meter's period must be > 0".into());
        }
        Ok(())
    }

    /// How far back a [`History`] read by this meter must reach, ns.
    pub fn horizon_ns(&self) -> u64 {
        self.window_ns
            .saturating_add(self.period_ns)
            .saturating_add(self.delay_ns)
    }

    /// Sample time of the newest reading a reader sees at `now_ns`, ns: the latest
    /// multiple of the period at most `now − delay` whose window lies after time 0.
    pub fn newest_sample_ns(&self, now_ns: u64) -> Option<u64> {
        let t = now_ns.checked_sub(self.delay_ns)?;
        let k = t / self.period_ns;
        let ts = k.checked_mul(self.period_ns)?;
        (k >= 1 && ts >= self.window_ns).then_some(ts)
    }

    /// The reading taken at sample time `sample_ns`, from the quantity's history (`None`
    /// if the history no longer reaches back to the window's start).
    pub fn reading_at(&self, h: &History, sample_ns: u64) -> Option<Reading> {
        let from = sample_ns.checked_sub(self.window_ns)?;
        let integral = h.integral_at(sample_ns)? - h.integral_at(from)?;
        Some(Reading {
            measured_ns: sample_ns,
            available_ns: sample_ns.saturating_add(self.delay_ns),
            value: integral / (self.window_ns as f64 / 1e9),
        })
    }

    /// The newest reading visible at `now_ns`.
    pub fn visible(&self, h: &History, now_ns: u64) -> Option<Reading> {
        self.reading_at(h, self.newest_sample_ns(now_ns)?)
    }
}

/// What a capping controller can read, and how each kind of sensor reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SensorSpecs {
    /// The meter of every capped device (rack PDU, row, …).
    pub pdu: MeterSpec,
    /// Every server's BMC power reading.
    pub bmc: MeterSpec,
    /// The hypervisor's per-domain CPU counters.
    pub cpu: MeterSpec,
}

impl SensorSpecs {
    /// The defaults for a controller with control period `period_ns`: a rack PDU meter,
    /// a BMC and CPU counters differenced every control period (see the module doc).
    pub const fn defaults(period_ns: u64) -> SensorSpecs {
        SensorSpecs {
            pdu: MeterSpec::rack_pdu(),
            bmc: MeterSpec::bmc(),
            cpu: MeterSpec::cpu_counters(period_ns),
        }
    }

    /// Checks every spec.
    pub fn check(&self) -> Result<(), String> {
        self.pdu.check().map_err(|e| format!("pdu meter: {e}"))?;
        self.bmc.check().map_err(|e| format!("bmc: {e}"))?;
        self.cpu.check().map_err(|e| format!("cpu counters: {e}"))
    }
}

/// One reading.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reading {
    /// End of the averaging window (the sample time), ns.
    pub measured_ns: u64,
    /// When a reader can first see it, ns.
    pub available_ns: u64,
    /// Mean of the quantity over the window (W for power, cores for CPU).
    pub value: f64,
}

/// One change of a piecewise-constant quantity.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Point {
    /// When the quantity took this value, ns.
    t_ns: u64,
    /// ∫ of the quantity from time 0 to `t_ns` (J for power, core-seconds for CPU).
    integral: f64,
    /// Its value from `t_ns` on (W, cores).
    rate: f64,
}

/// The recent past of a piecewise-constant quantity (a power, a CPU share) and its
/// integral: enough to evaluate any meter window that ends at most `keep_ns` ago.
#[derive(Clone, Debug)]
pub struct History {
    points: VecDeque<Point>,
    keep_ns: u64,
}

impl History {
    /// A quantity that is 0 from time 0, keeping `keep_ns` of past.
    pub fn new(keep_ns: u64) -> Self {
        let mut points = VecDeque::with_capacity(4);
        points.push_back(Point {
            t_ns: 0,
            integral: 0.0,
            rate: 0.0,
        });
        History { points, keep_ns }
    }

    /// Keeps at least `keep_ns` of past from now on.
    pub fn keep_at_least(&mut self, keep_ns: u64) {
        self.keep_ns = self.keep_ns.max(keep_ns);
    }

    /// The quantity is `rate` from `now_ns` on (times never decrease).
    pub fn set(&mut self, now_ns: u64, rate: f64) {
        let last = *self.points.back().expect("a history is never empty");
        if last.rate == rate {
            return;
        }
        if last.t_ns >= now_ns {
            self.points.back_mut().expect("non-empty").rate = rate;
        } else {
            let integral = last.integral + last.rate * (now_ns - last.t_ns) as f64 / 1e9;
            self.points.push_back(Point {
                t_ns: now_ns,
                integral,
                rate,
            });
        }
        // Drop points no window can reach: keep the last one at or before the horizon.
        let horizon = now_ns.saturating_sub(self.keep_ns);
        while self.points.len() > 1 && self.points[1].t_ns <= horizon {
            self.points.pop_front();
        }
    }

    /// The quantity's value now (its last value set).
    pub fn current(&self) -> f64 {
        self.points.back().map_or(0.0, |p| p.rate)
    }

    /// ∫ of the quantity from time 0 to `t_ns`, or `None` if `t_ns` is before the kept
    /// past. `t_ns` after the last change extends the current value.
    pub fn integral_at(&self, t_ns: u64) -> Option<f64> {
        let first = self.points.front()?;
        if t_ns < first.t_ns {
            return None;
        }
        // Usually the newest points: search from the back.
        let p = self.points.iter().rev().find(|p| p.t_ns <= t_ns)?;
        Some(p.integral + p.rate * (t_ns - p.t_ns) as f64 / 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_over_the_window_and_delays_delivery() {
        // 100 ms window and period, 50 ms delay. 100 W for 60 ms then 200 W for 40 ms:
        // 6 + 8 = 14 J over 0.1 s → 140 W, measured at 100 ms, visible from 150 ms.
        let spec = MeterSpec {
            window_ns: 100 * MS,
            period_ns: 100 * MS,
            delay_ns: 50 * MS,
        };
        let mut h = History::new(spec.horizon_ns());
        h.set(0, 100.0);
        h.set(60 * MS, 200.0);
        h.set(100 * MS, 100.0);
        assert_eq!(spec.visible(&h, 149 * MS), None);
        let r = spec.visible(&h, 150 * MS).unwrap();
        assert_eq!((r.measured_ns, r.available_ns), (100 * MS, 150 * MS));
        assert!((r.value - 140.0).abs() < 1e-9);
        // Next window (0.1, 0.2]: 100 W throughout → 100 W, visible from 250 ms; at
        // 249 ms the reader still sees the first one.
        assert_eq!(spec.visible(&h, 249 * MS).unwrap().measured_ns, 100 * MS);
        assert!((spec.visible(&h, 250 * MS).unwrap().value - 100.0).abs() < 1e-9);
    }

    #[test]
    fn a_short_window_sees_only_the_end_of_each_period() {
        // 1 s period, 100 ms window, no delay: 50 W until 0.95 s, then 150 W. The
        // reading at 1 s covers (0.9, 1.0]: 0.05 s × 50 + 0.05 s × 150 = 10 J / 0.1 s
        // = 100 W, although the period's mean is 55 W.
        let spec = MeterSpec {
            window_ns: 100 * MS,
            period_ns: S,
            delay_ns: 0,
        };
        let mut h = History::new(spec.horizon_ns());
        h.set(0, 50.0);
        h.set(950 * MS, 150.0);
        let r = spec.visible(&h, 1_500 * MS).unwrap();
        assert_eq!(r.measured_ns, S);
        assert!((r.value - 100.0).abs() < 1e-9);
    }

    #[test]
    fn old_points_are_dropped_but_every_reachable_window_stays_exact() {
        // keep 2 s: after changes every 0.5 s for 10 s, the history holds about 5 points
        // and the window (8, 9] still integrates exactly: rate k at [k/2, k/2 + 0.5) →
        // over (8, 9]: 16 × 0.5 + 17 × 0.5 = 16.5.
        let mut h = History::new(2 * S);
        for k in 0..20u64 {
            h.set(k * 500 * MS, k as f64);
        }
        assert!(h.points.len() <= 6, "{}", h.points.len());
        let i = h.integral_at(9 * S).unwrap() - h.integral_at(8 * S).unwrap();
        assert!((i - 16.5).abs() < 1e-9, "{i}");
        assert_eq!(h.integral_at(S), None, "dropped");
    }

    #[test]
    fn no_reading_before_the_first_full_window() {
        let spec = MeterSpec {
            delay_ns: 2 * S,
            ..MeterSpec::rack_pdu()
        };
        let h = History::new(spec.horizon_ns());
        // Delay 2 s: the window (0, 1] is first visible at 3 s.
        assert_eq!(spec.newest_sample_ns(2_999 * MS), None);
        assert_eq!(spec.newest_sample_ns(3 * S), Some(S));
        assert_eq!(spec.visible(&h, 3 * S).map(|r| r.value), Some(0.0));
    }
}
