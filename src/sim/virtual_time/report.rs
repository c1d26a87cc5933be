//! What a run in virtual time adds up to.

use hostgraph_orch_abi::CoreType;

/// The figures of the last run a [`VirtualTime`](super::VirtualTime)
/// backend completed, all in virtual nanoseconds: the same graph, cost
/// model, seed, policy and configuration give the same report, bit for
/// bit, on any machine.
///
/// Per-task records (dispatch, start, end, core, thread) are the run's
/// [`Profile`](crate::Profile): with
/// [`RuntimeConfig::profiling`](crate::RuntimeConfig::profiling) on,
/// [`RunReport::profile`](crate::RunReport::profile) holds them in virtual
/// time, ready for [`Profile::write_chrome_trace`](crate::Profile::write_chrome_trace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualReport {
    /// Tasks run.
    pub tasks: usize,
    /// From the first DATA_MAIN_BASE write of a task to the last FIN
    /// becoming visible.
    pub makespan_ns: u64,
    /// The longest path through the graph, weighted by the durations drawn
    /// for this run.
    pub critical_path_ns: u64,
    /// Sum of the drawn durations of the tasks of each core type (AIC,
    /// AIV: index by `CoreType as usize`).
    pub work_ns: [u64; 2],
    /// No schedule can finish sooner: the critical path, or the work of a
    /// core type spread evenly over that type's cores (rounded up),
    /// whichever is longer.
    pub lower_bound_ns: u64,
    /// Every launched core, in launch order.
    pub cores: Vec<CoreTime>,
    /// Every scheduler thread that owned cores, by index.
    pub threads: Vec<ThreadTime>,
}

/// How one core spent a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoreTime {
    /// Physical id.
    pub physical_id: u32,
    /// AIC or AIV.
    pub core_type: CoreType,
    /// Tasks it ran.
    pub tasks: u64,
    /// Sum of those tasks' durations.
    pub busy_ns: u64,
    /// The rest of the makespan.
    pub idle_ns: u64,
}

/// How one scheduler thread spent a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadTime {
    /// The thread's index in the run.
    pub index: usize,
    /// Polls simulated (those a thread would spin through seeing nothing
    /// are not: see the [rules](super#the-model)).
    pub polls: u64,
    /// COND reads those polls made.
    pub reads: u64,
    /// Register writes they made (one per dispatched task).
    pub writes: u64,
    /// What those polls cost: the thread's scheduler time.
    pub sched_ns: u64,
    /// When its last poll ended (its polls all lie between 0 and this).
    pub end_ns: u64,
}

impl VirtualReport {
    /// Makespan over lower bound (1.0: no schedule does better). Infinite
    /// when tasks of no duration still took protocol time; NaN for a graph
    /// without tasks.
    pub fn ratio(&self) -> f64 {
        self.makespan_ns as f64 / self.lower_bound_ns as f64
    }

    /// Share of the cores' time spent in kernels over the makespan (0 to
    /// 1; NaN for a graph without tasks).
    pub fn utilisation(&self) -> f64 {
        let busy: u64 = self.cores.iter().map(|c| c.busy_ns).sum();
        busy as f64 / (self.makespan_ns as f64 * self.cores.len() as f64)
    }

    /// Scheduler time of all threads together.
    pub fn sched_ns(&self) -> u64 {
        self.threads.iter().map(|t| t.sched_ns).sum()
    }

    /// Share of the scheduler threads' time spent polling, each over its
    /// own span from the run's start to the end of its last poll (0 to 1;
    /// NaN without threads). The makespan is no denominator for it: it
    /// starts at the first dispatch, after the first polls, and ends
    /// before the last.
    pub fn sched_busy(&self) -> f64 {
        let span: u64 = self.threads.iter().map(|t| t.end_ns).sum();
        self.sched_ns() as f64 / span as f64
    }
}
