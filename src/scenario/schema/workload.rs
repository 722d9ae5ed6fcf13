//! A VM's CPU demand and memory writes, in a scenario's `[[vms]]` or a workload model
//! (`models/workloads/**/<name>.toml`).

use crate::scenario::tagged::{part, tagged, Tagged};
use crate::units::*;
use serde::Deserialize;

/// `models/workloads/**/<name>.toml`: a program's CPU demand, work and memory writes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadFile {
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// CPU demand as a fraction of the VM's vCPUs.
    pub demand: DemandEntry,
    /// Work to complete, CPU time per vCPU at the fastest p-state of the reference host.
    pub work: Option<Seconds>,
    /// How it writes its memory.
    pub dirty: Option<DirtyEntry>,
}

/// `demand = { kind = "…", … }`: a fraction of the VM's vCPUs over time.
pub type DemandEntry = Tagged<(), DemandKind>;

tagged! {
    /// A VM's CPU demand (`kind = "…"`).
    pub enum DemandKind { tag: "kind", what: "a demand kind",
        /// `{ kind = "constant", level = "100%" }`: the same level for ever.
        "constant" => Constant(ConstantDemand),
        /// `{ kind = "steps", steps = [["0s", "20%"], ["60s", "100%"]] }`.
        "steps" => Steps(StepsDemand),
        /// `{ kind = "trace", file = "…", interval = "5min", after_end = "repeat" }`.
        "trace" => Trace(TraceDemand),
    }
}

/// `constant`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConstantDemand {
    /// Fraction of the VM's vCPUs, at most 100 %.
    pub level: Percent,
}

/// `steps`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepsDemand {
    /// (time since VM start, level) pairs, times increasing, the first "0s".
    pub steps: Vec<(Seconds, Percent)>,
}

/// `trace`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceDemand {
    /// One utilisation percent per line (PlanetLab format), relative to the scenario
    /// file's directory.
    pub file: String,
    /// Time between trace lines (default "5min": `model::workload::PLANETLAB_INTERVAL_NS`).
    pub interval: Option<Seconds>,
    /// After the last line (default `repeat`).
    pub after_end: Option<AfterEnd>,
}

/// What a trace does after its last line.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AfterEnd {
    /// Start again from the first line.
    Repeat,
    /// Keep the last line's value.
    Hold,
    /// Demand drops to zero.
    Zero,
}

part!(ConstantDemand, StepsDemand, TraceDemand);

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
    /// Writes per hot page per second (e.g. "50/s"; default "0/s").
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
