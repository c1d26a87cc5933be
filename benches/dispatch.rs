//! Dispatch round trip: a graph of one task (AIC) on block dim 1 with one
//! scheduler thread, re-run, on the inline and the threaded simulator.
//!
//! - `dispatch/<mode>/run`: one whole `rt.run()` — launch, start-up
//!   handshake of the block's 3 cores, dispatch, completion, shutdown;
//! - `dispatch/<mode>/execute`: the run's `execute` window alone (first
//!   dispatch to last completion): write DATA_MAIN_BASE, the core's ACK
//!   and FIN, the scheduler seeing FIN.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use hostgraph::{Backend, CoreType, KernelFn, Runtime};
use hostgraph_examples::synthetic;

mod common;
use common::Sim;

fn one_task<E: Backend>(mut rt: Runtime<E>) -> Runtime<E> {
    rt.register_kernel(0, KernelFn::rust(synthetic::empty));
    rt.build(|g| g.add_task(0, CoreType::Aic, &[]).map(drop))
        .expect("build");
    assert_eq!(rt.run().expect("first run").tasks, 1);
    rt
}

fn bench<E: Backend>(c: &mut Criterion, sim: Sim, make: impl Fn() -> Runtime<E>) {
    let mut g = c.benchmark_group("dispatch");
    let mut rt: Option<Runtime<E>> = None;
    g.bench_function(format!("{}/run", sim.name()), |b| {
        let rt = rt.get_or_insert_with(|| one_task(make()));
        b.iter(|| rt.run().expect("run"));
    });
    g.bench_function(format!("{}/execute", sim.name()), |b| {
        let rt = rt.get_or_insert_with(|| one_task(make()));
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| rt.run().expect("run").execute)
                .sum::<Duration>()
        });
    });
    g.finish();
}

fn dispatch(c: &mut Criterion) {
    bench(c, Sim::Inline, || common::inline(1, 1));
    bench(c, Sim::Threaded, || common::threaded(1, 1));
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = dispatch
}
criterion_main!(benches);
