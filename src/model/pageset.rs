//! A set of guest page numbers as a bitmap: the `to_send` / `to_skip` / `dirty` maps of
//! a migration (notes/migration.md §6.1).
//!
//! Pages are numbered `0..len` (a page is [`crate::model::memory::PAGE_SIZE`] bytes). The
//! bitmap is one bit per page in `u64` words, so a 600 MB VM (153,600 pages) costs 19 KB
//! and a 16 GiB VM (4M pages) 512 KB. Every scan works a word at a time with
//! `trailing_zeros` / `count_ones`, because a pre-copy round walks the whole map once per
//! round and the dirty map is usually sparse. The number of set pages is maintained on
//! every change, because the migration algorithms test it after every batch (stop
//! below 50 dirty pages).
//!
//! No operation panics: page numbers at or past `len` are ignored (never set, never
//! contained), ranges are clamped to `0..len`, and sets of different lengths combine over
//! the pages they share.

/// Bits per bitmap word.
const WORD: u32 = 64;

/// A set of page numbers `0..len` (pages, not bytes) as a bitmap, with a maintained count.
///
/// Invariant: bits at or past `len` in the last word are always zero, so whole-word
/// operations (`count_ones`, `&`, `|`) never need to mask anything but incoming data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageSet {
    /// One bit per page, page `p` at bit `p % 64` of word `p / 64`.
    words: Vec<u64>,
    /// Number of pages the set can hold (pages `0..len`).
    len: u32,
    /// Number of set pages, kept equal to the popcount of `words`.
    count: u32,
}

/// Number of words needed for `len` pages.
fn words_for(len: u32) -> usize {
    (len as usize).div_ceil(WORD as usize)
}

/// Mask of the valid bits in the last word of a `len`-page set (all ones if `len` is a
/// multiple of 64; meaningless, but harmless, when `len` is 0 as there is no word).
fn last_mask(len: u32) -> u64 {
    match len % WORD {
        0 => !0,
        r => (1u64 << r) - 1,
    }
}

impl PageSet {
    /// An empty set over pages `0..len`.
    pub fn new(len: u32) -> Self {
        PageSet {
            words: vec![0; words_for(len)],
            len,
            count: 0,
        }
    }

    /// A set holding every page `0..len` (Xen's round 1 sends the whole allocation).
    pub fn full(len: u32) -> Self {
        let mut words = vec![!0u64; words_for(len)];
        if let Some(last) = words.last_mut() {
            // Keep the invariant: no bits past `len`.
            *last &= last_mask(len);
        }
        PageSet {
            words,
            len,
            count: len,
        }
    }

    /// Number of pages the set ranges over (pages `0..len`), in pages.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Number of pages currently in the set, in pages.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// True when no page is set (`count() == 0`), whatever `len` is.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Whether page `p` (a page number) is set; false for `p >= len`.
    pub fn contains(&self, p: u32) -> bool {
        if p >= self.len {
            return false;
        }
        self.words[(p / WORD) as usize] & (1u64 << (p % WORD)) != 0
    }

    /// Sets page `p`; true if it was not set before. Pages `>= len` are ignored (false).
    pub fn insert(&mut self, p: u32) -> bool {
        if p >= self.len {
            return false;
        }
        let w = &mut self.words[(p / WORD) as usize];
        let bit = 1u64 << (p % WORD);
        if *w & bit != 0 {
            return false;
        }
        *w |= bit;
        self.count += 1;
        true
    }

    /// Clears page `p`; true if it was set. Pages `>= len` are ignored (false).
    pub fn remove(&mut self, p: u32) -> bool {
        if p >= self.len {
            return false;
        }
        let w = &mut self.words[(p / WORD) as usize];
        let bit = 1u64 << (p % WORD);
        if *w & bit == 0 {
            return false;
        }
        *w &= !bit;
        self.count -= 1;
        true
    }

    /// Sets every page in `[start, end)` (page numbers), clamped to `0..len`; an empty or
    /// reversed range does nothing. Works a word at a time, because a sweep or a whole
    /// round can cover millions of pages.
    pub fn insert_range(&mut self, start: u32, end: u32) {
        let end = end.min(self.len);
        if start >= end {
            return;
        }
        let first = (start / WORD) as usize;
        let last = ((end - 1) / WORD) as usize;
        for w in first..=last {
            let lo = if w == first { start % WORD } else { 0 };
            let hi = if w == last {
                (end - 1) % WORD + 1
            } else {
                WORD
            };
            // hi - lo is in 1..=64; a shift by 64 would overflow, so the full word is special.
            let mask = if hi - lo == WORD {
                !0
            } else {
                ((1u64 << (hi - lo)) - 1) << lo
            };
            let word = &mut self.words[w];
            self.count += (mask & !*word).count_ones();
            *word |= mask;
        }
    }

