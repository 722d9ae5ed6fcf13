//! A VM's memory and the process that writes it (DESIGN §3 "Memory and dirty pages";
//! notes/migration.md §4.1 and §6.1).
//!
//! The model is the two-level writable working set (a hot set and a colder rest of the
//! footprint, each page written as an independent Poisson process) plus an optional
//! sequential sweeper (a GC or a block buffer). Rates are per second of *full-speed
//! execution*: the simulator passes an "exposure" = progress made ÷ vCPUs, so a throttled,
//! capped or stalled VM dirties proportionally less (SimGrid's CPU coupling, §4.1 item 4),
//! and no special case is needed for DVFS, credit caps or auto-converge.
//!
//! Page state is exact: each call draws *which* pages were written, so a migration's
//! bitmaps see real overlaps between rounds and the skip logic works on real pages. The
//! cost of a call is O(pages written), never O(allocation), because a migration calls it
//! once per 1024-page batch.
//!
//! Nothing here panics on a bad profile: [`MemoryProfile::check`] reports problems to the
//! scenario loader, and the process itself clamps every field into range.

use super::pageset::{range_mask, PageSet, PageSink};
use rand::Rng;
use rand_distr::{Binomial, Distribution, Exp1};

/// Size of a guest page, bytes (x86 4 KiB pages, which Xen and QEMU track and send).
pub const PAGE_SIZE: u64 = 4096;

/// Sweep positions closer than this to a whole page (in pages) are rounded to it, so
/// that floating-point error never makes many small steps cover one page fewer (or
/// more) than one big step of the same total length.
const SNAP_PAGES: f64 = 1e-6;

/// A VM's memory and how it writes it. Rates are per second of full-speed execution
/// (one second of the VM running flat out on all its vCPUs); the simulator passes
/// "exposure" = progress made / vCPUs, so a throttled or stalled VM dirties less
/// (SimGrid's CPU coupling).
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryProfile {
    /// Allocation, in 4 KiB pages (all of it is sent in Xen 3.x round 1).
    pub pages: u32,
    /// Touched pages, in pages: the footprint is pages `[0, footprint_pages)` (≤ `pages`).
    pub footprint_pages: u32,
    /// Hot-set size, in pages (≤ footprint), located at `[hot_start, hot_start + hot_pages)`.
    pub hot_pages: u32,
    /// First page of the hot set (a page number; the hot set lies inside the footprint).
    pub hot_start: u32,
    /// Writes per hot page per second of full-speed execution (a Poisson rate per page).
    pub hot_rate: f64,
    /// Writes per page per second of full-speed execution for the footprint outside the
    /// hot set (a Poisson rate per page).
    pub cold_rate: f64,
    /// An optional sequential writer.
    pub sweep: Option<Sweep>,
}

/// A sequential writer over pages `[start, start + pages)`, wrapping at the end (GC- or
/// buffer-like): it dirties its whole region every `pages / pages_per_s` seconds of
/// full-speed execution.
#[derive(Clone, Debug, PartialEq)]
pub struct Sweep {
    /// First page of the region (a page number).
    pub start: u32,
    /// Region size, in pages (≥ 1; the region lies inside the allocation).
    pub pages: u32,
    /// Speed, in pages per second of full-speed execution.
    pub pages_per_s: f64,
}

/// A rate usable by the process: NaN, negative and zero mean "no writes", +∞ becomes
/// the largest finite rate (so products with zero page counts stay 0, not NaN).
fn usable_rate(r: f64) -> f64 {
    if r > 0.0 {
        r.min(f64::MAX)
    } else {
        0.0
    }
}

/// True only for a number above zero: NaN, zero and negatives (no exposure, no rate)
/// all mean "nothing happens".
fn positive(x: f64) -> bool {
    x > 0.0
}

/// Probability that a Poisson(rate) page is written at least once in `exposure_s`:
/// `1 − e^(−rate·exposure)`, via `exp_m1` so tiny products keep their precision.
fn write_probability(rate: f64, exposure_s: f64) -> f64 {
    let x = rate * exposure_s;
    if x > 0.0 {
        // x = +∞ gives −exp_m1(−∞) = 1.
        (-(-x).exp_m1()).clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// Number of pages in `[a0, a1) ∩ [b0, b1)` (page numbers as u64 so ends never overflow).
fn overlap(a0: u64, a1: u64, b0: u64, b1: u64) -> u64 {
    a1.min(b1).saturating_sub(a0.max(b0))
}

/// A profile with every field clamped into range, so an unchecked profile never panics:
/// footprint ≤ allocation, hot set inside the footprint, rates ≥ 0 and finite, sweep
/// region inside the allocation and non-empty (else no sweep).
struct Clamped {
    footprint: u32,
    hot_start: u32,
    hot_pages: u32,
    hot_rate: f64,
    cold_rate: f64,
    /// `(start page, region pages ≥ 1, pages per second)`.
    sweep: Option<(u32, u32, f64)>,
}

impl Clamped {
    fn of(p: &MemoryProfile) -> Self {
        let footprint = p.footprint_pages.min(p.pages);
        let hot_pages = p.hot_pages.min(footprint);
        let hot_start = p.hot_start.min(footprint - hot_pages);
        let sweep = p.sweep.as_ref().and_then(|s| {
            let start = s.start.min(p.pages);
            let len = s.pages.min(p.pages - start);
            (len > 0).then_some((start, len, usable_rate(s.pages_per_s)))
        });
        Clamped {
            footprint,
            hot_start,
            hot_pages,
            hot_rate: usable_rate(p.hot_rate),
            cold_rate: usable_rate(p.cold_rate),
            sweep,
        }
    }
}

impl MemoryProfile {
    /// A VM of `pages` pages that never writes.
    pub fn quiet(pages: u32) -> Self {
        MemoryProfile {
            pages,
            footprint_pages: 0,
            hot_pages: 0,
            hot_start: 0,
            hot_rate: 0.0,
            cold_rate: 0.0,
            sweep: None,
        }
    }

    /// `Ok` if the profile is consistent; otherwise an error naming the field and what
    /// is valid. (The process clamps bad values rather than panicking, but a scenario
    /// should never rely on that.)
    pub fn check(&self) -> Result<(), String> {
        if self.pages == 0 {
            return Err("pages must be ≥ 1 (the allocation in 4 KiB pages), got 0".into());
        }
        if self.footprint_pages > self.pages {
            return Err(format!(
                "footprint_pages must be ≤ pages ({}), got {}",
                self.pages, self.footprint_pages
            ));
        }
        if self.hot_pages > self.footprint_pages {
            return Err(format!(
                "hot_pages must be ≤ footprint_pages ({}), got {}",
                self.footprint_pages, self.hot_pages
            ));
        }
        if self.hot_start as u64 + self.hot_pages as u64 > self.footprint_pages as u64 {
            return Err(format!(
                "hot_start + hot_pages must be ≤ footprint_pages ({}) so the hot set lies \
                 inside the footprint, got {} + {}",
                self.footprint_pages, self.hot_start, self.hot_pages
            ));
        }
        for (name, v) in [("hot_rate", self.hot_rate), ("cold_rate", self.cold_rate)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!(
                    "{name} must be finite and ≥ 0 (writes per page per second), got {v}"
                ));
            }
        }
        if let Some(s) = &self.sweep {
            if s.pages == 0 {
                return Err("sweep.pages must be ≥ 1 (omit the sweep for none), got 0".into());
            }
            if s.start as u64 + s.pages as u64 > self.footprint_pages as u64 {
                return Err(format!(
                    "sweep.start + sweep.pages must be ≤ footprint_pages ({}) so the sweep \
                     lies inside the footprint (the pages the VM touches), got {} + {}",
                    self.footprint_pages, s.start, s.pages
                ));
            }
            if !(s.pages_per_s.is_finite() && s.pages_per_s >= 0.0) {
                return Err(format!(
                    "sweep.pages_per_s must be finite and ≥ 0 (pages per second), got {}",
                    s.pages_per_s
                ));
            }
        }
        Ok(())
    }

    /// Expected number of distinct pages written in `exposure_s` seconds of full-speed
    /// execution, in pages: the analytic `U(Δ) = W_h(1 − e^(−r_hΔ)) + (F − W_h)(1 − e^(−r_cΔ))`
    /// of notes §4.1, plus the sweep. The sweep's share is averaged over where the sweeper
    /// starts (it covers a fraction `min(vΔ / S, 1)` of its region, and only the pages the
    /// random writes missed are new), which is exact once the sweep covers its whole region.
    /// Used by tests and to predict migration overhead. Exposure ≤ 0 or NaN → 0.
    pub fn expected_unique(&self, exposure_s: f64) -> f64 {
        if !positive(exposure_s) {
            return 0.0;
        }
        let c = Clamped::of(self);
        let qh = write_probability(c.hot_rate, exposure_s);
        let qc = write_probability(c.cold_rate, exposure_s);
        let hot = c.hot_pages as f64;
        let cold = (c.footprint - c.hot_pages) as f64;
        let mut unique = hot * qh + cold * qc;
        if let Some((start, len, speed)) = c.sweep {
            let s = len as f64;
            let advance = speed * exposure_s;
            let fraction = if advance > 0.0 {
                (advance / s).min(1.0)
            } else {
                0.0
            };
            let (lo, hi) = (start as u64, start as u64 + len as u64);
            let hot_lo = c.hot_start as u64;
            let in_hot = overlap(lo, hi, hot_lo, hot_lo + c.hot_pages as u64) as f64;
            let in_cold = overlap(lo, hi, 0, c.footprint as u64) as f64 - in_hot;
            unique += fraction * (s - qh * in_hot - qc * in_cold);
        }
        unique
    }

    /// Mean page-write rate in distinct-page terms as the interval shrinks to 0, in pages
    /// per second of full-speed execution: `hot_pages·hot_rate + cold pages·cold_rate +
    /// sweep speed` (overlaps between the sweep and the random writes are second order).
    pub fn write_rate(&self) -> f64 {
        let c = Clamped::of(self);
        let cold = (c.footprint - c.hot_pages) as f64;
        let sweep = c.sweep.map_or(0.0, |(_, _, v)| v);
        c.hot_pages as f64 * c.hot_rate + cold * c.cold_rate + sweep
    }
}

