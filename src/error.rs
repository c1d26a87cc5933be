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
    #[error("no kernel registered for func_id {func_id} (used by task {task}{})", more(*.others))]
    MissingKernel {
        /// The func_id.
        func_id: i32,
        /// The first task that uses it.
        task: TaskId,
        /// How many other tasks use unregistered func_ids.
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
    /// `build` was called while an earlier graph was not finalized.
    #[error("a graph of {0} tasks is already built; finalize() it first")]
    GraphPresent(usize),
    /// `run` was called with no graph built.
    #[error("no graph is built")]
    NoGraph,
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
    #[error("orchestration entry {entry} returned {code}")]
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
    /// The backend is still busy with an earlier launch (a kernel never returned).
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
}

/// What a stall looked like when it was detected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StallDiagnosis {
    /// No core busy and tasks left: those still waiting on predecessors
    /// (`(task, remaining fan-in)`), and how many ready tasks sat in queues
    /// that no core drew from (stranded).
    Deadlock {
        /// Tasks with predecessors not finished.
        blocked: Vec<(TaskId, u32)>,
        /// Ready tasks left in the queues.
        queued: usize,
    },
    /// Cores holding tasks that never finished: `(physical core id, core type, task)`.
    HungKernel(Vec<(u32, CoreType, TaskId)>),
}

impl std::fmt::Display for StallDiagnosis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const SHOW: usize = 16;
        match self {
            StallDiagnosis::Deadlock { blocked, queued } => {
                write!(
                    f,
                    "deadlock: no core busy, {queued} ready task(s) stranded in queues; \
                     blocked tasks (task: remaining fan-in):"
                )?;
                for (t, n) in blocked.iter().take(SHOW) {
                    write!(f, " {t}:{n}")?;
                }
                f.write_str(&more(blocked.len().saturating_sub(SHOW)))
            }
            StallDiagnosis::HungKernel(cores) => {
                write!(f, "hung kernel:")?;
                for (core, ty, t) in cores.iter().take(SHOW) {
                    write!(f, " task {t} on {ty} core {core};")?;
                }
                f.write_str(&more(cores.len().saturating_sub(SHOW)))
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
            Error::BadTensorPair { host, dev, .. } if *host != 0 && *dev != 0 => {
                OrchStatus::ZeroSize
            }
            _ => OrchStatus::NullArgument,
        }
    }
}
