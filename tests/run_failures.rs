//! Runs that go wrong between launch and landing because of code around the
//! graph, not the graph: a policy's bad answers, panics in policy or
//! scheduler code, a phase or backend that does not do its part. Each ends
//! in a typed error (never a panic, never a false success), every core shut
//! down and the backend landed, and a runtime that runs the next graph;
//! dropping it afterwards returns.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Waker;
use std::time::Duration;

use hostgraph::backend::{Hosting, Landing, SchedulerJob, Wait};
use hostgraph::bevy_ecs::prelude::*;
use hostgraph::hostgraph_platform::regs::Reg;
use hostgraph::hostgraph_platform::{DeviceMemory, HandshakeBlock, PlatformSpec, RegisterAccess};
use hostgraph::run::{AicpuThread, Core, OwnedBy, Phase, RunSchedule};
use hostgraph::sched::CoreView;
use hostgraph::sched::queue::{Fifo, SharedFifo, Stealable};
use hostgraph::{
    Backend, CoreType, DiscoveredCore, Error, KernelFn, Platform, Policy, RoundRobin, Runtime,
    RuntimeConfig, Sealed, ThreadedSim, sim::ThreadedRegisters,
};

fn noop(_: &[u64]) {}

/// 60 tasks of both types in short chains: every thread of a 3-thread,
/// block-dim-3 run has work.
fn build<B: Backend>(rt: &mut Runtime<B>) {
    rt.register_kernel(0, KernelFn::rust(noop));
    rt.build(|g| {
        for i in 0..60 {
            let ty = if i % 3 == 0 {
                CoreType::Aic
            } else {
                CoreType::Aiv
            };
            let t = g.add_task(0, ty, &[])?;
            if i % 4 != 0 {
                g.add_successor(hostgraph::TaskId(t.0 - 1), t)?;
            }
        }
        Ok(())
    })
    .unwrap();
}

/// The graph is kept after a failure before dispatch, and then runs.
fn kept_and_runs<B: Backend>(rt: &mut Runtime<B>) {
    assert_eq!(rt.task_count(), 60, "no task was dispatched: graph kept");
    rt.set_policy(RoundRobin);
    assert_eq!(rt.run().unwrap().tasks, 60);
    rt.finalize().unwrap();
}

/// A policy whose answers are wrong in one way, otherwise round-robin.
#[derive(Clone, Copy)]
enum Wrong {
    NoOwners,
    ThreadOutOfRange,
    AbsurdCapacity,
    ShortSeedPlan,
    LongSeedPlan,
    SeedToThreadWithoutCores,
    PanicInAssign,
    PanicInSeed,
    /// Panics when told to forget a graph (otherwise round-robin).
    PanicInForget,
}

impl Policy for Wrong {
    type Local = Fifo;
    type Shared = SharedFifo;
    type Thread = ();

    fn name(&self) -> &'static str {
        "wrong"
    }

    fn thread(&self, _index: usize, _cores: &[CoreView]) {}

    fn assign_cores(&self, cores: &[DiscoveredCore], threads: usize) -> Vec<usize> {
        match self {
            Wrong::NoOwners => Vec::new(),
            Wrong::ThreadOutOfRange => vec![threads + 4; cores.len()],
            Wrong::PanicInAssign => panic!("assign_cores failed on purpose"),
            // Thread 1 gets only AIC cores, thread 0 everything else.
            Wrong::SeedToThreadWithoutCores => cores
                .iter()
                .map(|c| usize::from(c.core_type == CoreType::Aic))
                .collect(),
            _ => RoundRobin.assign_cores(cores, threads),
        }
    }

    fn local_capacity(&self, owned: usize) -> usize {
        match self {
            Wrong::AbsurdCapacity => usize::MAX,
            _ => owned,
        }
    }

    fn seed(&self, ty: CoreType, ready: &[u32], capacity: &[usize]) -> Vec<Option<usize>> {
        let mut plan = RoundRobin.seed(ty, ready, capacity);
        match self {
            Wrong::ShortSeedPlan => {
                plan.pop();
            }
            Wrong::LongSeedPlan => plan.push(None),
            Wrong::SeedToThreadWithoutCores if ty == CoreType::Aiv => {
                plan = vec![Some(1); ready.len()];
            }
            Wrong::PanicInSeed => panic!("seed failed on purpose"),
            _ => {}
        }
        plan
    }

    fn forget(&mut self) {
        if let Wrong::PanicInForget = self {
            panic!("forget failed on purpose");
        }
    }
}

