//! The capping controller inside the simulation: a control tick every period, what the
//! policy may observe (its meters' delivered readings, the hypervisor's CPU counters and
//! what it commanded), and its commands queued behind their actuators' latencies.

use super::event::Event;
use super::migration::Migrations;
use super::state::Core;
use crate::actuation::Actuation;
use crate::engine::rng::{fast_stream, FastRng};
use crate::model::ids::{DeviceId, ServerId, VmId};
use crate::model::vm::VmPhase;
use crate::policy::{Observe, Policy};
use crate::scenario::config::PolicySetup;

/// The controller's state in a run.
pub(crate) struct Control {
    policy: Box<dyn Policy>,
    rng: FastRng,
    setup: PolicySetup,
    /// Devices with a cap.
    capped: Vec<DeviceId>,
    /// Commands waiting for their actuator, by slot.
    commands: Vec<Option<Actuation>>,
    free: Vec<usize>,
    out: Vec<Actuation>,
}

impl Control {
    /// The controller of a run, installing its sensors in `core`.
    pub(crate) fn new(setup: &PolicySetup, core: &mut Core) -> Self {
        let capped: Vec<DeviceId> = core
            .w
            .devices
            .enumerate()
            .filter(|(_, d)| d.cap_w.is_some())
            .map(|(id, _)| id)
            .collect();
        core.sensors.install_controller(setup.sensors, &capped);
        let (seed, replicate) = (core.sc.seed, core.sc.replicate);
        Control {
            policy: crate::policy::build(&setup.config),
            rng: fast_stream(seed, replicate, "policy"),
            setup: setup.clone(),
            capped,
            commands: Vec::new(),
            free: Vec::new(),
            out: Vec::new(),
        }
    }

    /// Control period, ns.
    pub(crate) fn period_ns(&self) -> u64 {
        self.setup.period_ns
    }

    /// A control tick: run the policy on what it can see and queue its commands behind
    /// their actuators; schedule the next tick.
    pub(crate) fn tick(&mut self, core: &mut Core, migs: &Migrations) {
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        let view = View {
            core,
            migs,
            capped: &self.capped,
        };
        self.policy.control(&view, &mut self.rng, &mut out);
        for cmd in out.drain(..) {
            let latency = self.setup.latencies.of(&cmd);
            let slot = match self.free.pop() {
                Some(i) => {
                    self.commands[i] = Some(cmd);
                    i
                }
                None => {
                    self.commands.push(Some(cmd));
                    self.commands.len() - 1
                }
            };
            core.after(latency, Event::Command(slot as u32));
        }
        self.out = out;
        let next = core.now().saturating_add(self.setup.period_ns);
        if next < core.sc.duration_ns {
            core.at(next, Event::Control);
        }
    }

    /// The command in `slot`, whose actuator latency has passed.
    pub(crate) fn take(&mut self, slot: usize) -> Option<Actuation> {
        let cmd = self.commands.get_mut(slot)?.take()?;
        self.free.push(slot);
        Some(cmd)
    }
}

/// What the policy sees: a read-only window onto the run through its sensors.
struct View<'a, 'b> {
    core: &'a Core<'b>,
    migs: &'a Migrations,
    capped: &'a [DeviceId],
}

impl View<'_, '_> {
    /// VMs on their way to `s` (not yet switched over): they already hold memory there
    /// and are about to use its CPU.
    fn arriving(&self, s: ServerId) -> impl Iterator<Item = VmId> + '_ {
        self.migs
            .at(s)
            .iter()
            .map(|&m| &self.migs.migs[m])
            .filter(move |mg| mg.dst == s && mg.switch_ns.is_none())
            .map(|mg| mg.vm)
    }
}

