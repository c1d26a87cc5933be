//! What each built-in policy does differently, seen in real runs on the
//! inline simulator (deterministic order) through the published per-task
//! results; HEFT's core choice checked against its estimates directly. And
//! a policy that keeps tasks on the core that released them while choosing
//! cores itself: every task runs once, in dependency order.

use std::time::Duration;

use hostgraph::cost::{Cost, CostModel};
use hostgraph::graph::Task;
use hostgraph::run::{SealedGraph, TaskResult};
use hostgraph::sched::queue::{Fifo, SharedFifo};
use hostgraph::sched::{CoreView, CriticalPath, Heft, Place, Policy, RoundRobin, WorkStealing};
use hostgraph::{
    Backend, CoreType, DiscoveredCore, GraphBuilder, InlineSim, KernelFn, Platform, Runtime,
    RuntimeConfig, VirtualTime,
};

mod common;
use common::Dag;

fn noop(_: &[u64]) {}

fn inline(block_dim: u32, threads: u32) -> Runtime<InlineSim> {
    let config = RuntimeConfig {
        block_dim,
        threads,
        publish: true,
        ..Default::default()
    };
    let mut rt = Runtime::with_backend(config, InlineSim::new(Platform::A2A3)).unwrap();
    rt.register_kernel(0, KernelFn::rust(noop));
    rt
}

/// Runs `build` under `policy`; every task's result by id.
fn results<P: Policy, B: Backend>(
    rt: &mut Runtime<B>,
    policy: P,
    build: impl FnOnce(&mut GraphBuilder<'_>) -> hostgraph::Result<()>,
) -> (Vec<TaskResult>, hostgraph::RunReport) {
    let (r, report) = try_results(rt, policy, build);
    (r, report.unwrap())
}

/// Runs `build` under `policy` (publishing), then discards the graph:
/// every task's result by id (none if the run failed), and how it ended.
fn try_results<P: Policy, B: Backend>(
    rt: &mut Runtime<B>,
    policy: P,
    build: impl FnOnce(&mut GraphBuilder<'_>) -> hostgraph::Result<()>,
) -> (Vec<TaskResult>, hostgraph::Result<hostgraph::RunReport>) {
    rt.set_policy(policy);
    rt.build(build).unwrap();
    let report = rt.run();
    let world = rt.world_mut();
    let mut r: Vec<(u32, TaskResult)> = world
        .query::<(&Task, &TaskResult)>()
        .iter(world)
        .map(|(t, r)| (t.id.0, *r))
        .collect();
    r.sort_by_key(|&(id, _)| id);
    rt.discard();
    (r.into_iter().map(|(_, r)| r).collect(), report)
}

/// 30 independent AIV tasks, then a chain of 10 AIV tasks (ids 30..40).
fn short_tasks_then_a_chain(g: &mut GraphBuilder<'_>) -> hostgraph::Result<()> {
    for _ in 0..30 {
        g.add_task(0, CoreType::Aiv, &[])?;
    }
    let mut prev = g.add_task(0, CoreType::Aiv, &[])?;
    for _ in 1..10 {
        let next = g.add_task(0, CoreType::Aiv, &[])?;
        g.add_successor(prev, next)?;
        prev = next;
    }
    Ok(())
}

#[test]
fn critical_path_starts_the_longest_chain_first() {
    let mut rt = inline(1, 1);
    let (cp, _) = results(&mut rt, CriticalPath::new(), short_tasks_then_a_chain);
    let (rr, _) = results(&mut rt, RoundRobin, short_tasks_then_a_chain);
    // Two AIV cores: the chain's head is among the first two to run under
    // critical-path priority, after the 30 short tasks in FIFO order.
    assert!(
        cp[30].order < 2,
        "critical path: chain head #{}",
        cp[30].order
    );
    assert!(
        rr[30].order >= 28,
        "round-robin: chain head #{}",
        rr[30].order
    );
    // And the whole chain finishes earlier.
    assert!(cp[39].order < rr[39].order);
}

/// Estimates are a model's, and nothing bounds their sum: bottom levels
/// (critical-path and HEFT ranks) and HEFT's finish times saturate at
/// `u64::MAX` instead of wrapping (which ranked a chain's head below its
/// successor) or panicking ("attempt to add with overflow" in the Seed
/// phase, in a debug build).
#[test]
fn estimates_too_large_to_add_up_saturate() {
    let huge = CostModel::new(Cost::Constant(u64::MAX / 2));
    let chain = |g: &mut GraphBuilder<'_>| {
        let a = g.add_task(0, CoreType::Aiv, &[])?;
        let b = g.add_task(0, CoreType::Aiv, &[])?;
        let c = g.add_task(0, CoreType::Aiv, &[])?;
        g.add_successor(a, b)?;
        g.add_successor(b, c)
    };
    let mut rt = inline(1, 1);
    let (cp, _) = results(&mut rt, CriticalPath::with_costs(huge.clone()), chain);
    let (heft, _) = results(&mut rt, Heft::new(huge.clone()), chain);
    for r in [cp, heft] {
        assert_eq!(r.iter().map(|t| t.order).collect::<Vec<_>>(), [0, 1, 2]);
    }
    rt.build(chain).unwrap();
    rt.run().unwrap();
    let sealed = rt.world().resource::<SealedGraph>().get().unwrap().clone();
    let levels = hostgraph::sched::bottom_levels(&sealed, |_| u64::MAX / 2);
    assert_eq!(levels, [u64::MAX, u64::MAX - 1, u64::MAX / 2]);
    rt.finalize().unwrap();
}

#[test]
fn work_stealing_spreads_a_burst_released_on_one_thread() {
    // One root releases 200 tasks, all on the thread that ran it; the other
    // thread has nothing of its own.
    let burst = |g: &mut GraphBuilder<'_>| {
        let root = g.add_task(0, CoreType::Aiv, &[])?;
        for _ in 0..200 {
            let t = g.add_task(0, CoreType::Aiv, &[])?;
            g.add_successor(root, t)?;
        }
        Ok(())
    };
    let mut rt = inline(2, 2);
    let (_, ws) = results(&mut rt, WorkStealing, burst);
    let stolen: u64 = ws.per_thread.iter().map(|t| t.stolen).sum();
    assert!(stolen > 0, "{:?}", ws.per_thread);
    assert!(
        ws.per_thread.iter().all(|t| t.dispatched > 0),
        "{:?}",
        ws.per_thread
    );
    let (_, rr) = results(&mut rt, RoundRobin, burst);
    assert_eq!(rr.per_thread.iter().map(|t| t.stolen).sum::<u64>(), 0);
}

