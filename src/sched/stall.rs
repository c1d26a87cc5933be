//! What a stall looked like: tasks inside kernels that never returned
//! (a hung kernel), or no task held anywhere while tasks remain (a
//! deadlock: a scheduler or policy bug).

use std::time::Duration;

use hostgraph_platform::RegisterAccess;
use hostgraph_platform::regs::{Cond, CondState, Reg, is_task_id};

use super::shared::{Held, ThreadOutcome};
use crate::error::{Error, HeldTask, QueuedTask, StallDiagnosis};
use crate::graph::TaskId;
use crate::seal::Sealed;

/// Diagnoses a run that made no progress for `elapsed`, from its threads'
/// final states, the ready tasks no thread took (`unclaimed`), and each
/// held task's core's COND now: a core showing ACK of its task is inside
/// the kernel; a task the core shows finished, or had acknowledged before
/// moving on to another word (the task pipelined behind it), returned
/// late; a task written to a core that has not acknowledged it was never
/// started. With no task held, the ready tasks left anywhere are named
/// with where they sat.
pub(crate) fn diagnose<R: RegisterAccess>(
    regs: &R,
    graph: &Sealed,
    outcomes: &[ThreadOutcome],
    unclaimed: Vec<QueuedTask>,
    remaining: usize,
    elapsed: Duration,
) -> Error {
    let (mut running, mut late, mut waiting) = (Vec::new(), Vec::new(), Vec::new());
    for &h in outcomes.iter().flat_map(|o| &o.held) {
        let cond = Cond::decode(regs.read(h.physical_id, Reg::Cond));
        let held = held_task(h);
        match cond.state {
            CondState::Ack if cond.task == h.task => running.push(held),
            // Held when the stall was declared, finished since: a kernel
            // slower than the bound, not a scheduler that lost track.
            CondState::Fin if cond.task == h.task => late.push(held),
            // Acknowledged, and its core shows another task since: it
            // returned, and the core took the task pipelined behind it.
            _ if h.acked && is_task_id(cond.task) => late.push(held),
            _ => waiting.push(held),
        }
    }
    let diagnosis = if running.is_empty() && late.is_empty() && waiting.is_empty() {
        let blocked = (0..graph.len() as u32)
            .filter(|&t| graph.remaining_fanin(t) > 0)
            .map(|t| (TaskId(t), graph.remaining_fanin(t)))
            .collect();
        let queued = outcomes
            .iter()
            .flat_map(|o| o.queued.iter().copied())
            .chain(unclaimed)
            .collect();
        StallDiagnosis::Deadlock { blocked, queued }
    } else {
        StallDiagnosis::HungKernel {
            running,
            late,
            waiting,
        }
    };
    Error::Stall {
        elapsed,
        remaining,
        diagnosis,
    }
}

fn held_task(h: Held) -> HeldTask {
    HeldTask {
        physical_id: h.physical_id,
        core_type: h.core_type,
        task: TaskId(h.task),
    }
}

#[cfg(all(test, not(hostgraph_loom)))]
mod tests {
    use hostgraph_orch_abi::CoreType;
    use hostgraph_platform::regs::{Cond, Reg};
    use hostgraph_platform::{Platform, RegisterAccess, SimRegisters};

    use super::*;
    use crate::error::QueuedIn;
    use crate::sched::shared::queued;
    use crate::sched::testing::Built;

    fn noop(_: &[u64]) {}

    /// Tasks 0 (AIC) and 1 (AIV) feed task 2 (AIV).
    fn join() -> Built {
        Built::new(noop, &[0], |g| {
            let a = g.add_task(0, CoreType::Aic, &[]).unwrap();
            let b = g.add_task(0, CoreType::Aiv, &[]).unwrap();
            let c = g.add_task(0, CoreType::Aiv, &[]).unwrap();
            g.add_successor(a, c).unwrap();
            g.add_successor(b, c).unwrap();
        })
    }

    /// A task written to a core and not seen acknowledged.
    fn held(physical_id: u32, core_type: CoreType, task: u32) -> Held {
        Held {
            physical_id,
            core_type,
            task,
            acked: false,
        }
    }

    /// The diagnosis of a 2 s stall of `join()` with `remaining` tasks
    /// left, one thread holding `held` on cores whose COND `regs` shows.
    fn diagnose_held(regs: &SimRegisters, held: Vec<Held>, remaining: usize) -> Error {
        let busy = ThreadOutcome {
            held,
            ..Default::default()
        };
        diagnose(
            regs,
            &join().seal(),
            &[busy],
            Vec::new(),
            remaining,
            Duration::from_secs(2),
        )
    }

    #[test]
    fn no_held_task_is_a_deadlock_listing_blocked_tasks() {
        let graph = join().seal();
        // Task 0's completion was resolved, task 1's was lost: 2 waits forever.
        assert!(!graph.release(2));
        let regs = SimRegisters::new(Platform::A2A3.spec());
        let idle = ThreadOutcome::default();
        let e = diagnose(
            &regs,
            &graph,
            &[idle],
            Vec::new(),
            2,
            Duration::from_secs(2),
        );
        match &e {
            Error::Stall {
                diagnosis: StallDiagnosis::Deadlock { blocked, queued },
                remaining: 2,
                ..
            } => assert_eq!((&blocked[..], queued.len()), (&[(TaskId(2), 1)][..], 0)),
            other => panic!("expected a deadlock, got {other}"),
        }
        assert_eq!(
            e.to_string(),
            "stall after 2s with 2 tasks left: deadlock: no core busy, 0 ready task(s) stranded \
             in queues; blocked tasks (task: remaining fan-in): 2:1"
        );
    }

