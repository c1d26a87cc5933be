//! paged_attention end to end: both orchestration plugins (C and Rust), f16
//! and bf16, on a2a3 and a5 with several block dims and thread counts,
//! ragged contexts, GQA; the graph checked against its expected structure;
//! and the scale case with exactly-once / dependency-order tracing.

use std::time::Instant;

use hostgraph::graph::{Task, TaskLists};
use hostgraph::{Error, Platform, Plugin, Runtime, RuntimeConfig};
use hostgraph_examples::paged_attention::{
    self as pa, BlockPool, Config, Kernels, Precision, Problem, Reference, Round,
};
use hostgraph_examples::plugins;
use hostgraph_orch_abi::{CoreType, DType, OrchTensor, OwnedArgs};

#[derive(Clone, Copy, Debug)]
enum Orch {
    C,
    Rust,
}

fn load(orch: Orch) -> Plugin {
    match orch {
        Orch::C => plugins::load_c("paged_attention"),
        Orch::Rust => plugins::load_rust("paged_attention"),
    }
    .expect("load paged_attention plugin")
}

fn runtime(platform: Platform, block_dim: u32, threads: u32) -> Runtime {
    Runtime::new(RuntimeConfig {
        platform,
        block_dim,
        threads,
        ..Default::default()
    })
    .expect("runtime")
}

/// Runs `problem` and checks task counts and, for every `stride`-th
/// sequence, the output against the reference; returns the round.
fn check_round(
    rt: &mut Runtime,
    plugin: &Plugin,
    problem: &Problem,
    kernels: Kernels,
    stride: usize,
) -> Round {
    let c = &problem.config;
    let what = format!("{c:?} on {:?}", rt.config());
    let round =
        pa::run_round(rt, plugin, problem, kernels).unwrap_or_else(|e| panic!("{what}: {e}"));
    let r = &round.report;
    assert_eq!(r.tasks, c.task_count(), "{what}: task count");
    assert_eq!(
        (r.aic_tasks, r.aiv_tasks),
        (r.tasks / 2, r.tasks / 2),
        "{what}"
    );
    let golden = Reference::new(problem);
    let per_seq = c.heads * c.head_dim;
    for b in (0..c.batch()).step_by(stride) {
        let got = &round.out[b * per_seq..][..per_seq];
        let err = pa::max_abs_error(got, &golden.sequence(b));
        assert!(
            err <= pa::TOLERANCE,
            "{what}: sequence {b}: max error {err}"
        );
    }
    round
}

/// batch 4 with contexts [32, 8, 50, 1] at block 16: an exact multiple of
/// the block, two shorter than one block, one ending mid-block.
fn numerics_case(precision: Precision) -> Problem {
    let config = Config::small(4, 50, precision);
    assert_eq!(config.context_lens, [32, 8, 50, 1]);
    Problem::generate(config)
}

fn numerics_on(platform: Platform, orch: Orch, shapes: &[(u32, u32)]) {
    let plugin = load(orch);
    let mut rt = runtime(platform, shapes[0].0, shapes[0].1);
    for precision in [Precision::F16, Precision::Bf16] {
        let problem = numerics_case(precision);
        assert_eq!(problem.config.task_count(), 4 * (2 + 1 + 4 + 1) * 2);
        for &(block_dim, threads) in shapes {
            rt.reconfigure(block_dim, threads).expect("reconfigure");
            check_round(&mut rt, &plugin, &problem, Kernels::Plain, 1);
        }
    }
}

const A2A3_SHAPES: [(u32, u32); 3] = [(1, 1), (2, 4), (24, 3)];
const A5_SHAPES: [(u32, u32); 3] = [(1, 2), (5, 7), (36, 4)];

#[test]
fn a2a3_c_plugin_matches_reference() {
    numerics_on(Platform::A2A3, Orch::C, &A2A3_SHAPES);
}

#[test]
fn a2a3_rust_plugin_matches_reference() {
    numerics_on(Platform::A2A3, Orch::Rust, &A2A3_SHAPES);
}

#[test]
fn a5_c_plugin_matches_reference() {
    numerics_on(Platform::A5, Orch::C, &A5_SHAPES);
}