#[test]
fn every_bad_policy_answer_is_a_typed_error_naming_it() {
    let cases = [
        (Wrong::NoOwners, "0 owners for 9 cores"),
        (Wrong::ThreadOutOfRange, "to thread 7, but the run has 3"),
        (Wrong::AbsurdCapacity, "above the limit"),
        (Wrong::ShortSeedPlan, "places for"),
        (Wrong::LongSeedPlan, "places for"),
        (Wrong::SeedToThreadWithoutCores, "owns no core"),
    ];
    let mut rt = Runtime::new(RuntimeConfig::default()).unwrap();
    for (wrong, says) in cases {
        build(&mut rt);
        rt.set_policy(wrong);
        let e = rt.run().unwrap_err();
        assert!(
            matches!(&e, Error::BadPolicy { policy, what } if policy == "wrong" && what.contains(says)),
            "{says:?}: {e}"
        );
        kept_and_runs(&mut rt);
    }
}

/// A policy whose in-loop answers name a thread or core that is not there.
#[derive(Clone, Copy)]
enum WrongInLoop {
    /// An idle thread names itself, then a thread past the last.
    Victim,
    /// A core index past the cores offered.
    Core,
}

impl Policy for WrongInLoop {
    type Local = Stealable;
    type Shared = SharedFifo;
    type Thread = ();
    const CHOOSES_CORE: bool = true;
    const STEALS: bool = true;

    fn name(&self) -> &'static str {
        "wrong-in-loop"
    }

    fn assign_cores(&self, cores: &[DiscoveredCore], threads: usize) -> Vec<usize> {
        RoundRobin.assign_cores(cores, threads)
    }

    fn seed(&self, ty: CoreType, ready: &[u32], capacity: &[usize]) -> Vec<Option<usize>> {
        RoundRobin.seed(ty, ready, capacity)
    }

    fn thread(&self, _index: usize, _cores: &[CoreView]) {}

    fn choose_core(&self, _: &mut (), _task: u32, free: &[CoreView]) -> usize {
        match self {
            WrongInLoop::Core => free.len() + 2,
            WrongInLoop::Victim => 0,
        }
    }

    fn victim(&self, _: &mut (), thief: usize, threads: usize, _: CoreType) -> Option<usize> {
        match self {
            WrongInLoop::Victim => Some(thief + threads),
            WrongInLoop::Core => None,
        }
    }
}

#[test]
fn bad_in_loop_answers_are_typed_errors() {
    let mut rt = Runtime::new(RuntimeConfig::default()).unwrap();
    for (wrong, says) in [
        (WrongInLoop::Core, "choose_core picked core"),
        (WrongInLoop::Victim, "victim named thread"),
    ] {
        build(&mut rt);
        rt.set_policy(wrong);
        let e = rt.run().unwrap_err();
        assert!(
            matches!(&e, Error::BadPolicy { policy, what } if policy == "wrong-in-loop" && what.contains(says)),
            "{says:?}: {e}"
        );
        rt.set_policy(RoundRobin);
        match wrong {
            // Every choice is refused: no task was written, so the graph
            // is kept (before, it was released as if kernels had run on
            // it), and runs.
            WrongInLoop::Core => assert_eq!(rt.task_count(), 60),
            // A thief may ask before or after other threads wrote tasks:
            // the graph is kept only if none was written.
            WrongInLoop::Victim if rt.task_count() == 60 => {}
            WrongInLoop::Victim => {
                assert_eq!(rt.task_count(), 0);
                build(&mut rt);
            }
        }
        assert_eq!(rt.run().unwrap().tasks, 60);
        rt.finalize().unwrap();
    }
}

