//! `summary.json`: the run's headline numbers (times in s, energy in J, power in W).
//! Field names are a contract with users' scripts (DESIGN §6): extend, never rename.

use super::migration::Mig;
use super::world::World;
use crate::model::ids::{IdVec, MigrationId};
use crate::model::vm::{Vm, VmPhase};
use crate::scenario::config::Scenario;
use serde::{Deserialize, Serialize};

/// Cap-violation figures for one device.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ViolationSummary {
    /// Separate excursions above the cap.
    pub episodes: u64,
    /// Time above the cap, s.
    pub seconds_over_cap: f64,
    /// ∫ max(0, P − cap) dt, J.
    pub energy_over_cap_j: f64,
    /// (peak − cap) / cap × 100, 0 if never above, %.
    pub peak_overshoot_pct: f64,
}

/// One breaker trip.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TripSummary {
    /// When, s.
    pub time_s: f64,
    /// Power through the device when it opened, W.
    pub load_cut_w: f64,
}

/// One device of the power tree.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DeviceSummary {
    /// Name.
    pub name: String,
    /// `outlet_group`, `rack`, `row` or `datacenter`.
    pub kind: String,
    /// Planning cap, W.
    pub cap_w: Option<f64>,
    /// Breaker rating, A.
    pub rating_a: Option<f64>,
    /// Breaker preset name.
    pub breaker: Option<String>,
    /// This device's breaker time scale k, s.
    pub breaker_k_s: Option<f64>,
    /// Cap violations (all zero without a cap).
    pub violations: ViolationSummary,
    /// Trips.
    pub trips: Vec<TripSummary>,
    /// Highest breaker heat H, [0, 1].
    pub max_heat: f64,
    /// Smallest time-to-trip seen while overloaded, s (null: never overloaded).
    pub min_time_to_trip_s: Option<f64>,
    /// Energy through the device, J.
    pub energy_j: f64,
    /// Highest power, W.
    pub peak_w: f64,
    /// Mean power over the run, W.
    pub mean_w: f64,
}

/// One VM.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct VmSummary {
    /// Name.
    pub name: String,
    /// Server it is on at the end.
    pub host: String,
    /// Completion time over baseline (with work) or demanded over delivered work
    /// (open-ended); null when lost or unfinished.
    pub slowdown: Option<f64>,
    /// Time suspended, s.
    pub downtime_s: f64,
    /// Time from start to completion, s (null: open-ended, unfinished or lost).
    pub completion_s: Option<f64>,
    /// Baseline completion time alone on an idle host at P0, s.
    pub baseline_s: Option<f64>,
    /// True when a breaker trip cut its host.
    pub lost: bool,
    /// CPU used, core-seconds.
    pub cpu_core_s: f64,
    /// Time it ran work slower than work arrived (contention, caps, a slower clock it
    /// could not make up, forced idle), s.
    pub time_throttled_s: f64,
    /// Work arrived, core-seconds at P0 (its demand integrated; a batch VM's stops at
    /// its total work).
    #[serde(default)]
    pub work_arrived_core_s: f64,
    /// Work done, core-seconds at P0.
    #[serde(default)]
    pub work_done_core_s: f64,
    /// Work arrived and not done at the end (or when lost), core-seconds at P0.
    #[serde(default)]
    pub backlog_at_end_core_s: f64,
    /// Time it owed work (had a backlog), s.
    #[serde(default)]
    pub time_with_backlog_s: f64,
    /// Mean over the work done of how long each unit waited beyond its arrival, s.
    #[serde(default)]
    pub mean_delay_s: f64,
    /// Longest wait of any unit of work done, s.
    #[serde(default)]
    pub max_delay_s: f64,
    /// Priority.
    pub priority: u32,
}

/// One live migration.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MigrationSummary {
    /// VM name.
    pub vm: String,
    /// Source server.
    pub from: String,
    /// Destination server.
    pub to: String,
    /// Algorithm preset.
    pub algorithm: String,
    /// Start, s.
    pub start_s: f64,
    /// End (clean-up finished), s (null: still running at the end of the run).
    pub end_s: Option<f64>,
    /// Switch-over: the VM starts running on the destination, s.
    pub switch_s: Option<f64>,
    /// VM suspended, s.
    pub downtime_s: f64,
    /// Data sent, bytes.
    pub bytes_sent: u64,
    /// Pages sent.
    pub pages_sent: u64,
    /// Pages sent more than once.
    pub pages_resent: u64,
    /// Post-copy demand faults.
    pub faults: u64,
    /// Rounds (pre-copy passes; 1 for post-copy).
    pub rounds: u32,
    /// Extra energy of both hosts due to the migration (their power minus their power
    /// without its CPU and traffic, integrated), J.
    pub energy_j: f64,
    /// Why it stopped part-way (null: it did not).
    pub aborted: Option<String>,
}

