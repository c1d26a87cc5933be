//! Work stealing, like StarPU's `ws`/`lws` schedulers (and the deques of
//! Cilk and rayon): a task that becomes ready stays with the thread that
//! released it, in a deque other threads can steal from; a thread with
//! nothing to run for a free core steals from the others, trying them in
//! turn starting after itself. Initially ready tasks are dealt round-robin.

use hostgraph_orch_abi::CoreType;
use hostgraph_platform::DiscoveredCore;

use crate::sched::queue::{SharedFifo, Stealable};
use crate::sched::{CoreView, MAX_LOCAL_CAPACITY, Policy, RoundRobin};

/// Local deques without a bound (nothing overflows to the shared queues),
/// stolen from by idle threads.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkStealing;

/// Where a thread's next steal attempt starts.
#[derive(Debug)]
pub struct NextVictim(usize);

impl Policy for WorkStealing {
    type Local = Stealable;
    type Shared = SharedFifo;
    type Thread = NextVictim;
    const STEALS: bool = true;

    fn name(&self) -> &'static str {
        "work-stealing"
    }

    fn assign_cores(&self, cores: &[DiscoveredCore], threads: usize) -> Vec<usize> {
        RoundRobin.assign_cores(cores, threads)
    }

    fn local_capacity(&self, _owned: usize) -> usize {
        MAX_LOCAL_CAPACITY
    }

    fn seed(&self, core_type: CoreType, ready: &[u32], capacity: &[usize]) -> Vec<Option<usize>> {
        RoundRobin.seed(core_type, ready, capacity)
    }

    fn thread(&self, index: usize, _cores: &[CoreView]) -> NextVictim {
        NextVictim(index + 1)
    }

    fn victim(
        &self,
        next: &mut NextVictim,
        thief: usize,
        threads: usize,
        _core_type: CoreType,
    ) -> Option<usize> {
        let mut v = next.0 % threads;
        if v == thief {
            v = (v + 1) % threads;
        }
        next.0 = v + 1;
        (v != thief).then_some(v)
    }
}
