//! The scenario and model-library file formats, exactly as written on disk.
//!
//! Every struct denies unknown fields, every quantity is a string with a unit (see
//! [`super::units`]), and names that refer to other things are kept with their source
//! position (`Spanned`) so that a dangling reference is reported at its line and column.

use crate::units::*;
use serde::Deserialize;
use toml::Spanned;

/// A scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Name of the run; the default output directory is `outputs/<name>/`.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Master seed for every random stream (default 1).
    #[serde(default = "one")]
    pub seed: u64,
    /// Simulated time (e.g. "2h").
    pub duration: Spanned<Seconds>,
    /// What to record.
    #[serde(default)]
    pub output: OutputSection,
    /// The power tree, parents before children.
    #[serde(default)]
    pub pdus: Vec<Spanned<PduEntry>>,
    /// Servers (each entry may stand for `count` identical servers).
    #[serde(default)]
    pub servers: Vec<Spanned<ServerEntry>>,
    /// Virtual machines.
    #[serde(default)]
    pub vms: Vec<Spanned<VmEntry>>,
    /// Meters on devices or servers.
    #[serde(default)]
    pub meters: Vec<Spanned<MeterEntry>>,
    /// Things that happen at given times.
    #[serde(default)]
    pub actions: Vec<Spanned<ActionEntry>>,
    /// The capping controller (default: none).
    pub policy: Option<Spanned<PolicyEntry>>,
    /// A generated datacenter (added after any explicit pdus, servers and VMs).
    pub datacenter: Option<Spanned<DatacenterEntry>>,
}

/// `[datacenter]`: rows of racks of servers, their PDUs and VMs, generated.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatacenterEntry {
    /// Rows.
    pub rows: u32,
    /// Racks per row.
    pub racks_per_row: u32,
    /// Servers per rack.
    pub servers_per_rack: u32,
    /// Server models and their shares (interleaved across each rack).
    pub servers: Vec<ModelShare>,
    /// Sum of server peak power over provisioned power (each rack's planning cap is its
    /// servers' peak power divided by this; its breaker rating is the cap over
    /// `rack.cap`).
    pub oversubscription: f64,
    /// Rack PDUs.
    pub rack: RackSpec,
    /// Row PDUs (default: 415 V three-phase, rating the sum of its racks', no cap).
    pub row: Option<RowSpec>,
    /// VMs per server on average (total = servers × this, rounded).
    pub vms_per_server: f64,
    /// VM sizes and their shares (default: 1 vCPU, 1 GiB).
    #[serde(default)]
    pub vm_sizes: Vec<VmSize>,
    /// vCPUs placed per physical core at most (default 1.0).
    pub cpu_overcommit: Option<f64>,
    /// VM CPU demand: "synthetic" (default: PlanetLab-like, built in) or a directory of
    /// PlanetLab-format traces, relative to the scenario file (assigned in file-name order,
    /// round-robin).
    pub demand: Option<Spanned<String>>,
    /// Memory-write profiles: workload models and shares (default: none, VMs never write).
    #[serde(default)]
    pub workloads: Vec<WorkloadShare>,
    /// Priorities and shares (default: all 1).
    #[serde(default)]
    pub priorities: Vec<PriorityShare>,
}

/// A server model's share of the servers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelShare {
    /// Model from `models/servers/`.
    pub model: Spanned<String>,
    /// Share.
    pub share: Percent,
}

/// Rack PDU parameters of a generated datacenter.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RackSpec {
    /// Voltage (e.g. "208V").
    pub voltage: Voltage,
    /// 1 or 3 (default 1).
    pub phases: Option<u8>,
    /// Power factor (default 1.0).
    pub power_factor: Option<f64>,
    /// Breaker preset, or "auto" (default: UL 489 by rating: ≤ 30 A, 31-50 A, 51-100 A).
    pub breaker: Option<String>,
    /// Planning cap as a fraction of the rating's power (default "80%").
    pub cap: Option<Percent>,
    /// Draw each breaker's k from its band (default false).
    #[serde(default)]
    pub draw_k: bool,
}

