//! Live migration, page by page.
//!
//! An [`Algorithm`] decides which pages go next and when to stop; the simulator
//! (`sim::migration`) moves them over the network at the rate the links and the sender's
//! CPU allow, applies the VM's writes between batches, and runs the phases around the
//! transfer (setup, stop-and-copy, resume, clean-up) with their CPU and power.

pub mod params;
pub mod postcopy;
pub mod qemu_precopy;
pub mod xen_precopy;

use crate::model::pageset::{PageSet, PageSink};
pub use params::{Mechanism, Params, Push, XenStop};

/// Exact page state of one migration, shared by every algorithm.
#[derive(Clone, Debug, PartialEq, Eq)]
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

    /// [`PageState::send`] for every page of word `w` set in `bits` (bit `i` = page
    /// `64·w + i`), a word at a time. `bits` must hold only pages `< pages()`.
    pub fn send_word(&mut self, w: usize, bits: u64) {
        self.stale.remove_word(w, bits);
        let n = bits.count_ones();
        self.sent += n as u64;
        let first_time = self.ever_sent.insert_word(w, bits);
        self.resent += (n - first_time) as u64;
    }

    /// Records a write by the VM at the source (pre-copy).
    pub fn write(&mut self, page: u32) {
        self.dirty.insert(page);
        self.stale.insert(page);
    }
}

/// Pre-copy: the VM's writes go to the dirty log and make the destination copy stale,
/// ranges and words a word at a time.
impl PageSink for PageState {
    fn page(&mut self, p: u32) {
        self.write(p);
    }
    fn range(&mut self, lo: u32, hi: u32) {
        self.dirty.insert_range(lo, hi);
        self.stale.insert_range(lo, hi);
    }
    fn word(&mut self, w: usize, bits: u64) {
        self.dirty.insert_word(w, bits);
        self.stale.insert_word(w, bits);
    }
    fn words(&mut self, first: usize, words: &[u64], occupied: u64) {
        self.dirty
            .insert_words_both(&mut self.stale, first, words, occupied);
    }
}

