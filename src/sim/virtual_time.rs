//! The virtual-time backend: a deterministic discrete-event simulation
//! that drives the same scheduler code and policies through the same
//! register protocol as the other backends, with time advanced by a model
//! instead of the wall clock. Everything runs on the caller's thread, as
//! with [`InlineSim`](super::InlineSim); kernels are not executed unless
//! asked ([`VirtualTime::execute_kernels`]).
//!
//! ```
//! use hostgraph::cost::{Cost, CostModel};
//! use hostgraph::sim::VirtualTime;
//! use hostgraph::{CoreType, KernelFn, Platform, Runtime, RuntimeConfig};
//!
//! // Every kernel takes 10 µs.
//! let model = CostModel::new(Cost::Constant(10_000));
//! let config = RuntimeConfig { block_dim: 2, threads: 1, ..Default::default() };
//! let backend = VirtualTime::new(*Platform::A2A3.spec(), model, 42);
//! let mut rt = Runtime::with_backend(config, backend)?;
//! rt.register_kernel(0, KernelFn::rust(|_| {}));
//! rt.build(|g| {
//!     for _ in 0..8 {
//!         g.add_task(0, CoreType::Aiv, &[])?;
//!     }
//!     Ok(())
//! })?;
//! rt.run()?;
//! let report = rt.backend().report().expect("the run completed");
//! // 8 tasks on 4 AIV cores: two waves of 10 µs, plus the protocol's cost.
//! assert!(report.makespan_ns >= 20_000 && report.makespan_ns < 21_000);
//! assert_eq!(report.lower_bound_ns, 20_000);
//! # rt.finalize()?;
//! # Ok::<(), hostgraph::Error>(())
//! ```
//!
//! # The model
//!
//! 1. **Clocks.** Virtual time is in nanoseconds (`u64`), from 0 when the
//!    run's scheduler threads are hosted. Each scheduler thread has its own
//!    clock; each core is free, or busy until its FIN becomes visible. A
//!    graph whose drawn durations, plus the most the latencies could add
//!    to them, come to more than `u64::MAX / 2` ns is refused at launch
//!    ([`Error::WorkTooLong`]), so no clock wraps.
//! 2. **Polls cost time.** A thread's poll at its time `t` costs
//!    `poll_ns`, plus `read_ns` per COND read and `write_ns` per register
//!    write it makes ([`Latencies`]); its clock then moves on by that cost.
//!    The poll sees registers and the run's shared state as they are at
//!    `t`, and its accesses are charged in the order it makes them.
//! 3. **Dispatch and kernels.** A DATA_MAIN_BASE write becomes visible to
//!    its core once it is paid for: at `t + poll_ns` plus the cost of the
//!    poll's accesses up to and including it (the task's dispatch time is
//!    when the write began, `write_ns` earlier). A free core then steps,
//!    with the real [`CoreSide::step`](hostgraph_platform::CoreSide::step):
//!    it reads the register, writes ACK (visible at once), runs the task,
//!    and its FIN write is held back until the task's duration has passed.
//!    Durations are drawn once per graph and seed, in task-id order
//!    ([`CostModel::durations`]), so every policy meets the same ones. A
//!    core whose FIN is pending is busy; when the FIN becomes visible, a
//!    newer task whose write is already visible starts at that same time
//!    (pipelining: its ACK overwrites the FIN), else it starts when its
//!    write becomes visible — `core_wake_ns` later if the core was free
//!    (asleep; 0 by default: hardware cores spin).
//! 4. **Waking.** A thread whose poll returned `Progress` polls again at
//!    its clock. One that returned `Idle` sleeps until something it could
//!    see changes at some time `t`, and then polls at its clock if `t` is
//!    earlier (it had not yet slept), else `thread_wake_ns` after `t` (0
//!    by default: hardware threads spin): a COND change on one of its
//!    cores (a FIN, or the ACK of a core that woke), or the end of
//!    another thread's poll that made progress, if the sleeper has a core
//!    of some type free to take a task (not holding one written while it
//!    was busy) and could find work of that type that other threads make
//!    available ([`SchedulerJob::may_find_work`]: a shared queue, seeds,
//!    stealing, or the run done). A thread that returns `Done` is
//!    dropped, and wakes the others as progress does; `Stopped` drops
//!    every thread.
//! 5. **Order.** Events — polls, FINs becoming visible, and woken cores
//!    taking their task — are processed in (time, sequence number) order:
//!    events due at the same time in the order they were queued. (A core
//!    that spins takes a written task as soon as the time it does so is
//!    known — when the write is made, or at the FIN before it — rather
//!    than at that time: no one can tell the difference, as only the
//!    core's owner reads its COND, never before the end of the poll that
//!    wrote the task.) Nothing the model
//!    computes depends on the wall clock (a profiled run's dispatch stamp,
//!    taken by the scheduler, is overwritten with the virtual one), so the
//!    same graph, model, seed, latencies, policy and configuration give
//!    the same [`VirtualReport`] and the same per-task records on any
//!    machine.
//! 6. **Deadlock.** If no event is pending while threads remain, nothing
//!    can ever happen: the run is stopped as stalled at once
//!    ([`SchedulerJob::stall_now`]), with the stall's diagnosis as its
//!    error (whose `elapsed` is wall time: how long the run took to
//!    simulate).
//! 7. **Not modelled.** Start-up and shutdown handshakes (the cores take
//!    their steps in [`Backend::pump`] at once, in no time); the cost of
//!    the scheduler's own work between register accesses (queues, fan-in
//!    counters) beyond `poll_ns`; contention between threads; kernels'
//!    memory traffic. A spinning thread notices a change the moment it
//!    happens (optimistic by up to one idle poll), and the idle polls it
//!    would spin through until then are not charged. Wake-ups are a
//!    constant each: no spread, and no spinning for a while before
//!    sleeping.
//!
//! # Reports
//!
//! [`VirtualTime::report`] gives the last dispatched run's figures, if it
//! completed:
//! makespan, per-core busy and idle time, per-thread scheduler time, and
//! the lower bound no schedule beats. Per-task records come as a
//! [`Profile`](crate::Profile) in virtual time when the runtime profiles
//! ([`RuntimeConfig::profiling`](crate::RuntimeConfig::profiling)), and
//! per-task results ([`TaskResult`](crate::run::TaskResult), with
//! [`RuntimeConfig::publish`](crate::RuntimeConfig::publish)) name the core
//! that ran each task and the order of completion in virtual time — with or
//! without `execute_kernels`. The runtime's own
//! [`RunReport`](crate::RunReport) wall times are real (how long the
//! simulation took).
//!
//! # Any core count
//!
//! The backend owns its [`PlatformSpec`], so it can simulate a chip
//! larger than any real one: the runtime checks block dim and thread
//! count against the backend's spec.
//!
//! ```
//! use hostgraph::cost::CostModel;
//! use hostgraph::sim::VirtualTime;
//! use hostgraph::{Backend, Platform, PlatformSpec, Runtime, RuntimeConfig};
//!
//! // 342 blocks of 1 AIC + 2 AIV: 1,026 cores, 16 scheduler threads.
//! let spec = PlatformSpec { max_block_dim: 342, max_scheduler_threads: 16, ..*Platform::A2A3.spec() };
//! let config = RuntimeConfig { block_dim: 342, threads: 16, ..Default::default() };
//! let rt = Runtime::with_backend(config, VirtualTime::new(spec, CostModel::default(), 1))?;
//! assert_eq!(rt.backend().spec().physical_cores(), 1026);
//! # Ok::<(), hostgraph::Error>(())
//! ```

