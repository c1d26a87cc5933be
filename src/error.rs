//! The one error type of the runtime: each variant names the offending id,
//! size or path.

use std::path::PathBuf;
use std::time::Duration;

use hostgraph_orch_abi::{CoreType, OrchStatus};
use hostgraph_platform::{MemError, Platform, ProtocolError};

use crate::graph::TaskId;

/// Result with the runtime's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in building, running or finalizing a graph.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Block dim outside `1..=max` for the platform.
    #[error("block dim {block_dim} is outside 1..={max} for {platform}")]
    BadBlockDim {
        /// Requested block dim.
        block_dim: u32,
        /// Platform maximum.
        max: u32,
        /// The platform.
        platform: Platform,
    },
    /// Scheduler thread count outside `1..=max` for the platform.
    #[error("{threads} scheduler threads is outside 1..={max} for {platform}")]
    BadThreadCount {
        /// Requested threads.
        threads: u32,
        /// Platform maximum.
        max: u32,
        /// The platform.
        platform: Platform,
    },
    /// Under the virtual-time backend, the kernel durations drawn for the
    /// graph, plus what the register and wake-up latencies could add to
    /// them, come to more than virtual time counts (so clocks could wrap).
    #[error(
        "the graph's kernel durations and the protocol's latencies could add up to {total_ns} \
         ns, more than virtual time counts ({max_ns} ns); scale the cost model or the \
         latencies down"
    )]
    WorkTooLong {
        /// What the durations, and at most the latencies, add up to.
        total_ns: u128,
        /// The most they may add up to.
        max_ns: u64,
    },
    /// More simulator runner threads than the platform has cores to step
    /// ([`SimOptions::runners`](crate::sim::SimOptions::runners)).
    #[error(
        "{runners} simulator runner threads for the {max} cores of {platform}: at most one per core \
         (0: one per CPU)"
    )]
    BadRunnerCount {
        /// Requested runners.
        runners: usize,
        /// The platform's physical cores.
        max: u32,
        /// The platform.
        platform: Platform,
    },
    /// An edge names a task that does not exist.
    #[error("edge {from} -> {to}: task {missing} does not exist (the graph has {count} tasks)")]
    UnknownTask {
        /// Edge source.
        from: i64,
        /// Edge target.
        to: i64,
        /// The id that does not exist.
        missing: i64,
        /// Tasks in the graph.
        count: usize,
    },
    /// An edge from a task to itself.
    #[error("self-edge on task {0}")]
    SelfEdge(TaskId),
    /// The graph has a cycle; the tasks on one cycle, in edge order.
    #[error("the graph has a cycle: {}", fmt_cycle(.0))]
    Cycle(Vec<TaskId>),
    /// Tasks whose func_id has no registered kernel.
    #[error("no kernel registered for func_id {func_id} (first used by task {task}){}", also_missing(*.others))]
    MissingKernel {
        /// The func_id of the lowest task without a kernel.
        func_id: i32,
        /// That task.
        task: TaskId,
        /// How many other tasks have no kernel (whatever their func_id).
        others: usize,
    },
    /// A task with more argument words than the ABI allows.
    #[error("task with func_id {func_id} has {count} argument words; the limit is {max}")]
    TooManyArgs {
        /// The func_id.
        func_id: i32,
        /// Argument words given.
        count: usize,
        /// The limit ([`hostgraph_orch_abi::MAX_TASK_ARGS`]).
        max: usize,
    },
    /// A core type that is neither AIC (0) nor AIV (1).
    #[error("core type {0} is neither AIC (0) nor AIV (1)")]
    BadCoreType(i32),
    /// An orchestration plugin called through its runtime handle from a
    /// thread other than its entry's, or through a handle kept after an
    /// entry returned: the calls were refused, and the build fails.
    #[error(
        "{refused} call(s) through a runtime handle refused: made from another thread than the \
         entry's, or after the entry returned (a handle is valid only in its entry call)"
    )]
    StaleHandle {
        /// Calls refused while the entry ran.
        refused: usize,
    },
    /// A task id would reach the reserved marker range.
    #[error("graph is full: task ids stop below {0:#x}")]
    TooManyTasks(u32),
    /// One of the graph's lists (argument words, edges) would outgrow its
    /// 32-bit spans.
    #[error("graph is full: its {list} would exceed {capacity} entries")]
    GraphFull {
        /// Which list: "argument words" or "edges".
        list: &'static str,
        /// The most entries it holds.
        capacity: usize,
    },
    /// A tensor pair with a null pointer or zero size.
    #[error("tensor pair host={host:#x} dev={dev:#x} bytes={bytes}: {why}")]
    BadTensorPair {
        /// Host pointer.
        host: u64,
        /// Device pointer.
        dev: u64,
        /// Size.
        bytes: u64,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A device-memory call failed.
    #[error("device memory: {0}")]
    Memory(#[from] MemError),
    /// A tensor's copy-back at finalize failed.
    #[error("copy-back of tensor pair {index} (dev {dev:#x}, {bytes} bytes) failed: {source}")]
    CopyBack {
        /// Index of the pair in record order.
        index: usize,
        /// Device pointer.
        dev: u64,
        /// Size.
        bytes: u64,
        /// Why.
        source: MemError,
    },
    /// A null pointer where the ABI needs one.
    #[error("{0}: null pointer")]
    NullArgument(&'static str),
    /// `build` was called while an earlier graph is still there.
    #[error("a graph of {0} tasks is already built; discard() it, or run and finalize() it, first")]
    GraphPresent(usize),
    /// `run` was called with no graph built.
    #[error("no graph is built")]
    NoGraph,
    /// [`Runtime::install`](crate::Runtime::install) into a world that
    /// already holds hostgraph (its graph, device memory and backend would
    /// be replaced under it).
    #[error(
        "hostgraph is already installed in this world; work on it with Runtime::attach, \
         or install into another world"
    )]
    AlreadyInstalled,
    /// The world's task entities and the graph's
    /// [`TaskLists`](crate::graph::TaskLists) disagree: one of them was
    /// changed through [`world_mut`](crate::Runtime::world_mut) since the
    /// build (a task despawned, an id edited, the lists replaced).
    #[error(
        "the world's tasks and the graph's lists disagree: {why} (changed through \
         world_mut() since the build); discard() and build the graph again"
    )]
    GraphMismatch {
        /// What disagrees, naming the count or the id.
        why: String,
    },
    /// A shared object could not be loaded or lacks a symbol.
    #[error("{what} {path}: {message}")]
    Load {
        /// What was being loaded ("orchestration plugin", "kernel", ...).
        what: &'static str,
        /// Path of the object (a temp path for objects loaded from bytes).
        path: PathBuf,
        /// The loader's own message.
        message: String,
    },
    /// The plugin was built against another ABI version.
    #[error(
        "orchestration plugin {path} was built for ABI version {found}, this runtime speaks version {expected}"
    )]
    AbiMismatch {
        /// Plugin path.
        path: PathBuf,
        /// Version the plugin exports.
        found: u32,
        /// Version the runtime speaks.
        expected: u32,
    },
    /// The orchestration entry returned non-zero.
    #[error("orchestration entry point {entry:?} returned {code}")]
    PluginFailed {
        /// Entry symbol.
        entry: String,
        /// Its return value.
        code: i32,
    },
    /// A kernel panicked or failed.
    #[error("kernel for func_id {func_id} failed on task {task} (core {physical_id}): {message}")]
    KernelFault {
        /// The task.
        task: TaskId,
        /// Its func_id.
        func_id: i32,
        /// Physical id of the core.
        physical_id: u32,
        /// The panic message.
        message: String,
    },
    /// Start-up did not complete in time.
    #[error(
        "start-up: {pending} of {cores} cores did not finish the handshake within {timeout:?} (first: core {first})"
    )]
    StartupTimeout {
        /// Cores that did not finish.
        pending: usize,
        /// Cores launched.
        cores: usize,
        /// The bound.
        timeout: Duration,
        /// Handshake index of the first core that did not finish.
        first: u32,
    },
    /// The register protocol was violated.
    #[error("handshake protocol: {0}")]
    Protocol(#[from] ProtocolError),
    /// A run made no progress within the stall timeout.
    #[error("stall after {elapsed:?} with {remaining} tasks left: {diagnosis}")]
    Stall {
        /// How long nothing changed.
        elapsed: Duration,
        /// Tasks not completed.
        remaining: usize,
        /// What was found.
        diagnosis: StallDiagnosis,
    },
    /// The backend is still busy with an earlier launch: a kernel of an
    /// earlier run has not returned (its memory is held back until it does).
    #[error("backend stuck: {0}")]
    BackendStuck(String),
    /// Cores did not acknowledge the exit signal in time.
    #[error("shutdown: cores {0:?} did not acknowledge the exit signal")]
    ShutdownTimeout(Vec<u32>),
    /// An orchestration plugin loaded as the other kind: a native hostgraph
    /// plugin as a reference-runtime one, or the reverse.
    #[error("orchestration plugin {path}: {message}")]
    WrongAbi {
        /// Plugin path.
        path: PathBuf,
        /// What it is, and how to load it.
        message: String,
    },
    /// Entry arguments that the reference runtime's `ChipStorageTaskArgs`
    /// cannot hold (which tensor or count, and why).
    #[error("arguments for a reference-runtime plugin: {0}")]
    ReferenceArgs(String),
    /// A negative argument count through the reference runtime's `add_task`.
    #[error("task with func_id {func_id}: negative argument count {count}")]
    NegativeArgCount {
        /// The func_id.
        func_id: i32,
        /// The count given.
        count: i32,
    },
    /// A policy's answer that the run cannot use (named, with why).
    #[error("policy {policy:?}: {what}")]
    BadPolicy {
        /// The policy's name.
        policy: String,
        /// What was wrong with its answer.
        what: String,
    },
    /// The graph has tasks of a core type that no scheduler thread owns a
    /// core of (the assignment left every core of that type unowned).
    #[error("{tasks} {core_type} task(s) but no scheduler thread owns a {core_type} core")]
    NoCoreForType {
        /// The core type.
        core_type: CoreType,
        /// Tasks of that type.
        tasks: usize,
    },
    /// A panic between launch and landing (policy or scheduler code): the
    /// cores were shut down and the backend landed; the runtime is usable.
    #[error("panic during the {phase} phase of a run: {message}")]
    Panicked {
        /// Where: the run phase, or the scheduler thread.
        phase: String,
        /// The panic's message.
        message: String,
    },
    /// The scheduler returned without every task having run (a backend or
    /// phase that did not do its part): never reported as success.
    #[error(
        "the run ended with {completed} of {tasks} tasks completed and {dispatched} dispatched"
    )]
    Incomplete {
        /// Completions the scheduler saw.
        completed: u64,
        /// Dispatches it made.
        dispatched: u64,
        /// Tasks in the graph.
        tasks: usize,
    },
    /// The run was cancelled by dropping its handle before it finished.
    #[error("the run was cancelled before it finished")]
    Cancelled,
    /// A configuration the backend cannot run.
    #[error("configuration for {config} does not fit the backend's {backend}: {why}")]
    ConfigMismatch {
        /// The configured platform.
        config: Platform,
        /// The backend's platform.
        backend: Platform,
        /// What does not fit.
        why: String,
    },
    /// `device_free` of a buffer a tensor pair was recorded in: finalize
    /// would copy back whatever reused the address.
    #[error(
        "device_free({dev:#x}): tensor pair {pair} (dev {pair_dev:#x}) was recorded in this buffer and is copied back at finalize"
    )]
    FreeOfRecorded {
        /// The pointer being freed.
        dev: u64,
        /// Index of the tensor pair, in record order.
        pair: usize,
        /// The pair's device address.
        pair_dev: u64,
    },
}