/// Row PDU parameters of a generated datacenter.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowSpec {
    /// Voltage (default "415V").
    pub voltage: Option<Voltage>,
    /// 1 or 3 (default 3).
    pub phases: Option<u8>,
    /// Breaker preset or "auto" (default "auto"; above 100 A: none).
    pub breaker: Option<String>,
    /// Sum of rack ratings over the row's rating (default 1.0).
    pub oversubscription: Option<f64>,
    /// Planning cap as a fraction of the rating's power (default: none).
    pub cap: Option<Percent>,
}

/// A VM size and its share.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmSize {
    /// vCPUs.
    pub vcpus: u32,
    /// Memory.
    pub memory: Bytes,
    /// Share.
    pub share: Percent,
}

/// A workload model's share of the VMs (its `dirty` profile is used; demand comes from
/// the datacenter's `demand`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadShare {
    /// Model from `models/workloads/`.
    pub workload: Spanned<String>,
    /// Share.
    pub share: Percent,
}

/// A priority and its share.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorityShare {
    /// Priority.
    pub priority: u32,
    /// Share.
    pub share: Percent,
}

/// `[policy]`: the capping controller. Thresholds are fractions of each capped device's
/// cap. Fields a kind does not use are errors.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyEntry {
    /// `none`, `dvfs`, `group-dvfs`, `thunderbolt`, `idle`, `migration`, `headroom`,
    /// `power-aware-migration` or `dvfs+migration`.
    pub kind: Spanned<String>,
    /// Control period, also the device meters' averaging window (default "1s").
    pub period: Option<Seconds>,
    /// Reporting delay of the device meters, whole periods (default "0s").
    pub meter_delay: Option<Seconds>,
    /// Act above this fraction of the cap (default "100%").
    pub cap: Option<Percent>,
    /// Bring power down to this fraction of the cap (default "95%").
    pub target: Option<Percent>,
    /// Release below this fraction of the cap (default "90%").
    pub uncap: Option<Percent>,
    /// `dvfs`: share of the estimated correction applied per period (default 1.0).
    pub gain: Option<f64>,
    /// DVFS transition latency (default "10ms").
    pub dvfs_latency: Option<Seconds>,
    /// CPU-quota change latency (default "1ms").
    pub cap_latency: Option<Seconds>,
    /// Idle-injection change latency (default "10ms").
    pub idle_latency: Option<Seconds>,
    /// Migration command latency (default "100ms").
    pub migration_latency: Option<Seconds>,
    /// `thunderbolt`: VMs with priority at or below this are throttled (default 0).
    pub low_priority: Option<u32>,
    /// `thunderbolt`: multiplicative decrease per period (default "50%").
    pub decrease: Option<Percent>,
    /// `thunderbolt`: smallest quota, % of a core (default "10%").
    pub min_quota: Option<Percent>,
    /// `thunderbolt`: release probability per period below the uncap band (default "25%").
    pub recovery: Option<Percent>,
    /// `idle`: idle-fraction step per period (default "10%").
    pub idle_step: Option<Percent>,
    /// `idle`: largest idle fraction (default "50%").
    pub idle_max: Option<Percent>,
    /// Migration policies: migrate above this fraction of the cap (default "100%").
    pub threshold: Option<Percent>,
    /// Migration policies: ... for this long (default "5s").
    pub dwell: Option<Seconds>,
    /// Migration policies: `largest-cpu` (default), `smallest-memory` or `best-ratio`.
    pub vm_choice: Option<Spanned<String>>,
    /// Migration policies: a destination's device must stay under this fraction of its
    /// cap with the VM added (default "95%").
    pub destination_limit: Option<Percent>,
    /// Migration policies: migrations in flight per device at most (default 1).
    pub max_in_flight: Option<u32>,
    /// Migration policies: preset from `models/migration/` (default "xen34-precopy";
    /// `power-aware-migration`: "precopy-vm-cap").
    pub algorithm: Option<Spanned<String>>,
    /// Migration policies: overrides of the preset's fields.
    pub overrides: Option<Spanned<crate::scenario::migration::MigrationFields>>,
}

