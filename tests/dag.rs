//! Random DAGs on every scheduler configuration: every task runs exactly
//! once, and only after all of its predecessors have finished.
//!
//! Each task runs a recording kernel whose argument words are the address
//! of a shared [`Recorder`] and the task's own id. At start the kernel
//! checks its predecessors' finished flags (a violation is counted, not a
//! panic, so the run still completes), then counts its run and sets its own
//! finished flag.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use hostgraph::cost::{Cost, CostModel};
use hostgraph::sched::BuiltIn;
use hostgraph::{
    Backend, CoreType, InlineSim, KernelFn, Platform, Runtime, RuntimeConfig, TaskId, VirtualTime,
};
use proptest::prelude::*;

mod common;
use common::Dag;

/// func_id of the recording kernel.
const FUNC_RECORD: i32 = 7;

/// No violation recorded yet.
const NO_VIOLATION: u64 = u64::MAX;

// ---------------------------------------------------------------------------
// The recording kernel and its state.

/// What the recording kernel sees and writes, shared by every task of a
/// run. Lives (boxed, so its address is stable) until after the graph
/// that points at it is finalized.
struct Recorder {
    runs: Box<[AtomicU32]>,
    finished: Box<[AtomicBool]>,
    /// Predecessors of task `t`: `preds[pred_start[t]..pred_start[t + 1]]`.
    pred_start: Box<[u32]>,
    preds: Box<[u32]>,
    violations: AtomicU32,
    /// `task << 32 | unfinished predecessor` of the first violation seen.
    first_violation: AtomicU64,
}

impl Recorder {
    fn new(dag: &Dag) -> Box<Recorder> {
        let n = dag.len();
        let mut pred_start = vec![0u32; n + 1];
        for &(_, to) in &dag.edges {
            pred_start[to as usize + 1] += 1;
        }
        for t in 0..n {
            pred_start[t + 1] += pred_start[t];
        }
        let mut fill = pred_start.clone();
        let mut preds = vec![0u32; dag.edges.len()];
        for &(from, to) in &dag.edges {
            preds[fill[to as usize] as usize] = from;
            fill[to as usize] += 1;
        }
        Box::new(Recorder {
            runs: (0..n).map(|_| AtomicU32::new(0)).collect(),
            finished: (0..n).map(|_| AtomicBool::new(false)).collect(),
            pred_start: pred_start.into(),
            preds: preds.into(),
            violations: AtomicU32::new(0),
            first_violation: AtomicU64::new(NO_VIOLATION),
        })
    }

    /// Back to "nothing ran" before another run of the same graph.
    fn reset(&self) {
        self.runs.iter().for_each(|r| r.store(0, Ordering::Relaxed));
        self.finished
            .iter()
            .for_each(|f| f.store(false, Ordering::Relaxed));
        self.violations.store(0, Ordering::Relaxed);
        self.first_violation.store(NO_VIOLATION, Ordering::Relaxed);
    }

    fn preds(&self, task: usize) -> &[u32] {
        &self.preds[self.pred_start[task] as usize..self.pred_start[task + 1] as usize]
    }

    /// The argument words of `task`'s recording kernel.
    fn args(&self, task: usize) -> [u64; 2] {
        [self as *const Recorder as u64, task as u64]
    }

    /// Asserts the run recorded exactly one run per task and no violation.
    fn check(&self, what: &str) {
        let violations = self.violations.load(Ordering::Acquire);
        let first = self.first_violation.load(Ordering::Acquire);
        assert_eq!(
            violations,
            0,
            "{what}: {violations} task(s) started before a predecessor finished; first: task {} before {}",
            first >> 32,
            first & 0xffff_ffff
        );
        let wrong: Vec<(usize, u32)> = self
            .runs
            .iter()
            .map(|r| r.load(Ordering::Acquire))
            .enumerate()
            .filter(|&(_, r)| r != 1)
            .collect();
        assert!(
            wrong.is_empty(),
            "{what}: {} task(s) did not run exactly once, (task, runs): {:?}",
            wrong.len(),
            &wrong[..wrong.len().min(10)]
        );
    }
}

