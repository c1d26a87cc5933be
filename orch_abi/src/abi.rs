//! `#[repr(C)]` mirrors of the structs, function table and constants in
//! `include/orchestration_api.h`.
//!
//! Every layout here is checked field by field against the C compiler in
//! `tests/layout.rs`.

use core::ffi::{c_int, c_void};

/// `HOSTGRAPH_ORCH_ABI_VERSION`: the ABI version this crate and the header
/// describe.
pub const ABI_VERSION: u32 = 1;

/// `ORCH_MAX_TENSOR_DIMS`: the number of entries in [`OrchTensor::shape`].
pub const MAX_TENSOR_DIMS: usize = 5;

/// `ORCH_MAX_TASK_ARGS`: the most 64-bit argument words one task may take.
pub const MAX_TASK_ARGS: usize = 4096;

/// `ORCH_RESERVED_TASK_ID`: task ids at or above this value are reserved for
/// the dispatch protocol (idle / exit / no-task markers) and never handed out.
pub const RESERVED_TASK_ID: u32 = 0x7FFF_FFF0;

/// The NUL-terminated name of the `u32` symbol a plugin exports to announce
/// its ABI version (ready for `dlsym`-style lookups).
pub const ABI_VERSION_SYMBOL: &[u8] = b"hostgraph_orch_abi_version\0";

/// The symbol name of a plugin's entry point unless configured otherwise.
pub const DEFAULT_ENTRY_SYMBOL: &str = "entry";

/// The `table_size` a runtime built against this crate stores in its
/// [`OrchestrationRuntimeOps`] (`sizeof(OrchestrationRuntimeOps)`).
// The table is a handful of pointers, so the cast cannot truncate.
pub const OPS_TABLE_SIZE: u32 = size_of::<OrchestrationRuntimeOps>() as u32;

/// `OrchTensor`: a host tensor handed to the entry point (64 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct OrchTensor {
    /// Host address of the data.
    pub addr: u64,
    /// Extent of each dimension; only the first `ndim` are meaningful.
    pub shape: [u64; MAX_TENSOR_DIMS],
    /// Number of meaningful dimensions in `shape`.
    pub ndim: u32,
    /// Element type, an `OrchDType` code (see [`crate::DType`]).
    pub dtype: u32,
    /// Size of the data in bytes.
    pub nbytes: u64,
}

/// `OrchArgs`: the arguments of one entry call (24 bytes on 64-bit targets).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct OrchArgs {
    /// `num_tensors` tensors (may be null when `num_tensors` is 0).
    pub tensors: *const OrchTensor,
    /// `num_scalars` scalar words (may be null when `num_scalars` is 0).
    pub scalars: *const u64,
    /// Number of entries behind `tensors`.
    pub num_tensors: u32,
    /// Number of entries behind `scalars`.
    pub num_scalars: u32,
}

/// `OrchestrationRuntime`: the handle passed to the entry point.
///
/// Only the leading `ops` pointer is part of the ABI; the runtime's private
/// data follows it, so a runtime embeds this struct as the first field of a
/// `#[repr(C)]` struct and casts the pointer back in its table functions.
#[repr(C)]
#[derive(Debug)]
pub struct OrchestrationRuntime {
    /// The runtime's function table.
    pub ops: *const OrchestrationRuntimeOps,
}

/// `OrchestrationRuntimeOps`: the function table the runtime fills.
///
/// Every entry is always set, so the pointers are not optional. All fallible
/// entries return `0` / a value `>= 0` on success and a negative
/// [`crate::OrchStatus`] code on failure.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct OrchestrationRuntimeOps {
    /// [`ABI_VERSION`] of the runtime that built the table.
    pub abi_version: u32,
    /// `sizeof(OrchestrationRuntimeOps)` as the runtime built it
    /// ([`OPS_TABLE_SIZE`] for a runtime built against this crate).
    pub table_size: u32,
    /// `add_task(rt, args, num_args, func_id, core_type)`: the new task id
    /// (`>= 0`) or a negative status.
    pub add_task: unsafe extern "C" fn(
        rt: *mut OrchestrationRuntime,
        args: *const u64,
        num_args: u32,
        func_id: i32,
        core_type: i32,
    ) -> i32,
    /// `add_successor(rt, from_task, to_task)`: `to_task` waits for
    /// `from_task`.
    pub add_successor:
        unsafe extern "C" fn(rt: *mut OrchestrationRuntime, from_task: i32, to_task: i32) -> i32,
    /// `record_tensor_pair(rt, host_ptr, dev_ptr, nbytes)`: copy `nbytes`
    /// from `dev_ptr` back to `host_ptr` when the run is finalized.
    pub record_tensor_pair: unsafe extern "C" fn(
        rt: *mut OrchestrationRuntime,
        host_ptr: *mut c_void,
        dev_ptr: *mut c_void,
        nbytes: u64,
    ) -> i32,
    /// `get_task_count(rt)`: the number of tasks added so far (`>= 0`) or a
    /// negative status.
    pub get_task_count: unsafe extern "C" fn(rt: *mut OrchestrationRuntime) -> i32,
    /// `print_runtime(rt)`: log a one-line summary of the graph built so
    /// far (hostgraph: `log::info!` with target `hostgraph::print_runtime`,
    /// not stdout).
    pub print_runtime: unsafe extern "C" fn(rt: *mut OrchestrationRuntime),
    /// `device_malloc(rt, nbytes)`: device memory, or null on failure (the
    /// runtime latches the reason).
    pub device_malloc:
        unsafe extern "C" fn(rt: *mut OrchestrationRuntime, nbytes: u64) -> *mut c_void,
    /// `device_free(rt, dev_ptr)`: release memory from `device_malloc`
    /// (null: nothing to do).
    pub device_free:
        unsafe extern "C" fn(rt: *mut OrchestrationRuntime, dev_ptr: *mut c_void) -> i32,
    /// `copy_to_device(rt, dev_ptr, host_ptr, nbytes)`: synchronous copy of
    /// `nbytes` from `host_ptr` to `dev_ptr`.
    pub copy_to_device: unsafe extern "C" fn(
        rt: *mut OrchestrationRuntime,
        dev_ptr: *mut c_void,
        host_ptr: *const c_void,
        nbytes: u64,
    ) -> i32,
}

/// `OrchestrationEntryFn`: the plugin's entry point; `0` means success.
pub type OrchestrationEntryFn =
    unsafe extern "C" fn(rt: *mut OrchestrationRuntime, args: *const OrchArgs) -> c_int;
