//! matmul: a diamond of two vector and two cube tasks over 128×128 matrices —
//! t0 (AIV): `B = sqrt(ln(A))`; t1, t2 (AIC): `C = B·W1`, `D = B·W2`;
//! t3 (AIV): `F = exp(C + D)`.
//!
//! With `A = e⁴` and `W1 = W2 = 1/256` everywhere, `B = 2`, `C = D = 1` and
//! `F = e² ≈ 7.389`.
//!
//! Dtypes, as on the chip (the cube takes f16 operands and accumulates in
//! f32): `A`, `W1`, `W2` are f16 inputs; `B` is stored f16 (t0 computes in
//! f32 and rounds); `C`, `D` are f32 (f32 accumulation); `F` is f32.
//!
//! The reference runtime's conventions: the plugin gets tensors `[a, w1, w2,
//! f]`, each a flat `[SIZE × SIZE]` row-major matrix, and every kernel's
//! last word is `SIZE × SIZE`, the element count (`tensor(0).shapes[0]`):
//! - [`FUNC_LOG_SQRT`]: `[a (f16), b (f16), n]`
//! - [`FUNC_MATMUL`]: `[a (f16), w (f16), c (f32), n]`: square matrices of
//!   `sqrt(n)` rows
//! - [`FUNC_ADD_EXP`]: `[c (f32), d (f32), f (f32), n]`

use half::f16;
use hostgraph::{Error, KernelFn, OwnedArgs, RunReport, Runtime};
use hostgraph_orch_abi::{DType, OrchTensor};

use crate::plugins::Orchestration;

/// func_id of `b = sqrt(ln(a))` (AIV).
pub const FUNC_LOG_SQRT: i32 = 0;
/// func_id of the f16 × f16 → f32 matrix product (AIC).
pub const FUNC_MATMUL: i32 = 1;
/// func_id of `f = exp(c + d)` (AIV).
pub const FUNC_ADD_EXP: i32 = 2;
/// Rows and columns of every matrix.
pub const SIZE: usize = 128;
/// Largest accepted absolute error of `F`.
pub const TOLERANCE: f64 = 1e-2;
/// The value every element of `F` should have: e².
pub const EXPECTED: f64 = 7.389_056_098_930_65;

/// The host inputs, row-major `SIZE × SIZE`.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// `A = e⁴`.
    pub a: Vec<f16>,
    /// `W1 = 1/256`.
    pub w1: Vec<f16>,
    /// `W2 = 1/256`.
    pub w2: Vec<f16>,
}

impl Inputs {
    /// The example's inputs: `A = e⁴`, `W1 = W2 = 1/256`.
    pub fn new() -> Self {
        let n = SIZE * SIZE;
        let w = f16::from_f64(1.0 / 256.0);
        Inputs {
            a: vec![f16::from_f64(4f64.exp()); n],
            w1: vec![w; n],
            w2: vec![w; n],
        }
    }
}

impl Default for Inputs {
    fn default() -> Self {
        Self::new()
    }
}

/// # Safety
/// `ptr` points to `len` initialised, live `T`s that nothing writes meanwhile.
unsafe fn input<'a, T>(ptr: u64, len: u64) -> &'a [T] {
    // SAFETY: forwarded from the caller.
    unsafe { std::slice::from_raw_parts(ptr as *const T, len as usize) }
}

/// # Safety
/// `ptr` points to `len` live `T`s that nothing else accesses meanwhile.
unsafe fn output<'a, T>(ptr: u64, len: u64) -> &'a mut [T] {
    // SAFETY: forwarded from the caller.
    unsafe { std::slice::from_raw_parts_mut(ptr as *mut T, len as usize) }
}

fn log_sqrt(args: &[u64]) {
    // SAFETY: the orchestration passes `[a, b, n]`, distinct device buffers
    // of n f16s each.
    let (a, b) = unsafe {
        (
            input::<f16>(args[0], args[2]),
            output::<f16>(args[1], args[2]),
        )
    };
    for (y, x) in b.iter_mut().zip(a) {
        *y = f16::from_f32(x.to_f32().ln().sqrt());
    }
}

/// The side of a square matrix of `n` elements.
///
/// # Panics
/// If `n` is not a perfect square.
fn side(n: u64) -> u64 {
    let side = n.isqrt();
    assert_eq!(
        side * side,
        n,
        "matmul: {n} elements is not a square matrix"
    );
    side
}