// How the pages of a set, each written independently with probability p, are drawn.
// With e = min(p, 1 − p) the probability of the rarer outcome ("events": written pages
// if p ≤ 1/2, else the unwritten ones), three exact methods, chosen by cost:
//
// * e < GAPS_E: geometric gaps between events, one exponential variate per event and
//   nothing for the pages in between (O(events) even over 2³² pages).
// * e < BITS_E: per chunk of 4096 pages, a Binomial(4096, e) count of events, then that
//   many distinct positions, 6 to 12 random bits each (a repeat drawn again): one binomial
//   variate per chunk plus ~10 instructions per event.
// * otherwise: [`Bernoulli64`], ~7.3 random words per 64 pages whatever p is.
//
// Each is the exact law of independent Bernoulli(p) pages (up to floating point in the
// exponential and binomial variates). The draws differ between methods, so which one
// runs is part of what a seed produces.

/// Below this event probability (< 4 events per 4096-page chunk), geometric gaps.
const GAPS_E: f64 = 1.0 / 1024.0;
/// Below this event probability, binomial counts per chunk; above, [`Bernoulli64`].
const BITS_E: f64 = 1.0 / 4.0;
/// Bitmap words per chunk: 64 words = 4096 pages = 2¹² (12-bit positions).
const CHUNK: usize = 64;

/// Independent Bernoulli(p) draws for 64 pages at once, exact: each page's bit compares
/// its own uniform variate `U` with `p`, one binary digit per random word, and is written
/// iff `U < p`. Lanes are settled as soon as their digit differs from `p`'s (half of the
/// undecided lanes per word), so a full word costs log₂ 64 + ~1.3 ≈ 7.3 random words on
/// average, and the result has exactly the probability `p` (the f64 value, whose binary
/// expansion is finite; once its last 1 digit is passed, lanes still equal are `U ≥ p`).
struct Bernoulli64 {
    /// `p·2⁶⁴`: the binary digits of `p` from the most significant (2⁻¹) down.
    digits: u64,
}

impl Bernoulli64 {
    /// For `p` in `[2⁻¹¹, 1)`, where `p·2⁶⁴` is an integer below 2⁶⁴ (exact).
    fn new(p: f64) -> Self {
        Bernoulli64 {
            digits: (p * 18_446_744_073_709_551_616.0) as u64,
        }
    }

    /// A mask of the lanes of `lanes` drawn as written; other lanes cost nothing.
    fn draw<R: Rng + ?Sized>(&self, lanes: u64, rng: &mut R) -> u64 {
        let mut undecided = lanes;
        let mut hit = 0;
        let mut digits = self.digits;
        while digits != 0 && undecided != 0 {
            let r = rng.next_u64();
            if digits >> 63 == 1 {
                // p's digit is 1: U's digit 0 means U < p.
                hit |= undecided & !r;
                undecided &= r;
            } else {
                // p's digit is 0: U's digit 1 means U > p.
                undecided &= !r;
            }
            digits <<= 1;
        }
        hit
    }
}

/// Sets `k` distinct pages chosen uniformly among the first `pages` (64 to 4096) of the
/// chunk `words` (page `i` at bit `i % 64` of word `i / 64`), which must be empty there,
/// and returns which words it touched (bit `i` for word `i`). Together with a
/// Binomial(`pages`, e) count `k` this is exactly `pages` independent Bernoulli(e) pages.
fn scatter<R: Rng + ?Sized>(mut k: u64, pages: u32, words: &mut [u64], rng: &mut R) -> u64 {
    // Positions of just enough bits for `pages` (a repeat, or one past `pages`, is drawn
    // again: less than half of them).
    let width = 32 - pages.saturating_sub(1).leading_zeros();
    let per_word = 64 / width.max(1);
    let mask = (1u64 << width) - 1;
    let (mut bits, mut left) = (0u64, 0);
    let mut touched = 0u64;
    while k > 0 {
        if left == 0 {
            (bits, left) = (rng.next_u64(), per_word);
        }
        let pos = (bits & mask) as u32;
        (bits, left) = (bits >> width, left - 1);
        if pos >= pages {
            continue;
        }
        let (w, bit) = ((pos / 64) as usize, 1u64 << (pos % 64));
        if words[w] & bit == 0 {
            words[w] |= bit;
            touched |= 1 << w;
            k -= 1;
        }
    }
    touched
}

