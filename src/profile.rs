//! Profiling: per-task records (core, func_id, dispatch / start / end
//! times) collected while a run is in flight, exported as Chrome / Perfetto
//! trace JSON, with a per-run summary. A [`Profile`] also carries what the
//! records need to be read: the run's platform, block dim and thread count,
//! every discovered core, and the names of the graph's kernels.
//!
//! Off by default; when off, the hot loop pays one predictable branch per
//! dispatch and per kernel call. When on, each record is a fixed slot per
//! task (no allocation, no lock while running). The same slots, without
//! clock reads, record which core and thread ran each task, and in which
//! order, when a run publishes its results
//! ([`RuntimeConfig::publish`](crate::RuntimeConfig::publish)).

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use hostgraph_orch_abi::CoreType;
use hostgraph_platform::{DiscoveredCore, Platform};
use serde_json::json;

/// Nanoseconds since a process-wide base instant.
#[inline]
pub(crate) fn now_ns() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// One task's slot, written once per run by the scheduler (dispatch) and by
/// the core (start, end). Relaxed throughout: the slots are read once every
/// thread of the run has returned (joined, or synchronised through the
/// run's completion), which orders every write before the reads.
#[derive(Default)]
pub(crate) struct Slot {
    dispatch: AtomicU64,
    start: AtomicU64,
    end: AtomicU64,
    core: AtomicU32,
    thread: AtomicU32,
    order: AtomicU32,
    ready: AtomicU32,
}

/// The slots of every task of a sealed graph.
pub(crate) struct Recorder {
    slots: Box<[Slot]>,
    /// Read the clock (profiling), or only note core, thread and order.
    timed: AtomicBool,
    /// Kernels that have returned this run: the next one's order.
    ended: AtomicU32,
}

impl Recorder {
    pub fn new(tasks: usize) -> Self {
        Recorder {
            slots: (0..tasks).map(|_| Slot::default()).collect(),
            timed: AtomicBool::new(false),
            ended: AtomicU32::new(0),
        }
    }

    /// Starts a run's records, with times or without.
    pub fn begin(&self, timed: bool) {
        self.timed.store(timed, Ordering::Relaxed);
        self.ended.store(0, Ordering::Relaxed);
    }

    #[inline]
    fn now(&self) -> u64 {
        if self.timed.load(Ordering::Relaxed) {
            now_ns()
        } else {
            0
        }
    }

    #[inline]
    pub fn dispatched(&self, task: u32, thread: u32, ready: u32) {
        let s = &self.slots[task as usize];
        s.thread.store(thread, Ordering::Relaxed);
        s.ready.store(ready, Ordering::Relaxed);
        s.dispatch.store(self.now(), Ordering::Relaxed);
    }

    #[inline]
    pub fn started(&self, task: u32, physical_id: u32) {
        let s = &self.slots[task as usize];
        s.core.store(physical_id, Ordering::Relaxed);
        s.start.store(self.now(), Ordering::Relaxed);
    }

    #[inline]
    pub fn ended(&self, task: u32) {
        let s = &self.slots[task as usize];
        s.end.store(self.now(), Ordering::Relaxed);
        s.order.store(
            self.ended.fetch_add(1, Ordering::Relaxed),
            Ordering::Relaxed,
        );
    }

    /// Records a task run in virtual time, when its FIN becomes visible:
    /// its core and its place in the order of completion, and, when this
    /// run is timed, the simulated dispatch, start and end times (in ns
    /// from the simulation's start) instead of the clock's. The thread was
    /// noted at dispatch ([`dispatched`](Self::dispatched)).
    #[inline]
    pub fn simulated(&self, task: u32, physical_id: u32, dispatch: u64, start: u64, end: u64) {
        let s = &self.slots[task as usize];
        s.core.store(physical_id, Ordering::Relaxed);
        s.order.store(
            self.ended.fetch_add(1, Ordering::Relaxed),
            Ordering::Relaxed,
        );
        if self.timed.load(Ordering::Relaxed) {
            s.dispatch.store(dispatch, Ordering::Relaxed);
            s.start.store(start, Ordering::Relaxed);
            s.end.store(end, Ordering::Relaxed);
        }
    }

