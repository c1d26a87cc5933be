//! bgemm: `C = A·B` for 256×256 f32 matrices in 64×64 tiles — 4×4 output
//! tiles, K split in 4. Per output tile `(i, j)` and K step `k`, an AIC task
//! computes the partial product `P_ij = A_ik·B_kj` and an AIV task adds it,
//! `C_ij += P_ij`. Each output tile has one partial-product buffer, reused by
//! its four steps, so the tile's tasks form a serial chain
//! `gemm_0 → add_0 → gemm_1 → add_1 → …`: `add_k` must read `P_ij` after
//! `gemm_k` wrote it and before `gemm_{k+1}` overwrites it. That is 64 AIC
//! and 64 AIV tasks.
//!
//! All matrices are row-major f32; tiles are addressed in place through a
//! leading dimension. `C` is uploaded and accumulated into, so the host
//! passes zeros for `C = A·B`. Inputs are standard-normal × 0.01 (as the
//! original example's golden data), so one partial product is about 8e-4 per
//! element: a tile that adds a wrong or missing one is off by well over the
//! 1e-3 tolerance somewhere.
//!
//! Kernel argument words:
//! - [`FUNC_GEMM_TILE`]: `[a, b, p, t, lda, ldb]`: `p (t×t) = a (t×t, ld lda) · b (t×t, ld ldb)`
//! - [`FUNC_TILE_ADD`]: `[p, c, t, ldc]`: `c (t×t, ld ldc) += p (t×t)`

use crate::rng::SplitMix64;
use hostgraph::{Error, KernelFn, OwnedArgs, Plugin, RunReport, Runtime};
use hostgraph_orch_abi::{DType, OrchTensor};

pub use crate::matmul::max_error;

/// func_id of the tile product `P = A_ik·B_kj` (AIC).
pub const FUNC_GEMM_TILE: i32 = 0;
/// func_id of the tile accumulation `C_ij += P` (AIV).
pub const FUNC_TILE_ADD: i32 = 1;
/// Rows and columns of `A`, `B` and `C`.
pub const SIZE: usize = 256;
/// Rows and columns of a tile.
pub const TILE: usize = 64;
/// Largest accepted absolute error of `C`.
pub const TOLERANCE: f64 = 1e-3;
/// Seed of the example's inputs.
pub const SEED: u64 = 0x5EED_B6E3;

/// The host inputs, row-major `SIZE × SIZE`.
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

/// Elements a `t×t` tile with leading dimension `ld` spans.
fn span(t: usize, ld: usize) -> usize {
    (t - 1) * ld + t
}

fn gemm_tile(args: &[u64]) {
    let [t, lda, ldb] = [args[3], args[4], args[5]].map(|w| w as usize);
    // SAFETY: the orchestration passes `[a, b, p, t, lda, ldb]` with a and b
    // t×t tiles inside device matrices of leading dimension lda and ldb, and
    // p the tile's own t×t partial-product buffer, which no other task of
    // the tile's chain touches while this one runs.
    let (a, b, p) = unsafe {
        (
            input(args[0], span(t, lda)),
            input(args[1], span(t, ldb)),
            output(args[2], t * t),
        )
    };
    for (i, p_row) in p.chunks_exact_mut(t).enumerate() {
        p_row.fill(0.0);
        for (kk, &x) in a[i * lda..][..t].iter().enumerate() {
            for (acc, &y) in p_row.iter_mut().zip(&b[kk * ldb..][..t]) {
                *acc += x * y;
            }
        }
    }
}

fn tile_add(args: &[u64]) {
    let [t, ldc] = [args[2], args[3]].map(|w| w as usize);
    // SAFETY: the orchestration passes `[p, c, t, ldc]` with p a t×t device
    // buffer that gemm_k wrote and nothing writes until this task finished.
    let p = unsafe { input(args[0], t * t) };
    for (i, p_row) in p.chunks_exact(t).enumerate() {
        // SAFETY: c is a t×t tile of a device matrix with leading dimension
        // ldc; row i of it belongs to this tile's chain alone (other tiles'
        // tasks may run meanwhile, so only the row, not the tile's whole
        // span, is borrowed).
        let c_row = unsafe { output(args[1] + (i * ldc * size_of::<f32>()) as u64, t) };
        for (acc, &x) in c_row.iter_mut().zip(p_row) {
            *acc += x;
        }
    }
}

/// Registers the two kernels.
pub fn register_kernels<E: hostgraph::Executor>(rt: &mut Runtime<E>) {
    rt.register_kernel(FUNC_GEMM_TILE, KernelFn::rust(gemm_tile).named("gemm_tile"));
    rt.register_kernel(FUNC_TILE_ADD, KernelFn::rust(tile_add).named("tile_add"));
}

/// The reference: the whole product computed directly, a naive f64 triple
/// loop.
pub fn reference(inputs: &Inputs) -> Vec<f64> {
    let (a, b) = (&inputs.a, &inputs.b);
    let mut c = vec![0.0; SIZE * SIZE];
    for i in 0..SIZE {
        for j in 0..SIZE {
            c[i * SIZE + j] = (0..SIZE)
                .map(|k| f64::from(a[i * SIZE + k]) * f64::from(b[k * SIZE + j]))
                .sum();
        }
    }
    c
}

/// The plugin's arguments: tensors `A`, `B`, `C` (`C` is written back at
/// finalize, so it must stay in place until then) and the tile size.
pub fn orch_args(inputs: &Inputs, c: &mut [f32]) -> OwnedArgs {
    let dims = [SIZE as u64, SIZE as u64];
    let mut args = OwnedArgs::new();
    args.push_tensor(OrchTensor::new(inputs.a.as_ptr(), &dims, DType::F32))
        .push_tensor(OrchTensor::new(inputs.b.as_ptr(), &dims, DType::F32))
        .push_tensor(OrchTensor::new(c.as_mut_ptr(), &dims, DType::F32))
        .push_scalar(TILE as u64);
    args
}

/// One round: register kernels, build with `plugin` over `inputs`, run,
/// finalize; returns `C` and the run's report.
pub fn run_round<E: hostgraph::Executor>(
    rt: &mut Runtime<E>,
    plugin: &Plugin,
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
