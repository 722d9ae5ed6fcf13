//! The capping controller inside the simulation: a control tick every period, what the
//! policy may observe (device meters averaged over the period and delayed; server BMC
//! readings; hypervisor counters), and its commands applied after actuator latencies.

use super::event::Event;
use super::record::EventRow;
use super::run::Sim;
use crate::engine::rng::stream;
use crate::engine::{ScheduleError, SimTime};
use crate::model::vm::VmPhase;
use crate::policy::{Command, Observe, Policy};
use crate::scenario::config::PolicySetup;
use rand::rngs::StdRng;
use std::collections::VecDeque;

/// The controller's state in a run.
pub struct Control {
    policy: Box<dyn Policy>,
    rng: StdRng,
    setup: PolicySetup,
    /// Devices with a cap.
    pub capped: Vec<usize>,
    /// All servers below each device (indexed by device; empty for uncapped ones).
    pub under: Vec<Vec<usize>>,
    /// Energy of each capped device at the last tick, J.
    last_energy: Vec<f64>,
    /// Readings not yet visible (delay), newest last, per capped device position.
    pending: Vec<VecDeque<f64>>,
    /// The visible reading per device (indexed by device), W.
    pub visible: Vec<Option<f64>>,
    /// Commands waiting for their actuator.
    commands: Vec<Option<Command>>,
    free: Vec<usize>,
    out: Vec<Command>,
}

impl Control {
    /// Builds the controller for a world with `devices` devices (children lists given).
    pub fn new(
        setup: &PolicySetup,
        seed: u64,
        replicate: u32,
        caps: &[Option<f64>],
        under: Vec<Vec<usize>>,
    ) -> Self {
        let capped: Vec<usize> = (0..caps.len()).filter(|&d| caps[d].is_some()).collect();
        Control {
            policy: crate::policy::build(&setup.config),
            rng: stream(seed, replicate, "policy"),
            setup: setup.clone(),
            pending: vec![VecDeque::new(); capped.len()],
            last_energy: vec![0.0; capped.len()],
            visible: vec![None; caps.len()],
            capped,
            under,
            commands: Vec::new(),
            free: Vec::new(),
            out: Vec::new(),
        }
    }

    /// Control period, ns.
    pub fn period_ns(&self) -> u64 {
        self.setup.period_ns
    }
}

/// What the policy sees: a read-only window onto the simulation.
struct View<'a, 'b> {
    sim: &'a Sim<'b>,
    control: &'a Control,
}

impl Observe for View<'_, '_> {
    fn now_ns(&self) -> u64 {
        self.sim.now()
    }
    fn capped_devices(&self) -> &[usize] {
        &self.control.capped
    }
    fn device_cap_w(&self, d: usize) -> Option<f64> {
        self.sim.w.devices[d].cap_w
    }
    fn device_power_w(&self, d: usize) -> Option<f64> {
        self.control.visible[d]
    }
    fn servers_under(&self, d: usize) -> &[usize] {
        &self.control.under[d]
    }
    fn server_power_w(&self, s: usize) -> Option<f64> {
        // A BMC reading: the server's present power.
        let sv = &self.sim.w.servers[s];
        sv.on.then_some(sv.power_w)
    }
    fn server_on(&self, s: usize) -> bool {
        self.sim.w.servers[s].on
    }
    fn server_pstate(&self, s: usize) -> usize {
        self.sim.w.servers[s].pstate
    }
    fn server_pstates(&self, s: usize) -> usize {
        self.sim.w.servers[s].model.power.pstates.len()
    }
    fn server_cores(&self, s: usize) -> u32 {
        self.sim.w.servers[s].model.power.cores
    }
    fn server_peak_w(&self, s: usize) -> f64 {
        self.sim.w.servers[s].model.power.peak_w()
    }
    fn server_idle_w(&self, s: usize) -> f64 {
        self.sim.w.servers[s].model.power.idle_w()
    }
    fn server_dynamic_ratio(&self, s: usize, from: usize, to: usize) -> f64 {
        let pm = &self.sim.w.servers[s].model.power;
        let f = pm.dynamic_factor(from);
        if f > 0.0 {
            pm.dynamic_factor(to) / f
        } else {
            1.0
        }
    }
    fn server_nic_w_per_gbps(&self, s: usize) -> f64 {
        self.sim.w.servers[s].model.power.nic_w_per_gbps
    }
    fn server_idle_fraction(&self, s: usize) -> f64 {
        self.sim.w.servers[s].idle_fraction
    }
    fn server_free_memory(&self, s: usize) -> u64 {
        let sv = &self.sim.w.servers[s];
        let mut used: u64 = sv
            .vms
            .iter()
            .map(|&v| self.sim.sc.vms[v].memory_bytes)
            .sum();
        // VMs on their way here already hold memory.
        for &m in &self.sim.mig_at[s] {
            let mg = &self.sim.migs[m as usize];
            if mg.dst == s && mg.switch_ns.is_none() {
                used += self.sim.sc.vms[mg.vm].memory_bytes;
            }
        }
        sv.model.memory_bytes.saturating_sub(used)
    }
    fn server_vm_cpu(&self, s: usize) -> f64 {
        let sv = &self.sim.w.servers[s];
        let mut cpu: f64 = sv.vms.iter().map(|&v| self.sim.w.vms[v].alloc_cores).sum();
        for &m in &self.sim.mig_at[s] {
            let mg = &self.sim.migs[m as usize];
            if mg.dst == s && mg.switch_ns.is_none() {
                cpu += self.sim.w.vms[mg.vm].alloc_cores;
            }
        }
        cpu
    }
    fn server_device(&self, s: usize) -> usize {
        self.sim.w.servers[s].device
    }
    fn server_vms(&self, s: usize) -> &[usize] {
        &self.sim.w.servers[s].vms
    }
    fn vm_cpu(&self, v: usize) -> f64 {
        // The hypervisor's current share for the VM (xentop-like), cores.
        self.sim.w.vms[v].alloc_cores
    }
    fn vm_vcpus(&self, v: usize) -> u32 {
        self.sim.w.vms[v].vcpus
    }
    fn vm_priority(&self, v: usize) -> u32 {
        self.sim.sc.vms[v].priority
    }
    fn vm_memory(&self, v: usize) -> u64 {
        self.sim.sc.vms[v].memory_bytes
    }
    fn vm_policy_cap(&self, v: usize) -> Option<f64> {
        self.sim.w.vms[v].policy_cap
    }
    fn vm_migrating(&self, v: usize) -> bool {
        self.sim.w.vms[v].migration.is_some()
    }
    fn vm_running(&self, v: usize) -> bool {
        self.sim.w.vms[v].phase == VmPhase::Running
    }
}

