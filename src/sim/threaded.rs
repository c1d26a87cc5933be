//! The threaded simulator: memory-backed registers, simulated AICores
//! stepped by a few persistent runner threads (not one OS thread per core),
//! kernels called as native functions, scheduler threads hosted on a pool
//! of persistent workers.
//!
//! # When a kernel does not return
//!
//! A runner inside a kernel cannot be interrupted. Landing with `abort`
//! stops every other runner at once and reports the stuck one
//! ([`Landing::Stuck`]); the runtime then holds the run's device memory
//! back. The runner leaves by itself once the kernel returns
//! ([`Backend::landed`] turns true), or [`Backend::abandon`] leaves it
//! behind with its registers and starts fresh runners on fresh registers.
//! Dropping the simulator joins the runners that leave within a second and
//! detaches any still inside a kernel (it keeps its registers and graph
//! alive until it returns; it never touches this simulator again).

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::Waker;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hostgraph_platform::regs::Reg;
use hostgraph_platform::{
    CoreSide, CoreStep, DeviceMemory, HandshakeBlock, Platform, PlatformSpec, RegisterAccess,
    SimDeviceMemory, SimRegisters,
};

use super::bell::{Bell, Patience, ring, ring_all};
use super::pool::{Task, WorkerPool};
use super::sim_core;
use super::slice;
use crate::backend::{Backend, Hosting, Landing, Poll, SchedulerJob, StuckCore, Wait};
use crate::error::{Error, Result};
use crate::panics::panic_message;
use crate::seal::Sealed;

/// Options of the threaded simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimOptions {
    /// Runner threads stepping the simulated cores, at most one per core;
    /// 0 = one per CPU (at most one per core) for [`ThreadedSim::new`],
    /// while [`Runtime::new`](crate::Runtime::new) turns 0 into one per CPU
    /// not taken by a scheduler thread (at least one).
    pub runners: usize,
    /// Runner and scheduler threads ask Linux (6.12 or later) for its
    /// shortest time slice, 0.1 ms, so a thread a doorbell wakes gets a
    /// CPU sooner from other busy processes (threads and processes they
    /// start get the default slice); so does the caller's thread while it
    /// runs a scheduler job of a blocking run, and it gets its own slice
    /// back after. On (the default); off leaves every thread's slice as it
    /// is. No effect elsewhere than Linux with glibc. (The README's "On a
    /// busy machine" has what it changes; `src/sim/slice.rs` how.)
    pub short_slices: bool,
}

impl Default for SimOptions {
    /// One runner per CPU left free (see [`runners`](Self::runners)),
    /// short slices on.
    fn default() -> Self {
        SimOptions {
            runners: 0,
            short_slices: true,
        }
    }
}

/// A misbehaving core, for testing how start-up failures are handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimFault {
    /// Core `index` never answers the start-up handshake.
    SilentCore(u32),
    /// Core `index` reports `physical_id` in start-up step 2.
    BadPhysicalId {
        /// Handshake index of the core.
        index: u32,
        /// The id it reports.
        physical_id: u32,
    },
}

struct Launch {
    generation: u64,
    fault: Option<SimFault>,
    block_dim: u32,
    graph: Option<Arc<Sealed>>,
    quit: bool,
}

/// No kernel: a runner's `in_kernel` between tasks.
const NO_KERNEL: u64 = u64::MAX;

/// No runner or scheduler thread: a core nobody sleeps on.
const NOBODY: u8 = u8::MAX;

/// How long runners that are not inside a kernel get to leave a launch
/// forced to end. They leave as soon as the host runs them (they are
/// rung), so this waits only for runners not yet scheduled — on a loaded
/// or instrumented machine more than a moment. Not the caller's timeout:
/// a start-up bound of 0 would count such a runner stuck, and have the
/// run's graph released and its memory held back although no kernel ran.
const LEAVING: Duration = Duration::from_secs(10);