    #[test]
    fn a_deadlock_names_each_stranded_task_and_where_it_sat() {
        // Three tasks, all ready.
        let graph = Built::new(noop, &[0], |g| {
            for ty in [CoreType::Aic, CoreType::Aiv, CoreType::Aiv] {
                g.add_task(0, ty, &[]).unwrap();
            }
        })
        .seal();
        let regs = SimRegisters::new(Platform::A2A3.spec());
        let reserved = QueuedIn::Reserved {
            thread: 1,
            physical_id: 25,
        };
        let threads = [
            ThreadOutcome::default(),
            ThreadOutcome {
                queued: vec![
                    queued(2, CoreType::Aiv, reserved),
                    queued(1, CoreType::Aiv, QueuedIn::Local { thread: 1 }),
                ],
                ..Default::default()
            },
        ];
        let unclaimed = vec![queued(0, CoreType::Aic, QueuedIn::Seeds)];
        let e = diagnose(
            &regs,
            &graph,
            &threads,
            unclaimed,
            3,
            Duration::from_secs(2),
        );
        let Error::Stall {
            diagnosis: StallDiagnosis::Deadlock { blocked, queued },
            ..
        } = &e
        else {
            panic!("expected a deadlock, got {e}");
        };
        assert!(blocked.is_empty());
        let places: Vec<(TaskId, QueuedIn)> = queued.iter().map(|q| (q.task, q.place)).collect();
        assert_eq!(
            places,
            [
                (TaskId(2), reserved),
                (TaskId(1), QueuedIn::Local { thread: 1 }),
                (TaskId(0), QueuedIn::Seeds)
            ]
        );
        assert_eq!(
            e.to_string(),
            "stall after 2s with 3 tasks left: deadlock: no core busy, 3 ready task(s) stranded \
             in queues (task 2 (AIV) reserved for core 25 of thread 1, task 1 (AIV) in thread \
             1's local queue, task 0 (AIC) in the unclaimed seeds); blocked tasks (task: \
             remaining fan-in): none"
        );
    }

    /// A held task whose kernel returned after the stall was declared is a
    /// slow kernel, not a deadlock ("a scheduler or policy bug"). Before,
    /// it was dropped from the diagnosis, which then said deadlock.
    #[test]
    fn a_kernel_that_returned_after_the_stall_is_not_a_deadlock() {
        let regs = SimRegisters::new(Platform::A2A3.spec());
        regs.write(32, Reg::Cond, Cond::fin(0).encode());
        let e = diagnose_held(&regs, vec![held(32, CoreType::Aic, 0)], 3);
        assert!(
            matches!(&e, Error::Stall { diagnosis: StallDiagnosis::HungKernel { running, late, waiting }, .. }
                if running.is_empty() && waiting.is_empty() && late.len() == 1 && late[0].task == TaskId(0)),
            "{e}"
        );
    }

    /// A task seen acknowledged whose core shows the next task's ACK: it
    /// returned (late), and the next is inside its kernel. Before, it was
    /// "written but not started".
    #[test]
    fn an_acknowledged_task_whose_core_moved_on_returned() {
        let regs = SimRegisters::new(Platform::A2A3.spec());
        regs.write(33, Reg::Cond, Cond::ack(2).encode());
        let running = Held {
            acked: true,
            ..held(33, CoreType::Aiv, 1)
        };
        let e = diagnose_held(&regs, vec![running, held(33, CoreType::Aiv, 2)], 2);
        let task = |task| HeldTask {
            physical_id: 33,
            core_type: CoreType::Aiv,
            task: TaskId(task),
        };
        assert!(
            matches!(&e, Error::Stall { diagnosis: StallDiagnosis::HungKernel { running, late, waiting }, .. }
                if running == &[task(2)] && late == &[task(1)] && waiting.is_empty()),
            "{e}"
        );
    }

    #[test]
    fn held_tasks_are_told_apart_by_their_cores_cond() {
        let regs = SimRegisters::new(Platform::A2A3.spec());
        // Core 30 acknowledged task 1 and is inside its kernel; core 31
        // was written task 0 but still shows its last FIN; core 32
        // finished task 2 after the stall was declared.
        regs.write(30, Reg::Cond, Cond::ack(1).encode());
        regs.write(31, Reg::Cond, Cond::fin(7).encode());
        regs.write(32, Reg::Cond, Cond::fin(2).encode());
        let e = diagnose_held(
            &regs,
            vec![
                held(30, CoreType::Aiv, 1),
                held(31, CoreType::Aiv, 0),
                held(32, CoreType::Aiv, 2),
            ],
            3,
        );
        let task = |physical_id, task| HeldTask {
            physical_id,
            core_type: CoreType::Aiv,
            task: TaskId(task),
        };
        assert!(
            matches!(&e, Error::Stall { diagnosis: StallDiagnosis::HungKernel { running, late, waiting }, .. }
                if running == &[task(30, 1)] && late == &[task(32, 2)] && waiting == &[task(31, 0)]),
            "{e}"
        );
        assert_eq!(
            e.to_string(),
            "stall after 2s with 3 tasks left: hung kernel: 1 task(s) inside kernels that did not \
             return (task 1 on AIV core 30); 1 in kernels that returned after the stall was \
             declared, slower than the stall bound (task 2 on AIV core 32); 1 more written to \
             cores but not started (task 0 on AIV core 31)"
        );
    }
}
