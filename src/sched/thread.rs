//! One scheduler (AICPU) thread: the poll / resolve / dispatch loop over the
//! cores it owns, compiled for its policy. No locks, no allocation and no
//! logging per task (beyond what a policy's own queues do).

use hostgraph_orch_abi::CoreType;
use hostgraph_platform::regs::Reg;
use hostgraph_platform::{CoreSlot, RegisterAccess};

use super::policy::{CoreView, Place, Policy, bad_policy};
use super::queue::{LocalQueue, SharedQueue};
use super::shared::{self, Failure, Held, RunShared, ThreadOutcome};
use crate::backend::Poll;
use crate::error::QueuedIn;
use crate::graph::TaskId;
use crate::sync::Ordering;

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
    /// Tasks it took from the seeds and the shared queues.
    pub refilled: u64,
    /// Tasks it stole from other threads' local queues.
    pub stolen: u64,
}

/// No task reserved for a core.
const NONE: u32 = u32::MAX;

/// One scheduler thread's state: the cores it owns, its local ready queues,
/// its policy's per-thread state, its counters. A run hands it to its
/// backend inside a [`Job`](super::job::Job), which polls it.
pub(crate) struct SchedulerThread<P: Policy> {
    pub(crate) index: u32,
    pub(crate) cores: Vec<OwnedCore>,
    /// Cores holding a task (pending or running), as indices into `cores`:
    /// the only ones whose COND can change, so the only ones polled.
    busy: Vec<u32>,
    /// Cores holding nothing, by core type. The last is fed first: the core
    /// that finished last, so a chain stays on one core per type.
    idle: [Vec<u32>; 2],
    /// Local ready queues by core type, bounded by `capacity`.
    local: [P::Local; 2],
    capacity: [usize; 2],
    /// Per core, a task reserved for it next ([`Place::Core`]); empty
    /// unless the policy uses affinity.
    reserved: Vec<u32>,
    /// The policy's state for this thread.
    hook: P::Thread,
    /// Scratch for [`Policy::choose_core`]: the cores offered.
    free: Vec<CoreView>,
    /// Tasks it queued where other threads can take them: the shared
    /// queues, and its local queues under a stealing policy.
    pub(crate) offered: u64,
    pub(crate) stats: ThreadStats,
}

