//! The sealed view: a dense, read-mostly copy of the graph made from the ECS
//! components before a run, so the hot loop indexes arrays instead of
//! looking up components. Sealing validates the graph (every func_id has a
//! kernel, no cycles) and is redone only when the graph or kernels change.

use std::sync::atomic::AtomicBool as StdAtomicBool;
use std::sync::{Arc, Mutex, OnceLock};

use hostgraph_orch_abi::CoreType;
use hostgraph_platform::DiscoveredCore;

use crate::error::{Error, Result};
use crate::graph::{Task, TaskId, TaskLists};
use crate::kernels::{KernelFn, KernelRegistry};
use crate::profile::{Profile, Recorder, RunInfo};
use crate::sync::{AtomicBool, AtomicU32, Ordering};

/// A kernel failure seen by a core.
#[derive(Debug, Clone)]
pub(crate) struct Fault {
    pub task: u32,
    pub physical_id: u32,
    pub message: String,
}

/// What the hot loop reads about one task besides its lists (whose starts
/// the graph's [`TaskLists`] hold), in one 4-byte word: its kernel slot
/// and core type.
#[derive(Clone, Copy, Debug, Default)]
struct Hot {
    /// Kernel slot << 1 | core type.
    kernel: u32,
}

impl Hot {
    fn slot(self) -> usize {
        (self.kernel >> 1) as usize
    }

    fn core_type(self) -> CoreType {
        if self.kernel & 1 == 0 {
            CoreType::Aic
        } else {
            CoreType::Aiv
        }
    }
}

/// The dense graph a run executes, plus the state that changes while it runs.
pub struct Sealed {
    /// One record per task.
    hot: Vec<Hot>,
    kernels: Vec<(i32, KernelFn)>,
    /// The graph's lists, shared with the ECS resource (not copied).
    lists: TaskLists,
    /// Initially ready tasks by core type, and the AIC task count: fixed
    /// once sealed, so runs do not recompute them.
    roots: [Vec<u32>; 2],
    aic_tasks: usize,
    // Run state.
    /// Remaining fan-in per task: the count of edges into it in the
    /// sealed lists, counted again before every run.
    fanin: Vec<AtomicU32>,
    faulted: AtomicBool,
    fault: Mutex<Option<Fault>>,
    recorder: OnceLock<Recorder>,
    /// Per-task records this run (profiling or publishing results).
    recording: StdAtomicBool,
    /// Times in those records this run (profiling).
    profiling: StdAtomicBool,
}

