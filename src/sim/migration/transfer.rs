//! Pages on the wire: the algorithm's decisions, batches and their timers, the sender's
//! and receiver's CPU demand (from the rate the network offers) and the rate actually
//! achieved (bounded by the CPU they got). The last two run in the settle step, in that
//! order, around the CPU allocation.

use super::{Batch, Migrations, Phase};
use crate::migration::{Ctx, Mechanism, Next, Push};
use crate::model::ids::MigrationId;
use crate::model::memory::PAGE_SIZE;
use crate::model::vm::VmPhase;
use crate::sim::log::{AbortReason, LogEvent};
use crate::sim::state::Core;

/// 4 KiB pages per second at `bps` bit/s of payload.
fn pages_per_s(bps: f64) -> f64 {
    bps / 8.0 / PAGE_SIZE as f64
}

impl Migrations {
    /// Brings the batch's remaining bytes up to now at the current rate.
    pub(crate) fn advance_batch(&mut self, now: u64, m: MigrationId) {
        let mg = &mut self.migs[m];
        if let Some(b) = &mut mg.batch {
            let dt = now.saturating_sub(mg.last_rate_ns) as f64 / 1e9;
            b.bytes_left = (b.bytes_left - mg.rate_bps / 8.0 * dt).max(0.0);
        }
        mg.last_rate_ns = now;
    }

    /// Schedules the batch's completion at the current rate (post-copy also ticks to
    /// account faults while a chunk is on the wire); with no rate nothing moves until
    /// the network or the CPU frees up.
    pub(crate) fn schedule_batch(&mut self, core: &mut Core, m: MigrationId) {
        let mg = &self.migs[m];
        let Some(b) = mg.batch else { return };
        let tick = (mg.phase == Phase::Postcopy).then_some(mg.params.tick_ns);
        let done = (mg.rate_bps > 0.0)
            .then(|| crate::engine::time::secs_to_nanos_ceil(b.bytes_left * 8.0 / mg.rate_bps));
        match (done, tick) {
            (Some(d), Some(t)) => self.timer(core, m, d.min(t)),
            (Some(d), None) | (None, Some(d)) => self.timer(core, m, d),
            (None, None) => self.cancel_timer(m),
        }
    }

    /// A batch's timer fired: the batch is sent (or, post-copy, a tick passed while a
    /// chunk is still on the wire).
    pub(crate) fn on_batch_timer(&mut self, core: &mut Core, m: MigrationId) {
        let now = core.now();
        self.advance_batch(now, m);
        if self.migs[m].batch.is_some_and(|b| b.bytes_left > 0.5) {
            // Account the faults so far and keep the chunk going.
            self.apply_writes(core, m);
            self.schedule_batch(core, m);
            return;
        }
        if let Some(b) = self.migs[m].batch.take() {
            let mg = &mut self.migs[m];
            mg.pages_sent += b.pages as u64;
            let bytes = b.pages as u64 * PAGE_SIZE;
            mg.bytes_sent += bytes;
            mg.interval_bytes += bytes;
            // The sender and receiver idle unless the next decision sends again.
            self.dirty_demand.mark(m);
            let (src, dst) = (mg.src, mg.dst);
            core.mark_power(src);
            core.mark_power(dst);
        }
        self.next(core, m);
    }

    /// Applies the VM's writes (pre-copy) or touches (post-copy) since the last call,
    /// then asks the algorithm what to send next.
    pub(crate) fn next(&mut self, core: &mut Core, m: MigrationId) {
        let vm = self.migs[m].vm;
        // The VM ended (finished its work or was lost): nothing more to wait for.
        match core.w.vms[vm].phase {
            VmPhase::Running => {}
            _ if self.migs[m].phase == Phase::Postcopy => return self.transfer_done(core, m),
            VmPhase::Lost => return self.abort(core, m, AbortReason::VmLost),
            _ => {}
        }
        self.apply_writes(core, m);
        self.decide(core, m);
    }

    /// Asks the algorithm what to send next and starts it.
    fn decide(&mut self, core: &mut Core, m: MigrationId) {
        let vm = self.migs[m].vm;
        let ctx = Ctx {
            now_ns: core.now(),
            rate_bps: self.migs[m].rate_bps,
            footprint_pages: core.sc.vms[vm.idx()]
                .memory
                .as_ref()
                .map_or(0, |p| p.footprint_pages),
        };
        let (next, n) = {
            let mg = &mut self.migs[m];
            mg.algo.next(&mut mg.ps, &ctx)
        };
        for stat in self.migs[m].algo.take_rounds() {
            core.log(LogEvent::MigrationRound { mig: m, vm, stat });
        }
        self.apply_throttle(core, m);
        self.dirty_demand.mark(m);
        match next {
            Next::Live | Next::Final | Next::Push => {
                let mg = &mut self.migs[m];
                mg.batch = Some(Batch {
                    pages: n,
                    bytes_left: n as f64 * PAGE_SIZE as f64,
                });
                mg.last_rate_ns = core.now();
                // Timed at the settle, once the sender's CPU and the rate are known.
                mg.reschedule = true;
                self.dirty_rate.mark(m);
                let (src, dst) = (mg.src, mg.dst);
                core.mark_power(src);
                core.mark_power(dst);
            }
            Next::Suspend => {
                self.suspend_vm(core, m);
                self.migs[m].phase = Phase::Suspending;
                let round = Some(self.migs[m].rounds());
                core.log(LogEvent::Suspend { mig: m, vm, round });
                let d = self.migs[m].params.suspend_ns;
                self.timer(core, m, d);
            }
            Next::Switch => {
                // Post-copy: suspend and ship the minimal state.
                self.suspend_vm(core, m);
                self.migs[m].phase = Phase::Switching;
                core.log(LogEvent::Suspend {
                    mig: m,
                    vm,
                    round: None,
                });
                let d = self.migs[m].params.switch_ns;
                self.timer(core, m, d);
            }
            Next::Wait => {
                let d = self.migs[m].params.tick_ns;
                self.timer(core, m, d);
            }
            Next::Done => self.transfer_done(core, m),
        }
    }

