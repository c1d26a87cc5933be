//! The register handshake between scheduler (AICPU) and cores (AICore),
//! written once: both sides of start-up, the core loop, the scheduler's
//! per-core slot, and shutdown.
//!
//! Every function here is a non-blocking step so the same protocol can be
//! driven by threads, stepped inline on one thread, or run in virtual time.
//!
//! # Start-up (per core `i`)
//!
//! 1. AICPU: clear the core's [`HandshakeBlock`], then raise `aicpu_ready`.
//! 2. Core: on `aicpu_ready`, report `physical_core_id`, raise `aicore_regs_ready`.
//! 3. AICPU: on `aicore_regs_ready`, check the physical id against the
//!    platform's physical core count, initialise that core's registers
//!    (a2a3: open FAST_PATH_ENABLE; both: DATA_MAIN_BASE = [`IDLE`]), raise
//!    `aicpu_regs_ready`.
//! 4. Core: on `aicpu_regs_ready`, clear a stale exit signal from
//!    DATA_MAIN_BASE, write COND = FIN|IDLE, report `core_type`, set
//!    `aicore_done = i + 1`.
//! 5. AICPU: on `aicore_done == i + 1`, file the core as AIC or AIV.
//!
//! # Core loop ([`CoreSide::step`])
//!
//! 6. Read DATA_MAIN_BASE. On [`EXIT_SIGNAL`]: write COND = FIN|EXIT and leave.
//!    On [`IDLE`] or the task it ran last: wait.
//! 7. Otherwise write COND = ACK|id, run the kernel, write COND = FIN|id.
//!
//! # Scheduler, per owned core ([`CoreSlot`])
//!
//! Each core has two slots: *pending* (written, not yet acknowledged) and
//! *running* (acknowledged). Per poll of COND:
//!
//! 8. FIN of pending: pending is done; running, if set, finished too (its FIN
//!    was overwritten by the next ACK before it was seen). Both slots free.
//! 9. ACK of pending: running, if set, finished (same reason); pending becomes
//!    running; the pending slot is free, so the next task may be written at
//!    once (pipelining).
//! 10. FIN of running: running is done; the running slot is free.
//!
//! [`CoreSlot::observe`] returns what finished; the caller resolves those
//! tasks' successors first and then feeds the core, so a successor that
//! the finish made ready can go to the core it just freed (the scheduler's
//! poll order is written beside its code, `SchedulerThread::poll`).
//!
//! # Shutdown
//!
//! 11. AICPU: write DATA_MAIN_BASE = EXIT_SIGNAL; wait for COND = FIN|EXIT;
//!     a2a3: close FAST_PATH_ENABLE.

use hostgraph_orch_abi::CoreType;

use crate::access::RegisterAccess;
use crate::regs::{Cond, CondState, EXIT_SIGNAL, IDLE, Reg, is_task_id};
use crate::spec::PlatformSpec;
use crate::sync::{AtomicU32, Ordering};

/// Per-core block in shared memory used during start-up; 64-byte aligned so
/// no two cores share a cache line.
#[repr(C, align(64))]
#[derive(Debug, Default)]
pub struct HandshakeBlock {
    /// Step 1: the scheduler is ready.
    pub aicpu_ready: AtomicU32,
    /// Step 2: the core has reported its physical id.
    pub aicore_regs_ready: AtomicU32,
    /// Step 3: the scheduler has initialised the core's registers.
    pub aicpu_regs_ready: AtomicU32,
    /// Step 4: `index + 1` once the core is in its loop.
    pub aicore_done: AtomicU32,
    /// Step 2: the core's physical id (selects its register block).
    pub physical_core_id: AtomicU32,
    /// Step 4: the core's type, as [`CoreType`]'s discriminant.
    pub core_type: AtomicU32,
}

impl HandshakeBlock {
    /// Step 1: clears the block and raises `aicpu_ready`.
    pub fn aicpu_begin(&self) {
        self.aicore_regs_ready.store(0, Ordering::Relaxed);
        self.aicpu_regs_ready.store(0, Ordering::Relaxed);
        self.aicore_done.store(0, Ordering::Relaxed);
        self.physical_core_id.store(u32::MAX, Ordering::Relaxed);
        self.core_type.store(u32::MAX, Ordering::Relaxed);
        self.aicpu_ready.store(1, Ordering::Release);
    }

