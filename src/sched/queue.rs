//! Ready queues. Each scheduler thread keeps a local queue per core type,
//! of the kind its policy picks ([`Policy::Local`](super::Policy::Local));
//! each core type has one shared queue, of the kind the policy picks
//! ([`Policy::Shared`](super::Policy::Shared)). The scheduler, not the
//! policy, moves tasks between them, so a task only ever reaches a queue
//! (and a core) of its own type.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Mutex;

use crate::sync::{AtomicUsize, Injector, Ordering, Steal};

/// A thread's local ready queue for one core type. Only its thread pushes
/// and pops; a stealable kind also lets other threads take tasks through
/// its [`Stealer`](Self::Stealer).
pub trait LocalQueue: Send + 'static {
    /// What another thread steals through (`()` where nothing can be stolen).
    type Stealer: Send + Sync + 'static;

    /// An empty queue that will hold at most `capacity` tasks (so it never
    /// grows while a run is in flight).
    fn with_capacity(capacity: usize) -> Self;

    /// Queues `task` (`priority` orders priority queues; others ignore it).
    fn push(&mut self, task: u32, priority: u64);

    /// The next task to run.
    fn pop(&mut self) -> Option<u32>;

    /// Tasks queued.
    fn len(&self) -> usize;

    /// Whether no task is queued.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The handle other threads steal through.
    fn stealer(&self) -> Self::Stealer;

    /// Steals up to `n` tasks from `victim` into `self`; returns one of them
    /// to run now.
    fn steal_into(victim: &Self::Stealer, into: &mut Self, n: usize) -> Option<u32>;
}

/// A plain FIFO ring: no atomic operation per task.
pub struct Fifo(VecDeque<u32>);

impl LocalQueue for Fifo {
    type Stealer = ();

    fn with_capacity(capacity: usize) -> Self {
        Fifo(VecDeque::with_capacity(capacity))
    }

    #[inline]
    fn push(&mut self, task: u32, _priority: u64) {
        self.0.push_back(task);
    }

    #[inline]
    fn pop(&mut self) -> Option<u32> {
        self.0.pop_front()
    }

    #[inline]
    fn len(&self) -> usize {
        self.0.len()
    }

    fn stealer(&self) {}

    fn steal_into(_: &(), _: &mut Self, _: usize) -> Option<u32> {
        None
    }
}

/// Highest priority first; equal priorities in task-id order (so runs are
/// deterministic where the backend is).
pub struct Priority(BinaryHeap<(u64, Reverse<u32>)>);

impl LocalQueue for Priority {
    type Stealer = ();

    fn with_capacity(capacity: usize) -> Self {
        Priority(BinaryHeap::with_capacity(capacity))
    }

    #[inline]
    fn push(&mut self, task: u32, priority: u64) {
        self.0.push((priority, Reverse(task)));
    }

    #[inline]
    fn pop(&mut self) -> Option<u32> {
        self.0.pop().map(|(_, Reverse(t))| t)
    }

    #[inline]
    fn len(&self) -> usize {
        self.0.len()
    }

    fn stealer(&self) {}

    fn steal_into(_: &(), _: &mut Self, _: usize) -> Option<u32> {
        None
    }
}

/// A FIFO deque other threads can steal from (crossbeam's): each pop is a
/// read-modify-write, the price of being stealable.
pub struct Stealable(crossbeam_deque::Worker<u32>);

impl LocalQueue for Stealable {
    type Stealer = crossbeam_deque::Stealer<u32>;

    fn with_capacity(_capacity: usize) -> Self {
        Stealable(crossbeam_deque::Worker::new_fifo())
    }

    #[inline]
    fn push(&mut self, task: u32, _priority: u64) {
        self.0.push(task);
    }

    #[inline]
    fn pop(&mut self) -> Option<u32> {
        self.0.pop()
    }

    #[inline]
    fn len(&self) -> usize {
        self.0.len()
    }

    fn stealer(&self) -> Self::Stealer {
        self.0.stealer()
    }

    fn steal_into(victim: &Self::Stealer, into: &mut Self, n: usize) -> Option<u32> {
        loop {
            match victim.steal_batch_with_limit_and_pop(&into.0, n) {
                crossbeam_deque::Steal::Success(t) => return Some(t),
                crossbeam_deque::Steal::Empty => return None,
                crossbeam_deque::Steal::Retry => std::hint::spin_loop(),
            }
        }
    }
}

