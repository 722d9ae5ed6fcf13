//! `[datacenter]`: a generated world (see `scenario::generate` for what each field does).

use crate::units::*;
use serde::Deserialize;

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
    pub demand: Option<String>,
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
    pub model: String,
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
    pub workload: String,
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