#[test]
fn a_panic_in_policy_code_after_launch_is_contained() {
    let mut rt = Runtime::new(RuntimeConfig::default()).unwrap();
    for (wrong, phase, says) in [
        (Wrong::PanicInAssign, "assign", "assign_cores failed"),
        (Wrong::PanicInSeed, "seed", "seed failed"),
    ] {
        build(&mut rt);
        rt.set_policy(wrong);
        let e = rt.run().unwrap_err();
        assert!(
            matches!(&e, Error::Panicked { phase: p, message } if p == phase && message.contains(says)),
            "{e}"
        );
        // The cores were told to exit and the backend landed: the next run
        // launches (it would fail with BackendStuck otherwise).
        kept_and_runs(&mut rt);
    }
    drop(rt);
}

/// `Policy::forget` only frees what `prepare` kept: its panic neither
/// escapes `run`, `discard` or `finalize` nor keeps the graph it was told
/// to forget (which would leave the runtime refusing every build).
#[test]
fn a_panic_in_forget_still_clears_the_graph() {
    let mut rt = Runtime::new(RuntimeConfig::default()).unwrap();
    rt.set_policy(Wrong::PanicInForget);
    let calls = |rt: &mut Runtime, what: fn(&mut Runtime)| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| what(rt)))
            .unwrap_or_else(|_| panic!("the forget hook's panic escaped"));
        assert_eq!(rt.task_count(), 0, "the graph is cleared");
    };
    // A run failing after dispatch releases its graph.
    rt.register_kernel(1, KernelFn::rust(|a| assert_ne!(a[0], 3, "task 3 faults")));
    rt.build(|g| {
        for i in 0..10 {
            g.add_task(1, CoreType::Aiv, &[i])?;
        }
        Ok(())
    })
    .unwrap();
    calls(&mut rt, |rt| {
        let e = rt.run().unwrap_err();
        assert!(
            matches!(
                e,
                Error::KernelFault {
                    task: hostgraph::TaskId(3),
                    ..
                }
            ),
            "{e}"
        );
    });
    calls(&mut rt, |rt| {
        build(rt);
        assert_eq!(rt.run().unwrap().tasks, 60);
        rt.discard();
    });
    calls(&mut rt, |rt| {
        build(rt);
        assert_eq!(rt.run().unwrap().tasks, 60);
        rt.finalize().unwrap();
    });
}

