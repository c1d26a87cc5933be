//! The C ABI between the hostgraph host runtime and orchestration plugins,
//! with a safe Rust facade.
//!
//! An orchestration plugin is a shared object that builds a static graph of
//! kernel tasks. The runtime loads it, reads its `hostgraph_orch_abi_version`
//! symbol ([`ABI_VERSION_SYMBOL`]) and refuses a mismatch, then calls its
//! entry point ([`OrchestrationEntryFn`], symbol [`DEFAULT_ENTRY_SYMBOL`])
//! with an [`OrchestrationRuntime`] handle whose [`OrchestrationRuntimeOps`]
//! table adds tasks and edges and manages device memory.
//!
//! - [`HEADER`] / [`include_dir`]: the C header `orchestration_api.h`, for
//!   plugins written in C or C++.
//! - `#[repr(C)]` mirrors of the header: [`OrchTensor`], [`OrchArgs`],
//!   [`OrchestrationRuntime`], [`OrchestrationRuntimeOps`] and the ABI
//!   constants; [`CoreType`], [`OrchStatus`] and [`DType`] mirror the enums.
//! - For plugins written in Rust: [`Orchestrator`] (a checked handle on the
//!   runtime), [`ArgsView`] (the entry arguments), [`OrchError`], and the
//!   [`export_orchestration!`] macro that turns a build function into an
//!   exported entry point.
//! - For hosts: [`OwnedArgs`] and [`OrchTensor::new`] to build arguments.
//! - [`reference`](mod@reference): mirrors of the reference runtime's interface (simpler's
//!   `host_build_graph`), whose orchestration sources compile unchanged
//!   against `include/reference/orchestration_api.h`.
//!
//! # Contract
//!
//! The entry returns 0 on success. The runtime also latches the first table
//! call that failed and fails the build even if the entry returns 0. Task ids
//! are dense from 0 in the order tasks were added; ids at or above
//! [`RESERVED_TASK_ID`] are reserved. A task takes at most [`MAX_TASK_ARGS`]
//! argument words. Device pointers are only valid for the current build/run.
//!
//! # Example
//!
//! A Rust build function, driven here through a tiny in-process runtime that
//! records the calls made through its table (a real plugin would instead
//! export it with `export_orchestration!(build)` and be loaded by the
//! runtime):
//!
//! ```
//! use hostgraph_orch_abi::{
//!     ABI_VERSION, ArgsView, CoreType, DType, OPS_TABLE_SIZE, OrchError, OrchTensor,
//!     OrchestrationRuntime, OrchestrationRuntimeOps, Orchestrator, OwnedArgs,
//! };
//! use std::ffi::c_void;
//!
//! /// Two tasks: scale the input on a vector core, then reduce it on a cube core.
//! fn build(orch: &mut Orchestrator<'_>, args: &ArgsView<'_>) -> Result<(), OrchError> {
//!     let input = args.tensor(0)?;
//!     // SAFETY: the host passed a valid f32 tensor that nothing else touches.
//!     let data: &[f32] = unsafe { input.host_slice() };
//!     let dev = orch.upload(data)?;
//!     let n = input.numel();
//!     let scale = orch.add_task(&[dev.as_arg(), n, args.scalar(0)?], 7, CoreType::Aiv)?;
//!     let reduce = orch.add_task(&[dev.as_arg(), n], 8, CoreType::Aic)?;
//!     orch.add_successor(scale, reduce)?;
//!     assert_eq!(orch.task_count(), 2);
//!     Ok(())
//! }
//!
//! /// The fake runtime: the ABI handle first, recorded state after it.
//! #[repr(C)]
//! struct Recorder {
//!     rt: OrchestrationRuntime,
//!     tasks: Vec<(i32, i32, Vec<u64>)>,
//!     edges: Vec<(i32, i32)>,
//!     device: Vec<Vec<u8>>,
//! }
//!
//! /// The recorder behind `rt`.
//! ///
//! /// # Safety
//! ///
//! /// `rt` must be the `rt` field of a live `Recorder`.
//! unsafe fn me<'a>(rt: *mut OrchestrationRuntime) -> &'a mut Recorder {
//!     // SAFETY: `rt` is the first field of a `#[repr(C)]` Recorder.
//!     unsafe { &mut *rt.cast::<Recorder>() }
//! }
//! unsafe extern "C" fn add_task(
//!     rt: *mut OrchestrationRuntime, args: *const u64, n: u32, func: i32, core: i32,
//! ) -> i32 {
//!     // SAFETY: the runtime handle is a Recorder; `args` holds `n` words.
//!     let (me, args) = unsafe { (me(rt), std::slice::from_raw_parts(args, n as usize)) };
//!     me.tasks.push((func, core, args.to_vec()));
//!     me.tasks.len() as i32 - 1
//! }
//! unsafe extern "C" fn add_successor(rt: *mut OrchestrationRuntime, from: i32, to: i32) -> i32 {
//!     // SAFETY: the runtime handle is a Recorder.
//!     unsafe { me(rt) }.edges.push((from, to));
//!     0
//! }
//! unsafe extern "C" fn get_task_count(rt: *mut OrchestrationRuntime) -> i32 {
//!     // SAFETY: the runtime handle is a Recorder.
//!     unsafe { me(rt) }.tasks.len() as i32
//! }
//! unsafe extern "C" fn device_malloc(rt: *mut OrchestrationRuntime, nbytes: u64) -> *mut c_void {
//!     // SAFETY: the runtime handle is a Recorder.
//!     let me = unsafe { me(rt) };
//!     me.device.push(vec![0; nbytes as usize]);
//!     me.device.last_mut().unwrap().as_mut_ptr().cast()
//! }
//! unsafe extern "C" fn copy_to_device(
//!     _: *mut OrchestrationRuntime, dev: *mut c_void, host: *const c_void, nbytes: u64,
//! ) -> i32 {
//!     // SAFETY: `dev` came from device_malloc with room for `nbytes`, and
//!     // `host` holds `nbytes` bytes.
//!     unsafe { std::ptr::copy_nonoverlapping(host.cast::<u8>(), dev.cast::<u8>(), nbytes as usize) };
//!     0
//! }
//! unsafe extern "C" fn record_tensor_pair(
//!     _: *mut OrchestrationRuntime, _: *mut c_void, _: *mut c_void, _: u64,
//! ) -> i32 {
//!     0
//! }
//! unsafe extern "C" fn print_runtime(_: *mut OrchestrationRuntime) {}
//! unsafe extern "C" fn device_free(_: *mut OrchestrationRuntime, _: *mut c_void) -> i32 {
//!     0
//! }
//!
//! static OPS: OrchestrationRuntimeOps = OrchestrationRuntimeOps {
//!     abi_version: ABI_VERSION,
//!     table_size: OPS_TABLE_SIZE,
//!     add_task,
//!     add_successor,
//!     record_tensor_pair,
//!     get_task_count,
//!     print_runtime,
//!     device_malloc,
//!     device_free,
//!     copy_to_device,
//! };
//!
//! let mut recorder = Recorder {
//!     rt: OrchestrationRuntime { ops: &OPS },
//!     tasks: Vec::new(),
//!     edges: Vec::new(),
//!     device: Vec::new(),
//! };
//! let mut input = [1.0f32, 2.0, 3.0];
//! let mut args = OwnedArgs::new();
//! args.push_tensor(OrchTensor::new(input.as_mut_ptr(), &[3], DType::F32)).push_scalar(2);
//!
//! {
//!     // The handle is derived from the whole Recorder, so the table
//!     // functions may reach the fields after `rt`.
//!     let rt = (&raw mut recorder).cast::<OrchestrationRuntime>();
//!     // SAFETY: `rt` is a valid handle on a table of this ABI version for
//!     // as long as `orch` lives, and nothing else touches `recorder` then.
//!     let mut orch = unsafe { Orchestrator::from_raw(rt) }.unwrap();
//!     build(&mut orch, &args.view()).unwrap();
//! }
//!
//! let dev = recorder.device[0].as_ptr() as u64;
//! assert_eq!(
//!     recorder.tasks,
//!     [(7, CoreType::Aiv as i32, vec![dev, 3, 2]), (8, CoreType::Aic as i32, vec![dev, 3])]
//! );
//! assert_eq!(recorder.edges, [(0, 1)]);
//! assert_eq!(recorder.device[0], bytes_of(&input));
//!
//! /// The bytes of `values`, as the device copy should hold them.
//! fn bytes_of(values: &[f32]) -> Vec<u8> {
//!     values.iter().flat_map(|v| v.to_ne_bytes()).collect()
//! }
//! ```

mod abi;
mod args;
mod error;
mod export;
mod facade;
mod header;
pub mod reference;
mod types;

pub use abi::{
    ABI_VERSION, ABI_VERSION_SYMBOL, DEFAULT_ENTRY_SYMBOL, MAX_TASK_ARGS, MAX_TENSOR_DIMS,
    OPS_TABLE_SIZE, OrchArgs, OrchTensor, OrchestrationEntryFn, OrchestrationRuntime,
    OrchestrationRuntimeOps, RESERVED_TASK_ID,
};
pub use args::{ArgsView, OwnedArgs};
pub use error::OrchError;
pub use export::{BuildFn, OK_STATUS_ERROR_EXIT_CODE, PANIC_EXIT_CODE, run_entry};
pub use facade::{DevicePtr, Orchestrator, TaskId};
pub use header::{HEADER, HEADER_NAME, include_dir};
pub use types::{CoreType, DType, OrchStatus};
