//! vector_example: f = (a + b + 1) * (a + b + 2) as four AIV tasks in a
//! diamond — t0: c = a + b; t1: d = c + 1; t2: e = c + 2; t3: f = d * e.
//!
//! Kernel argument words: `[in0, in1 (pointer or f32 bits), out, n]`.

use hostgraph::{Error, KernelFn, OwnedArgs, RunReport, Runtime};
use hostgraph_orch_abi::{DType, OrchTensor};

use crate::plugins::Orchestration;

/// func_id of `out = a + b`.
pub const FUNC_ADD: i32 = 0;
/// func_id of `out = in + scalar`.
pub const FUNC_ADD_SCALAR: i32 = 1;
/// func_id of `out = a * b`.
pub const FUNC_MUL: i32 = 2;
/// Elements in the example's vectors.
pub const ELEMENTS: usize = 16_384;

/// # Safety
/// `args` are `[a, b, out, n]` with device pointers to `n` f32s each.
unsafe fn slices<'a>(args: &[u64]) -> (&'a [f32], &'a mut [f32]) {
    let n = args[3] as usize;
    // SAFETY: forwarded from the caller.
    unsafe {
        (
            std::slice::from_raw_parts(args[0] as *const f32, n),
            std::slice::from_raw_parts_mut(args[2] as *mut f32, n),
        )
    }
}

fn add(args: &[u64]) {
    // SAFETY: the orchestration passes `[a, b, out, n]`, all device buffers of n f32s.
    let ((a, out), b) = unsafe {
        (
            slices(args),
            std::slice::from_raw_parts(args[1] as *const f32, args[3] as usize),
        )
    };
    for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
        *o = x + y;
    }
}

fn add_scalar(args: &[u64]) {
    // SAFETY: the orchestration passes `[in, scalar bits, out, n]`.
    let (a, out) = unsafe { slices(args) };
    let s = f32::from_bits(args[1] as u32);
    for (o, x) in out.iter_mut().zip(a) {
        *o = x + s;
    }
}

fn mul(args: &[u64]) {
    // SAFETY: the orchestration passes `[a, b, out, n]`, all device buffers of n f32s.
    let ((a, out), b) = unsafe {
        (
            slices(args),
            std::slice::from_raw_parts(args[1] as *const f32, args[3] as usize),
        )
    };
    for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
        *o = x * y;
    }
}

/// Registers the three kernels.
pub fn register_kernels<E: hostgraph::backend::Backend>(rt: &mut Runtime<E>) {
    rt.register_kernel(FUNC_ADD, KernelFn::rust(add).named("add"));
    rt.register_kernel(
        FUNC_ADD_SCALAR,
        KernelFn::rust(add_scalar).named("add_scalar"),
    );
    rt.register_kernel(FUNC_MUL, KernelFn::rust(mul).named("mul"));
}

/// The reference, computed directly: `(a + b + 1) * (a + b + 2)`.
pub fn reference(a: &[f32], b: &[f32]) -> Vec<f32> {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x + y + 1.0) * (x + y + 2.0))
        .collect()
}

/// One round: register kernels, build with `plugin` over `a`, `b`, run,
/// finalize; returns `f` and the run's report.
pub fn run_round<E: hostgraph::backend::Backend>(
    rt: &mut Runtime<E>,
    plugin: &impl Orchestration,
    a: &[f32],
    b: &[f32],
) -> Result<(Vec<f32>, RunReport), Error> {
    let mut f = vec![0.0f32; a.len()];
    let n = a.len() as u64;
    let mut args = OwnedArgs::new();
    args.push_tensor(OrchTensor::new(a.as_ptr(), &[n], DType::F32))
        .push_tensor(OrchTensor::new(b.as_ptr(), &[n], DType::F32))
        .push_tensor(OrchTensor::new(f.as_mut_ptr(), &[n], DType::F32));
    register_kernels(rt);
    // SAFETY: the plugin records `f` as the only tensor pair, and `f`
    // (like the inputs) lives, unmoved, until the round has finalized.
    let report = unsafe { crate::plugins::build_run_finalize(rt, plugin, &args)? };
    Ok((f, report))
}
