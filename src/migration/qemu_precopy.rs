//! QEMU RAM pre-copy (`migration/ram.c`, `migration/migration.c`).
//!
//! Passes over a dirty bitmap that starts all-ones; the log is synchronised into it when
//! a pass completes, or when the pending bytes look small. Switch-over happens once the
//! pending bytes fit in bandwidth × downtime limit; there is no round cap and no byte cap.
//! Auto-converge: over rate periods of ≥ 1 s, when the bytes dirtied exceed 50 % of the
//! bytes sent twice, throttle the guest 20 %, then +10 % per trigger up to 99 %.

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
    period_dirtied: u64,
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
                self.to_send.union_with(&ps.dirty.take());
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
            self.pass += 1;
            // Earlier syncs may have put pages behind the cursor into the bitmap.
            self.to_send.union_with(&ps.dirty.take());
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

    fn observe(&mut self, now_ns: u64, pages_written: u64, bytes_sent: u64) {
        if !self.auto_converge || self.last {
            return;
        }
        let start = *self.period_start_ns.get_or_insert(now_ns);
        self.period_dirtied += pages_written;
        self.period_sent_bytes += bytes_sent;
        if now_ns.saturating_sub(start) < self.period_ns {
            return;
        }
        // Newer QEMU does not throttle during the first pass.
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::StableRng;
    use crate::migration::{test_params, test_writes, Mechanism};
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
