//! The migrating VM's memory activity between batches: its writes go into the dirty log
//! before the switch-over; after a post-copy switch its touches of pages not yet at the
//! destination are demand faults, which stall its vCPUs and cost the source dom0 CPU.
//! Also the caps a migration puts on its VM (auto-converge, power-aware cap).

use super::Migrations;
use crate::migration::{Algorithm, PageState};
use crate::model::ids::MigrationId;
use crate::model::pageset::{range_mask, PageSink};
use crate::sim::log::LogEvent;
use crate::sim::migration::Phase;
use crate::sim::state::Core;

/// Post-copy: the VM's touches at the destination. A touched page that has not arrived
/// yet is a demand fault: it is sent at once and the algorithm told. Pages already there
/// cost nothing, so a range or word of touches is one AND with `stale` per bitmap word,
/// and only the missing pages are seen one by one (in increasing order).
pub(crate) struct FaultSink<'a> {
    pub ps: &'a mut PageState,
    pub algo: &'a mut dyn Algorithm,
    /// Faults so far.
    pub faults: u64,
    /// Most faults the interval can hold.
    pub budget: u64,
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

impl Migrations {
    /// Applies the VM's writes since the last call: into the dirty log before the
    /// switch, as demand faults after it (post-copy).
    pub(crate) fn apply_writes(&mut self, core: &mut Core, m: MigrationId) {
        let now = core.now();
        let vm = self.migs[m].vm;
        core.sync_server(core.w.vms[vm].host);
        let post = self.migs[m].phase == Phase::Postcopy;
        let progress = core.w.vms[vm].progress;
        let exposure =
            (progress - self.migs[m].last_progress).max(0.0) / core.w.vms[vm].vcpus as f64;
        self.migs[m].last_progress = progress;
        let fault_time = self.fault_time_s(m);
        let v = &mut core.w.vms[vm];
        let mg = &mut self.migs[m];
        let (mut written, mut faults) = (0u64, 0u64);
        if let (Some(process), Some(rng), true) = (v.dirty.as_mut(), v.rng.as_mut(), exposure > 0.0)
        {
            if post {
                // A blocked vCPU touches nothing more: at most one fault per fault time
                // per vCPU fits in the interval. Pages beyond that stay missing and fault
                // when next touched.
                let wall = now.saturating_sub(mg.faults.last_tick_ns) as f64 / 1e9;
                let budget = (wall * v.vcpus as f64 / fault_time).ceil().max(1.0) as u64;
                let mut sink = FaultSink {
                    ps: &mut mg.ps,
                    algo: mg.algo.as_mut(),
                    faults: 0,
                    budget,
                };
                written = process.write_into(exposure, rng, &mut sink) as u64;
                faults = sink.faults;
            } else {
                written = process.write_into(exposure, rng, &mut mg.ps) as u64;
            }
        }
        let interval_bytes = std::mem::take(&mut mg.interval_bytes);
        mg.algo.observe(now, written, interval_bytes);
        if post {
            self.account_faults(core, m, faults, exposure, fault_time);
        }
    }

    /// Post-copy: turns the faults of the last interval into vCPU stall and source CPU.
    fn account_faults(
        &mut self,
        core: &mut Core,
        m: MigrationId,
        faults: u64,
        exposure: f64,
        per_fault_s: f64,
    ) {
        let now = core.now();
        let mg = &mut self.migs[m];
        let vm = mg.vm;
        mg.faults.total += faults;
        mg.pages_sent += faults;
        mg.bytes_sent += faults * crate::model::memory::PAGE_SIZE;
        let f = &mut mg.faults;
        let wall = now.saturating_sub(f.last_tick_ns) as f64 / 1e9;
        f.last_tick_ns = now;
        // Faults per second of full-speed execution, averaged with decay so one quiet
        // interval does not swing the stall estimate.
        f.window = (
            f.window.0 * 0.5 + faults as f64,
            f.window.1 * 0.5 + exposure,
        );
        let lambda = if f.window.1 > 0.0 {
            f.window.0 / f.window.1
        } else {
            0.0
        };
        // Share of time blocked when each full-speed second brings λ faults.
        let stall = (lambda * per_fault_s / (1.0 + lambda * per_fault_s)).clamp(0.0, 0.999);
        if wall > 0.0 {
            f.rate = faults as f64 / wall;
        }
        if (core.w.vms[vm].stall - stall).abs() > 1e-12 {
            core.touch_server(core.w.vms[vm].host);
            core.w.vms[vm].stall = stall;
        }
        // The source serves faults (and pushes) with dom0 CPU.
        self.dirty_demand.mark(m);
    }

    /// Auto-converge throttle and power-aware cap on the migrating VM.
    pub(crate) fn apply_throttle(&mut self, core: &mut Core, m: MigrationId) {
        let mg = &self.migs[m];
        if mg.switch_ns.is_some() {
            return;
        }
        let th = mg.algo.throttle();
        let vm = mg.vm;
        let vcpus = core.w.vms[vm].vcpus as f64;
        let throttle_cap = (th > 0.0).then_some((1.0 - th) * vcpus);
        let cap = match (mg.params.vm_cap, throttle_cap) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if core.w.vms[vm].migration_cap != cap {
            core.touch_server(core.w.vms[vm].host);
            core.w.vms[vm].migration_cap = cap;
            core.log(LogEvent::VmThrottle {
                mig: m,
                vm,
                throttle: th,
                cap_cores: cap.unwrap_or(vcpus),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::StableRng;
    use crate::migration::postcopy::Postcopy;
    use crate::migration::{Ctx, Next};
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
        let mut rng = StableRng::seed_from_u64(34);
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

    #[test]
    fn a_fault_budget_keeps_the_lowest_missing_pages() {
        // 128 pages all missing; a word of 10 touched pages with room for 3 faults: the
        // 3 lowest are fetched, the other 7 stay missing.
        let mut ps = PageState::new(128);
        let params = crate::migration::test_params(crate::migration::Mechanism::Postcopy, 64);
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
