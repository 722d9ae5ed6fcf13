//! The two-body thermal state of a breaker (`thermal = "two-body"`): a fast body (the
//! bimetal) and a slow one (the breaker's body and terminals), each relaxing towards its
//! share of the heating x = (M/M_p)^α, the breaker tripping when their sum reaches 1.
//! Two time constants follow a breaker's published cold curve near pickup and at high
//! overloads at once, which one (Model B, notes/capping-and-breakers.md §4.3) cannot; the
//! form is the two-time-constant thermal model of IEC 60076-7 (winding and oil), applied
//! to a breaker as an assumption.
//!
//! At constant x each body is exact: h_i(t) = w_i·x + (h_i − w_i·x)·e^(−t/τ_i). The sum
//! minus 1, f(t) = x − 1 − a·e^(−t/τ_f) − b·e^(−t/τ_s), has at most one extremum (closed
//! form), so its first zero is bracketed in closed form and found by bisection.

/// The two bodies' parameters, seconds for the time constants of one device.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TwoBody {
    /// Share of the heating that goes to the fast body, in (0, 1).
    pub fast_weight: f64,
    /// τ_f, seconds.
    pub tau_fast_s: f64,
    /// τ_s, seconds (> τ_f).
    pub tau_slow_s: f64,
}

/// Each body's heat, per unit of the trip level.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Heats {
    /// The fast body's.
    pub fast: f64,
    /// The slow body's.
    pub slow: f64,
}

impl Heats {
    /// The breaker's heat: the sum.
    pub fn total(self) -> f64 {
        self.fast + self.slow
    }
}

impl TwoBody {
    /// The heats after `dt_s` seconds at heating `x`, each exact.
    pub fn step(&self, h: Heats, x: f64, dt_s: f64) -> Heats {
        if dt_s <= 0.0 {
            return h;
        }
        let relax = |h: f64, target: f64, tau: f64| target + (h - target) * (-dt_s / tau).exp();
        Heats {
            fast: relax(h.fast, self.fast_weight * x, self.tau_fast_s),
            slow: relax(h.slow, (1.0 - self.fast_weight) * x, self.tau_slow_s),
        }
    }

