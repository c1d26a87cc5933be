//! What every scheduler thread of a run shares: registers, the sealed
//! graph, the initially ready tasks, the shared ready queues, the count of
//! tasks left, the stop flag and first failure, and the slots the threads
//! hand their final state back in.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hostgraph_orch_abi::CoreType;
use hostgraph_platform::RegisterAccess;

use super::policy::Policy;
use super::queue::{LocalQueue, SharedQueue};
use super::thread::ThreadStats;
use crate::error::{Error, QueuedIn, QueuedTask};
use crate::graph::TaskId;
use crate::seal::Sealed;
use crate::sync::{AtomicBool, AtomicUsize, Ordering};

/// Initially ready tasks that did not fit in the local queues, by core
/// type: claimed in batches through an atomic cursor, one read-modify-write
/// per batch (the shared queues take one per task). An independent graph
/// is almost all seeds.
#[derive(Default)]
pub(crate) struct Seeds {
    tasks: [Vec<u32>; 2],
    next: [Cursor; 2],
}

/// A claim cursor on its own cache line.
#[derive(Default)]
#[repr(align(64))]
struct Cursor(AtomicUsize);

impl Seeds {
    pub(crate) fn new(tasks: [Vec<u32>; 2]) -> Self {
        Seeds {
            tasks,
            next: Default::default(),
        }
    }

    /// Claims up to `n` seeds of core type `ty` (none once all are claimed).
    #[inline]
    pub(crate) fn claim(&self, ty: usize, n: usize) -> &[u32] {
        let (tasks, next) = (&self.tasks[ty], &self.next[ty].0);
        // A load first: once drained, polls find nothing without a write.
        // Relaxed is enough: the cursor only hands out disjoint ranges of a
        // list written before the run started (published to every thread
        // by the start of its job).
        if next.load(Ordering::Relaxed) >= tasks.len() {
            return &[];
        }
        let start = next.fetch_add(n, Ordering::Relaxed).min(tasks.len());
        &tasks[start..(start + n).min(tasks.len())]
    }

    /// Whether every seed of core type `ty` has been claimed.
    #[inline]
    pub(crate) fn drained(&self, ty: usize) -> bool {
        self.next[ty].0.load(Ordering::Relaxed) >= self.tasks[ty].len()
    }

    /// The seeds of core type `ty` not claimed yet.
    pub(crate) fn unclaimed_tasks(&self, ty: usize) -> &[u32] {
        let claimed = self.next[ty].0.load(Ordering::Relaxed);
        &self.tasks[ty][claimed.min(self.tasks[ty].len())..]
    }

    /// Seeds of core type `ty` not claimed yet.
    pub(crate) fn unclaimed_of(&self, ty: usize) -> usize {
        let claimed = self.next[ty].0.load(Ordering::Relaxed);
        self.tasks[ty].len().saturating_sub(claimed)
    }
}

/// Why a run stopped early.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A protocol violation or policy error seen by a thread.
    Error(Error),
    /// Nothing moved for this long.
    Stall(Duration),
    /// A scheduler thread's job panicked (or the host could not run it).
    Panic {
        /// The thread.
        thread: usize,
        /// The panic's message.
        message: String,
    },
    /// The caller gave up on the run (a dropped run handle).
    Cancelled,
}

/// What a task held by a core looked like when its thread stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Held {
    pub physical_id: u32,
    pub core_type: CoreType,
    pub task: u32,
    /// Seen acknowledged by its core (the scheduler's running slot): it
    /// started.
    pub acked: bool,
}

/// A scheduler thread's state when its job ended.
#[derive(Debug, Clone, Default)]
pub(crate) struct ThreadOutcome {
    pub stats: ThreadStats,
    /// Tasks its cores held (written or acknowledged, not seen to finish).
    pub held: Vec<Held>,
    /// Ready tasks left in its reserved slots and local queues.
    pub queued: Vec<QueuedTask>,
}

/// `task` of `core_type`, left ready in `place`.
pub(crate) fn queued(task: u32, core_type: CoreType, place: QueuedIn) -> QueuedTask {
    QueuedTask {
        task: TaskId(task),
        core_type,
        place,
    }
}

/// What other threads steal a thread's local queues through, by core type.
pub(crate) type Stealers<P> = [<<P as Policy>::Local as LocalQueue>::Stealer; 2];