#[test]
fn a5_rust_plugin_matches_reference() {
    numerics_on(Platform::A5, Orch::Rust, &A5_SHAPES);
}

/// Head dims 16–128, blocks 16–128, head tiles of 16, 4 and 2, GQA and MQA.
fn shape_cases() -> Vec<Config> {
    let base = Config::small(1, 1, Precision::F16);
    vec![
        Config {
            head_dim: 128,
            block_size: 128,
            head_tile: 16,
            context_lens: vec![128, 300, 5],
            precision: Precision::Bf16,
            ..base.clone()
        },
        Config {
            kv_heads: 4,
            head_dim: 16,
            block_size: 64,
            head_tile: 4,
            context_lens: vec![64, 1, 200, 63],
            ..base.clone()
        },
        Config {
            kv_heads: 1,
            head_dim: 64,
            block_size: 16,
            head_tile: 2,
            context_lens: vec![100],
            precision: Precision::Bf16,
            ..base
        },
    ]
}

#[test]
fn shapes_and_gqa_match_reference() {
    let mut rt = runtime(Platform::A5, 4, 3);
    for orch in [Orch::C, Orch::Rust] {
        let plugin = load(orch);
        for config in shape_cases() {
            check_round(
                &mut rt,
                &plugin,
                &Problem::generate(config),
                Kernels::Plain,
                1,
            );
        }
    }
}

/// A pointer word as (size of its allocation, offset in it), other words
/// as themselves: the graph without its run-specific addresses.
#[derive(Debug, PartialEq, Eq)]
enum Word {
    Ptr { alloc: u64, offset: u64 },
    Value(u64),
}

type TaskSig = (i32, CoreType, Vec<Word>, Vec<u32>);

/// The built graph, task by task: func_id, core type, argument words,
/// successors (sorted).
fn signature(rt: &Runtime) -> Vec<TaskSig> {
    let live = rt.device_memory().live();
    let word = |w: u64| match live.iter().find(|&&(p, n)| (p..p + n).contains(&w)) {
        Some(&(p, n)) => Word::Ptr {
            alloc: n,
            offset: w - p,
        },
        None => Word::Value(w),
    };
    let world = rt.world();
    let lists = world.resource::<TaskLists>();
    let mut query = world
        .try_query::<&Task>()
        .expect("task components are registered");
    let mut tasks: Vec<&Task> = query.iter(world).collect();
    tasks.sort_by_key(|t| t.id);
    tasks
        .into_iter()
        .map(|t| {
            let args = lists.args(t).iter().map(|&w| word(w));
            let mut succ: Vec<u32> = lists.successors(t).iter().map(|s| s.0).collect();
            succ.sort_unstable();
            (t.kernel.func_id, t.kernel.core_type, args.collect(), succ)
        })
        .collect()
}

fn built_signature(orch: Orch, problem: &Problem) -> Vec<TaskSig> {
    let mut rt = runtime(Platform::A2A3, 1, 1);
    let mut out = vec![0.0f32; problem.out_len()];
    let args = problem.args(&mut out);
    // SAFETY: `out` outlives the build; the graph is discarded unrun.
    unsafe { rt.build_with_plugin(&load(orch), &args) }.expect("build");
    let sig = signature(&rt);
    rt.discard();
    sig
}

/// Both plugins build the same graph, and it is the expected one: stages,
/// core types, edges, and each task's own id as its last word.
#[test]
fn c_and_rust_plugins_build_the_expected_graph() {
    let mut config = shape_cases().swap_remove(1);
    config.pool = BlockPool::Shared(3);
    let problem = Problem::generate(config);
    let c = built_signature(Orch::C, &problem);
    assert_eq!(c, built_signature(Orch::Rust, &problem));
    let expected = pa::expected_graph(&problem.config);
    assert_eq!(c.len(), expected.len());
    let mut preds = vec![Vec::new(); c.len()];
    for (id, (func_id, core, args, succ)) in c.iter().enumerate() {
        let want = &expected[id];
        assert_eq!(
            (*func_id, *core),
            (want.stage.func_id(), want.stage.core_type()),
            "task {id}"
        );
        assert_eq!(
            args.last(),
            Some(&Word::Value(id as u64)),
            "task {id}: id word"
        );
        for &s in succ {
            preds[s as usize].push(id as u32);
        }
    }
    for (id, p) in preds.iter().enumerate() {
        assert_eq!(p, &expected[id].preds, "task {id}: predecessors");
    }
}

