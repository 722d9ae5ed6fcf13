//! A migration's life: refusal checks and start, setup, the switch-over, the source
//! copy's linger, dom0's clean-up, the end, and aborts. Each step changes state, marks
//! the hosts it touches and schedules the migration's next timer; rates, CPU and power
//! follow at the next settle.

use super::{Faults, Mig, Migrations, Phase, Tasks};
use crate::engine::rng::fast_stream;
use crate::migration::{algorithm, PageState, Params};
use crate::model::ids::{MigrationId, ServerId, VmId};
use crate::model::memory::DirtyProcess;
use crate::model::server::TaskOwner;
use crate::model::vm::VmPhase;
use crate::sim::event::{Event, Gen};
use crate::sim::log::{AbortReason, LogEvent, MigrationRefusal, MigrationTotals};
use crate::sim::state::Core;
use crate::sim::world::DOM0_WEIGHT;
use std::sync::Arc;

/// Why `vm` cannot move to `to` now, if it cannot.
fn refusal(core: &Core, vm: VmId, to: ServerId) -> Option<MigrationRefusal> {
    let v = &core.w.vms[vm];
    let dst = &core.w.servers[to];
    let used: u64 = dst
        .vms
        .iter()
        .map(|&x| core.sc.vms[x.idx()].memory_bytes)
        .sum();
    if v.phase != VmPhase::Running {
        Some(MigrationRefusal::VmNotRunning)
    } else if v.migration.is_some() {
        Some(MigrationRefusal::AlreadyMigrating)
    } else if v.host == to {
        Some(MigrationRefusal::AlreadyThere)
    } else if !dst.on {
        Some(MigrationRefusal::DestinationUnpowered)
    } else if used + core.sc.vms[vm.idx()].memory_bytes > dst.model.memory_bytes {
        Some(MigrationRefusal::DestinationMemoryFull)
    } else {
        None
    }
}

impl Migrations {
    /// (Re)schedules the migration's one pending event.
    pub(crate) fn timer(&mut self, core: &mut Core, m: MigrationId, delay_ns: u64) {
        let mg = &mut self.migs[m];
        mg.gen = mg.gen.wrapping_add(1);
        let gen = mg.gen;
        core.after(delay_ns, Event::Migration { mig: m, gen });
    }

    /// Makes the pending event stale.
    pub(crate) fn cancel_timer(&mut self, m: MigrationId) {
        let mg = &mut self.migs[m];
        mg.gen = mg.gen.wrapping_add(1);
    }

    /// Starts migrating `vm` to `to`, or logs why it cannot.
    pub(crate) fn start(&mut self, core: &mut Core, vm: VmId, to: ServerId, params: Arc<Params>) {
        if let Some(reason) = refusal(core, vm, to) {
            core.log(LogEvent::MigrationRefused { vm, to, reason });
            return;
        }
        let now = core.now();
        let src = core.w.vms[vm].host;
        let m = MigrationId::new(self.migs.len());
        core.touch_server(src);
        let (seed, replicate) = (core.sc.seed, core.sc.replicate);
        let memory = core.sc.vms[vm.idx()].memory.clone();
        let v = &mut core.w.vms[vm];
        let pages = v.memory_pages;
        v.migration = Some(m);
        if v.dirty.is_none() {
            v.dirty = memory.map(DirtyProcess::new);
        }
        if v.rng.is_none() {
            let name = format!("vm/{}/memory", v.name);
            v.rng = Some(fast_stream(seed, replicate, &name));
        }
        // Power-aware knobs, applied at once.
        let saved_weight = params
            .vm_weight
            .map(|w| std::mem::replace(&mut v.weight, w));
        v.migration_cap = params.vm_cap;
        let server = &mut core.w.servers[src];
        let saved_pstate = params
            .pstate
            .map(|p| std::mem::replace(&mut server.pstate, p));
        let setup = server.add_task(TaskOwner::Migration(m), params.setup_cpu, DOM0_WEIGHT, None);
        self.migs.push(Mig {
            vm,
            src,
            dst: to,
            algo: algorithm(&params, pages),
            ps: PageState::new(pages),
            phase: Phase::Setup,
            gen: 0,
            start_ns: now,
            switch_ns: None,
            end_ns: None,
            flow: None,
            net_bps: 0.0,
            rate_bps: 0.0,
            batch: None,
            reschedule: false,
            last_rate_ns: now,
            tasks: Tasks {
                setup: Some(setup),
                ..Tasks::default()
            },
            last_progress: 0.0,
            bytes_sent: 0,
            pages_sent: 0,
            faults: Faults {
                last_tick_ns: now,
                ..Faults::default()
            },
            interval_bytes: 0,
            energy_j: 0.0,
            power_w: (0.0, 0.0),
            energy_ns: now,
            saved_weight,
            saved_pstate,
            downtime_ns: 0,
            downtime_from: None,
            abort_reason: None,
            params: params.clone(),
        });
        self.attach(m);
        core.mark_power(to);
        core.log(LogEvent::MigrationStart {
            mig: m,
            vm,
            from: src,
            to,
            algorithm: Arc::from(params.preset.as_str()),
            pages,
        });
        self.timer(core, m, params.setup_ns);
    }

