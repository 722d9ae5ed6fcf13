//! Xen pre-copy (`xc_domain_save` in 3.x; migration stream v2 in 4.6+).
//!
//! Round 1 sends every page in page-number order; each later round sends the pages
//! dirtied during the previous one (CLEAN of the log-dirty bitmap). Xen 3.x skips a page
//! already re-dirtied in the current round (PEEK at each batch start) and stops after a
//! round with fewer than 50 pages sent + skipped, after 29 live rounds, or once 3× memory
//! has been sent; Xen 4.6+ sends the small dirty set live once more and stops, after at
//! most 5 live passes. Then the VM is suspended and the last dirty set sent.

use super::{lowest_bits, Algorithm, Ctx, Next, PageState, Params, RoundStat, XenStop};
use crate::model::pageset::PageSet;

/// State of one Xen pre-copy.
#[derive(Clone, Debug)]
pub struct XenPrecopy {
    batch_pages: u32,
    max_live_rounds: u32,
    max_factor: Option<f64>,
    stop_pages: u32,
    skip: bool,
    stop_rule: XenStop,
    pages: u32,
    to_send: PageSet,
    cursor: u32,
    round: u32,
    sent_this: u32,
    skipped_this: u32,
    total_sent: u64,
    /// The stop-and-copy round is running.
    last: bool,
    /// Xen 4.6+: this live round is the last one.
    stop_after_round: bool,
    /// Suspend was requested and the final set must be taken on the next call.
    suspending: bool,
    finished: bool,
    rounds_done: Vec<RoundStat>,
}

impl XenPrecopy {
    /// A pre-copy of a VM of `pages` pages.
    pub fn new(p: &Params, pages: u32) -> Self {
        XenPrecopy {
            batch_pages: p.batch_pages,
            max_live_rounds: p.max_live_rounds,
            max_factor: p.max_factor,
            stop_pages: p.stop_pages,
            skip: p.skip,
            stop_rule: p.xen_stop,
            pages,
            to_send: PageSet::full(pages),
            cursor: 0,
            round: 1,
            sent_this: 0,
            skipped_this: 0,
            total_sent: 0,
            last: false,
            // Stream v2 with a single pass allowed: round 1 is already the last live one.
            stop_after_round: p.xen_stop == XenStop::DirtyCount && p.max_live_rounds <= 1,
            suspending: false,
            finished: false,
            rounds_done: Vec::new(),
        }
    }

    /// Ends the current round: records its stats and decides what comes next.
    fn end_round(&mut self, ps: &mut PageState) -> Option<Next> {
        self.total_sent += self.sent_this as u64;
        let dirtied = ps.dirty.count();
        self.rounds_done.push(RoundStat {
            round: self.round,
            sent: self.sent_this,
            skipped: self.skipped_this,
            dirtied: if self.last { 0 } else { dirtied },
            last: self.last,
        });
        if self.last {
            self.finished = true;
            return Some(Next::Done);
        }
        let stop = match self.stop_rule {
            XenStop::SentPlusSkipped => {
                self.round >= self.max_live_rounds
                    || self.sent_this + self.skipped_this < self.stop_pages
                    || self
                        .max_factor
                        .is_some_and(|f| self.total_sent as f64 > f * self.pages as f64)
            }
            XenStop::DirtyCount => self.stop_after_round,
        };
        self.round += 1;
        self.cursor = 0;
        self.sent_this = 0;
        self.skipped_this = 0;
        if stop {
            // Suspend first: the final set is taken once the VM has stopped writing.
            self.suspending = true;
            return Some(Next::Suspend);
        }
        self.to_send = ps.dirty.take();
        if self.stop_rule == XenStop::DirtyCount {
            // Stream v2: the policy sees the dirty count before sending it live.
            self.stop_after_round =
                self.to_send.count() < self.stop_pages || self.round >= self.max_live_rounds;
        }
        None
    }
}

