//! The scenario and model-library file formats, exactly as written on disk.
//!
//! Every struct denies unknown fields and every quantity is a string with a unit (see
//! [`crate::units`]). A `kind = "…"` section is a [`super::tagged`] enum with one struct
//! per kind, so a field its kind does not take is an error. Fields a file may leave out
//! are `Option`s: the validator lays what a file sets over the defaults that live beside
//! the validated types (`impl Default`), which each field's comment names. Positions are
//! not kept here: errors are located by field path ([`super::locate`]).

pub mod action;
pub mod datacenter;
pub mod migration;
pub mod model;
pub mod policy;
pub mod workload;

use crate::units::*;
use serde::Deserialize;

/// A scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Name of the run; the default output directory is `outputs/<name>/`.
    pub name: String,
    /// Free text (default empty).
    #[serde(default)]
    pub description: String,
    /// Master seed for every random stream (default 1).
    pub seed: Option<u64>,
    /// Simulated time (e.g. "2h").
    pub duration: Seconds,
    /// What to record.
    #[serde(default)]
    pub output: OutputSection,
    /// The power tree, parents before children.
    #[serde(default)]
    pub pdus: Vec<PduEntry>,
    /// Servers (each entry may stand for `count` identical servers).
    #[serde(default)]
    pub servers: Vec<ServerEntry>,
    /// Virtual machines.
    #[serde(default)]
    pub vms: Vec<VmEntry>,
    /// Meters on devices or servers.
    #[serde(default)]
    pub meters: Vec<MeterEntry>,
    /// Things that happen at given times.
    #[serde(default)]
    pub actions: Vec<action::ActionEntry>,
    /// The capping controller (default: none).
    pub policy: Option<policy::PolicyEntry>,
    /// A generated datacenter (added after any explicit pdus, servers and VMs).
    pub datacenter: Option<datacenter::DatacenterEntry>,
}

/// `[output]`: what a run records (defaults: `OutputConfig::default()`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSection {
    /// Interval of `timeseries.csv` rows, each the exact average over the interval
    /// (default "1s").
    pub interval: Option<Seconds>,
    /// Include one power column per server (default true; turn off for large worlds).
    pub servers: Option<bool>,
    /// Include one CPU column per VM and per dom0 (default true).
    pub vms: Option<bool>,
}

/// The level of a power-tree device: a label for outputs and reports (every level takes
/// the same fields).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceLevel {
    /// A breaker on a group of a PDU's outlets.
    OutletGroup,
    /// A rack PDU (the default).
    #[default]
    Rack,
    /// A row or remote power panel.
    Row,
    /// The whole datacenter's feed.
    Datacenter,
}

impl DeviceLevel {
    /// The name written in files and outputs.
    pub fn name(self) -> &'static str {
        match self {
            DeviceLevel::OutletGroup => "outlet_group",
            DeviceLevel::Rack => "rack",
            DeviceLevel::Row => "row",
            DeviceLevel::Datacenter => "datacenter",
        }
    }
}

/// `[[pdus]]`: one device of the power tree.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PduEntry {
    /// Unique name.
    pub name: String,
    /// Level label, a [`DeviceLevel`] (default `rack`).
    #[serde(default)]
    pub kind: DeviceLevel,
    /// The device feeding this one (must be listed earlier).
    pub parent: Option<String>,
    /// Voltage: line-to-neutral for one phase, line-to-line for three (e.g. "208V").
    pub voltage: Voltage,
    /// 1 or 3 (default 1).
    pub phases: Option<u8>,
    /// Power factor in (0, 1] (default 1.0).
    pub power_factor: Option<f64>,
    /// Breaker rating (e.g. "30A"); needed for a breaker and for a cap given in %.
    pub rating: Option<Current>,
    /// Breaker preset from `models/breakers/` (e.g. "ul489-le30a"); none = never trips.
    pub breaker: Option<String>,
    /// Draw this device's k from its preset's tolerance band (default false: nominal k).
    #[serde(default)]
    pub draw_k: bool,
    /// Planning cap: a power ("4.99kW") or a percentage of the rating's power ("80%").
    pub cap: Option<String>,
}

/// `[[servers]]`: one server, or `count` identical ones named `<name>-1` … `<name>-N`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerEntry {
    /// Unique name (or name prefix with `count`).
    pub name: String,
    /// Server model from `models/servers/` (e.g. "hp-ml110-g4").
    pub model: String,
    /// The device that feeds it.
    pub pdu: String,
    /// How many (default: one, named `name`).
    pub count: Option<u32>,
    /// Initial p-state index, 0 = fastest (default 0).
    pub pstate: Option<usize>,
    /// Constant dom0 / host CPU use, in cores ("0.1" as a percentage of one core: "10%";
    /// default 0).
    #[serde(default)]
    pub dom0_load: Percent,
}

/// `[[vms]]`: one virtual machine, or `count` identical ones named `<name>-1` … `<name>-N`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmEntry {
    /// Unique name (or name prefix with `count`).
    pub name: String,
    /// The server it starts on, or the name of a `[[servers]]` entry with `count`: the
    /// VMs are then placed round-robin over that group.
    pub host: String,
    /// How many (default: one, named `name`).
    pub count: Option<u32>,
    /// Virtual CPUs (default 1).
    pub vcpus: Option<u32>,
    /// Credit-scheduler weight (default 256, Xen's: `model::cpu::XEN_DEFAULT_WEIGHT`).
    pub weight: Option<f64>,
    /// Credit-scheduler cap as a percentage of one core ("50%"; "200%" = two cores;
    /// default none).
    pub cap: Option<Percent>,
    /// Memory allocation (e.g. "600MiB"); checked against the host's memory.
    pub memory: Option<Bytes>,
    /// When it starts (default "0s").
    #[serde(default)]
    pub start: Seconds,
    /// Work to complete, as CPU time on one vCPU at the fastest p-state ("3600s");
    /// absent: runs to the end and slowdown is demanded / delivered work.
    pub work: Option<Seconds>,
    /// Priority (default 1; higher = more important, throttled last).
    pub priority: Option<u32>,
    /// A workload model from `models/workloads/` (e.g. "spec2000/gap") giving `demand`,
    /// `work` and `dirty`; fields given here win over the workload's.
    pub workload: Option<String>,
    /// CPU demand as a fraction of its vCPUs (required without a workload).
    pub demand: Option<workload::DemandEntry>,
    /// How it writes its memory (needed to migrate it realistically; absent: it never
    /// writes).
    pub dirty: Option<workload::DirtyEntry>,
    /// Wake-ups per second while not fully busy (default 250/s; matters only on server
    /// models with `[idle]` states).
    pub wakeups: Option<crate::units::Rate>,
}

/// `[[meters]]`: a meter on a device or a server.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeterEntry {
    /// Unique name (default `<target>-meter`).
    pub name: Option<String>,
    /// A device or server name.
    pub target: String,
    /// Averaging window (default "100ms", like a WT210).
    pub window: Option<Seconds>,
    /// Reporting delay (default "0s").
    #[serde(default)]
    pub delay: Seconds,
}
