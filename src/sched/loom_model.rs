//! Model check of a run with loom, driving the real code: the scheduler
//! thread's loop ([`SchedulerThread::poll`]: observe, resolve, dispatch),
//! the seed cursor, the fan-in release, the shared queues (loom's stand-in
//! from [`crate::sync`]), the sealed graph's kernel call, and both sides of
//! the start-up handshake and the core loop ([`AicpuStartup`],
//! [`CoreSide`]); over registers whose every access loom tracks. The run's
//! atomics come from the `sync` shims of this crate and of
//! `hostgraph-platform`, which are loom's under `--cfg hostgraph_loom`.
//!
//! Each case checks, over the interleavings loom explores: every task runs
//! exactly once; a task's kernel sees its predecessors' outputs (outputs
//! live in loom cells, so a missing happens-before edge is reported as a
//! data race); pipelining with implicit completion loses nothing; every
//! core leaves on the exit signal.
//!
//! Waiting threads block on doorbells instead of spinning (spin loops make
//! loom's search explode): a DATA_MAIN_BASE write rings the core, a COND
//! write rings the scheduler thread that owns the core, a push to a shared
//! queue and the end of the run ring every scheduler thread. The doorbells
//! only decide when a thread looks again; what it sees comes from the
//! registers and the scheduler's own state, as on the chip.
//!
//! Run (release, its own target directory since the cfg changes every
//! crate's build):
//! `RUSTFLAGS="--cfg hostgraph_loom" cargo test -p hostgraph --lib --release --target-dir target/loom loom_model`

use std::sync::Mutex;

use hostgraph_orch_abi::CoreType;
use hostgraph_platform::handshake::{exit_acknowledged, send_exit};
use hostgraph_platform::regs::Reg;
use hostgraph_platform::{
    AicpuStartup, CoreSide, CoreSlot, CoreStep, HandshakeBlock, Platform, RegisterAccess,
};
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicU32, Ordering};
use loom::sync::{Arc, Notify};

use super::policy::RoundRobin;
use super::shared::RunShared;
use super::testing::{Built, shared};
use super::thread::{OwnedCore, SchedulerThread};
use crate::backend::Poll;
use crate::graph::TaskId;

/// One case at a time: the kernel finds the case's outputs through a static.
static SERIAL: Mutex<()> = Mutex::new(());

/// What the kernels of the current model iteration write.
static OUTPUTS: Mutex<Option<std::sync::Arc<Outputs>>> = Mutex::new(None);

/// Per task: its predecessors, its output cell, how often it ran.
struct Outputs {
    preds: Vec<Vec<u32>>,
    cells: Vec<UnsafeCell<u32>>,
    runs: Vec<AtomicU32>,
}

// SAFETY: the cells are only touched through loom's `with`/`with_mut`,
// which loom checks for unsynchronised access: a race is reported, not
// undefined behaviour, under the model.
unsafe impl Sync for Outputs {}

impl Outputs {
    fn expected(&self, t: u32) -> u32 {
        1 + self.preds[t as usize]
            .iter()
            .map(|&p| self.expected(p))
            .sum::<u32>()
    }
}

/// The kernel every task runs (its one argument word is its id): output =
/// 1 + the sum of its predecessors' outputs.
fn kernel(args: &[u64]) {
    let out = OUTPUTS.lock().unwrap().clone().expect("a model iteration");
    let t = args[0] as usize;
    out.runs[t].fetch_add(1, Ordering::Relaxed);
    let sum: u32 = out.preds[t]
        .iter()
        // SAFETY: predecessors finished before this task was dispatched;
        // loom reports a race if the protocol failed to order it.
        .map(|&p| out.cells[p as usize].with(|v| unsafe { *v }))
        .sum();
    // SAFETY: only this task writes its cell; successors read it after.
    out.cells[t].with_mut(|v| unsafe { *v = sum + 1 });
}

