//! The sealed view: a dense, read-mostly copy of the graph made from the ECS
//! components before a run, so the hot loop indexes arrays instead of
//! looking up components. Sealing validates the graph (every func_id has a
//! kernel, no cycles) and is redone only when the graph or kernels change.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use bevy_ecs::prelude::*;
use hostgraph_orch_abi::CoreType;

use crate::error::{Error, Result};
use crate::graph::{Args, Fanin, Kernel, Successors, TaskId};
use crate::kernels::{KernelFn, KernelRegistry};
use crate::profile::{Profile, Recorder};

/// A kernel failure seen by a core.
#[derive(Debug, Clone)]
pub(crate) struct Fault {
    pub task: u32,
    pub physical_id: u32,
    pub message: String,
}

/// The dense graph a run executes, plus the state that changes while it runs.
pub struct Sealed {
    core_type: Vec<CoreType>,
    kernel_slot: Vec<u32>,
    kernels: Vec<(i32, KernelFn)>,
    arg_start: Vec<usize>,
    args: Vec<u64>,
    succ_start: Vec<u32>,
    succ: Vec<u32>,
    fanin_init: Vec<u32>,
    /// Initially ready tasks by core type, and the AIC task count: fixed
    /// once sealed, so runs do not recompute them.
    roots: [Vec<u32>; 2],
    aic_tasks: usize,
    // Run state.
    fanin: Vec<AtomicU32>,
    faulted: AtomicBool,
    fault: Mutex<Option<Fault>>,
    profile: OnceLock<Recorder>,
    profiling: AtomicBool,
}