/// One server.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ServerSummary {
    /// Name.
    pub name: String,
    /// Model name.
    pub model: String,
    /// Energy, J.
    pub energy_j: f64,
    /// False if a trip cut it.
    pub powered_at_end: bool,
}

/// How long the open-ended VMs' (services') work waited beyond its arrival: the
/// work-weighted distribution over all of them (batch VMs' figure is their completion
/// time). Work still owed at the end counts with the wait it has had so far (a lower
/// bound). See `model::backlog`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct WorkDelaySummary {
    /// Work arrived, core-seconds at P0.
    pub work_core_s: f64,
    /// Fraction of it that waited at all, [0, 1].
    pub delayed_fraction: f64,
    /// Work-weighted mean wait, s.
    pub mean_s: f64,
    /// Median wait, s.
    pub p50_s: f64,
    /// 95th percentile wait, s.
    pub p95_s: f64,
    /// 99th percentile wait, s.
    pub p99_s: f64,
    /// Longest wait, s.
    pub max_s: f64,
    /// Work still owed at the end, core-seconds at P0.
    pub owed_at_end_core_s: f64,
    /// Time with a backlog summed over the VMs, VM-seconds.
    pub backlog_vm_s: f64,
}

/// The whole `summary.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    /// Scenario name.
    pub scenario: String,
    /// Master seed.
    pub seed: u64,
    /// Replicate number.
    pub replicate: u32,
    /// Simulated time, s.
    pub duration_s: f64,
    /// Energy of all servers, J.
    pub energy_j: f64,
    /// The capping policy (`none` without one).
    pub policy: String,
    /// Servers per kW of provisioned power (the top-level devices' ratings), or null
    /// when no top-level device has a rating.
    pub servers_per_provisioned_kw: Option<f64>,
    /// Sum of the servers' peak power over provisioned power.
    pub oversubscription: Option<f64>,
    /// Power-tree devices.
    pub devices: Vec<DeviceSummary>,
    /// VMs.
    pub vms: Vec<VmSummary>,
    /// Live migrations.
    pub migrations: Vec<MigrationSummary>,
    /// Servers.
    pub servers: Vec<ServerSummary>,
    /// The services' delay of work.
    #[serde(default)]
    pub work_delay: WorkDelaySummary,
}

