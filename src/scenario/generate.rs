//! The datacenter generator: rows of racks of servers with PDUs sized by an
//! oversubscription ratio, and VMs placed first-fit by CPU and memory, with demand from
//! the built-in PlanetLab-like generator or traces. It takes a resolved [`Plan`] (models,
//! presets and traces already read, see `validate::datacenter`) and knows no file.

use super::config::{BreakerPreset, DeviceConfig, ServerConfig, ServerModel, VmConfig};
use super::error::ConfigError;
use super::schema::DeviceLevel;
use crate::model::cpu::XEN_DEFAULT_WEIGHT;
use crate::model::ids::{DeviceId, ServerId};
use crate::model::memory::{MemoryProfile, PAGE_SIZE};
use crate::model::pdu::Electrical;
use crate::model::workload::{Demand, TraceEnd, PLANETLAB_INTERVAL_NS};
use std::sync::Arc;

/// A rack's planning cap unless given: 80 % of its breaker's rated power (the NEC's
/// continuous-load limit).
pub const DEFAULT_RACK_CAP: f64 = 0.8;
/// Row PDUs unless given: 415 V three-phase, rated for the sum of their racks' ratings.
pub const DEFAULT_ROW_VOLTAGE_V: f64 = 415.0;
/// Phases of a row PDU unless given.
pub const DEFAULT_ROW_PHASES: u8 = 3;
/// The VM size unless given: 1 vCPU, 1 GiB.
pub const DEFAULT_VM_SIZE: VmSize = VmSize {
    vcpus: 1,
    memory_bytes: 1 << 30,
    share: 1.0,
};

/// A VM size and its share of the VMs.
#[derive(Clone, Copy, Debug)]
pub struct VmSize {
    /// vCPUs (≥ 1).
    pub vcpus: u32,
    /// Memory, bytes.
    pub memory_bytes: u64,
    /// Share, a fraction.
    pub share: f64,
}

/// A resolved `[datacenter]` section.
pub struct Plan {
    /// Rows, racks per row, servers per rack (each ≥ 1).
    pub rows: u32,
    /// Racks per row.
    pub racks_per_row: u32,
    /// Servers per rack.
    pub servers_per_rack: u32,
    /// Server models and their shares (fractions adding up to 1).
    pub models: Vec<(Arc<ServerModel>, f64)>,
    /// Sum of server peak power over provisioned (capped) power, > 0.
    pub oversubscription: f64,
    /// Rack PDUs' electrical parameters.
    pub rack: Electrical,
    /// Rack planning cap, a fraction of the rating's power in (0, 1].
    pub rack_cap: f64,
    /// Rack breaker choice: a preset, "none", or `None`/"auto" (UL 489 by rating).
    pub rack_breaker: Option<String>,
    /// Draw each rack breaker's k from its band.
    pub rack_draw_k: bool,
    /// Row PDUs' electrical parameters.
    pub row: Electrical,
    /// Sum of rack ratings over the row's rating.
    pub row_oversubscription: f64,
    /// Row breaker choice, as for racks.
    pub row_breaker: Option<String>,
    /// Row planning cap, a fraction of its rating's power (`None`: no cap).
    pub row_cap: Option<f64>,
    /// VMs per server on average.
    pub vms_per_server: f64,
    /// VM sizes and their shares.
    pub sizes: Vec<VmSize>,
    /// vCPUs placed per physical core at most.
    pub cpu_overcommit: f64,
    /// Priorities and their shares.
    pub priorities: Vec<(u32, f64)>,
    /// Shares of the workload models' memory profiles (empty: VMs never write).
    pub workload_shares: Vec<f64>,
    /// Demand traces, assigned round-robin (`None`: the built-in synthetic generator).
    pub traces: Option<Vec<Arc<[f32]>>>,
}

/// Picks categories so that after n picks each category's count is as close as possible
/// to n × share, interleaving them (no RNG: the layout is a pure function of the file).
struct Interleave {
    shares: Vec<f64>,
    counts: Vec<u64>,
    n: u64,
}

