//! Random DAGs, for tests, benches and the policy lab: tasks of both core
//! types, isolated tasks, small and large fan-in, hubs with many
//! successors; edges always from a lower to a higher id (so acyclic).

use hostgraph::{CoreType, GraphBuilder, Result, TaskId};

use crate::rng::SplitMix64;

/// A DAG over tasks `0..core.len()`, edges from lower to higher id, no
/// duplicate edges.
pub struct Dag {
    /// Core type of each task.
    pub core: Vec<CoreType>,
    /// Sorted by (from, to).
    pub edges: Vec<(u32, u32)>,
}

impl Dag {
    /// A random DAG of `n` tasks: mixed core types (the AIC share varies by
    /// seed), about 5 % isolated tasks, mostly small fan-in, a few tasks with
    /// a large fan-in, and — room permitting — hubs with more than 8 and
    /// more than 128 successors.
    pub fn random(seed: u64, n: usize) -> Dag {
        let mut rng = SplitMix64(seed);
        let aic_share = 1 + rng.below(7); // of 8
        let core: Vec<CoreType> = (0..n)
            .map(|_| {
                if rng.chance(aic_share, 8) {
                    CoreType::Aic
                } else {
                    CoreType::Aiv
                }
            })
            .collect();
        let isolated: Vec<bool> = (0..n).map(|_| rng.chance(1, 20)).collect();
        let mut edges = Vec::new();
        for to in 1..n {
            if isolated[to] {
                continue;
            }
            let fanin = if rng.chance(1, 25) {
                16 + rng.below(32)
            } else {
                rng.below(4)
            };
            for _ in 0..fanin {
                let from = rng.below(to);
                if !isolated[from] {
                    edges.push((from as u32, to as u32));
                }
            }
        }
        // Hubs early in the order, so plenty of later tasks can follow them.
        let hubs = [(129 + rng.below(100), 2), (9 + rng.below(40), 3)];
        for (fanout, count) in hubs {
            for _ in 0..count {
                let hub = rng.below(n.div_ceil(4));
                if isolated[hub] {
                    continue;
                }
                let mut later: Vec<u32> = (hub as u32 + 1..n as u32)
                    .filter(|&t| !isolated[t as usize])
                    .collect();
                for i in 0..fanout.min(later.len()) {
                    let j = i + rng.below(later.len() - i);
                    later.swap(i, j);
                    edges.push((hub as u32, later[i]));
                }
            }
        }
        edges.sort_unstable();
        edges.dedup();
        Dag { core, edges }
    }

    /// `n` tasks all of `ty`: a random DAG's edges, so some tasks are ready
    /// at once (more than any local queue holds) and others wait.
    pub fn single_type(seed: u64, n: usize, ty: CoreType) -> Dag {
        Dag {
            core: vec![ty; n],
            ..Dag::random(seed, n)
        }
    }

    /// Tasks in the DAG.
    pub fn len(&self) -> usize {
        self.core.len()
    }

    /// Whether it has no task.
    pub fn is_empty(&self) -> bool {
        self.core.is_empty()
    }

    /// How many of its tasks are AIC tasks.
    pub fn aic_tasks(&self) -> usize {
        self.core.iter().filter(|&&t| t == CoreType::Aic).count()
    }

    /// Successors of every task.
    pub fn fanout(&self) -> Vec<usize> {
        let mut out = vec![0; self.len()];
        for &(from, _) in &self.edges {
            out[from as usize] += 1;
        }
        out
    }

    /// Predecessors of every task.
    pub fn preds(&self) -> Vec<Vec<u32>> {
        let mut preds = vec![Vec::new(); self.len()];
        for &(from, to) in &self.edges {
            preds[to as usize].push(from);
        }
        preds
    }

    /// Adds the DAG to `g` after whatever it holds: AIC tasks run
    /// `func_ids[0]`, AIV tasks `func_ids[1]`, each with its own id in the
    /// DAG as its one argument word (so a per-task cost or check can tell
    /// them apart). Returns the id of the DAG's first task.
    pub fn build(&self, g: &mut GraphBuilder<'_>, func_ids: [i32; 2]) -> Result<TaskId> {
        let base = g.task_count() as u32;
        for (i, &ty) in self.core.iter().enumerate() {
            g.add_task(func_ids[ty as usize], ty, &[i as u64])?;
        }
        for &(from, to) in &self.edges {
            g.add_successor(TaskId(base + from), TaskId(base + to))?;
        }
        Ok(TaskId(base))
    }
}
