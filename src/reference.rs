//! Orchestration written for the reference runtime (simpler's
//! `host_build_graph`), run on hostgraph: the reference's eight-entry ops
//! table over the same [`GraphBuilder`] as the native one (through the
//! calls both share), the `ChipStorageTaskArgs` its entry receives, built
//! from the caller's [`OwnedArgs`], and [`Runtime::build_with_reference`].
//!
//! The reference's `add_successor`, `record_tensor_pair` and `device_free`
//! return nothing, so an orchestration cannot see them fail; the builder
//! latches the first failure of any call and the build fails with it (the
//! reference dropped a bad edge silently).

use std::ffi::{c_int, c_void};

use hostgraph_orch_abi::reference::{
    ChipStorageTaskArgs, ContinuousTensor, DataType, MAX_DIMS, MAX_SCALARS, MAX_TENSORS,
    ReferenceEntryFn, ReferenceRuntime, ReferenceRuntimeOps,
};
use hostgraph_orch_abi::{DType, OrchStatus, OrchTensor, OwnedArgs};

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::graph::GraphBuilder;
use crate::plugin::ReferencePlugin;
use crate::runtime::{Runtime, RuntimeWorld};
use crate::vtable::{HostRuntime, ops, with_builder};

impl<B: Backend, W: RuntimeWorld> Runtime<B, W> {
    /// Builds a graph by calling a reference-runtime plugin's entry with
    /// `args`, passed to it as the reference's `ChipStorageTaskArgs`: at most
    /// 16 tensors (each of at most 5 dims, every extent below 2³², a dtype
    /// the reference has, `nbytes` matching shape and dtype) and 128 scalar
    /// words. Arguments that do not fit are refused with
    /// [`Error::ReferenceArgs`] before the plugin runs.
    ///
    /// As with [`build_with_plugin`](Self::build_with_plugin), the first
    /// call through the table that failed fails the build (even if the
    /// entry returned 0), a non-zero return fails it with
    /// [`Error::PluginFailed`], and a failed build leaves nothing behind.
    ///
    /// ```no_run
    /// use hostgraph::{OwnedArgs, ReferencePlugin, Runtime, RuntimeConfig};
    /// use hostgraph_orch_abi::{DType, OrchTensor};
    ///
    /// // g++ -std=c++17 -fPIC -shared -I orch_abi/include/reference example_orch.cpp -o libexample_orch.so
    /// let plugin = unsafe { ReferencePlugin::load("./libexample_orch.so", "build_example_graph")? };
    /// let (a, b, mut f) = (vec![2.0f32; 16], vec![3.0f32; 16], vec![0.0f32; 16]);
    /// let mut args = OwnedArgs::new();
    /// args.push_tensor(OrchTensor::new(a.as_ptr(), &[16], DType::F32))
    ///     .push_tensor(OrchTensor::new(b.as_ptr(), &[16], DType::F32))
    ///     .push_tensor(OrchTensor::new(f.as_mut_ptr(), &[16], DType::F32));
    /// let mut rt = Runtime::new(RuntimeConfig::default())?;
    /// // ... register the kernels the orchestration's func_ids name ...
    /// // SAFETY: `a`, `b` and `f` stay in place until finalize.
    /// unsafe { rt.build_with_reference(&plugin, &args)? };
    /// rt.run()?;
    /// rt.finalize()?;
    /// # Ok::<(), hostgraph::Error>(())
    /// ```
    ///
    /// # Safety
    /// The plugin's code runs here; the host pointers it records as tensor
    /// pairs (typically from `args`) must stay valid until
    /// [`finalize`](Self::finalize).
    pub unsafe fn build_with_reference(
        &mut self,
        plugin: &ReferencePlugin,
        args: &OwnedArgs,
    ) -> Result<()> {
        let chip = chip_storage_args(args)?;
        self.build(|g| {
            // SAFETY: the plugin passed its checks at load (an entry of the
            // reference's signature is the caller's promise); `chip` outlives
            // the call.
            let code = unsafe { call_entry(plugin.entry, g, &chip) };
            if code == 0 {
                Ok(())
            } else {
                Err(Error::PluginFailed {
                    entry: plugin.entry_name().to_owned(),
                    code,
                })
            }
        })
    }
}