/// A stall declared by one thread while another counts the run's last
/// completion: every task ran, so the run succeeds (it failed as a "stall
/// with 0 tasks left: deadlock", and its graph was released). A policy
/// whose `victim` hook is slow in the poll that read the last FIN pins
/// the window a last kernel of about the stall bound opens by chance.
#[test]
fn a_run_whose_every_task_completed_is_not_a_stall() {
    static KERNEL_IN: AtomicBool = AtomicBool::new(false);
    static IN_VICTIM: AtomicBool = AtomicBool::new(false);
    static KERNEL_OUT: AtomicBool = AtomicBool::new(false);
    static SLOW_DONE: AtomicBool = AtomicBool::new(false);
    /// Returns once thread 1 is inside `victim`, in a poll that read ACK.
    fn last(_: &[u64]) {
        KERNEL_IN.store(true, Ordering::Release);
        let t = std::time::Instant::now();
        while !IN_VICTIM.load(Ordering::Acquire) && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_micros(100));
        }
        KERNEL_OUT.store(true, Ordering::Release);
    }
    /// AIC cores to thread 1, AIV cores to thread 0; thread 1 slow twice
    /// (the first time for less than the stall bound).
    struct SlowOnce;
    impl Policy for SlowOnce {
        type Local = Stealable;
        type Shared = SharedFifo;
        type Thread = ();
        const STEALS: bool = true;
        fn name(&self) -> &'static str {
            "slow-once"
        }
        fn assign_cores(&self, cores: &[DiscoveredCore], _threads: usize) -> Vec<usize> {
            cores
                .iter()
                .map(|c| usize::from(c.core_type == CoreType::Aic))
                .collect()
        }
        fn seed(&self, _: CoreType, ready: &[u32], _: &[usize]) -> Vec<Option<usize>> {
            vec![None; ready.len()]
        }
        fn thread(&self, _: usize, _: &[CoreView]) {}
        fn victim(&self, _: &mut (), thief: usize, _: usize, _: CoreType) -> Option<usize> {
            if thief != 1 {
            } else if KERNEL_IN.load(Ordering::Acquire) && !IN_VICTIM.load(Ordering::Acquire) {
                // A poll that read ACK: the kernel returns meanwhile, and
                // its FIN lands.
                IN_VICTIM.store(true, Ordering::Release);
                let t = std::time::Instant::now();
                while !KERNEL_OUT.load(Ordering::Acquire) && t.elapsed() < Duration::from_secs(5) {
                    std::thread::sleep(Duration::from_micros(100));
                }
                std::thread::sleep(Duration::from_millis(100));
            } else if IN_VICTIM.load(Ordering::Acquire) && !SLOW_DONE.swap(true, Ordering::AcqRel) {
                // The next poll, which read FIN: slow before counting it,
                // while thread 0 sees no progress for its stall bound.
                std::thread::sleep(Duration::from_millis(1500));
            }
            None
        }
    }
    let mut rt = Runtime::new(RuntimeConfig {
        block_dim: 1,
        threads: 2,
        stall_timeout: Duration::from_millis(500),
        ..Default::default()
    })
    .unwrap();
    rt.set_policy(SlowOnce);
    rt.register_kernel(0, KernelFn::rust(last));
    rt.build(|g| g.add_task(0, CoreType::Aic, &[]).map(drop))
        .unwrap();
    let r = rt.run();
    assert!(
        r.is_ok(),
        "the one task ran and completed: {:?}",
        r.err().map(|e| e.to_string())
    );
}

#[test]
fn a_graph_type_no_thread_owns_a_core_of_is_refused() {
    // The user's own assignment phase, in place of the policy's: every
    // core to thread 0, except that AIV cores are left unowned.
    fn aic_only(
        cores: Query<(Entity, &Core)>,
        threads: Query<(Entity, &AicpuThread)>,
        mut commands: Commands,
    ) {
        let t0 = threads.iter().find(|(_, t)| t.index == 0).unwrap().0;
        for (e, c) in &cores {
            match c.core_type {
                CoreType::Aic => commands.entity(e).insert(OwnedBy(t0)),
                CoreType::Aiv => commands.entity(e).remove::<OwnedBy>(),
            };
        }
    }
    let mut rt = Runtime::new(RuntimeConfig::default()).unwrap();
    rt.replace_phase(RunSchedule::Start, Phase::Assign, aic_only);
    build(&mut rt);
    let e = rt.run().unwrap_err();
    assert!(
        matches!(
            e,
            Error::NoCoreForType {
                core_type: CoreType::Aiv,
                tasks: 40
            }
        ),
        "{e}"
    );
    assert_eq!(rt.task_count(), 60);
    rt.discard();
}

/// A backend around the threaded simulator that misbehaves on purpose.
struct Faulty {
    inner: ThreadedSim,
    regs: FaultyRegs,
    /// Drop the scheduler jobs instead of running them.
    drop_jobs: bool,
    /// `pump` says cores moved, whatever happened.
    busy_pump: bool,
}