use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::time::Duration;

use hostgraph_platform::{DeviceMemory, HandshakeBlock, Platform, PlatformSpec, SimDeviceMemory};

use crate::backend::{Backend, Hosting, Landing, Poll, SchedulerJob, Wait};
use crate::cost::CostModel;
use crate::error::{Error, Result};
use crate::seal::Sealed;

mod events;
mod regs;
mod report;
mod state;

use events::What;
pub use regs::VirtualRegisters;
pub use report::{CoreTime, ThreadTime, VirtualReport};
use state::Sim;

/// What register accesses cost a scheduler thread (rule 2 of the
/// [model](self#the-model)), and how long a sleeping core or thread takes
/// to wake (rule 4), in virtual nanoseconds.
///
/// ```
/// use hostgraph::Platform;
/// use hostgraph::sim::Latencies;
/// let a2a3 = Latencies::of(Platform::A2A3);
/// // One thread polls 24 cores in about 2.4 µs.
/// assert_eq!(a2a3.poll_ns + 24 * a2a3.read_ns, 2_430);
/// // Hardware spins: nothing sleeps.
/// assert_eq!((a2a3.core_wake_ns, a2a3.thread_wake_ns), (0, 0));
/// // A host whose threads sleep between tasks, as the threaded simulator's do.
/// let host = Latencies { core_wake_ns: 25_000, thread_wake_ns: 30_000, ..a2a3 };
/// # let _ = host;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latencies {
    /// One COND read.
    pub read_ns: u64,
    /// One register write (DATA_MAIN_BASE).
    pub write_ns: u64,
    /// A poll's fixed cost: the loop around the accesses.
    pub poll_ns: u64,
    /// From a task's write becoming visible to a *free* core until the
    /// core starts it (a core given its next task while busy starts it at
    /// its FIN, awake). 0 on hardware, whose cores spin; on a host whose
    /// core threads sleep, their wake-up time.
    pub core_wake_ns: u64,
    /// From the event that wakes a *sleeping* scheduler thread (a COND
    /// change on one of its cores, or work another thread made) until it
    /// polls. 0 on hardware, whose threads spin; on a host whose threads
    /// sleep, their wake-up time.
    pub thread_wake_ns: u64,
}