/// `args` as the reference's `ChipStorageTaskArgs`, or why they do not fit.
fn chip_storage_args(args: &OwnedArgs) -> Result<Box<ChipStorageTaskArgs>> {
    let (tensors, scalars) = (args.tensors(), args.scalars());
    let bad = |what: String| Err(Error::ReferenceArgs(what));
    if tensors.len() > MAX_TENSORS {
        return bad(format!(
            "{} tensors; ChipStorageTaskArgs holds at most {MAX_TENSORS}",
            tensors.len()
        ));
    }
    if scalars.len() > MAX_SCALARS {
        return bad(format!(
            "{} scalars; ChipStorageTaskArgs holds at most {MAX_SCALARS}",
            scalars.len()
        ));
    }
    let mut chip = Box::<ChipStorageTaskArgs>::default();
    for (i, t) in tensors.iter().enumerate() {
        chip.tensors[i] = continuous_tensor(t)
            .map_err(|why| Error::ReferenceArgs(format!("tensor {i}: {why}")))?;
    }
    chip.scalars[..scalars.len()].copy_from_slice(scalars);
    // Both counts are at most 128 (checked above).
    chip.tensor_count = tensors.len() as i32;
    chip.scalar_count = scalars.len() as i32;
    Ok(chip)
}

/// `t` as a `ContinuousTensor`, or why it has none.
fn continuous_tensor(t: &OrchTensor) -> std::result::Result<ContinuousTensor, String> {
    let dtype = DType::from_code(t.dtype).ok_or(format!("unknown dtype code {}", t.dtype))?;
    let data_type = DataType::from_dtype(dtype).ok_or(format!(
        "dtype {dtype} has no DataType in the reference runtime"
    ))?;
    if t.ndim as usize > MAX_DIMS {
        return Err(format!(
            "{} dims; a ContinuousTensor has at most {MAX_DIMS}",
            t.ndim
        ));
    }
    let mut shapes = [0u32; MAX_DIMS];
    for (d, (slot, &extent)) in shapes.iter_mut().zip(t.dims()).enumerate() {
        *slot = u32::try_from(extent).map_err(|_| {
            format!("extent {extent} of dim {d} does not fit the reference's 32-bit shapes")
        })?;
    }
    let tensor = ContinuousTensor {
        data: t.addr,
        shapes,
        ndims: t.ndim,
        dtype: data_type.code(),
    };
    // Exact: at most 5 extents below 2^32 times 8 bytes can overflow u64,
    // where the header's nbytes() would wrap.
    let exact = t
        .dims()
        .iter()
        .try_fold(dtype.size_bytes() as u128, |n, &d| {
            n.checked_mul(u128::from(d))
        });
    if exact != Some(u128::from(t.nbytes)) {
        return Err(format!(
            "nbytes {} does not match its shape {:?} of {dtype} (the reference derives it from them)",
            t.nbytes,
            t.dims()
        ));
    }
    Ok(tensor)
}

static OPS: ReferenceRuntimeOps = ReferenceRuntimeOps {
    add_task: op_add_task,
    add_successor: op_add_successor,
    record_tensor_pair: op_record_tensor_pair,
    get_task_count: op_get_task_count,
    print_runtime: op_print_runtime,
    device_malloc: op_device_malloc,
    device_free: op_device_free,
    copy_to_device: op_copy_to_device,
};

/// Calls a reference-runtime entry with the reference ops table wired to
/// `builder`.
///
/// # Safety
/// `entry` must have the reference's entry signature.
unsafe fn call_entry(
    entry: ReferenceEntryFn,
    builder: &mut GraphBuilder<'_>,
    args: &ChipStorageTaskArgs,
) -> i32 {
    let mut host = HostRuntime::new(ReferenceRuntime { ops: &OPS }, builder);
    // SAFETY: `host` and `args` outlive the call; the handle starts with
    // the reference's `OrchestrationRuntime` header; the caller vouches for
    // `entry`.
    host.call(|rt| unsafe { entry(rt, args) })
}

/// The reference entries: the pointers are the plugin's (see
/// `include/reference/orchestration_api.h`).
type Rt = *mut ReferenceRuntime;

const NULL_RT: c_int = OrchStatus::NullArgument.code();

unsafe extern "C" fn op_add_task(
    rt: Rt,
    args: *mut u64,
    num_args: c_int,
    func_id: c_int,
    core_type: i32,
) -> c_int {
    with_builder(rt, NULL_RT, |b| {
        let Ok(n) = usize::try_from(num_args) else {
            return ops::refuse(
                b,
                Error::NegativeArgCount {
                    func_id,
                    count: num_args,
                },
            );
        };
        // SAFETY: the interface's contract: `num_args` readable words at `args`.
        unsafe { ops::add_task(b, args, n, func_id, core_type) }
    })
}

