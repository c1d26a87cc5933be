//! The bgemm example end to end: the 16 chains of tile GEMM and tile add
//! tasks (64 AIC + 64 AIV) that the C plugin and the reference-runtime
//! orchestration build over tile-major matrices match the independent
//! reference on a2a3 and a5, at 1 and 3 scheduler threads and at block dim
//! 1 and the platform's maximum; the chains have the shape that keeps the
//! reused partial-product buffers correct, and the reference check would
//! catch a tile that added a wrong partial product.

use hostgraph::graph::{Kernel, Task as TaskComponent, TaskId, TaskLists};
use hostgraph::{CoreType, Error, OwnedArgs, Platform, Plugin, Runtime, RuntimeConfig};
use hostgraph_examples::bgemm::{self, GRID as TILES, Inputs, SIZE, TILE, tile_major};
use hostgraph_examples::plugins::{self, AnyPlugin, Orchestration};
use hostgraph_orch_abi::{DType, OrchTensor};

fn plugin() -> Plugin {
    plugins::load_c("bgemm").expect("load the bgemm plugin")
}

fn reference_plugin() -> AnyPlugin {
    plugins::load_ref("bgemm", "build_bgemm_graph")
        .expect("load the reference-runtime bgemm plugin")
        .into()
}

fn runtime(platform: Platform) -> Runtime {
    Runtime::new(RuntimeConfig {
        platform,
        ..Default::default()
    })
    .expect("runtime")
}

/// Runs a round per (threads, block dim) on one runtime of `platform` and
/// checks the task counts and every element of each result.
fn matches_reference(platform: Platform, plugin: &impl Orchestration) {
    let inputs = Inputs::random(bgemm::SEED);
    let want = bgemm::reference(&inputs);
    let mut rt = runtime(platform);
    for threads in [1, 3] {
        for block_dim in [1, platform.spec().max_block_dim] {
            let case = format!(
                "{:?} plugin on {platform} threads {threads} block dim {block_dim}",
                plugin.abi()
            );
            rt.reconfigure(block_dim, threads).expect("reconfigure");
            let (c, report) = bgemm::run_round(&mut rt, plugin, &inputs)
                .unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(
                (report.tasks, report.aic_tasks, report.aiv_tasks),
                (128, 64, 64),
                "{case}: tasks (all, AIC, AIV)"
            );
            let err = bgemm::max_error(&c, &want);
            assert!(err <= bgemm::TOLERANCE, "{case}: max error {err}");
        }
    }
}

#[test]
fn a2a3_matches_reference() {
    matches_reference(Platform::A2A3, &plugin());
}

#[test]
fn a5_matches_reference() {
    matches_reference(Platform::A5, &plugin());
}

#[test]
fn reference_runtime_plugin_on_a2a3() {
    matches_reference(Platform::A2A3, &reference_plugin());
}

#[test]
fn reference_runtime_plugin_on_a5() {
    matches_reference(Platform::A5, &reference_plugin());
}

/// A built task: kernel, argument words, successors.
struct Task {
    kernel: Kernel,
    args: Vec<u64>,
    successors: Vec<TaskId>,
}

/// The tasks `plugin` builds for the example's inputs, by task id.
fn built_tasks(plugin: &impl Orchestration) -> Vec<Task> {
    let inputs = Inputs::random(bgemm::SEED);
    let mut c = vec![0.0f32; SIZE * SIZE];
    let args = bgemm::orch_args(&inputs, &mut c);
    let mut rt = runtime(Platform::A2A3);
    // SAFETY: `c` outlives the graph, which is discarded below.
    unsafe { plugin.build(&mut rt, &args) }.expect("build");
    let world = rt.world();
    let lists = world.resource::<TaskLists>();
    let mut query = world
        .try_query::<&TaskComponent>()
        .expect("task components");
    let mut tasks: Vec<(TaskId, Task)> = query
        .iter(world)
        .map(|t| {
            let task = Task {
                kernel: t.kernel,
                args: lists.args(t).to_vec(),
                successors: lists.successors(t).to_vec(),
            };
            (t.id, task)
        })
        .collect();
    rt.discard();
    tasks.sort_by_key(|(id, _)| *id);
    tasks.into_iter().map(|(_, t)| t).collect()
}