/// The simulator's registers; COND reads from scheduler worker threads
/// panic while `armed`.
#[derive(Clone)]
struct FaultyRegs {
    inner: ThreadedRegisters,
    armed: Arc<AtomicBool>,
}

impl RegisterAccess for FaultyRegs {
    fn read(&self, physical_id: u32, reg: Reg) -> u32 {
        let on_worker = std::thread::current()
            .name()
            .is_some_and(|n| n.starts_with("hostgraph-aicpu"));
        if reg == Reg::Cond && on_worker && self.armed.load(Ordering::Relaxed) {
            panic!("COND read failed on purpose");
        }
        self.inner.read(physical_id, reg)
    }

    fn write(&self, physical_id: u32, reg: Reg, value: u32) {
        self.inner.write(physical_id, reg, value)
    }
}

impl Faulty {
    fn new() -> Self {
        let inner = ThreadedSim::new(Platform::A2A3, Default::default());
        let regs = FaultyRegs {
            inner: inner.registers().clone(),
            armed: Arc::new(AtomicBool::new(false)),
        };
        Faulty {
            inner,
            regs,
            drop_jobs: false,
            busy_pump: false,
        }
    }
}

impl Backend for Faulty {
    type Regs = FaultyRegs;

    fn spec(&self) -> &PlatformSpec {
        self.inner.spec()
    }

    fn new_device_memory(&self) -> Box<dyn DeviceMemory + Sync> {
        self.inner.new_device_memory()
    }

    fn registers(&self) -> &FaultyRegs {
        &self.regs
    }

    fn handshakes(&self) -> &[HandshakeBlock] {
        self.inner.handshakes()
    }

    fn launch(&mut self, block_dim: u32, graph: Arc<Sealed>) -> hostgraph::Result<()> {
        self.inner.launch(block_dim, graph)
    }

    fn pump(&mut self) -> bool {
        self.inner.pump() || self.busy_pump
    }

    fn host<J: SchedulerJob>(&mut self, jobs: Vec<J>) {
        if self.drop_jobs {
            drop(jobs);
        } else {
            self.inner.host(jobs);
        }
    }

    fn drive(&mut self, wait: Wait, waker: Option<&Waker>) -> Hosting {
        self.inner.drive(wait, waker)
    }

    fn land(&mut self, abort: bool, timeout: Duration) -> Landing {
        self.inner.land(abort, timeout)
    }

    fn landed(&mut self) -> bool {
        self.inner.landed()
    }
}

fn faulty_runtime() -> Runtime<Faulty> {
    Runtime::with_backend(RuntimeConfig::default(), Faulty::new()).unwrap()
}

#[test]
fn a_panic_on_a_scheduler_thread_is_contained() {
    let mut rt = faulty_runtime();
    rt.backend().regs.armed.store(true, Ordering::Relaxed);
    build(&mut rt);
    let e = rt.run().unwrap_err();
    assert!(
        matches!(&e, Error::Panicked { phase, message }
            if phase.starts_with("dispatch (scheduler thread") && message.contains("COND read failed")),
        "{e}"
    );
    // Tasks were dispatched: the graph is released, its memory freed (no
    // kernel was left inside).
    assert_eq!(rt.task_count(), 0);
    assert!(rt.device_memory().quarantined().is_empty());
    rt.backend().regs.armed.store(false, Ordering::Relaxed);
    build(&mut rt);
    assert_eq!(rt.run().unwrap().tasks, 60);
    rt.finalize().unwrap();
    drop(rt);
}

#[test]
fn a_run_that_did_not_run_every_task_is_never_a_success() {
    let mut rt = Runtime::with_backend(
        RuntimeConfig::default(),
        Faulty {
            drop_jobs: true,
            ..Faulty::new()
        },
    )
    .unwrap();
    build(&mut rt);
    let e = rt.run().unwrap_err();
    assert!(
        matches!(
            e,
            Error::Incomplete {
                completed: 0,
                dispatched: 0,
                tasks: 60
            }
        ),
        "{e}"
    );
}

