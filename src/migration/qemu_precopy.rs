//! QEMU RAM pre-copy (`migration/ram.c`, `migration/migration.c`).
//!
//! Passes over a dirty bitmap that starts all-ones; the log is synchronised into it when
//! a pass completes, or when the pending bytes look small. Switch-over happens once the
//! pending bytes fit in bandwidth × downtime limit; there is no round cap and no byte cap.
//! Auto-converge (`migration_bitmap_sync` → `migration_trigger_throttle` in `ram.c`): it
//! is judged only at a bitmap sync, once more than a period (1 s) has passed since the
//! period began; the bytes dirtied are the pages each sync newly set in the bitmap
//! (`num_dirty_pages_period`: a page already pending, or rewritten many times between
//! syncs, counts once), against the bytes sent in the period. When they exceed 50 % of
//! them twice, throttle the guest 20 %, then +10 % per trigger up to 99 %. Not during the
//! first pass.

use super::{lowest_bits, Algorithm, Ctx, Next, PageState, Params, RoundStat};
use crate::model::memory::PAGE_SIZE;
use crate::model::pageset::PageSet;

/// State of one QEMU pre-copy.
#[derive(Clone, Debug)]
pub struct QemuPrecopy {
    batch_pages: u32,
    downtime_limit_s: f64,
    auto_converge: bool,
    throttle_initial: f64,
    throttle_increment: f64,
    throttle_max: f64,
    throttle_trigger: f64,
    period_ns: u64,
    pages: u32,
    to_send: PageSet,
    cursor: u32,
    pass: u32,
    sent_this: u32,
    last: bool,
    suspending: bool,
    finished: bool,
    throttle: f64,
    high_count: u32,
    period_start_ns: Option<u64>,
    /// Pages newly set in the bitmap by this period's syncs.
    period_dirtied: u64,
    /// Payload bytes sent in this period.
    period_sent_bytes: u64,
    rounds_done: Vec<RoundStat>,
}

impl QemuPrecopy {
    /// A pre-copy of a VM of `pages` pages.
    pub fn new(p: &Params, pages: u32) -> Self {
        QemuPrecopy {
            batch_pages: p.batch_pages,
            downtime_limit_s: p.downtime_limit_ns as f64 * 1e-9,
            auto_converge: p.auto_converge,
            throttle_initial: p.throttle_initial,
            throttle_increment: p.throttle_increment,
            throttle_max: p.throttle_max,
            throttle_trigger: p.throttle_trigger,
            period_ns: p.throttle_period_ns,
            pages,
            to_send: PageSet::full(pages),
            cursor: 0,
            pass: 1,
            sent_this: 0,
            last: false,
            suspending: false,
            finished: false,
            throttle: 0.0,
            high_count: 0,
            period_start_ns: None,
            period_dirtied: 0,
            period_sent_bytes: 0,
            rounds_done: Vec::new(),
        }
    }

    /// Takes up to `batch_pages` pages from the bitmap from the cursor on, in page-number
    /// order, a word at a time (test-and-clear as sent), leaving the cursor just past the
    /// last one. Returns the pages sent.
    fn fill(&mut self, ps: &mut PageState) -> u32 {
        let mut n = 0;
        while n < self.batch_pages && self.cursor < self.pages {
            let w = (self.cursor / 64) as usize;
            let cand = self.to_send.word(w) & (!0u64 << (self.cursor % 64));
            let take = lowest_bits(cand, self.batch_pages - n);
            if take != 0 {
                self.to_send.remove_word(w, take);
                ps.send_word(w, take);
                n += take.count_ones();
                if n == self.batch_pages {
                    // Full: stop just past its last page, as a page-by-page scan would
                    // (a sync may add pages after it before the next batch).
                    self.cursor = w as u32 * 64 + (64 - take.leading_zeros());
                    break;
                }
            }
            self.cursor = ((w as u64 + 1) * 64).min(self.pages as u64) as u32;
        }
        n
    }