unsafe extern "C" fn op_add_successor(rt: Rt, from: c_int, to: c_int) {
    with_builder(rt, 0, |b| ops::add_successor(b, from, to));
}

unsafe extern "C" fn op_record_tensor_pair(
    rt: Rt,
    host: *mut c_void,
    dev: *mut c_void,
    size: usize,
) {
    // SAFETY: the interface's contract: the host buffer stays valid until finalize.
    with_builder(rt, 0, |b| unsafe {
        ops::record_tensor_pair(b, host, dev, size as u64)
    });
}

unsafe extern "C" fn op_get_task_count(rt: Rt) -> c_int {
    with_builder(rt, NULL_RT, ops::task_count)
}

unsafe extern "C" fn op_print_runtime(rt: Rt) {
    with_builder(rt, (), ops::print_runtime)
}

unsafe extern "C" fn op_device_malloc(rt: Rt, size: usize) -> *mut c_void {
    with_builder(rt, std::ptr::null_mut(), |b| {
        ops::device_malloc(b, size as u64)
    })
}

unsafe extern "C" fn op_device_free(rt: Rt, ptr: *mut c_void) {
    with_builder(rt, 0, |b| ops::device_free(b, ptr));
}

unsafe extern "C" fn op_copy_to_device(
    rt: Rt,
    dev: *mut c_void,
    host: *const c_void,
    size: usize,
) -> c_int {
    // SAFETY: the interface's contract: `size` readable bytes at a non-null `host`.
    with_builder(rt, NULL_RT, |b| unsafe {
        ops::copy_to_device(b, dev, host, size as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(dims: &[u64], dtype: DType) -> OrchTensor {
        OrchTensor::new(std::ptr::null::<u8>(), dims, dtype)
    }

    #[test]
    fn args_become_chip_storage_args() {
        let mut args = OwnedArgs::new();
        args.push_tensor(OrchTensor {
            addr: 0x1000,
            ..tensor(&[2, 3], DType::BF16)
        })
        .push_tensor(tensor(&[], DType::I64))
        .push_scalar(7)
        .push_scalar(u64::MAX);
        let chip = chip_storage_args(&args).unwrap();
        assert_eq!((chip.tensor_count, chip.scalar_count), (2, 2));
        let t = chip.tensors[0];
        assert_eq!((t.data, t.shapes, t.ndims), (0x1000, [2, 3, 0, 0, 0], 2));
        assert_eq!((t.dtype, t.nbytes()), (DataType::Bfloat16.code(), 12));
        assert_eq!(chip.tensors[1].nbytes(), 8);
        assert_eq!(chip.scalars[..3], [7, u64::MAX, 0]);
    }

    #[test]
    fn what_does_not_fit_is_refused_naming_it() {
        let refused = |args: &OwnedArgs| match chip_storage_args(args) {
            Err(Error::ReferenceArgs(why)) => why,
            other => panic!("expected ReferenceArgs, got {other:?}"),
        };
        let many = OwnedArgs::from_parts(vec![tensor(&[1], DType::F32); 17], vec![]);
        assert!(refused(&many).starts_with("17 tensors"));
        let scalars = OwnedArgs::from_parts(vec![], vec![0; 129]);
        assert!(refused(&scalars).starts_with("129 scalars"));
        let cases = [
            (
                tensor(&[4], DType::F64),
                "tensor 0: dtype f64 has no DataType",
            ),
            (
                tensor(&[1 << 32], DType::U8),
                "tensor 0: extent 4294967296 of dim 0",
            ),
            (
                OrchTensor {
                    nbytes: 5,
                    ..tensor(&[4], DType::F32)
                },
                "tensor 0: nbytes 5",
            ),
            (
                OrchTensor {
                    dtype: 99,
                    ..tensor(&[4], DType::F32)
                },
                "tensor 0: unknown dtype code 99",
            ),
            (
                OrchTensor {
                    ndim: 6,
                    ..tensor(&[4], DType::F32)
                },
                "tensor 0: 6 dims",
            ),
        ];
        for (t, want) in cases {
            let why = refused(&OwnedArgs::from_parts(vec![t], vec![]));
            assert!(why.starts_with(want), "{why}");
        }
    }
}
