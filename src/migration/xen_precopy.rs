//! Xen pre-copy (`xc_domain_save` in 3.x; migration stream v2 in 4.6+).
//!
//! Round 1 sends every page in page-number order; each later round sends the pages
//! dirtied during the previous one (CLEAN of the log-dirty bitmap). Xen 3.x skips a page
//! already re-dirtied in the current round (PEEK at each batch start) and stops after a
//! round with fewer than 50 pages sent + skipped, after 29 live rounds, or once 3× memory
//! has been sent; Xen 4.6+ sends the small dirty set live once more and stops, after at
//! most 5 live passes. Then the VM is suspended and the last dirty set sent.

use super::{Algorithm, Ctx, Next, PageState, Params, RoundStat, XenStop};
use crate::model::pageset::PageSet;

/// State of one Xen pre-copy.
#[derive(Debug)]
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

impl Algorithm for XenPrecopy {
    fn next(&mut self, ps: &mut PageState, _ctx: &Ctx, batch: &mut Vec<u32>) -> Next {
        batch.clear();
        if self.finished {
            return Next::Done;
        }
        if self.suspending {
            self.suspending = false;
            self.last = true;
            self.to_send = ps.dirty.take();
        }
        loop {
            // Fill a batch from the cursor, in page-number order.
            while (batch.len() as u32) < self.batch_pages {
                let Some(p) = self.to_send.next_set(self.cursor) else {
                    self.cursor = self.pages;
                    break;
                };
                self.cursor = p + 1;
                if !self.last && self.skip && ps.dirty.contains(p) {
                    // Re-dirtied since the last CLEAN: it will be in the next round.
                    self.skipped_this += 1;
                    continue;
                }
                ps.send(p);
                batch.push(p);
            }
            if !batch.is_empty() {
                self.sent_this += batch.len() as u32;
                return if self.last { Next::Final } else { Next::Live };
            }
            if let Some(n) = self.end_round(ps) {
                return n;
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
