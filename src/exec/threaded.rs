//! The threaded simulator: memory-backed registers, simulated AICores
//! stepped by a few persistent runner threads (not one OS thread per core),
//! kernels called as native functions.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hostgraph_platform::{
    CoreSide, CoreStep, DeviceMemory, HandshakeBlock, Platform, PlatformSpec, SimDeviceMemory,
    SimRegisters,
};

use super::pool::WorkerPool;
use super::sim_core;
use super::{Executor, private};
use crate::backoff::Backoff;
use crate::error::{Error, Result};
use crate::sched::{RunShared, SchedulerThread};
use crate::seal::Sealed;

/// Options of the threaded simulator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimOptions {
    /// Runner threads stepping the simulated cores; 0 = one per CPU.
    pub runners: usize,
}

/// A misbehaving core, for testing how start-up failures are handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimFault {
    /// Core `index` never answers the start-up handshake.
    SilentCore(u32),
    /// Core `index` reports `physical_id` in start-up step 2.
    BadPhysicalId {
        /// Handshake index of the core.
        index: u32,
        /// The id it reports.
        physical_id: u32,
    },
}

struct Launch {
    generation: u64,
    fault: Option<SimFault>,
    block_dim: u32,
    graph: Option<Arc<Sealed>>,
    quit: bool,
}

struct Shared {
    spec: &'static PlatformSpec,
    regs: SimRegisters,
    handshakes: Box<[HandshakeBlock]>,
    launch: Mutex<Launch>,
    wake: Condvar,
    /// Runners still stepping cores of the current launch.
    active: AtomicUsize,
    landed: Condvar,
    force: AtomicBool,
}

/// Simulated chip: memory-backed registers and handshakes; simulated cores
/// (numbered as [`sim_core`] says) stepped by `runners` persistent threads,
/// which sleep between launches; scheduler threads persist too.
pub struct ThreadedSim {
    shared: Arc<Shared>,
    runners: Vec<JoinHandle<()>>,
    schedulers: Mutex<WorkerPool>,
}

impl ThreadedSim {
    /// A simulated `platform` with its runner threads started.
    pub fn new(platform: Platform, opts: SimOptions) -> Self {
        let spec = platform.spec();
        let n = match opts.runners {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let shared = Arc::new(Shared {
            spec,
            regs: SimRegisters::new(spec),
            handshakes: (0..spec.physical_cores())
                .map(|_| HandshakeBlock::default())
                .collect(),
            launch: Mutex::new(Launch {
                generation: 0,
                fault: None,
                block_dim: 0,
                graph: None,
                quit: false,
            }),
            wake: Condvar::new(),
            active: AtomicUsize::new(0),
            landed: Condvar::new(),
            force: AtomicBool::new(false),
        });
        let runners = (0..n)
            .map(|r| {
                let sh = shared.clone();
                std::thread::Builder::new()
                    .name(format!("hostgraph-sim-{r}"))
                    .spawn(move || runner(&sh, r, n))
                    .expect("spawn sim runner thread")
            })
            .collect();
        ThreadedSim {
            shared,
            runners,
            schedulers: Mutex::new(WorkerPool::default()),
        }
    }

    /// Number of runner threads.
    pub fn runner_count(&self) -> usize {
        self.runners.len()
    }

    /// Makes later launches misbehave as `fault` says (`None` to stop).
    pub fn inject_fault(&self, fault: Option<SimFault>) {
        self.shared
            .launch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .fault = fault;
    }
}

fn runner(sh: &Shared, r: usize, n: usize) {
    let mut seen = 0u64;
    loop {
        let (block_dim, graph, fault) = {
            let mut l = sh.launch.lock().unwrap_or_else(|p| p.into_inner());
            while l.generation == seen && !l.quit {
                l = sh.wake.wait(l).unwrap_or_else(|p| p.into_inner());
            }
            if l.quit {
                return;
            }
            seen = l.generation;
            (
                l.block_dim,
                l.graph.clone().expect("launch carries a graph"),
                l.fault,
            )
        };
        let total = block_dim * sh.spec.cores_per_block();
        let mut cores: Vec<CoreSide> = (r as u32..total)
            .step_by(n)
            .filter(|&i| fault != Some(SimFault::SilentCore(i)))
            .map(|i| {
                let mut core = sim_core(sh.spec, block_dim, i);
                if let Some(SimFault::BadPhysicalId { index, physical_id }) = fault
                    && index == i
                {
                    core = CoreSide::new(i, physical_id, core.core_type());
                }
                core
            })
            .collect();
        step_until_exit(sh, &mut cores, &graph);
        drop(graph);
        let _l = sh.launch.lock().unwrap_or_else(|p| p.into_inner());
        sh.active.fetch_sub(1, Ordering::AcqRel);
        sh.landed.notify_all();
    }
}

fn step_until_exit(sh: &Shared, cores: &mut [CoreSide], graph: &Sealed) {
    let mut backoff = Backoff::new();
    let mut live = cores.len();
    while live > 0 && !sh.force.load(Ordering::Relaxed) {
        let mut moved = false;
        for c in cores.iter_mut() {
            if c.exited() {
                continue;
            }
            let phys = c.physical_id();
            match c.step(&sh.handshakes[c.index() as usize], &sh.regs, |t| {
                graph.run_task(t, phys)
            }) {
                CoreStep::Wait => {}
                CoreStep::Exited => {
                    live -= 1;
                    moved = true;
                }
                _ => moved = true,
            }
        }
        if moved {
            backoff.reset();
        } else {
            backoff.snooze();
        }
    }
}

impl private::Sealed for ThreadedSim {}

impl Executor for ThreadedSim {
    type Regs = SimRegisters;

