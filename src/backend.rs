//! The backend seam: what turns the scheduler's register writes into work
//! on cores. A backend provides register access and handshake blocks,
//! launches and lands cores that run the tasks of a sealed graph, and
//! hosts the scheduler threads' jobs (on threads of its own, or stepped on
//! the caller's thread). It names no scheduler internals: the scheduler
//! reaches it through [`Backend`], and it reaches the scheduler through
//! [`SchedulerJob`].
//!
//! The simulators in [`sim`](crate::sim) implement it; so can a backend
//! outside this crate (MMIO on hardware, a recording wrapper, a remote one).
//!
//! A run, as the backend sees it:
//!
//! 1. [`launch`](Backend::launch): start `block_dim` blocks of cores over
//!    the graph; cores begin the start-up handshake (the scheduler drives
//!    its side through [`handshakes`](Backend::handshakes) and
//!    [`registers`](Backend::registers), calling [`pump`](Backend::pump)
//!    while it waits).
//! 2. [`host`](Backend::host): take the run's scheduler jobs, one per
//!    scheduler thread; return at once.
//! 3. [`drive`](Backend::drive): make progress (run jobs, step cores) until
//!    every job has returned, or for a moment when asked not to block.
//! 4. The scheduler sends every core the exit signal and waits for the
//!    acknowledgements (calling `pump`), then [`land`](Backend::land)s the
//!    launch; after a failure it lands with `abort`, which must return
//!    promptly even if a kernel never returns.

use std::sync::Arc;
use std::task::Waker;
use std::time::Duration;

use hostgraph_orch_abi::CoreType;
use hostgraph_platform::{DeviceMemory, HandshakeBlock, PlatformSpec, RegisterAccess};

use crate::backoff::Backoff;
use crate::error::Result;
use crate::seal::Sealed;

/// How one poll of a scheduler thread went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// Something changed.
    Progress,
    /// Nothing changed.
    Idle,
    /// Every task of the run has completed.
    Done,
    /// The run was stopped (fault, stall, protocol error, cancel).
    Stopped,
}

/// One scheduler (AICPU) thread of a run, as a backend hosts it: polled
/// until it returns [`Poll::Done`] or [`Poll::Stopped`], then dropped
/// (dropping it hands its state back to the run).
pub trait SchedulerJob: Send + 'static {
    /// The thread's index in the run.
    fn index(&self) -> usize;

    /// Physical ids of the cores the thread owns: their COND writes are
    /// what makes work for it.
    fn cores(&self) -> &[u32];

    /// One pass over the thread's cores: observe, resolve, dispatch.
    fn poll(&mut self) -> Poll;

    /// Called after an idle poll: true if the run has made no progress for
    /// its stall timeout, in which case the run is stopped (the next poll
    /// returns [`Poll::Stopped`]). Reads the clock only every so often.
    fn check_stall(&mut self) -> bool;

    /// Stops the run as stalled now, whatever the clock says: for a backend
    /// that knows nothing more can happen (a simulation with no event
    /// left). The run's error is the stall's diagnosis.
    fn stall_now(&mut self);

    /// Whether a poll of this thread could find a task of `core_type`
    /// that another thread made available — in a shared queue, among the
    /// initially ready tasks, or (under a stealing policy) in another
    /// thread's local queue — or find the run done. A backend that lets an
    /// idle thread sleep until something it could see changes (virtual
    /// time) asks this, for the core types the thread has a core free of,
    /// when another thread made progress. True unless known otherwise (the
    /// default).
    fn may_find_work(&self, _core_type: CoreType) -> bool {
        true
    }

    /// Stops the run because the host could not run this job (it
    /// panicked): `why` is reported as the run's error.
    fn abort(&mut self, why: String);

    /// Whether, since the last call, the thread queued tasks that other
    /// threads can take (so a host whose idle threads sleep should wake
    /// them).
    fn offered(&mut self) -> bool {
        false
    }

    /// Polls until the run is done or stopped, waiting between idle polls
    /// by spinning, then yielding, then sleeping in short slices, with stall
    /// detection: the loop for a backend that gives each job a thread.
    fn run(&mut self) {
        let mut backoff = Backoff::new();
        loop {
            match self.poll() {
                Poll::Done | Poll::Stopped => return,
                Poll::Progress => backoff.reset(),
                Poll::Idle => {
                    if backoff.snooze() && self.check_stall() {
                        return;
                    }
                }
            }
        }
    }
}

