//! The synchronisation a run uses, through one shim: the standard library's
//! atomics and crossbeam's injector normally; loom's atomics and a locked
//! queue loom can model when the crate is built for the model check
//! (`RUSTFLAGS="--cfg hostgraph_loom"`), so the loom model
//! (`sched/loom_model.rs`) runs the real scheduler code (as tokio's `loom`
//! module does). The cfg has its own name because some dependencies change
//! behaviour under a plain `cfg(loom)`.
//!
//! # Memory ordering in a run
//!
//! Every atomic a run touches, its ordering, and why:
//!
//! | atomic | where | writes | reads |
//! |---|---|---|---|
//! | DATA_MAIN_BASE, COND | registers (`RegisterAccess`: sim, inline, MMIO) | Release | Acquire |
//! | `aicpu_ready`, `aicore_regs_ready`, `aicpu_regs_ready`, `aicore_done` | handshake blocks | Release | Acquire |
//! | `physical_core_id`, `core_type` | handshake blocks | Relaxed | Relaxed |
//! | fan-in counters | `Sealed` | `fetch_sub` AcqRel; reset Relaxed | Acquire (diagnosis) |
//! | tasks remaining | `RunShared` | `fetch_sub` AcqRel | Acquire to end a run; Relaxed for the stall clock |
//! | seed cursors | `Seeds` | `fetch_add` Relaxed | Relaxed |
//! | shared ready queues | crossbeam `Injector` | push (release inside) | steal (acquire inside) |
//! | stop flag, `faulted` | `RunShared`, `Sealed` | Release | Relaxed |
//! | per-task records | `profile::Recorder` | Relaxed | Relaxed, after the run |
//! | inline doorbell | `InlineRegisters` | Relaxed | Relaxed |
//!
//! **A kernel's writes happen before its successors' kernels read them.**
//! The core runs task `t`'s kernel, then writes COND = FIN|t (release). The
//! scheduler thread that reads that word (acquire) synchronises with it;
//! it then decrements the fan-in of each successor `s` (AcqRel). If `s`
//! had other predecessors, their threads' decrements came earlier in the
//! counter's modification order, and each was a release read-modify-write
//! preceded by that thread's acquire of its own FIN: the decrement that
//! reaches zero acquires all of them (a release sequence), so every
//! predecessor's writes happen before it. That thread then writes
//! DATA_MAIN_BASE = s (release) directly, or through its local queue
//! (program order), or hands `s` to another thread through a shared queue
//! (push release, steal acquire), which writes DATA_MAIN_BASE. The core
//! reads DATA_MAIN_BASE (acquire) before running `s`: the chain is closed.
//! With pipelining, ACK|t2 may overwrite FIN|t1 before the scheduler looks;
//! the core wrote ACK|t2 after finishing t1 (program order), so acquiring
//! ACK|t2 makes t1's writes visible just as FIN|t1 would have.
//!
//! **Start-up.** The scheduler's step-1 and step-3 flags and the core's
//! step-2 and step-4 flags are release stores read with acquire: each
//! publishes the Relaxed payload written before it (physical id, core
//! type) and the register initialisation of step 3.
//!
//! **The end of a run.** The completion that takes the remaining count to
//! zero is an AcqRel read-modify-write, so every completion is ordered
//! before it; every scheduler thread's job then returns through the
//! backend's host (the threaded sim's pool hands back under a mutex, the
//! inline sim is one thread), which orders all of it before the caller's
//! finalize reads the outputs.
//!
//! **Why the relaxed ones may be relaxed.** The seed cursors hand out
//! disjoint ranges of a list written before the jobs started (published by
//! the job hand-over), so only the atomicity of the `fetch_add` matters.
//! The stop and fault flags only make threads leave sooner; what a failure
//! was is read under the failure mutex after every job has returned. The
//! fan-in counters are reset before launch, which publishes them to cores
//! and threads (the launch and job hand-over go through a mutex). The
//! per-task records are read after every job has returned. The inline
//! doorbell is set and read on one thread; it only says which cores to
//! step, and what a core sees still comes from the registers.
//!
//! The loom model checks this story on the real code: with the fan-in
//! decrement made Relaxed, it reports a kernel output read without a
//! happens-before edge (`a_join_across_threads_sees_both_predecessors`).

#[cfg(hostgraph_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
#[cfg(not(hostgraph_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

pub(crate) use crossbeam_deque::Steal;

/// A shared ready queue: crossbeam's lock-free injector.
#[cfg(not(hostgraph_loom))]
pub(crate) type Injector<T> = crossbeam_deque::Injector<T>;

/// A shared ready queue under loom: a locked FIFO with the injector's
/// interface (crossbeam's internals are not instrumented for loom; the
/// model checks the scheduler around the queue, not the queue). A push
/// calls the model's wake hook: its idle scheduler threads wait on
/// doorbells instead of spinning, and a task pushed here is work for them.
#[cfg(hostgraph_loom)]
pub(crate) struct Injector<T>(loom::sync::Mutex<std::collections::VecDeque<T>>);

/// What a push to a shared queue wakes, set by the loom model.
#[cfg(hostgraph_loom)]
pub(crate) static ON_PUSH: std::sync::Mutex<Option<std::sync::Arc<dyn Fn() + Send + Sync>>> =
    std::sync::Mutex::new(None);

#[cfg(hostgraph_loom)]
impl<T> Injector<T> {
    pub(crate) fn new() -> Self {
        Injector(loom::sync::Mutex::new(Default::default()))
    }

    pub(crate) fn push(&self, task: T) {
        self.0.lock().unwrap().push_back(task);
        let wake = ON_PUSH.lock().unwrap().clone();
        if let Some(wake) = wake {
            wake();
        }
    }

    pub(crate) fn steal(&self) -> Steal<T> {
        self.0
            .lock()
            .unwrap()
            .pop_front()
            .map_or(Steal::Empty, Steal::Success)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.lock().unwrap().is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}
