//! What changed since the last settle: sets of ids marked by handlers and drained, in
//! ascending id order (so a settle's result never depends on the order of the marks), by
//! the settle step.

use crate::model::ids::IdLike;

/// A set of ids of one kind, marked at most once each until drained.
#[derive(Clone, Debug, Default)]
pub(crate) struct DirtySet {
    flags: Vec<bool>,
    list: Vec<u32>,
}

impl DirtySet {
    /// An empty set over ids `0..n`.
    pub(crate) fn new(n: usize) -> Self {
        DirtySet {
            flags: vec![false; n],
            list: Vec::new(),
        }
    }

    /// Marks `id` (ids beyond the current size grow the set).
    pub(crate) fn mark<I: IdLike>(&mut self, id: I) {
        let i = id.idx();
        if i >= self.flags.len() {
            self.flags.resize(i + 1, false);
        }
        if !self.flags[i] {
            self.flags[i] = true;
            self.list.push(i as u32);
        }
    }

    /// The marked ids, in marking order (without draining).
    pub(crate) fn marked(&self) -> impl Iterator<Item = usize> + '_ {
        self.list.iter().map(|&i| i as usize)
    }

    /// True when nothing is marked.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Takes every marked id, ascending, and clears the set. `into` is reused storage.
    pub(crate) fn drain_into<I: IdLike>(&mut self, into: &mut Vec<I>) {
        into.clear();
        self.list.sort_unstable();
        for &i in &self.list {
            self.flags[i as usize] = false;
            into.push(I::from_idx(i as usize));
        }
        self.list.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ids::ServerId;

    #[test]
    fn marks_once_and_drains_ascending() {
        let mut d = DirtySet::new(2);
        for i in [5, 1, 5, 0, 1] {
            d.mark(ServerId(i));
        }
        let mut out: Vec<ServerId> = Vec::new();
        d.drain_into(&mut out);
        assert_eq!(out, [ServerId(0), ServerId(1), ServerId(5)]);
        assert!(d.is_empty());
        d.mark(ServerId(1));
        d.drain_into(&mut out);
        assert_eq!(out, [ServerId(1)]);
    }
}
