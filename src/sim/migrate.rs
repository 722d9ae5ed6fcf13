//! Live migrations inside the simulation: phases, page batches over the network, the
//! VM's writes between batches, and the CPU and power migration costs on both hosts.
//!
//! The page-choice policy is the algorithm's ([`crate::migration`]); everything physical
//! happens here through the same CPU scheduler, network and power models as the rest of
//! the world, so saturated and unsaturated hosts differ without special cases.

use super::event::Event;
use super::record::EventRow;
use super::run::Sim;
use crate::engine::rng::fast_stream;
use crate::engine::time::secs_to_nanos_ceil;
use crate::engine::{ScheduleError, SimTime};
use crate::migration::{algorithm, Algorithm, Ctx, Mechanism, Next, PageState, Params, Push};
use crate::model::memory::{DirtyProcess, PAGE_SIZE};
use crate::model::network::FlowId;
use crate::model::pageset::{range_mask, PageSink};
use crate::model::server::TaskOwner;
use crate::model::vm::VmPhase;
use crate::sim::world::DOM0_WEIGHT;
use std::sync::Arc;

/// Where a migration is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Connecting, creating the target domain, enabling log-dirty.
    Setup,
    /// Sending pages while the VM runs at the source (pre-copy).
    Transfer,
    /// Suspending the VM before the final copy.
    Suspending,
    /// Final pages sent; restoring the VM on the destination.
    Resume,
    /// Post-copy: suspended, minimal state on its way.
    Switching,
    /// Post-copy: running on the destination, pages arriving on demand and by push.
    Postcopy,
    /// The source copy of the VM lingers.
    CleanupVm,
    /// dom0 on the source finishes up.
    CleanupDom0,
    /// Finished.
    Done,
    /// Stopped because a host lost power or the VM ended.
    Aborted,
}

/// One live migration's state.
#[derive(Debug)]
pub struct Mig {
    /// VM index.
    pub vm: usize,
    /// Source server.
    pub src: usize,
    /// Destination server.
    pub dst: usize,
    /// Parameters.
    pub params: Arc<Params>,
    algo: Box<dyn Algorithm>,
    /// Exact page state.
    pub ps: PageState,
    /// Phase.
    pub phase: Phase,
    gen: u32,
    /// Start, ns.
    pub start_ns: u64,
    /// Switch-over (the VM starts running on the destination), ns.
    pub switch_ns: Option<u64>,
    /// End (clean-up finished, or aborted), ns.
    pub end_ns: Option<u64>,
    flow: Option<FlowId>,
    /// Payload rate the network offers, bit/s.
    net_bps: f64,
    /// Payload rate actually achieved (network and CPU), bit/s.
    pub rate_bps: f64,
    in_flight: Option<(Next, u32)>,
    bytes_left: f64,
    last_rate_ns: u64,
    setup_task: Option<usize>,
    sender: Option<usize>,
    receiver: Option<usize>,
    /// Task slot of the lingering source copy.
    pub ghost: Option<usize>,
    cleanup_task: Option<usize>,
    last_progress: f64,
    /// Payload bytes sent.
    pub bytes_sent: u64,
    /// Pages sent (batches and faults).
    pub pages_sent: u64,
    /// Post-copy demand faults.
    pub faults: u64,
    interval_bytes: u64,
    fault_rate: f64,
    fault_window: (f64, f64),
    last_tick_ns: u64,
    /// Extra energy of both hosts due to the migration, J.
    pub energy_j: f64,
    power_w: (f64, f64),
    energy_ns: u64,
    saved_weight: Option<f64>,
    saved_pstate: Option<usize>,
    /// VM downtime caused by this migration, ns.
    pub downtime_ns: u64,
    downtime_from: Option<u64>,
    /// Why it was aborted.
    pub abort_reason: Option<String>,
}

impl Mig {
    /// How long one demand fault blocks a vCPU, s: its round trip, plus half a push
    /// chunk already on the wire.
    fn fault_time_s(&self) -> f64 {
        let p = &self.params;
        let queue = if p.push != Push::None && self.rate_bps > 0.0 {
            0.5 * p.push_chunk_pages as f64 * PAGE_SIZE as f64 * 8.0 / self.rate_bps
        } else {
            0.0
        };
        p.fault_service_ns as f64 / 1e9 + queue
    }

    /// Payload moving now, bit/s: the achieved rate while a batch is on the wire.
    pub fn wire_bps(&self) -> f64 {
        if self.in_flight.is_some() {
            self.rate_bps
        } else {
            0.0
        }
    }

    /// Rounds (pre-copy passes) started.
    pub fn rounds(&self) -> u32 {
        self.algo.rounds()
    }
}

/// Post-copy: the VM's touches at the destination. A touched page that has not arrived
/// yet is a demand fault: it is sent at once and the algorithm told. Pages already there
/// cost nothing, so a range or word of touches is one AND with `stale` per bitmap word,
/// and only the missing pages are seen one by one (in increasing order).
struct FaultSink<'a> {
    ps: &'a mut PageState,
    algo: &'a mut dyn Algorithm,
    /// Faults so far.
    faults: u64,
    /// Most faults the interval can hold.
    budget: u64,
}