    /// Empties the set, keeping its length.
    pub fn clear(&mut self) {
        self.words.fill(0);
        self.count = 0;
    }

    /// Adds every page of `other` (pages at or past `self.len()` are dropped, so sets of
    /// different lengths combine over the pages they share).
    pub fn union_with(&mut self, other: &PageSet) {
        let n = self.words.len().min(other.words.len());
        let last = self.words.len().wrapping_sub(1);
        let mask = last_mask(self.len);
        for i in 0..n {
            let mut w = other.words[i];
            if i == last {
                // `other` may be longer: keep our invariant.
                w &= mask;
            }
            self.count += (w & !self.words[i]).count_ones();
            self.words[i] |= w;
        }
    }

    /// Returns the current contents and leaves `self` empty with the same length: Xen's
    /// `XEN_DOMCTL_SHADOW_OP_CLEAN`, which reads the log-dirty bitmap and resets it in one
    /// step so no write is lost between reading and clearing.
    pub fn take(&mut self) -> PageSet {
        std::mem::replace(self, PageSet::new(self.len))
    }

    /// The lowest set page at or after page `from`, or `None` (wrapping around is the
    /// caller's job). Skips empty words 64 pages at a time, so walking a whole sparse
    /// map with `next_set(p + 1)` costs O(words + set pages), not O(len²).
    pub fn next_set(&self, from: u32) -> Option<u32> {
        if from >= self.len {
            return None;
        }
        let mut w = (from / WORD) as usize;
        let mut bits = self.words[w] & (!0u64 << (from % WORD));
        loop {
            if bits != 0 {
                return Some(w as u32 * WORD + bits.trailing_zeros());
            }
            w += 1;
            bits = *self.words.get(w)?;
        }
    }

    /// The set pages in increasing page-number order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        Iter {
            words: &self.words,
            index: 0,
            current: self.words.first().copied().unwrap_or(0),
        }
    }

    /// Number of bitmap words: page `p` lives in word `p / 64`.
    pub fn word_count(&self) -> usize {
        self.words.len()
    }

    /// Word `w` of the bitmap (pages `64·w ..= 64·w + 63`, page `64·w + i` at bit `i`);
    /// 0 past the end.
    pub fn word(&self, w: usize) -> u64 {
        self.words.get(w).copied().unwrap_or(0)
    }

    /// Sets the pages of word `w` given by `bits` (bit `i` = page `64·w + i`); returns how
    /// many were not set before. Pages at or past `len` are ignored.
    #[inline]
    pub fn insert_word(&mut self, w: usize, bits: u64) -> u32 {
        // Every word but the last holds only valid pages: no mask needed.
        if w + 1 < self.words.len() {
            let word = &mut self.words[w];
            let new = (bits & !*word).count_ones();
            *word |= bits;
            self.count += new;
            return new;
        }
        self.insert_last_word(w, bits)
    }

    /// [`PageSet::insert_word`] for the last word (masked to `len`) or past the end.
    fn insert_last_word(&mut self, w: usize, bits: u64) -> u32 {
        let mask = last_mask(self.len);
        let Some(word) = self.words.get_mut(w) else {
            return 0;
        };
        let bits = bits & mask;
        let new = (bits & !*word).count_ones();
        *word |= bits;
        self.count += new;
        new
    }

    /// [`PageSet::insert_word`] for words `first`, `first + 1`, … at once; returns how
    /// many pages were not set before.
    pub fn insert_words(&mut self, first: usize, bits: &[u64]) -> u32 {
        let n = self.words.len();
        if first >= n {
            return 0;
        }
        // All but the set's last word need no mask.
        let whole = bits.len().min(n - 1 - first);
        let mut new = 0;
        for (word, &b) in self.words[first..first + whole].iter_mut().zip(bits) {
            new += (b & !*word).count_ones();
            *word |= b;
        }
        self.count += new;
        if let Some(&b) = bits.get(whole) {
            new += self.insert_last_word(first + whole, b);
        }
        new
    }

    /// [`PageSet::insert_words`] into `self` and `other` at once (one pass over the
    /// words for both: a migration's dirty log and stale map take every write). Only
    /// words `i` with bit `i` of `occupied` set are looked at (all when it is all ones).
    pub fn insert_words_both(
        &mut self,
        other: &mut PageSet,
        first: usize,
        bits: &[u64],
        occupied: u64,
    ) {
        let end = first + bits.len();
        // The common case: both sets equally long and the words not their last.
        if self.len == other.len && end < self.words.len() && bits.len() <= 64 {
            let a = &mut self.words[first..end];
            let b = &mut other.words[first..end];
            let (mut new_a, mut new_b) = (0, 0);
            if occupied == !0u64 >> (64 - bits.len()) {
                // Dense: every word. Whether it adds anything is predictable here (random
                // words mostly do; a hot set written again mostly does not), unlike
                // whether a sparse word is empty, so only then are bits counted.
                for ((x, y), &m) in a.iter_mut().zip(b.iter_mut()).zip(bits) {
                    let (nx, ny) = (m & !*x, m & !*y);
                    if nx | ny != 0 {
                        new_a += nx.count_ones();
                        new_b += ny.count_ones();
                        *x |= m;
                        *y |= m;
                    }
                }
            } else {
                // Sparse: only the occupied words, in increasing order.
                let mut occ = occupied;
                while occ != 0 {
                    let i = occ.trailing_zeros() as usize;
                    occ &= occ - 1;
                    let m = bits[i];
                    new_a += (m & !a[i]).count_ones();
                    new_b += (m & !b[i]).count_ones();
                    a[i] |= m;
                    b[i] |= m;
                }
            }
            self.count += new_a;
            other.count += new_b;
        } else {
            self.insert_words(first, bits);
            other.insert_words(first, bits);
        }
    }

    /// Clears the pages of word `w` given by `bits`; returns how many were set.
    #[inline]
    pub fn remove_word(&mut self, w: usize, bits: u64) -> u32 {
        let Some(word) = self.words.get_mut(w) else {
            return 0;
        };
        let gone = (bits & *word).count_ones();
        *word &= !bits;
        self.count -= gone;
        gone
    }

    /// Number of pages set in both `self` and `other` (over the pages they share), in pages.
    pub fn intersection_count(&self, other: &PageSet) -> u32 {
        self.words
            .iter()
            .zip(&other.words)
            .map(|(a, b)| (a & b).count_ones())
            .sum()
    }
}