/// The pages of `[lo, hi)` hit by independent events of probability `e` (in `(0, 1)`),
/// in increasing order: the number of pages skipped before the next hit is Geometric(e),
/// drawn by inversion as `⌊E / −ln(1 − e)⌋` with `E` a standard exponential variate
/// (ziggurat, so no logarithm on the fast path). This is the Bernoulli process itself,
/// not an approximation of it (up to floating point), at one variate per hit.
struct Gaps {
    /// `1 / −ln(1 − e)` (positive; +∞ when `e` is too small to matter).
    scale: f64,
    /// The next page that may be hit (page numbers are < 2³², so i64 holds them and
    /// converts to and from f64 in one instruction).
    next: i64,
    hi: i64,
}

impl Gaps {
    fn new(e: f64, lo: u32, hi: u32) -> Self {
        Gaps {
            scale: -1.0 / (-e).ln_1p(),
            next: lo as i64,
            hi: hi as i64,
        }
    }

    /// The next hit page, or `None` once past `hi`.
    #[inline]
    fn next_hit<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Option<u32> {
        let room = self.hi - self.next;
        if room <= 0 {
            return None;
        }
        let e: f64 = Exp1.sample(rng);
        let g = e * self.scale;
        // NaN (0·∞) stops too; 0 ≤ g < room ≤ 2³² makes the cast exact.
        if g.is_nan() || g >= room as f64 {
            self.next = self.hi;
            return None;
        }
        let page = self.next + g as i64;
        self.next = page + 1;
        Some(page as u32)
    }
}

/// How a set's pages are drawn.
enum Method {
    /// p ≥ 1: every page, no draws.
    Certain,
    /// Bit-parallel Bernoulli(p) draws of the written pages.
    Bits(Bernoulli64),
    /// A Binomial count of events per chunk (a whole chunk, and the last, shorter one).
    Counts(Binomial, Option<Binomial>),
    /// Geometric gaps between events.
    Gaps(Gaps),
}

/// The pages of a set that may be written: `[lo, hi)` minus the skipped ranges, by
/// bitmap word.
struct Lanes<'a> {
    lo: u32,
    hi: u32,
    first: usize,
    last: usize,
    skip: &'a [(u32, u32); 2],
    /// Words touched by each skipped range (an empty range touches none).
    skip_words: [(usize, usize); 2],
}

impl<'a> Lanes<'a> {
    fn new(lo: u32, hi: u32, skip: &'a [(u32, u32); 2]) -> Self {
        Lanes {
            lo,
            hi,
            first: (lo / 64) as usize,
            last: ((hi - 1) / 64) as usize,
            skip,
            skip_words: skip.map(|(a, b)| {
                if a < b {
                    ((a / 64) as usize, ((b - 1) / 64) as usize)
                } else {
                    (1, 0)
                }
            }),
        }
    }

    /// The pages of word `w` that may be written.
    fn mask(&self, w: usize) -> u64 {
        let mut m = if w == self.first || w == self.last {
            range_mask(w, self.lo, self.hi)
        } else {
            !0
        };
        for (i, &(a, b)) in self.skip_words.iter().enumerate() {
            if w >= a && w <= b {
                m &= !range_mask(w, self.skip[i].0, self.skip[i].1);
            }
        }
        m
    }

    /// Whether every page of words `[c, c + n)` may be written.
    fn whole(&self, c: usize, n: usize) -> bool {
        let (a, b) = ((c * 64) as u64, ((c + n) * 64) as u64);
        self.lo as u64 <= a
            && b <= self.hi as u64
            && self
                .skip_words
                .iter()
                .all(|&(s0, s1)| s1 < c || s0 >= c + n)
    }
}

/// The cheapest exact way to draw events of probability `e` (= `p`, or 1 − `p` when
/// `invert`) over the words of `lanes`.
fn method(p: f64, e: f64, lanes: &Lanes) -> Method {
    if p >= 1.0 {
        Method::Certain
    } else if e >= BITS_E {
        Method::Bits(Bernoulli64::new(p))
    } else if e >= GAPS_E {
        let tail = (lanes.last + 1 - lanes.first) % CHUNK;
        let short = (tail > 0)
            .then(|| Binomial::new((tail * 64) as u64, e).ok())
            .flatten();
        match Binomial::new((CHUNK * 64) as u64, e) {
            Ok(full) => Method::Counts(full, short),
            // Unreachable for e in (0, 1/4); the bit-parallel draws are exact anyway.
            Err(_) => Method::Bits(Bernoulli64::new(p)),
        }
    } else {
        Method::Gaps(Gaps::new(e, lanes.lo, lanes.hi))
    }
}

/// Rare writes: word by word, O(writes) however large the set. Returns the count.
fn write_rare<R: Rng + ?Sized, S: PageSink + ?Sized>(
    gaps: &mut Gaps,
    lanes: &Lanes,
    rng: &mut R,
    sink: &mut S,
) -> u64 {
    let mut written = 0u64;
    let mut flush = |w: usize, hits: u64| {
        let bits = hits & lanes.mask(w);
        if bits != 0 {
            sink.word(w, bits);
            written += bits.count_ones() as u64;
        }
    };
    let (mut w, mut hits) = (lanes.first, 0u64);
    while let Some(page) = gaps.next_hit(rng) {
        let pw = (page / 64) as usize;
        if pw != w {
            flush(w, hits);
            (w, hits) = (pw, 0);
        }
        hits |= 1 << (page % 64);
    }
    flush(w, hits);
    written
}

/// Draws one chunk's words `[c, c + words.len())`: written pages (Certain, Bits) or
/// events (Counts, Gaps). Returns the number of events when known without counting, and
/// which words may be non-zero (bit i for word c + i).
fn draw_chunk<R: Rng + ?Sized>(
    method: &mut Method,
    next_event: &mut Option<u32>,
    lanes: &Lanes,
    c: usize,
    words: &mut [u64],
    flip: u64,
    rng: &mut R,
) -> (Option<u64>, u64) {
    let n = words.len();
    let all = !0u64 >> (CHUNK - n);
    match method {
        Method::Certain => {
            words.fill(0);
            (Some(0), all)
        }
        Method::Bits(b) => {
            for (i, x) in words.iter_mut().enumerate() {
                let l = lanes.mask(c + i);
                *x = if l != 0 { b.draw(l, rng) } else { 0 };
            }
            (None, all)
        }
        Method::Counts(full, short) => {
            words.fill(0);
            let d = match short {
                Some(d) if n < CHUNK => d,
                _ => full,
            };
            let k = d.sample(rng);
            let occ = scatter(k, (n * 64) as u32, words, rng);
            (Some(k), if flip == 0 { occ } else { all })
        }
        Method::Gaps(g) => {
            words.fill(0);
            let end = ((c + n) * 64) as u64;
            let mut k = 0;
            while let Some(ev) = *next_event {
                if ev as u64 >= end {
                    break;
                }
                words[ev as usize / 64 - c] |= 1 << (ev % 64);
                k += 1;
                *next_event = g.next_hit(rng);
            }
            (Some(k), all)
        }
    }
}