impl<P: Policy> SchedulerThread<P> {
    /// Thread `index` of a run under `policy`, owning `cores`, with local
    /// queues of `capacity` per core type.
    pub(crate) fn new(index: u32, capacity: [usize; 2], cores: Vec<OwnedCore>, policy: &P) -> Self {
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
        let views: Vec<CoreView> = (0..cores.len()).map(|i| view(&cores, i)).collect();
        SchedulerThread {
            index,
            busy,
            idle,
            local: capacity.map(P::Local::with_capacity),
            capacity,
            reserved: if P::AFFINITY {
                vec![NONE; cores.len()]
            } else {
                Vec::new()
            },
            hook: policy.thread(index as usize, &views),
            free: Vec::with_capacity(if P::CHOOSES_CORE { cores.len() } else { 0 }),
            offered: 0,
            cores,
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

    /// Queues an initially ready task (the plan keeps within capacity).
    pub fn push_seed(&mut self, task: u32, ty: CoreType, priority: u64) {
        self.local[ty as usize].push(task, priority);
    }

    /// The handles other threads steal this thread's queues through.
    pub fn stealers(&self) -> [<P::Local as LocalQueue>::Stealer; 2] {
        [self.local[0].stealer(), self.local[1].stealer()]
    }

    /// Steps 8-10 for the owned cores, and dispatch. Costs O(busy cores),
    /// not O(owned cores): a chain costs the same on 3 cores as on 108.
    ///
    /// 1. Each busy core's COND is read and acted on; the successors of what
    ///    it shows finished are released, and those that become ready are
    ///    placed as the policy says. The core is then fed at once (not
    ///    after every other busy core has been read) if it holds nothing,
    ///    or if no idle core of its type could take the task instead (a
    ///    policy that chooses cores feeds it here only a task reserved for
    ///    it); a core left holding nothing joins the idle cores.
    /// 2. Idle cores are fed, the one that finished last first, then the
    ///    free pending slots of busy cores, until a core type's queues come
    ///    up empty. (A policy that chooses cores instead picks, for each
    ///    ready task, one of the cores that can take it.)
    ///
    /// A core takes its reserved task first, then its thread's local
    /// queue, then the seeds, then the shared queue, then (a stealing
    /// policy) another thread's local queue.
    #[inline]
    pub fn poll<R: RegisterAccess>(&mut self, sh: &RunShared<R, P>) -> Poll {
        if sh.stopped() {
            return Poll::Stopped;
        }
        let SchedulerThread {
            index,
            cores,
            busy,
            idle,
            local,
            capacity,
            reserved,
            hook,
            free,
            offered,
            stats,
        } = self;
        let mut q = Queues {
            local,
            capacity,
            reserved,
            hook,
            me: *index,
            sh,
            offered,
            stats,
        };
        // Bit `ty` set: no task of core type `ty` is ready. Known at the
        // start from the queues (unless stealing could find one), so a
        // core is not offered a task that is not there; cleared when a
        // task of the type becomes ready, set when a type's queues come up
        // empty.
        let mut dry = q.dry(0) | q.dry(1) << 1;
        if busy.is_empty() && dry == 0b11 {
            // Nothing to poll, nothing to dispatch.
            return if sh.remaining() == 0 {
                Poll::Done
            } else {
                Poll::Idle
            };
        }
        let mut finished = 0usize;
        let mut progress = false;
        // Bit `ty` set: a busy core of type `ty` was left with its pending
        // slot free, so the last pass has a core to offer a task to.
        let mut open = 0u8;
        let mut i = 0;
        while i < busy.len() {
            let c = busy[i] as usize;
            let word = sh.regs.read(cores[c].physical_id, Reg::Cond);
            let core = &mut cores[c];
            // An unchanged COND finishes nothing: only the feeding below.
            if !core.slot.is_current(word) {
                let done = match core.slot.observe(core.physical_id, word) {
                    Ok(d) => d,
                    Err(e) => {
                        sh.fail(Failure::Error(e.into()));
                        return Poll::Stopped;
                    }
                };
                let from = CoreView {
                    index: c,
                    physical_id: core.physical_id,
                    core_type: core.core_type,
                    idle: core.slot.is_idle(),
                };
                for &t in done.as_slice() {
                    for &TaskId(s) in sh.graph.successors(t) {
                        if sh.release(s) {
                            dry &= !(1 << q.push_ready(s, from));
                        }
                    }
                }
                finished += done.as_slice().len();
            }
            let core = &mut cores[c];
            let ty = core.core_type as usize;
            // A task reserved for this core is its next, whatever else is
            // dry, and whichever policy (so no core is left holding one: a
            // reservation is only ever made here, for this core, and its
            // pending slot only frees here). A policy that chooses cores
            // feeds the rest below.
            if core.slot.can_dispatch()
                && (q.has_reserved(c)
                    || !P::CHOOSES_CORE
                        && dry & 1 << ty == 0
                        && (core.slot.is_idle() || idle[ty].is_empty()))
            {
                progress |= q.feed(c, core, &mut dry);
            }
            if core.slot.is_idle() {
                busy.swap_remove(i);
                idle[ty].push(c as u32);
            } else {
                open |= u8::from(core.slot.can_dispatch()) << ty;
                i += 1;
            }
        }
        if P::CHOOSES_CORE {
            match q.feed_by_choice(cores, busy, idle, free, dry) {
                Some(moved) => progress |= moved,
                None => return Poll::Stopped,
            }
        } else {
            for (ty, idle) in idle.iter_mut().enumerate() {
                if dry & 1 << ty != 0 {
                    continue;
                }
                while let Some(&c) = idle.last() {
                    if dry & 1 << ty != 0 || !q.feed(c as usize, &mut cores[c as usize], &mut dry) {
                        break;
                    }
                    idle.pop();
                    busy.push(c);
                    progress = true;
                }
            }
            // Cores fed from idle above hold a task now: only a busy core
            // left open in the loop can take one here.
            if open & !dry != 0 || P::AFFINITY {
                for &c in busy.iter() {
                    let core = &mut cores[c as usize];
                    let ty = core.core_type as usize;
                    let dry_here = dry & 1 << ty != 0 && !q.has_reserved(c as usize);
                    if dry_here || !core.slot.can_dispatch() {
                        continue;
                    }
                    progress |= q.feed(c as usize, core, &mut dry);
                }
            }
        }
        if finished > 0 {
            stats.completed += finished as u64;
            if sh.complete(finished) {
                return Poll::Done;
            }
            return Poll::Progress;
        }
        if sh.remaining.load(Ordering::Acquire) == 0 {
            return Poll::Done;
        }
        if progress { Poll::Progress } else { Poll::Idle }
    }

    /// The thread's state for the run's report and diagnosis, once its
    /// job is over: the ready tasks it still held are taken out of its
    /// reserved slots and local queues to be named (none after a run that
    /// completed).
    pub fn outcome(&mut self) -> ThreadOutcome {
        let held = self
            .cores
            .iter()
            .flat_map(|c| {
                [(c.slot.running(), true), (c.slot.pending(), false)]
                    .into_iter()
                    .filter_map(|(task, acked)| Some((task?, acked)))
                    .map(|(task, acked)| Held {
                        physical_id: c.physical_id,
                        core_type: c.core_type,
                        task,
                        acked,
                    })
            })
            .collect();
        let thread = self.index as usize;
        let mut queued = Vec::new();
        for (core, task) in self.cores.iter().zip(&mut self.reserved) {
            if *task != NONE {
                let place = QueuedIn::Reserved {
                    thread,
                    physical_id: core.physical_id,
                };
                queued.push(shared::queued(*task, core.core_type, place));
                *task = NONE;
            }
        }
        for (local, ty) in self.local.iter_mut().zip(CoreType::ALL) {
            let place = QueuedIn::Local { thread };
            queued.extend(std::iter::from_fn(|| local.pop()).map(|t| shared::queued(t, ty, place)));
        }
        ThreadOutcome {
            stats: self.stats,
            held,
            queued,
        }
    }
}

/// The view of core `i` of `cores`.
fn view(cores: &[OwnedCore], i: usize) -> CoreView {
    CoreView {
        index: i,
        physical_id: cores[i].physical_id,
        core_type: cores[i].core_type,
        idle: cores[i].slot.is_idle(),
    }
}

/// A thread's ready tasks, and everything that places and takes them,
/// borrowed for one poll.
struct Queues<'a, R, P: Policy> {
    local: &'a mut [P::Local; 2],
    capacity: &'a [usize; 2],
    reserved: &'a mut [u32],
    hook: &'a mut P::Thread,
    me: u32,
    sh: &'a RunShared<R, P>,
    offered: &'a mut u64,
    stats: &'a mut ThreadStats,
}

impl<R: RegisterAccess, P: Policy> Queues<'_, R, P> {
    /// Places a task that just became ready (released by a completion on
    /// `from`) as the policy says. Returns its core type's index.
    #[inline]
    fn push_ready(&mut self, task: u32, from: CoreView) -> usize {
        let sh = self.sh;
        let ty = sh.graph.core_type(task) as usize;
        let priority = sh.policy.priority(task);
        match sh.policy.place(self.hook, task, from) {
            Place::Core
                if P::AFFINITY
                    && from.core_type as usize == ty
                    && self.reserved[from.index] == NONE =>
            {
                self.reserved[from.index] = task
            }
            Place::Shared => self.offer(ty, task, priority),
            _ if self.local[ty].len() < self.capacity[ty] => {
                self.local[ty].push(task, priority);
                // Other threads steal from here: they may want waking.
                *self.offered += u64::from(P::STEALS);
            }
            _ => self.offer(ty, task, priority),
        }
        ty
    }

