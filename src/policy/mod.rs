//! Capping controllers. A policy sees only what a real controller sees: meter readings
//! (averages over the last control period, visible after the meter's delay) and
//! hypervisor counters; it acts through [`Command`]s that take effect after an actuator
//! latency. One policy object runs every control period for every capped device.

pub mod compose;
pub mod dvfs_feedback;
pub mod group_dvfs;
pub mod idle_injection;
pub mod migration;
pub mod none;
pub mod thunderbolt;

use crate::migration::Params;
use rand::rngs::StdRng;
use std::sync::Arc;

/// What a controller can observe. Powers are meter readings, never the true power.
pub trait Observe {
    /// Now, ns.
    fn now_ns(&self) -> u64;
    /// Devices with a cap (the ones a policy protects), in world order.
    fn capped_devices(&self) -> &[usize];
    /// A device's planning cap, W.
    fn device_cap_w(&self, d: usize) -> Option<f64>;
    /// A device's latest visible reading: average power over one control period, W.
    fn device_power_w(&self, d: usize) -> Option<f64>;
    /// Servers below a device (all levels), in world order.
    fn servers_under(&self, d: usize) -> &[usize];
    /// A server's latest visible reading (its BMC), W.
    fn server_power_w(&self, s: usize) -> Option<f64>;
    /// False once a breaker above it opened.
    fn server_on(&self, s: usize) -> bool;
    /// Current p-state (0 = fastest).
    fn server_pstate(&self, s: usize) -> usize;
    /// Number of p-states.
    fn server_pstates(&self, s: usize) -> usize;
    /// Physical cores.
    fn server_cores(&self, s: usize) -> u32;
    /// Power with every core busy at P0 (nameplate-like), W.
    fn server_peak_w(&self, s: usize) -> f64;
    /// Idle power, W.
    fn server_idle_w(&self, s: usize) -> f64;
    /// Dynamic power at p-state `to` relative to p-state `from` (the hardware's DVFS
    /// table: f·V² ratios), for estimating what a p-state change saves.
    fn server_dynamic_ratio(&self, s: usize, from: usize, to: usize) -> f64;
    /// NIC power per Gbps moved, W.
    fn server_nic_w_per_gbps(&self, s: usize) -> f64;
    /// Forced-idle fraction in force.
    fn server_idle_fraction(&self, s: usize) -> f64;
    /// Memory not allocated to VMs (including ones arriving), bytes.
    fn server_free_memory(&self, s: usize) -> u64;
    /// Cores demanded by its VMs over the last period (hypervisor counters), cores.
    fn server_vm_cpu(&self, s: usize) -> f64;
    /// The device directly feeding it.
    fn server_device(&self, s: usize) -> usize;
    /// VMs on a server.
    fn server_vms(&self, s: usize) -> &[usize];
    /// A VM's CPU over the last control period (hypervisor counter), cores.
    fn vm_cpu(&self, v: usize) -> f64;
    /// A VM's vCPUs.
    fn vm_vcpus(&self, v: usize) -> u32;
    /// A VM's priority (higher = more important; throttled last).
    fn vm_priority(&self, v: usize) -> u32;
    /// A VM's memory, bytes.
    fn vm_memory(&self, v: usize) -> u64;
    /// A VM's scheduler cap set by a policy, cores.
    fn vm_policy_cap(&self, v: usize) -> Option<f64>;
    /// True while the VM is being migrated.
    fn vm_migrating(&self, v: usize) -> bool;
    /// True while the VM runs (not waiting, done or lost).
    fn vm_running(&self, v: usize) -> bool;
}

/// An actuation; it takes effect after the actuator's latency.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Set a server's p-state (DVFS).
    SetPstate {
        /// Server.
        server: usize,
        /// P-state.
        pstate: usize,
    },
    /// Set or clear a VM's CPU quota (credit-scheduler cap), cores.
    SetVmCap {
        /// VM.
        vm: usize,
        /// Cap, cores (`None`: uncapped).
        cap: Option<f64>,
    },
    /// Force a server idle for this fraction of the time (its cores' capacity shrinks).
    SetIdle {
        /// Server.
        server: usize,
        /// Fraction in [0, 1).
        fraction: f64,
    },
    /// Live-migrate a VM.
    Migrate {
        /// VM.
        vm: usize,
        /// Destination server.
        to: usize,
        /// Algorithm.
        params: Arc<Params>,
    },
}

/// Actuator latencies, ns.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Latencies {
    /// DVFS transition.
    pub dvfs_ns: u64,
    /// CPU quota change.
    pub cap_ns: u64,
    /// Idle-injection change.
    pub idle_ns: u64,
    /// Migration command to migration start.
    pub migrate_ns: u64,
}

