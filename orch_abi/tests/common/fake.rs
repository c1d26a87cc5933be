//! A recording runtime written in Rust: it fills an
//! [`OrchestrationRuntimeOps`] table whose entries validate their arguments
//! the way the real runtime does, record every call, and latch the first
//! failure.

use std::ffi::c_void;

use hostgraph_orch_abi::{
    ABI_VERSION, CoreType, MAX_TASK_ARGS, OPS_TABLE_SIZE, OrchStatus, OrchestrationRuntime,
    OrchestrationRuntimeOps,
};

/// One task added through the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    /// The kernel function id.
    pub func_id: i32,
    /// The raw core type.
    pub core_type: i32,
    /// The argument words.
    pub args: Vec<u64>,
}

/// One device allocation.
#[derive(Debug)]
struct Buffer {
    bytes: Vec<u8>,
    freed: bool,
}

impl Buffer {
    fn start(&self) -> u64 {
        self.bytes.as_ptr() as u64
    }
}

/// The fake runtime: the ABI handle first, recorded state after it.
#[repr(C)]
#[derive(Debug)]
pub struct FakeRuntime {
    rt: OrchestrationRuntime,
    /// The name of every table entry called, in order.
    pub calls: Vec<&'static str>,
    /// The tasks added, in id order.
    pub tasks: Vec<Task>,
    /// The edges added, as `(from, to)`.
    pub edges: Vec<(i32, i32)>,
    /// The `record_tensor_pair` calls, as `(host, dev, nbytes)`.
    pub pairs: Vec<(u64, u64, u64)>,
    /// How often `print_runtime` was called.
    pub prints: usize,
    /// Makes the named entry fail with the given status (device_malloc
    /// returns null instead).
    pub fail: Option<(&'static str, OrchStatus)>,
    /// The first call that failed, and why.
    pub latched: Option<(&'static str, OrchStatus)>,
    buffers: Vec<Buffer>,
}

impl FakeRuntime {
    /// A runtime with a correct table for this ABI version.
    pub fn new() -> FakeRuntime {
        FakeRuntime::with_table(ABI_VERSION, OPS_TABLE_SIZE)
    }

    /// A runtime whose table claims `abi_version` and `table_size`.
    pub fn with_table(abi_version: u32, table_size: u32) -> FakeRuntime {
        let ops = OrchestrationRuntimeOps {
            abi_version,
            table_size,
            add_task,
            add_successor,
            record_tensor_pair,
            get_task_count,
            print_runtime,
            device_malloc,
            device_free,
            copy_to_device,
        };
        FakeRuntime {
            // Leaked so the handle never points into a moved value.
            rt: OrchestrationRuntime {
                ops: Box::leak(Box::new(ops)),
            },
            calls: Vec::new(),
            tasks: Vec::new(),
            edges: Vec::new(),
            pairs: Vec::new(),
            prints: 0,
            fail: None,
            latched: None,
            buffers: Vec::new(),
        }
    }

    /// The ABI handle, derived from the whole runtime so the table entries
    /// may reach the recorded state behind it.
    pub fn handle(&mut self) -> *mut OrchestrationRuntime {
        (self as *mut FakeRuntime).cast()
    }

    /// The contents of the live device buffer that starts at `addr`.
    pub fn device_bytes(&self, addr: u64) -> &[u8] {
        let buffer = self
            .buffers
            .iter()
            .find(|b| !b.freed && b.start() == addr)
            .unwrap_or_else(|| panic!("no live device buffer at {addr:#x}"));
        &buffer.bytes
    }

    /// The number of device buffers allocated and not freed.
    pub fn live_buffers(&self) -> usize {
        self.buffers.iter().filter(|b| !b.freed).count()
    }

    /// Records a call to `call`; returns the injected failure, if any.
    fn enter(&mut self, call: &'static str) -> Result<(), OrchStatus> {
        self.calls.push(call);
        match self.fail {
            Some((name, status)) if name == call => Err(status),
            _ => Ok(()),
        }
    }

    /// Latches `status` for `call` if it is the first failure; returns its
    /// code.
    fn latch(&mut self, call: &'static str, status: OrchStatus) -> i32 {
        self.latched.get_or_insert((call, status));
        status.code()
    }

    /// The status code of `result` for `call`, latching a failure.
    fn finish(&mut self, call: &'static str, result: Result<(), OrchStatus>) -> i32 {
        match result {
            Ok(()) => 0,
            Err(status) => self.latch(call, status),
        }
    }

    /// The live buffer bytes `[addr, addr + nbytes)`.
    fn device_range(&mut self, addr: u64, nbytes: u64) -> Result<&mut [u8], OrchStatus> {
        let buffer = self
            .buffers
            .iter_mut()
            .find(|b| !b.freed && (b.start()..b.start() + b.bytes.len() as u64).contains(&addr))
            .ok_or(OrchStatus::UnknownPointer)?;
        let start = (addr - buffer.start()) as usize;
        let end = start
            .checked_add(usize::try_from(nbytes).map_err(|_| OrchStatus::OutOfBounds)?)
            .filter(|&end| end <= buffer.bytes.len())
            .ok_or(OrchStatus::OutOfBounds)?;
        Ok(&mut buffer.bytes[start..end])
    }
}

/// The fake runtime behind `rt`.
///
/// # Safety
///
/// `rt` must come from [`FakeRuntime::handle`] of a live runtime that is not
/// otherwise borrowed for `'a`.
unsafe fn me<'a>(rt: *mut OrchestrationRuntime) -> &'a mut FakeRuntime {
    // SAFETY: `rt` points to the first field of a `#[repr(C)]` FakeRuntime
    // and carries provenance over all of it (see `handle`).
    unsafe { &mut *rt.cast::<FakeRuntime>() }
}

unsafe extern "C" fn add_task(
    rt: *mut OrchestrationRuntime,
    args: *const u64,
    num_args: u32,
    func_id: i32,
    core_type: i32,
) -> i32 {
    // SAFETY: the runtime hands out only handles from `FakeRuntime::handle`.
    let me = unsafe { me(rt) };
    let result = me.enter("add_task").and_then(|()| {
        if num_args as usize > MAX_TASK_ARGS {
            return Err(OrchStatus::TooManyArgs);
        }
        if args.is_null() && num_args > 0 {
            return Err(OrchStatus::NullArgument);
        }
        if CoreType::from_raw(core_type).is_none() {
            return Err(OrchStatus::BadCoreType);
        }
        let args = if num_args == 0 {
            Vec::new()
        } else {
            // SAFETY: non-null and, per the ABI, `num_args` words long.
            unsafe { std::slice::from_raw_parts(args, num_args as usize) }.to_vec()
        };
        Ok(Task {
            func_id,
            core_type,
            args,
        })
    });
    match result {
        Ok(task) => {
            me.tasks.push(task);
            me.tasks.len() as i32 - 1
        }
        Err(status) => me.latch("add_task", status),
    }
}

unsafe extern "C" fn add_successor(rt: *mut OrchestrationRuntime, from: i32, to: i32) -> i32 {
    // SAFETY: the runtime hands out only handles from `FakeRuntime::handle`.
    let me = unsafe { me(rt) };
    let result = me.enter("add_successor").and_then(|()| {
        let known = 0..me.tasks.len() as i32;
        if !known.contains(&from) || !known.contains(&to) {
            Err(OrchStatus::UnknownTask)
        } else if from == to {
            Err(OrchStatus::SelfEdge)
        } else {
            me.edges.push((from, to));
            Ok(())
        }
    });
    me.finish("add_successor", result)
}

unsafe extern "C" fn record_tensor_pair(
    rt: *mut OrchestrationRuntime,
    host: *mut c_void,
    dev: *mut c_void,
    nbytes: u64,
) -> i32 {
    // SAFETY: the runtime hands out only handles from `FakeRuntime::handle`.
    let me = unsafe { me(rt) };
    let result = me.enter("record_tensor_pair").and_then(|()| {
        if host.is_null() {
            return Err(OrchStatus::NullArgument);
        }
        me.device_range(dev as u64, nbytes)?;
        me.pairs.push((host as u64, dev as u64, nbytes));
        Ok(())
    });
    me.finish("record_tensor_pair", result)
}

unsafe extern "C" fn get_task_count(rt: *mut OrchestrationRuntime) -> i32 {
    // SAFETY: the runtime hands out only handles from `FakeRuntime::handle`.
    let me = unsafe { me(rt) };
    match me.enter("get_task_count") {
        Ok(()) => me.tasks.len() as i32,
        Err(status) => me.latch("get_task_count", status),
    }
}

unsafe extern "C" fn print_runtime(rt: *mut OrchestrationRuntime) {
    // SAFETY: the runtime hands out only handles from `FakeRuntime::handle`.
    let me = unsafe { me(rt) };
    if me.enter("print_runtime").is_ok() {
        me.prints += 1;
    }
}

unsafe extern "C" fn device_malloc(rt: *mut OrchestrationRuntime, nbytes: u64) -> *mut c_void {
    // SAFETY: the runtime hands out only handles from `FakeRuntime::handle`.
    let me = unsafe { me(rt) };
    let result = me.enter("device_malloc").and(match nbytes {
        0 => Err(OrchStatus::ZeroSize),
        n if n > 1 << 30 => Err(OrchStatus::OutOfMemory),
        n => Ok(n as usize),
    });
    match result {
        Ok(n) => {
            let mut bytes = vec![0; n];
            let ptr = bytes.as_mut_ptr().cast();
            me.buffers.push(Buffer {
                bytes,
                freed: false,
            });
            ptr
        }
        Err(status) => {
            me.latch("device_malloc", status);
            std::ptr::null_mut()
        }
    }
}

unsafe extern "C" fn device_free(rt: *mut OrchestrationRuntime, dev: *mut c_void) -> i32 {
    // SAFETY: the runtime hands out only handles from `FakeRuntime::handle`.
    let me = unsafe { me(rt) };
    let result = me.enter("device_free").and_then(|()| {
        let buffer = me
            .buffers
            .iter_mut()
            .find(|b| !b.freed && b.start() == dev as u64)
            .ok_or(OrchStatus::UnknownPointer)?;
        buffer.freed = true;
        Ok(())
    });
    me.finish("device_free", result)
}

unsafe extern "C" fn copy_to_device(
    rt: *mut OrchestrationRuntime,
    dev: *mut c_void,
    host: *const c_void,
    nbytes: u64,
) -> i32 {
    // SAFETY: the runtime hands out only handles from `FakeRuntime::handle`.
    let me = unsafe { me(rt) };
    let result = me.enter("copy_to_device").and_then(|()| {
        if host.is_null() {
            return Err(OrchStatus::NullArgument);
        }
        if nbytes == 0 {
            return Err(OrchStatus::ZeroSize);
        }
        let target = me.device_range(dev as u64, nbytes)?;
        // SAFETY: per the ABI, `host` is readable for `nbytes` bytes, and
        // `target` is exactly `nbytes` long.
        let source = unsafe { std::slice::from_raw_parts(host.cast::<u8>(), target.len()) };
        target.copy_from_slice(source);
        Ok(())
    });
    me.finish("copy_to_device", result)
}
