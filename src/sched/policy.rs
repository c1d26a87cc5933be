//! Dispatch policies: the decisions a run makes once — which scheduler
//! thread owns which core, how large each thread's local ready queues are,
//! where initially ready tasks go — and those its hot loop makes per task —
//! the kind of ready queue (FIFO, priority, stealable), a task's priority,
//! where a newly ready task goes, which core takes a task, and whether and
//! from whom an idle thread steals.
//!
//! The per-task hooks are generic (the loop is compiled for each policy),
//! so a policy that keeps the defaults costs what a hard-coded loop costs.
//! What a policy answers is input like any other: [`check_assignment`],
//! [`check_capacity`] and [`check_seed`] refuse a bad plan with
//! [`Error::BadPolicy`] before anything is dispatched, and the loop refuses
//! a bad core or victim index the same way. The scheduler, not the policy,
//! moves tasks between queues, so a task only ever reaches a core of its
//! own type.
//!
//! Built-ins: [`RoundRobin`] (the reference runtime's behaviour, the
//! default), [`WorkStealing`](super::WorkStealing),
//! [`CriticalPath`](super::CriticalPath), [`Locality`](super::Locality),
//! [`Heft`](super::Heft).

use hostgraph_orch_abi::CoreType;
use hostgraph_platform::DiscoveredCore;

use super::queue::{Fifo, LocalQueue, SharedFifo, SharedQueue};
use crate::error::{Error, Result};
use crate::seal::Sealed;

/// The largest local queue a policy may ask for, per core type and thread.
pub const MAX_LOCAL_CAPACITY: usize = 1 << 20;

/// A core as the hot loop's hooks see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoreView {
    /// Its place in its thread's core list (what hooks return to name it).
    pub index: usize,
    /// Physical id.
    pub physical_id: u32,
    /// AIC or AIV.
    pub core_type: CoreType,
    /// Whether it holds no task at all (otherwise its pending slot is free
    /// and it is running one).
    pub idle: bool,
}

/// Where a task that just became ready goes ([`Policy::place`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The releasing thread's local queue of the task's type while it has
    /// room, else the shared queue.
    Local,
    /// The shared queue of the task's type.
    Shared,
    /// The core that released it, next (if it is of the task's type and
    /// has nothing reserved yet), else as `Local`. Needs
    /// [`Policy::AFFINITY`]. The task goes to that core as soon as its
    /// pending slot is free, ahead of any queued task and without asking
    /// [`Policy::choose_core`].
    Core,
}

/// A dispatch policy. [`RoundRobin`] is the default.
///
/// The first methods decide once per run; the rest are hooks of the hot
/// loop, called on the scheduler thread that makes the decision, with that
/// thread's [`Thread`](Self::Thread) state. Every hook has a default that
/// keeps the round-robin behaviour.
pub trait Policy: Send + Sync + 'static {
    /// Kind of a thread's local ready queues ([`Fifo`], `Priority`,
    /// `Stealable` in [`queue`](super::queue)).
    type Local: LocalQueue;
    /// Kind of the shared ready queues (`SharedFifo`, `SharedPriority`).
    type Shared: SharedQueue;
    /// Per-thread state of the hooks.
    type Thread: Send + 'static;
    /// Whether [`place`](Self::place) may answer [`Place::Core`] (the loop
    /// keeps a reserved slot per core only then).
    const AFFINITY: bool = false;
    /// Whether [`choose_core`](Self::choose_core) decides which core takes
    /// a task (otherwise the loop feeds cores as it finds them free).
    const CHOOSES_CORE: bool = false;
    /// Whether idle threads steal ([`victim`](Self::victim)).
    const STEALS: bool = false;

    /// Short name for reports and errors.
    fn name(&self) -> &'static str;

    /// The owning thread (`0..threads`) of each core in `cores`, in order.
    fn assign_cores(&self, cores: &[DiscoveredCore], threads: usize) -> Vec<usize>;

    /// Capacity of a thread's local ready queue for one core type, given how
    /// many cores (at least one) of that type the thread owns: at most
    /// [`MAX_LOCAL_CAPACITY`]. Tasks that do not fit go to the shared queue
    /// of that type. (A thread that owns no core of a type holds no local
    /// task of it: this is not asked.)
    fn local_capacity(&self, owned: usize) -> usize {
        owned
    }

    /// Where each initially-ready task of `core_type` goes: one entry per
    /// task of `ready`, `Some(thread)` for that thread's local queue (at
    /// most `capacity[thread]` tasks each: 0 where the thread owns no core
    /// of the type, or where [`local_capacity`](Self::local_capacity)
    /// answered 0), `None` for the shared queue.
    fn seed(&self, core_type: CoreType, ready: &[u32], capacity: &[usize]) -> Vec<Option<usize>>;

    /// Sees the sealed graph before a run is seeded (priorities, cost
    /// estimates): once per run.
    fn prepare(&mut self, _graph: &Sealed) {}

    /// Drops what [`prepare`](Self::prepare) kept about a graph that is
    /// gone (discarded, finalized, or released after a failed run), so a
    /// large graph's per-task tables do not outlive it. A panic here is
    /// caught and logged (warn): the graph is cleared all the same.
    fn forget(&mut self) {}

    /// The hooks' state for scheduler thread `index`, which owns `cores`.
    fn thread(&self, index: usize, cores: &[CoreView]) -> Self::Thread;

    /// The priority of `task` (higher first) for priority queues.
    #[inline]
    fn priority(&self, _task: u32) -> u64 {
        0
    }

    /// Where `task`, just made ready by the completion of a task on `from`,
    /// goes.
    #[inline]
    fn place(&self, _thread: &mut Self::Thread, _task: u32, _from: CoreView) -> Place {
        Place::Local
    }

    /// Which of `free` (this thread's cores of `task`'s type that can take
    /// a task now, idle ones first) runs `task`: an index into `free`.
    /// Called only with [`CHOOSES_CORE`](Self::CHOOSES_CORE), and only for
    /// queued tasks (a task placed with [`Place::Core`] goes to its core).
    #[inline]
    fn choose_core(&self, _thread: &mut Self::Thread, _task: u32, _free: &[CoreView]) -> usize {
        0
    }

    /// The thread an idle thread `thief` (of `threads`) tries to steal a
    /// task of `core_type` from next, or `None` to stop trying; asked at
    /// most `threads - 1` times per attempt. Called only with
    /// [`STEALS`](Self::STEALS).
    #[inline]
    fn victim(
        &self,
        _thread: &mut Self::Thread,
        _thief: usize,
        _threads: usize,
        _core_type: CoreType,
    ) -> Option<usize> {
        None
    }
}

