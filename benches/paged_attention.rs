//! A paged_attention-shaped graph at the reference runtime's large size:
//! 256 sequences × 64 KV blocks, per block QK (AIC) → SF (AIV) → PV (AIC)
//! → UP (AIV) with the updates chained across the 64 blocks — 65,536 tasks
//! (the graph the paged_attention plugins build for `Config::scaled(256,
//! 8100, ..)`, from `paged_attention::expected_graph`), empty kernels,
//! built once and re-run on the inline and the threaded simulator at
//! (block dim, threads) = (3, 3) and (24, 4) — and in virtual time, with
//! kernels of 1 µs (the scheduler is the bottleneck) and with QK, SF, PV
//! and UP kernels of 20, 8, 20 and 4 µs on average (the cores are): there
//! throughput is simulated tasks per second of wall time, for whole runs
//! and (`.../execute`) for the simulation alone.
//!
//! `cargo bench --bench paged_attention`; throughput in tasks.

use criterion::{Criterion, criterion_group, criterion_main};
use hostgraph::cost::{Cost, CostModel};
use hostgraph::{Backend, KernelFn, Runtime, TaskId};
use hostgraph_examples::paged_attention::{
    Config, FUNC_PV, FUNC_QK, FUNC_SOFTMAX, FUNC_UPDATE, Precision, expected_graph,
};
use hostgraph_examples::synthetic;

mod common;
use common::Sim;

fn built<E: Backend>(mut rt: Runtime<E>, config: &Config) -> Runtime<E> {
    for f in [FUNC_QK, FUNC_SOFTMAX, FUNC_PV, FUNC_UPDATE] {
        rt.register_kernel(f, KernelFn::rust(synthetic::empty));
    }
    let tasks = expected_graph(config);
    rt.build(|g| {
        for t in &tasks {
            g.add_task(t.stage.func_id(), t.stage.core_type(), &[])?;
        }
        for (i, t) in tasks.iter().enumerate() {
            for &p in &t.preds {
                g.add_successor(TaskId(p), TaskId(i as u32))?;
            }
        }
        Ok(())
    })
    .expect("build");
    rt
}

fn paged_attention(c: &mut Criterion) {
    // 256 × 64 blocks × 4 = 65,536 tasks (4 sequences in test mode).
    let batch = common::size(256, 4);
    let config = Config::scaled(batch, 8100, Precision::F16);
    let tasks = config.task_count();
    let mut g = common::slow_group(c, &format!("paged_attention_{tasks}"));
    for sim in Sim::ALL {
        for (block_dim, threads) in [(3, 3), (24, 4)] {
            let id = format!("{}/{}", sim.name(), common::config_id(block_dim, threads));
            match sim {
                Sim::Inline => common::bench_runs(&mut g, id, tasks, || {
                    built(common::inline(block_dim, threads), &config)
                }),
                Sim::Threaded => common::bench_runs(&mut g, id, tasks, || {
                    built(common::threaded(block_dim, threads), &config)
                }),
            }
        }
    }
    let mixed = CostModel::new(Cost::Constant(4_000))
        .with(
            FUNC_QK,
            Cost::Uniform {
                min: 15_000,
                max: 25_000,
            },
        )
        .with(
            FUNC_SOFTMAX,
            Cost::Uniform {
                min: 6_000,
                max: 10_000,
            },
        )
        .with(
            FUNC_PV,
            Cost::Uniform {
                min: 15_000,
                max: 25_000,
            },
        );
    for (name, model) in [
        ("virtual-1us", CostModel::default()),
        ("virtual-mixed", mixed),
    ] {
        for (block_dim, threads) in [(3, 3), (24, 4)] {
            let id = format!("{name}/{}", common::config_id(block_dim, threads));
            let setup = || {
                built(
                    common::virtual_time(block_dim, threads, model.clone()),
                    &config,
                )
            };
            common::bench_runs(&mut g, id.clone(), tasks, setup);
            common::bench_execute(&mut g, format!("{id}/execute"), tasks, setup);
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = paged_attention
}
criterion_main!(benches);