    /// Task `task`'s core, thread and order of completion in the run that
    /// just ended.
    pub fn placement(&self, task: u32) -> (u32, u32, u32) {
        let s = &self.slots[task as usize];
        (
            s.core.load(Ordering::Relaxed),
            s.thread.load(Ordering::Relaxed),
            s.order.load(Ordering::Relaxed),
        )
    }

    /// The records of the run that just ended (every thread has been joined
    /// and every task ran), with times from its first dispatch.
    pub fn collect(
        &self,
        func_id: impl Fn(u32) -> i32,
        core_type: impl Fn(u32) -> CoreType,
    ) -> Vec<TaskRecord> {
        let first = self
            .slots
            .iter()
            .map(|s| {
                s.dispatch
                    .load(Ordering::Relaxed)
                    .min(s.start.load(Ordering::Relaxed))
            })
            .min()
            .unwrap_or(0);
        let rel = |a: &AtomicU64| a.load(Ordering::Relaxed).saturating_sub(first);
        self.slots
            .iter()
            .enumerate()
            .map(|(t, s)| TaskRecord {
                task: t as u32,
                func_id: func_id(t as u32),
                core_type: core_type(t as u32),
                physical_id: s.core.load(Ordering::Relaxed),
                thread: s.thread.load(Ordering::Relaxed),
                dispatch_ns: rel(&s.dispatch),
                start_ns: rel(&s.start),
                end_ns: rel(&s.end),
                ready: s.ready.load(Ordering::Relaxed),
            })
            .collect()
    }
}

/// What happened to one task in a profiled run (times in ns from the run's
/// first dispatch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskRecord {
    /// The task.
    pub task: u32,
    /// Its func_id.
    pub func_id: i32,
    /// AIC or AIV.
    pub core_type: CoreType,
    /// Physical id of the core that ran it.
    pub physical_id: u32,
    /// Scheduler thread that dispatched it.
    pub thread: u32,
    /// When its id was written to DATA_MAIN_BASE.
    pub dispatch_ns: u64,
    /// When its kernel started.
    pub start_ns: u64,
    /// When its kernel returned.
    pub end_ns: u64,
    /// Ready tasks of its core type that its thread could still see right
    /// after taking it (its local queue, the shared queue and the initially
    /// ready tasks not yet claimed): the ready-queue depth, sampled at each
    /// dispatch.
    pub ready: u32,
}

/// Busy and idle time of one core over a profiled run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoreUsage {
    /// Physical id.
    pub physical_id: u32,
    /// AIC or AIV.
    pub core_type: CoreType,
    /// Tasks it ran.
    pub tasks: usize,
    /// Time inside kernels.
    pub busy: Duration,
    /// The rest of the run's dispatch window.
    pub idle: Duration,
}

/// The run a profile was taken of.
///
/// Its `Display` is the trace's process name:
///
/// ```
/// use hostgraph::{Platform, profile::RunInfo};
/// let run = RunInfo { platform: Platform::A2A3, block_dim: 3, threads: 2 };
/// assert_eq!(run.to_string(), "hostgraph a2a3, block dim 3, 2 scheduler threads");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunInfo {
    /// The chip.
    pub platform: Platform,
    /// Blocks launched.
    pub block_dim: u32,
    /// Scheduler (AICPU) threads.
    pub threads: usize,
}

impl fmt::Display for RunInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "hostgraph {}, block dim {}, {} scheduler thread{}",
            self.platform,
            self.block_dim,
            self.threads,
            if self.threads == 1 { "" } else { "s" }
        )
    }
}

/// A profiled run: every task's record, what they add up to, and what is
/// needed to show them (the run, its cores, its kernels' names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// One record per task, by task id.
    pub tasks: Vec<TaskRecord>,
    /// Length of the dispatch window (first dispatch to last completion).
    pub window: Duration,
    /// Platform, block dim and scheduler threads of the run.
    pub run: RunInfo,
    /// Every core the run discovered, in launch order (also those that ran
    /// no task).
    pub cores: Vec<DiscoveredCore>,
    /// Names of the graph's kernels that have one ([`KernelFn::named`](crate::KernelFn::named)), by func_id.
    pub kernel_names: BTreeMap<i32, Arc<str>>,
}