/// The bits of word `w` (pages `64·w ..= 64·w + 63`) that lie in the page range
/// `[lo, hi)`; 0 for an empty or reversed range.
pub fn range_mask(w: usize, lo: u32, hi: u32) -> u64 {
    let base = w as u64 * WORD as u64;
    let a = (lo as u64).max(base);
    let b = (hi as u64).min(base + WORD as u64);
    if a >= b {
        return 0;
    }
    // b − a is in 1..=64: shift an all-ones word right so a full word needs no special case.
    (!0u64 >> (WORD as u64 - (b - a))) << (a - base)
}

/// Where written pages go: a bitmap, a migration's page state, or the post-copy fault
/// path. Pages come one at a time, as a range (a sweep) or as a word of a bitmap (a word
/// of Bernoulli draws), so a sink that keeps bitmaps can take them a word at a time.
pub trait PageSink {
    /// Page `p` was written.
    fn page(&mut self, p: u32);

    /// Every page in `[lo, hi)` was written, in increasing order.
    fn range(&mut self, lo: u32, hi: u32) {
        for p in lo..hi {
            self.page(p);
        }
    }

    /// The pages of words `first`, `first + 1`, … given by `words` (at most 64) were
    /// written, in increasing order. Only words `i` with bit `i` of `occupied` set may be
    /// non-zero (a sparse chunk need not be walked word by word).
    fn words(&mut self, first: usize, words: &[u64], occupied: u64) {
        let mut occ = occupied;
        while occ != 0 {
            let i = occ.trailing_zeros() as usize;
            occ &= occ - 1;
            if let Some(&bits) = words.get(i) {
                if bits != 0 {
                    self.word(first + i, bits);
                }
            }
        }
    }

    /// The pages of word `w` given by `bits` (bit `i` = page `64·w + i`) were written, in
    /// increasing order.
    fn word(&mut self, w: usize, mut bits: u64) {
        let base = w as u64 * WORD as u64;
        while bits != 0 {
            let p = base + bits.trailing_zeros() as u64;
            bits &= bits - 1;
            // Pages past u32::MAX cannot exist in a bitmap; never wrap around.
            if let Ok(p) = u32::try_from(p) {
                self.page(p);
            }
        }
    }
}