/// Follows the chain starting at task `head`: gemm, add, gemm, add, ...
/// (TILES of each), all over one partial-product buffer and one C tile
/// (each add: `C tile = C tile + P`), ending at an add without successors.
/// Returns (P, C tile) addresses.
fn check_chain(tasks: &[Task], head: usize, seen: &mut [bool]) -> (u64, u64) {
    let gemm = Kernel {
        func_id: bgemm::FUNC_GEMM_TILE,
        core_type: CoreType::Aic,
    };
    let add = Kernel {
        func_id: bgemm::FUNC_TILE_ADD,
        core_type: CoreType::Aiv,
    };
    let (p, c_tile) = (tasks[head].args[2], tasks[head + 1].args[0]);
    let mut at = Some(head);
    for step in 0..2 * TILES {
        let id = at.unwrap_or_else(|| panic!("chain from {head} ends after {step} tasks"));
        let task = &tasks[id];
        assert!(!seen[id], "task {id} is in two chains");
        seen[id] = true;
        if step % 2 == 0 {
            assert_eq!((task.kernel, task.args[2]), (gemm, p), "task {id}");
        } else {
            let words = (task.args[0], task.args[1], task.args[2]);
            assert_eq!(
                (task.kernel, words),
                (add, (c_tile, p, c_tile)),
                "task {id}"
            );
        }
        assert!(
            task.successors.len() <= 1,
            "task {id}: {:?}",
            task.successors
        );
        at = task.successors.first().map(|s| s.index());
    }
    assert_eq!(at, None, "chain from {head} goes on");
    (p, c_tile)
}

#[test]
fn graph_is_one_gemm_add_chain_per_tile() {
    chains_of(&plugin());
    chains_of(&reference_plugin());
}

fn chains_of(plugin: &impl Orchestration) {
    let tasks = built_tasks(plugin);
    assert_eq!(tasks.len(), 2 * TILES * TILES * TILES);
    let mut has_pred = vec![false; tasks.len()];
    for t in &tasks {
        for s in &t.successors {
            has_pred[s.index()] = true;
        }
    }
    let heads: Vec<usize> = (0..tasks.len()).filter(|&i| !has_pred[i]).collect();
    assert_eq!(heads.len(), TILES * TILES, "chain heads {heads:?}");
    let mut seen = vec![false; tasks.len()];
    let (mut p, mut c): (Vec<u64>, Vec<u64>) = heads
        .iter()
        .map(|&h| check_chain(&tasks, h, &mut seen))
        .unzip();
    assert!(seen.iter().all(|&s| s), "tasks outside every chain");
    for (what, buffers) in [("P buffer", &mut p), ("C tile", &mut c)] {
        buffers.sort_unstable();
        buffers.dedup();
        assert_eq!(buffers.len(), TILES * TILES, "chains share a {what}");
    }
}

/// The product of A's tile (ti, tk) and B's tile (tk, tj), computed directly.
fn partial_product(inputs: &Inputs, ti: usize, tj: usize, tk: usize) -> Vec<f64> {
    let mut p = vec![0.0; TILE * TILE];
    for i in 0..TILE {
        for j in 0..TILE {
            p[i * TILE + j] = (0..TILE)
                .map(|k| {
                    let a = inputs.a[tile_major(ti * TILE + i, tk * TILE + k)];
                    let b = inputs.b[tile_major(tk * TILE + k, tj * TILE + j)];
                    f64::from(a) * f64::from(b)
                })
                .sum();
        }
    }
    p
}