impl Latencies {
    /// The a2a3 figures: a COND read ≈ 100 ns, a register write < 20 ns
    /// (taken as 20), 30 ns of loop per poll; cores and threads spin.
    pub const A2A3: Latencies = Latencies {
        read_ns: 100,
        write_ns: 20,
        poll_ns: 30,
        core_wake_ns: 0,
        thread_wake_ns: 0,
    };

    /// The defaults for `platform`. a5 has no published figures of its
    /// own and shares a2a3's.
    pub const fn of(platform: Platform) -> Self {
        match platform {
            Platform::A2A3 | Platform::A5 => Latencies::A2A3,
        }
    }
}

/// The hosted threads of a run, advanced with the simulation: true once
/// every thread has returned (and been dropped).
type Hosted = Box<dyn FnMut(&mut Sim, Wait) -> bool + Send>;

/// Events a non-blocking drive processes before it returns.
const SLICE: usize = 1 << 14;

/// A simulated chip in virtual time: see the [module docs](self) for the
/// model. Build it with [`new`](Self::new) and the builder methods, run
/// graphs on it through [`Runtime::with_backend`](crate::Runtime::with_backend),
/// read each run's figures with [`report`](Self::report)
/// (`rt.backend().report()`).
pub struct VirtualTime {
    sim: Sim,
    hosted: Mutex<Option<Hosted>>,
}

impl VirtualTime {
    /// A chip as `spec` describes (any size: see the
    /// [module docs](self#any-core-count)), kernels lasting what `model`
    /// draws from `seed`, registers costing [`Latencies::of`] its platform.
    ///
    /// # Panics
    /// If `spec` has more than 4,194,304 physical cores.
    pub fn new(spec: PlatformSpec, model: CostModel, seed: u64) -> Self {
        assert!(
            u64::from(spec.physical_cores()) <= events::MAX_INDEX,
            "a virtual-time chip has at most {} physical cores",
            events::MAX_INDEX
        );
        VirtualTime {
            sim: Sim::new(spec, model, seed),
            hosted: Mutex::new(None),
        }
    }