impl FaultSink<'_> {
    /// Faults on the pages of word `w` in `missing` (all missing).
    fn fault_word(&mut self, w: usize, missing: u64) {
        let room = self.budget.saturating_sub(self.faults);
        let mut missing = missing;
        if (missing.count_ones() as u64) > room {
            // Keep the lowest `room` pages of the word.
            let mut keep = 0u64;
            for _ in 0..room {
                let low = missing & missing.wrapping_neg();
                keep |= low;
                missing &= !low;
            }
            missing = keep;
        }
        if missing == 0 {
            return;
        }
        self.ps.send_word(w, missing);
        self.faults += missing.count_ones() as u64;
        let mut bits = missing;
        while bits != 0 {
            self.algo.on_fault(w as u32 * 64 + bits.trailing_zeros());
            bits &= bits - 1;
        }
    }
}

impl PageSink for FaultSink<'_> {
    fn page(&mut self, p: u32) {
        if self.ps.stale.contains(p) {
            self.fault_word((p / 64) as usize, 1u64 << (p % 64));
        }
    }
    fn range(&mut self, lo: u32, hi: u32) {
        if lo >= hi {
            return;
        }
        for w in (lo / 64) as usize..=((hi - 1) / 64) as usize {
            let missing = self.ps.stale.word(w) & range_mask(w, lo, hi);
            if missing != 0 {
                self.fault_word(w, missing);
            }
        }
    }
    fn word(&mut self, w: usize, bits: u64) {
        let missing = self.ps.stale.word(w) & bits;
        if missing != 0 {
            self.fault_word(w, missing);
        }
    }
}

fn pages_per_s(bps: f64) -> f64 {
    bps / 8.0 / PAGE_SIZE as f64
}

