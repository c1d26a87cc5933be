//! vector_example's orchestration in Rust: the same graph as
//! `examples/orch/vector_example.c`, through the safe facade.

use hostgraph_orch_abi::{
    ArgsView, CoreType, OrchError, OrchStatus, Orchestrator, export_orchestration,
};

const FUNC_ADD: i32 = 0;
const FUNC_ADD_SCALAR: i32 = 1;
const FUNC_MUL: i32 = 2;

fn build(rt: &mut Orchestrator<'_>, args: &ArgsView<'_>) -> Result<(), OrchError> {
    let (a, b, f) = (args.tensor(0)?, args.tensor(1)?, args.tensor(2)?);
    let bytes = a.nbytes;
    if b.nbytes != bytes || f.nbytes != bytes || bytes == 0 {
        return Err(OrchError::new(
            "vector_example: tensor sizes",
            OrchStatus::OutOfBounds,
        ));
    }
    let n = bytes / 4;
    let malloc = |rt: &mut Orchestrator<'_>| rt.device_malloc(bytes);
    let (dev_a, dev_b, dev_f) = (malloc(rt)?, malloc(rt)?, malloc(rt)?);
    let (dev_c, dev_d, dev_e) = (malloc(rt)?, malloc(rt)?, malloc(rt)?);
    // SAFETY: the host passes tensor addresses valid for `nbytes` bytes for
    // the entry call (a, b) and until finalize (f).
    unsafe {
        rt.copy_to_device(
            dev_a,
            std::slice::from_raw_parts(a.addr as *const u8, bytes as usize),
        )?;
        rt.copy_to_device(
            dev_b,
            std::slice::from_raw_parts(b.addr as *const u8, bytes as usize),
        )?;
        rt.record_tensor_pair(f.addr as *mut u8, dev_f, bytes)?;
    }
    let one = u64::from(1.0f32.to_bits());
    let two = u64::from(2.0f32.to_bits());
    let t0 = rt.add_task(
        &[dev_a.as_arg(), dev_b.as_arg(), dev_c.as_arg(), n],
        FUNC_ADD,
        CoreType::Aiv,
    )?;
    let t1 = rt.add_task(
        &[dev_c.as_arg(), one, dev_d.as_arg(), n],
        FUNC_ADD_SCALAR,
        CoreType::Aiv,
    )?;
    let t2 = rt.add_task(
        &[dev_c.as_arg(), two, dev_e.as_arg(), n],
        FUNC_ADD_SCALAR,
        CoreType::Aiv,
    )?;
    let t3 = rt.add_task(
        &[dev_d.as_arg(), dev_e.as_arg(), dev_f.as_arg(), n],
        FUNC_MUL,
        CoreType::Aiv,
    )?;
    rt.add_successor(t0, t1)?;
    rt.add_successor(t0, t2)?;
    rt.add_successor(t1, t3)?;
    rt.add_successor(t2, t3)
}

export_orchestration!(build);
