//! Ready-queue throughput: the five synthetic shapes of the bench program
//! (independent 100,000; chain 100,000; layered 100 × 1,000 with two
//! successors each; binary tree of depth 17; wavefront 300 × 300) of empty
//! kernels, built once and re-run, on the inline and the threaded
//! simulator at (block dim, threads) = (1, 1), (3, 3), (24, 4) on a2a3.
//!
//! `cargo bench --bench throughput [-- FILTER]`; ids are
//! `throughput/<shape>/<mode>/b<block dim>t<threads>`, throughput in tasks.

use criterion::{Criterion, criterion_group, criterion_main};
use hostgraph::{Backend, KernelFn, Runtime};
use hostgraph_examples::synthetic::{self, Shape};

mod common;
use common::{CONFIGS, Sim};

fn built<E: Backend>(mut rt: Runtime<E>, shape: Shape, n: usize) -> Runtime<E> {
    rt.register_kernel(0, KernelFn::rust(synthetic::empty));
    rt.build(|g| synthetic::build(g, shape, n, 0).map(drop))
        .expect("build");
    rt
}

fn throughput(c: &mut Criterion) {
    for shape in Shape::ALL {
        let n = common::size(shape.default_tasks(), 16);
        let tasks = shape.task_count(n);
        let mut g = common::slow_group(c, &format!("throughput/{shape}"));
        for sim in Sim::ALL {
            for (block_dim, threads) in CONFIGS {
                let id = format!("{}/{}", sim.name(), common::config_id(block_dim, threads));
                match sim {
                    Sim::Inline => common::bench_runs(&mut g, id, tasks, || {
                        built(common::inline(block_dim, threads), shape, n)
                    }),
                    Sim::Threaded => common::bench_runs(&mut g, id, tasks, || {
                        built(common::threaded(block_dim, threads), shape, n)
                    }),
                }
            }
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = throughput
}
criterion_main!(benches);
