//! The policy lab: every built-in dispatch policy on the examples' graphs,
//! with kernel durations drawn from a cost model per graph, on chips of
//! three sizes, in virtual time ([`VirtualTime`]) — so every figure is the
//! same on any machine for the same seeds — and ([`reality`]) the model
//! checked against threaded runs of kernels of known duration.
//!
//! A case is (graph, chip, policy); it runs once per seed (a seed draws
//! every task's duration) and is summed up by its median run.

pub mod reality;

use std::fmt;
use std::str::FromStr;

use hostgraph::cost::{Cost, CostModel};
use hostgraph::sched::BuiltIn;
use hostgraph::sim::VirtualReport;
use hostgraph::{
    Backend, Error, KernelFn, Platform, PlatformSpec, RunReport, Runtime, RuntimeConfig, TaskId,
    VirtualTime,
};

use crate::dag::Dag;
use crate::paged_attention::{self as pa, Precision};
use crate::plugins::{self, Orchestration};
use crate::synthetic::{self, Shape};
use crate::{bgemm, rng::SplitMix64};

/// A graph of the lab, with the kernel durations it runs with
/// ([`costs`](Self::costs)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Graph {
    /// paged_attention at the reference runtime's large size (65,536 tasks:
    /// 256 chains of 64 KV blocks × QK → SF → PV → UP).
    PagedAttention,
    /// bgemm as its example's C plugin builds it (16 chains of
    /// gemm → add, 4 K steps: 128 tasks).
    Bgemm,
    /// One of the bench program's synthetic shapes, every third task AIC.
    Synthetic(Shape),
    /// A random DAG ([`Dag::random`]).
    Random,
}

impl Graph {
    /// Every graph, in the order the lab lists them.
    pub const ALL: [Graph; 8] = [
        Graph::PagedAttention,
        Graph::Bgemm,
        Graph::Synthetic(Shape::Independent),
        Graph::Synthetic(Shape::Chain),
        Graph::Synthetic(Shape::Layered),
        Graph::Synthetic(Shape::BinaryTree),
        Graph::Synthetic(Shape::Wavefront),
        Graph::Random,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Graph::PagedAttention => "paged-attention",
            Graph::Bgemm => "bgemm",
            Graph::Synthetic(shape) => shape.name(),
            Graph::Random => "random",
        }
    }

    /// The kernel durations: what the virtual-time backend draws from and
    /// what the policies that plan with durations are given (they see the
    /// means, not the draws).
    ///
    /// - paged-attention: QK and PV (AIC) 15–25 µs, SF (AIV) 6–10 µs, UP
    ///   (AIV) 4 µs;
    /// - bgemm: gemm (AIC) 18–22 µs, add (AIV) 2–4 µs;
    /// - synthetic shapes: AIC 8–12 µs, AIV 2–4 µs;
    /// - random: AIC 2–40 µs, AIV 1–12 µs.
    pub fn costs(self) -> CostModel {
        let us = |min: u64, max: u64| Cost::Uniform {
            min: min * 1_000,
            max: max * 1_000,
        };
        match self {
            Graph::PagedAttention => CostModel::new(Cost::Constant(4_000))
                .with(pa::FUNC_QK, us(15, 25))
                .with(pa::FUNC_SOFTMAX, us(6, 10))
                .with(pa::FUNC_PV, us(15, 25)),
            Graph::Bgemm => CostModel::new(us(2, 4)).with(bgemm::FUNC_GEMM_TILE, us(18, 22)),
            Graph::Synthetic(_) => CostModel::new(us(2, 4)).with(AIC_FUNC, us(8, 12)),
            Graph::Random => CostModel::new(us(1, 12)).with(AIC_FUNC, us(2, 40)),
        }
    }

    /// The graph's kernels: func_id and name.
    pub fn kernels(self) -> Vec<(i32, &'static str)> {
        match self {
            Graph::PagedAttention => vec![
                (pa::FUNC_QK, "qk"),
                (pa::FUNC_SOFTMAX, "softmax"),
                (pa::FUNC_PV, "pv"),
                (pa::FUNC_UPDATE, "update"),
            ],
            Graph::Bgemm => vec![
                (bgemm::FUNC_GEMM_TILE, "gemm_tile"),
                (bgemm::FUNC_TILE_ADD, "tile_add"),
            ],
            Graph::Synthetic(_) | Graph::Random => vec![(AIC_FUNC, "aic"), (AIV_FUNC, "aiv")],
        }
    }

    /// Builds the graph at `size` into `rt`, with a kernel registered for
    /// every func_id (one that must not run: the lab does not execute
    /// kernels). The graph is left built (run it, then discard it).
    pub fn build<E: Backend>(self, rt: &mut Runtime<E>, size: Size) -> Result<usize, Error> {
        for (func_id, name) in self.kernels() {
            rt.register_kernel(func_id, KernelFn::rust(not_executed).named(name));
        }
        match self {
            Graph::PagedAttention => {
                let tasks = pa::expected_graph(&size.paged_attention());
                rt.build(|g| add_tasks(g, &tasks, |_| Vec::new()))?;
            }
            Graph::Bgemm => {
                // The plugin records `c` for copy-back at finalize; the lab
                // discards the graph instead, so no pointer outlives here.
                let inputs = bgemm::Inputs::random(bgemm::SEED);
                let mut c = vec![0.0f32; bgemm::SIZE * bgemm::SIZE];
                let args = bgemm::orch_args(&inputs, &mut c);
                let plugin = plugins::load_c("bgemm")?;
                // SAFETY: the project's bgemm plugin, given its arguments;
                // the graph is built only (no copy-back ever reads `c`).
                unsafe { plugin.build(rt, &args)? };
            }
            Graph::Synthetic(shape) => {
                rt.build(|g| {
                    synthetic::build_typed(g, shape, size.synthetic(), [AIC_FUNC, AIV_FUNC])
                        .map(drop)
                })?;
            }
            Graph::Random => {
                let dag = Dag::random(RANDOM_SEED, size.random());
                rt.build(|g| dag.build(g, [AIC_FUNC, AIV_FUNC]).map(drop))?;
            }
        }
        Ok(rt.task_count())
    }
}

