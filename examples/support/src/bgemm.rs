//! bgemm: `C = A·B` for 256×256 f32 matrices in 64×64 tiles — 4×4 output
//! tiles, K split in 4. Per output tile `(m, n)` and K step `k`, an AIC task
//! computes the partial product `P_mn = A_mk·B_kn` and an AIV task adds it,
//! `C_mn += P_mn`. Each output tile has one partial-product buffer, reused by
//! its four steps, so the tile's tasks form a serial chain
//! `gemm_0 → add_0 → gemm_1 → add_1 → …`: `add_k` must read `P_mn` after
//! `gemm_k` wrote it and before `gemm_{k+1}` overwrites it. That is 64 AIC
//! and 64 AIV tasks.
//!
//! The reference runtime's conventions: the matrices are **tile-major** f32
//! tensors of shape `[1, 4, 4, 64, 64]` (batch, tile row, tile column, and
//! a row-major 64×64 tile), so tile `(m, k)` of `A` starts at element
//! `(m·4 + k)·64·64`, likewise `B`'s `(k, n)` and `C`'s `(m, n)`; the plugin
//! gets tensors `[A, B, C]` and no scalar. `C` is uploaded and accumulated
//! into, so the host passes zeros for `C = A·B`. Inputs are standard-normal
//! × 0.01 (as the original example's golden data), so one partial product
//! is about 8e-4 per element: a tile that adds a wrong or missing one is off
//! by well over the 1e-3 tolerance somewhere.
//!
//! Kernel argument words (tiles are contiguous row-major):
//! - [`FUNC_GEMM_TILE`]: `[a, b, p, m, k, n]`: `p (m×n) = a (m×k) · b (k×n)`
//! - [`FUNC_TILE_ADD`]: `[x, y, out, rows, cols]`: `out = x + y` (`out` may be `x`)

use hostgraph::{Error, KernelFn, OwnedArgs, RunReport, Runtime};
use hostgraph_orch_abi::{DType, OrchTensor};

use crate::plugins::Orchestration;
use crate::rng::SplitMix64;

pub use crate::matmul::max_error;

/// func_id of the tile product `P = A_ik·B_kj` (AIC).
pub const FUNC_GEMM_TILE: i32 = 0;
/// func_id of the tile accumulation `C_ij += P` (AIV).
pub const FUNC_TILE_ADD: i32 = 1;
/// Rows and columns of `A`, `B` and `C`.
pub const SIZE: usize = 256;
/// Rows and columns of a tile.
pub const TILE: usize = 64;
/// Tiles per row and per column of a matrix.
pub const GRID: usize = SIZE / TILE;
/// Largest accepted absolute error of `C`.
pub const TOLERANCE: f64 = 1e-3;
/// Seed of the example's inputs.
pub const SEED: u64 = 0x5EED_B6E3;

/// The host inputs, tile-major (see the module docs).
#[derive(Debug, Clone)]
pub struct Inputs {
    /// Left factor.
    pub a: Vec<f32>,
    /// Right factor.
    pub b: Vec<f32>,
}

impl Inputs {
    /// Standard-normal × 0.01 inputs drawn from a generator seeded with `seed`.
    pub fn random(seed: u64) -> Self {
        let mut rng = SplitMix64(seed);
        let mut matrix = || -> Vec<f32> {
            (0..SIZE * SIZE)
                .map(|_| (rng.normal() * 0.01) as f32)
                .collect()
        };
        let a = matrix();
        let b = matrix();
        Inputs { a, b }
    }
}

/// # Safety
/// `ptr` points to `len` initialised, live f32s that nothing writes meanwhile.
unsafe fn input<'a>(ptr: u64, len: usize) -> &'a [f32] {
    // SAFETY: forwarded from the caller.
    unsafe { std::slice::from_raw_parts(ptr as *const f32, len) }
}

/// # Safety
/// `ptr` points to `len` live f32s that nothing else accesses meanwhile.
unsafe fn output<'a>(ptr: u64, len: usize) -> &'a mut [f32] {
    // SAFETY: forwarded from the caller.
    unsafe { std::slice::from_raw_parts_mut(ptr as *mut f32, len) }
}