fn matmul(args: &[u64]) {
    let n = side(args[3]);
    // SAFETY: the orchestration passes `[a, w, c, n²]` with a, w device
    // buffers of n² f16s and c a distinct one of n² f32s.
    let (a, w, c) = unsafe {
        (
            input::<f16>(args[0], n * n),
            input::<f16>(args[1], n * n),
            output::<f32>(args[2], n * n),
        )
    };
    let w: Vec<f32> = w.iter().map(|x| x.to_f32()).collect();
    let n = n as usize;
    for (c_row, a_row) in c.chunks_exact_mut(n).zip(a.chunks_exact(n)) {
        c_row.fill(0.0);
        for (x, w_row) in a_row.iter().zip(w.chunks_exact(n)) {
            let x = x.to_f32();
            for (acc, y) in c_row.iter_mut().zip(w_row) {
                *acc += x * y;
            }
        }
    }
}

fn add_exp(args: &[u64]) {
    // SAFETY: the orchestration passes `[c, d, f, n]`, device buffers of n
    // f32s each, f distinct from c and d.
    let (c, d, f) = unsafe {
        (
            input::<f32>(args[0], args[3]),
            input::<f32>(args[1], args[3]),
            output::<f32>(args[2], args[3]),
        )
    };
    for ((y, x0), x1) in f.iter_mut().zip(c).zip(d) {
        *y = (x0 + x1).exp();
    }
}

/// Registers the three kernels.
pub fn register_kernels<E: hostgraph::backend::Backend>(rt: &mut Runtime<E>) {
    rt.register_kernel(FUNC_LOG_SQRT, KernelFn::rust(log_sqrt).named("log_sqrt"));
    rt.register_kernel(FUNC_MATMUL, KernelFn::rust(matmul).named("matmul"));
    rt.register_kernel(FUNC_ADD_EXP, KernelFn::rust(add_exp).named("add_exp"));
}

/// The reference, computed directly in f64 with plain loops; only `B` is
/// rounded to f16, as the dtype contract stores it.
pub fn reference(inputs: &Inputs) -> Vec<f64> {
    let b: Vec<f64> = inputs
        .a
        .iter()
        .map(|x| f16::from_f64(x.to_f64().ln().sqrt()).to_f64())
        .collect();
    let mut f = vec![0.0; SIZE * SIZE];
    for i in 0..SIZE {
        for j in 0..SIZE {
            let (mut c, mut d) = (0.0, 0.0);
            for k in 0..SIZE {
                c += b[i * SIZE + k] * inputs.w1[k * SIZE + j].to_f64();
                d += b[i * SIZE + k] * inputs.w2[k * SIZE + j].to_f64();
            }
            f[i * SIZE + j] = (c + d).exp();
        }
    }
    f
}

/// Largest `|got - want|` over all elements (infinite for NaN or a length
/// mismatch).
pub fn max_error(got: &[f32], want: &[f64]) -> f64 {
    if got.len() != want.len() {
        return f64::INFINITY;
    }
    got.iter()
        .zip(want)
        .map(|(&g, &w)| {
            let e = (f64::from(g) - w).abs();
            if e.is_nan() { f64::INFINITY } else { e }
        })
        .fold(0.0, f64::max)
}

/// One round: register kernels, build with `plugin` over `inputs`, run,
/// finalize; returns `F` and the run's report.
pub fn run_round<E: hostgraph::backend::Backend>(
    rt: &mut Runtime<E>,
    plugin: &impl Orchestration,
    inputs: &Inputs,
) -> Result<(Vec<f32>, RunReport), Error> {
    let dims = [(SIZE * SIZE) as u64];
    let mut f = vec![0.0f32; SIZE * SIZE];
    let mut args = OwnedArgs::new();
    args.push_tensor(OrchTensor::new(inputs.a.as_ptr(), &dims, DType::F16))
        .push_tensor(OrchTensor::new(inputs.w1.as_ptr(), &dims, DType::F16))
        .push_tensor(OrchTensor::new(inputs.w2.as_ptr(), &dims, DType::F16))
        .push_tensor(OrchTensor::new(f.as_mut_ptr(), &dims, DType::F32));
    register_kernels(rt);
    // SAFETY: the plugin records `f` as the only tensor pair, and `f`
    // (like the inputs) lives, unmoved, until the round has finalized.
    let report = unsafe { crate::plugins::build_run_finalize(rt, plugin, &args)? };
    Ok((f, report))
}