impl fmt::Display for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Graph {
    type Err = String;

    fn from_str(s: &str) -> Result<Graph, String> {
        Graph::ALL
            .into_iter()
            .find(|g| g.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Graph::ALL.iter().map(|g| g.name()).collect();
                format!("no graph '{s}' (graphs: {})", names.join(", "))
            })
    }
}

/// func_id of the AIC tasks of the synthetic and random graphs.
pub const AIC_FUNC: i32 = 0;
/// func_id of their AIV tasks.
pub const AIV_FUNC: i32 = 1;
/// Seed of the random DAG (the durations' seeds vary; the DAG does not).
const RANDOM_SEED: u64 = 0x1ab;

fn not_executed(_: &[u64]) {
    panic!("the policy lab does not execute kernels");
}

/// Adds paged_attention's expected tasks to `g`, each task's argument
/// words `args(i)`.
pub fn add_tasks(
    g: &mut hostgraph::GraphBuilder<'_>,
    tasks: &[pa::ExpectedTask],
    args: impl Fn(usize) -> Vec<u64>,
) -> hostgraph::Result<()> {
    for (i, t) in tasks.iter().enumerate() {
        g.add_task(t.stage.func_id(), t.stage.core_type(), &args(i))?;
    }
    for (i, t) in tasks.iter().enumerate() {
        for &p in &t.preds {
            g.add_successor(TaskId(p), TaskId(i as u32))?;
        }
    }
    Ok(())
}

/// How large the lab's graphs are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// paged-attention 65,536 tasks; synthetic shapes and the random DAG
    /// about 10,000.
    Full,
    /// paged-attention 1,024 tasks; the others about 600 (for tests).
    Quick,
}

