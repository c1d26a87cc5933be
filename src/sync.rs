//! The synchronisation a run uses, through one shim: the standard library's
//! atomics and crossbeam's injector normally; loom's atomics and a locked
//! queue loom can model when the crate is built for the model check
//! (`RUSTFLAGS="--cfg hostgraph_loom"`), so the loom model runs the real
//! scheduler code (as tokio's `loom` module does). The cfg has its own name
//! because some dependencies change behaviour under a plain `cfg(loom)`.

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
/// model checks the scheduler around the queue, not the queue).
#[cfg(hostgraph_loom)]
pub(crate) struct Injector<T>(loom::sync::Mutex<std::collections::VecDeque<T>>);

#[cfg(hostgraph_loom)]
impl<T> Injector<T> {
    pub(crate) fn new() -> Self {
        Injector(loom::sync::Mutex::new(Default::default()))
    }

    pub(crate) fn push(&self, task: T) {
        self.0.lock().unwrap().push_back(task);
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
