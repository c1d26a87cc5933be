//! Model check of the ACK/FIN protocol with loom: the real scheduler-side
//! slot ([`CoreSlot`]) and core-side loop ([`CoreSide`]) over registers
//! whose every access loom tracks. Each case checks, over the interleavings
//! loom explores: every task runs exactly once, a task's kernel sees its
//! predecessors' outputs (a missing happens-before edge is a data race loom
//! reports), pipelining with implicit completion loses nothing, and every
//! core leaves on the exit signal.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p hostgraph-platform --test loom_protocol --release --target-dir target/loom`
#![cfg(loom)]

use hostgraph_platform::handshake::{exit_acknowledged, send_exit};
use hostgraph_platform::regs::Reg;
use hostgraph_platform::{
    AicpuStartup, CoreSide, CoreSlot, CoreStep, CoreType, HandshakeBlock, Platform, RegisterAccess,
};
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use loom::sync::{Arc, Notify};

/// DATA_MAIN_BASE, COND and FAST_PATH_ENABLE per core, as loom atomics,
/// with doorbells so that waiting threads block instead of spinning
/// (spinning makes loom's search explode): a DATA_MAIN_BASE write rings the
/// core, a COND write rings the scheduler thread that owns the core. The
/// doorbells only decide when a thread looks again; what it sees comes from
/// the registers, as on the chip.
struct LoomRegs {
    cells: Vec<[AtomicU32; 3]>,
    core_bell: Vec<Notify>,
    sched_bell: Vec<Notify>,
    owner: Vec<usize>,
}

impl LoomRegs {
    fn new(cores: usize, threads: usize) -> Self {
        LoomRegs {
            cells: (0..cores)
                .map(|_| std::array::from_fn(|_| AtomicU32::new(0)))
                .collect(),
            core_bell: (0..cores).map(|_| Notify::new()).collect(),
            sched_bell: (0..threads).map(|_| Notify::new()).collect(),
            owner: (0..cores).map(|c| c % threads).collect(),
        }
    }
}

impl RegisterAccess for LoomRegs {
    fn read(&self, core: u32, reg: Reg) -> u32 {
        self.cells[core as usize][reg as usize].load(Ordering::Acquire)
    }

    fn write(&self, core: u32, reg: Reg, value: u32) {
        self.cells[core as usize][reg as usize].store(value, Ordering::Release);
        match reg {
            Reg::DataMainBase => self.core_bell[core as usize].notify(),
            Reg::Cond => self.sched_bell[self.owner[core as usize]].notify(),
            Reg::FastPathEnable => {}
        }
    }
}

/// A graph: per task its predecessors; each task's kernel writes its output
/// cell after reading every predecessor's.
struct Graph {
    preds: Vec<Vec<u32>>,
    outputs: Vec<UnsafeCell<u32>>,
    runs: Vec<AtomicU32>,
}

impl Graph {
    fn new(preds: Vec<Vec<u32>>) -> Self {
        let n = preds.len();
        Graph {
            preds,
            outputs: (0..n).map(|_| UnsafeCell::new(0)).collect(),
            runs: (0..n).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    fn succs(&self, t: u32) -> impl Iterator<Item = u32> + '_ {
        (0..self.preds.len() as u32).filter(move |&s| self.preds[s as usize].contains(&t))
    }

    /// The kernel: output = 1 + sum of predecessor outputs.
    fn run(&self, t: u32) -> bool {
        self.runs[t as usize].fetch_add(1, Ordering::Relaxed);
        let sum: u32 = self.preds[t as usize]
            .iter()
            // SAFETY: predecessors finished before this task was dispatched;
            // loom reports a race if the protocol failed to order it.
            .map(|&p| self.outputs[p as usize].with(|v| unsafe { *v }))
            .sum();
        // SAFETY: only this task writes its cell; successors read it after.
        self.outputs[t as usize].with_mut(|v| unsafe { *v = sum + 1 });
        true
    }

    fn expected(&self, t: u32) -> u32 {
        1 + self.preds[t as usize]
            .iter()
            .map(|&p| self.expected(p))
            .sum::<u32>()
    }
}

/// Start-up steps 1-5 for `n` cores, single-threaded (the model covers the loop).
fn started_cores(regs: &LoomRegs, n: u32) -> Vec<CoreSide> {
    let spec = Platform::A5.spec();
    let blocks: Vec<HandshakeBlock> = (0..n).map(|_| HandshakeBlock::default()).collect();
    let mut cores: Vec<CoreSide> = (0..n).map(|i| CoreSide::new(i, i, CoreType::Aiv)).collect();
    for (i, (core, block)) in cores.iter_mut().zip(&blocks).enumerate() {
        let mut aicpu = AicpuStartup::begin(block);
        while aicpu.poll(i as u32, block, regs, spec).unwrap().is_none() {
            core.step(block, regs, |_| true);
        }
    }
    cores
}

/// What one scheduler thread shares with the others.
struct Shared<'a> {
    regs: &'a LoomRegs,
    graph: &'a Graph,
    fanin: &'a [AtomicU32],
    left: &'a AtomicUsize,
}

