//! Power meters: the only view of power that controllers get.
//!
//! A meter reports the exact average power over each window (like a WT210, which samples
//! every 20 µs and reports the 100 ms average), and a reading becomes visible only after
//! the meter's reporting delay.

use std::collections::VecDeque;

/// One reading.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reading {
    /// End of the averaging window, ns.
    pub measured_ns: u64,
    /// When a controller can first see it, ns.
    pub available_ns: u64,
    /// Average power over the window, W.
    pub power_w: f64,
}

/// A meter on a server or a device.
#[derive(Clone, Debug)]
pub struct Meter {
    /// Unique name.
    pub name: String,
    /// Averaging window, ns (> 0); readings come every window.
    pub window_ns: u64,
    /// Reporting delay, ns.
    pub delay_ns: u64,
    last_energy_j: f64,
    in_flight: VecDeque<Reading>,
    latest: Option<Reading>,
}

impl Meter {
    /// A meter whose first window starts at time 0 with `energy_j` already counted.
    pub fn new(name: String, window_ns: u64, delay_ns: u64) -> Self {
        Meter {
            name,
            window_ns: window_ns.max(1),
            delay_ns,
            last_energy_j: 0.0,
            in_flight: VecDeque::new(),
            latest: None,
        }
    }

    /// Closes the window ending at `now_ns`, given the target's cumulative energy (J).
    pub fn sample(&mut self, now_ns: u64, energy_j: f64) -> Reading {
        let power_w = (energy_j - self.last_energy_j) / (self.window_ns as f64 / 1e9);
        self.last_energy_j = energy_j;
        let r = Reading {
            measured_ns: now_ns,
            available_ns: now_ns.saturating_add(self.delay_ns),
            power_w,
        };
        self.in_flight.push_back(r);
        r
    }

    /// The newest reading visible at `now_ns` (readings arrive in order).
    pub fn reading_at(&mut self, now_ns: u64) -> Option<Reading> {
        while let Some(r) = self.in_flight.front() {
            if r.available_ns > now_ns {
                break;
            }
            self.latest = self.in_flight.pop_front();
        }
        self.latest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_over_the_window_and_delays_delivery() {
        // 100 ms window, 50 ms delay. 100 W for 60 ms then 200 W for 40 ms: energy
        // 6 + 8 = 14 J over 0.1 s -> 140 W, visible from 150 ms.
        let ms = 1_000_000u64;
        let mut m = Meter::new("m".into(), 100 * ms, 50 * ms);
        let r = m.sample(100 * ms, 14.0);
        assert!((r.power_w - 140.0).abs() < 1e-9);
        assert_eq!(m.reading_at(149 * ms), None);
        assert_eq!(
            m.reading_at(150 * ms).map(|r| r.measured_ns),
            Some(100 * ms)
        );
        // Next window: 10 J more over 0.1 s -> 100 W.
        m.sample(200 * ms, 24.0);
        assert!((m.reading_at(250 * ms).unwrap().power_w - 100.0).abs() < 1e-9);
    }
}