    /// Resets the block to "not started" (before a launch, and after shutdown).
    pub fn reset(&self) {
        self.aicpu_ready.store(0, Ordering::Release);
    }
}

/// What went wrong on the scheduler side of start-up or of the slot protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// Step 3: the core reported a physical id the platform does not have.
    #[error(
        "core {index} reported physical core id {physical_id}, but the platform has {physical_cores} physical cores"
    )]
    BadPhysicalId {
        /// Handshake index of the core.
        index: u32,
        /// The id it reported.
        physical_id: u32,
        /// The platform's physical core count.
        physical_cores: u32,
    },
    /// Step 3: two cores reported the same physical id.
    #[error("cores {first} and {index} both reported physical core id {physical_id}")]
    DuplicatePhysicalId {
        /// Handshake index of the first core to report it.
        first: u32,
        /// Handshake index of the second.
        index: u32,
        /// The id both reported.
        physical_id: u32,
    },
    /// Step 5: the core reported a type that is neither AIC nor AIV.
    #[error("core {index} reported core type {raw}, which is neither AIC (0) nor AIV (1)")]
    BadCoreType {
        /// Handshake index of the core.
        index: u32,
        /// The raw value it reported.
        raw: u32,
    },
    /// Steps 8-10: COND named a task that is neither pending nor running on the core.
    #[error(
        "core {physical_id} reported {cond:?}, but its pending task is {pending:?} and its running task is {running:?}"
    )]
    UnexpectedCond {
        /// Physical id of the core.
        physical_id: u32,
        /// The decoded word.
        cond: Cond,
        /// The pending slot.
        pending: Option<u32>,
        /// The running slot.
        running: Option<u32>,
    },
}

/// A core filed by start-up step 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscoveredCore {
    /// Handshake index (launch order).
    pub index: u32,
    /// Physical id: selects the register block.
    pub physical_id: u32,
    /// AIC or AIV.
    pub core_type: CoreType,
}

/// Progress of one core's start-up, seen from the scheduler (steps 1-5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AicpuStartup {
    /// Step 1 done; waiting for step 2.
    AwaitCoreRegs,
    /// Step 3 done; waiting for step 4.
    AwaitCoreDone {
        /// Physical id reported in step 2.
        physical_id: u32,
    },
    /// Step 5 done.
    Filed(DiscoveredCore),
}

impl AicpuStartup {
    /// Step 1 for core `index`.
    pub fn begin(block: &HandshakeBlock) -> Self {
        block.aicpu_begin();
        AicpuStartup::AwaitCoreRegs
    }

    /// Advances steps 3 and 5 as far as the core allows; never blocks.
    pub fn poll<R: RegisterAccess + ?Sized>(
        &mut self,
        index: u32,
        block: &HandshakeBlock,
        regs: &R,
        spec: &PlatformSpec,
    ) -> Result<Option<DiscoveredCore>, ProtocolError> {
        if let AicpuStartup::AwaitCoreRegs = *self {
            if block.aicore_regs_ready.load(Ordering::Acquire) == 0 {
                return Ok(None);
            }
            let physical_id = block.physical_core_id.load(Ordering::Relaxed);
            if physical_id >= spec.physical_cores() {
                return Err(ProtocolError::BadPhysicalId {
                    index,
                    physical_id,
                    physical_cores: spec.physical_cores(),
                });
            }
            if spec.fast_path_offset.is_some() {
                regs.write(physical_id, Reg::FastPathEnable, spec.fast_path_open);
            }
            regs.write(physical_id, Reg::DataMainBase, IDLE);
            block.aicpu_regs_ready.store(1, Ordering::Release);
            *self = AicpuStartup::AwaitCoreDone { physical_id };
        }
        if let AicpuStartup::AwaitCoreDone { physical_id } = *self {
            if block.aicore_done.load(Ordering::Acquire) != index + 1 {
                return Ok(None);
            }
            let raw = block.core_type.load(Ordering::Relaxed);
            let core_type = i32::try_from(raw)
                .ok()
                .and_then(CoreType::from_raw)
                .ok_or(ProtocolError::BadCoreType { index, raw })?;
            let core = DiscoveredCore {
                index,
                physical_id,
                core_type,
            };
            *self = AicpuStartup::Filed(core);
        }
        match *self {
            AicpuStartup::Filed(core) => Ok(Some(core)),
            _ => Ok(None),
        }
    }
}

