//! One scheduler (AICPU) thread: the poll / resolve / dispatch loop over the
//! cores it owns. No locks, no allocation and no logging per task.

use std::collections::VecDeque;

use hostgraph_orch_abi::CoreType;
use hostgraph_platform::regs::Reg;
use hostgraph_platform::{CoreSlot, RegisterAccess};

use super::shared::{Failure, Held, RunShared, ThreadOutcome};
use crate::backend::Poll;
use crate::graph::TaskId;
use crate::sync::{Injector, Ordering, Steal};

/// A core as its owning thread sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OwnedCore {
    pub physical_id: u32,
    pub core_type: CoreType,
    pub slot: CoreSlot,
}

/// Counters one thread keeps about its run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThreadStats {
    /// Tasks this thread wrote to its cores.
    pub dispatched: u64,
    /// Tasks this thread saw finish.
    pub completed: u64,
    /// Tasks it took from the shared queues.
    pub refilled: u64,
}

/// The local ready queues of one thread, one per core type, each bounded by
/// the policy's capacity. Only their thread touches them, so they are plain
/// rings: no atomic operation per task (the shared queues take the rest).
pub(crate) struct LocalQueues {
    queues: [VecDeque<u32>; 2],
    capacity: [usize; 2],
}

impl LocalQueues {
    pub fn new(capacity: [usize; 2]) -> Self {
        LocalQueues {
            // Never filled beyond `capacity`, so never reallocated in a run.
            queues: capacity.map(VecDeque::with_capacity),
            capacity,
        }
    }

    /// Tasks waiting in these queues.
    pub fn len(&self) -> usize {
        self.queues.iter().map(VecDeque::len).sum()
    }

    /// Whether no task waits in these queues.
    pub fn is_empty(&self) -> bool {
        self.queues.iter().all(VecDeque::is_empty)
    }

    /// Queues an initially ready task (the policy keeps within capacity).
    pub fn push_seed(&mut self, task: u32, ty: CoreType) {
        self.queues[ty as usize].push_back(task);
    }
}

/// One scheduler thread's state: the cores it owns, its local ready queues,
/// its counters. A run hands it to its backend inside a
/// [`Job`](super::job::Job), which polls it.
pub(crate) struct SchedulerThread {
    pub(crate) index: u32,
    pub(crate) cores: Vec<OwnedCore>,
    /// Cores holding a task (pending or running), as indices into `cores`:
    /// the only ones whose COND can change, so the only ones polled.
    busy: Vec<u32>,
    /// Cores holding nothing, by core type. The last is fed first: the core
    /// that finished last, so a chain stays on one core per type.
    idle: [Vec<u32>; 2],
    pub(crate) local: LocalQueues,
    pub(crate) stats: ThreadStats,
}

impl SchedulerThread {
    /// A thread owning `cores`, with local queues of `capacity` per core type.
    pub(crate) fn new(index: u32, capacity: [usize; 2], cores: Vec<OwnedCore>) -> Self {
        // Both lists hold every core at most once, so they never grow
        // while a run is in flight.
        let mut busy = Vec::with_capacity(cores.len());
        let mut idle = [
            Vec::with_capacity(cores.len()),
            Vec::with_capacity(cores.len()),
        ];
        // Reversed, so the first core is the first fed.
        for (i, core) in cores.iter().enumerate().rev() {
            if core.slot.is_idle() {
                idle[core.core_type as usize].push(i as u32);
            } else {
                busy.push(i as u32);
            }
        }
        SchedulerThread {
            index,
            cores,
            busy,
            idle,
            local: LocalQueues::new(capacity),
            stats: ThreadStats::default(),
        }
    }

    /// Whether the thread owns any core (a thread without cores has nothing to do).
    pub fn has_cores(&self) -> bool {
        !self.cores.is_empty()
    }

    /// Physical ids of the owned cores.
    pub fn physical_ids(&self) -> Vec<u32> {
        self.cores.iter().map(|c| c.physical_id).collect()
    }