#[test]
fn heft_picks_the_core_that_finishes_first() {
    // a (3 µs) -> b (1 µs); c (5 µs) alone.
    let costs = CostModel::new(Cost::Constant(1_000))
        .with(1, Cost::Constant(3_000))
        .with(2, Cost::Constant(5_000));
    let mut rt = inline(1, 1);
    for f in [1, 2] {
        rt.register_kernel(f, KernelFn::rust(noop));
    }
    rt.build(|g| {
        let a = g.add_task(1, CoreType::Aiv, &[])?;
        let b = g.add_task(0, CoreType::Aiv, &[])?;
        g.add_task(2, CoreType::Aiv, &[])?;
        g.add_successor(a, b)
    })
    .unwrap();
    rt.run().unwrap();
    let sealed = rt.world().resource::<SealedGraph>().get().unwrap().clone();
    let mut heft = Heft::new(costs);
    heft.prepare(&sealed);
    // Upward ranks: a 4 µs (a + b), b 1 µs, c 5 µs.
    assert_eq!(
        (0..3).map(|t| heft.priority(t)).collect::<Vec<_>>(),
        [4_000, 1_000, 5_000]
    );
    let core = |index, idle| CoreView {
        index,
        physical_id: 24 + index as u32,
        core_type: CoreType::Aiv,
        idle,
    };
    let mut free_at = heft.thread(0, &[core(0, true), core(1, true)]);
    // c on an idle core; a on the other idle core.
    assert_eq!(
        heft.choose_core(&mut free_at, 2, &[core(0, true), core(1, true)]),
        0
    );
    assert_eq!(heft.choose_core(&mut free_at, 0, &[core(1, true)]), 0);
    // b is ready when a is (3 µs): core 1 (free at 3 µs) beats core 0
    // (free at 5 µs), both busy.
    assert_eq!(
        heft.choose_core(&mut free_at, 1, &[core(0, false), core(1, false)]),
        1
    );
    rt.finalize().unwrap();
}

