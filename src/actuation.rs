//! What can be done to a running world: the one vocabulary of changes shared by scenario
//! actions (applied at their time) and capping-policy commands (applied after their
//! actuator's latency). The simulator applies both through one path with one set of
//! guards, and logs each with its [`Origin`].

use crate::migration::Params;
use crate::model::idle::INJECTION_PERIOD_S;
use crate::model::ids::{ServerId, VmId};
use std::sync::Arc;

/// One change to the world.
#[derive(Clone, Debug, PartialEq)]
pub enum Actuation {
    /// Set a server's p-state (DVFS), 0 = fastest.
    SetPstate {
        /// The server.
        server: ServerId,
        /// P-state index.
        pstate: usize,
    },
    /// Set or clear a VM's own credit-scheduler cap (the owner's setting), cores.
    SetVmCap {
        /// The VM.
        vm: VmId,
        /// Cap, cores (`None`: uncapped).
        cap_cores: Option<f64>,
    },
    /// Set or clear the CPU quota a capping system puts on a VM, cores; it applies on top
    /// of the VM's own cap (the tighter wins) and never changes it.
    SetVmQuota {
        /// The VM.
        vm: VmId,
        /// Quota, cores (`None`: no quota).
        cap_cores: Option<f64>,
    },
    /// Set a VM's credit-scheduler weight (dimensionless, > 0).
    SetVmWeight {
        /// The VM.
        vm: VmId,
        /// Weight.
        weight: f64,
    },
    /// Force a server idle for this fraction of the time, [0, 1).
    SetIdle {
        /// The server.
        server: ServerId,
        /// Forced-idle fraction.
        fraction: f64,
    },
    /// Live-migrate a VM.
    Migrate {
        /// The VM.
        vm: VmId,
        /// Destination server.
        to: ServerId,
        /// Algorithm and its parameters.
        params: Arc<Params>,
    },
}

/// Who asked for a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// A scheduled `[[actions]]` entry of the scenario.
    Scenario,
    /// The capping policy.
    Policy,
}

/// Actuator latencies: how long after a policy decides a change takes effect, ns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Latencies {
    /// DVFS transition, ns.
    pub dvfs_ns: u64,
    /// CPU quota or cap change, ns.
    pub cap_ns: u64,
    /// Idle-injection change, ns (before the alignment wait, if `idle_aligns`).
    pub idle_ns: u64,
    /// Whether an idle-injection change also waits for powerclamp to align it: a new
    /// ratio takes effect only at the next round, whose idle period starts at the next
    /// multiple of the injection interval `duration × 100 / ratio`
    /// (`roundup(jiffies, interval)` in `intel_powerclamp.c`), so the wait is 0 to one
    /// interval; capsim takes its mean, half an interval, `INJECTION_PERIOD_S / (2 ·
    /// fraction)` (at 10 % forced idle 30 ms, at 50 % 6 ms). Ending the injection waits
    /// for nothing more than the idle period in progress (≤ 6 ms, not counted). False
    /// when a scenario sets `idle_latency`: that is then the whole latency.
    pub idle_aligns: bool,
    /// Migration command to migration start, ns.
    pub migrate_ns: u64,
}

impl Latencies {
    /// The latency of a change, ns (a weight change goes through the same scheduler
    /// interface as a cap).
    pub fn of(&self, a: &Actuation) -> u64 {
        match a {
            Actuation::SetPstate { .. } => self.dvfs_ns,
            Actuation::SetVmCap { .. }
            | Actuation::SetVmQuota { .. }
            | Actuation::SetVmWeight { .. } => self.cap_ns,
            Actuation::SetIdle { fraction, .. } => self.idle_ns + self.alignment_ns(*fraction),
            Actuation::Migrate { .. } => self.migrate_ns,
        }
    }

    /// Powerclamp's mean wait for the first idle period at `fraction`, ns.
    fn alignment_ns(&self, fraction: f64) -> u64 {
        if !self.idle_aligns || fraction <= 0.0 {
            return 0;
        }
        (INJECTION_PERIOD_S / (2.0 * fraction) * 1e9).round() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idle(fraction: f64) -> Actuation {
        Actuation::SetIdle {
            server: ServerId(0),
            fraction,
        }
    }

    #[test]
    fn default_latencies_are_delivery_plus_each_mechanism() {
        let l = Latencies::default();
        let pstate = Actuation::SetPstate {
            server: ServerId(0),
            pstate: 3,
        };
        let quota = Actuation::SetVmQuota {
            vm: VmId(0),
            cap_cores: Some(0.5),
        };
        // 1 ms delivery + 20 µs p-state transition; + 15 ms mean credit-accounting wait.
        assert_eq!(l.of(&pstate), 1_020_000);
        assert_eq!(l.of(&quota), 16_000_000);
        // Idle injection: 1 ms + 6 ms / (2 f): 10 % → 30 ms, 40 % → 7.5 ms, ending → 0.
        assert_eq!(l.of(&idle(0.1)), 31_000_000);
        assert_eq!(l.of(&idle(0.4)), 8_500_000);
        assert_eq!(l.of(&idle(0.0)), 1_000_000);
        // A latency the scenario sets is the whole latency.
        let fixed = Latencies {
            idle_ns: 10_000_000,
            idle_aligns: false,
            ..l
        };
        assert_eq!(fixed.of(&idle(0.1)), 10_000_000);
    }
}
