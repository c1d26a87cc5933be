//! The runtime side of the orchestration ABIs: the handle a plugin receives
//! ([`HostRuntime`]), the calls both ops tables share ([`ops`]), and the
//! native, versioned table that forwards to them. The reference runtime's
//! table ([`crate::reference`]) forwards to the same calls.
//!
//! Every call checks its pointers, maps errors to [`OrchStatus`] codes, and
//! relies on the builder to latch the first failure, so a bad edge fails
//! the build even if the plugin ignores the status.

use std::cell::Cell;
use std::ffi::c_void;
use std::sync::atomic::{AtomicUsize, Ordering};

use hostgraph_orch_abi::{
    ABI_VERSION, OPS_TABLE_SIZE, OrchArgs, OrchestrationEntryFn, OrchestrationRuntime,
    OrchestrationRuntimeOps,
};

use crate::error::Error;
use crate::graph::GraphBuilder;

thread_local! {
    /// The handle of the entry call in progress on this thread, if any: the
    /// only handle whose calls reach a builder.
    static LIVE: Cell<*mut c_void> = const { Cell::new(std::ptr::null_mut()) };
}

/// Calls refused because their handle was not live on the calling thread
/// (process-wide: a build fails if the count moved during its entry call).
static REFUSED: AtomicUsize = AtomicUsize::new(0);

/// The opaque runtime a plugin receives: the ABI's handle (`Base`, a struct
/// holding only the ops pointer) first, then the builder the calls go to.
#[repr(C)]
pub(crate) struct HostRuntime<Base> {
    base: Base,
    builder: *mut c_void,
}

