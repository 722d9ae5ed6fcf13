//! A server's dynamic state: its domains' CPU shares, p-state, power and energy.

use super::idle::{IdleLoad, IdleStates};
use super::ids::{DeviceId, MigrationId, VmId};
use super::power::{PowerCurve, PowerModel};
use std::sync::Arc;

/// A server model from the library.
#[derive(Clone, Debug)]
pub struct ServerModel {
    /// Library name (file stem).
    pub name: String,
    /// Free text.
    pub description: String,
    /// Installed memory, bytes.
    pub memory_bytes: u64,
    /// NIC line rate, bit/s.
    pub nic_bps: f64,
    /// Cores, p-states and power.
    pub power: PowerModel,
    /// This host's dom0 costs of live migration, where known (they win over an
    /// algorithm preset's priors; a scenario's overrides win over them).
    pub dom0: HostMigrationCosts,
    /// Idle states of its cores and package (absent: idling costs nothing above the
    /// model's idle power, whatever the wake-ups).
    pub idle: Option<IdleStates>,
}

/// A host's measured (or assumed) dom0 CPU costs of live migration; `None` = use the
/// preset's. Only CPU costs live here: phase durations belong to the algorithm.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HostMigrationCosts {
    /// Sender CPU per 4 KiB page, s.
    pub sender_cpu_per_page_s: Option<f64>,
    /// Receiver CPU per 4 KiB page, s.
    pub receiver_cpu_per_page_s: Option<f64>,
    /// dom0 CPU during setup, cores.
    pub setup_cpu: Option<f64>,
    /// dom0 CPU during the clean-up after switch-over, cores.
    pub cleanup_dom0_cpu: Option<f64>,
    /// Post-copy: dom0 CPU per fault served, s.
    pub fault_cpu_s: Option<f64>,
}

/// Who a host task works for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskOwner {
    /// dom0's own background work (the scenario's `dom0_load`).
    Dom0,
    /// dom0 work for a migration: sending, receiving, setup, clean-up.
    Migration(MigrationId),
    /// The source copy of a migrated VM still running during clean-up.
    Ghost(MigrationId),
}

/// A CPU consumer on a server other than a guest VM: dom0 work or a VM's lingering copy.
/// Each is its own scheduler domain, so migration work competes with guests exactly as
/// the credit scheduler would make it.
#[derive(Clone, Debug, PartialEq)]
pub struct HostTask {
    /// Who it works for.
    pub owner: TaskOwner,
    /// CPU it wants, cores.
    pub demand: f64,
    /// Scheduler weight.
    pub weight: f64,
    /// Scheduler cap, cores.
    pub cap: Option<f64>,
    /// CPU it gets, cores.
    pub alloc: f64,
    /// CPU used so far, core-seconds (up to the server's `last_ns`).
    pub cpu_s: f64,
    /// False once finished (the slot may be reused).
    pub active: bool,
}

/// One server during a run.
#[derive(Clone, Debug)]
pub struct Server {
    /// Unique name.
    pub name: String,
    /// Shared model (cores, p-states, power curve).
    pub model: Arc<ServerModel>,
    /// The feeding device.
    pub device: DeviceId,
    /// Current p-state (0 = fastest).
    pub pstate: usize,
    /// False once a breaker above it has opened.
    pub on: bool,
    /// VMs placed here, in placement order.
    pub vms: Vec<VmId>,
    /// dom0 and other host tasks; slot 0 is dom0's own background work. Finished
    /// slots are reused, lowest first, so indices stay stable while a task lives.
    pub tasks: Vec<HostTask>,
    /// dom0 CPU of finished tasks, core-seconds.
    pub dom0_done_cpu_s: f64,
    /// CPU of finished source copies of migrated VMs, core-seconds.
    pub ghost_done_cpu_s: f64,
    /// Forced-idle fraction (idle injection): the cores' capacity shrinks by it, [0, 1).
    pub idle_fraction: f64,
    /// Data moved by the NIC, Gbit/s.
    pub nic_gbps: f64,
    /// CPU in use, cores.
    pub busy_cores: f64,
    /// Wake-ups per second of its VMs that are not fully busy (host tasks' are added
    /// from the model's `idle.dom0_wakeups`).
    pub vm_wakeups_per_s: f64,
    /// Present power, W.
    pub power_w: f64,
    /// Energy so far, J (up to `last_ns`).
    pub energy_j: f64,
    /// Time the accounting was last brought up to date, ns.
    pub last_ns: u64,
}

