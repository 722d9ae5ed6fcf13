//! What can be done to a running world: the one vocabulary of changes shared by scenario
//! actions (applied at their time) and capping-policy commands (applied after their
//! actuator's latency). The simulator applies both through one path with one set of
//! guards, and logs each with its [`Origin`].

use crate::migration::Params;
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
    /// Idle-injection change, ns.
    pub idle_ns: u64,
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
            Actuation::SetIdle { .. } => self.idle_ns,
            Actuation::Migrate { .. } => self.migrate_ns,
        }
    }
}