    /// Puts `task` in the shared queue of its type, for any thread.
    #[inline]
    fn offer(&mut self, ty: usize, task: u32, priority: u64) {
        self.sh.shared[ty].push(task, priority);
        *self.offered += 1;
    }

    /// 1 if no task of core type `ty` is there for this thread to take:
    /// none local, in the seeds or in the shared queue, and no stealing
    /// (reserved tasks are asked for per core); else 0.
    #[inline]
    fn dry(&self, ty: usize) -> u8 {
        let sh = self.sh;
        u8::from(
            !P::STEALS
                && self.local[ty].is_empty()
                && sh.seeds.drained(ty)
                && sh.shared[ty].is_empty(),
        )
    }

    /// Whether a task is reserved for core `c` ([`Place::Core`]).
    #[inline]
    fn has_reserved(&self, c: usize) -> bool {
        P::AFFINITY && self.reserved[c] != NONE
    }

    /// Dispatches the next ready task of its type to core `c` (a free
    /// pending slot); false when none is ready. Sets the type's bit in
    /// `dry` once none is left, so no other core asks in vain.
    #[inline]
    fn feed(&mut self, c: usize, core: &mut OwnedCore, dry: &mut u8) -> bool {
        let ty = core.core_type as usize;
        let Some(task) = self.next_ready(c, core.core_type) else {
            *dry |= 1 << ty;
            return false;
        };
        self.dispatch(task, core);
        *dry |= self.dry(ty) << ty;
        true
    }

