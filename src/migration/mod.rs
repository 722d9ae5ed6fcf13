//! Live migration, page by page.
//!
//! An [`Algorithm`] decides which pages go next and when to stop; the simulator
//! (`sim::migrate`) moves them over the network at the rate the links and the sender's
//! CPU allow, applies the VM's writes between batches, and runs the phases around the
//! transfer (setup, stop-and-copy, resume, clean-up) with their CPU and power.

pub mod params;
pub mod postcopy;
pub mod qemu_precopy;
pub mod xen_precopy;

use crate::model::pageset::PageSet;
pub use params::{Mechanism, Params, Push, XenStop};

/// Exact page state of one migration, shared by every algorithm.
#[derive(Clone, Debug)]
pub struct PageState {
    /// The log-dirty bitmap: pages written at the source since the last CLEAN.
    pub dirty: PageSet,
    /// Pages whose destination copy is not current: not yet sent, or written at the
    /// source after they were last sent (pre-copy); not yet arrived (post-copy).
    pub stale: PageSet,
    /// Pages sent at least once.
    pub ever_sent: PageSet,
    /// Page transmissions beyond the first of each page.
    pub resent: u64,
    /// Every page transmission.
    pub sent: u64,
}

impl PageState {
    /// Fresh state for a VM of `pages` pages: nothing at the destination yet.
    pub fn new(pages: u32) -> Self {
        PageState {
            dirty: PageSet::new(pages),
            stale: PageSet::full(pages),
            ever_sent: PageSet::new(pages),
            resent: 0,
            sent: 0,
        }
    }

    /// Pages of the VM.
    pub fn pages(&self) -> u32 {
        self.stale.len()
    }

    /// Records `page` as read for sending now: its destination copy becomes current
    /// unless the VM writes it again (the content is taken when the batch is mapped).
    pub fn send(&mut self, page: u32) {
        self.stale.remove(page);
        self.sent += 1;
        if !self.ever_sent.insert(page) {
            self.resent += 1;
        }
    }

    /// Records a write by the VM at the source (pre-copy).
    pub fn write(&mut self, page: u32) {
        self.dirty.insert(page);
        self.stale.insert(page);
    }
}

/// Statistics of one round (pass) of a pre-copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoundStat {
    /// 1-based round number; the last is the stop-and-copy round.
    pub round: u32,
    /// Pages sent in the round.
    pub sent: u32,
    /// Pages skipped because they were re-dirtied before the scan reached them.
    pub skipped: u32,
    /// Pages dirtied during the round (the next round's candidates).
    pub dirtied: u32,
    /// True for the stop-and-copy round.
    pub last: bool,
}

/// What the sender does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Send the batch while the VM keeps running at the source.
    Live,
    /// Suspend the VM now; the following batches are the stop-and-copy round.
    Suspend,
    /// Send the batch of the stop-and-copy round (the VM is suspended).
    Final,
    /// Post-copy: suspend, send minimal state and resume on the destination.
    Switch,
    /// Post-copy: push the batch in the background.
    Push,
    /// Post-copy: nothing to push; wait for faults.
    Wait,
    /// Every page that will ever be needed is at the destination.
    Done,
}

/// What an algorithm may look at when it decides.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Ctx {
    /// Now, ns.
    pub now_ns: u64,
    /// Current payload rate, bit/s.
    pub rate_bps: f64,
    /// Pages of the VM's memory that it ever touches (post-copy without push ends when
    /// these have all arrived).
    pub footprint_pages: u32,
}

/// One migration algorithm: the page-choice policy over the shared [`PageState`].
pub trait Algorithm: std::fmt::Debug + Send {
    /// Called when the sender is free: at the end of setup and after every batch. The
    /// dirty log in `ps` is current up to now. Fills `batch` for `Live`, `Final` and
    /// `Push` (after calling [`PageState::send`] for each page).
    fn next(&mut self, ps: &mut PageState, ctx: &Ctx, batch: &mut Vec<u32>) -> Next;

    /// Rounds completed since the last call (drained).
    fn take_rounds(&mut self) -> Vec<RoundStat> {
        Vec::new()
    }

    /// Rounds started so far.
    fn rounds(&self) -> u32;

    /// Fraction of the VM's CPU taken away (QEMU auto-converge), [0, 1).
    fn throttle(&self) -> f64 {
        0.0
    }

    /// Called after the VM's writes in an interval were applied (QEMU counts them for
    /// auto-converge), with the pages written and the payload bytes sent in it.
    fn observe(&mut self, _now_ns: u64, _pages_written: u64, _bytes_sent: u64) {}

    /// Post-copy: the VM faulted on `page` (pre-paging re-centres the push on it).
    fn on_fault(&mut self, _page: u32) {}
}

/// The algorithm a parameter set asks for.
pub fn algorithm(p: &Params, pages: u32) -> Box<dyn Algorithm> {
    match p.mechanism {
        Mechanism::XenPrecopy => Box::new(xen_precopy::XenPrecopy::new(p, pages)),
        Mechanism::QemuPrecopy => Box::new(qemu_precopy::QemuPrecopy::new(p, pages)),
        Mechanism::Postcopy => Box::new(postcopy::Postcopy::new(p, pages)),
    }
}
