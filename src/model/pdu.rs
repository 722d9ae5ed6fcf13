//! The power hierarchy: server → rack PDU (outlet groups, input) → row → datacenter.
//!
//! A device carries the summed power of everything below it, turns watts into amps with
//! its voltage and phases, keeps exact cap-violation accounting (power is piecewise
//! constant, so every integral is exact), and drives its breaker's heat state.

use super::breaker::Breaker;

pub use super::ids::DeviceId;

/// How a device turns watts into amps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Electrical {
    /// Line-to-neutral voltage for single phase, line-to-line for three phase, V.
    pub voltage_v: f64,
    /// 1 or 3.
    pub phases: u8,
    /// Real / apparent power, (0, 1].
    pub power_factor: f64,
}

impl Electrical {
    /// Line current in A for `watts` of real power: P/(V·pf) for one phase,
    /// P/(√3·V_LL·pf) for a balanced three-phase load.
    pub fn amps(&self, watts: f64) -> f64 {
        let va = watts / self.power_factor;
        if self.phases == 3 {
            va / (3f64.sqrt() * self.voltage_v)
        } else {
            va / self.voltage_v
        }
    }

    /// Real power in W that draws `amps` of line current (inverse of [`Electrical::amps`]).
    pub fn watts(&self, amps: f64) -> f64 {
        let k = if self.phases == 3 { 3f64.sqrt() } else { 1.0 };
        amps * k * self.voltage_v * self.power_factor
    }
}

/// One breaker trip.
#[derive(Clone, Debug, PartialEq)]
pub struct Trip {
    /// When, s.
    pub time_s: f64,
    /// Power flowing through the device when it opened, W.
    pub load_cut_w: f64,
}

/// Exact accounting of time and energy above a planning cap.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Violations {
    /// Separate excursions above the cap.
    pub episodes: u64,
    /// Total time above the cap, ns.
    pub over_ns: u64,
    /// ∫ max(0, P − cap) dt, J.
    pub energy_over_j: f64,
    /// Highest power seen, W.
    pub peak_w: f64,
}

/// A node of the power tree.
#[derive(Clone, Debug)]
pub struct Device {
    /// Unique name.
    pub name: String,
    /// Free-form level label: `outlet_group`, `rack`, `row`, `datacenter`.
    pub kind: String,
    /// The device feeding this one.
    pub parent: Option<DeviceId>,
    /// Voltage, phases, power factor.
    pub electrical: Electrical,
    /// Breaker rating, A (`None`: no protective device here).
    pub rating_a: Option<f64>,
    /// Planning cap, W (kept separate from the physical rating).
    pub cap_w: Option<f64>,
    /// The protective device, if any.
    pub breaker: Option<Breaker>,
    /// Present load, W.
    pub load_w: f64,
    /// Time the accounting was last brought up to date, ns.
    pub last_ns: u64,
    /// Energy through this device so far, J.
    pub energy_j: f64,
    /// Cap-violation accounting (meaningful only with a cap).
    pub violations: Violations,
    /// Highest breaker heat H seen, [0, 1].
    pub max_heat: f64,
    /// Smallest time-to-trip seen while overloaded, s (`None`: never overloaded).
    pub min_time_to_trip_s: Option<f64>,
    /// Trips so far (a device trips at most once: it stays open).
    pub trips: Vec<Trip>,
    /// Generation of the pending trip event; bumped on every reschedule so stale
    /// events are ignored.
    pub trip_gen: crate::model::ids::Gen,
}

impl Device {
    /// A device carrying no load yet, at time 0.
    pub fn new(
        name: String,
        kind: String,
        parent: Option<DeviceId>,
        electrical: Electrical,
        rating_a: Option<f64>,
        cap_w: Option<f64>,
        breaker: Option<Breaker>,
    ) -> Self {
        Device {
            name,
            kind,
            parent,
            electrical,
            rating_a,
            cap_w,
            breaker,
            load_w: 0.0,
            last_ns: 0,
            energy_j: 0.0,
            violations: Violations::default(),
            max_heat: 0.0,
            min_time_to_trip_s: None,
            trips: Vec::new(),
            trip_gen: 0,
        }
    }

    /// True once its trip has been carried out (it cut its load; a device trips at most
    /// once). Its breaker may be open a moment earlier, when the trip is still queued.
    pub fn has_tripped(&self) -> bool {
        !self.trips.is_empty()
    }

    /// True when the breaker is open (tripped, whether or not the trip is carried out).
    pub fn is_open(&self) -> bool {
        self.breaker.as_ref().is_some_and(|b| b.is_tripped())
    }

    /// Present load as a multiple of the rating.
    pub fn load_multiple(&self) -> f64 {
        match self.rating_a {
            Some(r) if r > 0.0 => self.electrical.amps(self.load_w) / r,
            _ => 0.0,
        }
    }

    /// Energy through the device up to `now_ns`, J, without changing state.
    pub fn energy_at(&self, now_ns: u64) -> f64 {
        self.energy_j + self.load_w * now_ns.saturating_sub(self.last_ns) as f64 / 1e9
    }

