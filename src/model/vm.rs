//! A VM's dynamic state: demand, CPU share, work-based progress.
//!
//! Progress is CPU time × frequency factor, in core-seconds at P0, integrated exactly
//! between events, so completion times and slowdowns are exact.

use super::workload::Demand;

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
    /// Server index.
    pub host: usize,
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
    pub complete_gen: u32,
}

impl Vm {
    /// Brings progress, demanded work and CPU time up to `now_ns`.
    pub fn advance(&mut self, now_ns: u64) {
        let dt = now_ns.saturating_sub(self.last_ns) as f64 * 1e-9;
        if self.phase == VmPhase::Running {
            self.progress += self.rate * dt;
            self.demanded += self.demand_cores * dt;
            self.cpu_s += self.alloc_cores * dt;
        }
        self.last_ns = self.last_ns.max(now_ns);
    }

    /// CPU used up to `now_ns` without changing state, core-seconds.
    pub fn cpu_at(&self, now_ns: u64) -> f64 {
        let dt = now_ns.saturating_sub(self.last_ns) as f64 * 1e-9;
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