    /// A bitmap sync at `now_ns`: the dirty log into the bitmap, counting the pages it
    /// newly sets, and auto-converge's check if its period is over.
    fn sync(&mut self, ps: &mut PageState, now_ns: u64) {
        let dirty = ps.dirty.take();
        let newly = dirty.count() - dirty.intersection_count(&self.to_send);
        self.to_send.union_with(&dirty);
        if !self.auto_converge || self.last {
            return;
        }
        self.period_dirtied += u64::from(newly);
        let start = *self.period_start_ns.get_or_insert(now_ns);
        // `end_time > time_last_bitmap_sync + 1000` (ms).
        if now_ns.saturating_sub(start) <= self.period_ns {
            return;
        }
        if self.pass > 1 {
            let dirtied_bytes = (self.period_dirtied * PAGE_SIZE) as f64;
            if dirtied_bytes > self.throttle_trigger * self.period_sent_bytes as f64 {
                self.high_count += 1;
                if self.high_count >= 2 {
                    self.high_count = 0;
                    self.throttle = if self.throttle == 0.0 {
                        self.throttle_initial
                    } else {
                        (self.throttle + self.throttle_increment).min(self.throttle_max)
                    };
                }
            }
        }
        self.period_start_ns = Some(now_ns);
        self.period_dirtied = 0;
        self.period_sent_bytes = 0;
    }

    fn record_pass(&mut self, dirtied: u32) {
        self.rounds_done.push(RoundStat {
            round: self.pass,
            sent: self.sent_this,
            skipped: 0,
            dirtied,
            last: self.last,
        });
        self.sent_this = 0;
    }
}

impl Algorithm for QemuPrecopy {
    fn next(&mut self, ps: &mut PageState, ctx: &Ctx) -> (Next, u32) {
        if self.finished {
            return (Next::Done, 0);
        }
        // The period starts with the first sync, at the start (ram_init_bitmaps).
        self.period_start_ns.get_or_insert(ctx.now_ns);
        if self.suspending {
            // The VM has stopped: everything still dirty goes in the final copy.
            self.suspending = false;
            self.last = true;
            self.to_send.union_with(&ps.dirty.take());
            self.cursor = 0;
        }
        if !self.last {
            // Switch-over test: pending bytes against bandwidth × downtime limit.
            let threshold_pages = ctx.rate_bps / 8.0 * self.downtime_limit_s / PAGE_SIZE as f64;
            if (self.to_send.count() as f64) < threshold_pages {
                // Exact dirty sync before deciding (migration_iteration_run).
                let dirtied = ps.dirty.count();
                self.sync(ps, ctx.now_ns);
                if (self.to_send.count() as f64) < threshold_pages {
                    self.record_pass(dirtied);
                    self.pass += 1;
                    self.suspending = true;
                    return (Next::Suspend, 0);
                }
            }
        }
        loop {
            let n = self.fill(ps);
            if n > 0 {
                self.sent_this += n;
                return (if self.last { Next::Final } else { Next::Live }, n);
            }
            if self.last {
                self.record_pass(0);
                self.finished = true;
                return (Next::Done, 0);
            }
            // A pass is complete: synchronise the dirty log into the bitmap.
            let dirtied = ps.dirty.count();
            self.record_pass(dirtied);
            // Earlier syncs may have put pages behind the cursor into the bitmap.
            self.sync(ps, ctx.now_ns);
            self.pass += 1;
            self.cursor = 0;
            if self.to_send.is_empty() {
                self.suspending = true;
                return (Next::Suspend, 0);
            }
        }
    }

    fn take_rounds(&mut self) -> Vec<RoundStat> {
        std::mem::take(&mut self.rounds_done)
    }

    fn rounds(&self) -> u32 {
        self.pass
    }

    fn throttle(&self) -> f64 {
        self.throttle
    }

