//! The runtime side of the orchestration ABI: the versioned ops table a
//! plugin calls through, each entry forwarding to the [`GraphBuilder`].
//!
//! Every entry checks its pointers, maps errors to [`OrchStatus`] codes, and
//! relies on the builder to latch the first failure, so a bad edge fails
//! the build even if the plugin ignores the status.

use std::ffi::c_void;
use std::io::Write;

use hostgraph_orch_abi::{
    ABI_VERSION, CoreType, OPS_TABLE_SIZE, OrchArgs, OrchStatus, OrchestrationEntryFn,
    OrchestrationRuntime, OrchestrationRuntimeOps,
};

use crate::error::Error;
use crate::graph::GraphBuilder;

/// The opaque runtime a plugin receives: the ABI header first, then the
/// builder the calls go to.
#[repr(C)]
struct HostRuntime {
    base: OrchestrationRuntime,
    builder: *mut c_void,
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

/// Calls a plugin's entry with the ops table wired to `builder`.
///
/// # Safety
/// `entry` must be an orchestration entry built against this ABI, and
/// `args` null or valid for the duration of the call.
pub(crate) unsafe fn call_entry(
    entry: OrchestrationEntryFn,
    builder: &mut GraphBuilder<'_>,
    args: *const OrchArgs,
) -> i32 {
    let mut host = HostRuntime {
        base: OrchestrationRuntime { ops: &OPS },
        builder: (builder as *mut GraphBuilder<'_>).cast(),
    };
    // SAFETY: `host` outlives the call and starts with the ABI header; the
    // caller vouches for `entry` and `args`.
    unsafe { entry(&mut host.base, args) }
}

/// Runs `f` on the builder behind `rt`; a null `rt` or a panic becomes a status.
fn with_builder<T>(
    rt: *mut OrchestrationRuntime,
    on_err: T,
    f: impl FnOnce(&mut GraphBuilder<'_>) -> T,
) -> T {
    if rt.is_null() {
        return on_err;
    }
    // SAFETY: a non-null `rt` handed to a plugin is always the `base` of a
    // live `HostRuntime` made by `call_entry`, whose `builder` is an
    // exclusive borrow for the length of the entry call.
    let builder = unsafe {
        &mut *(*rt.cast::<HostRuntime>())
            .builder
            .cast::<GraphBuilder<'_>>()
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(builder))).unwrap_or(on_err)
}

fn status(r: Result<(), Error>) -> i32 {
    match r {
        Ok(()) => OrchStatus::Ok.code(),
        Err(e) => e.orch_status().code(),
    }
}

unsafe extern "C" fn op_add_task(
    rt: *mut OrchestrationRuntime,
    args: *const u64,
    num_args: u32,
    func_id: i32,
    core_type: i32,
) -> i32 {
    with_builder(rt, OrchStatus::NullArgument.code(), |b| {
        let Some(ty) = CoreType::from_raw(core_type) else {
            return status(b.latch(Err(Error::BadCoreType(core_type))));
        };
        let words: &[u64] = if num_args == 0 {
            &[]
        } else if args.is_null() {
            return status(b.latch(Err(Error::NullArgument(
                "add_task: args is null but num_args > 0",
            ))));
        } else if num_args as usize > hostgraph_orch_abi::MAX_TASK_ARGS {
            // Refused before the words are read.
            return status(b.latch(Err(Error::TooManyArgs {
                func_id,
                count: num_args as usize,
                max: hostgraph_orch_abi::MAX_TASK_ARGS,
            })));
        } else {
            // SAFETY: the plugin passes `num_args` readable words at `args`
            // (the ABI contract); null was refused above.
            unsafe { std::slice::from_raw_parts(args, num_args as usize) }
        };
        match b.add_task(func_id, ty, words) {
            Ok(id) => id.0 as i32,
            Err(e) => e.orch_status().code(),
        }
    })
}

unsafe extern "C" fn op_add_successor(rt: *mut OrchestrationRuntime, from: i32, to: i32) -> i32 {
    with_builder(rt, OrchStatus::NullArgument.code(), |b| {
        status(b.add_successor_raw(from.into(), to.into()))
    })
}

unsafe extern "C" fn op_record_tensor_pair(
    rt: *mut OrchestrationRuntime,
    host: *mut c_void,
    dev: *mut c_void,
    bytes: u64,
) -> i32 {
    // SAFETY: the ABI contract: the host buffer stays valid until finalize.
    with_builder(rt, OrchStatus::NullArgument.code(), |b| {
        status(unsafe { b.record_tensor_pair(host.cast(), dev as u64, bytes) })
    })
}

unsafe extern "C" fn op_get_task_count(rt: *mut OrchestrationRuntime) -> i32 {
    with_builder(rt, OrchStatus::NullArgument.code(), |b| {
        b.task_count() as i32
    })
}

unsafe extern "C" fn op_print_runtime(rt: *mut OrchestrationRuntime) {
    with_builder(rt, (), |b| {
        let line = b.summary();
        let _ = writeln!(std::io::stdout(), "{line}");
    })
}

unsafe extern "C" fn op_device_malloc(rt: *mut OrchestrationRuntime, bytes: u64) -> *mut c_void {
    with_builder(rt, std::ptr::null_mut(), |b| {
        b.device_malloc(bytes)
            .map_or(std::ptr::null_mut(), |p| p as *mut c_void)
    })
}

unsafe extern "C" fn op_device_free(rt: *mut OrchestrationRuntime, dev: *mut c_void) -> i32 {
    with_builder(rt, OrchStatus::NullArgument.code(), |b| {
        status(b.device_free(dev as u64))
    })
}

unsafe extern "C" fn op_copy_to_device(
    rt: *mut OrchestrationRuntime,
    dev: *mut c_void,
    host: *const c_void,
    bytes: u64,
) -> i32 {
    with_builder(rt, OrchStatus::NullArgument.code(), |b| {
        if host.is_null() || dev.is_null() {
            return status(b.latch(Err(Error::NullArgument("copy_to_device: null pointer"))));
        }
        if bytes == 0 {
            return status(b.copy_to_device(dev as u64, &[]));
        }
        // SAFETY: the plugin passes `bytes` readable bytes at `host` (the
        // ABI contract); null was refused above.
        let src = unsafe { std::slice::from_raw_parts(host.cast::<u8>(), bytes as usize) };
        status(b.copy_to_device(dev as u64, src))
    })
}