    /// Steps 8-10 for the owned cores, and dispatch. Costs O(busy cores),
    /// not O(owned cores): a chain costs the same on 3 cores as on 108.
    ///
    /// 1. Each busy core's COND is read and acted on; the successors of what
    ///    it shows finished are released, and those that become ready are
    ///    queued. The core is then fed at once (not after every other busy
    ///    core has been read) if it holds nothing, or if no idle core of its
    ///    type could take the task instead; a core left holding nothing
    ///    joins the idle cores.
    /// 2. Idle cores are fed, the one that finished last first, then the
    ///    free pending slots of busy cores, until a core type's queues come
    ///    up empty.
    #[inline]
    pub fn poll<R: RegisterAccess>(&mut self, sh: &RunShared<R>) -> Poll {
        if sh.stopped() {
            return Poll::Stopped;
        }
        let SchedulerThread {
            index,
            cores,
            busy,
            idle,
            local,
            stats,
        } = self;
        if busy.is_empty()
            && local.is_empty()
            && sh.seeds.is_drained()
            && sh.shared.iter().all(Injector::is_empty)
        {
            // Nothing to poll, nothing to dispatch.
            return if sh.remaining() == 0 {
                Poll::Done
            } else {
                Poll::Idle
            };
        }
        let mut finished = 0usize;
        let mut progress = false;
        // Bit `ty` set: no task of core type `ty` is ready.
        let mut dry = 0u8;
        let mut i = 0;
        while i < busy.len() {
            let c = busy[i] as usize;
            let core = &mut cores[c];
            let word = sh.regs.read(core.physical_id, Reg::Cond);
            let done = match core.slot.observe(core.physical_id, word) {
                Ok(d) => d,
                Err(e) => {
                    sh.fail(Failure::Error(e.into()));
                    return Poll::Stopped;
                }
            };
            for &t in done.as_slice() {
                for &TaskId(s) in sh.graph.successors(t) {
                    if sh.graph.release(s) {
                        dry &= !(1 << push_ready(local, s, sh));
                    }
                }
            }
            finished += done.as_slice().len();
            let ty = core.core_type as usize;
            if core.slot.can_dispatch()
                && dry & 1 << ty == 0
                && (core.slot.is_idle() || idle[ty].is_empty())
            {
                if feed(core, *index, local, sh, stats) {
                    progress = true;
                } else {
                    dry |= 1 << ty;
                }
            }
            if core.slot.is_idle() {
                busy.swap_remove(i);
                idle[ty].push(c as u32);
            } else {
                i += 1;
            }
        }
        for (ty, idle) in idle.iter_mut().enumerate() {
            if dry & 1 << ty != 0 {
                continue;
            }
            while let Some(&c) = idle.last() {
                if !feed(&mut cores[c as usize], *index, local, sh, stats) {
                    dry |= 1 << ty;
                    break;
                }
                idle.pop();
                busy.push(c);
                progress = true;
            }
        }
        if dry != 0b11 {
            for &c in busy.iter() {
                let core = &mut cores[c as usize];
                let ty = core.core_type as usize;
                if dry & 1 << ty != 0 || !core.slot.can_dispatch() {
                    continue;
                }
                if feed(core, *index, local, sh, stats) {
                    progress = true;
                } else {
                    dry |= 1 << ty;
                }
            }
        }
        if finished > 0 {
            stats.completed += finished as u64;
            if sh.remaining.fetch_sub(finished, Ordering::AcqRel) == finished {
                return Poll::Done;
            }
            return Poll::Progress;
        }
        if sh.remaining.load(Ordering::Acquire) == 0 {
            return Poll::Done;
        }
        if progress { Poll::Progress } else { Poll::Idle }
    }

    /// The thread's state for the run's report and diagnosis.
    pub fn outcome(&self) -> ThreadOutcome {
        let held = self
            .cores
            .iter()
            .flat_map(|c| {
                [c.slot.running(), c.slot.pending()]
                    .into_iter()
                    .flatten()
                    .map(|task| Held {
                        physical_id: c.physical_id,
                        core_type: c.core_type,
                        task,
                    })
            })
            .collect();
        ThreadOutcome {
            stats: self.stats,
            held,
            queued: self.local.len(),
        }
    }
}