fn gemm_tile(args: &[u64]) {
    let [m, k, n] = [args[3], args[4], args[5]].map(|w| w as usize);
    // SAFETY: the orchestration passes `[a, b, p, m, k, n]` with a and b
    // contiguous m×k and k×n tiles of device matrices, and p the tile's own
    // m×n partial-product buffer, which no other task of the tile's chain
    // touches while this one runs.
    let (a, b, p) = unsafe {
        (
            input(args[0], m * k),
            input(args[1], k * n),
            output(args[2], m * n),
        )
    };
    for (p_row, a_row) in p.chunks_exact_mut(n).zip(a.chunks_exact(k)) {
        p_row.fill(0.0);
        for (&x, b_row) in a_row.iter().zip(b.chunks_exact(n)) {
            for (acc, &y) in p_row.iter_mut().zip(b_row) {
                *acc += x * y;
            }
        }
    }
}

fn tile_add(args: &[u64]) {
    let len = (args[3] * args[4]) as usize;
    let [x, y, out] = [args[0], args[1], args[2]].map(|w| w as *mut f32);
    for i in 0..len {
        // SAFETY: the orchestration passes `[x, y, out, rows, cols]`, device
        // tiles of rows×cols f32 that this task's chain alone touches now;
        // `out` may be `x` (C += P), so elements go through raw pointers,
        // each read before it is written.
        unsafe { *out.add(i) = *x.add(i) + *y.add(i) };
    }
}

/// Registers the two kernels.
pub fn register_kernels<E: hostgraph::backend::Backend>(rt: &mut Runtime<E>) {
    rt.register_kernel(FUNC_GEMM_TILE, KernelFn::rust(gemm_tile).named("gemm_tile"));
    rt.register_kernel(FUNC_TILE_ADD, KernelFn::rust(tile_add).named("tile_add"));
}

/// Index of element `(row, col)` of a `SIZE × SIZE` matrix in the
/// tile-major layout.
pub fn tile_major(row: usize, col: usize) -> usize {
    let (tile, (r, c)) = ((row / TILE) * GRID + col / TILE, (row % TILE, col % TILE));
    tile * TILE * TILE + r * TILE + c
}

/// The reference: the whole product computed directly, a naive f64 triple
/// loop over matrix coordinates, stored tile-major like `C`.
pub fn reference(inputs: &Inputs) -> Vec<f64> {
    let (a, b) = (&inputs.a, &inputs.b);
    let mut c = vec![0.0; SIZE * SIZE];
    for i in 0..SIZE {
        for j in 0..SIZE {
            c[tile_major(i, j)] = (0..SIZE)
                .map(|k| f64::from(a[tile_major(i, k)]) * f64::from(b[tile_major(k, j)]))
                .sum();
        }
    }
    c
}

/// The plugin's arguments: tensors `A`, `B`, `C`, each `[1, GRID, GRID,
/// TILE, TILE]` f32 (`C` is written back at finalize, so it must stay in
/// place until then).
pub fn orch_args(inputs: &Inputs, c: &mut [f32]) -> OwnedArgs {
    let dims = [1, GRID as u64, GRID as u64, TILE as u64, TILE as u64];
    let mut args = OwnedArgs::new();
    args.push_tensor(OrchTensor::new(inputs.a.as_ptr(), &dims, DType::F32))
        .push_tensor(OrchTensor::new(inputs.b.as_ptr(), &dims, DType::F32))
        .push_tensor(OrchTensor::new(c.as_mut_ptr(), &dims, DType::F32));
    args
}

/// One round: register kernels, build with `plugin` over `inputs`, run,
/// finalize; returns `C` and the run's report.
pub fn run_round<E: hostgraph::backend::Backend>(
    rt: &mut Runtime<E>,
    plugin: &impl Orchestration,
    inputs: &Inputs,
) -> Result<(Vec<f32>, RunReport), Error> {
    let mut c = vec![0.0f32; SIZE * SIZE];
    let args = orch_args(inputs, &mut c);
    register_kernels(rt);
    // SAFETY: the plugin records `c` as the only tensor pair, and `c`
    // (like the inputs) lives, unmoved, until the round has finalized.
    let report = unsafe { crate::plugins::build_run_finalize(rt, plugin, &args)? };
    Ok((c, report))
}