/// DATA_MAIN_BASE, COND and FAST_PATH_ENABLE per core as loom atomics
/// (acquire reads, release writes, as the sim's registers), with doorbells.
struct Regs {
    cells: Vec<[AtomicU32; 3]>,
    core_bell: Vec<Notify>,
    sched_bell: Vec<Notify>,
    owner: Vec<usize>,
}

#[derive(Clone)]
struct LoomRegs(Arc<Regs>);

impl LoomRegs {
    fn new(cores: usize, threads: usize) -> Self {
        LoomRegs(Arc::new(Regs {
            cells: (0..cores)
                .map(|_| std::array::from_fn(|_| AtomicU32::new(0)))
                .collect(),
            core_bell: (0..cores).map(|_| Notify::new()).collect(),
            sched_bell: (0..threads).map(|_| Notify::new()).collect(),
            owner: (0..cores).map(|c| c % threads).collect(),
        }))
    }

    fn ring_schedulers(&self) {
        self.0.sched_bell.iter().for_each(Notify::notify);
    }
}

impl RegisterAccess for LoomRegs {
    fn read(&self, core: u32, reg: Reg) -> u32 {
        self.0.cells[core as usize][reg as usize].load(Ordering::Acquire)
    }

    fn write(&self, core: u32, reg: Reg, value: u32) {
        self.0.cells[core as usize][reg as usize].store(value, Ordering::Release);
        match reg {
            Reg::DataMainBase => self.0.core_bell[core as usize].notify(),
            Reg::Cond => self.0.sched_bell[self.0.owner[core as usize]].notify(),
            Reg::FastPathEnable => {}
        }
    }
}

/// A model case: the graph, the cores (core `i` owned by thread
/// `i % threads`, all AIV), each thread's local capacity, and whether the
/// start-up handshake runs concurrently with the cores (otherwise it is
/// done up front, and the model covers dispatch).
struct Case {
    preds: Vec<Vec<u32>>,
    cores: u32,
    threads: usize,
    local_capacity: usize,
    concurrent_startup: bool,
}

/// The core side: start-up, then the loop; it waits on its bell, and rings
/// the scheduler's side of start-up (thread 0's bell) after each start-up
/// step, since handshake-block writes ring nothing.
fn core_loop(
    regs: &LoomRegs,
    block: &HandshakeBlock,
    graph: &crate::seal::Sealed,
    mut core: CoreSide,
) {
    let bell = &regs.0.core_bell[core.physical_id() as usize];
    let phys = core.physical_id();
    loop {
        match core.step(block, regs, |t| graph.execute(t, phys)) {
            CoreStep::Exited => return,
            CoreStep::Started => regs.0.sched_bell[0].notify(),
            CoreStep::Wait => bell.wait(),
            _ => {}
        }
    }
}

/// A scheduler thread: polls until the run is done, waiting on its bell
/// when idle; the thread that finishes the run rings every other.
fn schedule(mut thread: SchedulerThread<RoundRobin>, sh: &RunShared<LoomRegs, RoundRobin>) {
    let me = thread.index as usize;
    loop {
        match thread.poll(sh) {
            Poll::Done => {
                sh.regs.ring_schedulers();
                return;
            }
            Poll::Stopped => panic!("the run stopped"),
            Poll::Progress => {}
            Poll::Idle => sh.regs.0.sched_bell[me].wait(),
        }
    }
}