/// State every scheduler thread of a run shares.
pub(crate) struct RunShared<R, P: Policy> {
    pub(crate) regs: R,
    pub(crate) graph: Arc<Sealed>,
    pub(crate) policy: Arc<P>,
    pub(crate) seeds: Seeds,
    pub(crate) shared: [P::Shared; 2],
    /// Per thread (every thread of the run, by index).
    pub(crate) stealers: Vec<Stealers<P>>,
    /// Tasks not completed. Read-modify-writes are AcqRel and the loads
    /// that end a run Acquire: the last completion happens-before every
    /// thread's `Done`, so a finished run's outputs are visible to whoever
    /// sees `Done`.
    pub(crate) remaining: AtomicUsize,
    pub(crate) stall_timeout: Duration,
    /// One thread runs every job and core ([`Backend::SINGLE_THREADED`](crate::Backend::SINGLE_THREADED)).
    pub(crate) alone: bool,
    stop: AtomicBool,
    failure: Mutex<Option<Failure>>,
    outcomes: Mutex<Vec<Option<ThreadOutcome>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<R, P: Policy> RunShared<R, P> {
    pub(crate) fn new(
        regs: R,
        graph: Arc<Sealed>,
        policy: Arc<P>,
        seeds: Seeds,
        stealers: Vec<Stealers<P>>,
        stall_timeout: Duration,
        alone: bool,
    ) -> Self {
        let remaining = graph.len();
        let threads = stealers.len();
        RunShared {
            regs,
            graph,
            policy,
            seeds,
            shared: [P::Shared::new(), P::Shared::new()],
            stealers,
            remaining: AtomicUsize::new(remaining),
            stall_timeout,
            alone,
            stop: AtomicBool::new(false),
            failure: Mutex::new(None),
            outcomes: Mutex::new(vec![None; threads]),
        }
    }

    /// Whether the run must stop (an error, a stall, a kernel fault, a cancel).
    #[inline]
    pub(crate) fn stopped(&self) -> bool {
        // Relaxed: the flag only makes threads leave sooner; what they
        // report is collected after every job has returned.
        self.stop.load(Ordering::Relaxed) || self.graph.faulted()
    }

    /// Stops the run with `f`: the first failure is kept, but for a stall
    /// or a cancel, which an error or a panic reported after it replaces.
    pub(crate) fn fail(&self, f: Failure) {
        let mut kept = lock(&self.failure);
        // A stall or a cancel only gives up on the run, which may yet
        // complete every task (and then succeeds): an error or a panic
        // after it is what the run reports.
        let gives_up = |f: &Failure| matches!(f, Failure::Stall(_) | Failure::Cancelled);
        if kept.as_ref().is_none_or(|k| gives_up(k) && !gives_up(&f)) {
            *kept = Some(f);
        }
        drop(kept);
        self.stop.store(true, Ordering::Release);
    }

    /// The first failure, taken (once every job has returned).
    pub(crate) fn take_failure(&self) -> Option<Failure> {
        lock(&self.failure).take()
    }

    /// Tasks not yet completed.
    #[inline]
    pub(crate) fn remaining(&self) -> usize {
        self.remaining.load(Ordering::Relaxed)
    }

    /// Counts `n` completions; true if they were the last.
    #[inline]
    pub(crate) fn complete(&self, n: usize) -> bool {
        if self.alone {
            let left = self.remaining.load(Ordering::Relaxed) - n;
            self.remaining.store(left, Ordering::Relaxed);
            left == 0
        } else {
            self.remaining.fetch_sub(n, Ordering::AcqRel) == n
        }
    }

    /// Counts one finished predecessor of `task`; true when it is ready.
    #[inline]
    pub(crate) fn release(&self, task: u32) -> bool {
        if self.alone {
            self.graph.release_alone(task)
        } else {
            self.graph.release(task)
        }
    }

    /// Hands thread `index`'s final state back (its job is ending).
    pub(crate) fn deposit(&self, index: usize, outcome: ThreadOutcome) {
        lock(&self.outcomes)[index] = Some(outcome);
    }

    /// Every thread's final state, by index (`None` for a thread whose job
    /// never ran), taken once every job has returned.
    pub(crate) fn take_outcomes(&self) -> Vec<Option<ThreadOutcome>> {
        std::mem::take(&mut *lock(&self.outcomes))
    }

    /// Ready tasks that no thread took: those in the shared queues (taken
    /// out: call once the run is over) and the seeds not claimed.
    pub(crate) fn take_unclaimed(&self) -> Vec<QueuedTask> {
        let mut tasks = Vec::new();
        let mut scratch = P::Local::with_capacity(0);
        for ty in CoreType::ALL {
            // One at a time, so nothing lands in `scratch`.
            while let (Some(t), _) = self.shared[ty as usize].take(&mut scratch, 1, |_| 0) {
                tasks.push(queued(t, ty, QueuedIn::Shared));
            }
        }
        for ty in CoreType::ALL {
            let seeds = self.seeds.unclaimed_tasks(ty as usize);
            tasks.extend(seeds.iter().map(|&t| queued(t, ty, QueuedIn::Seeds)));
        }
        tasks
    }
}

/// A run in flight as the run's phases see it, whatever its policy and
/// registers: stop it, and read how it went once every thread returned.
pub(crate) trait RunStatus: Send + Sync {
    /// Stops the run with `f`: the first failure is kept, but for a stall
    /// or a cancel, which an error or a panic reported after it replaces.
    fn fail(&self, f: Failure);
    /// The first failure, taken.
    fn take_failure(&self) -> Option<Failure>;
    /// Every thread's final state, by index.
    fn take_outcomes(&self) -> Vec<Option<ThreadOutcome>>;
    /// The sealed graph being run.
    fn graph(&self) -> &Arc<Sealed>;
    /// The diagnosis of a stall after `elapsed`, from the threads' final
    /// states and the cores' COND now.
    fn diagnose(&self, outcomes: &[ThreadOutcome], elapsed: Duration) -> Error;
}

impl<R: RegisterAccess, P: Policy> RunStatus for RunShared<R, P> {
    fn fail(&self, f: Failure) {
        RunShared::fail(self, f)
    }