/// Who sleeps on which core's registers, and their bells.
struct Wiring {
    /// By physical id: the runner stepping the core (set at launch).
    runner_of: Box<[AtomicU8]>,
    runners: Box<[Bell]>,
    /// By physical id: the scheduler thread owning the core (set when the
    /// run's threads are hosted).
    thread_of: Box<[AtomicU8]>,
    threads: Box<[Bell]>,
    /// The simulator was dropped: jobs of a run still in flight (a user's
    /// world dropped with its run handle forgotten) stop.
    closed: AtomicBool,
}

/// The simulator's registers, with doorbells: a DATA_MAIN_BASE write wakes
/// the runner stepping that core, a COND write the scheduler thread owning
/// it (`sim::bell`'s protocol). Cloning shares them.
#[derive(Clone)]
pub struct ThreadedRegisters {
    regs: SimRegisters,
    wiring: Arc<Wiring>,
}

impl ThreadedRegisters {
    fn new(spec: &PlatformSpec, runners: usize) -> Self {
        let cores = spec.physical_cores() as usize;
        let nobody = || (0..cores).map(|_| AtomicU8::new(NOBODY)).collect();
        ThreadedRegisters {
            regs: SimRegisters::new(spec),
            wiring: Arc::new(Wiring {
                runner_of: nobody(),
                runners: (0..runners).map(|_| Bell::default()).collect(),
                thread_of: nobody(),
                threads: (0..spec.max_scheduler_threads)
                    .map(|_| Bell::default())
                    .collect(),
                closed: AtomicBool::new(false),
            }),
        }
    }

    /// The bell `who` names, if any.
    #[inline]
    fn bell<'a>(bells: &'a [Bell], who: &AtomicU8) -> Option<&'a Bell> {
        bells.get(who.load(Ordering::Relaxed) as usize)
    }
}

impl RegisterAccess for ThreadedRegisters {
    #[inline]
    fn read(&self, physical_id: u32, reg: Reg) -> u32 {
        self.regs.read(physical_id, reg)
    }

    #[inline]
    fn write(&self, physical_id: u32, reg: Reg, value: u32) {
        self.regs.write(physical_id, reg, value);
        let w = &*self.wiring;
        let c = physical_id as usize;
        let bell = match reg {
            Reg::DataMainBase => Self::bell(&w.runners, &w.runner_of[c]),
            Reg::Cond => Self::bell(&w.threads, &w.thread_of[c]),
            Reg::FastPathEnable => None,
        };
        if let Some(b) = bell {
            ring(b);
        }
    }
}

/// What a runner tells the others about itself.
#[derive(Default)]
#[repr(align(64))]
struct Runner {
    /// Stepping cores of the current launch (set by `launch`, cleared by the
    /// runner when it leaves).
    stepping: AtomicBool,
    /// `physical_id << 32 | task` while inside a kernel, else [`NO_KERNEL`].
    in_kernel: AtomicU64,
}

/// One set of simulated cores: registers, handshake blocks, the runners
/// stepping them, and the launch they step.
struct Chip {
    spec: &'static PlatformSpec,
    regs: ThreadedRegisters,
    handshakes: Box<[HandshakeBlock]>,
    launch: Mutex<Launch>,
    wake: Condvar,
    /// Runners still stepping cores of the current launch.
    active: AtomicUsize,
    landed: Condvar,
    /// Leave the cores now (a launch being aborted, or the simulator going).
    force: AtomicBool,
    runners: Box<[Runner]>,
    /// Runners and jobs run on short time slices ([`SimOptions::short_slices`]).
    short_slices: bool,
}

