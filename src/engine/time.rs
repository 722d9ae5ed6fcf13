//! Simulation time: integer nanoseconds since the start of a run.

use std::fmt;

/// Nanoseconds in one second.
pub const NANOS_PER_SEC: u64 = 1_000_000_000;

/// A point in simulated time, in integer nanoseconds since the run started.
///
/// Integer time keeps runs bit-reproducible: floating seconds appear only at the edges
/// (input parsing, output formatting).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(pub u64);

impl SimTime {
    /// The start of a run.
    pub const ZERO: SimTime = SimTime(0);
    /// The largest representable time (about 584 years); used as "never".
    pub const MAX: SimTime = SimTime(u64::MAX);

    /// From nanoseconds.
    pub const fn from_nanos(ns: u64) -> Self {
        SimTime(ns)
    }

    /// From seconds, rounded to the nearest nanosecond; negative or NaN gives zero and
    /// values past [`SimTime::MAX`] saturate.
    pub fn from_secs_f64(s: f64) -> Self {
        SimTime(secs_to_nanos(s))
    }

    /// In nanoseconds.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// In seconds.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_SEC as f64
    }

    /// This time plus `ns` nanoseconds, saturating at [`SimTime::MAX`].
    pub fn plus(self, ns: u64) -> Self {
        SimTime(self.0.saturating_add(ns))
    }

    /// Nanoseconds from `earlier` to `self` (zero if `earlier` is later).
    pub fn since(self, earlier: SimTime) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// Seconds to nanoseconds, rounded to nearest; negative or NaN gives zero. Saturates at
/// `u64::MAX` ns (584 years), which the engine reads as "never" (a trip or completion
/// that does not come); durations a user gives are checked against that limit when the
/// scenario is validated, so only computed times saturate.
pub fn secs_to_nanos(s: f64) -> u64 {
    if s.is_nan() || s <= 0.0 {
        0
    } else {
        let ns = (s * NANOS_PER_SEC as f64).round();
        if ns >= u64::MAX as f64 {
            u64::MAX
        } else {
            ns as u64
        }
    }
}

/// Seconds to nanoseconds, rounded up, so an event scheduled at the result is never
/// before the exact real-valued instant (used for trip and completion times); saturates
/// like [`secs_to_nanos`].
pub fn secs_to_nanos_ceil(s: f64) -> u64 {
    if s.is_nan() || s <= 0.0 {
        0
    } else {
        let ns = (s * NANOS_PER_SEC as f64).ceil();
        if ns >= u64::MAX as f64 {
            u64::MAX
        } else {
            ns as u64
        }
    }
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.9}s", self.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_round_trip() {
        // 1.5 s = 1_500_000_000 ns exactly.
        assert_eq!(SimTime::from_secs_f64(1.5).as_nanos(), 1_500_000_000);
        assert_eq!(SimTime::from_nanos(250_000_000).as_secs_f64(), 0.25);
        assert_eq!(SimTime::from_secs_f64(-3.0), SimTime::ZERO);
        assert_eq!(SimTime::from_secs_f64(f64::INFINITY), SimTime::MAX);
        // 1e-9 s plus a hair must round up to 2 ns with the ceiling variant.
        assert_eq!(secs_to_nanos_ceil(1.000_000_1e-9), 2);
    }
}