/// Without the chain, add_k could read P before gemm_k wrote it (zeros or
/// an earlier step's product) or after gemm_{k+1} overwrote it. For every
/// tile and step, each such outcome fails the reference check.
#[test]
fn reference_check_catches_any_misordered_partial_product() {
    let inputs = Inputs::random(bgemm::SEED);
    let want = bgemm::reference(&inputs);
    let mut got: Vec<f32> = want.iter().map(|&w| w as f32).collect();
    assert!(bgemm::max_error(&got, &want) <= bgemm::TOLERANCE);
    for (ti, tj) in (0..TILES).flat_map(|i| (0..TILES).map(move |j| (i, j))) {
        let steps: Vec<Vec<f64>> = (0..TILES)
            .map(|tk| partial_product(&inputs, ti, tj, tk))
            .collect();
        let zeros = vec![0.0; TILE * TILE];
        for (tk, right) in steps.iter().enumerate() {
            for wrong in steps.iter().chain([&zeros]).filter(|w| *w != right) {
                for (e, (r, w)) in right.iter().zip(wrong).enumerate() {
                    let idx = tile_major(ti * TILE + e / TILE, tj * TILE + e % TILE);
                    got[idx] = (want[idx] - r + w) as f32;
                }
                let err = bgemm::max_error(&got, &want);
                assert!(
                    err > bgemm::TOLERANCE,
                    "tile ({ti}, {tj}) step {tk}: a wrong partial product is off by only {err}"
                );
            }
            for e in 0..TILE * TILE {
                let idx = tile_major(ti * TILE + e / TILE, tj * TILE + e % TILE);
                got[idx] = want[idx] as f32;
            }
        }
    }
}

/// Tile-major layout: tile (m, k) starts at element (m·GRID + k)·TILE², and
/// the reference product is stored that way too.
#[test]
fn tile_major_layout_is_the_references() {
    assert_eq!(tile_major(0, 0), 0);
    assert_eq!(tile_major(0, TILE), TILE * TILE);
    assert_eq!(tile_major(TILE, 0), TILES * TILE * TILE);
    assert_eq!(tile_major(1, 2), TILE + 2);
    assert_eq!(
        tile_major(TILE + 1, 2 * TILE + 3),
        (TILES + 2) * TILE * TILE + TILE + 3
    );
    let mut seen = vec![false; SIZE * SIZE];
    for i in 0..SIZE {
        for j in 0..SIZE {
            assert!(!std::mem::replace(&mut seen[tile_major(i, j)], true));
        }
    }
}

#[test]
fn plugin_refuses_tile_grids_that_disagree() {
    let inputs = Inputs::random(bgemm::SEED);
    let (g, t) = (TILES as u64, TILE as u64);
    let mut c = vec![0.0f32; SIZE * SIZE];
    // B's tiles are 32 wide where A's are 64 tall: K does not match.
    let cases: [[[u64; 5]; 3]; 2] = [
        [
            [1, g, g, t, t],
            [1, g, 2 * g, t / 2, t],
            [1, g, 2 * g, t, t / 2],
        ],
        // C has the wrong grid.
        [[1, g, g, t, t], [1, g, g, t, t], [1, g, g / 2, t, 2 * t]],
    ];
    let mut rt = runtime(Platform::A2A3);
    for [a, b, cd] in cases {
        let mut args = OwnedArgs::new();
        args.push_tensor(OrchTensor::new(inputs.a.as_ptr(), &a, DType::F32))
            .push_tensor(OrchTensor::new(inputs.b.as_ptr(), &b, DType::F32))
            .push_tensor(OrchTensor::new(c.as_mut_ptr(), &cd, DType::F32));
        // SAFETY: the build is refused before anything is recorded; `c` outlives it anyway.
        let r = unsafe { rt.build_with_plugin(&plugin(), &args) };
        assert!(
            matches!(r, Err(Error::PluginFailed { code: -9, .. })),
            "{a:?} {b:?} {cd:?}: {r:?}"
        );
        assert_eq!(rt.task_count(), 0);
        assert!(rt.device_memory().live().is_empty());
    }
}
