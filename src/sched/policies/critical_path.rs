//! Critical-path priority, like StarPU's `prio` scheduler fed with
//! HEFT-style upward ranks: a task's priority is its bottom level — the
//! longest cost-weighted path from it to a sink, its own duration included
//! — computed once per run from a [`CostModel`] (every task costing the
//! same when none is given); ready queues, local and shared, hand out the
//! highest priority first, so work on the longest remaining chain starts
//! as early as possible.

use std::collections::VecDeque;

use hostgraph_orch_abi::CoreType;
use hostgraph_platform::DiscoveredCore;

use crate::cost::CostModel;
use crate::graph::TaskId;
use crate::sched::queue::{Priority, SharedPriority};
use crate::sched::{CoreView, Policy, RoundRobin};
use crate::seal::Sealed;

/// Highest bottom level first.
#[derive(Debug, Clone, Default)]
pub struct CriticalPath {
    costs: Option<CostModel>,
    bottom: Vec<u64>,
}

impl CriticalPath {
    /// Priorities from path lengths in tasks (every task costs 1).
    pub fn new() -> Self {
        Self::default()
    }

    /// Priorities from path lengths weighted by `costs`' estimates.
    pub fn with_costs(costs: CostModel) -> Self {
        CriticalPath {
            costs: Some(costs),
            bottom: Vec::new(),
        }
    }
}

/// Every task's bottom level in `graph`: `cost(t)` plus the largest bottom
/// level among its successors (a reverse topological sweep, O(tasks +
/// edges)), saturating at `u64::MAX` (estimates are a model's: nothing
/// bounds their sum).
pub fn bottom_levels(graph: &Sealed, cost: impl Fn(u32) -> u64) -> Vec<u64> {
    let n = graph.len();
    let mut fanin = vec![0u32; n];
    for t in 0..n as u32 {
        for &TaskId(s) in graph.successors(t) {
            fanin[s as usize] += 1;
        }
    }
    let mut order = Vec::with_capacity(n);
    let mut ready: VecDeque<u32> = (0..n as u32).filter(|&t| fanin[t as usize] == 0).collect();
    while let Some(t) = ready.pop_front() {
        order.push(t);
        for &TaskId(s) in graph.successors(t) {
            fanin[s as usize] -= 1;
            if fanin[s as usize] == 0 {
                ready.push_back(s);
            }
        }
    }
    let mut bottom = vec![0u64; n];
    for &t in order.iter().rev() {
        let below = graph
            .successors(t)
            .iter()
            .map(|&TaskId(s)| bottom[s as usize])
            .max()
            .unwrap_or(0);
        bottom[t as usize] = cost(t).saturating_add(below);
    }
    bottom
}

impl Policy for CriticalPath {
    type Local = Priority;
    type Shared = SharedPriority;
    type Thread = ();

    fn name(&self) -> &'static str {
        "critical-path"
    }

    fn assign_cores(&self, cores: &[DiscoveredCore], threads: usize) -> Vec<usize> {
        RoundRobin.assign_cores(cores, threads)
    }

    fn seed(&self, core_type: CoreType, ready: &[u32], capacity: &[usize]) -> Vec<Option<usize>> {
        // The most urgent roots to the local queues, the rest to the
        // shared one (where they are ordered too).
        let mut order: Vec<usize> = (0..ready.len()).collect();
        order.sort_by_cached_key(|&i| std::cmp::Reverse(self.priority(ready[i])));
        let sorted: Vec<u32> = order.iter().map(|&i| ready[i]).collect();
        let dealt = RoundRobin.seed(core_type, &sorted, capacity);
        let mut plan = vec![None; ready.len()];
        for (&i, d) in order.iter().zip(dealt) {
            plan[i] = d;
        }
        plan
    }

    fn prepare(&mut self, graph: &Sealed) {
        self.bottom = match &self.costs {
            Some(c) => bottom_levels(graph, |t| c.estimate(graph.func_id(t), graph.args(t))),
            None => bottom_levels(graph, |_| 1),
        };
    }

    fn forget(&mut self) {
        self.bottom = Vec::new();
    }

    fn thread(&self, _index: usize, _cores: &[CoreView]) {}

    #[inline]
    fn priority(&self, task: u32) -> u64 {
        self.bottom[task as usize]
    }
}
