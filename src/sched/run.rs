//! One run, start to finish: launch the cores, discover them (start-up steps
//! 1-5), file them as ECS entities and assign them to threads, seed the
//! ready queues, run the scheduler threads, shut every core down (step 11).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bevy_ecs::prelude::*;
use crossbeam_deque::Injector;
use hostgraph_orch_abi::CoreType;
use hostgraph_platform::handshake::{exit_acknowledged, send_exit};
use hostgraph_platform::{AicpuStartup, DiscoveredCore, RegisterAccess};

use super::policy::Policy;
use super::thread::{OwnedCore, SchedulerThread, ThreadStats};
use crate::backoff::Backoff;
use crate::error::{Error, Result, StallDiagnosis};
use crate::exec::Executor;
use crate::graph::TaskId;
use crate::profile::{Profile, RunInfo};
use crate::seal::Sealed;

/// A discovered core, filed as an entity for the length of a run.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Core {
    /// Handshake index.
    pub index: u32,
    /// Physical id (selects the register block).
    pub physical_id: u32,
    /// AIC or AIV.
    pub core_type: CoreType,
    /// Scheduler thread that owns it.
    pub thread: usize,
}

/// The active dispatch policy.
#[derive(Resource)]
pub(crate) struct ActivePolicy(pub Box<dyn Policy>);

/// What a run needs to know beyond the graph.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunParams {
    pub block_dim: u32,
    pub threads: usize,
    pub startup_timeout: Duration,
    pub stall_timeout: Duration,
    pub profiling: bool,
}

/// Figures from one run.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    /// Tasks run.
    pub tasks: usize,
    /// Of which on AIC cores.
    pub aic_tasks: usize,
    /// Of which on AIV cores.
    pub aiv_tasks: usize,
    /// AIC cores discovered.
    pub aic_cores: usize,
    /// AIV cores discovered.
    pub aiv_cores: usize,
    /// Scheduler threads.
    pub threads: usize,
    /// Launch and start-up handshake of every core (not the per-run reset
    /// of the graph's fan-in counts, which `wall` includes).
    pub startup: Duration,
    /// From the first dispatch to the last completion.
    pub execute: Duration,
    /// Whole run, including shutdown.
    pub wall: Duration,
    /// Per-thread counters.
    pub per_thread: Vec<ThreadStats>,
    /// Per-task records, when profiling is on ([`Runtime::set_profiling`](crate::Runtime::set_profiling)).
    pub profile: Option<Profile>,
}

/// Initially ready tasks that did not fit in the local queues, by core
/// type: claimed in batches through an atomic cursor, one read-modify-write
/// per batch (the shared queues take one per task). An independent graph
/// is almost all seeds.
#[derive(Default)]
pub(crate) struct Seeds {
    tasks: [Vec<u32>; 2],
    next: [Cursor; 2],
}

/// A claim cursor on its own cache line.
#[derive(Default)]
#[repr(align(64))]
struct Cursor(AtomicUsize);

impl Seeds {
    fn new(tasks: [Vec<u32>; 2]) -> Self {
        Seeds {
            tasks,
            next: Default::default(),
        }
    }

    /// Claims up to `n` seeds of core type `ty` (none once all are claimed).
    #[inline]
    pub(crate) fn claim(&self, ty: usize, n: usize) -> &[u32] {
        let (tasks, next) = (&self.tasks[ty], &self.next[ty].0);
        // A load first: once drained, polls find nothing without a write.
        if next.load(Ordering::Relaxed) >= tasks.len() {
            return &[];
        }
        let start = next.fetch_add(n, Ordering::Relaxed).min(tasks.len());
        &tasks[start..(start + n).min(tasks.len())]
    }

    /// Whether every seed has been claimed.
    #[inline]
    pub(crate) fn is_drained(&self) -> bool {
        (0..2).all(|ty| self.next[ty].0.load(Ordering::Relaxed) >= self.tasks[ty].len())
    }

    /// Seeds not claimed yet.
    fn unclaimed(&self) -> usize {
        let left = |ty: usize| {
            let claimed = self.next[ty].0.load(Ordering::Relaxed);
            self.tasks[ty].len().saturating_sub(claimed)
        };
        left(0) + left(1)
    }
}