impl Observe for View<'_, '_> {
    fn now_ns(&self) -> u64 {
        self.core.now()
    }
    fn capped_devices(&self) -> &[DeviceId] {
        self.capped
    }
    fn device_cap_w(&self, d: DeviceId) -> Option<f64> {
        self.core.w.devices[d].cap_w
    }
    fn device_power_w(&self, d: DeviceId) -> Option<f64> {
        let r = self.core.sensors.device_reading(d, self.core.now())?;
        Some(r.value)
    }
    fn servers_under(&self, d: DeviceId) -> &[ServerId] {
        &self.core.w.under[d]
    }
    fn server_power_w(&self, s: ServerId) -> Option<f64> {
        if !self.core.w.servers[s].on {
            return None;
        }
        let r = self.core.sensors.server_reading(s, self.core.now())?;
        Some(r.value)
    }
    fn server_on(&self, s: ServerId) -> bool {
        self.core.w.servers[s].on
    }
    fn server_pstate(&self, s: ServerId) -> usize {
        self.core.w.servers[s].pstate
    }
    fn server_pstates(&self, s: ServerId) -> usize {
        self.core.w.servers[s].model.power.pstates.len()
    }
    fn server_cores(&self, s: ServerId) -> u32 {
        self.core.w.servers[s].model.power.cores
    }
    fn server_peak_w(&self, s: ServerId) -> f64 {
        self.core.w.servers[s].model.power.peak_w()
    }
    fn server_idle_w(&self, s: ServerId) -> f64 {
        self.core.w.servers[s].model.power.idle_w()
    }
    fn server_dynamic_ratio(&self, s: ServerId, from: usize, to: usize) -> f64 {
        let pm = &self.core.w.servers[s].model.power;
        let f = pm.dynamic_factor(from);
        if f > 0.0 {
            pm.dynamic_factor(to) / f
        } else {
            1.0
        }
    }
    fn server_nic_w_per_gbps(&self, s: ServerId) -> f64 {
        self.core.w.servers[s].model.power.nic_w_per_gbps
    }
    fn server_nic_bps(&self, s: ServerId) -> f64 {
        self.core.w.servers[s].model.nic_bps
    }
    fn server_idle_fraction(&self, s: ServerId) -> f64 {
        self.core.w.servers[s].idle_fraction
    }
    fn server_free_memory(&self, s: ServerId) -> u64 {
        let sv = &self.core.w.servers[s];
        let mem = |v: VmId| self.core.sc.vms[v.idx()].memory_bytes;
        let used: u64 =
            sv.vms.iter().map(|&v| mem(v)).sum::<u64>() + self.arriving(s).map(mem).sum::<u64>();
        sv.model.memory_bytes.saturating_sub(used)
    }
    fn server_vm_cpu(&self, s: ServerId) -> f64 {
        let sv = &self.core.w.servers[s];
        sv.vms.iter().map(|&v| self.vm_cpu(v)).sum::<f64>()
            + self.arriving(s).map(|v| self.vm_cpu(v)).sum::<f64>()
    }
    fn server_device(&self, s: ServerId) -> DeviceId {
        self.core.w.servers[s].device
    }
    fn server_vms(&self, s: ServerId) -> &[VmId] {
        &self.core.w.servers[s].vms
    }
    fn vm_cpu(&self, v: VmId) -> f64 {
        self.core
            .sensors
            .vm_reading(v, self.core.now())
            .map_or(0.0, |r| r.value)
    }
    fn vm_vcpus(&self, v: VmId) -> u32 {
        self.core.w.vms[v].vcpus
    }
    fn vm_priority(&self, v: VmId) -> u32 {
        self.core.sc.vms[v.idx()].priority
    }
    fn vm_memory(&self, v: VmId) -> u64 {
        self.core.sc.vms[v.idx()].memory_bytes
    }
    fn vm_policy_cap(&self, v: VmId) -> Option<f64> {
        self.core.w.vms[v].policy_cap
    }
    fn vm_migrating(&self, v: VmId) -> bool {
        self.core.w.vms[v].migration.is_some()
    }
    fn vm_running(&self, v: VmId) -> bool {
        self.core.w.vms[v].phase == VmPhase::Running
    }
}