fn one() -> u64 {
    1
}

/// `[output]`: what a run records.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSection {
    /// Interval of `timeseries.csv` rows (each the exact average over the interval).
    #[serde(default = "default_interval")]
    pub interval: Seconds,
    /// Include one power column per server (default true; turn off for large worlds).
    #[serde(default = "yes")]
    pub servers: bool,
    /// Include one CPU column per VM and per dom0 (default true).
    #[serde(default = "yes")]
    pub vms: bool,
}

impl Default for OutputSection {
    fn default() -> Self {
        OutputSection {
            interval: default_interval(),
            servers: true,
            vms: true,
        }
    }
}

fn default_interval() -> Seconds {
    Seconds(1.0)
}
fn yes() -> bool {
    true
}

/// `[[pdus]]`: one device of the power tree.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PduEntry {
    /// Unique name.
    pub name: String,
    /// Level label: `outlet_group`, `rack`, `row` or `datacenter` (default `rack`).
    #[serde(default = "rack")]
    pub kind: Spanned<String>,
    /// The device feeding this one (must be listed earlier).
    pub parent: Option<Spanned<String>>,
    /// Voltage: line-to-neutral for one phase, line-to-line for three (e.g. "208V").
    pub voltage: Spanned<Voltage>,
    /// 1 or 3 (default 1).
    #[serde(default = "one_u8")]
    pub phases: Spanned<u8>,
    /// Power factor in (0, 1] (default 1.0).
    #[serde(default = "unit_pf")]
    pub power_factor: Spanned<f64>,
    /// Breaker rating (e.g. "30A"); needed for a breaker and for a cap given in %.
    pub rating: Option<Spanned<Current>>,
    /// Breaker preset from `models/breakers/` (e.g. "ul489-le30a"); none = never trips.
    pub breaker: Option<Spanned<String>>,
    /// Draw this device's k from its preset's tolerance band (default false: nominal k).
    #[serde(default)]
    pub draw_k: bool,
    /// Planning cap: a power ("4.99kW") or a percentage of the rating's power ("80%").
    pub cap: Option<Spanned<String>>,
}

fn rack() -> Spanned<String> {
    Spanned::new(0..0, "rack".to_string())
}
fn one_u8() -> Spanned<u8> {
    Spanned::new(0..0, 1)
}
fn unit_pf() -> Spanned<f64> {
    Spanned::new(0..0, 1.0)
}

/// `[[servers]]`: one server, or `count` identical ones named `<name>-1` … `<name>-N`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerEntry {
    /// Unique name (or name prefix with `count`).
    pub name: String,
    /// Server model from `models/servers/` (e.g. "hp-ml110-g4").
    pub model: Spanned<String>,
    /// The device that feeds it.
    pub pdu: Spanned<String>,
    /// How many (default 1).
    pub count: Option<Spanned<u32>>,
    /// Initial p-state index, 0 = fastest (default 0).
    pub pstate: Option<Spanned<usize>>,
    /// Constant dom0 / host CPU use, in cores ("0.1" as a percentage of one core: "10%").
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
    pub host: Spanned<String>,
    /// How many (default 1).
    pub count: Option<Spanned<u32>>,
    /// Virtual CPUs (default 1).
    #[serde(default = "one_u32")]
    pub vcpus: Spanned<u32>,
    /// Credit-scheduler weight (default 256).
    #[serde(default = "default_weight")]
    pub weight: Spanned<f64>,
    /// Credit-scheduler cap as a percentage of one core ("50%"; "200%" = two cores).
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
    pub workload: Option<Spanned<String>>,
    /// CPU demand as a fraction of its vCPUs (required without a workload).
    pub demand: Option<Spanned<DemandEntry>>,
    /// How it writes its memory (needed to migrate it realistically; absent: it never
    /// writes).
    pub dirty: Option<Spanned<DirtyEntry>>,
}