    /// The same backend, with register accesses and wake-ups costing
    /// `latencies`.
    pub fn latencies(mut self, latencies: Latencies) -> Self {
        self.sim.lat = latencies;
        self
    }

    /// The same backend, calling each task's kernel when it starts (for
    /// correctness runs: results, and faults, as on the other backends).
    /// Off by default: durations come from the model either way.
    pub fn execute_kernels(mut self, on: bool) -> Self {
        self.sim.execute_kernels = on;
        self
    }

    /// The cost model durations are drawn from.
    pub fn model(&self) -> &CostModel {
        &self.sim.model
    }

    /// The seed durations are drawn with.
    pub fn seed(&self) -> u64 {
        self.sim.seed
    }

    /// The figures of the last run that was dispatched, if it completed:
    /// `None` before any run, and after a dispatched run that failed or
    /// was cancelled. A run refused before dispatch (at seal, say) leaves
    /// the figures of the run before it.
    pub fn report(&self) -> Option<&VirtualReport> {
        self.sim.report.as_ref()
    }
}

/// The simulation over `jobs` (by hosted slot; `None` once returned), for
/// at most `budget` events. True once every job has returned.
fn advance<J: SchedulerJob>(sim: &mut Sim, jobs: &mut [Option<J>], budget: usize) -> bool {
    for _ in 0..budget {
        if sim.live() == 0 {
            return true;
        }
        let Some(what) = sim.next_event() else {
            // Rule 6.
            if let Some(job) = jobs.iter_mut().flatten().next() {
                job.stall_now();
            }
            stop(sim, jobs);
            return true;
        };
        match what {
            What::Poll(slot) => {
                let slot = slot as usize;
                let job = jobs[slot].as_mut().expect("only live threads poll");
                match sim.poll(slot, job) {
                    Poll::Progress => {}
                    Poll::Done => jobs[slot] = None,
                    Poll::Idle => continue,
                    Poll::Stopped => {
                        stop(sim, jobs);
                        return true;
                    }
                }
                sim.wake_sleepers(slot, |s, ty| {
                    jobs[s].as_ref().is_some_and(|j| j.may_find_work(ty))
                });
            }
            What::Fin(core) => sim.fin(core),
            What::Start(core) => sim.start(core),
        }
    }
    sim.live() == 0
}

/// Drops every job (each hands its state back to the run) and the
/// simulation's pending events.
fn stop<J>(sim: &mut Sim, jobs: &mut [Option<J>]) {
    jobs.iter_mut().for_each(|j| *j = None);
    sim.abandon();
}

impl Backend for VirtualTime {
    type Regs = VirtualRegisters;

    fn spec(&self) -> &PlatformSpec {
        &self.sim.spec
    }

    fn new_device_memory(&self) -> Box<dyn DeviceMemory + Sync> {
        Box::new(SimDeviceMemory::new())
    }

    fn registers(&self) -> &VirtualRegisters {
        &self.sim.regs
    }

    fn handshakes(&self) -> &[HandshakeBlock] {
        &self.sim.handshakes
    }

    fn launch(&mut self, block_dim: u32, graph: Arc<Sealed>) -> Result<()> {
        self.sim
            .launch(block_dim, graph)
            .map_err(|total_ns| Error::WorkTooLong {
                total_ns,
                max_ns: state::MAX_TOTAL_WORK_NS,
            })
    }

    fn pump(&mut self) -> bool {
        self.sim.pump()
    }

    fn host<J: SchedulerJob>(&mut self, jobs: Vec<J>) {
        self.sim.begin(jobs.iter().map(|j| (j.index(), j.cores())));
        let mut jobs: Vec<Option<J>> = jobs.into_iter().map(Some).collect();
        let hosted: Hosted = Box::new(move |sim, wait| {
            let budget = match wait {
                Wait::Block => usize::MAX,
                Wait::Nonblocking => SLICE,
            };
            advance(sim, &mut jobs, budget)
        });
        *self.hosted.get_mut().unwrap_or_else(|p| p.into_inner()) = Some(hosted);
    }

