//! Synthetic graph shapes for the bench program: a requested task count
//! becomes a graph of empty-kernel tasks with a known dependency pattern.
//!
//! Task `i` (in the order [`build`] adds them) runs on an AIC core when
//! `i % 3 == 0` and on an AIV core otherwise — one AIC task for every two
//! AIV tasks, the ratio of the cores in a block. Edges always go from a
//! lower to a higher task id. Building allocates nothing beyond what the
//! runtime's own [`GraphBuilder`] calls allocate: task ids are computed,
//! not collected.
//!
//! The C orchestration plugin `examples/orch/synthetic.c` builds the same
//! graphs (same ids, core types, edges and edge order) through the C ABI,
//! from the scalars [`plugin_args`] makes.

use clap::ValueEnum;
use hostgraph::{CoreType, GraphBuilder, OwnedArgs, Result, TaskId};

/// A kernel that does nothing: what every synthetic task runs, so a run
/// measures dispatch and dependency resolution alone.
pub fn empty(_args: &[u64]) {}

/// Most layers of [`Shape::Layered`] (fewer where `n` tasks fill fewer
/// layers of width `ceil(n / LAYERS)`).
pub const LAYERS: usize = 100;

/// The dependency pattern of a synthetic graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, ValueEnum)]
pub enum Shape {
    /// `n` tasks, no edges: every task is ready at once.
    Independent,
    /// `n` tasks in one line, `t(i) -> t(i+1)`: one task ready at a time.
    Chain,
    /// `n` tasks in layers of width `w = ceil(n / LAYERS)`: `ceil(n / w)`
    /// layers, at most [`LAYERS`] (fewer for some `n`: 75 for 150 tasks),
    /// the last possibly short; task `j` of a layer has the successors `j`
    /// and `(j + 1) mod w` in the next layer, so every task past the first
    /// layer waits for two tasks (one if `w == 1`).
    Layered,
    /// A complete binary out-tree of the smallest depth `d` with
    /// `2^d - 1 >= n` tasks (heap order: node `i` -> `2i+1`, `2i+2`).
    BinaryTree,
    /// A `s × s` grid with the smallest side `s` with `s² >= n`; cell
    /// `(i, j)` -> `(i+1, j)` and `(i, j+1)`, so the ready set moves along
    /// anti-diagonals.
    Wavefront,
}

impl Shape {
    /// Every shape, in the order the bench program lists them.
    pub const ALL: [Shape; 5] = [
        Shape::Independent,
        Shape::Chain,
        Shape::Layered,
        Shape::BinaryTree,
        Shape::Wavefront,
    ];