    fn spec(&self) -> &'static PlatformSpec {
        self.shared.spec
    }

    fn new_device_memory(&self) -> Box<dyn DeviceMemory + Sync> {
        Box::new(SimDeviceMemory::new())
    }

    fn registers(&self) -> &SimRegisters {
        &self.shared.regs
    }

    fn handshakes(&self) -> &[HandshakeBlock] {
        &self.shared.handshakes
    }

    fn launch(&mut self, block_dim: u32, graph: Arc<Sealed>) -> Result<()> {
        let stuck = self.shared.active.load(Ordering::Acquire);
        if stuck > 0 {
            return Err(Error::BackendStuck(format!(
                "{stuck} simulator runner thread(s) are still inside a kernel from an earlier run"
            )));
        }
        for h in self.shared.handshakes.iter() {
            h.reset();
        }
        self.shared.force.store(false, Ordering::Relaxed);
        let mut l = self.shared.launch.lock().unwrap_or_else(|p| p.into_inner());
        self.shared
            .active
            .store(self.runners.len(), Ordering::Release);
        l.generation += 1;
        l.block_dim = block_dim;
        l.graph = Some(graph);
        self.shared.wake.notify_all();
        Ok(())
    }

    fn pump(&self) -> bool {
        false
    }

    fn run_schedulers<'a>(
        &self,
        threads: &mut [SchedulerThread],
        sh: &RunShared<'a, SimRegisters>,
    ) {
        let mut jobs: Vec<_> = threads
            .iter_mut()
            .filter(|t| t.has_cores())
            .map(|t| move || t.run(sh))
            .collect();
        let mut jobs: Vec<&mut (dyn FnMut() + Send)> = jobs.iter_mut().map(|j| j as _).collect();
        self.schedulers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .run(&mut jobs);
    }

    fn land(&mut self, force: bool, timeout: Duration) -> bool {
        if force {
            self.shared.force.store(true, Ordering::Release);
        }
        let deadline = Instant::now() + timeout;
        let mut l = self.shared.launch.lock().unwrap_or_else(|p| p.into_inner());
        while self.shared.active.load(Ordering::Acquire) > 0 {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            l = self
                .shared
                .landed
                .wait_timeout(l, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        l.graph = None;
        true
    }
}

impl Drop for ThreadedSim {
    fn drop(&mut self) {
        self.shared
            .launch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .quit = true;
        self.shared.wake.notify_all();
        for r in self.runners.drain(..) {
            let _ = r.join();
        }
    }
}
