//! Idle states (ACPI C-states) of a server's cores and package, and what idling costs.
//!
//! A server model may list its core states and package states, each with an exit latency
//! and a target residency (the shortest idle period for which entering the state saves
//! energy; Linux `drivers/idle/intel_idle.c` tables) and a power, in W above the model's
//! idle floor. The floor (`idle` of a `cores` or `linear` model, the 0 % point of a
//! `specpower` table) is the server with every core in its deepest state and the package
//! in its deepest state: an idle server whose domains rarely wake reaches them.
//!
//! How idle time splits into states, per control of the [`IdleLoad`]:
//! - Each domain wakes its core at its own rate (a CPU-bound guest rarely; dom0 serving a
//!   migration's network interrupts thousands of times a second). The wake-ups of all
//!   domains are spread over the cores; a core's idle time divides into that many gaps.
//! - The idle governor picks, per core, the deepest state whose target residency is at
//!   most the expected gap (the menu governor's rule, `drivers/cpuidle/governors/menu.c`,
//!   with the mean gap as its prediction: a steady wake-up pattern is what its repeating-
//!   pattern detection finds). With no state short enough it takes the shallowest.
//! - The package can leave its active state only while every core is idle at once: with
//!   cores busy independently, a fraction (1 − u)ⁿ of the time, in gaps ended by any
//!   core's wake-up; otherwise it draws `package_active` W above its deepest state.
//! - Forced idle (idle injection) idles every core at once, in periods of
//!   [`INJECTION_PERIOD_S`]: cores and package take the deepest states that fit it, and
//!   the domains' wake-ups wait for the end of the period.
//! - A server with several sockets has one package per socket; cores, busy cores and
//!   wake-ups divide evenly among them (the hypervisor's scheduler spreads load across
//!   sockets), and each package leaves its active state when its own cores are all idle.
//!
//! Which load the floor and the curve stand for depends on how the curve was obtained:
//! - `cores` and `linear` models are built up from parts: their idle power is the floor
//!   and [`IdleStates::extra_w`] is added on top.
//! - A `specpower` table is a measurement at each load, which already includes what the
//!   idle states cost at that load under the benchmark's own wake-ups. Adding
//!   `extra_w` again would count it twice, so the idle states add only the *change*
//!   from that reference: `extra_w(now) − extra_w(reference)`, where the reference is the
//!   same busy cores woken by the guests alone (no dom0 task running, no forced idle).
//!   The guests' wake-ups stand in for ssj2008's (an assumption: its JVM worker threads
//!   wake per transaction batch, a rate SPEC does not publish). With no dom0 task and no
//!   forced idle the change is zero and the table is used as measured.

/// Length of one forced-idle period, s: Linux `intel_powerclamp`'s `duration` (forced
/// idle time per attempt), whose setter accepts 6–25 ms; 6 ms is its lower bound and
/// default (`drivers/thermal/intel/intel_powerclamp.c`).
pub const INJECTION_PERIOD_S: f64 = 0.006;

/// One idle state.
#[derive(Clone, Debug, PartialEq)]
pub struct IdleState {
    /// Name (e.g. "C6").
    pub name: String,
    /// Time to come back to C0, s (recorded; the governor's latency limit is not
    /// modelled).
    pub exit_latency_s: f64,
    /// Shortest idle period worth entering it for, s.
    pub target_residency_s: f64,
    /// Power above the deepest state while in it, W (per core for core states).
    pub power_w: f64,
}

/// A server model's idle states, shallowest first in each list.
#[derive(Clone, Debug, PartialEq)]
pub struct IdleStates {
    /// Core states (C1, C1E, C3, C6 …); the last draws 0 W above the floor.
    pub core: Vec<IdleState>,
    /// Package states entered when every core is idle; the last draws 0 W.
    pub package: Vec<IdleState>,
    /// Package power above its deepest state while any core is awake, W.
    pub package_active_w: f64,
    /// Wake-ups per second that each running host task (dom0 work of a migration) adds.
    pub dom0_wakeups_per_s: f64,
    /// Packages (sockets), ≥ 1; the cores divide evenly among them and each draws the
    /// package powers above.
    pub packages: f64,
}