/// State every scheduler thread of a run shares: registers, the sealed
/// graph, the seeds and shared ready queues, the count of tasks left, the
/// stop flag.
pub struct RunShared<'a, R> {
    pub(crate) regs: &'a R,
    pub(crate) graph: &'a Sealed,
    pub(crate) seeds: Seeds,
    pub(crate) shared: [Injector<u32>; 2],
    pub(crate) remaining: AtomicUsize,
    pub(crate) stall_timeout: Duration,
    stop: AtomicBool,
    failure: Mutex<Option<Failure>>,
}

enum Failure {
    Error(Error),
    Stall(Duration),
}

impl<R> RunShared<'_, R> {
    /// Whether the run must stop (an error, a stall, or a kernel fault).
    #[inline]
    pub(crate) fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.graph.faulted()
    }

    fn set_failure(&self, f: Failure) {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert(f);
        self.stop.store(true, Ordering::Release);
    }

    /// Stops the run with `e` (the first failure wins).
    pub(crate) fn fail(&self, e: Error) {
        self.set_failure(Failure::Error(e));
    }

    /// Tasks not yet completed.
    #[inline]
    pub(crate) fn remaining(&self) -> usize {
        self.remaining.load(Ordering::Relaxed)
    }

    /// Stops the run: nothing moved for `elapsed`.
    pub(crate) fn stall(&self, elapsed: Duration) {
        self.set_failure(Failure::Stall(elapsed));
    }
}

/// Runs the sealed graph once on `exec`.
pub(crate) fn execute<E: Executor>(
    world: &mut World,
    exec: &mut E,
    graph: &Arc<Sealed>,
    p: RunParams,
) -> Result<RunReport> {
    let t0 = Instant::now();
    graph.reset(world, p.profiling);
    let t_launch = Instant::now();
    exec.launch(p.block_dim, graph.clone())?;
    let cores = match discover(exec, p.block_dim, p.startup_timeout) {
        Ok(c) => c,
        Err(e) => {
            exec.land(true, p.startup_timeout);
            return Err(e);
        }
    };
    let startup = t_launch.elapsed();

    let (mut threads, seeds) = plan_threads(world, &cores, graph, p.threads);
    let sh = RunShared {
        regs: exec.registers(),
        graph,
        seeds: Seeds::new(seeds),
        shared: [Injector::new(), Injector::new()],
        remaining: AtomicUsize::new(graph.len()),
        stall_timeout: p.stall_timeout,
        stop: AtomicBool::new(false),
        failure: Mutex::new(None),
    };
    let t1 = Instant::now();
    if !graph.is_empty() {
        exec.run_schedulers(&mut threads, &sh);
    }
    let execute = t1.elapsed();
    let failure = sh.failure.lock().unwrap_or_else(|e| e.into_inner()).take();
    let outcome = match (graph.fault(), failure) {
        (Some(f), _) => Err(Error::KernelFault {
            task: TaskId(f.task),
            func_id: graph.func_id(f.task),
            physical_id: f.physical_id,
            message: f.message,
        }),
        (None, Some(Failure::Error(e))) => Err(e),
        (None, Some(Failure::Stall(elapsed))) => Err(diagnose_stall(&threads, graph, &sh, elapsed)),
        (None, None) => Ok(()),
    };
    let shutdown = shutdown(exec, &cores, p.startup_timeout);
    let landed = exec.land(shutdown.is_err() || outcome.is_err(), p.startup_timeout);
    outcome?;
    shutdown?;
    if !landed {
        return Err(Error::BackendStuck(
            "cores acknowledged exit but their runners did not return".into(),
        ));
    }

    Ok(RunReport {
        tasks: graph.len(),
        aic_tasks: graph.aic_tasks(),
        aiv_tasks: graph.len() - graph.aic_tasks(),
        aic_cores: cores
            .iter()
            .filter(|c| c.core_type == CoreType::Aic)
            .count(),
        aiv_cores: cores
            .iter()
            .filter(|c| c.core_type == CoreType::Aiv)
            .count(),
        threads: p.threads,
        startup,
        execute,
        wall: t0.elapsed(),
        per_thread: threads.iter().map(|t| t.stats).collect(),
        profile: graph.take_profile(
            RunInfo {
                platform: exec.spec().platform,
                block_dim: p.block_dim,
                threads: p.threads,
            },
            &cores,
        ),
    })
}