pub(crate) fn bad_policy(policy: &str, what: String) -> Error {
    Error::BadPolicy {
        policy: policy.to_string(),
        what,
    }
}

/// Checks an answer of [`Policy::assign_cores`]: one thread per core, each
/// below `threads`.
pub(crate) fn check_assignment(
    policy: &str,
    owner: &[usize],
    cores: &[DiscoveredCore],
    threads: usize,
) -> Result<()> {
    if owner.len() != cores.len() {
        return Err(bad_policy(
            policy,
            format!(
                "assign_cores returned {} owners for {} cores",
                owner.len(),
                cores.len()
            ),
        ));
    }
    if let Some((c, &t)) = cores.iter().zip(owner).find(|&(_, &t)| t >= threads) {
        return Err(bad_policy(
            policy,
            format!(
                "assign_cores gave {} core {} to thread {t}, but the run has {threads} scheduler threads",
                c.core_type, c.physical_id
            ),
        ));
    }
    Ok(())
}

/// Checks an answer of [`Policy::local_capacity`] for a thread owning
/// `owned` cores of `core_type`.
pub(crate) fn check_capacity(
    policy: &str,
    capacity: usize,
    owned: usize,
    core_type: CoreType,
) -> Result<usize> {
    if capacity > MAX_LOCAL_CAPACITY {
        return Err(bad_policy(
            policy,
            format!(
                "local_capacity({owned}) for {core_type} is {capacity}, above the limit of {MAX_LOCAL_CAPACITY}"
            ),
        ));
    }
    Ok(capacity)
}

/// Checks an answer of [`Policy::seed`] for the `ready` tasks of
/// `core_type` given each thread's `capacity` and the cores of the type it
/// `owns`.
pub(crate) fn check_seed(
    policy: &str,
    core_type: CoreType,
    plan: &[Option<usize>],
    ready: usize,
    capacity: &[usize],
    owns: &[usize],
) -> Result<()> {
    if plan.len() != ready {
        return Err(bad_policy(
            policy,
            format!(
                "seed returned {} places for {ready} initially ready {core_type} tasks",
                plan.len()
            ),
        ));
    }
    let mut placed = vec![0usize; capacity.len()];
    for &t in plan.iter().flatten() {
        let Some(n) = placed.get_mut(t) else {
            return Err(bad_policy(
                policy,
                format!(
                    "seed placed a {core_type} task on thread {t}, but the run has {} scheduler threads",
                    capacity.len()
                ),
            ));
        };
        *n += 1;
        if *n > capacity[t] {
            return Err(bad_policy(
                policy,
                format!(
                    "seed placed more than {} {core_type} tasks on thread {t}, its local capacity{}",
                    capacity[t],
                    match (owns[t], capacity[t]) {
                        (0, _) => " (it owns no core of that type)",
                        (_, 0) => " (local_capacity answered 0)",
                        _ => "",
                    }
                ),
            ));
        }
    }
    Ok(())
}

