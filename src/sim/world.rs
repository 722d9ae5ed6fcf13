//! The world: every model's state in vectors indexed by typed ids, built once from a
//! validated scenario. No shared pointers between models: a run can move to any thread.

use crate::engine::rng::stream;
use crate::model::backlog::DelayHist;
use crate::model::breaker::Breaker;
use crate::model::ids::{DeviceId, IdVec, MeterId, ServerId, VmId};
use crate::model::memory::DirtyProcess;
use crate::model::meter::MeterSpec;
use crate::model::pdu::Device;
use crate::model::server::{HostTask, Server, TaskOwner};
use crate::model::vm::{Vm, VmPhase};
use crate::scenario::config::{DeviceConfig, MeterTarget, Scenario, ServerConfig, VmConfig};

/// Weight of dom0 work in the CPU scheduler: Xen's default weight for every domain,
/// dom0 included.
pub const DOM0_WEIGHT: f64 = crate::model::cpu::XEN_DEFAULT_WEIGHT;

/// What a `meters.csv` meter measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metered {
    /// Power through a device.
    Device(DeviceId),
    /// A server's power.
    Server(ServerId),
}

/// A `meters.csv` meter.
#[derive(Clone, Debug)]
pub struct Meter {
    /// Unique name.
    pub name: String,
    /// How it reports.
    pub spec: MeterSpec,
    /// What it measures.
    pub target: Metered,
}

/// Children of a device, for cutting power below it.
#[derive(Clone, Debug, Default)]
pub struct Children {
    /// Devices fed directly by this one.
    pub devices: Vec<DeviceId>,
    /// Servers fed directly by this one.
    pub servers: Vec<ServerId>,
}

/// All state of one run.
pub struct World {
    /// Power tree devices, parents first.
    pub devices: IdVec<DeviceId, Device>,
    /// Each device's direct children.
    pub children: IdVec<DeviceId, Children>,
    /// Every server below each device (all levels), in world order.
    pub under: IdVec<DeviceId, Vec<ServerId>>,
    /// Servers.
    pub servers: IdVec<ServerId, Server>,
    /// VMs.
    pub vms: IdVec<VmId, Vm>,
    /// `meters.csv` meters.
    pub meters: IdVec<MeterId, Meter>,
    /// The delays of the open-ended VMs' work, all VMs together.
    pub delays: DelayHist,
}

fn device(sc: &Scenario, d: &DeviceConfig) -> Device {
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
        d.parent,
        d.electrical,
        d.rating_a,
        d.cap_w,
        breaker,
    )
}

fn server(s: &ServerConfig) -> Server {
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
        vm_wakeups_per_s: 0.0,
        power_w: 0.0,
        energy_j: 0.0,
        last_ns: 0,
    }
}

fn vm(sc: &Scenario, v: &VmConfig) -> Vm {
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
        backlog: Default::default(),
        drain_for: None,
        drain_gen: 0,
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
        wakeups_per_s: v.wakeups_per_s,
    }
}

impl World {
    /// Builds the initial state (time 0, everything idle) from a scenario.
    pub fn new(sc: &Scenario) -> Self {
        let devices: IdVec<DeviceId, Device> = sc.devices.iter().map(|d| device(sc, d)).collect();
        let mut children: IdVec<DeviceId, Children> =
            (0..devices.len()).map(|_| Children::default()).collect();
        for (i, d) in sc.devices.iter().enumerate() {
            if let Some(p) = d.parent {
                children[p].devices.push(DeviceId::new(i));
            }
        }
        let mut servers: IdVec<ServerId, Server> = sc.servers.iter().map(server).collect();
        let mut under: IdVec<DeviceId, Vec<ServerId>> =
            (0..devices.len()).map(|_| Vec::new()).collect();
        for (id, s) in servers.enumerate() {
            children[s.device].servers.push(id);
            let mut d = Some(s.device);
            while let Some(x) = d {
                under[x].push(id);
                d = devices[x].parent;
            }
        }
        let vms: IdVec<VmId, Vm> = sc.vms.iter().map(|v| vm(sc, v)).collect();
        for (id, v) in vms.enumerate() {
            servers[v.host].vms.push(id);
        }
        let meters = sc
            .meters
            .iter()
            .map(|m| Meter {
                name: m.name.clone(),
                spec: MeterSpec {
                    window_ns: m.window_ns.max(1),
                    period_ns: m.window_ns.max(1),
                    delay_ns: m.delay_ns,
                },
                target: match m.target {
                    MeterTarget::Device(d) => Metered::Device(d),
                    MeterTarget::Server(s) => Metered::Server(s),
                },
            })
            .collect();
        World {
            devices,
            children,
            under,
            servers,
            vms,
            meters,
            delays: DelayHist::default(),
        }
    }
}