    fn take_failure(&self) -> Option<Failure> {
        RunShared::take_failure(self)
    }

    fn take_outcomes(&self) -> Vec<Option<ThreadOutcome>> {
        RunShared::take_outcomes(self)
    }

    fn graph(&self) -> &Arc<Sealed> {
        &self.graph
    }

    fn diagnose(&self, outcomes: &[ThreadOutcome], elapsed: Duration) -> Error {
        super::stall::diagnose(
            &self.regs,
            &self.graph,
            outcomes,
            self.take_unclaimed(),
            self.remaining(),
            elapsed,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::testing::{Built, shared};
    use hostgraph_platform::{Platform, SimRegisters};

    /// A stall or a cancel gives way to an error or a panic reported after
    /// it (a run every task of which completed after a stall was a success
    /// that hid them); otherwise the first failure is kept.
    #[test]
    fn an_error_after_a_stall_or_cancel_is_the_failure_kept() {
        let graph = Built::new(
            |_| {},
            &[0],
            |g| {
                g.add_task(0, CoreType::Aiv, &[]).unwrap();
            },
        )
        .seal();
        let run = || {
            shared(
                SimRegisters::new(Platform::A2A3.spec()),
                graph.clone(),
                [vec![], vec![0]],
                1,
            )
        };
        let panic = || Failure::Panic {
            thread: 1,
            message: "boom".into(),
        };
        for first in [Failure::Stall(Duration::from_secs(1)), Failure::Cancelled] {
            let sh = run();
            sh.fail(first);
            sh.fail(panic());
            sh.fail(Failure::Cancelled);
            assert!(sh.stopped());
            assert!(matches!(
                sh.take_failure(),
                Some(Failure::Panic { thread: 1, .. })
            ));
        }
        let sh = run();
        sh.fail(Failure::Stall(Duration::from_secs(1)));
        sh.fail(Failure::Cancelled);
        assert!(matches!(sh.take_failure(), Some(Failure::Stall(_))));
        let sh = run();
        sh.fail(panic());
        sh.fail(Failure::Error(Error::NoGraph));
        assert!(matches!(sh.take_failure(), Some(Failure::Panic { .. })));
    }

    #[test]
    fn seeds_are_claimed_in_batches_each_once() {
        let seeds = Seeds::new([vec![1, 2, 3, 4, 5], vec![9]]);
        assert_eq!(seeds.unclaimed_tasks(0), [1, 2, 3, 4, 5]);
        assert_eq!(seeds.claim(0, 2), [1, 2]);
        assert_eq!(seeds.unclaimed_tasks(0), [3, 4, 5]);
        assert_eq!(seeds.claim(0, 2), [3, 4]);
        assert_eq!(seeds.claim(0, 2), [5]);
        assert!(seeds.claim(0, 2).is_empty());
        assert!(!seeds.drained(1) && seeds.drained(0));
        assert!(seeds.unclaimed_tasks(0).is_empty());
        assert_eq!(
            (seeds.unclaimed_tasks(1), seeds.unclaimed_of(1)),
            (&[9][..], 1)
        );
        assert_eq!(seeds.claim(1, 4), [9]);
        assert!(seeds.drained(1));
        assert!(seeds.unclaimed_tasks(1).is_empty());
    }
}