/// Scheduler thread `me` owning `cores`: steps 8-10, dispatch before
/// resolve, until every task finished; then step 11 for its cores.
fn schedule(sh: &Shared<'_>, me: usize, cores: &[u32], ready: &mut Vec<u32>) {
    let regs = sh.regs;
    let mut slots = vec![CoreSlot::default(); cores.len()];
    while sh.left.load(Ordering::Acquire) > 0 {
        let mut moved = false;
        for (slot, &core) in slots.iter_mut().zip(cores) {
            let done = slot
                .observe(core, regs.read(core, Reg::Cond))
                .expect("protocol holds");
            if slot.can_dispatch()
                && let Some(t) = ready.pop()
            {
                regs.write(core, Reg::DataMainBase, t);
                slot.dispatched(t);
                moved = true;
            }
            for &t in done.as_slice() {
                moved = true;
                for s in sh.graph.succs(t) {
                    if sh.fanin[s as usize].fetch_sub(1, Ordering::AcqRel) == 1 {
                        ready.push(s);
                    }
                }
                if sh.left.fetch_sub(1, Ordering::AcqRel) == 1 {
                    // The last task: wake every scheduler thread to leave.
                    regs.sched_bell.iter().for_each(Notify::notify);
                }
            }
        }
        if !moved && sh.left.load(Ordering::Acquire) > 0 {
            regs.sched_bell[me].wait();
        }
    }
    for &core in cores {
        send_exit(regs, core);
    }
}

fn core_loop(regs: &LoomRegs, g: &Graph, mut core: CoreSide) {
    let block = HandshakeBlock::default();
    let bell = &regs.core_bell[core.physical_id() as usize];
    loop {
        match core.step(&block, regs, |t| g.run(t)) {
            CoreStep::Exited => return,
            CoreStep::Wait => bell.wait(),
            _ => {}
        }
    }
}

/// Runs `preds` with `threads` scheduler threads over `cores` cores (core i
/// owned by thread i mod threads; every task may run on every core here).
/// Thread 0 holds the initially ready tasks; readiness found by a thread
/// stays in its own queue.
fn check(preds: Vec<Vec<u32>>, cores: u32, threads: usize) {
    // The preemption bound keeps the search finite: 2 with two loom
    // threads, 1 with three, 0 with four (threads still interleave at every
    // doorbell wait, and every load's possible values are explored);
    // LOOM_MAX_PREEMPTIONS overrides.
    let bound = match cores as usize + threads {
        ..=2 => 2,
        3 => 1,
        _ => 0,
    };
    let mut model = loom::model::Builder::new();
    model.preemption_bound = model.preemption_bound.or(Some(bound));
    model.check(move || {
        let regs = Arc::new(LoomRegs::new(cores as usize, threads));
        let g = Arc::new(Graph::new(preds.clone()));
        let n = preds.len();
        let fanin: Arc<Vec<AtomicU32>> = Arc::new(
            preds
                .iter()
                .map(|p| AtomicU32::new(p.len() as u32))
                .collect(),
        );
        let left = Arc::new(AtomicUsize::new(n));
        let mut handles = Vec::new();
        for core in started_cores(&regs, cores) {
            let (regs, g) = (regs.clone(), g.clone());
            handles.push(loom::thread::spawn(move || core_loop(&regs, &g, core)));
        }
        let owned =
            |t: usize| -> Vec<u32> { (0..cores).filter(|c| *c as usize % threads == t).collect() };
        for t in 1..threads {
            let (regs, g, fanin, left, mine) = (
                regs.clone(),
                g.clone(),
                fanin.clone(),
                left.clone(),
                owned(t),
            );
            handles.push(loom::thread::spawn(move || {
                let sh = Shared {
                    regs: &regs,
                    graph: &g,
                    fanin: &fanin,
                    left: &left,
                };
                schedule(&sh, t, &mine, &mut Vec::new())
            }));
        }
        let mut ready: Vec<u32> = (0..n as u32)
            .filter(|&t| preds[t as usize].is_empty())
            .collect();
        let sh = Shared {
            regs: &regs,
            graph: &g,
            fanin: &fanin,
            left: &left,
        };
        schedule(&sh, 0, &owned(0), &mut ready);
        for h in handles {
            h.join().unwrap();
        }
        for t in 0..n as u32 {
            assert_eq!(
                g.runs[t as usize].load(Ordering::Relaxed),
                1,
                "task {t} ran once"
            );
            // SAFETY: every thread has been joined.
            let out = g.outputs[t as usize].with(|v| unsafe { *v });
            assert_eq!(out, g.expected(t), "task {t} saw its predecessors");
        }
        for c in 0..cores {
            assert!(
                exit_acknowledged(&*regs, c, Platform::A5.spec()),
                "core {c} left on exit"
            );
        }
    });
}

#[test]
fn one_core_chain() {
    check(vec![vec![], vec![0], vec![1]], 1, 1);
}

#[test]
fn one_core_pipelined_independent_tasks_implicit_completion() {
    // Three ready tasks on one core: the next is written as soon as the
    // previous is acknowledged, so FINs may be overwritten by ACKs.
    check(vec![vec![], vec![], vec![]], 1, 1);
}

#[test]
fn two_cores_join() {
    // Two roots on two cores, then a task that needs both.
    check(vec![vec![], vec![], vec![0, 1]], 2, 1);
}

#[test]
fn two_scheduler_threads_each_with_a_core() {
    // Task 1 becomes ready on whichever thread resolves task 0; readiness
    // crosses threads through the fan-in counter.
    check(vec![vec![], vec![0]], 2, 2);
}

#[test]
fn three_cores_independent() {
    check(vec![vec![], vec![], vec![]], 3, 1);
}