/// Kernels of the forgotten-handle test in flight, and finished.
static IN_KERNEL: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static FINISHED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Takes 5 ms, then counts into the device word its argument names.
fn slow_count(args: &[u64]) {
    IN_KERNEL.fetch_add(1, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(5));
    // SAFETY: args[0] is the address of the 8 device bytes the build
    // allocated; the test checks that they are still allocated here.
    unsafe { *(args[0] as *mut u64) += 1 };
    FINISHED.fetch_add(1, Ordering::SeqCst);
    IN_KERNEL.fetch_sub(1, Ordering::SeqCst);
}

/// A run handle can be forgotten (`mem::forget` is safe): its run goes on
/// until the runtime's next build, run, discard, finalize or drop, each of
/// which first cancels and finishes it, so no kernel is left writing
/// device memory that the call frees. (Before, `discard` freed the memory
/// under the running kernels: heap corruption; under valgrind, CI's run of
/// this file names the write.)
#[test]
fn a_forgotten_run_is_ended_before_its_memory_is_freed() {
    for end in ["discard", "finalize", "build", "run", "drop"] {
        let mut rt = Runtime::new(RuntimeConfig {
            block_dim: 1,
            threads: 1,
            ..Default::default()
        })
        .unwrap();
        rt.register_kernel(0, KernelFn::rust(slow_count));
        let chain = |rt: &mut Runtime<ThreadedSim>| {
            rt.build(|g| {
                let word = g.device_malloc(8)?;
                let mut prev = g.add_task(0, CoreType::Aiv, &[word])?;
                for _ in 0..40 {
                    let next = g.add_task(0, CoreType::Aiv, &[word])?;
                    g.add_successor(prev, next)?;
                    prev = next;
                }
                Ok(())
            })
        };
        chain(&mut rt).unwrap();
        std::mem::forget(rt.start().unwrap());
        // Let a few kernels run.
        while FINISHED.load(Ordering::SeqCst) < 2 {
            std::thread::yield_now();
        }
        match end {
            "discard" => assert_eq!(rt.discard(), 1, "{end}: the word is freed"),
            "finalize" => assert_eq!(rt.finalize().unwrap().freed, 1, "{end}"),
            "build" => {
                // The graph of the forgotten run is still built.
                assert!(
                    matches!(chain(&mut rt), Err(Error::GraphPresent(41))),
                    "{end}"
                );
                assert_eq!(rt.discard(), 1, "{end}");
            }
            "run" => {
                // The forgotten run is cancelled; this one runs every task.
                assert_eq!(rt.run().unwrap().tasks, 41, "{end}");
                assert_eq!(rt.discard(), 1, "{end}");
            }
            _ => drop(rt),
        }
        assert_eq!(
            IN_KERNEL.load(Ordering::SeqCst),
            0,
            "{end}: a kernel still runs"
        );
        let finished = FINISHED.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(
            FINISHED.load(Ordering::SeqCst),
            finished,
            "{end}: kernels ran on after the call returned"
        );
        FINISHED.store(0, Ordering::SeqCst);
    }
}

/// A Start schedule run by hand (as an embedding does) that fails after
/// Launch, before its threads are hosted (a bad answer at Assign), leaves
/// the backend launched. The runtime's next call lands it first: the next
/// run works. Before, `run` reset the run state over the launched one, so
/// nothing ever landed it, and every later run failed with `BackendStuck`
/// ("still inside a kernel ()") until `abandon_stuck`.
#[test]
fn a_start_run_by_hand_that_failed_after_launch_is_landed_by_the_next_run() {
    for discard_first in [false, true] {
        let mut rt = Runtime::new(RuntimeConfig::default()).unwrap();
        build(&mut rt);
        rt.set_policy(Wrong::ThreadOutOfRange);
        rt.world_mut().run_schedule(RunSchedule::Start);
        let state = rt
            .world()
            .resource::<hostgraph::run::RunState<ThreadedSim>>();
        assert!(
            matches!(state.failure(), Some(Error::BadPolicy { .. })),
            "{:?}",
            state.failure()
        );
        rt.set_policy(RoundRobin);
        if discard_first {
            // Or the next call is something else that needs the run ended.
            rt.discard();
            build(&mut rt);
        }
        assert_eq!(rt.run().unwrap().tasks, 60);
        rt.finalize().unwrap();
    }
}