    fn observe(&mut self, _now_ns: u64, _pages_written: u64, bytes_sent: u64) {
        // Writes count at the syncs (`sync`); only the bytes sent accumulate here.
        if self.auto_converge && !self.last {
            self.period_sent_bytes += bytes_sent;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::StableRng;
    use crate::migration::{test_params, test_writes, Mechanism};
    use crate::model::pageset::PageSink;
    use rand::{Rng, SeedableRng};

    impl QemuPrecopy {
        /// The page-by-page filling the word-at-a-time one replaced.
        fn fill_reference(&mut self, ps: &mut PageState) -> u32 {
            let mut n = 0;
            while n < self.batch_pages {
                let Some(p) = self.to_send.next_set(self.cursor) else {
                    self.cursor = self.pages;
                    break;
                };
                self.cursor = p + 1;
                self.to_send.remove(p);
                ps.send(p);
                n += 1;
            }
            n
        }
    }

    #[test]
    fn auto_converge_counts_pages_newly_dirty_at_each_sync_once_a_second() {
        // 1000 pages, one batch per pass, a link too slow to ever switch over. The hot
        // set, pages 0..600, is rewritten before every sync; `observe` reports a million
        // writes per interval, which must not count (QEMU counts bitmap bits, not writes).
        let mut p = test_params(Mechanism::QemuPrecopy, 1000);
        p.auto_converge = true;
        p.throttle_initial = 0.2;
        p.throttle_increment = 0.1;
        p.throttle_max = 0.99;
        p.throttle_trigger = 0.5;
        p.throttle_period_ns = 1_000_000_000;
        let mut a = QemuPrecopy::new(&p, 1000);
        let mut ps = PageState::new(1000);
        let ctx = |s: f64| Ctx {
            now_ns: (s * 1e9) as u64,
            rate_bps: 1.0,
            footprint_pages: 1000,
        };
        let page = PAGE_SIZE;
        // Pass 1 at 0 s (the period starts), 1000 pages sent by 0.8 s.
        assert_eq!(a.next(&mut ps, &ctx(0.0)), (Next::Live, 1000));
        a.observe(800_000_000, 1_000_000, 1000 * page);
        // 1.2 s: pass 1 ends; its sync sets 600 new bits but the first pass never
        // throttles; a new period starts at 1.2 s. Pass 2 sends the 600.
        ps.range(0, 600);
        assert_eq!(a.next(&mut ps, &ctx(1.2)), (Next::Live, 600));
        a.observe(1_500_000_000, 1_000_000, 600 * page);
        // 1.9 s: pass 2 ends after 0.7 s ≤ 1 s: the 600 new bits go into the period, no
        // check yet. Pass 3 sends them.
        ps.range(0, 600);
        assert_eq!(a.next(&mut ps, &ctx(1.9)), (Next::Live, 600));
        a.observe(2_100_000_000, 1_000_000, 600 * page);
        // 2.5 s: 1.3 s since 1.2 s: 1200 pages newly dirty (4.9 MB) > 50 % of the 1200
        // pages sent (2.5 MB): the first high count, no throttle yet.
        ps.range(0, 600);
        assert_eq!(a.next(&mut ps, &ctx(2.5)), (Next::Live, 600));
        assert_eq!(a.throttle(), 0.0);
        a.observe(2_900_000_000, 1_000_000, 600 * page);
        // 3.6 s (1.1 s on): 600 new bits, 600 pages sent: the second: throttle 20 %.
        ps.range(0, 600);
        assert_eq!(a.next(&mut ps, &ctx(3.6)), (Next::Live, 600));
        assert_eq!(a.throttle(), 0.2);
        // A page dirtied while still pending counts once: sync with all 600 pending and
        // the same 600 rewritten: newly 0 at 4.8 s (1.2 s on, none sent): no count, so
        // the next two qualifying periods are needed for +10 %.
        ps.range(0, 600);
        let mut b = a.clone();
        b.to_send.insert_range(0, 600);
        b.sync(&mut ps, 4_800_000_000);
        assert_eq!((b.high_count, b.throttle), (0, 0.2));
    }

    #[test]
    fn word_at_a_time_filling_matches_page_by_page() {
        let mut rng = StableRng::seed_from_u64(32);
        for case in 0..200 {
            let batch = [1, 7, 64, 100, 1024][case % 5];
            let p = test_params(Mechanism::QemuPrecopy, batch);
            // A few dozen batches per pass at most.
            let pages = rng.random_range(1..=(batch * 30).clamp(300, 5000));
            let mut a = QemuPrecopy::new(&p, pages);
            let mut pa = PageState::new(pages);
            // Start anywhere: a partly sent first pass, pages synced in behind and ahead
            // of the cursor.
            for _ in 0..rng.random_range(0..5) {
                a.fill(&mut pa);
                test_writes(&mut pa, &mut rng, pages);
                a.to_send.union_with(&pa.dirty.take());
            }
            let (mut b, mut pb) = (a.clone(), pa.clone());
            loop {
                let (na, nb) = (a.fill(&mut pa), b.fill_reference(&mut pb));
                assert_eq!(na, nb, "case {case}");
                assert_eq!(
                    (a.cursor, &a.to_send),
                    (b.cursor, &b.to_send),
                    "case {case}"
                );
                assert_eq!(pa, pb, "case {case}");
                if na == 0 {
                    break;
                }
                let mut r2 = rng.clone();
                test_writes(&mut pa, &mut rng, pages);
                test_writes(&mut pb, &mut r2, pages);
                if rng.random_bool(0.3) {
                    // A sync between batches (the switch-over test).
                    a.to_send.union_with(&pa.dirty.take());
                    b.to_send.union_with(&pb.dirty.take());
                }
            }
        }
    }
}
