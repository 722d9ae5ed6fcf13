//! The validated, typed form of a scenario: what the simulator is built from.
//!
//! Everything here has been checked, every name resolved to a typed id and every
//! quantity converted to SI units (or integer nanoseconds for times).

use crate::model::breaker::TripCurve;
use crate::model::ids::{DeviceId, ServerId};
use crate::model::memory::MemoryProfile;
use crate::model::pdu::Electrical;
use crate::model::workload::Demand;
use std::sync::Arc;

pub use crate::actuation::Actuation;
pub use crate::model::server::ServerModel;

/// A breaker preset from the library.
#[derive(Clone, Debug)]
pub struct BreakerPreset {
    /// Library name.
    pub name: String,
    /// Trip characteristic.
    pub curve: TripCurve,
}

/// A device of the power tree.
#[derive(Clone, Debug)]
pub struct DeviceConfig {
    /// Unique name.
    pub name: String,
    /// `outlet_group`, `rack`, `row` or `datacenter`.
    pub kind: String,
    /// The feeding device (always earlier than this one).
    pub parent: Option<DeviceId>,
    /// Voltage, phases and power factor.
    pub electrical: Electrical,
    /// Breaker rating, A.
    pub rating_a: Option<f64>,
    /// Planning cap, W.
    pub cap_w: Option<f64>,
    /// Protective device.
    pub breaker: Option<BreakerPreset>,
    /// Draw k from the preset's band with this device's random stream.
    pub draw_k: bool,
}

/// One server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Unique name.
    pub name: String,
    /// Shared model.
    pub model: Arc<ServerModel>,
    /// The feeding device.
    pub device: DeviceId,
    /// Initial p-state (0 = fastest).
    pub pstate: usize,
    /// Constant dom0 CPU use, cores.
    pub dom0_cores: f64,
}

/// One VM.
#[derive(Clone, Debug)]
pub struct VmConfig {
    /// Unique name.
    pub name: String,
    /// Its server.
    pub host: ServerId,
    /// Virtual CPUs.
    pub vcpus: u32,
    /// Credit-scheduler weight.
    pub weight: f64,
    /// Credit-scheduler cap, cores.
    pub cap_cores: Option<f64>,
    /// Memory allocation, bytes (0 if not given).
    pub memory_bytes: u64,
    /// Start time, ns.
    pub start_ns: u64,
    /// Work to do, vCPU-seconds at P0 summed over its vCPUs (`None`: open-ended).
    pub work_core_s: Option<f64>,
    /// CPU demand as a fraction of its vCPUs.
    pub demand: Demand,
    /// Its memory and how it writes it (`None` without a `memory` size).
    pub memory: Option<MemoryProfile>,
    /// Priority (higher = more important; policies throttle low priorities first).
    pub priority: u32,
    /// How often it wakes its vCPUs while not fully busy, per second (idle-state gaps).
    pub wakeups_per_s: f64,
    /// Demand comes from the built-in PlanetLab-like generator, drawn per run from the
    /// VM's own stream (so replicates differ); `demand` is then a placeholder.
    pub synthetic: bool,
}

/// The capping controller of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicySetup {
    /// Which policy and its parameters.
    pub config: crate::policy::PolicyConfig,
    /// Control period (also the device meters' averaging window), ns.
    pub period_ns: u64,
    /// What the controller reads: device meters, BMCs, CPU counters.
    pub sensors: crate::model::meter::SensorSpecs,
    /// Actuator latencies.
    pub latencies: crate::policy::Latencies,
}

/// What a meter measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MeterTarget {
    /// A device.
    Device(DeviceId),
    /// A server.
    Server(ServerId),
}

/// One meter.
#[derive(Clone, Debug)]
pub struct MeterConfig {
    /// Unique name.
    pub name: String,
    /// What it measures.
    pub target: MeterTarget,
    /// Averaging window, ns.
    pub window_ns: u64,
    /// Reporting delay, ns.
    pub delay_ns: u64,
}

/// A change at a time.
#[derive(Clone, Debug, PartialEq)]
pub struct Action {
    /// When, ns.
    pub at_ns: u64,
    /// What: the same vocabulary as policy commands, applied through the same path.
    pub kind: Actuation,
}

/// What a run records.
#[derive(Clone, Debug)]
pub struct OutputConfig {
    /// `timeseries.csv` row interval, ns.
    pub interval_ns: u64,
    /// One power column per server.
    pub servers: bool,
    /// One CPU column per VM and per dom0.
    pub vms: bool,
}

/// A validated scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Run name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Master seed.
    pub seed: u64,
    /// Replicate number (mixed into every random stream).
    pub replicate: u32,
    /// Simulated time, ns.
    pub duration_ns: u64,
    /// What to record.
    pub output: OutputConfig,
    /// Power tree, parents first.
    pub devices: Vec<DeviceConfig>,
    /// Servers.
    pub servers: Vec<ServerConfig>,
    /// VMs.
    pub vms: Vec<VmConfig>,
    /// Meters.
    pub meters: Vec<MeterConfig>,
    /// Scheduled changes, in file order.
    pub actions: Vec<Action>,
    /// The capping controller (`None`: no capping).
    pub policy: Option<PolicySetup>,
}

/// Rows every second, with a power column per server and a CPU column per VM and dom0.
impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            interval_ns: 1_000_000_000,
            servers: true,
            vms: true,
        }
    }
}