/// How long [`Backend::drive`] may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Until every hosted job has returned (a blocking run).
    Block,
    /// A moment at most: start hosted jobs if they are not running yet,
    /// step single-threaded backends for a short slice, then report.
    Nonblocking,
}

/// Whether hosted jobs are still running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hosting {
    /// Some job has not returned yet.
    Running,
    /// Every hosted job has returned and been dropped (or none was hosted).
    Finished,
}

/// A core that could not be landed: it is inside a kernel that has not
/// returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StuckCore {
    /// Physical id of the core.
    pub physical_id: u32,
    /// The task whose kernel it is running.
    pub task: u32,
}

/// How a launch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Landing {
    /// Every core has left its loop; nothing of the launch runs any more.
    Landed,
    /// Some cores are still inside kernels: their memory must stay
    /// reserved until [`Backend::landed`] says they have returned.
    Stuck(Vec<StuckCore>),
}

/// A backend the scheduler drives through registers. See the
/// [module docs](self) for the order of calls in a run.
pub trait Backend: Send + Sync + 'static {
    /// Register access for the scheduler threads; cloned once per thread
    /// per run, so it should be a cheap handle (an `Arc` inside).
    type Regs: RegisterAccess + Clone + 'static;

    /// Whether every scheduler job and every core of a run is stepped on
    /// the one thread that calls [`drive`](Self::drive) (and `pump`): the
    /// scheduler then updates the run's counters with plain loads and
    /// stores instead of read-modify-writes. Only a backend that never
    /// touches a run from two threads may say so.
    const SINGLE_THREADED: bool = false;

    /// The chip being driven.
    fn spec(&self) -> &PlatformSpec;

    /// Fresh device memory for a runtime on this backend.
    fn new_device_memory(&self) -> Box<dyn DeviceMemory + Sync>;

    /// Register blocks of every physical core.
    fn registers(&self) -> &Self::Regs;

    /// Handshake blocks, indexed by launch order.
    fn handshakes(&self) -> &[HandshakeBlock];

    /// Starts `block_dim` blocks of cores that run the tasks of `graph`
    /// ([`Sealed::execute`]). Fails with
    /// [`Error::BackendStuck`](crate::Error::BackendStuck) while a kernel of
    /// an earlier launch has not returned. A launch that fails should leave
    /// nothing running; the runtime lands it with `abort` all the same.
    fn launch(&mut self, block_dim: u32, graph: Arc<Sealed>) -> Result<()>;

    /// Lets launched cores make progress while the scheduler waits on them
    /// (start-up, shutdown); true if any moved. Backends whose cores run on
    /// their own threads return false.
    fn pump(&mut self) -> bool {
        false
    }

    /// Takes the run's scheduler jobs, one per scheduler thread that owns
    /// cores; returns at once. Each job is polled until it returns
    /// [`Poll::Done`] or [`Poll::Stopped`] and is then dropped; a job that
    /// panics is given [`SchedulerJob::abort`] and dropped.
    fn host<J: SchedulerJob>(&mut self, jobs: Vec<J>);

    /// Makes progress on the hosted jobs as `wait` allows. With a `waker`,
    /// a backend that finishes jobs on threads of its own wakes it when the
    /// last job returns; one that only progresses inside `drive` wakes it
    /// at once (so a future polling it keeps going).
    fn drive(&mut self, wait: Wait, waker: Option<&Waker>) -> Hosting;

    /// Ends the launch. Normally every core has acknowledged the exit
    /// signal, and this waits (up to `timeout`) for whatever steps the
    /// cores to finish. With `abort` (after a failure), cores may not have
    /// exited: stop stepping them now and return promptly, listing the
    /// cores still inside kernels. Jobs still hosted (a run whose jobs were
    /// never driven to the end) are dropped: they hold their run's state
    /// and its policy, and must not poll a later launch's cores.
    fn land(&mut self, abort: bool, timeout: Duration) -> Landing;

    /// Whether nothing of any earlier launch still runs (a stuck kernel
    /// has since returned, or was never there). Memory held back after a
    /// [`Landing::Stuck`] is released once this is true.
    fn landed(&mut self) -> bool;

    /// Gives up on cores stuck inside kernels: leaves them to finish on
    /// their own (their memory stays reserved until they do) and makes the
    /// backend ready for a new launch with fresh cores. False if the
    /// backend cannot (the default).
    fn abandon(&mut self) -> bool {
        false
    }
}