/// A task held by a core when a run stalled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldTask {
    /// Physical id of the core.
    pub physical_id: u32,
    /// Its type.
    pub core_type: CoreType,
    /// The task.
    pub task: TaskId,
}

impl std::fmt::Display for HeldTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "task {} on {} core {}",
            self.task, self.core_type, self.physical_id
        )
    }
}

/// A ready task that no core took when a run stalled, and where it sat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuedTask {
    /// The task.
    pub task: TaskId,
    /// Its type.
    pub core_type: CoreType,
    /// Where it sat.
    pub place: QueuedIn,
}

/// Where a ready task sat when a run stalled ([`QueuedTask`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueuedIn {
    /// Reserved for a core ([`Place::Core`](crate::sched::Place::Core)).
    Reserved {
        /// The scheduler thread that owns the core.
        thread: usize,
        /// Physical id of the core.
        physical_id: u32,
    },
    /// A scheduler thread's local ready queue of the task's type.
    Local {
        /// The thread.
        thread: usize,
    },
    /// The shared ready queue of the task's type.
    Shared,
    /// The initially ready tasks that did not fit a local queue, not yet
    /// claimed by any thread.
    Seeds,
}

impl std::fmt::Display for QueuedTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "task {} ({}) ", self.task, self.core_type)?;
        match self.place {
            QueuedIn::Reserved {
                thread,
                physical_id,
            } => write!(f, "reserved for core {physical_id} of thread {thread}"),
            QueuedIn::Local { thread } => write!(f, "in thread {thread}'s local queue"),
            QueuedIn::Shared => f.write_str("in the shared queue"),
            QueuedIn::Seeds => f.write_str("in the unclaimed seeds"),
        }
    }
}