    /// Brings energy, violations and breaker heat up to `now_ns` at the present load.
    /// Returns true if the breaker reached its trip point in this interval.
    pub fn advance(&mut self, now_ns: u64) -> bool {
        let dt_ns = now_ns.saturating_sub(self.last_ns);
        self.last_ns = now_ns.max(self.last_ns);
        if dt_ns == 0 {
            return false;
        }
        let dt = dt_ns as f64 / 1e9;
        self.energy_j += self.load_w * dt;
        if let Some(cap) = self.cap_w {
            if self.load_w > cap {
                self.violations.over_ns += dt_ns;
                self.violations.energy_over_j += (self.load_w - cap) * dt;
            }
        }
        let mut tripped = false;
        if let Some(b) = self.breaker.as_mut() {
            if !b.is_tripped() {
                tripped = b.advance(dt);
                self.max_heat = self.max_heat.max(b.heat());
            }
        }
        if !tripped {
            self.note_time_to_trip();
        }
        tripped
    }

    /// Sets the load (call [`Device::advance`] first). Returns the breaker's time to trip
    /// at the new load, s (`None`: never at this load, or no breaker).
    pub fn set_load(&mut self, watts: f64) -> Option<f64> {
        let was_over = self.cap_w.is_some_and(|c| self.load_w > c);
        self.load_w = watts.max(0.0);
        self.violations.peak_w = self.violations.peak_w.max(self.load_w);
        if let Some(cap) = self.cap_w {
            if !was_over && self.load_w > cap {
                self.violations.episodes += 1;
            }
        }
        let m = self.load_multiple();
        let ttt = match self.breaker.as_mut() {
            Some(b) if !b.is_tripped() => {
                b.set_load(m);
                b.time_to_trip_s()
            }
            _ => None,
        };
        self.note_time_to_trip();
        ttt
    }

    fn note_time_to_trip(&mut self) {
        if let Some(t) = self
            .breaker
            .as_ref()
            .filter(|b| !b.is_tripped())
            .and_then(|b| b.time_to_trip_s())
        {
            self.min_time_to_trip_s = Some(self.min_time_to_trip_s.map_or(t, |m| m.min(t)));
        }
    }

    /// Opens the breaker at `now_ns`, recording the load it cut.
    pub fn open(&mut self, now_ns: u64) {
        if let Some(b) = self.breaker.as_mut() {
            b.trip();
            self.max_heat = self.max_heat.max(b.heat());
        }
        self.min_time_to_trip_s = Some(0.0);
        self.trips.push(Trip {
            time_s: now_ns as f64 / 1e9,
            load_cut_w: self.load_w,
        });
        self.trip_gen = self.trip_gen.wrapping_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watts_to_amps() {
        // 208 V single phase, pf 1: 6240 W -> 30 A.
        let one = Electrical {
            voltage_v: 208.0,
            phases: 1,
            power_factor: 1.0,
        };
        assert!((one.amps(6240.0) - 30.0).abs() < 1e-9);
        // 208 V three phase, pf 1: 10808 W -> 10808/(1.7320508*208) = 30.0 A.
        let three = Electrical {
            voltage_v: 208.0,
            phases: 3,
            power_factor: 1.0,
        };
        assert!((three.amps(3f64.sqrt() * 208.0 * 30.0) - 30.0).abs() < 1e-9);
        // pf 0.95 raises current: 230 V, 2185 W -> 2300 VA -> 10 A.
        let pf = Electrical {
            voltage_v: 230.0,
            phases: 1,
            power_factor: 0.95,
        };
        assert!((pf.amps(2185.0) - 10.0).abs() < 1e-9);
        assert!((pf.watts(10.0) - 2185.0).abs() < 1e-9);
    }

    #[test]
    fn violations_are_exact() {
        let mut d = Device::new(
            "r".into(),
            "rack".into(),
            None,
            Electrical {
                voltage_v: 208.0,
                phases: 1,
                power_factor: 1.0,
            },
            Some(30.0),
            Some(4992.0),
            None,
        );
        let s = 1_000_000_000u64;
        d.set_load(4000.0);
        d.advance(10 * s);
        d.set_load(5492.0); // 500 W over the 4992 W cap
        d.advance(14 * s);
        d.set_load(4500.0);
        d.advance(20 * s);
        d.set_load(5992.0); // 1000 W over
        d.advance(21 * s);
        // Two episodes; 4 s + 1 s over; 500*4 + 1000*1 = 3000 J over cap.
        assert_eq!(d.violations.episodes, 2);
        assert_eq!(d.violations.over_ns, 5 * s);
        assert!((d.violations.energy_over_j - 3000.0).abs() < 1e-9);
        // Energy: 4000*10 + 5492*4 + 4500*6 + 5992*1 = 40000 + 21968 + 27000 + 5992 = 94960 J.
        assert!((d.energy_j - 94960.0).abs() < 1e-6);
        assert_eq!(d.violations.peak_w, 5992.0);
    }
}
