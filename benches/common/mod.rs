//! Pieces every bench shares: the criterion settings (small samples: the
//! whole suite runs in a few minutes on a 2-CPU machine), test-mode
//! detection, and runtimes on either simulator.
#![allow(dead_code)]

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput};
use hostgraph::cost::CostModel;
use hostgraph::{Backend, InlineSim, Platform, Runtime, RuntimeConfig, ThreadedSim, VirtualTime};

/// The (block dim, threads) grid on a2a3.
pub const CONFIGS: [(u32, u32); 3] = [(1, 1), (3, 3), (24, 4)];

/// Criterion settings for these benches: 10 samples, 0.5 s warm-up, 2 s
/// of measurement.
pub fn criterion() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

/// A group for benchmarks whose iterations take milliseconds: flat
/// sampling (the same iteration count in every sample), so 10 samples fit
/// the measurement time.
pub fn slow_group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sampling_mode(SamplingMode::Flat);
    g
}

/// True under `cargo test --benches` (criterion then runs every benchmark
/// once, unoptimized): the benches shrink their graphs.
pub fn test_mode() -> bool {
    let args: Vec<String> = std::env::args().collect();
    !args.iter().any(|a| a == "--bench") || args.iter().any(|a| a == "--test")
}

/// `n`, or a small fraction of it (at least `min`) in test mode.
pub fn size(n: usize, min: usize) -> usize {
    if test_mode() { (n / 64).max(min) } else { n }
}

/// The simulator a benchmark runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sim {
    /// Scheduler and cores stepped on one thread.
    Inline,
    /// Scheduler threads and sim runner threads.
    Threaded,
}

impl Sim {
    pub const ALL: [Sim; 2] = [Sim::Inline, Sim::Threaded];

    pub fn name(self) -> &'static str {
        match self {
            Sim::Inline => "inline",
            Sim::Threaded => "threaded",
        }
    }
}

/// a2a3 at `block_dim` blocks and `threads` scheduler threads.
pub fn config(block_dim: u32, threads: u32) -> RuntimeConfig {
    RuntimeConfig {
        block_dim,
        threads,
        ..Default::default()
    }
}

/// A runtime on the inline simulator.
pub fn inline(block_dim: u32, threads: u32) -> Runtime<InlineSim> {
    let c = config(block_dim, threads);
    Runtime::with_backend(c, InlineSim::new(c.platform)).expect("valid config")
}

/// A runtime on the threaded simulator (default runner count).
pub fn threaded(block_dim: u32, threads: u32) -> Runtime<ThreadedSim> {
    Runtime::new(config(block_dim, threads)).expect("valid config")
}

/// A runtime on the virtual-time simulator of a2a3, kernels lasting what
/// `model` draws with seed 0.
pub fn virtual_time(block_dim: u32, threads: u32, model: CostModel) -> Runtime<VirtualTime> {
    let backend = VirtualTime::new(*Platform::A2A3.spec(), model, 0);
    Runtime::with_backend(config(block_dim, threads), backend).expect("valid config")
}

/// Benchmark id part for a configuration: `b{block_dim}t{threads}`.
pub fn config_id(block_dim: u32, threads: u32) -> String {
    format!("b{block_dim}t{threads}")
}

/// Benchmarks re-running one built graph: `setup` makes the runtime and
/// builds the graph of `tasks` tasks (only when the benchmark is selected);
/// a first, untimed run seals it and checks the task count; each iteration
/// is one whole `rt.run()` (start-up, dispatch, shutdown). Throughput is
/// counted in tasks.
pub fn bench_runs<E: Backend>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    id: impl Into<String>,
    tasks: usize,
    setup: impl Fn() -> Runtime<E>,
) {
    g.throughput(Throughput::Elements(tasks as u64));
    let mut rt: Option<Runtime<E>> = None;
    g.bench_function(id.into(), |b| {
        let rt = rt.get_or_insert_with(|| {
            let mut rt = setup();
            assert_eq!(rt.run().expect("first run").tasks, tasks);
            rt
        });
        b.iter(|| rt.run().expect("run"));
    });
}

/// Like [`bench_runs`], but each iteration counts only the run's execute
/// window ([`RunReport::execute`](hostgraph::RunReport::execute): from
/// handing the scheduler threads to the backend to the last returning) —
/// for virtual time, the simulation itself, without launch, start-up,
/// shutdown and the run's phases.
pub fn bench_execute<E: Backend>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    id: impl Into<String>,
    tasks: usize,
    setup: impl Fn() -> Runtime<E>,
) {
    g.throughput(Throughput::Elements(tasks as u64));
    let mut rt: Option<Runtime<E>> = None;
    g.bench_function(id.into(), |b| {
        let rt = rt.get_or_insert_with(|| {
            let mut rt = setup();
            assert_eq!(rt.run().expect("first run").tasks, tasks);
            rt
        });
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| rt.run().expect("run").execute)
                .sum::<Duration>()
        });
    });
}