impl Interleave {
    fn new(shares: Vec<f64>) -> Self {
        let total: f64 = shares.iter().sum();
        let shares: Vec<f64> = shares.iter().map(|s| s / total).collect();
        Interleave {
            counts: vec![0; shares.len()],
            shares,
            n: 0,
        }
    }

    fn next(&mut self) -> usize {
        self.n += 1;
        let n = self.n as f64;
        let (best, _) = self
            .shares
            .iter()
            .zip(&self.counts)
            .enumerate()
            .map(|(i, (s, &c))| (i, s * n - c as f64))
            .fold(
                (0, f64::NEG_INFINITY),
                |acc, x| if x.1 > acc.1 { x } else { acc },
            );
        self.counts[best] += 1;
        best
    }
}

/// The UL 489 preset for a rating (A), as the `auto` breaker choice.
pub fn auto_breaker(rating_a: f64) -> Option<&'static str> {
    if rating_a <= 30.0 {
        Some("ul489-le30a")
    } else if rating_a <= 50.0 {
        Some("ul489-31-50a")
    } else if rating_a <= 100.0 {
        Some("ul489-51-100a")
    } else {
        None
    }
}

/// The preset a breaker choice names for a rating (A): `None`/"auto" → UL 489 by rating
/// (none above 100 A), "none" → none.
pub fn breaker_choice(choice: Option<&str>, rating_a: f64) -> Option<&str> {
    match choice {
        None | Some("auto") => auto_breaker(rating_a),
        Some("none") => None,
        Some(n) => Some(n),
    }
}

/// Shares that add up to 100 % (to 0.1 %).
pub fn shares_ok(total: f64) -> bool {
    (total - 1.0).abs() < 1e-3
}

/// Looks a breaker preset up by name (for the tree's breakers).
pub type BreakerLookup<'a> = dyn FnMut(&str, &str) -> Result<BreakerPreset, ConfigError> + 'a;

/// The rows, racks and servers: devices are numbered from `first_device`.
pub fn power_tree(
    plan: &Plan,
    first_device: usize,
    breaker: &mut BreakerLookup,
) -> Result<(Vec<DeviceConfig>, Vec<ServerConfig>), ConfigError> {
    let mut devices: Vec<DeviceConfig> = Vec::new();
    let mut servers: Vec<ServerConfig> = Vec::new();
    let mut pick_model = Interleave::new(plan.models.iter().map(|m| m.1).collect());
    let mut preset = |choice: Option<&str>, rating_a: f64, field: &str| {
        breaker_choice(choice, rating_a)
            .map(|name| breaker(name, field))
            .transpose()
    };
    for r in 1..=plan.rows {
        let row_ix = devices.len();
        devices.push(DeviceConfig {
            name: format!("row-{r}"),
            kind: DeviceLevel::Row.name().into(),
            parent: None,
            electrical: plan.row,
            rating_a: None,
            cap_w: None,
            breaker: None,
            draw_k: false,
        });
        let mut row_rating_w = 0.0;
        for k in 1..=plan.racks_per_row {
            let rack_ix = first_device + devices.len();
            let mut peak = 0.0;
            for j in 1..=plan.servers_per_rack {
                let model = plan.models[pick_model.next()].0.clone();
                peak += model.power.peak_w();
                servers.push(ServerConfig {
                    name: format!("s-{r}-{k:02}-{j:02}"),
                    model,
                    device: DeviceId::new(rack_ix),
                    pstate: 0,
                    dom0_cores: 0.0,
                });
            }
            // Provisioned power (the planning cap) = peak / oversubscription; the
            // breaker is rated for the cap over the planning fraction.
            let cap_w = peak / plan.oversubscription;
            let rating_a = plan.rack.amps(cap_w / plan.rack_cap);
            let breaker = preset(
                plan.rack_breaker.as_deref(),
                rating_a,
                "datacenter.rack.breaker",
            )?;
            row_rating_w += plan.rack.watts(rating_a);
            devices.push(DeviceConfig {
                name: format!("rack-{r}-{k:02}"),
                kind: DeviceLevel::Rack.name().into(),
                parent: Some(DeviceId::new(first_device + row_ix)),
                electrical: plan.rack,
                rating_a: Some(rating_a),
                cap_w: Some(cap_w),
                breaker,
                draw_k: plan.rack_draw_k,
            });
        }
        let rating_a = plan.row.amps(row_rating_w / plan.row_oversubscription);
        let breaker = preset(
            plan.row_breaker.as_deref(),
            rating_a,
            "datacenter.row.breaker",
        )?;
        let row = &mut devices[row_ix];
        row.rating_a = Some(rating_a);
        row.cap_w = plan.row_cap.map(|c| c * plan.row.watts(rating_a));
        row.breaker = breaker;
    }
    Ok((devices, servers))
}