impl Latencies {
    /// The latency of a command, ns.
    pub fn of(&self, c: &Command) -> u64 {
        match c {
            Command::SetPstate { .. } => self.dvfs_ns,
            Command::SetVmCap { .. } => self.cap_ns,
            Command::SetIdle { .. } => self.idle_ns,
            Command::Migrate { .. } => self.migrate_ns,
        }
    }
}

/// A capping controller.
pub trait Policy: std::fmt::Debug + Send {
    /// Short name for outputs.
    fn name(&self) -> &str;
    /// Called once per control period; pushes commands into `out`.
    fn control(&mut self, obs: &dyn Observe, rng: &mut StdRng, out: &mut Vec<Command>);
}

/// Thresholds as fractions of a device's cap: act above `cap`, aim for `target`, release
/// below `uncap` (Dynamo's three bands).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bands {
    /// Act when the reading exceeds this × cap.
    pub cap: f64,
    /// Bring power down to this × cap.
    pub target: f64,
    /// Undo throttling when the reading is below this × cap.
    pub uncap: f64,
}

/// Every policy's parameters, validated (SI units, fractions).
#[derive(Clone, Debug, PartialEq)]
pub enum PolicyConfig {
    /// No capping.
    None,
    /// Per-server DVFS feedback (Lefurgy-style).
    DvfsFeedback(dvfs_feedback::Config),
    /// Rack/group DVFS, highest power first (Dynamo-style).
    GroupDvfs(group_dvfs::Config),
    /// CPU quotas on low-priority VMs (Thunderbolt-style).
    Thunderbolt(thunderbolt::Config),
    /// Idle injection on the highest-power servers.
    IdleInjection(idle_injection::Config),
    /// Live migration as the last resort (also headroom and power-aware variants).
    Migration(migration::Config),
    /// DVFS first, migration last.
    DvfsThenMigration(group_dvfs::Config, migration::Config),
}

impl PolicyConfig {
    /// The `kind` name of the policy.
    pub fn name(&self) -> &'static str {
        match self {
            PolicyConfig::None => "none",
            PolicyConfig::DvfsFeedback(_) => "dvfs",
            PolicyConfig::GroupDvfs(_) => "group-dvfs",
            PolicyConfig::Thunderbolt(_) => "thunderbolt",
            PolicyConfig::IdleInjection(_) => "idle",
            PolicyConfig::Migration(m)
                if m.algorithm.vm_cap.is_some() || m.algorithm.sender_cap.is_some() =>
            {
                "power-aware-migration"
            }
            PolicyConfig::Migration(m) if m.headroom => "headroom",
            PolicyConfig::Migration(_) => "migration",
            PolicyConfig::DvfsThenMigration(..) => "dvfs+migration",
        }
    }
}

/// A policy from its configuration.
pub fn build(c: &PolicyConfig) -> Box<dyn Policy> {
    match c {
        PolicyConfig::None => Box::new(none::NoCapping),
        PolicyConfig::DvfsFeedback(c) => Box::new(dvfs_feedback::DvfsFeedback::new(c.clone())),
        PolicyConfig::GroupDvfs(c) => Box::new(group_dvfs::GroupDvfs::new(c.clone())),
        PolicyConfig::Thunderbolt(c) => Box::new(thunderbolt::Thunderbolt::new(c.clone())),
        PolicyConfig::IdleInjection(c) => Box::new(idle_injection::IdleInjection::new(c.clone())),
        PolicyConfig::Migration(c) => Box::new(migration::LastResort::new(c.clone())),
        PolicyConfig::DvfsThenMigration(d, m) => Box::new(compose::DvfsThenMigration::new(
            group_dvfs::GroupDvfs::new(d.clone()),
            migration::LastResort::new(m.clone()),
        )),
    }
}

/// Default control period (also the device meters' averaging window): 1 s, ns, the
/// granularity of rack-level controllers such as Dynamo's.
pub const DEFAULT_PERIOD_NS: u64 = 1_000_000_000;

/// Act above 100 % of the cap, aim for 95 %, release below 90 % (Dynamo's bands).
impl Default for Bands {
    fn default() -> Self {
        Bands {
            cap: 1.0,
            target: 0.95,
            uncap: 0.9,
        }
    }
}

/// DVFS 10 ms (a p-state change through the OS governor), CPU quota 1 ms (a scheduler
/// parameter write), idle injection 10 ms, migration command 100 ms (toolstack start).
impl Default for Latencies {
    fn default() -> Self {
        Latencies {
            dvfs_ns: 10_000_000,
            cap_ns: 1_000_000,
            idle_ns: 10_000_000,
            migrate_ns: 100_000_000,
        }
    }
}