    /// Writes `task` to `core`.
    #[inline]
    fn dispatch(&mut self, task: u32, core: &mut OwnedCore) {
        let sh = self.sh;
        // Stamped before the write: the core may start the task at once.
        if let Some(rec) = sh.graph.recorder() {
            let ty = core.core_type as usize;
            let ready = self.local[ty].len() + sh.shared[ty].len() + sh.seeds.unclaimed_of(ty);
            rec.dispatched(task, self.me, ready as u32);
        }
        sh.regs.write(core.physical_id, Reg::DataMainBase, task);
        core.slot.dispatched(task);
        self.stats.dispatched += 1;
    }

    /// A ready task for core `c` of `ty`: its reserved task, the local
    /// queue, refilled from the seeds, then from the shared queue, then by
    /// stealing, when empty.
    #[inline]
    fn next_ready(&mut self, c: usize, ty: CoreType) -> Option<u32> {
        let sh = self.sh;
        if P::AFFINITY && self.reserved[c] != NONE {
            return Some(std::mem::replace(&mut self.reserved[c], NONE));
        }
        let ty = ty as usize;
        let local = &mut self.local[ty];
        if let Some(t) = local.pop() {
            return Some(t);
        }
        let batch = self.capacity[ty].max(1);
        let priority = |t| sh.policy.priority(t);
        // A local queue's worth of seeds, the first for the caller.
        if let [first, rest @ ..] = sh.seeds.claim(ty, batch) {
            for &t in rest {
                local.push(t, priority(t));
            }
            self.stats.refilled += 1 + rest.len() as u64;
            return Some(*first);
        }
        let (first, taken) = sh.shared[ty].take(local, batch, priority);
        self.stats.refilled += taken as u64;
        if first.is_some() || !P::STEALS {
            return first;
        }
        self.steal(ty)
    }

    /// Takes tasks of core type `ty` from the threads the policy names.
    #[cold]
    fn steal(&mut self, ty: usize) -> Option<u32> {
        let sh = self.sh;
        let threads = sh.stealers.len();
        let me = self.me as usize;
        let core_type = if ty == 0 {
            CoreType::Aic
        } else {
            CoreType::Aiv
        };
        for _ in 1..threads {
            let v = sh.policy.victim(self.hook, me, threads, core_type)?;
            if v >= threads || v == me {
                sh.fail(Failure::Error(bad_policy(
                    sh.policy.name(),
                    format!("victim named thread {v} for thread {me} of {threads}"),
                )));
                return None;
            }
            let batch = self.capacity[ty].max(1);
            if let Some(t) = P::Local::steal_into(&sh.stealers[v][ty], &mut self.local[ty], batch) {
                self.stats.stolen += 1 + self.local[ty].len() as u64;
                return Some(t);
            }
        }
        None
    }