impl<Base> HostRuntime<Base> {
    /// A handle on `builder` with the ABI header `base`.
    pub(crate) fn new(base: Base, builder: &mut GraphBuilder<'_>) -> Self {
        HostRuntime {
            base,
            builder: (builder as *mut GraphBuilder<'_>).cast(),
        }
    }

    /// The pointer to hand to the plugin: derived from the whole struct, so
    /// the table functions may reach `builder` through it.
    fn handle(&mut self) -> *mut Base {
        (&raw mut *self).cast()
    }

    /// Calls `entry` with this handle, live (its calls reach the builder)
    /// on this thread until `entry` returns; a call through it from another
    /// thread meanwhile, or through any handle after its entry returned,
    /// is refused ([`with_builder`]), and one refused while `entry` runs
    /// fails the build.
    pub(crate) fn call(&mut self, entry: impl FnOnce(*mut Base) -> i32) -> i32 {
        struct Restore(*mut c_void);
        impl Drop for Restore {
            fn drop(&mut self) {
                LIVE.set(self.0);
            }
        }
        let handle = self.handle();
        let refused = REFUSED.load(Ordering::Relaxed);
        let code = {
            let _restore = Restore(LIVE.replace(handle.cast()));
            entry(handle)
        };
        let refused = REFUSED.load(Ordering::Relaxed).wrapping_sub(refused);
        if refused > 0 {
            // SAFETY: the entry has returned: `builder` is the exclusive
            // borrow `new` took, and nothing else holds it.
            let builder = unsafe { &mut *self.builder.cast::<GraphBuilder<'_>>() };
            let _ = builder.latch::<()>(Err(Error::StaleHandle { refused }));
        }
        code
    }
}

/// Runs `f` on the builder behind `rt`; a null `rt` or a panic gives
/// `on_err`. A panic (it must not unwind into the plugin's C frames) is
/// latched as the build's failure, [`Error::Panicked`](crate::Error::Panicked):
/// the call may have left its work half done, so the build fails even if
/// the plugin ignores the status (or the call has none, as
/// `print_runtime`).
///
/// A handle that is not the one live on the calling thread (a call from a
/// thread the plugin started, or through a handle it kept after its entry
/// returned) also gives `on_err`, and is counted: the build in progress
/// fails with [`Error::StaleHandle`].
pub(crate) fn with_builder<Base, T>(
    rt: *mut Base,
    on_err: T,
    f: impl FnOnce(&mut GraphBuilder<'_>) -> T,
) -> T {
    if rt.is_null() {
        return on_err;
    }
    if LIVE.get() != rt.cast() {
        REFUSED.fetch_add(1, Ordering::Relaxed);
        return on_err;
    }
    // SAFETY: `rt` is the handle live on this thread: made by
    // `HostRuntime::call` from a `HostRuntime<Base>` (`#[repr(C)]`, `base`
    // first) that is alive until its entry returns, from the whole struct,
    // and whose `builder` is an exclusive borrow for that long; this thread
    // is inside that entry.
    let builder = unsafe {
        &mut *(*rt.cast::<HostRuntime<Base>>())
            .builder
            .cast::<GraphBuilder<'_>>()
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(builder))) {
        Ok(r) => r,
        Err(p) => {
            let panicked = crate::error::Error::Panicked {
                phase: "build (an ops table call)".into(),
                message: crate::panics::panic_message(p),
            };
            let _ = builder.latch::<()>(Err(panicked));
            on_err
        }
    }
}

/// The calls of both ops tables, on the builder: each returns what the
/// native table returns (an [`OrchStatus`] code, a task id or count, a
/// device pointer) and leaves any error latched in the builder.
pub(crate) mod ops {
    use std::ffi::c_void;

    use hostgraph_orch_abi::{CoreType, MAX_TASK_ARGS, OrchStatus};

    use crate::error::Error;
    use crate::graph::{DeviceMem, GraphBuilder};

    /// The status of `r`.
    pub(crate) fn status(r: Result<(), Error>) -> i32 {
        match r {
            Ok(()) => OrchStatus::Ok.code(),
            Err(e) => e.orch_status().code(),
        }
    }

    /// Latches `e` and returns its status.
    pub(crate) fn refuse(b: &mut GraphBuilder<'_>, e: Error) -> i32 {
        status(b.latch(Err(e)))
    }

    /// Adds a task with the `num_args` words at `args`: its id, or a
    /// negative status.
    ///
    /// # Safety
    /// `args` must be null or point to `num_args` readable words.
    pub(crate) unsafe fn add_task(
        b: &mut GraphBuilder<'_>,
        args: *const u64,
        num_args: usize,
        func_id: i32,
        core_type: i32,
    ) -> i32 {
        let Some(ty) = CoreType::from_raw(core_type) else {
            return refuse(b, Error::BadCoreType(core_type));
        };
        let words: &[u64] = if num_args == 0 {
            &[]
        } else if args.is_null() {
            return refuse(
                b,
                Error::NullArgument("add_task: args is null but num_args > 0"),
            );
        } else if num_args > MAX_TASK_ARGS {
            // Refused before the words are read.
            let e = Error::TooManyArgs {
                func_id,
                count: num_args,
                max: MAX_TASK_ARGS,
            };
            return refuse(b, e);
        } else {
            // SAFETY: `num_args` readable words at `args` (the caller's
            // contract); null was refused above.
            unsafe { std::slice::from_raw_parts(args, num_args) }
        };
        match b.add_task(func_id, ty, words) {
            Ok(id) => id.0 as i32,
            Err(e) => e.orch_status().code(),
        }
    }

    /// Makes `to` wait for `from`.
    pub(crate) fn add_successor(b: &mut GraphBuilder<'_>, from: i32, to: i32) -> i32 {
        status(b.add_successor_raw(from.into(), to.into()))
    }

    /// Records `bytes` at `dev` to be copied back to `host` at finalize.
    ///
    /// # Safety
    /// `host` must stay valid for `bytes` bytes of writes until finalize
    /// (the ABI contract).
    pub(crate) unsafe fn record_tensor_pair(
        b: &mut GraphBuilder<'_>,
        host: *mut c_void,
        dev: *mut c_void,
        bytes: u64,
    ) -> i32 {
        // SAFETY: forwarded from the caller.
        status(unsafe { b.record_tensor_pair(host.cast(), dev as u64, bytes) })
    }

    /// Tasks added so far.
    pub(crate) fn task_count(b: &mut GraphBuilder<'_>) -> i32 {
        b.task_count() as i32
    }

    /// The `log` target of [`print_runtime`]'s line.
    pub(crate) const PRINT_RUNTIME_TARGET: &str = "hostgraph::print_runtime";

    /// Logs the one-line summary of the graph so far (`log::info!`, target
    /// [`PRINT_RUNTIME_TARGET`]); nothing is written to stdout, and the
    /// summary is not even made when that level is off.
    pub(crate) fn print_runtime(b: &mut GraphBuilder<'_>) {
        log::info!(target: PRINT_RUNTIME_TARGET, "{}", b.summary());
    }

    /// Zeroed device memory, or null (the reason latched).
    pub(crate) fn device_malloc(b: &mut GraphBuilder<'_>, bytes: u64) -> *mut c_void {
        b.device_malloc(bytes)
            .map_or(std::ptr::null_mut(), |p| p as *mut c_void)
    }

    /// Frees device memory from `device_malloc`.
    pub(crate) fn device_free(b: &mut GraphBuilder<'_>, dev: *mut c_void) -> i32 {
        status(b.device_free(dev as u64))
    }

    /// Copies `bytes` from `host` to `dev` now.
    ///
    /// # Safety
    /// A non-null `host` must be readable for `bytes` bytes.
    pub(crate) unsafe fn copy_to_device(
        b: &mut GraphBuilder<'_>,
        dev: *mut c_void,
        host: *const c_void,
        bytes: u64,
    ) -> i32 {
        if host.is_null() || dev.is_null() {
            return refuse(b, Error::NullArgument("copy_to_device: null pointer"));
        }
        if bytes == 0 {
            return status(b.copy_to_device(dev as u64, &[]));
        }
        // The device range first: a size no allocation has (a C caller's
        // `(size_t)-1`) is refused before a host slice that long is made,
        // which past isize::MAX bytes would be undefined behaviour.
        let range = b
            .world
            .resource::<DeviceMem>()
            .0
            .check_range(dev as u64, bytes);
        if let Err(e) = range {
            return refuse(b, e.into());
        }
        // SAFETY: `bytes` readable bytes at `host` (the caller's contract);
        // null was refused above, and `bytes` fits one device allocation,
        // so it is no more than isize::MAX.
        let src = unsafe { std::slice::from_raw_parts(host.cast::<u8>(), bytes as usize) };
        status(b.copy_to_device(dev as u64, src))
    }
}

static OPS: OrchestrationRuntimeOps = OrchestrationRuntimeOps {
    abi_version: ABI_VERSION,
    table_size: OPS_TABLE_SIZE,
    add_task: op_add_task,
    add_successor: op_add_successor,
    record_tensor_pair: op_record_tensor_pair,
    get_task_count: op_get_task_count,
    print_runtime: op_print_runtime,
    device_malloc: op_device_malloc,
    device_free: op_device_free,
    copy_to_device: op_copy_to_device,
};

/// Calls a plugin's entry with the native ops table wired to `builder`.
///
/// # Safety
/// `entry` must be an orchestration entry built against this ABI, and
/// `args` null or valid for the duration of the call.
pub(crate) unsafe fn call_entry(
    entry: OrchestrationEntryFn,
    builder: &mut GraphBuilder<'_>,
    args: *const OrchArgs,
) -> i32 {
    let mut host = HostRuntime::new(OrchestrationRuntime { ops: &OPS }, builder);
    // SAFETY: `host` outlives the call and its handle starts with the ABI
    // header; the caller vouches for `entry` and `args`.
    host.call(|rt| unsafe { entry(rt, args) })
}

/// The native entries: the pointers are the plugin's (see `orchestration_api.h`).
type Rt = *mut OrchestrationRuntime;

const NULL_RT: i32 = hostgraph_orch_abi::OrchStatus::NullArgument.code();

unsafe extern "C" fn op_add_task(
    rt: Rt,
    args: *const u64,
    num_args: u32,
    func_id: i32,
    core_type: i32,
) -> i32 {
    // SAFETY: the ABI contract: `num_args` readable words at `args`.
    with_builder(rt, NULL_RT, |b| unsafe {
        ops::add_task(b, args, num_args as usize, func_id, core_type)
    })
}

unsafe extern "C" fn op_add_successor(rt: Rt, from: i32, to: i32) -> i32 {
    with_builder(rt, NULL_RT, |b| ops::add_successor(b, from, to))
}

unsafe extern "C" fn op_record_tensor_pair(
    rt: Rt,
    host: *mut c_void,
    dev: *mut c_void,
    bytes: u64,
) -> i32 {
    // SAFETY: the ABI contract: the host buffer stays valid until finalize.
    with_builder(rt, NULL_RT, |b| unsafe {
        ops::record_tensor_pair(b, host, dev, bytes)
    })
}

unsafe extern "C" fn op_get_task_count(rt: Rt) -> i32 {
    with_builder(rt, NULL_RT, ops::task_count)
}

unsafe extern "C" fn op_print_runtime(rt: Rt) {
    with_builder(rt, (), ops::print_runtime)
}

unsafe extern "C" fn op_device_malloc(rt: Rt, bytes: u64) -> *mut c_void {
    with_builder(rt, std::ptr::null_mut(), |b| ops::device_malloc(b, bytes))
}

unsafe extern "C" fn op_device_free(rt: Rt, dev: *mut c_void) -> i32 {
    with_builder(rt, NULL_RT, |b| ops::device_free(b, dev))
}

unsafe extern "C" fn op_copy_to_device(
    rt: Rt,
    dev: *mut c_void,
    host: *const c_void,
    bytes: u64,
) -> i32 {
    // SAFETY: the ABI contract: `bytes` readable bytes at a non-null `host`.
    with_builder(rt, NULL_RT, |b| unsafe {
        ops::copy_to_device(b, dev, host, bytes)
    })
}
