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