impl Sealed {
    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.fanin.len()
    }

    /// Whether the graph has no tasks.
    pub fn is_empty(&self) -> bool {
        self.fanin.is_empty()
    }

    /// Number of edges.
    pub fn edge_count(&self) -> usize {
        self.lists.successors.len()
    }

    /// Core type of `task`.
    #[inline]
    pub fn core_type(&self, task: u32) -> CoreType {
        self.hot[task as usize].core_type()
    }

    /// func_id of `task`.
    pub fn func_id(&self, task: u32) -> i32 {
        self.kernels[self.hot[task as usize].slot()].0
    }

    /// Successors of `task`.
    #[inline]
    pub fn successors(&self, task: u32) -> &[TaskId] {
        self.lists.successors_of(task)
    }

    /// Argument words of `task`.
    #[inline]
    pub fn args(&self, task: u32) -> &[u64] {
        self.lists.args_of(task)
    }

    /// Tasks of `core_type` with no predecessors, in id order.
    pub fn roots(&self, core_type: CoreType) -> &[u32] {
        &self.roots[core_type as usize]
    }

    /// Tasks that run on AIC cores.
    pub fn aic_tasks(&self) -> usize {
        self.aic_tasks
    }

    /// Whether `lists` are the very lists this view was sealed with (the
    /// same shared allocations; a rebuilt or replaced resource is not).
    pub(crate) fn holds_lists(&self, lists: &TaskLists) -> bool {
        let (a, b) = (&self.lists, lists);
        Arc::ptr_eq(&a.args, &b.args)
            && Arc::ptr_eq(&a.successors, &b.successors)
            && Arc::ptr_eq(&a.starts, &b.starts)
    }

    /// Resets the run state: every fan-in back to its task's count, no
    /// fault, and per-task records on or off (`profiling`: with times;
    /// `publish`: which core and thread ran each task, in which order).
    ///
    /// The counts are the edges into each task in the lists this view
    /// holds, counted again (O(tasks + edges), no memory of its own).
    pub(crate) fn reset(&self, profiling: bool, publish: bool) {
        let recording = profiling || publish;
        self.recording
            .store(recording, std::sync::atomic::Ordering::Relaxed);
        self.profiling
            .store(profiling, std::sync::atomic::Ordering::Relaxed);
        if recording {
            self.recorder
                .get_or_init(|| Recorder::new(self.len()))
                .begin(profiling);
        }
        // No run is in flight: plain loads and stores, no read-modify-write
        // (the handing of the graph to the scheduler threads publishes
        // them). The sealed lists were checked at seal: every successor
        // is a task of this graph.
        for c in &self.fanin {
            c.store(0, Ordering::Relaxed);
        }
        for &TaskId(s) in self.lists.successors.iter() {
            let c = &self.fanin[s as usize];
            c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        }
        self.faulted.store(false, Ordering::Relaxed);
        *self.fault.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Counts one finished predecessor of `task`; true when it became ready.
    #[inline]
    pub(crate) fn release(&self, task: u32) -> bool {
        self.fanin[task as usize].fetch_sub(1, Ordering::AcqRel) == 1
    }

    /// [`release`](Self::release) for a run where one thread does
    /// everything: a plain load and store (no read-modify-write) suffice.
    #[inline]
    pub(crate) fn release_alone(&self, task: u32) -> bool {
        let c = &self.fanin[task as usize];
        let left = c.load(Ordering::Relaxed) - 1;
        c.store(left, Ordering::Relaxed);
        left == 0
    }

    /// Remaining fan-in of `task` in the current run.
    pub(crate) fn remaining_fanin(&self, task: u32) -> u32 {
        self.fanin[task as usize].load(Ordering::Acquire)
    }

    /// The per-task recorder, when this run records.
    #[inline]
    pub(crate) fn recorder(&self) -> Option<&Recorder> {
        if self.recording.load(std::sync::atomic::Ordering::Relaxed) {
            self.recorder.get()
        } else {
            None
        }
    }

    /// The records of the run that just ended, if it was profiled, with
    /// the run's figures, its cores and the names of the graph's kernels.
    pub(crate) fn take_profile(&self, run: RunInfo, cores: &[DiscoveredCore]) -> Option<Profile> {
        if !self.profiling.load(std::sync::atomic::Ordering::Relaxed) {
            return None;
        }
        let tasks = self
            .recorder()?
            .collect(|t| self.func_id(t), |t| self.core_type(t));
        // Records count from the first dispatch: the window ends with the
        // last completion.
        let window =
            std::time::Duration::from_nanos(tasks.iter().map(|r| r.end_ns).max().unwrap_or(0));
        let kernel_names = self
            .kernels
            .iter()
            .filter_map(|(f, k)| Some((*f, k.name()?.into())))
            .collect();
        Some(Profile {
            tasks,
            window,
            run,
            cores: cores.to_vec(),
            kernel_names,
        })
    }

    /// Runs `task`'s kernel on core `physical_id` with exactly the task's
    /// argument words: what a backend's core does between writing ACK and
    /// FIN. On failure (a caught panic) records the run's first fault and
    /// returns false; the core then writes no FIN.
    #[inline]
    pub fn execute(&self, task: u32, physical_id: u32) -> bool {
        let rec = self.recorder();
        if let Some(r) = rec {
            r.started(task, physical_id);
        }
        let ok = self.call_kernel(task, physical_id);
        if let Some(r) = rec {
            r.ended(task);
        }
        ok
    }

    /// [`execute`](Self::execute) without the per-task records: for a
    /// backend that records the task itself (virtual time, whose records
    /// carry simulated times).
    #[inline]
    pub(crate) fn call_kernel(&self, task: u32, physical_id: u32) -> bool {
        let kernel = &self.kernels[self.hot[task as usize].slot()].1;
        match kernel.call(self.args(task)) {
            Ok(()) => true,
            Err(message) => {
                let mut slot = self.fault.lock().unwrap_or_else(|p| p.into_inner());
                slot.get_or_insert(Fault {
                    task,
                    physical_id,
                    message,
                });
                self.faulted.store(true, Ordering::Release);
                false
            }
        }
    }

    /// Whether a kernel has failed in this run.
    #[inline]
    pub(crate) fn faulted(&self) -> bool {
        self.faulted.load(Ordering::Relaxed)
    }

    /// The first fault of this run.
    pub(crate) fn fault(&self) -> Option<Fault> {
        self.fault.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Seals the graph's tasks (every [`Task`] component, in any order) into
/// a [`Sealed`] view, checking that every func_id has a kernel and that the
/// graph has no cycle.
pub(crate) fn seal<'a>(
    tasks: impl ExactSizeIterator<Item = &'a Task>,
    lists: &TaskLists,
    registry: &KernelRegistry,
) -> Result<Sealed> {
    let n = tasks.len();
    let mismatch = |why: String| Err(Error::GraphMismatch { why });
    // `TaskLists::default()` (no starts at all) is the lists of no tasks.
    let no_lists = lists.starts.is_empty() && lists.args.is_empty() && lists.successors.is_empty();
    if lists.starts.len() != n + 1 && !(n == 0 && no_lists) {
        let listed = lists.starts.len().saturating_sub(1);
        return mismatch(format!(
            "the lists describe {listed} tasks ({} starts), the world holds {n} task entities",
            lists.starts.len()
        ));
    }
    let mut seen = vec![false; n];
    let mut hot = vec![Hot::default(); n];
    let mut kernels: Vec<(i32, KernelFn)> = Vec::new();
    let mut missing: Vec<(TaskId, i32)> = Vec::new();
    for task in tasks {
        let t = task.id.index();
        match seen.get_mut(t) {
            None => {
                return mismatch(format!(
                    "a task entity has id {}, but the graph has {n} tasks",
                    task.id
                ));
            }
            Some(true) => return mismatch(format!("two task entities have id {}", task.id)),
            Some(s) => *s = true,
        }
        let func_id = task.kernel.func_id;
        // Graphs use few kernels: a short list beats a map.
        let slot = match kernels.iter().position(|(f, _)| *f == func_id) {
            Some(s) => s,
            None => match registry.get(func_id) {
                Some(k) => {
                    kernels.push((func_id, k.clone()));
                    kernels.len() - 1
                }
                None => {
                    missing.push((task.id, func_id));
                    continue;
                }
            },
        };
        hot[t] = Hot {
            kernel: (slot as u32) << 1 | task.kernel.core_type as u32,
        };
    }
    if let Some(&(task, func_id)) = missing.iter().min() {
        return Err(Error::MissingKernel {
            func_id,
            task,
            others: missing.len() - 1,
        });
    }
    // Each task's fan-in is the count of edges into it that the lists hold.
    let mut fanin = vec![0u32; n];
    for t in 0..n as u32 {
        for &TaskId(s) in lists.successors_of(t) {
            match fanin.get_mut(s as usize) {
                Some(c) => *c += 1,
                None => return mismatch(format!("task {t} has successor {s} of {n} tasks")),
            }
        }
    }
    let mut roots: [Vec<u32>; 2] = Default::default();
    for t in (0..n).filter(|&t| fanin[t] == 0) {
        roots[hot[t].core_type() as usize].push(t as u32);
    }
    let aic_tasks = hot
        .iter()
        .filter(|h| h.core_type() == CoreType::Aic)
        .count();
    let sealed = Sealed {
        hot,
        kernels,
        lists: lists.clone(),
        roots,
        aic_tasks,
        fanin: fanin.iter().map(|&f| AtomicU32::new(f)).collect(),
        faulted: AtomicBool::new(false),
        fault: Mutex::new(None),
        recorder: OnceLock::new(),
        recording: StdAtomicBool::new(false),
        profiling: StdAtomicBool::new(false),
    };
    check_acyclic(&sealed, fanin)?;
    Ok(sealed)
}

/// Kahn's algorithm over the initial fan-in counts `indeg`; on failure
/// names the tasks on one cycle, in edge order.
fn check_acyclic(g: &Sealed, mut indeg: Vec<u32>) -> Result<()> {
    let n = g.len();
    let mut stack: Vec<u32> = g.roots.concat();
    let mut seen = 0usize;
    while let Some(t) = stack.pop() {
        seen += 1;
        for &TaskId(s) in g.successors(t) {
            indeg[s as usize] -= 1;
            if indeg[s as usize] == 0 {
                stack.push(s);
            }
        }
    }
    if seen == n {
        return Ok(());
    }
    // Every task left has a predecessor that is also left: walk
    // predecessors until one repeats; the repeated stretch is a cycle.
    let mut pred = vec![u32::MAX; n];
    for t in 0..n as u32 {
        if indeg[t as usize] == 0 {
            continue;
        }
        for &TaskId(s) in g.successors(t) {
            if indeg[s as usize] > 0 {
                pred[s as usize] = t;
            }
        }
    }
    let start = indeg.iter().position(|&d| d > 0).expect("a task is left") as u32;
    let mut order = vec![usize::MAX; n];
    let mut walk = Vec::new();
    let mut t = start;
    while order[t as usize] == usize::MAX {
        order[t as usize] = walk.len();
        walk.push(t);
        t = pred[t as usize];
    }
    let mut cycle: Vec<TaskId> = walk[order[t as usize]..]
        .iter()
        .map(|&t| TaskId(t))
        .collect();
    cycle.reverse();
    // Start the listing at the smallest id, for stable messages.
    let min = cycle
        .iter()
        .enumerate()
        .min_by_key(|(_, t)| **t)
        .map(|(i, _)| i)
        .unwrap_or(0);
    cycle.rotate_left(min);
    Err(Error::Cycle(cycle))
}