fn check(case: Case) {
    let _one = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let preds = case.preds.clone();
    let built = Built::new(kernel, &[0], |g| {
        for t in 0..preds.len() as u64 {
            g.add_task(0, CoreType::Aiv, &[t]).unwrap();
        }
        for (t, ps) in preds.iter().enumerate() {
            for &p in ps {
                g.add_successor(TaskId(p), TaskId(t as u32)).unwrap();
            }
        }
    });
    // The preemption bound keeps the search finite: 2 with two loom
    // threads, 1 with three, 0 beyond (threads still interleave at every
    // doorbell wait, and every load's possible values are explored);
    // LOOM_MAX_PREEMPTIONS overrides.
    let bound = match case.cores as usize + case.threads {
        ..=2 => 2,
        3 => 1,
        _ => 0,
    };
    let mut model = loom::model::Builder::new();
    model.preemption_bound = model.preemption_bound.or(Some(bound));
    // One path of a run is long: every poll and every step loads several
    // atomics, and loom counts each load as a branch (1,000 by default).
    model.max_branches = 20_000;
    let Case {
        preds,
        cores,
        threads,
        local_capacity,
        concurrent_startup,
    } = case;
    model.check(move || {
        let n = preds.len();
        let outputs = std::sync::Arc::new(Outputs {
            preds: preds.clone(),
            cells: (0..n).map(|_| UnsafeCell::new(0)).collect(),
            runs: (0..n).map(|_| AtomicU32::new(0)).collect(),
        });
        *OUTPUTS.lock().unwrap() = Some(outputs.clone());
        let graph = built.seal();
        let regs = LoomRegs::new(cores as usize, threads);
        let wake = regs.clone();
        *crate::sync::ON_PUSH.lock().unwrap() =
            Some(std::sync::Arc::new(move || wake.ring_schedulers()));
        let spec = Platform::A5.spec();
        let blocks: Arc<Vec<HandshakeBlock>> =
            Arc::new((0..cores).map(|_| HandshakeBlock::default()).collect());
        let mut sides: Vec<CoreSide> = (0..cores)
            .map(|i| CoreSide::new(i, i, CoreType::Aiv))
            .collect();
        let mut aicpu: Vec<AicpuStartup> = blocks.iter().map(AicpuStartup::begin).collect();
        if !concurrent_startup {
            // Steps 1-5 up front, one core at a time.
            for (i, side) in sides.iter_mut().enumerate() {
                while aicpu[i]
                    .poll(i as u32, &blocks[i], &regs, spec)
                    .unwrap()
                    .is_none()
                {
                    side.step(&blocks[i], &regs, |_| unreachable!());
                }
            }
        }
        let mut handles = Vec::new();
        for (i, side) in sides.into_iter().enumerate() {
            let (regs, blocks, graph) = (regs.clone(), blocks.clone(), graph.clone());
            handles.push(loom::thread::spawn(move || {
                core_loop(&regs, &blocks[i], &graph, side)
            }));
        }
        // The scheduler's side of start-up, concurrently with the cores:
        // a step that moved a core's start-up on rings that core.
        while concurrent_startup {
            let mut filed = 0;
            for (i, st) in aicpu.iter_mut().enumerate() {
                let before = *st;
                if st
                    .poll(i as u32, &blocks[i], &regs, spec)
                    .unwrap()
                    .is_some()
                {
                    filed += 1;
                }
                if *st != before {
                    regs.0.core_bell[i].notify();
                }
            }
            if filed == cores {
                break;
            }
            regs.0.sched_bell[0].wait();
        }
        // Threads and seeds, as the seed phase builds them: roots go to
        // thread 0's local queue up to its capacity, the rest to the seeds.
        let mut built_threads: Vec<SchedulerThread<RoundRobin>> = (0..threads)
            .map(|t| {
                let owned: Vec<OwnedCore> = (0..cores)
                    .filter(|c| *c as usize % threads == t)
                    .map(|c| OwnedCore {
                        physical_id: c,
                        core_type: CoreType::Aiv,
                        slot: CoreSlot::default(),
                    })
                    .collect();
                SchedulerThread::new(t as u32, [0, local_capacity], owned, &RoundRobin)
            })
            .collect();
        let roots = graph.roots(CoreType::Aiv).to_vec();
        let (local, seeds) = roots.split_at(local_capacity.min(roots.len()));
        for &t in local {
            built_threads[0].push_seed(t, CoreType::Aiv, 0);
        }
        let sh = std::sync::Arc::new(shared(
            regs.clone(),
            graph.clone(),
            [Vec::new(), seeds.to_vec()],
            threads,
        ));
        let mut rest = built_threads.split_off(1);
        let first = built_threads.pop().unwrap();
        let mut scheds = Vec::new();
        for thread in rest.drain(..) {
            let sh = sh.clone();
            scheds.push(loom::thread::spawn(move || schedule(thread, &sh)));
        }
        schedule(first, &sh);
        for h in scheds {
            h.join().unwrap();
        }
        // Step 11.
        for c in 0..cores {
            send_exit(&regs, c);
        }
        for h in handles {
            h.join().unwrap();
        }
        for c in 0..cores {
            assert!(exit_acknowledged(&regs, c, spec), "core {c} left on exit");
        }
        for t in 0..n as u32 {
            assert_eq!(
                outputs.runs[t as usize].load(Ordering::Relaxed),
                1,
                "task {t} ran once"
            );
            // SAFETY: every thread has been joined.
            let out = outputs.cells[t as usize].with(|v| unsafe { *v });
            assert_eq!(out, outputs.expected(t), "task {t} saw its predecessors");
        }
        *crate::sync::ON_PUSH.lock().unwrap() = None;
    });
}

