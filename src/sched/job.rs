//! A scheduler thread packaged for a backend: the thread's state, the run's
//! shared state, and its stall clock. Dropping the job (when it has
//! returned, or after a panic) hands the thread's final state back to the
//! run, so the run can report and diagnose it.

use std::sync::Arc;

use hostgraph_orch_abi::CoreType;
use hostgraph_platform::RegisterAccess;

use super::policy::Policy;
use super::queue::SharedQueue;
use super::shared::{Failure, RunShared};
use super::thread::SchedulerThread;
use crate::backend::{Poll, SchedulerJob};
use crate::backoff::StallWatch;

/// One scheduler thread of a run, hosted by the run's backend.
pub(crate) struct Job<R: RegisterAccess + 'static, P: Policy> {
    thread: SchedulerThread<P>,
    shared: Arc<RunShared<R, P>>,
    watch: StallWatch,
    cores: Vec<u32>,
    /// The thread's offered count at the last [`SchedulerJob::offered`].
    offered: u64,
}

impl<R: RegisterAccess + 'static, P: Policy> Job<R, P> {
    pub(crate) fn new(thread: SchedulerThread<P>, shared: Arc<RunShared<R, P>>) -> Self {
        Job {
            cores: thread.physical_ids(),
            watch: StallWatch::new(shared.stall_timeout),
            offered: 0,
            thread,
            shared,
        }
    }
}

impl<R: RegisterAccess + 'static, P: Policy> SchedulerJob for Job<R, P> {
    fn index(&self) -> usize {
        self.thread.index as usize
    }

    fn cores(&self) -> &[u32] {
        &self.cores
    }

    #[inline]
    fn poll(&mut self) -> Poll {
        self.thread.poll(&self.shared)
    }

    fn check_stall(&mut self) -> bool {
        if !self.watch.stalled(self.shared.remaining()) {
            return false;
        }
        self.shared.fail(Failure::Stall(self.watch.elapsed()));
        true
    }

    fn offered(&mut self) -> bool {
        let now = self.thread.offered;
        std::mem::replace(&mut self.offered, now) != now
    }

    fn stall_now(&mut self) {
        self.shared.fail(Failure::Stall(self.watch.elapsed()));
    }

    fn may_find_work(&self, core_type: CoreType) -> bool {
        let (sh, ty) = (&self.shared, core_type as usize);
        P::STEALS || sh.remaining() == 0 || !sh.seeds.drained(ty) || !sh.shared[ty].is_empty()
    }

    fn abort(&mut self, why: String) {
        self.shared.fail(Failure::Panic {
            thread: self.index(),
            message: why,
        });
    }
}

impl<R: RegisterAccess + 'static, P: Policy> Drop for Job<R, P> {
    fn drop(&mut self) {
        self.shared.deposit(self.index(), self.thread.outcome());
    }
}