/// Pages `[lo, hi)` each written independently with probability `p`, except those in
/// `skip` (pages the sweep already reported): passes the written pages to `sink` in
/// increasing order, a chunk of bitmap words at a time (a word at a time for rare
/// writes), and returns their number. See the methods above.
fn write_bernoulli<R: Rng + ?Sized, S: PageSink + ?Sized>(
    lo: u32,
    hi: u32,
    p: f64,
    skip: &[(u32, u32); 2],
    rng: &mut R,
    sink: &mut S,
) -> u64 {
    if lo >= hi || !positive(p) {
        return 0;
    }
    let lanes = Lanes::new(lo, hi, skip);
    // Events are the written pages, or (p > 1/2) the unwritten ones; 1 − p is exact
    // there (p within a factor 2 of 1).
    let invert = p > 0.5;
    let e = if invert { 1.0 - p } else { p };
    let mut method = method(p, e, &lanes);
    if let (Method::Gaps(gaps), false) = (&mut method, invert) {
        return write_rare(gaps, &lanes, rng, sink);
    }
    // Bits and Certain give the written pages; the others give events.
    let flip = match method {
        Method::Certain => !0,
        Method::Bits(_) => 0,
        _ if invert => !0,
        _ => 0,
    };
    let mut next_event = match &mut method {
        Method::Gaps(g) => g.next_hit(rng),
        _ => None,
    };
    let mut written = 0u64;
    let mut buf = [0u64; CHUNK];
    let mut c = lanes.first;
    while c <= lanes.last {
        let n = (lanes.last + 1 - c).min(CHUNK);
        let words = &mut buf[..n];
        let (events, occupied) =
            draw_chunk(&mut method, &mut next_event, &lanes, c, words, flip, rng);
        match events {
            Some(k) if lanes.whole(c, n) => {
                // Every page may be written: no masking, and the count is known.
                if flip != 0 {
                    words.iter_mut().for_each(|x| *x = !*x);
                    written += (n * 64) as u64 - k;
                } else {
                    written += k;
                }
            }
            _ => {
                for (i, x) in words.iter_mut().enumerate() {
                    *x = (*x ^ flip) & lanes.mask(c + i);
                    written += x.count_ones() as u64;
                }
            }
        }
        sink.words(c, words, occupied);
        c += n;
    }
    written
}

/// Adapter so a closure can receive pages (one at a time, in the order they come).
struct FnSink<F>(F);

impl<F: FnMut(u32)> PageSink for FnSink<F> {
    fn page(&mut self, p: u32) {
        (self.0)(p)
    }
}

/// The running state of a VM's page-write process (the sweep position) — one per VM.
#[derive(Clone, Debug)]
pub struct DirtyProcess {
    /// What the VM writes; may be changed between calls (values are clamped at use).
    pub profile: MemoryProfile,
    /// Sweeper position as an offset into its region, in pages, in `[0, region pages)`;
    /// the fractional part carries partial pages over calls.
    sweep_pos: f64,
}

impl DirtyProcess {
    /// A process whose sweep (if any) starts at its region's first page.
    pub fn new(profile: MemoryProfile) -> Self {
        DirtyProcess {
            profile,
            sweep_pos: 0.0,
        }
    }

    /// Marks in `out` every page written during `exposure_s` seconds of full-speed
    /// execution, drawn from the process with `rng`: each hot page is written
    /// independently with p = 1 − e^(−hot_rate·exposure), likewise each cold page of the
    /// footprint outside the hot set with the cold rate, and the sweep's next
    /// `pages_per_s·exposure` pages (fractional pages carry over calls, so many small
    /// steps cover exactly the pages one big step would).
    ///
    /// Returns the number of distinct pages written in this call, in pages (a page hit
    /// by both the sweep and a random write, or swept twice, counts once; pages already
    /// set in `out` still count). Pages past `out.len()` are counted but not stored.
    /// Exposure ≤ 0 or NaN writes nothing and leaves the sweep where it is.
    /// Cost: O(pages written) (see [`DirtyProcess::write_into`]).
    pub fn dirty<R: rand::Rng + ?Sized>(
        &mut self,
        exposure_s: f64,
        rng: &mut R,
        out: &mut PageSet,
    ) -> u32 {
        self.write_into(exposure_s, rng, out)
    }

    /// Same as [`DirtyProcess::dirty`] (same draws from `rng`), but calls `f(page)` once
    /// for every distinct page written (one at a time), returning the count in pages.
    /// Order: swept pages in sweep order, then hot pages in increasing order, then cold
    /// pages in increasing order (below the hot set, then above it).
    pub fn touch<R: rand::Rng + ?Sized, F: FnMut(u32)>(
        &mut self,
        exposure_s: f64,
        rng: &mut R,
        f: F,
    ) -> u32 {
        self.write_into(exposure_s, rng, &mut FnSink(f))
    }

    /// Same as [`DirtyProcess::dirty`] (same draws from `rng`, same pages in the same
    /// order as [`DirtyProcess::touch`]), into any [`PageSink`]: the sweep arrives as up
    /// to two ranges, random writes of a dense set (write probability ≥ 1/64) as bitmap
    /// words of Bernoulli draws, those of a sparse set page by page. Each distinct page
    /// arrives once. Returns the count in pages.
    ///
    /// Cost: the sweep O(its pages / 64); a dense set about 7.3 random words per 64 pages
    /// (≤ 64·7.3/64 ≈ 7.3× its expected writes, since p ≥ 1/64); a sparse set one random
    /// word and one logarithm per page written.
    pub fn write_into<R: Rng + ?Sized, S: PageSink + ?Sized>(
        &mut self,
        exposure_s: f64,
        rng: &mut R,
        sink: &mut S,
    ) -> u32 {
        if !positive(exposure_s) {
            return 0;
        }
        let c = Clamped::of(&self.profile);
        // The sweep goes first: it fixes which pages the random writes must not report a
        // second time. It draws nothing from `rng`, so its order does not change the draws.
        let swept = self.advance_sweep(&c, exposure_s);
        let mut written: u64 = 0;
        for &(lo, hi) in &swept {
            if lo < hi {
                sink.range(lo, hi);
                written += (hi - lo) as u64;
            }
        }
        let hot_end = c.hot_start + c.hot_pages;
        written += write_bernoulli(
            c.hot_start,
            hot_end,
            write_probability(c.hot_rate, exposure_s),
            &swept,
            rng,
            sink,
        );
        // Cold pages are the footprint minus the hot set: below it, then above it.
        let qc = write_probability(c.cold_rate, exposure_s);
        written += write_bernoulli(0, c.hot_start, qc, &swept, rng, sink);
        written += write_bernoulli(hot_end, c.footprint, qc, &swept, rng, sink);
        // Distinct pages of the allocation, so ≤ u32::MAX; saturate anyway.
        written.min(u32::MAX as u64) as u32
    }

