//! A backend written outside the crate, through the public seam only: a
//! recording wrapper around the threaded simulator that logs every
//! register write the scheduler makes. It runs vector_example correctly,
//! and its log shows the protocol: per core, the start-up's IDLE, the
//! tasks, then the exit signal; every task written exactly once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::time::Duration;

use hostgraph::backend::{Hosting, Landing, SchedulerJob, Wait};
use hostgraph::hostgraph_platform::regs::{EXIT_SIGNAL, IDLE, Reg};
use hostgraph::hostgraph_platform::{DeviceMemory, HandshakeBlock, PlatformSpec, RegisterAccess};
use hostgraph::sim::ThreadedRegisters;
use hostgraph::{Backend, Platform, Runtime, RuntimeConfig, Sealed, ThreadedSim};
use hostgraph_examples::{plugins, vector};

/// The simulator's registers, logging every write.
#[derive(Clone)]
struct RecordingRegs {
    inner: ThreadedRegisters,
    log: Arc<Mutex<Vec<(u32, Reg, u32)>>>,
}

impl RegisterAccess for RecordingRegs {
    fn read(&self, physical_id: u32, reg: Reg) -> u32 {
        self.inner.read(physical_id, reg)
    }

    fn write(&self, physical_id: u32, reg: Reg, value: u32) {
        self.log.lock().unwrap().push((physical_id, reg, value));
        self.inner.write(physical_id, reg, value)
    }
}

/// The threaded simulator, with the scheduler's register traffic recorded
/// (and, to test the runtime's check, as few handshake blocks shown as
/// `shown` says).
struct Recording {
    sim: ThreadedSim,
    regs: RecordingRegs,
    shown: AtomicUsize,
}

impl Recording {
    fn new(platform: Platform) -> Self {
        let sim = ThreadedSim::new(platform, Default::default());
        let regs = RecordingRegs {
            inner: sim.registers().clone(),
            log: Default::default(),
        };
        Recording {
            sim,
            regs,
            shown: AtomicUsize::new(usize::MAX),
        }
    }

    fn take_log(&self) -> Vec<(u32, Reg, u32)> {
        std::mem::take(&mut *self.regs.log.lock().unwrap())
    }
}

impl Backend for Recording {
    type Regs = RecordingRegs;

    fn spec(&self) -> &PlatformSpec {
        self.sim.spec()
    }

    fn new_device_memory(&self) -> Box<dyn DeviceMemory + Sync> {
        self.sim.new_device_memory()
    }

    fn registers(&self) -> &RecordingRegs {
        &self.regs
    }

    fn handshakes(&self) -> &[HandshakeBlock] {
        let all = self.sim.handshakes();
        &all[..all.len().min(self.shown.load(Ordering::Relaxed))]
    }

    fn launch(&mut self, block_dim: u32, graph: Arc<Sealed>) -> hostgraph::Result<()> {
        self.sim.launch(block_dim, graph)
    }

    fn host<J: SchedulerJob>(&mut self, jobs: Vec<J>) {
        self.sim.host(jobs)
    }

    fn drive(&mut self, wait: Wait, waker: Option<&Waker>) -> Hosting {
        self.sim.drive(wait, waker)
    }

    fn land(&mut self, abort: bool, timeout: Duration) -> Landing {
        self.sim.land(abort, timeout)
    }

    fn landed(&mut self) -> bool {
        self.sim.landed()
    }
}

#[test]
fn a_recording_backend_runs_vector_example() {
    for platform in Platform::ALL {
        for (block_dim, threads) in [(1, 1), (3, 2)] {
            let config = RuntimeConfig {
                platform,
                block_dim,
                threads,
                ..Default::default()
            };
            let mut rt = Runtime::with_backend(config, Recording::new(platform)).unwrap();
            let plugin = plugins::load_c("vector_example").unwrap();
            let a: Vec<f32> = (0..vector::ELEMENTS).map(|i| (i % 11) as f32).collect();
            let b = vec![0.5f32; vector::ELEMENTS];
            let (f, report) = vector::run_round(&mut rt, &plugin, &a, &b).unwrap();
            assert_eq!(
                f,
                vector::reference(&a, &b),
                "{platform} {block_dim} {threads}"
            );
            assert_eq!(report.tasks, 4);

            let log = rt.backend().take_log();
            let cores = (block_dim * platform.spec().cores_per_block()) as usize;
            // Per core, in order: IDLE at start-up, then its tasks, then exit.
            let mut per_core: std::collections::BTreeMap<u32, Vec<u32>> = Default::default();
            for &(core, reg, value) in &log {
                if reg == Reg::DataMainBase {
                    per_core.entry(core).or_default().push(value);
                }
            }
            assert_eq!(per_core.len(), cores, "every launched core was written");
            let mut tasks: Vec<u32> = Vec::new();
            for words in per_core.values() {
                assert_eq!(words.first(), Some(&IDLE), "{words:?}");
                assert_eq!(words.last(), Some(&EXIT_SIGNAL), "{words:?}");
                tasks.extend(&words[1..words.len() - 1]);
            }
            tasks.sort_unstable();
            assert_eq!(tasks, [0, 1, 2, 3], "every task written exactly once");
        }
    }
}