    /// Step 2 for a policy that chooses cores: for each ready task, one of
    /// the cores that can take it (idle ones first, the last to finish
    /// first), as the policy says. `None` if the policy named no offered
    /// core (the run is stopped).
    ///
    /// No offered core has a task reserved: step 1 gave each reserved task
    /// to its core (the only core it may run on) as soon as that core's
    /// pending slot was free, so what is offered here comes from the
    /// queues.
    fn feed_by_choice(
        &mut self,
        cores: &mut [OwnedCore],
        busy: &mut Vec<u32>,
        idle: &mut [Vec<u32>; 2],
        free: &mut Vec<CoreView>,
        mut dry: u8,
    ) -> Option<bool> {
        let mut progress = false;
        for ty in CoreType::ALL {
            let t = ty as usize;
            while dry & 1 << t == 0 {
                free.clear();
                free.extend(idle[t].iter().rev().map(|&c| view(cores, c as usize)));
                free.extend(
                    busy.iter()
                        .map(|&c| c as usize)
                        .filter(|&c| cores[c].core_type == ty && cores[c].slot.can_dispatch())
                        .map(|c| view(cores, c)),
                );
                let Some(first) = free.first() else {
                    break;
                };
                debug_assert!(
                    !P::AFFINITY || free.iter().all(|v| self.reserved[v.index] == NONE),
                    "a core offered to choose_core holds a reserved task"
                );
                let Some(task) = self.next_ready(first.index, ty) else {
                    dry |= 1 << t;
                    break;
                };
                let pick = self.sh.policy.choose_core(self.hook, task, free);
                let Some(&chosen) = free.get(pick) else {
                    self.sh.fail(Failure::Error(bad_policy(
                        self.sh.policy.name(),
                        format!(
                            "choose_core picked core {pick} of {} offered for task {task}",
                            free.len()
                        ),
                    )));
                    return None;
                };
                self.dispatch(task, &mut cores[chosen.index]);
                dry |= self.dry(t) << t;
                if chosen.idle {
                    idle[t].retain(|&c| c as usize != chosen.index);
                    busy.push(chosen.index as u32);
                }
                progress = true;
            }
        }
        Some(progress)
    }
}

