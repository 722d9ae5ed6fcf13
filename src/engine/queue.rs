//! The event queue: a binary heap keyed by `(time, sequence)`.
//!
//! Equal times pop in insertion order (the sequence number breaks ties), so a run is
//! deterministic whatever the payload. Scheduling into the past is an error value.
//! Cancellation is left to the models (a generation number in the event), which keeps
//! the queue a plain heap with O(log n) push and pop.

use super::time::SimTime;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fmt;

/// An attempt to schedule an event before the current time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScheduleError {
    /// The queue's current time.
    pub now: SimTime,
    /// The time asked for.
    pub requested: SimTime,
}

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot schedule an event at {} before the current time {}",
            self.requested, self.now
        )
    }
}

impl std::error::Error for ScheduleError {}

/// One pending event. The key `(time << 64) | seq` packs both orderings into one u128,
/// so a comparison is a single integer compare.
struct Entry<E> {
    key: u128,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap and we want the earliest key first.
        other.key.cmp(&self.key)
    }
}

/// A future-event list over any event type `E`.
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    now: SimTime,
    seq: u64,
    popped: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    /// An empty queue at time zero.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An empty queue at time zero with room for `n` pending events.
    pub fn with_capacity(n: usize) -> Self {
        EventQueue {
            heap: BinaryHeap::with_capacity(n),
            now: SimTime::ZERO,
            seq: 0,
            popped: 0,
        }
    }

    /// The current time: that of the last event popped.
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Pending events.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Events popped so far.
    pub fn popped(&self) -> u64 {
        self.popped
    }

    /// Schedules `event` at absolute time `at` (which may equal now; such events run
    /// after those already queued for now).
    pub fn schedule(&mut self, at: SimTime, event: E) -> Result<(), ScheduleError> {
        if at < self.now {
            return Err(ScheduleError {
                now: self.now,
                requested: at,
            });
        }
        let key = ((at.0 as u128) << 64) | self.seq as u128;
        self.seq += 1;
        self.heap.push(Entry { key, event });
        Ok(())
    }

    /// Schedules `event` `delay_ns` nanoseconds from now (saturating at the end of time).
    pub fn schedule_in(&mut self, delay_ns: u64, event: E) {
        let at = self.now.plus(delay_ns);
        // Cannot fail: `at >= now` by construction.
        let _ = self.schedule(at, event);
    }

    /// The time of the next event, if any.
    pub fn peek_time(&self) -> Option<SimTime> {
        self.heap.peek().map(|e| SimTime((e.key >> 64) as u64))
    }

    /// Removes the earliest event, advancing the clock to its time.
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        let e = self.heap.pop()?;
        let t = SimTime((e.key >> 64) as u64);
        self.now = t;
        self.popped += 1;
        Some((t, e.event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_time_order_with_fifo_ties() {
        let mut q = EventQueue::new();
        q.schedule(SimTime(20), 'c').unwrap();
        q.schedule(SimTime(10), 'a').unwrap();
        q.schedule(SimTime(20), 'd').unwrap();
        q.schedule(SimTime(10), 'b').unwrap();
        let order: Vec<char> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, vec!['a', 'b', 'c', 'd']);
        assert_eq!(q.now(), SimTime(20));
    }

    #[test]
    fn scheduling_into_the_past_is_an_error() {
        let mut q = EventQueue::new();
        q.schedule(SimTime(100), ()).unwrap();
        q.pop();
        let err = q.schedule(SimTime(99), ()).unwrap_err();
        assert_eq!(err.now, SimTime(100));
        assert_eq!(err.requested, SimTime(99));
        // Now itself is allowed.
        assert!(q.schedule(SimTime(100), ()).is_ok());
    }
}
