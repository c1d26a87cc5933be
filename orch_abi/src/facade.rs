//! The safe facade a Rust plugin builds its graph through: [`Orchestrator`],
//! [`TaskId`] and [`DevicePtr`].

use core::ffi::c_void;
use core::fmt;
use core::marker::PhantomData;
use core::ptr::NonNull;

use crate::{
    ABI_VERSION, CoreType, MAX_TASK_ARGS, OrchError, OrchStatus, OrchestrationRuntime,
    OrchestrationRuntimeOps,
};

/// The id of a task, as returned by [`Orchestrator::add_task`]: dense from 0
/// in the order tasks were added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub u32);

impl TaskId {
    /// The id as an index (task `n` is the `n`-th task added, from 0).
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A device address handed out by [`Orchestrator::device_malloc`]; only
/// valid for the current build/run.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DevicePtr(pub u64);

impl DevicePtr {
    /// The address as a task argument word.
    pub const fn as_arg(self) -> u64 {
        self.0
    }

    /// The address `bytes` further on (wrapping; the runtime checks bounds
    /// when the pointer is used).
    pub const fn offset(self, bytes: u64) -> DevicePtr {
        DevicePtr(self.0.wrapping_add(bytes))
    }

    /// Whether this is the null address.
    pub const fn is_null(self) -> bool {
        self.0 == 0
    }

    /// The address as the `void *` the ABI passes.
    pub fn as_mut_ptr(self) -> *mut c_void {
        self.0 as usize as *mut c_void
    }
}

impl fmt::Display for DevicePtr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// A checked handle on the runtime passed to an entry point.
///
/// Every method calls one entry of the runtime's function table and maps its
/// status to a `Result`. Remember that the runtime latches the first failing
/// call and fails the build even if the error is ignored here.
#[derive(Debug)]
pub struct Orchestrator<'rt> {
    /// The runtime handle passed to the entry.
    rt: NonNull<OrchestrationRuntime>,
    /// Its function table, checked by `from_raw`.
    ops: &'rt OrchestrationRuntimeOps,
    /// The handle is borrowed exclusively for `'rt`.
    _rt: PhantomData<&'rt mut OrchestrationRuntime>,
}

