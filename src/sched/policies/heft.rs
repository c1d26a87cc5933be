//! HEFT (Topcuoglu, Hariri and Wu, 2002), as StarPU's `dmda` applies it at
//! run time: tasks are taken in order of upward rank (the cost-weighted
//! bottom level, as [`CriticalPath`](super::CriticalPath)), and each goes
//! to the core, among those that can take one now, with the earliest
//! estimated finish time: the later of the core's estimated free time and
//! the task's estimated ready time, plus its estimated duration. Estimates
//! come from a [`CostModel`] (a profile of an earlier run, or the user's).

use std::sync::atomic::{AtomicU64, Ordering};

use hostgraph_orch_abi::CoreType;
use hostgraph_platform::DiscoveredCore;

use super::critical_path::bottom_levels;
use crate::cost::CostModel;
use crate::graph::TaskId;
use crate::sched::queue::{Priority, SharedPriority};
use crate::sched::{CoreView, Policy, RoundRobin};
use crate::seal::Sealed;

/// Earliest estimated finish time.
#[derive(Debug, Default)]
pub struct Heft {
    costs: CostModel,
    /// Per task: upward rank, and estimated duration.
    rank: Vec<u64>,
    duration: Vec<u64>,
    /// Per task: estimated time its last predecessor finishes (raised as
    /// predecessors are placed; Relaxed: an estimate, read by whichever
    /// thread places the task).
    ready_at: Vec<AtomicU64>,
    successors: Vec<Vec<u32>>,
}

impl Heft {
    /// HEFT with durations estimated by `costs`.
    pub fn new(costs: CostModel) -> Self {
        Heft {
            costs,
            ..Default::default()
        }
    }
}

/// One thread's estimate of when each of its cores is free.
#[derive(Debug)]
pub struct FreeAt(Vec<u64>);

impl Policy for Heft {
    type Local = Priority;
    type Shared = SharedPriority;
    type Thread = FreeAt;
    const CHOOSES_CORE: bool = true;

    fn name(&self) -> &'static str {
        "heft"
    }

    fn assign_cores(&self, cores: &[DiscoveredCore], threads: usize) -> Vec<usize> {
        RoundRobin.assign_cores(cores, threads)
    }

    fn seed(&self, core_type: CoreType, ready: &[u32], capacity: &[usize]) -> Vec<Option<usize>> {
        RoundRobin.seed(core_type, ready, capacity)
    }

    fn prepare(&mut self, graph: &Sealed) {
        let n = graph.len() as u32;
        self.duration = (0..n)
            .map(|t| self.costs.estimate(graph.func_id(t), graph.args(t)))
            .collect();
        self.rank = bottom_levels(graph, |t| self.duration[t as usize]);
        self.ready_at = (0..n).map(|_| AtomicU64::new(0)).collect();
        self.successors = (0..n)
            .map(|t| graph.successors(t).iter().map(|&TaskId(s)| s).collect())
            .collect();
    }

    fn forget(&mut self) {
        *self = Heft::new(std::mem::take(&mut self.costs));
    }

    fn thread(&self, _index: usize, cores: &[CoreView]) -> FreeAt {
        FreeAt(vec![0; cores.len()])
    }

    #[inline]
    fn priority(&self, task: u32) -> u64 {
        self.rank[task as usize]
    }

    fn choose_core(&self, free_at: &mut FreeAt, task: u32, free: &[CoreView]) -> usize {
        let t = task as usize;
        let ready = self.ready_at[t].load(Ordering::Relaxed);
        let finish = |c: &CoreView| {
            // An idle core is free now; a busy one when its task is done.
            let at = if c.idle { 0 } else { free_at.0[c.index] };
            at.max(ready).saturating_add(self.duration[t])
        };
        let (best, end) = free
            .iter()
            .enumerate()
            .map(|(i, c)| (i, finish(c)))
            .min_by_key(|&(i, end)| (end, i))
            .expect("choose_core is offered at least one core");
        free_at.0[free[best].index] = end;
        for &s in &self.successors[t] {
            self.ready_at[s as usize].fetch_max(end, Ordering::Relaxed);
        }
        best
    }
}
