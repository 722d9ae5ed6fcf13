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

    /// Number of pages set in both `self` and `other` (over the pages they share), in pages.
    pub fn intersection_count(&self, other: &PageSet) -> u32 {
        self.words
            .iter()
            .zip(&other.words)
            .map(|(a, b)| (a & b).count_ones())
            .sum()
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
}