impl XenPrecopy {
    /// Fills a batch from the cursor in page-number order, a bitmap word at a time: the
    /// round's candidates `to_send`, less (Xen 3.x, live rounds) those re-dirtied since
    /// the last CLEAN, which are counted as skipped. Stops after `batch_pages` pages, with
    /// the cursor just past the last one sent, so pages beyond it are looked at (and
    /// skipped or sent) in the next batch, exactly as a page-by-page scan would.
    /// Returns the pages sent.
    fn fill(&mut self, ps: &mut PageState) -> u32 {
        let skip = !self.last && self.skip;
        let mut n = 0;
        while n < self.batch_pages && self.cursor < self.pages {
            let w = (self.cursor / 64) as usize;
            let cand = self.to_send.word(w) & (!0u64 << (self.cursor % 64));
            if cand == 0 {
                // Skip empty words in a tight loop (later rounds are sparse).
                self.cursor = self
                    .to_send
                    .next_set(((w as u64 + 1) * 64).min(self.pages as u64) as u32)
                    .unwrap_or(self.pages);
                continue;
            }
            let dirty = if skip { ps.dirty.word(w) } else { 0 };
            let send = cand & !dirty;
            let need = self.batch_pages - n;
            if need < 64 && send.count_ones() >= need {
                // The batch fills inside this word: stop just past its last page; what
                // lies beyond it is looked at in the next batch, as a page-by-page scan
                // would.
                let take = lowest_bits(send, need);
                let last = 63 - take.leading_zeros();
                let seen = !0u64 >> (63 - last);
                self.skipped_this += (cand & dirty & seen).count_ones();
                ps.send_word(w, take);
                n += need;
                self.cursor = w as u32 * 64 + last + 1;
                break;
            }
            // The whole word, without data-dependent branches (sparse rounds would
            // mispredict them): an empty word sends nothing.
            self.skipped_this += (cand & dirty).count_ones();
            ps.send_word(w, send);
            n += send.count_ones();
            self.cursor = ((w as u64 + 1) * 64).min(self.pages as u64) as u32;
        }
        n
    }
}

impl Algorithm for XenPrecopy {
    fn next(&mut self, ps: &mut PageState, _ctx: &Ctx) -> (Next, u32) {
        if self.finished {
            return (Next::Done, 0);
        }
        if self.suspending {
            self.suspending = false;
            self.last = true;
            self.to_send = ps.dirty.take();
        }
        loop {
            let n = self.fill(ps);
            if n > 0 {
                self.sent_this += n;
                return (if self.last { Next::Final } else { Next::Live }, n);
            }
            if let Some(next) = self.end_round(ps) {
                return (next, 0);
            }
        }
    }

    fn take_rounds(&mut self) -> Vec<RoundStat> {
        std::mem::take(&mut self.rounds_done)
    }

    fn rounds(&self) -> u32 {
        self.round
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::StableRng;
    use crate::migration::{test_params, test_writes, Mechanism};
    use rand::{Rng, SeedableRng};

    impl XenPrecopy {
        /// The page-by-page batch filling the word-at-a-time one replaced: the reference
        /// it must match exactly.
        fn next_reference(&mut self, ps: &mut PageState) -> (Next, u32) {
            if self.finished {
                return (Next::Done, 0);
            }
            if self.suspending {
                self.suspending = false;
                self.last = true;
                self.to_send = ps.dirty.take();
            }
            loop {
                let mut n = 0;
                while n < self.batch_pages {
                    let Some(p) = self.to_send.next_set(self.cursor) else {
                        self.cursor = self.pages;
                        break;
                    };
                    self.cursor = p + 1;
                    if !self.last && self.skip && ps.dirty.contains(p) {
                        self.skipped_this += 1;
                        continue;
                    }
                    ps.send(p);
                    n += 1;
                }
                if n > 0 {
                    self.sent_this += n;
                    return (if self.last { Next::Final } else { Next::Live }, n);
                }
                if let Some(next) = self.end_round(ps) {
                    return (next, 0);
                }
            }
        }
    }

    #[test]
    fn word_at_a_time_filling_matches_page_by_page() {
        let mut rng = StableRng::seed_from_u64(31);
        for case in 0..60 {
            let batch = [1, 7, 64, 100, 1024][case % 5];
            let mut p = test_params(Mechanism::XenPrecopy, batch);
            p.skip = case % 3 != 0;
            if case % 4 == 0 {
                p.xen_stop = XenStop::DirtyCount;
                p.max_live_rounds = 5;
            }
            // A few dozen batches per round at most.
            let pages = rng.random_range(1..=(batch * 30).clamp(300, 5000));
            let (mut a, mut b) = (XenPrecopy::new(&p, pages), XenPrecopy::new(&p, pages));
            let (mut pa, mut pb) = (PageState::new(pages), PageState::new(pages));
            let ctx = Ctx::default();
            for step in 0.. {
                let ra = a.next(&mut pa, &ctx);
                let rb = b.next_reference(&mut pb);
                assert_eq!(ra, rb, "case {case} step {step}");
                assert_eq!(pa, pb, "case {case} step {step}");
                assert_eq!(
                    (a.cursor, a.skipped_this, a.round, a.take_rounds()),
                    (b.cursor, b.skipped_this, b.round, b.take_rounds())
                );
                if ra.0 == Next::Done {
                    break;
                }
                if ra.0 == Next::Live {
                    // The VM writes while the batch is on the wire (same writes to both).
                    let mut r2 = rng.clone();
                    test_writes(&mut pa, &mut rng, pages);
                    test_writes(&mut pb, &mut r2, pages);
                }
            }
        }
    }
}