/// A user's world with a runtime installed, dropped while a run it started
/// (its handle forgotten) is inside a kernel: the device memory the kernel
/// uses is not freed under it (leaked instead: nothing is left to free it
/// later). Before, dropping the world freed it, and the kernel read freed
/// memory (valgrind: "Invalid read ... SimDeviceMemory::free_all"). Found
/// by a hostile review.
#[test]
fn a_world_dropped_mid_run_does_not_free_memory_a_kernel_uses() {
    use std::sync::atomic::AtomicU64;
    static INSIDE: AtomicBool = AtomicBool::new(false);
    static GO: AtomicBool = AtomicBool::new(false);
    /// The buffer's first word as the kernel read it after it was let go.
    static READ: AtomicU64 = AtomicU64::new(0);
    static LEFT: AtomicBool = AtomicBool::new(false);
    fn hold(args: &[u64]) {
        INSIDE.store(true, Ordering::SeqCst);
        while !GO.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        // SAFETY: the task's one argument is a 4,096-byte device buffer,
        // which the runtime keeps allocated while a kernel may run.
        let word = unsafe { std::ptr::read_volatile(args[0] as *const u64) };
        READ.store(word, Ordering::SeqCst);
        LEFT.store(true, Ordering::SeqCst);
    }
    let mut world = World::new();
    let config = RuntimeConfig::default();
    Runtime::install(
        &mut world,
        config,
        ThreadedSim::new(config.platform, Default::default()),
    )
    .unwrap();
    {
        let mut rt = Runtime::<ThreadedSim, _>::attach(&mut world).unwrap();
        rt.register_kernel(0, KernelFn::rust(hold));
        rt.build(|g| {
            let dev = g.upload(&[0x5Au8; 4096])?;
            g.add_task(0, CoreType::Aiv, &[dev]).map(drop)
        })
        .unwrap();
        std::mem::forget(rt.start().unwrap());
    }
    while !INSIDE.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(1));
    }
    drop(world);
    // Memory freed by the drop would be handed out again here.
    let others: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 4096]).collect();
    GO.store(true, Ordering::SeqCst);
    while !LEFT.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(1));
    }
    drop(others);
    assert_eq!(READ.load(Ordering::SeqCst), 0x5A5A_5A5A_5A5A_5A5A);
}

/// A backend whose pump always reports movement still has start-up bounded
/// by `startup_timeout`: a core that never answers is a `StartupTimeout`
/// naming it, not a wait without end. Before, the bound was only looked
/// at after passes in which nothing moved, and this run never returned.
/// Found by a hostile review.
#[test]
fn startup_is_bounded_whatever_the_pump_says() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut backend = Faulty::new();
        backend.busy_pump = true;
        backend
            .inner
            .inject_fault(Some(hostgraph::sim::SimFault::SilentCore(0)));
        let config = RuntimeConfig {
            startup_timeout: Duration::from_millis(200),
            ..Default::default()
        };
        let mut rt = Runtime::with_backend(config, backend).unwrap();
        build(&mut rt);
        let _ = tx.send(rt.run().map(|r| r.tasks));
        rt.discard();
    });
    let r = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("run() with a 200 ms start-up bound returned within 30 s");
    // Core 0 never answers (under valgrind the others may not have yet
    // either).
    assert!(
        matches!(r, Err(Error::StartupTimeout { first: 0, .. })),
        "{r:?}"
    );
}