/// Start-up steps 1-5 for every launched core, all at once, bounded in time.
fn discover<E: Executor>(
    exec: &E,
    block_dim: u32,
    timeout: Duration,
) -> Result<Vec<DiscoveredCore>> {
    let spec = exec.spec();
    let n = (block_dim * spec.cores_per_block()) as usize;
    let blocks = &exec.handshakes()[..n];
    let mut states: Vec<AicpuStartup> = blocks.iter().map(AicpuStartup::begin).collect();
    let start = Instant::now();
    let mut backoff = Backoff::new();
    loop {
        let moved = exec.pump();
        let mut pending = 0;
        for (i, (st, block)) in states.iter_mut().zip(blocks).enumerate() {
            if st.poll(i as u32, block, exec.registers(), spec)?.is_none() {
                pending += 1;
            }
        }
        if pending == 0 {
            let filed = |s: &AicpuStartup| match *s {
                AicpuStartup::Filed(core) => Some(core),
                _ => None,
            };
            return Ok(states.iter().filter_map(filed).collect());
        }
        if !moved && backoff.snooze() && start.elapsed() >= timeout {
            let first = states
                .iter()
                .position(|s| !matches!(s, AicpuStartup::Filed(_)))
                .unwrap_or(0);
            return Err(Error::StartupTimeout {
                pending,
                cores: n,
                timeout,
                first: first as u32,
            });
        }
    }
}

/// Files the cores as entities, lets the policy assign them to threads and
/// seed the queues, and builds each thread's state. Returns the threads and
/// the initially-ready tasks meant for the shared queues, by core type.
fn plan_threads(
    world: &mut World,
    cores: &[DiscoveredCore],
    graph: &Sealed,
    threads: usize,
) -> (Vec<SchedulerThread>, [Vec<u32>; 2]) {
    let stale: Vec<Entity> = world
        .query_filtered::<Entity, With<Core>>()
        .iter(world)
        .collect();
    for e in stale {
        world.despawn(e);
    }
    let policy = &world.resource::<ActivePolicy>().0;
    let owner = policy.assign_cores(cores, threads);
    let mut owned = vec![[0usize; 2]; threads];
    for (c, &t) in cores.iter().zip(&owner) {
        owned[t][c.core_type as usize] += 1;
    }
    // A thread that owns no core of a type holds no local task of it.
    let cap = |n: usize| if n == 0 { 0 } else { policy.local_capacity(n) };
    let capacity: Vec<[usize; 2]> = owned.iter().map(|o| [cap(o[0]), cap(o[1])]).collect();
    let mut owned_cores: Vec<Vec<OwnedCore>> = vec![Vec::new(); threads];
    for (c, &t) in cores.iter().zip(&owner) {
        owned_cores[t].push(OwnedCore {
            physical_id: c.physical_id,
            core_type: c.core_type,
            slot: Default::default(),
        });
    }
    let mut out: Vec<SchedulerThread> = owned_cores
        .into_iter()
        .zip(&capacity)
        .enumerate()
        .map(|(index, (cores, cap))| SchedulerThread::new(index as u32, *cap, cores))
        .collect();
    let mut shared: [Vec<u32>; 2] = Default::default();
    for ty in CoreType::ALL {
        let ready = graph.roots(ty);
        let caps: Vec<usize> = capacity.iter().map(|c| c[ty as usize]).collect();
        for (&task, dest) in ready.iter().zip(policy.seed(ty, ready, &caps)) {
            match dest {
                Some(t) if t < threads && owned[t][ty as usize] > 0 => {
                    out[t].local.push_seed(task, ty)
                }
                _ => shared[ty as usize].push(task),
            }
        }
    }
    for (c, &t) in cores.iter().zip(&owner) {
        world.spawn(Core {
            index: c.index,
            physical_id: c.physical_id,
            core_type: c.core_type,
            thread: t,
        });
    }
    (out, shared)
}

/// Step 11 for every core, bounded in time.
fn shutdown<E: Executor>(exec: &E, cores: &[DiscoveredCore], timeout: Duration) -> Result<()> {
    let regs = exec.registers();
    for c in cores {
        send_exit(regs, c.physical_id);
    }
    let mut waiting: Vec<u32> = cores.iter().map(|c| c.physical_id).collect();
    let start = Instant::now();
    let mut backoff = Backoff::new();
    while !waiting.is_empty() {
        let moved = exec.pump();
        waiting.retain(|&id| !exit_acknowledged(regs, id, exec.spec()));
        if !waiting.is_empty() && !moved && backoff.snooze() && start.elapsed() >= timeout {
            return Err(Error::ShutdownTimeout(waiting));
        }
    }
    Ok(())
}