/// A backend with fewer handshake blocks than the launch starts cores is
/// refused with an error saying so (it once panicked slicing the blocks),
/// and the runtime runs once it has enough.
#[test]
fn too_few_handshake_blocks_are_a_config_mismatch() {
    let mut rt =
        Runtime::with_backend(RuntimeConfig::default(), Recording::new(Platform::A2A3)).unwrap();
    rt.backend().shown.store(5, Ordering::Relaxed);
    let plugin = plugins::load_c("vector_example").unwrap();
    let a = vec![1.0f32; vector::ELEMENTS];
    let e = vector::run_round(&mut rt, &plugin, &a, &a).unwrap_err();
    assert!(
        matches!(&e, hostgraph::Error::ConfigMismatch { why, .. }
            if why.contains("starts 9 cores") && why.contains("5 handshake blocks")),
        "{e}"
    );
    rt.discard();
    rt.backend().shown.store(usize::MAX, Ordering::Relaxed);
    let (f, _) = vector::run_round(&mut rt, &plugin, &a, &a).unwrap();
    assert_eq!(f, vector::reference(&a, &a));
}

mod partial_launch {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::task::Waker;
    use std::time::Duration;

    use hostgraph::backend::{Hosting, Landing, SchedulerJob, Wait};
    use hostgraph::hostgraph_platform::{DeviceMemory, HandshakeBlock, PlatformSpec};
    use hostgraph::sim::ThreadedRegisters;
    use hostgraph::{
        Backend, CoreType, Error, KernelFn, Platform, Runtime, RuntimeConfig, Sealed, ThreadedSim,
    };

    /// The threaded simulator, whose launch fails once after starting the
    /// cores (a device whose launch call errs after the kernel started).
    struct FailsAfterLaunch {
        sim: ThreadedSim,
        armed: AtomicBool,
    }

    impl Backend for FailsAfterLaunch {
        type Regs = ThreadedRegisters;
        fn spec(&self) -> &PlatformSpec {
            self.sim.spec()
        }
        fn new_device_memory(&self) -> Box<dyn DeviceMemory + Sync> {
            self.sim.new_device_memory()
        }
        fn registers(&self) -> &ThreadedRegisters {
            self.sim.registers()
        }
        fn handshakes(&self) -> &[HandshakeBlock] {
            self.sim.handshakes()
        }
        fn launch(&mut self, block_dim: u32, graph: Arc<Sealed>) -> hostgraph::Result<()> {
            self.sim.launch(block_dim, graph)?;
            if self.armed.swap(false, Ordering::Relaxed) {
                return Err(Error::BackendStuck(
                    "launch failed after starting cores".into(),
                ));
            }
            Ok(())
        }
        fn pump(&mut self) -> bool {
            self.sim.pump()
        }
        fn host<J: SchedulerJob>(&mut self, jobs: Vec<J>) {
            self.sim.host(jobs)
        }
        fn drive(&mut self, wait: Wait, waker: Option<&Waker>) -> Hosting {
            self.sim.drive(wait, waker)
        }
        fn land(&mut self, abort: bool, timeout: Duration) -> Landing {
            self.sim.land(abort, timeout)
        }
        fn landed(&mut self) -> bool {
            self.sim.landed()
        }
    }

    fn noop(_: &[u64]) {}

    /// A launch that returns Err after starting cores is landed: the next
    /// run works. (The run state records `launched` only on Ok, so shutdown
    /// skipped it, and every later run was refused until `abandon_stuck`.
    /// Found by a hostile review.)
    #[test]
    fn a_failed_launch_is_landed_and_the_next_run_works() {
        let backend = FailsAfterLaunch {
            sim: ThreadedSim::new(Platform::A2A3, Default::default()),
            armed: AtomicBool::new(true),
        };
        let mut rt = Runtime::with_backend(RuntimeConfig::default(), backend).unwrap();
        rt.register_kernel(0, KernelFn::rust(noop));
        rt.build(|g| g.add_task(0, CoreType::Aiv, &[]).map(drop))
            .unwrap();
        let e = rt.run().unwrap_err();
        assert!(
            matches!(&e, Error::BackendStuck(w) if w.contains("after starting")),
            "{e}"
        );
        // The graph was kept (failure before dispatch); run it again.
        let r = rt.run();
        assert!(r.is_ok(), "the run after a failed launch: {r:?}");
    }
}
