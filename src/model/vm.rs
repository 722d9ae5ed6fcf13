//! A VM's dynamic state: demand, CPU share, work-based progress.
//!
//! Demand is work: the demand fraction × vCPUs is the rate at which work arrives, in
//! core-seconds at P0 per second. Progress is CPU time × frequency factor in the same
//! unit. What the VM cannot run when it arrives (a quota, a slower p-state, forced idle,
//! a suspension, fault stalls, contention) is a backlog ([`super::backlog`]) that it runs
//! as soon as it can, on all its vCPUs. Both are integrated exactly between events, so
//! completion times, delays and slowdowns are exact.

use super::backlog::{self, Backlog, DelayHist};
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
    /// Current demand: the rate work arrives, core-seconds at P0 per second.
    pub demand_cores: f64,
    /// Current CPU allocation, cores.
    pub alloc_cores: f64,
    /// Current progress rate, core-seconds at P0 per second.
    pub rate: f64,
    /// Work done, core-seconds at P0.
    pub progress: f64,
    /// Work arrived, core-seconds at P0 (capped at `work_core_s`; the open-ended
    /// slowdown's numerator).
    pub demanded: f64,
    /// Work arrived and not yet done, and the delays of the work done.
    pub backlog: Backlog,
    /// The (progress rate, arrival rate) for which the pending backlog-drained event was
    /// scheduled, both core-s/s (`None`: none pending).
    pub drain_for: Option<(f64, f64)>,
    /// Generation of the pending backlog-drained event.
    pub drain_gen: crate::model::ids::Gen,
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
    /// Wake-ups per second while its vCPUs are not all busy.
    pub wakeups_per_s: f64,
    /// Time it ran work slower than work arrived (contention, caps, a slower clock it
    /// could not make up, forced idle), ns.
    pub throttled_ns: u64,
}

impl Vm {
    /// CPU it asks the scheduler for now on a host whose clock runs at `ff` of P0's,
    /// cores: all its vCPUs while it owes work, else what keeps up with arrivals at that
    /// clock (demand / `ff`, so a slower core is busier, not less loaded); nothing while
    /// suspended; less while stalled on faults.
    pub fn cpu_request(&self, ff: f64) -> f64 {
        if self.phase != VmPhase::Running || self.suspended {
            return 0.0;
        }
        let vcpus = self.vcpus as f64;
        let want = if self.owes_work() {
            vcpus
        } else if ff > 0.0 {
            (self.demand_cores / ff).min(vcpus)
        } else {
            0.0
        };
        want * (1.0 - self.stall)
    }

    /// Whether work has arrived that is not done yet (beyond rounding).
    pub fn owes_work(&self) -> bool {
        backlog::pending(self.demanded, self.progress)
    }

    /// The rate work arrives now, core-s/s: its demand, or 0 once a batch VM's whole
    /// work has arrived.
    pub fn arrival_rate(&self) -> f64 {
        match self.work_core_s {
            Some(w) if self.demanded >= w => 0.0,
            _ => self.demand_cores,
        }
    }

    /// Work arrived and not done, core-seconds at P0.
    pub fn backlog_core_s(&self) -> f64 {
        (self.demanded - self.progress).max(0.0)
    }

    /// Its effective cap, cores: the tighter of its own and a migration's.
    pub fn effective_cap(&self) -> Option<f64> {
        [self.cap_cores, self.migration_cap, self.policy_cap]
            .into_iter()
            .flatten()
            .reduce(f64::min)
    }

    /// Brings progress, arrived work and CPU time up to `now_ns`; an open-ended VM's
    /// delays go to `delays`.
    pub fn advance(&mut self, now_ns: u64, delays: &mut DelayHist) {
        if now_ns <= self.last_ns {
            // Already up to date (a server is synced several times in one instant).
            return;
        }
        let dt = now_ns.saturating_sub(self.last_ns) as f64 / 1e9;
        if self.suspended && self.phase == VmPhase::Running {
            self.downtime_ns += now_ns.saturating_sub(self.last_ns);
        }
        if self.phase == VmPhase::Running
            && !self.suspended
            && self.rate + 1e-9 < self.demand_cores * (1.0 - self.stall)
        {
            // Held back: it runs work slower than work arrives (fault stalls aside). A
            // slower clock it keeps up with by using more CPU is not holding it back.
            self.throttled_ns += now_ns.saturating_sub(self.last_ns);
        }
        if self.phase == VmPhase::Running {
            let hist = self.work_core_s.is_none().then_some(delays);
            (self.demanded, self.progress) = self.backlog.step(
                self.last_ns,
                now_ns,
                self.demanded,
                self.demand_cores,
                self.work_core_s.unwrap_or(f64::INFINITY),
                self.progress,
                self.rate,
                hist,
            );
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