    /// Settle step: the sender's and receiver's CPU demand from the rate the network
    /// offers (plus fault service on a post-copy source); marks both hosts for
    /// reallocation.
    pub(crate) fn set_demands(&mut self, core: &mut Core, m: MigrationId) {
        let Some(flow) = self.migs[m].flow else {
            return;
        };
        let eff = self.migs[m].params.efficiency;
        let net = self.net.rate(flow) * eff;
        let mg = &mut self.migs[m];
        mg.net_bps = net;
        let p = &mg.params;
        let (src, dst) = (mg.src, mg.dst);
        // Sender and receiver work only while a batch is on the wire.
        let pps = if mg.batch.is_some() {
            pages_per_s(net)
        } else {
            0.0
        };
        // Per-page CPU is measured at full speed; a slower p-state stretches it.
        let ff_src = core.w.servers[src].frequency_factor().max(1e-9);
        let ff_dst = core.w.servers[dst].frequency_factor().max(1e-9);
        let mut send = (pps * p.sender_cpu_per_page_s / ff_src).min(p.threads);
        if p.mechanism == Mechanism::Postcopy {
            // The memory server answers faults on its own thread, besides the push.
            send += mg.faults.rate * p.fault_cpu_s / ff_src;
        }
        let recv = (pps * p.receiver_cpu_per_page_s / ff_dst).min(p.threads);
        if let Some(s) = mg.tasks.sender {
            if core.w.servers[src].tasks[s].demand != send {
                core.touch_server(src);
                core.w.servers[src].tasks[s].demand = send;
            }
        }
        if let Some(r) = mg.tasks.receiver {
            if core.w.servers[dst].tasks[r].demand != recv {
                core.touch_server(dst);
                core.w.servers[dst].tasks[r].demand = recv;
            }
        }
        // The wire may have started or stopped without any CPU change.
        self.dirty_rate.mark(m);
    }

    /// Settle step, after the CPU allocation: the achieved rate from the network's offer
    /// and the CPU the sender and receiver got; re-times the batch if it moved (or a
    /// batch just started) and marks both hosts' power (their NICs).
    pub(crate) fn refresh(&mut self, core: &mut Core, m: MigrationId) {
        let mg = &self.migs[m];
        if mg.flow.is_none() {
            return;
        }
        let p = &mg.params;
        let mut pps = pages_per_s(mg.net_bps);
        let ff_src = core.w.servers[mg.src].frequency_factor().max(1e-9);
        let ff_dst = core.w.servers[mg.dst].frequency_factor().max(1e-9);
        if let (Some(s), true) = (mg.tasks.sender, p.sender_cpu_per_page_s > 0.0) {
            let a = core.w.servers[mg.src].tasks[s].alloc * ff_src;
            // Post-copy fault service takes its CPU first.
            let serve = if p.mechanism == Mechanism::Postcopy {
                mg.faults.rate * p.fault_cpu_s
            } else {
                0.0
            };
            pps = pps.min((a - serve).max(0.0) / p.sender_cpu_per_page_s);
        }
        if let (Some(r), true) = (mg.tasks.receiver, p.receiver_cpu_per_page_s > 0.0) {
            let a = core.w.servers[mg.dst].tasks[r].alloc * ff_dst;
            pps = pps.min(a / p.receiver_cpu_per_page_s);
        }
        let rate = pps * 8.0 * PAGE_SIZE as f64;
        let moved = (rate - mg.rate_bps).abs() > 1e-9 * rate.max(1.0);
        if !moved && !mg.reschedule {
            return;
        }
        self.advance_batch(core.now(), m);
        let mg = &mut self.migs[m];
        mg.rate_bps = rate;
        mg.reschedule = false;
        let (src, dst) = (mg.src, mg.dst);
        self.schedule_batch(core, m);
        core.mark_power(src);
        core.mark_power(dst);
    }

    /// Ends the sender and receiver and closes the flow.
    pub(crate) fn close_transfer(&mut self, core: &mut Core, m: MigrationId) {
        let (src, dst) = (self.migs[m].src, self.migs[m].dst);
        self.advance_batch(core.now(), m);
        core.touch_server(src);
        core.touch_server(dst);
        if let Some(slot) = self.migs[m].tasks.sender.take() {
            core.w.servers[src].end_task(slot);
        }
        if let Some(slot) = self.migs[m].tasks.receiver.take() {
            core.w.servers[dst].end_task(slot);
        }
        if let Some(f) = self.migs[m].flow.take() {
            self.net.remove_flow(f);
            self.index_flow(f, None);
        }
        let mg = &mut self.migs[m];
        mg.batch = None;
        mg.reschedule = false;
        mg.net_bps = 0.0;
        mg.rate_bps = 0.0;
        core.mark_power(src);
        core.mark_power(dst);
    }

    /// A post-copy demand fault blocks a vCPU for its round trip, plus half a push chunk
    /// already on the wire, s.
    pub(crate) fn fault_time_s(&self, m: MigrationId) -> f64 {
        let mg = &self.migs[m];
        let p = &mg.params;
        let queue = if p.push != Push::None && mg.rate_bps > 0.0 {
            0.5 * p.push_chunk_pages as f64 * PAGE_SIZE as f64 * 8.0 / mg.rate_bps
        } else {
            0.0
        };
        p.fault_service_ns as f64 / 1e9 + queue
    }
}