impl Summary {
    /// Builds the summary from a world whose accounting is up to the scenario's end.
    pub fn from_world(sc: &Scenario, w: &World, migs: &IdVec<MigrationId, Mig>) -> Self {
        let duration_s = sc.duration_ns as f64 / 1e9;
        let devices = w
            .devices
            .iter()
            .zip(&sc.devices)
            .map(|(d, cfg)| {
                let v = &d.violations;
                let peak_overshoot_pct = match d.cap_w {
                    Some(c) if v.peak_w > c => (v.peak_w - c) / c * 100.0,
                    _ => 0.0,
                };
                DeviceSummary {
                    name: d.name.clone(),
                    kind: d.kind.clone(),
                    cap_w: d.cap_w,
                    rating_a: d.rating_a,
                    breaker: cfg.breaker.as_ref().map(|b| b.name.clone()),
                    breaker_k_s: d.breaker.as_ref().map(|b| b.k_s()),
                    violations: ViolationSummary {
                        episodes: v.episodes,
                        seconds_over_cap: v.over_ns as f64 / 1e9,
                        energy_over_cap_j: v.energy_over_j,
                        peak_overshoot_pct,
                    },
                    trips: d
                        .trips
                        .iter()
                        .map(|t| TripSummary {
                            time_s: t.time_s,
                            load_cut_w: t.load_cut_w,
                        })
                        .collect(),
                    max_heat: d.max_heat,
                    min_time_to_trip_s: d.min_time_to_trip_s,
                    energy_j: d.energy_j,
                    peak_w: v.peak_w,
                    mean_w: d.energy_j / duration_s,
                }
            })
            .collect();
        let vms = w
            .vms
            .iter()
            .enumerate()
            .map(|(i, v)| vm_summary(sc, w, i, v))
            .collect();
        let servers: Vec<ServerSummary> = w
            .servers
            .iter()
            .map(|s| ServerSummary {
                name: s.name.clone(),
                model: s.model.name.clone(),
                energy_j: s.energy_j,
                powered_at_end: s.on,
            })
            .collect();
        // Provisioned power: the ratings of the devices at the top of the tree.
        let provisioned_w: f64 = sc
            .devices
            .iter()
            .filter(|d| d.parent.is_none())
            .filter_map(|d| d.rating_a.map(|a| d.electrical.watts(a)))
            .sum();
        let peak_w: f64 = w.servers.iter().map(|s| s.model.power.peak_w()).sum();
        Summary {
            policy: sc
                .policy
                .as_ref()
                .map_or("none".to_string(), |p| p.config.name().to_string()),
            servers_per_provisioned_kw: (provisioned_w > 0.0)
                .then(|| w.servers.len() as f64 / (provisioned_w / 1000.0)),
            oversubscription: (provisioned_w > 0.0).then(|| peak_w / provisioned_w),
            scenario: sc.name.clone(),
            seed: sc.seed,
            replicate: sc.replicate,
            duration_s,
            energy_j: servers.iter().map(|s| s.energy_j).sum(),
            devices,
            vms,
            migrations: migs
                .iter()
                .map(|m| MigrationSummary {
                    vm: w.vms[m.vm].name.clone(),
                    from: w.servers[m.src].name.clone(),
                    to: w.servers[m.dst].name.clone(),
                    algorithm: m.params.preset.clone(),
                    start_s: m.start_ns as f64 / 1e9,
                    end_s: m.end_ns.map(|e| e as f64 / 1e9),
                    switch_s: m.switch_ns.map(|e| e as f64 / 1e9),
                    downtime_s: m.downtime_ns as f64 / 1e9,
                    bytes_sent: m.bytes_sent,
                    pages_sent: m.pages_sent,
                    pages_resent: m.ps.resent,
                    faults: m.faults(),
                    rounds: m.rounds(),
                    energy_j: m.energy_j,
                    aborted: m.abort_reason.map(|r| r.as_str().to_string()),
                })
                .collect(),
            servers,
            work_delay: work_delay(w),
        }
    }
}

/// One VM's row.
fn vm_summary(sc: &Scenario, w: &World, i: usize, v: &Vm) -> VmSummary {
    VmSummary {
        name: v.name.clone(),
        host: w.servers[v.host].name.clone(),
        slowdown: v.slowdown(),
        downtime_s: v.downtime_ns as f64 / 1e9,
        completion_s: match (v.phase, v.end_ns) {
            (VmPhase::Done, Some(e)) => Some((e - v.start_ns) as f64 / 1e9),
            _ => None,
        },
        baseline_s: v.baseline_ns.map(|b| b as f64 / 1e9),
        lost: v.phase == VmPhase::Lost,
        cpu_core_s: v.cpu_s,
        time_throttled_s: v.throttled_ns as f64 / 1e9,
        work_arrived_core_s: v.demanded,
        work_done_core_s: v.progress,
        backlog_at_end_core_s: v.backlog_core_s(),
        time_with_backlog_s: v.backlog.backlog_ns as f64 / 1e9,
        mean_delay_s: v.backlog.mean_delay_s(),
        max_delay_s: v.backlog.max_delay_s,
        priority: sc.vms[i].priority,
    }
}

/// The run's delay figures from the world's delay histogram.
fn work_delay(w: &World) -> WorkDelaySummary {
    let h = &w.delays;
    let services = || w.vms.iter().filter(|v| v.work_core_s.is_none());
    WorkDelaySummary {
        work_core_s: services().map(|v| v.demanded).sum(),
        delayed_fraction: h.delayed_fraction(),
        mean_s: h.mean_s(),
        p50_s: h.quantile(0.50),
        p95_s: h.quantile(0.95),
        p99_s: h.quantile(0.99),
        max_s: h.max_s,
        owed_at_end_core_s: services()
            .filter(|v| v.phase == VmPhase::Running)
            .map(|v| v.backlog_core_s())
            .sum(),
        backlog_vm_s: services().map(|v| v.backlog.backlog_ns as f64 / 1e9).sum(),
    }
}