impl<'rt> Orchestrator<'rt> {
    /// Wraps the runtime handle `rt` after the same check as the header's
    /// `orch_abi_ok`: a null `rt` or table is refused with
    /// [`OrchStatus::NullArgument`], a table of another ABI version or
    /// smaller than [`OrchestrationRuntimeOps`] with
    /// [`OrchStatus::AbiMismatch`] (both from call `"Orchestrator::from_raw"`).
    ///
    /// # Safety
    ///
    /// If `rt` is non-null it must point to a valid [`OrchestrationRuntime`];
    /// if its `ops` is non-null it must point to at least `table_size`
    /// readable bytes of a table whose leading fields are `abi_version` and
    /// `table_size`. When the check passes, the runtime, its table, and the
    /// functions in it must stay valid and callable with `rt` for `'rt`, and
    /// nothing else may drive the runtime meanwhile.
    pub unsafe fn from_raw(rt: *mut OrchestrationRuntime) -> Result<Orchestrator<'rt>, OrchError> {
        const CALL: &str = "Orchestrator::from_raw";
        let Some(rt) = NonNull::new(rt) else {
            return Err(OrchError::new(CALL, OrchStatus::NullArgument));
        };
        // SAFETY: the caller guarantees a non-null `rt` is valid to read.
        let ops = unsafe { rt.as_ref() }.ops;
        if ops.is_null() {
            return Err(OrchError::new(CALL, OrchStatus::NullArgument));
        }
        // SAFETY: a non-null table has readable `abi_version` and
        // `table_size` fields; only those two are read before the check, so
        // no reference to a possibly shorter table is created.
        let (version, size) = unsafe { ((*ops).abi_version, (*ops).table_size) };
        if version != ABI_VERSION || (size as usize) < size_of::<OrchestrationRuntimeOps>() {
            return Err(OrchError::new(CALL, OrchStatus::AbiMismatch));
        }
        // SAFETY: the table is at least as large as this crate's layout and
        // stays valid for `'rt` (caller's contract).
        let ops = unsafe { &*ops };
        Ok(Orchestrator {
            rt,
            ops,
            _rt: PhantomData,
        })
    }

    /// The raw runtime handle, e.g. to pass to C helpers.
    pub fn as_raw(&self) -> *mut OrchestrationRuntime {
        self.rt.as_ptr()
    }

    /// Adds a task running function `func_id` on a `core` core with the
    /// argument words `args`; returns its id.
    ///
    /// More than [`MAX_TASK_ARGS`] words are refused with
    /// [`OrchStatus::TooManyArgs`] without calling the runtime.
    pub fn add_task(
        &mut self,
        args: &[u64],
        func_id: i32,
        core: CoreType,
    ) -> Result<TaskId, OrchError> {
        const CALL: &str = "add_task";
        if args.len() > MAX_TASK_ARGS {
            return Err(OrchError::new(CALL, OrchStatus::TooManyArgs));
        }
        // At most MAX_TASK_ARGS (checked above), so this cannot truncate.
        let num_args = args.len() as u32;
        // SAFETY: `rt` and its table are valid for `'rt` (from_raw's
        // contract); `args` points to `num_args` initialized words for the
        // duration of the call.
        let id = unsafe {
            (self.ops.add_task)(
                self.rt.as_ptr(),
                args.as_ptr(),
                num_args,
                func_id,
                core.code(),
            )
        };
        u32::try_from(id)
            .map(TaskId)
            .map_err(|_| OrchError::from_code(CALL, id))
    }

    /// Makes task `to` wait for task `from`.
    ///
    /// An id beyond `i32::MAX` is refused with [`OrchStatus::UnknownTask`]
    /// without calling the runtime.
    pub fn add_successor(&mut self, from: TaskId, to: TaskId) -> Result<(), OrchError> {
        const CALL: &str = "add_successor";
        let (Ok(from), Ok(to)) = (i32::try_from(from.0), i32::try_from(to.0)) else {
            return Err(OrchError::new(CALL, OrchStatus::UnknownTask));
        };
        // SAFETY: `rt` and its table are valid for `'rt` (from_raw's contract).
        let code = unsafe { (self.ops.add_successor)(self.rt.as_ptr(), from, to) };
        OrchError::check(CALL, code)
    }

    /// Asks the runtime to copy `nbytes` from `dev` back to `host` when the
    /// run is finalized.
    ///
    /// # Safety
    ///
    /// `host` must be valid for writes of `nbytes` bytes from now until the
    /// runtime has finalized the run, nothing may access that memory while
    /// the runtime writes it, and the bytes written must be valid for
    /// whatever type the memory holds.
    pub unsafe fn record_tensor_pair(
        &mut self,
        host: *mut u8,
        dev: DevicePtr,
        nbytes: u64,
    ) -> Result<(), OrchError> {
        // SAFETY: `rt` and its table are valid for `'rt` (from_raw's
        // contract); the caller guarantees `host` stays writable until the
        // runtime uses it.
        let code = unsafe {
            (self.ops.record_tensor_pair)(self.rt.as_ptr(), host.cast(), dev.as_mut_ptr(), nbytes)
        };
        OrchError::check("record_tensor_pair", code)
    }

    /// The number of tasks added so far (0 if the runtime reports an error).
    pub fn task_count(&self) -> usize {
        // SAFETY: `rt` and its table are valid for `'rt` (from_raw's contract).
        let count = unsafe { (self.ops.get_task_count)(self.rt.as_ptr()) };
        usize::try_from(count).unwrap_or(0)
    }

    /// Asks the runtime to report the graph built so far (hostgraph logs a
    /// one-line summary: `log::info!`, target `hostgraph::print_runtime`).
    pub fn print_runtime(&self) {
        // SAFETY: `rt` and its table are valid for `'rt` (from_raw's contract).
        unsafe { (self.ops.print_runtime)(self.rt.as_ptr()) }
    }

    /// Allocates `nbytes` of device memory.
    ///
    /// The runtime only reports failure with a null pointer (and latches the
    /// reason itself), so a failure is reported as
    /// [`OrchStatus::ZeroSize`] when `nbytes` is 0 and
    /// [`OrchStatus::OutOfMemory`] otherwise.
    pub fn device_malloc(&mut self, nbytes: u64) -> Result<DevicePtr, OrchError> {
        // SAFETY: `rt` and its table are valid for `'rt` (from_raw's contract).
        let ptr = unsafe { (self.ops.device_malloc)(self.rt.as_ptr(), nbytes) };
        if ptr.is_null() {
            let status = if nbytes == 0 {
                OrchStatus::ZeroSize
            } else {
                OrchStatus::OutOfMemory
            };
            Err(OrchError::new("device_malloc", status))
        } else {
            Ok(DevicePtr(ptr as usize as u64))
        }
    }

    /// Releases device memory from [`device_malloc`](Self::device_malloc).
    pub fn device_free(&mut self, dev: DevicePtr) -> Result<(), OrchError> {
        // SAFETY: `rt` and its table are valid for `'rt` (from_raw's
        // contract); the runtime validates `dev`.
        let code = unsafe { (self.ops.device_free)(self.rt.as_ptr(), dev.as_mut_ptr()) };
        OrchError::check("device_free", code)
    }

    /// Copies `host` to device memory at `dev` (synchronously).
    pub fn copy_to_device(&mut self, dev: DevicePtr, host: &[u8]) -> Result<(), OrchError> {
        // SAFETY: `host` is readable for its length during the call.
        unsafe { self.copy_raw(dev, host.as_ptr().cast(), host.len()) }
    }

    /// Allocates device memory for `host` and copies it there.
    ///
    /// An empty `host` fails with [`OrchStatus::ZeroSize`]. If the copy
    /// fails the allocation is released again.
    pub fn upload<T: Copy>(&mut self, host: &[T]) -> Result<DevicePtr, OrchError> {
        let nbytes = size_of_val(host);
        let dev = self.device_malloc(nbytes as u64)?;
        // SAFETY: `host` is readable for `nbytes` bytes during the call; the
        // runtime copies bytes, so padding inside `T` is never read as a
        // Rust value.
        if let Err(err) = unsafe { self.copy_raw(dev, host.as_ptr().cast(), nbytes) } {
            // The copy error is the one worth reporting (and the runtime has
            // latched it), so a failed release is deliberately ignored.
            let _ = self.device_free(dev);
            return Err(err);
        }
        Ok(dev)
    }

    /// [`upload`](Self::upload)s `host` and records it with
    /// [`record_tensor_pair`](Self::record_tensor_pair) so the device
    /// contents are copied back into `host` when the run is finalized.
    ///
    /// # Safety
    ///
    /// The memory behind `host` must stay allocated until the runtime has
    /// finalized the run, nothing may access it while the runtime writes it
    /// back, and every bit pattern the device may leave there must be a
    /// valid `T`. (Output tensors the host passed in the entry arguments
    /// are typically meant to be used this way.)
    pub unsafe fn output<T: Copy>(&mut self, host: &mut [T]) -> Result<DevicePtr, OrchError> {
        let dev = self.upload(host)?;
        // SAFETY: the caller guarantees `host` stays writable and unaliased
        // until the runtime writes it back, with valid `T`s.
        unsafe {
            self.record_tensor_pair(host.as_mut_ptr().cast(), dev, size_of_val(host) as u64)?
        };
        Ok(dev)
    }

    /// Calls `copy_to_device(rt, dev, host, nbytes)`.
    ///
    /// # Safety
    ///
    /// `host` must be readable for `nbytes` bytes during the call.
    unsafe fn copy_raw(
        &mut self,
        dev: DevicePtr,
        host: *const c_void,
        nbytes: usize,
    ) -> Result<(), OrchError> {
        // SAFETY: `rt` and its table are valid for `'rt` (from_raw's
        // contract); the caller guarantees `host` is readable for `nbytes`;
        // the runtime validates `dev`.
        let code = unsafe {
            (self.ops.copy_to_device)(self.rt.as_ptr(), dev.as_mut_ptr(), host, nbytes as u64)
        };
        OrchError::check("copy_to_device", code)
    }
}