#[cfg(all(test, not(hostgraph_loom)))]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use hostgraph_platform::regs::{Cond, IDLE, Reg};
    use hostgraph_platform::{CoreSlot, Platform, RegisterAccess, SimRegisters};

    use super::*;
    use crate::sched::RoundRobin;
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

    /// Tasks left in a local queue count as offered (other threads should
    /// be woken for them) only when other threads can steal them.
    #[test]
    fn local_tasks_are_offered_only_under_a_stealing_policy() {
        use crate::sched::WorkStealing;
        fn released<P: Policy>(policy: P) -> u64 {
            // 0 -> 1, 0 -> 2; one AIV core, running 0.
            let graph = Built::new(noop, &[0], |g| {
                for _ in 0..3 {
                    g.add_task(0, CoreType::Aiv, &[]).unwrap();
                }
                for t in [1, 2] {
                    g.add_successor(crate::graph::TaskId(0), crate::graph::TaskId(t))
                        .unwrap();
                }
            })
            .seal();
            let regs = SimRegisters::new(Platform::A2A3.spec());
            let mut slot = CoreSlot::default();
            slot.dispatched(0);
            let cores = vec![OwnedCore {
                physical_id: 24,
                core_type: CoreType::Aiv,
                slot,
            }];
            let mut thread = SchedulerThread::new(0, [0, 4], cores, &policy);
            let sh = crate::sched::shared::RunShared::new(
                regs.clone(),
                graph,
                std::sync::Arc::new(policy),
                crate::sched::shared::Seeds::default(),
                vec![thread.stealers()],
                std::time::Duration::from_secs(1),
                false,
            );
            regs.write(24, Reg::Cond, Cond::fin(0).encode());
            assert_eq!(thread.poll(&sh), Poll::Progress);
            assert_eq!(thread.local[1].len(), 1, "one successor runs, one waits");
            thread.offered
        }
        assert_eq!(released(RoundRobin), 0);
        assert_eq!(released(WorkStealing), 2);
    }

    /// Locality reserves a released task for the core that released it:
    /// that core takes it as soon as it can, even when the other cores of
    /// its type found nothing (so no idle core is ever left holding one).
    #[test]
    fn a_reserved_task_goes_to_its_core_even_when_the_type_is_dry() {
        use crate::sched::Locality;
        // r (0) -> c (1); p (2) and q (3) alone; all AIV.
        let graph = Built::new(noop, &[0], |g| {
            for _ in 0..4 {
                g.add_task(0, CoreType::Aiv, &[]).unwrap();
            }
            g.add_successor(crate::graph::TaskId(0), crate::graph::TaskId(1))
                .unwrap();
        })
        .seal();
        let regs = SimRegisters::new(Platform::A2A3.spec());
        let sh = crate::sched::shared::RunShared::new(
            regs.clone(),
            graph,
            std::sync::Arc::new(Locality),
            crate::sched::shared::Seeds::default(),
            vec![[(), ()]],
            std::time::Duration::from_secs(1),
            false,
        );
        let (ack, fin) = (|t| Cond::ack(t).encode(), |t| Cond::fin(t).encode());
        // Core 0 (X) idle; core 1 (Y) running r with p pending; core 2 (Z)
        // running q.
        let mut y = CoreSlot::default();
        y.dispatched(0);
        y.observe(25, ack(0)).unwrap();
        y.dispatched(2);
        let mut z = CoreSlot::default();
        z.dispatched(3);
        z.observe(26, ack(3)).unwrap();
        let core = |p, slot| OwnedCore {
            physical_id: p,
            core_type: CoreType::Aiv,
            slot,
        };
        let cores = vec![core(24, CoreSlot::default()), core(25, y), core(26, z)];
        let mut thread = SchedulerThread::new(0, [0, 3], cores, &Locality);
        regs.write(24, Reg::Cond, fin(IDLE));
        regs.write(26, Reg::Cond, ack(3));
        // Y acknowledges p: r finished (implicitly) and released c onto Y;
        // the idle core X finds nothing of its own.
        regs.write(25, Reg::Cond, ack(2));
        regs.write(25, Reg::DataMainBase, 2);
        assert_eq!(thread.poll(&sh), Poll::Progress);
        assert_eq!(
            regs.read(25, Reg::DataMainBase),
            1,
            "c went to Y's free pending slot"
        );
        // Z and Y finish; Y then runs c.
        regs.write(26, Reg::Cond, fin(3));
        regs.write(25, Reg::Cond, ack(1));
        assert_eq!(thread.poll(&sh), Poll::Progress);
        regs.write(25, Reg::Cond, fin(1));
        assert_eq!(thread.poll(&sh), Poll::Done);
    }

    /// A thread's outcome names the ready tasks it still holds, reserved
    /// for a core or in a local queue, and takes them out.
    #[test]
    fn the_outcome_names_the_tasks_left_reserved_and_queued() {
        use crate::sched::Locality;
        let core = |physical_id| OwnedCore {
            physical_id,
            core_type: CoreType::Aiv,
            slot: CoreSlot::default(),
        };
        let mut thread = SchedulerThread::new(1, [0, 4], vec![core(24), core(25)], &Locality);
        thread.push_seed(2, CoreType::Aiv, 0);
        thread.push_seed(3, CoreType::Aiv, 0);
        thread.reserved[1] = 1;
        let queued = |task, place| crate::error::QueuedTask {
            task: crate::graph::TaskId(task),
            core_type: CoreType::Aiv,
            place,
        };
        let reserved = QueuedIn::Reserved {
            thread: 1,
            physical_id: 25,
        };
        let local = QueuedIn::Local { thread: 1 };
        assert_eq!(
            thread.outcome().queued,
            [queued(1, reserved), queued(2, local), queued(3, local)]
        );
        assert!(thread.outcome().queued.is_empty());
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
        let mut thread = SchedulerThread::new(0, [0, CORES as usize], cores, &RoundRobin);
        thread.push_seed(0, CoreType::Aiv, 0);
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
