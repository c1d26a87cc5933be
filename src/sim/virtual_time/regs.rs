//! Registers under virtual time: one set of register cells, seen through
//! two doors. The scheduler's door ([`VirtualRegisters`]) counts what a
//! poll does — COND reads, register writes, and which cores were given a
//! task after how many accesses — so the backend can charge the poll
//! (rule 2) and make each DATA_MAIN_BASE write visible when its cost has
//! been paid (rule 3). The cores' door ([`CoreSideRegs`]) applies ACK at
//! once and holds a core's FIN back, for the backend to apply when the
//! kernel's simulated duration has passed (rule 3).
//!
//! One thread at a time steps a simulation (the backend is driven through
//! `&mut`), so counters are bumped with a plain load and store rather than
//! a read-modify-write; they are atomics only because register access must
//! be `Sync`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};

use hostgraph_platform::regs::{Cond, CondState, Reg, is_task_id};
use hostgraph_platform::{PlatformSpec, RegisterAccess};

/// The register cells of every physical core: DATA_MAIN_BASE, COND and
/// FAST_PATH_ENABLE, by [`Reg`] discriminant.
pub(super) struct Cells {
    cells: Box<[[AtomicU32; 3]]>,
    fast_path: bool,
}

impl Cells {
    fn new(spec: &PlatformSpec) -> Self {
        Cells {
            cells: (0..spec.physical_cores())
                .map(|_| Default::default())
                .collect(),
            fast_path: spec.fast_path_offset.is_some(),
        }
    }

    #[inline]
    fn cell(&self, physical_id: u32, reg: Reg) -> &AtomicU32 {
        if reg == Reg::FastPathEnable && !self.fast_path {
            no_fast_path();
        }
        &self.cells[physical_id as usize][reg as usize]
    }

    #[inline]
    pub(super) fn get(&self, physical_id: u32, reg: Reg) -> u32 {
        self.cell(physical_id, reg).load(Relaxed)
    }

    #[inline]
    pub(super) fn set(&self, physical_id: u32, reg: Reg, value: u32) {
        self.cell(physical_id, reg).store(value, Relaxed)
    }
}

#[cold]
fn no_fast_path() -> ! {
    panic!("register FastPathEnable does not exist on this platform")
}

/// `*a += 1`, from the one thread stepping the simulation.
#[inline]
fn bump(a: &AtomicU64) -> u64 {
    let n = a.load(Relaxed) + 1;
    a.store(n, Relaxed);
    n
}

/// What the poll in progress has done.
struct Meter {
    /// A poll is in progress: DATA_MAIN_BASE writes are logged. (Start-up
    /// and shutdown write registers outside polls; they are not modelled.)
    polling: AtomicBool,
    reads: AtomicU64,
    writes: AtomicU64,
    /// The cores given a task this poll, each with `reads << 32 | writes`
    /// counted up to and including that write. A poll writes a core at
    /// most once (only when the scheduler's pending slot for it is free),
    /// so one entry per physical core is room enough.
    log: Box<[(AtomicU32, AtomicU64)]>,
    len: AtomicUsize,
}

struct Inner {
    cells: Cells,
    meter: Meter,
}

/// The scheduler's register access under virtual time: the register
/// cells, and a meter counting what each poll does so that the backend
/// can charge the poll's thread for it. Cloning shares the registers.
#[derive(Clone)]
pub struct VirtualRegisters(Arc<Inner>);

/// One DATA_MAIN_BASE write of a poll: the core, and the accesses the poll
/// had made by the end of the write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Logged {
    pub physical_id: u32,
    pub reads: u64,
    pub writes: u64,
}

impl VirtualRegisters {
    pub(super) fn new(spec: &PlatformSpec) -> Self {
        let n = spec.physical_cores() as usize;
        VirtualRegisters(Arc::new(Inner {
            cells: Cells::new(spec),
            meter: Meter {
                polling: AtomicBool::new(false),
                reads: AtomicU64::new(0),
                writes: AtomicU64::new(0),
                log: (0..n).map(|_| Default::default()).collect(),
                len: AtomicUsize::new(0),
            },
        }))
    }

    pub(super) fn cells(&self) -> &Cells {
        &self.0.cells
    }

    /// Starts metering a poll.
    pub(super) fn begin_poll(&self) {
        let m = &self.0.meter;
        m.reads.store(0, Relaxed);
        m.writes.store(0, Relaxed);
        m.len.store(0, Relaxed);
        m.polling.store(true, Relaxed);
    }

    /// Ends metering a poll: the COND reads and register writes it made.
    pub(super) fn end_poll(&self) -> (u64, u64) {
        let m = &self.0.meter;
        m.polling.store(false, Relaxed);
        (m.reads.load(Relaxed), m.writes.load(Relaxed))
    }

    /// How many DATA_MAIN_BASE writes the last poll made.
    pub(super) fn log_len(&self) -> usize {
        self.0.meter.len.load(Relaxed)
    }

