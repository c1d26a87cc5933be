//! The inline simulator: scheduler threads and simulated cores stepped in
//! turn on the calling thread — the same protocol and the same scheduler
//! code as the threaded backend, with no cross-thread traffic, so dispatch
//! overhead can be measured on its own, deterministically in order.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::time::Duration;

use hostgraph_platform::regs::Reg;
use hostgraph_platform::{
    CoreSide, CoreStep, DeviceMemory, HandshakeBlock, Platform, PlatformSpec, RegisterAccess,
    SimDeviceMemory, SimRegisters,
};

use super::sim_core;
use crate::backend::{Backend, Hosting, Landing, Poll, SchedulerJob, Wait};
use crate::backoff::Backoff;
use crate::error::Result;
use crate::panics::panic_message;
use crate::seal::Sealed;

/// Sim registers plus a doorbell: a bit per core set whenever its
/// DATA_MAIN_BASE is written, so only cores with something new are stepped.
/// Cloning shares the registers.
#[derive(Clone)]
pub struct InlineRegisters {
    regs: SimRegisters,
    bell: Arc<[AtomicU64]>,
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
        // One thread rings and takes (the backend is single-threaded): a
        // load and a store, no read-modify-write. Relaxed: the bell only
        // says where to look; what a core sees comes from the registers.
        let bits = self.bell[word].load(Ordering::Relaxed);
        if bits != 0 {
            self.bell[word].store(0, Ordering::Relaxed);
        }
        bits
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
            let word = &self.bell[physical_id as usize / 64];
            // As in `take`: one thread, so no read-modify-write.
            word.store(
                word.load(Ordering::Relaxed) | 1 << (physical_id % 64),
                Ordering::Relaxed,
            );
        }
    }
}

/// The launched cores, stepped on the caller's thread.
struct Cores {
    regs: InlineRegisters,
    handshakes: Arc<[HandshakeBlock]>,
    graph: Option<Arc<Sealed>>,
    /// Cores by physical id (`None` where no core was launched).
    by_id: Vec<Option<CoreSide>>,
}

impl Cores {
    fn step(&mut self, core: usize) -> bool {
        let (Some(c), Some(graph)) = (self.by_id[core].as_mut(), self.graph.as_ref()) else {
            return false;
        };
        let phys = c.physical_id();
        !matches!(
            c.step(&self.handshakes[c.index() as usize], &self.regs, |t| graph
                .execute(t, phys)),
            CoreStep::Wait | CoreStep::Exited
        )
    }

    /// Steps the cores whose doorbell rang; true if any moved.
    fn step_rung(&mut self) -> bool {
        let mut moved = false;
        for w in 0..self.regs.bell.len() {
            let mut bits = self.regs.take(w);
            while bits != 0 {
                let core = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                moved |= self.step(core);
            }
        }
        moved
    }
}

/// The hosted jobs of a run, polled in turn with the cores: true once
/// every job has returned (and been dropped).
type Hosted = Box<dyn FnMut(&mut Cores, Wait) -> bool + Send>;

/// Polls a non-blocking drive makes before it returns.
const SLICE: usize = 4096;

/// Simulated chip whose cores are stepped on the thread that runs the
/// graph, interleaved with the scheduler threads' polls.
pub struct InlineSim {
    spec: &'static PlatformSpec,
    cores: Cores,
    hosted: Mutex<Option<Hosted>>,
}

impl InlineSim {
    /// An inline simulator of `platform`.
    pub fn new(platform: Platform) -> Self {
        let spec = platform.spec();
        InlineSim {
            spec,
            cores: Cores {
                regs: InlineRegisters::new(spec),
                handshakes: (0..spec.physical_cores())
                    .map(|_| HandshakeBlock::default())
                    .collect(),
                graph: None,
                by_id: Vec::new(),
            },
            hosted: Mutex::new(None),
        }
    }
}

/// [`pass`], with a panic in it (a policy hook's, or scheduler code's)
/// given to the job that was polling as its abort ([`Backend::host`]'s
/// promise), which stops the run: true, every job dropped.
fn guarded_pass<J: SchedulerJob>(
    jobs: &mut Vec<J>,
    cores: &mut Cores,
    backoff: &mut Backoff,
    polls: usize,
) -> bool {
    let polling = Cell::new(0);
    let passed = catch_unwind(AssertUnwindSafe(|| {
        pass(jobs, cores, backoff, polls, &polling)
    }));
    passed.unwrap_or_else(|p| {
        if let Some(j) = jobs.get_mut(polling.get()) {
            j.abort(panic_message(p));
        }
        jobs.clear();
        true
    })
}