/// What a stall looked like when it was detected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StallDiagnosis {
    /// No core busy and tasks left: those still waiting on predecessors
    /// (`(task, remaining fan-in)`), and the ready tasks that sat in queues
    /// no core drew from (stranded), each with where it sat.
    Deadlock {
        /// Tasks with predecessors not finished.
        blocked: Vec<(TaskId, u32)>,
        /// Ready tasks left in the queues (reserved for a core, in a
        /// thread's local queue, in a shared queue, among the seeds), in
        /// that order, by thread.
        queued: Vec<QueuedTask>,
    },
    /// Kernels that did not return within the stall bound: the tasks
    /// inside them (their core acknowledged them and has not finished),
    /// those whose kernels returned only after the stall was declared, and
    /// the tasks written to a core but not started (the core, or whatever
    /// steps it, is busy).
    HungKernel {
        /// Tasks inside kernels.
        running: Vec<HeldTask>,
        /// Tasks whose kernels finished after the stall was declared:
        /// slower than `stall_timeout`, not stuck.
        late: Vec<HeldTask>,
        /// Tasks written to cores, not acknowledged.
        waiting: Vec<HeldTask>,
    },
}

impl std::fmt::Display for StallDiagnosis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const SHOW: usize = 16;
        match self {
            StallDiagnosis::Deadlock { blocked, queued } => {
                write!(
                    f,
                    "deadlock: no core busy, {} ready task(s) stranded in queues",
                    queued.len()
                )?;
                if !queued.is_empty() {
                    let shown: Vec<String> =
                        queued.iter().take(SHOW).map(|q| q.to_string()).collect();
                    write!(
                        f,
                        " ({}{})",
                        shown.join(", "),
                        more(queued.len().saturating_sub(SHOW))
                    )?;
                }
                f.write_str("; blocked tasks (task: remaining fan-in): ")?;
                if blocked.is_empty() {
                    return f.write_str("none");
                }
                let shown: Vec<String> = blocked
                    .iter()
                    .take(SHOW)
                    .map(|(t, n)| format!("{t}:{n}"))
                    .collect();
                f.write_str(&shown.join(", "))?;
                f.write_str(&more(blocked.len().saturating_sub(SHOW)))
            }
            StallDiagnosis::HungKernel {
                running,
                late,
                waiting,
            } => {
                let list = |tasks: &[HeldTask]| {
                    let shown: Vec<String> =
                        tasks.iter().take(SHOW).map(|h| h.to_string()).collect();
                    shown.join(", ") + &more(tasks.len().saturating_sub(SHOW))
                };
                if running.is_empty() {
                    write!(f, "hung kernel: none inside a kernel now")?;
                } else {
                    write!(
                        f,
                        "hung kernel: {} task(s) inside kernels that did not return ({})",
                        running.len(),
                        list(running)
                    )?;
                }
                if !late.is_empty() {
                    write!(
                        f,
                        "; {} in kernels that returned after the stall was declared, slower \
                         than the stall bound ({})",
                        late.len(),
                        list(late)
                    )?;
                }
                if !waiting.is_empty() {
                    write!(
                        f,
                        "; {} more written to cores but not started ({})",
                        waiting.len(),
                        list(waiting)
                    )?;
                }
                Ok(())
            }
        }
    }
}

