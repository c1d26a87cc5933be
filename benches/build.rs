//! Graph build: 10,000- and 100,000-task layered graphs (100 layers, two
//! successors per task: ~2 edges per task) of empty kernels, built through
//! the Rust API (`GraphBuilder`) and through the C ABI (the orchestration
//! plugin `examples/orch/synthetic.c`, which builds the same graph task
//! for task). Throughput is counted in tasks.
//!
//! - `build/<api>/layered/<tasks>`: one iteration is a build and a discard
//!   of the graph;
//! - `build_only/<api>/layered/<tasks>`: the build alone (the discard after
//!   each is not timed);
//! - `discard/layered/<tasks>`: the discard alone (despawning the graph's
//!   entities).
//!
//! Every build after the first reuses the graph store the first one grew
//! and reserves its staging vectors from the previous build's sizes (a warm
//! runtime).
//!
//! `cargo bench --bench build`

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hostgraph::{InlineSim, KernelFn, OwnedArgs, Plugin, Runtime};
use hostgraph_examples::plugins;
use hostgraph_examples::synthetic::{self, Shape};

mod common;

const SHAPE: Shape = Shape::Layered;

/// How a benchmark builds the graph.
#[derive(Clone, Copy)]
enum Api {
    Rust,
    C,
}

impl Api {
    fn name(self) -> &'static str {
        match self {
            Api::Rust => "rust_api",
            Api::C => "c_abi",
        }
    }
}

/// A runtime (inline: building never touches the executor, and the inline
/// one starts no threads) and what it builds with.
struct Builder {
    rt: Runtime<InlineSim>,
    plugin: Plugin,
}

impl Builder {
    fn new() -> Self {
        let plugin = plugins::load_c("synthetic").expect("load the synthetic plugin");
        let mut rt = common::inline(3, 3);
        rt.register_kernel(0, KernelFn::rust(synthetic::empty));
        Builder { rt, plugin }
    }

    fn build(&mut self, api: Api, n: usize, args: &OwnedArgs) {
        match api {
            Api::Rust => self
                .rt
                .build(|g| synthetic::build(g, SHAPE, n, 0).map(drop))
                .expect("build"),
            // SAFETY: no tensors, nothing is copied back.
            Api::C => unsafe { self.rt.build_with_plugin(&self.plugin, args) }.expect("build"),
        }
    }

    fn discard(&mut self) {
        assert_eq!(self.rt.discard(), 0, "no device memory");
    }
}

fn build(c: &mut Criterion) {
    let mut b = Builder::new();
    let sizes = [common::size(10_000, 100), common::size(100_000, 1000)];
    let mut g = common::slow_group(c, "build");
    for n in sizes {
        let tasks = SHAPE.task_count(n);
        let args = synthetic::plugin_args(SHAPE, n, 0);
        g.throughput(Throughput::Elements(tasks as u64));
        for api in [Api::Rust, Api::C] {
            g.bench_function(format!("{}/{SHAPE}/{tasks}", api.name()), |bench| {
                bench.iter(|| {
                    b.build(api, n, &args);
                    b.discard();
                })
            });
        }
    }
    g.finish();

    let mut g = common::slow_group(c, "build_only");
    for n in sizes {
        let tasks = SHAPE.task_count(n);
        let args = synthetic::plugin_args(SHAPE, n, 0);
        g.throughput(Throughput::Elements(tasks as u64));
        for api in [Api::Rust, Api::C] {
            g.bench_function(format!("{}/{SHAPE}/{tasks}", api.name()), |bench| {
                bench.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let t = Instant::now();
                        b.build(api, n, &args);
                        total += t.elapsed();
                        b.discard();
                    }
                    total
                })
            });
        }
    }
    g.finish();

    let mut g = common::slow_group(c, "discard");
    for n in sizes {
        let tasks = SHAPE.task_count(n);
        let args = synthetic::plugin_args(SHAPE, n, 0);
        g.throughput(Throughput::Elements(tasks as u64));
        g.bench_function(format!("{SHAPE}/{tasks}"), |bench| {
            bench.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    b.build(Api::Rust, n, &args);
                    let t = Instant::now();
                    b.discard();
                    total += t.elapsed();
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = build
}
criterion_main!(benches);
