//! One scheduler (AICPU) thread: the poll / resolve / dispatch loop over the
//! cores it owns. No locks, no allocation and no logging per task.

use std::sync::atomic::Ordering;

use crossbeam_deque::{Steal, Worker};
use hostgraph_orch_abi::CoreType;
use hostgraph_platform::regs::Reg;
use hostgraph_platform::{CoreSlot, RegisterAccess};

use super::run::RunShared;
use crate::backoff::{Backoff, StallWatch};
use crate::graph::TaskId;

/// A core as its owning thread sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OwnedCore {
    pub physical_id: u32,
    pub core_type: CoreType,
    pub slot: CoreSlot,
}

/// Counters one thread keeps about its run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThreadStats {
    /// Tasks this thread wrote to its cores.
    pub dispatched: u64,
    /// Tasks this thread saw finish.
    pub completed: u64,
    /// Tasks it took from the shared queues.
    pub refilled: u64,
}

/// How one poll went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// Something changed.
    Progress,
    /// Nothing changed.
    Idle,
    /// Every task has completed.
    Done,
    /// The run was stopped (fault, stall, protocol error).
    Stopped,
}

/// The local ready queues of one thread, one per core type, each bounded by
/// the policy's capacity.
pub(crate) struct LocalQueues {
    queues: [Worker<u32>; 2],
    capacity: [usize; 2],
}

impl LocalQueues {
    pub fn new(capacity: [usize; 2]) -> Self {
        LocalQueues {
            queues: [Worker::new_fifo(), Worker::new_fifo()],
            capacity,
        }
    }

    /// Tasks waiting in these queues.
    pub fn len(&self) -> usize {
        self.queues.iter().map(Worker::len).sum()
    }

    pub fn push_seed(&self, task: u32, ty: CoreType) {
        self.queues[ty as usize].push(task);
    }
}

/// One scheduler thread's state: the cores it owns, its local ready queues,
/// its counters. Executors run it with [`run`](Self::run) (on a thread of
/// their choosing) or step it with [`poll`](Self::poll).
pub struct SchedulerThread {
    pub(crate) index: u32,
    pub(crate) cores: Vec<OwnedCore>,
    pub(crate) local: LocalQueues,
    pub(crate) stats: ThreadStats,
}

impl SchedulerThread {
    /// Whether the thread owns any core (a thread without cores has nothing to do).
    pub fn has_cores(&self) -> bool {
        !self.cores.is_empty()
    }

    /// Steps 8-10 for every owned core, dispatch and resolve.
    ///
    /// Per core: an idle core (nothing pending or running) cannot change
    /// COND, so it is only offered a task. Otherwise COND is read and acted
    /// on; the core is fed before the successors of what finished are
    /// resolved, and fed again after, if that made its next task ready (a
    /// chain advances in one sweep). Once a core type's queues come up empty,
    /// no other core of that type is offered a task in this sweep until a
    /// task of that type becomes ready.
    #[inline]
    pub fn poll<R: RegisterAccess>(&mut self, sh: &RunShared<'_, R>) -> Poll {
        if sh.stopped() {
            return Poll::Stopped;
        }
        let mut finished = 0usize;
        let mut progress = false;
        let mut dry = [false; 2];
        let SchedulerThread {
            index,
            cores,
            local,
            stats,
        } = self;
        let mut feed = |core: &mut OwnedCore, dry: &mut [bool; 2]| -> bool {
            let ty = core.core_type as usize;
            if dry[ty] || !core.slot.can_dispatch() {
                return false;
            }
            let Some(task) = next_ready(local, core.core_type, sh, stats) else {
                dry[ty] = true;
                return false;
            };
            sh.regs.write(core.physical_id, Reg::DataMainBase, task);
            core.slot.dispatched(task);
            if let Some(rec) = sh.graph.recorder() {
                rec.dispatched(task, *index);
            }
            stats.dispatched += 1;
            true
        };
        for core in cores.iter_mut() {
            if core.slot.is_idle() {
                progress |= feed(core, &mut dry);
                continue;
            }
            let word = sh.regs.read(core.physical_id, Reg::Cond);
            let done = match core.slot.observe(core.physical_id, word) {
                Ok(d) => d,
                Err(e) => {
                    sh.fail(e.into());
                    return Poll::Stopped;
                }
            };
            progress |= feed(core, &mut dry);
            if done.is_empty() {
                continue;
            }
            for &t in done.as_slice() {
                for &TaskId(s) in sh.graph.successors(t) {
                    if sh.graph.release(s) {
                        dry[push_ready(local, s, sh)] = false;
                    }
                }
            }
            finished += done.as_slice().len();
            feed(core, &mut dry);
        }
        if finished > 0 {
            stats.completed += finished as u64;
            if sh.remaining.fetch_sub(finished, Ordering::AcqRel) == finished {
                return Poll::Done;
            }
            return Poll::Progress;
        }
        if sh.remaining.load(Ordering::Acquire) == 0 {
            return Poll::Done;
        }
        if progress { Poll::Progress } else { Poll::Idle }
    }

    /// Polls until the run is done or stopped; detects stalls by time.
    pub fn run<R: RegisterAccess>(&mut self, sh: &RunShared<'_, R>) {
        let mut backoff = Backoff::new();
        let mut watch = StallWatch::new(sh.stall_timeout);
        loop {
            match self.poll(sh) {
                Poll::Done | Poll::Stopped => return,
                Poll::Progress => backoff.reset(),
                Poll::Idle => {
                    if backoff.snooze() && watch.stalled(sh.remaining()) {
                        sh.stall(watch.elapsed());
                        return;
                    }
                }
            }
        }
    }

    /// Tasks held by this thread's cores: `(physical id, type, task)`.
    pub(crate) fn busy(&self) -> impl Iterator<Item = (u32, CoreType, u32)> + '_ {
        self.cores.iter().flat_map(|c| {
            [c.slot.running(), c.slot.pending()]
                .into_iter()
                .flatten()
                .map(|t| (c.physical_id, c.core_type, t))
        })
    }
}

/// Pops a ready task for a core of `ty`: the local queue first, refilled
/// from the shared queue when empty.
#[inline]
fn next_ready<R>(
    local: &LocalQueues,
    ty: CoreType,
    sh: &RunShared<'_, R>,
    stats: &mut ThreadStats,
) -> Option<u32> {
    let q = &local.queues[ty as usize];
    if let Some(t) = q.pop() {
        return Some(t);
    }
    let shared = &sh.shared[ty as usize];
    loop {
        match shared.steal_batch_with_limit_and_pop(q, local.capacity[ty as usize].max(1)) {
            Steal::Success(t) => {
                stats.refilled += 1 + q.len() as u64;
                return Some(t);
            }
            Steal::Empty => return None,
            Steal::Retry => std::hint::spin_loop(),
        }
    }
}

/// Files a newly ready task: the local queue of its type while below
/// capacity, else the shared queue. Returns the core type's index.
#[inline]
fn push_ready<R>(local: &LocalQueues, task: u32, sh: &RunShared<'_, R>) -> usize {
    let ty = sh.graph.core_type(task) as usize;
    if local.queues[ty].len() < local.capacity[ty] {
        local.queues[ty].push(task);
    } else {
        sh.shared[ty].push(task);
    }
    ty
}