impl Sealed {
    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.core_type.len()
    }

    /// Whether the graph has no tasks.
    pub fn is_empty(&self) -> bool {
        self.core_type.is_empty()
    }

    /// Number of edges.
    pub fn edge_count(&self) -> usize {
        self.succ.len()
    }

    /// Core type of `task`.
    #[inline]
    pub fn core_type(&self, task: u32) -> CoreType {
        self.core_type[task as usize]
    }

    /// func_id of `task`.
    pub fn func_id(&self, task: u32) -> i32 {
        self.kernels[self.kernel_slot[task as usize] as usize].0
    }

    /// Successors of `task`.
    #[inline]
    pub fn successors(&self, task: u32) -> &[u32] {
        let t = task as usize;
        &self.succ[self.succ_start[t] as usize..self.succ_start[t + 1] as usize]
    }

    /// Argument words of `task`.
    #[inline]
    pub fn args(&self, task: u32) -> &[u64] {
        let t = task as usize;
        &self.args[self.arg_start[t]..self.arg_start[t + 1]]
    }

    /// Tasks of `core_type` with no predecessors, in id order.
    pub fn roots(&self, core_type: CoreType) -> &[u32] {
        &self.roots[core_type as usize]
    }

    /// Tasks that run on AIC cores.
    pub fn aic_tasks(&self) -> usize {
        self.aic_tasks
    }

    /// Resets the run state: every fan-in back to its initial count, no
    /// fault, and per-task records on or off.
    pub(crate) fn reset(&self, profiling: bool) {
        self.profiling.store(profiling, Ordering::Relaxed);
        if profiling {
            self.profile
                .get_or_init(|| Recorder::new(self.len()))
                .begin();
        }
        for (live, init) in self.fanin.iter().zip(&self.fanin_init) {
            live.store(*init, Ordering::Relaxed);
        }
        self.faulted.store(false, Ordering::Relaxed);
        *self.fault.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Counts one finished predecessor of `task`; true when it became ready.
    #[inline]
    pub(crate) fn release(&self, task: u32) -> bool {
        self.fanin[task as usize].fetch_sub(1, Ordering::AcqRel) == 1
    }

    /// Remaining fan-in of `task` in the current run.
    pub(crate) fn remaining_fanin(&self, task: u32) -> u32 {
        self.fanin[task as usize].load(Ordering::Acquire)
    }

    /// Runs `task`'s kernel on core `physical_id`; on failure records the
    /// first fault and returns false.
    /// The per-task recorder, when this run is profiled.
    #[inline]
    pub(crate) fn recorder(&self) -> Option<&Recorder> {
        if self.profiling.load(Ordering::Relaxed) {
            self.profile.get()
        } else {
            None
        }
    }

    /// The records of the run that just ended, if it was profiled.
    pub(crate) fn take_profile(&self, window: std::time::Duration) -> Option<Profile> {
        let tasks = self
            .recorder()?
            .collect(|t| self.func_id(t), |t| self.core_type(t));
        Some(Profile { tasks, window })
    }

    #[inline]
    pub(crate) fn run_task(&self, task: u32, physical_id: u32) -> bool {
        let kernel = &self.kernels[self.kernel_slot[task as usize] as usize].1;
        let rec = self.recorder();
        if let Some(r) = rec {
            r.started(task, physical_id);
        }
        let result = kernel.call(self.args(task));
        if let Some(r) = rec {
            r.ended(task);
        }
        match result {
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

/// System: seals the task entities into a [`Sealed`] view, checking that
/// every func_id has a kernel and that the graph has no cycle.
pub(crate) fn seal_graph(
    tasks: Query<(&TaskId, &Kernel, &Args, &Fanin, &Successors)>,
    registry: Res<KernelRegistry>,
) -> Result<Sealed> {
    let n = tasks.iter().len();
    let mut core_type = vec![CoreType::Aic; n];
    let mut kernel_slot = vec![0u32; n];
    let mut fanin_init = vec![0u32; n];
    let mut arg_len = vec![0usize; n];
    let mut succ_len = vec![0u32; n];
    let mut kernels: Vec<(i32, KernelFn)> = Vec::new();
    let mut missing: Vec<(TaskId, i32)> = Vec::new();
    for (id, kernel, args, fanin, succ) in &tasks {
        let t = id.index();
        core_type[t] = kernel.core_type;
        fanin_init[t] = fanin.initial;
        arg_len[t] = args.0.len();
        succ_len[t] = succ.0.len() as u32;
        let slot = match kernels.iter().position(|(f, _)| *f == kernel.func_id) {
            Some(s) => s,
            None => match registry.get(kernel.func_id) {
                Some(k) => {
                    kernels.push((kernel.func_id, k.clone()));
                    kernels.len() - 1
                }
                None => {
                    missing.push((*id, kernel.func_id));
                    continue;
                }
            },
        };
        kernel_slot[t] = slot as u32;
    }
    if let Some(&(task, func_id)) = missing.iter().min() {
        return Err(Error::MissingKernel {
            func_id,
            task,
            others: missing.len() - 1,
        });
    }
    let arg_start = prefix_sum(&arg_len);
    let succ_start: Vec<u32> = prefix_sum(&succ_len);
    let mut args = vec![0u64; arg_start[n]];
    let mut succ = vec![0u32; succ_start[n] as usize];
    for (id, _, a, _, s) in &tasks {
        let t = id.index();
        args[arg_start[t]..arg_start[t + 1]].copy_from_slice(&a.0);
        let dst = &mut succ[succ_start[t] as usize..succ_start[t + 1] as usize];
        for (d, s) in dst.iter_mut().zip(&s.0) {
            *d = s.0;
        }
    }
    let fanin = fanin_init.iter().map(|&f| AtomicU32::new(f)).collect();
    let mut roots: [Vec<u32>; 2] = Default::default();
    for t in (0..n).filter(|&t| fanin_init[t] == 0) {
        roots[core_type[t] as usize].push(t as u32);
    }
    let aic_tasks = core_type.iter().filter(|&&c| c == CoreType::Aic).count();
    let sealed = Sealed {
        core_type,
        kernel_slot,
        kernels,
        arg_start,
        args,
        succ_start,
        succ,
        fanin_init,
        roots,
        aic_tasks,
        fanin,
        faulted: AtomicBool::new(false),
        fault: Mutex::new(None),
        profile: OnceLock::new(),
        profiling: AtomicBool::new(false),
    };
    check_acyclic(&sealed)?;
    Ok(sealed)
}

fn prefix_sum<T: Copy + Default + std::ops::Add<Output = T>>(lens: &[T]) -> Vec<T> {
    let mut out = Vec::with_capacity(lens.len() + 1);
    let mut acc = T::default();
    out.push(acc);
    for &l in lens {
        acc = acc + l;
        out.push(acc);
    }
    out
}

/// Kahn's algorithm; on failure names the tasks on one cycle, in edge order.
fn check_acyclic(g: &Sealed) -> Result<()> {
    let n = g.len();
    let mut indeg = g.fanin_init.clone();
    let mut stack: Vec<u32> = g.roots.concat();
    let mut seen = 0usize;
    while let Some(t) = stack.pop() {
        seen += 1;
        for &s in g.successors(t) {
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
        for &s in g.successors(t) {
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