/// Tells a hung kernel (a core holds a task) from a deadlock (none does).
fn diagnose_stall<R: RegisterAccess>(
    threads: &[SchedulerThread],
    graph: &Sealed,
    sh: &RunShared<'_, R>,
    elapsed: Duration,
) -> Error {
    let busy: Vec<(u32, CoreType, TaskId)> = threads
        .iter()
        .flat_map(|t| t.busy())
        .map(|(c, ty, t)| (c, ty, TaskId(t)))
        .collect();
    let diagnosis = if busy.is_empty() {
        let blocked = (0..graph.len() as u32)
            .filter(|&t| graph.remaining_fanin(t) > 0)
            .map(|t| (TaskId(t), graph.remaining_fanin(t)))
            .collect();
        let queued = threads.iter().map(|t| t.local.len()).sum::<usize>()
            + sh.seeds.unclaimed()
            + sh.shared.iter().map(Injector::len).sum::<usize>();
        StallDiagnosis::Deadlock { blocked, queued }
    } else {
        StallDiagnosis::HungKernel(busy)
    };
    Error::Stall {
        elapsed,
        remaining: sh.remaining.load(Ordering::Relaxed),
        diagnosis,
    }
}

#[cfg(test)]
mod tests {
    use hostgraph_platform::regs::{Cond, IDLE, Reg};
    use hostgraph_platform::{CoreSlot, Platform, SimDeviceMemory, SimRegisters};

    use super::super::thread::Poll;

    use super::*;
    use crate::graph::{DeviceMem, GraphBuilder, TaskCount};
    use crate::kernels::{KernelFn, KernelRegistry};
    use crate::seal::seal_graph;

    fn noop(_: &[u64]) {}

