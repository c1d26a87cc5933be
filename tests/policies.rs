//! What each built-in policy does differently, seen in real runs on the
//! inline simulator (deterministic order) through the published per-task
//! results; HEFT's core choice checked against its estimates directly.

use hostgraph::cost::{Cost, CostModel};
use hostgraph::graph::Task;
use hostgraph::run::{SealedGraph, TaskResult};
use hostgraph::sched::{CoreView, CriticalPath, Heft, Policy, RoundRobin, WorkStealing};
use hostgraph::{CoreType, GraphBuilder, InlineSim, KernelFn, Platform, Runtime, RuntimeConfig};

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
fn results<P: Policy>(
    rt: &mut Runtime<InlineSim>,
    policy: P,
    build: impl FnOnce(&mut GraphBuilder<'_>) -> hostgraph::Result<()>,
) -> (Vec<TaskResult>, hostgraph::RunReport) {
    rt.set_policy(policy);
    rt.build(build).unwrap();
    let report = rt.run().unwrap();
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