impl Server {
    /// Brings energy and task CPU up to `now_ns`.
    pub fn advance(&mut self, now_ns: u64) {
        let dt = now_ns.saturating_sub(self.last_ns) as f64 / 1e9;
        self.energy_j += self.power_w * dt;
        for t in &mut self.tasks {
            t.cpu_s += t.alloc * dt;
        }
        self.last_ns = self.last_ns.max(now_ns);
    }

    /// Adds a host task, reusing the lowest finished slot; returns its slot.
    pub fn add_task(
        &mut self,
        owner: TaskOwner,
        demand: f64,
        weight: f64,
        cap: Option<f64>,
    ) -> usize {
        let t = HostTask {
            owner,
            demand,
            weight,
            cap,
            alloc: 0.0,
            cpu_s: 0.0,
            active: true,
        };
        match self.tasks.iter().position(|t| !t.active) {
            Some(i) => {
                self.tasks[i] = t;
                i
            }
            None => {
                self.tasks.push(t);
                self.tasks.len() - 1
            }
        }
    }

    /// Ends a host task (call [`Server::advance`] first), keeping its CPU in the totals.
    pub fn end_task(&mut self, slot: usize) {
        let t = &mut self.tasks[slot];
        t.active = false;
        t.demand = 0.0;
        t.alloc = 0.0;
        let used = std::mem::take(&mut t.cpu_s);
        if matches!(t.owner, TaskOwner::Ghost(_)) {
            self.ghost_done_cpu_s += used;
        } else {
            self.dom0_done_cpu_s += used;
        }
    }

    /// Energy up to `now_ns` without changing state, J.
    pub fn energy_at(&self, now_ns: u64) -> f64 {
        self.energy_j + self.power_w * now_ns.saturating_sub(self.last_ns) as f64 / 1e9
    }

    /// dom0 CPU (every task but VM ghosts) up to `now_ns` without changing state,
    /// core-seconds.
    pub fn dom0_cpu_at(&self, now_ns: u64) -> f64 {
        let dt = now_ns.saturating_sub(self.last_ns) as f64 / 1e9;
        self.dom0_done_cpu_s
            + self
                .tasks
                .iter()
                .filter(|t| !matches!(t.owner, TaskOwner::Ghost(_)))
                .map(|t| t.cpu_s + t.alloc * dt)
                .sum::<f64>()
    }

    /// CPU of lingering source copies of migrated VMs up to `now_ns`, core-seconds.
    pub fn ghost_cpu_at(&self, now_ns: u64) -> f64 {
        let dt = now_ns.saturating_sub(self.last_ns) as f64 / 1e9;
        self.ghost_done_cpu_s
            + self
                .tasks
                .iter()
                .filter(|t| matches!(t.owner, TaskOwner::Ghost(_)))
                .map(|t| t.cpu_s + t.alloc * dt)
                .sum::<f64>()
    }

    /// dom0 CPU in use now (every task but VM ghosts), cores.
    pub fn dom0_alloc(&self) -> f64 {
        self.tasks
            .iter()
            .filter(|t| !matches!(t.owner, TaskOwner::Ghost(_)))
            .map(|t| t.alloc)
            .sum()
    }

    /// Power at the present CPU use, p-state and NIC traffic, W (0 when off).
    pub fn compute_power(&self) -> f64 {
        if !self.on {
            return 0.0;
        }
        let base = self
            .model
            .power
            .power_w(self.busy_cores, self.pstate, self.nic_gbps);
        match &self.model.idle {
            None => base,
            Some(idle) => {
                let tasks = self
                    .tasks
                    .iter()
                    // A migration's sender or receiver is what `dom0_wakeups` describes;
                    // dom0's background load is part of the model's own idle.
                    .filter(|t| {
                        t.active && t.alloc > 0.0 && matches!(t.owner, TaskOwner::Migration(_))
                    })
                    .count();
                let load = IdleLoad {
                    cores: self.model.power.cores as f64,
                    busy: self.busy_cores,
                    wakeups_per_s: self.vm_wakeups_per_s + tasks as f64 * idle.dom0_wakeups_per_s,
                    forced_idle: self.idle_fraction,
                };
                // A measured table already holds the idle states' cost at its own load
                // (model::idle's module doc): only the change from it is added.
                match self.model.power.curve {
                    PowerCurve::SpecPower { .. } => {
                        base + idle.measured_delta_w(load, self.vm_wakeups_per_s)
                    }
                    _ => base + idle.extra_w(load),
                }
            }
        }
    }

    /// How fast work progresses at the current p-state, relative to P0.
    pub fn frequency_factor(&self) -> f64 {
        self.model.power.frequency_factor(self.pstate)
    }
}