    /// The migration's pending event fired.
    pub(crate) fn on_event(&mut self, core: &mut Core, m: MigrationId, gen: Gen) {
        if self.migs[m].gen != gen {
            return;
        }
        match self.migs[m].phase {
            Phase::Setup => self.begin_transfer(core, m),
            Phase::Transfer | Phase::Postcopy | Phase::Suspending => self.on_batch_timer(core, m),
            Phase::Switching => {
                self.switch_over(core, m);
                self.migs[m].phase = Phase::Postcopy;
                let vm = self.migs[m].vm;
                core.log(LogEvent::PostcopyResumed { mig: m, vm });
                self.next(core, m);
            }
            Phase::Resume => self.resume_done(core, m),
            Phase::CleanupVm => {
                let (src, vm) = (self.migs[m].src, self.migs[m].vm);
                core.touch_server(src);
                if let Some(slot) = self.migs[m].tasks.ghost.take() {
                    core.w.servers[src].end_task(slot);
                }
                core.log(LogEvent::SourceVmGone { mig: m, vm });
                self.begin_cleanup_dom0(core, m);
            }
            Phase::CleanupDom0 => self.finish(core, m),
            Phase::Done | Phase::Aborted => {}
        }
    }

    /// End of setup: log-dirty on, sender and receiver start, the flow opens.
    fn begin_transfer(&mut self, core: &mut Core, m: MigrationId) {
        let (src, dst, vm) = (self.migs[m].src, self.migs[m].dst, self.migs[m].vm);
        core.touch_server(src);
        core.touch_server(dst);
        if let Some(slot) = self.migs[m].tasks.setup.take() {
            core.w.servers[src].end_task(slot);
        }
        let p = self.migs[m].params.clone();
        let owner = TaskOwner::Migration(m);
        let sender = core.w.servers[src].add_task(owner, 0.0, DOM0_WEIGHT, p.sender_cap);
        let receiver = core.w.servers[dst].add_task(owner, 0.0, DOM0_WEIGHT, None);
        let cap = p.bandwidth_cap_bps.map(|b| b / p.efficiency);
        let flow = self.net.add_flow(src.idx(), dst.idx(), &[], cap);
        if let Some(f) = flow {
            self.index_flow(f, Some(m));
        }
        let now = core.now();
        let mg = &mut self.migs[m];
        mg.tasks.sender = Some(sender);
        mg.tasks.receiver = Some(receiver);
        mg.flow = flow;
        mg.phase = Phase::Transfer;
        mg.last_progress = core.w.vms[vm].progress;
        mg.last_rate_ns = now;
        mg.faults.last_tick_ns = now;
        core.log(LogEvent::TransferStart { mig: m, vm });
        self.dirty_demand.mark(m);
        self.next(core, m);
    }

    /// Suspends the migrating VM (stop-and-copy, post-copy switch).
    pub(crate) fn suspend_vm(&mut self, core: &mut Core, m: MigrationId) {
        let vm = self.migs[m].vm;
        core.touch_server(core.w.vms[vm].host);
        core.w.vms[vm].suspended = true;
        self.migs[m].downtime_from = Some(core.now());
    }

    /// Moves the VM to the destination and lets it run there.
    fn switch_over(&mut self, core: &mut Core, m: MigrationId) {
        let now = core.now();
        let (vm, src, dst) = (self.migs[m].vm, self.migs[m].src, self.migs[m].dst);
        core.touch_server(src);
        core.touch_server(dst);
        core.w.servers[src].vms.retain(|&x| x != vm);
        core.w.servers[dst].vms.push(vm);
        let v = &mut core.w.vms[vm];
        v.host = dst;
        v.suspended = false;
        v.migration_cap = None;
        let mg = &mut self.migs[m];
        if let Some(w) = mg.saved_weight.take() {
            v.weight = w;
        }
        mg.switch_ns = Some(now);
        mg.last_progress = v.progress;
        if let Some(from) = mg.downtime_from.take() {
            mg.downtime_ns += now - from;
        }
        let downtime_s = mg.downtime_ns as f64 / 1e9;
        core.log(LogEvent::SwitchOver {
            mig: m,
            vm,
            downtime_s,
        });
    }

    /// Pre-copy: the destination is restored; the source copy lingers a while.
    fn resume_done(&mut self, core: &mut Core, m: MigrationId) {
        self.switch_over(core, m);
        let (src, vm, linger) = (
            self.migs[m].src,
            self.migs[m].vm,
            self.migs[m].params.cleanup_vm_ns,
        );
        // The source copy keeps running a little while (its last CPU demand).
        let (demand, weight) = (core.w.vms[vm].demand_cores, core.w.vms[vm].weight);
        let slot = core.w.servers[src].add_task(TaskOwner::Ghost(m), demand, weight, None);
        self.migs[m].tasks.ghost = Some(slot);
        self.migs[m].phase = Phase::CleanupVm;
        self.timer(core, m, linger);
    }