/// Round-robin but for two valid answers: a released task goes to the core
/// that released it ([`Place::Core`]), and the policy chooses cores (with
/// the default choice, the first core offered).
#[derive(Debug, Clone, Copy, Default)]
struct StickyChooser;

impl Policy for StickyChooser {
    type Local = Fifo;
    type Shared = SharedFifo;
    type Thread = ();
    const AFFINITY: bool = true;
    const CHOOSES_CORE: bool = true;

    fn name(&self) -> &'static str {
        "sticky-chooser"
    }

    fn assign_cores(&self, cores: &[DiscoveredCore], threads: usize) -> Vec<usize> {
        RoundRobin.assign_cores(cores, threads)
    }

    fn seed(&self, core_type: CoreType, ready: &[u32], capacity: &[usize]) -> Vec<Option<usize>> {
        RoundRobin.seed(core_type, ready, capacity)
    }

    fn thread(&self, _index: usize, _cores: &[CoreView]) {}

    fn place(&self, _thread: &mut (), _task: u32, _from: CoreView) -> Place {
        Place::Core
    }
}

/// The smallest graph found where [`StickyChooser`] stranded a task under
/// virtual time (seed 3): a task reserved for a core that was not the
/// first offered sat there while its type counted as having nothing ready.
fn stranding_dag() -> Dag {
    use CoreType::{Aic as C, Aiv as V};
    Dag {
        core: vec![V, V, C, V, V, C, V, V],
        edges: vec![
            (0, 1),
            (0, 3),
            (0, 4),
            (0, 5),
            (0, 6),
            (0, 7),
            (1, 3),
            (1, 4),
            (1, 5),
            (1, 6),
            (1, 7),
            (3, 4),
        ],
    }
}

/// The same on the inline simulator, with one AIV core each for tasks 0
/// and 3: 0 releases 1 (reserved for its core) and 3; 1 releases 2
/// (reserved for its core) while 3's core goes idle after it, so 3's core
/// was offered first.
fn stranding_dag_inline() -> Dag {
    Dag {
        core: vec![CoreType::Aiv; 4],
        edges: vec![(0, 1), (0, 2), (0, 3), (1, 2)],
    }
}

