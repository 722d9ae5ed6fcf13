//! A VM's dynamic state: demand, CPU share, work-based progress.
//!
//! Progress is CPU time × frequency factor, in core-seconds at P0, integrated exactly
//! between events, so completion times and slowdowns are exact.

use super::ids::{MigrationId, ServerId};
use super::memory::DirtyProcess;
use super::workload::Demand;
use crate::engine::rng::FastRng;

/// Where a VM is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmPhase {
    /// Not started yet.
    Waiting,
    /// Running on its host.
    Running,
    /// Finished its work.
    Done,
    /// Its host lost power: its work is gone.
    Lost,
}

/// One VM during a run.
#[derive(Clone, Debug)]
pub struct Vm {
    /// Unique name.
    pub name: String,
    /// The server it runs on.
    pub host: ServerId,
    /// Virtual CPUs.
    pub vcpus: u32,
    /// Credit-scheduler weight.
    pub weight: f64,
    /// Credit-scheduler cap, cores.
    pub cap_cores: Option<f64>,
    /// Demand schedule (fraction of vCPUs over time since start).
    pub demand: Demand,
    /// Start time, ns.
    pub start_ns: u64,
    /// Work to do, core-seconds at P0 (`None`: open-ended).
    pub work_core_s: Option<f64>,
    /// Life phase.
    pub phase: VmPhase,
    /// Current demand, cores.
    pub demand_cores: f64,
    /// Current CPU allocation, cores.
    pub alloc_cores: f64,
    /// Current progress rate, core-seconds at P0 per second.
    pub rate: f64,
    /// Work done, core-seconds at P0.
    pub progress: f64,
    /// Work demanded, core-seconds at P0 (open-ended slowdown's numerator).
    pub demanded: f64,
    /// CPU used, core-seconds.
    pub cpu_s: f64,
    /// Accounting time, ns.
    pub last_ns: u64,
    /// When it finished or was lost, ns.
    pub end_ns: Option<u64>,
    /// Completion offset from start if alone on an idle host at P0, ns.
    pub baseline_ns: Option<u64>,
    /// Generation of the pending completion event.
    pub complete_gen: crate::model::ids::Gen,
    /// Memory allocation, 4 KiB pages.
    pub memory_pages: u32,
    /// How it writes its memory (absent: it never writes).
    pub dirty: Option<DirtyProcess>,
    /// The VM's own random stream for its writes, created on first use.
    pub rng: Option<FastRng>,
    /// Paused (stop-and-copy, post-copy switch): no CPU, no progress.
    pub suspended: bool,
    /// Fraction of time its vCPUs are blocked on post-copy page faults, [0, 1).
    pub stall: f64,
    /// A cap imposed by a migration (power-aware cap, auto-converge throttle), cores.
    pub migration_cap: Option<f64>,
    /// Time suspended so far, ns.
    pub downtime_ns: u64,
    /// The migration moving it, if any.
    pub migration: Option<MigrationId>,
    /// A CPU quota set by a capping policy, cores.
    pub policy_cap: Option<f64>,
    /// Time it got less CPU than it asked for, ns.
    pub throttled_ns: u64,
}

impl Vm {
    /// CPU it asks the scheduler for now, cores: nothing while suspended; less while
    /// stalled on faults.
    pub fn cpu_request(&self) -> f64 {
        if self.phase != VmPhase::Running || self.suspended {
            0.0
        } else {
            self.demand_cores * (1.0 - self.stall)
        }
    }

    /// Its effective cap, cores: the tighter of its own and a migration's.
    pub fn effective_cap(&self) -> Option<f64> {
        [self.cap_cores, self.migration_cap, self.policy_cap]
            .into_iter()
            .flatten()
            .reduce(f64::min)
    }

    /// Brings progress, demanded work and CPU time up to `now_ns`.
    pub fn advance(&mut self, now_ns: u64) {
        let dt = now_ns.saturating_sub(self.last_ns) as f64 / 1e9;
        if self.suspended && self.phase == VmPhase::Running {
            self.downtime_ns += now_ns.saturating_sub(self.last_ns);
        }
        if self.phase == VmPhase::Running
            && !self.suspended
            && self.alloc_cores + 1e-9 < self.demand_cores * (1.0 - self.stall)
        {
            self.throttled_ns += now_ns.saturating_sub(self.last_ns);
        }
        if self.phase == VmPhase::Running {
            self.progress += self.rate * dt;
            self.demanded += self.demand_cores * dt;
            self.cpu_s += self.alloc_cores * dt;
        }
        self.last_ns = self.last_ns.max(now_ns);
    }

    /// CPU used up to `now_ns` without changing state, core-seconds.
    pub fn cpu_at(&self, now_ns: u64) -> f64 {
        let dt = now_ns.saturating_sub(self.last_ns) as f64 / 1e9;
        if self.phase == VmPhase::Running {
            self.cpu_s + self.alloc_cores * dt
        } else {
            self.cpu_s
        }
    }

    /// Slowdown: completion time over the baseline for a VM with work; demanded over
    /// delivered work for an open-ended one. `None` when lost or unfinished.
    pub fn slowdown(&self) -> Option<f64> {
        match (self.phase, self.work_core_s) {
            (VmPhase::Lost, _) => None,
            (VmPhase::Done, Some(_)) => {
                let took = self.end_ns? - self.start_ns;
                let base = self.baseline_ns?;
                Some(took as f64 / base.max(1) as f64)
            }
            (_, Some(_)) => None,
            (_, None) => {
                if self.demanded <= 0.0 {
                    Some(1.0)
                } else if self.progress <= 0.0 {
                    None
                } else {
                    Some(self.demanded / self.progress)
                }
            }
        }
    }
}
