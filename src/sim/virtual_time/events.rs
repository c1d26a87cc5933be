//! The simulation's pending events, earliest first; events due at the same
//! time in the order they were queued (rule 5).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// What happens when an event is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum What {
    /// Scheduler thread (hosted job) `n` polls.
    Poll(u32),
    /// A DATA_MAIN_BASE write to core `n` (physical id) becomes visible
    /// while the core was busy when it was made.
    Visible(u32),
    /// Core `n`'s FIN becomes visible.
    Fin(u32),
}

/// Bits of an event's key that say what happens (the rest: its sequence
/// number): 2 for the kind, the others for the thread or core.
const WHAT_BITS: u32 = 24;
const INDEX_BITS: u32 = WHAT_BITS - 2;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;

/// The largest thread or core number an event can carry, plus one.
pub(super) const MAX_INDEX: u64 = 1 << INDEX_BITS;

impl What {
    fn encode(self) -> u64 {
        let (kind, n) = match self {
            What::Poll(n) => (0, n),
            What::Visible(n) => (1, n),
            What::Fin(n) => (2, n),
        };
        debug_assert!(u64::from(n) < MAX_INDEX);
        kind << INDEX_BITS | u64::from(n)
    }

    fn decode(bits: u64) -> Self {
        let n = (bits & INDEX_MASK) as u32;
        match bits >> INDEX_BITS {
            0 => What::Poll(n),
            1 => What::Visible(n),
            _ => What::Fin(n),
        }
    }
}

/// A min-heap of `(time, sequence number << 24 | what)`: ordering the
/// pair orders by time, then by sequence number, which is unique.
#[derive(Default)]
pub(super) struct Events {
    heap: BinaryHeap<Reverse<(u64, u64)>>,
    next: u64,
}

impl Events {
    /// Forgets every event; sequence numbers start again from 0.
    pub fn clear(&mut self) {
        self.heap.clear();
        self.next = 0;
    }

    /// Queues `what` at time `at`; returns its sequence number.
    #[inline]
    pub fn push(&mut self, at: u64, what: What) -> u64 {
        let seq = self.next;
        self.next += 1;
        self.heap
            .push(Reverse((at, seq << WHAT_BITS | what.encode())));
        seq
    }

    /// The earliest event (the first queued among those due then): its
    /// time, sequence number and what happens.
    #[inline]
    pub fn pop(&mut self) -> Option<(u64, u64, What)> {
        let Reverse((at, key)) = self.heap.pop()?;
        Some((
            at,
            key >> WHAT_BITS,
            What::decode(key & ((1 << WHAT_BITS) - 1)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_and_ties_in_queueing_order() {
        let mut e = Events::default();
        e.push(50, What::Fin(3));
        e.push(10, What::Poll(1));
        e.push(50, What::Visible(MAX_INDEX as u32 - 1));
        e.push(10, What::Fin(0));
        e.push(0, What::Poll(0));
        let order: Vec<(u64, u64, What)> = std::iter::from_fn(|| e.pop()).collect();
        assert_eq!(
            order,
            [
                (0, 4, What::Poll(0)),
                (10, 1, What::Poll(1)),
                (10, 3, What::Fin(0)),
                (50, 0, What::Fin(3)),
                (50, 2, What::Visible(MAX_INDEX as u32 - 1)),
            ]
        );
        e.clear();
        assert_eq!(e.push(5, What::Poll(2)), 0);
    }
}