/// The recording kernel: `args = [&Recorder, task id]`.
fn record(args: &[u64]) {
    // SAFETY: every task of these graphs carries the address of a boxed
    // `Recorder` that the test keeps alive until after the graph is
    // finalized, and only shared (atomic) access happens through it.
    let rec = unsafe { &*(args[0] as *const Recorder) };
    let task = args[1] as usize;
    for &p in rec.preds(task) {
        if !rec.finished[p as usize].load(Ordering::Acquire) {
            rec.violations.fetch_add(1, Ordering::AcqRel);
            let _ = rec.first_violation.compare_exchange(
                NO_VIOLATION,
                (task as u64) << 32 | u64::from(p),
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
        }
    }
    rec.runs[task].fetch_add(1, Ordering::AcqRel);
    rec.finished[task].store(true, Ordering::Release);
}

// ---------------------------------------------------------------------------
// Running.

/// A runtime on `platform` with a short stall bound, so a lost task fails a
/// test in seconds rather than hanging it.
fn runtime(platform: Platform) -> Runtime {
    let mut rt = Runtime::new(RuntimeConfig {
        platform,
        block_dim: 1,
        threads: 1,
        ..Default::default()
    })
    .expect("runtime");
    rt.set_stall_timeout(std::time::Duration::from_secs(5));
    rt
}

/// Registers the recording kernel and builds `dag` over `rec`.
fn build<B: Backend>(rt: &mut Runtime<B>, dag: &Dag, rec: &Recorder) {
    rt.register_kernel(FUNC_RECORD, KernelFn::rust(record));
    rt.build(|g| {
        for (t, &ty) in dag.core.iter().enumerate() {
            let id = g.add_task(FUNC_RECORD, ty, &rec.args(t))?;
            assert_eq!(id.index(), t);
        }
        for &(from, to) in &dag.edges {
            g.add_successor(TaskId(from), TaskId(to))?;
        }
        Ok(())
    })
    .expect("build");
}

/// Runs the built graph of `dag` once with the runtime's configuration and
/// checks the recording and the report.
fn run_and_check<B: Backend>(rt: &mut Runtime<B>, dag: &Dag, rec: &Recorder) {
    let cfg = rt.config();
    let what = format!(
        "{} tasks, {} edges on {} block dim {} threads {}, policy {}",
        dag.len(),
        dag.edges.len(),
        cfg.platform,
        cfg.block_dim,
        cfg.threads,
        rt.policy_name()
    );
    rec.reset();
    let report = rt
        .run()
        .unwrap_or_else(|e| panic!("{what}: run failed: {e}"));
    rec.check(&what);
    assert_eq!(report.tasks, dag.len(), "{what}: tasks");
    assert_eq!(report.aic_tasks, dag.aic_tasks(), "{what}: AIC tasks");
    assert_eq!(
        report.aiv_tasks,
        dag.len() - dag.aic_tasks(),
        "{what}: AIV tasks"
    );
    assert_eq!(
        report.aic_cores, cfg.block_dim as usize,
        "{what}: AIC cores"
    );
    assert_eq!(
        report.aiv_cores,
        2 * cfg.block_dim as usize,
        "{what}: AIV cores"
    );
    assert_eq!(report.threads, cfg.threads as usize, "{what}: threads");
    let dispatched: u64 = report.per_thread.iter().map(|t| t.dispatched).sum();
    let completed: u64 = report.per_thread.iter().map(|t| t.completed).sum();
    assert_eq!(dispatched, dag.len() as u64, "{what}: dispatched");
    assert_eq!(completed, dag.len() as u64, "{what}: completed");
}

/// Block dims every platform is tried with: 1, 3 and its maximum.
fn block_dims(platform: Platform) -> [u32; 3] {
    [1, 3, platform.spec().max_block_dim]
}

// ---------------------------------------------------------------------------
// Tests.

#[test]
fn generator_exercises_hubs_isolated_tasks_and_both_core_types() {
    for seed in 0..8 {
        let dag = Dag::random(seed, 400);
        let fanout = dag.fanout();
        let mut fanin = vec![0usize; dag.len()];
        for &(_, to) in &dag.edges {
            fanin[to as usize] += 1;
        }
        assert!(fanout.iter().any(|&f| f > 128), "seed {seed}: a hub > 128");
        assert!(
            fanout.iter().any(|&f| (9..=128).contains(&f)),
            "seed {seed}: a hub > 8"
        );
        assert!(fanin.iter().any(|&f| f > 8), "seed {seed}: a large fan-in");
        assert!(
            (0..dag.len()).any(|t| fanin[t] == 0 && fanout[t] == 0),
            "seed {seed}: an isolated task"
        );
        assert!(dag.aic_tasks() > 0 && dag.aic_tasks() < dag.len());
        assert!(dag.edges.iter().all(|&(f, t)| f < t));
    }
}

/// Every platform, thread count `1..=max` and block dim 1, 3, max; a new
/// random DAG per (platform, block dim), built once and run at every thread
/// count, finalized after.
#[test]
fn random_dags_on_every_configuration() {
    for (p, platform) in Platform::ALL.into_iter().enumerate() {
        let mut rt = runtime(platform);
        for (b, block_dim) in block_dims(platform).into_iter().enumerate() {
            let seed = 0x5eed_0000 + (p * 16 + b) as u64;
            let dag = Dag::random(seed, 300 + 50 * b);
            let rec = Recorder::new(&dag);
            build(&mut rt, &dag, &rec);
            for threads in 1..=platform.spec().max_scheduler_threads {
                rt.reconfigure(block_dim, threads).unwrap();
                run_and_check(&mut rt, &dag, &rec);
            }
            rt.finalize().unwrap();
        }
    }
}

/// Every built-in policy, on the threaded, the inline and the virtual-time
/// simulator (calling the kernels), every platform, thread count
/// `1..=max` and block dim 1, 3, max: each task exactly once, after its
/// predecessors, mixed AIC/AIV.
#[test]
fn every_policy_on_random_dags() {
    let costs = CostModel::new(Cost::Constant(1_000)).with(
        FUNC_RECORD,
        Cost::Uniform {
            min: 500,
            max: 4_000,
        },
    );
    fn each<B: Backend>(mut rt: Runtime<B>, platform: Platform, costs: &CostModel, p: usize) {
        for policy in BuiltIn::ALL {
            rt.set_builtin_policy(policy, costs);
            for (b, block_dim) in block_dims(platform).into_iter().enumerate() {
                let seed = 0x9011_c000 + (p * 64 + b * 8 + policy as usize) as u64;
                let dag = Dag::random(seed, 150 + 25 * b);
                let rec = Recorder::new(&dag);
                build(&mut rt, &dag, &rec);
                for threads in 1..=platform.spec().max_scheduler_threads {
                    rt.reconfigure(block_dim, threads).unwrap();
                    run_and_check(&mut rt, &dag, &rec);
                }
                rt.finalize().unwrap();
            }
        }
    }
    for (p, platform) in Platform::ALL.into_iter().enumerate() {
        let config = RuntimeConfig {
            platform,
            block_dim: 1,
            threads: 1,
            stall_timeout: std::time::Duration::from_secs(5),
            ..Default::default()
        };
        each(Runtime::new(config).unwrap(), platform, &costs, p);
        let inline = Runtime::with_backend(config, InlineSim::new(platform)).unwrap();
        each(inline, platform, &costs, p);
        let virtual_time =
            VirtualTime::new(*platform.spec(), costs.clone(), p as u64).execute_kernels(true);
        each(
            Runtime::with_backend(config, virtual_time).unwrap(),
            platform,
            &costs,
            p,
        );
    }
}

/// A built graph runs again: exactly once per task in each run, also
/// after changing the configuration in between.
#[test]
fn a_built_graph_runs_again() {
    let mut rt = runtime(Platform::A5);
    let dag = Dag::random(11, 500);
    let rec = Recorder::new(&dag);
    build(&mut rt, &dag, &rec);
    rt.reconfigure(3, 4).unwrap();
    run_and_check(&mut rt, &dag, &rec);
    run_and_check(&mut rt, &dag, &rec);
    rt.reconfigure(36, 7).unwrap();
    run_and_check(&mut rt, &dag, &rec);
    rt.finalize().unwrap();
}

/// Rounds of build / run / finalize on one runtime. Finalize removes the
/// kernels too, so a round that forgets to register them fails to run.
#[test]
fn rounds_of_build_run_finalize() {
    let mut rt = runtime(Platform::A2A3);
    for round in 0..6u32 {
        rt.reconfigure(1 + round * 4, 1 + round % 4).unwrap();
        let dag = Dag::random(100 + u64::from(round), 200 + 40 * round as usize);
        let rec = Recorder::new(&dag);
        build(&mut rt, &dag, &rec);
        run_and_check(&mut rt, &dag, &rec);
        let fin = rt.finalize().unwrap();
        assert_eq!(fin.kernels_removed, 1);
        assert_eq!(rt.task_count(), 0);
    }
    let dag = Dag::random(7, 10);
    let rec = Recorder::new(&dag);
    rt.build(|g| {
        for (t, &ty) in dag.core.iter().enumerate() {
            g.add_task(FUNC_RECORD, ty, &rec.args(t))?;
        }
        Ok(())
    })
    .unwrap();
    let err = rt.run().expect_err("no kernel registered after finalize");
    assert!(
        matches!(err, hostgraph::Error::MissingKernel { func_id, .. } if func_id == FUNC_RECORD),
        "{err}"
    );
    rt.discard();
}

/// A graph without tasks runs (and reports none) on every platform, at the
/// smallest and largest configurations.
#[test]
fn an_empty_graph_runs() {
    for platform in Platform::ALL {
        let spec = platform.spec();
        let mut rt = runtime(platform);
        rt.build(|_| Ok(())).unwrap();
        for (block_dim, threads) in [(1, 1), (spec.max_block_dim, spec.max_scheduler_threads)] {
            rt.reconfigure(block_dim, threads).unwrap();
            let report = rt.run().unwrap();
            assert_eq!(report.tasks, 0);
            assert_eq!((report.aic_tasks, report.aiv_tasks), (0, 0));
        }
        rt.finalize().unwrap();
    }
}

/// Graphs whose tasks are all AIC (or all AIV), at every thread count with
/// block dims 1 and 3: with block dim 1 and more threads than cores of the
/// type, some threads own none — no ready task may be stranded on them.
#[test]
fn single_core_type_graphs_strand_no_task() {
    for platform in Platform::ALL {
        let mut rt = runtime(platform);
        for (i, ty) in [CoreType::Aic, CoreType::Aiv].into_iter().enumerate() {
            let dag = Dag::single_type(0xc0de + i as u64, 250, ty);
            let rec = Recorder::new(&dag);
            build(&mut rt, &dag, &rec);
            for block_dim in [1, 3] {
                for threads in 1..=platform.spec().max_scheduler_threads {
                    rt.reconfigure(block_dim, threads).unwrap();
                    run_and_check(&mut rt, &dag, &rec);
                }
            }
            rt.finalize().unwrap();
        }
    }
}

/// A platform with one of its thread counts and one of its block dims.
fn configuration() -> impl Strategy<Value = (Platform, u32, u32)> {
    prop::sample::select(Platform::ALL.to_vec()).prop_flat_map(|platform| {
        let spec = platform.spec();
        (
            Just(platform),
            1..=spec.max_block_dim,
            1..=spec.max_scheduler_threads,
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        // A failing case may take a stall timeout to fail: shrink briefly.
        max_shrink_iters: 32,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Any seed, size and configuration: exactly once, in dependency order.
    #[test]
    fn any_random_dag_on_any_configuration(
        seed in any::<u64>(),
        n in 1usize..500,
        (platform, block_dim, threads) in configuration(),
    ) {
        let mut rt = runtime(platform);
        rt.reconfigure(block_dim, threads).unwrap();
        let dag = Dag::random(seed, n);
        let rec = Recorder::new(&dag);
        build(&mut rt, &dag, &rec);
        run_and_check(&mut rt, &dag, &rec);
        rt.finalize().unwrap();
    }
}