/// Cores dealt round-robin to threads (AIC and AIV independently: core `i`
/// of a type goes to thread `i mod T`); initially-ready tasks dealt
/// round-robin to threads with room, the rest to the shared queue.
///
/// ```
/// use hostgraph::{Policy, RoundRobin, CoreType};
/// let cap = [2, 0, 1];
/// let plan = RoundRobin.seed(CoreType::Aiv, &[10, 11, 12, 13], &cap);
/// assert_eq!(plan, vec![Some(0), Some(2), Some(0), None]);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundRobin;

impl Policy for RoundRobin {
    type Local = Fifo;
    type Shared = SharedFifo;
    type Thread = ();

    fn name(&self) -> &'static str {
        "round-robin"
    }

    fn thread(&self, _index: usize, _cores: &[CoreView]) {}

    fn assign_cores(&self, cores: &[DiscoveredCore], threads: usize) -> Vec<usize> {
        let mut next = [0usize; 2];
        cores
            .iter()
            .map(|c| {
                let n = &mut next[c.core_type as usize];
                let t = *n % threads;
                *n += 1;
                t
            })
            .collect()
    }

    fn seed(&self, _core_type: CoreType, ready: &[u32], capacity: &[usize]) -> Vec<Option<usize>> {
        let mut room = capacity.to_vec();
        let mut left: usize = room.iter().sum();
        let mut next = 0usize;
        ready
            .iter()
            .map(|_| {
                if left == 0 {
                    return None;
                }
                while room[next % room.len()] == 0 {
                    next += 1;
                }
                let t = next % room.len();
                room[t] -= 1;
                left -= 1;
                next += 1;
                Some(t)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_answers_are_named() {
        let cores = [core(0, CoreType::Aic), core(1, CoreType::Aiv)];
        let e = check_assignment("round-robin", &[0], &cores, 2).unwrap_err();
        assert!(e.to_string().contains("1 owners for 2 cores"), "{e}");
        let e = check_assignment("round-robin", &[0, 5], &cores, 2).unwrap_err();
        assert!(e.to_string().contains("to thread 5"), "{e}");
        assert!(check_assignment("round-robin", &[1, 0], &cores, 2).is_ok());
        let e = check_capacity("round-robin", usize::MAX, 1, CoreType::Aiv).unwrap_err();
        assert!(matches!(&e, Error::BadPolicy { policy, .. } if policy == "round-robin"));
        assert_eq!(
            check_capacity("round-robin", 8, 1, CoreType::Aiv).unwrap(),
            8
        );
        let seed = |plan: &[Option<usize>], ready, capacity: &[usize], owns: &[usize]| {
            check_seed("round-robin", CoreType::Aic, plan, ready, capacity, owns).unwrap_err()
        };
        let e = seed(&[None], 2, &[1], &[1]);
        assert!(e.to_string().contains("1 places for 2"), "{e}");
        let e = seed(&[Some(3)], 1, &[1], &[1]);
        assert!(e.to_string().contains("thread 3"), "{e}");
        let e = seed(&[Some(0), Some(0)], 2, &[1], &[1]);
        assert!(e.to_string().contains("more than 1"), "{e}");
        let e = seed(&[Some(1)], 1, &[1, 0], &[1, 0]);
        assert!(e.to_string().contains("owns no core"), "{e}");
        // A thread that owns cores, given no room by the policy itself.
        let e = seed(&[Some(0)], 1, &[0], &[3]);
        assert!(e.to_string().contains("local_capacity answered 0"), "{e}");
    }

    fn core(index: u32, ty: CoreType) -> DiscoveredCore {
        DiscoveredCore {
            index,
            physical_id: index,
            core_type: ty,
        }
    }

    #[test]
    fn aic_and_aiv_are_dealt_independently() {
        let cores: Vec<_> = [
            CoreType::Aic,
            CoreType::Aic,
            CoreType::Aiv,
            CoreType::Aiv,
            CoreType::Aiv,
            CoreType::Aic,
        ]
        .iter()
        .enumerate()
        .map(|(i, t)| core(i as u32, *t))
        .collect();
        assert_eq!(RoundRobin.assign_cores(&cores, 2), vec![0, 1, 0, 1, 0, 0]);
        assert_eq!(RoundRobin.assign_cores(&cores, 4), vec![0, 1, 0, 1, 2, 2]);
    }

    #[test]
    fn seeding_skips_threads_without_room_and_overflows_to_shared() {
        assert_eq!(
            RoundRobin.seed(CoreType::Aic, &[1, 2, 3], &[0, 0]),
            vec![None, None, None]
        );
        assert_eq!(
            RoundRobin.seed(CoreType::Aic, &[1, 2, 3, 4], &[1, 1, 1]),
            vec![Some(0), Some(1), Some(2), None]
        );
        assert!(RoundRobin.seed(CoreType::Aic, &[], &[1]).is_empty());
    }
}
