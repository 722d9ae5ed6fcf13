//! The world: every model's state in vectors indexed by position, built once from a
//! validated scenario. No shared pointers between models: a run can move to any thread.

use crate::engine::rng::stream;
use crate::model::breaker::Breaker;
use crate::model::memory::DirtyProcess;
use crate::model::meter::Meter;
use crate::model::pdu::Device;
use crate::model::server::{HostTask, Server, TaskOwner};

/// Weight of dom0 work in the CPU scheduler (Xen's default weight).
pub const DOM0_WEIGHT: f64 = 256.0;
use crate::model::vm::{Vm, VmPhase};
use crate::scenario::config::{MeterTarget, Scenario};

/// Children of a device, for cutting power below it.
#[derive(Clone, Debug, Default)]
pub struct Children {
    /// Devices fed directly by this one.
    pub devices: Vec<usize>,
    /// Servers fed directly by this one.
    pub servers: Vec<usize>,
}

/// All state of one run.
pub struct World {
    /// Power tree devices, parents first.
    pub devices: Vec<Device>,
    /// Each device's direct children.
    pub children: Vec<Children>,
    /// Servers.
    pub servers: Vec<Server>,
    /// VMs.
    pub vms: Vec<Vm>,
    /// Meters and what they measure.
    pub meters: Vec<(Meter, MeterTarget)>,
}

impl World {
    /// Builds the initial state (time 0, everything idle) from a scenario.
    pub fn new(sc: &Scenario) -> Self {
        let devices: Vec<Device> = sc
            .devices
            .iter()
            .map(|d| {
                let breaker = d.breaker.as_ref().map(|b| {
                    let k = if d.draw_k {
                        let mut rng = stream(sc.seed, sc.replicate, &format!("breaker/{}", d.name));
                        b.curve.draw_k(&mut rng)
                    } else {
                        b.curve.k_s
                    };
                    Breaker::new(b.curve.clone(), k)
                });
                Device::new(
                    d.name.clone(),
                    d.kind.clone(),
                    d.parent.map(|p| crate::model::pdu::DeviceId(p as u32)),
                    d.electrical,
                    d.rating_a,
                    d.cap_w,
                    breaker,
                )
            })
            .collect();
        let mut children = vec![Children::default(); devices.len()];
        for (i, d) in sc.devices.iter().enumerate() {
            if let Some(p) = d.parent {
                children[p].devices.push(i);
            }
        }
        let mut servers: Vec<Server> = sc
            .servers
            .iter()
            .enumerate()
            .map(|(i, s)| {
                children[s.device].servers.push(i);
                Server {
                    name: s.name.clone(),
                    model: s.model.clone(),
                    device: s.device,
                    pstate: s.pstate,
                    on: true,
                    vms: Vec::new(),
                    tasks: vec![HostTask {
                        owner: TaskOwner::Dom0,
                        demand: s.dom0_cores,
                        weight: DOM0_WEIGHT,
                        cap: None,
                        alloc: 0.0,
                        cpu_s: 0.0,
                        active: true,
                    }],
                    dom0_done_cpu_s: 0.0,
                    ghost_done_cpu_s: 0.0,
                    idle_fraction: 0.0,
                    nic_gbps: 0.0,
                    busy_cores: 0.0,
                    power_w: 0.0,
                    energy_j: 0.0,
                    last_ns: 0,
                }
            })
            .collect();
        let vms = sc
            .vms
            .iter()
            .enumerate()
            .map(|(i, v)| {
                servers[v.host].vms.push(i);
                Vm {
                    name: v.name.clone(),
                    host: v.host,
                    vcpus: v.vcpus,
                    weight: v.weight,
                    cap_cores: v.cap_cores,
                    demand: if v.synthetic {
                        crate::scenario::synthetic::demand(
                            &crate::scenario::synthetic::SyntheticSpec::default(),
                            sc.seed,
                            sc.replicate,
                            &v.name,
                        )
                    } else {
                        v.demand.clone()
                    },
                    start_ns: v.start_ns,
                    work_core_s: v.work_core_s,
                    phase: VmPhase::Waiting,
                    demand_cores: 0.0,
                    alloc_cores: 0.0,
                    rate: 0.0,
                    progress: 0.0,
                    demanded: 0.0,
                    cpu_s: 0.0,
                    last_ns: 0,
                    end_ns: None,
                    baseline_ns: v
                        .work_core_s
                        .and_then(|w| v.demand.time_to_complete(w / v.vcpus as f64)),
                    complete_gen: 0,
                    memory_pages: v.memory.as_ref().map_or(0, |m| m.pages),
                    dirty: v.memory.clone().map(DirtyProcess::new),
                    rng: None,
                    suspended: false,
                    stall: 0.0,
                    migration_cap: None,
                    downtime_ns: 0,
                    migration: None,
                    policy_cap: None,
                    throttled_ns: 0,
                }
            })
            .collect();
        let meters = sc
            .meters
            .iter()
            .map(|m| {
                (
                    Meter::new(m.name.clone(), m.window_ns, m.delay_ns),
                    m.target,
                )
            })
            .collect();
        World {
            devices,
            children,
            servers,
            vms,
            meters,
        }
    }

    /// Cumulative energy of a meter's target at `now_ns`, J.
    pub fn target_energy(&self, t: MeterTarget, now_ns: u64) -> f64 {
        match t {
            MeterTarget::Device(d) => self.devices[d].energy_at(now_ns),
            MeterTarget::Server(s) => self.servers[s].energy_at(now_ns),
        }
    }
}