/// The shared ready queue of one core type: tasks that did not fit a
/// thread's local queue (or that the policy placed there), taken by any
/// thread with a core of that type.
pub trait SharedQueue: Send + Sync + 'static {
    /// An empty queue.
    fn new() -> Self;

    /// Queues `task` (`priority` orders priority queues).
    fn push(&self, task: u32, priority: u64);

    /// Takes up to `n` tasks, the most urgent first: the first is returned,
    /// the rest pushed to `into` (with `priority` of each).
    fn take<L: LocalQueue>(
        &self,
        into: &mut L,
        n: usize,
        priority: impl Fn(u32) -> u64,
    ) -> (Option<u32>, usize);

    /// Whether no task is queued (cheap: polls mostly find nothing).
    fn is_empty(&self) -> bool;

    /// Tasks queued.
    fn len(&self) -> usize;
}

/// crossbeam's lock-free injector.
pub struct SharedFifo(Injector<u32>);

impl SharedQueue for SharedFifo {
    fn new() -> Self {
        SharedFifo(Injector::new())
    }

    #[inline]
    fn push(&self, task: u32, _priority: u64) {
        self.0.push(task);
    }

    #[inline]
    fn take<L: LocalQueue>(
        &self,
        into: &mut L,
        n: usize,
        priority: impl Fn(u32) -> u64,
    ) -> (Option<u32>, usize) {
        // Two loads, where an attempt to steal from an empty queue costs a
        // full fence: polls mostly find nothing.
        if self.0.is_empty() {
            return (None, 0);
        }
        let (mut first, mut taken) = (None, 0);
        while taken < n {
            match self.0.steal() {
                Steal::Success(t) => {
                    taken += 1;
                    match first {
                        None => first = Some(t),
                        Some(_) => into.push(t, priority(t)),
                    }
                }
                Steal::Empty => break,
                Steal::Retry => std::hint::spin_loop(),
            }
        }
        (first, taken)
    }

    #[inline]
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

/// A heap under a lock, highest priority first; a count beside it keeps
/// empty checks lock-free. The lock is taken per task pushed or taken
/// (only tasks that overflow the local queues come here).
pub struct SharedPriority {
    heap: Mutex<BinaryHeap<(u64, Reverse<u32>)>>,
    len: AtomicUsize,
}

impl SharedQueue for SharedPriority {
    fn new() -> Self {
        SharedPriority {
            heap: Mutex::new(BinaryHeap::new()),
            len: AtomicUsize::new(0),
        }
    }

    fn push(&self, task: u32, priority: u64) {
        let mut heap = self.heap.lock().unwrap_or_else(|p| p.into_inner());
        heap.push((priority, Reverse(task)));
        self.len.store(heap.len(), Ordering::Release);
    }

    fn take<L: LocalQueue>(
        &self,
        into: &mut L,
        n: usize,
        priority: impl Fn(u32) -> u64,
    ) -> (Option<u32>, usize) {
        if self.is_empty() {
            return (None, 0);
        }
        let mut heap = self.heap.lock().unwrap_or_else(|p| p.into_inner());
        let first = heap.pop().map(|(_, Reverse(t))| t);
        let mut taken = usize::from(first.is_some());
        while taken < n {
            let Some((_, Reverse(t))) = heap.pop() else {
                break;
            };
            into.push(t, priority(t));
            taken += 1;
        }
        self.len.store(heap.len(), Ordering::Release);
        (first, taken)
    }

    #[inline]
    fn is_empty(&self) -> bool {
        self.len.load(Ordering::Acquire) == 0
    }

    fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }
}

#[cfg(all(test, not(hostgraph_loom)))]
mod tests {
    use super::*;

    #[test]
    fn priority_queues_pop_highest_first_ties_by_id() {
        let mut q = Priority::with_capacity(4);
        for (t, p) in [(5, 1), (3, 7), (9, 7), (1, 0)] {
            q.push(t, p);
        }
        let order: Vec<u32> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, vec![3, 9, 5, 1]);
        let shared = SharedPriority::new();
        for (t, p) in [(5, 1), (3, 7), (9, 7), (1, 0)] {
            shared.push(t, p);
        }
        let mut local = Priority::with_capacity(4);
        let (first, taken) = shared.take(&mut local, 3, |t| u64::from(t == 9) * 7);
        assert_eq!((first, taken), (Some(3), 3));
        assert_eq!(shared.len(), 1);
        assert_eq!(local.pop(), Some(9));
    }

    #[test]
    fn stealable_queues_hand_tasks_over() {
        let mut victim = Stealable::with_capacity(8);
        for t in 0..6 {
            victim.push(t, 0);
        }
        let mut thief = Stealable::with_capacity(8);
        let stealer = victim.stealer();
        let first = Stealable::steal_into(&stealer, &mut thief, 3);
        assert_eq!(first, Some(0));
        assert_eq!(thief.len() + victim.len() + 1, 6);
        assert_eq!(victim.pop(), Some(thief.len() as u32 + 1));
    }
}