/// A memory profile for (workload index, memory bytes), read once per pair.
pub type ProfileLookup<'a> =
    dyn FnMut(usize, u64) -> Result<Option<MemoryProfile>, ConfigError> + 'a;

/// The VMs, placed first-fit on `servers` (numbered from `first_server`). `Err(msg)`
/// (about `vms_per_server`) when one fits nowhere.
pub fn place_vms(
    plan: &Plan,
    servers: &[ServerConfig],
    first_server: usize,
    profile: &mut ProfileLookup,
) -> Result<Result<Vec<VmConfig>, String>, ConfigError> {
    let n_servers = servers.len();
    let n_vms = (n_servers as f64 * plan.vms_per_server).round() as usize;
    let mut pick_size = Interleave::new(plan.sizes.iter().map(|s| s.share).collect());
    let mut pick_prio = Interleave::new(plan.priorities.iter().map(|p| p.1).collect());
    let mut pick_workload = Interleave::new(plan.workload_shares.clone());
    let mut free_cpu: Vec<f64> = servers
        .iter()
        .map(|s| (s.model.power.cores as f64 * plan.cpu_overcommit).floor())
        .collect();
    let mut free_mem: Vec<u64> = servers.iter().map(|s| s.model.memory_bytes).collect();
    let mut first_open = 0usize;
    let mut vms = Vec::with_capacity(n_vms);
    for i in 0..n_vms {
        let VmSize {
            vcpus,
            memory_bytes: memory,
            ..
        } = plan.sizes[pick_size.next()];
        let priority = plan.priorities[pick_prio.next()].0;
        // First fit, scanning from the first server with any room left.
        while first_open < n_servers && free_cpu[first_open] < 1.0 {
            first_open += 1;
        }
        let Some(host) =
            (first_open..n_servers).find(|&h| free_cpu[h] >= vcpus as f64 && free_mem[h] >= memory)
        else {
            return Ok(Err(format!(
                "VM {} of {n_vms} ({vcpus} vCPUs, {} MiB) fits on no server: lower vms_per_server, the VM sizes, or raise cpu_overcommit",
                i + 1,
                memory >> 20
            )));
        };
        free_cpu[host] -= vcpus as f64;
        free_mem[host] -= memory;
        let memory_profile = if plan.workload_shares.is_empty() {
            Some(MemoryProfile::quiet(memory.div_ceil(PAGE_SIZE) as u32))
        } else {
            profile(pick_workload.next(), memory)?
        };
        let demand = match &plan.traces {
            Some(t) => Demand::Trace {
                interval_ns: PLANETLAB_INTERVAL_NS,
                samples: t[i % t.len()].clone(),
                end: TraceEnd::Repeat,
            },
            // Drawn per run from the VM's own stream (see `World::new`).
            None => Demand::Constant(0.0),
        };
        vms.push(VmConfig {
            name: format!("vm-{:05}", i + 1),
            host: ServerId::new(first_server + host),
            vcpus,
            weight: XEN_DEFAULT_WEIGHT,
            cap_cores: None,
            memory_bytes: memory,
            start_ns: 0,
            work_core_s: None,
            demand,
            memory: memory_profile,
            priority,
            wakeups_per_s: crate::scenario::validate::DEFAULT_VM_WAKEUPS_PER_S,
            synthetic: plan.traces.is_none(),
        });
    }
    Ok(Ok(vms))
}