/// Step 11: sends the exit signal to a core.
pub fn send_exit<R: RegisterAccess + ?Sized>(regs: &R, physical_id: u32) {
    regs.write(physical_id, Reg::DataMainBase, EXIT_SIGNAL);
}

/// Step 11: whether the core has acknowledged the exit signal; on a2a3 this
/// also closes the fast path.
pub fn exit_acknowledged<R: RegisterAccess + ?Sized>(
    regs: &R,
    physical_id: u32,
    spec: &PlatformSpec,
) -> bool {
    if !Cond::decode(regs.read(physical_id, Reg::Cond)).is_exit() {
        return false;
    }
    if spec.fast_path_offset.is_some() {
        regs.write(physical_id, Reg::FastPathEnable, spec.fast_path_close);
    }
    true
}

/// Where a core is in its own life (steps 2, 4, 6, 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CorePhase {
    AwaitAicpuReady,
    AwaitRegsReady,
    Loop,
    /// A kernel failed; the core waits for the exit signal only.
    Faulted,
    Exited,
}

/// What one [`CoreSide::step`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoreStep {
    /// Nothing to do yet.
    Wait,
    /// Moved through a start-up step.
    Started,
    /// Ran task `id` and reported FIN.
    Ran(u32),
    /// Task `id`'s kernel failed; no FIN was written.
    Faulted(u32),
    /// Acknowledged the exit signal and left the loop.
    Exited,
}

/// The core side of the protocol: one AICore's state, advanced by [`step`](Self::step).
#[derive(Debug, Clone)]
pub struct CoreSide {
    index: u32,
    physical_id: u32,
    core_type: CoreType,
    phase: CorePhase,
    last_task: u32,
}

impl CoreSide {
    /// A core that has not started: `index` is its handshake slot,
    /// `physical_id` what it will report in step 2.
    pub fn new(index: u32, physical_id: u32, core_type: CoreType) -> Self {
        CoreSide {
            index,
            physical_id,
            core_type,
            phase: CorePhase::AwaitAicpuReady,
            last_task: IDLE,
        }
    }

    /// Handshake index.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Physical id (reported in step 2).
    pub fn physical_id(&self) -> u32 {
        self.physical_id
    }

    /// AIC or AIV.
    pub fn core_type(&self) -> CoreType {
        self.core_type
    }

    /// Whether the core has left its loop (step 6, exit).
    pub fn exited(&self) -> bool {
        self.phase == CorePhase::Exited
    }

    /// Advances the core by one step. `run` executes a task's kernel and
    /// returns `false` if the kernel failed.
    #[inline]
    pub fn step<R, F>(&mut self, block: &HandshakeBlock, regs: &R, run: F) -> CoreStep
    where
        R: RegisterAccess + ?Sized,
        F: FnOnce(u32) -> bool,
    {
        match self.phase {
            CorePhase::Loop | CorePhase::Faulted => self.step_loop(regs, run),
            CorePhase::AwaitAicpuReady => {
                // Step 2.
                if block.aicpu_ready.load(Ordering::Acquire) == 0 {
                    return CoreStep::Wait;
                }
                block
                    .physical_core_id
                    .store(self.physical_id, Ordering::Relaxed);
                block.aicore_regs_ready.store(1, Ordering::Release);
                self.phase = CorePhase::AwaitRegsReady;
                CoreStep::Started
            }
            CorePhase::AwaitRegsReady => {
                // Step 4.
                if block.aicpu_regs_ready.load(Ordering::Acquire) == 0 {
                    return CoreStep::Wait;
                }
                if regs.read(self.physical_id, Reg::DataMainBase) == EXIT_SIGNAL {
                    regs.write(self.physical_id, Reg::DataMainBase, IDLE);
                }
                self.last_task = IDLE;
                regs.write(self.physical_id, Reg::Cond, Cond::fin(IDLE).encode());
                block
                    .core_type
                    .store(self.core_type as u32, Ordering::Relaxed);
                block.aicore_done.store(self.index + 1, Ordering::Release);
                self.phase = CorePhase::Loop;
                CoreStep::Started
            }
            CorePhase::Exited => CoreStep::Exited,
        }
    }