    /// The shape's command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Independent => "independent",
            Shape::Chain => "chain",
            Shape::Layered => "layered",
            Shape::BinaryTree => "binary-tree",
            Shape::Wavefront => "wavefront",
        }
    }

    /// The shape's code in the scalars of the C plugin (its index in [`ALL`](Self::ALL)).
    pub fn code(self) -> u64 {
        self as u64
    }

    /// The task count the bench program asks for by default, the sizes of
    /// the issue's table: 100,000 independent tasks, a chain of 100,000,
    /// 100 layers × 1,000, a binary tree of depth 17 (131,071 tasks) and a
    /// 300 × 300 wavefront.
    pub fn default_tasks(self) -> usize {
        match self {
            Shape::Independent | Shape::Chain | Shape::Layered => 100_000,
            Shape::BinaryTree => (1 << 17) - 1,
            Shape::Wavefront => 300 * 300,
        }
    }

    /// The tasks [`build`] adds when asked for `n`: `n` for the shapes whose
    /// size is free, the rounded-up size for the tree and the grid (0 for 0).
    pub fn task_count(self, n: usize) -> usize {
        match self {
            Shape::Independent | Shape::Chain | Shape::Layered => n,
            Shape::BinaryTree => (1usize << tree_depth(n)) - 1,
            Shape::Wavefront => grid_side(n).pow(2),
        }
    }

    /// The edges [`build`] adds when asked for `n`.
    pub fn edge_count(self, n: usize) -> usize {
        let tasks = self.task_count(n);
        match self {
            Shape::Independent => 0,
            Shape::Chain | Shape::BinaryTree => tasks.saturating_sub(1),
            // Every task past the first layer has two predecessors (one
            // when the layers are one task wide).
            Shape::Layered => {
                let w = layer_width(n);
                tasks.saturating_sub(w) * if w > 1 { 2 } else { 1 }
            }
            Shape::Wavefront => {
                let s = grid_side(n);
                2 * s * s.saturating_sub(1)
            }
        }
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Core type of the `i`-th synthetic task: AIC for every third task.
#[inline]
pub fn core_type(i: usize) -> CoreType {
    if i.is_multiple_of(3) {
        CoreType::Aic
    } else {
        CoreType::Aiv
    }
}

/// Smallest depth `d` with `2^d - 1 >= n`.
fn tree_depth(n: usize) -> u32 {
    usize::BITS - n.leading_zeros()
}

/// Smallest side `s` with `s² >= n`.
fn grid_side(n: usize) -> usize {
    let mut s = n.isqrt();
    if s * s < n {
        s += 1;
    }
    s
}

/// Width of the layers of [`Shape::Layered`] for `n` tasks.
fn layer_width(n: usize) -> usize {
    n.div_ceil(LAYERS).max(1)
}

/// Adds `shape` sized for `n` tasks (see [`Shape::task_count`]) to `g`, every
/// task running `func_id` with no argument words; returns the tasks added.
///
/// ```
/// use hostgraph::{KernelFn, Runtime, RuntimeConfig};
/// use hostgraph_examples::synthetic::{Shape, build, empty};
///
/// let mut rt = Runtime::new(RuntimeConfig::default())?;
/// rt.register_kernel(0, KernelFn::rust(empty));
/// rt.build(|g| build(g, Shape::Wavefront, 10, 0).map(|added| assert_eq!(added, 16)))?;
/// assert_eq!(rt.run()?.tasks, 16);
/// rt.finalize()?;
/// # Ok::<(), hostgraph::Error>(())
/// ```
pub fn build(g: &mut GraphBuilder<'_>, shape: Shape, n: usize, func_id: i32) -> Result<usize> {
    build_typed(g, shape, n, [func_id; 2])
}

/// [`build`], with AIC tasks running `func_ids[0]` and AIV tasks
/// `func_ids[1]` (so a cost model can tell them apart).
pub fn build_typed(
    g: &mut GraphBuilder<'_>,
    shape: Shape,
    n: usize,
    func_ids: [i32; 2],
) -> Result<usize> {
    build_with(g, shape, n, |g, _, ty| {
        g.add_task(func_ids[ty as usize], ty, &[])
    })
}

/// [`build`], with each task added by `add(g, i, core type)` for `i` in
/// `0..task_count` in order (its kernel and argument words are the
/// caller's); the edges are the shape's.
pub fn build_with(
    g: &mut GraphBuilder<'_>,
    shape: Shape,
    n: usize,
    mut add: impl FnMut(&mut GraphBuilder<'_>, usize, CoreType) -> Result<TaskId>,
) -> Result<usize> {
    let tasks = shape.task_count(n);
    let base = g.task_count();
    for i in 0..tasks {
        let id = add(g, i, core_type(i))?;
        debug_assert_eq!(id.index(), base + i, "task ids are dense");
    }
    let t = |i: usize| TaskId((base + i) as u32);
    match shape {
        Shape::Independent => {}
        Shape::Chain => {
            for i in 1..tasks {
                g.add_successor(t(i - 1), t(i))?;
            }
        }
        Shape::Layered => {
            let w = layer_width(n);
            // Every task before the last layer (which may be short).
            let last_layer = tasks.saturating_sub(1) / w * w;
            // Task j of a layer feeds tasks j and j + 1 (wrapping) of the next.
            for layer in (0..last_layer).step_by(w) {
                let next = layer + w;
                for j in 0..w {
                    let k = if j + 1 == w { 0 } else { j + 1 };
                    if next + j < tasks {
                        g.add_successor(t(layer + j), t(next + j))?;
                    }
                    if w > 1 && next + k < tasks {
                        g.add_successor(t(layer + j), t(next + k))?;
                    }
                }
            }
        }
        Shape::BinaryTree => {
            for child in 1..tasks {
                g.add_successor(t((child - 1) / 2), t(child))?;
            }
        }
        Shape::Wavefront => {
            let s = grid_side(n);
            for i in 0..s {
                for j in 0..s {
                    let cell = i * s + j;
                    if i + 1 < s {
                        g.add_successor(t(cell), t(cell + s))?;
                    }
                    if j + 1 < s {
                        g.add_successor(t(cell), t(cell + 1))?;
                    }
                }
            }
        }
    }
    Ok(tasks)
}

/// The arguments of the C plugin `examples/orch/synthetic.c` that make it
/// build what [`build`] does for `shape`, `n` and `func_id`: scalars
/// `[shape code, n, func_id]`, no tensors.
pub fn plugin_args(shape: Shape, n: usize, func_id: i32) -> OwnedArgs {
    let mut args = OwnedArgs::new();
    args.push_scalar(shape.code())
        .push_scalar(n as u64)
        .push_scalar(func_id as u32 as u64);
    args
}

#[cfg(test)]
mod tests {
    use hostgraph::graph::{Task, TaskLists};
    use hostgraph::{Backend, InlineSim, KernelFn, Runtime, RuntimeConfig};

    use super::*;
    use crate::plugins;

    /// Every task of the built graph as `(id, func_id, core type, successors)`, by id.
    fn graph_of<E: Backend>(rt: &Runtime<E>) -> Vec<(u32, i32, CoreType, Vec<u32>)> {
        let world = rt.world();
        let lists = world.resource::<TaskLists>();
        let mut q = world
            .try_query::<&Task>()
            .expect("task components are registered");
        let mut tasks: Vec<_> = q
            .iter(world)
            .map(|t| {
                (
                    t.id.0,
                    t.kernel.func_id,
                    t.kernel.core_type,
                    lists.successors(t).iter().map(|s| s.0).collect(),
                )
            })
            .collect();
        tasks.sort_by_key(|t| t.0);
        tasks
    }

    /// The C plugin builds, task for task and edge for edge, the graph the
    /// Rust builder does, for every shape and a few awkward sizes; and the
    /// graph runs.
    #[test]
    fn c_plugin_builds_the_same_graphs() {
        let plugin = plugins::load_c("synthetic").unwrap();
        let config = RuntimeConfig::default();
        let mut rt = Runtime::with_backend(config, InlineSim::new(config.platform)).unwrap();
        rt.register_kernel(5, KernelFn::rust(empty));
        for shape in Shape::ALL {
            for n in [0, 1, 2, 3, 99, 100, 101, 250, 1001, 4097] {
                rt.build(|g| build(g, shape, n, 5).map(drop)).unwrap();
                let want = graph_of(&rt);
                rt.discard();
                // SAFETY: no tensors, nothing is copied back.
                unsafe { rt.build_with_plugin(&plugin, &plugin_args(shape, n, 5)) }
                    .unwrap_or_else(|e| panic!("{shape} n = {n}: {e}"));
                let got = graph_of(&rt);
                assert_eq!(got.len(), shape.task_count(n), "{shape} n = {n}");
                let edges: usize = got.iter().map(|t| t.3.len()).sum();
                assert_eq!(edges, shape.edge_count(n), "{shape} n = {n}");
                assert!(got == want, "{shape} n = {n}: C and Rust graphs differ");
                if n > 0 {
                    assert_eq!(rt.run().unwrap().tasks, shape.task_count(n));
                }
                rt.discard();
            }
        }
    }

    /// The plugin refuses an unknown shape code and missing scalars.
    #[test]
    fn c_plugin_refuses_bad_scalars() {
        let plugin = plugins::load_c("synthetic").unwrap();
        let mut rt = Runtime::new(RuntimeConfig::default()).unwrap();
        let mut bad_shape = OwnedArgs::new();
        bad_shape.push_scalar(5).push_scalar(10);
        // SAFETY: no tensors.
        assert!(unsafe { rt.build_with_plugin(&plugin, &bad_shape) }.is_err());
        let mut one_scalar = OwnedArgs::new();
        one_scalar.push_scalar(0);
        // SAFETY: no tensors.
        assert!(unsafe { rt.build_with_plugin(&plugin, &one_scalar) }.is_err());
        assert_eq!(rt.task_count(), 0);
    }

    #[test]
    fn default_sizes_are_the_issues() {
        assert_eq!(
            Shape::Layered.task_count(Shape::Layered.default_tasks()),
            100 * 1000
        );
        assert_eq!(Shape::Layered.edge_count(100_000), 99 * 1000 * 2);
        assert_eq!(
            Shape::BinaryTree.task_count(Shape::BinaryTree.default_tasks()),
            (1 << 17) - 1
        );
        assert_eq!(
            Shape::Wavefront.task_count(Shape::Wavefront.default_tasks()),
            300 * 300
        );
        for (i, shape) in Shape::ALL.into_iter().enumerate() {
            assert_eq!(shape.code(), i as u64);
        }
    }

    #[test]
    fn sizes_round_up_for_tree_and_grid() {
        assert_eq!(Shape::BinaryTree.task_count(0), 0);
        assert_eq!(Shape::BinaryTree.task_count(1), 1);
        assert_eq!(Shape::BinaryTree.task_count(7), 7);
        assert_eq!(Shape::BinaryTree.task_count(8), 15);
        assert_eq!(Shape::Wavefront.task_count(0), 0);
        assert_eq!(Shape::Wavefront.task_count(16), 16);
        assert_eq!(Shape::Wavefront.task_count(17), 25);
        assert_eq!(Shape::Layered.task_count(1234), 1234);
    }

    /// The edge count the builder's summary reports, for each shape and a
    /// few awkward sizes, against [`Shape::edge_count`].
    #[test]
    fn edge_counts_match_what_build_adds() {
        let mut rt = hostgraph::Runtime::new(hostgraph::RuntimeConfig::default()).unwrap();
        for shape in Shape::ALL {
            for n in [0, 1, 2, 3, 99, 100, 101, 250, 1001] {
                let mut summary = String::new();
                rt.build(|g| {
                    assert_eq!(build(g, shape, n, 0)?, shape.task_count(n));
                    summary = g.summary();
                    Ok(())
                })
                .unwrap();
                rt.discard();
                let edges: usize = summary
                    .split(", ")
                    .find_map(|part| part.strip_suffix(" edges"))
                    .and_then(|e| e.parse().ok())
                    .unwrap_or_else(|| panic!("no edge count in {summary:?}"));
                assert_eq!(edges, shape.edge_count(n), "{shape} with n = {n}");
            }
        }
    }
}