/// `models/workloads/**/<name>.toml`: a program's CPU demand, work and memory writes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadFile {
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// CPU demand as a fraction of the VM's vCPUs.
    pub demand: Spanned<DemandEntry>,
    /// Work to complete, CPU time per vCPU at the fastest p-state of the reference host.
    pub work: Option<Seconds>,
    /// How it writes its memory.
    pub dirty: Option<Spanned<DirtyEntry>>,
}

/// `dirty = { … }` of a VM: its memory-write process. Rates are per second of
/// full-speed execution: a throttled or stalled VM writes proportionally less.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirtyEntry {
    /// Memory it ever touches, from the start of its allocation.
    pub footprint: Bytes,
    /// Size of the hot set (default none).
    pub hot_set: Option<Bytes>,
    /// Where the hot set starts within the footprint (default "0B").
    pub hot_offset: Option<Bytes>,
    /// Writes per hot page per second (e.g. "50/s").
    pub hot_rate: Option<Rate>,
    /// Writes per page per second over the rest of the footprint (default "0/s").
    pub cold_rate: Option<Rate>,
    /// A sequential writer (GC- or buffer-like).
    pub sweep: Option<SweepEntry>,
}

/// A sequential writer over a region, wrapping at its end.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepEntry {
    /// Region start within the allocation (default "0B").
    pub start: Option<Bytes>,
    /// Region size.
    pub size: Bytes,
    /// Bytes written per second of full-speed execution (e.g. "95MB/s").
    pub speed: Bitrate,
}

fn one_u32() -> Spanned<u32> {
    Spanned::new(0..0, 1)
}
fn default_weight() -> Spanned<f64> {
    Spanned::new(0..0, 256.0)
}

/// A VM's CPU demand, one of three kinds:
/// `{ kind = "constant", level = "100%" }`;
/// `{ kind = "steps", steps = [["0s", "20%"], ["60s", "100%"]] }`;
/// `{ kind = "trace", file = "…", interval = "5min", after_end = "repeat" }`.
///
/// A flat struct rather than a tagged enum so every field keeps its source position.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemandEntry {
    /// `constant`, `steps` or `trace`.
    pub kind: Spanned<String>,
    /// Fraction of the VM's vCPUs (`constant`).
    pub level: Option<Spanned<Percent>>,
    /// (time since VM start, level) pairs, times increasing, the first "0s" (`steps`).
    pub steps: Option<Spanned<Vec<(Seconds, Percent)>>>,
    /// One utilisation percent per line (PlanetLab format), relative to the scenario
    /// file's directory (`trace`).
    pub file: Option<Spanned<String>>,
    /// Time between trace lines (default "5min", PlanetLab's).
    pub interval: Option<Seconds>,
    /// After the last line: "repeat" (default), "hold" or "zero".
    pub after_end: Option<Spanned<String>>,
}

/// `[[meters]]`: a meter on a device or a server.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeterEntry {
    /// Unique name (default `<target>-meter`).
    pub name: Option<String>,
    /// A device or server name.
    pub target: Spanned<String>,
    /// Averaging window (default "100ms", like a WT210).
    #[serde(default = "hundred_ms")]
    pub window: Seconds,
    /// Reporting delay (default "0s").
    #[serde(default)]
    pub delay: Seconds,
}

fn hundred_ms() -> Seconds {
    Seconds(0.1)
}

