//! Locality: a task made ready by a completion runs next on the core that
//! completed its predecessor when it can (same core type), so the data the
//! predecessor left behind is reused (as StarPU's data-aware schedulers
//! prefer the worker holding a task's data); otherwise it stays with that
//! core's thread. Everything else is round-robin.

use hostgraph_orch_abi::CoreType;
use hostgraph_platform::DiscoveredCore;

use crate::sched::queue::{Fifo, SharedFifo};
use crate::sched::{CoreView, Place, Policy, RoundRobin};

/// Successors onto their predecessor's core.
#[derive(Debug, Clone, Copy, Default)]
pub struct Locality;

impl Policy for Locality {
    type Local = Fifo;
    type Shared = SharedFifo;
    type Thread = ();
    const AFFINITY: bool = true;

    fn name(&self) -> &'static str {
        "locality"
    }

    fn assign_cores(&self, cores: &[DiscoveredCore], threads: usize) -> Vec<usize> {
        RoundRobin.assign_cores(cores, threads)
    }

    fn seed(&self, core_type: CoreType, ready: &[u32], capacity: &[usize]) -> Vec<Option<usize>> {
        RoundRobin.seed(core_type, ready, capacity)
    }

    fn thread(&self, _index: usize, _cores: &[CoreView]) {}

    #[inline]
    fn place(&self, _: &mut (), _task: u32, _from: CoreView) -> Place {
        Place::Core
    }
}
