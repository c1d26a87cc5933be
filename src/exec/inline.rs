//! The inline simulator: scheduler threads and simulated cores stepped in
//! turn on the calling thread — the same protocol and the same scheduler
//! code as the threaded backend, with no cross-thread traffic, so dispatch
//! overhead can be measured on its own, deterministically in order.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hostgraph_platform::regs::Reg;
use hostgraph_platform::{
    CoreSide, CoreStep, DeviceMemory, HandshakeBlock, Platform, PlatformSpec, RegisterAccess,
    SimDeviceMemory, SimRegisters,
};

use super::{Executor, private, sim_core};
use crate::backoff::{Backoff, StallWatch};
use crate::error::Result;
use crate::sched::{Poll, RunShared, SchedulerThread};
use crate::seal::Sealed;

/// Sim registers plus a doorbell: a bit per core set whenever its
/// DATA_MAIN_BASE is written, so only cores with something new are stepped.
pub struct InlineRegisters {
    regs: SimRegisters,
    bell: Box<[AtomicU64]>,
}

impl InlineRegisters {
    fn new(spec: &PlatformSpec) -> Self {
        let words = spec.physical_cores().div_ceil(64) as usize;
        InlineRegisters {
            regs: SimRegisters::new(spec),
            bell: (0..words).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Takes the set of rung cores (physical ids), one 64-bit word at a time.
    fn take(&self, word: usize) -> u64 {
        self.bell[word].swap(0, Ordering::Relaxed)
    }
}

impl RegisterAccess for InlineRegisters {
    #[inline]
    fn read(&self, physical_id: u32, reg: Reg) -> u32 {
        self.regs.read(physical_id, reg)
    }

    #[inline]
    fn write(&self, physical_id: u32, reg: Reg, value: u32) {
        self.regs.write(physical_id, reg, value);
        if reg == Reg::DataMainBase {
            self.bell[physical_id as usize / 64]
                .fetch_or(1 << (physical_id % 64), Ordering::Relaxed);
        }
    }
}

struct Launch {
    graph: Arc<Sealed>,
    /// Cores by physical id (`None` where no core was launched).
    cores: Vec<Option<CoreSide>>,
}

/// Simulated chip whose cores are stepped on the thread that runs the
/// graph, interleaved with the scheduler threads' polls.
pub struct InlineSim {
    spec: &'static PlatformSpec,
    regs: InlineRegisters,
    handshakes: Box<[HandshakeBlock]>,
    launch: Mutex<Option<Launch>>,
}

impl InlineSim {
    /// An inline simulator of `platform`.
    pub fn new(platform: Platform) -> Self {
        let spec = platform.spec();
        InlineSim {
            spec,
            regs: InlineRegisters::new(spec),
            handshakes: (0..spec.physical_cores())
                .map(|_| HandshakeBlock::default())
                .collect(),
            launch: Mutex::new(None),
        }
    }

    fn step(&self, launch: &mut Launch, core: usize) -> bool {
        let Some(c) = launch.cores[core].as_mut() else {
            return false;
        };
        let graph = &launch.graph;
        let phys = c.physical_id();
        !matches!(
            c.step(&self.handshakes[c.index() as usize], &self.regs, |t| graph
                .run_task(t, phys)),
            CoreStep::Wait | CoreStep::Exited
        )
    }

    /// Steps the cores whose doorbell rang; true if any moved.
    fn step_rung(&self, launch: &mut Launch) -> bool {
        let mut moved = false;
        for w in 0..self.regs.bell.len() {
            let mut bits = self.regs.take(w);
            while bits != 0 {
                let core = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                moved |= self.step(launch, core);
            }
        }
        moved
    }
}

impl private::Sealed for InlineSim {}

impl Executor for InlineSim {
    type Regs = InlineRegisters;

    fn spec(&self) -> &'static PlatformSpec {
        self.spec
    }

    fn new_device_memory(&self) -> Box<dyn DeviceMemory + Sync> {
        Box::new(SimDeviceMemory::new())
    }

    fn registers(&self) -> &InlineRegisters {
        &self.regs
    }

    fn handshakes(&self) -> &[HandshakeBlock] {
        &self.handshakes
    }

    fn launch(&mut self, block_dim: u32, graph: Arc<Sealed>) -> Result<()> {
        let mut cores: Vec<Option<CoreSide>> = vec![None; self.spec.physical_cores() as usize];
        for i in 0..block_dim * self.spec.cores_per_block() {
            let core = sim_core(self.spec, block_dim, i);
            self.handshakes[i as usize].reset();
            let slot = core.physical_id() as usize;
            cores[slot] = Some(core);
        }
        *self.launch.get_mut().unwrap_or_else(|p| p.into_inner()) = Some(Launch { graph, cores });
        Ok(())
    }

    fn pump(&self) -> bool {
        let mut guard = self.launch.lock().unwrap_or_else(|p| p.into_inner());
        let Some(launch) = guard.as_mut() else {
            return false;
        };
        let mut moved = false;
        for core in 0..launch.cores.len() {
            moved |= self.step(launch, core);
        }
        moved
    }

    fn run_schedulers<'a>(
        &self,
        threads: &mut [SchedulerThread],
        sh: &RunShared<'a, InlineRegisters>,
    ) {
        let mut guard = self.launch.lock().unwrap_or_else(|p| p.into_inner());
        let launch = guard.as_mut().expect("run_schedulers after launch");
        let mut backoff = Backoff::new();
        let mut watch = StallWatch::new(sh.stall_timeout);
        loop {
            let mut busy = false;
            let mut moved = false;
            for t in threads.iter_mut().filter(|t| t.has_cores()) {
                match t.poll(sh) {
                    Poll::Stopped => return,
                    Poll::Done => {}
                    Poll::Progress => (busy, moved) = (true, true),
                    Poll::Idle => busy = true,
                }
            }
            if !busy {
                return;
            }
            moved |= self.step_rung(launch);
            if moved {
                backoff.reset();
            } else if backoff.snooze() && watch.stalled(sh.remaining()) {
                sh.stall(watch.elapsed());
                return;
            }
        }
    }

    fn land(&mut self, _force: bool, _timeout: Duration) -> bool {
        *self.launch.get_mut().unwrap_or_else(|p| p.into_inner()) = None;
        true
    }
}