impl Chip {
    fn new(spec: &'static PlatformSpec, runners: usize, short_slices: bool) -> Self {
        Chip {
            spec,
            regs: ThreadedRegisters::new(spec, runners),
            handshakes: (0..spec.physical_cores())
                .map(|_| HandshakeBlock::default())
                .collect(),
            launch: Mutex::new(Launch {
                generation: 0,
                fault: None,
                block_dim: 0,
                graph: None,
                quit: false,
            }),
            wake: Condvar::new(),
            active: AtomicUsize::new(0),
            landed: Condvar::new(),
            force: AtomicBool::new(false),
            runners: (0..runners)
                .map(|_| Runner {
                    stepping: AtomicBool::new(false),
                    in_kernel: AtomicU64::new(NO_KERNEL),
                })
                .collect(),
            short_slices,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Launch> {
        self.launch.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts `n` runner threads on this chip.
    fn start_runners(self: &Arc<Self>) -> Vec<JoinHandle<()>> {
        let n = self.runners.len();
        (0..n)
            .map(|r| {
                let chip = self.clone();
                std::thread::Builder::new()
                    .name(format!("hostgraph-sim-{r}"))
                    .spawn(move || runner(&chip, r, n))
                    .expect("spawn sim runner thread")
            })
            .collect()
    }

    /// Runners inside kernels now.
    fn stuck(&self) -> Vec<StuckCore> {
        self.runners
            .iter()
            .map(|r| r.in_kernel.load(Ordering::Acquire))
            .filter(|&k| k != NO_KERNEL)
            .map(|k| StuckCore {
                physical_id: (k >> 32) as u32,
                task: k as u32,
            })
            .collect()
    }

    /// Whether every runner has left the launch, or every one still in it
    /// is inside a kernel (a runner that stopped stepping but has not yet
    /// signed off is still leaving: it is waited for).
    fn settled(&self) -> bool {
        if self.active.load(Ordering::Acquire) == 0 {
            return true;
        }
        let mut inside = false;
        for r in &self.runners {
            match r.in_kernel.load(Ordering::Acquire) {
                NO_KERNEL if r.stepping.load(Ordering::Acquire) => return false,
                NO_KERNEL => {}
                _ => inside = true,
            }
        }
        inside
    }

    /// Tells the runners to leave for good.
    fn quit(&self) {
        self.force.store(true, Ordering::Release);
        self.lock().quit = true;
        self.wake.notify_all();
        ring_all(&self.regs.wiring.runners);
    }

    /// Tells the runners to stop stepping the current launch.
    fn force(&self) {
        self.force.store(true, Ordering::Release);
        ring_all(&self.regs.wiring.runners);
    }
}

fn runner(chip: &Chip, r: usize, n: usize) {
    if chip.short_slices {
        slice::for_life();
    }
    let me = &chip.runners[r];
    chip.regs.wiring.runners[r].claim();
    let mut seen = 0u64;
    loop {
        let (block_dim, graph, fault) = {
            let mut l = chip.lock();
            while l.generation == seen && !l.quit {
                l = chip.wake.wait(l).unwrap_or_else(|p| p.into_inner());
            }
            if l.quit {
                return;
            }
            seen = l.generation;
            (
                l.block_dim,
                l.graph.clone().expect("launch carries a graph"),
                l.fault,
            )
        };
        let total = block_dim * chip.spec.cores_per_block();
        let mut cores: Vec<CoreSide> = (r as u32..total)
            .step_by(n)
            .filter(|&i| fault != Some(SimFault::SilentCore(i)))
            .map(|i| {
                let mut core = sim_core(chip.spec, block_dim, i);
                if let Some(SimFault::BadPhysicalId { index, physical_id }) = fault
                    && index == i
                {
                    core = CoreSide::new(i, physical_id, core.core_type());
                }
                core
            })
            .collect();
        step_until_exit(chip, me, &chip.regs.wiring.runners[r], &mut cores, &graph);
        drop(graph);
        let _l = chip.lock();
        me.stepping.store(false, Ordering::Release);
        chip.active.fetch_sub(1, Ordering::AcqRel);
        chip.landed.notify_all();
    }
}

/// Steps `cores` until each has left on the exit signal (or the launch is
/// forced to end); sleeps on `bell` when none has anything to do.
fn step_until_exit(chip: &Chip, me: &Runner, bell: &Bell, cores: &mut [CoreSide], graph: &Sealed) {
    let mut patience = Patience::default();
    let mut live = cores.len();
    let mut pass = |live: &mut usize| {
        let mut moved = false;
        for c in cores.iter_mut() {
            if c.exited() {
                continue;
            }
            let phys = c.physical_id();
            let run = |t: u32| {
                // Relaxed would do for the runner's own bookkeeping; Release
                // pairs with `stuck`'s Acquire so a reported task is real.
                me.in_kernel
                    .store(u64::from(phys) << 32 | u64::from(t), Ordering::Release);
                let ok = graph.execute(t, phys);
                me.in_kernel.store(NO_KERNEL, Ordering::Release);
                ok
            };
            match c.step(&chip.handshakes[c.index() as usize], &chip.regs, run) {
                CoreStep::Wait => {}
                CoreStep::Exited => {
                    *live -= 1;
                    moved = true;
                }
                _ => moved = true,
            }
        }
        moved
    };
    while live > 0 && !chip.force.load(Ordering::Acquire) {
        if pass(&mut live) {
            patience.reset();
            bell.awake();
        } else if patience.wait() {
            // Start-up steps are not register writes: the scheduler rings
            // while it waits on them (`pump`).
            if bell.sleep(|| pass(&mut live).then_some(())).is_some() {
                patience.reset();
            }
        }
    }
}

/// A scheduler job's loop on a thread of its own: polls; when idle,
/// spins, yields, then sleeps on its bell until a COND write of one of its
/// cores (or a peer offering work, or the end of the run) rings it; stops
/// once the simulator is dropped (`closed`), whose cores will not answer.
fn run_job<J: SchedulerJob>(job: &mut J, bells: &[Bell], closed: &AtomicBool) {
    let mine = &bells[job.index()];
    mine.claim();
    let mut patience = Patience::default();
    loop {
        let polled = match job.poll() {
            Poll::Idle if patience.wait() => match mine.sleep(|| match job.poll() {
                Poll::Idle => None,
                other => Some(other),
            }) {
                Some(p) => p,
                None if closed.load(Ordering::Acquire) => {
                    job.abort("the threaded simulator was dropped with the run in flight".into());
                    Poll::Stopped
                }
                None if job.check_stall() => Poll::Stopped,
                None => Poll::Idle,
            },
            p => p,
        };
        match polled {
            Poll::Done | Poll::Stopped => {
                // The others may be asleep: the run is over for them too.
                ring_all(bells);
                return;
            }
            Poll::Progress => {
                patience.reset();
                mine.awake();
                if job.offered() {
                    ring_all(bells);
                }
            }
            Poll::Idle => {}
        }
    }
}

/// Simulated chip: memory-backed registers and handshakes; simulated cores
/// (numbered as [`sim_core`] says) stepped by persistent runner threads,
/// which sleep between launches; scheduler threads persist too.
pub struct ThreadedSim {
    chip: Arc<Chip>,
    runners: Vec<JoinHandle<()>>,
    /// Chips given up on by [`Backend::abandon`], with runners still inside
    /// kernels.
    abandoned: Vec<(Arc<Chip>, Vec<JoinHandle<()>>)>,
    pool: WorkerPool,
}

impl ThreadedSim {
    /// A simulated `platform` with its runner threads started.
    ///
    /// # Panics
    /// If `opts.runners` exceeds the platform's physical cores (a runner
    /// steps at least one core; [`Runtime::new`](crate::Runtime::new)
    /// refuses such a configuration with [`Error::BadRunnerCount`]).
    pub fn new(platform: Platform, opts: SimOptions) -> Self {
        // Which fences the doorbells use is settled before any thread
        // rings one (and the system call is not made on the hot path).
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        super::bell::expedited();
        let cores = platform.spec().physical_cores() as usize;
        assert!(
            opts.runners <= cores,
            "{} simulator runner threads for the {cores} cores of {platform}: at most one per core",
            opts.runners
        );
        let n = match opts.runners {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get().min(cores)),
            n => n,
        };
        let chip = Arc::new(Chip::new(platform.spec(), n, opts.short_slices));
        ThreadedSim {
            runners: chip.start_runners(),
            chip,
            abandoned: Vec::new(),
            pool: WorkerPool::new(opts.short_slices),
        }
    }

    /// Number of runner threads.
    pub fn runner_count(&self) -> usize {
        self.runners.len()
    }

    /// Makes later launches misbehave as `fault` says (`None` to stop).
    pub fn inject_fault(&self, fault: Option<SimFault>) {
        self.chip.lock().fault = fault;
    }

    /// Waits until every runner has left the launch or is inside a kernel,
    /// at most until `deadline`; then reports the launch landed or stuck
    /// (a runner still stepping past the deadline counts as stuck, with no
    /// task named: it may yet enter a kernel).
    fn settle(&self, deadline: Instant) -> Landing {
        while !self.chip.settled() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(50));
        }
        if self.chip.active.load(Ordering::Acquire) == 0 {
            self.chip.lock().graph = None;
            return Landing::Landed;
        }
        Landing::Stuck(self.chip.stuck())
    }
}