impl Sim<'_> {
    /// Starts migrating `vm` to `to` (a `migrate` action).
    pub(super) fn mig_start(
        &mut self,
        vm: usize,
        to: usize,
        params: Arc<Params>,
    ) -> Result<(), ScheduleError> {
        let now = self.now();
        let v = &self.w.vms[vm];
        let src = v.host;
        let refuse = |why: &str| EventRow {
            time_ns: now,
            kind: "migration_refused",
            entity: v.name.clone(),
            detail: format!("to={} reason={why}", self.w.servers[to].name),
        };
        let why = if v.phase != VmPhase::Running {
            Some("vm_not_running")
        } else if v.migration.is_some() {
            Some("already_migrating")
        } else if src == to {
            Some("already_there")
        } else if !self.w.servers[to].on {
            Some("destination_unpowered")
        } else if self.w.servers[to]
            .vms
            .iter()
            .map(|&x| self.sc.vms[x].memory_bytes)
            .sum::<u64>()
            + self.sc.vms[vm].memory_bytes
            > self.w.servers[to].model.memory_bytes
        {
            Some("destination_memory_full")
        } else {
            None
        };
        if let Some(why) = why {
            let row = refuse(why);
            self.log.push(row);
            return Ok(());
        }
        let m = self.migs.len();
        let pages = v.memory_pages;
        self.sync_server(src);
        let vmr = &mut self.w.vms[vm];
        vmr.migration = Some(m as u32);
        if vmr.dirty.is_none() {
            if let Some(p) = &self.sc.vms[vm].memory {
                vmr.dirty = Some(DirtyProcess::new(p.clone()));
            }
        }
        if vmr.rng.is_none() {
            vmr.rng = Some(fast_stream(
                self.sc.seed,
                self.sc.replicate,
                &format!("vm/{}/memory", vmr.name),
            ));
        }
        // Power-aware knobs, applied at once.
        let saved_weight = params
            .vm_weight
            .map(|w| std::mem::replace(&mut vmr.weight, w));
        vmr.migration_cap = params.vm_cap;
        let saved_pstate = params.pstate.map(|p| {
            let s = &mut self.w.servers[src];
            std::mem::replace(&mut s.pstate, p)
        });
        let setup_task = self.w.servers[src].add_task(
            TaskOwner::Migration(m as u32),
            params.setup_cpu,
            DOM0_WEIGHT,
            None,
        );
        let algo = algorithm(&params, pages);
        self.migs.push(Mig {
            vm,
            src,
            dst: to,
            algo,
            ps: PageState::new(pages),
            phase: Phase::Setup,
            gen: 0,
            start_ns: now,
            switch_ns: None,
            end_ns: None,
            flow: None,
            net_bps: 0.0,
            rate_bps: 0.0,
            in_flight: None,
            bytes_left: 0.0,
            last_rate_ns: now,
            setup_task: Some(setup_task),
            sender: None,
            receiver: None,
            ghost: None,
            cleanup_task: None,
            last_progress: 0.0,
            bytes_sent: 0,
            pages_sent: 0,
            faults: 0,
            interval_bytes: 0,
            fault_rate: 0.0,
            fault_window: (0.0, 0.0),
            last_tick_ns: now,
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
        self.mig_at[src].push(m as u32);
        self.mig_at[to].push(m as u32);
        self.mig_log(
            m,
            "migration_start",
            format!(
                "from={} to={} algorithm={} pages={pages}",
                self.w.servers[src].name, self.w.servers[to].name, params.preset
            ),
        );
        let setup = params.setup_ns;
        self.mig_timer(m, now + setup)?;
        self.reallocate(src)
    }

    fn mig_log(&mut self, m: usize, kind: &'static str, detail: String) {
        let row = EventRow {
            time_ns: self.now(),
            kind,
            entity: self.w.vms[self.migs[m].vm].name.clone(),
            detail,
        };
        self.log.push(row);
    }

    /// (Re)schedules the migration's one pending event.
    fn mig_timer(&mut self, m: usize, at: u64) -> Result<(), ScheduleError> {
        let mg = &mut self.migs[m];
        mg.gen = mg.gen.wrapping_add(1);
        let gen = mg.gen;
        self.q
            .schedule(SimTime(at), Event::Migration { mig: m as u32, gen })
    }

    fn mig_cancel_timer(&mut self, m: usize) {
        let mg = &mut self.migs[m];
        mg.gen = mg.gen.wrapping_add(1);
    }

    /// The migration's pending event fired.
    pub(super) fn mig_event(&mut self, m: usize, gen: u32) -> Result<(), ScheduleError> {
        if self.migs[m].gen != gen {
            return Ok(());
        }
        match self.migs[m].phase {
            Phase::Setup => self.mig_begin_transfer(m),
            Phase::Transfer | Phase::Postcopy | Phase::Suspending => {
                self.mig_advance_batch(m);
                if self.migs[m].in_flight.is_some() && self.migs[m].bytes_left > 0.5 {
                    // A post-copy tick while a push chunk is still on the wire: account
                    // the faults so far and keep the chunk going.
                    let now = self.now();
                    self.mig_apply_writes(m, now)?;
                    return self.mig_schedule_batch(m);
                }
                if let Some((_, n)) = self.migs[m].in_flight.take() {
                    let mg = &mut self.migs[m];
                    mg.pages_sent += n as u64;
                    let bytes = n as u64 * PAGE_SIZE;
                    mg.bytes_sent += bytes;
                    mg.interval_bytes += bytes;
                }
                self.mig_next(m)
            }
            Phase::Switching => {
                self.mig_switch_over(m)?;
                self.migs[m].phase = Phase::Postcopy;
                self.mig_log(m, "postcopy_resumed", String::new());
                self.mig_next(m)
            }
            Phase::Resume => {
                self.mig_switch_over(m)?;
                let mg = &self.migs[m];
                let (src, vm, linger) = (mg.src, mg.vm, mg.params.cleanup_vm_ns);
                // The source copy keeps running a little while (its last CPU demand).
                let demand = self.w.vms[vm].demand_cores;
                let slot = self.w.servers[src].add_task(
                    TaskOwner::Ghost(m as u32),
                    demand,
                    self.w.vms[vm].weight,
                    None,
                );
                self.migs[m].ghost = Some(slot);
                self.migs[m].phase = Phase::CleanupVm;
                let now = self.now();
                self.mig_timer(m, now + linger)?;
                self.reallocate(src)
            }
            Phase::CleanupVm => {
                let src = self.migs[m].src;
                self.sync_server(src);
                if let Some(slot) = self.migs[m].ghost.take() {
                    self.w.servers[src].end_task(slot);
                }
                self.mig_log(m, "source_vm_gone", String::new());
                self.mig_begin_cleanup_dom0(m)
            }
            Phase::CleanupDom0 => self.mig_finish(m),
            Phase::Done | Phase::Aborted => Ok(()),
        }
    }

    fn mig_begin_cleanup_dom0(&mut self, m: usize) -> Result<(), ScheduleError> {
        let (src, cpu, dur) = {
            let mg = &self.migs[m];
            (
                mg.src,
                mg.params.cleanup_dom0_cpu,
                mg.params.cleanup_dom0_ns,
            )
        };
        self.sync_server(src);
        let slot =
            self.w.servers[src].add_task(TaskOwner::Migration(m as u32), cpu, DOM0_WEIGHT, None);
        self.migs[m].cleanup_task = Some(slot);
        self.migs[m].phase = Phase::CleanupDom0;
        let now = self.now();
        self.mig_timer(m, now + dur)?;
        self.reallocate(src)
    }

    /// End of setup: log-dirty on, sender and receiver start, the flow opens.
    fn mig_begin_transfer(&mut self, m: usize) -> Result<(), ScheduleError> {
        let (src, dst, vm) = (self.migs[m].src, self.migs[m].dst, self.migs[m].vm);
        self.sync_server(src);
        self.sync_server(dst);
        if let Some(slot) = self.migs[m].setup_task.take() {
            self.w.servers[src].end_task(slot);
        }
        let p = self.migs[m].params.clone();
        let sender = self.w.servers[src].add_task(
            TaskOwner::Migration(m as u32),
            0.0,
            DOM0_WEIGHT,
            p.sender_cap,
        );
        let receiver =
            self.w.servers[dst].add_task(TaskOwner::Migration(m as u32), 0.0, DOM0_WEIGHT, None);
        let cap = p.bandwidth_cap_bps.map(|b| b / p.efficiency);
        let flow = self.net.add_flow(src, dst, &[], cap);
        let now = self.now();
        let mg = &mut self.migs[m];
        mg.sender = Some(sender);
        mg.receiver = Some(receiver);
        mg.flow = flow;
        mg.phase = Phase::Transfer;
        mg.last_progress = self.w.vms[vm].progress;
        mg.last_rate_ns = now;
        mg.last_tick_ns = now;
        self.mig_log(m, "transfer_start", String::new());
        self.network_changed()?;
        self.mig_next(m)
    }

    /// Applies the VM's writes (pre-copy) or touches (post-copy) since the last call,
    /// then asks the algorithm what to send next.
    fn mig_next(&mut self, m: usize) -> Result<(), ScheduleError> {
        let now = self.now();
        let vm = self.migs[m].vm;
        // The VM ended (finished its work or was lost): nothing more to wait for.
        if self.w.vms[vm].phase != VmPhase::Running {
            return match self.migs[m].phase {
                Phase::Postcopy => self.mig_transfer_done(m),
                _ if self.w.vms[vm].phase == VmPhase::Lost => self.mig_abort(m, "vm_lost"),
                _ => self.mig_apply_and_decide(m, now),
            };
        }
        self.mig_apply_and_decide(m, now)
    }

    fn mig_apply_and_decide(&mut self, m: usize, now: u64) -> Result<(), ScheduleError> {
        self.mig_apply_writes(m, now)?;
        self.mig_decide(m, now)
    }

    /// Applies the VM's writes since the last call: into the dirty log before the
    /// switch, as demand faults after it (post-copy).
    fn mig_apply_writes(&mut self, m: usize, now: u64) -> Result<(), ScheduleError> {
        let vm = self.migs[m].vm;
        let host = self.w.vms[vm].host;
        self.sync_server(host);
        let post = self.migs[m].phase == Phase::Postcopy;
        let progress = self.w.vms[vm].progress;
        let exposure =
            (progress - self.migs[m].last_progress).max(0.0) / self.w.vms[vm].vcpus as f64;
        self.migs[m].last_progress = progress;
        let mut written = 0u64;
        let mut faults = 0u64;
        {
            let vmr = &mut self.w.vms[vm];
            let mg = &mut self.migs[m];
            if let (Some(proc_), Some(rng)) = (vmr.dirty.as_mut(), vmr.rng.as_mut()) {
                if exposure > 0.0 {
                    if post {
                        // A blocked vCPU touches nothing more: at most one fault per
                        // fault time per vCPU fits in the interval. Pages beyond that
                        // stay missing and fault when next touched.
                        let wall = now.saturating_sub(mg.last_tick_ns) as f64 / 1e9;
                        let budget = (wall * vmr.vcpus as f64 / mg.fault_time_s())
                            .ceil()
                            .max(1.0) as u64;
                        let mut sink = FaultSink {
                            ps: &mut mg.ps,
                            algo: mg.algo.as_mut(),
                            faults: 0,
                            budget,
                        };
                        written = proc_.write_into(exposure, rng, &mut sink) as u64;
                        faults = sink.faults;
                    } else {
                        written = proc_.write_into(exposure, rng, &mut mg.ps) as u64;
                    }
                }
            }
        }
        let interval_bytes = std::mem::take(&mut self.migs[m].interval_bytes);
        self.migs[m].algo.observe(now, written, interval_bytes);
        if post {
            self.mig_account_faults(m, now, faults, exposure)?;
        }
        Ok(())
    }

    /// Asks the algorithm what to send next and starts it.
    fn mig_decide(&mut self, m: usize, now: u64) -> Result<(), ScheduleError> {
        let vm = self.migs[m].vm;
        let ctx = Ctx {
            now_ns: now,
            rate_bps: self.migs[m].rate_bps,
            footprint_pages: self.sc.vms[vm]
                .memory
                .as_ref()
                .map_or(0, |p| p.footprint_pages),
        };
        let (next, n) = {
            let mg = &mut self.migs[m];
            mg.algo.next(&mut mg.ps, &ctx)
        };
        for r in self.migs[m].algo.take_rounds() {
            self.mig_log(
                m,
                "migration_round",
                format!(
                    "round={} sent={} skipped={} dirtied={} last={}",
                    r.round, r.sent, r.skipped, r.dirtied, r.last
                ),
            );
        }
        self.mig_apply_throttle(m)?;
        match next {
            Next::Live | Next::Final | Next::Push => {
                let mg = &mut self.migs[m];
                let was_idle = mg.in_flight.is_none();
                mg.in_flight = Some((next, n));
                mg.bytes_left = n as f64 * PAGE_SIZE as f64;
                mg.last_rate_ns = now;
                if was_idle {
                    // The sender and receiver wake up (CPU, NIC); this also schedules the batch.
                    self.mig_set_demands(m)?;
                }
                self.mig_schedule_batch(m)
            }
            Next::Suspend => {
                self.mig_set_demands(m)?;
                self.mig_suspend_vm(m)?;
                self.migs[m].phase = Phase::Suspending;
                self.mig_log(m, "suspend", format!("round={}", self.migs[m].rounds()));
                let d = self.migs[m].params.suspend_ns;
                self.mig_timer(m, now + d)
            }
            Next::Switch => {
                // Post-copy: suspend and ship the minimal state.
                self.mig_set_demands(m)?;
                self.mig_suspend_vm(m)?;
                self.migs[m].phase = Phase::Switching;
                self.mig_log(m, "suspend", "postcopy_switch".into());
                let d = self.migs[m].params.switch_ns;
                self.mig_timer(m, now + d)
            }
            Next::Wait => {
                self.mig_set_demands(m)?;
                let d = self.migs[m].params.tick_ns;
                self.mig_timer(m, now + d)
            }
            Next::Done => self.mig_transfer_done(m),
        }
    }

    /// Post-copy: turns the faults of the last interval into vCPU stall and source CPU.
    fn mig_account_faults(
        &mut self,
        m: usize,
        now: u64,
        faults: u64,
        exposure: f64,
    ) -> Result<(), ScheduleError> {
        let vm = self.migs[m].vm;
        let mg = &mut self.migs[m];
        mg.faults += faults;
        mg.pages_sent += faults;
        mg.bytes_sent += faults * PAGE_SIZE;
        let wall = now.saturating_sub(mg.last_tick_ns) as f64 / 1e9;
        mg.last_tick_ns = now;
        // Faults per second of full-speed execution, averaged with decay so one quiet
        // interval does not swing the stall estimate.
        let (f, e) = mg.fault_window;
        mg.fault_window = (f * 0.5 + faults as f64, e * 0.5 + exposure);
        let lambda = if mg.fault_window.1 > 0.0 {
            mg.fault_window.0 / mg.fault_window.1
        } else {
            0.0
        };
        let per_fault = mg.fault_time_s();
        // Share of time blocked when each full-speed second brings λ faults.
        let stall = lambda * per_fault / (1.0 + lambda * per_fault);
        mg.fault_rate = if wall > 0.0 {
            faults as f64 / wall
        } else {
            mg.fault_rate
        };
        let stall = stall.clamp(0.0, 0.999);
        let host = self.w.vms[vm].host;
        let changed = (self.w.vms[vm].stall - stall).abs() > 1e-12;
        if changed {
            self.sync_server(host);
            self.w.vms[vm].stall = stall;
        }
        // The source serves faults (and pushes) with dom0 CPU.
        self.mig_set_demands(m)?;
        if changed {
            self.reallocate(host)?;
        }
        Ok(())
    }

    /// Auto-converge throttle and power-aware cap on the migrating VM.
    fn mig_apply_throttle(&mut self, m: usize) -> Result<(), ScheduleError> {
        let mg = &self.migs[m];
        if mg.switch_ns.is_some() {
            return Ok(());
        }
        let th = mg.algo.throttle();
        let vm = mg.vm;
        let vcpus = self.w.vms[vm].vcpus as f64;
        let throttle_cap = (th > 0.0).then_some((1.0 - th) * vcpus);
        let cap = match (mg.params.vm_cap, throttle_cap) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if self.w.vms[vm].migration_cap != cap {
            let host = self.w.vms[vm].host;
            self.sync_server(host);
            self.w.vms[vm].migration_cap = cap;
            self.mig_log(
                m,
                "vm_throttle",
                format!("throttle={th} cap_cores={}", cap.unwrap_or(vcpus)),
            );
            self.reallocate(host)?;
        }
        Ok(())
    }

    fn mig_suspend_vm(&mut self, m: usize) -> Result<(), ScheduleError> {
        let vm = self.migs[m].vm;
        let host = self.w.vms[vm].host;
        self.sync_server(host);
        let now = self.now();
        self.w.vms[vm].suspended = true;
        self.migs[m].downtime_from = Some(now);
        self.reallocate(host)
    }

    /// Moves the VM to the destination and lets it run there.
    fn mig_switch_over(&mut self, m: usize) -> Result<(), ScheduleError> {
        let now = self.now();
        let (vm, src, dst) = (self.migs[m].vm, self.migs[m].src, self.migs[m].dst);
        self.sync_server(src);
        self.sync_server(dst);
        self.w.servers[src].vms.retain(|&x| x != vm);
        self.w.servers[dst].vms.push(vm);
        let vmr = &mut self.w.vms[vm];
        vmr.host = dst;
        vmr.suspended = false;
        vmr.migration_cap = None;
        if let Some(w) = self.migs[m].saved_weight.take() {
            vmr.weight = w;
        }
        let mg = &mut self.migs[m];
        mg.switch_ns = Some(now);
        mg.last_progress = vmr.progress;
        if let Some(from) = mg.downtime_from.take() {
            mg.downtime_ns += now - from;
        }
        self.mig_log(
            m,
            "switch_over",
            format!("downtime_s={}", self.migs[m].downtime_ns as f64 / 1e9),
        );
        self.reallocate(src)?;
        self.reallocate(dst)
    }

    /// Every page that will be needed is at the destination.
    fn mig_transfer_done(&mut self, m: usize) -> Result<(), ScheduleError> {
        let (src, dst) = (self.migs[m].src, self.migs[m].dst);
        self.sync_server(src);
        self.sync_server(dst);
        self.mig_close_transfer(m);
        self.network_changed()?;
        let now = self.now();
        let mg = &self.migs[m];
        let detail = format!(
            "pages_sent={} bytes_sent={} resent={} faults={}",
            mg.pages_sent, mg.bytes_sent, mg.ps.resent, mg.faults
        );
        self.mig_log(m, "transfer_end", detail);
        if self.migs[m].switch_ns.is_some() {
            // Post-copy: the VM already runs at the destination.
            let vm = self.migs[m].vm;
            if self.w.vms[vm].stall != 0.0 {
                let host = self.w.vms[vm].host;
                self.sync_server(host);
                self.w.vms[vm].stall = 0.0;
                self.reallocate(host)?;
            }
            self.reallocate(src)?;
            self.reallocate(dst)?;
            self.mig_begin_cleanup_dom0(m)
        } else {
            self.migs[m].phase = Phase::Resume;
            let d = self.migs[m].params.resume_ns;
            self.mig_timer(m, now + d)?;
            self.reallocate(src)?;
            self.reallocate(dst)
        }
    }

    /// Ends sender and receiver and closes the flow (state only; the caller reallocates).
    fn mig_close_transfer(&mut self, m: usize) {
        let (src, dst) = (self.migs[m].src, self.migs[m].dst);
        self.mig_advance_batch(m);
        if let Some(slot) = self.migs[m].sender.take() {
            self.w.servers[src].end_task(slot);
        }
        if let Some(slot) = self.migs[m].receiver.take() {
            self.w.servers[dst].end_task(slot);
        }
        if let Some(f) = self.migs[m].flow.take() {
            self.net.remove_flow(f);
        }
        let mg = &mut self.migs[m];
        mg.in_flight = None;
        mg.net_bps = 0.0;
        mg.rate_bps = 0.0;
        self.mig_set_nic(src);
        self.mig_set_nic(dst);
    }

    fn mig_finish(&mut self, m: usize) -> Result<(), ScheduleError> {
        let now = self.now();
        let src = self.migs[m].src;
        self.sync_server(src);
        if let Some(slot) = self.migs[m].cleanup_task.take() {
            self.w.servers[src].end_task(slot);
        }
        if let Some(p) = self.migs[m].saved_pstate.take() {
            self.w.servers[src].pstate = p;
        }
        self.mig_power(m);
        let mg = &mut self.migs[m];
        mg.phase = Phase::Done;
        mg.end_ns = Some(now);
        let vm = mg.vm;
        self.w.vms[vm].migration = None;
        self.mig_detach(m);
        let mg = &self.migs[m];
        let detail = format!(
            "duration_s={} downtime_s={} pages_sent={} bytes_sent={} rounds={} energy_j={}",
            (now - mg.start_ns) as f64 / 1e9,
            mg.downtime_ns as f64 / 1e9,
            mg.pages_sent,
            mg.bytes_sent,
            mg.rounds(),
            mg.energy_j
        );
        self.mig_log(m, "migration_end", detail);
        self.reallocate(src)
    }

    /// Stops a migration part-way (a host lost power, or the VM was lost).
    pub(super) fn mig_abort(&mut self, m: usize, reason: &str) -> Result<(), ScheduleError> {
        if matches!(self.migs[m].phase, Phase::Done | Phase::Aborted) {
            return Ok(());
        }
        let now = self.now();
        let (src, dst, vm) = (self.migs[m].src, self.migs[m].dst, self.migs[m].vm);
        self.sync_server(src);
        self.sync_server(dst);
        self.mig_cancel_timer(m);
        self.mig_close_transfer(m);
        for slot in [
            self.migs[m].setup_task.take(),
            self.migs[m].cleanup_task.take(),
        ]
        .into_iter()
        .flatten()
        {
            self.w.servers[src].end_task(slot);
        }
        if let Some(slot) = self.migs[m].ghost.take() {
            self.w.servers[src].end_task(slot);
        }
        if let Some(p) = self.migs[m].saved_pstate.take() {
            self.w.servers[src].pstate = p;
        }
        let vmr = &mut self.w.vms[vm];
        vmr.migration = None;
        vmr.migration_cap = None;
        vmr.stall = 0.0;
        if vmr.suspended && vmr.host == src {
            // Still at the source: it simply resumes there.
            vmr.suspended = false;
        }
        if let Some(w) = self.migs[m].saved_weight.take() {
            vmr.weight = w;
        }
        self.mig_power(m);
        let mg = &mut self.migs[m];
        if let Some(from) = mg.downtime_from.take() {
            mg.downtime_ns += now - from;
        }
        mg.phase = Phase::Aborted;
        mg.end_ns = Some(now);
        mg.abort_reason = Some(reason.to_string());
        self.mig_detach(m);
        self.mig_log(m, "migration_aborted", format!("reason={reason}"));
        self.network_changed()?;
        if self.w.servers[src].on {
            self.reallocate(src)?;
        }
        if self.w.servers[dst].on {
            self.reallocate(dst)?;
        }
        Ok(())
    }

    fn mig_detach(&mut self, m: usize) {
        let (src, dst) = (self.migs[m].src, self.migs[m].dst);
        self.mig_at[src].retain(|&x| x as usize != m);
        self.mig_at[dst].retain(|&x| x as usize != m);
    }

    /// Brings the in-flight batch's remaining bytes up to now at the current rate.
    fn mig_advance_batch(&mut self, m: usize) {
        let now = self.now();
        let mg = &mut self.migs[m];
        if mg.in_flight.is_some() {
            let dt = now.saturating_sub(mg.last_rate_ns) as f64 / 1e9;
            mg.bytes_left = (mg.bytes_left - mg.rate_bps / 8.0 * dt).max(0.0);
        }
        mg.last_rate_ns = now;
    }

    /// Schedules the in-flight batch's completion at the current rate (or waits for a
    /// rate if there is none).
    fn mig_schedule_batch(&mut self, m: usize) -> Result<(), ScheduleError> {
        let now = self.now();
        let mg = &self.migs[m];
        if mg.in_flight.is_none() {
            return Ok(());
        }
        // Post-copy keeps accounting faults every tick even while a chunk is on the
        // wire (or stuck at rate zero); pre-copy only needs the batch's end.
        let tick = (mg.phase == Phase::Postcopy).then_some(now.saturating_add(mg.params.tick_ns));
        let done = (mg.rate_bps > 0.0)
            .then(|| now.saturating_add(secs_to_nanos_ceil(mg.bytes_left * 8.0 / mg.rate_bps)));
        match (done, tick) {
            (Some(d), Some(t)) => self.mig_timer(m, d.min(t)),
            (Some(d), None) => self.mig_timer(m, d),
            (None, Some(t)) => self.mig_timer(m, t),
            (None, None) => {
                // No rate: nothing moves until the network or CPU frees up.
                self.mig_cancel_timer(m);
                Ok(())
            }
        }
    }

    /// The network's shares changed: every flow whose rate moved gets new CPU demands.
    pub(super) fn network_changed(&mut self) -> Result<(), ScheduleError> {
        let changed = self.net.recompute();
        for f in changed {
            if let Some(m) = self.migs.iter().position(|mg| mg.flow == Some(f)) {
                self.mig_set_demands(m)?;
            }
        }
        Ok(())
    }

    /// Sets the sender's and receiver's CPU demand from the rate the network offers
    /// (plus fault service on a post-copy source) and reallocates both hosts.
    fn mig_set_demands(&mut self, m: usize) -> Result<(), ScheduleError> {
        let Some(flow) = self.migs[m].flow else {
            return Ok(());
        };
        let eff = self.migs[m].params.efficiency;
        let net = self.net.rate(flow) * eff;
        let (src, dst) = (self.migs[m].src, self.migs[m].dst);
        self.sync_server(src);
        self.sync_server(dst);
        let mg = &mut self.migs[m];
        mg.net_bps = net;
        let p = &mg.params;
        // Sender and receiver work only while a batch is on the wire.
        let pps = if mg.in_flight.is_some() {
            pages_per_s(net)
        } else {
            0.0
        };
        // Per-page CPU is measured at full speed; a slower p-state stretches it.
        let ff_src = self.w.servers[src].frequency_factor().max(1e-9);
        let ff_dst = self.w.servers[dst].frequency_factor().max(1e-9);
        let mut send = (pps * p.sender_cpu_per_page_s / ff_src).min(p.threads);
        if p.mechanism == Mechanism::Postcopy {
            // The memory server answers faults on its own thread, besides the push.
            send += mg.fault_rate * p.fault_cpu_s / ff_src;
        }
        let recv = (pps * p.receiver_cpu_per_page_s / ff_dst).min(p.threads);
        if let Some(s) = mg.sender {
            self.w.servers[src].tasks[s].demand = send;
        }
        if let Some(r) = mg.receiver {
            self.w.servers[dst].tasks[r].demand = recv;
        }
        self.reallocate(src)?;
        self.reallocate(dst)?;
        self.mig_refresh(m)?;
        // The wire may have started or stopped without any rate change.
        self.mig_set_nic(src);
        self.mig_set_nic(dst);
        self.update_power(src)?;
        self.update_power(dst)
    }

    /// Recomputes the achieved rate from the network's offer and the CPU the sender and
    /// receiver actually got; reschedules the batch and updates NIC power if it moved.
    pub(super) fn mig_refresh(&mut self, m: usize) -> Result<(), ScheduleError> {
        let mg = &self.migs[m];
        if mg.flow.is_none() {
            return Ok(());
        }
        let p = &mg.params;
        let mut pps = pages_per_s(mg.net_bps);
        let ff_src = self.w.servers[mg.src].frequency_factor().max(1e-9);
        let ff_dst = self.w.servers[mg.dst].frequency_factor().max(1e-9);
        if let Some(s) = mg.sender {
            let a = self.w.servers[mg.src].tasks[s].alloc * ff_src;
            if p.sender_cpu_per_page_s > 0.0 {
                // Post-copy fault service takes its CPU first.
                let serve = if p.mechanism == Mechanism::Postcopy {
                    mg.fault_rate * p.fault_cpu_s
                } else {
                    0.0
                };
                pps = pps.min((a - serve).max(0.0) / p.sender_cpu_per_page_s);
            }
        }
        if let Some(r) = mg.receiver {
            let a = self.w.servers[mg.dst].tasks[r].alloc * ff_dst;
            if p.receiver_cpu_per_page_s > 0.0 {
                pps = pps.min(a / p.receiver_cpu_per_page_s);
            }
        }
        let rate = pps * 8.0 * PAGE_SIZE as f64;
        if (rate - mg.rate_bps).abs() <= 1e-9 * rate.max(1.0) {
            return Ok(());
        }
        self.mig_advance_batch(m);
        self.migs[m].rate_bps = rate;
        self.mig_schedule_batch(m)?;
        let (src, dst) = (self.migs[m].src, self.migs[m].dst);
        self.mig_set_nic(src);
        self.mig_set_nic(dst);
        // NIC power changes without any CPU change: no reallocation (no recursion).
        self.update_power(src)?;
        self.update_power(dst)
    }

    /// NIC traffic of a server: the achieved rates of its migrations' batches on the
    /// wire, sent and received.
    fn mig_set_nic(&mut self, s: usize) {
        self.sync_server(s);
        let total: f64 = self.mig_at[s]
            .iter()
            .map(|&m| self.migs[m as usize].wire_bps())
            .sum();
        self.w.servers[s].nic_gbps = total / 1e9;
    }

    /// Integrates the migration's extra power up to now and recomputes it: on each host,
    /// power with everything minus power without this migration's CPU and traffic.
    pub(super) fn mig_power(&mut self, m: usize) {
        let now = self.now();
        let mg = &mut self.migs[m];
        let dt = now.saturating_sub(mg.energy_ns) as f64 / 1e9;
        mg.energy_j += (mg.power_w.0 + mg.power_w.1) * dt;
        mg.energy_ns = now;
        if matches!(mg.phase, Phase::Done | Phase::Aborted) {
            mg.power_w = (0.0, 0.0);
            return;
        }
        let marginal = |s: usize| -> f64 {
            let server = &self.w.servers[s];
            if !server.on {
                return 0.0;
            }
            let own_cpu: f64 = server
                .tasks
                .iter()
                .filter(|t| t.active && matches!(t.owner, TaskOwner::Migration(x) | TaskOwner::Ghost(x) if x as usize == m))
                .map(|t| t.alloc)
                .sum();
            let own_nic = self.migs[m].wire_bps() / 1e9;
            let pm = &server.model.power;
            pm.power_w(server.busy_cores, server.pstate, server.nic_gbps)
                - pm.power_w(
                    (server.busy_cores - own_cpu).max(0.0),
                    server.pstate,
                    (server.nic_gbps - own_nic).max(0.0),
                )
        };
        let (src, dst) = (self.migs[m].src, self.migs[m].dst);
        let w = (marginal(src), marginal(dst));
        self.migs[m].power_w = w;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migration::Next;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// Records the faults it is told about.
    #[derive(Debug, Default)]
    struct Faults(Vec<u32>);

    impl Algorithm for Faults {
        fn next(&mut self, _: &mut PageState, _: &Ctx) -> (Next, u32) {
            (Next::Wait, 0)
        }
        fn rounds(&self) -> u32 {
            1
        }
        fn on_fault(&mut self, page: u32) {
            self.0.push(page);
        }
    }

    #[test]
    fn fault_sink_faults_exactly_the_missing_pages_in_order() {
        // Touches as pages, ranges and words against the page-by-page rule: a touched
        // page not yet at the destination is sent and reported, once, in touch order.
        let mut rng = StdRng::seed_from_u64(34);
        for _ in 0..300 {
            let pages = rng.random_range(1..3000);
            let mut ps = PageState::new(pages);
            for _ in 0..rng.random_range(0..4000) {
                let p = rng.random_range(0..pages);
                if ps.stale.contains(p) {
                    ps.send(p);
                }
            }
            let (mut ref_ps, mut ref_algo, mut ref_faults) = (ps.clone(), Faults::default(), 0);
            let mut algo = Faults::default();
            // No budget limit here: this compares the word paths with page-at-a-time.
            let mut sink = FaultSink {
                ps: &mut ps,
                algo: &mut algo,
                faults: 0,
                budget: u64::MAX,
            };
            let mut touch = |p: u32| {
                if ref_ps.stale.contains(p) {
                    ref_ps.send(p);
                    ref_algo.on_fault(p);
                    ref_faults += 1;
                }
            };
            for _ in 0..20 {
                match rng.random_range(0..4) {
                    0 => {
                        let p = rng.random_range(0..pages);
                        sink.page(p);
                        touch(p);
                    }
                    1 => {
                        let lo = rng.random_range(0..pages);
                        let hi = rng.random_range(lo..=pages);
                        sink.range(lo, hi);
                        (lo..hi).for_each(&mut touch);
                    }
                    2 => {
                        let w = rng.random_range(0..sink.ps.stale.word_count());
                        let bits = rng.random::<u64>() & range_mask(w, 0, pages);
                        sink.word(w, bits);
                        (0..64)
                            .filter(|i| bits >> i & 1 == 1)
                            .for_each(|i| touch(w as u32 * 64 + i));
                    }
                    _ => {
                        let w = rng.random_range(0..sink.ps.stale.word_count());
                        let n = (sink.ps.stale.word_count() - w).min(3);
                        let words: Vec<u64> = (0..n)
                            .map(|i| rng.random::<u64>() & range_mask(w + i, 0, pages))
                            .collect();
                        sink.words(w, &words, !0 >> (64 - n));
                        for (i, &bits) in words.iter().enumerate() {
                            (0..64)
                                .filter(|b| bits >> b & 1 == 1)
                                .for_each(|b| touch(((w + i) * 64) as u32 + b));
                        }
                    }
                }
            }
            let faults = sink.faults;
            assert_eq!(faults, ref_faults);
            assert_eq!(ps, ref_ps);
            assert_eq!(algo.0, ref_algo.0);
        }
    }
}

#[cfg(test)]
mod budget_tests {
    use super::*;
    use crate::migration::postcopy::Postcopy;

    #[test]
    fn a_fault_budget_keeps_the_lowest_missing_pages() {
        // 128 pages all missing; a word of 10 touched pages with room for 3 faults: the
        // 3 lowest are fetched, the other 7 stay missing.
        let mut ps = PageState::new(128);
        let params = crate::scenario::migration::params(
            "t",
            "t",
            &crate::scenario::migration::MigrationFields {
                mechanism: Some("postcopy".into()),
                ..Default::default()
            },
            &Default::default(),
        )
        .unwrap();
        let mut algo = Postcopy::new(&params, 128);
        let mut sink = FaultSink {
            ps: &mut ps,
            algo: &mut algo,
            faults: 0,
            budget: 3,
        };
        sink.word(0, 0b11_1111_1111 << 4);
        assert_eq!(sink.faults, 3);
        // Pages 4, 5, 6 arrived; 7..=13 did not.
        assert!((4..7).all(|p| !ps.stale.contains(p)));
        assert!((7..14).all(|p| ps.stale.contains(p)));
    }
}