impl Size {
    fn paged_attention(self) -> pa::Config {
        let batch = match self {
            Size::Full => 256,
            Size::Quick => 4,
        };
        pa::Config::scaled(batch, 8100, Precision::F16)
    }

    fn synthetic(self) -> usize {
        match self {
            Size::Full => 10_000,
            Size::Quick => 600,
        }
    }

    fn random(self) -> usize {
        self.synthetic()
    }
}

/// A simulated chip: a platform spec (possibly larger than any real one),
/// the blocks launched and the scheduler threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chip {
    /// The command-line name, `b{block dim}t{threads}` as in the bench.
    pub name: &'static str,
    /// What the chip has.
    pub spec: PlatformSpec,
    /// Blocks launched.
    pub block_dim: u32,
    /// Scheduler threads.
    pub threads: u32,
}

impl Chip {
    /// Every chip of the lab: a2a3 at 3 blocks (9 cores) and 3 threads
    /// (the examples' default), the whole a2a3 (24 blocks, 72 cores, 4
    /// threads), and a chip that does not exist: 342 a2a3 blocks (1,026
    /// cores) and 16 threads.
    pub fn all() -> [Chip; 3] {
        let a2a3 = *Platform::A2A3.spec();
        [
            Chip {
                name: "b3t3",
                spec: a2a3,
                block_dim: 3,
                threads: 3,
            },
            Chip {
                name: "b24t4",
                spec: a2a3,
                block_dim: 24,
                threads: 4,
            },
            Chip {
                name: "b342t16",
                spec: PlatformSpec {
                    max_block_dim: 342,
                    max_scheduler_threads: 16,
                    ..a2a3
                },
                block_dim: 342,
                threads: 16,
            },
        ]
    }

    /// Cores launched.
    pub fn cores(&self) -> u32 {
        self.block_dim * (self.spec.aic_per_block + self.spec.aiv_per_block)
    }

    /// The runtime configuration of a run on this chip.
    pub fn config(&self, profiling: bool) -> RuntimeConfig {
        RuntimeConfig {
            platform: self.spec.platform,
            block_dim: self.block_dim,
            threads: self.threads,
            profiling,
            ..Default::default()
        }
    }

    /// A virtual-time runtime of this chip drawing durations from `costs`
    /// with `seed`.
    pub fn runtime(
        &self,
        costs: CostModel,
        seed: u64,
        profiling: bool,
    ) -> Result<Runtime<VirtualTime>, Error> {
        let backend = VirtualTime::new(self.spec, costs, seed);
        Runtime::with_backend(self.config(profiling), backend)
    }
}

impl FromStr for Chip {
    type Err = String;

    fn from_str(s: &str) -> Result<Chip, String> {
        Chip::all()
            .into_iter()
            .find(|c| c.name == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Chip::all().iter().map(|c| c.name).collect();
                format!("no chip '{s}' (chips: {})", names.join(", "))
            })
    }
}

/// The seeds of `count` runs of a case: the same for every case, so every
/// policy meets the same draws.
pub fn seeds(count: u64) -> Vec<u64> {
    let mut rng = SplitMix64(0x5eed);
    (0..count).map(|_| rng.next_u64()).collect()
}

/// A case's runs, one per seed.
#[derive(Debug, Clone)]
pub struct Case {
    /// The graph.
    pub graph: Graph,
    /// Its task count.
    pub tasks: usize,
    /// The chip.
    pub chip: Chip,
    /// The policy.
    pub policy: BuiltIn,
    /// One report per seed, in seed order.
    pub runs: Vec<VirtualReport>,
}

impl Case {
    /// The run of median makespan (the lower one of the middle two for an
    /// even count).
    pub fn median(&self) -> &VirtualReport {
        let mut order: Vec<&VirtualReport> = self.runs.iter().collect();
        order.sort_by_key(|r| r.makespan_ns);
        order[(order.len() - 1) / 2]
    }