    #[inline]
    fn step_loop<R, F>(&mut self, regs: &R, run: F) -> CoreStep
    where
        R: RegisterAccess + ?Sized,
        F: FnOnce(u32) -> bool,
    {
        // Step 6.
        let word = regs.read(self.physical_id, Reg::DataMainBase);
        if word == EXIT_SIGNAL {
            regs.write(self.physical_id, Reg::Cond, Cond::fin(EXIT_SIGNAL).encode());
            self.phase = CorePhase::Exited;
            return CoreStep::Exited;
        }
        if word == IDLE || word == self.last_task || self.phase == CorePhase::Faulted {
            return CoreStep::Wait;
        }
        // Step 7.
        self.last_task = word;
        regs.write(self.physical_id, Reg::Cond, Cond::ack(word).encode());
        if !run(word) {
            self.phase = CorePhase::Faulted;
            return CoreStep::Faulted(word);
        }
        regs.write(self.physical_id, Reg::Cond, Cond::fin(word).encode());
        CoreStep::Ran(word)
    }
}

/// Tasks that one COND observation completed (steps 8-10): at most two.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Finished {
    ids: [u32; 2],
    len: u8,
}

impl Finished {
    fn push(&mut self, id: u32) {
        self.ids[self.len as usize] = id;
        self.len += 1;
    }

    /// The finished task ids, in completion order.
    #[inline]
    pub fn as_slice(&self) -> &[u32] {
        &self.ids[..self.len as usize]
    }

    /// Whether nothing finished.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The scheduler's view of one core: its pending and running slots and the
/// last COND word it acted on (steps 8-10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoreSlot {
    pending: u32,
    running: u32,
    last_word: u32,
}

impl Default for CoreSlot {
    fn default() -> Self {
        CoreSlot {
            pending: IDLE,
            running: IDLE,
            last_word: Cond::fin(IDLE).encode(),
        }
    }
}

fn slot(id: u32) -> Option<u32> {
    (id != IDLE).then_some(id)
}

impl CoreSlot {
    /// The task written but not yet acknowledged.
    pub fn pending(&self) -> Option<u32> {
        slot(self.pending)
    }

    /// The task acknowledged and not yet seen to finish.
    pub fn running(&self) -> Option<u32> {
        slot(self.running)
    }

    /// Whether a task may be written to DATA_MAIN_BASE now.
    #[inline]
    pub fn can_dispatch(&self) -> bool {
        self.pending == IDLE
    }

    /// Whether the core holds no task at all.
    #[inline]
    pub fn is_idle(&self) -> bool {
        self.pending == IDLE && self.running == IDLE
    }

    /// Records that `task` was written to DATA_MAIN_BASE. The caller writes
    /// the register; the pending slot must be free.
    #[inline]
    pub fn dispatched(&mut self, task: u32) {
        debug_assert!(self.can_dispatch() && is_task_id(task));
        self.pending = task;
    }

    /// Whether `word` is the COND word last acted on: observing it again
    /// would change nothing and finish nothing.
    #[inline]
    pub fn is_current(&self, word: u32) -> bool {
        word == self.last_word
    }

