//! Typed indices of a run's entities and the vectors they index, so that a server's index
//! can never be used where a VM's is meant: each id indexes only its own [`IdVec`].

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Index, IndexMut};

/// Generation counter of a supersedable event (a VM's completion, a breaker's trip, a
/// migration's next step): one width for every kind, compared for equality only, so
/// wrapping is harmless.
pub type Gen = u32;

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u32);

        impl $name {
            /// The id of the `i`-th entity (world order).
            pub fn new(i: usize) -> Self {
                // Worlds are far below 2^32 entities (checked where they are built).
                $name(i as u32)
            }

            /// Its position in the world's vector.
            pub fn idx(self) -> usize {
                self.0 as usize
            }
        }

        impl From<usize> for $name {
            fn from(i: usize) -> Self {
                $name::new(i)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl IdLike for $name {
            fn from_idx(i: usize) -> Self {
                $name::new(i)
            }
            fn idx(self) -> usize {
                self.0 as usize
            }
        }
    };
}

id!(
    /// A server.
    ServerId
);
id!(
    /// A virtual machine.
    VmId
);
id!(
    /// A device of the power tree (outlet group, rack PDU, row, datacenter).
    DeviceId
);
id!(
    /// A live migration, in start order.
    MigrationId
);
id!(
    /// A meter that writes `meters.csv` rows.
    MeterId
);

/// What [`IdVec`] needs of an id.
pub trait IdLike: Copy {
    /// The id at position `i`.
    fn from_idx(i: usize) -> Self;
    /// Its position.
    fn idx(self) -> usize;
}

/// A vector indexed only by its own id type.
#[derive(Clone, PartialEq)]
pub struct IdVec<I, T> {
    items: Vec<T>,
    _id: PhantomData<fn(I)>,
}

impl<I, T: fmt::Debug> fmt::Debug for IdVec<I, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.items.fmt(f)
    }
}

impl<I, T> Default for IdVec<I, T> {
    fn default() -> Self {
        IdVec {
            items: Vec::new(),
            _id: PhantomData,
        }
    }
}

impl<I: IdLike, T> IdVec<I, T> {
    /// An empty vector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an item and returns its id.
    pub fn push(&mut self, item: T) -> I {
        self.items.push(item);
        I::from_idx(self.items.len() - 1)
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The item with id `i`, if any.
    pub fn get(&self, i: I) -> Option<&T> {
        self.items.get(i.idx())
    }

    /// Items in id order.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.items.iter()
    }

    /// Items in id order, mutable.
    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, T> {
        self.items.iter_mut()
    }

    /// Every id, ascending.
    pub fn ids(&self) -> impl Iterator<Item = I> + Clone {
        (0..self.items.len()).map(I::from_idx)
    }

    /// (id, item) pairs in id order.
    pub fn enumerate(&self) -> impl Iterator<Item = (I, &T)> {
        self.items
            .iter()
            .enumerate()
            .map(|(i, t)| (I::from_idx(i), t))
    }

    /// The items as a slice (for code that needs positions, e.g. zipping with config).
    pub fn as_slice(&self) -> &[T] {
        &self.items
    }
}

impl<I, T> From<Vec<T>> for IdVec<I, T> {
    fn from(items: Vec<T>) -> Self {
        IdVec {
            items,
            _id: PhantomData,
        }
    }
}

impl<I: IdLike, T> FromIterator<T> for IdVec<I, T> {
    fn from_iter<It: IntoIterator<Item = T>>(it: It) -> Self {
        IdVec::from(it.into_iter().collect::<Vec<T>>())
    }
}

impl<I: IdLike, T> Index<I> for IdVec<I, T> {
    type Output = T;
    fn index(&self, i: I) -> &T {
        &self.items[i.idx()]
    }
}

impl<I: IdLike, T> IndexMut<I> for IdVec<I, T> {
    fn index_mut(&mut self, i: I) -> &mut T {
        &mut self.items[i.idx()]
    }
}

impl<'a, I, T> IntoIterator for &'a IdVec<I, T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_index_their_own_vector_in_push_order() {
        let mut v: IdVec<ServerId, &str> = IdVec::new();
        let a = v.push("a");
        let b = v.push("b");
        assert_eq!((a, b), (ServerId(0), ServerId(1)));
        assert_eq!(v[b], "b");
        v[a] = "z";
        assert_eq!(v.enumerate().collect::<Vec<_>>(), [(a, &"z"), (b, &"b")]);
        assert_eq!(v.ids().collect::<Vec<_>>(), [a, b]);
        assert_eq!(v.get(ServerId(2)), None);
    }
}