impl Profile {
    /// The name of the kernel registered for `func_id`, if it has one.
    pub fn kernel_name(&self, func_id: i32) -> Option<&str> {
        self.kernel_names.get(&func_id).map(|n| &**n)
    }

    /// What to call the kernel of `func_id`: its name, or `func N`.
    pub fn kernel_label(&self, func_id: i32) -> String {
        match self.kernel_name(func_id) {
            Some(name) => name.to_string(),
            None => format!("func {func_id}"),
        }
    }

    /// Busy/idle time of every discovered core (those that ran nothing too,
    /// and any core a record names that is not among [`cores`](Self::cores)),
    /// by physical id.
    pub fn core_usage(&self) -> Vec<CoreUsage> {
        let idle = |physical_id, core_type| CoreUsage {
            physical_id,
            core_type,
            tasks: 0,
            busy: Duration::ZERO,
            idle: Duration::ZERO,
        };
        let mut by_core: BTreeMap<u32, CoreUsage> = self
            .cores
            .iter()
            .map(|c| (c.physical_id, idle(c.physical_id, c.core_type)))
            .collect();
        for r in &self.tasks {
            let u = by_core
                .entry(r.physical_id)
                .or_insert_with(|| idle(r.physical_id, r.core_type));
            u.tasks += 1;
            u.busy += Duration::from_nanos(r.end_ns.saturating_sub(r.start_ns));
        }
        by_core
            .into_values()
            .map(|mut u| {
                u.idle = self.window.saturating_sub(u.busy);
                u
            })
            .collect()
    }

    /// The scheduler threads: every thread of the run, and any thread a
    /// record names beyond them, in order.
    pub fn scheduler_threads(&self) -> Vec<u32> {
        let mut threads: Vec<u32> = (0..self.run.threads as u32)
            .chain(self.tasks.iter().map(|r| r.thread))
            .collect();
        threads.sort_unstable();
        threads.dedup();
        threads
    }

    /// Mean time from writing a task's id to its kernel starting.
    pub fn mean_dispatch_latency(&self) -> Duration {
        let n = self.tasks.len().max(1) as u64;
        Duration::from_nanos(
            self.tasks
                .iter()
                .map(|r| r.start_ns.saturating_sub(r.dispatch_ns))
                .sum::<u64>()
                / n,
        )
    }

    /// Idle time per task: the time the cores that ran tasks spent outside
    /// kernels over the window, divided by the number of tasks. It counts
    /// waiting for work as well as the scheduler's own delay, and grows
    /// with the number of cores: not a scheduler cost on its own.
    pub fn idle_per_task(&self) -> Duration {
        let idle: Duration = self
            .core_usage()
            .iter()
            .filter(|u| u.tasks > 0)
            .map(|u| u.idle)
            .sum();
        idle / self.tasks.len().max(1) as u32
    }

    /// A few lines for a terminal (busy share over the cores that ran tasks).
    pub fn summary(&self) -> String {
        let all = self.core_usage();
        let usage: Vec<&CoreUsage> = all.iter().filter(|u| u.tasks > 0).collect();
        let busy: Duration = usage.iter().map(|u| u.busy).sum();
        let total = self.window * usage.len().max(1) as u32;
        format!(
            "profile: {} tasks on {} of {} cores over {:?}; cores busy {:.1}%; dispatch->start {:?} mean; cores idle {:?}/task",
            self.tasks.len(),
            usage.len(),
            all.len(),
            self.window,
            100.0 * busy.as_secs_f64() / total.as_secs_f64().max(f64::MIN_POSITIVE),
            self.mean_dispatch_latency(),
            self.idle_per_task(),
        )
    }