    /// Moves the sweeper by `speed·exposure` pages and returns the pages it finished, as
    /// up to two absolute page ranges `[lo, hi)` (two when it wraps past the region end;
    /// empty ranges are `(0, 0)`). A page is written when the sweeper passes its end, so
    /// moving from offset 0 to 1000 writes offsets 0..999. At most the whole region is
    /// returned per call, each page once.
    fn advance_sweep(&mut self, c: &Clamped, exposure_s: f64) -> [(u32, u32); 2] {
        const NONE: [(u32, u32); 2] = [(0, 0), (0, 0)];
        let Some((start, len, speed)) = c.sweep else {
            return NONE;
        };
        let s = len as f64;
        // The region may have shrunk since the last call, or the position be corrupt.
        let mut pos = self.sweep_pos;
        if !(pos.is_finite() && pos >= 0.0) {
            pos = 0.0;
        } else if pos >= s {
            pos %= s;
        }
        let advance = speed * exposure_s;
        if !positive(advance) {
            self.sweep_pos = pos;
            return NONE;
        }
        let mut end = pos + advance;
        let whole = end.round();
        if (end - whole).abs() < SNAP_PAGES {
            end = whole;
        }
        let n = if advance >= s {
            len
        } else {
            // end < 2s here, so the difference is below 2^33: the cast cannot wrap.
            ((end.floor() - pos.floor()) as u64).min(len as u64) as u32
        };
        let next = end % s;
        self.sweep_pos = if next.is_finite() && next >= 0.0 && next < s {
            next
        } else {
            // An infinite advance: the position is meaningless; stay put.
            pos
        };
        if n == 0 {
            return NONE;
        }
        let first = (pos.floor() as u32).min(len - 1);
        let tail = first as u64 + n as u64;
        if tail <= len as u64 {
            [(start + first, start + tail as u32), (0, 0)]
        } else {
            [
                (start + first, start + len),
                (start, start + (tail - len as u64) as u32),
            ]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::StableRng;
    use rand::SeedableRng;

    /// Only a hot set: `hot` pages at `hot_start`, inside a 5000-page footprint of a
    /// 10,000-page allocation.
    fn hot_only(hot: u32, hot_start: u32, rate: f64) -> MemoryProfile {
        MemoryProfile {
            pages: 10_000,
            footprint_pages: 5_000,
            hot_pages: hot,
            hot_start,
            hot_rate: rate,
            cold_rate: 0.0,
            sweep: None,
        }
    }

    /// Only a sweep over `[start, start + pages)` of a 10,000-page allocation.
    fn sweep_only(start: u32, pages: u32, speed: f64) -> MemoryProfile {
        MemoryProfile {
            pages: 10_000,
            footprint_pages: 0,
            hot_pages: 0,
            hot_start: 0,
            hot_rate: 0.0,
            cold_rate: 0.0,
            sweep: Some(Sweep {
                start,
                pages,
                pages_per_s: speed,
            }),
        }
    }

    fn range_set(len: u32, ranges: &[(u32, u32)]) -> PageSet {
        let mut s = PageSet::new(len);
        for &(lo, hi) in ranges {
            s.insert_range(lo, hi);
        }
        s
    }

    #[test]
    fn page_size_is_4_kib() {
        assert_eq!(PAGE_SIZE, 4096);
    }

    #[test]
    fn hot_set_mean_matches_analytic() {
        // 1000 hot pages at 2 writes/s for 0.5 s: p = 1 − e^(−1) = 0.632121, so
        // U = 1000·0.632121 = 632.12 pages. 1 − p = 0.368 ≥ 1/4, so this is the
        // bit-parallel path. Per-draw SD = √(1000·0.632·0.368) ≈ 15.2; the mean of
        // 200 has SD ≈ 1.1 pages, far inside 2% (12.6 pages).
        let profile = hot_only(1000, 2000, 2.0);
        let expected = profile.expected_unique(0.5);
        assert!((expected - 632.1206).abs() < 1e-3, "{expected}");
        // write_rate = 1000 pages · 2 /s = 2000 pages/s.
        assert_eq!(profile.write_rate(), 2000.0);
        let mut proc = DirtyProcess::new(profile);
        let mut rng = StableRng::seed_from_u64(1);
        let mut total = 0u64;
        for _ in 0..200 {
            let mut out = PageSet::new(10_000);
            let n = proc.dirty(0.5, &mut rng, &mut out);
            assert_eq!(n, out.count(), "pages are distinct");
            assert!(out.iter().all(|p| (2000..3000).contains(&p)));
            total += n as u64;
        }
        let mean = total as f64 / 200.0;
        assert!((mean / expected - 1.0).abs() < 0.02, "mean {mean}");
    }

    #[test]
    fn sparse_hot_writes_match_analytic() {
        // 1000 hot pages at 0.2 /s for 0.5 s: p = 1 − e^(−0.1) = 0.0951626, U = 95.16.
        // 1/1024 ≤ p < 1/4: the binomial-count path. Per-draw SD =
        // √(1000·0.0952·0.905) ≈ 9.3; the mean of 400 has SD ≈ 0.46 pages, inside 3%
        // (2.9 pages).
        let profile = hot_only(1000, 0, 0.2);
        let expected = profile.expected_unique(0.5);
        assert!((expected - 95.1626).abs() < 1e-3, "{expected}");
        let mut proc = DirtyProcess::new(profile);
        let mut rng = StableRng::seed_from_u64(2);
        let mut total = 0u64;
        for _ in 0..400 {
            let mut seen = Vec::new();
            let n = proc.touch(0.5, &mut rng, |p| seen.push(p));
            assert_eq!(n as usize, seen.len());
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(n as usize, seen.len(), "each page reported once");
            assert!(seen.iter().all(|&p| p < 1000));
            total += n as u64;
        }
        let mean = total as f64 / 400.0;
        assert!((mean / expected - 1.0).abs() < 0.03, "mean {mean}");
    }

    #[test]
    fn certain_hot_writes_cover_the_whole_hot_set() {
        // Rate 50 /s for 1 s: p = 1 − e^(−50) rounds to 1.0, so all 300 pages.
        let mut proc = DirtyProcess::new(hot_only(300, 100, 50.0));
        let mut out = PageSet::new(10_000);
        let n = proc.dirty(1.0, &mut StableRng::seed_from_u64(3), &mut out);
        assert_eq!(n, 300);
        assert_eq!(out, range_set(10_000, &[(100, 400)]));
    }

    #[test]
    fn cold_only_process_is_uniform_over_the_footprint() {
        // 10,000-page footprint at 0.1 /s for 1 s: p = 1 − e^(−0.1) = 0.0951626, so
        // U = 951.6 pages per draw. Over 100 draws: mean SD = √(10⁴·0.0952·0.905)/10 ≈
        // 2.9 (2% = 19); pages in the lower half total ≈ 100·5000·0.0951626 = 47,581
        // with SD ≈ 207 (2% = 952).
        let profile = MemoryProfile {
            pages: 20_000,
            footprint_pages: 10_000,
            hot_pages: 0,
            hot_start: 0,
            hot_rate: 0.0,
            cold_rate: 0.1,
            sweep: None,
        };
        let expected = profile.expected_unique(1.0);
        assert!((expected - 951.626).abs() < 1e-2, "{expected}");
        assert!((profile.write_rate() - 1000.0).abs() < 1e-9); // 10⁴ · 0.1
        let mut proc = DirtyProcess::new(profile);
        let mut rng = StableRng::seed_from_u64(4);
        let (mut total, mut lower) = (0u64, 0u64);
        for _ in 0..100 {
            let mut out = PageSet::new(20_000);
            total += proc.dirty(1.0, &mut rng, &mut out) as u64;
            assert!(
                out.iter().all(|p| p < 10_000),
                "only the footprint is written"
            );
            lower += out.iter().filter(|&p| p < 5_000).count() as u64;
        }
        let mean = total as f64 / 100.0;
        assert!((mean / expected - 1.0).abs() < 0.02, "mean {mean}");
        assert!(
            (lower as f64 / 47_581.3 - 1.0).abs() < 0.02,
            "lower half {lower}"
        );
    }

    #[test]
    fn cold_pages_skip_the_hot_set() {
        // Footprint [0, 3000), hot set [1000, 2000) never written (rate 0), cold rate
        // 50 /s for 1 s (p = 1): exactly [0, 1000) ∪ [2000, 3000) = 2000 pages.
        let mut proc = DirtyProcess::new(MemoryProfile {
            pages: 4000,
            footprint_pages: 3000,
            hot_pages: 1000,
            hot_start: 1000,
            hot_rate: 0.0,
            cold_rate: 50.0,
            sweep: None,
        });
        let mut out = PageSet::new(4000);
        assert_eq!(
            proc.dirty(1.0, &mut StableRng::seed_from_u64(5), &mut out),
            2000
        );
        assert_eq!(out, range_set(4000, &[(0, 1000), (2000, 3000)]));
    }

    #[test]
    fn sweep_small_steps_cover_exact_pages() {
        // 1000 pages/s over [2000, 7000): ten 0.1 s steps move 100 pages each, together
        // exactly [2000, 3000) — the same as one 1 s step.
        let mut rng = StableRng::seed_from_u64(6);
        let mut proc = DirtyProcess::new(sweep_only(2000, 5000, 1000.0));
        let mut out = PageSet::new(10_000);
        for _ in 0..10 {
            assert_eq!(proc.dirty(0.1, &mut rng, &mut out), 100);
        }
        assert_eq!(out, range_set(10_000, &[(2000, 3000)]));

        let mut big = DirtyProcess::new(sweep_only(2000, 5000, 1000.0));
        let mut out_big = PageSet::new(10_000);
        assert_eq!(big.dirty(1.0, &mut rng, &mut out_big), 1000);
        assert_eq!(out, out_big);

        // Steps that are not exact in binary: 7 × (1/7) s = 7 × 142.857… pages, which
        // must still add up to exactly 1000 pages, the next page starting at 3000.
        let mut sevenths = DirtyProcess::new(sweep_only(2000, 5000, 1000.0));
        let mut out7 = PageSet::new(10_000);
        let n: u32 = (0..7)
            .map(|_| sevenths.dirty(1.0 / 7.0, &mut rng, &mut out7))
            .sum();
        assert_eq!(n, 1000);
        assert_eq!(out7, out_big);

        // Fractional pages carry: 0.25 page per step, 4000 steps = 1000 pages.
        let mut quarter = DirtyProcess::new(sweep_only(2000, 5000, 1000.0));
        let mut outq = PageSet::new(10_000);
        let mut n = 0;
        for _ in 0..4000 {
            n += quarter.dirty(0.000_25, &mut rng, &mut outq);
        }
        assert_eq!(n, 1000);
        assert_eq!(outq, out_big);
    }

    #[test]
    fn sweep_wraps_past_region_end() {
        let mut rng = StableRng::seed_from_u64(7);
        let mut proc = DirtyProcess::new(sweep_only(2000, 5000, 1000.0));
        // 4.5 s: offsets 0..4499 = pages [2000, 6500).
        let mut out = PageSet::new(10_000);
        assert_eq!(proc.dirty(4.5, &mut rng, &mut out), 4500);
        assert_eq!(out, range_set(10_000, &[(2000, 6500)]));
        // 1 s more: offsets 4500..4999 then wrap to 0..499 = [6500, 7000) ∪ [2000, 2500).
        let mut out = PageSet::new(10_000);
        let mut order = Vec::new();
        assert_eq!(proc.touch(1.0, &mut rng, |p| order.push(p)), 1000);
        order.iter().for_each(|&p| {
            out.insert(p);
        });
        assert_eq!(out, range_set(10_000, &[(6500, 7000), (2000, 2500)]));
        // Sweep order: 6500 first, 6999 then 2000, 2499 last.
        assert_eq!(order[0], 6500);
        assert_eq!(order[499..=500], [6999, 2000]);
        assert_eq!(order[999], 2499);
    }

    #[test]
    fn sweep_longer_than_region_writes_each_page_once() {
        let mut rng = StableRng::seed_from_u64(8);
        let mut proc = DirtyProcess::new(sweep_only(2000, 5000, 1000.0));
        // 12 s = 12,000 pages over a 5000-page region: every page once, 5000 in all, and
        // the sweeper ends at offset 12,000 mod 5000 = 2000.
        let mut out = PageSet::new(10_000);
        assert_eq!(proc.dirty(12.0, &mut rng, &mut out), 5000);
        assert_eq!(out, range_set(10_000, &[(2000, 7000)]));
        let mut out = PageSet::new(10_000);
        assert_eq!(proc.dirty(0.1, &mut rng, &mut out), 100);
        assert_eq!(out, range_set(10_000, &[(4000, 4100)]));
    }

    #[test]
    fn sweep_and_hot_set_overlap_counts_once() {
        // Hot set [0, 1000) certainly written (50 /s for 1 s); sweep [500, 1500) covers
        // its whole region in 1 s. Union = [0, 1500) = 1500 pages, each reported once.
        let mut profile = hot_only(1000, 0, 50.0);
        profile.sweep = Some(Sweep {
            start: 500,
            pages: 1000,
            pages_per_s: 1000.0,
        });
        let mut proc = DirtyProcess::new(profile);
        let mut seen = Vec::new();
        let n = proc.touch(1.0, &mut StableRng::seed_from_u64(9), |p| seen.push(p));
        assert_eq!(n, 1500);
        seen.sort_unstable();
        assert_eq!(seen, (0..1500).collect::<Vec<_>>());
    }

    #[test]
    fn expected_unique_with_sweep() {
        // Hot [0, 1000) at 1 /s, footprint 4000, no cold writes, sweep [0, 2000) at
        // 1000 pages/s.
        let profile = MemoryProfile {
            pages: 10_000,
            footprint_pages: 4000,
            hot_pages: 1000,
            hot_start: 0,
            hot_rate: 1.0,
            cold_rate: 0.0,
            sweep: Some(Sweep {
                start: 0,
                pages: 2000,
                pages_per_s: 1000.0,
            }),
        };
        // Δ = 1 s: q_h = 1 − e^(−1) = 0.632121; hot term 632.121. The sweep covers half
        // its region (1000/2000); of its 2000 pages 1000 are hot (q_h) and 1000 cold
        // (q_c = 0): 0.5·(2000 − 632.121) = 683.940. Total 1316.061.
        let u = profile.expected_unique(1.0);
        assert!((u - 1316.0606).abs() < 1e-3, "{u}");
        // Δ = 10 s: the sweep covers its whole region, so everything in [0, 2000) is
        // written: 1000·(1 − e^(−10)) + (2000 − 1000·(1 − e^(−10))) = 2000 exactly.
        assert!((profile.expected_unique(10.0) - 2000.0).abs() < 1e-9);
        // write_rate = 1000·1 + 3000·0 + 1000 = 2000 pages/s.
        assert_eq!(profile.write_rate(), 2000.0);
        // Nothing for no exposure.
        assert_eq!(profile.expected_unique(0.0), 0.0);
        assert_eq!(profile.expected_unique(-1.0), 0.0);
        assert_eq!(profile.expected_unique(f64::NAN), 0.0);
    }

    #[test]
    fn no_exposure_writes_nothing() {
        let mut profile = hot_only(1000, 0, 50.0);
        profile.cold_rate = 50.0;
        profile.sweep = Some(Sweep {
            start: 0,
            pages: 100,
            pages_per_s: 1000.0,
        });
        let mut proc = DirtyProcess::new(profile);
        let mut rng = StableRng::seed_from_u64(10);
        let mut out = PageSet::new(10_000);
        for e in [0.0, -1.0, f64::NAN, f64::NEG_INFINITY] {
            assert_eq!(proc.dirty(e, &mut rng, &mut out), 0);
            assert_eq!(proc.touch(e, &mut rng, |_| panic!("no page expected")), 0);
        }
        assert!(out.is_empty());
        // The sweep did not move: the next 0.01 s (10 pages) starts at offset 0.
        proc.profile.hot_rate = 0.0;
        proc.profile.cold_rate = 0.0;
        assert_eq!(proc.dirty(0.01, &mut rng, &mut out), 10);
        assert_eq!(out, range_set(10_000, &[(0, 10)]));
    }

    #[test]
    fn seeded_runs_are_identical() {
        let profile = MemoryProfile {
            pages: 50_000,
            footprint_pages: 40_000,
            hot_pages: 2_000,
            hot_start: 10_000,
            hot_rate: 5.0,
            cold_rate: 0.05,
            sweep: Some(Sweep {
                start: 30_000,
                pages: 15_000,
                pages_per_s: 3_000.0,
            }),
        };
        let run = |seed: u64| {
            let mut proc = DirtyProcess::new(profile.clone());
            let mut rng = StableRng::seed_from_u64(seed);
            let mut sets = Vec::new();
            let mut order = Vec::new();
            for _ in 0..20 {
                let mut out = PageSet::new(50_000);
                let n = proc.dirty(0.05, &mut rng, &mut out);
                assert_eq!(n, out.count());
                sets.push(out);
                proc.touch(0.05, &mut rng, |p| order.push(p));
            }
            (sets, order)
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
    }

    #[test]
    fn huge_allocation_costs_only_pages_written() {
        // 2³² − 1 pages (16 TiB) at 10⁻⁹ writes/page/s for 1 s: ≈ 4.3 pages expected. Any
        // O(allocation) step would take minutes in a debug build.
        let mut proc = DirtyProcess::new(MemoryProfile {
            pages: u32::MAX,
            footprint_pages: u32::MAX,
            hot_pages: 1000,
            hot_start: u32::MAX - 1000,
            hot_rate: 1e-6,
            cold_rate: 1e-9,
            sweep: None,
        });
        let mut rng = StableRng::seed_from_u64(11);
        let mut total = 0u64;
        for _ in 0..100 {
            total += proc.touch(1.0, &mut rng, |_| {}) as u64;
        }
        // Mean ≈ 4.29 pages per call; 100 calls ≈ 429 ± 21.
        assert!((300..600).contains(&total), "{total}");
    }

    #[test]
    fn unchecked_profiles_never_panic() {
        let bad = [
            MemoryProfile {
                pages: 100,
                footprint_pages: 500,
                hot_pages: 900,
                hot_start: u32::MAX,
                hot_rate: f64::INFINITY,
                cold_rate: f64::NAN,
                sweep: Some(Sweep {
                    start: 90,
                    pages: u32::MAX,
                    pages_per_s: f64::INFINITY,
                }),
            },
            MemoryProfile {
                pages: 0,
                footprint_pages: 10,
                hot_pages: 10,
                hot_start: 0,
                hot_rate: -1.0,
                cold_rate: 1.0,
                sweep: Some(Sweep {
                    start: 5,
                    pages: 0,
                    pages_per_s: -3.0,
                }),
            },
            MemoryProfile {
                pages: 100,
                footprint_pages: 100,
                hot_pages: 0,
                hot_start: 0,
                hot_rate: 0.0,
                cold_rate: f64::MAX,
                sweep: Some(Sweep {
                    start: 200,
                    pages: 10,
                    pages_per_s: f64::NAN,
                }),
            },
        ];
        let mut rng = StableRng::seed_from_u64(12);
        for profile in bad {
            assert!(profile.check().is_err());
            let _ = profile.expected_unique(1.0);
            let _ = profile.write_rate();
            let mut proc = DirtyProcess::new(profile.clone());
            for e in [1e-3, 1.0, 1e300, f64::INFINITY] {
                // An output bitmap smaller than the allocation just drops the excess.
                let mut out = PageSet::new(50);
                let n = proc.dirty(e, &mut rng, &mut out);
                assert!(n <= profile.pages, "{n}");
                let m = proc.touch(e, &mut rng, |p| assert!(p < profile.pages));
                assert!(m <= profile.pages);
            }
        }
    }

    #[test]
    fn check_names_each_invalid_field() {
        let good = MemoryProfile {
            pages: 1000,
            footprint_pages: 800,
            hot_pages: 100,
            hot_start: 700,
            hot_rate: 2.0,
            cold_rate: 0.01,
            sweep: Some(Sweep {
                start: 300,
                pages: 500,
                pages_per_s: 100.0,
            }),
        };
        assert_eq!(good.check(), Ok(()));
        type Mutation = Box<dyn Fn(&mut MemoryProfile)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("pages", Box::new(|p| p.pages = 0)),
            ("footprint_pages", Box::new(|p| p.footprint_pages = 1001)),
            ("hot_pages", Box::new(|p| p.hot_pages = 801)),
            // 701 + 100 = 801 > 800: the hot set pokes out of the footprint.
            ("hot_start", Box::new(|p| p.hot_start = 701)),
            ("hot_rate", Box::new(|p| p.hot_rate = -0.5)),
            ("hot_rate", Box::new(|p| p.hot_rate = f64::INFINITY)),
            ("cold_rate", Box::new(|p| p.cold_rate = f64::NAN)),
            // 501 + 500 = 1001 > 1000 pages.
            (
                "sweep.start",
                Box::new(|p| p.sweep.as_mut().unwrap().start = 501),
            ),
            (
                "sweep.pages",
                Box::new(|p| p.sweep.as_mut().unwrap().pages = 0),
            ),
            (
                "sweep.pages_per_s",
                Box::new(|p| p.sweep.as_mut().unwrap().pages_per_s = -1.0),
            ),
        ];
        for (field, mutate) in cases {
            let mut p = good.clone();
            mutate(&mut p);
            let err = p.check().expect_err(field);
            assert!(err.contains(field), "{field}: {err}");
        }
        // A sweep ending exactly at the footprint's end is fine: 0 + 800 = 800; one page
        // more pokes out of the pages the VM touches.
        let mut edge = good.clone();
        edge.hot_start = 0;
        edge.sweep = Some(Sweep {
            start: 0,
            pages: 800,
            pages_per_s: 0.0,
        });
        assert_eq!(edge.check(), Ok(()));
        edge.sweep.as_mut().unwrap().pages = 801;
        assert!(edge.check().is_err());
    }

    /// A hot-only profile of `pages` hot pages starting at page 37 (not word-aligned),
    /// written with probability `p` in one second.
    fn hot_with_probability(pages: u32, p: f64) -> MemoryProfile {
        MemoryProfile {
            pages: pages + 1000,
            footprint_pages: pages + 100,
            hot_pages: pages,
            hot_start: 37,
            hot_rate: -(-p).ln_1p(),
            cold_rate: 0.0,
            sweep: None,
        }
    }

    #[test]
    fn every_sampling_method_matches_the_bernoulli_law() {
        // One probability per method (and per side of 1/2): geometric gaps between
        // written pages, binomial counts, bit-parallel words, binomial counts of unwritten
        // pages, gaps between unwritten pages. For each, the mean number written per draw
        // must be within 2% of n·p, and so must each half of the set (uniformity), with
        // the draws chosen so that 2% is at least 4 standard deviations. Every page is
        // reported once, in increasing order, inside the hot set.
        let n = 100_000u32;
        for (p, draws) in [
            (0.0004, 3000),
            (0.01, 120),
            (0.3, 20),
            (0.7, 20),
            (0.95, 20),
            (0.9995, 20),
        ] {
            let profile = hot_with_probability(n, p);
            let expected = profile.expected_unique(1.0);
            assert!((expected / (n as f64 * p) - 1.0).abs() < 1e-9);
            let mut proc = DirtyProcess::new(profile);
            let mut rng = StableRng::seed_from_u64(20);
            let (mut total, mut lower) = (0u64, 0u64);
            for _ in 0..draws {
                let mut seen = Vec::new();
                let k = proc.touch(1.0, &mut rng, |q| seen.push(q));
                assert_eq!(k as usize, seen.len());
                assert!(seen.windows(2).all(|w| w[0] < w[1]), "p = {p}: order");
                assert!(seen.iter().all(|&q| (37..37 + n).contains(&q)));
                total += k as u64;
                lower += seen.iter().filter(|&&q| q < 37 + n / 2).count() as u64;
            }
            let mean = total as f64 / draws as f64;
            assert!((mean / expected - 1.0).abs() < 0.02, "p = {p}: mean {mean}");
            let half = lower as f64 / draws as f64 / (expected / 2.0);
            assert!((half - 1.0).abs() < 0.02, "p = {p}: lower half {half}");
        }
    }

    #[test]
    fn sinks_see_the_same_pages_for_the_same_draws() {
        // The same seed through `dirty` (a bitmap, word at a time) and `touch` (page by
        // page) gives the same pages, every method in one profile: a sweep through part
        // of a hot set, hot writes dense, cold writes sparse.
        let profile = MemoryProfile {
            pages: 300_000,
            footprint_pages: 250_000,
            hot_pages: 20_000,
            hot_start: 1_001,
            hot_rate: 30.0,
            cold_rate: 0.3,
            sweep: Some(Sweep {
                start: 15_000,
                pages: 100_000,
                pages_per_s: 400_000.0,
            }),
        };
        for (seed, e) in [(1, 0.01), (2, 0.03), (3, 0.2), (4, 0.002)] {
            let mut a = DirtyProcess::new(profile.clone());
            let mut b = DirtyProcess::new(profile.clone());
            let mut out = PageSet::new(300_000);
            let na = a.dirty(e, &mut StableRng::seed_from_u64(seed), &mut out);
            let mut seen = Vec::new();
            let nb = b.touch(e, &mut StableRng::seed_from_u64(seed), |q| seen.push(q));
            assert_eq!(na, nb);
            assert_eq!(na, out.count());
            let mut sorted = seen.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), seen.len(), "each page once");
            assert_eq!(sorted, out.iter().collect::<Vec<_>>());
        }
    }