impl Backend for ThreadedSim {
    type Regs = ThreadedRegisters;

    fn spec(&self) -> &PlatformSpec {
        self.chip.spec
    }

    fn new_device_memory(&self) -> Box<dyn DeviceMemory + Sync> {
        Box::new(SimDeviceMemory::new())
    }

    fn registers(&self) -> &ThreadedRegisters {
        &self.chip.regs
    }

    fn handshakes(&self) -> &[HandshakeBlock] {
        &self.chip.handshakes
    }

    /// Rings the runners: the start-up and exit handshakes the scheduler
    /// waits on here move on handshake-block flags and registers a runner
    /// may be asleep on (a flag write rings nothing).
    fn pump(&mut self) -> bool {
        ring_all(&self.chip.regs.wiring.runners);
        false
    }

    fn launch(&mut self, block_dim: u32, graph: Arc<Sealed>) -> Result<()> {
        // Chips abandoned earlier may still hold stuck runners; they have
        // registers of their own, so only this chip's runners must be back.
        self.landed();
        let active = self.chip.active.load(Ordering::Acquire);
        if active > 0 {
            let stuck = self.chip.stuck();
            if stuck.is_empty() {
                return Err(Error::BackendStuck(format!(
                    "{active} simulator runner(s) have not left an earlier launch (none is \
                     inside a kernel: the launch was not landed, or they are leaving); \
                     RunSchedule::Finish lands a launch, Runtime::abandon_stuck() starts \
                     fresh cores now"
                )));
            }
            let shown: Vec<String> = stuck
                .iter()
                .map(|s| format!("task {} on core {}", s.task, s.physical_id))
                .collect();
            return Err(Error::BackendStuck(format!(
                "{active} simulator runner(s) of an earlier run are still inside a kernel ({}); \
                 the backend recovers by itself when it returns, or Runtime::abandon_stuck() \
                 starts fresh cores now",
                shown.join(", ")
            )));
        }
        for h in self.chip.handshakes.iter() {
            h.reset();
        }
        self.chip.force.store(false, Ordering::Release);
        let wiring = &self.chip.regs.wiring;
        let n = self.runners.len();
        for (p, runner) in wiring.runner_of.iter().enumerate() {
            runner.store(NOBODY, Ordering::Relaxed);
            wiring.thread_of[p].store(NOBODY, Ordering::Relaxed);
        }
        for i in 0..block_dim * self.chip.spec.cores_per_block() {
            let p = sim_core(self.chip.spec, block_dim, i).physical_id() as usize;
            // Published to the runners by the launch lock below.
            wiring.runner_of[p].store((i as usize % n) as u8, Ordering::Relaxed);
        }
        let mut l = self.chip.lock();
        for r in self.chip.runners.iter() {
            r.stepping.store(true, Ordering::Release);
        }
        self.chip
            .active
            .store(self.runners.len(), Ordering::Release);
        l.generation += 1;
        l.block_dim = block_dim;
        l.graph = Some(graph);
        self.chip.wake.notify_all();
        Ok(())
    }