    /// Every page that will be needed is at the destination.
    pub(crate) fn transfer_done(&mut self, core: &mut Core, m: MigrationId) {
        let (src, dst, vm) = (self.migs[m].src, self.migs[m].dst, self.migs[m].vm);
        self.close_transfer(core, m);
        let mg = &self.migs[m];
        core.log(LogEvent::TransferEnd {
            mig: m,
            vm,
            pages_sent: mg.pages_sent,
            bytes_sent: mg.bytes_sent,
            resent: mg.ps.resent,
            faults: mg.faults.total,
        });
        core.touch_server(src);
        core.touch_server(dst);
        if self.migs[m].switch_ns.is_some() {
            // Post-copy: the VM already runs at the destination; it stalls no more.
            core.touch_server(core.w.vms[vm].host);
            core.w.vms[vm].stall = 0.0;
            self.begin_cleanup_dom0(core, m);
        } else {
            self.migs[m].phase = Phase::Resume;
            let d = self.migs[m].params.resume_ns;
            self.timer(core, m, d);
        }
    }

    fn begin_cleanup_dom0(&mut self, core: &mut Core, m: MigrationId) {
        let mg = &self.migs[m];
        let (src, cpu, dur) = (
            mg.src,
            mg.params.cleanup_dom0_cpu,
            mg.params.cleanup_dom0_ns,
        );
        core.touch_server(src);
        let owner = TaskOwner::Migration(m);
        let slot = core.w.servers[src].add_task(owner, cpu, DOM0_WEIGHT, None);
        self.migs[m].tasks.cleanup = Some(slot);
        self.migs[m].phase = Phase::CleanupDom0;
        self.timer(core, m, dur);
    }

    /// Ends every task the migration still holds and restores the source's p-state.
    fn release_hosts(&mut self, core: &mut Core, m: MigrationId) {
        let (src, dst) = (self.migs[m].src, self.migs[m].dst);
        core.touch_server(src);
        core.touch_server(dst);
        let t = &mut self.migs[m].tasks;
        for slot in [t.setup.take(), t.cleanup.take(), t.ghost.take()]
            .into_iter()
            .flatten()
        {
            core.w.servers[src].end_task(slot);
        }
        if let Some(p) = self.migs[m].saved_pstate.take() {
            core.w.servers[src].pstate = p;
        }
    }

    /// Integrates its energy up to now, takes it off both hosts and off the indexes.
    fn close(&mut self, core: &mut Core, m: MigrationId, phase: Phase) {
        self.integrate_energy(core.now(), m);
        let mg = &mut self.migs[m];
        mg.power_w = (0.0, 0.0);
        mg.phase = phase;
        mg.end_ns = Some(core.now());
        let vm = mg.vm;
        core.w.vms[vm].migration = None;
        self.detach(m);
        let (src, dst) = (self.migs[m].src, self.migs[m].dst);
        core.mark_power(src);
        core.mark_power(dst);
    }

    fn finish(&mut self, core: &mut Core, m: MigrationId) {
        self.release_hosts(core, m);
        self.close(core, m, Phase::Done);
        let mg = &self.migs[m];
        let totals = MigrationTotals {
            duration_s: (core.now() - mg.start_ns) as f64 / 1e9,
            downtime_s: mg.downtime_ns as f64 / 1e9,
            pages_sent: mg.pages_sent,
            bytes_sent: mg.bytes_sent,
            rounds: mg.rounds(),
            energy_j: mg.energy_j,
        };
        core.log(LogEvent::MigrationEnd {
            mig: m,
            vm: mg.vm,
            totals,
        });
    }

    /// Stops a migration part-way (a host lost power, or the VM was lost).
    pub(crate) fn abort(&mut self, core: &mut Core, m: MigrationId, reason: AbortReason) {
        if self.migs[m].phase.ended() {
            return;
        }
        let now = core.now();
        let (src, vm) = (self.migs[m].src, self.migs[m].vm);
        self.cancel_timer(m);
        self.close_transfer(core, m);
        self.release_hosts(core, m);
        core.touch_server(core.w.vms[vm].host);
        let v = &mut core.w.vms[vm];
        v.migration_cap = None;
        v.stall = 0.0;
        if v.suspended && v.host == src {
            // Still at the source: it simply resumes there.
            v.suspended = false;
        }
        let mg = &mut self.migs[m];
        if let Some(w) = mg.saved_weight.take() {
            v.weight = w;
        }
        if let Some(from) = mg.downtime_from.take() {
            mg.downtime_ns += now - from;
        }
        mg.abort_reason = Some(reason);
        self.close(core, m, Phase::Aborted);
        core.log(LogEvent::MigrationAborted { mig: m, vm, reason });
    }
}