    #[test]
    fn bernoulli64_lanes_have_probability_p() {
        // Each lane over 40,000 words: SD of the frequency ≤ √(0.25/40000) = 0.0025;
        // allow 4 SD. Lanes outside the mask are never set.
        let mut rng = StableRng::seed_from_u64(21);
        for p in [0.3, 0.5, 0.5 + 2f64.powi(-40), 0.999] {
            let d = Bernoulli64::new(p);
            let lanes = 0xffff_ffff_0000_ffffu64;
            let mut counts = [0u32; 64];
            for _ in 0..40_000 {
                let w = d.draw(lanes, &mut rng);
                assert_eq!(w & !lanes, 0);
                for (i, c) in counts.iter_mut().enumerate() {
                    *c += (w >> i & 1) as u32;
                }
            }
            for (i, &c) in counts.iter().enumerate() {
                let f = c as f64 / 40_000.0;
                if lanes >> i & 1 == 1 {
                    assert!((f - p).abs() < 0.01, "p {p} lane {i}: {f}");
                } else {
                    assert_eq!(c, 0);
                }
            }
        }
    }

    #[test]
    fn scatter_sets_k_distinct_uniform_pages() {
        // 100 positions among the first 1000 of a 16-word chunk, 2000 times: each page
        // expects 200 hits (SD ≈ 13.4); every count within 6 SD, the touched mask exact.
        let mut rng = StableRng::seed_from_u64(22);
        let mut hits = vec![0u32; 1024];
        for _ in 0..2000 {
            let mut words = [0u64; 16];
            let touched = scatter(100, 1000, &mut words, &mut rng);
            let n: u32 = words.iter().map(|w| w.count_ones()).sum();
            assert_eq!(n, 100);
            for (i, &w) in words.iter().enumerate() {
                assert_eq!(touched >> i & 1 == 1, w != 0);
                for b in 0..64 {
                    hits[i * 64 + b] += (w >> b & 1) as u32;
                }
            }
        }
        assert!(
            hits[1000..].iter().all(|&h| h == 0),
            "only the first 1000 pages"
        );
        assert!(
            hits[..1000].iter().all(|&h| h.abs_diff(200) < 80),
            "{hits:?}"
        );
    }
}