    /// The `i`-th DATA_MAIN_BASE write of the last poll, in the order made.
    pub(super) fn logged(&self, i: usize) -> Logged {
        let (core, counts) = &self.0.meter.log[i];
        let counts = counts.load(Relaxed);
        Logged {
            physical_id: core.load(Relaxed),
            reads: counts >> 32,
            writes: counts & 0xffff_ffff,
        }
    }
}

impl RegisterAccess for VirtualRegisters {
    #[inline]
    fn read(&self, physical_id: u32, reg: Reg) -> u32 {
        bump(&self.0.meter.reads);
        self.0.cells.get(physical_id, reg)
    }

    #[inline]
    fn write(&self, physical_id: u32, reg: Reg, value: u32) {
        let m = &self.0.meter;
        let writes = bump(&m.writes);
        self.0.cells.set(physical_id, reg, value);
        if reg == Reg::DataMainBase && m.polling.load(Relaxed) {
            let i = m.len.load(Relaxed);
            let (core, counts) = m
                .log
                .get(i)
                .expect("a poll writes each core's DATA_MAIN_BASE at most once");
            core.store(physical_id, Relaxed);
            counts.store(m.reads.load(Relaxed) << 32 | writes, Relaxed);
            m.len.store(i + 1, Relaxed);
        }
    }
}

/// No FIN held back.
const NO_FIN: u32 = 0;

/// A core's register access while the backend steps it: everything
/// applies at once except the FIN of a task, which is held for the
/// backend to apply when the kernel's duration has passed. (A FIN word
/// always has the state bit set, so 0 can mean "none".)
pub(super) struct CoreSideRegs<'a> {
    cells: &'a Cells,
    fin: AtomicU32,
}

impl<'a> CoreSideRegs<'a> {
    pub(super) fn new(cells: &'a Cells) -> Self {
        CoreSideRegs {
            cells,
            fin: AtomicU32::new(NO_FIN),
        }
    }

    /// The FIN word the core wrote and this held back, if any.
    pub(super) fn held_fin(&self) -> Option<u32> {
        let w = self.fin.load(Relaxed);
        (w != NO_FIN).then_some(w)
    }
}

impl RegisterAccess for CoreSideRegs<'_> {
    #[inline]
    fn read(&self, physical_id: u32, reg: Reg) -> u32 {
        self.cells.get(physical_id, reg)
    }

    #[inline]
    fn write(&self, physical_id: u32, reg: Reg, value: u32) {
        let cond = Cond::decode(value);
        if reg == Reg::Cond && cond.state == CondState::Fin && is_task_id(cond.task) {
            self.fin.store(value, Relaxed);
        } else {
            self.cells.set(physical_id, reg, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use hostgraph_platform::Platform;
    use hostgraph_platform::regs::IDLE;

    use super::*;

    #[test]
    fn a_poll_is_metered_and_its_task_writes_logged() {
        let regs = VirtualRegisters::new(Platform::A2A3.spec());
        // Outside a poll (start-up): counted, not logged.
        regs.write(3, Reg::DataMainBase, IDLE);
        regs.begin_poll();
        regs.read(3, Reg::Cond);
        regs.read(4, Reg::Cond);
        regs.write(3, Reg::DataMainBase, 7);
        regs.read(5, Reg::Cond);
        regs.write(5, Reg::DataMainBase, 8);
        assert_eq!(regs.end_poll(), (3, 2));
        let logged: Vec<Logged> = (0..regs.log_len()).map(|i| regs.logged(i)).collect();
        assert_eq!(
            logged,
            [
                Logged {
                    physical_id: 3,
                    reads: 2,
                    writes: 1
                },
                Logged {
                    physical_id: 5,
                    reads: 3,
                    writes: 2
                }
            ]
        );
        assert_eq!(regs.read(5, Reg::DataMainBase), 8);
    }

    #[test]
    fn a_core_acknowledges_at_once_and_its_fin_is_held() {
        let regs = VirtualRegisters::new(Platform::A5.spec());
        let core = CoreSideRegs::new(regs.cells());
        core.write(2, Reg::Cond, Cond::ack(9).encode());
        core.write(2, Reg::Cond, Cond::fin(9).encode());
        assert_eq!(regs.read(2, Reg::Cond), Cond::ack(9).encode());
        assert_eq!(core.held_fin(), Some(Cond::fin(9).encode()));
        // Markers are not held: start-up and exit apply at once.
        let core = CoreSideRegs::new(regs.cells());
        core.write(2, Reg::Cond, Cond::fin(IDLE).encode());
        assert_eq!(regs.read(2, Reg::Cond), Cond::fin(IDLE).encode());
        assert_eq!(core.held_fin(), None);
    }

    #[test]
    #[should_panic(expected = "FastPathEnable")]
    fn a5_has_no_fast_path() {
        VirtualRegisters::new(Platform::A5.spec()).write(0, Reg::FastPathEnable, 1);
    }
}