fn fmt_cycle(cycle: &[TaskId]) -> String {
    let mut s: Vec<String> = cycle.iter().map(|t| t.to_string()).collect();
    if let Some(first) = cycle.first() {
        s.push(first.to_string());
    }
    s.join(" -> ")
}

fn also_missing(n: usize) -> String {
    match n {
        0 => String::new(),
        1 => "; 1 other task has no kernel either".to_string(),
        n => format!("; {n} other tasks have no kernel either"),
    }
}

fn more(n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(" and {n} more")
    }
}

impl Error {
    /// The orchestration status a plugin sees for this error.
    pub fn orch_status(&self) -> OrchStatus {
        match self {
            Error::UnknownTask { .. } => OrchStatus::UnknownTask,
            Error::SelfEdge(_) => OrchStatus::SelfEdge,
            Error::TooManyArgs { .. } => OrchStatus::TooManyArgs,
            Error::BadCoreType(_) => OrchStatus::BadCoreType,
            Error::TooManyTasks(_) | Error::GraphFull { .. } => OrchStatus::TooManyTasks,
            Error::Memory(MemError::OutOfMemory { .. }) => OrchStatus::OutOfMemory,
            Error::Memory(MemError::DoubleFree { .. } | MemError::UnknownPointer { .. }) => {
                OrchStatus::UnknownPointer
            }
            Error::Memory(MemError::OutOfBounds { .. }) => OrchStatus::OutOfBounds,
            Error::Memory(MemError::ZeroSize(_)) => OrchStatus::ZeroSize,
            Error::FreeOfRecorded { .. } => OrchStatus::InUse,
            Error::BadTensorPair { host, dev, .. } if *host != 0 && *dev != 0 => {
                OrchStatus::ZeroSize
            }
            _ => OrchStatus::NullArgument,
        }
    }
}