/// What the cores are doing, for [`IdleStates::extra_w`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IdleLoad {
    /// Physical cores.
    pub cores: f64,
    /// Busy cores (fractional), forced idle included in the denominator below.
    pub busy: f64,
    /// Wake-ups per second of all domains together.
    pub wakeups_per_s: f64,
    /// Fraction of time every core is forcibly idle, [0, 1).
    pub forced_idle: f64,
}

/// The governor's choice among `states` (shallowest first) for an expected gap of
/// `gap_s`: the deepest whose target residency fits, else the shallowest.
pub fn pick(states: &[IdleState], gap_s: f64) -> Option<&IdleState> {
    states
        .iter()
        .rev()
        .find(|s| s.target_residency_s <= gap_s)
        .or(states.first())
}

impl IdleStates {
    /// Power above the floor, W, for `load`: the sum over the packages, each with an
    /// equal share of the cores, busy cores and wake-ups.
    pub fn extra_w(&self, load: IdleLoad) -> f64 {
        let k = self.packages.max(1.0);
        let share = IdleLoad {
            cores: load.cores / k,
            busy: load.busy / k,
            wakeups_per_s: load.wakeups_per_s / k,
            forced_idle: load.forced_idle,
        };
        k * self.package_extra_w(share)
    }

    /// The change a `specpower` table sees (module doc): `extra_w(load)` less
    /// `extra_w` of the same busy cores with `guest_wakeups_per_s` and no forced idle, W.
    /// Exactly 0 when `load` is that reference.
    pub fn measured_delta_w(&self, load: IdleLoad, guest_wakeups_per_s: f64) -> f64 {
        let reference = IdleLoad {
            wakeups_per_s: guest_wakeups_per_s,
            forced_idle: 0.0,
            ..load
        };
        if load == reference {
            return 0.0;
        }
        self.extra_w(load) - self.extra_w(reference)
    }

    /// [`extra_w`](Self::extra_w) of one package.
    fn package_extra_w(&self, load: IdleLoad) -> f64 {
        let n = load.cores.max(1.0);
        let forced = load.forced_idle.clamp(0.0, 1.0);
        let free = 1.0 - forced;
        // Per-core utilisation of the time that is not forced idle.
        let u = if free > 0.0 {
            (load.busy.max(0.0) / (n * free)).min(1.0)
        } else {
            1.0
        };
        let wake = load.wakeups_per_s.max(0.0);
        // A core's idle seconds per second over its share of the wake-ups; any core's
        // wake-up ends a package-wide idle period, so its gaps are n times shorter.
        let core_gap = if wake > 0.0 {
            (1.0 - u) * free * n / wake
        } else {
            f64::INFINITY
        };
        let pkg_gap = core_gap / n;
        let core_w = |gap: f64| pick(&self.core, gap).map_or(0.0, |s| s.power_w);
        let pkg_w = |gap: f64| {
            self.package
                .iter()
                .rev()
                .find(|s| s.target_residency_s <= gap)
                .map_or(self.package_active_w, |s| s.power_w)
        };
        let all_idle = (1.0 - u).powf(n);
        let cores = n * (free * (1.0 - u) * core_w(core_gap) + forced * core_w(INJECTION_PERIOD_S));
        let package = free * ((1.0 - all_idle) * self.package_active_w + all_idle * pkg_w(pkg_gap))
            + forced * pkg_w(INJECTION_PERIOD_S);
        cores + package
    }

