//! What a stall looked like: tasks inside kernels that never returned
//! (a hung kernel), or no task held anywhere while tasks remain (a
//! deadlock: a scheduler or policy bug).

use std::time::Duration;

use hostgraph_platform::RegisterAccess;
use hostgraph_platform::regs::{Cond, CondState, Reg};

use super::shared::{Held, ThreadOutcome};
use crate::error::{Error, HeldTask, StallDiagnosis};
use crate::graph::TaskId;
use crate::seal::Sealed;

/// Diagnoses a run that made no progress for `elapsed`, from its threads'
/// final states and each held task's core's COND now: a core showing ACK
/// of its task is inside the kernel; a task written to a core that has not
/// acknowledged it was never started.
pub(crate) fn diagnose<R: RegisterAccess>(
    regs: &R,
    graph: &Sealed,
    outcomes: &[ThreadOutcome],
    unclaimed: usize,
    remaining: usize,
    elapsed: Duration,
) -> Error {
    let mut running = Vec::new();
    let mut waiting = Vec::new();
    for &h in outcomes.iter().flat_map(|o| &o.held) {
        let cond = Cond::decode(regs.read(h.physical_id, Reg::Cond));
        let held = held_task(h);
        match cond.state {
            CondState::Ack if cond.task == h.task => running.push(held),
            // Finished since the scheduler stopped looking: not stuck.
            CondState::Fin if cond.task == h.task => {}
            _ => waiting.push(held),
        }
    }
    let diagnosis = if running.is_empty() && waiting.is_empty() {
        let blocked = (0..graph.len() as u32)
            .filter(|&t| graph.remaining_fanin(t) > 0)
            .map(|t| (TaskId(t), graph.remaining_fanin(t)))
            .collect();
        let queued = outcomes.iter().map(|o| o.queued).sum::<usize>() + unclaimed;
        StallDiagnosis::Deadlock { blocked, queued }
    } else {
        StallDiagnosis::HungKernel { running, waiting }
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

    fn held(physical_id: u32, core_type: CoreType, task: u32) -> Held {
        Held {
            physical_id,
            core_type,
            task,
        }
    }

    #[test]
    fn no_held_task_is_a_deadlock_listing_blocked_tasks() {
        let graph = join().seal();
        // Task 0's completion was resolved, task 1's was lost: 2 waits forever.
        assert!(!graph.release(2));
        let regs = SimRegisters::new(Platform::A2A3.spec());
        let idle = ThreadOutcome {
            queued: 1,
            ..Default::default()
        };
        let e = diagnose(&regs, &graph, &[idle], 2, 2, Duration::from_secs(2));
        match e {
            Error::Stall {
                diagnosis: StallDiagnosis::Deadlock { blocked, queued: 3 },
                remaining: 2,
                ..
            } => assert_eq!(blocked, vec![(TaskId(2), 1)]),
            other => panic!("expected a deadlock, got {other}"),
        }
    }

    #[test]
    fn held_tasks_are_told_apart_by_their_cores_cond() {
        let graph = join().seal();
        let regs = SimRegisters::new(Platform::A2A3.spec());
        // Core 30 acknowledged task 1 and is inside its kernel; core 31
        // was written task 0 but still shows its last FIN; core 32
        // finished task 2 after the scheduler stopped looking.
        regs.write(30, Reg::Cond, Cond::ack(1).encode());
        regs.write(31, Reg::Cond, Cond::fin(7).encode());
        regs.write(32, Reg::Cond, Cond::fin(2).encode());
        let busy = ThreadOutcome {
            held: vec![
                held(30, CoreType::Aiv, 1),
                held(31, CoreType::Aiv, 0),
                held(32, CoreType::Aiv, 2),
            ],
            ..Default::default()
        };
        let e = diagnose(&regs, &graph, &[busy], 0, 3, Duration::from_secs(2));
        let task = |physical_id, task| HeldTask {
            physical_id,
            core_type: CoreType::Aiv,
            task: TaskId(task),
        };
        assert!(
            matches!(&e, Error::Stall { diagnosis: StallDiagnosis::HungKernel { running, waiting }, .. }
                if running == &[task(30, 1)] && waiting == &[task(31, 0)]),
            "{e}"
        );
        assert_eq!(
            e.to_string(),
            "stall after 2s with 3 tasks left: hung kernel: 1 task(s) inside kernels that did not \
             return (task 1 on AIV core 30); 1 more written to cores but not started (task 0 on \
             AIV core 31)"
        );
    }
}