impl PageSink for PageSet {
    fn page(&mut self, p: u32) {
        self.insert(p);
    }
    fn range(&mut self, lo: u32, hi: u32) {
        self.insert_range(lo, hi);
    }
    fn word(&mut self, w: usize, bits: u64) {
        self.insert_word(w, bits);
    }
    fn words(&mut self, first: usize, words: &[u64], _occupied: u64) {
        self.insert_words(first, words);
    }
}

/// Iterator over set pages: pops the lowest bit of the current word, then skips to the
/// next non-empty word.
struct Iter<'a> {
    words: &'a [u64],
    /// Index of the word `current` came from.
    index: usize,
    /// Bits of `words[index]` not yet returned.
    current: u64,
}

impl Iterator for Iter<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        while self.current == 0 {
            self.index += 1;
            self.current = *self.words.get(self.index)?;
        }
        let bit = self.current.trailing_zeros();
        // Clear the lowest set bit.
        self.current &= self.current - 1;
        Some(self.index as u32 * WORD + bit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_and_full() {
        let e = PageSet::new(130);
        assert_eq!((e.len(), e.count(), e.is_empty()), (130, 0, true));
        // 130 pages = 3 words; the last holds pages 128 and 129 only.
        let f = PageSet::full(130);
        assert_eq!(f.count(), 130);
        assert!(f.contains(0) && f.contains(127) && f.contains(129));
        assert!(!f.contains(130));
        assert_eq!(f.iter().count(), 130);
        assert_eq!(f.iter().last(), Some(129));
        // Exactly 128 pages: two full words, no partial word.
        assert_eq!(PageSet::full(128).iter().count(), 128);
        // Zero pages: nothing at all, nothing panics.
        let mut z = PageSet::full(0);
        assert_eq!((z.len(), z.count()), (0, 0));
        assert!(!z.insert(0));
        assert_eq!(z.next_set(0), None);
        assert_eq!(z.iter().next(), None);
        z.insert_range(0, 10);
        z.union_with(&PageSet::full(100));
        assert_eq!(z.count(), 0);
    }

    #[test]
    fn insert_remove_contains() {
        let mut s = PageSet::new(100);
        assert!(s.insert(5));
        assert!(!s.insert(5)); // already set
        assert!(s.insert(64)); // first bit of the second word
        assert!(s.insert(99)); // last page
        assert!(!s.insert(100)); // out of range: ignored
        assert!(!s.insert(u32::MAX));
        assert_eq!(s.count(), 3);
        assert!(s.contains(64) && !s.contains(63) && !s.contains(100));
        assert!(s.remove(5));
        assert!(!s.remove(5)); // no longer set
        assert!(!s.remove(1000));
        assert_eq!(s.count(), 2);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![64, 99]);
    }

    #[test]
    fn insert_range_crosses_words() {
        let mut s = PageSet::new(300);
        // [60, 200): tail of word 0 (60..63, 4 pages), all of words 1 and 2 (64..191,
        // 128 pages), head of word 3 (192..199, 8 pages) = 140 pages.
        s.insert_range(60, 200);
        assert_eq!(s.count(), 140);
        assert!(!s.contains(59) && s.contains(60) && s.contains(199) && !s.contains(200));
        // Overlapping [190, 210): 190..199 already set, 200..209 new = 10 more.
        s.insert_range(190, 210);
        assert_eq!(s.count(), 150);
        // Inside one word: [3, 7) = 4 pages.
        s.insert_range(3, 7);
        assert_eq!(s.count(), 154);
        // Clamped at len: [290, 1000) sets 290..299 = 10 pages.
        s.insert_range(290, 1000);
        assert_eq!(s.count(), 164);
        assert!(s.contains(299));
        // Empty and reversed ranges do nothing.
        s.insert_range(250, 250);
        s.insert_range(260, 250);
        s.insert_range(400, 500);
        assert_eq!(s.count(), 164);
        // Exactly one whole word [64, 128) on a fresh set.
        let mut w = PageSet::new(300);
        w.insert_range(64, 128);
        assert_eq!(w.count(), 64);
        assert_eq!(w.iter().next(), Some(64));
        assert_eq!(w.iter().last(), Some(127));
        // The count always equals what the iterator sees.
        assert_eq!(s.iter().count() as u32, s.count());
    }

    #[test]
    fn next_set_across_words() {
        let mut s = PageSet::new(1000);
        for p in [3, 63, 64, 500, 999] {
            s.insert(p);
        }
        assert_eq!(s.next_set(0), Some(3));
        assert_eq!(s.next_set(3), Some(3)); // "at or after"
        assert_eq!(s.next_set(4), Some(63));
        assert_eq!(s.next_set(64), Some(64));
        // From 65 the rest of word 1 and words 2..6 are empty: 500 is in word 7.
        assert_eq!(s.next_set(65), Some(500));
        assert_eq!(s.next_set(501), Some(999));
        assert_eq!(s.next_set(999), Some(999));
        assert_eq!(s.next_set(1000), None);
        assert_eq!(s.next_set(u32::MAX), None);
        s.remove(999);
        assert_eq!(s.next_set(501), None);
    }

    #[test]
    fn next_set_full_pass_over_sparse_16gib_map() {
        // 16 GiB = 4 Mi pages = 65,536 words; one page in 4096 set = 1024 pages. A full
        // pass is 65,536 word reads + 1024 hits; quadratic behaviour would be ~10^9
        // steps and make this test crawl even in a debug build.
        let len = 4 * 1024 * 1024;
        let mut s = PageSet::new(len);
        for p in (7..len).step_by(4096) {
            s.insert(p);
        }
        let mut found = 0;
        let mut next = 0;
        while let Some(p) = s.next_set(next) {
            assert_eq!(p % 4096, 7);
            found += 1;
            next = p + 1;
        }
        assert_eq!(found, 1024);
    }

    #[test]
    fn take_empties_and_returns_contents() {
        let mut s = PageSet::new(200);
        s.insert_range(10, 20);
        let before = s.clone();
        let t = s.take();
        assert_eq!(t, before);
        assert_eq!(t.count(), 10);
        assert!(s.is_empty());
        assert_eq!(s.len(), 200);
        assert_eq!(s.iter().next(), None);
        // The emptied set still works.
        assert!(s.insert(15));
        assert_eq!(s.count(), 1);
    }

    #[test]
    fn clear_keeps_len() {
        let mut s = PageSet::full(70);
        s.clear();
        assert_eq!((s.len(), s.count()), (70, 0));
        assert_eq!(s, PageSet::new(70));
    }

    #[test]
    fn union_counts_only_new_pages() {
        let mut a = PageSet::new(200);
        a.insert_range(0, 100); // 100 pages
        let mut b = PageSet::new(200);
        b.insert_range(50, 150); // 100 pages, 50 shared
        assert_eq!(a.intersection_count(&b), 50);
        a.union_with(&b);
        // 0..150 = 100 + 100 − 50 shared = 150.
        assert_eq!(a.count(), 150);
        assert_eq!(a.iter().count(), 150);
        // A longer other: only pages < 100 land in a 100-page set.
        let mut short = PageSet::new(100);
        short.union_with(&PageSet::full(300));
        assert_eq!(short.count(), 100);
        assert_eq!(short, PageSet::full(100));
        // A shorter other: its pages land, the rest stay as they were.
        let mut long = PageSet::new(300);
        long.insert(250);
        long.union_with(&PageSet::full(10));
        assert_eq!(long.count(), 11);
        // Intersections over different lengths use the shared pages: 10 (0..9) + 0.
        assert_eq!(long.intersection_count(&PageSet::full(100)), 10);
    }

    #[test]
    fn iter_in_order() {
        let mut s = PageSet::new(500);
        for p in [499, 0, 128, 127, 64] {
            s.insert(p);
        }
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![0, 64, 127, 128, 499]);
        // Empty leading words are skipped.
        let mut t = PageSet::new(500);
        t.insert(300);
        assert_eq!(t.iter().collect::<Vec<_>>(), vec![300]);
    }

    #[test]
    fn range_mask_cuts_a_word() {
        // Word 1 is pages 64..=127.
        assert_eq!(range_mask(1, 0, 1000), !0);
        assert_eq!(range_mask(1, 64, 128), !0);
        assert_eq!(range_mask(1, 70, 72), 0b11 << 6);
        assert_eq!(range_mask(1, 0, 65), 1);
        assert_eq!(range_mask(1, 127, 200), 1 << 63);
        assert_eq!(range_mask(1, 128, 200), 0);
        assert_eq!(range_mask(1, 10, 64), 0);
        assert_eq!(range_mask(1, 80, 70), 0); // reversed
                                              // The last word of the u32 page space: no overflow.
        let last = (u32::MAX / 64) as usize;
        assert_eq!(range_mask(last, u32::MAX - 1, u32::MAX), 1 << 62);
        assert_eq!(range_mask(last, 0, u32::MAX), !0 >> 1);
    }

    #[test]
    fn word_operations_keep_the_count_and_the_length() {
        // 100 pages: word 1 holds pages 64..=99 only.
        let mut s = PageSet::new(100);
        assert_eq!(s.word_count(), 2);
        assert_eq!(s.insert_word(0, 0b1011), 3);
        assert_eq!(s.insert_word(0, 0b0110), 1); // only page 2 is new
        assert_eq!(s.insert_word(1, !0), 36); // masked to pages 64..=99
        assert_eq!(s.insert_word(2, !0), 0); // past the end
        assert_eq!(s.count(), 40);
        assert_eq!(s.word(0), 0b1111);
        assert_eq!(s.word(1), (1 << 36) - 1);
        assert_eq!(s.word(7), 0);
        assert_eq!(s.remove_word(1, 0b101), 2);
        assert_eq!(s.remove_word(1, 0b101), 0);
        assert_eq!(s.remove_word(9, !0), 0);
        assert_eq!(s.count(), 38);
        assert_eq!(s.iter().count(), 38);
    }

    #[test]
    fn insert_words_matches_page_by_page() {
        use crate::engine::rng::StableRng;
        use rand::{Rng, SeedableRng};
        let mut rng = StableRng::seed_from_u64(5);
        for len in [1u32, 64, 100, 640, 4095, 4096, 5000] {
            for _ in 0..20 {
                let mut a = PageSet::new(len);
                let mut b = PageSet::new(len);
                a.insert_range(rng.random_range(0..len), rng.random_range(0..=len));
                b.insert_range(rng.random_range(0..len), rng.random_range(0..=len));
                let first = rng.random_range(0..a.word_count() + 2);
                let n = rng.random_range(1..=64);
                let bits: Vec<u64> = (0..n)
                    .map(|_| {
                        if rng.random_bool(0.3) {
                            0
                        } else {
                            rng.random()
                        }
                    })
                    .collect();
                let occupied = bits
                    .iter()
                    .enumerate()
                    .fold(0u64, |o, (i, &w)| o | ((w != 0) as u64) << i);
                // Reference: one page at a time.
                let pages: Vec<u32> = bits
                    .iter()
                    .enumerate()
                    .flat_map(|(i, &w)| {
                        (0..64u64)
                            .filter(move |bit| w >> bit & 1 == 1)
                            .map(move |bit| ((first + i) as u64 * 64 + bit) as u32)
                    })
                    .collect();
                let (mut ra, mut rb) = (a.clone(), b.clone());
                for &p in &pages {
                    ra.insert(p);
                    rb.insert(p);
                }
                let mut one = a.clone();
                one.insert_words(first, &bits);
                assert_eq!(one, ra, "insert_words, len {len}, first {first}");
                let (mut da, mut db) = (a.clone(), b.clone());
                da.insert_words_both(&mut db, first, &bits, occupied);
                assert_eq!((&da, &db), (&ra, &rb), "sparse, len {len}");
                let all = !0u64 >> (64 - n);
                let (mut da, mut db) = (a.clone(), b.clone());
                da.insert_words_both(&mut db, first, &bits, all);
                assert_eq!((&da, &db), (&ra, &rb), "dense, len {len}");
                // Sets of different lengths: each keeps the pages below its own length.
                let mut short = PageSet::new(len / 2);
                let mut da = a.clone();
                short.insert_words_both(&mut da, first, &bits, occupied);
                let mut expect_short = PageSet::new(len / 2);
                for &p in &pages {
                    expect_short.insert(p);
                }
                assert_eq!(short, expect_short);
                assert_eq!(da, ra);
            }
        }
    }

    #[test]
    fn sink_defaults_report_pages_in_order() {
        struct Pages(Vec<u32>);
        impl PageSink for Pages {
            fn page(&mut self, p: u32) {
                self.0.push(p);
            }
        }
        let mut s = Pages(Vec::new());
        s.range(62, 66);
        s.word(2, (1 << 63) | 0b101);
        // Words 3, 4, 5: only those marked occupied are looked at.
        s.words(3, &[1, 0, 0b11], 0b101);
        s.words(3, &[1 << 5, 0, 0], 0b010); // word 3 not marked: ignored
        assert_eq!(s.0, vec![62, 63, 64, 65, 128, 130, 191, 192, 320, 321]);
    }
}
