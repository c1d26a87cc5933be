//! Dispatch policies: which scheduler thread owns which core, how large a
//! thread's local ready queues are, and where initially-ready tasks go.
//! Decided once per run, outside the hot loop.

use hostgraph_orch_abi::CoreType;
use hostgraph_platform::DiscoveredCore;

/// A dispatch policy. [`RoundRobin`] is the default.
pub trait Policy: Send + Sync + 'static {
    /// Short name for reports.
    fn name(&self) -> &'static str;

    /// The owning thread (`0..threads`) of each core in `cores`, in order.
    fn assign_cores(&self, cores: &[DiscoveredCore], threads: usize) -> Vec<usize>;

    /// Capacity of a thread's local ready queue for one core type, given how
    /// many cores of that type the thread owns. Tasks that do not fit go to
    /// the shared queue of that type. Must be 0 when `owned` is 0, so no
    /// ready task is stranded on a thread that cannot run it.
    fn local_capacity(&self, owned: usize) -> usize {
        owned
    }

    /// Where each initially-ready task of `core_type` goes: `Some(thread)`
    /// for that thread's local queue (within `capacity[thread]`), `None` for
    /// the shared queue.
    fn seed(&self, core_type: CoreType, ready: &[u32], capacity: &[usize]) -> Vec<Option<usize>>;
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