    /// The run as Chrome / Perfetto trace JSON: one process named after the
    /// run ([`RunInfo`]), a named track per discovered core (one slice per
    /// kernel, named after the kernel or `func N`) and per scheduler thread
    /// (one instant per dispatch), and a counter per core type of the ready
    /// tasks a dispatching thread could see ([`TaskRecord::ready`]). A
    /// core's track id is its physical id; scheduler thread `t`'s is
    /// 10,000 + `t`, or the first power of ten above every physical id
    /// plus `t` on a chip with more cores.
    pub fn chrome_trace(&self) -> serde_json::Value {
        let usage = self.core_usage();
        let top = usage
            .iter()
            .map(|u| u.physical_id)
            .chain(self.tasks.iter().map(|r| r.physical_id))
            .max()
            .map_or(0, u64::from);
        let mut sched_track: u64 = 10_000;
        while sched_track <= top {
            sched_track *= 10;
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        let mut events = Vec::with_capacity(2 * self.tasks.len() + 64);
        events.push(json!({"ph": "M", "name": "process_name", "pid": 1,
            "args": {"name": self.run.to_string()}}));
        for u in usage {
            events.push(
                json!({"ph": "M", "name": "thread_name", "pid": 1, "tid": u.physical_id,
                "args": {"name": format!("{} core {}", u.core_type, u.physical_id)}}),
            );
        }
        for t in self.scheduler_threads() {
            events.push(json!({"ph": "M", "name": "thread_name", "pid": 1, "tid": sched_track + u64::from(t),
                "args": {"name": format!("AICPU scheduler {t}")}}));
        }
        let mut labels: BTreeMap<i32, String> = BTreeMap::new();
        for r in &self.tasks {
            let name = labels
                .entry(r.func_id)
                .or_insert_with(|| self.kernel_label(r.func_id));
            // The slice ends at the end's own rounding at the latest: a
            // separately rounded duration could reach into the core's next
            // slice at very long times (then it is cut to fit: `end - ts`
            // is exact when `ts >= end / 2` (Sterbenz), so the sum is `end`;
            // else `dur` is over half of `end`, and a step or two of its
            // own ulp brings the sum back within `end`).
            let (ts, end) = (us(r.start_ns), us(r.end_ns.max(r.start_ns)));
            let mut dur = us(r.end_ns.saturating_sub(r.start_ns));
            if ts + dur > end {
                dur = end - ts;
                while ts + dur > end {
                    dur = dur.next_down();
                }
            }
            events.push(
                json!({"ph": "X", "name": name, "pid": 1, "tid": r.physical_id,
                "ts": ts, "dur": dur,
                "args": {"task": r.task, "func_id": r.func_id, "dispatch_us": us(r.dispatch_ns)}}),
            );
            events.push(
                json!({"ph": "i", "s": "t", "name": format!("dispatch {}", r.task), "pid": 1,
                "tid": sched_track + u64::from(r.thread), "ts": us(r.dispatch_ns),
                "args": {"task": r.task, "core": r.physical_id}}),
            );
        }
        // Ready-queue depth per core type, sampled at each dispatch.
        let mut samples: Vec<&TaskRecord> = self.tasks.iter().collect();
        samples.sort_by_key(|r| (r.dispatch_ns, r.task));
        for r in samples {
            events.push(
                json!({"ph": "C", "name": format!("ready {}", r.core_type), "pid": 1,
                "ts": us(r.dispatch_ns), "args": {"tasks": r.ready}}),
            );
        }
        json!({"traceEvents": events, "displayTimeUnit": "ns"})
    }

    /// Writes [`chrome_trace`](Self::chrome_trace) to `path`. An error
    /// keeps its kind and names the path (`writing trace PATH: why`).
    pub fn write_chrome_trace(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        let path = path.as_ref();
        let write = || -> std::io::Result<()> {
            let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
            serde_json::to_writer(&mut f, &self.chrome_trace())?;
            f.flush()
        };
        write().map_err(|e| {
            std::io::Error::new(e.kind(), format!("writing trace {}: {e}", path.display()))
        })
    }
}