/// Builds `problem` with `context_lens` (if given) in place of its own
/// context lengths; the build must fail and leave nothing behind.
fn build_error(orch: Orch, problem: &Problem, context_lens: Option<&[i32]>) -> Error {
    let mut rt = runtime(Platform::A2A3, 1, 1);
    let mut out = vec![0.0f32; problem.out_len()];
    let args = problem.args(&mut out);
    let mut tensors = args.tensors().to_vec();
    if let Some(lens) = context_lens {
        tensors[4] = OrchTensor::new(lens.as_ptr(), &[lens.len() as u64], DType::I32);
    }
    let args = OwnedArgs::from_parts(tensors, args.scalars().to_vec());
    // SAFETY: `out` and `context_lens` outlive the build, which is expected to fail.
    let err = unsafe { rt.build_with_plugin(&load(orch), &args) }.expect_err("bad arguments");
    assert_eq!(rt.task_count(), 0);
    assert!(rt.device_memory().live().is_empty());
    err
}

/// A context of 0, one longer than the block table row, and a block-table
/// entry past the cache are refused with ORCH_ERR_OUT_OF_BOUNDS.
#[test]
fn plugins_refuse_bad_sequences() {
    let good = numerics_case(Precision::F16);
    let mut bad_block = good.clone();
    bad_block.block_table[0] = good.num_blocks as i32;
    let cases: [(&Problem, Option<&[i32]>); 3] = [
        (&good, Some(&[32, 0, 50, 1])),
        (&good, Some(&[32, 8, 50, 65])),
        (&bad_block, None),
    ];
    for orch in [Orch::C, Orch::Rust] {
        for (problem, lens) in cases {
            let err = build_error(orch, problem, lens);
            assert!(
                matches!(err, Error::PluginFailed { code: -9, .. }),
                "{orch:?}: {err}"
            );
        }
    }
}

/// Runs the scale graph traced on a2a3 (block dim 3, 3 threads) and checks
/// task count, exactly-once, dependency order and the numerics of every
/// `stride`-th sequence; prints timing.
fn scale_case(orch: Orch, batch: usize, context: i32, stride: usize) {
    let config = Config::scaled(batch, context, Precision::Bf16);
    let problem = Problem::generate(config);
    let mut rt = runtime(Platform::A2A3, 3, 3);
    let start = Instant::now();
    let round = check_round(&mut rt, &load(orch), &problem, Kernels::Traced, stride);
    let trace = round.trace.expect("traced round");
    assert!(trace.ok(), "{orch:?}: {trace:?}");
    assert_eq!(trace.tasks, round.report.tasks);
    let wall = round.report.wall;
    eprintln!(
        "paged_attention scale {orch:?} batch {batch} context {context}: {} tasks, run wall {wall:?} ({:.0} ns/task), round incl. reference {:?}",
        round.report.tasks,
        wall.as_nanos() as f64 / round.report.tasks as f64,
        start.elapsed()
    );
}

/// The scale check at batch 16, context 1000 (16 × 8 × 4 = 512 tasks).
#[test]
fn scale_check_small() {
    assert_eq!(Config::scaled(16, 1000, Precision::Bf16).task_count(), 512);
    for orch in [Orch::C, Orch::Rust] {
        scale_case(orch, 16, 1000, 1);
    }
}

/// The reference runtime's large size: 256 × ceil(8100 / 128) × 4 = 65,536,
/// numerics checked on every 15th sequence (the full f64 reference alone
/// takes seconds in a debug build; the example checks all of it).
#[test]
fn scale_check_65536_tasks() {
    assert_eq!(
        Config::scaled(256, 8100, Precision::Bf16).task_count(),
        65_536
    );
    scale_case(Orch::C, 256, 8100, 15);
}