    /// The sealed graph `build` makes, reset for a run.
    fn sealed(build: impl FnOnce(&mut GraphBuilder<'_>)) -> Sealed {
        let mut world = World::new();
        world.init_resource::<TaskCount>();
        world.insert_resource(DeviceMem(Box::new(SimDeviceMemory::new())));
        let mut kernels = KernelRegistry::default();
        kernels.insert(0, KernelFn::rust(noop));
        world.insert_resource(kernels);
        let mut g = GraphBuilder::new(&mut world, Default::default());
        build(&mut g);
        g.finish(true);
        let sealed = world.run_system_cached(seal_graph).unwrap().unwrap();
        sealed.reset(&mut world, false);
        sealed
    }

    /// Tasks 0 and 1 feed task 2.
    fn sealed_join() -> Sealed {
        sealed(|g| {
            let a = g.add_task(0, CoreType::Aic, &[]).unwrap();
            let b = g.add_task(0, CoreType::Aiv, &[]).unwrap();
            let c = g.add_task(0, CoreType::Aiv, &[]).unwrap();
            g.add_successor(a, c).unwrap();
            g.add_successor(b, c).unwrap();
        })
    }

    fn shared<'a, R>(regs: &'a R, graph: &'a Sealed, remaining: usize) -> RunShared<'a, R> {
        RunShared {
            regs,
            graph,
            seeds: Seeds::default(),
            shared: [Injector::new(), Injector::new()],
            remaining: AtomicUsize::new(remaining),
            stall_timeout: Duration::from_secs(1),
            stop: AtomicBool::new(false),
            failure: Mutex::new(None),
        }
    }

    /// Sim registers counting the COND reads of each core.
    struct CountingRegs {
        regs: SimRegisters,
        cond_reads: Vec<AtomicUsize>,
    }

    impl RegisterAccess for CountingRegs {
        fn read(&self, physical_id: u32, reg: Reg) -> u32 {
            if reg == Reg::Cond {
                self.cond_reads[physical_id as usize].fetch_add(1, Ordering::Relaxed);
            }
            self.regs.read(physical_id, reg)
        }

        fn write(&self, physical_id: u32, reg: Reg, value: u32) {
            self.regs.write(physical_id, reg, value)
        }
    }

    #[test]
    fn seeds_are_claimed_in_batches_each_once() {
        let seeds = Seeds::new([vec![1, 2, 3, 4, 5], vec![9]]);
        assert_eq!(seeds.unclaimed(), 6);
        assert_eq!(seeds.claim(0, 2), [1, 2]);
        assert_eq!(seeds.claim(0, 2), [3, 4]);
        assert_eq!(seeds.claim(0, 2), [5]);
        assert!(seeds.claim(0, 2).is_empty());
        assert!(!seeds.is_drained());
        assert_eq!(seeds.unclaimed(), 1);
        assert_eq!(seeds.claim(1, 4), [9]);
        assert!(seeds.is_drained());
        assert_eq!(seeds.unclaimed(), 0);
    }

    #[test]
    fn a_chain_polls_only_the_core_it_runs_on() {
        const STEPS: u32 = 50;
        const CORES: u32 = 24;
        let graph = sealed(|g| {
            let mut prev = g.add_task(0, CoreType::Aiv, &[]).unwrap();
            for _ in 1..STEPS {
                let next = g.add_task(0, CoreType::Aiv, &[]).unwrap();
                g.add_successor(prev, next).unwrap();
                prev = next;
            }
        });
        let spec = Platform::A2A3.spec();
        let regs = CountingRegs {
            regs: SimRegisters::new(spec),
            cond_reads: (0..spec.physical_cores())
                .map(|_| AtomicUsize::new(0))
                .collect(),
        };
        let sh = shared(&regs, &graph, STEPS as usize);
        let cores = (0..CORES)
            .map(|p| OwnedCore {
                physical_id: p,
                core_type: CoreType::Aiv,
                slot: CoreSlot::default(),
            })
            .collect();
        let mut thread = SchedulerThread::new(0, [0, CORES as usize], cores);
        thread.local.push_seed(0, CoreType::Aiv);
        // Each pass, every core finishes what it was newly given (ACK and
        // FIN at once).
        for p in 0..CORES {
            regs.write(p, Reg::DataMainBase, IDLE);
        }
        let mut given = vec![IDLE; CORES as usize];
        let mut ran = Vec::new();
        for _ in 0..2 * STEPS {
            if thread.poll(&sh) == Poll::Done {
                break;
            }
            for p in 0..CORES {
                let task = regs.regs.read(p, Reg::DataMainBase);
                if task != given[p as usize] {
                    given[p as usize] = task;
                    ran.push((p, task));
                    regs.write(p, Reg::Cond, Cond::fin(task).encode());
                }
            }
        }
        let tasks: Vec<u32> = ran.iter().map(|&(_, t)| t).collect();
        assert_eq!(
            tasks,
            (0..STEPS).collect::<Vec<_>>(),
            "each task once, in order"
        );
        assert!(
            ran.iter().all(|&(p, _)| p == 0),
            "the chain stays on core 0: {ran:?}"
        );
        let reads: Vec<usize> = regs
            .cond_reads
            .iter()
            .map(|r| r.load(Ordering::Relaxed))
            .collect();
        assert!(
            reads[1..].iter().all(|&r| r == 0),
            "idle cores were polled: {reads:?}"
        );
        assert_eq!(reads[0], STEPS as usize, "one read per step");
    }

    #[test]
    fn stall_with_no_busy_core_is_a_deadlock_listing_blocked_tasks() {
        let graph = sealed_join();
        // Task 0's completion was resolved, task 1's was lost: 2 waits forever.
        assert!(!graph.release(2));
        let regs = SimRegisters::new(Platform::A2A3.spec());
        let sh = shared(&regs, &graph, 2);
        let idle = SchedulerThread::new(
            0,
            [1, 0],
            vec![OwnedCore {
                physical_id: 0,
                core_type: CoreType::Aic,
                slot: CoreSlot::default(),
            }],
        );
        let e = diagnose_stall(&[idle], &graph, &sh, Duration::from_secs(2));
        match e {
            Error::Stall {
                diagnosis: StallDiagnosis::Deadlock { blocked, queued: 0 },
                remaining: 2,
                ..
            } => {
                assert_eq!(blocked, vec![(TaskId(2), 1)]);
            }
            other => panic!("expected a deadlock, got {other}"),
        }
    }

    #[test]
    fn stall_with_a_busy_core_is_a_hung_kernel() {
        let graph = sealed_join();
        let regs = SimRegisters::new(Platform::A2A3.spec());
        let sh = shared(&regs, &graph, 3);
        let mut slot = CoreSlot::default();
        slot.dispatched(1);
        let busy = SchedulerThread::new(
            0,
            [0, 2],
            vec![OwnedCore {
                physical_id: 30,
                core_type: CoreType::Aiv,
                slot,
            }],
        );
        let e = diagnose_stall(&[busy], &graph, &sh, Duration::from_secs(2));
        assert!(
            matches!(&e, Error::Stall { diagnosis: StallDiagnosis::HungKernel(c), .. } if c == &[(30, CoreType::Aiv, TaskId(1))]),
            "{e}"
        );
    }
}