    fn host<J: SchedulerJob>(&mut self, jobs: Vec<J>) {
        let wiring = self.chip.regs.wiring.clone();
        for job in &jobs {
            for &p in job.cores() {
                // Published to the cores' runners by the job hand-over.
                wiring.thread_of[p as usize].store(job.index() as u8, Ordering::Relaxed);
            }
        }
        let tasks = jobs
            .into_iter()
            .map(|mut job| {
                let wiring = wiring.clone();
                Box::new(move || {
                    let run = std::panic::AssertUnwindSafe(|| {
                        run_job(&mut job, &wiring.threads, &wiring.closed)
                    });
                    if let Err(p) = std::panic::catch_unwind(run) {
                        job.abort(panic_message(p));
                        ring_all(&wiring.threads);
                    }
                }) as Task
            })
            .collect();
        self.pool.submit(tasks);
    }

    fn drive(&mut self, wait: Wait, waker: Option<&Waker>) -> Hosting {
        match wait {
            Wait::Block => {
                // The caller runs one job itself: a run with one scheduler
                // thread wakes no worker.
                self.pool.release(1);
                self.pool.help();
                self.pool.wait();
                Hosting::Finished
            }
            Wait::Nonblocking => {
                self.pool.release(0);
                if self.pool.finished(waker) {
                    Hosting::Finished
                } else {
                    Hosting::Running
                }
            }
        }
    }