/// A runtime on `backend` publishing per-task results, its kernel 0 a
/// no-op.
fn runtime<B: Backend>(backend: B, block_dim: u32, threads: u32) -> Runtime<B> {
    let config = RuntimeConfig {
        block_dim,
        threads,
        publish: true,
        // Long enough for a loaded machine; short enough that a stranded
        // task fails the test quickly.
        stall_timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let mut rt = Runtime::with_backend(config, backend).unwrap();
    rt.register_kernel(0, KernelFn::rust(noop));
    rt
}

/// Virtual time on the A2A3 with kernels of 10 ns to 5 µs.
fn virtual_time() -> VirtualTime {
    VirtualTime::new(
        *Platform::A2A3.spec(),
        CostModel::new(Cost::Uniform {
            min: 10,
            max: 5_000,
        }),
        3,
    )
}

/// Runs `dag` under `policy`, then asserts that every task ran exactly once
/// (each completed once: the completion order is a permutation) and after
/// each of its predecessors.
fn run_checked<P: Policy, B: Backend>(rt: &mut Runtime<B>, policy: P, dag: &Dag, what: &str) {
    let (results, report) = try_results(rt, policy, |g| dag.build(g, [0, 0]).map(drop));
    let report = report.unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(report.tasks, dag.len(), "{what}");
    let dispatched: u64 = report.per_thread.iter().map(|t| t.dispatched).sum();
    let completed: u64 = report.per_thread.iter().map(|t| t.completed).sum();
    assert_eq!(
        (dispatched, completed),
        (dag.len() as u64, dag.len() as u64),
        "{what}"
    );
    assert_eq!(results.len(), dag.len(), "{what}");
    let order: Vec<u32> = results.iter().map(|r| r.order).collect();
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert!(
        sorted.iter().copied().eq(0..dag.len() as u32),
        "{what}: completion orders are not each task once: {order:?}"
    );
    for &(from, to) in &dag.edges {
        assert!(
            order[from as usize] < order[to as usize],
            "{what}: task {to} finished before its predecessor {from}"
        );
    }
}

#[test]
fn a_task_reserved_for_a_core_not_offered_first_runs_under_virtual_time() {
    let mut rt = runtime(virtual_time(), 1, 1);
    run_checked(&mut rt, StickyChooser, &stranding_dag(), "virtual time");
    rt.finalize().unwrap();
}

#[test]
fn a_task_reserved_for_a_core_not_offered_first_runs_inline() {
    let mut rt = runtime(InlineSim::new(Platform::A2A3), 1, 1);
    run_checked(&mut rt, StickyChooser, &stranding_dag_inline(), "inline");
    run_checked(&mut rt, StickyChooser, &stranding_dag(), "inline, 8 tasks");
    rt.finalize().unwrap();
}

/// Random DAGs on both simulators, one and several scheduler threads.
#[test]
fn reserving_and_choosing_cores_runs_random_dags_exactly_once_in_order() {
    fn sweep<B: Backend>(backend: impl Fn() -> B, name: &str) {
        for (block_dim, threads) in [(1, 1), (2, 2), (3, 2)] {
            let mut rt = runtime(backend(), block_dim, threads);
            for n in [4, 8, 12, 20, 50, 200] {
                for seed in 0..40 {
                    let what = format!(
                        "{name}: {n} tasks, seed {seed}, block dim {block_dim}, {threads} threads"
                    );
                    run_checked(&mut rt, StickyChooser, &Dag::random(seed, n), &what);
                }
            }
            rt.finalize().unwrap();
        }
    }
    sweep(virtual_time, "virtual time");
    sweep(|| InlineSim::new(Platform::A2A3), "inline");
}

/// A policy whose priorities change from call to call (an ageing or
/// load-dependent priority): the seeds sort asked it many times per task,
/// and the standard sort panicked on the inconsistent order ("does not
/// correctly implement a total order"). Each task is asked once now.
struct Shifting(std::sync::atomic::AtomicU64);

impl Policy for Shifting {
    type Local = hostgraph::sched::queue::Priority;
    type Shared = hostgraph::sched::queue::SharedPriority;
    type Thread = ();

    fn name(&self) -> &'static str {
        "shifting"
    }

    fn assign_cores(&self, cores: &[DiscoveredCore], threads: usize) -> Vec<usize> {
        RoundRobin.assign_cores(cores, threads)
    }

    fn seed(&self, core_type: CoreType, ready: &[u32], capacity: &[usize]) -> Vec<Option<usize>> {
        RoundRobin.seed(core_type, ready, capacity)
    }

    fn thread(&self, _index: usize, _cores: &[CoreView]) {}

    fn priority(&self, _task: u32) -> u64 {
        let x = self
            .0
            .fetch_add(0x9E37_79B9_7F4A_7C15, std::sync::atomic::Ordering::Relaxed);
        (x ^ (x >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9)
    }
}

#[test]
fn priorities_that_change_between_calls_still_run_every_task_once() {
    let mut rt = inline(1, 1);
    let (r, report) = results(
        &mut rt,
        Shifting(std::sync::atomic::AtomicU64::new(1)),
        |g| {
            for _ in 0..5_000 {
                g.add_task(0, CoreType::Aiv, &[])?;
            }
            Ok(())
        },
    );
    assert_eq!(report.tasks, 5_000);
    let mut order: Vec<u32> = r.iter().map(|r| r.order).collect();
    order.sort_unstable();
    assert_eq!(order, (0..5_000).collect::<Vec<u32>>(), "each task once");
}