/// `[[actions]]`: a change at a time. Kinds and their fields:
/// `set_pstate` (server, pstate); `set_vm_cap` (vm, cap: a percentage of one core or
/// "none"); `set_vm_weight` (vm, weight); `migrate` (vm, to, algorithm, overrides).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionEntry {
    /// When.
    pub at: Seconds,
    /// What: `set_pstate`, `set_vm_cap` or `set_vm_weight`.
    pub kind: Spanned<String>,
    /// Target server (`set_pstate`).
    pub server: Option<Spanned<String>>,
    /// Target VM (`set_vm_cap`, `set_vm_weight`).
    pub vm: Option<Spanned<String>>,
    /// P-state index, 0 = fastest (`set_pstate`).
    pub pstate: Option<Spanned<usize>>,
    /// Percentage of one core, or "none" (`set_vm_cap`).
    pub cap: Option<Spanned<String>>,
    /// New weight, > 0 (`set_vm_weight`).
    pub weight: Option<Spanned<f64>>,
    /// Destination server (`migrate`).
    pub to: Option<Spanned<String>>,
    /// Migration preset from `models/migration/` (`migrate`).
    pub algorithm: Option<Spanned<String>>,
    /// Any preset field, overriding the preset (`migrate`).
    pub overrides: Option<Spanned<crate::scenario::migration::MigrationFields>>,
}

/// `models/servers/<name>.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerModelFile {
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Physical cores.
    pub cores: Spanned<u32>,
    /// Installed memory.
    pub memory: Bytes,
    /// NIC line rate.
    pub nic: Bitrate,
    /// Power model.
    pub power: PowerSection,
    /// DVFS states, fastest first (default: one state).
    #[serde(default)]
    pub pstates: Vec<Spanned<PStateEntry>>,
    /// This host's dom0 costs of live migration (optional).
    pub dom0: Option<Dom0Section>,
}

/// `[dom0]` of a server model: measured or assumed migration CPU costs on this host.
/// Each wins over the algorithm preset's prior; a scenario's `overrides` win over it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dom0Section {
    /// Sender CPU per 4 KiB page.
    pub sender_cpu_per_page: Option<Seconds>,
    /// Receiver CPU per 4 KiB page.
    pub receiver_cpu_per_page: Option<Seconds>,
    /// dom0 CPU during setup, % of a core.
    pub setup_cpu: Option<Percent>,
    /// dom0 CPU during the clean-up after switch-over, % of a core.
    pub cleanup_dom0_cpu: Option<Percent>,
    /// Post-copy: dom0 CPU per fault served.
    pub fault_cpu: Option<Seconds>,
}

/// `[power]` of a server model.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerSection {
    /// `linear`, `specpower` or `cores`.
    pub kind: Spanned<String>,
    /// Idle power (`linear`, `cores`).
    pub idle: Option<Power>,
    /// Power at 100% (`linear`).
    pub max: Option<Power>,
    /// 11 points at 0%, 10%, …, 100% load (`specpower`).
    pub table: Option<Spanned<Vec<Power>>>,
    /// W per Gbps moved by the NIC, written as a power ("4W" = 4 W per Gbps).
    #[serde(default)]
    pub nic_per_gbps: Power,
}

/// `[[pstates]]` of a server model.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PStateEntry {
    /// Core clock.
    pub frequency: Frequency,
    /// Core voltage (optional; scales dynamic power with f·V²).
    pub voltage: Option<Voltage>,
    /// Dynamic power of one fully busy core at this state (`cores` kind).
    pub core_power: Option<Power>,
}

/// `models/breakers/<name>.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerFile {
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// M_p: multiple of rating below which it never trips thermally.
    pub pickup: f64,
    /// Heating exponent (2 = I²t).
    pub alpha: f64,
    /// Nominal time scale k of t_trip = k / ((M/M_p)^α − 1).
    pub k: Seconds,
    /// Per-device tolerance band for k.
    pub k_band: Option<(Seconds, Seconds)>,
    /// Full reset time t_r from H = 1 at zero load, or "none" (fuse).
    pub reset: SecondsOrNone,
    /// M_inst: magnetic (instantaneous) pickup, multiple of rating.
    pub magnetic_pickup: f64,
    /// t_inst: magnetic clearing time.
    pub magnetic_time: Seconds,
}