/// The `n` lowest set bits of `bits` (all of them if it has fewer).
pub(crate) fn lowest_bits(bits: u64, n: u32) -> u64 {
    if n >= 64 || bits.count_ones() <= n {
        return bits;
    }
    if n == 0 {
        return 0;
    }
    // Clear the lowest n − 1 bits; the lowest left is the n-th; keep everything up to it.
    let mut rest = bits;
    for _ in 1..n {
        rest &= rest - 1;
    }
    let nth = rest.trailing_zeros();
    bits & (!0u64 >> (63 - nth))
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

/// One migration algorithm: the page-choice policy over the shared [`PageState`]. The
/// simulator moves what it asks for at the rate the network and the sender's CPU allow,
/// and applies the VM's writes (pre-copy) or faults (post-copy) between its decisions.
///
/// A minimal algorithm, stop-and-copy: suspend at once, then send every page in batches
/// of 1024 while the VM is paused:
///
/// ```
/// use capsim::migration::{Algorithm, Ctx, Next, PageState};
///
/// #[derive(Debug, Default)]
/// struct StopAndCopy {
///     suspended: bool,
///     next_page: u32,
/// }
///
/// impl Algorithm for StopAndCopy {
///     fn next(&mut self, ps: &mut PageState, _ctx: &Ctx) -> (Next, u32) {
///         if !self.suspended {
///             self.suspended = true;
///             return (Next::Suspend, 0);
///         }
///         let end = (self.next_page + 1024).min(ps.pages());
///         for p in self.next_page..end {
///             ps.send(p);
///         }
///         let n = end - self.next_page;
///         self.next_page = end;
///         if n == 0 { (Next::Done, 0) } else { (Next::Final, n) }
///     }
///     fn rounds(&self) -> u32 {
///         1
///     }
/// }
///
/// // 1500 pages: suspend, then a batch of 1024 and one of 476, then done.
/// let (mut ps, mut a, ctx) = (PageState::new(1500), StopAndCopy::default(), Ctx::default());
/// assert_eq!(a.next(&mut ps, &ctx), (Next::Suspend, 0));
/// assert_eq!(a.next(&mut ps, &ctx), (Next::Final, 1024));
/// assert_eq!(a.next(&mut ps, &ctx), (Next::Final, 476));
/// assert_eq!(a.next(&mut ps, &ctx), (Next::Done, 0));
/// assert_eq!(ps.stale.count(), 0, "every page is at the destination");
/// ```
pub trait Algorithm: std::fmt::Debug + Send {
    /// Called when the sender is free: at the end of setup and after every batch. The
    /// dirty log in `ps` is current up to now. Returns what to do and, for `Live`,
    /// `Final` and `Push`, the number of pages in the batch (each already recorded with
    /// [`PageState::send`] or [`PageState::send_word`]; the simulator needs only how
    /// many), else 0.
    fn next(&mut self, ps: &mut PageState, ctx: &Ctx) -> (Next, u32);

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

/// Parameters for the algorithms' unit tests: the given mechanism over
/// [`Params::default`], batches of `batch` pages.
#[cfg(test)]
pub(crate) fn test_params(mechanism: Mechanism, batch: u32) -> Params {
    Params {
        preset: "test".into(),
        mechanism,
        batch_pages: batch,
        // The shipped Xen presets' 3× memory cap and skipping of pages dirtied again.
        max_factor: Some(3.0),
        skip: true,
        ..Params::default()
    }
}

/// Random VM writes for the algorithms' unit tests: a few scattered pages and a short
/// range, applied through [`PageSink`] as the simulator does.
#[cfg(test)]
pub(crate) fn test_writes<R: rand::Rng>(ps: &mut PageState, rng: &mut R, pages: u32) {
    for _ in 0..rng.random_range(0..200) {
        ps.page(rng.random_range(0..pages));
    }
    let a = rng.random_range(0..pages);
    ps.range(a, (a + rng.random_range(0..300)).min(pages));
    let w = rng.random_range(0..ps.dirty.word_count());
    ps.words(
        w,
        &[rng.random(), rng.random::<u64>() & rng.random::<u64>()],
        0b11,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::StableRng;
    use rand::{Rng, SeedableRng};

    #[test]
    fn lowest_bits_picks_the_n_lowest() {
        assert_eq!(lowest_bits(0b1011_0110, 0), 0);
        assert_eq!(lowest_bits(0b1011_0110, 1), 0b10);
        assert_eq!(lowest_bits(0b1011_0110, 3), 0b1_0110);
        assert_eq!(lowest_bits(0b1011_0110, 5), 0b1011_0110);
        assert_eq!(lowest_bits(0b1011_0110, 64), 0b1011_0110);
        assert_eq!(lowest_bits(!0, 63), !0 >> 1);
        assert_eq!(lowest_bits(1 << 63, 1), 1 << 63);
    }

    #[test]
    fn word_operations_match_page_operations() {
        let mut rng = StableRng::seed_from_u64(30);
        for _ in 0..200 {
            let pages = rng.random_range(1..700);
            let mut a = PageState::new(pages);
            for _ in 0..rng.random_range(0..500) {
                a.send(rng.random_range(0..pages));
            }
            test_writes(&mut a, &mut rng, pages);
            let mut b = a.clone();
            let w = rng.random_range(0..a.stale.word_count());
            let valid = crate::model::pageset::range_mask(w, 0, pages);
            let bits = rng.random::<u64>() & valid;
            a.send_word(w, bits);
            for i in 0..64 {
                if bits >> i & 1 == 1 {
                    b.send(w as u32 * 64 + i);
                }
            }
            assert_eq!(a, b, "send_word");
            let bits = rng.random::<u64>();
            a.word(w, bits);
            for i in 0..64 {
                if bits >> i & 1 == 1 {
                    b.write(w as u32 * 64 + i);
                }
            }
            assert_eq!(a, b, "write word");
            let lo = rng.random_range(0..pages);
            let hi = rng.random_range(lo..=pages);
            a.range(lo, hi);
            (lo..hi).for_each(|p| b.write(p));
            assert_eq!(a, b, "write range");
        }
    }
}
