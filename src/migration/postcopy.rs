//! Post-copy: suspend, send the CPU and minimal state, resume on the destination, then
//! deliver pages by demand faults and (optionally) a background push, each page exactly
//! once. Push orders: none (SnowFlock's memtap serves faults only), linear in page
//! number, or pre-paging restarting just after the last fault (Hines & Gopalan; QEMU
//! restarts its scan at the requested page).

use super::{lowest_bits, Algorithm, Ctx, Next, PageState, Params, Push};
use crate::model::pageset::range_mask;

/// State of one post-copy.
#[derive(Clone, Debug)]
pub struct Postcopy {
    push: Push,
    chunk: u32,
    switched: bool,
    cursor: u32,
    finished: bool,
}

impl Postcopy {
    /// A post-copy of a VM of `pages` pages.
    pub fn new(p: &Params, _pages: u32) -> Self {
        Postcopy {
            push: p.push,
            chunk: p.push_chunk_pages,
            switched: false,
            cursor: 0,
            finished: false,
        }
    }
}

impl Postcopy {
    /// Sends missing pages of `[lo, hi)` in page-number order, a word at a time, until
    /// the chunk holds `chunk` pages (`n` already in it); the cursor ends just past the
    /// last page sent. Returns the pages in the chunk.
    fn push_from(&mut self, ps: &mut PageState, lo: u32, hi: u32, mut n: u32) -> u32 {
        if lo >= hi {
            return n;
        }
        let (first, last) = ((lo / 64) as usize, ((hi - 1) / 64) as usize);
        for w in first..=last {
            if n >= self.chunk {
                break;
            }
            let missing = ps.stale.word(w) & range_mask(w, lo, hi);
            let take = lowest_bits(missing, self.chunk - n);
            if take != 0 {
                ps.send_word(w, take);
                n += take.count_ones();
                self.cursor = w as u32 * 64 + (64 - take.leading_zeros());
            }
        }
        n
    }
}

impl Algorithm for Postcopy {
    fn next(&mut self, ps: &mut PageState, ctx: &Ctx) -> (Next, u32) {
        if self.finished {
            return (Next::Done, 0);
        }
        if !self.switched {
            self.switched = true;
            return (Next::Switch, 0);
        }
        if ps.stale.is_empty() {
            self.finished = true;
            return (Next::Done, 0);
        }
        if self.push == Push::None {
            // Demand paging only: done once every page the VM ever touches has arrived.
            let first_missing = ps.stale.next_set(0).unwrap_or(u32::MAX);
            if first_missing >= ctx.footprint_pages {
                self.finished = true;
                return (Next::Done, 0);
            }
            return (Next::Wait, 0);
        }
        // The missing pages from the cursor on, wrapping around once to those before it.
        let pages = ps.pages();
        let from = self.cursor.min(pages);
        let mut n = self.push_from(ps, from, pages, 0);
        if n < self.chunk {
            n = self.push_from(ps, 0, from, n);
        }
        if n == 0 {
            self.finished = true;
            (Next::Done, 0)
        } else {
            (Next::Push, n)
        }
    }

    fn rounds(&self) -> u32 {
        1
    }

    fn on_fault(&mut self, page: u32) {
        if self.push == Push::Prepaging {
            self.cursor = page.saturating_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::StableRng;
    use crate::migration::{test_params, Mechanism};
    use rand::{Rng, SeedableRng};

    /// The page-by-page push the word-at-a-time one replaced.
    fn push_reference(a: &mut Postcopy, ps: &mut PageState) -> u32 {
        let mut n = 0;
        while n < a.chunk {
            let p = match ps.stale.next_set(a.cursor) {
                Some(p) => p,
                None => match ps.stale.next_set(0) {
                    Some(p) => p,
                    None => break,
                },
            };
            a.cursor = p + 1;
            ps.send(p);
            n += 1;
        }
        n
    }

    #[test]
    fn word_at_a_time_push_matches_page_by_page() {
        let mut rng = StableRng::seed_from_u64(33);
        for case in 0..300 {
            let mut p = test_params(Mechanism::Postcopy, 1024);
            p.push_chunk_pages = [1, 7, 64, 100, 1000][case % 5];
            let pages = rng.random_range(1..5000);
            let mut a = Postcopy::new(&p, pages);
            a.switched = true;
            let mut pa = PageState::new(pages);
            // Faults anywhere, a cursor anywhere (pre-paging moves it).
            for _ in 0..rng.random_range(0..3000) {
                let q = rng.random_range(0..pages);
                if pa.stale.contains(q) {
                    pa.send(q);
                }
            }
            a.cursor = rng.random_range(0..pages + 100);
            let (mut b, mut pb) = (a.clone(), pa.clone());
            let ctx = Ctx::default();
            loop {
                let (next, na) = a.next(&mut pa, &ctx);
                let nb = if pb.stale.is_empty() {
                    0
                } else {
                    push_reference(&mut b, &mut pb)
                };
                assert_eq!(na, nb, "case {case}");
                assert_eq!((a.cursor, &pa), (b.cursor, &pb), "case {case}");
                if next == Next::Done {
                    break;
                }
                assert_eq!(next, Next::Push);
                b.cursor = if rng.random_bool(0.2) {
                    rng.random_range(0..pages)
                } else {
                    b.cursor
                };
                a.cursor = b.cursor;
            }
        }
    }
}
