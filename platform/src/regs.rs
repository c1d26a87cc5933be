//! Register ids and the COND status-word encoding.
//!
//! DATA_MAIN_BASE carries scheduler -> core words: a task id to run, [`IDLE`],
//! or [`EXIT_SIGNAL`]. COND carries core -> scheduler words: bit 31 is the
//! state ([`CondState::Ack`] = 0, [`CondState::Fin`] = 1), the low 31 bits the
//! task id (or a reserved marker).

use crate::spec::PlatformSpec;

/// Task ids travel in 31 bits; ids at or above this value are reserved markers.
pub const RESERVED_TASK_ID: u32 = 0x7FFF_FFF0;
/// DATA_MAIN_BASE value telling a core to leave its loop.
pub const EXIT_SIGNAL: u32 = 0x7FFF_FFF0;
/// DATA_MAIN_BASE / COND value meaning "no task": the core is idle.
pub const IDLE: u32 = 0x7FFF_FFFF;
/// Mask of the task-id bits of a COND word.
pub const TASK_ID_MASK: u32 = 0x7FFF_FFFF;
/// The COND state bit.
pub const STATE_BIT: u32 = 1 << 31;

/// A core register the runtime uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reg {
    /// Scheduler -> core: the task to run, idle, or exit.
    DataMainBase,
    /// Core -> scheduler: ACK/FIN state and task id.
    Cond,
    /// a2a3 only: opens or closes the register fast path.
    FastPathEnable,
}

impl Reg {
    /// Byte offset of this register in a core's register block on `spec`,
    /// or `None` if the chip has no such register.
    pub const fn offset(self, spec: &PlatformSpec) -> Option<u32> {
        match self {
            Reg::DataMainBase => Some(spec.data_main_base_offset),
            Reg::Cond => Some(spec.cond_offset),
            Reg::FastPathEnable => spec.fast_path_offset,
        }
    }
}

/// The state half of a COND word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CondState {
    /// The core has taken the task and is running it.
    Ack,
    /// The core has finished the task.
    Fin,
}

/// A decoded COND word.
///
/// ```
/// use hostgraph_platform::regs::{Cond, CondState, IDLE};
/// let w = Cond::fin(42).encode();
/// assert_eq!(w, 0x8000_002A);
/// assert_eq!(Cond::decode(w), Cond { state: CondState::Fin, task: 42 });
/// assert!(Cond::fin(IDLE).is_idle());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cond {
    /// ACK or FIN.
    pub state: CondState,
    /// The task id, or a reserved marker (>= [`RESERVED_TASK_ID`]).
    pub task: u32,
}

impl Cond {
    /// ACK of `task`.
    pub const fn ack(task: u32) -> Self {
        Cond {
            state: CondState::Ack,
            task,
        }
    }

    /// FIN of `task`.
    pub const fn fin(task: u32) -> Self {
        Cond {
            state: CondState::Fin,
            task,
        }
    }

    /// The 32-bit register word.
    pub const fn encode(self) -> u32 {
        let state = match self.state {
            CondState::Ack => 0,
            CondState::Fin => STATE_BIT,
        };
        state | (self.task & TASK_ID_MASK)
    }

    /// Decodes a 32-bit register word.
    pub const fn decode(word: u32) -> Self {
        let state = if word & STATE_BIT != 0 {
            CondState::Fin
        } else {
            CondState::Ack
        };
        Cond {
            state,
            task: word & TASK_ID_MASK,
        }
    }

    /// Whether this word reports an idle core (`FIN | IDLE`).
    pub const fn is_idle(self) -> bool {
        matches!(self.state, CondState::Fin) && self.task == IDLE
    }

    /// Whether this word acknowledges the exit signal (`FIN | EXIT_SIGNAL`).
    pub const fn is_exit(self) -> bool {
        matches!(self.state, CondState::Fin) && self.task == EXIT_SIGNAL
    }
}

/// Whether `id` can name a task (is below the reserved range).
pub const fn is_task_id(id: u32) -> bool {
    id < RESERVED_TASK_ID
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cond_round_trips_every_state_and_edge_ids() {
        for task in [0, 1, 0x1234_5678, RESERVED_TASK_ID - 1, EXIT_SIGNAL, IDLE] {
            for c in [Cond::ack(task), Cond::fin(task)] {
                assert_eq!(Cond::decode(c.encode()), c);
            }
        }
        assert_eq!(Cond::ack(7).encode(), 7);
        assert_eq!(Cond::fin(7).encode(), 0x8000_0007);
        assert_eq!(Cond::fin(IDLE).encode(), u32::MAX);
    }

    #[test]
    fn markers_are_reserved_and_distinct() {
        assert!(!is_task_id(EXIT_SIGNAL) && !is_task_id(IDLE));
        assert!(is_task_id(RESERVED_TASK_ID - 1));
        assert_ne!(EXIT_SIGNAL, IDLE);
        assert!(Cond::fin(EXIT_SIGNAL).is_exit() && !Cond::ack(EXIT_SIGNAL).is_exit());
        assert!(Cond::fin(IDLE).is_idle() && !Cond::ack(IDLE).is_idle());
    }

    #[test]
    fn offsets_follow_the_spec() {
        use crate::spec::Platform;
        let a = Platform::A2A3.spec();
        assert_eq!(Reg::Cond.offset(a), Some(0x4C8));
        assert_eq!(Reg::FastPathEnable.offset(a), Some(0x18));
        assert_eq!(Reg::FastPathEnable.offset(Platform::A5.spec()), None);
        assert_eq!(Reg::DataMainBase.offset(Platform::A5.spec()), Some(0xD0));
    }
}