    fn land(&mut self, abort: bool, timeout: Duration) -> Landing {
        // Jobs never driven never run (jobs that run stop with the launch).
        self.pool.drop_queued();
        let deadline = Instant::now().checked_add(timeout);
        if abort {
            self.chip.force();
            return self.settle(Instant::now() + LEAVING);
        }
        let mut l = self.chip.lock();
        while self.chip.active.load(Ordering::Acquire) > 0 {
            let wait = match deadline {
                None => Duration::from_secs(3600),
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left,
                    _ => {
                        drop(l);
                        self.chip.force();
                        return self.settle(Instant::now() + LEAVING);
                    }
                },
            };
            l = self
                .chip
                .landed
                .wait_timeout(l, wait)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        l.graph = None;
        Landing::Landed
    }

    fn landed(&mut self) -> bool {
        self.abandoned.retain_mut(|(chip, runners)| {
            let gone = chip.active.load(Ordering::Acquire) == 0;
            if gone {
                for r in runners.drain(..) {
                    let _ = r.join();
                }
            }
            !gone
        });
        if self.chip.active.load(Ordering::Acquire) > 0 {
            return false;
        }
        self.chip.lock().graph = None;
        self.abandoned.is_empty()
    }

    fn abandon(&mut self) -> bool {
        if self.chip.active.load(Ordering::Acquire) == 0 {
            return true;
        }
        // Jobs of the abandoned launch never driven must not run on the
        // fresh cores' workers.
        self.pool.drop_queued();
        let fault = self.chip.lock().fault;
        let fresh = Arc::new(Chip::new(
            self.chip.spec,
            self.chip.runners.len(),
            self.chip.short_slices,
        ));
        fresh.lock().fault = fault;
        let runners = fresh.start_runners();
        let old = std::mem::replace(&mut self.chip, fresh);
        let old_runners = std::mem::replace(&mut self.runners, runners);
        old.quit();
        self.abandoned.push((old, old_runners));
        true
    }
}

impl Drop for ThreadedSim {
    fn drop(&mut self) {
        let chips = std::iter::once((&self.chip, &mut self.runners))
            .chain(self.abandoned.iter_mut().map(|(c, r)| (&*c, r)));
        let mut all: Vec<(&Arc<Chip>, Vec<JoinHandle<()>>)> = Vec::new();
        for (chip, runners) in chips {
            // Jobs of a run still in flight stop instead of polling cores
            // that are about to leave.
            let wiring = &chip.regs.wiring;
            wiring.closed.store(true, Ordering::Release);
            ring_all(&wiring.threads);
            chip.quit();
            all.push((chip, std::mem::take(runners)));
        }
        let deadline = Instant::now() + Duration::from_secs(1);
        while all.iter().any(|(c, _)| !c.settled()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(100));
        }
        let mut detached = 0;
        for (_, runners) in all {
            for r in runners {
                // Settled: every runner has left or is inside a kernel; a
                // runner that left returns from its thread at once.
                while !r.is_finished() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_micros(100));
                }
                if r.is_finished() {
                    let _ = r.join();
                } else {
                    detached += 1;
                }
            }
        }
        if detached > 0 {
            log::warn!(
                "threaded simulator dropped with {detached} runner(s) inside a kernel: detached; \
                 each keeps its registers and graph until its kernel returns"
            );
        }
    }
}