#[test]
fn one_core_chain() {
    check(Case {
        preds: vec![vec![], vec![0], vec![1]],
        cores: 1,
        threads: 1,
        local_capacity: 1,
        concurrent_startup: false,
    });
}

#[test]
fn one_core_pipelined_independent_tasks_implicit_completion() {
    // Three ready tasks on one core: the next is written as soon as the
    // previous is acknowledged, so FINs may be overwritten by ACKs; two of
    // them come through the seed cursor.
    check(Case {
        preds: vec![vec![], vec![], vec![]],
        cores: 1,
        threads: 1,
        local_capacity: 1,
        concurrent_startup: false,
    });
}

#[test]
fn two_cores_join() {
    // Two roots on two cores, then a task that needs both.
    check(Case {
        preds: vec![vec![], vec![], vec![0, 1]],
        cores: 2,
        threads: 1,
        local_capacity: 2,
        concurrent_startup: false,
    });
}

#[test]
fn readiness_crosses_threads_through_the_shared_queue() {
    // No local queues: task 1, made ready by whichever thread resolves
    // task 0, goes through the shared queue to whichever thread takes it;
    // the fan-in counter and the queue carry the happens-before edge.
    check(Case {
        preds: vec![vec![], vec![0]],
        cores: 2,
        threads: 2,
        local_capacity: 0,
        concurrent_startup: false,
    });
}

#[test]
fn a_join_across_threads_sees_both_predecessors() {
    // Tasks 0 and 1 finish on cores of different threads; whichever
    // thread decrements task 2's fan-in second dispatches it, and the
    // other predecessor's output reaches task 2 only through the fan-in
    // counter's release sequence.
    check(Case {
        preds: vec![vec![], vec![], vec![0, 1]],
        cores: 2,
        threads: 2,
        local_capacity: 1,
        concurrent_startup: false,
    });
}

#[test]
fn two_threads_claim_seeds_through_the_cursor() {
    check(Case {
        preds: vec![vec![], vec![], vec![]],
        cores: 2,
        threads: 2,
        local_capacity: 0,
        concurrent_startup: false,
    });
}

#[test]
fn start_up_handshake_runs_concurrently_with_the_core() {
    // Steps 1-5 against a core that runs on its own thread, then a task on
    // it: the physical id, core type and register set-up are published by
    // the handshake's flags. (Cores start up independently of each other,
    // so one core covers the protocol.)
    check(Case {
        preds: vec![vec![]],
        cores: 1,
        threads: 1,
        local_capacity: 1,
        concurrent_startup: true,
    });
}