    /// Rules: each list shallowest first with target residencies increasing and powers
    /// non-increasing, the deepest at 0 W; every number finite and ≥ 0.
    pub fn check(&self) -> Result<(), String> {
        for (what, list) in [("core", &self.core), ("package", &self.package)] {
            for w in list.windows(2) {
                if w[1].target_residency_s <= w[0].target_residency_s {
                    return Err(format!(
                        "`idle.{what}`: {} follows {} but its target residency is not longer; list the states shallowest first",
                        w[1].name, w[0].name
                    ));
                }
                if w[1].power_w > w[0].power_w {
                    return Err(format!(
                        "`idle.{what}`: {} draws more than the shallower {}; a deeper state cannot cost more",
                        w[1].name, w[0].name
                    ));
                }
            }
            for s in list {
                let nums = [s.exit_latency_s, s.target_residency_s, s.power_w];
                if nums.iter().any(|x| !x.is_finite() || *x < 0.0) {
                    return Err(format!(
                        "`idle.{what}` state {}: latency, residency and power must be finite and ≥ 0",
                        s.name
                    ));
                }
            }
            if let Some(last) = list.last() {
                if last.power_w != 0.0 {
                    return Err(format!(
                        "`idle.{what}`: the deepest state ({}) is the floor the model's idle power stands for, so its power is 0 W (got {} W)",
                        last.name, last.power_w
                    ));
                }
            }
        }
        if !self.package_active_w.is_finite() || self.package_active_w < 0.0 {
            return Err("`idle.package_active` must be finite and ≥ 0 W".into());
        }
        if let Some(first) = self.package.first() {
            if first.power_w > self.package_active_w {
                return Err(format!(
                    "`idle.package`: {} draws more than the active package (`package_active`)",
                    first.name
                ));
            }
        }
        if !self.dom0_wakeups_per_s.is_finite() || self.dom0_wakeups_per_s < 0.0 {
            return Err("`idle.dom0_wakeups` must be finite and ≥ 0 per second".into());
        }
        if !(self.packages >= 1.0 && self.packages.fract() == 0.0) {
            return Err(format!(
                "`idle.packages` must be a whole number ≥ 1 (got {})",
                self.packages
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(name: &str, res_us: f64, w: f64) -> IdleState {
        IdleState {
            name: name.into(),
            exit_latency_s: res_us / 4e6,
            target_residency_s: res_us * 1e-6,
            power_w: w,
        }
    }

    /// Nehalem residencies (intel_idle: C1 6 µs, C1E 20, C3 80, C6 800), round powers.
    fn nehalem() -> IdleStates {
        IdleStates {
            core: vec![
                st("C1", 6.0, 4.0),
                st("C1E", 20.0, 2.5),
                st("C3", 80.0, 1.5),
                st("C6", 800.0, 0.0),
            ],
            package: vec![st("PC3", 80.0, 4.0), st("PC6", 800.0, 0.0)],
            package_active_w: 10.0,
            dom0_wakeups_per_s: 8000.0,
            packages: 1.0,
        }
    }

    #[test]
    fn menu_rule_takes_the_deepest_state_that_fits() {
        let s = nehalem();
        assert_eq!(pick(&s.core, 1e-6).unwrap().name, "C1"); // nothing fits: shallowest
        assert_eq!(pick(&s.core, 50e-6).unwrap().name, "C1E");
        assert_eq!(pick(&s.core, 80e-6).unwrap().name, "C3");
        assert_eq!(pick(&s.core, 1.0).unwrap().name, "C6");
        s.check().unwrap();
    }

    #[test]
    fn a_half_busy_core_with_short_gaps_costs_more_than_half_a_busy_core() {
        // One core, half busy, 10,000 wake-ups/s: gaps of 0.5/10,000 = 50 µs → C1E
        // (2.5 W) for the idle half; the package is all-idle half the time in the same
        // 50 µs gaps, too short for PC3 (80 µs): active throughout, 10 W.
        // Extra = 0.5 × 2.5 + 10 = 11.25 W. A fully busy core: 10 W (package active,
        // no idle core). So half busy costs 11.25 − 10 × 0.5 = 6.25 W more than half of a
        // busy core's package share, before counting any dynamic power.
        let s = nehalem();
        let load = |busy: f64| IdleLoad {
            cores: 1.0,
            busy,
            wakeups_per_s: 10_000.0,
            forced_idle: 0.0,
        };
        assert!((s.extra_w(load(0.5)) - 11.25).abs() < 1e-12);
        assert!((s.extra_w(load(1.0)) - 10.0).abs() < 1e-12);
        // With a core power of 17 W: 0.5 × 17 + 11.25 = 19.75 W > (17 + 10) / 2 = 13.5 W.
        assert!(0.5 * 17.0 + s.extra_w(load(0.5)) > 0.5 * (17.0 + s.extra_w(load(1.0))));
        // Rare wake-ups (10/s): 50 ms gaps reach C6 and PC6: 0.5 × 10 W active only.
        let rare = IdleLoad {
            wakeups_per_s: 10.0,
            ..load(0.5)
        };
        assert!((s.extra_w(rare) - 5.0).abs() < 1e-12);
    }

    /// Four cores, 2.4 of them busy, 400 wake-ups/s, no forced idle.
    fn spread_2_4() -> IdleLoad {
        IdleLoad {
            cores: 4.0,
            busy: 2.4,
            wakeups_per_s: 400.0,
            forced_idle: 0.0,
        }
    }

    #[test]
    fn forced_idle_reaches_package_states_that_even_spreading_does_not() {
        // Four cores, 2.4 of them busy, 400 wake-ups/s.
        // Spread evenly (u = 0.6): core gaps 0.4 × 4 / 400 = 4 ms → C6 (0 W); all four
        // idle together (0.4)^4 = 2.56 % of the time in 1 ms gaps → PC6 (0 W); active
        // 97.44 %: 0.9744 × 10 = 9.744 W.
        // Forced idle 40 % instead: the cores run flat out the other 60 % (u = 1), the
        // package is active 60 % (6 W) and in PC6 during the 6 ms injected periods: 6 W.
        let s = nehalem();
        let spread = spread_2_4();
        let forced = IdleLoad {
            forced_idle: 0.4,
            ..spread
        };
        assert!(
            (s.extra_w(spread) - 9.744).abs() < 1e-9,
            "{}",
            s.extra_w(spread)
        );
        assert!(
            (s.extra_w(forced) - 6.0).abs() < 1e-9,
            "{}",
            s.extra_w(forced)
        );
    }

    #[test]
    fn two_packages_each_idle_on_their_own_cores() {
        // Eight cores in two packages, 2 busy, 400 wake-ups/s: each package has 4 cores,
        // 1 busy (u = 0.25) and 200 wake-ups/s. Core gaps 0.75 × 4 / 200 = 15 ms → C6
        // (0 W); all four idle together 0.75^4 = 31.640625 % of the time in 3.75 ms gaps →
        // PC6 (0 W); active the rest: 0.68359375 × 10 W = 6.8359375 W per package,
        // 13.671875 W for the two. One package of eight cores would be all-idle only
        // 0.75^8 = 10.01 % of the time: 8.9989 W, less than two packages' active uncores.
        let mut s = nehalem();
        s.packages = 2.0;
        let load = IdleLoad {
            cores: 8.0,
            busy: 2.0,
            wakeups_per_s: 400.0,
            forced_idle: 0.0,
        };
        assert!(
            (s.extra_w(load) - 13.671875).abs() < 1e-9,
            "{}",
            s.extra_w(load)
        );
        s.packages = 1.0;
        let one = 10.0 * (1.0 - 0.75f64.powi(8));
        assert!((s.extra_w(load) - one).abs() < 1e-9);
        s.packages = 1.5;
        assert!(s.check().unwrap_err().contains("packages"));
    }

    #[test]
    fn a_measured_curve_sees_only_the_change_from_its_reference() {
        // Spread 2.4 of 4 cores at 400 wake-ups/s is the reference: delta 0 exactly.
        // Forced idle 40 % instead: 6 W against the reference's 9.744 W (worked in
        // `forced_idle_reaches_package_states_that_even_spreading_does_not`): −3.744 W.
        // A dom0 task adding 8000/s: core gaps 0.4 × 4 / 8400 = 190 µs → C3 (1.5 W) on the
        // 1.6 idle cores = 2.4 W; package gaps 47.6 µs, too short for PC3: active 10 W;
        // 12.4 − 9.744 = +2.656 W.
        let s = nehalem();
        let spread = spread_2_4();
        assert_eq!(s.measured_delta_w(spread, 400.0), 0.0);
        let forced = IdleLoad {
            forced_idle: 0.4,
            ..spread
        };
        assert!((s.measured_delta_w(forced, 400.0) + 3.744).abs() < 1e-9);
        let dom0 = IdleLoad {
            wakeups_per_s: 8400.0,
            ..spread
        };
        assert!((s.measured_delta_w(dom0, 400.0) - 2.656).abs() < 1e-9);
    }

    #[test]
    fn bad_tables_are_refused() {
        let mut s = nehalem();
        s.core.swap(0, 1);
        assert!(s.check().unwrap_err().contains("shallowest first"));
        let mut s = nehalem();
        s.core[3].power_w = 0.5;
        assert!(s.check().unwrap_err().contains("0 W"));
        let mut s = nehalem();
        s.package[0].power_w = 20.0;
        assert!(s.check().is_err());
    }
}
