//! Profiling: per-task records (core, func_id, dispatch / start / end
//! times) collected while a run is in flight, exported as Chrome / Perfetto
//! trace JSON, with a per-run summary.
//!
//! Off by default; when off, the hot loop pays one predictable branch per
//! dispatch and per kernel call. When on, each record is a fixed slot per
//! task (no allocation, no lock while running).

use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hostgraph_orch_abi::CoreType;
use serde_json::json;

/// Nanoseconds since a process-wide base instant.
#[inline]
pub(crate) fn now_ns() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// One task's slot, written once per run by the scheduler (dispatch) and by
/// the core (start, end).
#[derive(Default)]
pub(crate) struct Slot {
    dispatch: AtomicU64,
    start: AtomicU64,
    end: AtomicU64,
    core: AtomicU32,
    thread: AtomicU32,
}

/// The slots of every task of a sealed graph.
pub(crate) struct Recorder {
    slots: Box<[Slot]>,
    epoch: AtomicU64,
}

impl Recorder {
    pub fn new(tasks: usize) -> Self {
        Recorder {
            slots: (0..tasks).map(|_| Slot::default()).collect(),
            epoch: AtomicU64::new(0),
        }
    }

    pub fn begin(&self) {
        self.epoch.store(now_ns(), Ordering::Relaxed);
    }

    #[inline]
    pub fn dispatched(&self, task: u32, thread: u32) {
        let s = &self.slots[task as usize];
        s.thread.store(thread, Ordering::Relaxed);
        s.dispatch.store(now_ns(), Ordering::Relaxed);
    }

    #[inline]
    pub fn started(&self, task: u32, physical_id: u32) {
        let s = &self.slots[task as usize];
        s.core.store(physical_id, Ordering::Relaxed);
        s.start.store(now_ns(), Ordering::Relaxed);
    }

    #[inline]
    pub fn ended(&self, task: u32) {
        self.slots[task as usize]
            .end
            .store(now_ns(), Ordering::Relaxed);
    }

    /// The records of the run that just ended (every thread has been joined).
    pub fn collect(
        &self,
        func_id: impl Fn(u32) -> i32,
        core_type: impl Fn(u32) -> CoreType,
    ) -> Vec<TaskRecord> {
        let epoch = self.epoch.load(Ordering::Relaxed);
        let rel = |a: &AtomicU64| a.load(Ordering::Relaxed).saturating_sub(epoch);
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
            })
            .collect()
    }
}

/// What happened to one task in a profiled run (times in ns from the start
/// of dispatching).
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

/// A profiled run: every task's record, and what they add up to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// One record per task, by task id.
    pub tasks: Vec<TaskRecord>,
    /// Length of the dispatch window (first dispatch to last completion).
    pub window: Duration,
}

impl Profile {
    /// Busy/idle time per core that ran at least one task, by physical id.
    pub fn core_usage(&self) -> Vec<CoreUsage> {
        let mut by_core: std::collections::BTreeMap<u32, CoreUsage> = Default::default();
        for r in &self.tasks {
            let u = by_core.entry(r.physical_id).or_insert(CoreUsage {
                physical_id: r.physical_id,
                core_type: r.core_type,
                tasks: 0,
                busy: Duration::ZERO,
                idle: Duration::ZERO,
            });
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

    /// Scheduler overhead per task: core time not spent in kernels over the
    /// window, divided by the number of tasks.
    pub fn overhead_per_task(&self) -> Duration {
        let idle: Duration = self.core_usage().iter().map(|u| u.idle).sum();
        idle / self.tasks.len().max(1) as u32
    }

    /// A few lines for a terminal.
    pub fn summary(&self) -> String {
        let usage = self.core_usage();
        let busy: Duration = usage.iter().map(|u| u.busy).sum();
        let total = self.window * usage.len().max(1) as u32;
        format!(
            "profile: {} tasks on {} cores over {:?}; cores busy {:.1}%; dispatch->start {:?} mean; overhead {:?}/task",
            self.tasks.len(),
            usage.len(),
            self.window,
            100.0 * busy.as_secs_f64() / total.as_secs_f64().max(f64::MIN_POSITIVE),
            self.mean_dispatch_latency(),
            self.overhead_per_task(),
        )
    }

    /// The run as Chrome / Perfetto trace JSON: a track per core (one slice
    /// per kernel) and per scheduler thread (one instant per dispatch).
    pub fn chrome_trace(&self) -> serde_json::Value {
        const SCHED_TRACK: u64 = 10_000;
        let us = |ns: u64| ns as f64 / 1000.0;
        let mut events = Vec::with_capacity(2 * self.tasks.len() + 64);
        for u in self.core_usage() {
            events.push(
                json!({"ph": "M", "name": "thread_name", "pid": 1, "tid": u.physical_id,
                "args": {"name": format!("{} core {}", u.core_type, u.physical_id)}}),
            );
        }
        let mut threads: Vec<u32> = self.tasks.iter().map(|r| r.thread).collect();
        threads.sort_unstable();
        threads.dedup();
        for t in threads {
            events.push(json!({"ph": "M", "name": "thread_name", "pid": 1, "tid": SCHED_TRACK + u64::from(t),
                "args": {"name": format!("AICPU scheduler {t}")}}));
        }
        for r in &self.tasks {
            events.push(json!({"ph": "X", "name": format!("func {}", r.func_id), "pid": 1, "tid": r.physical_id,
                "ts": us(r.start_ns), "dur": us(r.end_ns.saturating_sub(r.start_ns)),
                "args": {"task": r.task, "func_id": r.func_id, "dispatch_us": us(r.dispatch_ns)}}));
            events.push(
                json!({"ph": "i", "s": "t", "name": format!("dispatch {}", r.task), "pid": 1,
                "tid": SCHED_TRACK + u64::from(r.thread), "ts": us(r.dispatch_ns),
                "args": {"task": r.task, "core": r.physical_id}}),
            );
        }
        json!({"traceEvents": events, "displayTimeUnit": "ns"})
    }

    /// Writes [`chrome_trace`](Self::chrome_trace) to `path`.
    pub fn write_chrome_trace(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
        serde_json::to_writer(&mut f, &self.chrome_trace())?;
        f.flush()
    }
}
