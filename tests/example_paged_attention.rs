//! paged_attention end to end: the orchestration plugins (C, Rust, and the
//! one written for the reference runtime), f16 and bf16, on a2a3 and a5
//! with several block dims and thread counts, ragged contexts, GQA; the
//! graph checked against its expected structure; and the scale case with
//! exactly-once / dependency-order tracing.

use std::time::Instant;

use hostgraph::{Error, Platform, Runtime, RuntimeConfig};
use hostgraph_examples::paged_attention::{
    self as pa, BlockPool, BuiltTask, Config, Kernels, Precision, Problem, Reference, Round, Stage,
};
use hostgraph_examples::plugins::{self, AnyPlugin, Orchestration};
use hostgraph_orch_abi::{CoreType, DType, OrchTensor, OwnedArgs};

#[derive(Clone, Copy, Debug)]
enum Orch {
    C,
    Rust,
    Reference,
}

fn load(orch: Orch) -> AnyPlugin {
    match orch {
        Orch::C => plugins::load_c("paged_attention").map(AnyPlugin::from),
        Orch::Rust => plugins::load_rust("paged_attention").map(AnyPlugin::from),
        Orch::Reference => {
            plugins::load_ref("paged_attention", "build_paged_attention_graph").map(AnyPlugin::from)
        }
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
    plugin: &impl Orchestration,
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
/// the block, two shorter than one block, one ending mid-block; 16 heads
/// sharing one KV head (one tile).
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
        assert_eq!(problem.config.task_count(), 4 * (2 + 1 + 4 + 1));
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

/// The reference-runtime orchestration, in the reference's conventions (f16,
/// one KV head, whole blocks: contexts [32, 16, 64, 16]), traced, on both
/// platforms at two configurations each; and 256 heads in two tiles of 128.
#[test]
fn reference_runtime_plugin_matches_reference() {
    let plugin = load(Orch::Reference);
    let problem = Problem::generate(Config::small(4, 50, Precision::F16).whole_blocks().unwrap());
    assert_eq!(problem.config.context_lens, [32, 16, 64, 16]);
    assert_eq!(problem.config.reference_limits(), None);
    for (platform, shapes) in [
        (Platform::A2A3, [(1, 1), (24, 3)]),
        (Platform::A5, [(2, 2), (36, 7)]),
    ] {
        let mut rt = runtime(platform, shapes[0].0, shapes[0].1);
        for (block_dim, threads) in shapes {
            rt.reconfigure(block_dim, threads).expect("reconfigure");
            let round = check_round(&mut rt, &plugin, &problem, Kernels::Traced, 1);
            let trace = round.trace.expect("traced round");
            assert!(trace.ok(), "{platform} {block_dim}/{threads}: {trace:?}");
        }
    }
    let wide = Config {
        heads: 256,
        head_dim: 16,
        ..Config::small(2, 32, Precision::F16).whole_blocks().unwrap()
    };
    assert_eq!(wide.head_tiles(), 2);
    let mut rt = runtime(Platform::A5, 4, 3);
    check_round(
        &mut rt,
        &plugin,
        &Problem::generate(wide),
        Kernels::Plain,
        1,
    );
}

/// Beyond the reference's kernel words (a context ending mid-block, two KV
/// heads, bf16), the reference-runtime orchestration refuses to build (its
/// entry returns -1) and leaves nothing behind.
#[test]
fn reference_runtime_plugin_refuses_what_its_words_cannot_express() {
    let plugin = load(Orch::Reference);
    let base = Config::small(2, 32, Precision::F16).whole_blocks().unwrap();
    let cases = [
        Config {
            context_lens: vec![32, 17],
            ..base.clone()
        },
        Config {
            kv_heads: 2,
            ..base.clone()
        },
        Config {
            precision: Precision::Bf16,
            ..base
        },
    ];
    let mut rt = runtime(Platform::A2A3, 1, 1);
    for config in cases {
        assert!(config.reference_limits().is_some());
        let problem = Problem::generate(config);
        let mut out = vec![0.0f32; problem.out_len()];
        let args = problem.args(&mut out);
        // SAFETY: `out` outlives the build, which is expected to fail.
        let err = unsafe { plugin.build(&mut rt, &args) }.expect_err("refused");
        assert!(
            matches!(&err, Error::PluginFailed { code: -1, entry } if entry == "build_paged_attention_graph"),
            "{:?}: {err}",
            problem.config
        );
        assert_eq!(rt.task_count(), 0);
        assert!(rt.device_memory().live().is_empty());
    }
}

/// Head dims 16–128, blocks 16–128, MHA (tiles of one head), GQA (tiles of
/// four) and MQA (one tile of 16).
fn shape_cases() -> Vec<Config> {
    let base = Config::small(1, 1, Precision::F16);
    vec![
        Config {
            kv_heads: 16,
            head_dim: 128,
            block_size: 128,
            context_lens: vec![128, 300, 5],
            precision: Precision::Bf16,
            ..base.clone()
        },
        Config {
            kv_heads: 4,
            head_dim: 16,
            block_size: 64,
            context_lens: vec![64, 1, 200, 63],
            ..base.clone()
        },
        Config {
            kv_heads: 1,
            head_dim: 64,
            block_size: 16,
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

/// The graph `orch` builds for `problem`, task by task.
fn built(orch: Orch, problem: &Problem) -> (Vec<BuiltTask>, Vec<(u64, u64)>) {
    let mut rt = runtime(Platform::A2A3, 1, 1);
    let mut out = vec![0.0f32; problem.out_len()];
    let args = problem.args(&mut out);
    // SAFETY: `out` outlives the build; the graph is discarded unrun.
    unsafe { load(orch).build(&mut rt, &args) }.expect("build");
    let graph = pa::built_graph(&rt);
    let live = rt.device_memory().live();
    rt.discard();
    (graph, live)
}

/// The built graph without its run-specific addresses: func_id, core type,
/// argument words (pointers as allocation size and offset), predecessors.
fn signature(orch: Orch, problem: &Problem) -> Vec<TaskSig> {
    let (graph, live) = built(orch, problem);
    let word = |w: u64| match live.iter().find(|&&(p, n)| (p..p + n).contains(&w)) {
        Some(&(p, n)) => Word::Ptr {
            alloc: n,
            offset: w - p,
        },
        None => Word::Value(w),
    };
    graph
        .into_iter()
        .map(|t| {
            let args = t.args.iter().map(|&w| word(w)).collect();
            (t.func_id, t.core_type, args, t.preds)
        })
        .collect()
}

/// Asserts `graph` has the stages, core types and edges of
/// [`pa::expected_graph`].
fn assert_expected_structure(what: &str, graph: &[(i32, CoreType, Vec<u32>)], config: &Config) {
    let expected = pa::expected_graph(config);
    assert_eq!(graph.len(), expected.len(), "{what}: tasks");
    for (id, ((func_id, core, preds), want)) in graph.iter().zip(&expected).enumerate() {
        assert_eq!(
            (*func_id, *core),
            (want.stage.func_id(), want.stage.core_type()),
            "{what}: task {id}"
        );
        assert_eq!(preds, &want.preds, "{what}: task {id}: predecessors");
    }
}

/// Both hostgraph plugins build the same graph, word for word, and it is
/// the expected one: stages, core types, edges; the reference-runtime
/// orchestration builds the expected structure too (with its own buffers
/// and only the reference's words). Each QK task's words are the
/// reference's six plus the KV row stride and the dtype.
#[test]
fn plugins_build_the_expected_graph() {
    let mut config = shape_cases().swap_remove(1);
    config.pool = BlockPool::Shared(3);
    let problem = Problem::generate(config);
    let c = signature(Orch::C, &problem);
    assert_eq!(c, signature(Orch::Rust, &problem));
    let structure = |sig: &[TaskSig]| -> Vec<(i32, CoreType, Vec<u32>)> {
        sig.iter()
            .map(|(f, core, _, preds)| (*f, *core, preds.clone()))
            .collect()
    };
    assert_expected_structure("C plugin", &structure(&c), &problem.config);
    let kv_stride = (problem.config.kv_heads * problem.config.head_dim) as u64;
    let f16 = u64::from(DType::F16.code());
    let qk = &c[0].2;
    assert_eq!(qk.len(), 8);
    assert_eq!(qk[6..], [Word::Value(kv_stride), Word::Value(f16)]);

    let reference = Problem::generate(Config::small(3, 40, Precision::F16).whole_blocks().unwrap());
    let (graph, _) = built(Orch::Reference, &reference);
    let words: Vec<usize> = graph.iter().take(4).map(|t| t.args.len()).collect();
    assert_eq!(words, [6, 7, 6, 11], "the reference's words only");
    let shape: Vec<_> = graph
        .iter()
        .map(|t| (t.func_id, t.core_type, t.preds.clone()))
        .collect();
    assert_expected_structure("reference-runtime plugin", &shape, &reference.config);
    assert_eq!(Stage::of(graph[3].func_id), Some(Stage::Update));
}

/// What `Config::device_bytes` counts (and `Config::validate` bounds the
/// example's sizes by) is what the hostgraph plugins allocate, byte for
/// byte, whatever the shape and block pool.
#[test]
fn device_bytes_are_what_the_plugins_allocate() {
    for orch in [Orch::C, Orch::Rust] {
        for config in shape_cases() {
            for pool in [BlockPool::Distinct, BlockPool::Shared(3)] {
                let problem = Problem::generate(Config {
                    pool,
                    ..config.clone()
                });
                let (_, live) = built(orch, &problem);
                let allocated: u64 = live.iter().map(|&(_, n)| n).sum();
                assert_eq!(
                    allocated,
                    problem.config.device_bytes(),
                    "{orch:?} {:?}",
                    problem.config
                );
            }
        }
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
    let err = unsafe { load(orch).build(&mut rt, &args) }.expect_err("bad arguments");
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

/// Runs `config`'s scale graph traced on a2a3 (block dim 3, 3 threads) and
/// checks task count, exactly-once, dependency order and the numerics of
/// every `stride`-th sequence; prints timing.
fn scale_case(orch: Orch, config: Config, stride: usize) {
    let (batch, context) = (config.batch(), config.context_lens[0]);
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

/// The scale check at batch 16, context 1000 (16 × 8 × 4 = 512 tasks; the
/// reference-runtime plugin at context 1024, whole blocks, f16).
#[test]
fn scale_check_small() {
    let config = Config::scaled(16, 1000, Precision::Bf16);
    assert_eq!(config.task_count(), 512);
    for orch in [Orch::C, Orch::Rust] {
        scale_case(orch, config.clone(), 1);
    }
    let whole = Config::scaled(16, 1000, Precision::F16)
        .whole_blocks()
        .unwrap();
    assert_eq!((whole.context_lens[0], whole.task_count()), (1024, 512));
    scale_case(Orch::Reference, whole, 1);
}

/// The reference runtime's large size: 256 × ceil(8100 / 128) × 4 = 65,536,
/// numerics checked on every 15th sequence (the full f64 reference alone
/// takes seconds in a debug build; the example checks all of it).
#[test]
fn scale_check_65536_tasks() {
    let config = Config::scaled(256, 8100, Precision::Bf16);
    assert_eq!(config.task_count(), 65_536);
    scale_case(Orch::C, config, 15);
}
