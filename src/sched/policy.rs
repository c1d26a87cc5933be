//! Dispatch policies: which scheduler thread owns which core, how large a
//! thread's local ready queues are, and where initially-ready tasks go.
//! Decided once per run, outside the hot loop. What a policy answers is
//! input like any other: [`check_assignment`], [`check_capacity`] and
//! [`check_seed`] refuse a bad answer with [`Error::BadPolicy`] before
//! anything is dispatched.

use hostgraph_orch_abi::CoreType;
use hostgraph_platform::DiscoveredCore;

use crate::error::{Error, Result};

/// The largest local queue a policy may ask for, per core type and thread.
pub const MAX_LOCAL_CAPACITY: usize = 1 << 20;

/// A dispatch policy. [`RoundRobin`] is the default.
pub trait Policy: Send + Sync + 'static {
    /// Short name for reports.
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
    /// most `capacity[thread]` tasks each; a thread with capacity 0 owns no
    /// core of the type), `None` for the shared queue.
    fn seed(&self, core_type: CoreType, ready: &[u32], capacity: &[usize]) -> Vec<Option<usize>>;
}

fn bad_policy(policy: &dyn Policy, what: String) -> Error {
    Error::BadPolicy {
        policy: policy.name().to_string(),
        what,
    }
}

/// Checks an answer of [`Policy::assign_cores`]: one thread per core, each
/// below `threads`.
pub(crate) fn check_assignment(
    policy: &dyn Policy,
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
    policy: &dyn Policy,
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
/// `core_type` given each thread's `capacity`.
pub(crate) fn check_seed(
    policy: &dyn Policy,
    core_type: CoreType,
    plan: &[Option<usize>],
    ready: usize,
    capacity: &[usize],
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
                    if capacity[t] == 0 {
                        " (it owns no core of that type)"
                    } else {
                        ""
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
    fn name(&self) -> &'static str {
        "round-robin"
    }

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
        let e = check_assignment(&RoundRobin, &[0], &cores, 2).unwrap_err();
        assert!(e.to_string().contains("1 owners for 2 cores"), "{e}");
        let e = check_assignment(&RoundRobin, &[0, 5], &cores, 2).unwrap_err();
        assert!(e.to_string().contains("to thread 5"), "{e}");
        assert!(check_assignment(&RoundRobin, &[1, 0], &cores, 2).is_ok());
        let e = check_capacity(&RoundRobin, usize::MAX, 1, CoreType::Aiv).unwrap_err();
        assert!(matches!(&e, Error::BadPolicy { policy, .. } if policy == "round-robin"));
        assert_eq!(check_capacity(&RoundRobin, 8, 1, CoreType::Aiv).unwrap(), 8);
        let e = check_seed(&RoundRobin, CoreType::Aic, &[None], 2, &[1]).unwrap_err();
        assert!(e.to_string().contains("1 places for 2"), "{e}");
        let e = check_seed(&RoundRobin, CoreType::Aic, &[Some(3)], 1, &[1]).unwrap_err();
        assert!(e.to_string().contains("thread 3"), "{e}");
        let e = check_seed(&RoundRobin, CoreType::Aic, &[Some(0), Some(0)], 2, &[1]).unwrap_err();
        assert!(e.to_string().contains("more than 1"), "{e}");
        let e = check_seed(&RoundRobin, CoreType::Aic, &[Some(1)], 1, &[1, 0]).unwrap_err();
        assert!(e.to_string().contains("owns no core"), "{e}");
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