/// Sets the index of the job being polled into `polling` if the poll
/// unwinds (forgotten otherwise: the happy path stores nothing).
struct Polling<'a>(usize, &'a Cell<usize>);

impl Drop for Polling<'_> {
    fn drop(&mut self) {
        self.1.set(self.0);
    }
}

/// The inline loop over `jobs`: every job polled (a poll that panics
/// leaves its index in `polling`), then the rung cores stepped; `polls`
/// passes at most. True once every job has returned.
fn pass<J: SchedulerJob>(
    jobs: &mut Vec<J>,
    cores: &mut Cores,
    backoff: &mut Backoff,
    polls: usize,
    polling: &Cell<usize>,
) -> bool {
    for _ in 0..polls {
        let (mut busy, mut moved) = (false, false);
        for (i, j) in jobs.iter_mut().enumerate() {
            let unwinding = Polling(i, polling);
            let poll = j.poll();
            std::mem::forget(unwinding);
            match poll {
                Poll::Stopped => {
                    jobs.clear();
                    return true;
                }
                Poll::Done => {}
                Poll::Progress => (busy, moved) = (true, true),
                Poll::Idle => busy = true,
            }
        }
        if !busy {
            jobs.clear();
            return true;
        }
        moved |= cores.step_rung();
        if moved {
            backoff.reset();
        } else if backoff.snooze() {
            // A stall stops the run: the next poll returns Stopped.
            jobs[0].check_stall();
        }
    }
    false
}

impl Backend for InlineSim {
    type Regs = InlineRegisters;
    const SINGLE_THREADED: bool = true;

    fn spec(&self) -> &PlatformSpec {
        self.spec
    }

    fn new_device_memory(&self) -> Box<dyn DeviceMemory + Sync> {
        Box::new(SimDeviceMemory::new())
    }

    fn registers(&self) -> &InlineRegisters {
        &self.cores.regs
    }

    fn handshakes(&self) -> &[HandshakeBlock] {
        &self.cores.handshakes
    }

    fn launch(&mut self, block_dim: u32, graph: Arc<Sealed>) -> Result<()> {
        let cores = &mut self.cores;
        cores.by_id = vec![None; self.spec.physical_cores() as usize];
        for i in 0..block_dim * self.spec.cores_per_block() {
            let core = sim_core(self.spec, block_dim, i);
            cores.handshakes[i as usize].reset();
            let slot = core.physical_id() as usize;
            cores.by_id[slot] = Some(core);
        }
        cores.graph = Some(graph);
        Ok(())
    }

    fn pump(&mut self) -> bool {
        let mut moved = false;
        for core in 0..self.cores.by_id.len() {
            moved |= self.cores.step(core);
        }
        moved
    }

    fn host<J: SchedulerJob>(&mut self, jobs: Vec<J>) {
        let mut jobs: Vec<J> = jobs;
        let mut backoff = Backoff::new();
        let hosted: Hosted = Box::new(move |cores, wait| {
            let polls = match wait {
                Wait::Block => usize::MAX,
                Wait::Nonblocking => SLICE,
            };
            jobs.is_empty() || guarded_pass(&mut jobs, cores, &mut backoff, polls)
        });
        *self.hosted.get_mut().unwrap_or_else(|p| p.into_inner()) = Some(hosted);
    }

    fn drive(&mut self, wait: Wait, waker: Option<&Waker>) -> Hosting {
        let hosted = self.hosted.get_mut().unwrap_or_else(|p| p.into_inner());
        let Some(run) = hosted.as_mut() else {
            return Hosting::Finished;
        };
        if run(&mut self.cores, wait) {
            *hosted = None;
            return Hosting::Finished;
        }
        // Progress only happens inside `drive`: ask to be driven again.
        if let Some(w) = waker {
            w.wake_by_ref();
        }
        Hosting::Running
    }

    /// Ends the launch: its cores, and any scheduler jobs still hosted
    /// (a run whose Finish never awaited them; they hold its state and its
    /// policy, and must not poll the next launch's cores).
    fn land(&mut self, _abort: bool, _timeout: Duration) -> Landing {
        *self.hosted.get_mut().unwrap_or_else(|p| p.into_inner()) = None;
        self.cores.by_id.clear();
        self.cores.graph = None;
        Landing::Landed
    }

    fn landed(&mut self) -> bool {
        true
    }
}