    fn drive(&mut self, wait: Wait, waker: Option<&Waker>) -> Hosting {
        let hosted = self.hosted.get_mut().unwrap_or_else(|p| p.into_inner());
        let Some(run) = hosted.as_mut() else {
            return Hosting::Finished;
        };
        if run(&mut self.sim, wait) {
            *hosted = None;
            return Hosting::Finished;
        }
        // Progress only happens inside `drive`: ask to be driven again.
        if let Some(w) = waker {
            w.wake_by_ref();
        }
        Hosting::Running
    }

    /// Ends the launch: its cores, and any scheduler jobs still hosted
    /// (a run whose Finish never awaited them; they hold its state and its
    /// policy, and must not poll the next launch's cores).
    fn land(&mut self, _abort: bool, _timeout: Duration) -> Landing {
        *self.hosted.get_mut().unwrap_or_else(|p| p.into_inner()) = None;
        self.sim.land();
        Landing::Landed
    }

    fn landed(&mut self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// What was done to a [`Fake`] job, shared with the test.
    #[derive(Default)]
    struct Seen {
        polls: AtomicUsize,
        stalls: AtomicUsize,
        aborts: AtomicUsize,
    }

    /// A thread without cores that never sees anything change (or panics
    /// when polled).
    struct Fake {
        index: usize,
        panics: bool,
        stopped: bool,
        seen: Arc<Seen>,
    }

    impl SchedulerJob for Fake {
        fn index(&self) -> usize {
            self.index
        }

        fn cores(&self) -> &[u32] {
            &[]
        }

        fn poll(&mut self) -> Poll {
            self.seen.polls.fetch_add(1, Ordering::Relaxed);
            assert!(!self.panics, "policy bug");
            if self.stopped {
                Poll::Stopped
            } else {
                Poll::Idle
            }
        }

        fn check_stall(&mut self) -> bool {
            unreachable!("virtual time never asks the clock")
        }

        fn stall_now(&mut self) {
            self.seen.stalls.fetch_add(1, Ordering::Relaxed);
            self.stopped = true;
        }

        fn abort(&mut self, why: String) {
            assert!(why.contains("policy bug"), "{why}");
            self.seen.aborts.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn fakes(n: usize, panics: bool, seen: &Arc<Seen>) -> Vec<Fake> {
        (0..n)
            .map(|index| Fake {
                index,
                panics,
                stopped: false,
                seen: seen.clone(),
            })
            .collect()
    }

    #[test]
    fn with_no_event_pending_the_run_stalls_at_once() {
        let mut vt = VirtualTime::new(*Platform::A5.spec(), CostModel::default(), 0);
        let seen = Arc::new(Seen::default());
        vt.host(fakes(3, false, &seen));
        assert_eq!(vt.drive(Wait::Block, None), Hosting::Finished);
        // Rule 4: each polled once, at time 0; then rule 6.
        assert_eq!(seen.polls.load(Ordering::Relaxed), 3);
        assert_eq!(seen.stalls.load(Ordering::Relaxed), 1);
        assert!(vt.report().is_none());
        assert_eq!(vt.drive(Wait::Block, None), Hosting::Finished);
    }

    #[test]
    fn a_panicking_poll_is_its_jobs_abort_and_stops_the_run() {
        let mut vt = VirtualTime::new(*Platform::A2A3.spec(), CostModel::default(), 0);
        let seen = Arc::new(Seen::default());
        vt.host(fakes(2, true, &seen));
        assert_eq!(vt.drive(Wait::Nonblocking, None), Hosting::Finished);
        assert_eq!(
            seen.polls.load(Ordering::Relaxed),
            1,
            "the first poll stops all"
        );
        assert_eq!(seen.aborts.load(Ordering::Relaxed), 1);
        assert_eq!(seen.stalls.load(Ordering::Relaxed), 0);
    }
}