impl Sim<'_> {
    /// A control tick: close the devices' meter windows, run the policy, queue its
    /// commands behind their actuators, and schedule the next tick.
    pub(super) fn control_tick(&mut self) -> Result<(), ScheduleError> {
        let now = self.now();
        let Some(mut c) = self.control.take() else {
            return Ok(());
        };
        let period_s = c.setup.period_ns as f64 / 1e9;
        for (i, &d) in c.capped.iter().enumerate() {
            let e = self.w.devices[d].energy_at(now);
            let reading = (e - c.last_energy[i]) / period_s;
            c.last_energy[i] = e;
            c.pending[i].push_back(reading);
            while c.pending[i].len() > c.setup.delay_periods as usize {
                c.visible[d] = c.pending[i].pop_front();
            }
        }
        let mut out = std::mem::take(&mut c.out);
        out.clear();
        // The policy and its stream leave the controller while it looks at the world.
        let mut rng = std::mem::replace(&mut c.rng, stream(0, 0, ""));
        let mut policy = std::mem::replace(&mut c.policy, Box::new(crate::policy::none::NoCapping));
        policy.control(
            &View {
                sim: self,
                control: &c,
            },
            &mut rng,
            &mut out,
        );
        c.policy = policy;
        c.rng = rng;
        for cmd in out.drain(..) {
            let at = now.saturating_add(c.setup.latencies.of(&cmd));
            let slot = match c.free.pop() {
                Some(i) => {
                    c.commands[i] = Some(cmd);
                    i
                }
                None => {
                    c.commands.push(Some(cmd));
                    c.commands.len() - 1
                }
            };
            self.q.schedule(SimTime(at), Event::Command(slot as u32))?;
        }
        c.out = out;
        let next = now + c.setup.period_ns;
        self.control = Some(c);
        if next < self.sc.duration_ns {
            self.q.schedule(SimTime(next), Event::Control)?;
        }
        Ok(())
    }

    /// A command's actuator has done its work.
    pub(super) fn apply_command(&mut self, slot: usize) -> Result<(), ScheduleError> {
        let Some(c) = self.control.as_mut() else {
            return Ok(());
        };
        let Some(cmd) = c.commands[slot].take() else {
            return Ok(());
        };
        c.free.push(slot);
        let now = self.now();
        match cmd {
            Command::SetPstate { server, pstate } => {
                let sv = &self.w.servers[server];
                if !sv.on || pstate >= sv.model.power.pstates.len() || sv.pstate == pstate {
                    return Ok(());
                }
                self.sync_server(server);
                self.w.servers[server].pstate = pstate;
                self.log.push(EventRow {
                    time_ns: now,
                    kind: "policy_pstate",
                    entity: self.w.servers[server].name.clone(),
                    detail: format!("pstate={pstate}"),
                });
                self.reallocate(server)
            }
            Command::SetVmCap { vm, cap } => {
                if self.w.vms[vm].policy_cap == cap {
                    return Ok(());
                }
                let host = self.w.vms[vm].host;
                self.sync_server(host);
                self.w.vms[vm].policy_cap = cap;
                let row = self.row(
                    "policy_vm_cap",
                    vm,
                    cap.map_or("cap_cores=none".into(), |c| format!("cap_cores={c}")),
                );
                self.log.push(row);
                self.reallocate(host)
            }
            Command::SetIdle { server, fraction } => {
                let f = fraction.clamp(0.0, 0.99);
                if self.w.servers[server].idle_fraction == f || !self.w.servers[server].on {
                    return Ok(());
                }
                self.sync_server(server);
                self.w.servers[server].idle_fraction = f;
                self.log.push(EventRow {
                    time_ns: now,
                    kind: "policy_idle",
                    entity: self.w.servers[server].name.clone(),
                    detail: format!("idle_fraction={f}"),
                });
                self.reallocate(server)
            }
            Command::Migrate { vm, to, params } => {
                let row = self.row(
                    "policy_migrate",
                    vm,
                    format!("to={} algorithm={}", self.w.servers[to].name, params.preset),
                );
                self.log.push(row);
                self.mig_start(vm, to, params)
            }
        }
    }
}
