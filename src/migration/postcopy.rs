//! Post-copy: suspend, send the CPU and minimal state, resume on the destination, then
//! deliver pages by demand faults and (optionally) a background push, each page exactly
//! once. Push orders: none (SnowFlock's memtap serves faults only), linear in page
//! number, or pre-paging restarting just after the last fault (Hines & Gopalan; QEMU
//! restarts its scan at the requested page).

use super::{Algorithm, Ctx, Next, PageState, Params, Push};

/// State of one post-copy.
#[derive(Debug)]
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

impl Algorithm for Postcopy {
    fn next(&mut self, ps: &mut PageState, ctx: &Ctx, batch: &mut Vec<u32>) -> Next {
        batch.clear();
        if self.finished {
            return Next::Done;
        }
        if !self.switched {
            self.switched = true;
            return Next::Switch;
        }
        if ps.stale.is_empty() {
            self.finished = true;
            return Next::Done;
        }
        if self.push == Push::None {
            // Demand paging only: done once every page the VM ever touches has arrived.
            let first_missing = ps.stale.next_set(0).unwrap_or(u32::MAX);
            if first_missing >= ctx.footprint_pages {
                self.finished = true;
                return Next::Done;
            }
            return Next::Wait;
        }
        while (batch.len() as u32) < self.chunk {
            let p = match ps.stale.next_set(self.cursor) {
                Some(p) => p,
                // Wrap around: pages before the cursor may still be missing.
                None => match ps.stale.next_set(0) {
                    Some(p) => p,
                    None => break,
                },
            };
            self.cursor = p + 1;
            ps.send(p);
            batch.push(p);
        }
        if batch.is_empty() {
            self.finished = true;
            Next::Done
        } else {
            Next::Push
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