/// Dispatches the next ready task of its type to `core` (a free pending
/// slot); false when none is ready.
#[inline]
fn feed<R: RegisterAccess>(
    core: &mut OwnedCore,
    thread: u32,
    local: &mut LocalQueues,
    sh: &RunShared<R>,
    stats: &mut ThreadStats,
) -> bool {
    let Some(task) = next_ready(local, core.core_type, sh, stats) else {
        return false;
    };
    // Stamped before the write: the core may start the task at once.
    if let Some(rec) = sh.graph.recorder() {
        rec.dispatched(task, thread);
    }
    sh.regs.write(core.physical_id, Reg::DataMainBase, task);
    core.slot.dispatched(task);
    stats.dispatched += 1;
    true
}

/// Pops a ready task for a core of `ty`: the local queue first, refilled
/// from the seeds, then from the shared queue, when empty.
#[inline]
fn next_ready<R>(
    local: &mut LocalQueues,
    ty: CoreType,
    sh: &RunShared<R>,
    stats: &mut ThreadStats,
) -> Option<u32> {
    let ty = ty as usize;
    if let Some(t) = local.queues[ty].pop_front() {
        return Some(t);
    }
    // A local queue's worth of seeds, the first for the caller.
    if let [first, rest @ ..] = sh.seeds.claim(ty, local.capacity[ty].max(1)) {
        local.queues[ty].extend(rest);
        stats.refilled += 1 + rest.len() as u64;
        return Some(*first);
    }
    let shared = &sh.shared[ty];
    // Two loads, where an attempt to steal from an empty queue costs a
    // full fence: polls mostly find nothing.
    if shared.is_empty() {
        return None;
    }
    // Up to a local queue's worth, the first for the caller.
    let (mut first, mut taken) = (None, 0);
    while taken < local.capacity[ty].max(1) {
        match shared.steal() {
            Steal::Success(t) => {
                taken += 1;
                match first {
                    None => first = Some(t),
                    Some(_) => local.queues[ty].push_back(t),
                }
            }
            Steal::Empty => break,
            Steal::Retry => std::hint::spin_loop(),
        }
    }
    stats.refilled += taken as u64;
    first
}

/// Files a newly ready task: the local queue of its type while below
/// capacity, else the shared queue. Returns the core type's index.
#[inline]
fn push_ready<R>(local: &mut LocalQueues, task: u32, sh: &RunShared<R>) -> usize {
    let ty = sh.graph.core_type(task) as usize;
    if local.queues[ty].len() < local.capacity[ty] {
        local.queues[ty].push_back(task);
    } else {
        sh.shared[ty].push(task);
    }
    ty
}

#[cfg(all(test, not(hostgraph_loom)))]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use hostgraph_platform::regs::{Cond, IDLE, Reg};
    use hostgraph_platform::{CoreSlot, Platform, RegisterAccess, SimRegisters};

    use super::*;
    use crate::sched::testing::{Built, shared};

    fn noop(_: &[u64]) {}

    /// Sim registers counting the COND reads of each core.
    #[derive(Clone)]
    struct CountingRegs {
        regs: SimRegisters,
        cond_reads: std::sync::Arc<Vec<AtomicUsize>>,
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
    fn a_chain_polls_only_the_core_it_runs_on() {
        const STEPS: u32 = 50;
        const CORES: u32 = 24;
        let graph = Built::new(noop, &[0], |g| {
            let mut prev = g.add_task(0, CoreType::Aiv, &[]).unwrap();
            for _ in 1..STEPS {
                let next = g.add_task(0, CoreType::Aiv, &[]).unwrap();
                g.add_successor(prev, next).unwrap();
                prev = next;
            }
        })
        .seal();
        let spec = Platform::A2A3.spec();
        let regs = CountingRegs {
            regs: SimRegisters::new(spec),
            cond_reads: std::sync::Arc::new(
                (0..spec.physical_cores())
                    .map(|_| AtomicUsize::new(0))
                    .collect(),
            ),
        };
        let sh = shared(regs.clone(), graph, Default::default(), 1);
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
}
