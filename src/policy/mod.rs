//! Capping controllers. A policy sees only what a real controller sees: meter readings
//! (each a mean over its window, visible after its delay) and hypervisor CPU counters;
//! it acts through [`Command`]s that take effect after an actuator latency. One policy
//! object runs every control period for every capped device.

pub mod compose;
pub mod dvfs_feedback;
pub mod group_dvfs;
pub mod idle_injection;
pub mod migration;
pub mod none;
pub mod thunderbolt;

pub use crate::actuation::{Actuation, Latencies};
use crate::engine::rng::FastRng;
use crate::model::ids::{DeviceId, ServerId, VmId};

/// What a controller can observe. Powers and CPU are meter readings (a device's PDU
/// meter, a server's BMC, the hypervisor's CPU counters: each a mean over its window,
/// visible only after its delay), never the simulator's exact state; the rest is what
/// the controller commanded or what the hardware's data sheet says.
pub trait Observe {
    /// Now, ns.
    fn now_ns(&self) -> u64;
    /// Devices with a cap (the ones a policy protects), in world order.
    fn capped_devices(&self) -> &[DeviceId];
    /// A device's planning cap, W.
    fn device_cap_w(&self, d: DeviceId) -> Option<f64>;
    /// A device meter's newest visible reading: mean power over its window, W.
    fn device_power_w(&self, d: DeviceId) -> Option<f64>;
    /// Servers below a device (all levels), in world order.
    fn servers_under(&self, d: DeviceId) -> &[ServerId];
    /// A server BMC's newest visible reading, W (`None` while it has none, or when the
    /// server has no power).
    fn server_power_w(&self, s: ServerId) -> Option<f64>;
    /// False once a breaker above it opened.
    fn server_on(&self, s: ServerId) -> bool;
    /// Current p-state (0 = fastest), as last commanded.
    fn server_pstate(&self, s: ServerId) -> usize;
    /// Number of p-states.
    fn server_pstates(&self, s: ServerId) -> usize;
    /// Physical cores.
    fn server_cores(&self, s: ServerId) -> u32;
    /// Power with every core busy at P0 (nameplate-like), W.
    fn server_peak_w(&self, s: ServerId) -> f64;
    /// Idle power, W.
    fn server_idle_w(&self, s: ServerId) -> f64;
    /// Dynamic power at p-state `to` relative to p-state `from` (the hardware's DVFS
    /// table: f·V² ratios), for estimating what a p-state change saves.
    fn server_dynamic_ratio(&self, s: ServerId, from: usize, to: usize) -> f64;
    /// NIC power per Gbps moved, W.
    fn server_nic_w_per_gbps(&self, s: ServerId) -> f64;
    /// NIC line rate, bit/s.
    fn server_nic_bps(&self, s: ServerId) -> f64;
    /// Forced-idle fraction in force, as last commanded.
    fn server_idle_fraction(&self, s: ServerId) -> f64;
    /// Memory not allocated to VMs (including ones arriving), bytes.
    fn server_free_memory(&self, s: ServerId) -> u64;
    /// CPU its VMs used over the last counter period (including VMs arriving), cores.
    fn server_vm_cpu(&self, s: ServerId) -> f64;
    /// The device directly feeding it.
    fn server_device(&self, s: ServerId) -> DeviceId;
    /// VMs on a server.
    fn server_vms(&self, s: ServerId) -> &[VmId];
    /// A VM's CPU over the last counter period (cumulative CPU time differenced, as
    /// `xentop` reports it), cores.
    fn vm_cpu(&self, v: VmId) -> f64;
    /// A VM's vCPUs.
    fn vm_vcpus(&self, v: VmId) -> u32;
    /// A VM's priority (higher = more important; throttled last).
    fn vm_priority(&self, v: VmId) -> u32;
    /// A VM's memory, bytes.
    fn vm_memory(&self, v: VmId) -> u64;
    /// A VM's CPU quota set by a policy, cores.
    fn vm_policy_cap(&self, v: VmId) -> Option<f64>;
    /// True while the VM is being migrated.
    fn vm_migrating(&self, v: VmId) -> bool;
    /// True while the VM runs (not waiting, done or lost).
    fn vm_running(&self, v: VmId) -> bool;
}

/// A policy's actuation request; it takes effect after the actuator's latency.
pub type Command = Actuation;