    /// Lower bound over makespan, in percent (100: no schedule does better),
    /// of the median run, and its least and greatest over the runs.
    pub fn efficiency(&self) -> (f64, f64, f64) {
        let of = |r: &VirtualReport| 100.0 / r.ratio();
        let all: Vec<f64> = self.runs.iter().map(of).collect();
        let min = all.iter().copied().fold(f64::INFINITY, f64::min);
        let max = all.iter().copied().fold(0.0, f64::max);
        (of(self.median()), min, max)
    }

    /// Scheduler time per task of the median run, in ns.
    pub fn sched_per_task(&self) -> f64 {
        let r = self.median();
        r.sched_ns() as f64 / r.tasks as f64
    }

    /// How busy the median run's scheduler threads were, in percent
    /// ([`VirtualReport::sched_busy`](hostgraph::sim::VirtualReport::sched_busy)).
    pub fn sched_busy(&self) -> f64 {
        100.0 * self.median().sched_busy()
    }
}

/// Runs every (graph, chip, policy) once per seed; `done` sees each case
/// as it completes. The graph is built once per (graph, chip, seed) and
/// run under each policy in turn.
pub fn run(
    graphs: &[Graph],
    chips: &[Chip],
    policies: &[BuiltIn],
    seeds: &[u64],
    size: Size,
    mut done: impl FnMut(&Case),
) -> Result<Vec<Case>, Error> {
    let mut cases = Vec::new();
    for &graph in graphs {
        let costs = graph.costs();
        for &chip in chips {
            let mut runs: Vec<Vec<VirtualReport>> = vec![Vec::new(); policies.len()];
            let mut tasks = 0;
            for &seed in seeds {
                let mut rt = chip.runtime(costs.clone(), seed, false)?;
                tasks = graph.build(&mut rt, size)?;
                for (p, &policy) in policies.iter().enumerate() {
                    rt.set_builtin_policy(policy, &costs);
                    rt.run()?;
                    let report = rt.backend().report().expect("a completed run's report");
                    runs[p].push(report.clone());
                }
                rt.discard();
            }
            for (&policy, runs) in policies.iter().zip(runs) {
                let case = Case {
                    graph,
                    tasks,
                    chip,
                    policy,
                    runs,
                };
                done(&case);
                cases.push(case);
            }
        }
    }
    Ok(cases)
}

/// One run of a case with profiling on, for its Gantt chart: the run's
/// report, its per-task records in virtual time.
pub fn profiled(
    graph: Graph,
    chip: Chip,
    policy: BuiltIn,
    seed: u64,
    size: Size,
) -> Result<RunReport, Error> {
    let costs = graph.costs();
    let mut rt = chip.runtime(costs.clone(), seed, true)?;
    graph.build(&mut rt, size)?;
    rt.set_builtin_policy(policy, &costs);
    let report = rt.run();
    rt.discard();
    report
}

/// Makespans within this share of the best count as ties: other draws of
/// the durations move a case by about as much.
pub const TIE: f64 = 0.01;

/// Per (graph, chip), in the order of `cases`: the policies whose median
/// makespan is within [`TIE`] of the least, best first.
pub fn winners(cases: &[Case]) -> Vec<(Graph, Chip, Vec<BuiltIn>)> {
    let mut out: Vec<(Graph, Chip, Vec<BuiltIn>)> = Vec::new();
    for c in cases {
        if out.iter().any(|(g, ch, _)| *g == c.graph && *ch == c.chip) {
            continue;
        }
        let mut alike: Vec<&Case> = cases
            .iter()
            .filter(|o| o.graph == c.graph && o.chip == c.chip)
            .collect();
        alike.sort_by_key(|o| o.median().makespan_ns);
        let best = alike[0].median().makespan_ns as f64;
        let tied = alike
            .iter()
            .take_while(|o| o.median().makespan_ns as f64 <= best * (1.0 + TIE))
            .map(|o| o.policy)
            .collect();
        out.push((c.graph, c.chip, tied));
    }
    out
}