    /// Steps 8-10: acts on a COND word read from the core and returns the
    /// tasks it shows finished. A word equal to the last one acted on is
    /// ignored, so polling an unchanged register is free.
    #[inline]
    pub fn observe(&mut self, physical_id: u32, word: u32) -> Result<Finished, ProtocolError> {
        let mut done = Finished::default();
        if word == self.last_word {
            return Ok(done);
        }
        let cond = Cond::decode(word);
        match cond.state {
            // Not a task: the idle or exit marker, or a word no core writes
            // (a dead device reads all ones). It matches no slot, not even
            // an empty one, whose value is the idle marker too.
            _ if !is_task_id(cond.task) => {}
            // Step 8.
            CondState::Fin if cond.task == self.pending => {
                if self.running != IDLE {
                    done.push(self.running);
                }
                done.push(self.pending);
                self.pending = IDLE;
                self.running = IDLE;
            }
            // Step 9.
            CondState::Ack if cond.task == self.pending => {
                if self.running != IDLE {
                    done.push(self.running);
                }
                self.running = self.pending;
                self.pending = IDLE;
            }
            // Step 10.
            CondState::Fin if cond.task == self.running => {
                done.push(self.running);
                self.running = IDLE;
            }
            _ => {
                return Err(ProtocolError::UnexpectedCond {
                    physical_id,
                    cond,
                    pending: self.pending(),
                    running: self.running(),
                });
            }
        }
        self.last_word = word;
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::SimRegisters;
    use crate::spec::Platform;

    fn fin(t: u32) -> u32 {
        Cond::fin(t).encode()
    }
    fn ack(t: u32) -> u32 {
        Cond::ack(t).encode()
    }

    #[test]
    fn fin_of_pending_without_running() {
        let mut s = CoreSlot::default();
        s.dispatched(5);
        let d = s.observe(0, fin(5)).unwrap();
        assert_eq!(d.as_slice(), &[5]);
        assert!(s.is_idle() && s.can_dispatch());
    }

    #[test]
    fn ack_then_fin_of_running() {
        let mut s = CoreSlot::default();
        s.dispatched(5);
        assert!(s.observe(0, ack(5)).unwrap().is_empty());
        assert_eq!((s.pending(), s.running()), (None, Some(5)));
        assert!(s.can_dispatch() && !s.is_idle());
        // Re-reading the same word changes nothing.
        assert!(s.observe(0, ack(5)).unwrap().is_empty());
        assert_eq!(s.observe(0, fin(5)).unwrap().as_slice(), &[5]);
        assert!(s.is_idle());
    }

    #[test]
    fn pipelined_ack_implies_running_finished() {
        let mut s = CoreSlot::default();
        s.dispatched(1);
        s.observe(0, ack(1)).unwrap();
        s.dispatched(2);
        // FIN|1 was overwritten by ACK|2 before the scheduler looked.
        assert_eq!(s.observe(0, ack(2)).unwrap().as_slice(), &[1]);
        assert_eq!((s.pending(), s.running()), (None, Some(2)));
    }

    #[test]
    fn pipelined_fin_of_pending_implies_both_finished() {
        let mut s = CoreSlot::default();
        s.dispatched(1);
        s.observe(0, ack(1)).unwrap();
        s.dispatched(2);
        // Both ACK|2 and FIN|1 were missed.
        assert_eq!(s.observe(0, fin(2)).unwrap().as_slice(), &[1, 2]);
        assert!(s.is_idle());
    }

    #[test]
    fn stale_fin_after_dispatch_is_ignored() {
        let mut s = CoreSlot::default();
        s.dispatched(1);
        s.observe(0, fin(1)).unwrap();
        s.dispatched(2);
        // The core has not read task 2 yet: COND still says FIN|1.
        assert!(s.observe(0, fin(1)).unwrap().is_empty());
        assert_eq!(s.pending(), Some(2));
    }

    #[test]
    fn unknown_task_is_a_protocol_error() {
        let mut s = CoreSlot::default();
        s.dispatched(3);
        let e = s.observe(9, fin(4)).unwrap_err();
        assert!(matches!(
            e,
            ProtocolError::UnexpectedCond {
                physical_id: 9,
                pending: Some(3),
                ..
            }
        ));
        // Markers are not errors.
        assert!(s.observe(9, fin(EXIT_SIGNAL)).unwrap().is_empty());
    }

    /// A word whose task is the idle marker (`0xFFFF_FFFF` as a dead
    /// device reads, or ACK|IDLE) matches no slot: before, it matched an
    /// empty one, so FIN|IDLE finished the "task" IDLE (an out-of-bounds
    /// successor lookup: a panic) and ACK|IDLE counted the running task
    /// finished (its successors ran early, and the run said Ok). Found by
    /// a hostile review.
    #[test]
    fn the_idle_marker_matches_no_slot() {
        let mut s = CoreSlot::default();
        assert!(s.observe(0, 0xFFFF_FFFF).unwrap().is_empty());
        assert!(s.observe(0, fin(IDLE)).unwrap().is_empty());
        s.dispatched(5);
        s.observe(0, ack(5)).unwrap();
        assert!(s.observe(0, ack(IDLE)).unwrap().is_empty());
        assert!(s.observe(0, 0xFFFF_FFFF).unwrap().is_empty());
        assert_eq!((s.pending(), s.running()), (None, Some(5)));
        assert_eq!(s.observe(0, fin(5)).unwrap().as_slice(), &[5]);
    }

    fn run_ok(_: u32) -> bool {
        true
    }

    #[test]
    fn start_up_loop_and_exit_follow_the_numbered_steps() {
        let spec = Platform::A2A3.spec();
        let regs = SimRegisters::new(spec);
        let block = HandshakeBlock::default();
        let mut core = CoreSide::new(4, 13, CoreType::Aiv);
        // A stale exit signal from an earlier launch.
        regs.write(13, Reg::DataMainBase, EXIT_SIGNAL);
        assert_eq!(core.step(&block, &regs, run_ok), CoreStep::Wait);
        let mut aicpu = AicpuStartup::begin(&block);
        assert_eq!(aicpu.poll(4, &block, &regs, spec), Ok(None));
        assert_eq!(core.step(&block, &regs, run_ok), CoreStep::Started); // step 2
        assert_eq!(aicpu.poll(4, &block, &regs, spec), Ok(None)); // step 3
        assert_eq!(regs.read(13, Reg::FastPathEnable), spec.fast_path_open);
        assert_eq!(core.step(&block, &regs, run_ok), CoreStep::Started); // step 4
        let filed = aicpu.poll(4, &block, &regs, spec).unwrap().unwrap(); // step 5
        assert_eq!(
            filed,
            DiscoveredCore {
                index: 4,
                physical_id: 13,
                core_type: CoreType::Aiv
            }
        );
        assert_eq!(Cond::decode(regs.read(13, Reg::Cond)), Cond::fin(IDLE));
        assert_eq!(core.step(&block, &regs, run_ok), CoreStep::Wait);

        let mut ran = Vec::new();
        regs.write(13, Reg::DataMainBase, 0);
        assert_eq!(
            core.step(&block, &regs, |t| {
                ran.push(t);
                true
            }),
            CoreStep::Ran(0)
        );
        // Same id again: the core does not re-run it.
        assert_eq!(core.step(&block, &regs, run_ok), CoreStep::Wait);
        assert_eq!(ran, vec![0]);
        send_exit(&regs, 13);
        assert!(!exit_acknowledged(&regs, 13, spec));
        assert_eq!(core.step(&block, &regs, run_ok), CoreStep::Exited);
        assert!(exit_acknowledged(&regs, 13, spec));
        assert_eq!(regs.read(13, Reg::FastPathEnable), spec.fast_path_close);
    }

    #[test]
    fn bad_physical_id_is_refused() {
        let spec = Platform::A5.spec();
        let regs = SimRegisters::new(spec);
        let block = HandshakeBlock::default();
        let mut core = CoreSide::new(0, 500, CoreType::Aic);
        let mut aicpu = AicpuStartup::begin(&block);
        core.step(&block, &regs, run_ok);
        let e = aicpu.poll(0, &block, &regs, spec).unwrap_err();
        assert_eq!(
            e,
            ProtocolError::BadPhysicalId {
                index: 0,
                physical_id: 500,
                physical_cores: 108
            }
        );
    }

    #[test]
    fn faulted_core_reports_ack_only_and_still_exits() {
        let spec = Platform::A5.spec();
        let regs = SimRegisters::new(spec);
        let block = HandshakeBlock::default();
        let mut core = CoreSide::new(0, 0, CoreType::Aic);
        let mut aicpu = AicpuStartup::begin(&block);
        while aicpu.poll(0, &block, &regs, spec).unwrap().is_none() {
            core.step(&block, &regs, run_ok);
        }
        regs.write(0, Reg::DataMainBase, 7);
        assert_eq!(core.step(&block, &regs, |_| false), CoreStep::Faulted(7));
        assert_eq!(Cond::decode(regs.read(0, Reg::Cond)), Cond::ack(7));
        regs.write(0, Reg::DataMainBase, 8);
        assert_eq!(core.step(&block, &regs, run_ok), CoreStep::Wait);
        send_exit(&regs, 0);
        assert_eq!(core.step(&block, &regs, run_ok), CoreStep::Exited);
    }
}
