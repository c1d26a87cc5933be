//! The simulation's pending events, earliest first; events due at the same
//! time in the order they were queued (rule 5).
//!
//! A binary heap of 128-bit keys. Measured on the paged-attention bench
//! in virtual time (`benches/paged_attention.rs`; instructions counted by
//! callgrind): one key per event instead of a `(time, sequence)` pair
//! made the bench some 15% faster in wall time; a hand-written heap (branch-free
//! choice of child, the next event queued filling the taken root) ran 5%
//! more instructions in all; a radix heap was no faster; a calendar queue
//! ran 10% fewer instructions but twice the L1 misses, and took longer.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// What happens when an event is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum What {
    /// Scheduler thread (hosted job) `n` polls.
    Poll(u32),
    /// Core `n`'s FIN becomes visible.
    Fin(u32),
    /// Core `n`, woken by a task written while it was free, takes it.
    Start(u32),
}

/// Bits of an event's tag that say what happens (the rest: its sequence
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
            What::Fin(n) => (1, n),
            What::Start(n) => (2, n),
        };
        debug_assert!(u64::from(n) < MAX_INDEX);
        kind << INDEX_BITS | u64::from(n)
    }

    fn decode(bits: u64) -> Self {
        let n = (bits & INDEX_MASK) as u32;
        match bits >> INDEX_BITS {
            0 => What::Poll(n),
            1 => What::Fin(n),
            _ => What::Start(n),
        }
    }
}

/// Pending events: a min-heap of keys `time << 64 | sequence number << 24
/// | what` (one comparison orders by time, then by sequence number).
#[derive(Default)]
pub(super) struct Events {
    heap: BinaryHeap<Reverse<u128>>,
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
        let tag = seq << WHAT_BITS | what.encode();
        self.heap
            .push(Reverse(u128::from(at) << 64 | u128::from(tag)));
        seq
    }

    /// The earliest event (the first queued among those due then): its
    /// time, sequence number and what happens.
    #[inline]
    pub fn pop(&mut self) -> Option<(u64, u64, What)> {
        let Reverse(key) = self.heap.pop()?;
        let (at, tag) = ((key >> 64) as u64, key as u64);
        Some((
            at,
            tag >> WHAT_BITS,
            What::decode(tag & ((1 << WHAT_BITS) - 1)),
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
        e.push(50, What::Fin(MAX_INDEX as u32 - 1));
        e.push(10, What::Fin(0));
        e.push(0, What::Poll(0));
        e.push(10, What::Start(MAX_INDEX as u32 - 1));
        let order: Vec<(u64, u64, What)> = std::iter::from_fn(|| e.pop()).collect();
        assert_eq!(
            order,
            [
                (0, 4, What::Poll(0)),
                (10, 1, What::Poll(1)),
                (10, 3, What::Fin(0)),
                (10, 5, What::Start(MAX_INDEX as u32 - 1)),
                (50, 0, What::Fin(3)),
                (50, 2, What::Fin(MAX_INDEX as u32 - 1)),
            ]
        );
        e.clear();
        assert_eq!(e.push(5, What::Poll(2)), 0);
    }

    /// Against a binary heap of (time, sequence number), with events
    /// queued while others are taken, never in the past.
    #[test]
    fn orders_as_a_heap_of_time_and_sequence() {
        let mut rng = fastrand::Rng::with_seed(7);
        for round in 0..50 {
            let mut events = Events::default();
            let mut heap = BinaryHeap::new();
            let mut now = 0u64;
            for _ in 0..2_000 {
                if rng.u8(..3) > 0 || heap.is_empty() {
                    let at = now
                        + match rng.u8(..4) {
                            0 => 0,
                            1 => rng.u64(..8),
                            2 => rng.u64(..100_000),
                            _ => rng.u64(..1 << (round % 60)),
                        };
                    let n = rng.u32(..MAX_INDEX as u32);
                    let what = [What::Poll(n), What::Fin(n), What::Start(n)][rng.usize(..3)];
                    let seq = events.push(at, what);
                    heap.push(Reverse((at, seq, what.encode())));
                } else {
                    let Reverse((at, seq, what)) = heap.pop().unwrap();
                    assert_eq!(events.pop(), Some((at, seq, What::decode(what))));
                    now = at;
                }
            }
            while let Some(Reverse((at, seq, what))) = heap.pop() {
                assert_eq!(events.pop(), Some((at, seq, What::decode(what))));
            }
            assert_eq!(events.pop(), None);
        }
    }
}