/// A capping controller: called once per control period with what it may observe; it
/// pushes the changes it wants into `out`.
///
/// A minimal policy, which slows every server under a device whose meter reads above
/// its cap by one p-state per period:
///
/// ```
/// use capsim::engine::rng::FastRng;
/// use capsim::policy::{Actuation, Observe, Policy};
///
/// #[derive(Debug)]
/// struct SlowDown;
///
/// impl Policy for SlowDown {
///     fn name(&self) -> &str {
///         "slow-down"
///     }
///     fn control(&mut self, obs: &dyn Observe, _rng: &mut FastRng, out: &mut Vec<Actuation>) {
///         for &d in obs.capped_devices() {
///             let (Some(cap), Some(p)) = (obs.device_cap_w(d), obs.device_power_w(d)) else {
///                 continue;
///             };
///             if p <= cap {
///                 continue;
///             }
///             for &s in obs.servers_under(d) {
///                 let now = obs.server_pstate(s);
///                 if obs.server_on(s) && now + 1 < obs.server_pstates(s) {
///                     out.push(Actuation::SetPstate { server: s, pstate: now + 1 });
///                 }
///             }
///         }
///     }
/// }
/// ```
pub trait Policy: std::fmt::Debug + Send {
    /// Short name for outputs.
    fn name(&self) -> &str;
    /// Called once per control period; pushes commands into `out`. `rng` is the
    /// policy's own random stream (xoshiro256++, stable across versions).
    fn control(&mut self, obs: &dyn Observe, rng: &mut FastRng, out: &mut Vec<Command>);
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
    /// Rack/group DVFS with priority groups and high-bucket-first (Dynamo).
    GroupDvfs(group_dvfs::Config),
    /// Two-threshold CPU-bandwidth throttling of low-priority VMs (Thunderbolt).
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

/// A command from a controller to the host agent that applies it, ns: an ASSUMPTION of
/// 1 ms (range 0.1–10 ms), one RPC across the datacenter network to a node agent (the
/// design of Dynamo's and Thunderbolt's agents; neither paper gives the time). Reading
/// power is not in it: the meters carry their own windows and delays (`model::meter`).
pub const COMMAND_DELIVERY_NS: u64 = 1_000_000;

/// A p-state transition once the command is there, ns: 20 µs. Linux acpi-cpufreq caps the
/// `_PSS` transition latency of MSR-controlled (FFH) p-states at 20 µs ("P-state transition
/// latency capped at 20 uS", `drivers/cpufreq/acpi-cpufreq.c`: larger values come from
/// buggy BIOSes); Intel BIOSes report 10 µs. Xen's cpufreq applies a new limit at once
/// (`__cpufreq_set_policy` → the governor's `CPUFREQ_GOV_LIMITS` →
/// `__cpufreq_driver_target`), so nothing waits for a governor sample.
pub const PSTATE_TRANSITION_NS: u64 = 20_000;

/// A credit-scheduler cap once the command is there, ns: 15 ms, the mean wait for Xen's
/// next accounting. The credit scheduler enforces caps only in `csched_acct`, which runs
/// every `CSCHED_MSECS_PER_TICK` × `CSCHED_TICKS_PER_ACCT` = 10 ms × 3 = 30 ms and parks a
/// capped-out vCPU there (`xen/common/sched_credit.c`), so a new cap waits 0–30 ms. (A
/// Linux host's CFS quota waits for its next `cfs_period_us`, 100 ms by default: mean
/// 50 ms; set `cap_latency` to model one.)
pub const CREDIT_ACCOUNTING_WAIT_NS: u64 = 15_000_000;

/// Act above 100 % of the cap, aim for 95 %, release below 90 %: Dynamo's three bands,
/// with values that are an ASSUMPTION (the paper's §IV values are unchecked; the notes
/// suggest 97 / 94 / 90 % of rated power).
impl Default for Bands {
    fn default() -> Self {
        Bands {
            cap: 1.0,
            target: 0.95,
            uncap: 0.9,
        }
    }
}

/// Each actuator's command delivery ([`COMMAND_DELIVERY_NS`]) plus its own mechanism:
/// DVFS 1.02 ms ([`PSTATE_TRANSITION_NS`]), CPU quota 16 ms
/// ([`CREDIT_ACCOUNTING_WAIT_NS`]), idle injection 1 ms plus powerclamp's alignment to its
/// next injection interval (computed per change, see [`Latencies::idle_aligns`]);
/// migration command 100 ms, an ASSUMPTION (range 0.1–1 s) for the toolstack's start: `xl
/// migrate` opens an ssh connection to the destination and starts `xl migrate-receive`
/// there before the first page is sent.
impl Default for Latencies {
    fn default() -> Self {
        Latencies {
            dvfs_ns: COMMAND_DELIVERY_NS + PSTATE_TRANSITION_NS,
            cap_ns: COMMAND_DELIVERY_NS + CREDIT_ACCOUNTING_WAIT_NS,
            idle_ns: COMMAND_DELIVERY_NS,
            idle_aligns: true,
            migrate_ns: 100_000_000,
        }
    }
}