    /// Seconds until the sum reaches 1 at constant heating `x` from `h`, or `None` if it
    /// never does. Returned as the upper end of a bisection bracket narrower than 1e-12
    /// relative (or 1e-10 s), so advancing by it reaches 1.
    pub fn time_to_one(&self, h: Heats, x: f64) -> Option<f64> {
        let (tf, ts) = (self.tau_fast_s, self.tau_slow_s);
        let a = self.fast_weight * x - h.fast;
        let b = (1.0 - self.fast_weight) * x - h.slow;
        let f = |t: f64| x - 1.0 - a * (-t / tf).exp() - b * (-t / ts).exp();
        if f(0.0) >= 0.0 {
            return Some(0.0);
        }
        // f′(t) = (a/τ_f)e^(−t/τ_f) + (b/τ_s)e^(−t/τ_s) vanishes at most once, where
        // (a/τ_f)e^(−t/τ_f) = −(b/τ_s)e^(−t/τ_s).
        let extremum = (a * b < 0.0)
            .then(|| (a * ts / (-b * tf)).ln() / (1.0 / tf - 1.0 / ts))
            .filter(|t| *t > 0.0 && t.is_finite());
        let hi = match extremum {
            // f rises to a maximum and falls towards x − 1: if the maximum reaches 0 the
            // first zero is before it.
            Some(t) if f(t) >= 0.0 => t,
            _ if x > 1.0 => {
                // f rises to x − 1 > 0 (past any minimum): double until past the zero.
                let mut hi = tf.min(ts);
                while f(hi) < 0.0 {
                    hi *= 2.0;
                    if !hi.is_finite() {
                        return None;
                    }
                }
                hi
            }
            _ => return None,
        };
        let (mut lo, mut hi) = (0.0, hi);
        while hi - lo > (hi * 1e-12).max(1e-10) {
            let mid = 0.5 * (lo + hi);
            if f(mid) >= 0.0 {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Some(hi)
    }

    /// Checks the parameters; Err names the field.
    pub fn check(&self) -> Result<(), String> {
        let w = self.fast_weight;
        if !(w > 0.0 && w < 1.0) {
            return Err(format!("fast_weight must be in (0, 1), got {w}"));
        }
        if !(self.tau_fast_s > 0.0 && self.tau_fast_s.is_finite()) {
            return Err(format!("tau_fast must be > 0 s, got {} s", self.tau_fast_s));
        }
        if !(self.tau_slow_s > self.tau_fast_s && self.tau_slow_s.is_finite()) {
            return Err(format!(
                "tau_slow must exceed tau_fast ({} s), got {} s",
                self.tau_fast_s, self.tau_slow_s
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// models/breakers/ul489-le30a-two-body.toml.
    const B: TwoBody = TwoBody {
        fast_weight: 0.62,
        tau_fast_s: 145.0,
        tau_slow_s: 1300.0,
    };

    /// The sum at time `t` from cold at heating `x`, by the closed form.
    fn cold_sum(x: f64, t: f64) -> f64 {
        x * (1.0 - 0.62 * (-t / 145.0).exp() - 0.38 * (-t / 1300.0).exp())
    }

    #[test]
    fn cold_trip_times_solve_the_closed_form() {
        // The root t of x·(1 − 0.62·e^(−t/145) − 0.38·e^(−t/1300)) = 1, checked by hand at
        // 200 % (x = 4): t = 67.5 s gives e^(−0.46552) = 0.62782 and e^(−0.05192) =
        // 0.94941, so 4·(1 − 0.62·0.62782 − 0.38·0.94941) = 4·0.24997 = 0.9999.
        for (m, near) in [(1.1, 1022.8), (1.5, 151.9), (2.0, 67.5), (5.0, 9.0)] {
            let x: f64 = m * m;
            let t = B.time_to_one(Heats::default(), x).unwrap();
            assert!((cold_sum(x, t) - 1.0).abs() < 1e-9, "M={m}");
            assert!(
                (t / near - 1.0).abs() < 0.01,
                "M={m}: {t} s, about {near} s"
            );
        }
        assert_eq!(B.time_to_one(Heats::default(), 1.0), None);
        assert_eq!(B.time_to_one(Heats::default(), 0.64), None);
    }

    #[test]
    fn preload_warms_both_bodies_and_the_overload_trips_sooner() {
        // 4 h at 80 % (x = 0.64): the slow body is within e^(−14400/1300) = 1.5e-5 of
        // its share 0.38·0.64 = 0.2432, the fast one at 0.62·0.64 = 0.3968.
        let h = B.step(Heats::default(), 0.64, 14_400.0);
        assert!((h.fast - 0.3968).abs() < 1e-9 && (h.slow - 0.2432).abs() < 1e-5);
        let cold = B.time_to_one(Heats::default(), 2.25).unwrap();
        let hot = B.time_to_one(h, 2.25).unwrap();
        assert!(hot < 0.45 * cold, "hot {hot} s, cold {cold} s");
        // Advancing in two steps meets the closed form.
        let mid = B.step(h, 2.25, 0.5 * hot);
        let rest = B.time_to_one(mid, 2.25).unwrap();
        assert!((0.5 * hot + rest - hot).abs() < 1e-6 * hot);
        assert!((B.step(mid, 2.25, rest).total() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn below_pickup_only_a_hot_slow_body_can_carry_the_sum_over_one() {
        // Fast body over its share, slow under (just after a short big overload): the sum
        // stays below max(sum now, x) (the fast excess decays faster than the slow
        // deficit fills), so at x = 0.99 from fast 0.70, slow 0.29 it never trips.
        let h = Heats {
            fast: 0.70,
            slow: 0.29,
        };
        assert_eq!(B.time_to_one(h, 0.99), None);
        // Slow body hot (a long overload, then a pause that cooled only the fast body),
        // and the load back at 98 % of rating: the fast body refills to 0.62·0.9604 =
        // 0.5954 in a few τ_f while the slow one is still far above its 0.3650, so the
        // sum passes 1 (at about 138 s; its peak is 1.017) although x < 1: the path that
        // finds a zero before the sum's maximum.
        let h = Heats {
            fast: 0.50,
            slow: 0.45,
        };
        let x = 0.98f64 * 0.98;
        let t = B.time_to_one(h, x).expect("a trip below pickup");
        assert!((B.step(h, x, t).total() - 1.0).abs() < 1e-9, "{t}");
        assert!((100.0..200.0).contains(&t), "{t}");
        // The first crossing: every earlier whole second is below 1.
        assert!((0..t as u32).all(|i| B.step(h, x, i as f64).total() < 1.0));
    }

    #[test]
    fn check_names_each_bad_field() {
        let bad = |b: TwoBody| b.check().unwrap_err();
        assert!(bad(TwoBody {
            fast_weight: 1.0,
            ..B
        })
        .contains("fast_weight"));
        assert!(bad(TwoBody {
            tau_fast_s: 0.0,
            ..B
        })
        .contains("tau_fast"));
        assert!(bad(TwoBody {
            tau_slow_s: 100.0,
            ..B
        })
        .contains("tau_slow"));
        B.check().unwrap();
    }
}
